//! The REST request handler: PostgREST's request pipeline, one stage per module, with [`handle`]
//! reading as that pipeline (as PostgREST's `postgrestResponse` does):
//!
//! 1. parse — method, path, query string and headers into a typed `ApiRequest` (`request`,
//!    `query`, `preferences`, `range`, `media`; no I/O);
//! 2. plan — the request resolved against the schema cache into a plan value (`prepare`, over the
//!    planner in `plan`; no I/O);
//! 3. statement — the plan rendered into one SQL statement with bind parameters (`statement`,
//!    over `pgbase_sql::emit`; no I/O);
//! 4. execute — the statement run in the request's one transaction (`execute`, over
//!    `pgbase_db::transaction`), with the singular-object and max-affected checks;
//! 5. respond — the result shaped into PostgREST's status, headers and body (`respond`).
//!
//! `OPTIONS` and the OpenAPI document stop after parsing. A GET identical to a recent one
//! (path, query string, the headers planning reads, the same schema cache) reuses the result
//! of stages 1–3 from [`ReadCache`] and runs 4 and 5 as its own request. It is framework-free:
//! the binary adapts [`RestResponse`] to its HTTP server.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, Weak};

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use pgbase_catalog::{CatalogHandle, SchemaCache};
use serde_json::Value;

use crate::error::ApiError;
use crate::execute::{self, RequestSettings, TxEnd};
use crate::media::{MediaType, PlanFormat};
use crate::plan::PlanContext;
use crate::preferences::{PreferHandling, PreferTx};
use crate::prepare::{self, Kind};
use crate::request::{Action, ApiRequest, RequestConfig, parse_request};
use crate::statement::{self, Statement};
use crate::{openapi, respond};

/// Shared state of the REST API.
pub struct RestState {
    pub pool: pgbase_db::Pool,
    pub catalog: Arc<CatalogHandle>,
    pub config: RequestConfig,
    /// `db-max-rows`.
    pub max_rows: Option<u64>,
    /// Session settings every request starts with (e.g. the server's `statement_timeout`),
    /// before the role's own `ALTER ROLE … SET` values.
    pub session_defaults: Vec<(String, String)>,
}

/// Who the request runs as (from the auth layer; anonymous → the anon role).
#[derive(Debug, Clone)]
pub struct Identity {
    pub role: String,
    pub claims: Value,
    pub anonymous: bool,
}

impl Identity {
    pub fn anonymous(role: &str) -> Identity {
        Identity {
            role: role.to_string(),
            claims: serde_json::json!({ "role": role }),
            anonymous: true,
        }
    }
}

