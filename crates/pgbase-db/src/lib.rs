//! The database connection pool of pgbase and its checkout guard.
//!
//! Every part of the server that talks to Postgres — REST, GraphQL, auth, the workers, the
//! health check — takes its connection from a [`Pool`], and gets a [`Checkout`]. A checkout is
//! *busy* from the moment its client is used until the code that used it says, with
//! [`Checkout::mark_idle`], that the last response has arrived and no transaction is open.
//! A checkout dropped while busy — the request future was dropped because the HTTP client went
//! away, a task was aborted, an error path returned early — never goes back to the pool: its
//! server-side query is cancelled (the protocol's cancel request) and the connection is closed,
//! which rolls back whatever transaction it had open. So no request can ever run inside another
//! request's transaction or inherit its transaction-local settings, locks or aborted state.
//!
//! The pool also retires connections when the schema changes ([`Pool::retire_connections`]):
//! a connection opened before the change is closed instead of handed out, so no request uses a
//! prepared statement or cached type that refers to a dropped type (`cache lookup failed for
//! type N`).
//!
//! [`RequestContext`] is the other half of a request's database work: the transaction-local
//! settings (role, claims, request headers, the role's own timeouts) that every front end
//! applies with the same prelude statement; [`transaction::run`] is the one executor that runs
//! a request's statements under it, with one transaction policy ([`TxPolicy`]).

pub mod connect_error;
mod context;
pub mod replicas;
pub mod tls;
pub mod transaction;

pub use connect_error::{ConnectFailure, explain};
pub use tls::{ConnectConfig, MakeRustls, SslMode, TlsConfigError, TlsSettings};

pub use context::{PRELUDE, RequestContext, headers_and_cookies, pre_request_call};
pub use replicas::{FORCE_PRIMARY_HEADER, ReplicaSet, ReplicaStatus, Route};
pub use transaction::{Statement, TxEnd, TxError, TxPolicy};

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use deadpool_postgres::{ClientWrapper, Object};

/// What can go wrong building a pool or checking a connection out of it.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("cannot build the connection pool: {0}")]
    Build(String),
    /// No connection became free within the pool's wait timeout.
    #[error("timed out waiting for a database connection (all {size} are busy)")]
    Timeout { size: usize },
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    #[error("the connection pool is closed")]
    Closed,
}

impl PoolError {
    /// True when the pool was exhausted (rather than the database unreachable).
    pub fn is_timeout(&self) -> bool {
        matches!(self, PoolError::Timeout { .. })
    }
}

/// Sizes and timeouts of a [`Pool`].
#[derive(Debug, Clone, Copy)]
pub struct PoolOptions {
    pub size: usize,
    /// How long a checkout waits for a free connection.
    pub wait_timeout: Duration,
    /// How long opening a new connection may take.
    pub connect_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions {
            size: 10,
            wait_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// A lazily connecting pool of Postgres connections (cheap to clone). Building it never
/// touches the network.
#[derive(Clone)]
pub struct Pool {
    inner: deadpool_postgres::Pool,
    /// The database and TLS settings, for error messages and cancel requests.
    config: Arc<ConnectConfig>,
    /// Connections created before this instant are closed instead of handed out.
    retired_before: Arc<Mutex<Option<Instant>>>,
    /// Read replicas of this (primary) pool, if configured.
    replicas: Option<Arc<ReplicaSet>>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("status", &self.inner.status())
            .finish()
    }
}

/// How many connections the pool holds and how many of them are checked out.
#[derive(Debug, Clone, Copy)]
pub struct PoolStatus {
    pub max_size: usize,
    pub size: usize,
    pub available: usize,
    pub waiting: usize,
}

impl Pool {
    /// A pool over `config` (a parsed URL with its TLS connector, or a plain driver config,
    /// which uses libpq's default `sslmode=prefer`).
    pub fn new(config: impl Into<ConnectConfig>, options: PoolOptions) -> Result<Pool, PoolError> {
        let config: ConnectConfig = config.into();
        let manager = deadpool_postgres::Manager::from_config(
            config.pg.clone(),
            config.tls.clone(),
            deadpool_postgres::ManagerConfig {
                // A connection only comes back through `Checkout`'s drop when it is idle, so
                // recycling needs no round trip; closed connections are still refused.
                recycling_method: deadpool_postgres::RecyclingMethod::Fast,
            },
        );
        let inner = deadpool_postgres::Pool::builder(manager)
            .max_size(options.size.max(1))
            .wait_timeout(Some(options.wait_timeout))
            .create_timeout(Some(options.connect_timeout))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| PoolError::Build(e.to_string()))?;
        Ok(Pool {
            inner,
            config: Arc::new(config),
            retired_before: Arc::new(Mutex::new(None)),
            replicas: None,
        })
    }

    /// Checks a connection out. The result is busy once used: call
    /// [`Checkout::mark_idle`] when done, or it is discarded on drop.
    pub async fn get(&self) -> Result<Checkout, PoolError> {
        let retired_before = self.retired_before();
        // Bounded: connections created after `retired_before` are never retired by this loop,
        // and the pool holds at most `max_size` older ones.
        for _ in 0..=self.inner.status().max_size {
            let object = self.inner.get().await.map_err(|e| self.map_error(e))?;
            let stale = retired_before.is_some_and(|t| Object::metrics(&object).created < t);
            if stale || object.is_closed() {
                drop(Object::take(object));
                continue;
            }
            return Ok(Checkout {
                tls: self.config.tls.clone(),
                object: Some(object),
                busy: AtomicBool::new(false),
                retire: false,
                replica: false,
            });
        }
        Err(PoolError::Connect(
            "every pooled connection was retired; try again".into(),
        ))
    }

