//! RPC through HTTP: GET/POST, named arguments (query string, JSON, form), defaults, arrays,
//! a single unnamed json parameter, scalar/composite/setof/table results with
//! select/filter/order/limit/count, void → 204, overloads by argument names (PGRST202/203),
//! volatile functions over GET → 405, errors raised in functions.

mod common;

use common::{TestApp, expect_status};
use serde_json::json;

const SCHEMA: &str = r#"
create table public.items (id int primary key, name text not null, price numeric);
insert into public.items values (1, 'apple', 1.5), (2, 'banana', 0.5), (3, 'carrot', 0.25);
create function public.add(a int, b int default 10) returns int language sql immutable
  as $$ select a + b $$;
create function public.hello() returns text language sql stable as $$ select 'hi' $$;
create function public.tags(n int) returns setof text language sql stable
  as $$ select 't' || g from generate_series(1, n) g $$;
create function public.cheap(max_price numeric) returns setof public.items language sql stable
  as $$ select * from public.items where price <= max_price $$;
create function public.first_item() returns public.items language sql stable
  as $$ select * from public.items order by id limit 1 $$;
create function public.stats(out total int, out names text) language sql stable
  as $$ select count(*)::int, string_agg(name, ',' order by id) from public.items $$;
create function public.squares(n int) returns table (x int, sq int) language sql stable
  as $$ select g, g * g from generate_series(1, n) g $$;
create function public.echo(jsonb) returns jsonb language sql immutable as $$ select $1 $$;
create function public.sum_arr(xs int[]) returns int language sql immutable
  as $$ select sum(x)::int from unnest(xs) x $$;
create function public.touch(item int) returns void language sql volatile
  as $$ update public.items set price = price + 1 where id = item $$;
create function public.add_item(id int, name text) returns public.items language sql volatile
  as $$ insert into public.items values (id, name, 0) returning * $$;
create function public.over(a int) returns text language sql stable as $$ select 'a' $$;
create function public.over(b text) returns text language sql stable as $$ select 'b' $$;
create function public.same(x int) returns text language sql stable as $$ select 'int' $$;
create function public.same(x text) returns text language sql stable as $$ select 'text' $$;
create function public.fail(msg text) returns int language plpgsql stable
  as $$ begin raise exception '%', msg using hint = 'try again'; end $$;
create function public.teapot() returns int language plpgsql stable as $$ begin
  raise sqlstate 'PGRST' using message = '{"code":"T418","message":"short and stout","details":"d","hint":"h"}',
    detail = '{"status":418,"headers":{"X-Tea":"earl grey"}}';
end $$;
create function public.with_headers() returns int language plpgsql stable as $$ begin
  perform set_config('response.headers', '[{"X-Custom":"yes"},{"Cache-Control":"no-store"}]', true);
  perform set_config('response.status', '202', true);
  return 1;
end $$;
create function public.bad_status() returns int language plpgsql stable as $$ begin
  perform set_config('response.status', 'nope', true); return 1; end $$;
"#;

