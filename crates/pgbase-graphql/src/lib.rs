//! pgbase's GraphQL API, compatible with pg_graphql 1.5, served at `/graphql/v1`.
//!
//! The schema is reflected per role from the schema cache ([`reflect`]) and cached per
//! (role, catalog version). A request is parsed and validated, each top-level field is
//! planned onto the plan tree shared with REST ([`planner`], `pgbase_sql::plan`) and emitted
//! as one SQL statement whose JSON Postgres builds (`pgbase_sql::emit_graph`), and all of them
//! run in one transaction as the caller's role ([`mod@execute`]). A plan is kept for the next
//! identical request (same role, document, operation and variables) while the reflected schema
//! it was made against is current. The HTTP layer here is
//! framework-free: [`handle`] takes the method, query string, headers and body and returns
//! status, headers and body.
//!
//! ```ignore
//! let state = GraphqlState::new(pool, catalog, vec!["public".into()], true);
//! let (status, headers, body) =
//!     pgbase_graphql::handle(&state, "anon", &claims, &method, query, &headers, body).await;
//! ```

mod base64;
pub mod engine;
pub mod error;
pub mod execute;
pub mod input;
pub mod introspection;
pub mod naming;
pub mod planner;
pub mod reflect;
pub mod select;
pub mod types;
pub mod validate;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode, header};
use pgbase_catalog::CatalogHandle;
use pgbase_sql::quote_ident;
use serde_json::Value;
use serde_json::value::RawValue;

pub use engine::{Plan, Planned, Request};
pub use error::GraphqlError;
pub use types::Reflected;

/// Shared state of the GraphQL endpoint.
pub struct GraphqlState {
    pub pool: pgbase_db::Pool,
    pub catalog: Arc<CatalogHandle>,
    /// Exposed schemas (the search path of requests).
    pub schemas: Vec<String>,
    /// Serve `__schema` / `__type` (a schema's `introspection: true` directive also does).
    pub introspection: bool,
    /// Offer the upsert extension (`onConflict` on inserts; `graphql_upsert`). Off: the
    /// schema is exactly pg_graphql's.
    pub upsert: bool,
    /// Refuse `update…Collection` / `deleteFrom…Collection` mutations without a filter (or
    /// with an empty one), as the REST side refuses an unfiltered PATCH/DELETE
    /// (`db_safe_update`). `true` unless the server turns it off.
    pub safe_update: bool,
    /// Session settings every request starts with (the server's `statement_timeout`), before
    /// the role's own `ALTER ROLE … SET` values.
    pub session_defaults: Vec<(String, String)>,
    /// The pre-request call every request makes after its prelude (`db_pre_request`, as
    /// PostgREST calls it before `graphql.resolve` on Supabase).
    pub pre_request: Option<String>,
    reflected: Mutex<HashMap<String, (u64, Arc<Reflected>)>>,
    plans: Mutex<HashMap<PlanKey, PlanEntry>>,
}

/// A cached plan and the reflected schema it was planned against (weak: a cached plan does not
/// keep an old schema in memory; while it lives, no other schema can have its address).
type PlanEntry = (Weak<Reflected>, Arc<CachedPlan>);

/// Most plans kept in [`GraphqlState`]'s plan cache (it is emptied when full).
const PLAN_CACHE_ENTRIES: usize = 512;
/// Longest request (query text plus variables) whose plan is cached.
const PLAN_CACHE_MAX_TEXT: usize = 8 * 1024;

/// What a plan depends on besides the reflected schema (which is per role and catalog
/// version, and compared by identity): the document, the operation, the variables and
/// whether mutations are allowed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct PlanKey {
    role: String,
    query: String,
    operation_name: Option<String>,
    variables: Option<String>,
    read_only: bool,
}

