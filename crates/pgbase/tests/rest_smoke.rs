//! REST smoke tests through the real router: read, write, error shapes.

mod common;

use axum::http::{Method, StatusCode};
use common::TestApp;
use serde_json::json;

const SCHEMA: &str = "
create table public.todos (id int primary key, title text not null, done bool default false);
insert into public.todos values (1, 'a', false), (2, 'b', true), (3, 'c', false);
";

#[tokio::test]
async fn reads_filter_order_and_count() {
    let app = TestApp::new(SCHEMA).await;
    let r = app
        .get("/rest/v1/todos?select=id,title&done=eq.false&order=id.desc")
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        r.json(),
        json!([{"id": 3, "title": "c"}, {"id": 1, "title": "a"}])
    );
    assert_eq!(r.header("content-range"), Some("0-1/*"));

    let r = app
        .request(
            Method::GET,
            "/rest/v1/todos?limit=1",
            &[("prefer", "count=exact")],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.header("content-range"), Some("0-0/3"));
}

#[tokio::test]
async fn writes_return_representation_and_errors_follow_postgrest() {
    let app = TestApp::new(SCHEMA).await;
    let r = app
        .request(
            Method::POST,
            "/rest/v1/todos?select=id,title",
            &[("prefer", "return=representation")],
            Some(r#"[{"id": 4, "title": "d"}, {"id": 5, "title": "e"}]"#),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(
        r.json(),
        json!([{"id": 4, "title": "d"}, {"id": 5, "title": "e"}])
    );

    let r = app
        .request(
            Method::POST,
            "/rest/v1/todos",
            &[],
            Some(r#"{"id": 1, "title": "dup"}"#),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.json()["code"], "23505");

    let r = app.get("/rest/v1/todoz").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()["code"], "PGRST205");
    assert_eq!(
        r.json()["hint"],
        "Perhaps you meant the table 'public.todos'"
    );
}