#[tokio::test]
async fn scalar_set_and_void_results() {
    let app = TestApp::new(SCHEMA).await;
    let r = app.get("/rest/v1/rpc/add?a=1&b=2").await;
    expect_status(&r, 200);
    assert_eq!(r.json(), json!(3));
    // defaults fill omitted arguments
    assert_eq!(app.get("/rest/v1/rpc/add?a=1").await.json(), json!(11));
    let r = app
        .send("POST", "/rest/v1/rpc/add", &[], Some(r#"{"a": 4, "b": 5}"#))
        .await;
    expect_status(&r, 200);
    assert_eq!(r.json(), json!(9));
    assert_eq!(app.get("/rest/v1/rpc/hello").await.json(), json!("hi"));
    let r = app.send("POST", "/rest/v1/rpc/hello", &[], None).await;
    assert_eq!(r.json(), json!("hi"));
    // form-encoded arguments
    let r = app
        .send(
            "POST",
            "/rest/v1/rpc/add",
            &[("content-type", "application/x-www-form-urlencoded")],
            Some("a=2&b=3"),
        )
        .await;
    assert_eq!(r.json(), json!(5));
    // setof scalar
    assert_eq!(
        app.get("/rest/v1/rpc/tags?n=3").await.json(),
        json!(["t1", "t2", "t3"])
    );
    // arrays: JSON in POST, a Postgres literal in GET
    let r = app
        .send(
            "POST",
            "/rest/v1/rpc/sum_arr",
            &[],
            Some(r#"{"xs": [1, 2, 3]}"#),
        )
        .await;
    assert_eq!(r.json(), json!(6));
    assert_eq!(
        app.get("/rest/v1/rpc/sum_arr?xs={4,5}").await.json(),
        json!(9)
    );
    // single unnamed json parameter takes the whole body
    let r = app
        .send(
            "POST",
            "/rest/v1/rpc/echo",
            &[],
            Some(r#"{"any": ["thing", 1]}"#),
        )
        .await;
    expect_status(&r, 200);
    assert_eq!(r.json(), json!({"any": ["thing", 1]}));
    // void → 204 without a body or content type
    let r = app
        .send("POST", "/rest/v1/rpc/touch", &[], Some(r#"{"item": 1}"#))
        .await;
    expect_status(&r, 204);
    assert_eq!(r.text, "");
    let r = app.get("/rest/v1/items?id=eq.1&select=price").await;
    assert_eq!(r.json(), json!([{"price": 2.5}]));
    // HEAD
    let r = app.send("HEAD", "/rest/v1/rpc/tags?n=2", &[], None).await;
    expect_status(&r, 200);
    assert_eq!(r.text, "");
}

#[tokio::test]
async fn table_results_take_select_filters_order_limit_and_count() {
    let app = TestApp::new(SCHEMA).await;
    let r = app
        .get("/rest/v1/rpc/cheap?max_price=1&select=id,name&order=id.desc")
        .await;
    expect_status(&r, 200);
    assert_eq!(
        r.json(),
        json!([{"id": 3, "name": "carrot"}, {"id": 2, "name": "banana"}])
    );
    // filters on unselected columns, limit, count
    let r = app
        .get_with(
            "/rest/v1/rpc/cheap?max_price=2&select=name&price=gt.0.3&order=id&limit=1",
            &[("prefer", "count=exact")],
        )
        .await;
    expect_status(&r, 206);
    assert_eq!(r.json(), json!([{"name": "apple"}]));
    assert_eq!(r.header("content-range"), Some("0-0/2"));
    let r = app
        .send(
            "POST",
            "/rest/v1/rpc/cheap?select=id&name=like.*a*&order=id",
            &[],
            Some(r#"{"max_price": 10}"#),
        )
        .await;
    assert_eq!(r.json(), json!([{"id": 1}, {"id": 2}, {"id": 3}]));
    // single composite → object
    let r = app.get("/rest/v1/rpc/first_item?select=name").await;
    expect_status(&r, 200);
    assert_eq!(r.json(), json!({"name": "apple"}));
    // OUT parameters → object
    let r = app.get("/rest/v1/rpc/stats").await;
    expect_status(&r, 200);
    assert_eq!(
        r.json(),
        json!({"total": 3, "names": "apple,banana,carrot"})
    );
    // RETURNS TABLE → rows that can be filtered and ordered
    let r = app
        .get("/rest/v1/rpc/squares?n=4&select=sq&x=gt.1&order=x.desc&limit=2")
        .await;
    expect_status(&r, 200);
    assert_eq!(r.json(), json!([{"sq": 16}, {"sq": 9}]));
    let r = app.get("/rest/v1/rpc/squares?n=2&nope=eq.1").await;
    expect_status(&r, 400);
    assert_eq!(r.json()["code"], "42703");
    // singular on a set result
    let r = app
        .get_with(
            "/rest/v1/rpc/cheap?max_price=0.3",
            &[("accept", "application/vnd.pgrst.object+json")],
        )
        .await;
    expect_status(&r, 200);
    assert_eq!(r.json()["name"], "carrot");
    // embedding from a function's rows
    let r = app
        .send(
            "POST",
            "/rest/v1/rpc/add_item?select=id,name",
            &[],
            Some(r#"{"id": 7, "name": "date"}"#),
        )
        .await;
    expect_status(&r, 200);
    assert_eq!(r.json(), json!({"id": 7, "name": "date"}));
}

#[tokio::test]
async fn overloads_volatility_and_errors() {
    let app = TestApp::new(SCHEMA).await;
    assert_eq!(app.get("/rest/v1/rpc/over?a=1").await.json(), json!("a"));
    assert_eq!(app.get("/rest/v1/rpc/over?b=1").await.json(), json!("b"));
    let r = app.get("/rest/v1/rpc/same?x=1").await;
    expect_status(&r, 300);
    assert_eq!(r.json()["code"], "PGRST203");
    let r = app.get("/rest/v1/rpc/over?c=1").await;
    expect_status(&r, 404);
    assert_eq!(r.json()["code"], "PGRST202");
    assert_eq!(
        r.json()["message"],
        "Could not find the function public.over(c) in the schema cache"
    );
    let r = app.get("/rest/v1/rpc/helo").await;
    expect_status(&r, 404);
    assert_eq!(
        r.json()["hint"],
        "Perhaps you meant to call the function public.hello"
    );
    // a missing required argument
    let r = app.get("/rest/v1/rpc/add?b=1").await;
    expect_status(&r, 404);
    // volatile over GET
    let r = app.get("/rest/v1/rpc/touch?item=1").await;
    expect_status(&r, 405);
    let r = app.send("PATCH", "/rest/v1/rpc/add", &[], Some("{}")).await;
    expect_status(&r, 405);
    assert_eq!(r.json()["code"], "PGRST101");
    // bad argument values
    let r = app.get("/rest/v1/rpc/add?a=x").await;
    expect_status(&r, 400);
    assert_eq!(r.json()["code"], "22P02");
    // RAISE EXCEPTION → P0001 → 400 with the hint
    let r = app.get("/rest/v1/rpc/fail?msg=boom").await;
    expect_status(&r, 400);
    assert_eq!(
        r.json(),
        json!({"code": "P0001", "message": "boom", "details": null, "hint": "try again"})
    );
    // RAISE SQLSTATE 'PGRST' controls status, body and headers
    let r = app.get("/rest/v1/rpc/teapot").await;
    expect_status(&r, 418);
    assert_eq!(
        r.json(),
        json!({"code": "T418", "message": "short and stout", "details": "d", "hint": "h"})
    );
    assert_eq!(r.header("x-tea"), Some("earl grey"));
    // response.headers / response.status set by SQL
    let r = app.get("/rest/v1/rpc/with_headers").await;
    expect_status(&r, 202);
    assert_eq!(r.header("x-custom"), Some("yes"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let r = app.get("/rest/v1/rpc/bad_status").await;
    expect_status(&r, 500);
    assert_eq!(r.json()["code"], "PGRST112");
    // max-affected on a function that does not return a set
    let r = app
        .send(
            "POST",
            "/rest/v1/rpc/add",
            &[("prefer", "handling=strict, max-affected=1")],
            Some(r#"{"a": 1}"#),
        )
        .await;
    // PostgREST 12 counts a scalar result as one row, so max-affected=1 lets it through (v13
    // refuses with PGRST128; pgbase matches v12)
    expect_status(&r, 200);
    assert_eq!(
        r.header("preference-applied"),
        Some("handling=strict, max-affected=1")
    );
    // OPTIONS lists the verbs (asked of the handler: the server's CORS layer answers
    // OPTIONS requests itself)
    let options = |path: &'static str| {
        let state = app.state.rest.clone();
        async move {
            pgbase_rest::handler::handle(
                &state,
                &pgbase_rest::handler::Identity::anonymous("anon"),
                &axum::http::Method::OPTIONS,
                path,
                None,
                &axum::http::HeaderMap::new(),
                axum::body::Bytes::new(),
            )
            .await
        }
    };
    let allow = |r: &pgbase_rest::handler::RestResponse| {
        r.headers
            .iter()
            .find(|(n, _)| n == "allow")
            .map(|(_, v)| v.clone())
    };
    assert_eq!(
        allow(&options("/rpc/touch").await).as_deref(),
        Some("OPTIONS,POST")
    );
    assert_eq!(
        allow(&options("/rpc/add").await).as_deref(),
        Some("OPTIONS,GET,HEAD,POST")
    );
    assert_eq!(
        allow(&options("/items").await).as_deref(),
        Some("OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE")
    );
}
