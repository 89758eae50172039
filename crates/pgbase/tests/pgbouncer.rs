//! pgbase behind PgBouncer (issue #15, docs/scaling.md). Needs the `pgbouncer` binary (Debian:
//! `apt-get install pgbouncer`, which `.ci/run` does): without it the test skips, unless
//! `PGBASE_REQUIRE_TOOLS` is set (CI), where a missing tool is a failure.
//!
//! Session mode must behave exactly as a direct connection. Transaction mode is what the
//! scaling document reports on: the test prints how many of a mixed load of reads, writes and
//! GraphQL queries succeed and the errors seen, and asserts only what the document claims.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::{Child, Command};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request};
use pgbase::config::{Config, Settings};
use pgbase::server::{AppState, app};
use pgbase_testkit::{PrivateCluster, free_port};
use serde_json::{Value, json};
use tower::ServiceExt;

const SETUP: &str = "
create table public.items (id serial primary key, note text);
grant select, insert on public.items to anon;
grant usage on sequence public.items_id_seq to anon;
";

struct Bouncer {
    child: Child,
    dir: std::path::PathBuf,
    port: u16,
}

impl Bouncer {
    /// `size` server connections per database/user pair; session mode needs one per pgbase
    /// connection (its pool, the schema-cache listener, the cron and net workers).
    fn start(target_port: u16, mode: &str, size: usize) -> Bouncer {
        let port = free_port();
        let dir =
            std::env::temp_dir().join(format!("pgbase-bouncer-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        std::fs::write(dir.join("users.txt"), "\"postgres\" \"\"\n").unwrap();
        let ini = format!(
            "[databases]\napp = host=127.0.0.1 port={target_port} dbname=app\n\
             [pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\n\
             unix_socket_dir =\nauth_type = trust\nauth_file = {users}\n\
             pool_mode = {mode}\ndefault_pool_size = {size}\nmax_client_conn = 200\nquery_wait_timeout = 5\n\
             ignore_startup_parameters = extra_float_digits,options\n\
             logfile = {log}\npidfile = {pid}\n",
            users = dir.join("users.txt").display(),
            log = dir.join("pgbouncer.log").display(),
            pid = dir.join("pgbouncer.pid").display(),
        );
        std::fs::write(dir.join("pgbouncer.ini"), ini).unwrap();
        let mut command = Command::new("pgbouncer");
        // PgBouncer refuses to run as root; /proc/self belongs to the effective user.
        let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
        if root {
            command.args(["-u", "postgres"]);
        }
        let child = command
            .arg(dir.join("pgbouncer.ini"))
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Bouncer { child, dir, port }
    }
}

impl Drop for Bouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn send(state: &AppState, method: Method, uri: &str, body: &str) -> (u16, Value) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = app(state.clone()).oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, value)
}

/// 8 clients × 50 rounds of (POST, GET, GraphQL query); returns (ok, errors by message).
async fn load(state: &AppState) -> (usize, BTreeMap<String, usize>) {
    let tasks: Vec<_> = (0..8)
        .map(|c| {
            let state = state.clone();
            tokio::spawn(async move {
                let mut ok = 0;
                let mut errors = BTreeMap::<String, usize>::new();
                for n in 0..50 {
                    let note = json!({ "note": format!("{c}-{n}") }).to_string();
                    let graphql = json!({ "query": "{ itemsCollection(first: 3) { edges { node { id } } } }" }).to_string();
                    for (status, body) in [
                        send(&state, Method::POST, "/rest/v1/items", &note).await,
                        send(&state, Method::GET, "/rest/v1/items?limit=3", "").await,
                        send(&state, Method::POST, "/graphql/v1", &graphql).await,
                    ] {
                        if (200..300).contains(&status) && body.get("errors").is_none() {
                            ok += 1;
                        } else {
                            let message = body.get("message").or_else(|| body.pointer("/errors/0/message")).cloned().unwrap_or(body);
                            let text: String = format!("{status} {message}")
                                .chars()
                                .map(|c| if c.is_ascii_digit() { 'N' } else { c })
                                .collect();
                            *errors.entry(text).or_default() += 1;
                        }
                    }
                }
                (ok, errors)
            })
        })
        .collect();
    let mut ok = 0;
    let mut errors = BTreeMap::new();
    for task in tasks {
        let (o, e) = task.await.unwrap();
        ok += o;
        for (k, v) in e {
            *errors.entry(k).or_default() += v;
        }
    }
    (ok, errors)
}

async fn through(cluster: &PrivateCluster, mode: &str) -> (usize, BTreeMap<String, usize>) {
    let port: u16 = cluster
        .url()
        .rsplit(':')
        .next()
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let bouncer = tokio::task::block_in_place(|| {
        Bouncer::start(port, mode, if mode == "session" { 20 } else { 4 })
    });
    let url = format!(
        "postgres://postgres@127.0.0.1:{}/app?sslmode=disable",
        bouncer.port
    );
    let config =
        Config::from_settings(Settings::default(), url, common::SECRET.into(), true).unwrap();
    let state = pgbase::runtime::start(config).await.unwrap();
    let loaded = pgbase::runtime::wait_for_schema_cache(&state, Duration::from_secs(10)).await;
    let result = load(&state).await;
    println!(
        "{mode} mode: schema cache loaded: {loaded}; {} of 1200 requests ok; errors: {:#?}",
        result.0, result.1
    );
    drop(bouncer);
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_pgbouncer() {
    let found = std::process::Command::new("pgbouncer")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("PGBASE_REQUIRE_TOOLS").is_none(),
            "PGBASE_REQUIRE_TOOLS is set but pgbouncer is not on PATH (.ci/run installs it)"
        );
        eprintln!("pgbouncer not found; skipping (apt-get install pgbouncer)");
        return;
    }
    let cluster = PrivateCluster::start();
    cluster.connect().await.batch_execute(SETUP).await.unwrap();
    let (ok, errors) = through(&cluster, "session").await;
    assert_eq!((ok, errors.len()), (1200, 0), "session mode: {errors:?}");
    // Transaction mode (PgBouncer before 1.21 has no prepared-statement support): statements
    // prepared on one server connection are executed on another, which does not know them.
    let (ok, errors) = through(&cluster, "transaction").await;
    assert!(
        ok < 1200,
        "transaction mode now works: update docs/scaling.md"
    );
    assert!(
        errors.keys().all(|e| e.contains("prepared statement")),
        "{errors:?}"
    );
}
