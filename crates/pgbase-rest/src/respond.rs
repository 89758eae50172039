//! REST pipeline, stage 5 — respond: what the statement returned ([`execute::Output`]) shaped
//! into PostgREST 12's HTTP response: the status (200/201/204/206, or `response.status`), the
//! `Content-Range`, `Content-Location`, `Location`, `Preference-Applied` and `Content-Type` headers, the headers a
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
    let applied = match plan.kind {
        Kind::Create {
            resolution_ignored: true,
            ..
        } => {
            let mut preferences = request.preferences.clone();
            preferences.resolution = None;
            preferences.applied_header()
        }
        _ => request.preferences.applied_header(),
    };
    if let Some(applied) = applied {
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
        Kind::Read { head } => {
            // PostgREST 12's canonical location of a read: the query keys sorted
            if let Action::RelationRead { relation, .. } = &request.action {
                let query = &request.query.canonical;
                let location = match query.is_empty() {
                    true => format!("/{relation}"),
                    false => format!("/{relation}?{query}"),
                };
                headers.push(("content-location".into(), location));
            }
            read_status(request, rows, total, headers, head)?
        }
        Kind::Create {
            representation,
            upsert,
            ..
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prepare::RawMedia;
    use crate::request::{RequestConfig, parse_request};
    use http::{HeaderMap, HeaderValue, Method};

    fn request(method: Method, path: &str, query: &str, prefer: Option<&str>) -> ApiRequest {
        let mut headers = HeaderMap::new();
        if let Some(prefer) = prefer {
            headers.insert("prefer", HeaderValue::from_str(prefer).expect("header"));
        }
        parse_request(
            &RequestConfig::default(),
            &method,
            path,
            Some(query),
            &headers,
        )
        .expect("a valid request")
    }

    fn plan(kind: Kind) -> ResponsePlan {
        ResponsePlan {
            kind,
            estimate_above: None,
            raw_media: None,
        }
    }

    fn rows(page_total: i64, total: Option<i64>, body: &str) -> Executed {
        Executed::Rows(execute::Output {
            page_total,
            total,
            body: Some(Bytes::from(body.to_owned())),
            ..Default::default()
        })
    }

    fn header<'a>(response: &'a RestResponse, name: &str) -> Option<&'a str> {
        response
            .headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn a_counted_part_of_a_read_is_206_with_its_range() {
        let req = request(
            Method::GET,
            "/items",
            "offset=2&limit=2",
            Some("count=exact"),
        );
        let read = plan(Kind::Read { head: false });
        let response = respond(&req, &read, rows(2, Some(10), "[1,2]")).expect("a response");
        assert_eq!(response.status, StatusCode::PARTIAL_CONTENT);
        assert_eq!(header(&response, "content-range"), Some("2-3/10"));
        assert_eq!(
            header(&response, "content-location"),
            Some("/items?limit=2&offset=2")
        );
        assert_eq!(
            header(&response, "content-type"),
            Some("application/json; charset=utf-8")
        );
        assert_eq!(response.body, Bytes::from_static(b"[1,2]"));
        let whole = respond(&req, &read, rows(2, Some(2), "[1,2]")).expect("a response");
        assert_eq!(whole.status, StatusCode::OK);
    }

    #[test]
    fn an_offset_past_the_counted_rows_is_pgrst103() {
        let req = request(Method::GET, "/items", "offset=20", Some("count=exact"));
        let read = plan(Kind::Read { head: false });
        let error = respond(&req, &read, rows(0, Some(10), "[]")).expect_err("out of range");
        assert_eq!(error.code, "PGRST103");
        assert_eq!(error.status, StatusCode::RANGE_NOT_SATISFIABLE);
        assert!(
            error
                .headers
                .iter()
                .any(|(n, v)| n == "Content-Range" && v == "*/10")
        );
    }

    #[test]
    fn head_keeps_the_content_type_and_drops_the_body() {
        let req = request(Method::HEAD, "/items", "", None);
        let response = respond(&req, &plan(Kind::Read { head: true }), rows(1, None, "[1]"))
            .expect("a response");
        assert_eq!(response.status, StatusCode::OK);
        assert!(response.body.is_empty());
        assert!(header(&response, "content-type").is_some());
        assert_eq!(header(&response, "content-range"), Some("0-0/*"));
    }

    #[test]
    fn writes_answer_postgrest_statuses_and_ranges() {
        let patch = request(Method::PATCH, "/items", "id=gt.0", None);
        let modify = |representation, patch| {
            plan(Kind::Modify {
                representation,
                patch,
            })
        };
        let response = respond(&patch, &modify(false, true), rows(3, None, "")).expect("patch");
        assert_eq!(response.status, StatusCode::NO_CONTENT);
        assert_eq!(header(&response, "content-range"), Some("0-2/*"));
        assert!(header(&response, "content-type").is_none());
        let delete = request(Method::DELETE, "/items", "id=gt.0", None);
        let response = respond(&delete, &modify(true, false), rows(3, None, "[]")).expect("delete");
        assert_eq!(response.status, StatusCode::OK);
        assert_eq!(header(&response, "content-range"), Some("*/*"));
        // A merge-duplicates upsert that inserted nothing is 200, an insert 201.
        let post = request(Method::POST, "/items", "", None);
        let upsert = plan(Kind::Create {
            representation: false,
            upsert: true,
            resolution_ignored: false,
        });
        let updated = Executed::Rows(execute::Output {
            page_total: 1,
            inserted: Some(0),
            ..Default::default()
        });
        assert_eq!(
            respond(&post, &upsert, updated).expect("upsert").status,
            StatusCode::OK
        );
        let inserted = Executed::Rows(execute::Output {
            page_total: 1,
            inserted: Some(1),
            ..Default::default()
        });
        assert_eq!(
            respond(&post, &upsert, inserted).expect("insert").status,
            StatusCode::CREATED
        );
    }

    #[test]
    fn a_location_is_encoded_as_postgrest_encodes_it() {
        let post = request(Method::POST, "/items", "", Some("return=headers-only"));
        let create = plan(Kind::Create {
            representation: false,
            upsert: false,
            resolution_ignored: false,
        });
        let output = Executed::Rows(execute::Output {
            page_total: 1,
            location: Some(r#"[["id","eq.a b/c"],["k","eq.1"]]"#.to_owned()),
            ..Default::default()
        });
        let response = respond(&post, &create, output).expect("a response");
        assert_eq!(response.status, StatusCode::CREATED);
        assert_eq!(
            header(&response, "location"),
            Some("/items?id=eq.a+b%2Fc&k=eq.1")
        );
    }

    #[test]
    fn response_gucs_replace_headers_and_set_the_status() {
        let req = request(Method::GET, "/items", "", None);
        let output = Executed::Rows(execute::Output {
            page_total: 0,
            body: Some(Bytes::from_static(b"[]")),
            response_headers: Some(
                r#"[{"Content-Type":"text/csv"},{"Set-Cookie":"a=1"},{"Set-Cookie":"b=2"}]"#
                    .to_owned(),
            ),
            response_status: Some(" 418 ".to_owned()),
            ..Default::default()
        });
        let response =
            respond(&req, &plan(Kind::Read { head: false }), output).expect("a response");
        assert_eq!(response.status, StatusCode::IM_A_TEAPOT);
        assert_eq!(header(&response, "content-type"), Some("text/csv"));
        let cookies = response
            .headers
            .iter()
            .filter(|(n, _)| n == "set-cookie")
            .count();
        assert_eq!(cookies, 2);
        let bad_headers = Executed::Rows(execute::Output {
            response_headers: Some(r#"{"a":"b"}"#.to_owned()),
            ..Default::default()
        });
        let error = respond(&req, &plan(Kind::Read { head: false }), bad_headers)
            .expect_err("not an array");
        assert_eq!(error.code, "PGRST111");
        let bad_status = Executed::Rows(execute::Output {
            response_status: Some("teapot".to_owned()),
            ..Default::default()
        });
        let error =
            respond(&req, &plan(Kind::Read { head: false }), bad_status).expect_err("not a status");
        assert_eq!(error.code, "PGRST112");
    }

    #[test]
    fn count_estimated_trusts_the_exact_count_up_to_max_rows() {
        let estimated = ResponsePlan {
            estimate_above: Some(100),
            ..plan(Kind::Read { head: false })
        };
        let counted = |total, planned_total| execute::Output {
            total,
            planned_total,
            ..Default::default()
        };
        assert_eq!(total(&estimated, &counted(Some(50), Some(900))), Some(50));
        assert_eq!(total(&estimated, &counted(Some(101), Some(900))), Some(900));
        assert_eq!(total(&estimated, &counted(Some(101), Some(7))), Some(101));
        let planned = plan(Kind::Read { head: false });
        assert_eq!(total(&planned, &counted(None, Some(7))), Some(7));
        assert_eq!(total(&planned, &counted(None, None)), None);
    }

    #[test]
    fn a_raw_bytea_result_is_sent_as_its_bytes() {
        let req = request(Method::GET, "/rpc/image", "", None);
        let call = ResponsePlan {
            raw_media: Some(RawMedia {
                content_type: "image/png".to_owned(),
                bytes: true,
            }),
            ..plan(Kind::Call {
                void: false,
                head: false,
            })
        };
        let response = respond(&req, &call, rows(1, None, "\\x89504e\\x47")).expect("a response");
        assert_eq!(header(&response, "content-type"), Some("image/png"));
        assert_eq!(response.body, Bytes::from_static(b"\x89PNG"));
        assert_eq!(decode_bytea_hex(b"\\x0"), None);
        assert_eq!(decode_bytea_hex(b"plain"), None);
    }

    #[test]
    fn an_explained_plan_is_its_lines() {
        let req = request(Method::GET, "/items", "", None);
        let lines = vec!["Seq Scan".to_owned(), "  Filter".to_owned()];
        let response = respond(
            &req,
            &plan(Kind::Read { head: false }),
            Executed::Explained(PlanFormat::Text, lines),
        )
        .expect("a response");
        assert_eq!(response.body, Bytes::from_static(b"Seq Scan\n  Filter"));
    }
}
