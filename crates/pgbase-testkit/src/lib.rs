//! The harness every integration test uses: one throwaway PostgreSQL cluster per test process
//! (on `/dev/shm` when it exists, durability off, unix socket plus 127.0.0.1), a template
//! database `pgbase_template` holding the system schemas, built once, and [`test_db`], which
//! clones a fresh database from it for each test (`STRATEGY file_copy`, a few tens of ms).
//!
//! The cluster is started with std::process, not on any test's tokio runtime (each
//! `#[tokio::test]` has its own), so nothing here keeps a client across runtimes. The cluster is
//! stopped and its directory removed when the process exits; directories left by killed runs
//! (`pgbase-test-<pid>-*` whose process is gone) are removed by the next run.
//!
//! Harness functions panic with a descriptive message on failure: they only run inside tests.

pub mod golden;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pgbase_devdb::{Cluster, ClusterOptions, DevDbError, process_alive};
use tokio_postgres::{Client, Config, NoTls};

/// Name of the template database every test database is cloned from.
pub const TEMPLATE_DB: &str = "pgbase_template";

const DIR_PREFIX: &str = "pgbase-test-";

/// Why the harness could not set up.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error("could not start the test cluster: {0}")]
    Cluster(#[from] DevDbError),
    #[error("could not {action} {path}: {source}; check free space and permissions there")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("database error while {doing}: {message}; see the server log {log}")]
    Db {
        doing: String,
        log: PathBuf,
        message: String,
    },
    #[error("could not install the system schemas into {TEMPLATE_DB}: {0}")]
    Migrate(#[from] pgbase_migrate::MigrateError),
    #[error("could not build a tokio runtime for the template: {0}")]
    Runtime(std::io::Error),
}

struct Harness {
    cluster: Cluster,
    start_time: Duration,
    /// `Err` holds the message of a failed template build (every later caller panics with it).
    template: OnceLock<Result<Duration, String>>,
}

static HARNESS: OnceLock<Result<Harness, String>> = OnceLock::new();
static NEXT_DB: AtomicU32 = AtomicU32::new(0);

/// The process's test cluster, started on first use. Superuser `postgres`, trust auth; it
/// listens on its unix socket and 127.0.0.1 ([`Cluster::url`] gives a TCP URL).
pub fn cluster() -> &'static Cluster {
    &harness().cluster
}

/// How long the first start of this process's cluster took (initdb included).
pub fn cluster_start_time() -> Duration {
    harness().start_time
}

/// How long building the template took (creating it and applying the system schemas).
pub fn template_build_time() -> Duration {
    template(harness())
}

/// A fresh database cloned from [`TEMPLATE_DB`], owned by this test. Left behind on drop: the
/// whole cluster goes away with the process.
pub async fn test_db() -> TestDb {
    let h = harness();
    template(h);
    let name = format!(
        "t_{}_{}",
        std::process::id(),
        NEXT_DB.fetch_add(1, Ordering::Relaxed)
    );
    let admin = connect_config(&socket_config(&h.cluster, "postgres"))
        .await
        .unwrap_or_else(|e| {
            panic!(
                "pgbase-testkit: connecting to the test cluster: {}",
                error_text(&e)
            )
        });
    admin
        .batch_execute(&format!(
            "create database {name} template {TEMPLATE_DB} strategy file_copy"
        ))
        .await
        .unwrap_or_else(|e| {
            panic!(
                "pgbase-testkit: create database {name}: {}; see {}",
                error_text(&e),
                h.cluster.log_path().display()
            )
        });
    TestDb {
        url: h.cluster.url(&name),
        config: socket_config(&h.cluster, &name),
        name,
    }
}

/// One test's database.
#[derive(Debug, Clone)]
pub struct TestDb {
    /// Database name, `t_<pid>_<n>`.
    pub name: String,
    /// `postgres://postgres@127.0.0.1:PORT/<name>` (TCP, superuser, no password).
    pub url: String,
    /// The same database over the cluster's unix socket, as the superuser.
    pub config: Config,
}

