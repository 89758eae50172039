//! The executor: one transaction per request. `BEGIN` (read only for GET/HEAD), one
//! `set_config` prelude carrying the role, claims and request GUCs, the main statement (prepared
//! and cached), the caller's checks, then `COMMIT` — or `ROLLBACK` for `Prefer: tx=rollback` and
//! failed checks. The prelude and main statement are pipelined in one round trip.

use pgbase_sql::{Snippet, TextParam};
use tokio_postgres::types::ToSql;

use crate::error::ApiError;
use crate::pg_error;

/// The per-request settings applied with `set_config(…, true)`, in PostgREST's order.
#[derive(Debug, Clone, Default)]
pub struct RequestSettings {
    pub search_path: String,
    pub role: String,
    /// The JWT claims as JSON (with `role` present).
    pub claims: String,
    pub method: String,
    pub path: String,
    /// Request headers as a JSON object with lower-cased names, cookies excluded.
    pub headers: String,
    pub cookies: String,
    /// `Prefer: timezone=…`
    pub timezone: Option<String>,
    /// True when the request carried no JWT (picks 401 over 403 for permission errors).
    pub anonymous: bool,
}

/// What the main statement returns: PostgREST's fixed result columns.
#[derive(Debug, Clone, Default)]
pub struct Output {
    pub total: Option<i64>,
    pub page_total: i64,
    pub body: Option<String>,
    pub response_headers: Option<String>,
    pub response_status: Option<String>,
    /// Primary-key query string of the first inserted row (`Location` header).
    pub location: Option<String>,
}

/// How the transaction ends when everything succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxEnd {
    Commit,
    Rollback,
}

const PRELUDE: &str = "select set_config('search_path', $1, true), set_config('role', $2, true), \
    set_config('request.jwt.claims', $3, true), set_config('request.method', $4, true), \
    set_config('request.path', $5, true), set_config('request.headers', $6, true), \
    set_config('request.cookies', $7, true), \
    case when $8::text is null then null else set_config('timezone', $8, true) end";

/// Runs `statement` inside the request transaction. `check` sees the output before the
/// transaction ends; an error from it rolls everything back.
pub async fn run(
    client: &mut deadpool_postgres::Object,
    settings: &RequestSettings,
    statement: &Snippet,
    read_only: bool,
    end: TxEnd,
    check: impl FnOnce(&Output) -> Result<(), ApiError>,
) -> Result<Output, ApiError> {
    let anonymous = settings.anonymous;
    let db = |e: tokio_postgres::Error| pg_error::from_postgres(&e, anonymous);
    let tx = client
        .build_transaction()
        .read_only(read_only)
        .start()
        .await
        .map_err(db)?;
    let (sql, params) = statement.render();
    let prelude = tx.prepare_cached(PRELUDE).await.map_err(db)?;
    let main = tx.prepare_cached(&sql).await.map_err(db)?;
    let prelude_params: [&(dyn ToSql + Sync); 8] = [
        &settings.search_path,
        &settings.role,
        &settings.claims,
        &settings.method,
        &settings.path,
        &settings.headers,
        &settings.cookies,
        &settings.timezone,
    ];
    let main_params: Vec<&(dyn ToSql + Sync)> = params
        .iter()
        .map(|p: &TextParam| p as &(dyn ToSql + Sync))
        .collect();
    let (_, row) = tokio::try_join!(
        tx.query_one(&prelude, &prelude_params),
        tx.query_one(&main, &main_params)
    )
    .map_err(db)?;
    let output = Output {
        total: row.try_get(0).map_err(db)?,
        page_total: row.try_get(1).map_err(db)?,
        body: row.try_get(2).map_err(db)?,
        response_headers: row.try_get(3).map_err(db)?,
        response_status: row.try_get(4).map_err(db)?,
        location: row.try_get(5).ok().flatten(),
    };
    if let Err(error) = check(&output) {
        tx.rollback().await.map_err(db)?;
        return Err(error);
    }
    match end {
        TxEnd::Commit => tx.commit().await.map_err(db)?,
        TxEnd::Rollback => tx.rollback().await.map_err(db)?,
    }
    Ok(output)
}
