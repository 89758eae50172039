//! The request front end: routing, method → action, profile (schema) selection, query string,
//! ranges, preferences and content negotiation, tied together into an [`ApiRequest`]
//! (PostgREST's `ApiRequest.hs`). Pure: no I/O, no schema cache (the few facts it needs from
//! configuration and the schema cache come in a [`RequestConfig`]).

use std::collections::HashSet;
use std::sync::Arc;

use http::{HeaderMap, Method};

use crate::error::ApiError;
use crate::media::{self, MediaType, Producible};
use crate::preferences::{PreferenceOptions, Preferences};
use crate::query::{self, QueryParams};
use crate::range::{self, RowRange};

/// What the request path addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    /// `/{relation}`
    Relation(String),
    /// `/rpc/{function}` (or the `db-root-spec` function on `/`)
    Routine(String),
    /// `/` — the OpenAPI description of the schema.
    Root,
}

/// The kind of write on a relation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutation {
    /// POST: insert (or upsert with `resolution=`).
    Create,
    /// PATCH: update.
    Update,
    /// PUT: single-row upsert.
    SingleUpsert,
    /// DELETE.
    Delete,
}

/// How a function is invoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvokeMethod {
    /// POST: arguments in the body; read-write if the function is VOLATILE.
    Post,
    /// GET/HEAD: arguments in the query string; read-only.
    Read {
        /// HEAD: no body in the response.
        headers_only: bool,
    },
}

/// What the client wants done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// GET/HEAD `/{relation}`.
    RelationRead {
        /// Relation name (unqualified; the schema is [`ApiRequest::schema`]).
        relation: String,
        /// HEAD
        headers_only: bool,
    },
    /// POST/PATCH/PUT/DELETE `/{relation}`.
    RelationMut {
        /// Relation name.
        relation: String,
        /// The write.
        mutation: Mutation,
    },
    /// GET/HEAD/POST `/rpc/{function}`.
    Routine {
        /// Function name.
        function: String,
        /// How it is called.
        invoke: InvokeMethod,
    },
    /// GET/HEAD `/`.
    SchemaRead {
        /// HEAD
        headers_only: bool,
    },
    /// OPTIONS `/{relation}`.
    RelationInfo {
        /// Relation name.
        relation: String,
    },
    /// OPTIONS `/rpc/{function}`.
    RoutineInfo {
        /// Function name.
        function: String,
    },
    /// OPTIONS `/`.
    SchemaInfo,
}

impl Action {
    /// GET/HEAD on `/rpc/*`: query parameters without an operator are function arguments.
    pub fn is_rpc_read(&self) -> bool {
        matches!(
            self,
            Action::Routine {
                invoke: InvokeMethod::Read { .. },
                ..
            }
        )
    }

    /// OPTIONS requests (no transaction, no body).
    pub fn is_info(&self) -> bool {
        matches!(
            self,
            Action::RelationInfo { .. } | Action::RoutineInfo { .. } | Action::SchemaInfo
        )
    }
}

/// Configuration and schema-cache facts the front end needs.
#[derive(Debug, Clone)]
pub struct RequestConfig {
    /// `db-schemas`, the first being the default. Must not be empty.
    pub schemas: Vec<String>,
    /// `openapi-mode` is not `disabled`.
    pub openapi_enabled: bool,
    /// `db-root-spec`: a function that serves `/` instead of the OpenAPI output.
    pub root_spec: Option<String>,
    /// `db-tx-end` allows `Prefer: tx=` overrides.
    pub allow_tx_override: bool,
    /// `db-tx-end`'s default: commit, or roll back every request's transaction.
    pub tx_end: pgbase_db::TxEnd,
    /// `db-pre-request`: the statement calling the pre-request function
    /// ([`pgbase_db::pre_request_call`]).
    pub pre_request: Option<String>,
    /// `db-plan-enabled`: the `application/vnd.pgrst.plan` media types are available.
    pub plan_enabled: bool,
    /// Extra media types that custom handlers in the schema cache can produce.
    pub extra_media_types: Vec<MediaType>,
    /// Time zone names the database knows (`pg_timezone_names`); `None` accepts any.
    pub timezones: Option<Arc<HashSet<String>>>,
    /// `db_safe_update` (pg-safeupdate, as Supabase loads it): a PATCH or DELETE without any
    /// filter on the target table is refused with 21000 (400) instead of touching every row.
    pub safe_update: bool,
    /// `db-extra-search-path`: schemas appended to the request's `search_path`.
    pub extra_search_path: Vec<String>,
    /// `db-aggregates-enabled`: aggregates in `select` are allowed (else PGRST123).
    pub aggregates_enabled: bool,
    /// The plans of recent GETs under this configuration (a clone starts empty, so a changed
    /// copy never sees plans made under the original).
    pub reads: crate::handler::ReadCache,
}

