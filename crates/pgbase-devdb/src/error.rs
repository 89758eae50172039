//! The one error type of this crate. Every variant's message names what failed and, where the
//! user can do something about it, ends with a hint (`pgbase dev` prints it as is).

use std::path::PathBuf;
use std::process::ExitStatus;

/// Why a private cluster could not be found, created, started or stopped.
#[derive(Debug, thiserror::Error)]
pub enum DevDbError {
    /// No directory holding both `initdb` and `postgres` was found.
    #[error(
        "PostgreSQL server binaries (initdb, postgres) not found in PATH, pg_config --bindir or \
         {versioned_root}/*/bin; install them with `apt-get install postgresql` (Debian/Ubuntu) \
         or put their bin directory on PATH"
    )]
    BinariesNotFound {
        /// The root of the versioned installs that was searched (normally `/usr/lib/postgresql`).
        versioned_root: String,
    },

    /// `postgres --version` printed something we could not read a major version from.
    #[error(
        "could not read the PostgreSQL version from `{program} --version` (it printed {output:?}); \
         check that {program} is a PostgreSQL server binary"
    )]
    UnknownVersion { program: PathBuf, output: String },

    /// A file-system or process operation failed.
    #[error("could not {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Running as root, but there is no unprivileged account to run the server as.
    #[error(
        "running as root, and neither a `postgres` nor a `nobody` user exists to run PostgreSQL as \
         (initdb and postgres refuse to run as root); create one with `useradd --system postgres`"
    )]
    NoUnprivilegedUser,

    /// Running as root, and the unprivileged server user cannot reach the cluster directory.
    #[error(
        "the `{user}` user (PostgreSQL runs as it because we are root) cannot enter {path}; \
         put the cluster in a directory it can reach (e.g. under /srv or /tmp) or `chmod o+x {path}`"
    )]
    DirNotAccessible { path: PathBuf, user: String },

    /// `initdb` exited with an error.
    #[error("initdb failed ({status}) for {data_dir}: {output}")]
    InitdbFailed {
        status: ExitStatus,
        data_dir: PathBuf,
        output: String,
    },

    /// The data directory was made by another major version than the binaries found.
    #[error(
        "{data_dir} holds a PostgreSQL {found} cluster but the server binaries are version {major}; \
         start with --fresh to recreate it (this deletes its data) or install PostgreSQL {found}"
    )]
    IncompatibleDataDir {
        data_dir: PathBuf,
        found: String,
        major: u32,
    },

    /// A live postmaster already serves this data directory.
    #[error(
        "PostgreSQL (pid {pid}) is already running on {data_dir}; stop it (`kill -INT {pid}`) or \
         use another directory"
    )]
    AlreadyRunning { pid: u32, data_dir: PathBuf },

    /// The server exited while starting.
    #[error("postgres exited while starting ({status}); server log {log_path}:\n{log_tail}")]
    StartFailed {
        status: String,
        log_path: PathBuf,
        log_tail: String,
    },

    /// The server did not become ready in time (it has been killed).
    #[error(
        "postgres did not accept connections within {secs} s and was stopped; server log {log_path}:\n{log_tail}"
    )]
    StartTimeout {
        secs: u64,
        log_path: PathBuf,
        log_tail: String,
    },

    /// The server ignored the fast-shutdown request and had to be killed.
    #[error(
        "postgres (pid {pid}) did not shut down within {secs} s after SIGINT and was killed; \
         the next start runs crash recovery"
    )]
    StopTimeout { pid: u32, secs: u64 },

    /// A statement run right after start (setting the superuser's password) failed; the server
    /// has been stopped again.
    #[error("could not configure the new server over {socket}: {message}")]
    Setup { socket: PathBuf, message: String },

    /// The superuser password contains a NUL byte, which PostgreSQL cannot store.
    #[error("the superuser password may not contain a NUL byte")]
    InvalidPassword,
}

impl DevDbError {
    /// True when the PostgreSQL server binaries are missing: the CLI exits with code 2 for this.
    pub fn is_missing_binaries(&self) -> bool {
        matches!(self, DevDbError::BinariesNotFound { .. })
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        DevDbError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
