//! Issue #16's plan caches (REST's recent GETs, GraphQL's recent documents) serve only what
//! planning would have made again: a repeated request still runs as its own role, with its own
//! headers and variables, and is planned again once the schema cache reloads.

mod common;

use axum::http::{Method, StatusCode};
use common::{SECRET, TestApp, expect_status};
use serde_json::json;

const SETUP: &str = "
create table public.notes (id int primary key, body text not null, owner text not null);
insert into public.notes values (1, 'anon note', 'anon'), (2, 'user note', 'authenticated');
alter table public.notes enable row level security;
create policy own on public.notes for select using (owner = current_user);
grant select on public.notes to anon, authenticated;
create view public.whoami as
  select current_setting('request.headers', true)::json->>'x-tenant' as tenant,
         current_user::text as role;
grant select on public.whoami to anon, authenticated;
create table public.secret (id int primary key, word text not null);
insert into public.secret values (1, 'swordfish');
revoke all on public.secret from anon;
grant select on public.secret to authenticated;
create function public.answer() returns int language sql stable as $$ select 42 $$;
";

fn user_token() -> String {
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        + 3600;
    let token = pgbase_testkit::hs256(SECRET, &json!({"role": "authenticated", "exp": exp}));
    format!("Bearer {token}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_rest_gets_keep_their_role_headers_and_schema() {
    let app = TestApp::new(SETUP).await;
    let user = user_token();
    let url = "/rest/v1/notes?id=gte.1&select=body";
    for _ in 0..3 {
        // the same request line as another role: its own rows under RLS each time
        let r = app.get(url).await;
        expect_status(&r, 200);
        assert_eq!(r.json(), json!([{"body": "anon note"}]));
        let r = app.get_with(url, &[("authorization", &user)]).await;
        expect_status(&r, 200);
        assert_eq!(r.json(), json!([{"body": "user note"}]));
    }
    // request.headers is the request's own, not the first one's
    for tenant in ["a", "b", "a"] {
        let r = app
            .get_with("/rest/v1/whoami", &[("x-tenant", tenant)])
            .await;
        expect_status(&r, 200);
        assert_eq!(r.json(), json!([{"tenant": tenant, "role": "anon"}]));
    }
    // headers that change the plan are part of what is cached
    let one = "/rest/v1/notes?id=eq.1";
    for _ in 0..2 {
        let r = app.get(one).await;
        assert_eq!(r.json()[0]["body"], "anon note", "{}", r.text);
        assert_eq!(r.header("content-range"), Some("0-0/*"));
        let r = app
            .get_with(one, &[("accept", "application/vnd.pgrst.object+json")])
            .await;
        assert_eq!(r.json()["body"], "anon note", "{}", r.text);
        let r = app.get_with(one, &[("prefer", "count=exact")]).await;
        assert_eq!(r.header("content-range"), Some("0-0/1"));
        let r = app.get_with(one, &[("range", "1-1")]).await;
        assert_eq!(r.json(), json!([]), "{}", r.text);
        let r = app.get_with(one, &[("accept-profile", "nope")]).await;
        assert_eq!(r.status, StatusCode::NOT_ACCEPTABLE, "{}", r.text);
    }
    // a reloaded schema cache is planned against again: the function now returns rows
    for _ in 0..2 {
        let r = app.get("/rest/v1/rpc/answer").await;
        expect_status(&r, 200);
        assert_eq!(r.json(), json!(42));
    }
    let version = app.state.catalog.version();
    app.client()
        .await
        .batch_execute(
            "drop function public.answer();
             create function public.answer() returns table (n int) language sql stable
               as $$ select 7 $$;
             notify pgrst, 'reload schema';",
        )
        .await
        .expect("replace the function");
    app.wait_for_reload(version).await;
    let r = app.get("/rest/v1/rpc/answer").await;
    expect_status(&r, 200);
    assert_eq!(r.json(), json!([{"n": 7}]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_graphql_documents_keep_their_role_variables_and_schema() {
    let app = TestApp::new(SETUP).await;
    let user = user_token();
    let post = |body: serde_json::Value, auth: Option<String>| {
        let app = &app;
        async move {
            let headers: Vec<(&str, &str)> = match &auth {
                Some(auth) => vec![("authorization", auth.as_str())],
                None => Vec::new(),
            };
            let r = app
                .request(
                    Method::POST,
                    "/graphql/v1",
                    &headers,
                    Some(&body.to_string()),
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text);
            r.json()
        }
    };
    let secret = json!({"query": "{ secretCollection { edges { node { word } } } }"});
    for _ in 0..2 {
        let data = post(secret.clone(), Some(user.clone())).await;
        assert_eq!(
            data["data"]["secretCollection"]["edges"],
            json!([{"node": {"word": "swordfish"}}])
        );
        // anon does not see the table, whoever planned the document first
        let data = post(secret.clone(), None).await;
        assert!(
            data["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("secretCollection")),
            "{data}"
        );
    }
    let by_id =
        "query($id: Int!) { notesCollection(filter: {id: {eq: $id}}) { edges { node { body } } } }";
    for (id, body) in [
        (1, json!([{"node": {"body": "user note"}}])),
        (2, json!([{"node": {"body": "user note"}}])),
    ] {
        // RLS: the user sees only row 2, so id 1 is empty and id 2 is the note
        let data = post(
            json!({"query": by_id, "variables": {"id": id}}),
            Some(user.clone()),
        )
        .await;
        let edges = &data["data"]["notesCollection"]["edges"];
        if id == 1 {
            assert_eq!(edges, &json!([]), "{data}");
        } else {
            assert_eq!(edges, &body, "{data}");
        }
    }
    let titles = json!({"query": "{ notesCollection { edges { node { body } } } }"});
    let data = post(titles.clone(), None).await;
    assert_eq!(
        data["data"]["notesCollection"]["edges"],
        json!([{"node": {"body": "anon note"}}])
    );
    let version = app.state.catalog.version();
    app.client()
        .await
        .batch_execute(
            "alter table public.notes rename column body to text;
             notify pgrst, 'reload schema';",
        )
        .await
        .expect("rename");
    app.wait_for_reload(version).await;
    let data = post(titles, None).await;
    assert!(
        data["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("body")),
        "the renamed column is no longer there: {data}"
    );
}
