//! A client that goes away mid-request must not hand its transaction to the next request.
//!
//! User A sends slow writes over raw sockets and closes each after 0.5 s, while the function
//! it calls has set a transaction-local claim, a response cookie, inserted a row and locked
//! another one. Afterwards user B's requests must see none of that, no pooled connection may be
//! left `idle in transaction`, and A's queries must have been cancelled server-side.

mod common;

use std::time::{Duration, Instant};

use common::{SECRET, TestApp, expect_status};
use pgbase::config::Settings;
use tokio::io::AsyncWriteExt;

const SETUP: &str = r#"
create table public.notes (id bigserial primary key, owner text not null, body text not null);
create table public.counter (id int primary key, n int not null);
insert into public.counter values (1, 0);
grant select, insert on public.notes to authenticated;
grant usage on sequence public.notes_id_seq to authenticated;
grant select, update on public.counter to authenticated;
alter table public.notes enable row level security;
create policy own on public.notes using (owner = current_setting('request.jwt.claim.sub', true)
                                        or owner = auth.uid()::text)
                                 with check (true);

-- Sets transaction-local state the way a careless function would, then takes its time.
create function public.slow_write(who text) returns void language plpgsql as $$
begin
  perform set_config('request.jwt.claim.sub', who, true);
  perform set_config('response.headers', '[{"Set-Cookie": "session=' || who || '"}]', true);
  insert into public.notes (owner, body) values (who, 'uncommitted');
  update public.counter set n = n + 1 where id = 1;
  perform pg_sleep(1.5);
end $$;
grant execute on function public.slow_write(text) to authenticated;

-- Slow GraphQL inserts: the trigger leaves the same transaction-local traces.
create table public.slow_notes (id bigserial primary key, owner text not null);
grant select, insert on public.slow_notes to authenticated;
grant usage on sequence public.slow_notes_id_seq to authenticated;
create function public.slow_insert() returns trigger language plpgsql as $$
begin
  perform set_config('request.jwt.claim.sub', new.owner, true);
  update public.counter set n = n + 1 where id = 1;
  perform pg_sleep(1.5);
  return new;
end $$;
create trigger slow before insert on public.slow_notes for each row execute function public.slow_insert();

create function public.whoami() returns json language sql stable as $$
  select json_build_object('legacy_sub', current_setting('request.jwt.claim.sub', true),
                           'uid', auth.uid())
$$;
grant execute on function public.whoami() to authenticated;
"#;

const USER_A: &str = "00000000-0000-0000-0000-00000000000a";
const USER_B: &str = "00000000-0000-0000-0000-00000000000b";

fn token(sub: &str) -> String {
    let claims = serde_json::json!({"sub": sub, "role": "authenticated", "exp": 4_000_000_000u64});
    pgbase_testkit::hs256(SECRET, &claims)
}

/// Sends one POST over a raw socket and closes the socket after `after` without reading.
async fn post_and_hang_up(
    addr: std::net::SocketAddr,
    path: &str,
    bearer: &str,
    body: &str,
    after: Duration,
) {
    let mut socket = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!(
        "POST {path} HTTP/1.1\r\nhost: test\r\nauthorization: Bearer {bearer}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    socket.write_all(request.as_bytes()).await.expect("write");
    tokio::time::sleep(after).await;
    drop(socket);
}

/// The test app (4 pooled connections) served on a real socket.
async fn served() -> (TestApp, std::net::SocketAddr) {
    let settings = Settings {
        db_pool: Some(4),
        ..Settings::default()
    };
    let app = TestApp::with_settings(SETUP, settings).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let router = pgbase::server::app(app.state.clone());
    tokio::spawn(pgbase::server::serve(
        listener,
        router,
        std::future::pending(),
    ));
    (app, addr)
}

/// Sends 10 POSTs that hang up after 0.5 s; asserts that while they were open the database
/// was running their statements (so the test proves something about abandoned work).
async fn hang_up_while_running(
    app: &TestApp,
    addr: std::net::SocketAddr,
    path: &str,
    bearer: &str,
    body: &str,
    marker: &str,
) {
    let dropped = futures_util::future::join_all(
        (0..10).map(|_| post_and_hang_up(addr, path, bearer, body, Duration::from_millis(500))),
    );
    let observe = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let running: i64 = app
            .client()
            .await
            .query_one(
                "select count(*) from pg_stat_activity where datname = current_database() \
                 and state = 'active' and query like '%' || $1 || '%' and pid <> pg_backend_pid()",
                &[&marker],
            )
            .await
            .expect("pg_stat_activity")
            .get(0);
        running
    };
    let (_, running) = tokio::join!(dropped, observe);
    assert!(running >= 1, "the requests never reached the database");
}

