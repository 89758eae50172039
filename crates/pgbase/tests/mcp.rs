//! The MCP server inside pgbase: `/mcp` only for the service_role key, and `api_request` calling
//! the real router in-process as anon, a user and service_role.

mod common;

use axum::http::Method;
use common::{SECRET, TestApp, expect_status};

const USER_A: &str = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa";

const SETUP: &str = "
create table public.todos (id int primary key, user_id uuid not null, title text not null);
alter table public.todos enable row level security;
create policy own on public.todos for select to authenticated using (user_id = (select auth.uid()));
grant select on public.todos to authenticated;
revoke all on public.todos from anon;
insert into public.todos values
  (1, 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'a1'),
  (2, 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', 'b1');
";

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"test","version":"1"}}}"#;

#[tokio::test]
async fn mcp_over_http_takes_only_the_service_role_key() {
    let app = TestApp::new(SETUP).await;
    let keys = pgbase::keys::api_keys(SECRET).expect("keys");
    let accept = ("accept", "application/json, text/event-stream");
    let host = ("host", "localhost");
    let anonymous = app
        .request(Method::POST, "/mcp", &[accept], Some(INITIALIZE))
        .await;
    expect_status(&anonymous, 401);
    assert!(anonymous.text.contains("service_role"));
    let anon_bearer = format!("Bearer {}", keys.anon);
    let anon = app
        .request(
            Method::POST,
            "/mcp",
            &[
                accept,
                ("authorization", &anon_bearer),
                ("apikey", &keys.anon),
            ],
            Some(INITIALIZE),
        )
        .await;
    expect_status(&anon, 401);
    let forged = app
        .request(
            Method::POST,
            "/mcp",
            &[accept, ("authorization", "Bearer not.a.jwt")],
            Some(INITIALIZE),
        )
        .await;
    expect_status(&forged, 401);
    let service = app
        .request(
            Method::POST,
            "/mcp",
            &[accept, host, ("apikey", &keys.service_role)],
            Some(INITIALIZE),
        )
        .await;
    expect_status(&service, 200);
    assert!(service.text.contains("\"pgbase\""), "{}", service.text);
    let bearer = format!("Bearer {}", keys.service_role);
    let service = app
        .request(
            Method::POST,
            "/mcp",
            &[accept, host, ("authorization", &bearer)],
            Some(INITIALIZE),
        )
        .await;
    expect_status(&service, 200);
    // The rest of the API is untouched.
    let rest = app
        .get_with(
            "/rest/v1/todos",
            &[("apikey", &keys.service_role), ("authorization", &bearer)],
        )
        .await;
    expect_status(&rest, 200);
}

#[tokio::test]
async fn api_request_calls_the_router_as_anon_a_user_and_service_role() {
    let app = TestApp::new(SETUP).await;
    let backend = pgbase_mcp::Backend::new(app.db.config.clone(), pgbase_mcp::Options::default())
        .with_api(pgbase_mcp::ApiTarget {
            router: pgbase::server::app(app.state.clone()),
            jwt_secret: SECRET.to_string(),
        });
    let call = |who: Option<&str>| pgbase_mcp::api::ApiCall {
        method: "GET".into(),
        path: "/rest/v1/todos?select=title&order=id".into(),
        headers: Default::default(),
        body: None,
        subject: who.map(pgbase_mcp::Subject::from_word).unwrap_or_default(),
    };
    let user = backend
        .api_request(&call(Some(USER_A)))
        .await
        .expect("as user");
    assert_eq!(user.status, 200, "{:?}", user.body);
    assert_eq!(user.body, serde_json::json!([{"title": "a1"}]));
    assert!(
        user.headers
            .get("content-type")
            .is_some_and(|c| c.starts_with("application/json"))
    );
    let service = backend
        .api_request(&call(Some("service_role")))
        .await
        .expect("as service_role");
    assert_eq!(
        service.body,
        serde_json::json!([{"title": "a1"}, {"title": "b1"}])
    );
    let anon = backend.api_request(&call(None)).await.expect("as anon");
    assert_eq!(anon.status, 401, "{:?}", anon.body);
    assert_eq!(anon.body["code"], "42501");

    let graphql = backend
        .api_request(&pgbase_mcp::api::ApiCall {
            method: "POST".into(),
            path: "/graphql/v1".into(),
            headers: Default::default(),
            body: Some(
                serde_json::json!({"query": "{ todosCollection { edges { node { title } } } }"}),
            ),
            subject: pgbase_mcp::Subject::from_word(USER_A),
        })
        .await
        .expect("graphql");
    assert_eq!(graphql.status, 200);
    assert_eq!(
        graphql.body["data"]["todosCollection"]["edges"][0]["node"]["title"],
        "a1"
    );

    let signup = backend
        .api_request(&pgbase_mcp::api::ApiCall {
            method: "POST".into(),
            path: "/auth/v1/signup".into(),
            headers: Default::default(),
            body: Some(serde_json::json!({"email": "agent@example.com", "password": "a long password 123"})),
            subject: pgbase_mcp::Subject::default(),
        })
        .await
        .expect("signup");
    assert_eq!(signup.status, 200, "{:?}", signup.body);
    assert!(
        signup.body["access_token"].is_string() || signup.body["id"].is_string(),
        "{:?}",
        signup.body
    );

    let outside = backend
        .api_request(&pgbase_mcp::api::ApiCall {
            path: "/mcp".into(),
            ..call(None)
        })
        .await;
    assert!(outside.is_err());
}

