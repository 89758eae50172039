//! `/metrics` and `/health` in serve and dev: in serve, metrics need `Authorization: Bearer
//! <metrics_token>` (404 with a hint when no token is configured) and `/health` tells everyone
//! only `{"status":"ok"}`, the details only with the token; in dev both stay open.

mod common;

use common::{TestApp, expect_status};
use pgbase::config::Settings;
use serde_json::json;

const TOKEN: &str = "metrics-token-0123456789";

fn with_token() -> Settings {
    Settings {
        metrics_token: Some(TOKEN.into()),
        ..Settings::default()
    }
}

#[tokio::test]
async fn serve_without_a_token_hides_metrics_and_health_details() {
    let app = TestApp::serve_mode("", Settings::default()).await;
    let r = app.get("/metrics").await;
    expect_status(&r, 404);
    assert!(r.text.contains("PGBASE_METRICS_TOKEN"), "{}", r.text);
    assert!(!r.text.contains("pgbase_http_requests_total"), "{}", r.text);
    // A made-up bearer token does not open it either.
    let r = app
        .get_with("/metrics", &[("authorization", "Bearer anything")])
        .await;
    expect_status(&r, 404);

    let r = app.get("/health").await;
    expect_status(&r, 200);
    assert_eq!(r.json(), json!({"status": "ok"}));
}

#[tokio::test]
async fn serve_with_a_token_requires_it_for_metrics_and_health_details() {
    let app = TestApp::serve_mode("", with_token()).await;
    for headers in [
        vec![],
        vec![("authorization", "Bearer wrong-token-0123456789")],
        vec![("authorization", "Bearer metrics-token-012345678")],
        vec![("authorization", TOKEN)],
        vec![("apikey", TOKEN)],
    ] {
        let r = app.get_with("/metrics", &headers).await;
        expect_status(&r, 401);
        assert!(
            r.header("www-authenticate")
                .is_some_and(|v| v.starts_with("Bearer")),
            "{headers:?}: {:?}",
            r.headers
        );
        assert!(!r.text.contains("pgbase_db_pool"), "{}", r.text);

        let r = app.get_with("/health", &headers).await;
        expect_status(&r, 200);
        assert_eq!(r.json(), json!({"status": "ok"}), "{headers:?}");
    }

    let bearer = format!("Bearer {TOKEN}");
    let r = app
        .get_with("/metrics", &[("authorization", bearer.as_str())])
        .await;
    expect_status(&r, 200);
    assert!(r.text.contains("pgbase_db_pool_in_use"), "{}", r.text);
    // The scheme is case-insensitive, as RFC 7235 has it.
    let lower = format!("bearer {TOKEN}");
    let r = app
        .get_with("/metrics", &[("authorization", lower.as_str())])
        .await;
    expect_status(&r, 200);

    let r = app
        .get_with("/health", &[("authorization", bearer.as_str())])
        .await;
    expect_status(&r, 200);
    let body = r.json();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["database"], "reachable");
    assert!(body["schema_version"].is_i64(), "{body}");
}

#[tokio::test]
async fn dev_keeps_metrics_and_health_details_open() {
    let app = TestApp::new("").await;
    let r = app.get("/metrics").await;
    expect_status(&r, 200);
    assert!(r.text.contains("pgbase_db_pool_in_use"), "{}", r.text);
    let r = app.get("/health").await;
    expect_status(&r, 200);
    assert_eq!(r.json()["database"], "reachable");

    // A token configured for serve does not close dev.
    let app = TestApp::with_settings("", with_token()).await;
    expect_status(&app.get("/metrics").await, 200);
}

#[test]
fn the_token_comes_from_pgbase_metrics_token() {
    let env = Settings::from_env(|name| (name == "PGBASE_METRICS_TOKEN").then(|| "t0k".into()));
    let env = env.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(env.metrics_token.as_deref(), Some("t0k"));
}
