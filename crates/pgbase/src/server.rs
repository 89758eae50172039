//! The HTTP server: `app(state)` builds the axum router (REST under `/rest/v1`, GraphQL, auth,
//! `/health`, `/metrics`, and the MCP server at `/mcp` for the service_role key), with request
//! logging and metrics as one middleware; `serve` binds, runs until a
//! shutdown signal, then drains in-flight requests (`runtime::serve_until_signal` bounds that
//! drain by `shutdown_timeout` and stops the workers beside it).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use serde_json::json;

use crate::config::{Config, OpsAccess};
use crate::metrics::Metrics;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub pool: pgbase_db::Pool,
    pub catalog: Arc<pgbase_catalog::CatalogHandle>,
    pub metrics: Arc<Metrics>,
    pub rest: Arc<pgbase_rest::handler::RestState>,
    pub authenticator: Arc<pgbase_auth::Authenticator>,
    pub auth: pgbase_auth::AuthState,
    pub graphql: Arc<pgbase_graphql::GraphqlState>,
}

/// Request bodies above this size are refused with 413.
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

pub fn app(state: AppState) -> Router {
    app_for_project(state, None)
}

/// [`app`] for `pgbase dev`: `/mcp` knows the project folder, so an agent can also create and
/// apply migrations through it.
pub fn app_for_project(state: AppState, project_dir: Option<std::path::PathBuf>) -> Router {
    let request_log = Arc::new(pgbase_mcp::RequestLog::default());
    let api = api_router(state.clone(), request_log.clone());
    let mcp = mcp_router(&state, api.clone(), request_log, project_dir);
    let mcp = match mcp {
        Ok(mcp) => mcp,
        Err(error) => {
            tracing::warn!(%error, "/mcp is off");
            Router::new()
        }
    };
    mcp.fallback_service(api)
}

/// Every API route (all but `/mcp`), with CORS; `api_request` of the MCP calls this in-process.
fn api_router(state: AppState, request_log: Arc<pgbase_mcp::RequestLog>) -> Router {
    // The request log and the metrics are one middleware (one layer less per request).
    let observer = Observer {
        metrics: state.metrics.clone(),
        request_log,
    };
    let inner = Router::new()
        .route("/rest/v1", any(rest))
        .route("/rest/v1/", any(rest))
        .route("/rest/v1/{*path}", any(rest))
        .route("/graphql/v1", get(graphql).post(graphql))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .with_state(state.clone())
        .nest("/auth/v1", pgbase_auth::router(state.auth.clone()))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(observer, observe));
    // CORS wraps the whole router (routing answers included), errors too; a plain OPTIONS (no
    // Access-Control-Request-Method) is no preflight and reaches the API, which answers with
    // PostgREST's `Allow` header. `None`: any origin (PostgREST's default; no setting for
    // `server-cors-allowed-origins` yet).
    let allowed_origins: Option<Arc<[String]>> = None;
    let with_cors = tower::ServiceBuilder::new()
        .layer(middleware::from_fn(move |request: Request, next: Next| {
            let origins = allowed_origins.clone();
            async move { cors(origins.as_deref(), request, |request| next.run(request)).await }
        }))
        .service(inner);
    Router::new().fallback_service(with_cors)
}

/// What the API middleware ([`observe`]) needs.
#[derive(Clone)]
struct Observer {
    metrics: Arc<Metrics>,
    request_log: Arc<pgbase_mcp::RequestLog>,
}

/// A path no API serves (e.g. supabase-js' `storage` or `functions`): 404 naming what is
/// served. The body is read first (up to the body limit; bigger ones are cut off there) so a
/// client still uploading gets this answer rather than a connection reset mid-write.
async fn not_found(request: Request) -> Response {
    let path = request.uri().path().to_string();
    let _ = axum::body::to_bytes(request.into_body(), MAX_BODY_BYTES).await;
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({
            "message": format!("pgbase serves no route for {path}"),
            "hint": "pgbase serves /rest/v1, /graphql/v1, /auth/v1, /health and /metrics \
                     (Supabase Storage, Edge Functions and Realtime are not part of it)",
        })),
    )
        .into_response()
}

