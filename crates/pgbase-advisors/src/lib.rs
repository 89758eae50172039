//! Security and performance advisors: lints run as SQL over the live catalog, each finding in the
//! shape Supabase's database linter uses (`name, title, level, facing, categories, description,
//! detail, remediation, metadata, cache_key`), so tools that read splinter's output read ours.

use serde::Serialize;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    Error,
    Warn,
    Info,
}

/// One finding of one lint.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Lint {
    pub name: String,
    pub title: String,
    pub level: Level,
    /// `EXTERNAL` (reachable through the APIs) or `INTERNAL`.
    pub facing: String,
    /// `SECURITY` and/or `PERFORMANCE`.
    pub categories: Vec<String>,
    pub description: String,
    pub detail: String,
    pub remediation: String,
    pub metadata: serde_json::Value,
    pub cache_key: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AdvisorError {
    #[error("a lint query failed: {0}")]
    Query(#[from] tokio_postgres::Error),
}

/// Runs every lint over `schemas` (the API's exposed schemas) and returns the findings, errors
/// first.
pub async fn run(
    client: &tokio_postgres::Client,
    schemas: &[String],
) -> Result<Vec<Lint>, AdvisorError> {
    let _ = (client, schemas);
    todo!("pgbase-advisors: lints are being written")
}