/// A request's plan with its statements rendered, kept for the next identical request (as
/// pg_graphql and PostGraphile keep parsed documents by text). Planning does no I/O and
/// depends only on the schema and the request, so the plan is the one planning would make
/// again; the values stay bind parameters, and the role, claims and RLS are applied per
/// request by the executor.
struct CachedPlan {
    mutation: bool,
    errors: Vec<GraphqlError>,
    fields: Vec<(String, Slot)>,
}

/// A top-level field of a [`CachedPlan`].
enum Slot {
    Value(Box<RawValue>),
    Sql(execute::Rendered),
    Failed(GraphqlError),
}

impl CachedPlan {
    fn new(plan: Plan) -> CachedPlan {
        CachedPlan {
            mutation: plan.mutation,
            errors: plan.errors,
            fields: plan
                .fields
                .into_iter()
                .map(|(key, planned)| {
                    let slot = match planned {
                        Planned::Value(v) => Slot::Value(raw(&v)),
                        Planned::Sql(job) => Slot::Sql(job.render()),
                        Planned::Failed(e) => Slot::Failed(e),
                    };
                    (key, slot)
                })
                .collect(),
        }
    }
}

impl GraphqlState {
    pub fn new(
        pool: pgbase_db::Pool,
        catalog: Arc<CatalogHandle>,
        schemas: Vec<String>,
        introspection: bool,
    ) -> GraphqlState {
        GraphqlState {
            pool,
            catalog,
            schemas,
            introspection,
            upsert: false,
            safe_update: true,
            session_defaults: Vec::new(),
            pre_request: None,
            reflected: Mutex::new(HashMap::new()),
            plans: Mutex::new(HashMap::new()),
        }
    }

    /// The plan of `request` against `schema`: the cached one when an identical request was
    /// planned against this same schema, or a new one (cached when the request is small).
    fn plan_for(
        &self,
        schema: &Arc<Reflected>,
        role: &str,
        request: &Request,
    ) -> Result<Arc<CachedPlan>, Vec<GraphqlError>> {
        let variables = request.variables.as_ref().map(Value::to_string);
        let size = request.query.len() + variables.as_ref().map_or(0, String::len);
        let key = (size <= PLAN_CACHE_MAX_TEXT).then(|| PlanKey {
            role: role.to_string(),
            query: request.query.clone(),
            operation_name: request.operation_name.clone(),
            variables,
            read_only: request.read_only,
        });
        if let Some(key) = &key
            && let Ok(plans) = self.plans.lock()
            && let Some((planned_for, plan)) = plans.get(key)
            && std::ptr::eq(planned_for.as_ptr(), Arc::as_ptr(schema))
        {
            return Ok(plan.clone());
        }
        let options = engine::Options {
            safe_update: self.safe_update,
        };
        let plan = Arc::new(CachedPlan::new(engine::plan_with(
            schema, request, options,
        )?));
        if let Some(key) = key
            && let Ok(mut plans) = self.plans.lock()
        {
            if plans.len() >= PLAN_CACHE_ENTRIES {
                plans.clear();
            }
            plans.insert(key, (Arc::downgrade(schema), plan.clone()));
        }
        Ok(plan)
    }

    /// The schema `role` sees, reflected once per catalog version.
    pub fn schema_for(&self, role: &str) -> Result<Arc<Reflected>, GraphqlError> {
        let cache = self.catalog.current();
        let version = cache.version;
        if let Ok(map) = self.reflected.lock()
            && let Some((v, schema)) = map.get(role)
            && *v == version
        {
            return Ok(schema.clone());
        }
        let schema = Arc::new(
            reflect::reflect(&cache, &self.schemas, role, self.introspection, self.upsert)
                .map_err(|e| GraphqlError::Database(e.to_string()))?,
        );
        if let Ok(mut map) = self.reflected.lock() {
            if map.len() > 256 {
                map.clear();
            }
            map.insert(role.to_string(), (version, schema.clone()));
        }
        Ok(schema)
    }
}