/// `/mcp`: the MCP server over streamable HTTP, for the service_role key only (401 otherwise).
/// It runs against the server's database and calls `api` in-process. Migrations are allowed
/// only when the server knows its project folder (`pgbase dev`); `serve` refuses them (use
/// `pgbase mcp --dir` there).
fn mcp_router(
    state: &AppState,
    api: Router,
    request_log: Arc<pgbase_mcp::RequestLog>,
    project_dir: Option<std::path::PathBuf>,
) -> Result<Router, crate::db::DbError> {
    use rmcp::transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
    };
    let db = crate::db::parse_url(&state.config.db_url)?;
    let options = pgbase_mcp::Options {
        schemas: state.config.db_schemas.clone(),
        allow_migrations: project_dir.is_some(),
        project_dir,
        ..pgbase_mcp::Options::default()
    };
    let backend = pgbase_mcp::Backend::new(db, options)
        .with_api(pgbase_mcp::ApiTarget {
            router: api,
            jwt_secret: state.config.jwt_secret.clone(),
        })
        .with_request_log(request_log);
    // The service_role key guards /mcp; the Host check is for unauthenticated local servers.
    let config = StreamableHttpServerConfig::default().disable_allowed_hosts();
    let service = StreamableHttpService::new(
        move || Ok(pgbase_mcp::PgbaseMcp::new(backend.clone())),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    Ok(Router::new()
        .nest_service("/mcp", service)
        .route_layer(middleware::from_fn_with_state(state.clone(), mcp_guard)))
}

/// Lets a request through to `/mcp` only with the service_role key (`Authorization: Bearer` or
/// `apikey`).
async fn mcp_guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match state.authenticator.authenticate(request.headers()).await {
        Ok(context) if context.role == "service_role" => next.run(request).await,
        _ => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer realm=\"pgbase mcp\"")],
            axum::Json(json!({
                "message": "/mcp needs the service_role key (Authorization: Bearer <key> or apikey: <key>)",
            })),
        )
            .into_response(),
    }
}

/// Methods a preflight is answered for: PostgREST's list, then the CORS simple methods.
const CORS_METHODS: &str = "GET, POST, PATCH, PUT, DELETE, OPTIONS, HEAD";
/// Response headers a browser script may read (Content-Range carries the count).
const CORS_EXPOSED: &str = "Content-Encoding, Content-Location, Content-Range, Content-Type, \
Date, Location, Server, Transfer-Encoding, Range-Unit";
/// Request headers always allowed besides `Authorization` and the requested ones (the CORS
/// simple headers but Content-Type).
const CORS_SIMPLE_HEADERS: [&str; 3] = ["Accept", "Accept-Language", "Content-Language"];

/// CORS as PostgREST 12 answers it, for every API (REST, GraphQL, auth):
/// - no `Origin` (or a websocket upgrade): the request passes untouched;
/// - with `allowed_origins` set and the `Origin` not in it: untouched (no CORS headers);
/// - a preflight (`OPTIONS` with `Access-Control-Request-Method` naming an allowed method and
///   a well-formed `Access-Control-Request-Headers`): 200, empty body, `Access-Control-Allow-Origin:
///   *` (or the origin plus `Access-Control-Allow-Credentials: true` when the origin list is
///   configured), the methods, `Authorization` + the requested headers + the simple ones, a day of
///   max-age. Any other `OPTIONS` reaches the API (REST answers with `Allow`);
/// - any other request: the API's response plus the allow-origin and expose headers.
async fn cors<F: Future<Output = Response>>(
    allowed_origins: Option<&[String]>,
    request: Request,
    next: impl FnOnce(Request) -> F,
) -> Response {
    use axum::http::{HeaderValue, Method};
    let headers = request.headers();
    let websocket = headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let Some(origin) = headers.get(header::ORIGIN).cloned() else {
        return next(request).await;
    };
    if websocket {
        return next(request).await;
    }
    let origin_headers: Vec<(header::HeaderName, HeaderValue)> = match allowed_origins {
        None => vec![(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        )],
        Some(list) if list.iter().any(|o| o.as_bytes() == origin.as_bytes()) => vec![
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone()),
            (
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            ),
        ],
        Some(_) => return next(request).await,
    };
    if request.method() == Method::OPTIONS {
        let Some(preflight) = preflight_headers(headers) else {
            return next(request).await;
        };
        let mut response = Response::new(axum::body::Body::empty());
        let out = response.headers_mut();
        for (name, value) in origin_headers.into_iter().chain(preflight) {
            out.append(name, value);
        }
        return response;
    }
    let mut response = next(request).await;
    let out = response.headers_mut();
    for (name, value) in origin_headers {
        out.insert(name, value);
    }
    out.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(CORS_EXPOSED),
    );
    response
}

