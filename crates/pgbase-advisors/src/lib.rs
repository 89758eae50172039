//! Security and performance advisors: lints run as SQL over the live catalog, each finding in the
//! shape Supabase's database linter uses (`name, title, level, facing, categories, description,
//! detail, remediation, metadata, cache_key`), so tools that read splinter's output read ours.
//!
//! This module owns the finding type and [`run`], which sends every lint's query (see
//! `lints.rs`, one `.sql` file per lint) pipelined on one connection and merges the findings,
//! errors first.

mod lints;

use futures_util::future::try_join_all;
use serde::Serialize;
use tokio_postgres::types::Type;

pub use lints::SYSTEM_SCHEMAS;

/// How serious a finding is. Ordered: `Error < Warn < Info`, the order findings are reported in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
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
    #[error("the query of lint {lint} failed: {message}")]
    Lint {
        lint: &'static str,
        message: String,
        #[source]
        source: tokio_postgres::Error,
    },
}

impl AdvisorError {
    fn lint(lint: &'static str, source: tokio_postgres::Error) -> Self {
        let message = match source.as_db_error() {
            Some(db) => format!("{} ({})", db.message(), db.code().code()),
            None => source.to_string(),
        };
        AdvisorError::Lint {
            lint,
            message,
            source,
        }
    }
}

/// The lints [`run`] applies: (name, level, title), errors first.
pub fn available() -> impl Iterator<Item = (&'static str, Level, &'static str)> {
    lints::LINTS.iter().map(|l| (l.name, l.level, l.title))
}

/// Runs every lint over `schemas` (the API's exposed schemas) and returns the findings, errors
/// first (then by lint name and cache key, so the order is stable).
pub async fn run(
    client: &tokio_postgres::Client,
    schemas: &[String],
) -> Result<Vec<Lint>, AdvisorError> {
    let system = SYSTEM_SCHEMAS;
    let per_lint = try_join_all(lints::LINTS.iter().map(|def| async move {
        let stmt = client
            .prepare_typed(def.sql, &[Type::TEXT_ARRAY, Type::TEXT_ARRAY])
            .await
            .map_err(|e| AdvisorError::lint(def.name, e))?;
        let rows = client
            .query(&stmt, &[&schemas, &system])
            .await
            .map_err(|e| AdvisorError::lint(def.name, e))?;
        rows.iter()
            .map(|row| finding(def, row))
            .collect::<Result<Vec<_>, _>>()
    }))
    .await?;
    let mut findings: Vec<Lint> = per_lint.into_iter().flatten().collect();
    findings
        .sort_by(|a, b| (a.level, &a.name, &a.cache_key).cmp(&(b.level, &b.name, &b.cache_key)));
    Ok(findings)
}

fn finding(def: &lints::LintDef, row: &tokio_postgres::Row) -> Result<Lint, AdvisorError> {
    let get = |e| AdvisorError::lint(def.name, e);
    let detail: String = row.try_get("detail").map_err(get)?;
    let remediation: Option<String> = row.try_get("remediation").map_err(get)?;
    let metadata: serde_json::Value = row.try_get("metadata").map_err(get)?;
    let cache_key: String = row.try_get("cache_key").map_err(get)?;
    let remediation = match remediation {
        Some(fix) => format!("{fix} See {} ({}).", lints::DOCS, def.name),
        None => format!("See {} ({}).", lints::DOCS, def.name),
    };
    Ok(Lint {
        name: def.name.to_string(),
        title: def.title.to_string(),
        level: def.level,
        facing: def.facing.to_string(),
        categories: def.categories.iter().map(|c| c.to_string()).collect(),
        description: def.description.to_string(),
        detail,
        remediation,
        metadata,
        cache_key,
    })
}
