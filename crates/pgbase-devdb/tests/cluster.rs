//! Integration tests against real PostgreSQL clusters built from the machine's binaries.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;
use std::time::{Duration, Instant};

use pgbase_devdb::{
    Cluster, ClusterOptions, DevDbError, SearchPaths, find_binaries_in, process_alive,
};
use tokio_postgres::NoTls;
use tokio_postgres::config::Host;

const CHILD_ENV: &str = "PGBASE_DEVDB_TEST_CHILD_DIR";

fn scratch() -> tempfile::TempDir {
    let base = if Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    tempfile::Builder::new()
        .prefix("pgbase-devdb-test-")
        .tempdir_in(base)
        .unwrap()
}

fn opts(dir: &Path) -> ClusterOptions {
    ClusterOptions {
        ephemeral: true,
        ..ClusterOptions::new(dir.join("cluster"))
    }
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, NoTls).await.unwrap();
    tokio::spawn(conn);
    client
}

/// Waits up to 10 s for a process to disappear.
fn gone_within(pid: u32, timeout: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if !process_alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Pids of the live processes whose parent is `ppid`.
fn children_of(ppid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.get(1).and_then(|p| p.parse::<u32>().ok()) == Some(ppid) {
            out.push(pid);
        }
    }
    out
}

#[tokio::test]
async fn starts_serves_and_stops_leaving_no_process() {
    let tmp = scratch();
    let cluster = Cluster::start(opts(tmp.path())).unwrap();
    let pid = cluster.pid();
    assert!(process_alive(pid));
    assert!(cluster.is_running());
    assert_eq!(cluster.superuser(), "postgres");
    assert!(
        cluster
            .socket_dir()
            .join(format!(".s.PGSQL.{}", cluster.port()))
            .exists()
    );
    assert!(cluster.log_path().exists());
    assert!(!cluster.listens_tcp());

    let client = connect(&cluster.url("postgres")).await;
    let row = client
        .query_one("select current_user::text, current_setting('fsync')", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "postgres");
    assert_eq!(row.get::<_, String>(1), "off");
    // Not listening on TCP.
    assert!(std::net::TcpStream::connect(("127.0.0.1", cluster.port())).is_err());
    drop(client);

    let backends = children_of(pid);
    assert!(!backends.is_empty(), "a postmaster has auxiliary processes");
    cluster.stop().unwrap();
    assert!(!cluster.is_running());
    assert!(!process_alive(pid));
    for child in backends {
        assert!(
            !process_alive(child),
            "server process {child} outlived stop()"
        );
    }
    cluster.stop().unwrap(); // idempotent
    drop(cluster);
}

