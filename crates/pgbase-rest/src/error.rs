//! PostgREST-compatible API errors.
//!
//! Every client-visible failure is an [`ApiError`]: a PostgREST error `code` (e.g. `PGRST100`, or a
//! SQLSTATE for database errors), the HTTP status, a `message`, optional `details` and `hint`, and
//! optional extra response headers. [`ApiError::body`] renders PostgREST's four-key JSON body.
//!
//! The type is a plain struct so that later stages (planner, executor) can add their own
//! constructors (`PGRST2xx`, SQLSTATE mapping) without touching this module.

use std::fmt;
use std::ops::{Deref, DerefMut};

use http::StatusCode;
use serde_json::{Value, json};

/// A PostgREST error: code, HTTP status, message, details, hint (+ extra response headers).
///
/// A boxed [`ErrorBody`] (so `Result<_, ApiError>` stays one pointer wide); its fields are
/// reachable directly through `Deref`/`DerefMut` (`err.code`, `err.hint = …`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}: {}", .0.code, .0.message)]
pub struct ApiError(Box<ErrorBody>);

/// The contents of an [`ApiError`].
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorBody {
    /// PostgREST error code (`PGRST100`, …) or a SQLSTATE (`23505`, …).
    pub code: String,
    /// HTTP status of the error response.
    pub status: StatusCode,
    /// Human readable message (`message` key).
    pub message: String,
    /// `details` key: usually a string, sometimes an array (PGRST201); `None` renders as `null`.
    pub details: Option<Value>,
    /// `hint` key; `None` renders as `null`.
    pub hint: Option<Value>,
    /// Extra response headers (e.g. `WWW-Authenticate` on 401, `Retry-After` on 503).
    pub headers: Vec<(String, String)>,
}

impl Deref for ApiError {
    type Target = ErrorBody;
    fn deref(&self) -> &ErrorBody {
        &self.0
    }
}

impl DerefMut for ApiError {
    fn deref_mut(&mut self) -> &mut ErrorBody {
        &mut self.0
    }
}

impl From<ErrorBody> for ApiError {
    fn from(body: ErrorBody) -> Self {
        ApiError(Box::new(body))
    }
}

/// Why a range request could not be satisfied (details of `PGRST103`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeError {
    /// `limit` was negative (or not a number).
    NegativeLimit,
    /// `offset` was negative (or not a number).
    NegativeOffset,
    /// The `Range` header's lower bound is above its upper bound.
    LowerGtUpper,
    /// The requested offset lies beyond the total number of rows.
    OutOfBounds {
        /// Requested first row.
        lower: u64,
        /// Total number of rows.
        total: u64,
    },
}

impl ApiError {
    /// A new error with no details, hint or extra headers.
    pub fn new(code: impl Into<String>, status: StatusCode, message: impl Into<String>) -> Self {
        ApiError(Box::new(ErrorBody {
            code: code.into(),
            status,
            message: message.into(),
            details: None,
            hint: None,
            headers: Vec::new(),
        }))
    }

    /// Sets `details` to a string.
    #[must_use]
    pub fn with_details(mut self, details: impl Into<String>) -> Self {
        self.details = Some(Value::String(details.into()));
        self
    }

    /// Sets `details` to an arbitrary JSON value (e.g. the PGRST201 array).
    #[must_use]
    pub fn with_details_json(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// Sets `hint` to a string.
    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(Value::String(hint.into()));
        self
    }

    /// Adds an extra response header.
    #[must_use]
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The error code (`PGRST100`, a SQLSTATE, …).
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The HTTP status of the response.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The `message` text.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// PostgREST's error body: `{"code","message","details","hint"}`, absent values as `null`
    /// (`{}` for [`ApiError::not_found`]).
    pub fn body(&self) -> Value {
        if self.code.is_empty() {
            return json!({});
        }
        json!({
            "code": self.code,
            "message": self.message,
            "details": self.details.clone().unwrap_or(Value::Null),
            "hint": self.hint.clone().unwrap_or(Value::Null),
        })
    }

    /// 404 with the body `{}`: PostgREST 12's `NotFound` (e.g. a write with `?columns` to a
    /// table that does not exist). It has no code.
    pub fn not_found() -> Self {
        Self::new("", StatusCode::NOT_FOUND, "")
    }

    // ----- Group 1: request errors -----

    /// PGRST100 (400): a query-string parameter failed to parse. `message` is PostgREST's
    /// `"failed to parse … (…)" (line 1, column N)` form; `details` the `unexpected … expecting …` text.
    pub fn query_param(message: impl Into<String>, details: impl Into<String>) -> Self {
        Self::new("PGRST100", StatusCode::BAD_REQUEST, message).with_details(details)
    }

    /// PGRST101 (405): a verb other than GET/HEAD/POST/OPTIONS on `/rpc/*`.
    pub fn invalid_rpc_method(method: &str) -> Self {
        Self::new(
            "PGRST101",
            StatusCode::METHOD_NOT_ALLOWED,
            format!("Cannot use the {method} method on RPC"),
        )
    }

