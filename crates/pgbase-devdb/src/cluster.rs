//! A private PostgreSQL cluster in a directory of its own: `initdb` on first use, the data kept
//! between runs, `postgres` started directly (no `pg_ctl`) from a keeper thread so it can never
//! outlive this process, readiness taken from `postmaster.pid` the way `pg_ctl` does, and a fast
//! shutdown on [`Cluster::stop`] or drop. Stopping goes by the data directory, not only by the
//! child we started: if someone ran `pg_ctl restart -D …/pgdata` behind our back, the postmaster
//! named in `postmaster.pid` (when it runs in our data directory) is stopped too.
//!
//! Authentication: `trust` everywhere by default (the test harness). With
//! [`ClusterOptions::tcp_password`] set, `pg_hba.conf` is rewritten on every start so the unix
//! socket keeps `trust` and TCP connections of every role need a password (`scram-sha-256`), the
//! superuser's password is set to the given one over the socket, and the socket is reachable only
//! by the server's OS user (and root). A cluster created before that option existed is upgraded
//! the same way on its next start.
//!
//! Layout of the cluster directory: `pgdata/` (the data directory), `postgres.log` (the server's
//! stderr, appended to across runs) and `sock/` (the unix socket). A unix socket path may be at
//! most 107 bytes; when `<dir>/sock/.s.PGSQL.<port>` would be longer (or the path has a comma,
//! which `-k` would split on) the socket goes to a fresh `/tmp/pgbase-XXXXXX` directory instead,
//! removed again when the cluster stops ([`Cluster::socket_dir`] always tells where it is).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_encode};

use crate::DevDbError;
use crate::binaries::{PgBinaries, find_binaries};
use crate::privilege::{RunAs, check_reachable, chown, create_dir_owned, server_user};
use crate::process::{Keeper, is_live_postgres, process_alive, set_parent_death_signal};

/// The superuser initdb creates (`-U postgres`); trust authentication on the unix socket.
pub const SUPERUSER: &str = "postgres";

const START_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
const KILL_TIMEOUT: Duration = Duration::from_secs(5);
/// `sizeof(sockaddr_un.sun_path) - 1` on Linux.
const MAX_SOCKET_PATH: usize = 107;
/// Characters kept as they are in URL components.
const URL_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// How to create and run a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterOptions {
    /// The cluster directory (the data directory is `pgdata/` inside it). Created if missing.
    pub data_dir: PathBuf,
    /// Port (also names the unix socket); `None` picks a free 127.0.0.1 port.
    pub port: Option<u16>,
    /// Listen on 127.0.0.1 in addition to the unix socket.
    pub listen_tcp: bool,
    /// Delete an existing cluster in `data_dir` first.
    pub fresh: bool,
    /// Trade durability for speed (fsync, synchronous_commit and full_page_writes off): tests.
    pub ephemeral: bool,
    /// Extra server settings, passed as `-c name=value`.
    pub settings: Vec<(String, String)>,
    /// `Some`: TCP connections need a password (`scram-sha-256`, for every role) and this becomes
    /// the superuser's password; the unix socket keeps `trust` but only the server's OS user (and
    /// root) may open it. `None`: `trust` everywhere (throwaway test clusters).
    pub tcp_password: Option<String>,
    /// `Some`: `pg_hba.conf` is replaced by this text on every start (after `tcp_password`'s),
    /// e.g. `hostssl` lines only for a TLS-only cluster.
    pub hba: Option<String>,
    /// Files written into the data directory before the server starts, mode 0600 and owned by
    /// the server's user (e.g. `server.crt`/`server.key` for `ssl_cert_file`/`ssl_key_file`).
    pub data_files: Vec<(String, Vec<u8>)>,
}

impl ClusterOptions {
    /// A persistent cluster in `data_dir`, unix socket only, on a free port.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        ClusterOptions {
            data_dir: data_dir.into(),
            port: None,
            listen_tcp: false,
            fresh: false,
            ephemeral: false,
            settings: Vec::new(),
            tcp_password: None,
            hba: None,
            data_files: Vec::new(),
        }
    }
}

