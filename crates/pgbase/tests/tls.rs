//! TLS to Postgres end to end: a TLS-only cluster (`hostssl` lines only, a throwaway CA and
//! server certificate made here with rcgen) reached by `pgbase migrate`, `pgbase sql` and
//! `pgbase serve` with `sslmode=require`, `verify-ca` and `verify-full`, and refused with a clear
//! error for `sslmode=disable`, a wrong CA and a wrong host name. Also: connection errors show
//! the server's own message (wrong password, unknown database, unknown role), never "db error".

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use pgbase_devdb::{Cluster, ClusterOptions};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};

const BIN: &str = env!("CARGO_BIN_EXE_pgbase");
const PASSWORD: &str = "tls-test-pw";

struct Tls {
    cluster: Cluster,
    /// Holds ca.pem and other_ca.pem.
    dir: tempfile::TempDir,
}

impl Tls {
    fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }
    fn other_ca(&self) -> PathBuf {
        self.dir.path().join("other_ca.pem")
    }
    /// The client certificate and key for role `certuser` (CN=certuser, signed by the test CA).
    fn client_cert(&self) -> (PathBuf, PathBuf) {
        (
            self.dir.path().join("client.crt"),
            self.dir.path().join("client.key"),
        )
    }
    /// A URL to the TLS cluster with `host` and extra query parameters.
    fn url(&self, user: &str, host: &str, db: &str, query: &str) -> String {
        format!(
            "postgres://{user}:{PASSWORD}@{host}:{}/{db}?{query}",
            self.cluster.port()
        )
    }
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    CertifiedIssuer::self_signed(params, KeyPair::generate().expect("ca key")).expect("ca")
}

/// The process's TLS-only cluster: its certificate names `localhost` only (not 127.0.0.1).
fn tls() -> &'static Tls {
    static TLS: OnceLock<Tls> = OnceLock::new();
    TLS.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = ca("pgbase test CA");
        let other = ca_pem_only("another CA");
        let key = KeyPair::generate().expect("server key");
        let mut params =
            CertificateParams::new(vec!["localhost".to_string()]).expect("server params");
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        let cert = params.signed_by(&key, &ca).expect("server cert");
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).expect("write ca");
        let client_key = KeyPair::generate().expect("client key");
        let mut client = CertificateParams::new(Vec::<String>::new()).expect("client params");
        client
            .distinguished_name
            .push(DnType::CommonName, "certuser");
        let client = client.signed_by(&client_key, &ca).expect("client cert");
        std::fs::write(dir.path().join("client.crt"), client.pem()).expect("write");
        std::fs::write(dir.path().join("client.key"), client_key.serialize_pem()).expect("write");
        std::fs::write(dir.path().join("other_ca.pem"), other).expect("write other ca");
        // Everything over TCP must be TLS; the unix socket (the harness's own setup) trusts.
        // certuser logs in with a client certificate only.
        let hba = "local all all trust\n\
                   hostssl all certuser 127.0.0.1/32 cert\n\
                   hostssl all all 127.0.0.1/32 scram-sha-256\n\
                   hostssl all all ::1/128 scram-sha-256\n";
        let cluster = Cluster::start(ClusterOptions {
            listen_tcp: true,
            ephemeral: true,
            fresh: true,
            tcp_password: Some(PASSWORD.to_string()),
            hba: Some(hba.to_string()),
            data_files: vec![
                ("server.crt".into(), cert.pem().into_bytes()),
                ("server.key".into(), key.serialize_pem().into_bytes()),
                ("root.crt".into(), ca.pem().into_bytes()),
            ],
            settings: vec![
                ("ssl".into(), "on".into()),
                ("ssl_cert_file".into(), "server.crt".into()),
                ("ssl_key_file".into(), "server.key".into()),
                ("ssl_ca_file".into(), "root.crt".into()),
            ],
            ..ClusterOptions::new(dir.path().join("cluster"))
        })
        .expect("start the TLS cluster");
        let t = Tls { cluster, dir };
        let url = t.url("postgres", "127.0.0.1", "postgres", "sslmode=require");
        let (code, _, stderr) = sql(&url, "create role certuser login");
        assert_eq!(code, 0, "{stderr}");
        t
    })
}

