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
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("token")
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_clients_leave_no_transaction_state_behind() {
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

    let a = token(USER_A);
    let body = format!(r#"{{"who":"{USER_A}"}}"#);
    let dropped = (0..10).map(|_| {
        post_and_hang_up(
            addr,
            "/rest/v1/rpc/slow_write",
            &a,
            &body,
            Duration::from_millis(500),
        )
    });
    futures_util::future::join_all(dropped).await;
    let hung_up_at = Instant::now();

    // Within a second of the hang-ups, no query of A's is still running and no connection of
    // the pool sits inside a transaction.
    let admin = app.client().await;
    let mut leftovers = i64::MAX;
    while hung_up_at.elapsed() < Duration::from_secs(1) {
        leftovers = admin
            .query_one(
                "select count(*) from pg_stat_activity where datname = current_database() \
                 and pid <> pg_backend_pid() \
                 and (state like 'idle in transaction%' or query like '%slow_write%' and state = 'active')",
                &[],
            )
            .await
            .expect("pg_stat_activity")
            .get(0);
        if leftovers == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        leftovers, 0,
        "abandoned work still holds connections a second after the hang-ups"
    );

    // User B, on the same pool (4 connections, all of which served A), sees nothing of A.
    let b = token(USER_B);
    let auth_b = format!("Bearer {b}");
    for _ in 0..8 {
        let r = app
            .send(
                "POST",
                "/rest/v1/rpc/whoami",
                &[("authorization", &auth_b)],
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

        let r = app
            .get_with(
                "/rest/v1/notes?select=owner,body",
                &[("authorization", &auth_b)],
            )
            .await;
        expect_status(&r, 200);
        assert_eq!(r.json(), serde_json::json!([]), "B sees A's rows");

        // A's row lock is gone: B's update does not wait for it.
        let started = Instant::now();
        let r = app
            .send(
                "PATCH",
                "/rest/v1/counter?id=eq.1",
                &[
                    ("authorization", &auth_b),
                    ("prefer", "return=representation"),
                ],
                Some(r#"{"n": 100}"#),
            )
            .await;
        expect_status(&r, 200);
        assert!(
            started.elapsed() < Duration::from_millis(900),
            "B waited on A's lock"
        );
    }
    // Nothing A wrote was committed by anyone.
    let committed: i64 = admin
        .query_one("select count(*) from public.notes", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(committed, 0, "A's abandoned inserts were committed");
}
