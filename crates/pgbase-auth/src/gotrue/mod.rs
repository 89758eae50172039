//! A Supabase Auth (GoTrue) compatible HTTP API over the `auth` schema, enough for supabase-js:
//! `POST /signup`, `POST /token?grant_type=password|refresh_token`, `GET|PUT /user`,
//! `POST /logout?scope=global|local|others`, `GET /settings`, `GET /health`, and the admin
//! users API (`/admin/users`, service_role only). Mount [`router`] at `/auth/v1`.
//!
//! Passwords are bcrypt (hashed on the blocking pool), refresh tokens rotate on every use and a
//! reuse outside the reuse interval ends the whole session, failed sign-ins are rate limited
//! per email and per client IP. Errors use GoTrue's shapes (see [`error`]).

mod admin;
pub mod error;
mod handlers;
pub mod ratelimit;
mod store;
pub mod tokens;

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{get, post};
use http::{HeaderMap, HeaderValue};

pub use error::GoTrueError;
use ratelimit::FailureLimiter;

use crate::jwt::{AuthContext, Authenticator};

/// Settings of the auth API (GoTrue's `GOTRUE_*` equivalents). [`AuthConfig::new`] gives
/// upstream's defaults.
#[derive(Clone)]
pub struct AuthConfig {
    /// HMAC secret access tokens are signed with (HS256), the project's JWT secret.
    pub jwt_secret: String,
    /// Access token lifetime in seconds (`GOTRUE_JWT_EXP`, 3600).
    pub jwt_exp_secs: u64,
    /// `aud` of access tokens (`authenticated`).
    pub jwt_aud: String,
    /// `iss` of access tokens (e.g. `http://127.0.0.1:54321/auth/v1`).
    pub jwt_issuer: String,
    /// Role of new users (`authenticated`).
    pub default_role: String,
    /// Roles allowed to call `/admin/*` (`service_role`, `supabase_admin`).
    pub admin_roles: Vec<String>,
    /// Shortest accepted password (6).
    pub password_min_length: usize,
    /// Sets `email_confirmed_at` at sign-up and signs the user in (true: there is no mailer).
    pub autoconfirm: bool,
    /// Refuse `POST /signup` (false).
    pub disable_signup: bool,
    /// A revoked refresh token presented again within this time gets the session's current
    /// token instead of ending the session (10 s).
    pub refresh_token_reuse_interval: Duration,
    /// Failed password sign-ins allowed per email within `rate_limit_window` (10; 0 = off).
    pub max_failed_signins_per_email: u32,
    /// Failed password sign-ins allowed per client IP within `rate_limit_window` (30; 0 = off).
    pub max_failed_signins_per_ip: u32,
    /// The window of the failed sign-in limits (5 minutes).
    pub rate_limit_window: Duration,
    /// Header holding the client IP (first entry), e.g. `x-forwarded-for` behind a proxy;
    /// `None` uses the socket peer (serve with `into_make_service_with_connect_info`).
    pub client_ip_header: Option<String>,
    /// bcrypt cost of new password hashes (10, as upstream).
    pub bcrypt_cost: u32,
}

impl AuthConfig {
    /// Upstream's defaults with the given signing secret.
    pub fn new(jwt_secret: impl Into<String>) -> Self {
        AuthConfig {
            jwt_secret: jwt_secret.into(),
            jwt_exp_secs: 3600,
            jwt_aud: "authenticated".to_string(),
            jwt_issuer: "pgbase".to_string(),
            default_role: "authenticated".to_string(),
            admin_roles: vec!["service_role".to_string(), "supabase_admin".to_string()],
            password_min_length: 6,
            autoconfirm: true,
            disable_signup: false,
            refresh_token_reuse_interval: Duration::from_secs(10),
            max_failed_signins_per_email: 10,
            max_failed_signins_per_ip: 30,
            rate_limit_window: Duration::from_secs(300),
            client_ip_header: None,
            bcrypt_cost: bcrypt::DEFAULT_COST,
        }
    }
}

impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthConfig")
            .field("jwt_secret", &"<redacted>")
            .field("jwt_exp_secs", &self.jwt_exp_secs)
            .field("jwt_aud", &self.jwt_aud)
            .field("jwt_issuer", &self.jwt_issuer)
            .field("autoconfirm", &self.autoconfirm)
            .field("disable_signup", &self.disable_signup)
            .field("password_min_length", &self.password_min_length)
            .finish_non_exhaustive()
    }
}

