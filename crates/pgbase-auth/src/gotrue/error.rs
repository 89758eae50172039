//! GoTrue's error responses: an HTTP status, a stable `error_code` and a message, rendered as
//! `{"code": <status>, "error_code": "…", "msg": "…"}`, or — when the request says
//! `X-Supabase-Api-Version: 2024-01-01` or later, as supabase-js does — as
//! `{"code": "<error_code>", "message": "…"}`. Both carry the `x-sb-error-code` header.
//! Internal failures are logged and answered with a generic message. A request refused for
//! load — over its rate limit (429) or no database connection / password hashing slot free in
//! time (503) — carries a `Retry-After` header; neither is ever a 500.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode};
use serde_json::json;

/// The API version header supabase-js sends and GoTrue echoes.
pub const API_VERSION_HEADER: &str = "x-supabase-api-version";
/// The first dated API version (error bodies `{code, message}`).
pub const API_VERSION_2024_01_01: &str = "2024-01-01";
/// `Retry-After` of a 503.
const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 1;

/// A failed auth request, as GoTrue reports it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GoTrueError {
    #[error("Could not parse request body as JSON: {0}")]
    BadJson(String),
    #[error("{0}")]
    Validation(String),
    #[error("Signups not allowed for this instance")]
    SignupDisabled,
    #[error("Phone signups are disabled")]
    PhoneProviderDisabled,
    /// A sign-up with neither email nor phone is GoTrue's anonymous sign-in, which pgbase does
    /// not offer (`external.anonymous_users` is false in `/settings`).
    #[error("Anonymous sign-ins are disabled")]
    AnonymousProviderDisabled,
    #[error("{message}")]
    WeakPassword {
        message: String,
        reasons: Vec<String>,
    },
    #[error("User already registered")]
    UserAlreadyExists,
    #[error("A user with this email address has already been registered")]
    EmailExists,
    #[error("Invalid login credentials")]
    InvalidCredentials,
    #[error("Email not confirmed")]
    EmailNotConfirmed,
    #[error("User is banned")]
    UserBanned,
    #[error("unsupported_grant_type")]
    UnsupportedGrantType,
    #[error("Invalid Refresh Token: Refresh Token Not Found")]
    RefreshTokenNotFound,
    #[error("Invalid Refresh Token: Already Used")]
    RefreshTokenAlreadyUsed,
    #[error("Invalid Refresh Token: Session Expired")]
    SessionExpired,
    #[error("Session from session_id claim in JWT does not exist")]
    SessionNotFound,
    #[error("This endpoint requires a valid Bearer token")]
    NoAuthorization,
    #[error("invalid JWT: unable to parse or verify signature, {0}")]
    BadJwt(String),
    #[error("User from sub claim in JWT does not exist")]
    UserFromJwtNotFound,
    #[error("User not found")]
    UserNotFound,
    #[error("User not allowed")]
    NotAdmin,
    #[error("New password should be different from the old password.")]
    SamePassword,
    /// The client address is over its rate limit; it may retry after this many seconds.
    #[error("Request rate limit reached")]
    RateLimited { retry_after_secs: u64 },
    /// No database connection (or password hashing slot) became free in time, or the
    /// database cannot be reached; the text is logged, never sent.
    #[error("Service unavailable: {0}")]
    Unavailable(String),
    #[error("Not found")]
    NotFound,
    /// A database failure; the text is logged, never sent.
    #[error("Database error: {0}")]
    Database(String),
    /// Any other server-side failure; the text is logged, never sent.
    #[error("Internal error: {0}")]
    Internal(String),
}

