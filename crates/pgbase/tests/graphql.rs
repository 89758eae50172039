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

/// Issue #10: one document whose fragment spreads itself through a relationship used to
/// overflow the stack and abort the whole server. Requests run here on a tokio worker thread
/// (2 MB stack, as in the server), and the server answers the next request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_graphql_documents_get_errors_and_the_server_keeps_answering() {
    let app = std::sync::Arc::new(
        TestApp::new(
            "create table public.account (id int primary key, email text not null);
             create table public.blog (id int primary key, title text not null,
                 owner_id int not null references public.account (id));
             insert into public.account values (1, 'a@x.com');
             insert into public.blog values (1, 'hello', 1), (2, 'world', 1);
             grant select, update, delete on public.blog to anon;",
        )
        .await,
    );
    let post = |query: String| {
        let app = app.clone();
        async move {
            let body = json!({ "query": query }).to_string();
            tokio::spawn(async move {
                app.request(Method::POST, "/graphql/v1", &[], Some(&body))
                    .await
            })
            .await
            .expect("the request task must not die")
        }
    };

    let r = post(
        "{ blogCollection { edges { node { ...F } } } }
         fragment F on blog { account { blogCollection { edges { node { ...F } } } } }"
            .into(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json()["data"], json!(null), "{}", r.text);
    assert_eq!(
        r.json()["errors"][0]["message"],
        "Found a cycle between fragments",
        "{}",
        r.text
    );

    // a document nested 100 000 levels deep never reaches the parser
    let deep = "{a".repeat(100_000) + &"}".repeat(100_000);
    let r = post(deep).await;
    assert_eq!(r.json()["data"], json!(null), "{}", r.text);
    let message = r.json()["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(message.contains("nested too deeply"), "{message}");

    // unfiltered writes are refused by default, and nothing was deleted
    let r = post("mutation { deleteFromblogCollection(atMost: 5) { affectedCount } }".into()).await;
    assert_eq!(
        r.json()["errors"][0]["message"],
        "deleteFromblogCollection requires a filter: without one (or with an empty one) it would \
         delete every record. Add a filter argument that selects the records to delete (atMost \
         still limits how many may change)",
        "{}",
        r.text
    );

    // the server still answers
    let r = post("{ blogCollection { edges { node { id account { email } } } } }".into()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        r.json()["data"]["blogCollection"]["edges"],
        json!([
            {"node": {"id": 1, "account": {"email": "a@x.com"}}},
            {"node": {"id": 2, "account": {"email": "a@x.com"}}}
        ])
    );
}

#[tokio::test]
async fn db_safe_update_off_lets_graphql_delete_every_row_too() {
    let settings = pgbase::config::Settings {
        db_safe_update: Some(false),
        ..Default::default()
    };
    let app = TestApp::with_settings(
        "create table public.blog (id int primary key, title text not null);
         insert into public.blog values (1, 'hello'), (2, 'world');
         grant select, delete on public.blog to anon;",
        settings,
    )
    .await;
    let query =
        json!({"query": "mutation { deleteFromblogCollection(atMost: 5) { affectedCount } }"});
    let r = app
        .request(Method::POST, "/graphql/v1", &[], Some(&query.to_string()))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        r.json(),
        json!({"data": {"deleteFromblogCollection": {"affectedCount": 2}}})
    );
}
