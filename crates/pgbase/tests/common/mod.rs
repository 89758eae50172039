//! In-process test server: a fresh database (system schemas from the template) plus the test's
//! own SQL, the real `app()` router with its schema cache loaded, driven with
//! `tower::ServiceExt::oneshot`.

#![allow(dead_code)]

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use pgbase::config::{Config, Settings};
use pgbase::server::{AppState, app};
use serde_json::Value;
use tower::ServiceExt;

pub const SECRET: &str = "pgbase-test-secret-with-at-least-32-chars";

pub struct TestApp {
    pub db: pgbase_testkit::TestDb,
    pub state: AppState,
}

pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl TestResponse {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl TestApp {
    /// A server over a new database into which `setup` SQL was applied.
    pub async fn new(setup: &str) -> TestApp {
        TestApp::with_settings(setup, Settings::default()).await
    }

    pub async fn with_settings(setup: &str, settings: Settings) -> TestApp {
        let db = pgbase_testkit::test_db().await;
        let client = db.connect().await;
        client
            .batch_execute(setup)
            .await
            .unwrap_or_else(|e| panic!("setup SQL failed: {e:?}"));
        let config =
            Config::from_settings(settings, db.url.clone(), SECRET.into(), true).expect("config");
        let state = pgbase::runtime::start(config).await.expect("start");
        assert!(
            pgbase::runtime::wait_for_schema_cache(&state, Duration::from_secs(10)).await,
            "schema cache did not load"
        );
        TestApp { db, state }
    }

    pub async fn request(
        &self,
        method: Method,
        uri: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> TestResponse {
        let mut builder = Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        if body.is_some()
            && !headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        {
            builder = builder.header("content-type", "application/json");
        }
        let request = builder
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
            .expect("request");
        let response = app(self.state.clone())
            .oneshot(request)
            .await
            .expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        TestResponse {
            status,
            headers,
            text: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    pub async fn get(&self, uri: &str) -> TestResponse {
        self.request(Method::GET, uri, &[], None).await
    }

    pub async fn client(&self) -> tokio_postgres::Client {
        self.db.connect().await
    }
}