impl GoTrueError {
    /// The HTTP status upstream answers with.
    pub fn status(&self) -> StatusCode {
        use GoTrueError::*;
        match self {
            BadJson(_)
            | Validation(_)
            | PhoneProviderDisabled
            | InvalidCredentials
            | EmailNotConfirmed
            | UserBanned
            | UnsupportedGrantType
            | RefreshTokenNotFound
            | RefreshTokenAlreadyUsed
            | SessionExpired => StatusCode::BAD_REQUEST,
            NoAuthorization => StatusCode::UNAUTHORIZED,
            SessionNotFound | BadJwt(_) | UserFromJwtNotFound | NotAdmin => StatusCode::FORBIDDEN,
            UserNotFound | NotFound => StatusCode::NOT_FOUND,
            SignupDisabled
            | AnonymousProviderDisabled
            | WeakPassword { .. }
            | UserAlreadyExists
            | EmailExists
            | SamePassword => StatusCode::UNPROCESSABLE_ENTITY,
            RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Database(_) | Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// GoTrue's machine-readable error code.
    pub fn error_code(&self) -> &'static str {
        use GoTrueError::*;
        match self {
            BadJson(_) => "bad_json",
            Validation(_) => "validation_failed",
            SignupDisabled => "signup_disabled",
            PhoneProviderDisabled => "phone_provider_disabled",
            AnonymousProviderDisabled => "anonymous_provider_disabled",
            WeakPassword { .. } => "weak_password",
            UserAlreadyExists => "user_already_exists",
            EmailExists => "email_exists",
            InvalidCredentials => "invalid_credentials",
            EmailNotConfirmed => "email_not_confirmed",
            UserBanned => "user_banned",
            UnsupportedGrantType => "unsupported_grant_type",
            RefreshTokenNotFound => "refresh_token_not_found",
            RefreshTokenAlreadyUsed => "refresh_token_already_used",
            SessionExpired => "session_expired",
            SessionNotFound => "session_not_found",
            NoAuthorization => "no_authorization",
            BadJwt(_) => "bad_jwt",
            UserFromJwtNotFound | UserNotFound => "user_not_found",
            NotAdmin => "not_admin",
            SamePassword => "same_password",
            RateLimited { .. } => "over_request_rate_limit",
            Unavailable(_) => "request_timeout",
            NotFound => "not_found",
            Database(_) | Internal(_) => "unexpected_failure",
        }
    }

    /// The message clients see.
    pub fn client_message(&self) -> String {
        match self {
            GoTrueError::Database(_) => "Database error querying schema".to_string(),
            GoTrueError::Internal(_) => {
                "Unexpected failure, please check server logs for more information".to_string()
            }
            GoTrueError::Unavailable(_) => {
                "Processing this request timed out, please retry after a moment.".to_string()
            }
            other => other.to_string(),
        }
    }

    /// Seconds a client should wait before retrying (`Retry-After`), for load refusals.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            GoTrueError::RateLimited { retry_after_secs } => Some((*retry_after_secs).max(1)),
            GoTrueError::Unavailable(_) => Some(UNAVAILABLE_RETRY_AFTER_SECS),
            _ => None,
        }
    }

    /// The response body: the dated shape when `dated` (API version ≥ 2024-01-01), else the
    /// legacy one.
    pub fn body(&self, dated: bool) -> serde_json::Value {
        let mut body = if dated {
            json!({ "code": self.error_code(), "message": self.client_message() })
        } else {
            json!({
                "code": self.status().as_u16(),
                "error_code": self.error_code(),
                "msg": self.client_message(),
            })
        };
        if let GoTrueError::WeakPassword { reasons, .. } = self {
            body["weak_password"] = json!({ "reasons": reasons });
        }
        body
    }

    /// The full response.
    pub fn to_response(&self, dated: bool) -> Response {
        match self {
            GoTrueError::Database(_) | GoTrueError::Internal(_) => {
                tracing::error!(error = %self, "auth request failed");
            }
            GoTrueError::Unavailable(_) => {
                tracing::warn!(error = %self, "auth request refused for load");
            }
            _ => {}
        }
        let mut resp = (self.status(), axum::Json(self.body(dated))).into_response();
        resp.headers_mut().insert(
            "x-sb-error-code",
            HeaderValue::from_static(self.error_code()),
        );
        if let Some(secs) = self.retry_after() {
            resp.headers_mut()
                .insert(http::header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if dated {
            resp.headers_mut().insert(
                API_VERSION_HEADER,
                HeaderValue::from_static(API_VERSION_2024_01_01),
            );
        }
        // Lets the router's version middleware re-render the body for dated clients.
        resp.extensions_mut().insert(self.clone());
        resp
    }
}

impl IntoResponse for GoTrueError {
    fn into_response(self) -> Response {
        self.to_response(false)
    }
}

impl From<tokio_postgres::Error> for GoTrueError {
    fn from(e: tokio_postgres::Error) -> Self {
        use tokio_postgres::error::SqlState;
        match e.as_db_error() {
            // Text the database cannot store (a NUL byte, `\u0000` in JSON) is the
            // client's mistake, whatever field it came in.
            Some(db)
                if *db.code() == SqlState::CHARACTER_NOT_IN_REPERTOIRE
                    || *db.code() == SqlState::UNTRANSLATABLE_CHARACTER =>
            {
                GoTrueError::Validation(
                    "Request contains characters that are not allowed (e.g. a NUL byte)"
                        .to_string(),
                )
            }
            Some(db) => GoTrueError::Database(format!("{}: {}", db.code().code(), db.message())),
            None if e.is_closed() => GoTrueError::Unavailable(format!("database connection: {e}")),
            None => GoTrueError::Database(e.to_string()),
        }
    }
}

impl From<pgbase_db::PoolError> for GoTrueError {
    fn from(e: pgbase_db::PoolError) -> Self {
        match e {
            pgbase_db::PoolError::Build(_) => {
                GoTrueError::Internal(format!("connection pool: {e}"))
            }
            // Exhausted, closed or unable to connect: the server is unavailable for now.
            _ => GoTrueError::Unavailable(format!("connection pool: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_follow_the_api_version() {
        let e = GoTrueError::InvalidCredentials;
        assert_eq!(
            e.body(false),
            json!({"code": 400, "error_code": "invalid_credentials", "msg": "Invalid login credentials"})
        );
        assert_eq!(
            e.body(true),
            json!({"code": "invalid_credentials", "message": "Invalid login credentials"})
        );
        let weak = GoTrueError::WeakPassword {
            message: "Password should be at least 6 characters.".into(),
            reasons: vec!["length".into()],
        };
        assert_eq!(weak.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(weak.body(true)["weak_password"]["reasons"][0], "length");
    }

    #[test]
    fn load_refusals_carry_retry_after_and_are_never_500() {
        let limited = GoTrueError::RateLimited {
            retry_after_secs: 7,
        };
        assert_eq!(
            limited.body(false),
            json!({"code": 429, "error_code": "over_request_rate_limit", "msg": "Request rate limit reached"})
        );
        let resp = limited.to_response(false);
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(resp.headers()[http::header::RETRY_AFTER], "7");

        let timeout = GoTrueError::from(pgbase_db::PoolError::Timeout { size: 4 });
        assert_eq!(timeout.status(), StatusCode::SERVICE_UNAVAILABLE);
        let resp = timeout.to_response(false);
        assert_eq!(resp.headers()[http::header::RETRY_AFTER], "1");
        assert_eq!(timeout.body(false)["code"], 503);
        assert_eq!(timeout.body(false)["error_code"], "request_timeout");
        assert!(!timeout.body(false).to_string().contains("busy"));
        let down = GoTrueError::from(pgbase_db::PoolError::Connect("refused".into()));
        assert_eq!(down.status(), StatusCode::SERVICE_UNAVAILABLE);
    }

    #[test]
    fn internal_errors_do_not_leak() {
        let e = GoTrueError::Database("relation auth.users: secret detail".into());
        assert!(!e.body(true).to_string().contains("secret detail"));
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