/// The `data` of a response, in pg_graphql's three shapes.
#[derive(Debug, Clone)]
pub enum Data {
    /// No `data` key: the request failed before any field was resolved (the document, the
    /// operation, fragments, the schema itself).
    Omitted,
    /// `"data": null`: every top-level field failed, a mutation failed, or the database
    /// refused the statement.
    Null,
    /// Each top-level field that succeeded, in selection order, as Postgres (or the
    /// resolver) wrote it; a query field that failed is left out, as pg_graphql leaves it.
    Fields(Vec<(String, Box<RawValue>)>),
}

/// The result of one GraphQL request.
#[derive(Debug, Clone)]
pub struct Response {
    pub data: Data,
    pub errors: Vec<GraphqlError>,
    /// The request failed before execution (parse/validation): HTTP 400 under
    /// `application/graphql-response+json`.
    pub request_error: bool,
}

impl Response {
    /// A request that failed before any field ran: no `data` key.
    fn rejected(errors: Vec<GraphqlError>) -> Response {
        Response {
            data: Data::Omitted,
            errors,
            request_error: true,
        }
    }

    /// A request whose operation failed as a whole: `"data": null`.
    fn failed(errors: Vec<GraphqlError>, request_error: bool) -> Response {
        Response {
            data: Data::Null,
            errors,
            request_error,
        }
    }

    /// `{"data": ..., "errors": [...]}` (errors omitted when empty) as a JSON tree.
    pub fn to_json(&self) -> Value {
        serde_json::from_str(&self.to_body()).unwrap_or(Value::Null)
    }

    /// The response body: the fields' JSON is copied, not re-parsed.
    pub fn to_body(&self) -> String {
        let size: usize = match &self.data {
            Data::Fields(fields) => fields
                .iter()
                .map(|(k, v)| k.len() + v.get().len() + 4)
                .sum(),
            _ => 0,
        };
        let mut out = String::with_capacity(size + 32);
        out.push('{');
        match &self.data {
            Data::Omitted => {}
            Data::Null => out.push_str("\"data\":null"),
            Data::Fields(fields) => {
                out.push_str("\"data\":{");
                for (i, (key, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(key.clone()).to_string());
                    out.push(':');
                    out.push_str(value.get());
                }
                out.push('}');
            }
        }
        if !self.errors.is_empty() {
            if !matches!(self.data, Data::Omitted) {
                out.push(',');
            }
            out.push_str("\"errors\":");
            out.push_str(
                &Value::Array(self.errors.iter().map(GraphqlError::to_json).collect()).to_string(),
            );
        }
        out.push('}');
        out
    }
}

fn raw(value: &Value) -> Box<RawValue> {
    serde_json::value::to_raw_value(value).unwrap_or_else(|_| null())
}

/// `null` (serde_json's default raw value).
fn null() -> Box<RawValue> {
    Box::default()
}

/// Runs one GraphQL request as `role` with JWT `claims`, as a POST without headers.
pub async fn execute(
    state: &GraphqlState,
    role: &str,
    claims: &Value,
    request: &Request,
) -> Response {
    let context = pgbase_db::RequestContext {
        role: role.to_string(),
        claims: claims.to_string(),
        method: "POST".to_string(),
        path: GRAPHQL_PATH.to_string(),
        headers: "{}".to_string(),
        cookies: "{}".to_string(),
        ..Default::default()
    };
    execute_in(state, context, request).await
}

/// The path requests see in `request.path`.
const GRAPHQL_PATH: &str = "/graphql/v1";

