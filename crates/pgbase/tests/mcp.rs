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

    let outside = backend
        .api_request(&pgbase_mcp::api::ApiCall {
            path: "/mcp".into(),
            ..call(None)
        })
        .await;
    assert!(outside.is_err());
}