    /// PGRST102 (400): the request body could not be used (`Empty or invalid json`, …).
    pub fn invalid_body(message: impl Into<String>) -> Self {
        Self::new("PGRST102", StatusCode::BAD_REQUEST, message)
    }

    /// PGRST103 (416): an unsatisfiable range.
    pub fn invalid_range(err: RangeError) -> Self {
        let details = match err {
            RangeError::NegativeLimit => "Limit should be greater than or equal to zero.".to_owned(),
            RangeError::NegativeOffset => {
                "Offset should be greater than or equal to zero.".to_owned()
            }
            RangeError::LowerGtUpper => "The lower boundary must be lower than or equal to the upper boundary in the Range header.".to_owned(),
            RangeError::OutOfBounds { lower, total } => format!(
                "An offset of {lower} was requested, but there are only {total} rows."
            ),
        };
        Self::new(
            "PGRST103",
            StatusCode::RANGE_NOT_SATISFIABLE,
            "Requested range not satisfiable",
        )
        .with_details(details)
    }

    /// PGRST105 (405): PUT filters must be exactly the primary key columns with `eq`.
    pub fn invalid_put_filters() -> Self {
        Self::new(
            "PGRST105",
            StatusCode::METHOD_NOT_ALLOWED,
            "Filters must include all and only primary key columns with 'eq' operators",
        )
    }

    /// PGRST106 (406): the profile header names a schema that is not exposed.
    pub fn unacceptable_schema(schemas: &[String]) -> Self {
        Self::new(
            "PGRST106",
            StatusCode::NOT_ACCEPTABLE,
            format!(
                "The schema must be one of the following: {}",
                schemas.join(", ")
            ),
        )
    }

    /// PGRST107 (406): none of the accepted media types can be produced.
    pub fn media_type(accepted: &[String]) -> Self {
        Self::new(
            "PGRST107",
            StatusCode::NOT_ACCEPTABLE,
            format!(
                "None of these media types are available: {}",
                accepted.join(", ")
            ),
        )
    }

    /// PGRST108 (400): a filter/order/limit targets an embed that is not in `select`.
    pub fn not_embedded(resource: &str) -> Self {
        Self::new(
            "PGRST108",
            StatusCode::BAD_REQUEST,
            format!("'{resource}' is not an embedded resource in this request"),
        )
        .with_hint(format!(
            "Verify that '{resource}' is included in the 'select' query parameter."
        ))
    }

    /// PGRST114 (400): `limit`/`offset` on PUT.
    pub fn put_limit_not_allowed() -> Self {
        Self::new(
            "PGRST114",
            StatusCode::BAD_REQUEST,
            "limit/offset querystring parameters are not allowed for PUT",
        )
    }

    /// PGRST115 (400): PUT body primary key differs from the URL's.
    pub fn put_matching_pk() -> Self {
        Self::new(
            "PGRST115",
            StatusCode::BAD_REQUEST,
            "Payload values do not match URL in primary key column(s)",
        )
    }

    /// PGRST109 (400): `limit`/`offset` on PATCH or DELETE without an `order`.
    pub fn limit_no_order() -> Self {
        Self::new(
            "PGRST109",
            StatusCode::BAD_REQUEST,
            "A 'limit' was applied without an explicit 'order'",
        )
        .with_hint("Apply an 'order' using unique column(s)")
    }

    /// PGRST116 (406): singular response requested but `n` rows came back.
    pub fn singularity(rows: u64) -> Self {
        Self::new(
            "PGRST116",
            StatusCode::NOT_ACCEPTABLE,
            "JSON object requested, multiple (or no) rows returned",
        )
        .with_details(format!("The result contains {rows} rows"))
    }

    /// PGRST117 (405): an HTTP verb PostgREST does not serve.
    pub fn unsupported_method(method: &str) -> Self {
        Self::new(
            "PGRST117",
            StatusCode::METHOD_NOT_ALLOWED,
            format!("Unsupported HTTP method: {method}"),
        )
    }

    /// PGRST118 (400): `order=rel(col)` where `rel` is not to-one.
    pub fn related_order_not_to_one(origin: &str, target: &str) -> Self {
        Self::new(
            "PGRST118",
            StatusCode::BAD_REQUEST,
            format!("A related order on '{target}' is not possible"),
        )
        .with_details(format!(
            "'{origin}' and '{target}' do not form a many-to-one or one-to-one relationship"
        ))
    }

    /// PGRST120 (400): an operator other than `is null` on an embedded resource.
    pub fn unacceptable_filter(target: &str) -> Self {
        Self::new(
            "PGRST120",
            StatusCode::BAD_REQUEST,
            format!("Bad operator on the '{target}' embedded resource"),
        )
        .with_details("Only is null or not is null filters are allowed on embedded resources")
    }

    /// PGRST122 (400): unknown preferences under `handling=strict`.
    pub fn invalid_preferences(invalid: &[String]) -> Self {
        Self::new(
            "PGRST122",
            StatusCode::BAD_REQUEST,
            "Invalid preferences given with handling=strict",
        )
        .with_details(format!("Invalid preferences: {}", invalid.join(", ")))
    }