/// The preflight-only headers, or `None` when the `OPTIONS` is no acceptable preflight (no or an
/// unsupported requested method, a malformed requested-headers list).
fn preflight_headers(
    headers: &axum::http::HeaderMap,
) -> Option<Vec<(header::HeaderName, axum::http::HeaderValue)>> {
    use axum::http::HeaderValue;
    let method = headers.get(header::ACCESS_CONTROL_REQUEST_METHOD)?;
    if !CORS_METHODS
        .split(", ")
        .any(|m| m.as_bytes() == method.as_bytes())
    {
        return None;
    }
    let mut out = vec![(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(CORS_METHODS),
    )];
    if let Some(requested) = headers.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
        let requested = requested.to_str().ok()?.trim();
        let mut names: Vec<&str> = vec!["Authorization"];
        if !requested.is_empty() {
            for name in requested.split(',') {
                let name = name.trim();
                if name.is_empty() || !name.bytes().all(is_header_name_byte) {
                    return None;
                }
                names.push(name);
            }
        }
        for simple in CORS_SIMPLE_HEADERS {
            if !names.iter().any(|n| n.eq_ignore_ascii_case(simple)) {
                names.push(simple);
            }
        }
        out.push((
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_str(&names.join(", ")).ok()?,
        ));
    }
    out.push((
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    ));
    Some(out)
}

/// A byte allowed in an HTTP header name (visible ASCII but separators).
fn is_header_name_byte(b: u8) -> bool {
    (33..=126).contains(&b) && !b"()<>@,;:\\\"/[]?={}".contains(&b)
}

/// Everything under `/rest/v1`: the PostgREST-compatible API.
async fn rest(State(state): State<AppState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts
        .uri
        .path()
        .strip_prefix("/rest/v1")
        .unwrap_or("/")
        .to_string();
    let path = if path.is_empty() {
        "/".to_string()
    } else {
        path
    };
    let body = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => bytes,
        Err(_) => {
            let error = pgbase_rest::error::ApiError::new(
                "PGRST102",
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("Request body exceeds the limit of {MAX_BODY_BYTES} bytes"),
            )
            .with_hint("Send fewer rows per request");
            return to_response(pgbase_rest::handler::RestResponse::from_error(&error));
        }
    };
    let identity = match state.authenticator.authenticate(&parts.headers).await {
        // PostgREST answers a permission error with 401 whenever the request runs as the anon
        // role, token or not (supabase-js always sends the anon key as a bearer token).
        Ok(context) => pgbase_rest::handler::Identity {
            anonymous: context.anonymous || context.role == state.config.db_anon_role,
            role: context.role,
            claims: context.claims,
        },
        Err(error) => return auth_error(&error),
    };
    let response = pgbase_rest::handler::handle(
        &state.rest,
        &identity,
        &parts.method,
        &path,
        parts.uri.query(),
        &parts.headers,
        body,
    )
    .await;
    to_response(response)
}

/// `/graphql/v1`: the pg_graphql-compatible API, as the request's role.
async fn graphql(State(state): State<AppState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => bytes,
        Err(_) => {
            let error = serde_json::json!({"data": null, "errors": [{"message": format!(
                "Request body exceeds the limit of {MAX_BODY_BYTES} bytes")}]});
            return (StatusCode::PAYLOAD_TOO_LARGE, axum::Json(error)).into_response();
        }
    };
    let context = match state.authenticator.authenticate(&parts.headers).await {
        Ok(context) => context,
        Err(error) => return auth_error(&error),
    };
    let (status, headers, body) = pgbase_graphql::handle(
        &state.graphql,
        &context.role,
        &context.claims,
        &parts.method,
        parts.uri.query(),
        &parts.headers,
        body,
    )
    .await;
    to_response(pgbase_rest::handler::RestResponse {
        status,
        headers,
        body,
    })
}

