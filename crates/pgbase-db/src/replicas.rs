//! Read replicas: routing read-only work to a healthy streaming replica, round-robin, and
//! everything else to the primary.
//!
//! A [`ReplicaSet`] hangs off the primary [`Pool`] (see [`Pool::with_replicas`]), so every
//! front end keeps its one pool and only chooses, per request, with [`Pool::get_routed`]:
//! [`Route::Read`] may go to a replica, [`Route::Primary`] never does. A read whose request
//! carries the [`FORCE_PRIMARY_HEADER`] goes to the primary too (read-your-writes).
//!
//! A monitor task ([`Pool::spawn_replica_monitor`]) checks each replica on a short interval:
//! it must answer, be in recovery, and have replayed WAL the primary had no longer than
//! `max_lag` ago. The lag is measured without trusting clocks: the monitor samples the
//! primary's `pg_current_wal_lsn()` with the instant it saw it, and a replica's lag is the age
//! of the newest sample its `pg_last_wal_replay_lsn()` has reached — an upper bound on the
//! true lag, pessimistic by at most one check interval. An idle primary thus shows no lag, and
//! a replica whose replay is paused while the primary writes falls behind as time passes.
//! A replica starts out of rotation until its first good check; a checkout that cannot connect
//! to it takes it out at once, and the request falls back to the primary.
//!
//! What the monitor saw, and how many reads each replica served and how many reads fell back to
//! the primary, is readable with [`ReplicaSet::status`] and [`ReplicaSet::fallbacks`] (shown on
//! `/health` and `/metrics`); a replica is named by [`replica_label`], which never includes the
//! password.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::{Checkout, Pool, PoolError, RequestContext};

/// The request header that sends a read to the primary (any value but `0`/`false`), for a
/// client that must see its own just-committed write.
pub const FORCE_PRIMARY_HEADER: &str = "x-pgbase-primary";

/// Where a request's transaction may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Writes, and anything that must see the latest commit.
    Primary,
    /// A read-only transaction: a healthy replica if there is one, else the primary.
    Read,
}

impl Route {
    /// [`Route::Read`] for a read-only transaction whose request did not ask for the primary
    /// with [`FORCE_PRIMARY_HEADER`] (looked up in the context's headers JSON).
    pub fn for_request(read_only: bool, context: &RequestContext) -> Route {
        if read_only && !forces_primary(&context.headers) {
            Route::Read
        } else {
            Route::Primary
        }
    }
}

/// Whether a request-headers JSON object (lower-cased names) carries the force header.
pub fn forces_primary(headers_json: &str) -> bool {
    if !headers_json.contains(FORCE_PRIMARY_HEADER) {
        return false;
    }
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str(headers_json) else {
        return false;
    };
    match map.get(FORCE_PRIMARY_HEADER) {
        Some(serde_json::Value::String(v)) => {
            let v = v.trim();
            !(v == "0" || v.eq_ignore_ascii_case("false"))
        }
        Some(_) => true,
        None => false,
    }
}

/// One replica's state as the monitor last saw it.
#[derive(Debug, Clone)]
pub struct ReplicaStatus {
    /// `host:port/database` of the replica ([`replica_label`]; never the password).
    pub target: String,
    /// In rotation: reads may go to it.
    pub healthy: bool,
    /// Upper bound of its replay lag at the last check it answered (kept while it is out).
    pub lag: Option<Duration>,
    /// Why it is out of rotation, if it is.
    pub problem: Option<String>,
    /// Read transactions routed to it since start-up.
    pub reads: u64,
}

/// `host:port/database` of a connection config, for status and metrics: every host with its
/// port (5432 when none is given; IPv6 addresses in brackets), never the user or password.
pub fn replica_label(config: &tokio_postgres::Config) -> String {
    let hosts: Vec<String> = crate::connect_error::hosts_with_ports(config)
        .into_iter()
        .map(|(host, port)| match host {
            tokio_postgres::config::Host::Tcp(h) if h.contains(':') => format!("[{h}]:{port}"),
            tokio_postgres::config::Host::Tcp(h) => format!("{h}:{port}"),
            tokio_postgres::config::Host::Unix(p) => format!("{}:{port}", p.display()),
        })
        .collect();
    format!(
        "{}/{}",
        hosts.join(","),
        config.get_dbname().unwrap_or("(default)")
    )
}

