//! The migration tools: list the history of `migrations/`, write a new
//! `migrations/<YYYYMMDDHHMMSS>_<name>.sql` (atomically, so a watching `pgbase dev` never sees a
//! half-written file), and apply what is pending through `pgbase-migrate` (each file in its own
//! transaction; a failure comes back as file:line:col with the line and a caret, and nothing of
//! that file is left applied).

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::conn::Connector;

/// Why a migration tool failed.
#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Migrate(#[from] pgbase_migrate::MigrateError),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Conn(#[from] crate::conn::ConnError),
}

/// One row of `list_migrations`.
#[derive(Debug, Serialize)]
pub struct MigrationRow {
    pub file: String,
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applied_at: Option<String>,
}

/// Migration files with their state.
pub async fn list(connector: &Connector, dir: &Path) -> Result<Vec<MigrationRow>, MigrationError> {
    let mut lease = connector.get().await?;
    let result = pgbase_migrate::status(&mut lease, dir).await;
    if !lease.is_closed() {
        lease.release();
    }
    Ok(result?
        .into_iter()
        .map(|(file, state)| {
            let (state, applied_at) = match state {
                pgbase_migrate::MigrationState::Applied { applied_at } => {
                    ("applied", Some(applied_at.to_rfc3339()))
                }
                pgbase_migrate::MigrationState::Pending => ("pending", None),
                pgbase_migrate::MigrationState::Changed => ("changed since applied", None),
                pgbase_migrate::MigrationState::Missing => ("applied, file missing", None),
            };
            MigrationRow {
                file,
                state: state.to_string(),
                applied_at,
            }
        })
        .collect())
}

/// Writes `dir/<stamp>_<name>.sql` holding `sql`; returns its path.
pub fn create(dir: &Path, name: &str, sql: &str) -> Result<PathBuf, MigrationError> {
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !valid {
        return Err(pgbase_migrate::MigrateError::InvalidName(name.to_string()).into());
    }
    let write = |path: &Path, source| MigrationError::Write {
        path: path.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(|e| write(dir, e))?;
    let stamp = chrono::Utc::now().format("%Y%m%d%H%M%S");
    let path = dir.join(format!("{stamp}_{name}.sql"));
    if path.exists() {
        return Err(MigrationError::Refused(format!(
            "{} exists already; pick another name",
            path.display()
        )));
    }
    let mut text = sql.trim_end().to_string();
    text.push('\n');
    // Written beside the folder's *.sql pattern, then renamed into place in one step.
    let temporary = dir.join(format!(".{stamp}_{name}.sql.tmp"));
    std::fs::write(&temporary, text).map_err(|e| write(&temporary, e))?;
    std::fs::rename(&temporary, &path).map_err(|e| write(&path, e))?;
    Ok(path)
}

/// What `migration_apply` did.
#[derive(Debug, Serialize)]
pub struct ApplyOutput {
    pub applied: Vec<String>,
    pub message: String,
}

/// Applies the pending migrations of `dir` (and any pending system schema).
pub async fn apply(connector: &Connector, dir: &Path) -> Result<ApplyOutput, MigrationError> {
    let mut lease = connector.get().await?;
    let result = pgbase_migrate::migrate(&mut lease, Some(dir)).await;
    if !lease.is_closed() {
        lease.release();
    }
    let report = result?;
    let applied: Vec<String> = report
        .applied
        .iter()
        .map(|a| format!("{} ({:.1} ms)", a.display_path, a.duration_ms))
        .collect();
    let message = if applied.is_empty() {
        "nothing pending: every migration is applied (a running `pgbase dev` applies new files as they appear)".to_string()
    } else {
        format!("applied {} migration(s)", applied.len())
    };
    Ok(ApplyOutput { applied, message })
}
