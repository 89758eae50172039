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
        TestApp::build(setup, settings, true).await
    }

    /// Like [`TestApp::with_settings`], configured as `pgbase serve` is (dev = false).
    pub async fn serve_mode(setup: &str, settings: Settings) -> TestApp {
        TestApp::build(setup, settings, false).await
    }

    async fn build(setup: &str, settings: Settings, dev: bool) -> TestApp {
        let db = pgbase_testkit::test_db().await;
        let client = db.connect().await;
        client
            .batch_execute(setup)
            .await
            .unwrap_or_else(|e| panic!("setup SQL failed: {e:?}"));
        let config =
            Config::from_settings(settings, db.url.clone(), SECRET.into(), dev).expect("config");
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
        let mut builder = Request::builder().method(method).uri(encode_uri(uri));
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

/// Percent-encodes the characters a URI may not carry literally (`"`, `{`, `^`, space, …), so
/// tests can write query strings as a client library would before encoding them.
pub fn encode_uri(uri: &str) -> String {
    let mut out = String::with_capacity(uri.len());
    for ch in uri.chars() {
        match ch {
            ' ' | '"' | '{' | '}' | '^' | '|' | '<' | '>' | '\\' | '`' => {
                out.push_str(&format!("%{:02X}", ch as u32))
            }
            c if !c.is_ascii() => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
            c => out.push(c),
        }
    }
    out
}

impl TestApp {
    /// Waits (at most 10 s) until the schema cache is newer than version `after`.
    pub async fn wait_for_reload(&self, after: u64) {
        let started = std::time::Instant::now();
        while self.state.catalog.version() <= after {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "schema cache did not reload"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Replaces the REST front end's request configuration (e.g. `plan_enabled`), keeping the
    /// pool and schema cache.
    pub fn configure_rest(&mut self, f: impl FnOnce(&mut pgbase_rest::request::RequestConfig)) {
        let current = &self.state.rest;
        let mut config = current.config.clone();
        f(&mut config);
        self.state.rest = std::sync::Arc::new(pgbase_rest::handler::RestState {
            pool: current.pool.clone(),
            catalog: current.catalog.clone(),
            config,
            max_rows: current.max_rows,
            session_defaults: current.session_defaults.clone(),
        });
    }

    /// Sends `method uri` with headers and an optional body; `body` is JSON text.
    pub async fn send(
        &self,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> TestResponse {
        let method = Method::from_bytes(method.as_bytes()).expect("method");
        self.request(method, uri, headers, body).await
    }

    /// `GET uri` with headers.
    pub async fn get_with(&self, uri: &str, headers: &[(&str, &str)]) -> TestResponse {
        self.request(Method::GET, uri, headers, None).await
    }

    /// Runs SQL as the superuser and returns the first column of each row as text.
    pub async fn sql_texts(&self, sql: &str) -> Vec<Option<String>> {
        let client = self.client().await;
        let rows = client.simple_query(sql).await.expect("sql");
        rows.into_iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => Some(r.get(0).map(str::to_string)),
                _ => None,
            })
            .collect()
    }
}

/// Asserts the status, printing the body on failure.
#[track_caller]
pub fn expect_status(r: &TestResponse, status: u16) {
    assert_eq!(r.status.as_u16(), status, "body: {}", r.text);
}