struct Replica {
    pool: Pool,
    status: Mutex<ReplicaStatus>,
    reads: AtomicU64,
}

impl Replica {
    fn status(&self) -> MutexGuard<'_, ReplicaStatus> {
        match self.status.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn take_out(&self, problem: String) {
        let mut status = self.status();
        if status.healthy {
            tracing::warn!(replica = %status.target, %problem, "read replica taken out of rotation");
        }
        status.healthy = false;
        status.problem = Some(problem);
    }
}

/// The replicas of a primary pool, their health and the round-robin cursor.
pub struct ReplicaSet {
    members: Vec<Replica>,
    next: AtomicUsize,
    /// Read transactions that went to the primary: no replica in rotation, the chosen ones
    /// unreachable, or a replica lost in the middle of the read ([`Pool::get_read_fallback`]).
    fallbacks: AtomicU64,
    max_lag: Duration,
    /// (when, primary WAL position) samples, oldest first.
    samples: Mutex<VecDeque<(Instant, i64)>>,
}

impl std::fmt::Debug for ReplicaSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplicaSet")
            .field("replicas", &self.members.len())
            .field("max_lag", &self.max_lag)
            .finish()
    }
}

impl ReplicaSet {
    fn new(pools: Vec<Pool>, max_lag: Duration) -> ReplicaSet {
        ReplicaSet {
            members: pools
                .into_iter()
                .map(|pool| Replica {
                    status: Mutex::new(ReplicaStatus {
                        target: replica_label(&pool.config.pg),
                        healthy: false,
                        lag: None,
                        problem: Some("not checked yet".into()),
                        reads: 0,
                    }),
                    reads: AtomicU64::new(0),
                    pool,
                })
                .collect(),
            next: AtomicUsize::new(0),
            fallbacks: AtomicU64::new(0),
            max_lag,
            samples: Mutex::new(VecDeque::new()),
        }
    }

    /// Each replica's state, in configuration order.
    pub fn status(&self) -> Vec<ReplicaStatus> {
        self.members
            .iter()
            .map(|r| ReplicaStatus {
                reads: r.reads.load(Ordering::Relaxed),
                ..r.status().clone()
            })
            .collect()
    }

    /// Read transactions served by the primary instead of a replica since start-up.
    pub fn fallbacks(&self) -> u64 {
        self.fallbacks.load(Ordering::Relaxed)
    }

    /// The lag beyond which a replica is taken out.
    pub fn max_lag(&self) -> Duration {
        self.max_lag
    }

    /// How often the monitor checks: a quarter of `max_lag`, between 100 ms and 1 s.
    pub fn check_interval(&self) -> Duration {
        (self.max_lag / 4).clamp(Duration::from_millis(100), Duration::from_secs(1))
    }

    fn samples(&self) -> MutexGuard<'_, VecDeque<(Instant, i64)>> {
        match self.samples.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn record_primary(&self, at: Instant, lsn: i64) {
        let keep = self.max_lag * 2 + self.check_interval() * 4;
        let mut samples = self.samples();
        samples.push_back((at, lsn));
        // Keep at least one sample older than `max_lag`, so a replica further behind than
        // everything kept still shows a lag past the limit.
        while samples.len() > 2 && samples.get(1).is_some_and(|(t, _)| t.elapsed() > keep) {
            samples.pop_front();
        }
    }

    /// The age of the newest primary sample at or before `replayed`; with none, the age of the
    /// oldest (a lower bound that already exceeds `max_lag` once samples span it).
    fn lag_of(&self, replayed: i64) -> Option<Duration> {
        let samples = self.samples();
        let newest_reached = samples.iter().rev().find(|(_, lsn)| *lsn <= replayed);
        match newest_reached {
            Some((at, _)) => Some(at.elapsed()),
            None => samples.front().map(|(at, _)| at.elapsed()),
        }
    }

