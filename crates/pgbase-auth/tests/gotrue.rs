//! The `/auth/v1` API in process (`tower::ServiceExt::oneshot`) against a real Postgres: the
//! calls supabase-js makes, their session and error shapes, refresh-token rotation and reuse,
//! logout scopes, the admin API's role check, the per-address rate limits (never an account
//! lock; forwarded addresses only from trusted proxies), bcrypt away from the connection pool,
//! and NUL bytes as 400s.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use http::{HeaderMap, Method, Request, StatusCode};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use pgbase_auth::{AuthConfig, AuthState, Authenticator, JwtConfig, router};
use serde_json::{Value, json};
use tower::ServiceExt;

const SECRET: &str = "super-secret-jwt-token-with-at-least-32-characters";
/// How many sign-ins the burst test sends at once.
const SIGN_INS: usize = 80;
/// Upper bound of a wait in the burst test: reached only when something hangs.
const PATIENCE: Duration = Duration::from_secs(60);

struct Api {
    app: Router,
    pool: pgbase_db::Pool,
    _db: pgbase_testkit::TestDb,
}

struct Resp {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

async fn api_with(tweak: impl FnOnce(&mut AuthConfig)) -> Api {
    let db = pgbase_testkit::test_db().await;
    let pool = db.pool(4);
    let mut config = AuthConfig::new(SECRET);
    config.bcrypt_cost = 4;
    tweak(&mut config);
    let authenticator = Arc::new(Authenticator::new(JwtConfig::with_secret(SECRET)).unwrap());
    Api {
        app: router(AuthState::new(pool.clone(), config, authenticator)),
        pool,
        _db: db,
    }
}

async fn api() -> Api {
    api_with(|_| {}).await
}

fn service_key() -> String {
    key_for("service_role")
}

fn key_for(role: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &json!({"iss": "pgbase", "role": role, "iat": 0, "exp": 4_000_000_000i64}),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

impl Api {
    async fn call(
        &self,
        method: Method,
        uri: &str,
        bearer: Option<&str>,
        extra: &[(&str, &str)],
        body: Option<Value>,
    ) -> Resp {
        self.call_from(None, method, uri, bearer, extra, body).await
    }

    /// A call whose TCP peer is `peer` (as `into_make_service_with_connect_info` records it).
    async fn call_from(
        &self,
        peer: Option<&str>,
        method: Method,
        uri: &str,
        bearer: Option<&str>,
        extra: &[(&str, &str)],
        body: Option<Value>,
    ) -> Resp {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(peer) = peer {
            let addr: SocketAddr = format!("{peer}:40000").parse().unwrap();
            req = req.extension(ConnectInfo(addr));
        }
        if let Some(token) = bearer {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        let req = match body {
            Some(b) => req
                .header("content-type", "application/json")
                .body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        }
        .unwrap();
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&bytes)))
        };
        Resp {
            status,
            headers,
            body,
        }
    }

    async fn signup(&self, email: &str, password: &str) -> Resp {
        self.call(
            Method::POST,
            "/signup",
            None,
            &[],
            Some(json!({"email": email, "password": password, "data": {"name": "Ada"}})),
        )
        .await
    }

    async fn sign_in(&self, email: &str, password: &str) -> Resp {
        self.call(
            Method::POST,
            "/token?grant_type=password",
            None,
            &[],
            Some(json!({"email": email, "password": password})),
        )
        .await
    }

    async fn refresh(&self, token: &str) -> Resp {
        self.call(
            Method::POST,
            "/token?grant_type=refresh_token",
            None,
            &[],
            Some(json!({"refresh_token": token})),
        )
        .await
    }

    async fn get_user(&self, access: &str) -> Resp {
        self.call(Method::GET, "/user", Some(access), &[], None)
            .await
    }
}

fn claims(access: &str) -> Value {
    let mut v = Validation::new(Algorithm::HS256);
    v.set_audience(&["authenticated"]);
    jsonwebtoken::decode::<Value>(access, &DecodingKey::from_secret(SECRET.as_bytes()), &v)
        .unwrap()
        .claims
}