    /// PGRST123 (400): aggregates used while disabled.
    pub fn aggregates_not_allowed() -> Self {
        Self::new(
            "PGRST123",
            StatusCode::BAD_REQUEST,
            "Use of aggregate functions is not allowed",
        )
    }

    /// PGRST124 (400): more rows affected than `max-affected` allows.
    pub fn max_affected_violation(rows: u64) -> Self {
        Self::new(
            "PGRST124",
            StatusCode::BAD_REQUEST,
            "Query result exceeds max-affected preference constraint",
        )
        .with_details(format!("The query affects {rows} rows"))
    }

    /// 21000 (400), as pg-safeupdate raises it: an UPDATE or DELETE (`verb`) without any filter
    /// on the target table, refused before it reaches the database (`db_safe_update`).
    pub fn unfiltered_write(verb: &str) -> Self {
        Self::new(
            "21000",
            StatusCode::BAD_REQUEST,
            format!("{verb} requires a WHERE clause"),
        )
        .with_details(format!(
            "Without a filter, this {verb} would affect every row of the table"
        ))
        .with_hint(
            "Add a filter on the target table, such as ?id=eq.1; to affect every row on \
             purpose, use a filter that matches all rows, such as ?id=not.is.null",
        )
    }

    /// PGRST100 (400): a level of `select=` lists more items than a Postgres target list can
    /// hold (1664, SQLSTATE 54011 if it reached the database).
    pub fn select_too_long(items: usize, max: usize) -> Self {
        Self::new(
            "PGRST100",
            StatusCode::BAD_REQUEST,
            "failed to parse select parameter: the select list is too long",
        )
        .with_details(format!(
            "The select list has {items} items at one level; at most {max} are allowed"
        ))
        .with_hint("Select fewer columns, or use * to select every column")
    }

    /// A path that is neither `/`, `/{relation}` nor `/rpc/{function}`: PostgREST 12's bare
    /// 404 `{}` (v13 calls it PGRST125).
    pub fn invalid_resource_path() -> Self {
        Self::not_found()
    }

    /// The root (OpenAPI) endpoint is disabled: PostgREST 12's bare 404 `{}` (v13: PGRST126).
    pub fn openapi_disabled() -> Self {
        Self::not_found()
    }

    /// PGRST127 (400): a feature that is not implemented.
    pub fn not_implemented(details: impl Into<String>) -> Self {
        Self::new(
            "PGRST127",
            StatusCode::BAD_REQUEST,
            "Feature not implemented",
        )
        .with_details(details)
    }
}

/// Shows a character the way PostgREST's parser error messages do.
pub(crate) struct ShowChar(pub Option<char>, pub bool);

impl fmt::Display for ShowChar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let quote = if self.1 { '\'' } else { '"' };
        match self.0 {
            None => f.write_str("end of input"),
            Some(c) => {
                f.write_str(&quote.to_string())?;
                match c {
                    '"' if !self.1 => f.write_str("\\\"")?,
                    '\'' if self.1 => f.write_str("\\'")?,
                    '\\' => f.write_str("\\\\")?,
                    '\n' => f.write_str("\\n")?,
                    '\t' => f.write_str("\\t")?,
                    c => write!(f, "{c}")?,
                }
                f.write_str(&quote.to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_four_keys_with_nulls() {
        let e = ApiError::unsupported_method("TRACE");
        assert_eq!(e.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(
            e.body(),
            json!({"code":"PGRST117","message":"Unsupported HTTP method: TRACE","details":null,"hint":null})
        );
    }

    #[test]
    fn range_and_singularity_texts() {
        let e = ApiError::invalid_range(RangeError::OutOfBounds {
            lower: 10,
            total: 3,
        });
        assert_eq!(e.status().as_u16(), 416);
        assert_eq!(
            e.body()["details"],
            "An offset of 10 was requested, but there are only 3 rows."
        );
        let s = ApiError::singularity(0);
        assert_eq!(s.body()["details"], "The result contains 0 rows");
        assert_eq!(s.status().as_u16(), 406);
    }

    #[test]
    fn helpers_and_display() {
        let e = ApiError::not_embedded("actors").with_header("X-A", "b");
        assert_eq!(e.code(), "PGRST108");
        assert!(e.body()["hint"].is_string());
        assert_eq!(e.headers.len(), 1);
        assert_eq!(
            e.to_string(),
            "PGRST108: 'actors' is not an embedded resource in this request"
        );
        let s = ApiError::unacceptable_schema(&["public".into(), "api".into()]);
        assert_eq!(
            s.message(),
            "The schema must be one of the following: public, api"
        );
        assert_eq!(ShowChar(Some('x'), false).to_string(), "\"x\"");
        assert_eq!(ShowChar(Some('x'), true).to_string(), "'x'");
        assert_eq!(ShowChar(None, true).to_string(), "end of input");
    }
}
