//! The executor: one transaction per request. `BEGIN` (read only for GET/HEAD), one
//! `set_config` prelude carrying the role, claims, request GUCs and session settings (the
//! shared [`pgbase_db::RequestContext`]), the main statement (prepared
//! and cached), the caller's checks, then `COMMIT` — or `ROLLBACK` for `Prefer: tx=rollback` and
//! failed checks. Reads are one pipelined round trip; writes two (the commit waits for checks).

use pgbase_db::PRELUDE;
use pgbase_sql::{Snippet, TextParam};
use tokio_postgres::types::ToSql;

use crate::error::ApiError;
use crate::pg_error;

/// What a request's transaction starts with: the shared request context (role, claims,
/// request GUCs, session settings) and whether the request carried a JWT.
#[derive(Debug, Clone, Default)]
pub struct RequestSettings {
    pub context: pgbase_db::RequestContext,
    /// True when the request carried no JWT (picks 401 over 403 for permission errors).
    pub anonymous: bool,
}

/// A statement's parameters as the driver takes them.
fn bind(params: &[TextParam]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

fn begin_statement(read_only: bool) -> &'static str {
    if read_only {
        "start transaction read only"
    } else {
        "start transaction read write"
    }
}

/// What the main statement returns: PostgREST's fixed result columns.
#[derive(Debug, Clone, Default)]
pub struct Output {
    pub total: Option<i64>,
    pub page_total: i64,
    /// The JSON (or other media) text Postgres built, still in the row it arrived in.
    pub body: Option<bytes::Bytes>,
    pub response_headers: Option<String>,
    pub response_status: Option<String>,
    /// Primary-key query string of the first inserted row (`Location` header).
    pub location: Option<String>,
    /// Rows an insert inserted (as opposed to updated through `on conflict`).
    pub inserted: Option<i64>,
    /// The planner's row estimate of the count query (`count=planned|estimated`).
    pub planned_total: Option<i64>,
}

/// The body column of a result row, kept inside the row: the response body points into the
/// buffer the row arrived in instead of being copied out of it.
struct BodyColumn(tokio_postgres::Row);

impl AsRef<[u8]> for BodyColumn {
    fn as_ref(&self) -> &[u8] {
        match self.0.try_get::<_, Option<&str>>(2) {
            Ok(Some(text)) => text.as_bytes(),
            _ => &[],
        }
    }
}

/// A column read as UTF-8 text whatever its type (json and text EXPLAIN output).
struct RawText(String);

impl<'a> tokio_postgres::types::FromSql<'a> for RawText {
    fn from_sql(
        ty: &tokio_postgres::types::Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        let bytes = if *ty == tokio_postgres::types::Type::JSONB {
            raw.get(1..).unwrap_or_default()
        } else {
            raw
        };
        Ok(RawText(String::from_utf8_lossy(bytes).into_owned()))
    }

    fn accepts(_ty: &tokio_postgres::types::Type) -> bool {
        true
    }
}

/// `Plan Rows` of the top node of an `EXPLAIN (FORMAT JSON)` document.
fn plan_rows(explain_json: &str) -> Option<i64> {
    let value: serde_json::Value = serde_json::from_str(explain_json).ok()?;
    let rows = value.get(0)?.get("Plan")?.get("Plan Rows")?;
    rows.as_i64()
        .or_else(|| rows.as_f64().map(|f| f.round() as i64))
}

/// How the transaction ends when everything succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxEnd {
    Commit,
    Rollback,
}

/// A response body above this size retires its connection: the connection's read buffer
/// keeps the capacity it grew to, so a pooled connection would hold that memory for good.
const LARGE_RESPONSE: usize = 8 << 20;

