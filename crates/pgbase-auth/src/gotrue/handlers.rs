//! The user-facing endpoints: sign-up, token (password and refresh-token grants), user,
//! logout, settings and health. Database work is short transactions; bcrypt runs on the
//! bounded hashing pool while no connection is held (a password sign-in reads the user, gives
//! the connection back, verifies, then checks one out again to write the session). Sign-ups
//! and sign-ins share a per-address rate limit, refreshes have their own.

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Query, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use uuid::Uuid;

use super::error::GoTrueError;
use super::store::{self, NewUser, UserUpdate};
use super::tokens::{self, Grant};
use super::{AuthConfig, AuthState, bearer, client_ip, rate_limit};
use crate::jwt::AuthContext;

/// The client's socket address, when the server was started with connect info.
pub(crate) type Peer = Option<axum::Extension<ConnectInfo<SocketAddr>>>;

/// Parses a JSON body; an empty body is the default value.
pub(crate) fn parse_body<T: DeserializeOwned + Default>(body: &Bytes) -> Result<T, GoTrueError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| GoTrueError::BadJson(e.to_string()))
}

/// Upstream's password rules: at most 72 bytes (bcrypt), at least the configured length.
pub(crate) fn check_password(config: &AuthConfig, password: &str) -> Result<(), GoTrueError> {
    if password.len() > 72 {
        return Err(GoTrueError::Validation(
            "Password cannot be longer than 72 characters".to_string(),
        ));
    }
    if password.chars().count() < config.password_min_length {
        return Err(GoTrueError::WeakPassword {
            message: format!(
                "Password should be at least {} characters.",
                config.password_min_length
            ),
            reasons: vec!["length".to_string()],
        });
    }
    Ok(())
}

/// Lower-cased, trimmed, and plausibly an address (no whitespace or control characters: a NUL
/// byte is a 400 here, not a database error).
pub(crate) fn normalize_email(email: &str) -> Result<String, GoTrueError> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 255
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        });
    if !valid {
        return Err(GoTrueError::Validation(
            "Unable to validate email address: invalid format".to_string(),
        ));
    }
    Ok(email)
}

fn user_agent(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
}

/// The `sub` and `session_id` of a verified user token.
pub(crate) fn subject(ctx: &AuthContext) -> Result<(Uuid, Option<Uuid>), GoTrueError> {
    let sub = ctx
        .claims
        .get("sub")
        .and_then(Value::as_str)
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or_else(|| GoTrueError::BadJwt("invalid claim: missing sub claim".to_string()))?;
    let session = ctx
        .claims
        .get("session_id")
        .and_then(Value::as_str)
        .and_then(|s| Uuid::parse_str(s).ok());
    Ok((sub, session))
}

#[derive(Deserialize, Default)]
pub(crate) struct SignupBody {
    email: Option<String>,
    phone: Option<String>,
    password: Option<String>,
    data: Option<Value>,
}

