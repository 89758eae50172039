//! Auth end to end through the router: tokens from /auth/v1 become the request's role and
//! claims, and row-level security with `auth.uid()` keeps each user to their own rows through
//! REST reads, embeds, writes and RPC. Rejected tokens get PostgREST's 401s.

mod common;

use axum::http::{Method, StatusCode};
use common::{SECRET, TestApp};
use serde_json::{Value, json};

const SCHEMA: &str = "
create table public.lists (
  id bigint generated always as identity primary key,
  user_id uuid not null default auth.uid() references auth.users(id),
  name text not null
);
create table public.items (
  id bigint generated always as identity primary key,
  list_id bigint not null references public.lists(id),
  user_id uuid not null default auth.uid(),
  body text not null
);
alter table public.lists enable row level security;
alter table public.items enable row level security;
create policy own_lists on public.lists for all to authenticated
  using (auth.uid() = user_id) with check (auth.uid() = user_id);
create policy own_items on public.items for all to authenticated
  using (auth.uid() = user_id) with check (auth.uid() = user_id);
create function public.my_list_count() returns bigint language sql stable
  as $$ select count(*) from public.lists $$;
create function public.whoami() returns json language sql stable
  as $$ select json_build_object('uid', auth.uid(), 'role', auth.role(), 'email', auth.email()) $$;
";