impl TestDb {
    /// A new superuser connection; its connection task runs on the current tokio runtime.
    pub async fn connect(&self) -> Client {
        connect_config(&self.config).await.unwrap_or_else(|e| {
            panic!(
                "pgbase-testkit: connecting to {}: {}",
                self.name,
                error_text(&e)
            )
        })
    }

    /// A pool of up to `size` superuser connections (created lazily, on the runtime that asks).
    pub fn pool(&self, size: usize) -> pgbase_db::Pool {
        pgbase_db::Pool::new(
            self.config.clone(),
            pgbase_db::PoolOptions {
                size,
                ..Default::default()
            },
        )
        .unwrap_or_else(|e| panic!("pgbase-testkit: building a pool for {}: {e}", self.name))
    }
}

fn harness() -> &'static Harness {
    match HARNESS.get_or_init(|| start_harness().map_err(|e| e.to_string())) {
        Ok(h) => h,
        Err(e) => panic!("pgbase-testkit: {e}"),
    }
}

fn start_harness() -> Result<Harness, HarnessError> {
    let base = if Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    remove_stale_dirs(&base);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = base.join(format!("{DIR_PREFIX}{}-{nanos:08x}", std::process::id()));
    let started = Instant::now();
    let cluster = Cluster::start(ClusterOptions {
        listen_tcp: true,
        ephemeral: true,
        fresh: true,
        ..ClusterOptions::new(&dir)
    })?;
    let start_time = started.elapsed();
    // SAFETY: registering a plain extern "C" fn; it only touches the static initialised above.
    unsafe { libc::atexit(stop_at_exit) };
    Ok(Harness {
        cluster,
        start_time,
        template: OnceLock::new(),
    })
}

/// Stops the cluster and removes its directory when the test process exits (statics are never
/// dropped; the keeper thread's death signal would stop the server but leave the files).
extern "C" fn stop_at_exit() {
    let _ = std::panic::catch_unwind(|| {
        if let Some(Ok(h)) = HARNESS.get() {
            let _ = h.cluster.stop();
            let _ = std::fs::remove_dir_all(h.cluster.dir());
        }
    });
}

/// Removes `pgbase-test-<pid>-*` directories whose owning process and postmaster are both gone.
fn remove_stale_dirs(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(DIR_PREFIX)) else {
            continue;
        };
        let Some(owner) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        let path = entry.path();
        if !process_alive(owner) && Cluster::running_pid(&path).is_none() {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

/// Builds the template once per process (concurrent first callers wait for the one build). The
/// build runs on a thread of its own with its own runtime, so it works from any caller.
fn template(h: &'static Harness) -> Duration {
    let result = h.template.get_or_init(|| {
        let started = Instant::now();
        std::thread::spawn(move || -> Result<(), String> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| HarnessError::Runtime(e).to_string())?;
            rt.block_on(build_template(&h.cluster))
                .map_err(|e| e.to_string())
        })
        .join()
        .unwrap_or_else(|_| Err("the template builder panicked".to_string()))
        .map(|()| started.elapsed())
    });
    match result {
        Ok(d) => *d,
        Err(e) => panic!("pgbase-testkit: building {TEMPLATE_DB}: {e}"),
    }
}