/// `POST /signup`.
pub(crate) async fn signup(
    State(state): State<AuthState>,
    headers: HeaderMap,
    peer: Peer,
    body: Bytes,
) -> Result<Json<Value>, GoTrueError> {
    let config = &state.inner.config;
    if config.disable_signup {
        return Err(GoTrueError::SignupDisabled);
    }
    let body: SignupBody = parse_body(&body)?;
    let email = body.email.as_deref().filter(|e| !e.trim().is_empty());
    let phone = body.phone.as_deref().filter(|p| !p.trim().is_empty());
    if email.is_some() && phone.is_some() {
        return Err(GoTrueError::Validation(
            "Only an email address or phone number should be provided on signup.".to_string(),
        ));
    }
    if phone.is_some() {
        return Err(GoTrueError::PhoneProviderDisabled);
    }
    // neither: supabase-js' signInAnonymously(), which GoTrue answers 422 when it is off
    let email = normalize_email(email.ok_or(GoTrueError::AnonymousProviderDisabled)?)?;
    let password = body.password.unwrap_or_default();
    if password.is_empty() {
        return Err(GoTrueError::Validation(
            "Signup requires a valid password".to_string(),
        ));
    }
    check_password(config, &password)?;
    let data = match body.data {
        None | Some(Value::Null) => json!({}),
        Some(Value::Object(map)) => Value::Object(map),
        Some(_) => {
            return Err(GoTrueError::Validation(
                "data must be a JSON object".to_string(),
            ));
        }
    };

    let ip = client_ip(config, &headers, peer.map(|axum::Extension(c)| c));
    rate_limit(&state.inner.sign_in_limiter, ip)?;

    // Hash before taking a connection: a taken email is found by the insert.
    let hash = state
        .inner
        .hasher
        .hash(&password, config.bcrypt_cost)
        .await?;
    let mut client = state.inner.pool.get().await?;
    let result = async {
        let tx = client.transaction().await?;
        let app_metadata = json!({ "provider": "email", "providers": ["email"] });
        let id = store::insert_user(
            &tx,
            &NewUser {
                email: &email,
                password_hash: Some(&hash),
                role: &config.default_role,
                aud: &config.jwt_aud,
                confirmed: config.autoconfirm,
                app_metadata: &app_metadata,
                user_metadata: &data,
                banned_until: None,
            },
        )
        .await
        .map_err(|e| match e {
            GoTrueError::EmailExists => GoTrueError::UserAlreadyExists,
            other => other,
        })?;
        if !config.autoconfirm {
            let user = store::user_json(&tx, id)
                .await?
                .ok_or_else(|| GoTrueError::Internal("new user vanished".to_string()))?;
            tx.commit().await?;
            return Ok((user, None));
        }
        let refresh = tokens::new_refresh_token()?;
        let (session_id, started) =
            store::create_session(&tx, id, &refresh, user_agent(&headers), ip, None)
                .await?
                .ok_or_else(|| GoTrueError::Internal("new user vanished".to_string()))?;
        let user = store::user_json(&tx, id)
            .await?
            .ok_or_else(|| GoTrueError::Internal("new user vanished".to_string()))?;
        tx.commit().await?;
        Ok((user, Some((refresh, session_id, started))))
    }
    .await;
    let (user, session) = release(&client, result).await?;
    drop(client);
    let Some((refresh, session_id, started)) = session else {
        return Ok(Json(user));
    };
    let session = tokens::session_json(
        config,
        &Grant {
            user: &user,
            session_id: &session_id.to_string(),
            authenticated_at: started,
            method: "password",
        },
        &refresh,
    )?;
    Ok(Json(session))
}

#[derive(Deserialize, Default)]
struct PasswordGrant {
    email: Option<String>,
    phone: Option<String>,
    password: Option<String>,
}

#[derive(Deserialize, Default)]
struct RefreshGrant {
    refresh_token: Option<String>,
}

/// `POST /token?grant_type=password|refresh_token`.
pub(crate) async fn token(
    State(state): State<AuthState>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    peer: Peer,
    body: Bytes,
) -> Result<Json<Value>, GoTrueError> {
    match query.get("grant_type").map(String::as_str) {
        Some("password") => password_grant(&state, &headers, peer, &body).await,
        Some("refresh_token") => refresh_grant(&state, &headers, peer, &body).await,
        _ => Err(GoTrueError::UnsupportedGrantType),
    }
}

