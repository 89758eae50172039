//! Request authentication: every accepted key kind and every rejection path, with the
//! PostgREST codes, messages and headers clients see.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{HeaderMap, HeaderValue, StatusCode};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use pgbase_auth::{ApiKey, AuthError, Authenticator, JwksSource, JwtConfig, RoleFilter};
use serde_json::{Value, json};

const SECRET: &str = "super-secret-jwt-token-with-at-least-32-characters";

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn sign_with(claims: &Value, header: Header, key: &EncodingKey) -> String {
    jsonwebtoken::encode(&header, claims, key).expect("sign")
}

fn hs(claims: &Value) -> String {
    sign_with(
        claims,
        Header::new(Algorithm::HS256),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture")
}

fn bearer(token: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        http::header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {token}")).expect("header"),
    );
    h
}

fn secret_auth() -> Authenticator {
    Authenticator::new(JwtConfig::with_secret(SECRET)).expect("config")
}

fn user_claims() -> Value {
    json!({"sub": "0b5f1d0e-4c36-4a8b-9d7e-0d3c2b1a0f9e", "role": "authenticated",
           "aud": "authenticated", "exp": now() + 600, "iat": now()})
}

#[tokio::test]
async fn hmac_tokens_give_role_and_claims() {
    let auth = secret_auth();
    for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
        let token = sign_with(
            &user_claims(),
            Header::new(alg),
            &EncodingKey::from_secret(SECRET.as_bytes()),
        );
        let ctx = auth.authenticate(&bearer(&token)).await.expect("valid");
        assert_eq!(ctx.role, "authenticated");
        assert!(!ctx.anonymous);
        assert_eq!(ctx.claims["sub"], "0b5f1d0e-4c36-4a8b-9d7e-0d3c2b1a0f9e");
        assert_eq!(ctx.claims["role"], "authenticated");
    }
    // The scheme is case-insensitive.
    let mut h = HeaderMap::new();
    h.insert(
        http::header::AUTHORIZATION,
        HeaderValue::from_str(&format!("bEaReR {}", hs(&user_claims()))).unwrap(),
    );
    assert_eq!(auth.authenticate(&h).await.unwrap().role, "authenticated");
}

#[tokio::test]
async fn no_token_is_anon_and_role_is_injected() {
    let auth = secret_auth();
    let ctx = auth.authenticate(&HeaderMap::new()).await.unwrap();
    assert_eq!(ctx.role, "anon");
    assert!(ctx.anonymous);
    assert_eq!(ctx.claims, json!({"role": "anon"}));
    // A token without a role claim runs as anon, with the role put into its claims.
    let ctx = auth
        .authenticate(&bearer(&hs(&json!({"sub": "x", "exp": now() + 60}))))
        .await
        .unwrap();
    assert_eq!(ctx.role, "anon");
    assert_eq!(ctx.claims["role"], "anon");
    assert!(!ctx.anonymous);
    // Non-bearer schemes are ignored.
    let mut h = HeaderMap::new();
    h.insert(
        http::header::AUTHORIZATION,
        HeaderValue::from_static("Basic Zm9vOmJhcg=="),
    );
    assert_eq!(auth.authenticate(&h).await.unwrap().role, "anon");
}

#[tokio::test]
async fn apikey_header_is_used_without_authorization() {
    let mut config = JwtConfig::with_secret(SECRET);
    config.api_keys = vec![ApiKey {
        key: "sb_publishable_abc".into(),
        role: "anon".into(),
    }];
    let auth = Authenticator::new(config).unwrap();
    let service = hs(&json!({"role": "service_role", "iss": "pgbase", "exp": now() + 60}));
    let mut h = HeaderMap::new();
    h.insert("apikey", HeaderValue::from_str(&service).unwrap());
    assert_eq!(auth.authenticate(&h).await.unwrap().role, "service_role");
    // Authorization wins over apikey.
    let mut h2 = bearer(&hs(&user_claims()));
    h2.insert("apikey", HeaderValue::from_str(&service).unwrap());
    assert_eq!(auth.authenticate(&h2).await.unwrap().role, "authenticated");
    // Opaque keys map to their role.
    let mut h3 = HeaderMap::new();
    h3.insert("apikey", HeaderValue::from_static("sb_publishable_abc"));
    let ctx = auth.authenticate(&h3).await.unwrap();
    assert_eq!((ctx.role.as_str(), ctx.anonymous), ("anon", true));
    // Anything else is refused.
    let mut h4 = HeaderMap::new();
    h4.insert("apikey", HeaderValue::from_static("sb_publishable_wrong"));
    let err = auth.authenticate(&h4).await.unwrap_err();
    assert_eq!(err, AuthError::InvalidApiKey);
    assert_eq!(err.status(), StatusCode::UNAUTHORIZED);
}