impl Default for ClusterOptions {
    /// `.pgbase` in the current directory (what `pgbase dev` uses).
    fn default() -> Self {
        Self::new(".pgbase")
    }
}

/// A running private cluster. Stopped by [`Cluster::stop`] or on drop; killed by the kernel
/// (`PR_SET_PDEATHSIG`) if this process dies first.
#[derive(Debug)]
pub struct Cluster {
    binaries: PgBinaries,
    dir: PathBuf,
    pgdata: PathBuf,
    socket_dir: PathBuf,
    log_path: PathBuf,
    port: u16,
    listen_tcp: bool,
    tcp_password: Option<String>,
    keeper: Mutex<Keeper>,
    // Dropped after `Drop::drop` has stopped the server.
    _socket_tmp: Option<tempfile::TempDir>,
}

impl Cluster {
    /// Finds the server binaries ([`find_binaries`]) and starts a cluster with them.
    pub fn start(opts: ClusterOptions) -> Result<Cluster, DevDbError> {
        let binaries = find_binaries()?;
        Self::start_with(opts, binaries)
    }

    /// Starts (creating it first if needed) a cluster with the given binaries, and waits until it
    /// accepts connections.
    pub fn start_with(opts: ClusterOptions, binaries: PgBinaries) -> Result<Cluster, DevDbError> {
        let run_as = server_user()?;
        let run_as = run_as.as_ref();
        let dir = std::path::absolute(&opts.data_dir)
            .map_err(|e| DevDbError::io("resolve", &opts.data_dir, e))?;
        let pgdata = dir.join("pgdata");
        let log_path = dir.join("postgres.log");

        if let Some((pid, elsewhere)) = Self::postmaster_elsewhere(&dir) {
            tracing::warn!(
                pid,
                serves = %elsewhere.display(),
                "{}/postmaster.pid names a live postgres that serves another data directory: \
                 this folder was copied from a running project; starting its own database",
                pgdata.display()
            );
        }
        if let Some(pid) = Self::running_pid(&dir) {
            return Err(DevDbError::AlreadyRunning {
                pid,
                data_dir: pgdata,
            });
        }
        if opts.fresh {
            for p in [&pgdata, &dir.join("sock")] {
                remove_dir_if_exists(p)?;
            }
            remove_file_if_exists(&log_path)?;
        }
        check_reachable(&dir, run_as)?;
        create_dir_owned(&dir, run_as)?;
        // Leftover of a crashed run: its postmaster is gone (checked above), so remove it.
        remove_file_if_exists(&pgdata.join("postmaster.pid"))?;

        match std::fs::read_to_string(pgdata.join("PG_VERSION")) {
            Ok(v) if v.trim() == binaries.major.to_string() => {}
            Ok(v) => {
                return Err(DevDbError::IncompatibleDataDir {
                    data_dir: pgdata,
                    found: v.trim().to_string(),
                    major: binaries.major,
                });
            }
            Err(_) => {
                // No cluster yet (or the remains of an interrupted initdb).
                remove_dir_if_exists(&pgdata)?;
                initdb(&binaries, &dir, &pgdata, run_as)?;
            }
        }

        if let Some(password) = &opts.tcp_password {
            if password.contains('\0') {
                return Err(DevDbError::InvalidPassword);
            }
            write_hba(&pgdata, run_as)?;
        }
        if let Some(hba) = &opts.hba {
            write_private(&pgdata.join("pg_hba.conf"), hba.as_bytes(), run_as)?;
        }
        for (name, contents) in &opts.data_files {
            write_private(&pgdata.join(name), contents, run_as)?;
        }

        let (socket_dir, socket_tmp) = socket_dir_for(&dir, run_as)?;
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| DevDbError::io("open", &log_path, e))?;
        chown(&log_path, run_as)?;

