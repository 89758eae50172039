//! pgbase on a managed-style database: a private cluster where every TCP login needs a password,
//! and the database belongs to a login with CREATEROLE but no superuser (what RDS, Cloud SQL,
//! Azure and Neon hand out).
//!
//! - Role creation: an owner without CREATEROLE is refused with the privilege it lacks and the
//!   `ALTER ROLE` to run; with CREATEROLE it creates `anon`, `authenticated`, `service_role`
//!   (without BYPASSRLS, with a warning) and `authenticator`, and a second run is a no-op; an
//!   owner that may not grant roles an administrator made is told the `GRANT … WITH ADMIN
//!   OPTION` to run.
//! - BYPASSRLS and the DDL event trigger are decided by trying: the owner's install and its
//!   upgrade from an earlier 0001 warn and go on; a superuser's run gives the existing
//!   `service_role` BYPASSRLS and makes the trigger. (On PG 16+ a login with BYPASSRLS and
//!   CREATEROLE may give it too; the machines this runs on have PG 15, so that path is untested.)
//! - The whole stack with `pgbase migrate` and `pgbase serve` logged in as that owner: sign-up,
//!   REST write and read under RLS, GraphQL, a pgmq send/read through RPC, a per-second cron job,
//!   `net.http_post` delivered to a local sink, a schema change picked up without an event
//!   trigger (the catalog fingerprint check), `pgbase doctor`'s report before and after an
//!   administrator gives `service_role` BYPASSRLS.
//! - `serve` as `authenticator` without a password fails with the hint to give it one or to
//!   serve as the owner.
//! - `serve` brings a database made by the first release's system SQL up to date at start-up.
//!
//! Every wait is on an event with a generous bound; no fixed sleeps decide an outcome.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pgbase_devdb::{Cluster, ClusterOptions};
use serde_json::{Value, json};

/// The binary under test: `PGBASE_BIN` when set (a copy of this build that a parallel build in a
/// shared target directory cannot replace mid-run), else the one Cargo built for this test.
fn bin() -> String {
    std::env::var("PGBASE_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_pgbase").to_string())
}
const SECRET: &str = "a-secret-of-at-least-thirty-two-characters";
const ADMIN_PASSWORD: &str = "admin-pw";
const OWNER_PASSWORD: &str = "owner-pw";
/// Upper bound of any one wait: only reached when something is broken.
const PATIENCE: Duration = Duration::from_secs(60);

/// A cluster whose TCP logins all need a password (scram-sha-256), as a managed service's.
fn managed_cluster(dir: &Path) -> Cluster {
    Cluster::start(ClusterOptions {
        listen_tcp: true,
        ephemeral: true,
        fresh: true,
        tcp_password: Some(ADMIN_PASSWORD.to_string()),
        ..ClusterOptions::new(dir.join("cluster"))
    })
    .expect("start the managed-style cluster")
}

fn scratch() -> tempfile::TempDir {
    if Path::new("/dev/shm").is_dir() {
        tempfile::tempdir_in("/dev/shm").unwrap()
    } else {
        tempfile::tempdir().unwrap()
    }
}

fn url(cluster: &Cluster, user: &str, password: &str, dbname: &str) -> String {
    format!(
        "postgres://{user}:{password}@127.0.0.1:{}/{dbname}",
        cluster.port()
    )
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("connect {url}: {e}"));
    tokio::spawn(connection);
    client
}

/// Runs the binary with nothing from the caller's environment that could pick a database.
fn pgbase(args: &[&str], cwd: &Path) -> (i32, String, String) {
    let output = Command::new(bin())
        .args(args)
        .current_dir(cwd)
        .env_remove("DATABASE_URL")
        .env_remove("PGBASE_JWT_SECRET")
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "info,tokio_postgres=warn")
        .output()
        .expect("run pgbase");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A `pgbase serve` child, killed on drop; its log goes to a file.
struct Serve {
    child: Child,
    port: u16,
    log: std::path::PathBuf,
}