/// What the auth handlers share: the database pool, the settings, the request authenticator
/// (the same one the REST API uses) and the failed sign-in counters.
#[derive(Clone)]
pub struct AuthState {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub pool: pgbase_db::Pool,
    pub config: AuthConfig,
    pub authenticator: Arc<Authenticator>,
    pub email_limiter: FailureLimiter,
    pub ip_limiter: FailureLimiter,
}

impl AuthState {
    /// The pool's login must be able to use the `auth` tables (`authenticator` is granted them
    /// by `sql/0002_auth.sql`; the owner can too).
    pub fn new(
        pool: pgbase_db::Pool,
        config: AuthConfig,
        authenticator: Arc<Authenticator>,
    ) -> Self {
        let email_limiter = FailureLimiter::new(
            config.max_failed_signins_per_email,
            config.rate_limit_window,
        );
        let ip_limiter =
            FailureLimiter::new(config.max_failed_signins_per_ip, config.rate_limit_window);
        AuthState {
            inner: Arc::new(Inner {
                pool,
                config,
                authenticator,
                email_limiter,
                ip_limiter,
            }),
        }
    }

    /// The settings.
    pub fn config(&self) -> &AuthConfig {
        &self.inner.config
    }
}

impl fmt::Debug for AuthState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthState")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// The `/auth/v1` API. Mount with `Router::nest("/auth/v1", pgbase_auth::router(state))`.
pub fn router(state: AuthState) -> Router {
    Router::new()
        .route("/signup", post(handlers::signup))
        .route("/token", post(handlers::token))
        .route("/user", get(handlers::get_user).put(handlers::update_user))
        .route("/logout", post(handlers::logout))
        .route("/settings", get(handlers::settings))
        .route("/health", get(handlers::health))
        .route(
            "/admin/users",
            get(admin::list_users).post(admin::create_user),
        )
        .route(
            "/admin/users/{id}",
            get(admin::get_user)
                .put(admin::update_user)
                .delete(admin::delete_user),
        )
        .fallback(handlers::not_found)
        .layer(axum::middleware::from_fn(api_version))
        .with_state(state)
}

/// Re-renders error bodies in the dated shape, and echoes the version header, for clients
/// that send `X-Supabase-Api-Version: 2024-01-01` or later.
async fn api_version(req: Request, next: Next) -> Response {
    let dated = req
        .headers()
        .get(error::API_VERSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.len() == 10 && v.as_bytes()[4] == b'-' && v >= error::API_VERSION_2024_01_01
        });
    let resp = next.run(req).await;
    if !dated {
        return resp;
    }
    let mut resp = match resp.extensions().get::<GoTrueError>() {
        Some(err) => err.to_response(true),
        None => resp,
    };
    resp.headers_mut().insert(
        error::API_VERSION_HEADER,
        HeaderValue::from_static(error::API_VERSION_2024_01_01),
    );
    resp
}

/// The client's IP: the configured header's first entry, else the socket peer.
pub(crate) fn client_ip(
    config: &AuthConfig,
    headers: &HeaderMap,
    peer: Option<ConnectInfo<SocketAddr>>,
) -> Option<IpAddr> {
    if let Some(name) = &config.client_ip_header
        && let Some(ip) = headers
            .get(name.as_str())
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse().ok())
    {
        return Some(ip);
    }
    peer.map(|ConnectInfo(addr)| addr.ip())
}

/// The caller's verified token (the `Authorization: Bearer` header only, as GoTrue).
pub(crate) async fn bearer(
    state: &AuthState,
    headers: &HeaderMap,
) -> Result<AuthContext, GoTrueError> {
    let has_bearer = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .is_some_and(|(scheme, token)| {
            scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty()
        });
    if !has_bearer {
        return Err(GoTrueError::NoAuthorization);
    }
    let mut only_auth = HeaderMap::new();
    if let Some(v) = headers.get(http::header::AUTHORIZATION) {
        only_auth.insert(http::header::AUTHORIZATION, v.clone());
    }
    state
        .inner
        .authenticator
        .authenticate(&only_auth)
        .await
        .map_err(|e| GoTrueError::BadJwt(e.message()))
}