/// The events of an SSE (or plain JSON) MCP answer, as JSON values.
fn mcp_messages(text: &str) -> Vec<serde_json::Value> {
    let plain = serde_json::from_str::<serde_json::Value>(text).ok();
    plain
        .into_iter()
        .chain(
            text.lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .filter_map(|d| serde_json::from_str(d.trim()).ok()),
        )
        .collect()
}

#[tokio::test]
async fn tools_over_http_see_the_servers_failed_requests() {
    let app = TestApp::new(SETUP).await;
    let router = pgbase::server::app(app.state.clone());
    let keys = pgbase::keys::api_keys(SECRET).expect("keys");
    let post = |body: String, session: Option<String>| {
        let mut builder = axum::http::Request::builder()
            .method("POST")
            .uri("/mcp")
            .header("host", "localhost")
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("apikey", keys.service_role.clone());
        if let Some(session) = session {
            builder = builder.header("mcp-session-id", session);
        }
        builder.body(axum::body::Body::from(body)).expect("request")
    };
    use tower::ServiceExt;
    let init = router
        .clone()
        .oneshot(post(INITIALIZE.to_string(), None))
        .await
        .expect("init");
    assert_eq!(init.status(), 200);
    let session = init
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    drop(init);
    let initialized = router
        .clone()
        .oneshot(post(
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.into(),
            session.clone(),
        ))
        .await
        .expect("initialized");
    assert!(
        initialized.status().is_success(),
        "{}",
        initialized.status()
    );

    // A failing API request, then the logs tool over /mcp reports it.
    let missing = router
        .clone()
        .oneshot(
            axum::http::Request::builder()
                .uri("/rest/v1/no_such_table")
                .header("apikey", keys.anon.clone())
                .body(axum::body::Body::empty())
                .expect("request"),
        )
        .await
        .expect("rest");
    assert_eq!(missing.status(), 404);
    let call =
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"logs","arguments":{}}}"#;
    let response = router
        .clone()
        .oneshot(post(call.into(), session))
        .await
        .expect("call");
    assert_eq!(response.status(), 200);
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    let text = String::from_utf8_lossy(&bytes);
    let messages = mcp_messages(&text);
    let result = messages
        .iter()
        .find(|m| m["id"] == 2)
        .unwrap_or_else(|| panic!("no answer to the call in {text}"));
    let content = result["result"]["content"][0]["text"]
        .as_str()
        .expect("text");
    let logs: serde_json::Value = serde_json::from_str(content).expect("logs JSON");
    let failed = logs["failed_api_requests"].as_array().expect("request log");
    assert!(
        failed
            .iter()
            .any(|f| f["path"] == "/rest/v1/no_such_table" && f["status"] == 404),
        "{logs}"
    );
}

#[test]
fn cli_mirrors_run_as_a_user_and_explain_and_describe() {
    use std::process::Command;
    const BIN: &str = env!("CARGO_BIN_EXE_pgbase");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let db = runtime.block_on(async {
        let db = pgbase_testkit::test_db().await;
        db.connect()
            .await
            .batch_execute(SETUP)
            .await
            .expect("setup");
        db
    });
    let run = |args: &[&str]| {
        let output = Command::new(BIN).args(args).output().expect("run");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (ok, out, err) = run(&[
        "sql",
        "--db-url",
        &db.url,
        "--as-user",
        USER_A,
        "select title from todos",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("a1") && !out.contains("b1"), "{out}");
    let (ok, out, err) = run(&[
        "sql",
        "--db-url",
        &db.url,
        "--role",
        "authenticated",
        "--json",
        "select count(*) as n from todos",
    ]);
    assert!(ok, "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(json["rows"][0]["n"], 0, "no user, no rows: {out}");
    let (ok, _, err) = run(&["sql", "--db-url", &db.url, "select titel from todos"]);
    assert!(!ok);
    assert!(
        err.contains("1 | select titel from todos") && err.contains("did you mean: title?"),
        "{err}"
    );
    let (ok, out, err) = run(&[
        "explain",
        "--db-url",
        &db.url,
        "--json",
        "select * from todos where title = 'a1'",
    ]);
    assert!(ok, "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert!(json["total_ms"].as_f64().is_some(), "{out}");
    let (ok, out, err) = run(&["describe", "--db-url", &db.url, "todos"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("policy: \"own\" for select to authenticated"),
        "{out}"
    );
}