impl Default for RequestConfig {
    fn default() -> Self {
        RequestConfig {
            schemas: vec!["public".to_owned()],
            openapi_enabled: true,
            root_spec: None,
            allow_tx_override: false,
            tx_end: pgbase_db::TxEnd::Commit,
            pre_request: None,
            plan_enabled: false,
            extra_media_types: Vec::new(),
            timezones: None,
            safe_update: true,
            extra_search_path: vec!["public".to_owned()],
            aggregates_enabled: true,
            reads: crate::handler::ReadCache::default(),
        }
    }
}

/// Whether `select` (at any embed level) calls an aggregate.
fn uses_aggregates(select: &[crate::ast::SelectItem]) -> bool {
    select.iter().any(|item| match item {
        crate::ast::SelectItem::Field(f) => f.aggregate.is_some(),
        crate::ast::SelectItem::Relation(e) | crate::ast::SelectItem::Spread(e) => {
            uses_aggregates(&e.children)
        }
    })
}

/// A request, fully parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiRequest {
    /// The HTTP method.
    pub method: Method,
    /// The path after `/rest/v1`, as received.
    pub path: String,
    /// What to do.
    pub action: Action,
    /// The target schema (from the profile headers, else the default).
    pub schema: String,
    /// A profile header chose the schema, or several schemas are configured: the response
    /// echoes `Content-Profile`.
    pub negotiated_by_profile: bool,
    /// The parsed query string.
    pub query: QueryParams,
    /// The `Prefer` headers.
    pub preferences: Preferences,
    /// The root range: `limit`/`offset` intersected with the `Range` header (GET only).
    pub top_level_range: RowRange,
    /// The `Accept` header's media types, best first.
    pub accept: Vec<MediaType>,
    /// The negotiated response media type.
    pub media_type: MediaType,
    /// A function call accepted only types that may be raw output (`text/plain`, a domain's
    /// media type, …): `media_type` is the first of them, to be checked against the
    /// function's result (else PGRST107).
    pub media_deferred: bool,
    /// The request body's `Content-Type` (default `application/json`).
    pub content_type: MediaType,
    /// Request headers with lower-cased names, without `Cookie` (for `request.headers`).
    pub headers: Vec<(String, String)>,
    /// Cookies (for `request.cookies`).
    pub cookies: Vec<(String, String)>,
}

/// Splits a path (after `/rest/v1`) into the addressed resource. `/` is the root (or the
/// `root_spec` function); deeper paths, and root with OpenAPI disabled, are a bare 404 `{}`.
pub fn route(path: &str, cfg: &RequestConfig) -> Result<Resource, ApiError> {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    if trimmed.is_empty() {
        return match (&cfg.root_spec, cfg.openapi_enabled) {
            (Some(f), _) => Ok(Resource::Routine(f.clone())),
            (None, true) => Ok(Resource::Root),
            (None, false) => Err(ApiError::openapi_disabled()),
        };
    }
    let segments: Vec<String> = trimmed
        .split('/')
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    match segments.as_slice() {
        [name] => Ok(Resource::Relation(name.clone())),
        [rpc, name] if rpc == "rpc" => Ok(Resource::Routine(name.clone())),
        _ => Err(ApiError::invalid_resource_path()),
    }
}