async fn password_grant(
    state: &AuthState,
    headers: &HeaderMap,
    peer: Peer,
    body: &Bytes,
) -> Result<Json<Value>, GoTrueError> {
    let config = &state.inner.config;
    let body: PasswordGrant = parse_body(body)?;
    let password = body.password.unwrap_or_default();
    let Some(email) = body.email.filter(|e| !e.trim().is_empty()) else {
        // Phone sign-in needs an SMS provider, which pgbase does not have.
        return Err(if body.phone.is_some() {
            GoTrueError::InvalidCredentials
        } else {
            GoTrueError::Validation("missing email or phone".to_string())
        });
    };
    let email = email.trim().to_lowercase();
    if email.chars().any(char::is_control) {
        return Err(GoTrueError::Validation(
            "Unable to validate email address: invalid format".to_string(),
        ));
    }
    let ip = client_ip(config, headers, peer.map(|axum::Extension(c)| c));
    // Right and wrong passwords alike take a token; nothing locks the account itself.
    rate_limit(&state.inner.sign_in_limiter, ip)?;

    // Read the user, then give the connection back before bcrypt runs.
    let creds = {
        let client = state.inner.pool.get().await?;
        let creds = store::credentials_by_email(plain(&client), &email).await;
        release(&client, creds).await?
    };
    let hasher = &state.inner.hasher;
    let matched = match &creds {
        Some(c) if !c.encrypted_password.is_empty() && !password.is_empty() => {
            hasher.verify(&password, &c.encrypted_password).await?
        }
        _ => {
            // Same work as a real check, so timing does not tell whether the email exists.
            let _ = hasher.hash("not a password", config.bcrypt_cost).await?;
            false
        }
    };
    let creds = match creds {
        Some(c) if matched => c,
        _ => return Err(GoTrueError::InvalidCredentials),
    };
    if creds.banned {
        return Err(GoTrueError::UserBanned);
    }
    if !creds.confirmed && !config.autoconfirm {
        return Err(GoTrueError::EmailNotConfirmed);
    }
    let refresh = tokens::new_refresh_token()?;
    let mut client = state.inner.pool.get().await?;
    let result = async {
        let tx = client.transaction().await?;
        // Only if the password verified is still the user's (and the user still exists).
        let (session_id, started) = store::create_session(
            &tx,
            creds.id,
            &refresh,
            user_agent(headers),
            ip,
            Some(&creds.encrypted_password),
        )
        .await?
        .ok_or(GoTrueError::InvalidCredentials)?;
        let user = store::user_json(&tx, creds.id)
            .await?
            .ok_or(GoTrueError::InvalidCredentials)?;
        tx.commit().await?;
        Ok((user, session_id, started))
    }
    .await;
    let (user, session_id, started) = release(&client, result).await?;
    drop(client);
    Ok(Json(tokens::session_json(
        config,
        &Grant {
            user: &user,
            session_id: &session_id.to_string(),
            authenticated_at: started,
            method: "password",
        },
        &refresh,
    )?))
}

/// Gives a checkout back after its work. On success (the work committed) it is idle. After a
/// failure the work's transaction was dropped, which queues a `ROLLBACK`; one empty round trip
/// confirms it has run, and the connection goes back to the pool instead of being closed (a
/// wrong refresh token or a taken email costs no reconnect). If even that fails, the guard
/// closes the connection.
pub(crate) async fn release<T>(
    client: &pgbase_db::Checkout,
    result: Result<T, GoTrueError>,
) -> Result<T, GoTrueError> {
    match &result {
        Ok(_) => client.mark_idle(),
        Err(_) => {
            if client.batch_execute("").await.is_ok() {
                client.mark_idle();
            }
        }
    }
    result
}

/// The plain client of a checkout, for one-statement reads outside a transaction.
pub(crate) fn plain(client: &pgbase_db::Checkout) -> &tokio_postgres::Client {
    client
}

async fn refresh_grant(
    state: &AuthState,
    headers: &HeaderMap,
    peer: Peer,
    body: &Bytes,
) -> Result<Json<Value>, GoTrueError> {
    let config = &state.inner.config;
    let body: RefreshGrant = parse_body(body)?;
    let token = body.refresh_token.unwrap_or_default();
    let ip = client_ip(config, headers, peer.map(|axum::Extension(c)| c));
    rate_limit(&state.inner.refresh_limiter, ip)?;
    // Tokens are `[a-z0-9]`; anything else (a NUL byte…) cannot be one.
    if token.is_empty() || token.len() > 255 || token.chars().any(char::is_control) {
        return Err(GoTrueError::RefreshTokenNotFound);
    }
    let mut client = state.inner.pool.get().await?;
    let result = async {
        let tx = client.transaction().await?;
        let presented = store::lock_refresh_token(
            &tx,
            &token,
            config.refresh_token_reuse_interval.as_secs_f64(),
        )
        .await?
        .ok_or(GoTrueError::RefreshTokenNotFound)?;
        let (Some(session_id), Some(user_id), true) = (
            presented.session_id,
            presented.user_id,
            presented.session_exists,
        ) else {
            return Err(GoTrueError::RefreshTokenNotFound);
        };
        if presented.session_expired {
            return Err(GoTrueError::SessionExpired);
        }
        let creds = store::credentials_by_id(&*tx, user_id)
            .await?
            .ok_or(GoTrueError::RefreshTokenNotFound)?;
        if creds.banned {
            return Err(GoTrueError::UserBanned);
        }
        let refresh = if presented.revoked {
            let active = if presented.within_reuse_interval {
                store::active_token(&tx, session_id).await?
            } else {
                None
            };
            match active {
                // A concurrent refresh (another tab) rotated it a moment ago: share the result.
                Some(active) => active,
                None => {
                    // Reuse of an old token: treat it as stolen and end the session.
                    store::delete_session(&tx, session_id).await?;
                    tx.commit().await?;
                    return Err(GoTrueError::RefreshTokenAlreadyUsed);
                }
            }
        } else {
            let new = tokens::new_refresh_token()?;
            store::rotate(&tx, &presented, &token, &new).await?;
            new
        };
        let user = store::user_json(&tx, user_id)
            .await?
            .ok_or(GoTrueError::RefreshTokenNotFound)?;
        tx.commit().await?;
        Ok((user, refresh, session_id, presented.session_started))
    }
    .await;
    let (user, refresh, session_id, session_started) = release(&client, result).await?;
    drop(client);
    Ok(Json(tokens::session_json(
        config,
        &Grant {
            user: &user,
            session_id: &session_id.to_string(),
            authenticated_at: session_started,
            method: "password",
        },
        &refresh,
    )?))
}