    fn map_error(&self, error: deadpool_postgres::PoolError) -> PoolError {
        use deadpool_postgres::PoolError as E;
        match error {
            E::Timeout(deadpool_postgres::TimeoutType::Wait) => PoolError::Timeout {
                size: self.inner.status().max_size,
            },
            E::Closed => PoolError::Closed,
            E::Backend(error) => PoolError::Connect(explain(&error, &self.config.pg).one_line()),
            E::Timeout(_) => PoolError::Connect(format!(
                "timed out connecting to the database ({})",
                explain_target(&self.config.pg)
            )),
            other => PoolError::Connect(other.to_string()),
        }
    }

    /// The database URL's parsed settings this pool connects with.
    pub fn connect_config(&self) -> &ConnectConfig {
        &self.config
    }

    fn retired_before(&self) -> Option<Instant> {
        match self.retired_before.lock() {
            Ok(guard) => *guard,
            Err(poisoned) => *poisoned.into_inner(),
        }
    }

    /// Closes every connection opened before now, idle ones at once and busy ones when they
    /// are next checked out. Called after the schema changed, so no connection keeps prepared
    /// statements or type information about dropped types.
    pub fn retire_connections(&self) {
        let now = Instant::now();
        match self.retired_before.lock() {
            Ok(mut guard) => *guard = Some(now),
            Err(poisoned) => *poisoned.into_inner() = Some(now),
        }
        self.inner.retain(|_, metrics| metrics.created >= now);
    }

    pub fn status(&self) -> PoolStatus {
        let status = self.inner.status();
        PoolStatus {
            max_size: status.max_size,
            size: status.size,
            available: status.available,
            waiting: status.waiting,
        }
    }

    /// Closes the pool: idle connections are closed, checkouts fail.
    pub fn close(&self) {
        self.inner.close();
    }
}

/// One connection checked out of a [`Pool`]; derefs to the client (with its statement cache).
///
/// Using the client marks the checkout busy. Call [`Checkout::mark_idle`] once the last
/// response has arrived and no transaction is open; a checkout dropped while busy has its
/// query cancelled server-side and its connection closed instead of returned.
pub struct Checkout {
    object: Option<Object>,
    tls: MakeRustls,
    busy: AtomicBool,
    retire: bool,
    /// Checked out of a read replica's pool ([`Pool::get_routed`]).
    replica: bool,
}

impl std::fmt::Debug for Checkout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkout")
            .field("busy", &self.busy.load(Ordering::Relaxed))
            .finish()
    }
}

impl Checkout {
    /// Says that the connection is idle outside any transaction: every statement sent has
    /// been answered and the transaction, if any, was committed or rolled back. Using the
    /// client again makes it busy again.
    pub fn mark_idle(&self) {
        self.busy.store(false, Ordering::Release);
    }

    /// Closes the connection instead of returning it when the checkout is dropped, e.g. after
    /// a response so large that the connection's read buffer, which keeps its capacity, would
    /// otherwise hold that memory for as long as the connection lives.
    pub fn retire(&mut self) {
        self.retire = true;
    }

    /// Whether the connection is to a read replica (a failed read on it may be retried on
    /// the primary).
    pub fn is_replica(&self) -> bool {
        self.replica
    }

    /// Whether the connection is gone (the server closed it or it broke), without marking
    /// the checkout busy.
    pub fn is_closed(&self) -> bool {
        self.wrapper().is_closed()
    }

    /// Whether dropping the checkout now would discard the connection.
    pub fn is_busy(&self) -> bool {
        self.busy.load(Ordering::Acquire)
    }

    fn wrapper(&self) -> &ClientWrapper {
        // `object` is only None inside `drop`.
        match &self.object {
            Some(object) => object,
            None => unreachable!("a Checkout's connection is present until it is dropped"),
        }
    }
}

impl Deref for Checkout {
    type Target = ClientWrapper;

    fn deref(&self) -> &ClientWrapper {
        self.busy.store(true, Ordering::Release);
        self.wrapper()
    }
}

impl DerefMut for Checkout {
    fn deref_mut(&mut self) -> &mut ClientWrapper {
        self.busy.store(true, Ordering::Release);
        match &mut self.object {
            Some(object) => object,
            None => unreachable!("a Checkout's connection is present until it is dropped"),
        }
    }
}

impl Drop for Checkout {
    fn drop(&mut self) {
        let Some(object) = self.object.take() else {
            return;
        };
        if !self.busy.load(Ordering::Acquire) {
            if self.retire {
                drop(Object::take(object));
            }
            return; // `object` goes back to the pool
        }
        // Abandoned mid-work: never reuse it. Cancel what it runs, then close it, which rolls
        // back any open transaction on the server.
        let client = Object::take(object);
        let cancel = client.cancel_token();
        let tls = self.tls.clone();
        tracing::debug!("discarding a connection abandoned mid-request; cancelling its query");
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if let Err(error) = cancel.cancel_query(tls).await {
                        tracing::debug!(%error, "cancel request for an abandoned query failed");
                    }
                    drop(client);
                });
            }
            Err(_) => drop(client),
        }
    }
}

/// `host:port` and database of a config, for messages (never the password).
fn explain_target(config: &tokio_postgres::Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(h) => h.clone(),
            tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
        })
        .collect();
    format!(
        "host {}, database {}",
        hosts.join(","),
        config.get_dbname().unwrap_or("(default)")
    )
}