/// Waits up to a second for the database to show no pooled connection inside a transaction
/// and no abandoned statement still running; returns how many remain.
async fn leftovers_after_a_second(app: &TestApp, marker: &str) -> i64 {
    let admin = app.client().await;
    let started = Instant::now();
    let mut leftovers = i64::MAX;
    while started.elapsed() < Duration::from_secs(1) {
        leftovers = admin
            .query_one(
                "select count(*) from pg_stat_activity where datname = current_database() \
                 and pid <> pg_backend_pid() \
                 and (state like 'idle in transaction%' or query like '%' || $1 || '%' and state = 'active')",
                &[&marker],
            )
            .await
            .expect("pg_stat_activity")
            .get(0);
        if leftovers == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    leftovers
}

/// User B's own identity, with none of A's transaction-local settings or cookies.
async fn b_sees_nothing_of_a(app: &TestApp, auth_b: &str) {
    let r = app
        .send(
            "POST",
            "/rest/v1/rpc/whoami",
            &[("authorization", auth_b)],
            Some("{}"),
        )
        .await;
    expect_status(&r, 200);
    assert_eq!(
        r.json(),
        serde_json::json!({"legacy_sub": null, "uid": USER_B}),
        "B inherited A's transaction-local settings"
    );
    assert!(
        r.header("set-cookie").is_none(),
        "B got A's cookie: {:?}",
        r.headers
    );
}

/// A's row lock is gone: B's update of the row A locked does not wait for it.
async fn b_updates_without_waiting(
    app: &TestApp,
    auth_b: &str,
    extra_headers: &[(&str, &str)],
    status: u16,
) {
    let mut headers = vec![("authorization", auth_b)];
    headers.extend_from_slice(extra_headers);
    let started = Instant::now();
    let r = app
        .send(
            "PATCH",
            "/rest/v1/counter?id=eq.1",
            &headers,
            Some(r#"{"n": 7}"#),
        )
        .await;
    expect_status(&r, status);
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "B waited on A's lock"
    );
}

async fn row_count(app: &TestApp, table: &str) -> i64 {
    app.client()
        .await
        .query_one(&format!("select count(*) from {table}"), &[])
        .await
        .expect("count")
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_graphql_mutations_leave_no_transaction_state_behind() {
    let (app, addr) = served().await;
    let a = token(USER_A);
    let body = serde_json::json!({
        "query": format!(r#"mutation {{ insertIntoslow_notesCollection(objects: [{{owner: "{USER_A}"}}]) {{ affectedCount }} }}"#)
    })
    .to_string();
    hang_up_while_running(&app, addr, "/graphql/v1", &a, &body, "slow_notes").await;
    assert_eq!(leftovers_after_a_second(&app, "slow_notes").await, 0);

    let auth_b = format!("Bearer {}", token(USER_B));
    for _ in 0..8 {
        b_sees_nothing_of_a(&app, &auth_b).await;
        b_updates_without_waiting(&app, &auth_b, &[], 204).await;
    }
    assert_eq!(
        row_count(&app, "public.slow_notes").await,
        0,
        "an abandoned GraphQL insert was committed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_clients_leave_no_transaction_state_behind() {
    let (app, addr) = served().await;

    let a = token(USER_A);
    let body = format!(r#"{{"who":"{USER_A}"}}"#);
    hang_up_while_running(
        &app,
        addr,
        "/rest/v1/rpc/slow_write",
        &a,
        &body,
        "slow_write",
    )
    .await;

    // Within a second of the hang-ups, no query of A's is still running and no connection of
    // the pool sits inside a transaction.
    assert_eq!(
        leftovers_after_a_second(&app, "slow_write").await,
        0,
        "abandoned work still holds connections a second after the hang-ups"
    );

    // User B, on the same pool (4 connections, all of which served A), sees nothing of A.
    let auth_b = format!("Bearer {}", token(USER_B));
    for _ in 0..8 {
        b_sees_nothing_of_a(&app, &auth_b).await;
        let r = app
            .get_with(
                "/rest/v1/notes?select=owner,body",
                &[("authorization", &auth_b)],
            )
            .await;
        expect_status(&r, 200);
        assert_eq!(r.json(), serde_json::json!([]), "B sees A's rows");
        b_updates_without_waiting(&app, &auth_b, &[("prefer", "return=representation")], 200).await;
    }
    // Nothing A wrote was committed by anyone.
    assert_eq!(
        row_count(&app, "public.notes").await,
        0,
        "A's abandoned inserts were committed"
    );
}
