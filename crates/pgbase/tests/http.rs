//! HTTP plumbing around the APIs: CORS as PostgREST 12 answers it (preflights vs PostgREST's
//! OPTIONS), /metrics, /health,
//! and oversized bodies.

mod common;

use axum::http::{Method, StatusCode};
use common::TestApp;

/// What supabase-js sends in a browser: its preflight asks for these headers.
const SUPABASE_JS_HEADERS: &str = "apikey, authorization, x-client-info, content-type, prefer, accept-profile, content-profile, range";
const EXPOSED: &str = "Content-Encoding, Content-Location, Content-Range, Content-Type, Date, \
Location, Server, Transfer-Encoding, Range-Unit";
const METHODS: &str = "GET, POST, PATCH, PUT, DELETE, OPTIONS, HEAD";

/// A preflight for `path` as a browser running supabase-js sends it; asserts PostgREST 12's
/// answer exactly.
async fn assert_preflight(app: &TestApp, path: &str, method: &str) {
    let r = app
        .request(
            Method::OPTIONS,
            path,
            &[
                ("origin", "http://localhost:3000"),
                ("access-control-request-method", method),
                ("access-control-request-headers", SUPABASE_JS_HEADERS),
            ],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text);
    assert_eq!(r.text, "", "{path}");
    assert_eq!(r.header("access-control-allow-origin"), Some("*"), "{path}");
    assert_eq!(
        r.header("access-control-allow-methods"),
        Some(METHODS),
        "{path}"
    );
    assert_eq!(
        r.header("access-control-allow-headers"),
        Some(
            "Authorization, apikey, authorization, x-client-info, content-type, prefer, \
accept-profile, content-profile, range, Accept, Accept-Language, Content-Language"
        ),
        "{path}"
    );
    assert_eq!(r.header("access-control-max-age"), Some("86400"), "{path}");
    assert_eq!(r.header("access-control-allow-credentials"), None, "{path}");
    assert_eq!(r.header("access-control-expose-headers"), None, "{path}");
    assert_eq!(r.header("allow"), None, "{path}");
}

