//! Graceful shutdown of `pgbase serve` (issue #16), on the built binary:
//!
//! - SIGTERM while requests are in flight: the listener closes at once (new connections are
//!   refused while the old ones still run), every in-flight request is answered 200, and the
//!   process exits 0 soon after the last one (measured from that answer).
//! - A request longer than `shutdown_timeout`: the process does not wait for it; it exits with
//!   status 1, no sooner than the timeout and long before the request would have ended, and
//!   the request is cut off unanswered.
//! - Two processes with a '1 seconds' cron job: SIGTERM the leader (found through pg_locks),
//!   it exits 0 and hands over; the other process leads and fires the next tick: counted in
//!   runs, not in clock time (a late first run on a loaded machine catches up), the two
//!   reigns together fire every second of their span once, and no second fires in both.
//! - Two processes and `net.http_post` requests held by a slow sink: SIGTERM the process that
//!   claimed them; it finishes them and exits 0. A request enqueued while it drains wakes the
//!   other process, which takes that one and leaves the draining process's claims alone (they
//!   stay valid until it is done): every request is delivered once, with one response row.
//!
//! Every wait is on an event (a row, a session, a refused connection, an exit) with a generous
//! upper bound; no fixed sleeps stand in for assertions.

#![allow(clippy::unwrap_used)]

mod procs;

use std::time::{Duration, Instant};

use procs::{
    Served, Sink, cron_leader_session, http, logs_of, owner_of_session, refused, wait_for,
};

/// Upper bound of any one wait: only reached when something is broken.
const PATIENCE: Duration = Duration::from_secs(30);

const SLOW_RPC: &str = "
create function public.slow(secs float8) returns int language sql as $$
  select 1 from pg_sleep(secs)
$$;
grant execute on function public.slow(float8) to anon;
";

