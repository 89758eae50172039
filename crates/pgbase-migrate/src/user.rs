//! The user's migration folder: discovering `*.sql` files in name order, checksumming them and
//! creating new, timestamp-named files.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::MigrateError;

/// A migration file read from disk.
#[derive(Debug, Clone)]
pub struct MigrationFile {
    /// The file stem, unique and the ordering key: `20260101120000_create_todos`.
    pub version: String,
    /// The part after the first `_` (`create_todos`), or the whole stem.
    pub name: String,
    /// The path as shown in messages (`migrations/20260101120000_create_todos.sql`).
    pub display_path: String,
    pub sql: String,
    /// Hex SHA-256 of the file's bytes.
    pub checksum: String,
}

/// Where a migration stands against the database's history.
#[derive(Debug, Clone, PartialEq)]
pub enum MigrationState {
    Applied {
        applied_at: chrono::DateTime<chrono::Utc>,
    },
    Pending,
    /// Applied, but the file has changed since: `migrate up` refuses to run.
    Changed,
    /// Recorded in the history, but no longer in the folder.
    Missing,
}

impl MigrationFile {
    /// Whether the file holds no SQL yet: only blank lines and `--` comments, as the template
    /// [`new_migration`] writes until the user fills it in. Applying it would record the empty
    /// template, and the user's later edit would then be refused as a changed file, so
    /// [`crate::migrate`] skips a pending one (see [`crate::MigrateReport::untouched`]).
    pub fn is_untouched_template(&self) -> bool {
        self.sql.lines().all(|line| {
            let line = line.trim();
            line.is_empty() || line.starts_with("--")
        })
    }
}

/// A migration this run applied.
#[derive(Debug, Clone)]
pub struct AppliedMigration {
    pub version: String,
    pub display_path: String,
    pub duration_ms: f64,
}

/// Lists `dir/*.sql` in name order. Other files are skipped with a warning; a missing folder is
/// an empty list (a project may have no migrations yet).
pub fn discover(dir: &Path) -> Result<Vec<MigrationFile>, MigrateError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(MigrateError::ReadDir {
                path: dir.to_path_buf(),
                source,
            });
        }
    };
    let mut paths = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| MigrateError::ReadDir {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = entry.path();
        let is_file = entry.file_type().map(|t| t.is_file()).unwrap_or(false);
        let file_name = entry.file_name().to_string_lossy().into_owned();
        if !is_file || file_name.starts_with('.') {
            continue;
        }
        if path.extension().and_then(|e| e.to_str()) != Some("sql") {
            tracing::warn!(
                file = %shown_path(&path),
                "skipping a file that is not .sql in the migrations folder; rename it to *.sql to apply it"
            );
            continue;
        }
        paths.push(path);
    }
    paths.sort();
    paths
        .into_iter()
        .map(|path| read_migration(&path))
        .collect()
}

fn read_migration(path: &Path) -> Result<MigrationFile, MigrateError> {
    let bytes = std::fs::read(path).map_err(|source| MigrateError::ReadFile {
        path: path.to_path_buf(),
        source,
    })?;
    let checksum = hex::encode(Sha256::digest(&bytes));
    let sql = String::from_utf8(bytes).map_err(|e| MigrateError::ReadFile {
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e.utf8_error()),
    })?;
    let version = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = version
        .split_once('_')
        .map_or(version.as_str(), |(_, rest)| rest)
        .to_string();
    Ok(MigrationFile {
        version,
        name,
        display_path: shown_path(path),
        sql,
        checksum,
    })
}

fn shown_path(path: &Path) -> String {
    let shown = path.display().to_string();
    shown.strip_prefix("./").unwrap_or(&shown).to_string()
}

/// Creates `dir/YYYYMMDDHHMMSS_name.sql` (UTC) with a comment header and returns its path.
pub fn new_migration(dir: &Path, name: &str) -> Result<PathBuf, MigrateError> {
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !valid {
        return Err(MigrateError::InvalidName(name.to_string()));
    }
    std::fs::create_dir_all(dir).map_err(|source| MigrateError::WriteFile {
        path: dir.to_path_buf(),
        source,
    })?;
    let stamp = chrono::Utc::now().format("%Y%m%d%H%M%S");
    let path = dir.join(format!("{stamp}_{name}.sql"));
    let header = format!(
        "-- {name}: applied once, in its own transaction, by `pgbase migrate` or `pgbase dev`.\n\n"
    );
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .and_then(|mut file| std::io::Write::write_all(&mut file, header.as_bytes()))
        .map_err(|source| MigrateError::WriteFile {
            path: path.clone(),
            source,
        })?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovers_sql_files_in_name_order_and_skips_others() -> Result<(), Box<dyn std::error::Error>>
    {
        let dir = tempfile::tempdir()?;
        std::fs::write(dir.path().join("002_b.sql"), "select 2;")?;
        std::fs::write(dir.path().join("001_a.sql"), "select 1;")?;
        std::fs::write(dir.path().join("notes.txt"), "not sql")?;
        let found = discover(dir.path())?;
        let versions: Vec<_> = found.iter().map(|m| m.version.as_str()).collect();
        assert_eq!(versions, ["001_a", "002_b"]);
        assert_eq!(found[0].name, "a");
        assert_eq!(found[0].checksum.len(), 64);
        Ok(())
    }

    #[test]
    fn a_missing_folder_has_no_migrations() -> Result<(), MigrateError> {
        assert!(discover(Path::new("/nonexistent/pgbase/migrations"))?.is_empty());
        Ok(())
    }

    #[test]
    fn new_migration_is_timestamped_and_rejects_bad_names() -> Result<(), Box<dyn std::error::Error>>
    {
        let dir = tempfile::tempdir()?;
        let path = new_migration(dir.path(), "add_todos")?;
        let file = path.file_name().map(|f| f.to_string_lossy().into_owned());
        let file = file.unwrap_or_default();
        assert_eq!(file.len(), "20260101120000_add_todos.sql".len());
        assert!(file.ends_with("_add_todos.sql"));
        assert!(matches!(
            new_migration(dir.path(), "bad name;"),
            Err(MigrateError::InvalidName(_))
        ));
        Ok(())
    }

    #[test]
    fn the_new_template_holds_no_sql_until_edited() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = new_migration(dir.path(), "add_todos")?;
        let file = read_migration(&path)?;
        assert!(file.is_untouched_template(), "{:?}", file.sql);
        let edited = |sql: &str| MigrationFile {
            sql: sql.to_string(),
            ..file.clone()
        };
        assert!(edited("").is_untouched_template());
        assert!(edited("-- a\n  -- b\n\n").is_untouched_template());
        assert!(!edited(&format!("{}create table t (x int);\n", file.sql)).is_untouched_template());
        assert!(!edited("select 1 -- trailing").is_untouched_template());
        Ok(())
    }
}
