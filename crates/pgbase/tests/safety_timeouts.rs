//! Statement timeouts hold: the server-wide default and each role's own
//! `ALTER ROLE … SET statement_timeout` apply to every REST and GraphQL request made as that
//! role, and a timeout answers in PostgREST's error shape with its SQLSTATE.

mod common;

use axum::http::Method;
use common::{SECRET, TestApp, expect_status};
use pgbase::config::Settings;
use serde_json::json;

const SETUP: &str = r#"
do $$ begin
  execute format('alter role anon in database %I set statement_timeout = %L', current_database(), '700ms');
  execute format('alter role anon in database %I set lock_timeout = %L', current_database(), '250ms');
end $$;
create function public.nap(seconds float8) returns text language sql as $$
  select pg_sleep(seconds)::text || 'rested' $$;
grant execute on function public.nap(float8) to anon, authenticated;
create view public.session_info as
  select current_setting('statement_timeout') as timeout,
         current_setting('lock_timeout') as lock_timeout,
         current_setting('request.method', true) as method,
         current_setting('request.headers', true)::json ->> 'x-tenant' as tenant;
comment on view public.session_info is e'@graphql({"primary_key_columns": ["timeout"]})';
grant select on public.session_info to anon, authenticated;
"#;

fn authenticated() -> String {
    let claims = json!({"sub": "00000000-0000-0000-0000-000000000001", "role": "authenticated",
                        "exp": 4_000_000_000u64});
    let token = pgbase_testkit::hs256(SECRET, &claims);
    format!("Bearer {token}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_roles_own_settings_apply_to_its_rest_requests() {
    let app = TestApp::new(SETUP).await;
    let r = app
        .get("/rest/v1/session_info?select=timeout,lock_timeout")
        .await;
    expect_status(&r, 200);
    assert_eq!(
        r.json(),
        json!([{"timeout": "700ms", "lock_timeout": "250ms"}])
    );

    let bearer = authenticated();
    let r = app
        .get_with(
            "/rest/v1/session_info?select=timeout,lock_timeout",
            &[("authorization", &bearer)],
        )
        .await;
    expect_status(&r, 200);
    assert_eq!(
        r.json(),
        json!([{"timeout": "8s", "lock_timeout": "0"}]),
        "the server default"
    );

    // No clock: a 3 s nap outlives anon's 700 ms but not the server default (8 s), so a
    // statement-timeout cancel here can only come from the role's own setting.
    let r = app.get("/rest/v1/rpc/nap?seconds=3").await;
    expect_status(&r, 500);
    assert_eq!(
        r.json()["code"],
        "57014",
        "the role's timeout did not apply: {}",
        r.text
    );
    assert_eq!(
        r.json()["message"],
        "canceling statement due to statement timeout"
    );

    // authenticated's default (8 s) lets a short nap through
    let r = app
        .get_with("/rest/v1/rpc/nap?seconds=1", &[("authorization", &bearer)])
        .await;
    expect_status(&r, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_default_is_configurable() {
    let settings = Settings {
        db_statement_timeout: Some("300ms".into()),
        ..Settings::default()
    };
    let app = TestApp::with_settings(SETUP, settings).await;
    let bearer = authenticated();
    // authenticated has no timeout of its own; without the configured 300 ms the built-in
    // default (8 s) would let this 3 s nap finish with a 200.
    let r = app
        .get_with("/rest/v1/rpc/nap?seconds=3", &[("authorization", &bearer)])
        .await;
    expect_status(&r, 500);
    assert_eq!(r.json()["code"], "57014", "{}", r.text);
    assert_eq!(
        r.json()["message"],
        "canceling statement due to statement timeout"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphql_requests_get_the_same_context_as_rest() {
    let app = TestApp::new(SETUP).await;
    let query = json!({"query": "{ session_infoCollection { edges { node { timeout lock_timeout method tenant } } } }"});
    let r = app
        .request(
            Method::POST,
            "/graphql/v1",
            &[("x-tenant", "acme")],
            Some(&query.to_string()),
        )
        .await;
    expect_status(&r, 200);
    assert_eq!(
        r.json()["data"]["session_infoCollection"]["edges"][0]["node"],
        json!({"timeout": "700ms", "lock_timeout": "250ms", "method": "POST", "tenant": "acme"}),
        "{}",
        r.text
    );
    // REST sets the same context the same way.
    let r = app
        .get_with(
            "/rest/v1/session_info?select=timeout,lock_timeout,method,tenant",
            &[("x-tenant", "acme")],
        )
        .await;
    expect_status(&r, 200);
    assert_eq!(
        r.json(),
        json!([{"timeout": "700ms", "lock_timeout": "250ms", "method": "GET", "tenant": "acme"}])
    );
}
