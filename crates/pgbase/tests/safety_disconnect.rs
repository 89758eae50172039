//! A client that goes away mid-request must not hand its transaction to the next request.
//!
//! User A sends slow writes over raw sockets and closes them once the database runs them (every
//! pooled connection busy with one), while the function it calls has set a transaction-local
//! claim, a response cookie, inserted a row and locked another one, and sleeps 30 s. Within a
//! second of the hang-up (the README's promise) A's queries must have been cancelled
//! server-side and no pooled connection may be left `idle in transaction`; afterwards user B's
//! requests must see none of A's state, and B never waits on A's row lock (authenticated has a
//! 2 s `lock_timeout` here, so a wait fails B's request instead of being timed).

mod common;

use std::time::{Duration, Instant};

use common::{SECRET, TestApp, expect_status};
use pgbase::config::Settings;
use tokio::io::AsyncWriteExt;

const SETUP: &str = r#"
create table public.notes (id bigserial primary key, owner text not null, body text not null);
create table public.counter (id int primary key, n int not null);
insert into public.counter values (1, 0);
do $$ begin
  execute format('alter role authenticated in database %I set lock_timeout = %L', current_database(), '2s');
end $$;
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
  perform pg_sleep(30);
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
  perform pg_sleep(30);
  return new;
end $$;
create trigger slow before insert on public.slow_notes for each row execute function public.slow_insert();

create function public.whoami() returns json language sql stable as $$
  select json_build_object('legacy_sub', current_setting('request.jwt.claim.sub', true),
                           'uid', auth.uid())
$$;
grant execute on function public.whoami() to authenticated;
"#;

/// Upper bound of a wait for an event: reached only when something hangs.
const PATIENCE: Duration = Duration::from_secs(30);
/// The README's promise: a dropped slow request stops costing a connection within a second.
const RELEASED_WITHIN: Duration = Duration::from_secs(1);
/// The test app's pool size.
const POOL: i64 = 4;

const USER_A: &str = "00000000-0000-0000-0000-00000000000a";
const USER_B: &str = "00000000-0000-0000-0000-00000000000b";

fn token(sub: &str) -> String {
    let claims = serde_json::json!({"sub": sub, "role": "authenticated", "exp": 4_000_000_000u64});
    pgbase_testkit::hs256(SECRET, &claims)
}

/// Opens a raw socket and sends one POST on it, without reading the answer.
async fn post_unread(
    addr: std::net::SocketAddr,
    path: &str,
    bearer: &str,
    body: &str,
) -> tokio::net::TcpStream {
    let mut socket = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!(
        "POST {path} HTTP/1.1\r\nhost: test\r\nauthorization: Bearer {bearer}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    socket.write_all(request.as_bytes()).await.expect("write");
    socket
}

/// The test app (4 pooled connections) served on a real socket.
async fn served() -> (TestApp, std::net::SocketAddr) {
    let settings = Settings {
        db_pool: Some(POOL as usize),
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

/// Sends 10 POSTs, waits until the database runs `marker` statements on every pooled
/// connection (so the test proves something about abandoned work), then hangs up all 10.
/// Returns the moment of the hang-up.
async fn hang_up_while_running(
    app: &TestApp,
    addr: std::net::SocketAddr,
    path: &str,
    bearer: &str,
    body: &str,
    marker: &str,
) -> Instant {
    let sockets =
        futures_util::future::join_all((0..10).map(|_| post_unread(addr, path, bearer, body)))
            .await;
    let admin = app.client().await;
    let started = Instant::now();
    loop {
        let running = running_statements(&admin, marker).await;
        if running >= POOL {
            break;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "only {running} of the requests reached the database in {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(sockets);
    Instant::now()
}

/// How many statements containing `marker` other sessions of this database are running.
async fn running_statements(admin: &tokio_postgres::Client, marker: &str) -> i64 {
    admin
        .query_one(
            "select count(*) from pg_stat_activity where datname = current_database() \
             and state = 'active' and query like '%' || $1 || '%' and pid <> pg_backend_pid()",
            &[&marker],
        )
        .await
        .expect("pg_stat_activity")
        .get(0)
}

/// Waits (at most [`PATIENCE`]) until the database shows no pooled connection inside a
/// transaction and no abandoned statement still running; returns how long after `hung_up`
/// that was (at most).
async fn released_after(app: &TestApp, marker: &str, hung_up: Instant) -> Duration {
    let admin = app.client().await;
    loop {
        // The start of the probe that finds nothing left is when it was all released at the
        // latest: the probe's own round trip is not counted against the promise.
        let probed_at = hung_up.elapsed();
        let leftovers: i64 = admin
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
            return probed_at;
        }
        assert!(
            hung_up.elapsed() < PATIENCE,
            "{leftovers} abandoned statements or open transactions {PATIENCE:?} after the hang-up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
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

/// A's row lock is gone: B's update of the row A locked does not wait for it (a wait would
/// end in B's 2 s `lock_timeout`, 55P03, instead of `status`).
async fn b_updates_without_waiting(
    app: &TestApp,
    auth_b: &str,
    extra_headers: &[(&str, &str)],
    status: u16,
) {
    let mut headers = vec![("authorization", auth_b)];
    headers.extend_from_slice(extra_headers);
    let r = app
        .send(
            "PATCH",
            "/rest/v1/counter?id=eq.1",
            &headers,
            Some(r#"{"n": 7}"#),
        )
        .await;
    assert!(
        !r.text.contains("55P03"),
        "B waited on A's lock: {}",
        r.text
    );
    expect_status(&r, status);
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
    let hung_up = hang_up_while_running(&app, addr, "/graphql/v1", &a, &body, "slow_notes").await;
    let released = released_after(&app, "slow_notes", hung_up).await;
    assert!(
        released < RELEASED_WITHIN,
        "abandoned GraphQL work held connections {released:?} after the hang-up"
    );

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
    let hung_up = hang_up_while_running(
        &app,
        addr,
        "/rest/v1/rpc/slow_write",
        &a,
        &body,
        "slow_write",
    )
    .await;

    // Within a second of the hang-ups (A's statements would sleep 30 s), no query of A's is
    // still running and no connection of the pool sits inside a transaction.
    let released = released_after(&app, "slow_write", hung_up).await;
    assert!(
        released < RELEASED_WITHIN,
        "abandoned work still held connections {released:?} after the hang-ups"
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
