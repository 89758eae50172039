//! The REST request handler: parse → plan → execute → shape the response (status,
//! `Content-Range`, `Location`, `Preference-Applied`, GUC-set headers and status, CSV). It is
//! framework-free: the binary adapts [`RestResponse`] to its HTTP server.

use std::collections::{BTreeSet, HashSet};
use std::fmt::Write as _;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use pgbase_catalog::{CatalogHandle, ReturnShape, SchemaCache, Volatility};
use pgbase_sql::Snippet;
use pgbase_sql::emit::{self, BodyShape, StatementOptions};
use pgbase_sql::plan::{
    CallArgs, ConflictAction, ReadPlan, SelectExpr, Source, WholeBodyType, Write, WritePlan,
    WriteReturning,
};
use serde_json::Value;

use crate::ast::{Operation, OrderTarget, QuantOperator, SelectItem};
use crate::error::ApiError;
use crate::execute::{self, RequestSettings, TxEnd};
use crate::media::{MediaType, PlanFormat, PlanOption};
use crate::payload::{Payload, parse_payload};
use crate::plan::{self, PlanContext};
use crate::preferences::{
    PreferCount, PreferHandling, PreferMissing, PreferParams, PreferResolution, PreferReturn,
    PreferTx,
};
use crate::range::{RowRange, content_range};
use crate::request::{Action, ApiRequest, InvokeMethod, Mutation, RequestConfig, parse_request};

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

/// Handles one request addressed to `/rest/v1{path}`.
pub async fn handle(
    state: &RestState,
    identity: &Identity,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: Bytes,
) -> RestResponse {
    match handle_inner(state, identity, method, path, query, headers, body).await {
        Ok(response) => response,
        Err(error) => RestResponse::from_error(&error),
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
    let prepared = prepare(&ctx, &request, body, config.safe_update)?;
    let (sql, params) = prepared.statement.render();
    Ok(PlannedStatement {
        sql,
        params: params.into_iter().map(|p| p.0).collect(),
        read_only: prepared.read_only,
    })
}

struct Prepared {
    statement: Snippet,
    read_only: bool,
    kind: Kind,
    /// The count query to EXPLAIN for `count=planned|estimated`.
    count_plan: Option<Snippet>,
    /// `count=estimated`: the exact count is trusted up to this many rows.
    estimate_above: Option<u64>,
    /// A function's scalar result sent raw in this media type instead of JSON.
    raw_media: Option<RawMedia>,
}

/// A raw response media type chosen for a function's scalar result.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RawMedia {
    /// The `Content-Type` sent.
    content_type: String,
    /// The result is bytea (sent as its bytes).
    bytes: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Read { head: bool },
    Create { representation: bool, upsert: bool },
    Put { representation: bool },
    Modify { representation: bool, patch: bool },
    Call { void: bool, head: bool },
}

