//! A Supabase Auth (GoTrue) compatible HTTP API over the `auth` schema, enough for supabase-js:
//! `POST /signup`, `POST /token?grant_type=password|refresh_token`, `GET|PUT /user`,
//! `POST /logout?scope=global|local|others`, `GET /settings`, `GET /health`, and the admin
//! users API (`/admin/users`, service_role only). Mount [`router`] at `/auth/v1`.
//!
//! Passwords are bcrypt, hashed on a bounded blocking pool while no database connection is
//! held (the `password` module); refresh tokens rotate on every use and a reuse outside the
//! reuse interval ends the whole session; sign-ups, sign-ins and refreshes are rate limited per
//! client address with GoTrue's token buckets, never by locking an account ([`ratelimit`]).
//! Errors use GoTrue's shapes (see [`error`]); load refusals are 429/503 with `Retry-After`.

mod admin;
pub mod error;
mod handlers;
mod password;
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
use password::PasswordHasher;
use ratelimit::RateLimiter;
pub use ratelimit::{CidrError, IpCidr};

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
    /// Sign-ups plus password sign-ins per client address per `rate_limit_window`, right or
    /// wrong password alike (30, Supabase's default; 0 = off). No account is ever locked.
    pub rate_limit_sign_in_sign_up: u32,
    /// Refresh-token grants per client address per `rate_limit_window`
    /// (`GOTRUE_RATE_LIMIT_TOKEN_REFRESH`, 150; 0 = off).
    pub rate_limit_token_refresh: u32,
    /// The window the limits are counted over (5 minutes); buckets refill continuously.
    pub rate_limit_window: Duration,
    /// Client addresses tracked per limit; beyond it the least recently seen are forgotten
    /// (100 000, a few MB).
    pub rate_limit_max_clients: usize,
    /// Peers (addresses or CIDR blocks) whose `client_ip_header` is believed: the client is
    /// then the right-most address in it that is not itself trusted. Empty (the default): the
    /// socket peer is the client and forwarding headers are ignored, so they cannot be
    /// spoofed. Serve with `into_make_service_with_connect_info::<SocketAddr>`.
    pub trusted_proxies: Vec<IpCidr>,
    /// The forwarding header read from trusted proxies (`x-forwarded-for`; `x-real-ip` or
    /// `cf-connecting-ip` also work — like `GOTRUE_RATE_LIMIT_HEADER`, but only from
    /// `trusted_proxies`).
    pub client_ip_header: String,
    /// bcrypt cost of new password hashes (10, as upstream).
    pub bcrypt_cost: u32,
    /// bcrypt jobs run at once (the number of CPUs).
    pub bcrypt_concurrency: usize,
    /// How long a sign-in/sign-up waits for a bcrypt slot before a 503 (10 s).
    pub bcrypt_queue_timeout: Duration,
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
            rate_limit_sign_in_sign_up: 30,
            rate_limit_token_refresh: 150,
            rate_limit_window: Duration::from_secs(300),
            rate_limit_max_clients: 100_000,
            trusted_proxies: Vec::new(),
            client_ip_header: "x-forwarded-for".to_string(),
            bcrypt_cost: bcrypt::DEFAULT_COST,
            bcrypt_concurrency: password::default_concurrency(),
            bcrypt_queue_timeout: Duration::from_secs(10),
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
            .field(
                "rate_limit_sign_in_sign_up",
                &self.rate_limit_sign_in_sign_up,
            )
            .field("rate_limit_token_refresh", &self.rate_limit_token_refresh)
            .field("rate_limit_window", &self.rate_limit_window)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("client_ip_header", &self.client_ip_header)
            .finish_non_exhaustive()
    }
}

/// What the auth handlers share: the database pool, the settings, the request authenticator
/// (the same one the REST API uses), the rate limiters and the bcrypt worker.
#[derive(Clone)]
pub struct AuthState {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub pool: pgbase_db::Pool,
    pub config: AuthConfig,
    pub authenticator: Arc<Authenticator>,
    pub sign_in_limiter: RateLimiter,
    pub refresh_limiter: RateLimiter,
    pub hasher: PasswordHasher,
}

impl AuthState {
    /// The pool's login must be able to use the `auth` tables (`authenticator` is granted them
    /// by `sql/0002_auth.sql`; the owner can too).
    pub fn new(
        pool: pgbase_db::Pool,
        config: AuthConfig,
        authenticator: Arc<Authenticator>,
    ) -> Self {
        let sign_in_limiter = RateLimiter::new(
            config.rate_limit_sign_in_sign_up,
            config.rate_limit_window,
            config.rate_limit_max_clients,
        );
        let refresh_limiter = RateLimiter::new(
            config.rate_limit_token_refresh,
            config.rate_limit_window,
            config.rate_limit_max_clients,
        );
        let hasher = PasswordHasher::new(config.bcrypt_concurrency, config.bcrypt_queue_timeout);
        AuthState {
            inner: Arc::new(Inner {
                pool,
                config,
                authenticator,
                sign_in_limiter,
                refresh_limiter,
                hasher,
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

/// The client's IP: the socket peer, or the forwarded address when the peer is a trusted
/// proxy (see [`ratelimit::client_ip`]).
pub(crate) fn client_ip(
    config: &AuthConfig,
    headers: &HeaderMap,
    peer: Option<ConnectInfo<SocketAddr>>,
) -> Option<IpAddr> {
    ratelimit::client_ip(
        peer.map(|ConnectInfo(addr)| addr.ip()),
        headers,
        &config.client_ip_header,
        &config.trusted_proxies,
    )
}

/// Takes one request from `ip`'s bucket of `limiter`: a 429 with the wait when it is empty.
/// Requests whose address is unknown (no connect info) are not limited.
pub(crate) fn rate_limit(limiter: &RateLimiter, ip: Option<IpAddr>) -> Result<(), GoTrueError> {
    match ip.map(|ip| limiter.check(ip)) {
        Some(Err(wait)) => Err(GoTrueError::RateLimited {
            // whole seconds, rounded up (a wait under a second still says 1)
            retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
        }),
        _ => Ok(()),
    }
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
