//! Finding the PostgreSQL server binaries of the machine: a directory that holds both `initdb`
//! and `postgres`, looked for on `PATH`, then in `pg_config --bindir`, then in the Debian/Ubuntu
//! layout `/usr/lib/postgresql/<major>/bin` (newest major first). The search places are a value
//! ([`SearchPaths`]) so tests and callers can replace them.

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::DevDbError;

/// Where the server binaries live, and which major version they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgBinaries {
    /// Directory holding `initdb` and `postgres` (symlinks resolved when both point to one place).
    pub bindir: PathBuf,
    /// Major version, e.g. 15 (from `postgres --version`).
    pub major: u32,
    /// Full version string, e.g. "15.18".
    pub version: String,
}

impl PgBinaries {
    /// Path of `initdb`.
    pub fn initdb(&self) -> PathBuf {
        self.bindir.join("initdb")
    }

    /// Path of `postgres`.
    pub fn postgres(&self) -> PathBuf {
        self.bindir.join("postgres")
    }

    /// Path of `psql` (Debian's server packages bring it into the same directory).
    pub fn psql(&self) -> PathBuf {
        self.bindir.join("psql")
    }
}

/// The places [`find_binaries_in`] searches, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchPaths {
    /// A `PATH`-style list of directories; also where `pg_config` is looked up.
    pub path: Option<OsString>,
    /// The root of versioned installs; `<root>/<major>/bin` is searched, newest major first.
    pub versioned_root: PathBuf,
}

impl SearchPaths {
    /// The process's `PATH` and `/usr/lib/postgresql` (or `$PGBASE_PG_ROOT` when set).
    pub fn from_env() -> Self {
        SearchPaths {
            path: std::env::var_os("PATH"),
            versioned_root: std::env::var_os("PGBASE_PG_ROOT")
                .map_or_else(|| PathBuf::from("/usr/lib/postgresql"), PathBuf::from),
        }
    }
}

impl Default for SearchPaths {
    fn default() -> Self {
        Self::from_env()
    }
}

/// Finds `initdb` and `postgres` in the default places ([`SearchPaths::from_env`]).
pub fn find_binaries() -> Result<PgBinaries, DevDbError> {
    find_binaries_in(&SearchPaths::from_env())
}

/// Finds `initdb` and `postgres` in the given places: `PATH`, `pg_config --bindir`, then
/// `<versioned_root>/*/bin` newest major first.
pub fn find_binaries_in(paths: &SearchPaths) -> Result<PgBinaries, DevDbError> {
    let path_dirs: Vec<PathBuf> = paths
        .path
        .as_ref()
        .map(|p| std::env::split_paths(p).collect())
        .unwrap_or_default();

    let mut candidates: Vec<PathBuf> = path_dirs.clone();
    if let Some(pg_config) = path_dirs
        .iter()
        .map(|d| d.join("pg_config"))
        .find(|p| is_executable(p))
        && let Some(dir) = pg_config_bindir(&pg_config)
    {
        candidates.push(dir);
    }
    candidates.extend(versioned_bindirs(&paths.versioned_root));

    for dir in candidates {
        if is_executable(&dir.join("initdb")) && is_executable(&dir.join("postgres")) {
            let bindir = resolve_bindir(&dir);
            let (major, version) = server_version(&bindir.join("postgres"))?;
            return Ok(PgBinaries {
                bindir,
                major,
                version,
            });
        }
    }
    Err(DevDbError::BinariesNotFound {
        versioned_root: paths.versioned_root.display().to_string(),
    })
}

fn is_executable(p: &Path) -> bool {
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

fn pg_config_bindir(pg_config: &Path) -> Option<PathBuf> {
    let out = Command::new(pg_config).arg("--bindir").output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?;
    let s = s.trim();
    (!s.is_empty()).then(|| PathBuf::from(s))
}

/// `<root>/<major>/bin` for every numeric `<major>`, newest first.
fn versioned_bindirs(root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut found: Vec<(u32, u32, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let mut parts = name.split('.');
            let major = parts.next()?.parse::<u32>().ok()?;
            let minor = parts
                .next()
                .and_then(|m| m.parse::<u32>().ok())
                .unwrap_or(0);
            Some((major, minor, e.path().join("bin")))
        })
        .collect();
    found.sort_by_key(|f| std::cmp::Reverse((f.0, f.1)));
    found.into_iter().map(|(_, _, p)| p).collect()
}

/// `/usr/local/bin` holding symlinks into `/usr/lib/postgresql/15/bin` reports the latter.
fn resolve_bindir(dir: &Path) -> PathBuf {
    let real_parent = |name: &str| {
        std::fs::canonicalize(dir.join(name))
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
    };
    match (real_parent("initdb"), real_parent("postgres")) {
        (Some(a), Some(b)) if a == b => a,
        _ => dir.to_path_buf(),
    }
}

/// Runs `postgres --version` ("postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)").
fn server_version(postgres: &Path) -> Result<(u32, String), DevDbError> {
    let out = Command::new(postgres)
        .arg("--version")
        .output()
        .map_err(|e| DevDbError::io("run", postgres, e))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    parse_version(&text).ok_or_else(|| DevDbError::UnknownVersion {
        program: postgres.to_path_buf(),
        output: text.trim().to_string(),
    })
}

/// The first word that starts with a digit: "15.18" → (15, "15.18"); "17beta1" → 17.
fn parse_version(text: &str) -> Option<(u32, String)> {
    let word = text
        .split_whitespace()
        .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))?;
    let digits: String = word.chars().take_while(char::is_ascii_digit).collect();
    Some((digits.parse().ok()?, word.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_versions() {
        assert_eq!(
            parse_version("postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n"),
            Some((15, "15.18".to_string()))
        );
        assert_eq!(
            parse_version("postgres (PostgreSQL) 17beta1"),
            Some((17, "17beta1".to_string()))
        );
        assert_eq!(
            parse_version("postgres (PostgreSQL) 9.6.24").map(|v| v.0),
            Some(9)
        );
        assert_eq!(parse_version("nonsense"), None);
    }

    #[test]
    fn versioned_dirs_newest_first() {
        let root = tempfile::tempdir().unwrap();
        for v in ["9.6", "13", "16", "notaversion", "15"] {
            std::fs::create_dir_all(root.path().join(v).join("bin")).unwrap();
        }
        let dirs: Vec<_> = versioned_bindirs(root.path())
            .into_iter()
            .map(|p| {
                p.parent()
                    .unwrap()
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        assert_eq!(dirs, ["16", "15", "13", "9.6"]);
    }
}