#[tokio::test]
async fn tcp_urls_and_encoded_socket_urls_work() {
    let tmp = scratch();
    let cluster = Cluster::start(ClusterOptions {
        listen_tcp: true,
        ..opts(tmp.path())
    })
    .unwrap();
    let url = cluster.url("postgres");
    assert_eq!(
        url,
        format!("postgres://postgres@127.0.0.1:{}/postgres", cluster.port())
    );
    let client = connect(&url).await;
    client
        .batch_execute(r#"create database "odd name/é""#)
        .await
        .unwrap();

    let socket_url = cluster.socket_url("odd name/é");
    assert!(
        socket_url.starts_with("postgres://postgres@%2F"),
        "{socket_url}"
    );
    let config = tokio_postgres::Config::from_str(&socket_url).unwrap();
    assert_eq!(
        config.get_hosts(),
        [Host::Unix(cluster.socket_dir().to_path_buf())]
    );
    assert_eq!(config.get_ports(), [cluster.port()]);
    assert_eq!(config.get_dbname(), Some("odd name/é"));
    let other = connect(&socket_url).await;
    let row = other
        .query_one(
            "select current_database()::text, inet_client_addr() is null",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "odd name/é");
    assert!(row.get::<_, bool>(1), "connected over the unix socket");
}

#[tokio::test]
async fn reuses_an_existing_cluster_and_fresh_wipes_it() {
    let tmp = scratch();
    let cluster = Cluster::start(opts(tmp.path())).unwrap();
    let pg_version = cluster.pgdata().join("PG_VERSION");
    let created = std::fs::metadata(&pg_version).unwrap().modified().unwrap();
    let client = connect(&cluster.url("postgres")).await;
    client
        .batch_execute("create table kept (x int); insert into kept values (42)")
        .await
        .unwrap();
    drop(client);
    drop(cluster);

    let started = Instant::now();
    let cluster = Cluster::start(opts(tmp.path())).unwrap();
    eprintln!("restart of an existing cluster: {:?}", started.elapsed());
    assert_eq!(
        std::fs::metadata(&pg_version).unwrap().modified().unwrap(),
        created,
        "the data directory was reused, not re-initialised"
    );
    let client = connect(&cluster.url("postgres")).await;
    let x: i32 = client
        .query_one("select x from kept", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(x, 42);
    drop(client);
    drop(cluster);

    let cluster = Cluster::start(ClusterOptions {
        fresh: true,
        ..opts(tmp.path())
    })
    .unwrap();
    let client = connect(&cluster.url("postgres")).await;
    let exists: bool = client
        .query_one("select to_regclass('kept') is not null", &[])
        .await
        .unwrap()
        .get(0);
    assert!(!exists, "--fresh wiped the old cluster");
}

#[tokio::test]
async fn recovers_from_a_crashed_server_and_its_stale_pid_file() {
    let tmp = scratch();
    // Durable (not ephemeral): with synchronous_commit off a crash may lose the last commits.
    let durable = || ClusterOptions::new(tmp.path().join("cluster"));
    let cluster = Cluster::start(durable()).unwrap();
    let client = connect(&cluster.url("postgres")).await;
    client
        .batch_execute("create table survived (x int); insert into survived values (7)")
        .await
        .unwrap();
    drop(client);
    let pid = cluster.pid();
    let aux = children_of(pid);
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    assert!(gone_within(pid, Duration::from_secs(10)));
    for p in aux {
        assert!(
            gone_within(p, Duration::from_secs(10)),
            "orphaned server process {p}"
        );
    }
    let pid_file = cluster.pgdata().join("postmaster.pid");
    assert!(pid_file.exists(), "a crash leaves postmaster.pid behind");
    drop(cluster);

    let cluster = Cluster::start(durable()).unwrap();
    let client = connect(&cluster.url("postgres")).await;
    let x: i32 = client
        .query_one("select x from survived", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(x, 7);
}

#[test]
fn refuses_a_data_dir_a_live_server_uses() {
    let tmp = scratch();
    let cluster = Cluster::start(opts(tmp.path())).unwrap();
    assert_eq!(Cluster::running_pid(cluster.dir()), Some(cluster.pid()));
    for fresh in [false, true] {
        let err = Cluster::start(ClusterOptions {
            fresh,
            ..opts(tmp.path())
        })
        .unwrap_err();
        match &err {
            DevDbError::AlreadyRunning { pid, .. } => assert_eq!(*pid, cluster.pid()),
            other => panic!("expected AlreadyRunning, got {other}"),
        }
        assert!(err.to_string().contains("already running"), "{err}");
    }
    assert!(cluster.is_running(), "the running server was left alone");
    cluster.stop().unwrap();
    assert_eq!(Cluster::running_pid(cluster.dir()), None);
}

#[test]
fn a_panicking_owner_stops_the_server() {
    let tmp = scratch();
    let dir = tmp.path().to_path_buf();
    let (tx, rx) = std::sync::mpsc::channel();
    let result = std::thread::spawn(move || {
        let cluster = Cluster::start(opts(&dir)).unwrap();
        tx.send(cluster.pid()).unwrap();
        panic!("test panic while holding a cluster");
    })
    .join();
    assert!(result.is_err());
    let pid = rx.recv().unwrap();
    assert!(
        !process_alive(pid),
        "drop during unwinding stopped the server"
    );
}

#[tokio::test]
async fn long_cluster_paths_get_a_short_socket_dir() {
    let tmp = scratch();
    let deep = tmp.path().join("d".repeat(100));
    let cluster = Cluster::start(ClusterOptions {
        ephemeral: true,
        ..ClusterOptions::new(&deep)
    })
    .unwrap();
    let sock = cluster.socket_dir().to_path_buf();
    assert!(sock.starts_with("/tmp/"), "{}", sock.display());
    let client = connect(&cluster.url("postgres")).await;
    client.query_one("select 1", &[]).await.unwrap();
    drop(client);
    drop(cluster);
    assert!(
        !sock.exists(),
        "the temporary socket dir is removed on stop"
    );
}

#[test]
fn missing_binaries_are_reported_with_a_hint() {
    let err = find_binaries_in(&SearchPaths {
        path: Some("/nonexistent/bin".into()),
        versioned_root: PathBuf::from("/nonexistent/postgresql"),
    })
    .unwrap_err();
    assert!(err.is_missing_binaries());
    let msg = err.to_string();
    assert!(msg.contains("initdb, postgres"), "{msg}");
    assert!(msg.contains("apt-get install postgresql"), "{msg}");

    // The machine's own install is found through the versioned layout alone.
    let found = find_binaries_in(&SearchPaths {
        path: None,
        versioned_root: PathBuf::from("/usr/lib/postgresql"),
    })
    .unwrap();
    assert!(found.major >= 10);
    assert!(found.initdb().exists() && found.postgres().exists());
    assert!(!err.to_string().is_empty());
}

#[test]
fn a_sigkilled_owner_leaves_no_postgres_behind() {
    let tmp = scratch();
    let ready = tmp.path().join("child-ready");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_process_holding_a_cluster",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, tmp.path())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let pid = loop {
        if let Ok(text) = std::fs::read_to_string(&ready)
            && let Ok(pid) = text.trim().parse::<u32>()
        {
            break pid;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("child exited early: {status}");
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "child never started a cluster"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let aux = children_of(pid);
    assert!(process_alive(pid));
    assert!(!aux.is_empty());

    child.kill().unwrap(); // SIGKILL: no destructor runs in the child
    child.wait().unwrap();

    assert!(
        gone_within(pid, Duration::from_secs(10)),
        "postmaster {pid} outlived its owner"
    );
    for p in aux {
        assert!(
            gone_within(p, Duration::from_secs(10)),
            "server process {p} outlived its owner"
        );
    }
    assert_eq!(Cluster::running_pid(&tmp.path().join("cluster")), None);
}

/// Not a test on its own: the child half of `a_sigkilled_owner_leaves_no_postgres_behind`.
#[test]
fn child_process_holding_a_cluster() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let dir = PathBuf::from(dir);
    let cluster = Cluster::start(opts(&dir)).unwrap();
    std::fs::write(dir.join("child-ready.tmp"), cluster.pid().to_string()).unwrap();
    std::fs::rename(dir.join("child-ready.tmp"), dir.join("child-ready")).unwrap();
    std::thread::sleep(Duration::from_secs(120));
}

#[test]
fn as_root_an_unreachable_directory_is_reported() {
    if unsafe { libc::geteuid() } != 0 {
        return; // only root hands the server to another user
    }
    use std::os::unix::fs::PermissionsExt;
    let tmp = scratch();
    let private = tmp.path().join("private");
    std::fs::create_dir(&private).unwrap();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
    let err = Cluster::start(ClusterOptions::new(private.join("app/.pgbase"))).unwrap_err();
    match &err {
        DevDbError::DirNotAccessible { path, .. } => assert_eq!(path, &private),
        other => panic!("expected DirNotAccessible, got {other}"),
    }
    assert!(err.to_string().contains("chmod o+x"), "{err}");
}

/// Runs the cluster's own `pg_ctl` as the user the server runs as (pg_ctl refuses root).
fn pg_ctl(cluster: &Cluster, args: &[&str]) -> std::process::Output {
    use std::os::unix::fs::MetadataExt;
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(cluster.binaries().bindir.join("pg_ctl"));
    cmd.args(args)
        .arg("-D")
        .arg(cluster.pgdata())
        .stdin(std::process::Stdio::null());
    if unsafe { libc::geteuid() } == 0 {
        let meta = std::fs::metadata(cluster.pgdata()).unwrap();
        cmd.uid(meta.uid()).gid(meta.gid());
    }
    cmd.output().unwrap()
}

#[test]
fn stop_also_stops_a_postmaster_that_pg_ctl_restart_put_in_place() {
    let tmp = scratch();
    let cluster = Cluster::start(opts(tmp.path())).unwrap();
    let first = cluster.pid();
    // In the cluster directory, which the server's user may write to.
    let log = cluster.dir().join("pg_ctl.log");
    let log = log.to_string_lossy().into_owned();
    let out = pg_ctl(&cluster, &["restart", "-m", "fast", "-w", "-l", &log]);
    assert!(
        out.status.success(),
        "pg_ctl restart: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        gone_within(first, Duration::from_secs(10)),
        "the first postmaster was stopped by pg_ctl"
    );
    let second = Cluster::running_pid(cluster.dir()).expect("a postmaster after the restart");
    assert_ne!(second, first);
    assert!(cluster.is_running(), "the replacement counts as running");
    let aux = children_of(second);

    cluster.stop().unwrap();
    assert!(
        !process_alive(second),
        "the postmaster pg_ctl started ({second}) outlived stop()"
    );
    for p in aux {
        assert!(
            gone_within(p, Duration::from_secs(10)),
            "server process {p} outlived stop()"
        );
    }
    assert_eq!(Cluster::running_pid(cluster.dir()), None);
    assert!(!cluster.is_running());
    cluster.stop().unwrap(); // idempotent
}

#[tokio::test]
async fn tcp_password_is_required_on_tcp_but_not_on_the_socket_and_old_clusters_upgrade() {
    let tmp = scratch();
    let tcp = || ClusterOptions {
        listen_tcp: true,
        ..opts(tmp.path())
    };
    // A cluster made without the option (trust on TCP, as `pgbase dev` used to make them).
    let cluster = Cluster::start(tcp()).unwrap();
    let bare = format!("postgres://postgres@127.0.0.1:{}/postgres", cluster.port());
    connect(&bare)
        .await
        .query_one("select 1", &[])
        .await
        .unwrap();
    drop(cluster);

    let password = "pä ss'wo:rd@/%";
    let cluster = Cluster::start(ClusterOptions {
        tcp_password: Some(password.to_string()),
        ..tcp()
    })
    .unwrap();
    assert_eq!(cluster.tcp_password(), Some(password));
    let url = cluster.url("postgres");
    assert!(
        url.starts_with("postgres://postgres:p%C3%A4%20ss%27wo%3Ard%40%2F%25@127.0.0.1:"),
        "{url}"
    );
    // The URL with the password works over TCP.
    let client = connect(&url).await;
    let row = client
        .query_one("select inet_client_addr() is not null", &[])
        .await
        .unwrap();
    assert!(row.get::<_, bool>(0), "connected over TCP");
    let scram: bool = client
        .query_one(
            "select rolpassword like 'SCRAM-SHA-256$%' from pg_authid where rolname = 'postgres'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        scram,
        "the superuser's password is stored as a SCRAM verifier"
    );
    client
        .batch_execute("create role app login; create role noperm login password 'x'")
        .await
        .unwrap();

    // Without a password, or with a wrong one, TCP is refused for every role.
    let port = cluster.port();
    for attempt in [
        format!("postgres://postgres@127.0.0.1:{port}/postgres"),
        format!("postgres://postgres:wrong@127.0.0.1:{port}/postgres"),
        format!("postgres://app@127.0.0.1:{port}/postgres"),
        format!("postgres://noperm@127.0.0.1:{port}/postgres"),
    ] {
        let result = tokio_postgres::connect(&attempt, NoTls).await;
        assert!(result.is_err(), "{attempt} was let in");
    }

    // The unix socket still trusts (pgbase itself and the tests connect there).
    let socket = connect(&cluster.socket_url("postgres")).await;
    socket.query_one("select 1", &[]).await.unwrap();
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(cluster.socket_path())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "socket mode {mode:o} lets others in");
}