/// A rejected token: PostgREST's 401 body and `WWW-Authenticate` header.
fn auth_error(error: &pgbase_auth::AuthError) -> Response {
    let mut headers = vec![(
        "content-type".to_string(),
        "application/json; charset=utf-8".to_string(),
    )];
    if let Some(value) = error.www_authenticate() {
        headers.push(("www-authenticate".to_string(), value));
    }
    to_response(pgbase_rest::handler::RestResponse {
        status: error.status(),
        headers,
        body: error.body().to_string().into(),
    })
}

fn to_response(rest: pgbase_rest::handler::RestResponse) -> Response {
    let mut response = Response::new(axum::body::Body::from(rest.body));
    *response.status_mut() = rest.status;
    let headers = response.headers_mut();
    for (name, value) in rest.headers {
        if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::try_from(name),
            axum::http::HeaderValue::try_from(value),
        ) {
            headers.append(name, value);
        }
    }
    response
}

/// Whether the request may read `/metrics` and the details of `/health`: always in dev; in
/// serve only with `Authorization: Bearer <metrics_token>` (compared in constant time).
fn ops_allowed(config: &Config, headers: &axum::http::HeaderMap) -> bool {
    match &config.ops_access {
        OpsAccess::Open => true,
        OpsAccess::Closed => false,
        OpsAccess::Token(token) => headers
            .get_all(header::AUTHORIZATION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| {
                let (scheme, credentials) = v.trim().split_once(' ')?;
                scheme
                    .eq_ignore_ascii_case("bearer")
                    .then(|| credentials.trim())
            })
            .any(|given| constant_time_eq(given.as_bytes(), token.as_bytes())),
    }
}

/// Compares without stopping at the first difference (only the length shows in the timing).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// 200 when the database answers, 503 otherwise. Everyone gets `{"status": "ok"|"unavailable"}`;
/// the details (schema version, schema cache, the database error) only where [`ops_allowed`].
async fn health(State(state): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    let response = health_details(&state).await;
    if ops_allowed(&state.config, &headers) {
        return response;
    }
    let (status, body) = if response.status() == StatusCode::OK {
        (StatusCode::OK, json!({"status": "ok"}))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"status": "unavailable"}),
        )
    };
    (status, axum::Json(body)).into_response()
}

/// 200 with the schema version when the database answers, 503 otherwise. When every pooled
/// connection is busy the probe does not queue behind the requests (it would answer only after
/// the pool's wait timeout): it says 503 "busy" at once.
async fn health_details(state: &AppState) -> Response {
    let replicas = replica_details(&state.pool);
    let pool = state.pool.status();
    // Only a full pool counts: below max_size a waiting request is just a connection being
    // opened (as at start-up), and the probe below opens its own.
    if pool.available == 0 && pool.size >= pool.max_size {
        let cache = state.catalog.current();
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(with_replicas(
                json!({
                    "status": "unavailable",
                    "database": "busy",
                    "error": format!(
                        "all {} pooled connections are busy ({} requests waiting)",
                        pool.max_size, pool.waiting
                    ),
                    "schema_cache": {
                        "loaded": state.catalog.version() > 1,
                        "version": state.catalog.version(),
                        "tables": cache.table_count(),
                        "functions": cache.function_count(),
                    },
                }),
                replicas,
            )),
        )
            .into_response();
    }
    let probe = async {
        // Never queue long behind requests for a connection (they may hold all of them).
        let client = tokio::time::timeout(Duration::from_secs(1), state.pool.get())
            .await
            .map_err(|_| "no pooled connection free within 1 s (all busy)".to_string())?
            .map_err(|e| e.to_string())?;
        let version = match client
            .query_one(
                "select coalesce((select version from pgbase.schema_version), 0)",
                &[],
            )
            .await
        {
            Ok(row) => row.get(0),
            // A login without USAGE on schema `pgbase` (`authenticator` serving the API alone):
            // the database answered, which is what this probe asks.
            Err(e)
                if e.code() == Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE) =>
            {
                0
            }
            Err(e) => return Err(e.to_string()),
        };
        client.mark_idle();
        Ok::<i64, String>(version)
    };
    let cache = state.catalog.current();
    let schema_cache = json!({
        "loaded": state.catalog.version() > 1,
        "version": state.catalog.version(),
        "tables": cache.table_count(),
        "functions": cache.function_count(),
    });
    match tokio::time::timeout(Duration::from_secs(3), probe).await {
        Ok(Ok(version)) => (
            StatusCode::OK,
            axum::Json(with_replicas(
                json!({
                    "status": "ok",
                    "database": "reachable",
                    "schema_version": version,
                    "schema_cache": schema_cache,
                }),
                replicas,
            )),
        )
            .into_response(),
        Ok(Err(error)) => unavailable(&error, schema_cache, replicas),
        Err(_) => unavailable("no answer within 3 s", schema_cache, replicas),
    }
}