/// Backends of this database sleeping in pg_sleep (the slow RPCs in flight).
async fn sleepers(client: &tokio_postgres::Client) -> i64 {
    client
        .query_one(
            "select count(*) from pg_stat_activity
             where datname = current_database() and wait_event = 'PgSleep'",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

/// Waits until the server answers the slow RPC (schema cache loaded).
async fn wait_ready(served: &Served) {
    wait_for(
        "the server to answer /rest/v1/rpc/slow",
        PATIENCE,
        || served.log_text(),
        async || {
            let (status, _) = http(served.port, "POST", "/rest/v1/rpc/slow", r#"{"secs":0}"#)
                .await
                .ok()?;
            (status == 200).then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_answers_in_flight_requests_refuses_new_ones_and_exits_0() {
    const IN_FLIGHT: usize = 8;
    // Long enough that the test sees the listener closed while they still run, even when a
    // loaded machine is slow to deliver the signal or to poll.
    const NAP: &str = r#"{"secs":5}"#;
    let db = pgbase_testkit::test_db().await;
    let client = db.connect().await;
    client.batch_execute(SLOW_RPC).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut served = Served::start(
        &db.url,
        &dir.path().join("serve.log"),
        &["--shutdown-timeout", "20s", "--jobs", "false"],
    );
    wait_ready(&served).await;

    let port = served.port;
    let requests: Vec<_> = (0..IN_FLIGHT)
        .map(|_| {
            tokio::spawn(async move {
                let answer = http(port, "POST", "/rest/v1/rpc/slow", NAP).await;
                (answer, Instant::now())
            })
        })
        .collect();
    wait_for(
        "every request to be in flight",
        PATIENCE,
        || served.log_text(),
        async || (sleepers(&client).await >= IN_FLIGHT as i64).then_some(()),
    )
    .await;

    served.terminate();
    // The listener closes while the requests still run.
    wait_for(
        "new connections to be refused",
        PATIENCE,
        || served.log_text(),
        async || refused(port).then_some(()),
    )
    .await;
    let still_running = sleepers(&client).await;
    assert!(
        still_running > 0,
        "connections were refused only after the in-flight requests ended"
    );

    let mut last_answer = None;
    for request in requests {
        let (answer, at) = request.await.unwrap();
        last_answer = last_answer.max(Some(at));
        let (status, body) = answer.expect("connection");
        assert_eq!(
            (status, body.as_str()),
            (200, "1"),
            "an in-flight request was not answered\n{}",
            served.log_text()
        );
    }
    let status = served
        .wait_exit(PATIENCE)
        .unwrap_or_else(|| panic!("still running after SIGTERM\n{}", served.log_text()));
    let after_last = last_answer.expect("answers").elapsed();
    eprintln!(
        "exit {status:?} {after_last:?} after the last answer ({still_running} requests in \
         flight at refusal)"
    );
    // 0, not 1: the drain ended before the 20 s shutdown_timeout cut it off.
    assert_eq!(status.code(), Some(0), "{}", served.log_text());
    // Once the last request is answered, nothing else holds the exit (a generous bound: the
    // exit code already tells a drain from the timeout).
    assert!(
        after_last < Duration::from_secs(10),
        "exit came {after_last:?} after the last answer\n{}",
        served.log_text()
    );
    assert!(
        served.log_text().contains("shut down cleanly"),
        "{}",
        served.log_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_longer_than_shutdown_timeout_does_not_hold_the_exit() {
    const TIMEOUT: Duration = Duration::from_secs(2);
    let db = pgbase_testkit::test_db().await;
    let client = db.connect().await;
    client.batch_execute(SLOW_RPC).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut served = Served::start(
        &db.url,
        &dir.path().join("serve.log"),
        &[
            "--shutdown-timeout",
            "2s",
            "--db-statement-timeout",
            "60s",
            "--jobs",
            "false",
        ],
    );
    wait_ready(&served).await;

    let port = served.port;
    // The request naps far longer than the test waits for the exit: an exit that waited
    // for it fails the bounded wait below.
    let request =
        tokio::spawn(
            async move { http(port, "POST", "/rest/v1/rpc/slow", r#"{"secs":50}"#).await },
        );
    wait_for(
        "the request to be in flight",
        PATIENCE,
        || served.log_text(),
        async || (sleepers(&client).await >= 1).then_some(()),
    )
    .await;

    served.terminate();
    let signalled = Instant::now();
    let status = served.wait_exit(PATIENCE).unwrap_or_else(|| {
        panic!(
            "still running {:?} after SIGTERM with shutdown_timeout = 2s\n{}",
            signalled.elapsed(),
            served.log_text()
        )
    });
    let elapsed = signalled.elapsed();
    eprintln!("exit {status:?} {elapsed:?} after SIGTERM");
    assert!(
        elapsed >= TIMEOUT,
        "exited after {elapsed:?}, before the request had its shutdown_timeout"
    );
    assert_eq!(
        status.code(),
        Some(1),
        "a cut-off shutdown exits 1\n{}",
        served.log_text()
    );
    assert!(
        served.log_text().contains("shutdown_timeout"),
        "the log names the timeout\n{}",
        served.log_text()
    );
    let (status, _) = request.await.unwrap().expect("connected before SIGTERM");
    assert_eq!(status, 0, "the cut-off request got no answer");
    // The abandoned query is the database's to end; end it here so the test leaves nothing.
    client
        .batch_execute(
            "select pg_terminate_backend(pid) from pg_stat_activity
             where datname = current_database() and wait_event = 'PgSleep'",
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_of_the_cron_leader_hands_over_within_two_ticks() {
    let db = pgbase_testkit::test_db().await;
    let client = db.connect().await;
    // Each run records the session that led when it ran.
    client
        .batch_execute(
            "create table public.fired (at timestamptz not null default clock_timestamp(), leader int);
             select cron.schedule('tick', '1 seconds', $$
               insert into public.fired (leader)
               select l.pid from pg_locks l join pg_stat_activity a using (pid)
               where l.locktype = 'advisory' and l.granted
                 and l.database = (select oid from pg_database where datname = current_database())
                 and a.application_name = 'pgbase-cron-leader'$$);",
        )
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut served = [
        Served::start(&db.url, &dir.path().join("a.log"), &[]),
        Served::start(&db.url, &dir.path().join("b.log"), &[]),
    ];
    let logs = |s: &[Served; 2]| logs_of(&[&s[0], &s[1]]);
    let runs_by = async |leader: i32| -> i64 {
        client
            .query_one(
                "select count(*) from public.fired where leader = $1",
                &[&leader],
            )
            .await
            .unwrap()
            .get(0)
    };
    let old_session = wait_for(
        "a leader that fires",
        PATIENCE,
        || logs(&served),
        async || {
            let session = cron_leader_session(&client).await?;
            (runs_by(session).await >= 3).then_some(session)
        },
    )
    .await;
    let leader = owner_of_session(&client, old_session, &[&served[0], &served[1]])
        .await
        .unwrap_or_else(|| panic!("no child owns the leader session\n{}", logs(&served)));

    served[leader].terminate();
    let signalled = Instant::now();
    let status = served[leader]
        .wait_exit(PATIENCE)
        .unwrap_or_else(|| panic!("the leader did not exit\n{}", logs(&served)));
    eprintln!("leader exited {status:?} after {:?}", signalled.elapsed());
    assert_eq!(status.code(), Some(0), "{}", logs(&served));
    let new_session = wait_for(
        "the other process to fire",
        PATIENCE,
        || logs(&served),
        async || {
            let session = cron_leader_session(&client)
                .await
                .filter(|s| *s != old_session)?;
            (runs_by(session).await >= 2).then_some(session)
        },
    )
    .await;
    let survivor = 1 - leader;
    assert_eq!(
        owner_of_session(&client, new_session, &[&served[0], &served[1]]).await,
        Some(survivor),
        "{}",
        logs(&served)
    );
    // One snapshot of the runs. Counted in runs, not clock time: every second from the old
    // leader's first run to the new leader's last fires once, so the runs span (count - 1)
    // seconds; a hand-over that lost a tick has fewer runs, one that doubled a tick more.
    let runs: Vec<(f64, i32)> = client
        .query(
            "select extract(epoch from at)::float8, leader from public.fired
             where leader in ($1, $2) order by at",
            &[&old_session, &new_session],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let of = |session: i32| -> Vec<f64> {
        runs.iter()
            .filter(|(_, l)| *l == session)
            .map(|(t, _)| *t)
            .collect()
    };
    let (old_runs, new_runs) = (of(old_session), of(new_session));
    let (old_last, new_first) = (old_runs[old_runs.len() - 1], new_runs[0]);
    let span = (new_runs[new_runs.len() - 1] - old_runs[0]).round() as i64;
    let fired = (old_runs.len() + new_runs.len()) as i64;
    let per_second: Vec<(String, i64)> = client
        .query(
            "select date_trunc('second', at)::text, count(*) from public.fired
             group by 1 having count(distinct coalesce(leader, 0)) > 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    eprintln!(
        "hand-over gap {:.3} s; {fired} runs over {span} s",
        new_first - old_last
    );
    assert!(
        new_first > old_last,
        "the new leader ran before the old one's last run\n{}",
        logs(&served)
    );
    assert_eq!(
        fired,
        span + 1,
        "runs vs seconds spanned: a tick lost (fewer) or doubled (more) across the \
         hand-over: {runs:?}\n{}",
        logs(&served)
    );
    assert_eq!(per_second, vec![], "seconds fired by both leaders");
    let survivor_log = served[survivor].log_text();
    assert!(
        survivor_log.contains("taking over from a leader that left"),
        "the survivor did not take the hand-over note\n{survivor_log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_of_the_net_claimer_finishes_its_requests_without_duplicates() {
    const REQUESTS: i32 = 6;
    let sink = Sink::start(Duration::from_secs(2));
    let db = pgbase_testkit::test_db().await;
    let client = db.connect().await;
    let dir = tempfile::tempdir().unwrap();
    // Loopback is refused by default in serve; the sink lives there.
    let flags = ["--net-deny-private", "false"];
    let mut served = [
        Served::start(&db.url, &dir.path().join("a.log"), &flags),
        Served::start(&db.url, &dir.path().join("b.log"), &flags),
    ];
    let logs = |s: &[Served; 2]| logs_of(&[&s[0], &s[1]]);
    wait_for(
        "both net workers to listen",
        PATIENCE,
        || logs(&served),
        async || {
            let n: i64 = client
                .query_one(
                    "select count(*) from pg_stat_activity
                     where datname = current_database() and application_name = 'pgbase-net-worker'",
                    &[],
                )
                .await
                .unwrap()
                .get(0);
            (n >= 2).then_some(())
        },
    )
    .await;
    client
        .execute(
            "select net.http_post(url := $1 || '/hook/' || i, body := '{}'::jsonb,
                                  timeout_milliseconds := 20000)
             from generate_series(1, $2::int) i",
            &[&format!("http://127.0.0.1:{}", sink.port), &REQUESTS],
        )
        .await
        .unwrap();
    let claimer: i32 = wait_for(
        "every request to reach the sink",
        PATIENCE,
        || logs(&served),
        async || {
            (sink.deliveries().len() >= REQUESTS as usize).then_some(())?;
            client
                .query_one(
                    "select claimed_by from net.http_request_queue
                     where claimed_by is not null group by 1 order by count(*) desc limit 1",
                    &[],
                )
                .await
                .ok()
                .map(|r| r.get(0))
        },
    )
    .await;
    let victim = owner_of_session(&client, claimer, &[&served[0], &served[1]])
        .await
        .unwrap_or_else(|| panic!("no child owns claimer session {claimer}\n{}", logs(&served)));

    served[victim].terminate();
    // While it drains, wake the other worker with one more request: it must take that one
    // and leave the draining process's requests alone.
    wait_for(
        "the claimer to start shutting down",
        PATIENCE,
        || logs(&served),
        async || {
            served[victim]
                .log_text()
                .contains("shutting down")
                .then_some(())
        },
    )
    .await;
    client
        .execute(
            "select net.http_post(url := $1 || '/extra', body := '{}'::jsonb)",
            &[&format!("http://127.0.0.1:{}", sink.port)],
        )
        .await
        .unwrap();
    let status = served[victim]
        .wait_exit(PATIENCE)
        .unwrap_or_else(|| panic!("the claimer did not exit\n{}", logs(&served)));
    assert_eq!(status.code(), Some(0), "{}", logs(&served));
    let responses: Vec<Option<i32>> = wait_for(
        "a response row for every request",
        PATIENCE,
        || logs(&served),
        async || {
            let rows = client
                .query("select status_code from net._http_response", &[])
                .await
                .unwrap();
            (rows.len() > REQUESTS as usize).then(|| rows.iter().map(|r| r.get(0)).collect())
        },
    )
    .await;
    assert_eq!(responses, vec![Some(200); REQUESTS as usize + 1]);
    let queued: i64 = client
        .query_one("select count(*) from net.http_request_queue", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(queued, 0);
    let mut deliveries = sink.deliveries();
    deliveries.sort();
    deliveries.dedup();
    assert_eq!(
        (deliveries.len(), sink.deliveries().len()),
        (REQUESTS as usize + 1, REQUESTS as usize + 1),
        "each request delivered once: {:?}\n{}",
        sink.deliveries(),
        logs(&served)
    );
}