        let mut attempt = 0;
        loop {
            attempt += 1;
            let port = match opts.port {
                Some(p) => p,
                None => free_port()?,
            };
            let log_start = log
                .seek(SeekFrom::End(0))
                .map_err(|e| DevDbError::io("seek in", &log_path, e))?;
            let cmd = postgres_command(&binaries, &opts, &dir, &pgdata, &socket_dir, port, &log)
                .map_err(|e| DevDbError::io("open", &log_path, e))?;
            let mut cmd = cmd;
            if let Some(u) = run_as {
                cmd.uid(u.uid).gid(u.gid);
            }
            // SIGINT = fast shutdown: the server ends cleanly if we die.
            let mut keeper = Keeper::spawn(cmd, libc::SIGINT)
                .map_err(|e| DevDbError::io("start", binaries.postgres(), e))?;
            match wait_ready(&mut keeper, &pgdata) {
                Ok(()) => {
                    tracing::debug!(dir = %dir.display(), port, pid = keeper.pid(), "postgres ready");
                    let cluster = Cluster {
                        binaries,
                        dir,
                        pgdata,
                        socket_dir,
                        log_path,
                        port,
                        listen_tcp: opts.listen_tcp,
                        tcp_password: opts.tcp_password.clone(),
                        keeper: Mutex::new(keeper),
                        _socket_tmp: socket_tmp,
                    };
                    if let Some(password) = &opts.tcp_password {
                        // On error the cluster is dropped, which stops the server again.
                        cluster.run_as_superuser(&format!(
                            // scram even where the server's default is md5 (before 14).
                            "SET password_encryption = 'scram-sha-256'; \
                                 ALTER ROLE {SUPERUSER} PASSWORD {}",
                            quote_literal(password)
                        ))?;
                    }
                    return Ok(cluster);
                }
                Err(why) => {
                    let tail = log_tail(&log_path, log_start);
                    // Someone took the port we picked between our probe and the server's bind.
                    let port_taken = tail.contains("could not bind")
                        || tail.contains("Address already in use")
                        || tail.contains("could not create lock file");
                    if opts.port.is_none() && port_taken && attempt < 5 {
                        continue;
                    }
                    return Err(match why {
                        NotReady::Exited(status) => DevDbError::StartFailed {
                            status,
                            log_path,
                            log_tail: tail,
                        },
                        NotReady::Timeout => DevDbError::StartTimeout {
                            secs: START_TIMEOUT.as_secs(),
                            log_path,
                            log_tail: tail,
                        },
                    });
                }
            }
        }
    }

    /// The pid of a live postmaster serving the cluster in `cluster_dir`, if any. One that
    /// `postmaster.pid` names but that runs in another data directory (the file came along
    /// when a project folder was copied) does not count.
    pub fn running_pid(cluster_dir: &Path) -> Option<u32> {
        let pid = pid_file_pid(cluster_dir)?;
        (is_live_postgres(pid) && runs_in(pid, &cluster_dir.join("pgdata"))).then_some(pid)
    }

    /// A live postmaster that `postmaster.pid` in `cluster_dir` names but that serves another
    /// data directory, and that directory.
    fn postmaster_elsewhere(cluster_dir: &Path) -> Option<(u32, PathBuf)> {
        let pid = pid_file_pid(cluster_dir)?;
        if !is_live_postgres(pid) || runs_in(pid, &cluster_dir.join("pgdata")) {
            return None;
        }
        let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).ok()?;
        Some((pid, cwd))
    }

    /// Fast shutdown of whatever postmaster serves the data directory: the one we started, and
    /// the one `postmaster.pid` names if that is another (after a `pg_ctl restart` behind our
    /// back). SIGINT, then up to 10 s for the server to exit, then SIGQUIT and SIGKILL.
    /// Idempotent; also done on drop.
    pub fn stop(&self) -> Result<(), DevDbError> {
        let mut keeper = self.keeper();
        let mut result = Ok(());
        if !keeper.has_exited() {
            keeper.signal(libc::SIGINT);
            if keeper.wait_timeout(STOP_TIMEOUT).is_none() {
                keeper.signal(libc::SIGQUIT);
                if keeper.wait_timeout(KILL_TIMEOUT).is_none() {
                    keeper.signal(libc::SIGKILL);
                    keeper.wait_timeout(KILL_TIMEOUT);
                }
                result = Err(DevDbError::StopTimeout {
                    pid: keeper.pid(),
                    secs: STOP_TIMEOUT.as_secs(),
                });
            }
        }
        drop(keeper);
        if let Some(pid) = self.other_postmaster() {
            tracing::debug!(
                pid,
                "stopping a postmaster started outside pgbase (pg_ctl restart?)"
            );
            stop_by_pid(pid)?;
        }
        result
    }

    /// Whether a server runs for this cluster (the one we started, or one that replaced it).
    pub fn is_running(&self) -> bool {
        let ours_running = !self.keeper().has_exited();
        ours_running || self.other_postmaster().is_some()
    }

    /// Pid of the postmaster this value started (see [`Cluster::running_pid`] for the one that
    /// serves the data directory now).
    pub fn pid(&self) -> u32 {
        self.keeper().pid()
    }

    /// A live postmaster serving our data directory that is not our child, if any.
    fn other_postmaster(&self) -> Option<u32> {
        let pid = Self::running_pid(&self.dir)?;
        let ours = {
            let mut keeper = self.keeper();
            !keeper.has_exited() && keeper.pid() == pid
        };
        (!ours && runs_in(pid, &self.pgdata)).then_some(pid)
    }

    /// Path of the unix socket, `<socket_dir>/.s.PGSQL.<port>`.
    /// Runs `sql` with `psql` over the unix socket as the superuser (trusted there). The SQL
    /// goes through standard input, so nothing of it shows in the process list.
    fn run_as_superuser(&self, sql: &str) -> Result<(), DevDbError> {
        use std::io::Write;
        let fail = |message: String| DevDbError::Setup {
            socket: self.socket_path(),
            message,
        };
        let mut child = Command::new(self.binaries.psql())
            .args([
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                "postgres",
                "-U",
                SUPERUSER,
            ])
            .arg("-h")
            .arg(&self.socket_dir)
            .arg("-p")
            .arg(self.port.to_string())
            .env("PGCONNECT_TIMEOUT", "10")
            .env_remove("PGPASSWORD")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| {
                fail(format!(
                    "cannot run {}: {e}",
                    self.binaries.psql().display()
                ))
            })?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(sql.as_bytes())
                .map_err(|e| fail(format!("writing to psql: {e}")))?;
        }
        let output = child
            .wait_with_output()
            .map_err(|e| fail(format!("waiting for psql: {e}")))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(fail(
                String::from_utf8_lossy(&output.stderr).trim().to_string(),
            ))
        }
    }

    pub fn socket_path(&self) -> PathBuf {
        self.socket_dir.join(format!(".s.PGSQL.{}", self.port))
    }

    /// The port (TCP when listening on 127.0.0.1; always the unix socket's name).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Directory holding the unix socket `.s.PGSQL.<port>`.
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    /// The superuser role, `postgres` (trust authentication on the unix socket).
    pub fn superuser(&self) -> &str {
        SUPERUSER
    }

    /// The superuser's password on TCP ([`ClusterOptions::tcp_password`]), if one is required.
    pub fn tcp_password(&self) -> Option<&str> {
        self.tcp_password.as_deref()
    }

    /// Whether the server also listens on 127.0.0.1.
    pub fn listens_tcp(&self) -> bool {
        self.listen_tcp
    }

    /// The cluster directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The data directory (`<dir>/pgdata`).
    pub fn pgdata(&self) -> &Path {
        &self.pgdata
    }

    /// The server log (`<dir>/postgres.log`).
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The binaries the cluster runs.
    pub fn binaries(&self) -> &PgBinaries {
        &self.binaries
    }

    /// A URL for database `dbname` as the superuser: `postgres://postgres@127.0.0.1:PORT/db` when
    /// listening on TCP (`postgres://postgres:PASSWORD@…`, percent-encoded, with a
    /// [`ClusterOptions::tcp_password`]), otherwise [`Cluster::socket_url`].
    pub fn url(&self, dbname: &str) -> String {
        if self.listen_tcp {
            let password = self
                .tcp_password
                .as_ref()
                .map(|p| format!(":{}", percent_encode(p.as_bytes(), URL_COMPONENT)))
                .unwrap_or_default();
            format!(
                "postgres://{SUPERUSER}{password}@127.0.0.1:{}/{}",
                self.port,
                percent_encode(dbname.as_bytes(), URL_COMPONENT)
            )
        } else {
            self.socket_url(dbname)
        }
    }

    /// A unix-socket URL for `dbname`, the socket directory percent-encoded as the host:
    /// `postgres://postgres@%2Fpath%2Fto%2Fsock:PORT/db` (libpq and tokio-postgres read this).
    pub fn socket_url(&self, dbname: &str) -> String {
        format!(
            "postgres://{SUPERUSER}@{}:{}/{}",
            percent_encode(self.socket_dir.as_os_str().as_bytes(), URL_COMPONENT),
            self.port,
            percent_encode(dbname.as_bytes(), URL_COMPONENT)
        )
    }

    fn keeper(&self) -> MutexGuard<'_, Keeper> {
        self.keeper.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            tracing::warn!("{e}");
        }
    }
}

