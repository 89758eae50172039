//! Background work for the SQL surfaces of pgbase that must act: the pg_cron-compatible
//! scheduler ([`cron`]) and the pg_net-compatible HTTP worker ([`net`]). The SQL side of both
//! (and the pgmq queue, which is pure SQL) lives in the system schemas `sql/0004_pgmq.sql`,
//! `sql/0005_cron.sql` and `sql/0006_net.sql`, secured by `sql/0007_safety.sql`.
//!
//! The binary starts both with [`spawn`] and stops them with [`JobsHandle::shutdown`]:
//!
//! ```no_run
//! # async fn f(db: tokio_postgres::Config, pool: pgbase_db::Pool) {
//! let jobs = pgbase_jobs::spawn(pgbase_jobs::JobsConfig::default(), db, pool);
//! // ... serve ...
//! jobs.shutdown().await;
//! # }
//! ```
//!
//! Every pgbase process may run the workers against the same database: the cron scheduler
//! elects one leader per database with an advisory lock, and net workers share the request
//! queue through `FOR UPDATE SKIP LOCKED`.

pub mod cron;
pub mod net;

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use cron::{CronConfig, CronError, Schedule};
pub use net::{NetConfig, NetError};

/// Configuration of both workers.
#[derive(Debug, Clone, Default)]
pub struct JobsConfig {
    pub cron: CronConfig,
    pub net: NetConfig,
}

/// A signal the workers watch; they stop when it turns `true` (or its sender is dropped).
pub type ShutdownSignal = watch::Receiver<bool>;

/// Running workers, as returned by [`spawn`].
#[derive(Debug)]
pub struct JobsHandle {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl JobsHandle {
    /// Asks the workers to stop and waits for them (in-flight cron jobs and HTTP requests get
    /// a grace period; anything cut off is retried by another process or after restart).
    pub async fn shutdown(self) {
        self.shutdown_within(Duration::from_secs(30)).await;
    }

    /// Asks the workers to stop and waits for them at most `limit`; true when all stopped in
    /// time. The cron leader lets its running jobs finish, then unlocks and tells the other
    /// processes (one of them leads from the next tick); the net worker lets requests in flight
    /// finish and puts back the ones it claimed but did not complete. A worker still busy at
    /// `limit` is abandoned: what it held is taken over as after a crash.
    pub async fn shutdown_within(self, limit: Duration) -> bool {
        let _ = self.stop.send(true);
        let all = async {
            for task in self.tasks {
                let _ = task.await;
            }
        };
        tokio::time::timeout(limit, all).await.is_ok()
    }
}

/// Starts the enabled workers on the current tokio runtime. Keep the handle: dropping it stops
/// the workers as [`JobsHandle::shutdown`] does, without waiting.
///
/// `db` is used for the dedicated connections (the cron leader's lock and LISTEN, the net
/// worker's LISTEN, one fresh session per cron run); `pool` for short statements (claiming
/// requests, writing responses, logging runs): a few connections suffice, the request pool may
/// be shared. Both must reach the same database as a role that may `SET ROLE` to the users who
/// schedule jobs and has BYPASSRLS (a superuser in development; see [`cron`]).
pub fn spawn(
    config: JobsConfig,
    db: impl Into<pgbase_db::ConnectConfig>,
    pool: pgbase_db::Pool,
) -> JobsHandle {
    let db: pgbase_db::ConnectConfig = db.into();
    let (stop, signal) = watch::channel(false);
    let mut tasks = Vec::new();
    if config.cron.enabled {
        let (db, pool, signal) = (db.clone(), pool.clone(), signal.clone());
        tasks.push(tokio::spawn(async move {
            cron::run(config.cron, db, pool, signal).await;
        }));
    }
    if config.net.enabled {
        tasks.push(tokio::spawn(async move {
            if let Err(e) = net::run(config.net, db, pool, signal).await {
                tracing::error!(error = %e, "net worker stopped");
            }
        }));
    }
    JobsHandle { stop, tasks }
}

/// Resolves once `signal` says stop.
pub(crate) async fn stopped(signal: &mut ShutdownSignal) {
    loop {
        if *signal.borrow_and_update() {
            return;
        }
        if signal.changed().await.is_err() {
            return;
        }
    }
}

/// The server's message for database errors (tokio-postgres' Display only says "db error").
pub(crate) fn pg_error_text(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => db.message().to_string(),
        None => match std::error::Error::source(e) {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        },
    }
}