/// The verified caller, their session (which must still exist) and the open transaction.
async fn current_user(
    state: &AuthState,
    headers: &HeaderMap,
) -> Result<(AuthContext, Uuid, Option<Uuid>), GoTrueError> {
    let ctx = bearer(state, headers).await?;
    let (sub, session) = subject(&ctx)?;
    Ok((ctx, sub, session))
}

/// `GET /user`.
pub(crate) async fn get_user(
    State(state): State<AuthState>,
    headers: HeaderMap,
) -> Result<Json<Value>, GoTrueError> {
    let (_, sub, session) = current_user(&state, &headers).await?;
    let mut client = state.inner.pool.get().await?;
    let result = async {
        let tx = client.transaction().await?;
        if let Some(session) = session
            && !store::session_exists(&tx, session).await?
        {
            return Err(GoTrueError::SessionNotFound);
        }
        let user = store::user_json(&tx, sub)
            .await?
            .ok_or(GoTrueError::UserFromJwtNotFound)?;
        tx.commit().await?;
        Ok(user)
    }
    .await;
    let user = release(&client, result).await?;
    drop(client);
    Ok(Json(user))
}

#[derive(Deserialize, Default)]
struct UserUpdateBody {
    email: Option<String>,
    password: Option<String>,
    data: Option<Value>,
    app_metadata: Option<Value>,
    phone: Option<String>,
}