async fn build_template(cluster: &Cluster) -> Result<(), HarnessError> {
    let db_err = |doing: &str| {
        let log = cluster.log_path().to_path_buf();
        let doing = doing.to_string();
        move |e: tokio_postgres::Error| HarnessError::Db {
            doing,
            log,
            message: error_text(&e),
        }
    };
    let admin = connect_config(&socket_config(cluster, "postgres"))
        .await
        .map_err(db_err("connecting to the test cluster"))?;
    admin
        .batch_execute(&format!("create database {TEMPLATE_DB}"))
        .await
        .map_err(db_err("creating the template database"))?;

    let (mut client, conn) = socket_config(cluster, TEMPLATE_DB)
        .connect(NoTls)
        .await
        .map_err(db_err("connecting to the template database"))?;
    let conn = tokio::spawn(conn);
    pgbase_migrate::apply_system_schemas(&mut client).await?;
    drop(client);
    // Wait for the session to close: CREATE DATABASE refuses a template others are connected to.
    let _ = conn.await;

    admin
        .batch_execute(&format!(
            "alter database {TEMPLATE_DB} with is_template true allow_connections false"
        ))
        .await
        .map_err(db_err("marking the template database"))?;
    Ok(())
}

fn socket_config(cluster: &Cluster, dbname: &str) -> Config {
    let mut config = Config::new();
    config
        .host_path(cluster.socket_dir())
        .port(cluster.port())
        .user(cluster.superuser())
        .dbname(dbname)
        .application_name("pgbase-testkit");
    config
}

async fn connect_config(config: &Config) -> Result<Client, tokio_postgres::Error> {
    let (client, conn) = config.connect(NoTls).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

/// The server's message for database errors (tokio-postgres' Display only says "db error"),
/// the cause for others ("error connecting to server: No such file or directory").
fn error_text(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => match std::error::Error::source(e) {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        },
    }
}

/// An HS256 JWT of `claims` signed with `secret`, as a client would send it.
pub fn hs256(secret: &str, claims: &serde_json::Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap_or_else(|e| panic!("pgbase-testkit: signing a JWT: {e}"))
}

/// A TCP port on 127.0.0.1 that was free a moment ago (for a server a test starts).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .unwrap_or_else(|e| panic!("pgbase-testkit: finding a free port: {e}"))
}

/// Waits for `condition` to hold, checking every 5 ms; panics naming `what` once `patience`
/// has passed (a bound against hangs, not a speed target).
pub async fn wait_until(what: &str, patience: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + patience;
    while !condition() {
        assert!(Instant::now() < deadline, "{what}: not within {patience:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A cluster owned by one test, which it may stop and start again (to test what happens while
/// Postgres restarts). It holds database `app` with the system schemas; it keeps its port across
/// restarts, so URLs stay valid. Stopped and removed on drop.
pub struct PrivateCluster {
    dir: PathBuf,
    port: u16,
    cluster: std::sync::Mutex<Option<Cluster>>,
}

impl PrivateCluster {
    /// Creates and starts the cluster and builds `app` (a few seconds: initdb plus the schemas).
    pub fn start() -> PrivateCluster {
        let base = if Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let n = NEXT_DB.fetch_add(1, Ordering::Relaxed);
        let dir = base.join(format!("{DIR_PREFIX}{}-private-{n}", std::process::id()));
        let cluster = Cluster::start(ClusterOptions {
            listen_tcp: true,
            ephemeral: true,
            fresh: true,
            ..ClusterOptions::new(&dir)
        })
        .unwrap_or_else(|e| panic!("pgbase-testkit: starting a private cluster: {e}"));
        let port = cluster.port();
        let built = std::thread::scope(|s| {
            s.spawn(|| -> Result<(), String> {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| e.to_string())?;
                rt.block_on(async {
                    build_template(&cluster).await.map_err(|e| e.to_string())?;
                    let admin = connect_config(&socket_config(&cluster, "postgres"))
                        .await
                        .map_err(|e| error_text(&e))?;
                    admin
                        .batch_execute(&format!("create database app template {TEMPLATE_DB}"))
                        .await
                        .map_err(|e| error_text(&e))
                })
            })
            .join()
            .unwrap_or_else(|_| Err("the builder panicked".into()))
        });
        if let Err(e) = built {
            panic!("pgbase-testkit: building the private cluster's database: {e}");
        }
        PrivateCluster {
            dir,
            port,
            cluster: std::sync::Mutex::new(Some(cluster)),
        }
    }

    /// `postgres://postgres@127.0.0.1:PORT/app`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/app", self.port)
    }

    /// A superuser connection to `app` over TCP; its task runs on the current runtime.
    pub async fn connect(&self) -> Client {
        let config: Config = self.url().parse().unwrap_or_else(|e| panic!("url: {e}"));
        connect_config(&config)
            .await
            .unwrap_or_else(|e| panic!("pgbase-testkit: connecting to app: {}", error_text(&e)))
    }

    /// Fast shutdown (as `pg_ctl stop -m fast`): sessions are terminated, open transactions
    /// rolled back.
    pub fn stop(&self) {
        let mut guard = self.cluster.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(cluster) = guard.take() {
            cluster
                .stop()
                .unwrap_or_else(|e| panic!("pgbase-testkit: stopping the private cluster: {e}"));
        }
    }

    /// Starts the stopped cluster again on the same port; returns once it accepts connections.
    pub fn start_again(&self) {
        let mut guard = self.cluster.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            let cluster = Cluster::start(ClusterOptions {
                listen_tcp: true,
                ephemeral: true,
                port: Some(self.port),
                ..ClusterOptions::new(&self.dir)
            })
            .unwrap_or_else(|e| panic!("pgbase-testkit: restarting the private cluster: {e}"));
            *guard = Some(cluster);
        }
    }
}

