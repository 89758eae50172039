//! The executor: one transaction per request, as the caller's role. `BEGIN` (read only for
//! queries), the prelude every front end shares ([`pgbase_db::RequestContext`]: search_path,
//! session settings such as the role's statement_timeout, role, JWT claims, method, path,
//! headers, cookies), then
//! each top-level field's statement in order; `atMost` is checked after each mutation and
//! any failure rolls the whole transaction back.

use pgbase_db::{PRELUDE, RequestContext};
use pgbase_sql::{Snippet, TextParam};
use serde_json::value::RawValue;
use tokio_postgres::types::ToSql;

use crate::error::GraphqlError;

/// A statement to run, with the `atMost` check of update/delete.
pub struct Job {
    pub sql: Snippet,
    pub at_most: Option<(i64, &'static str)>,
}

/// Why the transaction failed.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("could not get a database connection: {0}")]
    Pool(String),
    #[error("{0}")]
    Db(String),
    #[error("{0}")]
    AtMost(&'static str),
}

impl From<ExecError> for GraphqlError {
    fn from(e: ExecError) -> Self {
        GraphqlError::Database(e.to_string())
    }
}

fn db_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => db.message().to_string(),
        None => e.to_string(),
    }
}

/// Runs `jobs` in one transaction; returns each statement's JSON.
pub async fn run(
    pool: &pgbase_db::Pool,
    context: &RequestContext,
    read_only: bool,
    jobs: &[Job],
) -> Result<Vec<Box<RawValue>>, ExecError> {
    let checkout = pool
        .get()
        .await
        .map_err(|e| ExecError::Pool(e.to_string()))?;
    let client: &tokio_postgres::Client = &checkout;
    let db = |e: tokio_postgres::Error| ExecError::Db(db_message(&e));
    let begin = if read_only {
        "start transaction read only"
    } else {
        "start transaction read write"
    };
    let rendered: Vec<_> = jobs.iter().map(|j| j.sql.render()).collect();
    let prepare = futures_util::future::try_join_all(
        rendered.iter().map(|(sql, _)| checkout.prepare_cached(sql)),
    );
    let (prelude, statements) =
        tokio::try_join!(checkout.prepare_cached(PRELUDE), prepare).map_err(db)?;
    let prelude_params = context.prelude_params();
    let param_refs: Vec<Vec<&(dyn ToSql + Sync)>> = rendered
        .iter()
        .map(|(_, params)| {
            params
                .iter()
                .map(|p: &TextParam| p as &(dyn ToSql + Sync))
                .collect()
        })
        .collect();
    if read_only {
        // one pipelined round trip: BEGIN, prelude, every statement, COMMIT
        let queries = futures_util::future::try_join_all(
            statements
                .iter()
                .zip(&param_refs)
                .map(|(st, params)| client.query_one(st, params)),
        );
        let result = tokio::try_join!(
            client.batch_execute(begin),
            client.query_one(&prelude, &prelude_params),
            queries,
            client.batch_execute("commit"),
        );
        return match result {
            Ok((_, _, rows, _)) => {
                checkout.mark_idle();
                rows.iter().map(|row| row_json(row, None)).collect()
            }
            Err(e) => {
                // a failed pipeline may leave the transaction open
                client.batch_execute("rollback").await.map_err(db)?;
                checkout.mark_idle();
                Err(db(e))
            }
        };
    }
    let started = tokio::try_join!(
        client.batch_execute(begin),
        client.query_one(&prelude, &prelude_params)
    );
    if let Err(e) = started {
        client.batch_execute("rollback").await.map_err(db)?;
        checkout.mark_idle();
        return Err(db(e));
    }
    let mut out = Vec::with_capacity(jobs.len());
    let result: Result<(), ExecError> = async {
        for ((job, statement), params) in jobs.iter().zip(&statements).zip(&param_refs) {
            let row = client.query_one(statement, params).await.map_err(db)?;
            out.push(row_json(&row, job.at_most)?);
        }
        Ok(())
    }
    .await;
    match result {
        Ok(()) => {
            client.batch_execute("commit").await.map_err(db)?;
            checkout.mark_idle();
            Ok(out)
        }
        Err(e) => {
            client.batch_execute("rollback").await.map_err(db)?;
            checkout.mark_idle();
            Err(e)
        }
    }
}

/// The JSON of a statement's row, after the `atMost` check. Postgres built it: it is checked,
/// not parsed into a tree, and goes into the response as it is.
fn row_json(
    row: &tokio_postgres::Row,
    at_most: Option<(i64, &'static str)>,
) -> Result<Box<RawValue>, ExecError> {
    let db = |e: tokio_postgres::Error| ExecError::Db(db_message(&e));
    let text: Option<String> = row.try_get(0).map_err(db)?;
    let count: Option<i64> = row.try_get(1).map_err(db)?;
    if let (Some((max, message)), Some(count)) = (at_most, count)
        && count > max
    {
        return Err(ExecError::AtMost(message));
    }
    RawValue::from_string(text.unwrap_or_else(|| "null".into()))
        .map_err(|e| ExecError::Db(e.to_string()))
}