    async fn check(&self, primary: &Pool) {
        match primary_lsn(primary).await {
            Ok(lsn) => self.record_primary(Instant::now(), lsn),
            Err(error) => {
                tracing::debug!(%error, "replica monitor: cannot read the primary's WAL position")
            }
        }
        // All replicas at once: one that does not answer (connect timeout) delays no other.
        let positions =
            futures_util::future::join_all(self.members.iter().map(|r| replica_position(&r.pool)))
                .await;
        for (replica, position) in self.members.iter().zip(positions) {
            match position {
                Err(error) => replica.take_out(error),
                Ok(None) => replica.take_out("not in recovery (promoted or not a replica)".into()),
                Ok(Some(replayed)) => {
                    let lag = self.lag_of(replayed);
                    let mut status = replica.status();
                    status.lag = lag;
                    match lag {
                        Some(lag) if lag <= self.max_lag => {
                            if !status.healthy {
                                tracing::info!(replica = %status.target, ?lag, "read replica in rotation");
                            }
                            status.healthy = true;
                            status.problem = None;
                        }
                        Some(lag) => {
                            drop(status);
                            replica.take_out(format!(
                                "replay lag {:.1}s exceeds db_replica_max_lag {:.1}s",
                                lag.as_secs_f64(),
                                self.max_lag.as_secs_f64()
                            ));
                        }
                        None => {
                            status.healthy = false;
                            status.problem = Some("primary WAL position unknown".into());
                        }
                    }
                }
            }
        }
    }
}

async fn primary_lsn(primary: &Pool) -> Result<i64, String> {
    let client = primary.get().await.map_err(|e| e.to_string())?;
    let row = client
        .query_one("select (pg_current_wal_lsn() - '0/0'::pg_lsn)::int8", &[])
        .await
        .map_err(|e| e.to_string())?;
    client.mark_idle();
    row.try_get(0).map_err(|e| e.to_string())
}

/// The replica's replayed WAL position, or None when it is not in recovery.
async fn replica_position(pool: &Pool) -> Result<Option<i64>, String> {
    let client = pool.get().await.map_err(|e| e.to_string())?;
    let row = client
        .query_one(
            "select pg_is_in_recovery(), (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::int8",
            &[],
        )
        .await
        .map_err(|e| e.to_string())?;
    client.mark_idle();
    let in_recovery: bool = row.try_get(0).map_err(|e| e.to_string())?;
    let replayed: Option<i64> = row.try_get(1).map_err(|e| e.to_string())?;
    Ok(replayed.filter(|_| in_recovery))
}

impl Pool {
    /// This pool as the primary of `replicas` (each a pool of its own); a replica lagging past
    /// `max_lag` is taken out. Start [`Pool::spawn_replica_monitor`] to put them in rotation.
    pub fn with_replicas(mut self, replicas: Vec<Pool>, max_lag: Duration) -> Pool {
        self.replicas =
            (!replicas.is_empty()).then(|| Arc::new(ReplicaSet::new(replicas, max_lag)));
        self
    }

    /// The replicas, when any are configured.
    pub fn replicas(&self) -> Option<&ReplicaSet> {
        self.replicas.as_deref()
    }

