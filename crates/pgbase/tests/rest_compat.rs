//! PostgREST 12.2 behaviours measured against upstream's own spec (issue #11), written as our
//! own cases through the router: HEAD's Content-Type, v12 error codes and texts, JSON array
//! bodies for single-row writes and calls, filter-only embeds, limited PATCH/DELETE, response
//! headers from `response.headers`, lenient/strict `Prefer: timezone`, `count` in `select`,
//! JSON path keys and arrows on composite and array columns.

mod common;

use common::{TestApp, expect_status};
use serde_json::json;

const SCHEMA: &str = r#"
create table public.clients (id int primary key, name text not null);
create table public.projects (
  id int primary key, name text not null, client_id int references public.clients(id)
);
create table public.tasks (
  id int primary key, name text not null, project_id int references public.projects(id)
);
insert into public.clients values (1, 'Microsoft'), (2, 'Apple');
insert into public.projects values
  (1, 'Windows 7', 1), (2, 'Windows 10', 1), (3, 'IOS', 2), (4, 'OSX', 2), (5, 'Orphan', null);
insert into public.tasks values
  (1, 'Design w7', 1), (2, 'Code w7', 1), (3, 'Design w10', 2), (4, 'Code w10', 2),
  (5, 'Design IOS', 3), (6, 'Code IOS', 3), (7, 'Design OSX', 4), (8, 'Code OSX', 4);

create table public.items (id int primary key, name text not null);
insert into public.items select g, 'item-' || g from generate_series(1, 3) g;

create function public.add_them(a int, b int) returns int language sql immutable
  as $$ select a + b $$;
create function public.echo_body(payload json) returns json language sql immutable
  as $$ select payload $$;
create function public.whole_body(json) returns json language sql immutable
  as $$ select $1 $$;
create function public.set_cookie_twice() returns void language plpgsql as $$
begin
  perform set_config('response.headers',
    '[{"Set-Cookie": "sessionid=38afes7a8; HttpOnly; Path=/"}, '
    '{"Set-Cookie": "id=a3fWa; Expires=Wed, 21 Oct 2015 07:28:00 GMT; Secure; HttpOnly"}]',
    true);
end $$;

create type public.point2 as (x int, y int);
create table public.shapes (
  id int primary key, origin public.point2, tags text[], data jsonb, nums int[]
);
insert into public.shapes values
  (1, row(10, 20), '{a,b}', '[{"k": "first"}, 2]', '{7,8,9}'),
  (2, row(30, 40), '{c}', '{"k": "obj"}', '{1}');

grant usage on schema public to anon;
grant all on all tables in schema public to anon;
grant execute on all functions in schema public to anon;
"#;

fn names(value: &serde_json::Value) -> Vec<&str> {
    value
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect()
}

// ----- group 1: HEAD carries the Content-Type its GET would -----

#[tokio::test]
async fn head_answers_the_content_type_of_its_get() {
    let app = TestApp::new(SCHEMA).await;
    let r = app
        .send(
            "HEAD",
            "/rest/v1/projects",
            &[("prefer", "count=exact")],
            None,
        )
        .await;
    expect_status(&r, 200);
    assert_eq!(r.text, "");
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(r.header("content-range"), Some("0-4/5"));

    let r = app
        .send(
            "HEAD",
            "/rest/v1/projects?select=id,clients!inner(id)&clients.id=eq.1",
            &[("prefer", "count=exact")],
            None,
        )
        .await;
    expect_status(&r, 200);
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(r.header("content-range"), Some("0-1/2"));

    // a partial page is still 206, with the type
    let r = app
        .send(
            "HEAD",
            "/rest/v1/items?limit=1",
            &[("prefer", "count=exact")],
            None,
        )
        .await;
    expect_status(&r, 206);
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );

    // the negotiated type, CSV included
    let r = app
        .send("HEAD", "/rest/v1/items", &[("accept", "text/csv")], None)
        .await;
    expect_status(&r, 200);
    assert_eq!(r.header("content-type"), Some("text/csv; charset=utf-8"));

    // functions too
    let r = app
        .send("HEAD", "/rest/v1/rpc/add_them?a=2&b=4", &[], None)
        .await;
    expect_status(&r, 200);
    assert_eq!(r.text, "");
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );

    // writes without a representation still answer no Content-Type
    let r = app
        .send(
            "PATCH",
            "/rest/v1/items?id=eq.1",
            &[],
            Some(r#"{"name": "x"}"#),
        )
        .await;
    expect_status(&r, 204);
    assert_eq!(r.header("content-type"), None);
}

