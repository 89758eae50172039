//! Prometheus metrics: requests by route, method and status, a latency histogram, the pool's
//! connections in use and idle, and each read replica's state (in rotation, lag, reads served)
//! with the reads that fell back to the primary (read at scrape time). Served as text on
//! `/metrics`. A replica is labelled `host:port/database`, never with its password.

use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReplicaLabels {
    replica: String,
}

fn latency_histogram() -> Histogram {
    // 0.25 ms … ~8 s
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

/// The process's metrics registry.
pub struct Metrics {
    registry: Mutex<Registry>,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    pool_in_use: Gauge,
    pool_idle: Gauge,
    pool_max: Gauge,
    replica_healthy: Family<ReplicaLabels, Gauge>,
    replica_lag: Family<ReplicaLabels, Gauge<f64, AtomicU64>>,
    replica_reads: Family<ReplicaLabels, Counter>,
    replica_fallbacks: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("pgbase");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        let pool_in_use = Gauge::default();
        let pool_idle = Gauge::default();
        let pool_max = Gauge::default();
        registry.register(
            "http_requests",
            "HTTP requests by route, method and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route",
            latency.clone(),
        );
        registry.register(
            "db_pool_in_use",
            "Database connections checked out of the pool",
            pool_in_use.clone(),
        );
        registry.register(
            "db_pool_idle",
            "Open database connections waiting in the pool",
            pool_idle.clone(),
        );
        registry.register("db_pool_max", "Pool size limit", pool_max.clone());
        let replica_healthy = Family::<ReplicaLabels, Gauge>::default();
        let replica_lag = Family::<ReplicaLabels, Gauge<f64, AtomicU64>>::default();
        let replica_reads = Family::<ReplicaLabels, Counter>::default();
        let replica_fallbacks = Counter::default();
        registry.register(
            "db_replica_healthy",
            "1 when the read replica is in rotation, 0 when it is out",
            replica_healthy.clone(),
        );
        registry.register(
            "db_replica_lag_seconds",
            "Upper bound of the read replica's replay lag at the last check it answered",
            replica_lag.clone(),
        );
        registry.register(
            "db_replica_reads",
            "Read transactions routed to the read replica",
            replica_reads.clone(),
        );
        registry.register(
            "db_replica_fallbacks",
            "Read transactions the primary served because no read replica could",
            replica_fallbacks.clone(),
        );
        Metrics {
            registry: Mutex::new(registry),
            requests,
            latency,
            pool_in_use,
            pool_idle,
            pool_max,
            replica_healthy,
            replica_lag,
            replica_reads,
            replica_fallbacks,
        }
    }
}

impl Metrics {
    pub fn observe(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_string(),
                method: method.to_string(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                route: route.to_string(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// Renders the text exposition, after reading the pool's current status.
    pub fn render(&self, pool: &pgbase_db::Pool) -> String {
        let status = pool.status();
        let idle = status.available as i64;
        self.pool_idle.set(idle);
        self.pool_in_use.set(status.size as i64 - idle);
        self.pool_max.set(status.max_size as i64);
        let mut out = String::new();
        let registry = match self.registry.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        // Under the registry lock, so concurrent scrapes do not both add the same increase.
        if let Some(replicas) = pool.replicas() {
            for replica in replicas.status() {
                let labels = ReplicaLabels {
                    replica: replica.target,
                };
                self.replica_healthy
                    .get_or_create(&labels)
                    .set(i64::from(replica.healthy));
                match replica.lag {
                    Some(lag) => {
                        self.replica_lag
                            .get_or_create(&labels)
                            .set(lag.as_secs_f64());
                    }
                    None => {
                        self.replica_lag.remove(&labels);
                    }
                }
                catch_up(&self.replica_reads.get_or_create(&labels), replica.reads);
            }
            catch_up(&self.replica_fallbacks, replicas.fallbacks());
        }
        if prometheus_client::encoding::text::encode(&mut out, &registry).is_err() {
            out.clear();
        }
        out
    }
}

/// Raises a counter to `total` (a count kept elsewhere, read at scrape time).
fn catch_up(counter: &Counter, total: u64) {
    let shown = counter.get();
    if total > shown {
        counter.inc_by(total - shown);
    }
}