/// Runs `statement` inside the request transaction. `check` sees the output before the
/// transaction ends; an error from it rolls everything back.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    connection: &mut pgbase_db::Checkout,
    settings: &RequestSettings,
    statement: &Snippet,
    count_plan: Option<&Snippet>,
    read_only: bool,
    end: TxEnd,
    check: impl FnOnce(&Output) -> Result<(), ApiError>,
) -> Result<Output, ApiError> {
    let anonymous = settings.anonymous;
    let db = |e: tokio_postgres::Error| pg_error::from_postgres(&e, anonymous);
    let (sql, params) = statement.render();
    let checkout: &pgbase_db::Checkout = connection;
    // Cached per connection: a round trip only the first time a connection sees the SQL.
    let (prelude, main) = tokio::try_join!(
        checkout.prepare_cached(PRELUDE),
        checkout.prepare_cached(&sql)
    )
    .map_err(db)?;
    let explain = match count_plan {
        Some(snippet) => {
            let mut explained = Snippet::sql("explain (format json) ");
            explained.push(snippet.clone());
            let (text, params) = explained.render();
            Some((checkout.prepare_cached(&text).await.map_err(db)?, params))
        }
        None => None,
    };
    let explain_params = explain
        .as_ref()
        .map(|(_, params)| bind(params))
        .unwrap_or_default();
    let planned = async {
        match &explain {
            Some((statement, _)) => {
                let row = checkout.query_one(statement, &explain_params).await?;
                let text: RawText = row.try_get(0)?;
                Ok(plan_rows(&text.0))
            }
            None => Ok::<_, tokio_postgres::Error>(None),
        }
    };
    let prelude_params = settings.context.prelude_params();
    let main_params = bind(&params);
    let begin = begin_statement(read_only);
    let client: &tokio_postgres::Client = checkout;
    // A read-only transaction that commits changes nothing, so reads send BEGIN, the prelude,
    // the statement and COMMIT in one pipelined round trip and check afterwards. Writes wait
    // for the statement's result before deciding between COMMIT and ROLLBACK. Every request
    // of a pipeline is sent on the first poll, so an early error still leaves the connection
    // outside any transaction (COMMIT of a failed transaction rolls back); one more ROLLBACK
    // on that path waits for the pipeline's last answer before the connection counts as idle.
    let one_trip = read_only && end == TxEnd::Commit;
    let (row, planned_total) = if one_trip {
        let pipeline = tokio::try_join!(
            client.batch_execute(begin),
            client.query_one(&prelude, &prelude_params),
            client.query_one(&main, &main_params),
            planned,
            client.batch_execute("commit"),
        );
        match pipeline {
            Ok((_, _, row, planned, _)) => {
                checkout.mark_idle();
                (row, planned)
            }
            Err(error) => {
                client.batch_execute("rollback").await.map_err(db)?;
                checkout.mark_idle();
                return Err(db(error));
            }
        }
    } else {
        let started = tokio::try_join!(
            client.batch_execute(begin),
            client.query_one(&prelude, &prelude_params),
            client.query_one(&main, &main_params),
            planned,
        );
        match started {
            Ok((_, _, row, planned)) => (row, planned),
            Err(error) => {
                client.batch_execute("rollback").await.map_err(db)?;
                checkout.mark_idle();
                return Err(db(error));
            }
        }
    };
    let has_body = row.try_get::<_, Option<&str>>(2).map_err(db)?.is_some();
    let mut output = Output {
        total: row.try_get(0).map_err(db)?,
        page_total: row.try_get(1).map_err(db)?,
        body: None,
        response_headers: row.try_get(3).map_err(db)?,
        response_status: row.try_get(4).map_err(db)?,
        location: row.try_get(5).ok().flatten(),
        inserted: row.try_get(6).ok().flatten(),
        planned_total,
    };
    if has_body {
        output.body = Some(bytes::Bytes::from_owner(BodyColumn(row)));
    }
    let checked = check(&output);
    if !one_trip {
        let finish = if checked.is_ok() && end == TxEnd::Commit {
            "commit"
        } else {
            "rollback"
        };
        client.batch_execute(finish).await.map_err(db)?;
        checkout.mark_idle();
    }
    checked?;
    if output
        .body
        .as_ref()
        .is_some_and(|b| b.len() > LARGE_RESPONSE)
    {
        connection.retire();
    }
    Ok(output)
}

/// Runs `EXPLAIN (options) statement` inside the request transaction (prelude included) and
/// rolls back, so `analyze` of a write changes nothing. Returns the output lines (one JSON
/// document for `format json`).
pub async fn explain(
    connection: &mut pgbase_db::Checkout,
    settings: &RequestSettings,
    statement: &Snippet,
    read_only: bool,
) -> Result<Vec<String>, ApiError> {
    let anonymous = settings.anonymous;
    let db = |e: tokio_postgres::Error| pg_error::from_postgres(&e, anonymous);
    let (sql, params) = statement.render();
    let checkout: &pgbase_db::Checkout = connection;
    let (prelude, main) = tokio::try_join!(
        checkout.prepare_cached(PRELUDE),
        checkout.prepare_cached(&sql)
    )
    .map_err(db)?;
    let prelude_params = settings.context.prelude_params();
    let main_params = bind(&params);
    let begin = begin_statement(read_only);
    let client: &tokio_postgres::Client = checkout;
    let result = tokio::try_join!(
        client.batch_execute(begin),
        client.query_one(&prelude, &prelude_params),
        client.query(&main, &main_params),
    );
    client.batch_execute("rollback").await.map_err(db)?;
    checkout.mark_idle();
    let (_, _, rows) = result.map_err(db)?;
    rows.iter()
        .map(|row| row.try_get::<_, RawText>(0).map(|t| t.0).map_err(db))
        .collect()
}