    /// Starts the task that checks the replicas (none without replicas). It runs until the
    /// runtime stops.
    pub fn spawn_replica_monitor(&self) -> Option<tokio::task::JoinHandle<()>> {
        let set = self.replicas.clone()?;
        let primary = self.clone();
        Some(tokio::spawn(async move {
            let mut ticker = tokio::time::interval(set.check_interval());
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                set.check(&primary).await;
            }
        }))
    }

    /// Runs one round of replica checks now (tests, `pgbase doctor`).
    pub async fn check_replicas(&self) {
        if let Some(set) = &self.replicas {
            set.check(self).await;
        }
    }

    /// Checks a connection out for `route`: for [`Route::Read`] the next healthy replica
    /// (round-robin), falling back to the primary when none is healthy or the chosen ones
    /// cannot be reached (which takes them out). [`Checkout::is_replica`] tells which it got.
    pub async fn get_routed(&self, route: Route) -> Result<Checkout, PoolError> {
        if route == Route::Read
            && let Some(set) = &self.replicas
        {
            let count = set.members.len();
            let start = set.next.fetch_add(1, Ordering::Relaxed);
            for offset in 0..count {
                let replica = &set.members[(start + offset) % count];
                if !replica.status().healthy {
                    continue;
                }
                match replica.pool.get().await {
                    Ok(mut checkout) => {
                        checkout.replica = true;
                        replica.reads.fetch_add(1, Ordering::Relaxed);
                        return Ok(checkout);
                    }
                    Err(PoolError::Timeout { .. }) => continue,
                    Err(error) => replica.take_out(error.to_string()),
                }
            }
            set.fallbacks.fetch_add(1, Ordering::Relaxed);
        }
        self.get().await
    }

    /// Checks a primary connection out to run again a read whose replica was lost in the
    /// middle of it, counting it among the [`ReplicaSet::fallbacks`].
    pub async fn get_read_fallback(&self) -> Result<Checkout, PoolError> {
        if let Some(set) = &self.replicas {
            set.fallbacks.fetch_add(1, Ordering::Relaxed);
        }
        self.get().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_force_header_sends_reads_to_the_primary() {
        let context = |headers: &str| RequestContext {
            headers: headers.to_string(),
            ..RequestContext::default()
        };
        assert_eq!(Route::for_request(true, &context("{}")), Route::Read);
        assert_eq!(Route::for_request(false, &context("{}")), Route::Primary);
        for value in ["1", "true", "yes", ""] {
            let headers = serde_json::json!({ FORCE_PRIMARY_HEADER: value }).to_string();
            assert_eq!(
                Route::for_request(true, &context(&headers)),
                Route::Primary,
                "{value}"
            );
        }
        for value in ["0", "false", " FALSE "] {
            let headers = serde_json::json!({ FORCE_PRIMARY_HEADER: value }).to_string();
            assert_eq!(
                Route::for_request(true, &context(&headers)),
                Route::Read,
                "{value}"
            );
        }
        // The name in a value, or unparsable JSON, does not count.
        let headers = serde_json::json!({ "x-note": FORCE_PRIMARY_HEADER }).to_string();
        assert_eq!(Route::for_request(true, &context(&headers)), Route::Read);
        assert!(!forces_primary("{x-pgbase-primary"));
    }

    #[test]
    fn a_replica_is_named_by_host_port_and_database_without_credentials() {
        let label = |url: &str| replica_label(&url.parse().unwrap());
        assert_eq!(
            label("postgres://app:s3cret@db.example.com:6543/shop?sslmode=require"),
            "db.example.com:6543/shop"
        );
        assert_eq!(label("postgres://app@10.0.0.7/shop"), "10.0.0.7:5432/shop");
        assert_eq!(
            label("postgres://u:pw@[::1]:5433/d"),
            "[::1]:5433/d",
            "IPv6 in brackets"
        );
        assert_eq!(
            label("host=a,b port=1,2 dbname=x password=hunter2"),
            "a:1,b:2/x"
        );
        assert_eq!(label("host=/run/pg port=5"), "/run/pg:5/(default)");
    }

    #[test]
    fn lag_is_the_age_of_the_newest_primary_position_replayed() {
        let set = ReplicaSet::new(Vec::new(), Duration::from_secs(10));
        assert_eq!(set.lag_of(5), None, "no samples yet");
        let now = Instant::now();
        for (ago, lsn) in [(30, 100), (20, 100), (10, 200), (0, 300)] {
            set.samples().push_back((
                now.checked_sub(Duration::from_secs(ago))
                    .expect("uptime over 30 s"),
                lsn,
            ));
        }
        let lag = |replayed| set.lag_of(replayed).map(|d| d.as_secs());
        assert_eq!(lag(300), Some(0), "caught up");
        assert_eq!(lag(250), Some(10));
        assert_eq!(
            lag(100),
            Some(20),
            "the newest sample at 100 counts, not the oldest"
        );
        assert_eq!(
            lag(50),
            Some(30),
            "behind every sample: at least the oldest's age"
        );
    }
}
