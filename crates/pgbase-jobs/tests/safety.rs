//! Safety of the job schemas and workers against a real Postgres (issue #10): who may use the
//! cron API, that a job never runs as a role its writer could not become (in particular not as
//! a superuser), and that the net worker keeps stored responses bounded and never re-sends a
//! request whose response arrived.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use pgbase_jobs::{CronConfig, NetConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_postgres::Client;

async fn err(client: &Client, sql: &str) -> String {
    match client.batch_execute(sql).await {
        Ok(()) => panic!("expected an error from {sql}"),
        Err(e) => e
            .as_db_error()
            .map(|d| d.message().to_string())
            .unwrap_or_else(|| e.to_string()),
    }
}

async fn one_i64(client: &Client, sql: &str) -> i64 {
    client
        .query_one(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
        .get(0)
}

async fn one_text(client: &Client, sql: &str) -> String {
    client
        .query_one(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
        .get(0)
}

async fn wait_for(c: &Client, sql: &str, want: i64, within: Duration) -> i64 {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let n = one_i64(c, sql).await;
        if n >= want || tokio::time::Instant::now() >= deadline {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_cron_api_is_for_service_role_and_the_database_owner() {
    let db = pgbase_testkit::test_db().await;
    let c = db.connect().await;
    c.batch_execute("select cron.schedule('admin', '* * * * *', 'select 1')")
        .await
        .expect("admin job");
    for role in ["anon", "authenticated"] {
        c.batch_execute(&format!("reset role; set role {role}"))
            .await
            .expect("role");
        for sql in [
            "select count(*) from cron.job",
            "select count(*) from cron.job_run_details",
            "select cron.schedule('* * * * *', 'select 1')",
            "select cron.schedule('x', '* * * * *', 'select 1')",
            "select cron.unschedule('admin')",
            "select cron.alter_job(1, active => false)",
            "insert into cron.job (schedule, command) values ('* * * * *', 'select 1')",
            "update cron.job set command = 'select 2'",
            "delete from cron.job",
        ] {
            let msg = err(&c, sql).await;
            assert!(
                msg.contains("permission denied"),
                "{role}: {sql} gave {msg}"
            );
        }
    }
    c.batch_execute("reset role").await.expect("reset");
    // service_role uses the API (and, BYPASSRLS, sees every job, as on Supabase).
    c.batch_execute("set role service_role; select cron.schedule('svc', '* * * * *', 'select 1');")
        .await
        .expect("service_role schedules");
    assert_eq!(one_i64(&c, "select count(*) from cron.job").await, 2);
    c.batch_execute("reset role").await.expect("reset");
    // The database owner holds the API with grant option.
    let owner_ok: bool = c
        .query_one(
            "select has_table_privilege(o, 'cron.job', 'INSERT WITH GRANT OPTION') \
                and has_schema_privilege(o, 'cron', 'USAGE WITH GRANT OPTION') \
                and has_function_privilege(o, 'cron.schedule(text, text, text)', 'EXECUTE') \
             from (select pg_get_userbyid(datdba) o from pg_database where datname = current_database()) d",
            &[],
        )
        .await
        .expect("owner")
        .get(0);
    assert!(owner_ok);
    // Nobody but pgbase's login may use the runners' schema.
    for role in ["anon", "authenticated", "service_role"] {
        let usage: bool = c
            .query_one(
                "select has_schema_privilege($1, 'cron_runner', 'USAGE')",
                &[&role],
            )
            .await
            .expect("usage")
            .get(0);
        assert!(!usage, "{role} may use schema cron_runner");
    }
}

#[tokio::test]
async fn service_role_cannot_write_a_job_that_runs_as_someone_else() {
    let db = pgbase_testkit::test_db().await;
    let c = db.connect().await;
    let superuser = one_text(&c, "select current_user::text").await;
    c.batch_execute(
        "select cron.schedule('admin', '0 0 * * *', 'select 1');
         set role service_role;
         select cron.schedule('mine', '0 0 * * *', 'select 1');",
    )
    .await
    .expect("setup");
    let admin = one_i64(&c, "select jobid from cron.job where jobname = 'admin'").await;
    let mine = one_i64(&c, "select jobid from cron.job where jobname = 'mine'").await;
    let as_super = format!("permission denied to schedule a job as role \"{superuser}\"");
    for target in [superuser.as_str(), "postgres"] {
        let msg = err(
            &c,
            &format!(
                "insert into cron.job (schedule, command, username) values ('1 seconds', 'select 1', '{target}')"
            ),
        )
        .await;
        assert!(
            msg.starts_with("permission denied to schedule a job as role")
                || msg == format!("role \"{target}\" does not exist"),
            "insert as {target}: {msg}"
        );
    }
    assert_eq!(
        err(
            &c,
            &format!("update cron.job set username = '{superuser}' where jobid = {mine}")
        )
        .await,
        as_super
    );
    assert!(
        err(
            &c,
            &format!("select cron.alter_job({mine}, username => '{superuser}')")
        )
        .await
        .contains("must be superuser")
    );
    assert!(
        err(
            &c,
            &format!(
                "select cron.schedule_in_database('x', '1 seconds', 'select 1', current_database(), '{superuser}')"
            )
        )
        .await
        .contains("must be superuser")
    );
    // The superuser's job: its command may not be changed by service_role, however it tries.
    let hijack = format!(
        "permission denied to change the command or user of job {admin} of role \"{superuser}\""
    );
    assert_eq!(
        err(
            &c,
            &format!("update cron.job set command = 'select 2' where jobid = {admin}")
        )
        .await,
        hijack
    );
    assert_eq!(
        err(
            &c,
            &format!("select cron.alter_job({admin}, command => 'select 2')")
        )
        .await,
        hijack
    );
    assert_eq!(
        err(
            &c,
            &format!("update cron.job set username = 'service_role' where jobid = {admin}")
        )
        .await,
        hijack
    );
    // Pausing it is no escalation, and keeps its author.
    c.batch_execute(&format!("select cron.alter_job({admin}, active => false)"))
        .await
        .expect("pause");
    // scheduled_by cannot be forged: the trigger writes it.
    c.batch_execute(&format!(
        "insert into cron.job (schedule, command, jobname, scheduled_by) values ('0 0 * * *', 'select 1', 'forged', '{superuser}');
         update cron.job set scheduled_by = '{superuser}' where jobid = {mine};"
    ))
    .await
    .expect("writes with scheduled_by");
    c.batch_execute("reset role").await.expect("reset");
    let rows = c
        .query(
            "select jobname, username, scheduled_by from cron.job order by jobid",
            &[],
        )
        .await
        .expect("jobs");
    let got: Vec<(String, String, String)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let s = superuser.clone();
    let svc = "service_role".to_string();
    assert_eq!(
        got,
        vec![
            ("admin".to_string(), s.clone(), s.clone()),
            ("mine".to_string(), svc.clone(), svc.clone()),
            ("forged".to_string(), svc.clone(), svc.clone()),
        ]
    );
    // A role that may SET ROLE to another may schedule for it (pg_has_role ... MEMBER).
    c.batch_execute(
        "grant authenticated to service_role; set role service_role;
         insert into cron.job (schedule, command, jobname, username) values ('0 0 * * *', 'select 1', 'delegated', 'authenticated');
         reset role;",
    )
    .await
    .expect("member schedules for the role");
    assert_eq!(
        one_text(
            &c,
            "select username || '/' || scheduled_by from cron.job where jobname = 'delegated'"
        )
        .await,
        "authenticated/service_role"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_runs_as_its_writer_never_as_a_superuser_it_could_not_become() {
    let db = pgbase_testkit::test_db().await;
    let c = db.connect().await;
    let superuser = one_text(&c, "select current_user::text").await;
    c.batch_execute(&format!(
        "create table public.who (job text, name text);
         grant insert on public.who to service_role;
         set role service_role;
         select cron.schedule('svc', '1 seconds', 'insert into public.who values (''svc'', current_user)');
         select cron.schedule('escape', '1 seconds', 'reset role; insert into public.who values (''escape'', current_user)');
         reset role;
         -- A row that got past the trigger (written with triggers off, as by an older pgbase):
         -- a superuser job whose command a non-superuser wrote.
         set session_replication_role = replica;
         insert into cron.job (schedule, command, jobname, username, scheduled_by)
           values ('1 seconds', 'insert into public.who values (''smuggled'', current_user)', 'smuggled', '{superuser}', 'service_role');
         reset session_replication_role;"
    ))
    .await
    .expect("setup");
    let (stop, signal) = watch::channel(false);
    let worker = tokio::spawn(pgbase_jobs::cron::run(
        CronConfig {
            leader_retry: Duration::from_millis(200),
            ..CronConfig::default()
        },
        db.config.clone(),
        db.pool(4),
        signal,
    ));
    let done = wait_for(
        &c,
        "select count(distinct jobid) from cron.job_run_details where status in ('succeeded', 'failed')",
        3,
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(done, 3, "every job ran at least once");
    // While a service_role runner exists, service_role cannot reach it to make it SECURITY INVOKER.
    let runner = one_text(
        &c,
        "select p.oid::regprocedure::text from pg_proc p join pg_namespace n on n.oid = p.pronamespace \
         where n.nspname = 'cron_runner' and p.proowner = 'service_role'::regrole",
    )
    .await;
    c.batch_execute("set role service_role")
        .await
        .expect("role");
    assert_eq!(
        err(&c, &format!("alter function {runner} security invoker")).await,
        "permission denied for schema cron_runner"
    );
    c.batch_execute("reset role").await.expect("reset");
    let _ = stop.send(true);
    worker.await.expect("worker");

    let status = |name: &'static str| {
        let c = &c;
        async move {
            c.query_one(
                "select d.status, d.return_message from cron.job_run_details d join cron.job j using (jobid) \
                 where j.jobname = $1 and d.status in ('succeeded', 'failed') order by runid limit 1",
                &[&name],
            )
            .await
            .map(|r| (r.get::<_, String>(0), r.get::<_, String>(1)))
            .unwrap_or_else(|e| panic!("{name}: {e:?}"))
        }
    };
    assert_eq!(
        status("svc").await,
        ("succeeded".to_string(), "INSERT 0 1".to_string())
    );
    assert_eq!(
        status("smuggled").await,
        (
            "failed".to_string(),
            format!(
                "ERROR:  refusing to run a job as superuser \"{superuser}\": it was scheduled by \"service_role\", which is not a superuser"
            )
        )
    );
    assert_eq!(status("escape").await.0, "failed");
    let rows = c
        .query(
            "select distinct job, name from public.who order by 1, 2",
            &[],
        )
        .await
        .expect("who");
    let got: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        got,
        vec![("svc".to_string(), "service_role".to_string())],
        "jobs ran as their writer only"
    );
}

/// Requests received and body bytes written by [`serve_bodies`].
#[derive(Default)]
struct Served {
    requests: AtomicUsize,
    big_bytes_written: AtomicUsize,
}

const BIG: usize = 30 * 1024 * 1024;

/// An HTTP/1.1 server on 127.0.0.1: `/big` streams a 30 MB body (64 KB writes, counted),
/// `/poison` answers `poison`, anything else `ok`.
async fn serve_bodies() -> (SocketAddr, Arc<Served>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let served = Arc::new(Served::default());
    let state = served.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let state = state.clone();
            tokio::spawn(async move {
                loop {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") {
                        match sock.read(&mut byte).await {
                            Ok(0) | Err(_) => return,
                            Ok(_) => head.push(byte[0]),
                        }
                    }
                    state.requests.fetch_add(1, Ordering::SeqCst);
                    let head = String::from_utf8_lossy(&head).to_string();
                    let path = head.split(' ').nth(1).unwrap_or_default().to_string();
                    if path == "/big" {
                        let start = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {BIG}\r\n\r\n"
                        );
                        if sock.write_all(start.as_bytes()).await.is_err() {
                            return;
                        }
                        let chunk = vec![b'x'; 64 * 1024];
                        let mut sent = 0;
                        while sent < BIG {
                            if sock.write_all(&chunk).await.is_err() {
                                return;
                            }
                            sent += chunk.len();
                            state
                                .big_bytes_written
                                .fetch_add(chunk.len(), Ordering::SeqCst);
                        }
                    } else {
                        let body = if path == "/poison" { "poison" } else { "ok" };
                        let response = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{body}",
                            body.len()
                        );
                        if sock.write_all(response.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    (addr, served)
}

async fn wait_responses(c: &Client, want: i64) -> i64 {
    wait_for(
        c,
        "select count(*) from net._http_response",
        want,
        Duration::from_secs(20),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_response_is_truncated_marked_and_sent_once() {
    let (addr, served) = serve_bodies().await;
    let db = pgbase_testkit::test_db().await;
    let c = db.connect().await;
    let (stop, signal) = watch::channel(false);
    let config = NetConfig {
        max_response_bytes: 1024 * 1024,
        lease_margin: Duration::from_millis(200),
        ..NetConfig::default()
    };
    let worker = tokio::spawn(pgbase_jobs::net::run(
        config,
        db.config.clone(),
        db.pool(4),
        signal,
    ));
    c.execute(
        "select net.http_get($1, timeout_milliseconds => 10000), net.http_get($2)",
        &[
            &format!("http://{addr}/big"),
            &format!("http://{addr}/small"),
        ],
    )
    .await
    .expect("enqueue");
    assert_eq!(wait_responses(&c, 2).await, 2);
    // Longer than the lease (timeout + margin) of the small request: nothing is sent again.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let _ = stop.send(true);
    worker.await.expect("join").expect("worker");

    let row = c
        .query_one(
            "select status_code, length(content), content = repeat('x', 1048576), error_msg, timed_out, content_type \
             from net._http_response where content like 'x%'",
            &[],
        )
        .await
        .expect("big response");
    assert_eq!(row.get::<_, Option<i32>>(0), Some(200));
    assert_eq!(row.get::<_, Option<i32>>(1), Some(1024 * 1024));
    assert!(row.get::<_, bool>(2));
    assert_eq!(
        row.get::<_, Option<String>>(3).as_deref(),
        Some("response body truncated at 1048576 bytes")
    );
    assert_eq!(row.get::<_, Option<bool>>(4), Some(false));
    assert_eq!(
        row.get::<_, Option<String>>(5).as_deref(),
        Some("text/plain")
    );
    let small = c
        .query_one(
            "select status_code, content, error_msg from net._http_response where content = 'ok'",
            &[],
        )
        .await
        .expect("small response");
    assert_eq!(small.get::<_, Option<i32>>(0), Some(200));
    assert_eq!(small.get::<_, Option<String>>(2), None);
    assert_eq!(
        served.requests.load(Ordering::SeqCst),
        2,
        "each request sent exactly once"
    );
    assert!(
        served.big_bytes_written.load(Ordering::SeqCst) < BIG,
        "the worker stopped reading at the cap ({} of {BIG} bytes written)",
        served.big_bytes_written.load(Ordering::SeqCst)
    );
    assert_eq!(
        one_i64(&c, "select count(*) from net.http_request_queue").await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_that_cannot_be_stored_is_not_sent_again() {
    let (addr, served) = serve_bodies().await;
    let db = pgbase_testkit::test_db().await;
    let c = db.connect().await;
    // Postgres refuses to store this one response as received (a stand-in for any value it
    // cannot take); its neighbour in the same batch must not suffer.
    c.batch_execute(
        "alter table net._http_response add constraint no_poison check (content is distinct from 'poison')",
    )
    .await
    .expect("constraint");
    let (stop, signal) = watch::channel(false);
    let config = NetConfig {
        lease_margin: Duration::from_millis(200),
        ..NetConfig::default()
    };
    let worker = tokio::spawn(pgbase_jobs::net::run(
        config,
        db.config.clone(),
        db.pool(4),
        signal,
    ));
    c.execute(
        "select net.http_get($1, timeout_milliseconds => 500), net.http_get($2, timeout_milliseconds => 500)",
        &[&format!("http://{addr}/poison"), &format!("http://{addr}/fine")],
    )
    .await
    .expect("enqueue");
    assert_eq!(wait_responses(&c, 2).await, 2);
    // Well past the lease (500 ms + 200 ms): the poisoned request is not claimed and sent again.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let _ = stop.send(true);
    worker.await.expect("join").expect("worker");
    assert_eq!(
        served.requests.load(Ordering::SeqCst),
        2,
        "each request sent exactly once"
    );
    let rows = c
        .query(
            "select status_code, content, error_msg from net._http_response order by id",
            &[],
        )
        .await
        .expect("responses");
    let got: Vec<(Option<i32>, Option<String>, Option<String>)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].0, Some(200));
    assert_eq!(got[0].1, None);
    assert!(
        got[0].2.as_deref().is_some_and(
            |m| m.starts_with("could not store the response: ") && m.contains("no_poison")
        ),
        "{:?}",
        got[0].2
    );
    assert_eq!(got[1], (Some(200), Some("ok".to_string()), None));
    assert_eq!(
        one_i64(&c, "select count(*) from net.http_request_queue").await,
        0
    );
}