async fn sign_up(app: &TestApp, email: &str) -> (String, String) {
    let r = app
        .request(
            Method::POST,
            "/auth/v1/signup",
            &[],
            Some(&json!({"email": email, "password": "correct horse"}).to_string()),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let body = r.json();
    let token = body["access_token"]
        .as_str()
        .expect("access_token")
        .to_string();
    let id = body["user"]["id"].as_str().expect("user id").to_string();
    // issued as Supabase issues it: by the API's URL + /auth/v1
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_audience(&["authenticated"]);
    let claims = jsonwebtoken::decode::<Value>(
        &token,
        &jsonwebtoken::DecodingKey::from_secret(SECRET.as_bytes()),
        &validation,
    )
    .expect("our own token verifies")
    .claims;
    assert_eq!(claims["iss"], "http://127.0.0.1:54321/auth/v1");
    (token, id)
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

async fn as_user(
    app: &TestApp,
    token: &str,
    method: Method,
    uri: &str,
    body: Option<Value>,
) -> common::TestResponse {
    let auth = bearer(token);
    let body = body.map(|b| b.to_string());
    app.request(
        method,
        uri,
        &[
            ("authorization", &auth),
            ("prefer", "return=representation"),
        ],
        body.as_deref(),
    )
    .await
}

#[tokio::test]
async fn users_only_ever_see_and_change_their_own_rows() {
    let app = TestApp::new(SCHEMA).await;
    let (alice, alice_id) = sign_up(&app, "alice@example.com").await;
    let (bob, _) = sign_up(&app, "bob@example.com").await;

    // Each inserts a list and an item; user_id defaults to auth.uid().
    for (token, name) in [(&alice, "alice's"), (&bob, "bob's")] {
        let r = as_user(
            &app,
            token,
            Method::POST,
            "/rest/v1/lists",
            Some(json!({"name": name})),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        let list_id = r.json()[0]["id"].clone();
        let r = as_user(
            &app,
            token,
            Method::POST,
            "/rest/v1/items",
            Some(json!({"list_id": list_id, "body": name})),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    }

    // Reads and embeds: only one's own rows.
    let r = as_user(
        &app,
        &alice,
        Method::GET,
        "/rest/v1/lists?select=name,user_id,items(body)",
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        r.json(),
        json!([{"name": "alice's", "user_id": alice_id, "items": [{"body": "alice's"}]}])
    );
    let r = as_user(
        &app,
        &bob,
        Method::GET,
        "/rest/v1/items?select=body,lists(name)",
        None,
    )
    .await;
    assert_eq!(
        r.json(),
        json!([{"body": "bob's", "lists": {"name": "bob's"}}])
    );

    // Writes to the other user's rows touch nothing.
    let r = as_user(
        &app,
        &bob,
        Method::PATCH,
        "/rest/v1/lists?name=eq.alice's",
        Some(json!({"name": "hacked"})),
    )
    .await;
    assert_eq!((r.status, r.json()), (StatusCode::OK, json!([])));
    let r = as_user(
        &app,
        &bob,
        Method::DELETE,
        "/rest/v1/items?body=eq.alice's",
        None,
    )
    .await;
    assert_eq!((r.status, r.json()), (StatusCode::OK, json!([])));
    // Inserting a row for someone else violates the policy's check.
    let r = as_user(
        &app,
        &bob,
        Method::POST,
        "/rest/v1/lists",
        Some(json!({"name": "x", "user_id": alice_id})),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert_eq!(r.json()["code"], "42501");

    // RPC runs under the same role and claims.
    let r = as_user(
        &app,
        &alice,
        Method::POST,
        "/rest/v1/rpc/my_list_count",
        Some(json!({})),
    )
    .await;
    assert_eq!(r.json(), json!(1));
    let r = as_user(&app, &alice, Method::GET, "/rest/v1/rpc/whoami", None).await;
    assert_eq!(
        r.json(),
        json!({"uid": alice_id, "role": "authenticated", "email": "alice@example.com"})
    );

    // Anonymous requests see nothing (no policy for anon) and the superuser view is intact.
    let r = app.get("/rest/v1/lists").await;
    assert_eq!(r.json(), json!([]));
    let client = app.client().await;
    let names: Vec<String> = client
        .query("select name from lists order by id", &[])
        .await
        .expect("query")
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(names, ["alice's", "bob's"]);
}

fn sign(claims: Value, secret: &str) -> String {
    pgbase_testkit::hs256(secret, &claims)
}

/// A table under RLS whose one policy lets `anon` see only its public row: the service_role
/// key (BYPASSRLS) sees both rows, the anon key one, so the two keys cannot be mistaken for
/// each other (or for a role that sees nothing).
const KEYS_SCHEMA: &str = "
create table public.t (x int primary key, visibility text not null);
insert into public.t values (1, 'public'), (2, 'private');
alter table public.t enable row level security;
create policy anon_reads_public on public.t for select to anon using (visibility = 'public');
grant select on public.t to anon, authenticated, service_role;
";

#[tokio::test]
async fn bad_tokens_are_refused_with_postgrest_errors() {
    let app = TestApp::new(KEYS_SCHEMA).await;
    let now = chrono::Utc::now().timestamp();
    let cases = [
        (
            sign(
                json!({"role": "authenticated", "exp": now + 3600}),
                "another secret that is long enough!!",
            ),
            "PGRST301",
        ),
        (
            sign(json!({"role": "authenticated", "exp": now - 3600}), SECRET),
            "PGRST301",
        ),
        ("not.a.jwt".to_string(), "PGRST301"),
    ];
    for (token, code) in cases {
        let auth = bearer(&token);
        let r = app
            .request(Method::GET, "/rest/v1/t", &[("authorization", &auth)], None)
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
        assert_eq!(r.json()["code"], code, "{}", r.text);
        let www = r.header("www-authenticate").unwrap_or_default();
        assert!(www.starts_with("Bearer error=\"invalid_token\""), "{www}");
    }
    // A valid token naming a role the authenticator was not granted (here: the superuser) is
    // refused as PostgREST refuses it: Postgres' SET ROLE error, 42501, as 403.
    let token = sign(json!({"role": "postgres", "exp": now + 3600}), SECRET);
    let auth = bearer(&token);
    let r = app
        .request(Method::GET, "/rest/v1/t", &[("authorization", &auth)], None)
        .await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "a token must never become the superuser: {}",
        r.text
    );
    let body = r.json();
    assert_eq!(body["code"], "42501", "{}", r.text);
    assert_eq!(
        body["message"], "permission denied to set role \"postgres\"",
        "{}",
        r.text
    );

    // The service_role key bypasses RLS and sees both rows; the anon key is anon, which the
    // policy shows only the public row.
    let keys = pgbase::keys::api_keys(SECRET).expect("keys");
    let auth = bearer(&keys.service_role);
    let r = app
        .request(
            Method::GET,
            "/rest/v1/t?select=x&order=x",
            &[("authorization", &auth)],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json(), json!([{"x": 1}, {"x": 2}]));
    let r = app
        .request(
            Method::GET,
            "/rest/v1/t?select=x&order=x",
            &[("apikey", &keys.service_role)],
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.json()),
        (StatusCode::OK, json!([{"x": 1}, {"x": 2}])),
        "the service_role key as apikey"
    );
    let r = app
        .request(
            Method::GET,
            "/rest/v1/t?select=x&order=x",
            &[("apikey", &keys.anon)],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json(), json!([{"x": 1}]));
    let auth = bearer(&keys.anon);
    let r = app
        .request(
            Method::GET,
            "/rest/v1/t?select=x&order=x",
            &[("authorization", &auth)],
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.json()),
        (StatusCode::OK, json!([{"x": 1}])),
        "the anon key as bearer token"
    );
    // A signed-in user is neither: no policy for authenticated, so no row.
    let token = sign(json!({"role": "authenticated", "exp": now + 3600}), SECRET);
    let auth = bearer(&token);
    let r = app
        .request(
            Method::GET,
            "/rest/v1/t?select=x",
            &[("authorization", &auth)],
            None,
        )
        .await;
    assert_eq!((r.status, r.json()), (StatusCode::OK, json!([])));
}

#[tokio::test]
async fn ddl_alone_reloads_the_schema_cache() {
    let app = TestApp::new("select 1").await;
    let r = app.get("/rest/v1/late").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    assert_eq!(r.json()["code"], "PGRST205", "{}", r.text);
    let client = app.client().await;
    client
        .batch_execute("create table public.late (x int); insert into public.late values (7)")
        .await
        .expect("ddl");
    // No NOTIFY from the test: the DDL event trigger sends it. The reload is awaited for a
    // generous minute (it takes milliseconds; a loaded machine must not fail the test).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let r = app.get("/rest/v1/late").await;
        if r.status == StatusCode::OK {
            assert_eq!(r.json(), json!([{"x": 7}]));
            break;
        }
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
        assert!(
            std::time::Instant::now() < deadline,
            "not reloaded within 60 s: {}",
            r.text
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
