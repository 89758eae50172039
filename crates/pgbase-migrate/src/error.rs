//! The migration error type: every variant renders as one line of cause plus a hint, and a
//! failed migration carries the file, line, column and the offending source line with a caret.

use std::fmt;
use std::path::PathBuf;

/// Why a migration run stopped. Nothing of a failed file is left applied.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("cannot read migrations folder {path}: {source}")]
    ReadDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read migration {path}: {source}")]
    ReadFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write migration {path}: {source}")]
    WriteFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "invalid migration name {0:?}: use letters, digits, '_' and '-' (e.g. `pgbase migrate new add_todos`)"
    )]
    InvalidName(String),
    #[error(
        "{file} was edited after it was applied (recorded checksum {recorded}, file now {current}); \
         applied migrations are immutable: restore the file and put the change in a new migration \
         (`pgbase migrate new NAME`)"
    )]
    ChecksumMismatch {
        file: String,
        recorded: String,
        current: String,
    },
    #[error("{0}")]
    Failed(Box<FailedMigration>),
    #[error("system schema {name} failed: {message}")]
    System { name: String, message: String },
    /// A system file needs a privilege the login lacks (creating or granting the API roles):
    /// what is missing and the SQL an administrator runs.
    #[error("system schema {name} failed: {message}\n{fix}")]
    Privilege {
        name: String,
        message: String,
        fix: String,
    },
    #[error("database error during migration bookkeeping: {0}")]
    Database(#[from] tokio_postgres::Error),
}

/// A migration file that Postgres rejected, located in its source.
#[derive(Debug)]
pub struct FailedMigration {
    /// Path as shown to the user, e.g. `migrations/20260101000000_init.sql`.
    pub file: String,
    pub line: usize,
    pub column: usize,
    /// The Postgres message (with SQLSTATE), detail and hint when present.
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
    /// The source line the error points at.
    pub source_line: String,
}

impl fmt::Display for FailedMigration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )?;
        let gutter = format!("{} | ", self.line);
        write!(f, "\n{gutter}{}", self.source_line)?;
        let pad: String = self
            .source_line
            .chars()
            .take(self.column.saturating_sub(1))
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        write!(f, "\n{}{}^", " ".repeat(gutter.len()), pad)?;
        if let Some(detail) = &self.detail {
            write!(f, "\ndetail: {detail}")?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\nhint: {hint}")?;
        }
        write!(
            f,
            "\nthe migration was rolled back whole; fix the file and run it again"
        )
    }
}
