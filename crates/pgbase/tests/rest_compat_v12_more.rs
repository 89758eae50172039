//! More PostgREST 12.2 behaviours (issue #11), as our own cases through the router against a
//! real database: writes on tables where the role may read only some columns, RPC arguments and
//! raw results, data representations (domain casts), and the small answers the v12.2.12 spec
//! replay (`compat/postgrest`) found different.

mod common;

use common::{TestApp, expect_status};
use serde_json::{Value, json};

#[track_caller]
fn expect_json(r: &common::TestResponse, status: u16, body: Value) {
    expect_status(r, status);
    assert_eq!(r.json(), body, "body: {}", r.text);
}

// ----- writes with column privileges -----

const COLUMN_PRIVILEGES: &str = r#"
create table public.members (
  id int primary key, login text not null, secret text not null
);
insert into public.members values (1, 'ann', 's1'), (2, 'bob', 's2'), (3, 'cid', 's3');
create table public.drop_box (note text);
grant usage on schema public to anon;
revoke all on public.members, public.drop_box from anon, authenticated, public;
grant select (id, login) on public.members to anon;
grant insert, update, delete on public.members to anon;
grant insert on public.drop_box to anon;
"#;

#[tokio::test]
async fn writes_need_select_only_on_the_columns_they_return() {
    let app = TestApp::new(COLUMN_PRIVILEGES).await;
    let minimal = [("Prefer", "return=minimal")];
    let representation = [("Prefer", "return=representation")];

    // an insert-only table takes rows when nothing is returned
    let r = app
        .send(
            "POST",
            "/rest/v1/drop_box",
            &minimal,
            Some(r#"{"note":"hi"}"#),
        )
        .await;
    expect_status(&r, 201);

    // insert: returning only the readable columns works, all columns is 42501
    let r = app
        .send(
            "POST",
            "/rest/v1/members?select=id,login",
            &representation,
            Some(r#"{"id":4,"login":"dan","secret":"s4"}"#),
        )
        .await;
    expect_json(&r, 201, json!([{"id": 4, "login": "dan"}]));
    let r = app
        .send(
            "POST",
            "/rest/v1/members",
            &representation,
            Some(r#"{"id":5,"login":"eve","secret":"s5"}"#),
        )
        .await;
    expect_status(&r, 401);
    assert_eq!(r.json()["code"], "42501", "{}", r.text);
    let r = app
        .send(
            "POST",
            "/rest/v1/members",
            &minimal,
            Some(r#"{"id":5,"login":"eve","secret":"s5"}"#),
        )
        .await;
    expect_status(&r, 201);

    // update: by a readable column, minimal and narrowed representation
    let r = app
        .send(
            "PATCH",
            "/rest/v1/members?id=eq.1",
            &minimal,
            Some(r#"{"secret":"x"}"#),
        )
        .await;
    expect_status(&r, 204);
    let r = app
        .send(
            "PATCH",
            "/rest/v1/members?id=eq.1",
            &[],
            Some(r#"{"secret":"y"}"#),
        )
        .await;
    expect_status(&r, 204);
    let r = app
        .send(
            "PATCH",
            "/rest/v1/members?id=eq.2&select=login",
            &representation,
            Some(r#"{"secret":"z"}"#),
        )
        .await;
    expect_json(&r, 200, json!([{"login": "bob"}]));

    // an empty object changes nothing, reading only the selected columns
    let r = app
        .send(
            "PATCH",
            "/rest/v1/members?id=eq.2&select=id",
            &representation,
            Some("{}"),
        )
        .await;
    expect_json(&r, 200, json!([]));

    // delete: narrowed representation and minimal work, every column does not
    let r = app
        .send("DELETE", "/rest/v1/members?id=eq.3", &representation, None)
        .await;
    expect_status(&r, 401);
    let r = app
        .send(
            "DELETE",
            "/rest/v1/members?id=eq.3&select=id,login",
            &representation,
            None,
        )
        .await;
    expect_json(&r, 200, json!([{"id": 3, "login": "cid"}]));
    let r = app
        .send("DELETE", "/rest/v1/members?id=eq.2", &minimal, None)
        .await;
    expect_status(&r, 204);

    let secrets = app
        .sql_texts("select id || ':' || secret from public.members order by id")
        .await;
    assert_eq!(
        secrets,
        vec![Some("1:y".into()), Some("4:s4".into()), Some("5:s5".into())]
    );
}

// ----- RPC arguments and results -----

const RPC: &str = r#"
create table public.gadgets (id int primary key, name text, owner_id int);
insert into public.gadgets select g, 'gadget ' || g, 1 from generate_series(1, 15) g;
create function public.gadget_range(lo int, hi int) returns setof public.gadgets
  language sql stable as $$ select * from public.gadgets where id > lo and id <= hi $$;
create function public.words(variadic w text[] default '{}') returns text[]
  language sql immutable as $$ select w $$;
create function public.greet_all(who text, variadic rest text[]) returns text
  language sql immutable as $$ select 'Hi, ' || who $$;
create function public.greet(who text) returns text
  language sql immutable as $$ select 'Hi, ' || who $$;
create function public.sum_all(nums int[]) returns int
  language sql immutable as $$ select coalesce(sum(n), 0)::int from unnest(nums) n $$;
create function public.one_record() returns record
  language sql stable as $$ select id, name from public.gadgets where id = 1 $$;
create function public.some_records(below int) returns setof record
  language sql stable as $$ select id, name from public.gadgets where id < below order by id $$;
create function public.kind_of(arg json) returns text
  language sql immutable as $$ select json_typeof(arg) $$;
create function public.echo_overloaded(json) returns json
  language sql immutable as $$ select $1 $$;
create function public.echo_overloaded(a int, b int) returns int
  language sql immutable as $$ select a + b $$;
grant usage on schema public to anon;
grant select on public.gadgets to anon;
"#;

#[tokio::test]
async fn variadic_and_repeated_parameters() {
    let app = TestApp::new(RPC).await;
    let r = app
        .send(
            "POST",
            "/rest/v1/rpc/words",
            &[],
            Some(r#"{"w":["a","b","c"]}"#),
        )
        .await;
    expect_json(&r, 200, json!(["a", "b", "c"]));
    let r = app.get("/rest/v1/rpc/words").await;
    expect_json(&r, 200, json!([]));
    let r = app.get("/rest/v1/rpc/words?w=hi").await;
    expect_json(&r, 200, json!(["hi"]));
    let r = app.get("/rest/v1/rpc/words?w=hi&w=there").await;
    expect_json(&r, 200, json!(["hi", "there"]));
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    let r = app
        .send("POST", "/rest/v1/rpc/words", &form, Some("w=hi&w=there"))
        .await;
    expect_json(&r, 200, json!(["hi", "there"]));
    // a repeated non-variadic parameter takes its last value
    let r = app.get("/rest/v1/rpc/greet?who=ignored&who=world").await;
    expect_json(&r, 200, json!("Hi, world"));
    let r = app
        .get("/rest/v1/rpc/greet_all?who=ignored&who=world&rest=x")
        .await;
    expect_json(&r, 200, json!("Hi, world"));
    // an array parameter that is not variadic takes an array literal
    let r = app.get("/rest/v1/rpc/sum_all?nums={1,2}").await;
    expect_json(&r, 200, json!(3));
}

#[tokio::test]
async fn functions_returning_record() {
    let app = TestApp::new(RPC).await;
    let r = app.send("POST", "/rest/v1/rpc/one_record", &[], None).await;
    expect_json(&r, 200, json!({"id": 1, "name": "gadget 1"}));
    let r = app
        .send(
            "POST",
            "/rest/v1/rpc/some_records",
            &[],
            Some(r#"{"below":3}"#),
        )
        .await;
    expect_json(
        &r,
        200,
        json!([{"id": 1, "name": "gadget 1"}, {"id": 2, "name": "gadget 2"}]),
    );
}

#[tokio::test]
async fn an_offset_past_the_rpc_results_is_416_with_count_exact() {
    let app = TestApp::new(RPC).await;
    let exact = [("Prefer", "count=exact")];
    let r = app
        .get_with("/rest/v1/rpc/gadget_range?offset=1&lo=2&hi=2", &exact)
        .await;
    expect_json(
        &r,
        416,
        json!({"code": "PGRST103", "message": "Requested range not satisfiable",
               "details": "An offset of 1 was requested, but there are only 0 rows.",
               "hint": null}),
    );
    assert_eq!(r.header("content-range"), Some("*/0"));
    let r = app
        .get_with("/rest/v1/rpc/gadget_range?offset=100&lo=0&hi=15", &exact)
        .await;
    expect_status(&r, 416);
    assert_eq!(r.header("content-range"), Some("*/15"));
    // within range it is fine
    let r = app
        .get_with(
            "/rest/v1/rpc/gadget_range?offset=14&lo=0&hi=15&select=id",
            &exact,
        )
        .await;
    expect_json(&r, 206, json!([{"id": 15}]));
}

#[tokio::test]
async fn json_arguments_and_a_single_unnamed_json_overload() {
    let app = TestApp::new(RPC).await;
    // a JSON string stays a string
    let r = app
        .send(
            "POST",
            "/rest/v1/rpc/kind_of",
            &[],
            Some(r#"{"arg":"{ \"key\": 3 }"}"#),
        )
        .await;
    expect_json(&r, 200, json!("string"));
    let r = app
        .send(
            "POST",
            "/rest/v1/rpc/kind_of",
            &[],
            Some(r#"{"arg":{"key":3}}"#),
        )
        .await;
    expect_json(&r, 200, json!("object"));
    // named arguments pick the named overload, anything else the unnamed json one
    let r = app
        .send(
            "POST",
            "/rest/v1/rpc/echo_overloaded",
            &[],
            Some(r#"{"a":1,"b":2}"#),
        )
        .await;
    expect_json(&r, 200, json!(3));
    let r = app
        .send(
            "POST",
            "/rest/v1/rpc/echo_overloaded",
            &[],
            Some(r#"{"x":1,"y":2}"#),
        )
        .await;
    expect_json(&r, 200, json!({"x": 1, "y": 2}));
}

// ----- raw media types -----

const RAW: &str = r#"
create function public.hello() returns text
  language sql immutable as $$ select 'Hello, raw world' $$;
create function public.page() returns xml
  language sql immutable as $$ select '<p>hi</p>'::xml $$;
create function public.blob() returns bytea
  language sql immutable as $$ select '\x00ff10'::bytea $$;
create function public.numbers() returns setof int
  language sql immutable as $$ select generate_series(1, 3) $$;
create table public.notes (id int primary key, body text);
insert into public.notes values (1, 'one');
grant usage on schema public to anon;
grant select on public.notes to anon;
"#;

#[tokio::test]
async fn scalar_function_results_go_out_raw_by_accept() {
    let app = TestApp::new(RAW).await;
    let r = app
        .get_with("/rest/v1/rpc/hello", &[("Accept", "text/plain")])
        .await;
    expect_status(&r, 200);
    assert_eq!(r.text, "Hello, raw world");
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    let r = app
        .get_with("/rest/v1/rpc/page", &[("Accept", "text/xml")])
        .await;
    expect_status(&r, 200);
    assert_eq!(r.text, "<p>hi</p>");
    assert_eq!(r.header("content-type"), Some("text/xml; charset=utf-8"));
    let r = app
        .get_with(
            "/rest/v1/rpc/blob",
            &[("Accept", "application/octet-stream")],
        )
        .await;
    expect_status(&r, 200);
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    assert_eq!(r.text.as_bytes(), b"\x00\xef\xbf\xbd\x10"); // lossy: 0xff is not UTF-8
    // */* still means JSON
    let r = app.get("/rest/v1/rpc/hello").await;
    expect_json(&r, 200, json!("Hello, raw world"));
    // a result of another type is PGRST107
    let r = app
        .get_with("/rest/v1/rpc/hello", &[("Accept", "text/xml")])
        .await;
    expect_json(
        &r,
        406,
        json!({"code": "PGRST107", "details": null, "hint": null,
               "message": "None of these media types are available: text/xml"}),
    );
    let r = app
        .get_with("/rest/v1/rpc/numbers", &[("Accept", "text/plain")])
        .await;
    expect_status(&r, 406);
    // tables have no raw output
    let r = app
        .get_with("/rest/v1/notes?select=body", &[("Accept", "text/plain")])
        .await;
    expect_status(&r, 406);
}

const DOMAIN_MEDIA: &str = r#"
create domain public."text/html" as text;
create domain public."image/png" as bytea;
create function public.welcome() returns public."text/html"
  language sql immutable as $$ select '<h1>Welcome</h1>' $$;
create function public.pixel() returns public."image/png"
  language sql immutable as $$ select '\x89504e47'::bytea $$;
create function public.plain() returns text
  language sql immutable as $$ select 'plain' $$;
create table public.things (id int primary key);
insert into public.things values (1);
create function public.all_things() returns setof public.things
  language sql stable as $$ select * from public.things $$;
grant usage on schema public to anon;
grant select on public.things to anon;
"#;

#[tokio::test]
async fn a_domain_named_after_a_media_type_is_sent_raw_when_accepted() {
    let app = TestApp::new(DOMAIN_MEDIA).await;
    let r = app
        .get_with("/rest/v1/rpc/welcome", &[("Accept", "text/html")])
        .await;
    expect_status(&r, 200);
    assert_eq!(r.text, "<h1>Welcome</h1>");
    assert_eq!(r.header("content-type"), Some("text/html"));
    let r = app
        .get_with("/rest/v1/rpc/pixel", &[("Accept", "image/png, */*")])
        .await;
    expect_status(&r, 200);
    assert_eq!(r.header("content-type"), Some("image/png"));
    assert!(r.text.ends_with("PNG"), "{:?}", r.text.as_bytes());
    // a browser's Accept header still gets JSON from a function returning rows
    let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    let r = app
        .get_with("/rest/v1/rpc/all_things", &[("Accept", browser)])
        .await;
    expect_json(&r, 200, json!([{"id": 1}]));
    // text/plain before JSON: raw for a text result, JSON otherwise
    let both = [("Accept", "text/plain, application/json")];
    let r = app.get_with("/rest/v1/rpc/plain", &both).await;
    assert_eq!((r.status.as_u16(), r.text.as_str()), (200, "plain"));
    let r = app.get_with("/rest/v1/rpc/all_things", &both).await;
    expect_json(&r, 200, json!([{"id": 1}]));
    // a media type the function does not return
    let r = app
        .get_with("/rest/v1/rpc/plain", &[("Accept", "image/png")])
        .await;
    expect_status(&r, 406);
    assert_eq!(r.json()["code"], "PGRST107");
}

// ----- configuration -----

const CONFIG: &str = r#"
set check_function_bodies = off;
create schema extras;
create function extras.shout(t text) returns text
  language sql immutable as $$ select upper(t) || '!' $$;
create table public.tunes (id int primary key, title text, plays int);
insert into public.tunes values (1, 'a', 3), (2, 'b', 4);
create function public.loud_title(id int) returns text
  language sql stable as $$ select shout(title) from public.tunes where tunes.id = loud_title.id $$;
create function public.setting(name text) returns text
  language sql stable as $$ select current_setting('app.settings.' || name, true) $$;
grant usage on schema public, extras to anon;
grant select on public.tunes to anon;
grant execute on function extras.shout(text) to anon;
"#;

#[tokio::test]
async fn extra_search_path_app_settings_and_aggregates_switch() {
    let settings = pgbase::config::Settings {
        db_extra_search_path: Some("public, extras".into()),
        db_aggregates_enabled: Some(false),
        app_settings: Some("greeting=hello there; mode=test".into()),
        ..Default::default()
    };
    let app = TestApp::with_settings(CONFIG, settings).await;
    // an unqualified function of an extra schema resolves inside a request
    let r = app.get("/rest/v1/rpc/loud_title?id=1").await;
    expect_json(&r, 200, json!("A!"));
    // app.settings.* are set per request
    let r = app.get("/rest/v1/rpc/setting?name=greeting").await;
    expect_json(&r, 200, json!("hello there"));
    let r = app.get("/rest/v1/rpc/setting?name=mode").await;
    expect_json(&r, 200, json!("test"));
    // aggregates off: PGRST123, plain reads still work
    let r = app.get("/rest/v1/tunes?select=plays.sum()").await;
    expect_json(
        &r,
        400,
        json!({"code": "PGRST123", "message": "Use of aggregate functions is not allowed",
               "details": null, "hint": null}),
    );
    let r = app.get("/rest/v1/tunes?select=id&order=id").await;
    expect_json(&r, 200, json!([{"id": 1}, {"id": 2}]));

    // by default: no extra schema beyond public, aggregates on
    let app = TestApp::new(CONFIG).await;
    let r = app.get("/rest/v1/rpc/loud_title?id=1").await;
    expect_status(&r, 404);
    let r = app.get("/rest/v1/tunes?select=plays.sum()").await;
    expect_json(&r, 200, json!([{"sum": 7}]));
}

#[tokio::test]
async fn operators_of_an_extension_in_an_extra_schema_work_in_filters() {
    const LTREE: &str = r#"
create schema ext;
create extension ltree schema ext;
create table public.topics (path ext.ltree primary key);
insert into public.topics values ('Top.Science'), ('Top.Science.Astronomy'), ('Top.Art');
grant usage on schema public, ext to anon;
grant select on public.topics to anon;
"#;
    let settings = pgbase::config::Settings {
        db_extra_search_path: Some("public, ext".into()),
        ..Default::default()
    };
    let app = TestApp::with_settings(LTREE, settings).await;
    // `cd` is ltree's `<@`, found only on the request's search_path: the statement is
    // prepared inside the transaction the first time, from the cache afterwards
    for _ in 0..3 {
        let r = app
            .get("/rest/v1/topics?path=cd.Top.Science&order=path")
            .await;
        expect_json(
            &r,
            200,
            json!([{"path": "Top.Science"}, {"path": "Top.Science.Astronomy"}]),
        );
    }
    // without the extra schema ltree's operator is out of reach: Postgres cannot pick one
    let app = TestApp::new(LTREE).await;
    let r = app.get("/rest/v1/topics?path=cd.Top.Science").await;
    assert_eq!(r.json()["code"], "42725", "{}", r.text);
}

// ----- data representations: writes through a `json` → domain cast function -----

const REPRESENTATIONS: &str = r#"
create domain public.rgb as int check (value between 0 and 16777215);
create function public.rgb(json) returns public.rgb language sql immutable as $$
  select ('x' || lpad(ltrim($1 #>> '{}', '#'), 8, '0'))::bit(32)::int::public.rgb $$;
create function public.json(public.rgb) returns json language sql immutable as $$
  select to_json('#' || lpad(upper(to_hex($1::int)), 6, '0')) $$;
create function public.rgb(text) returns public.rgb language sql immutable as $$
  select ('x' || lpad(ltrim($1, '#'), 8, '0'))::bit(32)::int::public.rgb $$;
create cast (json as public.rgb) with function public.rgb(json) as implicit;
create cast (text as public.rgb) with function public.rgb(text) as implicit;
create cast (public.rgb as json) with function public.json(public.rgb) as implicit;
create table public.swatches (id int primary key, name text, shade public.rgb default 0);
insert into public.swatches values (1, 'ink', 0), (2, 'snow', 16777215);
grant usage on schema public to anon;
grant select, insert, update on public.swatches to anon;
"#;

#[tokio::test]
async fn represented_domains_go_through_their_cast_functions() {
    let app = TestApp::new(REPRESENTATIONS).await;
    let representation = [("Prefer", "return=representation")];
    // PATCH: the JSON string goes through public.rgb(json), not the integer's text input
    let r = app
        .send(
            "PATCH",
            "/rest/v1/swatches?id=eq.1&select=id,shade",
            &representation,
            Some(r##"{"shade":"#00FF10"}"##),
        )
        .await;
    expect_json(&r, 200, json!([{"id": 1, "shade": "#00FF10"}]));
    // POST with several rows, each converted
    let r = app
        .send(
            "POST",
            "/rest/v1/swatches?select=id,shade",
            &representation,
            Some(r##"[{"id":3,"name":"sky","shade":"#0000FF"},{"id":4,"name":"red","shade":"FF0000"}]"##),
        )
        .await;
    expect_json(
        &r,
        201,
        json!([{"id": 3, "shade": "#0000FF"}, {"id": 4, "shade": "#FF0000"}]),
    );
    // a represented key outside `columns` is ignored, not parsed
    let r = app
        .send(
            "PATCH",
            "/rest/v1/swatches?id=eq.2&columns=name&select=id,name,shade",
            &representation,
            Some(r#"{"name":"white","shade":"not a colour"}"#),
        )
        .await;
    expect_json(
        &r,
        200,
        json!([{"id": 2, "name": "white", "shade": "#FFFFFF"}]),
    );
    // the stored value is the domain's integer
    assert_eq!(
        app.sql_texts("select shade::int::text from public.swatches order by id")
            .await,
        vec![
            Some("65296".to_string()),
            Some("16777215".to_string()),
            Some("255".to_string()),
            Some("16711680".to_string())
        ]
    );

    // reads: `*` and named columns go out through the domain → json function, filter values
    // come in through the text → domain one
    let r = app.get("/rest/v1/swatches?id=lt.3&order=id").await;
    expect_json(
        &r,
        200,
        json!([{"id": 1, "name": "ink", "shade": "#00FF10"},
               {"id": 2, "name": "white", "shade": "#FFFFFF"}]),
    );
    let r = app
        .get("/rest/v1/swatches?select=id,tone:shade&shade=eq.0000FF")
        .await;
    expect_json(&r, 200, json!([{"id": 3, "tone": "#0000FF"}]));
    let r = app
        .get("/rest/v1/swatches?select=id&shade=in.(FF0000,00FF10)&order=id")
        .await;
    expect_json(&r, 200, json!([{"id": 1}, {"id": 4}]));
    let r = app
        .get("/rest/v1/swatches?select=id,shade::text&id=eq.4")
        .await;
    expect_json(&r, 200, json!([{"id": 4, "shade": "\"#FF0000\""}]));
}

// ----- small v12 answers: RAISE 'PGRST' parse errors, negative offset -----

const SMALL: &str = r#"
create table public.steps (id int primary key);
insert into public.steps select generate_series(1, 3);
create function public.bad_raise(which text) returns void language plpgsql as $$
begin
  if which = 'message' then
    raise sqlstate 'PGRST' using message = 'nope', detail = '{"status":400,"headers":{}}';
  elsif which = 'nodetail' then
    raise sqlstate 'PGRST' using message = '{"code":"X1","message":"m"}';
  else
    raise sqlstate 'PGRST' using message = '{"code":"X1","message":"m"}', detail = 'nope';
  end if;
end $$;
grant usage on schema public to anon;
grant select on public.steps to anon;
grant execute on function public.bad_raise(text) to anon;
"#;

#[tokio::test]
async fn pgrst_raise_parse_errors_name_the_part_and_negative_offsets_are_ignored() {
    let app = TestApp::new(SMALL).await;
    let message_hint = "MESSAGE must be a JSON object with obligatory keys: 'code', 'message' and optional keys: 'details', 'hint'.";
    let detail_hint = "DETAIL must be a JSON object with obligatory keys: 'status', 'headers' and optional key: 'status_text'.";
    for (which, details, hint) in [
        (
            "message",
            "Invalid JSON value for MESSAGE: 'nope'",
            message_hint,
        ),
        (
            "nodetail",
            "DETAIL is missing in the RAISE statement",
            detail_hint,
        ),
        (
            "detail",
            "Invalid JSON value for DETAIL: 'nope'",
            detail_hint,
        ),
    ] {
        let r = app
            .get(&format!("/rest/v1/rpc/bad_raise?which={which}"))
            .await;
        expect_json(
            &r,
            500,
            json!({"code": "PGRST121",
                   "message": "Could not parse JSON in the \"RAISE SQLSTATE 'PGRST'\" error",
                   "details": details, "hint": hint}),
        );
    }
    let r = app.get("/rest/v1/steps?offset=-2&order=id").await;
    expect_json(&r, 200, json!([{"id": 1}, {"id": 2}, {"id": 3}]));
    let r = app.get("/rest/v1/steps?limit=-2").await;
    expect_status(&r, 416);
}

// ----- a function returning a domain named like a built-in raw media type -----

const NAMED_DOMAINS: &str = r#"
create domain public."text/plain" as text;
create domain public."text/xml" as xml;
create function public.greet() returns public."text/plain" language sql as
  $$ select 'hi there'::public."text/plain" $$;
create function public.echo(text) returns public."text/plain" language sql as
  $$ select $1::public."text/plain" $$;
create function public.greet_twice() returns setof public."text/plain" language sql as
  $$ select 'a'::public."text/plain" union all select 'b' $$;
create function public.note() returns public."text/xml" language sql as
  $$ select '<n>1</n>'::xml::public."text/xml" $$;
grant usage on schema public to anon;
grant execute on all functions in schema public to anon;
"#;

#[tokio::test]
async fn domains_named_text_plain_or_text_xml_answer_those_accepts_raw() {
    let app = TestApp::new(NAMED_DOMAINS).await;
    let r = app
        .get_with("/rest/v1/rpc/greet", &[("Accept", "text/plain")])
        .await;
    expect_status(&r, 200);
    assert_eq!(r.text, "hi there");
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    let r = app
        .get_with("/rest/v1/rpc/note", &[("Accept", "text/xml")])
        .await;
    expect_status(&r, 200);
    assert_eq!(r.text, "<n>1</n>");
    // a raw text body for the single unnamed parameter, answered raw
    let r = app
        .send(
            "POST",
            "/rest/v1/rpc/echo",
            &[("Content-Type", "text/plain"), ("Accept", "text/plain")],
            Some("plain words"),
        )
        .await;
    expect_status(&r, 200);
    assert_eq!(r.text, "plain words");
    // a set of them is not one text/plain value
    let r = app
        .get_with("/rest/v1/rpc/greet_twice", &[("Accept", "text/plain")])
        .await;
    expect_status(&r, 406);
    // JSON is still what an application/json Accept gets
    let r = app
        .get_with("/rest/v1/rpc/greet", &[("Accept", "application/json")])
        .await;
    expect_json(&r, 200, json!("hi there"));
}

// ----- a cast before an aggregate -----

const CAST_AGGREGATE: &str = r#"
create table public.bags (id int primary key, info jsonb);
insert into public.bags values (1, '{"n": "5"}'), (2, '{"n": "7"}');
grant usage on schema public to anon;
grant select on public.bags to anon;
"#;

#[tokio::test]
async fn a_cast_before_an_aggregate_applies_to_the_column() {
    let settings = pgbase::config::Settings {
        db_aggregates_enabled: Some(true),
        ..Default::default()
    };
    let app = TestApp::with_settings(CAST_AGGREGATE, settings).await;
    let r = app.get("/rest/v1/bags?select=info->>n::int.sum()").await;
    expect_json(&r, 200, json!([{"sum": 12}]));
    let r = app
        .get("/rest/v1/bags?select=total:info->>n::int.sum()::text")
        .await;
    expect_json(&r, 200, json!([{"total": "12"}]));
}

// ----- resolution= on a table without a primary key -----

const NO_KEY: &str = r#"
create table public.tallies (a text, b text);
create table public.keyed (id int primary key);
grant usage on schema public to anon;
grant select, insert, update on public.tallies, public.keyed to anon;
"#;

#[tokio::test]
async fn a_resolution_without_a_conflict_target_is_not_reported_applied() {
    let app = TestApp::new(NO_KEY).await;
    let r = app
        .send(
            "POST",
            "/rest/v1/tallies",
            &[
                ("Prefer", "return=representation"),
                ("Prefer", "resolution=merge-duplicates"),
            ],
            Some(r#"[{"a":"1","b":"0"}]"#),
        )
        .await;
    expect_json(&r, 201, json!([{"a": "1", "b": "0"}]));
    assert_eq!(
        r.header("preference-applied"),
        Some("return=representation")
    );
    // a conflict target makes it count
    let r = app
        .send(
            "POST",
            "/rest/v1/keyed",
            &[("Prefer", "resolution=merge-duplicates")],
            Some(r#"[{"id":1}]"#),
        )
        .await;
    expect_status(&r, 201);
    assert_eq!(
        r.header("preference-applied"),
        Some("resolution=merge-duplicates")
    );
}

// ----- ?columns= on a function call -----

const COLUMNS_CALL: &str = r#"
create function public.hello(name text) returns text language sql as $$ select 'Hello, ' || name $$;
grant usage on schema public to anon;
grant execute on function public.hello(text) to anon;
"#;

#[tokio::test]
async fn columns_pick_the_arguments_of_a_call_from_the_body() {
    let app = TestApp::new(COLUMNS_CALL).await;
    let r = app
        .send(
            "POST",
            "/rest/v1/rpc/hello?columns=name",
            &[],
            Some(r#"{"name":"Ann","extra":"x","other":1}"#),
        )
        .await;
    expect_json(&r, 200, json!("Hello, Ann"));
    // without columns the extra keys are looked for as parameters
    let r = app
        .send(
            "POST",
            "/rest/v1/rpc/hello",
            &[],
            Some(r#"{"name":"Ann","extra":"x"}"#),
        )
        .await;
    expect_status(&r, 404);
}

// ----- db_pre_request and db_tx_end -----

const PRE_REQUEST: &str = r#"
create table public.notes (id int primary key, body text);
insert into public.notes values (1, 'first');
grant usage on schema public to anon;
grant select, insert on public.notes to anon;
create function public.whoami() returns text language sql as $$ select current_user::text $$;
grant execute on function public.whoami() to anon;
create schema gatekeeping;
grant usage on schema gatekeeping to anon;
create function gatekeeping.gate() returns void language plpgsql as $$
declare
  headers json := current_setting('request.headers', true)::json;
begin
  if headers->>'x-blocked' is not null then
    raise sqlstate 'PT402' using message = 'Payment Required',
      detail = 'blocked by the gate', hint = 'pay up';
  end if;
  if headers->>'x-role' = 'gate_boss' then
    execute 'set local role gate_boss';
  end if;
  perform set_config('response.headers',
    json_build_array(json_build_object('X-Gate',
      current_setting('request.method') || ' ' || current_setting('request.path')))::text, true);
end $$;
grant execute on function gatekeeping.gate() to anon;
"#;

/// A write the gate refuses when it is configured.
async fn post_blocked_note(app: &TestApp) -> common::TestResponse {
    app.send(
        "POST",
        "/rest/v1/notes",
        &[("x-blocked", "1")],
        Some(r#"{"id":2,"body":"x"}"#),
    )
    .await
}

/// A GraphQL request the gate refuses: its error, no data.
async fn expect_graphql_refused_by_the_gate(app: &TestApp, body: &str) {
    let r = app
        .send("POST", "/graphql/v1", &[("x-blocked", "1")], Some(body))
        .await;
    assert!(
        r.text.contains("Payment Required") && r.json()["data"].is_null(),
        "{}",
        r.text
    );
}

/// The role the gate switches to (roles are cluster-wide: only one test creates it).
const BOSS: &str =
    "create role gate_boss nologin; grant anon to gate_boss; grant gate_boss to current_user;";

#[tokio::test]
async fn a_pre_request_function_runs_before_every_rest_and_graphql_request() {
    let settings = pgbase::config::Settings {
        db_pre_request: Some("gatekeeping.gate".into()),
        ..Default::default()
    };
    let app = TestApp::with_settings(&format!("{BOSS}{PRE_REQUEST}"), settings).await;

    // it runs after the request settings (it reads method and path) and its headers reach
    // the response
    let r = app.get("/rest/v1/notes?select=id,body").await;
    expect_json(&r, 200, json!([{"id": 1, "body": "first"}]));
    assert_eq!(r.header("x-gate"), Some("GET /notes"), "{:?}", r.headers);

    // raising PT402 refuses the request with that status, in PostgREST's error shape, and
    // a refused write writes nothing
    let r = post_blocked_note(&app).await;
    expect_json(
        &r,
        402,
        json!({"code": "PT402", "message": "Payment Required",
               "details": "blocked by the gate", "hint": "pay up"}),
    );
    let r = app.get("/rest/v1/notes?select=id").await;
    expect_json(&r, 200, json!([{"id": 1}]));

    // it can change the role the request's statements run as
    let r = app.get("/rest/v1/rpc/whoami").await;
    expect_json(&r, 200, json!("anon"));
    let r = app
        .get_with("/rest/v1/rpc/whoami", &[("x-role", "gate_boss")])
        .await;
    expect_json(&r, 200, json!("gate_boss"));

    // GraphQL requests call it too
    let query = json!({"query": "{ notesCollection { edges { node { id } } } }"}).to_string();
    expect_graphql_refused_by_the_gate(&app, &query).await;
    let r = app.send("POST", "/graphql/v1", &[], Some(&query)).await;
    expect_status(&r, 200);
    assert_eq!(
        r.json()["data"]["notesCollection"]["edges"][0]["node"]["id"],
        1,
        "{}",
        r.text
    );
    // even a document that needs no SQL (answered from the schema alone) is refused by it
    let typename = json!({"query": "{ __typename }"}).to_string();
    expect_graphql_refused_by_the_gate(&app, &typename).await;
    let r = app.send("POST", "/graphql/v1", &[], Some(&typename)).await;
    expect_json(&r, 200, json!({"data": {"__typename": "Query"}}));

    // without the setting nothing is called
    let app = TestApp::new(PRE_REQUEST).await;
    let r = post_blocked_note(&app).await;
    expect_status(&r, 201);
    assert_eq!(r.header("x-gate"), None);
}

#[tokio::test]
async fn a_missing_pre_request_function_fails_every_request_without_running_it() {
    let settings = pgbase::config::Settings {
        db_pre_request: Some("gatekeeping.no_such_gate".into()),
        ..Default::default()
    };
    let app = TestApp::with_settings(PRE_REQUEST, settings).await;
    let r = app
        .send(
            "POST",
            "/rest/v1/notes",
            &[],
            Some(r#"{"id":3,"body":"x"}"#),
        )
        .await;
    assert_eq!(r.json()["code"], "42883", "{}", r.text);
    let rows = app
        .sql_texts("select count(*)::text from public.notes")
        .await;
    assert_eq!(rows, [Some("1".to_string())]);
}

#[tokio::test]
async fn an_unqualified_pre_request_function_is_found_on_the_requests_search_path() {
    const API: &str = r#"
create schema api;
grant usage on schema api to anon;
create table api.things (id int primary key);
insert into api.things values (1);
grant select on api.things to anon;
create function api.stamp() returns void language sql as $$
  select set_config('response.headers', '[{"X-Stamp": "api"}]', true) $$;
grant execute on function api.stamp() to anon;
"#;
    let settings = pgbase::config::Settings {
        db_schemas: Some("api".into()),
        db_pre_request: Some("stamp".into()),
        ..Default::default()
    };
    let app = TestApp::with_settings(API, settings).await;
    // the first request on a connection prepares the call inside its transaction (the
    // function is not on the connection's own search_path); later ones use the cached one
    for _ in 0..3 {
        let r = app.get("/rest/v1/things").await;
        expect_json(&r, 200, json!([{"id": 1}]));
        assert_eq!(r.header("x-stamp"), Some("api"), "{:?}", r.headers);
    }
}

#[tokio::test]
async fn db_tx_end_rolls_back_and_decides_whether_prefer_tx_is_honoured() {
    let insert = |id: i32| format!(r#"{{"id":{id},"body":"x"}}"#);
    for (mode, tx, persisted, applied) in [
        ("rollback", None, false, None),
        ("rollback", Some("tx=commit"), false, None),
        (
            "rollback-allow-override",
            Some("tx=commit"),
            true,
            Some("tx=commit"),
        ),
        ("commit", Some("tx=rollback"), true, None),
        (
            "commit-allow-override",
            Some("tx=rollback"),
            false,
            Some("tx=rollback"),
        ),
    ] {
        let settings = pgbase::config::Settings {
            db_tx_end: Some(mode.into()),
            ..Default::default()
        };
        let app = TestApp::with_settings(PRE_REQUEST, settings).await;
        let headers: Vec<(&str, &str)> = tx.map(|t| ("Prefer", t)).into_iter().collect();
        let r = app
            .send("POST", "/rest/v1/notes", &headers, Some(&insert(7)))
            .await;
        expect_status(&r, 201);
        assert_eq!(r.header("preference-applied"), applied, "{mode} {tx:?}");
        let rows = app
            .sql_texts("select count(*)::text from public.notes where id = 7")
            .await;
        let expected = if persisted { "1" } else { "0" };
        assert_eq!(rows, [Some(expected.to_string())], "{mode} {tx:?}");
    }

    let settings = pgbase::config::Settings {
        db_tx_end: Some("sometimes".into()),
        ..Default::default()
    };
    let db_url = "postgres://localhost/none".to_string();
    let error = pgbase::config::Config::from_settings(settings, db_url, "x".repeat(32), true)
        .expect_err("an unknown db_tx_end is refused");
    assert!(error.to_string().contains("db_tx_end"), "{error}");
}