fn assert_session(r: &Resp) {
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    for key in [
        "access_token",
        "refresh_token",
        "expires_in",
        "expires_at",
        "user",
    ] {
        assert!(r.body.get(key).is_some(), "missing {key}: {}", r.body);
    }
    assert_eq!(r.body["token_type"], "bearer");
    assert_eq!(r.body["expires_in"], 3600);
}

fn assert_error(r: &Resp, status: StatusCode, code: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(r.body["error_code"], code, "{}", r.body);
    assert_eq!(r.body["code"], status.as_u16());
    assert!(r.body["msg"].is_string());
    assert_eq!(r.headers["x-sb-error-code"], code);
}

#[tokio::test]
async fn sign_up_returns_a_session_with_upstream_claims() {
    let api = api().await;
    let r = api.signup("  Ada@Example.COM ", "secret123").await;
    assert_session(&r);
    let user = &r.body["user"];
    assert_eq!(user["email"], "ada@example.com");
    assert_eq!(user["aud"], "authenticated");
    assert_eq!(user["role"], "authenticated");
    assert_eq!(user["user_metadata"]["name"], "Ada");
    assert_eq!(user["user_metadata"]["email"], "ada@example.com");
    assert_eq!(
        user["app_metadata"],
        json!({"provider": "email", "providers": ["email"]})
    );
    assert_eq!(user["identities"].as_array().unwrap().len(), 1);
    assert_eq!(user["identities"][0]["provider"], "email");
    assert!(user["email_confirmed_at"].is_string());
    assert_eq!(user["is_anonymous"], false);
    let c = claims(r.body["access_token"].as_str().unwrap());
    assert_eq!(c["sub"], user["id"]);
    assert_eq!(c["aud"], "authenticated");
    assert_eq!(c["role"], "authenticated");
    assert_eq!(c["email"], "ada@example.com");
    assert_eq!(c["aal"], "aal1");
    assert_eq!(c["amr"][0]["method"], "password");
    assert_eq!(c["is_anonymous"], false);
    assert!(c["session_id"].is_string());
    assert_eq!(c["user_metadata"]["name"], "Ada");
    assert_eq!(
        c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(),
        3600
    );
    // The same token gets the user back.
    let me = api.get_user(r.body["access_token"].as_str().unwrap()).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["id"], user["id"]);
}

