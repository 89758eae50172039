//! The `api_request` tool: calls `/rest/v1`, `/graphql/v1` or `/auth/v1` in-process, through the
//! axum router the pgbase binary hands in (a `tower` oneshot, no socket), as anon, as
//! service_role, or as an end user whose access token is signed here with the project's secret
//! (the claims [`crate::context`] builds, the same auth would issue).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::context::{self, ContextError, Subject};

/// Bodies above this size are cut in the tool's answer.
const MAX_BODY_CHARS: usize = 64 * 1024;

/// Why an API call could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Context(#[from] ContextError),
    #[error("invalid request: {0}")]
    Build(String),
    #[error("reading the response failed: {0}")]
    Body(String),
}

/// The HTTP API as the binary built it, plus what is needed to sign tokens for it.
#[derive(Clone)]
pub struct ApiTarget {
    pub router: axum::Router,
    pub jwt_secret: String,
}

/// One call.
#[derive(Debug, Clone)]
pub struct ApiCall {
    pub method: String,
    /// Path with its query string, e.g. `/rest/v1/todos?select=*`.
    pub path: String,
    pub headers: BTreeMap<String, String>,
    pub body: Option<Value>,
    /// `anon`, `service_role`, another role, or a user id.
    pub subject: Subject,
}

/// What came back.
#[derive(Debug, Serialize)]
pub struct ApiResponse {
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub body: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The claims for a subject without a database: roles as-is, users with the basic claims. The
/// caller resolves users through the database first when it can ([`context::resolve`]).
pub fn token_for(target: &ApiTarget, claims: &Value) -> Result<String, ApiError> {
    Ok(context::sign(&target.jwt_secret, claims)?)
}

/// Makes the call with `claims` (already resolved for the subject).
pub async fn call(
    target: &ApiTarget,
    call: &ApiCall,
    claims: &Value,
    read_only: bool,
) -> Result<ApiResponse, ApiError> {
    let method = call.method.to_ascii_uppercase();
    let allowed_prefix = ["/rest/v1", "/graphql/v1", "/auth/v1"]
        .iter()
        .any(|p| call.path.starts_with(p));
    if !allowed_prefix {
        return Err(ApiError::Refused(
            "path must start with /rest/v1, /graphql/v1 or /auth/v1".into(),
        ));
    }
    if read_only && !matches!(method.as_str(), "GET" | "HEAD" | "OPTIONS") {
        let graphql_query = call.path.starts_with("/graphql/v1")
            && call
                .body
                .as_ref()
                .and_then(|b| b.get("query"))
                .and_then(Value::as_str)
                .is_some_and(|q| !q.trim_start().starts_with("mutation"));
        if !graphql_query {
            return Err(ApiError::Refused(
                "the MCP server runs read-only: only GET requests and GraphQL queries are allowed"
                    .into(),
            ));
        }
    }
    let anon_claims = serde_json::json!({"role": "anon", "iss": "pgbase"});
    let apikey = token_for(target, &anon_claims)?;
    let bearer = token_for(target, claims)?;
    let role = claims.get("role").and_then(Value::as_str).unwrap_or("anon");
    let apikey = if role == "service_role" {
        bearer.clone()
    } else {
        apikey
    };
    let mut builder = http::Request::builder()
        .method(method.as_str())
        .uri(&call.path)
        .header("apikey", apikey)
        .header("authorization", format!("Bearer {bearer}"));
    let has_content_type = call
        .headers
        .keys()
        .any(|k| k.eq_ignore_ascii_case("content-type"));
    for (name, value) in &call.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let body = match &call.body {
        None => axum::body::Body::empty(),
        Some(Value::String(text)) => axum::body::Body::from(text.clone()),
        Some(value) => {
            if !has_content_type {
                builder = builder.header("content-type", "application/json");
            }
            axum::body::Body::from(value.to_string())
        }
    };
    let request = builder
        .body(body)
        .map_err(|e| ApiError::Build(e.to_string()))?;
    let response = tower::ServiceExt::oneshot(target.router.clone(), request)
        .await
        .map_err(|e| ApiError::Body(e.to_string()))?;
    let status = response.status().as_u16();
    let headers: BTreeMap<String, String> = response
        .headers()
        .iter()
        .filter(|(name, _)| !name.as_str().starts_with("access-control-"))
        .map(|(name, value)| {
            (
                name.as_str().to_string(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let bytes = axum::body::to_bytes(response.into_body(), 16 * 1024 * 1024)
        .await
        .map_err(|e| ApiError::Body(e.to_string()))?;
    let text = String::from_utf8_lossy(&bytes);
    let mut note = None;
    let body = match serde_json::from_str::<Value>(&text) {
        Ok(json) if text.len() <= MAX_BODY_CHARS => json,
        _ if text.len() > MAX_BODY_CHARS => {
            note = Some(format!(
                "body of {} bytes cut to its first {MAX_BODY_CHARS}",
                text.len()
            ));
            Value::String(text.chars().take(MAX_BODY_CHARS).collect())
        }
        _ => Value::String(text.into_owned()),
    };
    Ok(ApiResponse {
        status,
        headers,
        body,
        note,
    })
}
