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

/// Issue #12: one request context below both front ends. A row-level-security policy that
/// reads `request.method` and `request.headers` lets through the same row over REST and
/// GraphQL when the requests carry the same method and headers.
#[tokio::test]
async fn an_rls_policy_sees_the_same_request_context_over_rest_and_graphql() {
    let app = TestApp::new(
        "create table public.probe (id int primary key, seen_as text not null);
         insert into public.probe values
           (1, 'GET acme'), (2, 'POST acme'), (3, 'GET '), (4, 'POST ');
         alter table public.probe enable row level security;
         create policy by_request on public.probe for select to anon using (
           seen_as = current_setting('request.method', true) || ' ' ||
             coalesce(current_setting('request.headers', true)::json ->> 'x-tenant', ''));
         grant select on public.probe to anon;
         create function public.probe_rows() returns setof public.probe
           language sql stable as 'select * from public.probe';",
    )
    .await;
    let seen = |r: &common::TestResponse| -> Vec<String> {
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let json = r.json();
        let rows: Vec<serde_json::Value> = if json.get("data").is_some() {
            json["data"]["probeCollection"]["edges"]
                .as_array()
                .map(|edges| edges.iter().map(|e| e["node"].clone()).collect())
                .unwrap_or_default()
        } else {
            json.as_array().cloned().unwrap_or_default()
        };
        rows.iter()
            .map(|row| row["seen_as"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    let tenant = [("x-tenant", "acme")];
    let document = json!({"query": "{ probeCollection { edges { node { seen_as } } } }"});
    let document = document.to_string();

    let rest_get = app.get_with("/rest/v1/probe?select=seen_as", &tenant).await;
    assert_eq!(seen(&rest_get), ["GET acme"]);
    let rest_post = app
        .request(Method::POST, "/rest/v1/rpc/probe_rows", &tenant, Some("{}"))
        .await;
    assert_eq!(seen(&rest_post), ["POST acme"]);

    let graphql_post = app
        .request(Method::POST, "/graphql/v1", &tenant, Some(&document))
        .await;
    assert_eq!(seen(&graphql_post), ["POST acme"]);
    let graphql_get = app
        .get_with(
            "/graphql/v1?query=%7B%20probeCollection%20%7B%20edges%20%7B%20node%20%7B%20seen_as%20%7D%20%7D%20%7D%20%7D",
            &tenant,
        )
        .await;
    assert_eq!(
        seen(&graphql_get),
        ["GET acme"],
        "GraphQL over GET is a GET"
    );

    let without_header = app
        .request(Method::POST, "/graphql/v1", &[], Some(&document))
        .await;
    assert_eq!(seen(&without_header), ["POST "]);
    let without_header = app
        .request(Method::POST, "/rest/v1/rpc/probe_rows", &[], Some("{}"))
        .await;
    assert_eq!(seen(&without_header), ["POST "]);
}
