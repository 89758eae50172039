//! bcrypt, off the async threads and away from the database: hashes and verifications run on
//! the blocking pool, at most `concurrency` at a time (a semaphore; by default one per CPU), so
//! a burst of sign-ins queues for CPU instead of spawning a thread each. Callers never hold a
//! pooled connection while they wait here (the handlers read the user, give the connection
//! back, verify, then check a connection out again for the write). A job that waits longer
//! than the queue timeout for its turn is refused with a 503 and a `Retry-After`.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use super::error::GoTrueError;

/// The bounded bcrypt worker.
#[derive(Debug)]
pub(crate) struct PasswordHasher {
    permits: Arc<Semaphore>,
    queue_timeout: Duration,
}

impl PasswordHasher {
    /// At most `concurrency` (at least 1) jobs at once; a job waits at most `queue_timeout`.
    pub(crate) fn new(concurrency: usize, queue_timeout: Duration) -> Self {
        PasswordHasher {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            queue_timeout,
        }
    }

    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, GoTrueError> {
        let permit = tokio::time::timeout(self.queue_timeout, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| {
                GoTrueError::Unavailable(format!(
                    "no password hashing slot free within {:?}",
                    self.queue_timeout
                ))
            })?
            .map_err(|e| GoTrueError::Internal(format!("password hashing: {e}")))?;
        tokio::task::spawn_blocking(move || {
            let result = job();
            drop(permit);
            result
        })
        .await
        .map_err(|e| GoTrueError::Internal(format!("password hashing task: {e}")))
    }

    /// A new bcrypt hash of `password`.
    pub(crate) async fn hash(&self, password: &str, cost: u32) -> Result<String, GoTrueError> {
        let password = password.to_string();
        self.run(move || bcrypt::hash(password, cost))
            .await?
            .map_err(|e| GoTrueError::Internal(format!("hashing: {e}")))
    }

    /// Whether `password` matches `hash` (the comparison is constant-time); an unparsable
    /// hash never matches.
    pub(crate) async fn verify(&self, password: &str, hash: &str) -> Result<bool, GoTrueError> {
        let (password, hash) = (password.to_string(), hash.to_string());
        self.run(move || bcrypt::verify(password, &hash).unwrap_or(false))
            .await
    }
}

/// The default number of concurrent bcrypt jobs: the number of CPUs.
pub(crate) fn default_concurrency() -> usize {
    std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_a_full_queue_times_out_with_503() {
        let hasher = PasswordHasher::new(1, Duration::from_millis(50));
        let hash = hasher.hash("secret123", 4).await.unwrap();
        assert!(hasher.verify("secret123", &hash).await.unwrap());
        assert!(!hasher.verify("wrong", &hash).await.unwrap());
        assert!(!hasher.verify("secret123", "not a hash").await.unwrap());

        // Hold the only slot: the next job gives up after the queue timeout.
        let held = hasher.permits.clone().acquire_owned().await.unwrap();
        let err = hasher.hash("secret123", 4).await.unwrap_err();
        assert_eq!(err.status(), http::StatusCode::SERVICE_UNAVAILABLE);
        drop(held);
        assert!(hasher.hash("secret123", 4).await.is_ok());
    }
}