async fn reject(auth: &Authenticator, token: &str) -> AuthError {
    auth.authenticate(&bearer(token))
        .await
        .expect_err("must be rejected")
}

#[tokio::test]
async fn alg_none_is_rejected() {
    let auth = secret_auth();
    let b64 = |v: &Value| {
        let s = v.to_string();
        // base64url without padding, by hand (the test must not trust the code under test).
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let bytes = s.as_bytes();
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |acc, (i, b)| acc | u32::from(*b) << (16 - 8 * i));
            for i in 0..=chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        out
    };
    for alg in ["none", "None", "NONE", ""] {
        let token = format!(
            "{}.{}.",
            b64(&json!({"alg": alg, "typ": "JWT"})),
            b64(&json!({"role": "service_role"}))
        );
        let err = reject(&auth, &token).await;
        assert_eq!(err.code(), "PGRST301", "{alg}");
        assert_eq!(err.message(), "Wrong or unsupported encoding algorithm");
        assert_eq!(err.status(), StatusCode::UNAUTHORIZED);
    }
}

/// base64url without padding, by hand (the test must not trust the code under test).
fn b64url(bytes: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// An HS256 token with exactly this header, correctly signed with the secret.
fn hs_with_raw_header(header: &Value, claims: &Value) -> String {
    let message = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let signature = jsonwebtoken::crypto::sign(
        message.as_bytes(),
        &EncodingKey::from_secret(SECRET.as_bytes()),
        Algorithm::HS256,
    )
    .expect("sign");
    format!("{message}.{signature}")
}

#[tokio::test]
async fn critical_header_extensions_are_rejected() {
    let auth = secret_auth();
    // The same header without `crit` is fine: the signing by hand is right.
    let plain = hs_with_raw_header(&json!({"alg": "HS256", "typ": "JWT"}), &user_claims());
    assert_eq!(
        auth.authenticate(&bearer(&plain)).await.unwrap().role,
        "authenticated"
    );
    // RFC 7515 §4.1.11: a critical extension the recipient does not understand (we
    // understand none) makes the token invalid, however well signed.
    for crit in [
        json!(["exp"]),
        json!(["b64"]),
        json!(["http://example.com/x"]),
        json!([]),
        json!("b64"),
    ] {
        let token = hs_with_raw_header(
            &json!({"alg": "HS256", "typ": "JWT", "crit": crit, "b64": true,
                    "http://example.com/x": 1}),
            &user_claims(),
        );
        let err = reject(&auth, &token).await;
        assert_eq!(err, AuthError::UnsupportedCritical, "{crit}");
        assert_eq!(err.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(err.code(), "PGRST301");
        assert!(
            err.www_authenticate()
                .is_some_and(|h| h.contains("invalid_token")),
            "{crit}"
        );
    }
}

#[tokio::test]
async fn wrong_signature_is_rejected() {
    let auth = secret_auth();
    let token = sign_with(
        &user_claims(),
        Header::new(Algorithm::HS256),
        &EncodingKey::from_secret(b"another-secret-that-is-long-enough-0123456789"),
    );
    let err = reject(&auth, &token).await;
    assert_eq!(err, AuthError::BadSignature);
    assert_eq!(err.code(), "PGRST301");
    assert_eq!(err.message(), "JWT cryptographic operation failed");
    assert_eq!(
        err.www_authenticate().unwrap(),
        "Bearer error=\"invalid_token\", error_description=\"JWT cryptographic operation failed\""
    );
    // A tampered payload with the original signature.
    let good = hs(&user_claims());
    let parts: Vec<&str> = good.split('.').collect();
    let forged = hs(&json!({"role": "service_role", "exp": now() + 60}));
    let forged_payload = forged.split('.').nth(1).unwrap();
    let tampered = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
    assert_eq!(reject(&auth, &tampered).await, AuthError::BadSignature);
}

#[tokio::test]
async fn expired_and_not_yet_valid_tokens_are_rejected() {
    let auth = secret_auth();
    let err = reject(
        &auth,
        &hs(&json!({"role": "authenticated", "exp": now() - 120})),
    )
    .await;
    assert_eq!(err, AuthError::Expired);
    assert_eq!(
        (err.code(), err.message().as_str()),
        ("PGRST301", "JWT expired")
    );
    assert_eq!(err.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        err.www_authenticate().unwrap(),
        "Bearer error=\"invalid_token\", error_description=\"JWT expired\""
    );
    assert_eq!(
        err.body(),
        json!({"code": "PGRST301", "message": "JWT expired", "details": null, "hint": null})
    );
    // Within the 30 s leeway.
    assert!(
        auth.authenticate(&bearer(&hs(&json!({"role": "anon", "exp": now() - 10}))))
            .await
            .is_ok()
    );
    let err = reject(&auth, &hs(&json!({"role": "anon", "nbf": now() + 300}))).await;
    assert_eq!(
        (err.code(), err.message().as_str()),
        ("PGRST301", "JWT not yet valid")
    );
    let err = reject(&auth, &hs(&json!({"role": "anon", "iat": now() + 300}))).await;
    assert_eq!(err.message(), "JWT issued at future");
    let err = reject(&auth, &hs(&json!({"role": "anon", "exp": "tomorrow"}))).await;
    assert_eq!(err.message(), "The JWT 'exp' claim must be a number");
}

#[tokio::test]
async fn audience_is_checked_when_configured() {
    let mut config = JwtConfig::with_secret(SECRET);
    config.audience = Some("authenticated".into());
    let auth = Authenticator::new(config).unwrap();
    let err = reject(&auth, &hs(&json!({"role": "anon", "aud": "someone-else"}))).await;
    assert_eq!(
        (err.code(), err.message().as_str()),
        ("PGRST301", "JWT not in audience")
    );
    assert!(
        auth.authenticate(&bearer(&hs(
            &json!({"role": "anon", "aud": ["x", "authenticated"]})
        )))
        .await
        .is_ok()
    );
    let err = reject(&auth, &hs(&json!({"role": "anon", "aud": 5}))).await;
    assert_eq!(err, AuthError::AudNotStringOrArray);
    // Without a configured audience any aud passes.
    assert!(
        secret_auth()
            .authenticate(&bearer(&hs(
                &json!({"role": "anon", "aud": "someone-else"})
            )))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn roles_outside_the_assumable_set_are_rejected() {
    let auth = secret_auth();
    let err = reject(&auth, &hs(&json!({"role": "postgres", "exp": now() + 60}))).await;
    assert_eq!(err, AuthError::RoleNotAssumable("postgres".into()));
    assert_eq!(err.status(), StatusCode::FORBIDDEN);
    assert_eq!(err.code(), "42501");
    assert_eq!(err.message(), "permission denied to set role \"postgres\"");
    // A callback decides too.
    let mut config = JwtConfig::with_secret(SECRET);
    config.assumable_roles = RoleFilter::Callback(Arc::new(|r: &str| r.starts_with("app_")));
    let auth = Authenticator::new(config).unwrap();
    assert_eq!(
        auth.authenticate(&bearer(&hs(&json!({"role": "app_reader"}))))
            .await
            .unwrap()
            .role,
        "app_reader"
    );
    assert!(
        auth.authenticate(&bearer(&hs(&json!({"role": "anon"}))))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn role_claim_key_can_point_into_nested_claims() {
    let mut config = JwtConfig::with_secret(SECRET);
    config.role_claim_key = ".app_metadata.role".into();
    let auth = Authenticator::new(config).unwrap();
    let ctx = auth
        .authenticate(&bearer(&hs(
            &json!({"role": "ignored", "app_metadata": {"role": "service_role"}}),
        )))
        .await
        .unwrap();
    assert_eq!(ctx.role, "service_role");
    assert_eq!(ctx.claims["role"], "service_role");
}

#[tokio::test]
async fn malformed_tokens_are_rejected() {
    let auth = secret_auth();
    let err = reject(&auth, "abc").await;
    assert_eq!(
        (err.code(), err.message().as_str()),
        (
            "PGRST301",
            "JWSError (CompactDecodeError Invalid number of parts: Expected 3 parts; got 1)"
        )
    );
    assert_eq!(reject(&auth, "a.b").await, AuthError::WrongParts(2));
    assert_eq!(reject(&auth, "a.b.c.d").await, AuthError::WrongParts(4));
    assert_eq!(reject(&auth, "!!.b.c").await, AuthError::Undecodable);
    assert_eq!(reject(&auth, "").await, AuthError::EmptyToken);
    let mut h = HeaderMap::new();
    h.insert(
        http::header::AUTHORIZATION,
        HeaderValue::from_static("Bearer"),
    );
    let err = auth.authenticate(&h).await.unwrap_err();
    assert_eq!(err.message(), "Empty JWT is sent in Authorization header");
    // A valid signature over claims that are not an object.
    let token = sign_with(
        &json!([1, 2]),
        Header::new(Algorithm::HS256),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    );
    assert_eq!(reject(&auth, &token).await, AuthError::ParsingClaimsFailed);
}

#[tokio::test]
async fn anonymous_access_can_be_disabled() {
    let mut config = JwtConfig::with_secret(SECRET);
    config.anon_role = None;
    let auth = Authenticator::new(config).unwrap();
    let err = auth.authenticate(&HeaderMap::new()).await.unwrap_err();
    assert_eq!(err, AuthError::TokenRequired);
    assert_eq!(
        (err.code(), err.message().as_str()),
        ("PGRST302", "Anonymous access is disabled")
    );
    assert_eq!(err.www_authenticate().unwrap(), "Bearer");
}

#[test]
fn short_secrets_are_refused() {
    assert!(Authenticator::new(JwtConfig::with_secret("too short")).is_err());
}

#[tokio::test]
async fn public_keys_verify_rsa_ec_and_eddsa() {
    let cases = [
        ("rsa_public.pem", "rsa_private.pem", Algorithm::RS256),
        ("rsa_public.pem", "rsa_private.pem", Algorithm::RS384),
        ("rsa_public.pem", "rsa_private.pem", Algorithm::RS512),
        ("ec256_public.pem", "ec256_private.pem", Algorithm::ES256),
        ("ec384_public.pem", "ec384_private.pem", Algorithm::ES384),
        ("ed_public.pem", "ed_private.pem", Algorithm::EdDSA),
    ];
    for (public, private, alg) in cases {
        let config = JwtConfig {
            public_key_pem: Some(fixture(public)),
            ..JwtConfig::default()
        };
        let auth = Authenticator::new(config).expect("pem");
        let private = fixture(private);
        let key = match alg.family() {
            jsonwebtoken::AlgorithmFamily::Rsa => EncodingKey::from_rsa_pem(private.as_bytes()),
            jsonwebtoken::AlgorithmFamily::Ec => EncodingKey::from_ec_pem(private.as_bytes()),
            _ => EncodingKey::from_ed_pem(private.as_bytes()),
        }
        .expect("private key");
        let token = sign_with(&user_claims(), Header::new(alg), &key);
        let ctx = auth
            .authenticate(&bearer(&token))
            .await
            .unwrap_or_else(|e| panic!("{alg:?}: {e}"));
        assert_eq!(ctx.role, "authenticated");
        // The HMAC secret is not configured, so an HS256 token finds no key.
        assert!(matches!(
            reject(&auth, &hs(&user_claims())).await,
            AuthError::NoSuitableKey(_)
        ));
    }
}

#[tokio::test]
async fn the_public_key_cannot_be_used_as_an_hmac_secret() {
    let public = fixture("rsa_public.pem");
    let auth = Authenticator::new(JwtConfig {
        public_key_pem: Some(public.clone()),
        ..JwtConfig::default()
    })
    .unwrap();
    let token = sign_with(
        &json!({"role": "service_role"}),
        Header::new(Algorithm::HS256),
        &EncodingKey::from_secret(public.as_bytes()),
    );
    assert!(matches!(
        reject(&auth, &token).await,
        AuthError::NoSuitableKey(_)
    ));
}

fn rsa_jwk(kid: &str) -> Jwk {
    let key = EncodingKey::from_rsa_pem(fixture("rsa_private.pem").as_bytes()).unwrap();
    let mut jwk = Jwk::from_encoding_key(&key, Algorithm::RS256).unwrap();
    jwk.common.key_id = Some(kid.to_string());
    jwk
}

fn ec_jwk(kid: &str) -> Jwk {
    let key = EncodingKey::from_ec_pem(fixture("ec256_private.pem").as_bytes()).unwrap();
    let mut jwk = Jwk::from_encoding_key(&key, Algorithm::ES256).unwrap();
    jwk.common.key_id = Some(kid.to_string());
    jwk
}

fn rs256(kid: &str) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_string());
    sign_with(
        &user_claims(),
        header,
        &EncodingKey::from_rsa_pem(fixture("rsa_private.pem").as_bytes()).unwrap(),
    )
}

fn es256(kid: &str) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(kid.to_string());
    sign_with(
        &user_claims(),
        header,
        &EncodingKey::from_ec_pem(fixture("ec256_private.pem").as_bytes()).unwrap(),
    )
}

#[tokio::test]
async fn inline_jwks_selects_the_key_by_kid() {
    let set = JwkSet {
        keys: vec![rsa_jwk("rsa-1"), ec_jwk("ec-1")],
    };
    let auth = Authenticator::new(JwtConfig {
        jwks: Some(JwksSource::Inline(serde_json::to_string(&set).unwrap())),
        ..JwtConfig::default()
    })
    .unwrap();
    assert!(auth.authenticate(&bearer(&rs256("rsa-1"))).await.is_ok());
    assert!(auth.authenticate(&bearer(&es256("ec-1"))).await.is_ok());
    // A kid the set does not hold.
    assert!(matches!(
        reject(&auth, &rs256("rsa-9")).await,
        AuthError::NoSuitableKey(_)
    ));
    // A kid naming a key of another type.
    assert!(matches!(
        reject(&auth, &es256("rsa-1")).await,
        AuthError::NoSuitableKey(_)
    ));
}

/// Serves a JWKS that the test can change, counting fetches.
async fn jwks_server(body: Arc<Mutex<String>>, hits: Arc<AtomicUsize>) -> String {
    let app = axum::Router::new().route(
        "/.well-known/jwks.json",
        axum::routing::get(move || {
            let body = body.clone();
            let hits = hits.clone();
            async move {
                hits.fetch_add(1, Ordering::SeqCst);
                let text = body.lock().unwrap().clone();
                ([(http::header::CONTENT_TYPE, "application/json")], text)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    format!("http://{addr}/.well-known/jwks.json")
}

#[tokio::test]
async fn jwks_url_is_fetched_and_refetched_on_an_unknown_kid() {
    let body = Arc::new(Mutex::new(
        serde_json::to_string(&JwkSet {
            keys: vec![ec_jwk("ec-1")],
        })
        .unwrap(),
    ));
    let hits = Arc::new(AtomicUsize::new(0));
    let url = jwks_server(body.clone(), hits.clone()).await;
    let auth = Authenticator::new(JwtConfig {
        jwks: Some(JwksSource::Url(url)),
        jwks_refetch_interval: Duration::from_millis(0),
        ..JwtConfig::default()
    })
    .unwrap();
    // First use fetches.
    assert!(auth.authenticate(&bearer(&es256("ec-1"))).await.is_ok());
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    // A known kid does not fetch again (a new token, so the cache does not answer).
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("ec-1".into());
    let other = sign_with(
        &json!({"role": "anon", "exp": now() + 100}),
        header,
        &EncodingKey::from_ec_pem(fixture("ec256_private.pem").as_bytes()).unwrap(),
    );
    assert!(auth.authenticate(&bearer(&other)).await.is_ok());
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    // The issuer rotates to an RSA key: the unknown kid triggers one refetch.
    *body.lock().unwrap() = serde_json::to_string(&JwkSet {
        keys: vec![ec_jwk("ec-1"), rsa_jwk("rsa-2")],
    })
    .unwrap();
    assert!(auth.authenticate(&bearer(&rs256("rsa-2"))).await.is_ok());
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    // A kid the issuer never published: refetched once, then refused.
    assert!(matches!(
        reject(&auth, &rs256("nobody")).await,
        AuthError::NoSuitableKey(_)
    ));
    assert_eq!(hits.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn jwks_refetches_are_rate_limited() {
    let body = Arc::new(Mutex::new(
        serde_json::to_string(&JwkSet {
            keys: vec![ec_jwk("ec-1")],
        })
        .unwrap(),
    ));
    let hits = Arc::new(AtomicUsize::new(0));
    let url = jwks_server(body, hits.clone()).await;
    let auth = Authenticator::new(JwtConfig {
        jwks: Some(JwksSource::Url(url)),
        jwks_refetch_interval: Duration::from_secs(3600),
        ..JwtConfig::default()
    })
    .unwrap();
    assert!(auth.authenticate(&bearer(&es256("ec-1"))).await.is_ok());
    for _ in 0..5 {
        assert!(reject(&auth, &rs256("unknown")).await.code() == "PGRST301");
    }
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn jwks_file_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwks.json");
    std::fs::write(
        &path,
        serde_json::to_string(&JwkSet {
            keys: vec![rsa_jwk("file-1")],
        })
        .unwrap(),
    )
    .unwrap();
    let auth = Authenticator::new(JwtConfig {
        jwks: Some(JwksSource::File(path)),
        ..JwtConfig::default()
    })
    .unwrap();
    assert!(auth.authenticate(&bearer(&rs256("file-1"))).await.is_ok());
}

/// Wall-clock Unix time with sub-second precision, as the authenticator reads it.
fn now_f64() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64()
}

#[tokio::test]
async fn the_cache_answers_repeats_and_honours_exp() {
    let new_auth = || {
        let mut config = JwtConfig::with_secret(SECRET);
        config.leeway_secs = 0;
        config.cache_capacity = 2;
        Authenticator::new(config).expect("config")
    };
    // A token that expires in a few seconds, verified twice (the second answer from the cache)
    // before it expires. `exp` has whole-second granularity, so whether the two checks ran
    // before it is judged by the clock read after them; a machine stalled past `exp` in
    // between tries again with a new token instead of failing.
    let mut attempt = 0;
    let (auth, token, exp) = loop {
        attempt += 1;
        let auth = new_auth();
        let exp = now() + 3;
        let token = hs(&json!({"role": "authenticated", "exp": exp}));
        let first = auth.authenticate(&bearer(&token)).await;
        let second = auth.authenticate(&bearer(&token)).await;
        if now_f64() < exp as f64 {
            assert!(first.is_ok(), "{:?}", first.err());
            assert!(second.is_ok(), "{:?}", second.err());
            assert_eq!(auth.cached_tokens(), 1);
            break (auth, token, exp);
        }
        assert!(
            attempt < 10,
            "the clock passed a 3 s exp during two checks, 10 times"
        );
    };
    // Wait until the clock is surely past exp (about 3 s; bounded generously), then the
    // cached entry must not answer any more.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while now_f64() <= exp as f64 + 0.1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the wall clock did not advance"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(reject(&auth, &token).await, AuthError::Expired);
    assert_eq!(auth.cached_tokens(), 0, "the expired entry was dropped");
    // Bounded.
    for i in 0..5 {
        let t = hs(&json!({"role": "anon", "n": i, "exp": now() + 3600}));
        auth.authenticate(&bearer(&t)).await.expect("valid token");
    }
    assert_eq!(auth.cached_tokens(), 2);
}