/// A finished response.
#[derive(Debug)]
pub struct RestResponse {
    pub status: StatusCode,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl RestResponse {
    pub fn from_error(error: &ApiError) -> RestResponse {
        let mut headers = vec![(
            "content-type".to_string(),
            "application/json; charset=utf-8".to_string(),
        )];
        headers.extend(error.headers.iter().cloned());
        RestResponse {
            status: error.status,
            headers,
            body: Bytes::from(error.body().to_string()),
        }
    }
}

/// Handles one request addressed to `/rest/v1{path}`: parse → plan → statement → execute →
/// respond; any failure is PostgREST's error response. A GET identical to a recent one (same
/// path, query string and planning headers, against the same schema cache) skips the first
/// three stages: their result is taken from [`ReadCache`].
pub async fn handle(
    state: &RestState,
    identity: &Identity,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: Bytes,
) -> RestResponse {
    let response = async {
        let (query, flavor) = openapi::take_flavor(path, query);
        let key = ReadCache::key(method, path, query.as_deref(), headers, &body);
        if let Some(key) = &key {
            let current = state.catalog.current();
            if let Some(planned) = state.config.reads.get(key, &current) {
                return run_planned(state, identity, &current, headers, &planned).await;
            }
        }
        let request = parse(state, method, path, query.as_deref(), headers).await?;
        let cache = schema_cache(state)?;
        let ctx = PlanContext {
            cache: &cache,
            schema: &request.schema,
            max_rows: state.max_rows,
        };
        let mut response = match &request.action {
            action if action.is_info() => respond::options(&ctx, &request)?,
            Action::SchemaRead { headers_only } => {
                openapi_document(identity, &cache, &request, *headers_only, flavor)
            }
            _ => {
                let prepared = prepare::prepare(&ctx, &request, body, state.config.safe_update)?;
                let planned = Arc::new(Planned::new(&cache, request, prepared));
                if let Some(key) = key {
                    state.config.reads.insert(key, planned.clone());
                }
                return run_planned(state, identity, &cache, headers, &planned).await;
            }
        };
        if request.negotiated_by_profile {
            let profile = ("content-profile".into(), request.schema.clone());
            response.headers.push(profile);
        }
        Ok::<_, ApiError>(response)
    }
    .await;
    response.unwrap_or_else(|error| RestResponse::from_error(&error))
}

/// A request through stages 1–3: the parsed request (without its headers and cookies, which
/// the transaction takes from the HTTP request itself), the statement and how its result
/// becomes a response.
pub(crate) struct Planned {
    /// The schema cache it was planned against (weak: a cached plan does not keep an old
    /// schema cache in memory; while this lives, no other one can have its address).
    cache: Weak<SchemaCache>,
    request: ApiRequest,
    statement: Statement,
    read_only: bool,
    response: prepare::ResponsePlan,
}

impl Planned {
    fn new(cache: &Arc<SchemaCache>, mut request: ApiRequest, prepared: prepare::Prepared) -> Self {
        request.headers = Vec::new();
        request.cookies = Vec::new();
        Planned {
            cache: Arc::downgrade(cache),
            request,
            statement: statement::build(prepared.action),
            read_only: prepared.read_only,
            response: prepared.response,
        }
    }
}

/// Stages 4 and 5 of a request planned against `cache`.
async fn run_planned(
    state: &RestState,
    identity: &Identity,
    cache: &SchemaCache,
    headers: &HeaderMap,
    planned: &Planned,
) -> Result<RestResponse, ApiError> {
    let request = &planned.request;
    let run = Run::new(&planned.statement, planned.read_only, planned.response.kind);
    let executed = execute(state, identity, cache, request, headers, run).await?;
    let mut response = respond::respond(request, &planned.response, executed)?;
    if request.negotiated_by_profile {
        let profile = ("content-profile".into(), request.schema.clone());
        response.headers.push(profile);
    }
    Ok(response)
}

/// Most GETs kept by a [`ReadCache`] (it is emptied when full).
const READ_CACHE_ENTRIES: usize = 512;
/// Longest key (path, query string and planning headers) a [`ReadCache`] keeps.
const READ_CACHE_MAX_KEY: usize = 2 * 1024;
/// The request headers that parsing and planning read (besides the cookies and the headers
/// as a whole, which only the transaction's `request.cookies`/`request.headers` see).
const PLANNING_HEADERS: [&str; 5] = [
    "accept",
    "accept-profile",
    "content-type",
    "prefer",
    "range",
];

/// The plans of recent GETs, by everything that decides them: the path, the query string and
/// the headers parsing and planning read (Accept, Accept-Profile, Content-Type, Prefer,
/// Range), for one [`RequestConfig`] (a clone starts empty) and one schema cache (an entry
/// planned against another one is planned again). The values of filters are bind parameters
/// of the cached statement, so an entry serves only the identical request; the role, the
/// claims and the request's headers and cookies are applied per request by the executor, as
/// without the cache. Parse or plan errors are not kept.
#[derive(Default)]
pub struct ReadCache {
    entries: Mutex<HashMap<Vec<u8>, Arc<Planned>>>,
}

impl Clone for ReadCache {
    fn clone(&self) -> Self {
        ReadCache::default()
    }
}

impl std::fmt::Debug for ReadCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let len = self.entries.lock().map_or(0, |entries| entries.len());
        f.debug_struct("ReadCache").field("entries", &len).finish()
    }
}

impl ReadCache {
    /// The key of a cacheable request: a GET without a body or a `Prefer: timezone=` (checked
    /// against the database's zones when first met), with a short enough key.
    fn key(
        method: &Method,
        path: &str,
        query: Option<&str>,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> Option<Vec<u8>> {
        if method != Method::GET || !body.is_empty() || asks_for_timezone(headers) {
            return None;
        }
        let mut key = Vec::with_capacity(64 + path.len() + query.map_or(0, str::len));
        key.extend_from_slice(path.as_bytes());
        key.push(0);
        if let Some(query) = query {
            key.push(b'?');
            key.extend_from_slice(query.as_bytes());
        }
        for name in PLANNING_HEADERS {
            key.push(0);
            for value in headers.get_all(name) {
                // a header value holds no NUL or line break
                key.push(b'\n');
                key.extend_from_slice(value.as_bytes());
            }
        }
        (key.len() <= READ_CACHE_MAX_KEY).then_some(key)
    }

    fn get(&self, key: &[u8], cache: &Arc<SchemaCache>) -> Option<Arc<Planned>> {
        let entries = self.entries.lock().ok()?;
        let planned = entries.get(key)?;
        std::ptr::eq(planned.cache.as_ptr(), Arc::as_ptr(cache)).then(|| planned.clone())
    }

    fn insert(&self, key: Vec<u8>, planned: Arc<Planned>) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= READ_CACHE_ENTRIES {
                entries.clear();
            }
            entries.insert(key, planned);
        }
    }
}