fn unavailable(
    error: &str,
    schema_cache: serde_json::Value,
    replicas: Option<serde_json::Value>,
) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        axum::Json(with_replicas(
            json!({
                "status": "unavailable",
                "database": "unreachable",
                "error": error,
                "schema_cache": schema_cache,
            }),
            replicas,
        )),
    )
        .into_response()
}

/// The read replicas' state for the `/health` details, when any are configured: each one's
/// `host:port/database` (never the password), whether it is in rotation, its last measured
/// lag, why it is out, the reads it served, and the reads that fell back to the primary.
fn replica_details(pool: &pgbase_db::Pool) -> Option<serde_json::Value> {
    let set = pool.replicas()?;
    let members: Vec<_> = set
        .status()
        .into_iter()
        .map(|r| {
            json!({
                "replica": r.target,
                "healthy": r.healthy,
                "lag_seconds": r.lag.map(|lag| (lag.as_secs_f64() * 1000.0).round() / 1000.0),
                "problem": r.problem,
                "reads": r.reads,
            })
        })
        .collect();
    Some(json!({
        "max_lag_seconds": set.max_lag().as_secs_f64(),
        "fallbacks_to_primary": set.fallbacks(),
        "members": members,
    }))
}

fn with_replicas(
    mut body: serde_json::Value,
    replicas: Option<serde_json::Value>,
) -> serde_json::Value {
    if let (Some(object), Some(replicas)) = (body.as_object_mut(), replicas) {
        object.insert("replicas".into(), replicas);
    }
    body
}

/// Prometheus text where [`ops_allowed`]; 401 with a missing or wrong token, 404 with a hint in
/// serve when no `metrics_token` is configured.
async fn metrics(State(state): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    if !ops_allowed(&state.config, &headers) {
        return match state.config.ops_access {
            OpsAccess::Token(_) => (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer realm=\"pgbase metrics\"")],
                axum::Json(json!({
                    "message": "/metrics needs Authorization: Bearer <metrics_token>",
                })),
            )
                .into_response(),
            _ => (
                StatusCode::NOT_FOUND,
                axum::Json(json!({
                    "message": "/metrics is off in serve",
                    "hint": "set metrics_token (--metrics-token, PGBASE_METRICS_TOKEN) and send \
                             Authorization: Bearer <token>",
                })),
            )
                .into_response(),
        };
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(&state.pool),
    )
        .into_response()
}

/// Logs one line per request, records its metrics, and keeps the last failed requests
/// (method, path, status) for the MCP `logs` tool. Only the path is logged or kept: query
/// strings and headers may carry tokens.
async fn observe(State(observer): State<Observer>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let uri = request.uri().clone();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    observer
        .metrics
        .observe(route, method.as_str(), status, elapsed);
    let ms = elapsed.as_secs_f64() * 1000.0;
    let path = uri.path();
    tracing::info!(target: "pgbase::http", %method, path, status, ms, "request");
    observer
        .request_log
        .record(method.as_str(), path, status, ms);
    response
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}: {source}\nhint: {hint}")]
    Bind {
        addr: String,
        source: std::io::Error,
        hint: String,
    },
    #[error("server error: {0}")]
    Serve(std::io::Error),
    #[error(
        "shutdown_timeout ({0:?}) elapsed before in-flight requests and background work finished; exiting anyway"
    )]
    ShutdownTimeout(Duration),
}

/// Binds `listen:port` (failing fast when the port is taken).
pub async fn bind(config: &Config) -> Result<tokio::net::TcpListener, ServeError> {
    let addr = format!("{}:{}", config.listen, config.port);
    tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|source| {
            let hint = if source.kind() == std::io::ErrorKind::AddrInUse {
                format!(
                    "port {} is already in use: stop the other process or pass --port N",
                    config.port
                )
            } else {
                "check --listen and --port".to_string()
            };
            ServeError::Bind { addr, source, hint }
        })
}

/// Serves until `shutdown` resolves, then lets in-flight requests finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
    .map_err(ServeError::Serve)
}
