//! Database errors as PostgREST reports them: the SQLSTATE → HTTP status table of PostgREST's
//! `pgErrorStatus`, the `{code, message, details, hint}` body taken from the Postgres error,
//! `RAISE SQLSTATE 'PGRST'` for full control of the response, and `PTxyz` for status `xyz`.

use http::StatusCode;
use serde_json::Value;

use crate::error::ApiError;

/// HTTP status for a SQLSTATE. `anonymous` picks 401 over 403 for `42501`.
pub fn status_for_sqlstate(code: &str, anonymous: bool) -> StatusCode {
    let class = code.get(..2).unwrap_or("");
    let status = match code {
        "23503" | "23505" => 409,
        "25006" => 405,
        "P0001" => 400,
        "42883" => 404,
        "42P01" => 404,
        "42P17" => 500,
        "42501" if anonymous => 401,
        "42501" => 403,
        "53400" => 500,
        "57P01" => 503,
        // Cardinality violations (a row upserted twice, a scalar subquery with several rows,
        // pg-safeupdate) are caused by the request: 400 (PostgREST answers 500 for most).
        "21000" => 400,
        // Too many columns (a select list over 1664 entries, which the planner refuses first
        // with PGRST100): the request's doing, so 400 (PostgREST: 500 for class 54).
        "54011" => 400,
        _ if code.starts_with("PT") => {
            return code
                .get(2..)
                .and_then(|s| s.parse::<u16>().ok())
                .and_then(|s| StatusCode::from_u16(s).ok())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        }
        _ => match class {
            "08" | "53" => 503,
            "09" | "25" | "2D" | "38" | "39" | "3B" | "40" | "54" | "55" | "57" | "58" | "F0"
            | "HV" | "XX" => 500,
            "0L" | "0P" | "28" => 403,
            "P0" => 500,
            _ => 400,
        },
    };
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// Converts a driver error into the client-facing error.
pub fn from_postgres(error: &tokio_postgres::Error, anonymous: bool) -> ApiError {
    let Some(db) = error.as_db_error() else {
        return ApiError::new(
            "PGRST001",
            StatusCode::SERVICE_UNAVAILABLE,
            "Database client error. Retrying the connection.",
        )
        .with_details(error.to_string())
        .with_header("Retry-After", "0");
    };
    let code = db.code().code();
    if code == "PGRST" {
        return raised(db.message(), db.detail());
    }
    let mut api = ApiError::new(code, status_for_sqlstate(code, anonymous), db.message());
    if let Some(detail) = db.detail() {
        api = api.with_details(detail);
    }
    if let Some(hint) = db.hint() {
        api = api.with_hint(hint);
    }
    if api.status == StatusCode::UNAUTHORIZED {
        api = api.with_header("WWW-Authenticate", "Bearer");
    }
    api
}

/// [`from_postgres`] for an error of a request made in `context`: a `42501` without a hint of
/// its own gets one naming the missing privilege and the `grant` that gives it, or saying that
/// a row-level security policy refused the row (PostgREST leaves the hint empty).
pub fn from_postgres_in(
    error: &tokio_postgres::Error,
    context: &pgbase_db::RequestContext,
    anonymous: bool,
) -> ApiError {
    let api = from_postgres(error, anonymous);
    if api.code() != "42501" || api.hint.is_some() {
        return api;
    }
    match pgbase_catalog::suggest::permission_fix(&context.role, &context.method, api.message()) {
        Some(fix) => api.with_hint(fix),
        None => api,
    }
}

/// `RAISE SQLSTATE 'PGRST' USING message = '{"code":…,"message":…}', detail = '{"status":…,"headers":{…}}'`.
fn raised(message: &str, detail: Option<&str>) -> ApiError {
    const MESSAGE_HINT: &str = "MESSAGE must be a JSON object with obligatory keys: 'code', 'message' and optional keys: 'details', 'hint'.";
    const DETAIL_HINT: &str = "DETAIL must be a JSON object with obligatory keys: 'status', 'headers' and optional key: 'status_text'.";
    let unparsable = |details: String, hint: &str| {
        ApiError::new(
            "PGRST121",
            StatusCode::INTERNAL_SERVER_ERROR,
            "Could not parse JSON in the \"RAISE SQLSTATE 'PGRST'\" error",
        )
        .with_details(details)
        .with_hint(hint)
    };
    // checked in PostgREST's order: MESSAGE, then a DETAIL at all, then DETAIL
    let Ok(Value::Object(body)) = serde_json::from_str::<Value>(message) else {
        return unparsable(
            format!("Invalid JSON value for MESSAGE: '{message}'"),
            MESSAGE_HINT,
        );
    };
    let Some(detail) = detail else {
        return unparsable(
            "DETAIL is missing in the RAISE statement".into(),
            DETAIL_HINT,
        );
    };
    let Ok(Value::Object(meta)) = serde_json::from_str::<Value>(detail) else {
        return unparsable(
            format!("Invalid JSON value for DETAIL: '{detail}'"),
            DETAIL_HINT,
        );
    };
    let text = |key: &str| body.get(key).and_then(Value::as_str).map(str::to_string);
    let status = meta
        .get("status")
        .and_then(Value::as_u64)
        .and_then(|s| u16::try_from(s).ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::BAD_REQUEST);
    let mut api = ApiError::new(
        text("code").unwrap_or_default(),
        status,
        text("message").unwrap_or_default(),
    );
    if let Some(details) = body.get("details").filter(|v| !v.is_null()) {
        api = api.with_details_json(details.clone());
    }
    if let Some(hint) = body.get("hint").filter(|v| !v.is_null()) {
        api.hint = Some(hint.clone());
    }
    if let Some(Value::Object(headers)) = meta.get("headers") {
        for (name, value) in headers {
            if let Some(value) = value.as_str() {
                api = api.with_header(name.clone(), value);
            }
        }
    }
    api
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_postgrest() {
        let cases = [
            ("23505", false, 409),
            ("23503", false, 409),
            ("23502", false, 400),
            ("22P02", false, 400),
            ("42703", false, 400),
            ("P0001", false, 400),
            ("57014", false, 500),
            ("42501", true, 401),
            ("42501", false, 403),
            ("42P01", false, 404),
            ("42883", false, 404),
            ("08006", false, 503),
            ("25006", false, 405),
            ("PT402", false, 402),
            ("28000", false, 403),
            ("21000", false, 400),
            ("54011", false, 400),
            ("54001", false, 500),
        ];
        for (code, anonymous, status) in cases {
            assert_eq!(
                status_for_sqlstate(code, anonymous).as_u16(),
                status,
                "{code}"
            );
        }
    }

    #[test]
    fn pgrst_raise_controls_the_response() {
        let api = raised(
            r#"{"code":"123","message":"Payment Required","details":"Quota exceeded","hint":"Upgrade"}"#,
            Some(r#"{"status":402,"headers":{"X-Powered-By":"Nerd Rage"}}"#),
        );
        assert_eq!(api.status.as_u16(), 402);
        assert_eq!(api.code, "123");
        assert_eq!(
            api.headers,
            vec![("X-Powered-By".into(), "Nerd Rage".into())]
        );
        let bad = raised("not json", None);
        assert_eq!(bad.code, "PGRST121");
        assert_eq!(
            bad.details,
            Some(Value::String(
                "Invalid JSON value for MESSAGE: 'not json'".into()
            ))
        );
        let bad = raised(r#"{"code":"1","message":"m"}"#, None);
        assert_eq!(
            bad.details,
            Some(Value::String(
                "DETAIL is missing in the RAISE statement".into()
            ))
        );
        let bad = raised(r#"{"code":"1","message":"m"}"#, Some("x"));
        assert_eq!(
            bad.details,
            Some(Value::String("Invalid JSON value for DETAIL: 'x'".into()))
        );
        assert!(
            bad.hint
                .as_ref()
                .and_then(Value::as_str)
                .is_some_and(|h| h.starts_with("DETAIL must be"))
        );
    }
}