enum NotReady {
    Exited(String),
    Timeout,
}

/// Polls `postmaster.pid` until its status line says "ready" (what `pg_ctl -w` does).
fn wait_ready(keeper: &mut Keeper, pgdata: &Path) -> Result<(), NotReady> {
    let pid_file = pgdata.join("postmaster.pid");
    let started = Instant::now();
    loop {
        if let Some(status) = keeper.wait_timeout(Duration::ZERO) {
            return Err(NotReady::Exited(match status {
                Ok(s) => s.to_string(),
                Err(e) => e.clone(),
            }));
        }
        if let Ok(text) = std::fs::read_to_string(&pid_file) {
            let lines: Vec<&str> = text.lines().collect();
            if lines.first().map(|l| l.trim()) == Some(&keeper.pid().to_string())
                && lines.get(7).map(|l| l.trim()) == Some("ready")
            {
                return Ok(());
            }
        }
        if started.elapsed() > START_TIMEOUT {
            keeper.signal(libc::SIGQUIT);
            if keeper.wait_timeout(KILL_TIMEOUT).is_none() {
                keeper.signal(libc::SIGKILL);
                keeper.wait_timeout(KILL_TIMEOUT);
            }
            return Err(NotReady::Timeout);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn initdb(
    binaries: &PgBinaries,
    dir: &Path,
    pgdata: &Path,
    run_as: Option<&RunAs>,
) -> Result<(), DevDbError> {
    let mut cmd = Command::new(binaries.initdb());
    cmd.arg("-D")
        .arg(pgdata)
        .args([
            "-U",
            SUPERUSER,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "-N",
        ])
        .current_dir(dir)
        .stdin(Stdio::null());
    if let Some(u) = run_as {
        cmd.uid(u.uid).gid(u.gid);
    }
    // initdb removes its half-made data directory on SIGTERM.
    set_parent_death_signal(&mut cmd, libc::SIGTERM);
    let out = cmd
        .output()
        .map_err(|e| DevDbError::io("run", binaries.initdb(), e))?;
    if out.status.success() {
        return Ok(());
    }
    let mut text = String::from_utf8_lossy(&out.stderr).into_owned();
    if text.trim().is_empty() {
        text = String::from_utf8_lossy(&out.stdout).into_owned();
    }
    Err(DevDbError::InitdbFailed {
        status: out.status,
        data_dir: pgdata.to_path_buf(),
        output: last_lines(&text, 10),
    })
}

fn postgres_command(
    binaries: &PgBinaries,
    opts: &ClusterOptions,
    dir: &Path,
    pgdata: &Path,
    socket_dir: &Path,
    port: u16,
    log: &File,
) -> std::io::Result<Command> {
    let mut cmd = Command::new(binaries.postgres());
    cmd.arg("-D")
        .arg(pgdata)
        .arg("-k")
        .arg(socket_dir)
        .args(["-p", &port.to_string()])
        .arg("-c")
        .arg(if opts.listen_tcp {
            "listen_addresses=127.0.0.1"
        } else {
            "listen_addresses="
        });
    if opts.tcp_password.is_some() {
        // Only the server's OS user (and root) may reach the password-less socket.
        cmd.args(["-c", "unix_socket_permissions=0700"]);
    }
    if opts.ephemeral {
        for s in [
            "fsync=off",
            "synchronous_commit=off",
            "full_page_writes=off",
        ] {
            cmd.args(["-c", s]);
        }
    }
    for (name, value) in &opts.settings {
        cmd.arg("-c").arg(format!("{name}={value}"));
    }
    cmd.current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log.try_clone()?)
        // Our own process group: a terminal's Ctrl-C reaches us, and we stop the server in order.
        .process_group(0);
    Ok(cmd)
}

/// `pg_hba.conf` when TCP needs a password: `trust` on the unix socket, `scram-sha-256` on TCP.
const HBA_WITH_TCP_PASSWORD: &str = "\
# Written by pgbase on every start (ClusterOptions::tcp_password): the unix socket trusts its
# callers (it is reachable only by the server's OS user), TCP needs a password for every role.
# TYPE  DATABASE        USER            ADDRESS                 METHOD
local   all             all                                     trust
host    all             all             127.0.0.1/32            scram-sha-256
host    all             all             ::1/128                 scram-sha-256
local   replication     all                                     trust
host    replication     all             127.0.0.1/32            scram-sha-256
host    replication     all             ::1/128                 scram-sha-256
";

/// Writes [`HBA_WITH_TCP_PASSWORD`] unless `pg_hba.conf` already says exactly that (a cluster
/// made before the option, with `trust` on TCP, is upgraded here).
fn write_hba(pgdata: &Path, run_as: Option<&RunAs>) -> Result<(), DevDbError> {
    let path = pgdata.join("pg_hba.conf");
    if std::fs::read_to_string(&path).is_ok_and(|text| text == HBA_WITH_TCP_PASSWORD) {
        return Ok(());
    }
    std::fs::write(&path, HBA_WITH_TCP_PASSWORD).map_err(|e| DevDbError::io("write", &path, e))?;
    chown(&path, run_as)
}

/// Writes a file readable only by the server's user (Postgres refuses a key others can read).
fn write_private(path: &Path, contents: &[u8], run_as: Option<&RunAs>) -> Result<(), DevDbError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, contents).map_err(|e| DevDbError::io("write", path, e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| DevDbError::io("change the mode of", path, e))?;
    chown(path, run_as)
}

/// A SQL string literal (standard_conforming_strings is on: only `'` needs doubling).
fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// The pid on the first line of `cluster_dir/pgdata/postmaster.pid`.
fn pid_file_pid(cluster_dir: &Path) -> Option<u32> {
    let text = std::fs::read_to_string(cluster_dir.join("pgdata").join("postmaster.pid")).ok()?;
    text.lines().next()?.trim().parse().ok()
}

/// Whether process `pid` runs in `pgdata` (a postmaster changes into its data directory). When
/// its working directory cannot be read, `postmaster.pid` naming it is taken as the answer.
fn runs_in(pid: u32, pgdata: &Path) -> bool {
    match std::fs::read_link(format!("/proc/{pid}/cwd")) {
        Ok(cwd) => {
            let pgdata = std::fs::canonicalize(pgdata).unwrap_or_else(|_| pgdata.to_path_buf());
            cwd == pgdata
        }
        Err(_) => true,
    }
}

/// Fast shutdown of a postmaster that is not our child (so it cannot be waited for, only
/// watched): SIGINT, then SIGQUIT, then SIGKILL.
fn stop_by_pid(pid: u32) -> Result<(), DevDbError> {
    let Ok(pid_t) = libc::pid_t::try_from(pid) else {
        return Ok(());
    };
    let gone_within = |timeout: Duration| {
        let started = Instant::now();
        loop {
            if !process_alive(pid) {
                return true;
            }
            if started.elapsed() > timeout {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(pid_t, libc::SIGINT) };
    if gone_within(STOP_TIMEOUT) {
        return Ok(());
    }
    // SAFETY: as above.
    unsafe { libc::kill(pid_t, libc::SIGQUIT) };
    if !gone_within(KILL_TIMEOUT) {
        // SAFETY: as above.
        unsafe { libc::kill(pid_t, libc::SIGKILL) };
        gone_within(KILL_TIMEOUT);
    }
    Err(DevDbError::StopTimeout {
        pid,
        secs: STOP_TIMEOUT.as_secs(),
    })
}

/// `<dir>/sock`, or a short directory under /tmp when the socket path would be too long.
fn socket_dir_for(
    dir: &Path,
    run_as: Option<&RunAs>,
) -> Result<(PathBuf, Option<tempfile::TempDir>), DevDbError> {
    let preferred = dir.join("sock");
    let socket_len = preferred.as_os_str().len() + "/.s.PGSQL.65535".len();
    let awkward = preferred
        .as_os_str()
        .as_bytes()
        .iter()
        .any(|b| *b == b',' || b.is_ascii_whitespace());
    if socket_len <= MAX_SOCKET_PATH && !awkward {
        create_dir_owned(&preferred, run_as)?;
        return Ok((preferred, None));
    }
    let tmp = tempfile::Builder::new()
        .prefix("pgbase-")
        .tempdir_in("/tmp")
        .map_err(|e| DevDbError::io("create a socket directory in", "/tmp", e))?;
    chown(tmp.path(), run_as)?;
    tracing::debug!(
        socket_dir = %tmp.path().display(),
        "cluster path too long for a unix socket; using a directory under /tmp"
    );
    Ok((tmp.path().to_path_buf(), Some(tmp)))
}

/// A port that was free on 127.0.0.1 a moment ago.
fn free_port() -> Result<u16, DevDbError> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))
        .map_err(|e| DevDbError::io("bind a free port on", "127.0.0.1", e))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| DevDbError::io("bind a free port on", "127.0.0.1", e))
}

