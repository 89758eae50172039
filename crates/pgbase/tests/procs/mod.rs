//! Helpers for tests that run the built `pgbase serve` binary as child processes: start one
//! with a log file, send it signals, wait on events with upper bounds, find which child owns a
//! database session (pg_stat_activity's client port → the socket in /proc), and a raw HTTP/1.1
//! client (one request per connection).

#![allow(dead_code, clippy::unwrap_used)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The binary under test: cargo's, or `PGBASE_TEST_BIN` (a copy of it, where several
/// checkouts share one target directory and overwrite each other's `target/debug/pgbase`).
pub fn bin() -> String {
    std::env::var("PGBASE_TEST_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_pgbase").to_string())
}
pub const SECRET: &str = "a-secret-of-at-least-thirty-two-characters";

/// One `pgbase serve` child, its port and its log.
pub struct Served {
    pub child: Child,
    pub port: u16,
    pub log: PathBuf,
}

impl Served {
    /// Starts `pgbase serve` on a free port against `db_url`, with `extra` flags.
    pub fn start(db_url: &str, log: &Path, extra: &[&str]) -> Served {
        let port = pgbase_testkit::free_port();
        let file = std::fs::File::create(log).unwrap();
        let child = Command::new(bin())
            .args(["serve", "--db-url", db_url, "--port", &port.to_string()])
            .args(["--jwt-secret", SECRET])
            .args(extra)
            .env("RUST_LOG", "info,tokio_postgres=warn")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::from(file))
            .spawn()
            .expect("spawn pgbase serve");
        Served {
            child,
            port,
            log: log.to_path_buf(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: kill(2) with a pid this test spawned and has not reaped yet.
        let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(rc, 0, "kill -TERM {pid}");
    }

    /// Sends SIGKILL and reaps the child.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Waits for the child to exit, at most `bound`; `None` if it is still running.
    pub fn wait_exit(&mut self, bound: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if start.elapsed() >= bound {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `probe` gives `Some`, polling every 100 ms, at most `bound` (then panics,
/// printing `logs()`).
pub async fn wait_for<T, F: AsyncFnMut() -> Option<T>>(
    what: &str,
    bound: Duration,
    logs: impl Fn() -> String,
    mut probe: F,
) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            start.elapsed() < bound,
            "waited {bound:?} for {what}\n{}",
            logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The logs of several children, for failure messages.
pub fn logs_of(served: &[&Served]) -> String {
    served
        .iter()
        .map(|s| format!("--- {}\n{}", s.log.display(), s.log_text()))
        .collect()
}

/// Inodes of the established TCP sockets whose local port is `port` (from /proc/net/tcp{,6}).
fn socket_inodes(port: u16) -> Vec<String> {
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let local_port = f
                .get(1)
                .and_then(|a| a.rsplit(':').next())
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            if local_port == Some(port) && f.get(3) == Some(&"01") {
                inodes.push(f[9].to_string());
            }
        }
    }
    inodes
}

/// Whether process `pid` has the client end of the TCP connection whose local port is `port`.
pub fn owns_client_port(pid: u32, port: u16) -> bool {
    let inodes = socket_inodes(port);
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.filter_map(Result::ok).any(|fd| {
        std::fs::read_link(fd.path()).is_ok_and(|target| {
            let target = target.to_string_lossy();
            inodes.iter().any(|i| target == format!("socket:[{i}]"))
        })
    })
}

/// Which of `served` owns the database session with backend pid `backend`.
pub async fn owner_of_session(
    client: &tokio_postgres::Client,
    backend: i32,
    served: &[&Served],
) -> Option<usize> {
    let port: i32 = client
        .query_opt(
            "select client_port from pg_stat_activity where pid = $1",
            &[&backend],
        )
        .await
        .unwrap()?
        .get::<_, Option<i32>>(0)?;
    served
        .iter()
        .position(|s| owns_client_port(s.pid(), u16::try_from(port).unwrap()))
}

/// The backend pid of the session holding the cron leader lock in this database, if any.
pub async fn cron_leader_session(client: &tokio_postgres::Client) -> Option<i32> {
    client
        .query_opt(
            "select l.pid from pg_locks l join pg_stat_activity a using (pid)
             where l.locktype = 'advisory' and l.granted
               and l.database = (select oid from pg_database where datname = current_database())
               and a.application_name = 'pgbase-cron-leader'",
            &[],
        )
        .await
        .unwrap()
        .map(|r| r.get(0))
}

/// A raw HTTP/1.1 request on a new connection (`Connection: close`); the status (0 when the
/// connection closed without a status line) and body. `Err` when the connection is refused.
pub async fn http(
    port: u16,
    method: &str,
    path: &str,
    body: &str,
) -> std::io::Result<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    // A reset connection counts as a closed one: whatever arrived is parsed.
    let _ = stream.read_to_end(&mut raw).await;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

/// Whether a TCP connection to `port` is refused now.
pub fn refused(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_secs(1),
    )
    .is_err()
}

/// A slow HTTP sink on a loopback port: each request is read whole, its path counted, and
/// answered `200 ok` after `delay`. Runs on its own threads until the process ends.
pub struct Sink {
    pub port: u16,
    deliveries: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Sink {
    pub fn start(delay: Duration) -> Sink {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let deliveries = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = deliveries.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let seen = seen.clone();
                std::thread::spawn(move || {
                    let Some(path) = read_request(&mut stream) else {
                        return;
                    };
                    seen.lock().unwrap().push(path);
                    std::thread::sleep(delay);
                    let _ = stream.write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                    );
                });
            }
        });
        Sink { port, deliveries }
    }

    /// Every request path received so far, in arrival order (repeats included).
    pub fn deliveries(&self) -> Vec<String> {
        self.deliveries.lock().unwrap().clone()
    }
}

/// Reads one request (head and `Content-Length` body); its path.
fn read_request(stream: &mut std::net::TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    head.split(' ').nth(1).map(str::to_string)
}
