//! Failed sign-in counting: a fixed window per key (`email:<address>`, `ip:<address>`); once a
//! key has failed `max` times within the window, further attempts are refused with 429 until
//! the window ends. In memory, per process (each replica counts on its own).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Entries kept before expired ones are swept.
const SWEEP_AT: usize = 10_000;

/// Counts failures per key within a window.
#[derive(Debug)]
pub struct FailureLimiter {
    max: u32,
    window: Duration,
    entries: Mutex<HashMap<String, (Instant, u32)>>,
}

impl FailureLimiter {
    /// At most `max` failures per key in `window`; `max == 0` disables the limit.
    pub fn new(max: u32, window: Duration) -> Self {
        FailureLimiter {
            max,
            window,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `key` has used up its failures in the current window.
    pub fn is_blocked(&self, key: &str) -> bool {
        if self.max == 0 {
            return false;
        }
        let Ok(entries) = self.entries.lock() else {
            return false;
        };
        entries
            .get(key)
            .is_some_and(|(start, n)| start.elapsed() < self.window && *n >= self.max)
    }

    /// Counts one failure of `key`.
    pub fn record_failure(&self, key: &str) {
        if self.max == 0 {
            return;
        }
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.len() >= SWEEP_AT {
            let window = self.window;
            entries.retain(|_, (start, _)| start.elapsed() < window);
        }
        let now = Instant::now();
        let entry = entries.entry(key.to_string()).or_insert((now, 0));
        if entry.0.elapsed() >= self.window {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }

    /// Forgets the failures of `key` (after a successful sign-in).
    pub fn reset(&self, key: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_max_failures_and_resets() {
        let l = FailureLimiter::new(2, Duration::from_secs(60));
        assert!(!l.is_blocked("k"));
        l.record_failure("k");
        assert!(!l.is_blocked("k"));
        l.record_failure("k");
        assert!(l.is_blocked("k"));
        assert!(!l.is_blocked("other"));
        l.reset("k");
        assert!(!l.is_blocked("k"));
    }

    #[test]
    fn window_expiry_unblocks() {
        let l = FailureLimiter::new(1, Duration::from_millis(20));
        l.record_failure("k");
        assert!(l.is_blocked("k"));
        std::thread::sleep(Duration::from_millis(30));
        assert!(!l.is_blocked("k"));
    }

    #[test]
    fn zero_disables() {
        let l = FailureLimiter::new(0, Duration::from_secs(60));
        l.record_failure("k");
        assert!(!l.is_blocked("k"));
    }
}
