//! GraphQL through the real router: the schema and rows the caller's role may see, auth
//! applied as for REST.

mod common;

use axum::http::{Method, StatusCode};
use common::TestApp;
use serde_json::json;

#[tokio::test]
async fn graphql_is_served_as_the_callers_role() {
    let app = TestApp::new(
        "create table public.blog (id int primary key, title text not null);
         insert into public.blog values (1, 'hello'), (2, 'world');
         create table public.secret (id int primary key);
         revoke all on public.secret from anon;",
    )
    .await;
    let query = json!({"query": "{ blogCollection(orderBy: [{id: DescNullsLast}]) { edges { node { id title } } } }"});
    let r = app
        .request(Method::POST, "/graphql/v1", &[], Some(&query.to_string()))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        r.json()["data"]["blogCollection"]["edges"],
        json!([{"node": {"id": 2, "title": "world"}}, {"node": {"id": 1, "title": "hello"}}])
    );

    let query = json!({"query": "{ secretCollection { edges { node { id } } } }"});
    let r = app
        .request(Method::POST, "/graphql/v1", &[], Some(&query.to_string()))
        .await;
    let message = r.json()["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        message.contains("secretCollection"),
        "anon must not see secret: {}",
        r.text
    );

    let r = app
        .request(
            Method::POST,
            "/graphql/v1",
            &[("authorization", "Bearer nope")],
            Some("{}"),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}
