//! The CLI traps a new user fell into (issue #15), each driven through the built binary: an
//! empty `migrate new` template applied by the `dev` watcher, flags after `migrate new NAME`,
//! a typo in `dev --dir`, a copied project folder, a port in use found only after initdb,
//! colours and doubled lines in piped logs, warnings on Ctrl-C, and `sql --json` typing; and
//! the same template run through an explicit `pgbase migrate`, which skips it unrecorded.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The binary under test: Cargo's, or `PGBASE_BIN` (checkouts that share one target directory
/// share its uplifted `target/debug/pgbase`, so another checkout's build can replace it).
fn bin() -> String {
    std::env::var("PGBASE_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_pgbase").to_string())
}

/// A running `pgbase dev` whose stdout and stderr lines are collected as they come.
struct Dev {
    child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
}

fn collect(stream: impl Read + Send + 'static) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            sink.lock().expect("lock").push(line);
        }
    });
    lines
}

impl Dev {
    fn start(dir: &Path, port: u16, extra: &[&str]) -> Dev {
        let mut child = Command::new(bin())
            .args(["dev", "--dir"])
            .arg(dir)
            .args(["--port", &port.to_string()])
            .args(extra)
            .env_remove("NO_COLOR")
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn pgbase dev");
        let stdout = collect(child.stdout.take().expect("stdout"));
        let stderr = collect(child.stderr.take().expect("stderr"));
        let mut dev = Dev {
            child,
            stdout,
            stderr,
        };
        dev.wait_for_stdout("Watching", Duration::from_secs(120));
        dev
    }

    fn stdout(&self) -> Vec<String> {
        self.stdout.lock().expect("lock").clone()
    }

    fn stderr(&self) -> Vec<String> {
        self.stderr.lock().expect("lock").clone()
    }