/// The last lines the server wrote to its log since `offset`.
fn log_tail(path: &Path, offset: u64) -> String {
    let mut text = String::new();
    if let Ok(mut f) = File::open(path) {
        let _ = f.seek(SeekFrom::Start(offset));
        let mut bytes = Vec::new();
        let _ = f.read_to_end(&mut bytes);
        text = String::from_utf8_lossy(&bytes).into_owned();
    }
    if text.trim().is_empty() {
        return "(the server wrote nothing to its log)".to_string();
    }
    last_lines(&text, 20)
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.trim_end().lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn remove_dir_if_exists(p: &Path) -> Result<(), DevDbError> {
    match std::fs::remove_dir_all(p) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(DevDbError::io("remove", p, e)),
        _ => Ok(()),
    }
}

fn remove_file_if_exists(p: &Path) -> Result<(), DevDbError> {
    match std::fs::remove_file(p) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(DevDbError::io("remove", p, e)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_double_quotes() {
        assert_eq!(quote_literal("a'b\\c"), "'a''b\\c'");
    }

    #[test]
    fn tail_keeps_last_lines() {
        assert_eq!(last_lines("a\nb\nc\n", 2), "b\nc");
        assert_eq!(last_lines("a", 5), "a");
    }

    #[test]
    fn long_paths_get_a_short_socket_dir() {
        let long = PathBuf::from("/tmp").join("x".repeat(120));
        let (dir, tmp) = socket_dir_for(&long, None).unwrap();
        assert!(tmp.is_some());
        assert!(dir.to_string_lossy().starts_with("/tmp/pgbase-"));
        assert!(dir.as_os_str().len() + 15 <= MAX_SOCKET_PATH);
    }
}