/// Maps resource and method to an action (`PGRST101` for other verbs on RPC, `PGRST117` for
/// unknown verbs).
pub fn action_for(resource: Resource, method: &Method) -> Result<Action, ApiError> {
    let m = method.as_str();
    match resource {
        Resource::Routine(function) => {
            let invoke = match m {
                "GET" => InvokeMethod::Read {
                    headers_only: false,
                },
                "HEAD" => InvokeMethod::Read { headers_only: true },
                "POST" => InvokeMethod::Post,
                "OPTIONS" => return Ok(Action::RoutineInfo { function }),
                _ => return Err(ApiError::invalid_rpc_method(m)),
            };
            Ok(Action::Routine { function, invoke })
        }
        Resource::Relation(relation) => {
            let mutation = match m {
                "GET" | "HEAD" => {
                    return Ok(Action::RelationRead {
                        relation,
                        headers_only: m == "HEAD",
                    });
                }
                "OPTIONS" => return Ok(Action::RelationInfo { relation }),
                "POST" => Mutation::Create,
                "PATCH" => Mutation::Update,
                "PUT" => Mutation::SingleUpsert,
                "DELETE" => Mutation::Delete,
                _ => return Err(ApiError::unsupported_method(m)),
            };
            Ok(Action::RelationMut { relation, mutation })
        }
        Resource::Root => match m {
            "GET" | "HEAD" => Ok(Action::SchemaRead {
                headers_only: m == "HEAD",
            }),
            "OPTIONS" => Ok(Action::SchemaInfo),
            _ => Err(ApiError::unsupported_method(m)),
        },
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Chooses the schema: `Content-Profile` for POST/PATCH/PUT/DELETE, `Accept-Profile`
/// otherwise; a schema outside `schemas` is `PGRST106`.
pub fn select_schema(
    cfg: &RequestConfig,
    method: &Method,
    headers: &HeaderMap,
) -> Result<(String, bool), ApiError> {
    let header = match method.as_str() {
        "POST" | "PATCH" | "PUT" | "DELETE" => "content-profile",
        _ => "accept-profile",
    };
    match headers.get(header) {
        Some(v) => {
            let p = String::from_utf8_lossy(v.as_bytes()).into_owned();
            if cfg.schemas.contains(&p) {
                Ok((p, true))
            } else {
                Err(ApiError::unacceptable_schema(&cfg.schemas))
            }
        }
        None => Ok((
            cfg.schemas
                .first()
                .cloned()
                .unwrap_or_else(|| "public".to_owned()),
            cfg.schemas.len() != 1,
        )),
    }
}

fn parse_cookies(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .flat_map(|v| {
            String::from_utf8_lossy(v.as_bytes())
                .split(';')
                .filter_map(|c| {
                    let (k, v) = c.split_once('=')?;
                    let k = k.trim();
                    (!k.is_empty()).then(|| (k.to_owned(), v.trim().to_owned()))
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Parses a request line and headers into an [`ApiRequest`].
///
/// `path` is the path after `/rest/v1` (e.g. `/films`, `/rpc/f`, `/`), `query` the raw query
/// string without `?`. The body is parsed separately with [`crate::payload::parse_payload`].
///
/// Checks, in PostgREST's order: path (404), profile (`PGRST106`), method
/// (`PGRST101`/`117`), query string (`PGRST100`/`103`), ranges (`PGRST103`/`114`), strict
/// preferences (`PGRST122`), `Accept` (`PGRST107`).
pub fn parse_request(
    cfg: &RequestConfig,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Result<ApiRequest, ApiError> {
    let resource = route(path, cfg)?;
    let (schema, negotiated_by_profile) = select_schema(cfg, method, headers)?;
    let action = action_for(resource, method)?;
    let qp = query::parse_query(query.unwrap_or(""), action.is_rpc_read())?;
    if !cfg.aggregates_enabled && uses_aggregates(&qp.select) {
        return Err(ApiError::new(
            "PGRST123",
            http::StatusCode::BAD_REQUEST,
            "Use of aggregate functions is not allowed",
        ));
    }

    let top_level_range = range::top_level_range(
        qp.root_range(),
        header_str(headers, "range"),
        method == Method::GET,
    )?;
    if matches!(
        action,
        Action::RelationMut {
            mutation: Mutation::SingleUpsert,
            ..
        }
    ) && !top_level_range.is_all()
    {
        return Err(ApiError::put_limit_not_allowed());
    }
    // A limited PATCH/DELETE must say which rows come first.
    if matches!(
        action,
        Action::RelationMut {
            mutation: Mutation::Update | Mutation::Delete,
            ..
        }
    ) && !qp.ranges.is_empty()
        && qp.order.is_empty()
    {
        return Err(ApiError::limit_no_order());
    }

    let tz_check = cfg
        .timezones
        .as_ref()
        .map(|set| move |z: &str| set.contains(z));
    let tz_fn: Option<&dyn Fn(&str) -> bool> =
        tz_check.as_ref().map(|f| f as &dyn Fn(&str) -> bool);
    let preferences = Preferences::parse(
        headers
            .get_all("prefer")
            .iter()
            .filter_map(|v| v.to_str().ok()),
        PreferenceOptions {
            allow_tx_override: cfg.allow_tx_override,
            is_timezone: tz_fn,
        },
    );
    preferences.check_strict()?;

    let accept = media::parse_accept(header_str(headers, "accept"));
    let mut media_deferred = false;
    let media_type = if action.is_info() {
        MediaType::Json
    } else {
        let mut producible = match action {
            Action::SchemaRead { .. } => Producible::root(),
            _ => Producible::relation(cfg.plan_enabled),
        };
        producible
            .types
            .extend(cfg.extra_media_types.iter().cloned());
        match media::negotiate(&accept, &producible) {
            Ok(media) => media,
            // A function's scalar result may go out raw: decided once the function is known.
            Err(error) => match (&action, accept.iter().find(|m| m.may_be_raw())) {
                (Action::Routine { .. }, Some(raw)) => {
                    media_deferred = true;
                    raw.clone()
                }
                _ => return Err(error),
            },
        }
    };
    let content_type =
        header_str(headers, "content-type").map_or(MediaType::Json, MediaType::parse);

    let hdrs = headers
        .iter()
        .filter(|(k, _)| *k != http::header::COOKIE)
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();

    Ok(ApiRequest {
        method: method.clone(),
        path: path.to_owned(),
        action,
        schema,
        negotiated_by_profile,
        query: qp,
        preferences,
        top_level_range,
        accept,
        media_type,
        media_deferred,
        content_type,
        headers: hdrs,
        cookies: parse_cookies(headers),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn hdrs(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            if let Ok(v) = HeaderValue::from_str(v) {
                h.append(*k, v);
            }
        }
        h
    }

    fn req(
        method: &str,
        path: &str,
        query: &str,
        h: &[(&'static str, &str)],
    ) -> Result<ApiRequest, ApiError> {
        let m = Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET);
        parse_request(&RequestConfig::default(), &m, path, Some(query), &hdrs(h))
    }

    fn ok(method: &str, path: &str, query: &str, h: &[(&'static str, &str)]) -> ApiRequest {
        match req(method, path, query, h) {
            Ok(r) => r,
            Err(e) => panic!("{method} {path}?{query}: {:?}", e.body()),
        }
    }

    fn code(r: Result<ApiRequest, ApiError>) -> (String, u16, String) {
        let e = r.expect_err("expected error");
        (
            e.code().to_owned(),
            e.status().as_u16(),
            e.message().to_owned(),
        )
    }

    #[test]
    fn routing() {
        let cfg = RequestConfig::default();
        assert_eq!(route("/", &cfg), Ok(Resource::Root));
        assert_eq!(route("", &cfg), Ok(Resource::Root));
        assert_eq!(
            route("/films", &cfg),
            Ok(Resource::Relation("films".into()))
        );
        assert_eq!(route("/rpc/f", &cfg), Ok(Resource::Routine("f".into())));
        assert_eq!(route("/rpc", &cfg), Ok(Resource::Relation("rpc".into())));
        assert_eq!(
            route("/my%20table", &cfg),
            Ok(Resource::Relation("my table".into()))
        );
        assert_eq!(
            route("/caf%C3%A9", &cfg),
            Ok(Resource::Relation("café".into()))
        );
        assert_eq!(
            route("/rpc/do%2Bit", &cfg),
            Ok(Resource::Routine("do+it".into()))
        );
        assert_eq!(route("/a+b", &cfg), Ok(Resource::Relation("a+b".into())));
        for deep in ["/a/b", "/rpc/f/x", "/films/", "/a/b/c", "//"] {
            // PostgREST 12: a bare 404 `{}` (v13 answers PGRST125).
            let e = route(deep, &cfg).unwrap_err();
            assert_eq!(e.body(), serde_json::json!({}), "{deep}");
            assert_eq!(e.status().as_u16(), 404);
        }
        let off = RequestConfig {
            openapi_enabled: false,
            ..RequestConfig::default()
        };
        // PostgREST 12: a bare 404 `{}` (v13 answers PGRST126).
        assert_eq!(route("/", &off).unwrap_err().body(), serde_json::json!({}));
        assert_eq!(route("/", &off).unwrap_err().status().as_u16(), 404);
        let spec = RequestConfig {
            root_spec: Some("root".into()),
            ..off
        };
        assert_eq!(route("/", &spec), Ok(Resource::Routine("root".into())));
    }

    #[test]
    fn methods_to_actions() {
        let rel = |m: &str| ok(m, "/films", "", &[]).action;
        assert_eq!(
            rel("GET"),
            Action::RelationRead {
                relation: "films".into(),
                headers_only: false
            }
        );
        assert_eq!(
            rel("HEAD"),
            Action::RelationRead {
                relation: "films".into(),
                headers_only: true
            }
        );
        assert_eq!(
            rel("POST"),
            Action::RelationMut {
                relation: "films".into(),
                mutation: Mutation::Create
            }
        );
        assert_eq!(
            rel("PATCH"),
            Action::RelationMut {
                relation: "films".into(),
                mutation: Mutation::Update
            }
        );
        assert_eq!(
            rel("PUT"),
            Action::RelationMut {
                relation: "films".into(),
                mutation: Mutation::SingleUpsert
            }
        );
        assert_eq!(
            rel("DELETE"),
            Action::RelationMut {
                relation: "films".into(),
                mutation: Mutation::Delete
            }
        );
        assert_eq!(
            rel("OPTIONS"),
            Action::RelationInfo {
                relation: "films".into()
            }
        );
        let rpc = |m: &str| ok(m, "/rpc/f", "", &[]).action;
        assert_eq!(
            rpc("GET"),
            Action::Routine {
                function: "f".into(),
                invoke: InvokeMethod::Read {
                    headers_only: false
                }
            }
        );
        assert_eq!(
            rpc("HEAD"),
            Action::Routine {
                function: "f".into(),
                invoke: InvokeMethod::Read { headers_only: true }
            }
        );
        assert_eq!(
            rpc("POST"),
            Action::Routine {
                function: "f".into(),
                invoke: InvokeMethod::Post
            }
        );
        assert_eq!(
            rpc("OPTIONS"),
            Action::RoutineInfo {
                function: "f".into()
            }
        );
        assert!(ok("GET", "/rpc/f", "", &[]).action.is_rpc_read());
        let root = |m: &str| ok(m, "/", "", &[]).action;
        assert_eq!(
            root("GET"),
            Action::SchemaRead {
                headers_only: false
            }
        );
        assert_eq!(root("HEAD"), Action::SchemaRead { headers_only: true });
        assert_eq!(root("OPTIONS"), Action::SchemaInfo);
        assert!(Action::SchemaInfo.is_info());
    }

    #[test]
    fn bad_methods() {
        for m in ["PATCH", "PUT", "DELETE", "TRACE"] {
            assert_eq!(
                code(req(m, "/rpc/f", "", &[])),
                (
                    "PGRST101".into(),
                    405,
                    format!("Cannot use the {m} method on RPC")
                )
            );
        }
        for m in ["TRACE", "CONNECT", "FOO"] {
            assert_eq!(
                code(req(m, "/films", "", &[])),
                (
                    "PGRST117".into(),
                    405,
                    format!("Unsupported HTTP method: {m}")
                )
            );
        }
        for m in ["POST", "PATCH", "DELETE", "PUT"] {
            assert_eq!(code(req(m, "/", "", &[])).0, "PGRST117");
        }
        // The path is checked before the method.
        // (PostgREST 12's bare 404 for the path, not the method's 405)
        assert_eq!(code(req("TRACE", "/a/b", "", &[])).1, 404);
    }

    #[test]
    fn profiles() {
        let cfg = RequestConfig {
            schemas: vec!["public".into(), "api".into()],
            ..RequestConfig::default()
        };
        let run =
            |m: Method, h: &[(&'static str, &str)]| parse_request(&cfg, &m, "/t", None, &hdrs(h));
        let r = run(Method::GET, &[]).unwrap();
        assert_eq!(
            (r.schema.as_str(), r.negotiated_by_profile),
            ("public", true)
        );
        let r = run(Method::GET, &[("accept-profile", "api")]).unwrap();
        assert_eq!((r.schema.as_str(), r.negotiated_by_profile), ("api", true));
        let r = run(Method::POST, &[("content-profile", "api")]).unwrap();
        assert_eq!(r.schema, "api");
        // The other header is ignored.
        let r = run(Method::POST, &[("accept-profile", "api")]).unwrap();
        assert_eq!(r.schema, "public");
        let r = run(Method::HEAD, &[("accept-profile", "api")]).unwrap();
        assert_eq!(r.schema, "api");
        let r = run(Method::DELETE, &[("content-profile", "api")]).unwrap();
        assert_eq!(r.schema, "api");
        let e = run(Method::GET, &[("accept-profile", "secret")]).unwrap_err();
        assert_eq!(e.code(), "PGRST106");
        assert_eq!(e.status().as_u16(), 406);
        assert_eq!(
            e.message(),
            "The schema must be one of the following: public, api"
        );
        let e = run(Method::PATCH, &[("content-profile", "x")]).unwrap_err();
        assert_eq!(e.code(), "PGRST106");
        // Single schema: not negotiated unless a header was sent.
        let r = ok("GET", "/t", "", &[]);
        assert_eq!(
            (r.schema.as_str(), r.negotiated_by_profile),
            ("public", false)
        );
        let r = ok("GET", "/t", "", &[("accept-profile", "public")]);
        assert!(r.negotiated_by_profile);
    }

    #[test]
    fn ranges() {
        let r = ok(
            "GET",
            "/t",
            "limit=10",
            &[("range", "2-5"), ("range-unit", "items")],
        );
        assert_eq!(
            r.top_level_range,
            RowRange {
                offset: 2,
                limit: Some(4)
            }
        );
        let r = ok("GET", "/t", "offset=3", &[("range", "0-")]);
        assert_eq!(
            r.top_level_range,
            RowRange {
                offset: 3,
                limit: None
            }
        );
        let r = ok("HEAD", "/t", "", &[("range", "0-9")]);
        assert_eq!(r.top_level_range, RowRange::ALL);
        let r = ok("GET", "/t", "limit=0", &[("range", "0-9")]);
        assert_eq!(
            r.top_level_range,
            RowRange {
                offset: 0,
                limit: Some(0)
            }
        );
        let e = req("GET", "/t", "", &[("range", "5-1")]).unwrap_err();
        assert_eq!(e.code(), "PGRST103");
        assert_eq!(e.status().as_u16(), 416);
        assert_eq!(
            code(req("PUT", "/t", "limit=1", &[])),
            (
                "PGRST114".into(),
                400,
                "limit/offset querystring parameters are not allowed for PUT".into()
            )
        );
        assert_eq!(code(req("PUT", "/t", "offset=1", &[])).0, "PGRST114");
        assert!(req("PUT", "/t", "id=eq.1", &[("range", "0-1")]).is_ok());
        assert!(req("PATCH", "/t", "limit=1&order=id", &[]).is_ok());
    }

    #[test]
    fn preferences_and_strict_handling() {
        let r = ok(
            "POST",
            "/t",
            "",
            &[
                ("prefer", "return=representation"),
                ("prefer", "count=exact, tx=rollback"),
            ],
        );
        assert_eq!(
            r.preferences.representation,
            Some(crate::preferences::PreferReturn::Representation)
        );
        assert_eq!(
            r.preferences.count,
            Some(crate::preferences::PreferCount::Exact)
        );
        assert_eq!(r.preferences.transaction, None);
        let cfg = RequestConfig {
            allow_tx_override: true,
            ..RequestConfig::default()
        };
        let r = parse_request(
            &cfg,
            &Method::POST,
            "/t",
            None,
            &hdrs(&[("prefer", "tx=rollback")]),
        )
        .unwrap();
        assert_eq!(
            r.preferences.transaction,
            Some(crate::preferences::PreferTx::Rollback)
        );
        let e = req("GET", "/t", "", &[("prefer", "handling=strict, bogus")]).unwrap_err();
        assert_eq!(e.code(), "PGRST122");
        assert_eq!(e.body()["details"], "Invalid preferences: bogus");
        assert!(req("GET", "/t", "", &[("prefer", "handling=lenient, bogus")]).is_ok());
        let tz: HashSet<String> = ["UTC".to_owned()].into_iter().collect();
        let cfg = RequestConfig {
            timezones: Some(Arc::new(tz)),
            ..RequestConfig::default()
        };
        let r = parse_request(
            &cfg,
            &Method::GET,
            "/t",
            None,
            &hdrs(&[("prefer", "timezone=UTC")]),
        )
        .unwrap();
        assert_eq!(r.preferences.timezone.as_deref(), Some("UTC"));
        let e = parse_request(
            &cfg,
            &Method::GET,
            "/t",
            None,
            &hdrs(&[("prefer", "timezone=Nope, handling=strict")]),
        )
        .unwrap_err();
        assert_eq!(e.code(), "PGRST122");
    }

    #[test]
    fn accept_negotiation() {
        assert_eq!(ok("GET", "/t", "", &[]).media_type, MediaType::Json);
        assert_eq!(
            ok("GET", "/t", "", &[("accept", "text/csv")]).media_type,
            MediaType::Csv
        );
        assert_eq!(
            ok(
                "GET",
                "/t",
                "",
                &[("accept", "application/vnd.pgrst.object+json")]
            )
            .media_type,
            MediaType::SingularJson { strip_nulls: false }
        );
        assert_eq!(
            ok(
                "POST",
                "/t",
                "",
                &[("accept", "application/vnd.pgrst.object+json;nulls=stripped")]
            )
            .media_type,
            MediaType::SingularJson { strip_nulls: true }
        );
        assert_eq!(ok("GET", "/", "", &[]).media_type, MediaType::OpenApi);
        assert_eq!(
            code(req("GET", "/t", "", &[("accept", "text/html")])),
            (
                "PGRST107".into(),
                406,
                "None of these media types are available: text/html".into()
            )
        );
        assert_eq!(
            code(req("GET", "/", "", &[("accept", "text/csv")])).0,
            "PGRST107"
        );
        assert_eq!(
            code(req(
                "GET",
                "/t",
                "",
                &[("accept", "application/vnd.pgrst.plan+json")]
            ))
            .0,
            "PGRST107"
        );
        // OPTIONS does not negotiate.
        assert!(req("OPTIONS", "/t", "", &[("accept", "text/html")]).is_ok());
        // Plans when enabled; custom handler types from the schema cache.
        let cfg = RequestConfig {
            plan_enabled: true,
            extra_media_types: vec![MediaType::Other("text/html".into())],
            ..RequestConfig::default()
        };
        let run = |a: &str| parse_request(&cfg, &Method::GET, "/t", None, &hdrs(&[("accept", a)]));
        assert!(matches!(
            run("application/vnd.pgrst.plan+json; for=\"text/csv\"; options=analyze")
                .map(|r| r.media_type),
            Ok(MediaType::Plan { .. })
        ));
        assert_eq!(
            run("text/html").map(|r| r.media_type),
            Ok(MediaType::Other("text/html".into()))
        );
    }

    #[test]
    fn content_type_headers_and_cookies() {
        let r = ok(
            "POST",
            "/t",
            "",
            &[
                ("content-type", "text/csv"),
                ("cookie", "a=1; b=two"),
                ("x-custom", "v"),
            ],
        );
        assert_eq!(r.content_type, MediaType::Csv);
        assert_eq!(
            r.cookies,
            vec![("a".into(), "1".into()), ("b".into(), "two".into())]
        );
        assert!(r.headers.iter().any(|(k, v)| k == "x-custom" && v == "v"));
        assert!(!r.headers.iter().any(|(k, _)| k == "cookie"));
        assert_eq!(ok("POST", "/t", "", &[]).content_type, MediaType::Json);
        assert_eq!(r.path, "/t");
        assert_eq!(r.method, Method::POST);
    }

    #[test]
    fn query_errors_surface() {
        let e = req("GET", "/t", "select=a[", &[]).unwrap_err();
        assert_eq!(e.code(), "PGRST100");
        let r = ok("GET", "/rpc/f", "a=1&b=eq.2", &[]);
        assert_eq!(r.query.rpc_args, vec![("a".into(), "1".into())]);
        assert_eq!(r.query.filters.len(), 1);
        // On POST /rpc, an operator-less value is an error.
        assert_eq!(
            req("POST", "/rpc/f", "a=1", &[]).unwrap_err().code(),
            "PGRST100"
        );
    }
}