#[tokio::test]
async fn preflights_are_answered_as_postgrest_12_on_every_api() {
    let app = TestApp::new("create table public.t (id int primary key);").await;
    assert_preflight(&app, "/rest/v1/t", "POST").await;
    assert_preflight(&app, "/rest/v1/t", "PATCH").await;
    // The preflight is answered before routing: an unknown table, the root, an RPC.
    assert_preflight(&app, "/rest/v1/unknown", "GET").await;
    assert_preflight(&app, "/rest/v1/", "GET").await;
    assert_preflight(&app, "/rest/v1/rpc/f", "POST").await;
    assert_preflight(&app, "/graphql/v1", "POST").await;
    assert_preflight(&app, "/auth/v1/token", "POST").await;
    assert_preflight(&app, "/auth/v1/user", "PUT").await;

    // PostgREST's own spec case: the requested headers echoed after Authorization, then the
    // simple headers.
    let r = app
        .request(
            Method::OPTIONS,
            "/rest/v1/",
            &[
                ("accept", "*/*"),
                ("origin", "http://example.com"),
                ("access-control-request-method", "POST"),
                ("access-control-request-headers", "Foo,Bar"),
            ],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert_eq!(r.header("access-control-allow-methods"), Some(METHODS));
    assert_eq!(
        r.header("access-control-allow-headers"),
        Some("Authorization, Foo, Bar, Accept, Accept-Language, Content-Language")
    );
    assert_eq!(r.header("access-control-max-age"), Some("86400"));

    // Without Access-Control-Request-Headers there is no Allow-Headers; a requested simple
    // header is not listed twice.
    let r = app
        .request(
            Method::OPTIONS,
            "/rest/v1/t",
            &[
                ("origin", "http://a.test"),
                ("access-control-request-method", "GET"),
            ],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("access-control-allow-headers"), None);
    assert_eq!(r.header("access-control-allow-methods"), Some(METHODS));
    let r = app
        .request(
            Method::OPTIONS,
            "/rest/v1/t",
            &[
                ("origin", "http://a.test"),
                ("access-control-request-method", "GET"),
                ("access-control-request-headers", "accept, x-a"),
            ],
            None,
        )
        .await;
    assert_eq!(
        r.header("access-control-allow-headers"),
        Some("Authorization, accept, x-a, Accept-Language, Content-Language")
    );
}

#[tokio::test]
async fn options_that_are_no_preflight_reach_postgrests_allow() {
    let app = TestApp::new("create table public.t (id int primary key);").await;
    // No Origin, no Access-Control-Request-Method: PostgREST's Allow and allow-origin.
    let r = app.request(Method::OPTIONS, "/rest/v1/t", &[], None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.header("allow"),
        Some("OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE")
    );
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert_eq!(r.header("access-control-allow-methods"), None);
    // An Origin but no requested method is no preflight either (upstream's "postflight" case).
    let r = app
        .request(
            Method::OPTIONS,
            "/rest/v1/t",
            &[
                ("origin", "http://localhost:8000"),
                ("accept", "text/csv, */*; q=0.01"),
            ],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.header("allow"),
        Some("OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE")
    );
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert_eq!(r.header("access-control-max-age"), None);
    // A method outside the CORS list is no acceptable preflight: the API answers.
    let r = app
        .request(
            Method::OPTIONS,
            "/rest/v1/t",
            &[
                ("origin", "http://a.test"),
                ("access-control-request-method", "TRACE"),
            ],
            None,
        )
        .await;
    assert_eq!(
        r.header("allow"),
        Some("OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE")
    );
    assert_eq!(r.header("access-control-allow-methods"), None);
    // An unknown table: 404 as PostgREST 12.
    let r = app
        .request(Method::OPTIONS, "/rest/v1/unknown", &[], None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app
        .request(
            Method::OPTIONS,
            "/rest/v1/",
            &[("origin", "http://a.test")],
            None,
        )
        .await;
    assert_eq!(r.header("allow"), Some("OPTIONS,GET,HEAD"));
}

#[tokio::test]
async fn cross_origin_requests_get_allow_origin_and_exposed_headers() {
    let app = TestApp::new(
        "create table public.t (id int primary key);
         grant select on public.t to anon;
         insert into public.t values (1), (2);",
    )
    .await;
    let origin = ("origin", "http://localhost:3000");
    let cases = [
        (Method::GET, "/rest/v1/t", StatusCode::OK),
        (Method::GET, "/rest/v1/nope", StatusCode::NOT_FOUND),
        (Method::GET, "/rest/v1/", StatusCode::OK),
        (Method::GET, "/auth/v1/settings", StatusCode::OK),
        (Method::GET, "/auth/v1/health", StatusCode::OK),
    ];
    for (method, path, status) in cases {
        let r = app.request(method, path, &[origin], None).await;
        assert_eq!(r.status, status, "{path}: {}", r.text);
        assert_eq!(r.header("access-control-allow-origin"), Some("*"), "{path}");
        assert_eq!(
            r.header("access-control-expose-headers"),
            Some(EXPOSED),
            "{path}"
        );
        assert_eq!(r.header("access-control-allow-credentials"), None, "{path}");
        assert_eq!(r.header("access-control-allow-methods"), None, "{path}");
        assert_eq!(r.header("vary"), None, "{path}");
    }
    // The count a browser reads needs Content-Range, which is exposed.
    let r = app
        .request(
            Method::GET,
            "/rest/v1/t",
            &[origin, ("prefer", "count=exact")],
            None,
        )
        .await;
    assert_eq!(r.header("content-range"), Some("0-1/2"));
    let r = app
        .request(
            Method::POST,
            "/graphql/v1",
            &[origin],
            Some(r#"{"query": "{ __typename }"}"#),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert_eq!(r.header("access-control-expose-headers"), Some(EXPOSED));
    // A rejected token still carries the CORS headers (the browser must read the 401).
    let r = app
        .request(
            Method::GET,
            "/rest/v1/t",
            &[origin, ("authorization", "Bearer not-a-jwt")],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    // No Origin: no CORS headers on a plain request.
    let r = app.get("/rest/v1/t").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("access-control-allow-origin"), None);
    assert_eq!(r.header("access-control-expose-headers"), None);
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status() {
    let app = TestApp::new("create table public.t (id int);").await;
    app.get("/rest/v1/t").await;
    app.get("/rest/v1/nope").await;
    let r = app.get("/metrics").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.text.contains(
            r#"pgbase_http_requests_total{route="/rest/v1/{*path}",method="GET",status="404"} 1"#
        ),
        "{}",
        r.text
    );
    assert!(
        r.text
            .contains("pgbase_http_request_duration_seconds_bucket")
    );
    assert!(r.text.contains("pgbase_db_pool_idle"));
    let health = app.get("/health").await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.json()["database"], "reachable");
}

#[tokio::test]
async fn oversized_bodies_are_refused_with_413() {
    let app = TestApp::new("create table public.t (body text);").await;
    let huge = format!("{{\"body\": \"{}\"}}", "x".repeat(17 * 1024 * 1024));
    let r = app
        .request(Method::POST, "/rest/v1/t", &[], Some(&huge))
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.json()["code"], "PGRST102");
}