/// `PUT /user`: email, password, data (user_metadata).
pub(crate) async fn update_user(
    State(state): State<AuthState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, GoTrueError> {
    let config = &state.inner.config;
    let (ctx, sub, session) = current_user(&state, &headers).await?;
    let body: UserUpdateBody = parse_body(&body)?;
    if body.app_metadata.is_some() && !config.admin_roles.contains(&ctx.role) {
        return Err(GoTrueError::NotAdmin);
    }
    if body.phone.as_deref().is_some_and(|p| !p.is_empty()) {
        return Err(GoTrueError::PhoneProviderDisabled);
    }
    let mut update = UserUpdate::default();
    if let Some(password) = body.password {
        check_password(config, &password)?;
        // bcrypt with no connection held: read the current hash, give the connection back.
        let current = {
            let client = state.inner.pool.get().await?;
            let creds = store::credentials_by_id(plain(&client), sub).await;
            release(&client, creds)
                .await?
                .ok_or(GoTrueError::UserFromJwtNotFound)?
        };
        let hasher = &state.inner.hasher;
        if !current.encrypted_password.is_empty()
            && hasher
                .verify(&password, &current.encrypted_password)
                .await?
        {
            return Err(GoTrueError::SamePassword);
        }
        update.password_hash = Some(hasher.hash(&password, config.bcrypt_cost).await?);
    }
    let mut client = state.inner.pool.get().await?;
    let result = async {
        let tx = client.transaction().await?;
        if let Some(session) = session
            && !store::session_exists(&tx, session).await?
        {
            return Err(GoTrueError::SessionNotFound);
        }
        if store::credentials_by_id(&*tx, sub).await?.is_none() {
            return Err(GoTrueError::UserFromJwtNotFound);
        }
        if let Some(email) = body.email.filter(|e| !e.trim().is_empty()) {
            let email = normalize_email(&email)?;
            if store::email_taken(&tx, &email, Some(sub)).await? {
                return Err(GoTrueError::EmailExists);
            }
            // There is no mailer: the change applies at once, confirmed when autoconfirm is on.
            update.confirm_email = config.autoconfirm;
            update.email = Some(email);
        }
        match body.data {
            None | Some(Value::Null) => {}
            Some(Value::Object(map)) => update.user_metadata = Some(Value::Object(map)),
            Some(_) => {
                return Err(GoTrueError::Validation(
                    "data must be a JSON object".to_string(),
                ));
            }
        }
        if let Some(app) = body.app_metadata.filter(Value::is_object) {
            update.app_metadata = Some(app);
        }
        let password_changed = update.password_hash.is_some();
        store::update_user(&tx, sub, &update).await?;
        if password_changed {
            // A new password ends every other session, as upstream.
            store::delete_sessions(&tx, sub, None, session).await?;
        }
        let user = store::user_json(&tx, sub)
            .await?
            .ok_or(GoTrueError::UserFromJwtNotFound)?;
        tx.commit().await?;
        Ok(user)
    }
    .await;
    let user = release(&client, result).await?;
    drop(client);
    Ok(Json(user))
}

/// `POST /logout?scope=global|local|others` → 204.
pub(crate) async fn logout(
    State(state): State<AuthState>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, GoTrueError> {
    let (_, sub, session) = current_user(&state, &headers).await?;
    let scope = query.get("scope").map(String::as_str).unwrap_or("global");
    let mut client = state.inner.pool.get().await?;
    let result = async {
        let tx = client.transaction().await?;
        if let Some(session) = session
            && !store::session_exists(&tx, session).await?
        {
            return Err(GoTrueError::SessionNotFound);
        }
        match (scope, session) {
            ("global", _) => {
                store::delete_sessions(&tx, sub, None, None).await?;
            }
            ("local", Some(session)) => {
                store::delete_sessions(&tx, sub, Some(session), None).await?;
            }
            ("others", Some(session)) => {
                store::delete_sessions(&tx, sub, None, Some(session)).await?;
            }
            ("local" | "others", None) => {}
            _ => {
                return Err(GoTrueError::Validation(
                    "Unsupported logout scope \"".to_string() + scope + "\"",
                ));
            }
        }
        tx.commit().await?;
        Ok(())
    }
    .await;
    release(&client, result).await?;
    drop(client);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /settings`.
pub(crate) async fn settings(State(state): State<AuthState>) -> Json<Value> {
    let config = &state.inner.config;
    let mut external = serde_json::Map::new();
    for provider in [
        "anonymous_users",
        "apple",
        "azure",
        "bitbucket",
        "discord",
        "facebook",
        "figma",
        "fly",
        "github",
        "gitlab",
        "google",
        "keycloak",
        "kakao",
        "linkedin_oidc",
        "notion",
        "phone",
        "slack_oidc",
        "spotify",
        "twitch",
        "twitter",
        "workos",
        "zoom",
    ] {
        external.insert(provider.to_string(), Value::Bool(false));
    }
    external.insert("email".to_string(), Value::Bool(true));
    Json(json!({
        "external": external,
        "disable_signup": config.disable_signup,
        "mailer_autoconfirm": config.autoconfirm,
        "phone_autoconfirm": false,
        "sms_provider": "",
        "saml_enabled": false,
    }))
}

/// `GET /health`.
pub(crate) async fn health() -> Json<Value> {
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "name": "GoTrue",
        "description": "pgbase auth: a Supabase Auth (GoTrue) compatible API",
    }))
}

/// Unknown paths.
pub(crate) async fn not_found() -> GoTrueError {
    GoTrueError::NotFound
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalized_and_checked() {
        assert_eq!(
            normalize_email("  Ada@Example.COM ").unwrap(),
            "ada@example.com"
        );
        for bad in ["", "ada", "@x.io", "ada@", "a b@x.io", "a@@x.io", "a@.x"] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn password_rules() {
        let config = AuthConfig::new("x".repeat(32));
        assert!(matches!(
            check_password(&config, "12345"),
            Err(GoTrueError::WeakPassword { .. })
        ));
        assert!(check_password(&config, "123456").is_ok());
        assert!(matches!(
            check_password(&config, &"x".repeat(73)),
            Err(GoTrueError::Validation(_))
        ));
    }
}