fn ca_pem_only(name: &str) -> String {
    ca(name).pem()
}

/// Runs pgbase with no PG*/DATABASE_URL from the caller's environment.
fn run(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(BIN)
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("PGBASE_JWT_SECRET")
        .env_remove("PGSSLMODE")
        .env_remove("PGSSLROOTCERT")
        .env_remove("PGSSLCERT")
        .env_remove("PGSSLKEY")
        .env("HOME", "/nonexistent-pgbase-test-home")
        .output()
        .expect("run pgbase");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn sql(url: &str, query: &str) -> (i32, String, String) {
    run(&["sql", "--db-url", url, query])
}

fn project(sql: &str) -> tempfile::TempDir {
    let project = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(project.path().join("migrations")).expect("mkdir");
    std::fs::write(project.path().join("migrations/001_init.sql"), sql).expect("write");
    project
}

fn create_db(name: &str) {
    let t = tls();
    let url = t.url("postgres", "127.0.0.1", "postgres", "sslmode=require");
    let (code, _, stderr) = sql(&url, &format!("create database {name}"));
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn migrate_over_tls_with_require_and_verify_full() {
    let t = tls();
    create_db("migrate_tls");
    let p = project("create table notes (id int primary key, body text);");
    let dir = p.path().to_string_lossy().into_owned();
    // require: encrypted, certificate not checked (the cert does not name 127.0.0.1).
    let url = t.url("postgres", "127.0.0.1", "migrate_tls", "sslmode=require");
    let (code, _, stderr) = run(&["migrate", "--dir", &dir, "--db-url", &url]);
    assert_eq!(code, 0, "{stderr}");
    // verify-full with the test CA, host name localhost (pinned to 127.0.0.1 with hostaddr).
    let url = t.url(
        "postgres",
        "localhost",
        "migrate_tls",
        &format!(
            "sslmode=verify-full&sslrootcert={}&hostaddr=127.0.0.1",
            t.ca().display()
        ),
    );
    let (code, _, stderr) = run(&["migrate", "--dir", &dir, "--db-url", &url]);
    assert_eq!(code, 0, "{stderr}");
    // The connection really is encrypted.
    let (code, stdout, stderr) = sql(
        &url,
        "select ssl from pg_stat_ssl where pid = pg_backend_pid()",
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains('t'), "{stdout}");
    // verify-ca checks the CA only: 127.0.0.1 is fine.
    let url = t.url(
        "postgres",
        "127.0.0.1",
        "migrate_tls",
        &format!("sslmode=verify-ca&sslrootcert={}", t.ca().display()),
    );
    let (code, _, stderr) = sql(&url, "select 1");
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn environment_supplies_sslmode_and_the_url_wins() {
    let t = tls();
    let base = t.url("postgres", "localhost", "postgres", "hostaddr=127.0.0.1");
    let with_env = |url: &str, env: &[(&str, &str)]| {
        let output = Command::new(BIN)
            .args(["sql", "--db-url", url, "select 1"])
            .env("HOME", "/nonexistent-pgbase-test-home")
            .env_remove("PGSSLMODE")
            .env_remove("PGSSLROOTCERT")
            .envs(env.iter().copied())
            .output()
            .expect("run");
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let ca = t.ca().display().to_string();
    let (code, stderr) = with_env(
        &base,
        &[("PGSSLMODE", "verify-full"), ("PGSSLROOTCERT", &ca)],
    );
    assert_eq!(code, 0, "{stderr}");
    // The URL's sslmode=disable beats PGSSLMODE=verify-full: refused by hostssl-only pg_hba.
    let (code, stderr) = with_env(
        &format!("{base}&sslmode=disable"),
        &[("PGSSLMODE", "verify-full"), ("PGSSLROOTCERT", &ca)],
    );
    assert_ne!(code, 0);
    assert!(stderr.contains("no pg_hba.conf entry"), "{stderr}");
    let (code, stderr) = with_env(&base, &[("PGSSLMODE", "verify-fulll")]);
    assert_ne!(code, 0);
    assert!(
        stderr.contains("unknown sslmode \"verify-fulll\""),
        "{stderr}"
    );
}

#[test]
fn refusals_name_the_cause_and_the_fix() {
    let t = tls();
    // Plain connection to a hostssl-only server: the server's pg_hba message and the fix.
    let url = t.url("postgres", "127.0.0.1", "postgres", "sslmode=disable");
    let (code, _, stderr) = sql(&url, "select 1");
    assert_ne!(code, 0);
    assert!(stderr.contains("no pg_hba.conf entry"), "{stderr}");
    assert!(stderr.contains("sslmode=require"), "{stderr}");
    assert!(!stderr.contains("db error"), "{stderr}");
    assert!(!stderr.contains(PASSWORD), "password leaked: {stderr}");

    // A CA that did not sign the server's certificate.
    let url = t.url(
        "postgres",
        "localhost",
        "postgres",
        &format!(
            "sslmode=verify-full&sslrootcert={}&hostaddr=127.0.0.1",
            t.other_ca().display()
        ),
    );
    let (code, _, stderr) = sql(&url, "select 1");
    assert_ne!(code, 0);
    assert!(stderr.contains("sslmode=verify-full"), "{stderr}");
    assert!(stderr.contains("unknown CA"), "{stderr}");
    assert!(stderr.contains("hint: set sslrootcert"), "{stderr}");

    // The right CA, but the certificate names localhost, not 127.0.0.1.
    let url = t.url(
        "postgres",
        "127.0.0.1",
        "postgres",
        &format!("sslmode=verify-full&sslrootcert={}", t.ca().display()),
    );
    let (code, _, stderr) = sql(&url, "select 1");
    assert_ne!(code, 0);
    assert!(stderr.contains("sslmode=verify-full"), "{stderr}");
    assert!(stderr.contains("host name mismatch"), "{stderr}");
    assert!(stderr.contains("\"127.0.0.1\""), "{stderr}");

    // verify-full without a root certificate (and no ~/.postgresql/root.crt).
    let url = t.url("postgres", "127.0.0.1", "postgres", "sslmode=verify-full");
    let (code, _, stderr) = sql(&url, "select 1");
    assert_ne!(code, 0);
    assert!(
        stderr.contains("sslmode=verify-full needs a root certificate"),
        "{stderr}"
    );
}

#[test]
fn server_errors_are_shown_instead_of_db_error() {
    let t = tls();
    let wrong_password = format!(
        "postgres://postgres:nope@127.0.0.1:{}/postgres?sslmode=require",
        t.cluster.port()
    );
    let (code, _, stderr) = sql(&wrong_password, "select 1");
    assert_ne!(code, 0);
    assert!(
        stderr.contains("password authentication failed for user \"postgres\""),
        "{stderr}"
    );
    assert!(stderr.contains("hint: check the password"), "{stderr}");
    assert!(!stderr.contains("db error"), "{stderr}");
    assert!(!stderr.contains(":nope@"), "{stderr}");

    let unknown_db = t.url("postgres", "127.0.0.1", "no_such_db", "sslmode=require");
    let (code, _, stderr) = sql(&unknown_db, "select 1");
    assert_ne!(code, 0);
    assert!(
        stderr.contains("database \"no_such_db\" does not exist"),
        "{stderr}"
    );
    assert!(stderr.contains("CREATE DATABASE no_such_db"), "{stderr}");

    // Unknown role: on a trust cluster the server says so (password auth hides it).
    let trust = pgbase_testkit::cluster();
    let unknown_role = format!("postgres://nobody@127.0.0.1:{}/postgres", trust.port());
    let (code, _, stderr) = sql(&unknown_role, "select 1");
    assert_ne!(code, 0);
    assert!(
        stderr.contains("role \"nobody\" does not exist"),
        "{stderr}"
    );
    assert!(stderr.contains("hint: create the role"), "{stderr}");
    assert!(!stderr.contains("db error"), "{stderr}");

    // A server without TLS (the trust cluster) and sslmode=require.
    let no_tls = format!(
        "postgres://postgres@127.0.0.1:{}/postgres?sslmode=require",
        trust.port()
    );
    let (code, _, stderr) = sql(&no_tls, "select 1");
    assert_ne!(code, 0);
    assert!(
        stderr.contains("the server does not support TLS"),
        "{stderr}"
    );
    assert!(stderr.contains("sslmode=require"), "{stderr}");
    // ... which prefer (the default) falls back from.
    let prefer = format!("postgres://postgres@127.0.0.1:{}/postgres", trust.port());
    let (code, _, stderr) = sql(&prefer, "select 1");
    assert_eq!(code, 0, "{stderr}");

    // Nothing listening.
    let closed = format!(
        "postgres://postgres@127.0.0.1:{}/postgres",
        pgbase_testkit::free_port()
    );
    let (code, _, stderr) = sql(&closed, "select 1");
    assert_ne!(code, 0);
    assert!(stderr.contains("connection refused"), "{stderr}");
    assert!(stderr.contains("hint: is Postgres running"), "{stderr}");
}

/// A plain HTTP/1.0 GET; returns (status, body).
fn http_get(port: u16, path: &str) -> (u16, String) {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    if write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").is_err() {
        return (0, String::new());
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
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

fn serve_and_get(url: &str, path: &str, log: &Path) -> (u16, String) {
    let port = pgbase_testkit::free_port();
    let secret = "s".repeat(32);
    let log_file = std::fs::File::create(log).expect("log");
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--port",
            &port.to_string(),
            "--jwt-secret",
            &secret,
        ])
        .args(["--db-url", url])
        .env("HOME", "/nonexistent-pgbase-test-home")
        .env_remove("PGSSLMODE")
        .env_remove("PGSSLROOTCERT")
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .expect("spawn serve");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = (0, String::new());
    while Instant::now() < deadline {
        seen = http_get(port, path);
        if seen.0 == 200 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    seen
}

#[test]
fn serve_answers_rest_over_verify_full_and_logs_why_it_cannot_connect() {
    let t = tls();
    create_db("serve_tls");
    let p = project(
        "create table notes (id int primary key, body text); \
         insert into notes values (1, 'over tls'); \
         grant select on notes to anon;",
    );
    let dir = p.path().to_string_lossy().into_owned();
    let url = t.url(
        "postgres",
        "localhost",
        "serve_tls",
        &format!(
            "sslmode=verify-full&sslrootcert={}&hostaddr=127.0.0.1",
            t.ca().display()
        ),
    );
    let (code, _, stderr) = run(&["migrate", "--dir", &dir, "--db-url", &url]);
    assert_eq!(code, 0, "{stderr}");
    let log = p.path().join("serve.log");
    let (status, body) = serve_and_get(&url, "/rest/v1/notes?select=body", &log);
    assert_eq!(
        (status, body.as_str()),
        (200, r#"[{"body":"over tls"}]"#),
        "{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );

    // The wrong CA: /health stays 503 and the log says why, once per distinct failure.
    let bad = t.url(
        "postgres",
        "localhost",
        "serve_tls",
        &format!(
            "sslmode=verify-full&sslrootcert={}&hostaddr=127.0.0.1",
            t.other_ca().display()
        ),
    );
    let port = pgbase_testkit::free_port();
    let log_file = std::fs::File::create(&log).expect("log");
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--port",
            &port.to_string(),
            "--jwt-secret",
            &"s".repeat(32),
        ])
        .args(["--db-url", &bad])
        .env("HOME", "/nonexistent-pgbase-test-home")
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .expect("spawn serve");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut health = (0, String::new());
    while Instant::now() < deadline && health.0 == 0 {
        health = http_get(port, "/health");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Several back-off steps of the listener (100 ms, 200 ms, … doubling).
    std::thread::sleep(Duration::from_secs(4));
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(health.0, 503, "{}", health.1);
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let listener_warnings = text
        .lines()
        .filter(|l| l.contains("schema reload listener failed"))
        .collect::<Vec<_>>();
    assert_eq!(listener_warnings.len(), 1, "{text}");
    assert!(listener_warnings[0].contains("unknown CA"), "{text}");
    // The workers too log a repeated failure once, not every retry.
    for repeated in [
        "cron scheduler: retrying",
        "net worker: claiming requests failed",
        "net worker: cannot connect to listen",
    ] {
        let n = text.lines().filter(|l| l.contains(repeated)).count();
        assert!(n <= 1, "{repeated} logged {n} times: {text}");
    }
    assert!(!text.contains("db error"), "{text}");
    assert!(!text.contains(PASSWORD), "password leaked: {text}");
}

#[test]
fn client_certificates_from_the_url_and_the_environment() {
    let t = tls();
    let (cert, key) = t.client_cert();
    let base = format!(
        "postgres://certuser@localhost:{}/postgres?hostaddr=127.0.0.1&sslmode=verify-full&sslrootcert={}",
        t.cluster.port(),
        t.ca().display()
    );
    let url = format!("{base}&sslcert={}&sslkey={}", cert.display(), key.display());
    let (code, stdout, stderr) = sql(&url, "select current_user");
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("certuser"), "{stdout}");
    // From PGSSLCERT/PGSSLKEY.
    let output = Command::new(BIN)
        .args(["sql", "--db-url", &base, "select current_user"])
        .env("HOME", "/nonexistent-pgbase-test-home")
        .env("PGSSLCERT", &cert)
        .env("PGSSLKEY", &key)
        .output()
        .expect("run");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Without a certificate the server refuses, and says so.
    let (code, _, stderr) = sql(&base, "select 1");
    assert_ne!(code, 0);
    assert!(!stderr.contains("db error"), "{stderr}");
    assert!(stderr.contains("certificate"), "{stderr}");
    assert!(stderr.contains("hint: set sslcert and sslkey"), "{stderr}");
}

/// Connection set-up cost over TLS, printed for the record (debug build; run with --nocapture).
#[test]
fn measure_connect_times() {
    let t = tls();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let time = |url: String| {
        let config = pgbase_db::ConnectConfig::from_url(&url).expect("url");
        runtime.block_on(async {
            let n = 10;
            let started = Instant::now();
            for _ in 0..n {
                let (client, conn) = config.connect().await.expect("connect");
                let driver = tokio::spawn(conn);
                client.simple_query("select 1").await.expect("query");
                drop(client);
                let _ = driver.await;
            }
            started.elapsed() / n
        })
    };
    let (cert, key) = t.client_cert();
    let require = time(t.url("postgres", "127.0.0.1", "postgres", "sslmode=require"));
    let full = time(t.url(
        "postgres",
        "localhost",
        "postgres",
        &format!(
            "sslmode=verify-full&sslrootcert={}&hostaddr=127.0.0.1",
            t.ca().display()
        ),
    ));
    let client_cert = time(format!(
        "postgres://certuser@localhost:{}/postgres?hostaddr=127.0.0.1&sslmode=verify-full&sslrootcert={}&sslcert={}&sslkey={}",
        t.cluster.port(),
        t.ca().display(),
        cert.display(),
        key.display()
    ));
    let trust = pgbase_testkit::cluster();
    let plain = time(format!(
        "postgres://postgres@127.0.0.1:{}/postgres?sslmode=disable",
        trust.port()
    ));
    eprintln!(
        "connect + select 1, mean of 10: plain/trust {plain:?}, require+scram {require:?}, verify-full+scram {full:?}, verify-full+client cert {client_cert:?}"
    );
}