impl Serve {
    fn start(db_url: &str, dir: &Path, env: &[(&str, &str)]) -> Serve {
        let port = pgbase_testkit::free_port();
        let log = dir.join(format!("serve-{port}.log"));
        let child = Command::new(bin())
            .args(["serve", "--db-url", db_url, "--port", &port.to_string()])
            .args(["--jwt-secret", SECRET])
            .envs(env.iter().copied())
            .env_remove("DATABASE_URL")
            .env("RUST_LOG", "info,tokio_postgres=warn")
            .env("NO_COLOR", "1")
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
            .spawn()
            .expect("spawn pgbase serve");
        Serve { child, port, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until `/health` answers 200 (the database answered and the schema cache loaded).
    async fn ready(&self) {
        let start = Instant::now();
        loop {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok()
                && http(self.port, "GET", "/health", &[], None).0 == 200
            {
                return;
            }
            assert!(
                start.elapsed() < PATIENCE,
                "serve never became healthy:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.0 request; returns (status, body).
fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (u16, String) {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    let mut request = format!("{method} {path} HTTP/1.0\r\nHost: localhost\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(body) = body {
        request.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    request.push_str("\r\n");
    request.push_str(body.unwrap_or_default());
    stream.write_all(request.as_bytes()).expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// Waits until `probe` gives `Some`, polling every 100 ms, at most [`PATIENCE`].
async fn wait_for<T, F: AsyncFnMut() -> Option<T>>(what: &str, mut probe: F) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(start.elapsed() < PATIENCE, "waited {PATIENCE:?} for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An HTTP server on 127.0.0.1 that answers 200 to everything and keeps each request's first
/// line and body.
/// Requests a [`sink`] received: (request line, body).
type Received = Arc<Mutex<Vec<(String, String)>>>;

fn sink() -> (u16, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let keep = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let mut reader = BufReader::new(stream);
            let mut first = String::new();
            if reader.read_line(&mut first).is_err() {
                continue;
            }
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((name, value)) = line.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            keep.lock().unwrap().push((
                first.trim_end().to_string(),
                String::from_utf8_lossy(&body).into_owned(),
            ));
            let _ = reader.get_mut().write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
            );
        }
    });
    (port, seen)
}

fn doctor(db_url: &str, cwd: &Path) -> (i32, Value) {
    let (code, stdout, stderr) = pgbase(&["doctor", "--json", "--db-url", db_url], cwd);
    let report = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("doctor printed no JSON ({e}): {stdout}\n{stderr}"));
    (code, report)
}

/// The report as (capability, status, detail, fix) rows.
fn rows(report: &Value) -> Vec<(String, String, String, String)> {
    report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap_or_default().to_string();
            (s("capability"), s("status"), s("detail"), s("fix"))
        })
        .collect()
}

fn row(
    capability: &str,
    status: &str,
    detail: &str,
    fix: &str,
) -> (String, String, String, String) {
    (capability.into(), status.into(), detail.into(), fix.into())
}

/// As the cluster's superuser: an owner login (`createrole` or not) and a database it owns.
async fn owner_and_database(
    admin: &tokio_postgres::Client,
    owner: &str,
    createrole: bool,
    db: &str,
) {
    admin
        .batch_execute(&format!(
            "create role {owner} login {} password '{OWNER_PASSWORD}'",
            if createrole {
                "createrole"
            } else {
                "nocreaterole"
            }
        ))
        .await
        .expect("owner");
    admin
        .batch_execute(&format!(
            "create database {db} owner {owner} template template0"
        ))
        .await
        .expect("owner and database");
}

#[tokio::test]
async fn the_api_roles_are_created_by_a_createrole_owner_and_refused_without_it() {
    let dir = scratch();
    let cluster = managed_cluster(dir.path());
    let admin = connect(&cluster.url("postgres")).await;
    let roles = "select rolname from pg_roles where rolname in ('anon', 'authenticated', 'service_role', 'authenticator')";
    assert!(admin.query(roles, &[]).await.unwrap().is_empty());

    // No CREATEROLE: refused, naming what is missing and the statement that fixes it.
    owner_and_database(&admin, "plain", false, "plain_db").await;
    let (code, _, stderr) = pgbase(
        &[
            "migrate",
            "--db-url",
            &url(&cluster, "plain", OWNER_PASSWORD, "plain_db"),
        ],
        dir.path(),
    );
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(
        stderr.trim_end().lines().last().unwrap_or_default(),
        "the login plain lacks the CREATEROLE privilege, which creating the roles anon, authenticated, \
         service_role, authenticator needs; as an administrator (a superuser, or the provider's admin role) \
         run: ALTER ROLE plain CREATEROLE; then run pgbase migrate again",
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "error: system schema 0001_pgbase.sql failed: permission denied to create role (SQLSTATE 42501)\n"
        ),
        "{stderr}"
    );
    assert!(
        admin.query(roles, &[]).await.unwrap().is_empty(),
        "nothing half-made"
    );

    // With CREATEROLE: the four roles, service_role without BYPASSRLS (on PG 15 only a superuser
    // gives it).
    owner_and_database(&admin, "owner", true, "app").await;
    let (code, stdout, stderr) = pgbase(
        &[
            "migrate",
            "--db-url",
            &url(&cluster, "owner", OWNER_PASSWORD, "app"),
        ],
        dir.path(),
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stderr.contains(
            "warning: service_role has no BYPASSRLS (or does not exist): requests with the service key \
             see only the rows row-level security lets service_role see (often none); an administrator \
             (a superuser; on PG 16+ also a role with BYPASSRLS, CREATEROLE and ADMIN OPTION on \
             service_role) must run: ALTER ROLE service_role BYPASSRLS;"
        ),
        "{stderr}"
    );
    // A second run changes nothing (and still warns).
    let (code, stdout, stderr) = pgbase(
        &[
            "migrate",
            "--db-url",
            &url(&cluster, "owner", OWNER_PASSWORD, "app"),
        ],
        dir.path(),
    );
    assert_eq!(
        (code, stdout.as_str()),
        (0, "migrations up to date\n"),
        "{stderr}"
    );
    assert!(
        stderr.contains("warning: service_role has no BYPASSRLS"),
        "{stderr}"
    );
    let made: Vec<(String, bool, bool, bool, bool)> = admin
        .query(
            "select rolname::text, rolcanlogin, rolinherit, rolbypassrls, rolsuper from pg_roles
             where rolname in ('anon', 'authenticated', 'service_role', 'authenticator') order by 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect();
    assert_eq!(
        made,
        vec![
            ("anon".to_string(), false, false, false, false),
            ("authenticated".to_string(), false, false, false, false),
            ("authenticator".to_string(), true, false, false, false),
            ("service_role".to_string(), false, false, false, false),
        ]
    );
    let granted: Vec<String> = admin
        .query(
            "select r.rolname || ' to ' || m.rolname from pg_auth_members a
             join pg_roles r on r.oid = a.roleid join pg_roles m on m.oid = a.member
             where r.rolname in ('anon', 'authenticated', 'service_role') order by 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        granted,
        [
            "anon to authenticator",
            "anon to owner",
            "authenticated to authenticator",
            "authenticated to owner",
            "service_role to authenticator",
            "service_role to owner",
        ]
    );

    // The roles now exist (made by `owner`); a second database's owner without CREATEROLE may
    // not grant them, and is told the grant an administrator runs.
    owner_and_database(&admin, "other", false, "other_db").await;
    let (code, _, stderr) = pgbase(
        &[
            "migrate",
            "--db-url",
            &url(&cluster, "other", OWNER_PASSWORD, "other_db"),
        ],
        dir.path(),
    );
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(
        stderr.trim_end().lines().last().unwrap_or_default(),
        "the login other may not grant the roles anon, authenticated, service_role, authenticator \
         (it needs ADMIN OPTION on them); as an administrator (a superuser, or the role that created them) \
         run: GRANT anon, authenticated, service_role, authenticator TO other WITH ADMIN OPTION; \
         then run pgbase migrate again",
        "{stderr}"
    );
    // Following the advice works.
    admin
        .batch_execute(
            "grant anon, authenticated, service_role, authenticator to other with admin option",
        )
        .await
        .unwrap();
    let (code, _, stderr) = pgbase(
        &[
            "migrate",
            "--db-url",
            &url(&cluster, "other", OWNER_PASSWORD, "other_db"),
        ],
        dir.path(),
    );
    assert_eq!(code, 0, "after the grant: {stderr}");
}

/// 0001's WARNING when it creates `service_role` without BYPASSRLS.
const CREATED_WITHOUT_BYPASSRLS: &str = "WARNING: pgbase: service_role was created without BYPASSRLS because this login may not give it (on PG 14-15 only a superuser may, on PG 16+ a role that has BYPASSRLS and CREATEROLE), so the service key sees only what row-level security allows; an administrator must run: ALTER ROLE service_role BYPASSRLS;";
/// 0001's (and its upgrade's) WARNING when `service_role` exists without BYPASSRLS.
const HAS_NO_BYPASSRLS: &str = "WARNING: pgbase: service_role has no BYPASSRLS and this login may not give it (on PG 14-15 only a superuser may, on PG 16+ a role that has BYPASSRLS, CREATEROLE and ADMIN OPTION on service_role), so the service key sees only what row-level security allows; an administrator must run: ALTER ROLE service_role BYPASSRLS;";
/// 0001's (and its upgrade's) NOTICE when the login may not create event triggers.
const NO_TRIGGER: &str = "NOTICE: pgbase: this login may not create event triggers, so no DDL event trigger; run NOTIFY pgrst, 'reload schema' after DDL outside pgbase migrate";

/// Connects, keeping every WARNING and NOTICE the server sends as `SEVERITY: message`.
async fn connect_keeping_notices(url: &str) -> (tokio_postgres::Client, Arc<Mutex<Vec<String>>>) {
    let (client, mut connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("connect {url}: {e}"));
    let notices = Arc::new(Mutex::new(Vec::new()));
    let keep = notices.clone();
    tokio::spawn(async move {
        while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            match message {
                Ok(tokio_postgres::AsyncMessage::Notice(n)) => {
                    keep.lock()
                        .unwrap()
                        .push(format!("{}: {}", n.severity(), n.message()))
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    });
    (client, notices)
}

/// The `pgbase:` notices kept so far (Postgres' own left out), emptying the list.
fn pgbase_notices(notices: &Mutex<Vec<String>>) -> Vec<String> {
    std::mem::take(&mut *notices.lock().unwrap())
        .into_iter()
        .filter(|n| n.contains(": pgbase: "))
        .collect()
}

/// Whether `service_role` has BYPASSRLS, and whether the connected database has pgbase's
/// enabled DDL event trigger.
async fn bypassrls_and_trigger(client: &tokio_postgres::Client) -> (bool, bool) {
    client
        .query_one(
            "select (select rolbypassrls from pg_roles where rolname = 'service_role'),
                    exists (select from pg_event_trigger where evtname = 'pgbase_ddl_end'
                            and evtfoid = 'pgbase.on_ddl()'::regprocedure and evtenabled = 'O')",
            &[],
        )
        .await
        .map(|r| (r.get(0), r.get(1)))
        .unwrap()
}

#[tokio::test]
async fn bypassrls_and_the_event_trigger_are_tried_for_and_warned_about() {
    let dir = scratch();
    let cluster = managed_cluster(dir.path());
    let admin = connect(&cluster.url("postgres")).await;
    owner_and_database(&admin, "owner", true, "app").await;
    let (mut owner, notices) =
        connect_keeping_notices(&url(&cluster, "owner", OWNER_PASSWORD, "app")).await;

    // The owner (CREATEROLE, PG 15): refused both, warned, installed.
    let report = pgbase_migrate::migrate(&mut owner, None)
        .await
        .unwrap_or_else(|e| panic!("migrate as the owner: {e}"));
    assert_eq!(
        report.system_applied.len(),
        pgbase_migrate::SYSTEM_SCHEMAS.len()
    );
    assert_eq!(
        pgbase_notices(&notices),
        [CREATED_WITHOUT_BYPASSRLS, NO_TRIGGER]
    );
    assert_eq!(bypassrls_and_trigger(&owner).await, (false, false));
    let again = pgbase_migrate::migrate(&mut owner, None).await.unwrap();
    assert!(again.system_applied.is_empty() && again.system_upgraded.is_empty());
    assert!(
        pgbase_notices(&notices).is_empty(),
        "a second run says nothing"
    );

    // A database whose 0001 an earlier pgbase applied (no checksum recorded): the upgrade tries
    // both again, warns again and does not fail; then it is done.
    let admin_app = connect(&cluster.url("app")).await;
    let forget = "update pgbase.system_migrations set checksum = null where version = 1";
    admin_app.batch_execute(forget).await.unwrap();
    let report = pgbase_migrate::migrate(&mut owner, None)
        .await
        .unwrap_or_else(|e| panic!("upgrade as the owner: {e}"));
    assert_eq!(report.system_upgraded, ["0001_pgbase.sql"]);
    assert_eq!(pgbase_notices(&notices), [HAS_NO_BYPASSRLS, NO_TRIGGER]);
    assert_eq!(bypassrls_and_trigger(&owner).await, (false, false));
    let again = pgbase_migrate::migrate(&mut owner, None).await.unwrap();
    assert!(again.system_applied.is_empty() && again.system_upgraded.is_empty());
    assert!(pgbase_notices(&notices).is_empty());

    // A superuser installing another database gives the existing service_role BYPASSRLS.
    admin.batch_execute("create database other").await.unwrap();
    let (mut superuser, super_notices) = connect_keeping_notices(&cluster.url("other")).await;
    pgbase_migrate::migrate(&mut superuser, None)
        .await
        .expect("migrate as the superuser");
    assert!(pgbase_notices(&super_notices).is_empty());
    assert_eq!(bypassrls_and_trigger(&superuser).await, (true, true));

    // A superuser upgrading the owner's database makes its event trigger.
    admin_app.batch_execute(forget).await.unwrap();
    let (mut superuser_app, super_notices) = connect_keeping_notices(&cluster.url("app")).await;
    let report = pgbase_migrate::migrate(&mut superuser_app, None)
        .await
        .expect("upgrade as the superuser");
    assert_eq!(report.system_upgraded, ["0001_pgbase.sql"]);
    assert!(pgbase_notices(&super_notices).is_empty());
    assert_eq!(bypassrls_and_trigger(&owner).await, (true, true));
}

const MIGRATION: &str = "
create table public.notes (
  id bigint generated always as identity primary key,
  user_id uuid not null default auth.uid(),
  body text not null
);
alter table public.notes enable row level security;
create policy own_notes on public.notes for all to authenticated
  using (user_id = auth.uid()) with check (user_id = auth.uid());
create table public.ticks (at timestamptz not null default clock_timestamp());
select pgmq.create('jobs');
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_stack_runs_as_a_createrole_owner() {
    let dir = scratch();
    let cluster = managed_cluster(dir.path());
    let admin = connect(&cluster.url("postgres")).await;
    owner_and_database(&admin, "owner", true, "app").await;
    let owner_url = url(&cluster, "owner", OWNER_PASSWORD, "app");
    std::fs::create_dir(dir.path().join("migrations")).unwrap();
    std::fs::write(
        dir.path().join("migrations/20260101000000_notes.sql"),
        MIGRATION,
    )
    .unwrap();

    let (code, stdout, stderr) = pgbase(
        &[
            "migrate",
            "--db-url",
            &owner_url,
            "--dir",
            &dir.path().display().to_string(),
        ],
        dir.path(),
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("20260101000000_notes.sql"), "{stdout}");
    let owner = connect(&owner_url).await;
    let facts: (bool, bool) = owner
        .query_one(
            "select rolsuper, exists (select from pg_event_trigger) from pg_roles where rolname = current_user",
            &[],
        )
        .await
        .map(|r| (r.get(0), r.get(1)))
        .unwrap();
    assert_eq!(
        facts,
        (false, false),
        "a non-superuser, so no event trigger"
    );

    let (sink_port, delivered) = sink();
    let serve = Serve::start(
        &owner_url,
        dir.path(),
        &[
            ("PGBASE_DB_SCHEMAS", "public,pgmq_public"),
            ("PGBASE_NET_DENY_PRIVATE", "false"),
        ],
    );
    serve.ready().await;
    let port = serve.port;
    assert!(
        serve.log().contains("service_role has no BYPASSRLS"),
        "serve warns at start-up:\n{}",
        serve.log()
    );
    let anon = pgbase_testkit::hs256(SECRET, &json!({"role": "anon"}));
    let service = pgbase_testkit::hs256(SECRET, &json!({"role": "service_role"}));

    // Sign-up through /auth/v1 (auth.users belongs to the owner, who is the login).
    let signup = |email: &str| {
        let (status, body) = http(
            port,
            "POST",
            "/auth/v1/signup",
            &[("apikey", &anon)],
            Some(&json!({"email": email, "password": "correct horse"}).to_string()),
        );
        assert_eq!(status, 200, "{body}");
        let body = json_of(&body);
        (
            body["access_token"].as_str().unwrap().to_string(),
            body["user"]["id"].as_str().unwrap().to_string(),
        )
    };
    let (alice, alice_id) = signup("alice@example.com");
    let (bob, _) = signup("bob@example.com");
    let as_user = |token: &str| {
        vec![
            ("apikey".to_string(), anon.clone()),
            ("Authorization".to_string(), format!("Bearer {token}")),
        ]
    };
    let call = |method: &str,
                path: &str,
                headers: &[(String, String)],
                extra: &[(&str, &str)],
                body: Option<&str>| {
        let mut all: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        all.extend_from_slice(extra);
        http(port, method, path, &all, body)
    };

    // REST write and read as the user, under RLS.
    let (status, body) = call(
        "POST",
        "/rest/v1/notes",
        &as_user(&alice),
        &[("Prefer", "return=representation")],
        Some(r#"{"body":"first note"}"#),
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(json_of(&body)[0]["user_id"], alice_id.as_str());
    let (status, body) = call(
        "GET",
        "/rest/v1/notes?select=body",
        &as_user(&alice),
        &[],
        None,
    );
    assert_eq!(
        (status, json_of(&body)),
        (200, json!([{"body": "first note"}]))
    );
    let (status, body) = call(
        "GET",
        "/rest/v1/notes?select=body",
        &as_user(&bob),
        &[],
        None,
    );
    assert_eq!(
        (status, json_of(&body)),
        (200, json!([])),
        "bob sees none of alice's notes"
    );
    // Without BYPASSRLS the service key is held to RLS too (no policy for it: nothing).
    let service_headers = vec![
        ("apikey".to_string(), service.clone()),
        ("Authorization".to_string(), format!("Bearer {service}")),
    ];
    let (status, body) = call(
        "GET",
        "/rest/v1/notes?select=body",
        &service_headers,
        &[],
        None,
    );
    assert_eq!((status, json_of(&body)), (200, json!([])));

    // GraphQL, same user, same rows.
    let (status, body) = call(
        "POST",
        "/graphql/v1",
        &as_user(&alice),
        &[],
        Some(&json!({"query": "{ notesCollection { edges { node { body } } } }"}).to_string()),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        json_of(&body),
        json!({"data": {"notesCollection": {"edges": [{"node": {"body": "first note"}}]}}})
    );

    // pgmq through RPC (pgmq_public, as supabase-js's `schema('pgmq_public').rpc(...)`).
    let (status, body) = call(
        "POST",
        "/rest/v1/rpc/send",
        &service_headers,
        &[("Content-Profile", "pgmq_public")],
        Some(r#"{"queue_name":"jobs","message":{"hello":"world"}}"#),
    );
    assert_eq!(status, 200, "{body}");
    let msg_id = json_of(&body)[0]
        .as_i64()
        .unwrap_or_else(|| panic!("a message id: {body}"));
    let (status, body) = call(
        "POST",
        "/rest/v1/rpc/read",
        &service_headers,
        &[("Content-Profile", "pgmq_public")],
        Some(r#"{"queue_name":"jobs","sleep_seconds":30,"n":1}"#),
    );
    assert_eq!(status, 200, "{body}");
    let read = json_of(&body);
    assert_eq!(read[0]["msg_id"], msg_id, "{body}");
    assert_eq!(read[0]["message"], json!({"hello": "world"}), "{body}");

    // A per-second cron job scheduled by the owner runs (the scheduler logs in as the owner).
    owner
        .execute(
            "select cron.schedule('tick', '1 seconds', 'insert into public.ticks default values')",
            &[],
        )
        .await
        .unwrap();
    wait_for("two cron runs that succeeded", async || {
        let row = owner
            .query_one(
                "select (select count(*) from public.ticks),
                        (select count(*) from cron.job_run_details where status = 'succeeded')",
                &[],
            )
            .await
            .unwrap();
        (row.get::<_, i64>(0) >= 2 && row.get::<_, i64>(1) >= 2).then_some(())
    })
    .await;

    // net.http_post, sent after commit by the worker to a local sink, its response stored.
    let request_id: i64 = owner
        .query_one(
            "select net.http_post(url := $1, body := '{\"n\": 1}'::jsonb)",
            &[&format!("http://127.0.0.1:{sink_port}/hook")],
        )
        .await
        .unwrap()
        .get(0);
    let status_code: i32 = wait_for("the net response", async || {
        owner
            .query_opt(
                "select status_code from net._http_response where id = $1",
                &[&request_id],
            )
            .await
            .unwrap()
            .and_then(|r| r.get::<_, Option<i32>>(0))
    })
    .await;
    assert_eq!(status_code, 200);
    let delivered: Vec<(String, Value)> = delivered
        .lock()
        .unwrap()
        .iter()
        .map(|(line, body)| (line.clone(), json_of(body)))
        .collect();
    assert_eq!(
        delivered,
        vec![("POST /hook HTTP/1.1".to_string(), json!({"n": 1}))]
    );

    // DDL outside pgbase migrate, no NOTIFY, no event trigger: the fingerprint check finds it.
    let (status, body) = call("GET", "/rest/v1/late", &as_user(&alice), &[], None);
    assert_eq!(status, 404, "{body}");
    owner
        .batch_execute(
            "create table public.late (id int primary key); insert into public.late values (7);",
        )
        .await
        .unwrap();
    let started = Instant::now();
    let body = wait_for("the new table in the REST API", async || {
        let (status, body) = call("GET", "/rest/v1/late", &as_user(&alice), &[], None);
        (status == 200).then_some(body)
    })
    .await;
    assert_eq!(json_of(&body), json!([{"id": 7}]));
    eprintln!("schema change seen after {:?}", started.elapsed());
    assert!(
        serve
            .log()
            .contains("schema change seen by the catalog fingerprint check"),
        "{}",
        serve.log()
    );

    // pgbase doctor, as the owner: everything but service_role's BYPASSRLS.
    let (code, report) = doctor(&owner_url, dir.path());
    assert_eq!(code, 1, "{report:#}");
    let expected = vec![
        row("system schemas", "ready", "7 files, current", ""),
        row(
            "REST",
            "ready",
            "roles anon, authenticated, service_role; owner may switch to them",
            "",
        ),
        row(
            "REST",
            "missing",
            "service_role has no BYPASSRLS: the service key sees only what row-level security allows (often [])",
            "ALTER ROLE service_role BYPASSRLS;  -- as a superuser (on PG 16+ also a role with BYPASSRLS, CREATEROLE and ADMIN OPTION on service_role)",
        ),
        row(
            "REST",
            "note",
            "no DDL event trigger (only a superuser or a provider's admin role may create it): pgbase migrate reloads the schema cache itself, and serve checks the catalog periodically",
            "after DDL outside pgbase migrate: NOTIFY pgrst, 'reload schema';",
        ),
        row(
            "auth",
            "ready",
            "auth.users, readable and writable by this login",
            "",
        ),
        row(
            "GraphQL",
            "ready",
            "served from the REST schema cache with the same roles",
            "",
        ),
        row(
            "queue",
            "ready",
            "pgmq functions; this login may use and create in schema pgmq",
            "",
        ),
        row(
            "cron",
            "ready",
            "cron.job and cron.job_run_details usable by this login (the scheduler runs as it)",
            "",
        ),
        row(
            "net",
            "ready",
            "net.http_request_queue and net._http_response usable by this login (the worker runs as it)",
            "",
        ),
        row(
            "TLS",
            "note",
            "this connection is not encrypted (fine on a unix socket or localhost)",
            "add ?sslmode=verify-full (or require) to a remote URL",
        ),
        row(
            "replicas",
            "note",
            "not checked (no read replicas configured)",
            "",
        ),
    ];
    assert_eq!(rows(&report), expected, "{report:#}");

    // The administrator runs the fix: doctor is satisfied and the service key bypasses RLS.
    admin
        .batch_execute("alter role service_role bypassrls")
        .await
        .unwrap();
    let (code, report) = doctor(&owner_url, dir.path());
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["ready"], true);
    let (status, body) = call(
        "GET",
        "/rest/v1/notes?select=body",
        &service_headers,
        &[],
        None,
    );
    assert_eq!(
        (status, json_of(&body)),
        (200, json!([{"body": "first note"}]))
    );
    drop(serve);

    // `authenticator` has no password: logging in with it says what to do instead.
    let hint = "hint: pgbase migrate creates authenticator without a password: serve as the database owner \
                (the login that ran pgbase migrate), or have the owner run ALTER ROLE authenticator PASSWORD '…'; \
                and serve only the API with it (jobs = false)";
    let port_db = format!("127.0.0.1:{}", cluster.port());
    for (url, refusal) in [
        (
            format!("postgres://authenticator@{port_db}/app"),
            format!(
                "{port_db}: the server asks user \"authenticator\" for a password and the URL has none"
            ),
        ),
        (
            format!("postgres://authenticator:guess@{port_db}/app"),
            "the database server refused the connection: password authentication failed for user \"authenticator\"".to_string(),
        ),
    ] {
        let (code, report) = doctor(&url, dir.path());
        assert_eq!(code, 1, "{report:#}");
        assert_eq!(
            rows(&report),
            vec![row(
                "connection",
                "missing",
                &format!("cannot connect to the database: {refusal}\n{hint}"),
                "check the URL (host, port, user, password, database, sslmode)",
            )]
        );
    }

    // Given one by the owner, it serves the API alone (the workers need the owner): sign-in,
    // REST read and write under RLS.
    owner
        .batch_execute("alter role authenticator password 'authenticator-pw'")
        .await
        .unwrap();
    let serve = Serve::start(
        &url(&cluster, "authenticator", "authenticator-pw", "app"),
        dir.path(),
        &[("PGBASE_JOBS", "false")],
    );
    serve.ready().await;
    let port = serve.port;
    let (status, body) = http(
        port,
        "POST",
        "/auth/v1/token?grant_type=password",
        &[("apikey", &anon)],
        Some(r#"{"email":"alice@example.com","password":"correct horse"}"#),
    );
    assert_eq!(status, 200, "{body}");
    let alice = json_of(&body)["access_token"].as_str().unwrap().to_string();
    let bearer = format!("Bearer {alice}");
    let headers = [
        ("apikey", anon.as_str()),
        ("Authorization", bearer.as_str()),
    ];
    let (status, body) = http(
        port,
        "POST",
        "/rest/v1/notes",
        &headers,
        Some(r#"{"body":"second"}"#),
    );
    assert_eq!(status, 201, "{body}\n{}", serve.log());
    let (status, body) = http(
        port,
        "GET",
        "/rest/v1/notes?select=body&order=id",
        &headers,
        None,
    );
    assert_eq!(
        (status, json_of(&body)),
        (200, json!([{"body": "first note"}, {"body": "second"}])),
        "{}",
        serve.log()
    );
}

/// The first release's system files, in order (kept by pgbase-migrate's upgrade test).
const RELEASE1: &[(i32, &str, &str)] = &[
    (
        1,
        "0001_pgbase.sql",
        include_str!("../../pgbase-migrate/tests/fixtures/release1/0001_pgbase.sql"),
    ),
    (
        2,
        "0002_auth.sql",
        include_str!("../../pgbase-migrate/tests/fixtures/release1/0002_auth.sql"),
    ),
    (
        3,
        "0003_extensions_jwt.sql",
        include_str!("../../pgbase-migrate/tests/fixtures/release1/0003_extensions_jwt.sql"),
    ),
    (
        4,
        "0004_pgmq.sql",
        include_str!("../../pgbase-migrate/tests/fixtures/release1/0004_pgmq.sql"),
    ),
    (
        5,
        "0005_cron.sql",
        include_str!("../../pgbase-migrate/tests/fixtures/release1/0005_cron.sql"),
    ),
    (
        6,
        "0006_net.sql",
        include_str!("../../pgbase-migrate/tests/fixtures/release1/0006_net.sql"),
    ),
];

/// Objects the current system schemas have and the first release's lack.
const NEW_OBJECTS: &str = "select array[
    to_regprocedure('cron._runner_for(text)') is not null,
    to_regprocedure('pgmq._send_one(text, jsonb, jsonb, timestamptz)') is not null,
    to_regprocedure('pgmq_public.delete(text, bigint)') is not null,
    to_regclass('pgmq.notify_insert_settings') is not null,
    exists (select from pgbase.system_migrations where name = '0007_safety.sql')]";

/// `serve` at start-up brings a first-release database up to date when its login may (the
/// owner), and when it may not (`authenticator`) it serves anyway and says what to run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_applies_pending_system_upgrades_at_start_up() {
    let db = pgbase_testkit::test_db().await;
    let admin = db.connect().await;
    let name = format!("{}_release1", db.name);
    admin
        .batch_execute(&format!("create database {name} template template0"))
        .await
        .unwrap();
    let mut config = db.config.clone();
    config.dbname(&name);
    let (old, connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    old.batch_execute(
        "create schema pgbase;
         create table pgbase.system_migrations (
           version integer primary key, name text not null,
           applied_at timestamptz not null default now());",
    )
    .await
    .unwrap();
    for (version, file, sql) in RELEASE1 {
        old.batch_execute(sql).await.expect(file);
        old.execute(
            "insert into pgbase.system_migrations (version, name) values ($1, $2)",
            &[version, file],
        )
        .await
        .unwrap();
    }
    old.batch_execute("select pgmq.create('jobs'); select pgmq.send('jobs', '{\"n\": 1}');")
        .await
        .unwrap();
    let new_objects =
        async || -> Vec<bool> { old.query_one(NEW_OBJECTS, &[]).await.unwrap().get(0) };
    assert_eq!(new_objects().await, [false; 5], "a first-release database");
    let base = db.url.rsplit_once('/').unwrap().0.to_string();
    let dir = scratch();

    // As `authenticator` (it may not even read pgbase's bookkeeping): served as it is, healthy,
    // with the command to run.
    let as_authenticator = base.replace("postgres@", "authenticator@") + "/" + &name;
    let serve = Serve::start(&as_authenticator, dir.path(), &[("PGBASE_JOBS", "false")]);
    serve.ready().await;
    assert!(
        serve.log().contains(
            "this login cannot read the system schema versions (pgbase.system_migrations), so it cannot bring them up to date: after installing a new pgbase, run `pgbase migrate --db-url URL` as the database owner"
        ) && serve.log().contains("error=permission denied for schema pgbase"),
        "{}",
        serve.log()
    );
    assert_eq!(new_objects().await, [false; 5], "nothing changed");
    drop(serve);

    // As the owner: upgraded in place before the server starts, the queue kept.
    let serve = Serve::start(
        &format!("{base}/{name}"),
        dir.path(),
        &[("PGBASE_JOBS", "false")],
    );
    serve.ready().await;
    assert!(
        serve.log().contains("system schemas brought up to date"),
        "{}",
        serve.log()
    );
    assert_eq!(new_objects().await, [true; 5], "{}", serve.log());
    let outdated: i64 = old
        .query_one(
            "select count(*) from pgbase.system_migrations where checksum is null",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(outdated, 0);
    let kept: i64 = old
        .query_one("select count(*) from pgmq.read('jobs', 30, 10)", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(kept, 1, "the message sent before the upgrade");

    // An API role is no login: the refusal says which login to use.
    let (code, report) = doctor(
        &(base.replace("postgres@", "anon@") + "/" + &name),
        dir.path(),
    );
    assert_eq!(code, 1);
    assert_eq!(
        rows(&report)[0].2,
        "cannot connect to the database: the database server refused the connection: role \"anon\" is not \
         permitted to log in\nhint: anon is not a login role (anon, authenticated and service_role are the \
         NOLOGIN roles requests switch to): serve as the database owner (the login that ran pgbase migrate)"
    );
    drop(serve);
    drop(old);
    admin
        .batch_execute(&format!("drop database {name} with (force)"))
        .await
        .unwrap();
}