#[tokio::test]
async fn sign_up_validation_errors() {
    let api = api().await;
    assert_session(&api.signup("ada@example.com", "secret123").await);
    // Duplicate, also with other casing.
    let r = api.signup("ADA@example.com", "secret123").await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "user_already_exists");
    assert_eq!(r.body["msg"], "User already registered");
    // Weak password.
    let r = api.signup("bob@example.com", "12345").await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "weak_password");
    assert_eq!(r.body["weak_password"]["reasons"], json!(["length"]));
    // Missing password, bad email, bad JSON.
    let r = api.signup("bob@example.com", "").await;
    assert_error(&r, StatusCode::BAD_REQUEST, "validation_failed");
    let r = api.signup("not-an-email", "secret123").await;
    assert_error(&r, StatusCode::BAD_REQUEST, "validation_failed");
    // No email and no phone is supabase-js' signInAnonymously(): off, as GoTrue answers it.
    let r = api
        .call(
            Method::POST,
            "/signup",
            None,
            &[],
            Some(json!({"data": {}, "gotrue_meta_security": {}})),
        )
        .await;
    assert_error(
        &r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "anonymous_provider_disabled",
    );
    assert_eq!(r.body["msg"], "Anonymous sign-ins are disabled");
    let req = Request::post("/signup").body(Body::from("{oops")).unwrap();
    let resp = api.app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    // With the dated API version (supabase-js), the body is {code, message}.
    let r = api
        .call(
            Method::POST,
            "/signup",
            None,
            &[("x-supabase-api-version", "2024-01-01")],
            Some(json!({"email": "ada@example.com", "password": "secret123"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        r.body,
        json!({"code": "user_already_exists", "message": "User already registered"})
    );
    assert_eq!(r.headers["x-supabase-api-version"], "2024-01-01");
}

#[tokio::test]
async fn password_sign_in() {
    let api = api().await;
    api.signup("ada@example.com", "secret123").await;
    let r = api.sign_in("ada@example.com", "wrong-password").await;
    assert_error(&r, StatusCode::BAD_REQUEST, "invalid_credentials");
    assert_eq!(r.body["msg"], "Invalid login credentials");
    let r = api.sign_in("nobody@example.com", "secret123").await;
    assert_error(&r, StatusCode::BAD_REQUEST, "invalid_credentials");
    let r = api.sign_in("ADA@example.com", "secret123").await;
    assert_session(&r);
    assert!(r.body["user"]["last_sign_in_at"].is_string());
    let r = api
        .call(
            Method::POST,
            "/token?grant_type=magic",
            None,
            &[],
            Some(json!({})),
        )
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "unsupported_grant_type");
}

#[tokio::test]
async fn users_imported_with_bcrypt_2a_hashes_sign_in() {
    let api = api().await;
    let client = api._db.connect().await;
    let hash = bcrypt::hash_with_result("imported-pass", 4)
        .unwrap()
        .format_for_version(bcrypt::Version::TwoA);
    assert!(hash.starts_with("$2a$"));
    client
        .execute(
            "insert into auth.users (id, aud, role, email, encrypted_password, email_confirmed_at)
             values (gen_random_uuid(), 'authenticated', 'authenticated', 'old@example.com', $1, now())",
            &[&hash],
        )
        .await
        .unwrap();
    assert_session(&api.sign_in("old@example.com", "imported-pass").await);
}

#[tokio::test]
async fn refresh_rotates_and_concurrent_reuse_gets_the_same_child() {
    let api = api().await;
    let s = api.signup("ada@example.com", "secret123").await;
    let r1 = s.body["refresh_token"].as_str().unwrap().to_string();
    let r = api.refresh(&r1).await;
    assert_session(&r);
    let r2 = r.body["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(r1, r2);
    assert_eq!(
        claims(r.body["access_token"].as_str().unwrap())["session_id"],
        claims(s.body["access_token"].as_str().unwrap())["session_id"]
    );
    // Within the reuse interval (another tab refreshing at the same time): the current token.
    let again = api.refresh(&r1).await;
    assert_session(&again);
    assert_eq!(again.body["refresh_token"], r2.as_str());
    // The child keeps rotating.
    let r3 = api.refresh(&r2).await;
    assert_session(&r3);
    assert_ne!(r3.body["refresh_token"], r2.as_str());
    let r = api.refresh("no-such-token").await;
    assert_error(&r, StatusCode::BAD_REQUEST, "refresh_token_not_found");
}

#[tokio::test]
async fn reusing_a_revoked_refresh_token_ends_the_session() {
    let api = api_with(|c| c.refresh_token_reuse_interval = Duration::ZERO).await;
    let s = api.signup("ada@example.com", "secret123").await;
    let access = s.body["access_token"].as_str().unwrap().to_string();
    let r1 = s.body["refresh_token"].as_str().unwrap().to_string();
    let r = api.refresh(&r1).await;
    assert_session(&r);
    let r2 = r.body["refresh_token"].as_str().unwrap().to_string();
    let reuse = api.refresh(&r1).await;
    assert_error(
        &reuse,
        StatusCode::BAD_REQUEST,
        "refresh_token_already_used",
    );
    assert_eq!(reuse.body["msg"], "Invalid Refresh Token: Already Used");
    // The whole session is gone: its newest refresh token and its access tokens no longer work.
    let r = api.refresh(&r2).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let me = api.get_user(&access).await;
    assert_error(&me, StatusCode::FORBIDDEN, "session_not_found");
}

#[tokio::test]
async fn update_user_changes_metadata_password_and_email() {
    let api = api().await;
    let s = api.signup("ada@example.com", "secret123").await;
    let access = s.body["access_token"].as_str().unwrap().to_string();
    let other = api.sign_in("ada@example.com", "secret123").await;
    let r = api
        .call(
            Method::PUT,
            "/user",
            Some(&access),
            &[],
            Some(json!({"data": {"theme": "dark", "name": null}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["user_metadata"]["theme"], "dark");
    assert!(r.body["user_metadata"].get("name").is_none());
    let r = api
        .call(
            Method::PUT,
            "/user",
            Some(&access),
            &[],
            Some(json!({"password": "secret123"})),
        )
        .await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "same_password");
    let r = api
        .call(
            Method::PUT,
            "/user",
            Some(&access),
            &[],
            Some(json!({"password": "abc"})),
        )
        .await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "weak_password");
    let r = api
        .call(
            Method::PUT,
            "/user",
            Some(&access),
            &[],
            Some(json!({"password": "new-secret"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_error(
        &api.sign_in("ada@example.com", "secret123").await,
        StatusCode::BAD_REQUEST,
        "invalid_credentials",
    );
    assert_session(&api.sign_in("ada@example.com", "new-secret").await);
    // A password change ends the other sessions.
    let me = api
        .get_user(other.body["access_token"].as_str().unwrap())
        .await;
    assert_error(&me, StatusCode::FORBIDDEN, "session_not_found");
    // Email change; a taken email is refused.
    api.signup("bob@example.com", "secret123").await;
    let r = api
        .call(
            Method::PUT,
            "/user",
            Some(&access),
            &[],
            Some(json!({"email": "BOB@example.com"})),
        )
        .await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "email_exists");
    let r = api
        .call(
            Method::PUT,
            "/user",
            Some(&access),
            &[],
            Some(json!({"email": "ada2@example.com"})),
        )
        .await;
    assert_eq!(r.body["email"], "ada2@example.com");
    // app_metadata needs an admin.
    let r = api
        .call(
            Method::PUT,
            "/user",
            Some(&access),
            &[],
            Some(json!({"app_metadata": {"plan": "pro"}})),
        )
        .await;
    assert_error(&r, StatusCode::FORBIDDEN, "not_admin");
}

#[tokio::test]
async fn user_endpoint_needs_a_valid_token() {
    let api = api().await;
    let r = api.call(Method::GET, "/user", None, &[], None).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "no_authorization");
    let r = api.get_user("garbage").await;
    assert_error(&r, StatusCode::FORBIDDEN, "bad_jwt");
    // The anon key has no sub.
    let r = api.get_user(&key_for("anon")).await;
    assert_error(&r, StatusCode::FORBIDDEN, "bad_jwt");
}

#[tokio::test]
async fn logout_scopes() {
    let api = api().await;
    api.signup("ada@example.com", "secret123").await;
    let a = api.sign_in("ada@example.com", "secret123").await;
    let b = api.sign_in("ada@example.com", "secret123").await;
    let c = api.sign_in("ada@example.com", "secret123").await;
    let token = |r: &Resp| r.body["access_token"].as_str().unwrap().to_string();
    // local: only this session.
    let r = api
        .call(
            Method::POST,
            "/logout?scope=local",
            Some(&token(&a)),
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(api.get_user(&token(&a)).await.status, StatusCode::FORBIDDEN);
    assert_eq!(api.get_user(&token(&b)).await.status, StatusCode::OK);
    let refresh_a = api.refresh(a.body["refresh_token"].as_str().unwrap()).await;
    assert_eq!(refresh_a.status, StatusCode::BAD_REQUEST);
    // others: every session but this one.
    let r = api
        .call(
            Method::POST,
            "/logout?scope=others",
            Some(&token(&b)),
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(api.get_user(&token(&b)).await.status, StatusCode::OK);
    assert_eq!(api.get_user(&token(&c)).await.status, StatusCode::FORBIDDEN);
    // global (the default): all of them.
    let d = api.sign_in("ada@example.com", "secret123").await;
    let r = api
        .call(Method::POST, "/logout", Some(&token(&b)), &[], None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(api.get_user(&token(&b)).await.status, StatusCode::FORBIDDEN);
    assert_eq!(api.get_user(&token(&d)).await.status, StatusCode::FORBIDDEN);
    let r = api.call(Method::POST, "/logout", None, &[], None).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "no_authorization");
}

#[tokio::test]
async fn admin_api_needs_the_service_role() {
    let api = api().await;
    let s = api.signup("ada@example.com", "secret123").await;
    let user_token = s.body["access_token"].as_str().unwrap().to_string();
    let r = api.call(Method::GET, "/admin/users", None, &[], None).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "no_authorization");
    for token in [user_token.clone(), key_for("anon")] {
        let r = api
            .call(Method::GET, "/admin/users", Some(&token), &[], None)
            .await;
        assert_error(&r, StatusCode::FORBIDDEN, "not_admin");
    }
    let service = service_key();
    let r = api
        .call(Method::GET, "/admin/users", Some(&service), &[], None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["users"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["aud"], "authenticated");
    assert_eq!(r.headers["x-total-count"], "1");
    // Create, with metadata and a confirmed email; the new user can sign in.
    let r = api
        .call(
            Method::POST,
            "/admin/users",
            Some(&service),
            &[],
            Some(
                json!({"email": "eve@example.com", "password": "secret123", "email_confirm": true,
                        "user_metadata": {"team": "red"}, "app_metadata": {"plan": "pro"}}),
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let eve = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(r.body["app_metadata"]["plan"], "pro");
    assert_eq!(r.body["app_metadata"]["provider"], "email");
    assert_eq!(r.body["user_metadata"]["team"], "red");
    assert_session(&api.sign_in("eve@example.com", "secret123").await);
    let r = api
        .call(
            Method::POST,
            "/admin/users",
            Some(&service),
            &[],
            Some(json!({"email": "EVE@example.com", "password": "secret123"})),
        )
        .await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "email_exists");
    // Get, update (ban), delete.
    let path = format!("/admin/users/{eve}");
    let r = api
        .call(Method::GET, &path, Some(&service), &[], None)
        .await;
    assert_eq!(r.body["email"], "eve@example.com");
    let r = api
        .call(
            Method::PUT,
            &path,
            Some(&service),
            &[],
            Some(json!({"ban_duration": "24h", "app_metadata": {"plan": "free"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body["banned_until"].is_string());
    assert_eq!(r.body["app_metadata"]["plan"], "free");
    assert_error(
        &api.sign_in("eve@example.com", "secret123").await,
        StatusCode::BAD_REQUEST,
        "user_banned",
    );
    let r = api
        .call(Method::DELETE, &path, Some(&service), &[], None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, json!({}));
    let r = api
        .call(Method::GET, &path, Some(&service), &[], None)
        .await;
    assert_error(&r, StatusCode::NOT_FOUND, "user_not_found");
    let r = api
        .call(
            Method::GET,
            "/admin/users/not-a-uuid",
            Some(&service),
            &[],
            None,
        )
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "validation_failed");
    // The user's token cannot delete anyone.
    let r = api
        .call(Method::DELETE, &path, Some(&user_token), &[], None)
        .await;
    assert_error(&r, StatusCode::FORBIDDEN, "not_admin");
}

#[tokio::test]
async fn wrong_passwords_never_lock_out_the_right_one() {
    let api = api().await;
    api.signup("ada@example.com", "secret123").await;
    for _ in 0..10 {
        let r = api
            .call_from(
                Some("198.51.100.1"),
                Method::POST,
                "/token?grant_type=password",
                None,
                &[],
                Some(json!({"email": "ada@example.com", "password": "wrong"})),
            )
            .await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_credentials");
    }
    // Ten wrong guesses (from anywhere) do not lock the account: the owner, from their own
    // address or the attacker's, still signs in.
    assert_session(&api.sign_in("ada@example.com", "secret123").await);
    let r = api
        .call_from(
            Some("198.51.100.1"),
            Method::POST,
            "/token?grant_type=password",
            None,
            &[],
            Some(json!({"email": "ada@example.com", "password": "secret123"})),
        )
        .await;
    assert_session(&r);
}

/// A password sign-in from TCP peer `peer` with an optional `X-Forwarded-For`.
async fn sign_in_via(api: &Api, peer: &str, xff: Option<&str>, email: &str, pw: &str) -> Resp {
    let extra: Vec<(&str, &str)> = xff.map(|v| ("x-forwarded-for", v)).into_iter().collect();
    api.call_from(
        Some(peer),
        Method::POST,
        "/token?grant_type=password",
        None,
        &extra,
        Some(json!({"email": email, "password": pw})),
    )
    .await
}

fn assert_rate_limited(r: &Resp) {
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    assert_eq!(
        r.body,
        json!({"code": 429, "error_code": "over_request_rate_limit", "msg": "Request rate limit reached"})
    );
    let wait: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=300).contains(&wait), "{wait}");
}

#[tokio::test]
async fn rate_limits_are_per_client_address_behind_a_trusted_proxy() {
    let api = api_with(|c| {
        c.rate_limit_sign_in_sign_up = 3;
        c.trusted_proxies = vec!["10.0.0.0/8".parse().unwrap()];
    })
    .await;
    api.signup("ada@example.com", "secret123").await;
    let proxy = "10.0.0.1";
    // Client A, behind the proxy (a spoofed left-most entry does not matter: the right-most
    // untrusted one, which the proxy wrote, is the client).
    for xff in [
        "192.0.2.1, 198.51.100.1",
        "198.51.100.1",
        "203.0.113.77, 198.51.100.1",
    ] {
        let r = sign_in_via(&api, proxy, Some(xff), "ada@example.com", "wrong").await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_credentials");
    }
    // A's bucket is empty: even the right password waits (a token bucket, not a lock).
    assert_rate_limited(
        &sign_in_via(
            &api,
            proxy,
            Some("198.51.100.1"),
            "ada@example.com",
            "secret123",
        )
        .await,
    );
    // Client B behind the same proxy is not affected, nor is the proxy's own address.
    assert_session(
        &sign_in_via(
            &api,
            proxy,
            Some("198.51.100.2"),
            "ada@example.com",
            "secret123",
        )
        .await,
    );
    assert_session(&sign_in_via(&api, proxy, None, "ada@example.com", "secret123").await);
    // A direct, untrusted client cannot dodge its limit with X-Forwarded-For: it is ignored.
    let direct = "203.0.113.5";
    for i in 0..3 {
        let xff = format!("198.51.100.{}", 100 + i);
        let r = sign_in_via(&api, direct, Some(&xff), "ada@example.com", "wrong").await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_credentials");
    }
    assert_rate_limited(
        &sign_in_via(
            &api,
            direct,
            Some("198.51.100.200"),
            "ada@example.com",
            "secret123",
        )
        .await,
    );
    // … and it cannot spend someone else's budget either: 198.51.100.100 is still fresh.
    assert_session(
        &sign_in_via(
            &api,
            proxy,
            Some("198.51.100.100"),
            "ada@example.com",
            "secret123",
        )
        .await,
    );
}

#[tokio::test]
async fn sign_ups_are_rate_limited_per_address() {
    let api = api_with(|c| c.rate_limit_sign_in_sign_up = 2).await;
    let signup_from = |peer: &'static str, email: String| {
        let api = &api;
        async move {
            api.call_from(
                Some(peer),
                Method::POST,
                "/signup",
                None,
                &[],
                Some(json!({"email": email, "password": "secret123"})),
            )
            .await
        }
    };
    assert_session(&signup_from("198.51.100.1", "a1@example.com".into()).await);
    assert_session(&signup_from("198.51.100.1", "a2@example.com".into()).await);
    assert_rate_limited(&signup_from("198.51.100.1", "a3@example.com".into()).await);
    // The refused sign-up created nothing; another address signs up fine.
    assert_session(&signup_from("198.51.100.2", "a3@example.com".into()).await);
    // Sign-ins share the budget of sign-ups.
    let r = sign_in_via(&api, "198.51.100.2", None, "a3@example.com", "secret123").await;
    assert_session(&r);
    assert_rate_limited(
        &sign_in_via(&api, "198.51.100.2", None, "a3@example.com", "secret123").await,
    );
}

#[tokio::test]
async fn token_refreshes_have_their_own_limit() {
    let api = api_with(|c| {
        c.rate_limit_sign_in_sign_up = 1;
        c.rate_limit_token_refresh = 2;
    })
    .await;
    let refresh_from = |peer: &'static str, token: String| {
        let api = &api;
        async move {
            api.call_from(
                Some(peer),
                Method::POST,
                "/token?grant_type=refresh_token",
                None,
                &[],
                Some(json!({"refresh_token": token})),
            )
            .await
        }
    };
    let s = api
        .call_from(
            Some("198.51.100.1"),
            Method::POST,
            "/signup",
            None,
            &[],
            Some(json!({"email": "ada@example.com", "password": "secret123"})),
        )
        .await;
    assert_session(&s);
    let mut token = s.body["refresh_token"].as_str().unwrap().to_string();
    for _ in 0..2 {
        let r = refresh_from("198.51.100.1", token.clone()).await;
        assert_session(&r);
        token = r.body["refresh_token"].as_str().unwrap().to_string();
    }
    assert_rate_limited(&refresh_from("198.51.100.1", token.clone()).await);
    assert_session(&refresh_from("198.51.100.9", token).await);
}

#[tokio::test]
async fn nul_bytes_are_a_400_never_a_500() {
    let api = api().await;
    let s = api.signup("ada@example.com", "secret123").await;
    assert_session(&s);
    let access = s.body["access_token"].as_str().unwrap().to_string();
    // serde_json sends a NUL as `\u0000`, as a browser's JSON.stringify does.
    for email in ["ada\u{0}@example.com", "\u{0}", "ada@example.com\u{0}"] {
        let body = json!({"email": email, "password": "secret123"});
        let r = api
            .call(Method::POST, "/signup", None, &[], Some(body.clone()))
            .await;
        assert_error(&r, StatusCode::BAD_REQUEST, "validation_failed");
        let r = api
            .call(
                Method::POST,
                "/token?grant_type=password",
                None,
                &[],
                Some(body),
            )
            .await;
        assert_error(&r, StatusCode::BAD_REQUEST, "validation_failed");
    }
    // In metadata (jsonb refuses \u0000) and in a refresh token.
    let r = api
        .call(
            Method::POST,
            "/signup",
            None,
            &[],
            Some(json!({"email": "bob@example.com", "password": "secret123", "data": {"x": "a\u{0}b"}})),
        )
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "validation_failed");
    let r = api
        .call(
            Method::PUT,
            "/user",
            Some(&access),
            &[],
            Some(json!({"data": {"x": "a\u{0}b"}})),
        )
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "validation_failed");
    let r = api.refresh("abc\u{0}def").await;
    assert_error(&r, StatusCode::BAD_REQUEST, "refresh_token_not_found");
    // Nothing was left behind: the real user still signs in.
    assert_session(&api.sign_in("ada@example.com", "secret123").await);
}

#[tokio::test]
async fn refused_requests_give_their_connection_back_outside_any_transaction() {
    let api = api().await;
    let s = api.signup("ada@example.com", "secret123").await;
    assert_session(&s);
    let access = s.body["access_token"].as_str().unwrap().to_string();
    assert_eq!(api.pool.status().size, 1);
    // Errors found half-way through a transaction: the connection is rolled back and reused,
    // not closed (which would cost a reconnect per wrong refresh token or taken email).
    for _ in 0..3 {
        let r = api.refresh("nosuchtoken").await;
        assert_error(&r, StatusCode::BAD_REQUEST, "refresh_token_not_found");
        let r = api.signup("ada@example.com", "secret123").await;
        assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "user_already_exists");
        let r = api
            .call(
                Method::PUT,
                "/user",
                Some(&access),
                &[],
                Some(json!({"data": {"x": "a\u{0}b"}})),
            )
            .await;
        assert_error(&r, StatusCode::BAD_REQUEST, "validation_failed");
    }
    let status = api.pool.status();
    assert_eq!((status.size, status.available), (1, 1), "{status:?}");
    // … and it is not inside a transaction: its next statement starts a new one.
    let client = api.pool.get().await.unwrap();
    let rows = client
        .simple_query("select now() = statement_timestamp()")
        .await
        .unwrap();
    let fresh = rows.iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
        _ => None,
    });
    assert_eq!(fresh.as_deref(), Some("t"));
    client.mark_idle();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_sign_ins_never_500_and_leave_the_pool_usable() {
    // bcrypt at the production cost: slow enough that hashing while holding one of the 4
    // pooled connections starves everything else on the pool.
    let api = api_with(|c| c.bcrypt_cost = 10).await;
    assert_session(&api.signup("ada@example.com", "secret123").await);
    let api = Arc::new(api);
    let finished = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let sign_ins: Vec<_> = (0..SIGN_INS)
        .map(|_| {
            let (api, finished) = (api.clone(), finished.clone());
            tokio::spawn(async move {
                let r = api.sign_in("ada@example.com", "secret123").await;
                finished.fetch_add(1, Ordering::SeqCst);
                r
            })
        })
        .collect();
    // Once the first sign-in has answered, every other one has asked the pool for a
    // connection. Were bcrypt to run on a held connection, the 4 connections would stay with
    // sign-ins waiting for their hash, and another user of the pool (a REST request) would
    // get one only when nearly all of them had answered. No clock: the test counts the
    // sign-ins still unanswered when the other user's checkout comes back.
    pgbase_testkit::wait_until("a first sign-in answered", PATIENCE, || {
        finished.load(Ordering::SeqCst) > 0
    })
    .await;
    let mut unanswered_at_checkout = Vec::new();
    for _ in 0..10 {
        let client = tokio::time::timeout(PATIENCE, api.pool.get())
            .await
            .expect("pool.get() starved by sign-ins")
            .expect("pool.get()");
        unanswered_at_checkout.push(SIGN_INS - finished.load(Ordering::SeqCst));
        client.simple_query("select 1").await.unwrap();
        client.mark_idle();
        drop(client);
        tokio::task::yield_now().await;
    }
    let mut ok = 0;
    for task in sign_ins {
        let r = tokio::time::timeout(PATIENCE, task)
            .await
            .expect("a sign-in hung")
            .unwrap();
        match r.status {
            StatusCode::OK => ok += 1,
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
                assert!(r.headers.contains_key("retry-after"), "{}", r.body);
            }
            other => panic!("sign-in answered {other}: {}", r.body),
        }
    }
    eprintln!(
        "{ok}/{SIGN_INS} sign-ins in {:?}; sign-ins unanswered at each checkout {unanswered_at_checkout:?}",
        started.elapsed()
    );
    assert!(ok > 0);
    assert!(
        unanswered_at_checkout[0] >= SIGN_INS / 2,
        "the pool gave a connection only when {} of {SIGN_INS} sign-ins were left: \
         sign-ins hold connections while they hash",
        unanswered_at_checkout[0]
    );
}

#[tokio::test]
async fn settings_health_and_disabled_signup() {
    let api = api_with(|c| c.disable_signup = true).await;
    let r = api.call(Method::GET, "/settings", None, &[], None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["external"]["email"], true);
    assert_eq!(r.body["disable_signup"], true);
    assert_eq!(r.body["mailer_autoconfirm"], true);
    let r = api.call(Method::GET, "/health", None, &[], None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["name"], "GoTrue");
    let r = api.signup("ada@example.com", "secret123").await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "signup_disabled");
    let r = api.call(Method::GET, "/nope", None, &[], None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn without_autoconfirm_sign_up_returns_the_user_and_sign_in_waits_for_confirmation() {
    let api = api_with(|c| c.autoconfirm = false).await;
    let r = api.signup("ada@example.com", "secret123").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.get("access_token").is_none());
    assert_eq!(r.body["email"], "ada@example.com");
    assert!(r.body.get("email_confirmed_at").is_none());
    let r = api.sign_in("ada@example.com", "secret123").await;
    assert_error(&r, StatusCode::BAD_REQUEST, "email_not_confirmed");
}

#[tokio::test]
async fn works_through_the_authenticator_login_role() {
    // The production server logs in as `authenticator`, not a superuser: the grants and the RLS
    // policy of sql/0002_auth.sql must be enough.
    let db = pgbase_testkit::test_db().await;
    let mut pg = db.config.clone();
    pg.user("authenticator");
    let pool = pgbase_db::Pool::new(
        pg,
        pgbase_db::PoolOptions {
            size: 2,
            ..Default::default()
        },
    )
    .unwrap();
    let mut config = AuthConfig::new(SECRET);
    config.bcrypt_cost = 4;
    let authenticator = Arc::new(Authenticator::new(JwtConfig::with_secret(SECRET)).unwrap());
    let api = Api {
        app: router(AuthState::new(pool.clone(), config, authenticator)),
        pool,
        _db: db,
    };
    let s = api.signup("ada@example.com", "secret123").await;
    assert_session(&s);
    let r = api.refresh(s.body["refresh_token"].as_str().unwrap()).await;
    assert_session(&r);
    let me = api.get_user(r.body["access_token"].as_str().unwrap()).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    let r = api
        .call(
            Method::DELETE,
            &format!("/admin/users/{}", me.body["id"].as_str().unwrap()),
            Some(&service_key()),
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}
