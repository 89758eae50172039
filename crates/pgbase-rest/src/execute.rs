//! REST's side of the executor: the main statement (plus the EXPLAIN behind
//! `count=planned|estimated`) run in one transaction by the executor every front end shares
//! ([`pgbase_db::transaction`]: read only for GET/HEAD, the shared request-context prelude,
//! `Prefer: tx=rollback`, pipelined), PostgREST's fixed result columns read into [`Output`]
//! with the body left in the row it arrived in, and the caller's checks (singular object,
//! max-affected) run before a write commits. Reads are one round trip; writes two.

use pgbase_db::transaction::{self, Statement, TxError, TxPolicy};
use pgbase_sql::{Snippet, TextParam};
use tokio_postgres::Row;
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

pub use pgbase_db::TxEnd;

/// A response body above this size retires its connection: the connection's read buffer
/// keeps the capacity it grew to, so a pooled connection would hold that memory for good.
const LARGE_RESPONSE: usize = 8 << 20;

/// The fixed result columns of a main statement's row, without the body.
fn output_of(row: &Row) -> Result<Output, tokio_postgres::Error> {
    Ok(Output {
        total: row.try_get(0)?,
        page_total: row.try_get(1)?,
        body: None,
        response_headers: row.try_get(3)?,
        response_status: row.try_get(4)?,
        location: row.try_get(5).ok().flatten(),
        inserted: row.try_get(6).ok().flatten(),
        planned_total: None,
    })
}

/// Runs the statement `sql` with `params` (and, for `count=planned|estimated`, the EXPLAIN of
/// `count_plan`) in the request transaction through pgbase-db's executor. `check` sees the
/// output before a write commits; an error from it rolls everything back.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    connection: &mut pgbase_db::Checkout,
    settings: &RequestSettings,
    sql: &str,
    params: &[TextParam],
    count_plan: Option<&Snippet>,
    read_only: bool,
    end: TxEnd,
    check: impl FnOnce(&Output) -> Result<(), ApiError>,
) -> Result<Output, ApiError> {
    let anonymous = settings.anonymous;
    let db =
        |e: tokio_postgres::Error| pg_error::from_postgres_in(&e, &settings.context, anonymous);
    let explained = count_plan.map(|snippet| {
        let mut explained = Snippet::sql("explain (format json) ");
        explained.push(snippet.clone());
        explained.render()
    });
    let mut statements = vec![Statement {
        sql,
        params: bind(params),
    }];
    if let Some((sql, params)) = &explained {
        statements.push(Statement {
            sql,
            params: bind(params),
        });
    }
    let policy = TxPolicy { read_only, end };
    let mut check = Some(check);
    let results = transaction::run(
        connection,
        &settings.context,
        policy,
        &statements,
        |index, rows| match (index, rows.first(), check.take()) {
            (0, Some(row), Some(check)) => check(&output_of(row).map_err(db)?),
            (0, None, _) => Err(db_no_row()),
            _ => Ok(()),
        },
    )
    .await
    .map_err(|error| match error {
        TxError::Db(e) => db(e),
        TxError::Check { error, .. } => error,
    })?;
    let mut results = results.into_iter();
    let row = results
        .next()
        .and_then(|rows| rows.into_iter().next())
        .ok_or_else(db_no_row)?;
    let mut output = output_of(&row).map_err(db)?;
    output.planned_total = results
        .next()
        .and_then(|rows| rows.into_iter().next())
        .and_then(|row| row.try_get::<_, RawText>(0).ok())
        .and_then(|text| plan_rows(&text.0));
    if row.try_get::<_, Option<&str>>(2).map_err(db)?.is_some() {
        output.body = Some(bytes::Bytes::from_owner(BodyColumn(row)));
    }
    if output
        .body
        .as_ref()
        .is_some_and(|b| b.len() > LARGE_RESPONSE)
    {
        connection.retire();
    }
    Ok(output)
}

/// A main statement always returns one row; if it did not, say so as a server error.
fn db_no_row() -> ApiError {
    ApiError::new(
        "XX000",
        http::StatusCode::INTERNAL_SERVER_ERROR,
        "the statement returned no row",
    )
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
    let db =
        |e: tokio_postgres::Error| pg_error::from_postgres_in(&e, &settings.context, anonymous);
    let (sql, params) = statement.render();
    let statements = [Statement {
        sql: &sql,
        params: bind(&params),
    }];
    let policy = TxPolicy {
        read_only,
        end: TxEnd::Rollback,
    };
    let results = transaction::run(
        connection,
        &settings.context,
        policy,
        &statements,
        |_, _| Ok::<(), ApiError>(()),
    )
    .await
    .map_err(|error| match error {
        TxError::Db(e) => db(e),
        TxError::Check { error, .. } => error,
    })?;
    results
        .into_iter()
        .flatten()
        .map(|row| row.try_get::<_, RawText>(0).map(|t| t.0).map_err(db))
        .collect()
}