// ----- group 2: v12 codes and texts -----

#[tokio::test]
async fn singular_errors_use_the_v12_message() {
    let app = TestApp::new(SCHEMA).await;
    let object = ("accept", "application/vnd.pgrst.object+json");
    let r = app.get_with("/rest/v1/items", &[object]).await;
    expect_status(&r, 406);
    assert_eq!(
        r.json(),
        json!({"code": "PGRST116",
               "message": "JSON object requested, multiple (or no) rows returned",
               "details": "The result contains 3 rows", "hint": null})
    );
    let r = app
        .send(
            "PATCH",
            "/rest/v1/items?id=gt.0&id=lt.0",
            &[object],
            Some(r#"{"name": "none"}"#),
        )
        .await;
    expect_status(&r, 406);
    assert_eq!(
        r.json()["message"],
        "JSON object requested, multiple (or no) rows returned"
    );
    assert_eq!(r.json()["details"], "The result contains 0 rows");
}

#[tokio::test]
async fn expired_tokens_are_pgrst301() {
    let app = TestApp::new(SCHEMA).await;
    let now = chrono::Utc::now().timestamp();
    let token = pgbase_testkit::hs256(common::SECRET, &json!({"role": "anon", "exp": now - 3600}));
    let auth = format!("Bearer {token}");
    let r = app
        .get_with("/rest/v1/items", &[("authorization", &auth)])
        .await;
    expect_status(&r, 401);
    assert_eq!(
        r.json(),
        json!({"code": "PGRST301", "message": "JWT expired", "details": null, "hint": null})
    );
    assert_eq!(
        r.header("www-authenticate"),
        Some("Bearer error=\"invalid_token\", error_description=\"JWT expired\"")
    );
}

#[tokio::test]
async fn columns_on_a_missing_table_is_a_bare_404() {
    let app = TestApp::new(SCHEMA).await;
    let r = app
        .send(
            "POST",
            "/rest/v1/garlic?columns=helicopter",
            &[],
            Some(r#"[{"id": 204, "body": "yyy"}]"#),
        )
        .await;
    expect_status(&r, 404);
    assert_eq!(r.json(), json!({}));
    // an unknown column of a known table is PGRST204
    let r = app
        .send(
            "POST",
            "/rest/v1/items?columns=helicopter",
            &[],
            Some(r#"[{"id": 204, "name": "yyy"}]"#),
        )
        .await;
    expect_status(&r, 400);
    assert_eq!(
        r.json(),
        json!({"code": "PGRST204", "details": null, "hint": null,
               "message": "Could not find the 'helicopter' column of 'items' in the schema cache"})
    );
}

// ----- group 3: a JSON array body for a single-row write or call: its first element -----

#[tokio::test]
async fn put_patch_and_rpc_take_the_first_array_element() {
    let app = TestApp::new(SCHEMA).await;
    let repr = ("prefer", "return=representation");
    let object = ("accept", "application/vnd.pgrst.object+json");

    let r = app
        .send(
            "PUT",
            "/rest/v1/items?id=eq.2",
            &[repr, object],
            Some(r#"[{"id": 2, "name": "put-first"}, {"id": 9, "name": "put-second"}]"#),
        )
        .await;
    expect_status(&r, 200);
    assert_eq!(r.json(), json!({"id": 2, "name": "put-first"}));
    let r = app.get("/rest/v1/items?id=eq.9").await;
    assert_eq!(r.json(), json!([]));

    let r = app
        .send(
            "PATCH",
            "/rest/v1/items?id=eq.1",
            &[repr],
            Some(r#"[{"name": "patch-first"}, {"name": "patch-second"}]"#),
        )
        .await;
    expect_status(&r, 200);
    assert_eq!(r.json(), json!([{"id": 1, "name": "patch-first"}]));

    // an empty array sets nothing
    let r = app
        .send("PATCH", "/rest/v1/items?id=eq.1", &[repr], Some("[]"))
        .await;
    expect_status(&r, 200);
    assert_eq!(r.json(), json!([]));

    let r = app
        .send(
            "POST",
            "/rest/v1/rpc/add_them",
            &[],
            Some(r#"[{"a": 1, "b": 2}, {"a": 4, "b": 6}, {"a": 100, "b": 200}]"#),
        )
        .await;
    expect_status(&r, 200);
    assert_eq!(r.text, "3");
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );

    let r = app
        .send(
            "POST",
            "/rest/v1/rpc/echo_body",
            &[],
            Some(r#"[{"payload": {"x": 1}}, {"payload": {"x": 2}}]"#),
        )
        .await;
    expect_status(&r, 200);
    assert_eq!(r.json(), json!({"x": 1}));

    // a single unnamed json parameter still receives the whole body
    let r = app
        .send(
            "POST",
            "/rest/v1/rpc/whole_body",
            &[],
            Some(r#"[{"a": 1}, {"a": 2}]"#),
        )
        .await;
    expect_status(&r, 200);
    assert_eq!(r.json(), json!([{"a": 1}, {"a": 2}]));
}

// ----- group 4: filter-only embeds; limited PATCH/DELETE -----

#[tokio::test]
async fn empty_embeds_filter_but_are_not_output() {
    let app = TestApp::new(SCHEMA).await;
    let r = app
        .get("/rest/v1/projects?select=id,name,clients()&order=id")
        .await;
    expect_status(&r, 200);
    assert_eq!(
        r.json(),
        json!([{"id":1,"name":"Windows 7"},{"id":2,"name":"Windows 10"},{"id":3,"name":"IOS"},
               {"id":4,"name":"OSX"},{"id":5,"name":"Orphan"}])
    );
    let r = app
        .get("/rest/v1/projects?select=id,name,clients!inner()&clients.id=eq.2&order=id")
        .await;
    assert_eq!(
        r.json(),
        json!([{"id":3,"name":"IOS"},{"id":4,"name":"OSX"}])
    );
    let r = app
        .get("/rest/v1/clients?select=id,name,projects!inner()&projects.name=eq.IOS")
        .await;
    assert_eq!(r.json(), json!([{"id":2,"name":"Apple"}]));
    // nested: an embed holding only empty embeds outputs nothing either
    let r = app
        .get("/rest/v1/clients?select=*,projects(tasks(),clients())&order=id")
        .await;
    assert_eq!(
        r.json(),
        json!([{"id":1,"name":"Microsoft"},{"id":2,"name":"Apple"}])
    );
    let r = app
        .get(
            "/rest/v1/clients?select=*,projects!inner(tasks!inner(),name)\
             &projects.tasks.id=eq.5",
        )
        .await;
    assert_eq!(
        r.json(),
        json!([{"id":2,"name":"Apple","projects":[{"name":"IOS"}]}])
    );
}

#[tokio::test]
async fn limited_patch_and_delete_need_an_order_and_honour_offset() {
    let app = TestApp::new(SCHEMA).await;
    for (method, body) in [("DELETE", None), ("PATCH", Some(r#"{"name": "x"}"#))] {
        for query in ["limit=1&offset=1", "limit=1", "offset=1"] {
            let r = app
                .send(
                    method,
                    &format!("/rest/v1/items?id=gt.0&{query}"),
                    &[],
                    body,
                )
                .await;
            expect_status(&r, 400);
            assert_eq!(
                r.json(),
                json!({"code": "PGRST109", "details": null,
                       "hint": "Apply an 'order' using unique column(s)",
                       "message": "A 'limit' was applied without an explicit 'order'"}),
                "{method} {query}"
            );
        }
    }
    let r = app
        .send(
            "PATCH",
            "/rest/v1/items?id=gt.0&order=id&limit=1&offset=1",
            &[("prefer", "return=representation")],
            Some(r#"{"name": "updated"}"#),
        )
        .await;
    expect_status(&r, 200);
    assert_eq!(r.json(), json!([{"id": 2, "name": "updated"}]));

    let r = app
        .send(
            "DELETE",
            "/rest/v1/items?id=gt.0&order=id&limit=1&offset=1",
            &[],
            None,
        )
        .await;
    expect_status(&r, 204);
    let r = app.get("/rest/v1/items?order=id").await;
    assert_eq!(names(&r.json()), ["item-1", "item-3"]);

    // the Range header is ignored by writes
    let r = app
        .send(
            "DELETE",
            "/rest/v1/items?id=gte.3",
            &[("range", "0-0")],
            None,
        )
        .await;
    expect_status(&r, 204);
    let r = app.get("/rest/v1/items?order=id").await;
    assert_eq!(names(&r.json()), ["item-1"]);
}

// ----- group 5: OPTIONS, response.headers, Prefer: timezone -----

#[tokio::test]
async fn plain_options_allows_any_origin_and_404s_unknown_tables() {
    let app = TestApp::new(SCHEMA).await;
    let r = app
        .send(
            "OPTIONS",
            "/rest/v1/items",
            &[
                ("origin", "http://localhost:8000"),
                ("accept", "text/csv, */*; q=0.01"),
            ],
            None,
        )
        .await;
    expect_status(&r, 200);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert_eq!(
        r.header("allow"),
        Some("OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE")
    );
    let r = app.send("OPTIONS", "/rest/v1/unknown", &[], None).await;
    expect_status(&r, 404);
    assert_eq!(r.json(), json!({}));
}

#[tokio::test]
async fn a_header_set_twice_in_response_headers_is_sent_twice() {
    let app = TestApp::new(SCHEMA).await;
    let r = app.get("/rest/v1/rpc/set_cookie_twice").await;
    expect_status(&r, 204);
    assert_eq!(r.header("content-type"), None);
    let cookies: Vec<&str> = r
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert_eq!(
        cookies,
        [
            "sessionid=38afes7a8; HttpOnly; Path=/",
            "id=a3fWa; Expires=Wed, 21 Oct 2015 07:28:00 GMT; Secure; HttpOnly"
        ]
    );
}

#[tokio::test]
async fn an_unknown_prefer_timezone_is_ignored_or_refused_never_a_500() {
    let app = TestApp::new(
        &(SCHEMA.to_string()
            + "create table public.stamps (id int primary key, at timestamptz);
               insert into public.stamps values (1, '2024-01-01 12:00:00+00');
               grant all on public.stamps to anon;"),
    )
    .await;
    let r = app
        .get_with(
            "/rest/v1/stamps?select=at",
            &[("prefer", "timezone=America/Los_Angeles")],
        )
        .await;
    expect_status(&r, 200);
    assert_eq!(r.json(), json!([{"at": "2024-01-01T04:00:00-08:00"}]));
    assert_eq!(
        r.header("preference-applied"),
        Some("timezone=America/Los_Angeles")
    );

    // lenient (the default): ignored, the session's zone stays
    let r = app
        .get_with(
            "/rest/v1/stamps?select=at",
            &[("prefer", "timezone=Mars/Base")],
        )
        .await;
    expect_status(&r, 200);
    assert_eq!(r.header("preference-applied"), None);
    assert_eq!(r.json().as_array().map(Vec::len), Some(1));

    // strict: PGRST122
    let r = app
        .get_with(
            "/rest/v1/stamps?select=at",
            &[("prefer", "handling=strict, timezone=Mars/Base")],
        )
        .await;
    expect_status(&r, 400);
    assert_eq!(r.json()["code"], "PGRST122");
    assert_eq!(
        r.json()["details"],
        "Invalid preferences: timezone=Mars/Base"
    );
}

// ----- group 6: count in select; JSON path keys; arrows on composites and arrays -----

#[tokio::test]
async fn count_as_a_column_counts_rows() {
    let app = TestApp::new(SCHEMA).await;
    let r = app.get("/rest/v1/projects?select=count").await;
    expect_status(&r, 200);
    assert_eq!(r.json(), json!([{"count": 5}]));
    let r = app.get("/rest/v1/projects?select=n:count::text").await;
    assert_eq!(r.json(), json!([{"n": "5"}]));
    let r = app
        .get("/rest/v1/clients?select=name,projects(count)&order=id")
        .await;
    expect_status(&r, 200);
    assert_eq!(
        r.json(),
        json!([{"name":"Microsoft","projects":[{"count":2}]},
               {"name":"Apple","projects":[{"count":2}]}])
    );
    // a table with no project: 0
    let r = app
        .get("/rest/v1/projects?select=id,tasks(count)&id=eq.5")
        .await;
    assert_eq!(r.json(), json!([{"id": 5, "tasks": [{"count": 0}]}]));
    // count() as before
    let r = app.get("/rest/v1/projects?select=count()").await;
    assert_eq!(r.json(), json!([{"count": 5}]));
    // a real column named count stays that column
    let app = TestApp::new(
        "create table public.has_count (id int primary key, count int);
         insert into public.has_count values (1, 10), (2, 20);
         grant usage on schema public to anon; grant select on public.has_count to anon;",
    )
    .await;
    let r = app.get("/rest/v1/has_count?select=count&order=id").await;
    assert_eq!(r.json(), json!([{"count": 10}, {"count": 20}]));
}

#[tokio::test]
async fn json_paths_are_named_by_their_last_key() {
    let app = TestApp::new(SCHEMA).await;
    let r = app
        .get("/rest/v1/shapes?select=data->>0,first:data->0->>k&id=eq.1")
        .await;
    expect_status(&r, 200);
    assert_eq!(
        r.json(),
        json!([{"data": "{\"k\": \"first\"}", "first": "first"}])
    );
    let r = app.get("/rest/v1/shapes?select=data->0->k&id=eq.1").await;
    assert_eq!(r.json(), json!([{"k": "first"}]));
}

#[tokio::test]
async fn arrows_reach_into_composite_and_array_columns() {
    let app = TestApp::new(SCHEMA).await;
    let r = app
        .get("/rest/v1/shapes?select=origin->x,origin->>y&order=id")
        .await;
    expect_status(&r, 200);
    assert_eq!(
        r.json(),
        json!([{"x": 10, "y": "20"}, {"x": 30, "y": "40"}])
    );
    let r = app
        .get("/rest/v1/shapes?select=a:nums->0,b:nums->>2,t:tags->>0&order=id")
        .await;
    assert_eq!(
        r.json(),
        json!([{"a": 7, "b": "9", "t": "a"}, {"a": 1, "b": null, "t": "c"}])
    );
    // filters and order over them
    let r = app.get("/rest/v1/shapes?select=id&origin->>x=eq.30").await;
    assert_eq!(r.json(), json!([{"id": 2}]));
    let r = app.get("/rest/v1/shapes?select=id&nums->0=eq.7").await;
    assert_eq!(r.json(), json!([{"id": 1}]));
    let r = app
        .get("/rest/v1/shapes?select=id&order=origin->x.desc")
        .await;
    assert_eq!(r.json(), json!([{"id": 2}, {"id": 1}]));
}

// ----- group 7: PGRST202 wording, details and hints -----

#[tokio::test]
async fn unknown_functions_are_worded_as_in_v12() {
    let app = TestApp::new(
        &(SCHEMA.to_string()
            + "create function public.sayhello(name text) returns text language sql
                 as $$ select 'Hello, ' || name $$;
               create function public.overloaded() returns int language sql as $$ select 1 $$;
               create function public.overloaded(a int, b int) returns int language sql
                 as $$ select a + b $$;
               create function public.overloaded(a text, b text, c text) returns text
                 language sql as $$ select a || b || c $$;
               grant execute on all functions in schema public to anon;"),
    )
    .await;
    let cases: &[(&str, &str, &str, &str, serde_json::Value)] = &[
        (
            "GET",
            "/rest/v1/rpc/sayhell",
            "Could not find the function public.sayhell without parameters in the schema cache",
            "Searched for the function public.sayhell without parameters, but no matches were found in the schema cache.",
            json!("Perhaps you meant to call the function public.sayhello"),
        ),
        (
            "GET",
            "/rest/v1/rpc/sayhello?nam=Peter",
            "Could not find the function public.sayhello(nam) in the schema cache",
            "Searched for the function public.sayhello with parameter nam, but no matches were found in the schema cache.",
            json!("Perhaps you meant to call the function public.sayhello(name)"),
        ),
        (
            "GET",
            "/rest/v1/rpc/add_them?a=1&b=2&smthelse=blabla",
            "Could not find the function public.add_them(a, b, smthelse) in the schema cache",
            "Searched for the function public.add_them with parameters a, b, smthelse, but no matches were found in the schema cache.",
            json!("Perhaps you meant to call the function public.add_them(a, b)"),
        ),
        (
            "GET",
            "/rest/v1/rpc/overloaded?wrong_arg=value",
            "Could not find the function public.overloaded(wrong_arg) in the schema cache",
            "Searched for the function public.overloaded with parameter wrong_arg, but no matches were found in the schema cache.",
            json!(null),
        ),
        (
            "GET",
            "/rest/v1/rpc/overloaded?a=1&b=2&wrong_arg=value",
            "Could not find the function public.overloaded(a, b, wrong_arg) in the schema cache",
            "Searched for the function public.overloaded with parameters a, b, wrong_arg, but no matches were found in the schema cache.",
            json!("Perhaps you meant to call the function public.overloaded(a, b, c)"),
        ),
    ];
    for (method, uri, message, details, hint) in cases {
        let r = app.send(method, uri, &[], None).await;
        expect_status(&r, 404);
        assert_eq!(
            r.json(),
            json!({"code": "PGRST202", "message": message, "details": details, "hint": hint}),
            "{uri}"
        );
    }
    // a JSON body may also go to a single unnamed json/jsonb parameter
    let r = app
        .send(
            "POST",
            "/rest/v1/rpc/add_them",
            &[],
            Some(r#"{"x": 1, "y": 2}"#),
        )
        .await;
    expect_status(&r, 404);
    assert_eq!(
        r.json(),
        json!({"code": "PGRST202",
               "message": "Could not find the function public.add_them(x, y) in the schema cache",
               "details": "Searched for the function public.add_them with parameters x, y or with a single unnamed json/jsonb parameter, but no matches were found in the schema cache.",
               "hint": "Perhaps you meant to call the function public.add_them(a, b)"})
    );
    // a raw text body looks for one unnamed text parameter, with no hint
    let r = app
        .send(
            "POST",
            "/rest/v1/rpc/add_them",
            &[("content-type", "text/plain")],
            Some("a simple text"),
        )
        .await;
    expect_status(&r, 404);
    assert_eq!(
        r.json(),
        json!({"code": "PGRST202",
               "message": "Could not find the function public.add_them in the schema cache",
               "details": "Searched for the function public.add_them with a single unnamed text parameter, but no matches were found in the schema cache.",
               "hint": null})
    );
}
