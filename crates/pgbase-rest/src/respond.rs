//! REST pipeline, stage 5 — respond: what the statement returned ([`execute::Output`]) shaped
//! into PostgREST 12's HTTP response: the status (200/201/204/206, or `response.status`), the
//! `Content-Range`, `Location`, `Preference-Applied` and `Content-Type` headers, the headers a
//! function set through `response.headers`, and the body Postgres built, passed on without being
//! parsed (a raw bytea result decoded to its bytes). Also the answers that run no statement:
//! `OPTIONS` and the `EXPLAIN` output of a plan request. No I/O.

use bytes::Bytes;
use http::StatusCode;
use pgbase_catalog::Volatility;
use serde_json::Value;

use crate::error::ApiError;
use crate::execute;
use crate::handler::{Executed, RestResponse};
use crate::media::{MediaType, PlanFormat};
use crate::plan::PlanContext;
use crate::prepare::{Kind, ResponsePlan};
use crate::range::content_range;
use crate::request::{Action, ApiRequest};

/// Shapes what the statement returned into the response to `request`.
pub(crate) fn respond(
    request: &ApiRequest,
    plan: &ResponsePlan,
    executed: Executed,
) -> Result<RestResponse, ApiError> {
    match executed {
        Executed::Explained(format, lines) => Ok(explained(request, format, &lines)),
        Executed::Rows(output) => rows(request, plan, output),
    }
}

/// The response to a statement's result row: status, headers and the body Postgres built.
fn rows(
    request: &ApiRequest,
    plan: &ResponsePlan,
    output: execute::Output,
) -> Result<RestResponse, ApiError> {
    let rows = u64::try_from(output.page_total).unwrap_or(0);
    let total = total(plan, &output);
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut body = output.body.unwrap_or_default();
    let (mut status, send_body) = status_and_range(
        request,
        plan.kind,
        output.location.as_deref(),
        output.inserted,
        rows,
        total,
        &mut headers,
    )?;
    if let Some(applied) = request.preferences.applied_header() {
        headers.push(("preference-applied".into(), applied));
    }
    if let Some(raw) = output.response_headers {
        set_guc_headers(&mut headers, &raw)?;
    }
    if let Some(raw) = output.response_status {
        status = guc_status(&raw)?;
    }
    // A HEAD read or call answers the Content-Type its GET would (as PostgREST 12); a write
    // without a representation answers none.
    let head = matches!(
        plan.kind,
        Kind::Read { head: true }
            | Kind::Call {
                void: false,
                head: true
            }
    );
    if (send_body || head) && !headers.iter().any(|(n, _)| n == "content-type") {
        let value = match &plan.raw_media {
            Some(raw) => raw.content_type.clone(),
            None => content_type(&request.media_type),
        };
        headers.push(("content-type".into(), value));
    }
    if !send_body {
        // Freed now rather than held until the response is sent.
        body = Bytes::new();
    } else if plan.raw_media.as_ref().is_some_and(|r| r.bytes) {
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

/// The total row count to report: the exact count, the planner's estimate, or for
/// `count=estimated` the exact count up to db-max-rows and then the larger of the two.
fn total(plan: &ResponsePlan, output: &execute::Output) -> Option<u64> {
    let exact = output.total.and_then(|t| u64::try_from(t).ok());
    let planned = output.planned_total.and_then(|t| u64::try_from(t).ok());
    match (plan.estimate_above, exact, planned) {
        // count=estimated: exact up to db-max-rows, then the larger of the two.
        (Some(max), Some(exact), Some(planned)) if exact > max => Some(exact.max(planned)),
        (Some(_), Some(exact), _) => Some(exact),
        (None, None, Some(planned)) => Some(planned),
        (_, exact, _) => exact,
    }
}

/// The status and whether a body is sent, per kind of request, pushing its `Content-Range`
/// (and a create's `Location`) onto `headers`.
fn status_and_range(
    request: &ApiRequest,
    kind: Kind,
    location: Option<&str>,
    inserted: Option<i64>,
    rows: u64,
    total: Option<u64>,
    headers: &mut Vec<(String, String)>,
) -> Result<(StatusCode, bool), ApiError> {
    let write_range = |rows: u64| match total {
        Some(total) => format!("*/{total}"),
        None if rows > 0 => "*/*".to_string(),
        None => "*/*".to_string(),
    };
    Ok(match kind {
        Kind::Read { head } => read_status(request, rows, total, headers, head)?,
        Kind::Create {
            representation,
            upsert,
        } => {
            headers.push(("content-range".into(), write_range(rows)));
            if let Some(query) = location.and_then(location_query) {
                headers.push((
                    "location".into(),
                    format!("/{}?{}", relation_name(request), query),
                ));
            }
            // PostgREST 12: a merge-duplicates upsert that inserted nothing (every row updated,
            // or no rows at all) is 200; anything else 201.
            let status = if upsert && inserted.is_some_and(|n| n <= 0) {
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
                let inserted = inserted.is_some_and(|n| n > 0);
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
                read_status(request, rows, total, headers, head)?
            }
        }
    })
}

/// A read's (or a call's) `Content-Range` and status: 206 when the page is part of a counted
/// whole, PGRST103 when the offset lies past it.
fn read_status(
    request: &ApiRequest,
    rows: u64,
    total: Option<u64>,
    headers: &mut Vec<(String, String)>,
    head: bool,
) -> Result<(StatusCode, bool), ApiError> {
    let offset = request.top_level_range.offset;
    offset_within(offset, total)?;
    headers.push(("content-range".into(), content_range(offset, rows, total)));
    let partial = total.is_some_and(|t| rows < t);
    Ok((
        if partial {
            StatusCode::PARTIAL_CONTENT
        } else {
            StatusCode::OK
        },
        !head,
    ))
}

/// Applies the headers a function set through `response.headers` (PGRST111 when malformed).
fn set_guc_headers(headers: &mut Vec<(String, String)>, raw: &str) -> Result<(), ApiError> {
    let parsed: Result<Vec<serde_json::Map<String, Value>>, _> = serde_json::from_str(raw);
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
    Ok(())
}

/// The status a function set through `response.status` (PGRST112 when not a status code).
fn guc_status(raw: &str) -> Result<StatusCode, ApiError> {
    raw.trim()
        .parse::<u16>()
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .ok_or_else(|| {
            ApiError::new(
                "PGRST112",
                StatusCode::INTERNAL_SERVER_ERROR,
                "response.status guc must be a valid status code",
            )
        })
}

/// The answer to a plan request (`Accept: application/vnd.pgrst.plan`): the `EXPLAIN` output.
fn explained(request: &ApiRequest, format: PlanFormat, lines: &[String]) -> RestResponse {
    let body = match format {
        PlanFormat::Json => lines.concat(),
        PlanFormat::Text => lines.join("\n"),
    };
    RestResponse {
        status: StatusCode::OK,
        headers: vec![("content-type".into(), request.media_type.content_type())],
        body: Bytes::from(body),
    }
}

fn content_type(media: &MediaType) -> String {
    match media {
        MediaType::Any => "application/json; charset=utf-8".to_string(),
        other => other.content_type(),
    }
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
pub(crate) fn options(
    ctx: &PlanContext<'_>,
    request: &ApiRequest,
) -> Result<RestResponse, ApiError> {
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
