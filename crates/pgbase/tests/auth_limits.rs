//! Auth under abuse and load, through the whole router: wrong passwords never lock an account,
//! a burst of valid sign-ins neither fails with 500s nor starves REST of pooled connections
//! (bcrypt runs with no connection held), a NUL byte in an email is a 400, and a token with a
//! `crit` header is refused by REST with PostgREST's 401.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::http::{Method, StatusCode};
use common::{SECRET, TestApp};
use pgbase::config::Settings;
use serde_json::json;

/// Upper bound of a wait: reached only when something hangs.
const PATIENCE: Duration = Duration::from_secs(60);

const SCHEMA: &str = "
create table public.notes (id bigint generated always as identity primary key, body text);
insert into public.notes (body) values ('hello');
grant select on public.notes to anon, authenticated;
";

async fn sign_up(app: &TestApp, email: &str, password: &str) {
    let r = app
        .request(
            Method::POST,
            "/auth/v1/signup",
            &[],
            Some(&json!({"email": email, "password": password}).to_string()),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

async fn sign_in(app: &TestApp, email: &str, password: &str) -> common::TestResponse {
    app.request(
        Method::POST,
        "/auth/v1/token?grant_type=password",
        &[],
        Some(&json!({"email": email, "password": password}).to_string()),
    )
    .await
}

#[tokio::test]
async fn ten_wrong_passwords_then_the_right_one_signs_in() {
    let app = TestApp::new(SCHEMA).await;
    sign_up(&app, "ada@example.com", "correct horse").await;
    for _ in 0..10 {
        let r = sign_in(&app, "ada@example.com", "battery staple").await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
        assert_eq!(r.json()["error_code"], "invalid_credentials");
    }
    let r = sign_in(&app, "ada@example.com", "correct horse").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.json()["access_token"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_sign_ins_never_500s_and_rest_keeps_its_connections() {
    const SIGN_INS: usize = 80;
    let settings = Settings {
        db_pool: Some(4),
        ..Settings::default()
    };
    let app = Arc::new(TestApp::with_settings(SCHEMA, settings).await);
    sign_up(&app, "ada@example.com", "correct horse").await;
    let finished = Arc::new(AtomicUsize::new(0));
    let sign_ins: Vec<_> = (0..SIGN_INS)
        .map(|_| {
            let (app, finished) = (app.clone(), finished.clone());
            tokio::spawn(async move {
                let r = sign_in(&app, "ada@example.com", "correct horse").await;
                finished.fetch_add(1, Ordering::SeqCst);
                r
            })
        })
        .collect();
    // REST on the same pool while the sign-ins hash. Once one sign-in has answered, all the
    // others have asked the pool for a connection; were bcrypt to hash on a held connection,
    // REST would get one only when nearly every sign-in had answered. No clock: count the
    // sign-ins still unanswered when each REST answer comes back.
    pgbase_testkit::wait_until("a first sign-in answered", PATIENCE, || {
        finished.load(Ordering::SeqCst) > 0
    })
    .await;
    let mut unanswered = Vec::new();
    for _ in 0..10 {
        let r = tokio::time::timeout(PATIENCE, app.get("/rest/v1/notes?select=body"))
            .await
            .expect("a REST request hung during the sign-ins");
        unanswered.push(SIGN_INS - finished.load(Ordering::SeqCst));
        assert_eq!(r.status, StatusCode::OK, "REST during sign-ins: {}", r.text);
        assert_eq!(r.json(), json!([{"body": "hello"}]));
    }
    let mut ok = 0;
    for task in sign_ins {
        let r = tokio::time::timeout(PATIENCE, task)
            .await
            .expect("a sign-in hung")
            .expect("sign-in task");
        match r.status {
            StatusCode::OK => ok += 1,
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
                assert!(r.header("retry-after").is_some(), "{}", r.text);
            }
            other => panic!("sign-in answered {other}: {}", r.text),
        }
    }
    eprintln!("{ok}/{SIGN_INS} sign-ins ok; unanswered at each REST answer {unanswered:?}");
    assert!(ok > 0, "no sign-in succeeded");
    assert!(
        unanswered[0] >= SIGN_INS / 2,
        "REST was answered only when {} of {SIGN_INS} sign-ins were left: \
         sign-ins hold pooled connections while they hash",
        unanswered[0]
    );
}

#[tokio::test]
async fn a_nul_byte_in_an_email_is_a_400() {
    let app = TestApp::new(SCHEMA).await;
    let body = json!({"email": "ada\u{0}@example.com", "password": "correct horse"}).to_string();
    for path in ["/auth/v1/signup", "/auth/v1/token?grant_type=password"] {
        let r = app.request(Method::POST, path, &[], Some(&body)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}: {}", r.text);
        assert_eq!(r.json()["error_code"], "validation_failed", "{path}");
    }
}

#[tokio::test]
async fn rest_refuses_a_token_with_a_crit_header() {
    let app = TestApp::new(SCHEMA).await;
    let b64 = |v: &serde_json::Value| {
        // base64url without padding, by hand.
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let bytes = v.to_string().into_bytes();
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
    let claims = json!({"role": "authenticated", "exp": 4_000_000_000i64});
    let sign = |header: serde_json::Value| {
        let message = format!("{}.{}", b64(&header), b64(&claims));
        let signature = jsonwebtoken::crypto::sign(
            message.as_bytes(),
            &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
            jsonwebtoken::Algorithm::HS256,
        )
        .expect("sign");
        format!("Bearer {message}.{signature}")
    };
    let good = sign(json!({"alg": "HS256", "typ": "JWT"}));
    let r = app
        .request(
            Method::GET,
            "/rest/v1/notes?select=body",
            &[("authorization", &good)],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let crit = sign(json!({"alg": "HS256", "typ": "JWT", "crit": ["exp"]}));
    let r = app
        .request(
            Method::GET,
            "/rest/v1/notes?select=body",
            &[("authorization", &crit)],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    assert_eq!(r.json()["code"], "PGRST301");
}

/// POSTs JSON over a real socket (so the server sees a peer address) and returns the status.
async fn post_over_socket(
    addr: std::net::SocketAddr,
    path: &str,
    extra_headers: &str,
    body: &str,
) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut socket = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!(
        "POST {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\n{extra_headers}\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    socket.write_all(request.as_bytes()).await.expect("write");
    let mut response = Vec::new();
    socket.read_to_end(&mut response).await.expect("read");
    let text = String::from_utf8_lossy(&response);
    text.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_configured_limits_apply_per_client_address_through_the_server() {
    let settings = Settings {
        auth_rate_limit_sign_in_sign_up: Some(3),
        trusted_proxies: Some("127.0.0.1".into()),
        ..Settings::default()
    };
    let app = TestApp::with_settings(SCHEMA, settings).await;
    sign_up(&app, "ada@example.com", "correct horse").await; // no peer: not counted
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let router = pgbase::server::app(app.state.clone());
    tokio::spawn(pgbase::server::serve(
        listener,
        router,
        std::future::pending(),
    ));
    let body = json!({"email": "ada@example.com", "password": "correct horse"}).to_string();
    let path = "/auth/v1/token?grant_type=password";
    let client_a = "x-forwarded-for: 203.0.113.7\r\n";
    for _ in 0..3 {
        assert_eq!(post_over_socket(addr, path, client_a, &body).await, 200);
    }
    assert_eq!(post_over_socket(addr, path, client_a, &body).await, 429);
    // Another client behind the same (trusted) proxy has its own bucket.
    let client_b = "x-forwarded-for: 198.51.100.9\r\n";
    assert_eq!(post_over_socket(addr, path, client_b, &body).await, 200);
}