    /// Waits until a stdout line contains `needle`; panics with everything seen otherwise.
    fn wait_for_stdout(&mut self, needle: &str, within: Duration) {
        let deadline = Instant::now() + within;
        while !self.stdout().iter().any(|l| l.contains(needle)) {
            if Instant::now() > deadline || matches!(self.child.try_wait(), Ok(Some(_))) {
                let _ = self.child.kill();
                panic!(
                    "pgbase dev never printed {needle:?}\nstdout: {:#?}\nstderr: {:#?}",
                    self.stdout(),
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGINT, as Ctrl-C sends; waits for a clean exit and for the output to be read.
    fn stop(&mut self) {
        let pid = i32::try_from(self.child.id()).expect("pid");
        unsafe {
            libc::kill(pid, libc::SIGINT);
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                assert!(status.success(), "pgbase dev exited with {status}");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "pgbase dev did not stop on SIGINT"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        // The reader threads drain the pipes after the exit.
        std::thread::sleep(Duration::from_millis(300));
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let pid = i32::try_from(self.child.id()).unwrap_or(0);
            unsafe {
                libc::kill(pid, libc::SIGINT);
            }
            let _ = self.child.wait();
        }
    }
}

/// A plain HTTP/1.0 GET; returns (status, body).
fn http_get(port: u16, path: &str) -> (u16, String) {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    let _ = write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n");
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

/// Runs the binary; returns (exit code, stdout, stderr). One still running after a minute
/// (a `dev` that should have refused to start) is killed and reported as code -1.
fn run(args: &[&str]) -> (i32, String, String) {
    let mut child = Command::new(bin())
        .args(args)
        .env_remove("DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run pgbase");
    let read_all = |mut stream: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stream.read_to_string(&mut text);
            text
        })
    };
    let stdout = read_all(Box::new(child.stdout.take().expect("stdout")));
    let stderr = read_all(Box::new(child.stderr.take().expect("stderr")));
    let deadline = Instant::now() + Duration::from_secs(60);
    let code = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break status.code().unwrap_or(-1);
        }
        if Instant::now() > deadline {
            let pid = i32::try_from(child.id()).unwrap_or(0);
            unsafe {
                libc::kill(pid, libc::SIGINT);
            }
            let _ = child.wait();
            break -1;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (
        code,
        stdout.join().unwrap_or_default(),
        stderr.join().unwrap_or_default(),
    )
}

fn sql_json(dir: &Path, sql: &str) -> Vec<serde_json::Value> {
    let dir = dir.to_string_lossy().into_owned();
    let (code, stdout, stderr) = run(&["sql", "--dir", &dir, "--json", sql]);
    assert_eq!(code, 0, "pgbase sql {sql:?}: {stderr}");
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

#[test]
fn migrate_new_takes_flags_after_the_name_and_never_invents_a_project() {
    let project = tempfile::tempdir().expect("tempdir");
    let dir = project.path().to_string_lossy().into_owned();

    // Flags after the action's arguments, as users type them.
    let (code, stdout, stderr) = run(&["migrate", "new", "add_todos", "--dir", &dir]);
    assert_eq!(code, 0, "{stderr}");
    let created = stdout.trim();
    assert!(
        created.starts_with(&dir) && created.ends_with("_add_todos.sql"),
        "{created}"
    );
    assert!(Path::new(created).is_file());
    // The migrations folder did not exist: it was made, and the user is told where.
    assert!(
        stderr.contains("note: created") && stderr.contains("migrations"),
        "{stderr}"
    );
    // The second time the folder is there: nothing to say.
    let (code, _, stderr) = run(&["migrate", "new", "more", "--dir", &dir]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("note:"), "{stderr}");

    // A folder that does not exist (a typo) is refused, and nothing is created.
    let typo = project.path().join("no-such-app");
    let typo_arg = typo.to_string_lossy().into_owned();
    let (code, _, stderr) = run(&["migrate", "new", "x", "--dir", &typo_arg]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("does not exist"), "{stderr}");
    assert!(!typo.exists(), "a project folder was made from a typo");
}

#[test]
fn migrate_skips_an_untouched_template_and_applies_it_once_edited() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let db = runtime.block_on(pgbase_testkit::test_db());
    let count = || {
        runtime.block_on(async {
            db.connect()
                .await
                .query_one("select count(*) from pgbase.migrations", &[])
                .await
                .expect("count")
                .get::<_, i64>(0)
        })
    };
    let project = tempfile::tempdir().expect("tempdir");
    let dir = project.path().to_string_lossy().into_owned();
    let (code, stdout, stderr) = run(&["migrate", "new", "add_todos", "--dir", &dir]);
    assert_eq!(code, 0, "{stderr}");
    let file = std::path::PathBuf::from(stdout.trim());

    // Untouched: one line names it and says what to do; nothing is recorded.
    let (code, stdout, stderr) = run(&["migrate", "--dir", &dir, "--db-url", &db.url]);
    assert_eq!(code, 0, "{stderr}");
    let notice = format!(
        "skipped {}: it is still the empty template from `pgbase migrate new`; edit it or delete it",
        file.display()
    );
    let lines: Vec<&str> = stdout.lines().filter(|l| l.contains("template")).collect();
    assert_eq!(
        lines,
        [notice.as_str()],
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert!(!stdout.contains("up to date"), "{stdout}");
    assert_eq!(count(), 0, "the empty template was recorded");

    // Edited: applied as it is now (not refused as a changed file), and recorded once.
    let template = std::fs::read_to_string(&file).expect("read");
    std::fs::write(
        &file,
        format!("{template}create table todos (id int primary key);\n"),
    )
    .expect("write");
    let (code, stdout, stderr) = run(&["migrate", "--dir", &dir, "--db-url", &db.url]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with(&format!("applied {} (", file.display()))),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert!(!stdout.contains("template"), "{stdout}");
    assert_eq!(count(), 1);
    let exists = runtime.block_on(async {
        db.connect()
            .await
            .query_one("select to_regclass('public.todos') is not null", &[])
            .await
            .expect("regclass")
            .get::<_, bool>(0)
    });
    assert!(exists, "the edited migration did not run");
}

#[test]
fn dev_refuses_a_missing_dir_and_checks_the_port_before_anything_else() {
    let project = tempfile::tempdir().expect("tempdir");
    let typo = project.path().join("my-ap");
    let typo_arg = typo.to_string_lossy().into_owned();
    let port = pgbase_testkit::free_port().to_string();
    let (code, _, stderr) = run(&["dev", "--dir", &typo_arg, "--port", &port]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("does not exist") && stderr.contains("--init"),
        "{stderr}"
    );
    assert!(!typo.exists(), "an empty project was made from a typo");

    // The API port is taken: refused at once (exit 2, the port named), before any database
    // is made for the project.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    let dir = project.path().to_string_lossy().into_owned();
    let started = Instant::now();
    let (code, _, stderr) = run(&["dev", "--dir", &dir, "--port", &port]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(&format!("port {port} is already in use")),
        "{stderr}"
    );
    assert!(
        !project.path().join(".pgbase").exists(),
        "dev made a database before it checked the port"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn dev_waits_for_a_new_template_to_get_sql_and_logs_plainly_once() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("new-app");
    let dir_arg = dir.to_string_lossy().into_owned();
    let port = pgbase_testkit::free_port();
    let mut dev = Dev::start(&dir, port, &["--init"]);
    assert!(
        dev.stderr()
            .iter()
            .any(|l| l.contains("created a new empty project at")),
        "{:#?}",
        dev.stderr()
    );

    // `migrate new` while dev watches: the untouched template is not applied.
    let (code, stdout, stderr) = run(&["migrate", "new", "add_todos", "--dir", &dir_arg]);
    assert_eq!(code, 0, "{stderr}");
    let file = std::path::PathBuf::from(stdout.trim());
    let name = file
        .file_name()
        .expect("file name")
        .to_string_lossy()
        .into_owned();
    dev.wait_for_stdout("waiting for", Duration::from_secs(10));
    // Well past the watcher's interval: still nothing recorded.
    std::thread::sleep(Duration::from_millis(1500));
    let recorded = sql_json(&dir, "select count(*) as n from pgbase.migrations");
    assert_eq!(recorded, vec![serde_json::json!({"n": 0})]);

    // The user's edit is applied as it is, not refused as a changed file.
    let template = std::fs::read_to_string(&file).expect("read");
    std::fs::write(
        &file,
        format!("{template}create table todos (id int primary key, done bool);\ninsert into todos values (1, true);\n"),
    )
    .expect("write");
    dev.wait_for_stdout(&format!("{name} ("), Duration::from_secs(30));
    // The schema cache reloads in the background.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (status, body) = loop {
        let seen = http_get(port, "/rest/v1/todos");
        if seen.0 == 200 || Instant::now() > deadline {
            break seen;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!((status, body.as_str()), (200, r#"[{"id":1,"done":true}]"#));

    dev.stop();
    let stdout = dev.stdout();
    let stderr = dev.stderr();
    // Each migration is reported once (stdout), not again by the log.
    let mentions = stdout
        .iter()
        .chain(stderr.iter())
        .filter(|l| {
            l.contains(&name) && (l.starts_with("applied") || l.contains("applied migration"))
        })
        .count();
    assert_eq!(mentions, 1, "stdout: {stdout:#?}\nstderr: {stderr:#?}");
    assert_eq!(
        stdout
            .iter()
            .chain(stderr.iter())
            .filter(|l| l.contains("0001_pgbase.sql"))
            .count(),
        1,
        "stdout: {stdout:#?}\nstderr: {stderr:#?}"
    );
    // stderr is a pipe: no colour codes.
    assert!(
        !stderr.iter().any(|l| l.contains('\u{1b}')),
        "ANSI codes in piped logs: {stderr:#?}"
    );
    // Ctrl-C stops quietly: nothing is warned about once the shutdown starts.
    let after: Vec<&String> = stderr
        .iter()
        .skip_while(|l| !l.contains("shutting down"))
        .collect();
    assert!(!after.is_empty(), "no shutdown line: {stderr:#?}");
    assert!(
        !after.iter().any(|l| l.contains("WARN")),
        "warnings on Ctrl-C: {after:#?}"
    );
}

#[test]
fn a_copied_project_starts_its_own_database() {
    let root = tempfile::tempdir().expect("tempdir");
    let original = root.path().join("app");
    std::fs::create_dir_all(original.join("migrations")).expect("mkdir");
    std::fs::write(
        original.join("migrations/001_notes.sql"),
        "create table notes (body text); insert into notes values ('original');",
    )
    .expect("write");
    let mut first = Dev::start(&original, pgbase_testkit::free_port(), &[]);
    let pid_file = |dir: &Path| -> Option<u32> {
        std::fs::read_to_string(dir.join(".pgbase/db/pgdata/postmaster.pid"))
            .ok()?
            .lines()
            .next()?
            .trim()
            .parse()
            .ok()
    };
    let first_pid = pid_file(&original).expect("postmaster.pid");

    // Copied while it runs, .pgbase/ (and its postmaster.pid) included.
    let copy = root.path().join("app-copy");
    let status = Command::new("cp")
        .arg("-a")
        .arg(&original)
        .arg(&copy)
        .status()
        .expect("cp");
    assert!(status.success());
    let port = pgbase_testkit::free_port();
    let mut second = Dev::start(&copy, port, &[]);
    let second_pid = pid_file(&copy).expect("the copy's postmaster.pid");
    assert_ne!(
        first_pid, second_pid,
        "the copy reports the original's Postgres"
    );
    assert!(
        second
            .stderr()
            .iter()
            .any(|l| l.contains("copied from a running project")),
        "{:#?}",
        second.stderr()
    );
    // The copy has its own data: a write there does not reach the original.
    sql_json(&copy, "insert into notes values ('copy')");
    let rows = sql_json(&original, "select body from notes order by body");
    assert_eq!(rows, vec![serde_json::json!({"body": "original"})]);
    let (status, body) = http_get(port, "/rest/v1/notes?select=body&order=body");
    let body: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(
        (status, body),
        (
            200,
            serde_json::json!([{"body": "copy"}, {"body": "original"}])
        )
    );

    // Stopping the copy leaves the original's Postgres alone.
    second.stop();
    assert!(!pgbase_devdb::process_alive(second_pid));
    assert!(pgbase_devdb::process_alive(first_pid));
    first.stop();
    assert!(!pgbase_devdb::process_alive(first_pid));
}

#[test]
fn sql_json_prints_json_types() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let db = runtime.block_on(pgbase_testkit::test_db());
    let (code, stdout, stderr) = run(&[
        "sql",
        "--db-url",
        &db.url,
        "--json",
        "create table t (id int, price numeric, ok bool, note text, doc jsonb, tags text[]);\n\
         insert into t values (7, 1.5, true, null, '{\"a\": [1, 2]}', '{x,\"y z\"}');\n\
         select * from t;\n\
         insert into t (id) values (8) returning id, ok, 'it''s' as quote;\n\
         show server_encoding",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let rows: Vec<String> = stdout.lines().map(str::to_string).collect();
    assert_eq!(
        rows,
        vec![
            r#"{"id":7,"price":1.5,"ok":true,"note":null,"doc":{"a":[1,2]},"tags":["x","y z"]}"#
                .to_string(),
            r#"{"id":8,"ok":null,"quote":"it's"}"#.to_string(),
            r#"{"server_encoding":"UTF8"}"#.to_string(),
        ]
    );
    // Duplicate names, and a data-modifying WITH (which cannot be nested in another WITH):
    // both still run, once.
    let (code, stdout, stderr) = run(&[
        "sql",
        "--db-url",
        &db.url,
        "--json",
        "select 1 as a, 2 as a;\n\
         with gone as (delete from t where id = 8 returning id) select id from gone;\n\
         select count(*) as n from t",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let rows: Vec<&str> = stdout.lines().collect();
    assert_eq!(rows.len(), 3, "{stdout}");
    assert_eq!(rows[2], r#"{"n":1}"#, "{stdout}");

    // An error in a later statement is located in the whole input.
    let (code, _, stderr) = run(&[
        "sql",
        "--db-url",
        &db.url,
        "--json",
        "select 1;\nselect nope from t",
    ]);
    assert_eq!(code, 1);
    assert!(stderr.contains("42703"), "{stderr}");
    assert!(
        stderr.contains("2:8") || stderr.contains("line 2"),
        "{stderr}"
    );
}
