//! HTTP plumbing around the APIs: CORS preflights vs PostgREST's OPTIONS, /metrics, /health,
//! and oversized bodies.

mod common;

use axum::http::{Method, StatusCode};
use common::TestApp;

#[tokio::test]
async fn preflights_get_cors_and_plain_options_get_allow() {
    let app = TestApp::new("create table public.t (id int primary key);").await;
    let r = app
        .request(
            Method::OPTIONS,
            "/rest/v1/t",
            &[
                ("origin", "http://localhost:3000"),
                ("access-control-request-method", "POST"),
                (
                    "access-control-request-headers",
                    "authorization,apikey,prefer",
                ),
            ],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://localhost:3000")
    );
    let allowed = r.header("access-control-allow-headers").unwrap_or_default();
    assert!(allowed.contains("prefer"), "{allowed}");

    let r = app.request(Method::OPTIONS, "/rest/v1/t", &[], None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.header("allow"),
        Some("OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE")
    );

    let r = app
        .request(
            Method::GET,
            "/rest/v1/t",
            &[("origin", "http://localhost:3000")],
            None,
        )
        .await;
    let exposed = r
        .header("access-control-expose-headers")
        .unwrap_or_default();
    assert!(exposed.contains("content-range"), "{exposed}");
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