/// Runs one GraphQL request in `context` (role, claims, method, path, headers and cookies
/// filled in by the caller; the search path and session settings are added here).
pub async fn execute_in(
    state: &GraphqlState,
    context: pgbase_db::RequestContext,
    request: &Request,
) -> Response {
    let role = context.role.as_str();
    let schema = match state.schema_for(role) {
        Ok(s) => s,
        Err(e) => return Response::rejected(vec![e]),
    };
    let plan = match state.plan_for(&schema, role, request) {
        Ok(p) => p,
        Err(errors) => return Response::rejected(errors),
    };
    if !plan.errors.is_empty() {
        return Response::failed(plan.errors.clone(), true);
    }
    let mut jobs = Vec::new();
    let mut errors = Vec::new();
    let mut slots = Vec::new();
    for (key, slot) in &plan.fields {
        match slot {
            Slot::Value(v) => slots.push((key.clone(), Some(v.clone()))),
            Slot::Failed(e) => errors.push(e.clone().with_path(key)),
            Slot::Sql(job) => {
                jobs.push(job);
                slots.push((key.clone(), None));
            }
        }
    }
    let mut results = Vec::new();
    // A transaction runs when a field needs SQL, or for the pre-request function alone: it may
    // refuse any request, as PostgREST calls it before `graphql.resolve` whatever the document
    // asks (`{ __typename }`, introspection).
    if !jobs.is_empty() || state.pre_request.is_some() {
        let cache = state.catalog.current();
        let context = pgbase_db::RequestContext {
            search_path: state
                .schemas
                .iter()
                .map(|s| quote_ident(s))
                .collect::<Vec<_>>()
                .join(", "),
            pre_request: state.pre_request.clone(),
            ..context.clone()
        }
        .with_settings(cache.session_settings(role, &state.session_defaults));
        match execute::run(&state.pool, &context, !plan.mutation, &jobs).await {
            Ok(r) => results = r,
            Err(e) => {
                errors.push(e.into());
                return Response::failed(errors, false);
            }
        }
    }
    let mut results = results.into_iter();
    if slots.is_empty() {
        // every field failed
        return Response::failed(errors, true);
    }
    let data = slots
        .into_iter()
        .map(|(key, value)| {
            let v = value.or_else(|| results.next()).unwrap_or_else(null);
            (key, v)
        })
        .collect();
    Response {
        data: Data::Fields(data),
        request_error: false,
        errors,
    }
}

/// The GraphiQL page served to browsers.
pub const GRAPHIQL_HTML: &str = include_str!("graphiql.html");

fn accepts(headers: &HeaderMap, what: &str) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|part| part.trim().starts_with(what)))
}

fn query_params(query: Option<&str>) -> HashMap<String, String> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