async fn handle_inner(
    state: &RestState,
    identity: &Identity,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<RestResponse, ApiError> {
    let (query, flavor) = crate::openapi::take_flavor(path, query);
    let query = query.as_deref();
    let request = if state.config.timezones.is_none() && asks_for_timezone(headers) {
        // `Prefer: timezone=` is checked against the database's zones (an unknown one is
        // ignored, or PGRST122 with handling=strict), never handed to Postgres unchecked.
        let mut config = state.config.clone();
        config.timezones = Some(timezones(state).await?);
        parse_request(&config, method, path, query, headers)?
    } else {
        parse_request(&state.config, method, path, query, headers)?
    };
    let mut response = handle_parsed(state, identity, &request, body, flavor).await?;
    if request.negotiated_by_profile {
        response
            .headers
            .push(("content-profile".into(), request.schema.clone()));
    }
    Ok(response)
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

async fn handle_parsed(
    state: &RestState,
    identity: &Identity,
    request: &ApiRequest,
    body: Bytes,
    flavor: crate::openapi::Flavor,
) -> Result<RestResponse, ApiError> {
    let cache = state.catalog.current();
    if state.catalog.version() <= 1 {
        return Err(ApiError::new(
            "PGRST002",
            StatusCode::SERVICE_UNAVAILABLE,
            "Could not query the database for the schema cache. Retrying.",
        )
        .with_header("Retry-After", "1"));
    }
    let ctx = PlanContext {
        cache: &cache,
        schema: &request.schema,
        max_rows: state.max_rows,
    };
    if request.action.is_info() {
        return options_response(&ctx, request);
    }
    if let Action::SchemaRead { headers_only } = request.action {
        return Ok(crate::openapi::response(
            &cache,
            &request.schema,
            &identity.role,
            headers_only,
            flavor,
            &crate::openapi::Location::from_headers(&request.headers),
        ));
    }
    let prepared = prepare(&ctx, request, body, state.config.safe_update)?;

    let settings = RequestSettings {
        context: pgbase_db::RequestContext {
            search_path: search_path(&request.schema, &state.config.extra_search_path),
            role: identity.role.clone(),
            claims: identity.claims.to_string(),
            method: request.method.to_string(),
            path: request.path.clone(),
            headers: pairs_json(&request.headers),
            cookies: pairs_json(&request.cookies),
            timezone: request.preferences.timezone.clone(),
            ..Default::default()
        }
        .with_settings(cache.session_settings(&identity.role, &state.session_defaults)),
        anonymous: identity.anonymous,
    };
    let end = match request.preferences.transaction {
        Some(PreferTx::Rollback) => TxEnd::Rollback,
        _ => TxEnd::Commit,
    };
    let singular = request.media_type.is_singular();
    let max_affected = (request.preferences.handling == Some(PreferHandling::Strict))
        .then(|| request.preferences.effective_max_affected())
        .flatten();
    let mut client = state
        .pool
        .get()
        .await
        .map_err(|e| connection_error(e.to_string()))?;
    if let MediaType::Plan {
        format, options, ..
    } = &request.media_type
    {
        let lines = execute::explain(
            &mut client,
            &settings,
            &explain_statement(&prepared.statement, *format, options),
            prepared.read_only,
        )
        .await?;
        let body = match format {
            PlanFormat::Json => lines.concat(),
            PlanFormat::Text => lines.join("\n"),
        };
        return Ok(RestResponse {
            status: StatusCode::OK,
            headers: vec![("content-type".into(), request.media_type.content_type())],
            body: Bytes::from(body),
        });
    }
    let is_write = !matches!(prepared.kind, Kind::Read { .. });
    let output = execute::run(
        &mut client,
        &settings,
        &prepared.statement,
        prepared.count_plan.as_ref(),
        prepared.read_only,
        end,
        |out| {
            let rows = u64::try_from(out.page_total).unwrap_or(0);
            if singular && rows != 1 && !matches!(prepared.kind, Kind::Call { void: true, .. }) {
                return Err(ApiError::singularity(rows));
            }
            if is_write
                && let Some(limit) = max_affected
                && out.page_total > limit
            {
                return Err(ApiError::max_affected_violation(rows));
            }
            Ok(())
        },
    )
    .await?;
    respond(request, &prepared, output)
}

/// `EXPLAIN (FORMAT …, options…) statement`; the options come from a fixed set.
fn explain_statement(statement: &Snippet, format: PlanFormat, options: &[PlanOption]) -> Snippet {
    let mut s = Snippet::sql(match format {
        PlanFormat::Json => "explain (format json",
        PlanFormat::Text => "explain (format text",
    });
    for option in options {
        s.push_sql(match option {
            PlanOption::Analyze => ", analyze",
            PlanOption::Verbose => ", verbose",
            PlanOption::Settings => ", settings",
            PlanOption::Buffers => ", buffers",
            PlanOption::Wal => ", wal",
        });
    }
    s.push_sql(") ").push(statement.clone());
    s
}

fn pairs_json(pairs: &[(String, String)]) -> String {
    let map: serde_json::Map<String, Value> = pairs
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    Value::Object(map).to_string()
}

/// The raw media type for a function's result, as PostgREST 12 negotiates it once the function
/// is known: the first accepted type that is `text/plain`, `text/xml` or
/// `application/octet-stream` for a scalar result of type text, xml or bytea, or the name of
/// the domain the function returns (`create domain "image/png" as bytea`); `None` when an
/// accepted built-in type comes first; PGRST107 when nothing accepted can be produced.
fn raw_media(
    request: &ApiRequest,
    function: &pgbase_catalog::Function,
    scalar: bool,
) -> Result<Option<RawMedia>, ApiError> {
    const BYTEA: u32 = 17;
    let returned = &function.return_type;
    // `format_type` quotes (and may qualify) a domain named like a media type.
    let type_name = returned
        .name
        .trim_end_matches('"')
        .rsplit('"')
        .next()
        .unwrap_or("");
    let bytes = returned.base_oid == BYTEA;
    for accepted in &request.accept {
        if !request.media_deferred
            && (*accepted == request.media_type || *accepted == MediaType::Any)
        {
            return Ok(None);
        }
        let (wanted, content_type) = match accepted {
            MediaType::TextPlain => ("text", accepted.content_type()),
            MediaType::TextXml => ("xml", accepted.content_type()),
            MediaType::OctetStream => ("bytea", accepted.content_type()),
            MediaType::Other(mime) => (mime.as_str(), mime.clone()),
            _ => continue,
        };
        if scalar && type_name.eq_ignore_ascii_case(wanted) {
            return Ok(Some(RawMedia {
                content_type,
                bytes,
            }));
        }
    }
    if request.media_deferred {
        let mimes: Vec<String> = request.accept.iter().map(MediaType::mime).collect();
        return Err(ApiError::media_type(&mimes));
    }
    Ok(None)
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

/// PGRST103 (416) when an exact count shows the requested offset past the last row.
fn offset_within(offset: u64, total: Option<u64>) -> Result<(), ApiError> {
    match total {
        Some(total) if offset > total => Err(ApiError::invalid_range(
            crate::error::RangeError::OutOfBounds {
                lower: offset,
                total,
            },
        )
        .with_header("Content-Range", format!("*/{total}"))),
        _ => Ok(()),
    }
}

/// Query-string or form arguments with repeated keys merged as PostgREST 12 does: every value
/// of the `VARIADIC` parameter becomes one array (`?v=a&v=b` → `{a,b}`), any other repeated
/// parameter keeps its last value.
fn merge_repeated_args(
    inputs: &[&pgbase_catalog::FunctionArg],
    args: Vec<(String, String)>,
) -> Vec<(String, String)> {
    let variadic = inputs
        .iter()
        .find(|a| a.mode == pgbase_catalog::ArgMode::Variadic)
        .and_then(|a| a.name.as_deref());
    let mut merged: Vec<(String, String)> = Vec::new();
    let mut variadic_values: Vec<Value> = Vec::new();
    for (key, value) in args {
        if Some(key.as_str()) == variadic {
            variadic_values.push(Value::String(value));
        } else if let Some(slot) = merged.iter_mut().find(|(k, _)| *k == key) {
            slot.1 = value;
        } else {
            merged.push((key, value));
        }
    }
    if let Some(name) = variadic.filter(|_| !variadic_values.is_empty())
        && let Some(array) = plan::json_arg_text(&Value::Array(variadic_values), "text[]")
    {
        merged.push((name.to_string(), array));
    }
    merged
}

/// The table columns a write's representation reads, when `select` names only plain columns
/// of the table (no `*`, embeds or aggregates) and the root order only such columns; `None`
/// when it needs whole rows.
fn narrowed_columns(
    table: &pgbase_catalog::Table,
    query: &crate::query::QueryParams,
) -> Option<Vec<String>> {
    let mut columns: Vec<String> = Vec::new();
    let mut add = |name: &str| -> Option<()> {
        table.column(name)?;
        if !columns.iter().any(|c| c == name) {
            columns.push(name.to_string());
        }
        Some(())
    };
    if query.select.is_empty() {
        return None;
    }
    for item in &query.select {
        match item {
            SelectItem::Field(f) if !f.is_star() && f.aggregate.is_none() => add(&f.field.name)?,
            _ => return None,
        }
    }
    for order in query.order.iter().filter(|o| o.path.is_empty()) {
        for term in &order.terms {
            match &term.target {
                OrderTarget::Field(f) => add(&f.name)?,
                OrderTarget::Relation { .. } => return None,
            }
        }
    }
    Some(columns)
}

fn select_or_star(select: &[SelectItem]) -> Vec<SelectItem> {
    if select.is_empty() {
        vec![SelectItem::star()]
    } else {
        select.to_vec()
    }
}

/// The media type whose body is produced (the `for=` type of a plan request).
fn output_media(request: &ApiRequest) -> &MediaType {
    match &request.media_type {
        MediaType::Plan { for_type, .. } => for_type,
        other => other,
    }
}

fn body_shape(request: &ApiRequest) -> BodyShape {
    match output_media(request) {
        MediaType::Csv => BodyShape::Csv,
        m if m.is_singular() => BodyShape::Object,
        _ => BodyShape::Array,
    }
}

/// `nulls=stripped` was asked for.
fn strip_nulls(request: &ApiRequest) -> bool {
    matches!(
        output_media(request),
        MediaType::ArrayJsonStripped | MediaType::SingularJson { strip_nulls: true }
    )
}

fn prepare(
    ctx: &PlanContext<'_>,
    request: &ApiRequest,
    body: Bytes,
    safe_update: bool,
) -> Result<Prepared, ApiError> {
    match &request.action {
        Action::RelationRead {
            relation,
            headers_only,
        } => {
            let table = plan::find_table(ctx, relation).map_err(|error| {
                // PostgREST 12 looks for the relationships of embeds first: a relation the
                // cache does not have (a partition, say) has none.
                plan::embed_from_unknown_relation(ctx, relation, &request.query.select)
                    .unwrap_or(error)
            })?;
            let range = request.top_level_range.cap(ctx.max_rows);
            let root = plan::read_plan(
                ctx,
                table,
                Source::Table {
                    schema: table.schema.clone(),
                    name: table.name.clone(),
                },
                &select_or_star(&request.query.select),
                &request.query,
                &[],
                range,
            )?;
            let (count, count_plan, estimate_above) = match request.preferences.count {
                Some(PreferCount::Exact) => (Some(emit::read_count(&root)), None, None),
                Some(PreferCount::Planned) => (None, Some(emit::read_count(&root)), None),
                Some(PreferCount::Estimated) => match ctx.max_rows {
                    // Exact up to db-max-rows, then the planner's estimate.
                    Some(max) => {
                        let mut limited = emit::read_count(&root);
                        limited.push_sql(" limit ").push(Snippet::int(
                            i64::try_from(max.saturating_add(1)).unwrap_or(i64::MAX),
                        ));
                        (Some(limited), Some(emit::read_count(&root)), Some(max))
                    }
                    None => (Some(emit::read_count(&root)), None, None),
                },
                None => (None, None, None),
            };
            let statement = emit::statement(
                Snippet::new(),
                emit::read_rows(&root),
                // HEAD: no body is built only to be thrown away.
                if *headers_only {
                    BodyShape::None
                } else {
                    body_shape(request)
                },
                StatementOptions {
                    count,
                    location_columns: Vec::new(),
                    inserted: false,
                    strip_nulls: strip_nulls(request),
                },
            );
            Ok(Prepared {
                statement,
                read_only: true,
                kind: Kind::Read {
                    head: *headers_only,
                },
                count_plan,
                estimate_above,
                raw_media: None,
            })
        }
        Action::RelationMut { relation, mutation } => {
            let table = plan::find_table(ctx, relation).map_err(|error| {
                // PostgREST 12 resolves `?columns` against the table first: a missing table
                // is then its bare 404 `{}`.
                if request.query.columns.is_some() {
                    ApiError::not_found()
                } else {
                    error
                }
            })?;
            let mut parsed = parse_payload(
                body,
                &request.content_type,
                &request.action,
                request.query.columns.as_deref(),
            )?;
            let missing_default = request.preferences.missing == Some(PreferMissing::Default)
                && matches!(parsed.payload, Some(Payload::RawJson { .. }));
            let body_text = match parsed.payload.take() {
                Some(Payload::Json { raw, .. } | Payload::RawJson { raw }) => {
                    Some(bytes_into_string(raw))
                }
                Some(Payload::UrlEncoded { pairs, .. }) => {
                    let map: serde_json::Map<String, Value> = pairs
                        .iter()
                        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                        .collect();
                    Some(Value::Object(map).to_string())
                }
                _ => None,
            };
            // PUT and PATCH write one row's values: of a JSON array body PostgREST 12 takes the
            // first element (an empty array sets nothing).
            let body_text = match (mutation, body_text) {
                (Mutation::Update | Mutation::SingleUpsert, Some(text)) => {
                    Some(first_array_element(&text).unwrap_or(text))
                }
                (_, body_text) => body_text,
            };
            let columns = plan::check_payload_columns(table, &parsed.columns)?;
            let representation =
                request.preferences.representation == Some(PreferReturn::Representation);
            let headers_only =
                request.preferences.representation == Some(PreferReturn::HeadersOnly);
            let write = match mutation {
                Mutation::Create => {
                    let on_conflict = request.preferences.resolution.map(|r| {
                        let keys = request
                            .query
                            .on_conflict
                            .clone()
                            .unwrap_or_else(|| table.primary_key.clone());
                        let action = match r {
                            PreferResolution::MergeDuplicates => ConflictAction::Merge,
                            PreferResolution::IgnoreDuplicates => ConflictAction::DoNothing,
                        };
                        (keys, action)
                    });
                    if let Some((keys, _)) = &on_conflict {
                        plan::check_payload_columns(table, &keys.iter().cloned().collect())?;
                    }
                    let body = body_text.unwrap_or_else(|| "[]".into());
                    let groups = if missing_default {
                        plan::missing_default_groups(&columns, &body)?
                    } else {
                        Vec::new()
                    };
                    plan::insert_plan(table, columns, body, on_conflict, groups)
                }
                Mutation::SingleUpsert => {
                    check_put_filters(table, request, body_text.as_deref())?;
                    plan::insert_plan(
                        table,
                        columns,
                        body_text.unwrap_or_else(|| "{}".into()),
                        Some((table.primary_key.clone(), ConflictAction::Merge)),
                        Vec::new(),
                    )
                }
                Mutation::Update => {
                    let defaults = match (&body_text, missing_default) {
                        (Some(body), true) => plan::missing_update_columns(&columns, body),
                        _ => Vec::new(),
                    };
                    let columns = columns
                        .into_iter()
                        .filter(|c| !defaults.contains(c))
                        .collect();
                    WritePlan {
                        schema: table.schema.clone(),
                        table: table.name.clone(),
                        write: Write::Update {
                            columns,
                            defaults,
                            filter: plan::root_conditions(ctx, table, &request.query)?,
                            order: plan::root_order(ctx, table, &request.query)?,
                            limit: request.top_level_range.limit,
                            offset: request.top_level_range.offset,
                        },
                        body: body_text,
                        returning: WriteReturning::Rows,
                        representations: plan::representations(table),
                    }
                }
                Mutation::Delete => WritePlan {
                    schema: table.schema.clone(),
                    table: table.name.clone(),
                    write: Write::Delete {
                        filter: plan::root_conditions(ctx, table, &request.query)?,
                        order: plan::root_order(ctx, table, &request.query)?,
                        limit: request.top_level_range.limit,
                        offset: request.top_level_range.offset,
                    },
                    body: None,
                    returning: WriteReturning::Rows,
                    representations: Vec::new(),
                },
            };
            if safe_update {
                check_filtered(&write.write)?;
            }
            // Only what the response needs: rows for a body or a `Location`, else a count, which
            // needs no SELECT privilege (insert-only tables, PostgREST's `RETURNING 1`).
            let location = *mutation == Mutation::Create && headers_only;
            let mut write = write;
            write.returning = if representation {
                // Only the columns the response reads, so that a role with SELECT on some
                // columns can write and read those back (as PostgREST does).
                match narrowed_columns(table, &request.query) {
                    Some(columns) => WriteReturning::Columns(columns),
                    None => WriteReturning::Rows,
                }
            } else if location {
                WriteReturning::Columns(table.primary_key.clone())
            } else {
                WriteReturning::Count
            };
            // The root filters chose the written rows; only embed-level ones shape the output.
            let mut output_query = request.query.clone();
            output_query.filters.retain(|f| !f.path.is_empty());
            output_query.logic.retain(|l| !l.path.is_empty());
            let returning = plan::read_plan(
                ctx,
                table,
                Source::Cte("pgrst_source"),
                &select_or_star(&request.query.select),
                &output_query,
                &[],
                RowRange::default(),
            )?;
            // In the table's column order, as PostgREST lists them.
            let location_columns = if location {
                table
                    .columns
                    .iter()
                    .filter(|c| table.primary_key.contains(&c.name))
                    .map(|c| c.name.clone())
                    .collect()
            } else {
                Vec::new()
            };
            let inserts = matches!(mutation, Mutation::Create | Mutation::SingleUpsert);
            let rows = if representation {
                emit::read_rows(&returning)
            } else {
                Snippet::sql("select 1 as pgrst_one from pgrst_source")
            };
            let statement = emit::statement(
                emit::write_ctes(write),
                rows,
                if representation {
                    body_shape(request)
                } else {
                    BodyShape::None
                },
                StatementOptions {
                    count: request
                        .preferences
                        .should_count()
                        .then(|| Snippet::sql("select 1 from pgrst_source")),
                    location_columns,
                    inserted: inserts,
                    strip_nulls: strip_nulls(request),
                },
            );
            let kind = match mutation {
                Mutation::Create => Kind::Create {
                    representation,
                    upsert: request.preferences.resolution
                        == Some(PreferResolution::MergeDuplicates),
                },
                Mutation::SingleUpsert => Kind::Put { representation },
                Mutation::Update => Kind::Modify {
                    representation,
                    patch: true,
                },
                Mutation::Delete => Kind::Modify {
                    representation,
                    patch: false,
                },
            };
            Ok(Prepared {
                statement,
                read_only: false,
                kind,
                count_plan: None,
                estimate_above: None,
                raw_media: None,
            })
        }
        Action::Routine { function, invoke } => prepare_call(ctx, request, function, *invoke, body),
        _ => Err(ApiError::not_implemented("this request is not supported")),
    }
}

/// The request body as the `String` bound to the statement: its buffer taken over when the
/// body holds the only reference to it, copied otherwise.
fn bytes_into_string(raw: Bytes) -> String {
    match String::from_utf8(Vec::from(raw)) {
        Ok(text) => text,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

/// `db_safe_update`: an UPDATE or DELETE must have a filter on the target table (a `limit`
/// alone is none), as pg-safeupdate demands of the SQL. A PATCH with nothing to set updates
/// nothing and passes.
fn check_filtered(write: &Write) -> Result<(), ApiError> {
    match write {
        Write::Update {
            columns,
            defaults,
            filter,
            ..
        } if filter.is_empty() && !(columns.is_empty() && defaults.is_empty()) => {
            Err(ApiError::unfiltered_write("UPDATE"))
        }
        Write::Delete { filter, .. } if filter.is_empty() => {
            Err(ApiError::unfiltered_write("DELETE"))
        }
        _ => Ok(()),
    }
}

/// PUT needs `eq` filters on exactly the primary key, matching the body (PGRST105/115).
fn check_put_filters(
    table: &pgbase_catalog::Table,
    request: &ApiRequest,
    body: Option<&str>,
) -> Result<(), ApiError> {
    let mut filtered = BTreeSet::new();
    let mut values = Vec::new();
    for f in &request.query.filters {
        let is_eq = matches!(
            &f.filter.expr.operation,
            Operation::Quant {
                op: QuantOperator::Equal,
                quantifier: None,
                ..
            }
        );
        if !f.path.is_empty() || !is_eq || f.filter.expr.negated {
            return Err(ApiError::invalid_put_filters());
        }
        filtered.insert(f.filter.field.name.clone());
        if let Operation::Quant { value, .. } = &f.filter.expr.operation {
            values.push((f.filter.field.name.clone(), value.clone()));
        }
    }
    let pk: BTreeSet<String> = table.primary_key.iter().cloned().collect();
    if pk.is_empty() || filtered != pk || !request.query.logic.is_empty() {
        return Err(ApiError::invalid_put_filters());
    }
    let body: Value = body
        .and_then(|b| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    for (column, value) in values {
        let matches = match body.get(&column) {
            Some(Value::String(s)) => *s == value,
            Some(Value::Null) | None => false,
            Some(other) => *other == Value::String(value.clone()) || other.to_string().eq(&value),
        };
        if !matches {
            return Err(ApiError::put_matching_pk());
        }
    }
    Ok(())
}

/// The top-level members of a JSON object body, values left as raw JSON text; any other body
/// has none.
struct JsonArgs<'a>(Vec<(String, &'a serde_json::value::RawValue)>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for JsonArgs<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Members<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Members<'a> {
            type Value = JsonArgs<'a>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<JsonArgs<'a>, A::Error> {
                let mut members: Vec<(String, &'a serde_json::value::RawValue)> = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    let value: &'a serde_json::value::RawValue = map.next_value()?;
                    // a repeated key: the last one wins, as in a parsed object
                    members.retain(|(k, _)| *k != key);
                    members.push((key, value));
                }
                Ok(JsonArgs(members))
            }
        }
        d.deserialize_map(Members(std::marker::PhantomData))
    }
}

fn prepare_call(
    ctx: &PlanContext<'_>,
    request: &ApiRequest,
    name: &str,
    invoke: InvokeMethod,
    body: Bytes,
) -> Result<Prepared, ApiError> {
    let via = match (invoke, &request.content_type) {
        (InvokeMethod::Read { .. }, _) => plan::CallVia::Arguments,
        (_, MediaType::Json) => plan::CallVia::Json,
        (_, MediaType::TextPlain) => plan::CallVia::Raw("text"),
        (_, MediaType::TextXml) => plan::CallVia::Raw("xml"),
        (_, MediaType::OctetStream) => plan::CallVia::Raw("bytea"),
        _ => plan::CallVia::Arguments,
    };
    let single_object = request.preferences.params == Some(PreferParams::SingleObject);
    // A bytea body goes to Postgres in bytea's hex text form; nothing else needs the bytes.
    let bytea_hex = (via == plan::CallVia::Raw("bytea")).then(|| {
        let mut hex = String::with_capacity(2 + body.len() * 2);
        hex.push_str("\\x");
        for byte in body.iter() {
            // Writing to a String cannot fail.
            let _ = write!(hex, "{byte:02x}");
        }
        hex
    });
    // Query-string and form arguments are text; a JSON body's arguments are borrowed from the
    // body as raw JSON, so a large body is never built into a document (or copied) here.
    let (text_args, raw_body, head): (Vec<(String, String)>, Option<String>, bool) = match invoke {
        InvokeMethod::Read { headers_only } => (request.query.rpc_args.clone(), None, headers_only),
        InvokeMethod::Post => {
            let parsed = parse_payload(
                body.clone(),
                &request.content_type,
                &request.action,
                request.query.columns.as_deref(),
            )?;
            // A CSV body's rows, converted to JSON, name the arguments as a JSON body's do.
            let (pairs, converted) = match parsed.payload {
                Some(Payload::UrlEncoded { pairs, .. }) => (pairs, None),
                Some(Payload::Json { raw, .. })
                    if matches!(request.content_type, MediaType::Csv) =>
                {
                    (Vec::new(), Some(raw))
                }
                _ => (Vec::new(), None),
            };
            let raw = match (converted, &bytea_hex) {
                (Some(json), _) => bytes_into_string(json),
                (None, Some(_)) => String::new(),
                (None, None) => bytes_into_string(body),
            };
            (pairs, (!raw.trim().is_empty()).then_some(raw), false)
        }
    };
    // A JSON array body calls the function once, with the first element's arguments (as
    // PostgREST 12); a single unnamed json/jsonb parameter still receives the whole body. A
    // raw text/xml/bytea body names no arguments.
    let first_element = raw_body.as_deref().and_then(first_array_element);
    let json_args: Vec<(String, &serde_json::value::RawValue)> = match &raw_body {
        Some(raw) if text_args.is_empty() && !matches!(via, plan::CallVia::Raw(_)) => {
            serde_json::from_str::<JsonArgs<'_>>(first_element.as_deref().unwrap_or(raw))
                .map_or_else(|_| Vec::new(), |a| a.0)
        }
        _ => Vec::new(),
    };
    let names: BTreeSet<String> = text_args
        .iter()
        .map(|(k, _)| k.clone())
        .chain(json_args.iter().map(|(k, _)| k.clone()))
        .collect();
    let function = plan::find_function(ctx, name, &names, single_object, via)?;
    let read = matches!(invoke, InvokeMethod::Read { .. });
    // As PostgREST: GET/HEAD run in a READ ONLY transaction, so a volatile function that writes
    // fails with 25006 (405) and one that does not write simply works.
    let inputs: Vec<_> = function.input_args().collect();
    let mut text_args = merge_repeated_args(&inputs, text_args);
    // The whole body as the only argument: any single json/jsonb parameter with
    // `Prefer: params=single-object`, or a single unnamed parameter of the body's kind.
    let whole = if single_object {
        inputs
            .first()
            .and_then(|a| WholeBodyType::from_type_name(&a.type_name))
    } else {
        plan::whole_body_parameter(function, via)
    };
    let type_of = |name: &str| {
        inputs
            .iter()
            .find(|a| a.name.as_deref() == Some(name))
            .map_or("", |a| a.type_name.as_str())
    };
    let named: Vec<(String, Option<String>)> = if whole.is_some() {
        Vec::new()
    } else {
        json_args
            .iter()
            .map(|(k, v)| (k.clone(), plan::raw_json_arg_text(v, type_of(k))))
            .chain(text_args.drain(..).map(|(k, v)| (k, Some(v))))
            .collect()
    };
    drop(json_args);
    let call_args = match whole {
        Some(arg_type) => {
            let body = match (arg_type, bytea_hex) {
                (WholeBodyType::Bytea, Some(hex)) => hex,
                // Arguments from the query string or a form: one object of their texts.
                _ if !text_args.is_empty() || (single_object && raw_body.is_none()) => {
                    let object: serde_json::Map<String, Value> = text_args
                        .drain(..)
                        .map(|(k, v)| (k, Value::String(v)))
                        .collect();
                    Value::Object(object).to_string()
                }
                (WholeBodyType::Json | WholeBodyType::Jsonb, _) => {
                    raw_body.unwrap_or_else(|| "{}".into())
                }
                _ => raw_body.unwrap_or_default(),
            };
            CallArgs::Whole { body, arg_type }
        }
        None => CallArgs::Named(named),
    };
    let call = plan::call_plan(function, call_args);
    let shape = function.return_shape();
    let void = shape == ReturnShape::Void;
    let synthetic;
    let row_table = match &shape {
        ReturnShape::Relation(qname) => {
            Some(ctx.cache.table(&qname.schema, &qname.name).ok_or_else(|| {
                ApiError::not_implemented("the function's return table is not exposed")
            })?)
        }
        ReturnShape::Composite => {
            match function
                .return_type
                .relation
                .as_ref()
                .and_then(|r| ctx.cache.table(&r.schema, &r.name))
            {
                Some(table) if !function.has_out_args => Some(table),
                _ => {
                    synthetic = plan::output_table(function)?;
                    Some(&synthetic)
                }
            }
        }
        _ => None,
    };
    let (rows, body_shape, count) = match row_table {
        Some(table) => {
            let range = if function.returns_set {
                request.top_level_range.cap(ctx.max_rows)
            } else {
                RowRange::default()
            };
            let plan = plan::read_plan(
                ctx,
                table,
                Source::Cte("pgrst_source"),
                &select_or_star(&request.query.select),
                &request.query,
                &[],
                range,
            )?;
            let shape = if !function.returns_set {
                BodyShape::Object
            } else {
                body_shape(request)
            };
            (emit::read_rows(&plan), shape, emit::read_count(&plan))
        }
        None => {
            let mut plan = ReadPlan::new(Source::Cte("pgrst_source"));
            plan.select.push(SelectExpr::Star);
            let shape = match (&shape, function.returns_set) {
                // An anonymous record is called in the select list (a column definition list
                // would be needed in `from`); its JSON keeps the names of its fields.
                (ReturnShape::Record, true) => match body_shape(request) {
                    BodyShape::Array => BodyShape::ScalarArray,
                    BodyShape::Object => BodyShape::Scalar,
                    other => other,
                },
                (ReturnShape::Record, false) => BodyShape::Scalar,
                (_, true) => BodyShape::ScalarArray,
                (_, false) => BodyShape::Scalar,
            };
            if function.returns_set {
                let range = request.top_level_range.cap(ctx.max_rows);
                plan.limit = range.limit;
                plan.offset = range.offset;
            }
            (
                emit::read_rows(&plan),
                shape,
                Snippet::sql("select 1 from pgrst_source"),
            )
        }
    };
    let raw_media = raw_media(request, function, row_table.is_none())?;
    let body_shape = if raw_media.is_some() {
        BodyShape::Raw
    } else {
        body_shape
    };
    let statement = emit::statement(
        emit::call_cte(call),
        rows,
        if void || head {
            BodyShape::None
        } else {
            body_shape
        },
        StatementOptions {
            count: request.preferences.should_count().then_some(count),
            location_columns: Vec::new(),
            inserted: false,
            strip_nulls: strip_nulls(request),
        },
    );
    Ok(Prepared {
        statement,
        read_only: read || function.volatility != Volatility::Volatile,
        kind: Kind::Call { void, head },
        count_plan: None,
        estimate_above: None,
        raw_media,
    })
}

fn content_type(media: &MediaType) -> String {
    match media {
        MediaType::Any => "application/json; charset=utf-8".to_string(),
        other => other.content_type(),
    }
}

fn respond(
    request: &ApiRequest,
    prepared: &Prepared,
    output: execute::Output,
) -> Result<RestResponse, ApiError> {
    let rows = u64::try_from(output.page_total).unwrap_or(0);
    let exact = output.total.and_then(|t| u64::try_from(t).ok());
    let planned = output.planned_total.and_then(|t| u64::try_from(t).ok());
    let total = match (prepared.estimate_above, exact, planned) {
        // count=estimated: exact up to db-max-rows, then the larger of the two.
        (Some(max), Some(exact), Some(planned)) if exact > max => Some(exact.max(planned)),
        (Some(_), Some(exact), _) => Some(exact),
        (None, None, Some(planned)) => Some(planned),
        (_, exact, _) => exact,
    };
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut body = output.body.unwrap_or_default();
    let write_range = |rows: u64| match total {
        Some(total) => format!("*/{total}"),
        None if rows > 0 => "*/*".to_string(),
        None => "*/*".to_string(),
    };
    let (mut status, send_body) = match prepared.kind {
        Kind::Read { head } => {
            let offset = request.top_level_range.offset;
            offset_within(offset, total)?;
            headers.push(("content-range".into(), content_range(offset, rows, total)));
            let partial = total.is_some_and(|t| rows < t);
            (
                if partial {
                    StatusCode::PARTIAL_CONTENT
                } else {
                    StatusCode::OK
                },
                !head,
            )
        }
        Kind::Create {
            representation,
            upsert,
        } => {
            headers.push(("content-range".into(), write_range(rows)));
            if let Some(query) = output.location.as_deref().and_then(location_query) {
                headers.push((
                    "location".into(),
                    format!("/{}?{}", relation_name(request), query),
                ));
            }
            // PostgREST 12: a merge-duplicates upsert that inserted nothing (every row updated,
            // or no rows at all) is 200; anything else 201.
            let status = if upsert && output.inserted.is_some_and(|n| n <= 0) {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            };
            (status, representation)
        }
        Kind::Put { representation } => {
            headers.push(("content-range".into(), write_range(rows)));
            if representation {
                // 201 when the row was inserted, 200 when it was updated (PostgREST 12).
                let inserted = output.inserted.is_some_and(|n| n > 0);
                (
                    if inserted {
                        StatusCode::CREATED
                    } else {
                        StatusCode::OK
                    },
                    true,
                )
            } else {
                (StatusCode::NO_CONTENT, false)
            }
        }
        Kind::Modify {
            representation,
            patch,
        } => {
            let total_s = total.map_or_else(|| "*".to_string(), |t| t.to_string());
            headers.push((
                "content-range".into(),
                if rows == 0 || !patch {
                    format!("*/{total_s}")
                } else {
                    format!("0-{}/{total_s}", rows - 1)
                },
            ));
            if representation {
                (StatusCode::OK, true)
            } else {
                (StatusCode::NO_CONTENT, false)
            }
        }
        Kind::Call { void, head } => {
            if void {
                (StatusCode::NO_CONTENT, false)
            } else {
                let offset = request.top_level_range.offset;
                offset_within(offset, total)?;
                headers.push(("content-range".into(), content_range(offset, rows, total)));
                let partial = total.is_some_and(|t| rows < t);
                (
                    if partial {
                        StatusCode::PARTIAL_CONTENT
                    } else {
                        StatusCode::OK
                    },
                    !head,
                )
            }
        }
    };
    if let Some(applied) = request.preferences.applied_header() {
        headers.push(("preference-applied".into(), applied));
    }
    if let Some(raw) = output.response_headers {
        let parsed: Result<Vec<serde_json::Map<String, Value>>, _> = serde_json::from_str(&raw);
        let Ok(list) = parsed else {
            return Err(ApiError::new(
                "PGRST111",
                StatusCode::INTERNAL_SERVER_ERROR,
                "response.headers guc must be a JSON array composed of objects with a single key and a string value",
            ));
        };
        // As PostgREST: a header set here replaces the one PostgREST would send; one set
        // twice here (two `Set-Cookie`s) is sent twice.
        let set: Vec<(String, String)> = list
            .into_iter()
            .flatten()
            .map(|(name, value)| {
                let value = value
                    .as_str()
                    .map_or_else(|| value.to_string(), str::to_string);
                (name.to_ascii_lowercase(), value)
            })
            .collect();
        headers.retain(|(n, _)| !set.iter().any(|(name, _)| name == n));
        headers.extend(set);
    }
    if let Some(raw) = output.response_status {
        status = raw
            .trim()
            .parse::<u16>()
            .ok()
            .and_then(|s| StatusCode::from_u16(s).ok())
            .ok_or_else(|| {
                ApiError::new(
                    "PGRST112",
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "response.status guc must be a valid status code",
                )
            })?;
    }
    // A HEAD read or call answers the Content-Type its GET would (as PostgREST 12); a write
    // without a representation answers none.
    let head = matches!(
        prepared.kind,
        Kind::Read { head: true }
            | Kind::Call {
                void: false,
                head: true
            }
    );
    if (send_body || head) && !headers.iter().any(|(n, _)| n == "content-type") {
        let value = match &prepared.raw_media {
            Some(raw) => raw.content_type.clone(),
            None => content_type(&request.media_type),
        };
        headers.push(("content-type".into(), value));
    }
    if !send_body {
        // Freed now rather than held until the response is sent.
        body = Bytes::new();
    } else if prepared.raw_media.as_ref().is_some_and(|r| r.bytes) {
        // A raw bytea result arrives in its hex text form (`\x…`).
        body = decode_bytea_hex(&body).map_or(body, Bytes::from);
    }
    Ok(RestResponse {
        status,
        headers,
        // Still the buffer the row arrived in: no copy of the body on its way to the client.
        body,
    })
}

/// The bytes of bytea's hex text form (`\x…`, possibly several concatenated); `None` when it
/// is not that form.
fn decode_bytea_hex(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 2);
    let mut rest = text;
    while !rest.is_empty() {
        rest = rest.strip_prefix(b"\\x")?;
        let end = rest.iter().position(|b| *b == b'\\').unwrap_or(rest.len());
        let (hex, tail) = rest.split_at(end);
        if hex.len() % 2 != 0 {
            return None;
        }
        for pair in hex.chunks(2) {
            let digits = std::str::from_utf8(pair).ok()?;
            out.push(u8::from_str_radix(digits, 16).ok()?);
        }
        rest = tail;
    }
    Some(out)
}

/// The text of the first element of a non-empty JSON array; `None` for anything else.
fn first_array_element(text: &str) -> Option<String> {
    if !text.trim_start().starts_with('[') {
        return None;
    }
    let elements: Vec<&serde_json::value::RawValue> = serde_json::from_str(text).ok()?;
    elements.first().map(|e| e.get().to_string())
}

/// The query string of a `Location` header from the statement's `[[column, "eq.v"], …]`,
/// each part encoded as PostgREST 12 does (`renderSimpleQuery True`): letters, digits and
/// `-_.~` kept, a space as `+`, anything else `%XX`.
fn location_query(pairs: &str) -> Option<String> {
    const KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    let encode = |text: &str| {
        percent_encoding::utf8_percent_encode(text, KEEP)
            .to_string()
            .replace("%20", "+")
    };
    let pairs: Vec<(String, String)> = serde_json::from_str(pairs).ok()?;
    (!pairs.is_empty()).then(|| {
        pairs
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    })
}

fn relation_name(request: &ApiRequest) -> &str {
    match &request.action {
        Action::RelationMut { relation, .. } | Action::RelationRead { relation, .. } => relation,
        _ => "",
    }
}

/// A plain `OPTIONS` (not a CORS preflight): the `Allow` header, and `Access-Control-Allow-Origin:
/// *` as PostgREST's CORS middleware adds to it. An unknown table is PostgREST 12's 404 `{}`.
fn options_response(ctx: &PlanContext<'_>, request: &ApiRequest) -> Result<RestResponse, ApiError> {
    let allow = match &request.action {
        Action::RelationInfo { relation } => match ctx.cache.table(ctx.schema, relation) {
            Some(table) => {
                let mut methods = vec!["OPTIONS", "GET", "HEAD"];
                if table.insertable {
                    methods.push("POST");
                    if !table.primary_key.is_empty() {
                        methods.push("PUT");
                    }
                }
                if table.updatable {
                    methods.push("PATCH");
                }
                if table.deletable {
                    methods.push("DELETE");
                }
                methods.join(",")
            }
            None => return Err(ApiError::not_found()),
        },
        Action::RoutineInfo { function } => {
            let volatile = ctx
                .cache
                .function_overloads(ctx.schema, function)
                .iter()
                .any(|f| f.volatility == Volatility::Volatile);
            if volatile {
                "OPTIONS,POST"
            } else {
                "OPTIONS,GET,HEAD,POST"
            }
            .to_string()
        }
        _ => "OPTIONS,GET,HEAD".to_string(),
    };
    Ok(RestResponse {
        status: StatusCode::OK,
        headers: vec![
            ("allow".into(), allow),
            ("access-control-allow-origin".into(), "*".into()),
        ],
        body: Bytes::new(),
    })
}
