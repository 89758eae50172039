//! The dev mail sink through the built binary: `pgbase dev` prints it, points
//! `pgbase.dev_mail_url` at it for every new session, and a mail posted from SQL with
//! `net.http_post` arrives there; `pgbase serve` has no such route.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The binary under test: Cargo's, or `PGBASE_BIN` (checkouts that share one target directory
/// share its uplifted `target/debug/pgbase`, so another checkout's build can replace it).
fn bin() -> String {
    std::env::var("PGBASE_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_pgbase").to_string())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A plain HTTP/1.0 GET; returns (status, body).
fn http_get(port: u16, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").expect("write");
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

fn sql_in(dir: &std::path::Path, sql: &str) -> String {
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

#[test]
fn dev_serves_the_mail_sink_and_sql_reaches_it() {
    let project = tempfile::tempdir().expect("tempdir");
    let dir = project.path();
    let port = free_port();
    let mut child = Command::new(bin())
        .args(["dev", "--dir"])
        .arg(dir)
        .args(["--port", &port.to_string()])
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
    while let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        let done = line.starts_with("Watching");
        banner.push(line);
        if done {
            break;
        }
    }
    let result = std::panic::catch_unwind(|| {
        let sink_url = format!("http://127.0.0.1:{port}/dev/mail");
        assert!(
            banner
                .iter()
                .any(|l| l.starts_with("  Mail sink:") && l.contains(&sink_url)),
            "the banner names the mail sink: {banner:?}"
        );
        // A new session sees the setting.
        let setting = sql_in(
            dir,
            "select current_setting('pgbase.dev_mail_url', true) as url",
        );
        assert!(setting.contains(&sink_url), "{setting}");

        let (status, body) = http_get(port, "/dev/mail");
        assert_eq!((status, body.as_str()), (200, "[]"));

        sql_in(
            dir,
            "select net.http_post(current_setting('pgbase.dev_mail_url'), \
             '{\"to\": \"someone@example.com\", \"subject\": \"from SQL\", \"text\": \"hello\"}')",
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        let mails = loop {
            let (_, body) = http_get(port, "/dev/mail");
            let mails: serde_json::Value = serde_json::from_str(&body).expect("JSON list");
            if mails.as_array().is_some_and(|m| !m.is_empty()) || Instant::now() > deadline {
                break mails;
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        assert_eq!(mails[0]["to"], serde_json::json!(["someone@example.com"]));
        assert_eq!(mails[0]["subject"], "from SQL");
        // The worker stored the sink's answer.
        let response = sql_in(dir, "select status_code from net._http_response");
        assert!(response.contains("\"status_code\":200"), "{response}");

        let (status, page) = http_get(port, "/dev/mail/view");
        assert_eq!(status, 200);
        assert!(page.contains("from SQL"), "{page}");
    });
    unsafe {
        libc::kill(i32::try_from(child.id()).expect("pid"), libc::SIGINT);
    }
    let _ = child.wait();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

#[test]
fn serve_has_no_mail_sink() {
    let db_port = free_port(); // nothing listens there: serve still answers HTTP
    let port = free_port();
    let mut child = Command::new(bin())
        .args(["serve", "--port", &port.to_string()])
        .args(["--jwt-secret", &"d".repeat(32)])
        .args([
            "--db-url",
            &format!("postgres://postgres@127.0.0.1:{db_port}/postgres"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn serve");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = (0, String::new());
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            seen = http_get(port, "/dev/mail");
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(seen.0, 404, "{}", seen.1);
}