fn parse_request(
    method: &Method,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Request, (StatusCode, String)> {
    let bad = |m: &str| (StatusCode::BAD_REQUEST, m.to_string());
    if method == Method::GET {
        let params = query_params(query);
        let Some(q) = params.get("query") else {
            return Err(bad("Missing query"));
        };
        let variables = match params.get("variables").filter(|v| !v.is_empty()) {
            Some(v) => {
                Some(serde_json::from_str(v).map_err(|_| bad("variables must be an object"))?)
            }
            None => None,
        };
        return Ok(Request {
            read_only: true,
            query: q.clone(),
            variables,
            operation_name: params
                .get("operationName")
                .filter(|v| !v.is_empty())
                .cloned(),
        });
    }
    if method != Method::POST {
        return Err((
            StatusCode::METHOD_NOT_ALLOWED,
            "GraphQL requests use GET or POST".into(),
        ));
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    if content_type.starts_with("application/graphql") && !content_type.contains("json") {
        return Ok(Request {
            read_only: false,
            query: String::from_utf8_lossy(body).into_owned(),
            ..Request::default()
        });
    }
    let value: Value =
        serde_json::from_slice(body).map_err(|e| bad(&format!("Invalid JSON body: {e}")))?;
    let Value::Object(mut obj) = value else {
        return Err(bad("The request body must be a JSON object"));
    };
    let query = match obj.remove("query") {
        Some(Value::String(q)) => q,
        _ => return Err(bad("Missing query")),
    };
    let variables = match obj.remove("variables") {
        Some(Value::String(s)) if !s.is_empty() => {
            Some(serde_json::from_str(&s).map_err(|_| bad("variables must be an object"))?)
        }
        Some(Value::String(_)) | None => None,
        Some(v) => Some(v),
    };
    let operation_name = match obj.remove("operationName") {
        Some(Value::String(s)) => Some(s),
        _ => None,
    };
    Ok(Request {
        query,
        variables,
        operation_name,
        read_only: false,
    })
}

/// Handles one HTTP request to `/graphql/v1`: POST JSON (`query`, `variables`,
/// `operationName`), POST `application/graphql`, GET with query parameters, or the
/// GraphiQL page for a browser asking for `text/html`.
pub async fn handle(
    state: &GraphqlState,
    identity_role: &str,
    claims: &Value,
    method: &Method,
    query: Option<&str>,
    headers: &HeaderMap,
    body: Bytes,
) -> (StatusCode, Vec<(String, String)>, Bytes) {
    let has_query = query_params(query).contains_key("query");
    if method == Method::GET && !has_query && accepts(headers, "text/html") {
        return (
            StatusCode::OK,
            vec![("content-type".into(), "text/html; charset=utf-8".into())],
            Bytes::from_static(GRAPHIQL_HTML.as_bytes()),
        );
    }
    let graphql_response = accepts(headers, "application/graphql-response+json");
    let content_type = if graphql_response {
        "application/graphql-response+json; charset=utf-8"
    } else {
        "application/json; charset=utf-8"
    };
    let headers_out = vec![("content-type".to_string(), content_type.to_string())];
    let request = match parse_request(method, query, headers, &body) {
        Ok(r) => r,
        Err((status, message)) => {
            let body = Response::rejected(vec![GraphqlError::Request(message)]).to_body();
            return (status, headers_out, Bytes::from(body));
        }
    };
    let (request_headers, cookies) = pgbase_db::headers_and_cookies(headers);
    let context = pgbase_db::RequestContext {
        role: identity_role.to_string(),
        claims: claims.to_string(),
        method: method.to_string(),
        path: GRAPHQL_PATH.to_string(),
        headers: request_headers,
        cookies,
        ..Default::default()
    };
    let response = execute_in(state, context, &request).await;
    if let Some(GraphqlError::Unavailable {
        code,
        message,
        detail,
    }) = response
        .errors
        .iter()
        .find(|e| matches!(e, GraphqlError::Unavailable { .. }))
    {
        let body = serde_json::json!({
            "code": code, "details": detail, "hint": null, "message": message,
        });
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            vec![
                (
                    "content-type".into(),
                    "application/json; charset=utf-8".into(),
                ),
                ("retry-after".into(), "1".into()),
            ],
            Bytes::from(body.to_string()),
        );
    }
    let status = if graphql_response && response.request_error {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    (status, headers_out, Bytes::from(response.to_body()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_copy_field_json_and_escape_keys() {
        let field = |s: &str| RawValue::from_string(s.to_string()).unwrap_or_default();
        let response = Response {
            data: Data::Fields(vec![
                ("a".into(), field("{\"x\" : [1, \"two\"]}")),
                ("b\"c".into(), null()),
            ]),
            errors: vec![GraphqlError::new("bad").with_path("d")],
            request_error: false,
        };
        assert_eq!(
            response.to_body(),
            r#"{"data":{"a":{"x" : [1, "two"]},"b\"c":null},"errors":[{"message":"bad"}]}"#
        );
        assert_eq!(
            Response::failed(vec![GraphqlError::Database("boom".into())], false).to_body(),
            r#"{"data":null,"errors":[{"message":"boom"}]}"#
        );
        assert_eq!(
            Response::rejected(vec![GraphqlError::new("Operation not found")]).to_body(),
            r#"{"errors":[{"message":"Operation not found"}]}"#
        );
    }
}
