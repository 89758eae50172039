//! GraphQL's side of the executor: each top-level field's statement, run in order in one
//! transaction by the executor every front end shares ([`pgbase_db::transaction`]: read only
//! for queries, the shared request-context prelude, pipelined), with `atMost` checked on each
//! mutation's count; any failure rolls the whole transaction back.

use pgbase_db::RequestContext;
use pgbase_db::transaction::{self, Statement, TxError, TxPolicy};
use pgbase_sql::{Snippet, TextParam};
use serde_json::value::RawValue;
use tokio_postgres::types::ToSql;

use crate::error::GraphqlError;

/// A statement to run, with the `atMost` check of update/delete.
pub struct Job {
    pub sql: Snippet,
    pub at_most: Option<(i64, &'static str)>,
}

impl Job {
    /// The statement's text and parameters, as [`run`] sends them.
    pub fn render(&self) -> Rendered {
        let (sql, params) = self.sql.render();
        Rendered {
            sql,
            params,
            at_most: self.at_most,
        }
    }
}

/// A [`Job`] rendered: SQL text (values are its bind parameters) and the `atMost` check.
/// Kept with a cached plan, so an identical request renders nothing again.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub sql: String,
    pub params: Vec<TextParam>,
    pub at_most: Option<(i64, &'static str)>,
}

/// Why the transaction failed.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("could not get a database connection: {0}")]
    Pool(String),
    /// The connection failed under the statement (closed, I/O; Postgres shutting down).
    #[error("{0}")]
    Connection(String),
    #[error("{0}")]
    Db(String),
    #[error("{0}")]
    AtMost(&'static str),
}

impl From<ExecError> for GraphqlError {
    fn from(e: ExecError) -> Self {
        match e {
            // PostgREST's answers when the database is out of reach (Supabase serves GraphQL
            // through PostgREST, so its clients see these): 503, retry.
            ExecError::Pool(detail) => GraphqlError::Unavailable {
                code: "PGRST000",
                message: "Database connection error. Retrying the connection.",
                detail,
            },
            ExecError::Connection(detail) => GraphqlError::Unavailable {
                code: "PGRST001",
                message: "Database client error. Retrying the connection.",
                detail,
            },
            other => GraphqlError::Database(other.to_string()),
        }
    }
}

/// True for a failure of the connection rather than of the statement: no Postgres error at
/// all (closed socket, I/O), a connection-class SQLSTATE, or the server shutting down.
fn is_connection_failure(e: &tokio_postgres::Error) -> bool {
    match e.as_db_error() {
        None => true,
        Some(db) => {
            let code = db.code().code();
            code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03")
        }
    }
}

fn db_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => db.message().to_string(),
        None => e.to_string(),
    }
}

/// Runs `jobs` in one transaction (pgbase-db's executor: pipelined, rolled back on any
/// failure); returns each statement's JSON.
pub async fn run(
    pool: &pgbase_db::Pool,
    context: &RequestContext,
    read_only: bool,
    jobs: &[&Rendered],
) -> Result<Vec<Box<RawValue>>, ExecError> {
    // Queries may run on a read replica (pgbase-db's replica routing); mutations never do.
    let route = pgbase_db::Route::for_request(read_only, context);
    let checkout = pool
        .get_routed(route)
        .await
        .map_err(|e| ExecError::Pool(e.to_string()))?;
    let statements: Vec<Statement<'_>> = jobs
        .iter()
        .map(|job| Statement {
            sql: &job.sql,
            params: job
                .params
                .iter()
                .map(|p: &TextParam| p as &(dyn ToSql + Sync))
                .collect(),
        })
        .collect();
    let policy = if read_only {
        TxPolicy::READ
    } else {
        TxPolicy::WRITE
    };
    let check = |index: usize, rows: &[tokio_postgres::Row]| {
        check_at_most(rows, jobs.get(index).and_then(|job| job.at_most))
    };
    let mut results = transaction::run(&checkout, context, policy, &statements, check).await;
    let lost = matches!(&results, Err(TxError::Db(e)) if is_connection_failure(e));
    if checkout.is_replica() && results.is_err() && (lost || checkout.is_closed()) {
        // The replica went away mid-query: a read is safe to run again, on the primary.
        drop(checkout);
        let primary = pool
            .get_read_fallback()
            .await
            .map_err(|e| ExecError::Pool(e.to_string()))?;
        results = transaction::run(&primary, context, policy, &statements, check).await;
    }
    let results = results.map_err(|error| match error {
        TxError::Db(e) if is_connection_failure(&e) => ExecError::Connection(e.to_string()),
        TxError::Db(e) => ExecError::Db(db_message(&e)),
        TxError::Check { error, .. } => ExecError::AtMost(error),
    })?;
    results.iter().map(|rows| row_json(rows)).collect()
}

/// `atMost`: the statement's second column counts the records it changed.
fn check_at_most(
    rows: &[tokio_postgres::Row],
    at_most: Option<(i64, &'static str)>,
) -> Result<(), &'static str> {
    let Some((max, message)) = at_most else {
        return Ok(());
    };
    let count: Option<i64> = rows.first().and_then(|row| row.try_get(1).ok().flatten());
    match count {
        Some(count) if count > max => Err(message),
        _ => Ok(()),
    }
}

/// The JSON of a statement's one row. Postgres built it: it is checked, not parsed into a
/// tree, and goes into the response as it is.
fn row_json(rows: &[tokio_postgres::Row]) -> Result<Box<RawValue>, ExecError> {
    let text: Option<String> = match rows.first() {
        Some(row) => row.try_get(0).map_err(|e| ExecError::Db(db_message(&e)))?,
        None => None,
    };
    RawValue::from_string(text.unwrap_or_else(|| "null".into()))
        .map_err(|e| ExecError::Db(e.to_string()))
}