impl PrivateCluster {
    /// A streaming replica of this (running) cluster: `pg_basebackup -R -X stream` through the
    /// primary's unix socket into a directory of its own, started as a hot standby on another
    /// port (a few seconds). It is a [`PrivateCluster`] too, so a test may stop and start it.
    pub fn replica(&self) -> PrivateCluster {
        use std::os::unix::fs::MetadataExt;
        use std::os::unix::process::CommandExt;
        let (binaries, socket_dir, port, owner) = {
            let guard = self.cluster.lock().unwrap_or_else(|p| p.into_inner());
            let primary = guard
                .as_ref()
                .unwrap_or_else(|| panic!("pgbase-testkit: replica of a stopped cluster"));
            let meta = std::fs::metadata(primary.pgdata())
                .unwrap_or_else(|e| panic!("pgbase-testkit: reading the primary's pgdata: {e}"));
            (
                primary.binaries().clone(),
                primary.socket_dir().to_path_buf(),
                primary.port(),
                (meta.uid(), meta.gid()),
            )
        };
        let n = NEXT_DB.fetch_add(1, Ordering::Relaxed);
        let dir = self
            .dir
            .with_file_name(format!("{DIR_PREFIX}{}-replica-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .and_then(|()| std::os::unix::fs::chown(&dir, Some(owner.0), Some(owner.1)))
            .unwrap_or_else(|e| panic!("pgbase-testkit: creating {}: {e}", dir.display()));
        let out = std::process::Command::new(binaries.bindir.join("pg_basebackup"))
            .arg("-h")
            .arg(&socket_dir)
            .args(["-p", &port.to_string(), "-U", "postgres", "-D"])
            .arg(dir.join("pgdata"))
            .args(["-R", "-X", "stream", "-c", "fast"])
            .uid(owner.0)
            .gid(owner.1)
            .output()
            .unwrap_or_else(|e| panic!("pgbase-testkit: running pg_basebackup: {e}"));
        assert!(
            out.status.success(),
            "pgbase-testkit: pg_basebackup failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let cluster = Cluster::start(ClusterOptions {
            listen_tcp: true,
            ephemeral: true,
            ..ClusterOptions::new(&dir)
        })
        .unwrap_or_else(|e| panic!("pgbase-testkit: starting the replica: {e}"));
        PrivateCluster {
            dir,
            port: cluster.port(),
            cluster: std::sync::Mutex::new(Some(cluster)),
        }
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
