//! The built binary end to end: `pgbase dev` (banner, /health, migrations applied and watched,
//! restart reusing the cluster, --fresh wiping it, Ctrl-C leaving no postgres), and the CLI's
//! failure modes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The binary under test: Cargo's, or `PGBASE_BIN` (checkouts that share one target directory
/// share its uplifted `target/debug/pgbase`, so another checkout's build can replace it).
fn bin() -> String {
    std::env::var("PGBASE_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_pgbase").to_string())
}

/// A plain HTTP/1.0 GET; returns (status, body).
fn http_get(port: u16, path: &str) -> (u16, String) {
    http_get_with(port, path, &[])
}

/// A plain HTTP/1.0 GET with extra headers; returns (status, body).
fn http_get_with(port: u16, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let extra: String = headers
        .iter()
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .collect();
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: localhost\r\n{extra}\r\n"
    )
    .expect("write");
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

struct Dev {
    child: Child,
    banner: Vec<String>,
}

/// A test that fails between `start_dev` and `stop` must not leave `pgbase dev` (and its
/// Postgres) running: stop it as Ctrl-C would, and kill it if it does not go.
impl Drop for Dev {
    fn drop(&mut self) {
        if !matches!(self.child.try_wait(), Ok(None)) {
            return;
        }
        if let Ok(pid) = i32::try_from(self.child.id()) {
            unsafe {
                libc::kill(pid, libc::SIGINT);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `pgbase dev` and waits for its banner (the line that says it is watching).
fn start_dev(dir: &Path, port: u16, extra: &[&str]) -> Dev {
    let mut child = Command::new(bin())
        .args(["dev", "--dir"])
        .arg(dir)
        .args(["--port", &port.to_string()])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn pgbase dev");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut banner = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                let done = line.starts_with("Watching");
                banner.push(line);
                if done {
                    break;
                }
            }
            Err(_) => {
                let _ = child.kill();
                panic!("pgbase dev printed no banner: {banner:?}");
            }
        }
    }
    Dev { child, banner }
}

fn stop(dev: &mut Dev) {
    // SIGINT, as Ctrl-C sends.
    let pid = i32::try_from(dev.child.id()).expect("pid");
    unsafe {
        libc::kill(pid, libc::SIGINT);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(Some(status)) = dev.child.try_wait() {
            assert!(status.success(), "pgbase dev exited with {status}");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "pgbase dev did not stop on SIGINT"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn postmaster_pid(dir: &Path) -> Option<u32> {
    let text = std::fs::read_to_string(dir.join(".pgbase/db/pgdata/postmaster.pid")).ok()?;
    text.lines().next()?.trim().parse().ok()
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// Runs `pgbase sql --dir DIR SQL --json` against the running `pgbase dev` of `dir`.
fn sql_in(dir: &Path, sql: &str) -> String {
    let output = Command::new(bin())
        .args(["sql", "--dir"])
        .arg(dir)
        .args([sql, "--json"])
        .env_remove("DATABASE_URL")
        .output()
        .expect("run pgbase sql");
    assert!(
        output.status.success(),
        "pgbase sql {sql:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// GETs `path` until it answers 200 (a watched migration is applied in the background), for
/// at most a generous minute; returns the last answer.
fn get_until_ok(port: u16, path: &str) -> (u16, String) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let seen = http_get(port, path);
        if seen.0 == 200 || Instant::now() >= deadline {
            return seen;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn dev_serves_watches_migrations_restarts_and_leaves_no_postgres() {
    let project = tempfile::tempdir().expect("tempdir");
    let dir = project.path();
    std::fs::create_dir_all(dir.join("migrations")).expect("mkdir");
    std::fs::write(
        dir.join("migrations/001_notes.sql"),
        "create table notes (id int primary key, body text); insert into notes values (1, 'hi');",
    )
    .expect("write");
    let port = pgbase_testkit::free_port();

    let mut dev = start_dev(dir, port, &[]);
    let banner = dev.banner.join("\n");
    for needle in [
        "API URL:",
        "Database URL:",
        "anon key:",
        "service_role key:",
    ] {
        assert!(banner.contains(needle), "banner lacks {needle}: {banner}");
    }
    let (status, body) = http_get(port, "/health");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"database\":\"reachable\""), "{body}");
    let (status, body) = http_get(port, "/rest/v1/notes?select=body");
    assert_eq!((status, body.as_str()), (200, "[{\"body\":\"hi\"}]"));

    // A new migration is applied without a restart.
    std::fs::write(
        dir.join("migrations/002_tags.sql"),
        "create table tags (name text primary key); insert into tags values ('new');",
    )
    .expect("write");
    let (status, body) = get_until_ok(port, "/rest/v1/tags");
    assert_eq!(status, 200, "new migration not served: {body}");
    assert_eq!(json(&body), serde_json::json!([{"name": "new"}]));

    // A row written at run time, by no migration: only a database that was kept still has it.
    let out = sql_in(
        dir,
        "insert into notes values (2, 'written at run time') returning id",
    );
    assert!(out.contains(r#""id":2"#), "{out}");

    let pid = postmaster_pid(dir).expect("postmaster.pid while running");
    stop(&mut dev);
    assert!(
        !pgbase_devdb::process_alive(pid),
        "postgres {pid} outlived pgbase dev"
    );

    // The second start reuses the cluster and its data: the run-time row is still there and
    // no migration runs again (002 would fail on its duplicate key). How fast this is, is
    // measured by bench/cli/dev_start.sh, not asserted here.
    let mut dev = start_dev(dir, port, &[]);
    let (status, body) = http_get(port, "/rest/v1/notes?select=body&order=id");
    assert_eq!(
        (status, json(&body)),
        (
            200,
            serde_json::json!([{"body": "hi"}, {"body": "written at run time"}])
        )
    );
    let out = sql_in(dir, "select count(*) as n from pgbase.migrations");
    assert!(
        out.contains(r#""n":2"#),
        "two migrations recorded once each: {out}"
    );
    stop(&mut dev);

    // --fresh wipes the database: the run-time row is gone, the migrations are applied again
    // from scratch (so their own rows are back).
    let mut dev = start_dev(dir, port, &["--fresh"]);
    let (status, body) = http_get(port, "/rest/v1/notes?select=body&order=id");
    assert_eq!(
        (status, json(&body)),
        (200, serde_json::json!([{"body": "hi"}]))
    );
    let (status, body) = http_get(port, "/rest/v1/tags");
    assert_eq!(
        (status, json(&body)),
        (200, serde_json::json!([{"name": "new"}]))
    );
    stop(&mut dev);
}

fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let output = Command::new(bin())
        .args(args)
        .envs(env.iter().copied())
        .env_remove("DATABASE_URL")
        .env_remove("PGBASE_JWT_SECRET")
        .output()
        .expect("run pgbase");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn dev_without_postgres_binaries_says_how_to_install_them_and_exits_2() {
    let project = tempfile::tempdir().expect("tempdir");
    let empty = tempfile::tempdir().expect("tempdir");
    let empty_path = empty.path().to_string_lossy().into_owned();
    let dir = project.path().to_string_lossy().into_owned();
    let (code, stderr) = run(
        &["dev", "--dir", &dir],
        &[("PATH", &empty_path), ("PGBASE_PG_ROOT", &empty_path)],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("apt-get install postgresql"), "{stderr}");
}

#[test]
fn serve_needs_a_database_and_a_secret() {
    let (code, stderr) = run(&["serve"], &[]);
    assert_ne!(code, 0);
    assert!(stderr.contains("DATABASE_URL"), "{stderr}");
    let (code, stderr) = run(&["serve", "--db-url", "postgres://x@127.0.0.1:1/x"], &[]);
    assert_ne!(code, 0);
    assert!(stderr.contains("JWT secret"), "{stderr}");
}

#[test]
fn unknown_config_keys_are_refused() {
    let project = tempfile::tempdir().expect("tempdir");
    let config = project.path().join("pgbase.toml");
    std::fs::write(&config, "db_shemas = \"api\"\n").expect("write");
    let config = config.to_string_lossy().into_owned();
    let (code, stderr) = run(&["serve", "--config", &config], &[]);
    assert_ne!(code, 0);
    assert!(stderr.contains("db_shemas"), "{stderr}");
}

#[test]
fn serve_refuses_a_port_in_use() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    let secret = "a".repeat(32);
    let (code, stderr) = run(
        &[
            "serve",
            "--db-url",
            "postgres://x@127.0.0.1:1/x",
            "--jwt-secret",
            &secret,
            "--port",
            &port,
        ],
        &[],
    );
    assert_ne!(code, 0);
    assert!(stderr.contains("already in use"), "{stderr}");
}

#[test]
fn migrate_new_creates_a_timestamped_file() {
    let project = tempfile::tempdir().expect("tempdir");
    let dir = project.path().to_string_lossy().into_owned();
    let output = Command::new(bin())
        .args(["migrate", "--dir", &dir, "new", "add_todos"])
        .output()
        .expect("run");
    assert!(output.status.success());
    let created = String::from_utf8_lossy(&output.stdout).trim().to_string();
    assert!(created.ends_with("_add_todos.sql"), "{created}");
    assert!(Path::new(&created).exists());
}

#[test]
fn migrate_reports_a_failing_file_with_line_and_column() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let db = runtime.block_on(pgbase_testkit::test_db());
    let project = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(project.path().join("migrations")).expect("mkdir");
    std::fs::write(
        project.path().join("migrations/001_bad.sql"),
        "create table ok (x int);\nselect nope from ok;\n",
    )
    .expect("write");
    let dir = project.path().to_string_lossy().into_owned();
    let (code, stderr) = run(&["migrate", "--dir", &dir, "--db-url", &db.url], &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("001_bad.sql:2:8: column \"nope\" does not exist"),
        "{stderr}"
    );
    assert!(stderr.contains("2 | select nope from ok;"), "{stderr}");
}

#[test]
fn serve_comes_up_with_an_unreachable_database_and_health_says_503() {
    let db_port = pgbase_testkit::free_port(); // nothing listens there
    let port = pgbase_testkit::free_port();
    let secret = "b".repeat(32);
    let token = "c".repeat(24);
    let mut child = Command::new(bin())
        .args([
            "serve",
            "--port",
            &port.to_string(),
            "--jwt-secret",
            &secret,
        ])
        .env("PGBASE_METRICS_TOKEN", &token)
        .args([
            "--db-url",
            &format!("postgres://postgres@127.0.0.1:{db_port}/postgres"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn serve");
    let deadline = Instant::now() + Duration::from_secs(60);
    let bearer = format!("Bearer {token}");
    let (mut seen, mut detailed) = ((0, String::new()), (0, String::new()));
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            seen = http_get(port, "/health");
            detailed = http_get_with(port, "/health", &[("Authorization", &bearer)]);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    // Everyone learns only that it is unavailable; the token holder also learns why.
    assert_eq!(seen.0, 503, "{}", seen.1);
    assert_eq!(seen.1, r#"{"status":"unavailable"}"#);
    assert_eq!(detailed.0, 503, "{}", detailed.1);
    assert!(detailed.1.contains("unreachable"), "{}", detailed.1);
}

#[test]
fn sql_runs_statements_and_prints_rows() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let db = runtime.block_on(pgbase_testkit::test_db());
    let output = Command::new(bin())
        .args(["sql", "--db-url", &db.url, "--json"])
        .arg("create table t (x int); insert into t values (7); select x, 'a' as y from t")
        .output()
        .expect("run");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains(r#"{"x":7,"y":"a"}"#), "{stdout}");
    let output = Command::new(bin())
        .args(["sql", "--db-url", &db.url, "select nope"])
        .output()
        .expect("run");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("42703"));
}

#[test]
fn dev_database_needs_the_printed_password_on_tcp() {
    use std::os::unix::fs::PermissionsExt;
    let project = tempfile::tempdir().expect("tempdir");
    let dir = project.path();
    let port = pgbase_testkit::free_port();
    let mut dev = start_dev(dir, port, &[]);
    let url = dev
        .banner
        .iter()
        .find_map(|l| l.trim().strip_prefix("Database URL:"))
        .map(|u| u.trim().to_string())
        .expect("a Database URL line");
    let password =
        std::fs::read_to_string(dir.join(".pgbase/db_password")).expect("db_password file");
    let password = password.trim().to_string();
    assert!(password.len() >= 32, "{password:?}");
    assert!(
        url.starts_with(&format!("postgres://postgres:{password}@127.0.0.1:")),
        "{url}"
    );
    for file in [".pgbase/db_password", ".pgbase/database_url"] {
        let mode = std::fs::metadata(dir.join(file))
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{file} has mode {mode:o}");
    }
    let db_port = url
        .rsplit_once(':')
        .and_then(|(_, rest)| rest.split('/').next())
        .and_then(|p| p.parse::<u16>().ok())
        .expect("port in the URL");

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        // The printed URL works (what `psql "$URL"` does).
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .expect("the printed URL connects");
        tokio::spawn(connection);
        let user: String = client
            .query_one("select current_user::text", &[])
            .await
            .expect("query")
            .get(0);
        assert_eq!(user, "postgres");
        // Without a password, no role gets in over TCP.
        for role in ["postgres", "authenticator", "anon", "service_role"] {
            let bare = format!("postgres://{role}@127.0.0.1:{db_port}/postgres");
            let result = tokio_postgres::connect(&bare, tokio_postgres::NoTls).await;
            assert!(result.is_err(), "{role} connected without a password");
        }
        let wrong = format!("postgres://postgres:{password}x@127.0.0.1:{db_port}/postgres");
        assert!(
            tokio_postgres::connect(&wrong, tokio_postgres::NoTls)
                .await
                .is_err(),
            "a wrong password was accepted"
        );
    });

    // `pgbase sql` finds the running dev (its URL carries the password).
    let dir_arg = dir.to_string_lossy().into_owned();
    let output = Command::new(bin())
        .args(["sql", "--dir", &dir_arg, "select 41 + 1 as n", "--json"])
        .env_remove("DATABASE_URL")
        .output()
        .expect("run pgbase sql");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("42"));
    stop(&mut dev);
}

#[test]
fn dev_stops_a_postmaster_that_pg_ctl_restart_started_behind_its_back() {
    use std::os::unix::fs::MetadataExt;
    use std::os::unix::process::CommandExt;
    let project = tempfile::tempdir().expect("tempdir");
    let dir = project.path();
    // Keep dev off its preferred database port 54322: while pg_ctl restarts the server, a
    // `pgbase dev` of a test running beside this one could take that port from under it.
    let _preferred = std::net::TcpListener::bind("127.0.0.1:54322");
    let mut dev = start_dev(dir, pgbase_testkit::free_port(), &[]);
    let first = postmaster_pid(dir).expect("postmaster.pid while running");
    let pgdata = dir.join(".pgbase/db/pgdata");
    let binaries = pgbase_devdb::find_binaries().expect("binaries");
    let mut pg_ctl = Command::new(binaries.bindir.join("pg_ctl"));
    pg_ctl
        .args(["restart", "-m", "fast", "-w", "-l"])
        .arg(dir.join(".pgbase/db/pg_ctl.log"))
        .arg("-D")
        .arg(&pgdata)
        .stdin(Stdio::null());
    if unsafe { libc::geteuid() } == 0 {
        // pg_ctl refuses root; run it as the user that owns the cluster.
        let meta = std::fs::metadata(&pgdata).expect("metadata");
        pg_ctl.uid(meta.uid()).gid(meta.gid());
    }
    let out = pg_ctl.output().expect("run pg_ctl");
    assert!(
        out.status.success(),
        "pg_ctl restart: {}{}\nserver log: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(dir.join(".pgbase/db/pg_ctl.log")).unwrap_or_default()
    );
    let second = postmaster_pid(dir).expect("postmaster.pid after the restart");
    assert_ne!(first, second);
    assert!(pgbase_devdb::process_alive(second));

    stop(&mut dev);
    assert!(
        !pgbase_devdb::process_alive(second),
        "the postmaster pg_ctl started ({second}) outlived pgbase dev"
    );
    assert_eq!(postmaster_pid(dir), None, "postmaster.pid left behind");
}