/// The statement a request runs, built without any I/O (parse → plan → SQL): what the golden
/// tests pin and what tools show an agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedStatement {
    pub sql: String,
    pub params: Vec<Option<String>>,
    /// Runs in a read-only transaction.
    pub read_only: bool,
}

/// Parses and plans a request against `cache` and renders its main statement, as [`handle`]
/// would before executing it. Info (`OPTIONS`) and OpenAPI requests run no statement and are
/// refused here.
#[allow(clippy::too_many_arguments)]
pub fn plan_statement(
    config: &RequestConfig,
    cache: &SchemaCache,
    max_rows: Option<u64>,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<PlannedStatement, ApiError> {
    let request = parse_request(config, method, path, query, headers)?;
    let ctx = PlanContext {
        cache,
        schema: &request.schema,
        max_rows,
    };
    let prepared = prepare::prepare(&ctx, &request, body, config.safe_update)?;
    let (sql, params) = statement::build(prepared.action).main.render();
    Ok(PlannedStatement {
        sql,
        params: params.into_iter().map(|p| p.0).collect(),
        read_only: prepared.read_only,
    })
}

/// Stage 1: the request line and headers parsed into a typed request. `Prefer: timezone=` is
/// checked against the database's zones (an unknown one is ignored, or PGRST122 with
/// handling=strict), never handed to Postgres unchecked.
async fn parse(
    state: &RestState,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Result<ApiRequest, ApiError> {
    if state.config.timezones.is_none() && asks_for_timezone(headers) {
        let mut config = state.config.clone();
        config.timezones = Some(timezones(state).await?);
        parse_request(&config, method, path, query, headers)
    } else {
        parse_request(&state.config, method, path, query, headers)
    }
}

/// The OpenAPI document of the request's schema, as `role` sees it (no statement runs).
fn openapi_document(
    identity: &Identity,
    cache: &SchemaCache,
    request: &ApiRequest,
    headers_only: bool,
    flavor: openapi::Flavor,
) -> RestResponse {
    openapi::response(
        cache,
        &request.schema,
        &identity.role,
        headers_only,
        flavor,
        &openapi::Location::from_headers(&request.headers),
    )
}

/// The current schema cache; PGRST002 (503) until the first one has loaded.
fn schema_cache(state: &RestState) -> Result<Arc<SchemaCache>, ApiError> {
    let cache = state.catalog.current();
    if state.catalog.version() <= 1 {
        return Err(ApiError::new(
            "PGRST002",
            StatusCode::SERVICE_UNAVAILABLE,
            "Could not query the database for the schema cache. Retrying.",
        )
        .with_header("Retry-After", "1"));
    }
    Ok(cache)
}

/// What stage 4 runs: the statement, its transaction mode and the kind of request (for the
/// checks).
struct Run<'a> {
    statement: &'a Statement,
    read_only: bool,
    kind: Kind,
}

impl<'a> Run<'a> {
    fn new(statement: &'a Statement, read_only: bool, kind: Kind) -> Run<'a> {
        Run {
            statement,
            read_only,
            kind,
        }
    }
}

/// What stage 4 returns.
pub(crate) enum Executed {
    /// A plan request's `EXPLAIN` output lines.
    Explained(PlanFormat, Vec<String>),
    /// The main statement's result.
    Rows(execute::Output),
}

/// Stage 4: runs the statement (or its `EXPLAIN`, for a plan request) in the request's
/// transaction, checking a singular response's one row and `max-affected` before it commits.
async fn execute(
    state: &RestState,
    identity: &Identity,
    cache: &SchemaCache,
    request: &ApiRequest,
    headers: &HeaderMap,
    run: Run<'_>,
) -> Result<Executed, ApiError> {
    let settings = request_settings(state, identity, cache, request, headers);
    let end = match request.preferences.transaction {
        Some(PreferTx::Rollback) => TxEnd::Rollback,
        Some(PreferTx::Commit) => TxEnd::Commit,
        None => state.config.tx_end,
    };
    let singular = request.media_type.is_singular();
    let max_affected = (request.preferences.handling == Some(PreferHandling::Strict))
        .then(|| request.preferences.effective_max_affected())
        .flatten();
    // Read-only GET/HEAD may run on a read replica (pgbase-db's replica routing).
    let reads = run.read_only && matches!(request.method, Method::GET | Method::HEAD);
    let route = pgbase_db::Route::for_request(reads, &settings.context);
    let mut client = state
        .pool
        .get_routed(route)
        .await
        .map_err(|e| connection_error(e.to_string()))?;
    if let MediaType::Plan {
        format, options, ..
    } = &request.media_type
    {
        let explain = statement::explain(&run.statement.main, *format, options);
        let lines = execute::explain(&mut client, &settings, &explain, run.read_only).await?;
        return Ok(Executed::Explained(*format, lines));
    }
    let is_write = !matches!(run.kind, Kind::Read { .. });
    let check = |out: &execute::Output| {
        let rows = u64::try_from(out.page_total).unwrap_or(0);
        if singular && rows != 1 && !matches!(run.kind, Kind::Call { void: true, .. }) {
            return Err(ApiError::singularity(rows));
        }
        if is_write
            && let Some(limit) = max_affected
            && out.page_total > limit
        {
            return Err(ApiError::max_affected_violation(rows));
        }
        Ok(())
    };
    let (sql, params) = (&run.statement.sql, &run.statement.params);
    let count_plan = run.statement.count_plan.as_ref();
    let mut output = execute::run(
        &mut client,
        &settings,
        sql,
        params,
        count_plan,
        run.read_only,
        end,
        &check,
    )
    .await;
    let lost = |e: &ApiError| {
        let code = e.code();
        e.status() == StatusCode::SERVICE_UNAVAILABLE
            || code.starts_with("08")
            || matches!(code, "57P01" | "57P02" | "57P03")
    };
    if client.is_replica()
        && output
            .as_ref()
            .is_err_and(|e| lost(e) || client.is_closed())
    {
        // The replica went away mid-read: reads are safe to run again, on the primary.
        drop(client);
        let mut primary = state
            .pool
            .get_read_fallback()
            .await
            .map_err(|e| connection_error(e.to_string()))?;
        output = execute::run(
            &mut primary,
            &settings,
            sql,
            params,
            count_plan,
            run.read_only,
            end,
            &check,
        )
        .await;
    }
    Ok(Executed::Rows(output?))
}

/// The request context the transaction starts with: role, claims, request GUCs (the
/// headers and cookies from the HTTP request's `headers`), the `search_path` and the role's
/// session settings.
fn request_settings(
    state: &RestState,
    identity: &Identity,
    cache: &SchemaCache,
    request: &ApiRequest,
    headers: &HeaderMap,
) -> RequestSettings {
    let (headers, cookies) = pgbase_db::headers_and_cookies(headers);
    RequestSettings {
        context: pgbase_db::RequestContext {
            search_path: search_path(&request.schema, &state.config.extra_search_path),
            role: identity.role.clone(),
            claims: identity.claims.to_string(),
            method: request.method.to_string(),
            path: request.path.clone(),
            headers,
            cookies,
            timezone: request.preferences.timezone.clone(),
            pre_request: state.config.pre_request.clone(),
            ..Default::default()
        }
        .with_settings(cache.session_settings(&identity.role, &state.session_defaults)),
        anonymous: identity.anonymous,
    }
}

fn asks_for_timezone(headers: &HeaderMap) -> bool {
    headers.get_all("prefer").iter().any(|v| {
        v.as_bytes()
            .windows(9)
            .any(|w| w.eq_ignore_ascii_case(b"timezone="))
    })
}

/// PostgREST's 503 `PGRST000` for a connection that could not be had, with a retry hint.
fn connection_error(detail: String) -> ApiError {
    ApiError::new(
        "PGRST000",
        StatusCode::SERVICE_UNAVAILABLE,
        "Database connection error. Retrying the connection.",
    )
    .with_details(detail)
    .with_header("Retry-After", "1")
}

/// The time zone names the database knows (`pg_timezone_names`), read once per process.
async fn timezones(state: &RestState) -> Result<Arc<HashSet<String>>, ApiError> {
    static TIMEZONES: tokio::sync::OnceCell<Arc<HashSet<String>>> =
        tokio::sync::OnceCell::const_new();
    TIMEZONES
        .get_or_try_init(|| async {
            let client = state
                .pool
                .get()
                .await
                .map_err(|e| connection_error(e.to_string()))?;
            let rows = client
                .query("select name from pg_timezone_names", &[])
                .await
                .map_err(|e| connection_error(e.to_string()))?;
            client.mark_idle();
            Ok(Arc::new(
                rows.iter()
                    .filter_map(|r| r.try_get::<_, String>(0).ok())
                    .collect(),
            ))
        })
        .await
        .cloned()
}

/// The request's `search_path`: its schema, then `db-extra-search-path` (without repeats).
fn search_path(schema: &str, extra: &[String]) -> String {
    let mut schemas = vec![schema];
    for s in extra {
        if !schemas.contains(&s.as_str()) {
            schemas.push(s);
        }
    }
    schemas
        .iter()
        .map(|s| pgbase_sql::quote_ident(s))
        .collect::<Vec<_>>()
        .join(", ")
}
