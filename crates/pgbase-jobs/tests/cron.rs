//! The cron system schema and the scheduler against a real Postgres.

use std::time::Duration;

use pgbase_jobs::CronConfig;
use tokio::sync::watch;
use tokio_postgres::Client;

async fn err(client: &Client, sql: &str) -> (String, Option<String>) {
    match client.batch_execute(sql).await {
        Ok(()) => panic!("expected an error from {sql}"),
        Err(e) => match e.as_db_error() {
            Some(d) => (d.message().to_string(), d.hint().map(str::to_string)),
            None => (e.to_string(), None),
        },
    }
}

async fn one_i64(client: &Client, sql: &str) -> i64 {
    client
        .query_one(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
        .get(0)
}

#[tokio::test]
async fn schedule_unschedule_alter_and_errors() {
    let db = pgbase_testkit::test_db().await;
    let c = db.connect().await;
    let a = one_i64(&c, "select cron.schedule('*/5 * * * *', 'select 1')").await;
    let b = one_i64(&c, "select cron.schedule('nightly', '0 3 * * *', 'vacuum')").await;
    let b2 = one_i64(
        &c,
        "select cron.schedule('nightly', '0 4 * * *', 'vacuum analyze')",
    )
    .await;
    assert_eq!(b, b2, "same name updates the job");
    assert_ne!(a, b);
    let row = c
        .query_one(
            "select schedule, command, database = current_database(), username = current_user, active, nodename \
             from cron.job where jobname = 'nightly'",
            &[],
        )
        .await
        .expect("job row");
    assert_eq!(row.get::<_, String>(0), "0 4 * * *");
    assert_eq!(row.get::<_, String>(1), "vacuum analyze");
    assert!(row.get::<_, bool>(2) && row.get::<_, bool>(3) && row.get::<_, bool>(4));
    assert_eq!(row.get::<_, String>(5), "localhost");

    for ok in [
        "0 0 $ * *",
        "@hourly",
        "@reboot",
        " 30 sEcOnDs ",
        "1 second",
        "0 9 * jan-mar mon-fri",
        "0 0 * * 7",
    ] {
        c.execute("select cron.schedule($1, 'select 1')", &[&ok])
            .await
            .unwrap_or_else(|e| panic!("{ok}: {e:?}"));
    }
    for bad in [
        "0 seconds",
        "60 seconds",
        "-1 seconds",
        "5 secondc",
        "@restar",
        "*/60 * * * *",
        "*/0 * * * *",
        "* * * 13 *",
        "* * 0 * *",
        "* * * *",
    ] {
        let (msg, hint) = err(&c, &format!("select cron.schedule('{bad}', 'select 1')")).await;
        assert_eq!(msg, format!("invalid schedule: {bad}"));
        assert_eq!(
            hint.as_deref(),
            Some("Use cron format (e.g. 5 4 * * *), or interval format '[1-59] seconds'")
        );
    }

    assert_eq!(
        err(&c, "select cron.alter_job(1)").await.0,
        "no updates specified"
    );
    assert_eq!(
        err(&c, "select cron.alter_job(9999, command => 'x')")
            .await
            .0,
        "Job 9999 does not exist or you don't own it"
    );
    c.execute(
        "select cron.alter_job($1, schedule => '1 2 3 4 5', active => false)",
        &[&a],
    )
    .await
    .expect("alter");
    let row = c
        .query_one(
            "select schedule, active from cron.job where jobid = $1",
            &[&a],
        )
        .await
        .expect("altered");
    assert_eq!(row.get::<_, String>(0), "1 2 3 4 5");
    assert!(!row.get::<_, bool>(1));

    assert!(
        err(
            &c,
            "select cron.schedule_in_database('x', '* * * * *', 'select 1', 'elsewhere')"
        )
        .await
        .0
        .contains("cannot schedule a job in database \"elsewhere\"")
    );
    let other = one_i64(
        &c,
        "select cron.schedule_in_database('x', '* * * * *', 'select 1', current_database(), 'authenticated', false)",
    )
    .await;
    assert!(other > 0);

    assert_eq!(
        err(&c, "select cron.unschedule(9999)").await.0,
        "could not find valid entry for job 9999"
    );
    assert_eq!(
        err(&c, "select cron.unschedule('nope')").await.0,
        "could not find valid entry for job 'nope'"
    );
    let ok: bool = c
        .query_one("select cron.unschedule('nightly')", &[])
        .await
        .expect("unschedule by name")
        .get(0);
    assert!(ok);
    let ok: bool = c
        .query_one("select cron.unschedule($1::bigint)", &[&a])
        .await
        .expect("unschedule by id")
        .get(0);
    assert!(ok);
}

#[tokio::test]
async fn users_see_and_change_only_their_own_jobs() {
    let db = pgbase_testkit::test_db().await;
    let c = db.connect().await;
    let admin_job = one_i64(&c, "select cron.schedule('admin', '* * * * *', 'select 1')").await;
    // The API roles get no cron access (as Supabase); an administrator grants it to a role
    // (here `cron_user`, without BYPASSRLS) the way pg_cron's docs say.
    c.batch_execute(
        "create role cron_user;
         grant usage on schema cron to cron_user;
         grant select, insert, update, delete on cron.job to cron_user;
         grant select, delete on cron.job_run_details to cron_user;
         grant usage on all sequences in schema cron to cron_user;
         grant execute on all functions in schema cron to cron_user;
         revoke execute on function cron.alter_job(bigint, text, text, text, text, boolean),
           cron.schedule_in_database(text, text, text, text, text, boolean) from cron_user;
         insert into cron.job_run_details (jobid, username, status) values (1, 'postgres', 'succeeded'), (2, 'cron_user', 'succeeded')",
    )
    .await
    .expect("runs");
    c.batch_execute("set role cron_user").await.expect("role");
    assert_eq!(one_i64(&c, "select count(*) from cron.job").await, 0);
    assert_eq!(
        one_i64(&c, "select count(*) from cron.job_run_details").await,
        1
    );
    let mine = one_i64(&c, "select cron.schedule('mine', '* * * * *', 'select 1')").await;
    assert_eq!(one_i64(&c, "select count(*) from cron.job").await, 1);
    assert_eq!(
        err(&c, &format!("select cron.unschedule({admin_job})"))
            .await
            .0,
        format!("could not find valid entry for job {admin_job}")
    );
    assert!(
        err(&c, "select cron.alter_job(1, command => 'x')")
            .await
            .0
            .contains("permission denied")
    );
    assert!(
        err(
            &c,
            "select cron.schedule_in_database('y', '* * * * *', 'select 1', current_database())"
        )
        .await
        .0
        .contains("permission denied")
    );
    assert_eq!(
        err(&c, "insert into cron.job (schedule, command, username) values ('* * * * *', 'x', 'postgres')")
            .await
            .0,
        "permission denied to schedule a job as role \"postgres\""
    );
    // A role it may SET ROLE to passes the owner trigger; row-level security still keeps a
    // user without BYPASSRLS to rows of its own.
    c.batch_execute("reset role; grant anon to cron_user; set role cron_user")
        .await
        .expect("membership");
    assert!(
        err(
            &c,
            "insert into cron.job (schedule, command, username) values ('* * * * *', 'x', 'anon')"
        )
        .await
        .0
        .contains("row-level security")
    );
    let ok: bool = c
        .query_one("select cron.unschedule($1::bigint)", &[&mine])
        .await
        .expect("own job")
        .get(0);
    assert!(ok);
    c.batch_execute("reset role; grant authenticated to service_role; set role service_role")
        .await
        .expect("service role");
    let (msg, _) = err(
        &c,
        "select cron.schedule_in_database('z', '* * * * *', 'select 1', current_database(), 'anon')",
    )
    .await;
    assert_eq!(msg, "must be superuser to create a job for another role");
}

fn fast_config() -> CronConfig {
    CronConfig {
        leader_retry: Duration::from_millis(200),
        ..CronConfig::default()
    }
}

/// How long a wait on the scheduler's rows lasts at most: far beyond the few seconds the
/// ticks take, so that only a scheduler that never gets there fails, however loaded the machine.
const PATIENCE: Duration = Duration::from_secs(60);

/// Waits until the boolean query `sql` is true; panics after [`PATIENCE`].
async fn wait_until(c: &Client, what: &str, sql: &str) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let done: bool = c
            .query_one(sql, &[])
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
            .get(0);
        if done {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "waited {PATIENCE:?} for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs of job `name` with `status`, as an SQL expression.
fn runs(name: &str, status: &str) -> String {
    format!(
        "(select count(*) from cron.job_run_details d join cron.job j using (jobid) \
          where j.jobname = '{name}' and d.status = '{status}')"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_second_job_runs_and_logs_success_and_failure() {
    let db = pgbase_testkit::test_db().await;
    let c = db.connect().await;
    c.batch_execute(
        "create table public.ticks (at timestamptz default now(), who text default current_user);
         grant insert, select on public.ticks to authenticated;
         select cron.schedule('ok', '1 seconds', 'insert into public.ticks default values');
         select cron.schedule('bad', '1 seconds', 'select * from no_such_table');
         select cron.schedule_in_database('as-user', '1 seconds', 'insert into public.ticks default values', current_database(), 'authenticated');
         select cron.schedule('rows', '1 seconds', 'select 1 union all select 2');
         select cron.schedule('off', '1 seconds', 'select 1');
         select cron.alter_job((select jobid from cron.job where jobname = 'off'), active => false);",
    )
    .await
    .expect("setup");
    let (stop, signal) = watch::channel(false);
    let worker = tokio::spawn(pgbase_jobs::cron::run(
        fast_config(),
        db.config.clone(),
        db.pool(4),
        signal,
    ));
    // Every job the checks below read has done its part (the jobs fire in the same ticks,
    // but a loaded machine may finish one job's second run before another's).
    wait_until(
        &c,
        "two runs of 'ok' and 'bad', one of 'as-user' and 'rows'",
        &format!(
            "select {} >= 2 and {} >= 2 and {} >= 1 and {} >= 1",
            runs("ok", "succeeded"),
            runs("bad", "failed"),
            runs("as-user", "succeeded"),
            runs("rows", "succeeded"),
        ),
    )
    .await;
    let _ = stop.send(true);
    worker.await.expect("worker");

    let ok = c
        .query_one(
            "select count(*), min(return_message), bool_and(end_time >= start_time), bool_and(job_pid is not null) \
             from cron.job_run_details d join cron.job j using (jobid) where j.jobname = 'ok' and d.status = 'succeeded'",
            &[],
        )
        .await
        .expect("ok runs");
    assert!(ok.get::<_, i64>(0) >= 2);
    assert_eq!(
        ok.get::<_, Option<String>>(1).as_deref(),
        Some("INSERT 0 1")
    );
    assert!(ok.get::<_, bool>(2) && ok.get::<_, bool>(3));
    let failed: String = c
        .query_one(
            "select return_message from cron.job_run_details d join cron.job j using (jobid) where j.jobname = 'bad' limit 1",
            &[],
        )
        .await
        .expect("failed run")
        .get(0);
    assert_eq!(failed, "ERROR:  relation \"no_such_table\" does not exist");
    let rows: String = c
        .query_one(
            "select return_message from cron.job_run_details d join cron.job j using (jobid) where j.jobname = 'rows' limit 1",
            &[],
        )
        .await
        .expect("rows run")
        .get(0);
    assert_eq!(rows, "2 rows");
    // The job ran as the role that scheduled it.
    assert!(
        one_i64(
            &c,
            "select count(*) from public.ticks where who = 'authenticated'"
        )
        .await
            >= 1
    );
    assert!(
        one_i64(
            &c,
            "select count(*) from public.ticks where who = 'postgres'"
        )
        .await
            >= 1
    );
    assert_eq!(
        one_i64(&c, "select count(*) from cron.job_run_details d join cron.job j using (jobid) where j.jobname = 'off'").await,
        0
    );
    assert_eq!(
        one_i64(
            &c,
            "select count(*) from cron.job_run_details where status in ('starting', 'running')"
        )
        .await,
        0,
        "runs finished before the worker stopped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_never_overlaps_itself_and_times_out() {
    let db = pgbase_testkit::test_db().await;
    let c = db.connect().await;
    c.batch_execute(
        "create table public.spans (s timestamptz, e timestamptz);
         select cron.schedule('slow', '1 seconds', 'insert into public.spans select clock_timestamp(), clock_timestamp() + interval ''1500 ms'' from pg_sleep(1.5)');
         select cron.schedule('too-slow', '1 seconds', 'select pg_sleep(5)');",
    )
    .await
    .expect("setup");
    let (stop, signal) = watch::channel(false);
    let config = CronConfig {
        statement_timeout: Some(Duration::from_millis(2500)),
        ..fast_config()
    };
    let worker = tokio::spawn(pgbase_jobs::cron::run(
        config,
        db.config.clone(),
        db.pool(4),
        signal,
    ));
    wait_until(
        &c,
        "a timed-out run of 'too-slow' and two runs of 'slow'",
        &format!(
            "select {} >= 1 and {} >= 2",
            runs("too-slow", "failed"),
            runs("slow", "succeeded")
        ),
    )
    .await;
    let _ = stop.send(true);
    worker.await.expect("worker");

    let overlaps = one_i64(
        &c,
        "select count(*) from cron.job_run_details a join cron.job_run_details b \
           on a.jobid = b.jobid and a.runid < b.runid \
         where a.status = 'succeeded' and b.status = 'succeeded' and b.start_time < a.end_time",
    )
    .await;
    assert_eq!(
        overlaps, 0,
        "no run of a job starts before its previous one ended"
    );
    assert!(one_i64(&c, "select count(*) from public.spans").await >= 2);
    let msg: String = c
        .query_one(
            "select return_message from cron.job_run_details d join cron.job j using (jobid) where j.jobname = 'too-slow' and d.status = 'failed' limit 1",
            &[],
        )
        .await
        .expect("timeout run")
        .get(0);
    assert_eq!(msg, "ERROR:  canceling statement due to statement timeout");
}

/// The backend pid and client port (-1 over the unix socket) of the cron leader's session.
async fn lock_holder(c: &Client) -> Option<(i32, i32)> {
    c.query_opt(
        "select l.pid, coalesce(a.client_port, -1) from pg_locks l join pg_stat_activity a using (pid)
         where l.locktype = 'advisory' and l.granted
           and l.database = (select oid from pg_database where datname = current_database())
           and a.application_name = 'pgbase-cron-leader'",
        &[],
    )
    .await
    .expect("pg_locks")
    .map(|r| (r.get(0), r.get(1)))
}

/// Polls `probe` every 50 ms until it gives `Some`; panics after `within`.
async fn until<T>(what: &str, within: Duration, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "waited {within:?} for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A session LISTENing on `channel`; the payloads arrive on the receiver.
async fn listen(
    db: &pgbase_testkit::TestDb,
    channel: &str,
) -> (Client, tokio::sync::mpsc::UnboundedReceiver<String>) {
    use futures_util::StreamExt;
    let (client, mut connection) = db
        .config
        .connect(tokio_postgres::NoTls)
        .await
        .expect("listen connection");
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(Ok(message)) = messages.next().await {
            if let tokio_postgres::AsyncMessage::Notification(n) = message {
                let _ = tx.send(n.payload().to_string());
            }
        }
    });
    client
        .batch_execute(&format!("listen {channel}"))
        .await
        .expect("listen");
    (client, rx)
}

/// Two schedulers, one over TCP and one over the unix socket so that the lock holder's
/// `client_port` tells which one leads. The leader is stopped; the other must take over
/// promptly, and no second may fire under both (each run records the lock holder it saw).
///
/// No tick counting with tolerances: the leaving leader announces the last second `k` it
/// fired, and each run's `at` is no earlier than the second it fired for (a second is fired
/// only once the clock has reached it, the run inserts afterwards). So, exactly: the first
/// leader fired only seconds in `(t0, k]` (`t0` read before either scheduler started) and the
/// new leader only seconds after `k`, one run each, however late a loaded machine runs them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_schedulers_fire_each_tick_once() {
    let db = pgbase_testkit::test_db().await;
    let c = db.connect().await;
    let (_listening, mut handovers) = listen(&db, "pgbase_cron_leader").await;
    c.batch_execute(
        "create table public.fired (at timestamptz not null default clock_timestamp(), leader int);
         select cron.schedule('tick', '1 seconds', $$
           insert into public.fired (leader)
           select l.pid from pg_locks l join pg_stat_activity a using (pid)
           where l.locktype = 'advisory' and l.granted
             and l.database = (select oid from pg_database where datname = current_database())
             and a.application_name = 'pgbase-cron-leader'$$);",
    )
    .await
    .expect("setup");
    let t0 = one_i64(
        &c,
        "select floor(extract(epoch from clock_timestamp()))::int8",
    )
    .await;
    let tcp: tokio_postgres::Config = db.url.parse().expect("db url");
    let mut stops = Vec::new();
    let mut workers = Vec::new();
    for config in [tcp, db.config.clone()] {
        let (stop, signal) = watch::channel(false);
        stops.push(stop);
        workers.push(tokio::spawn(pgbase_jobs::cron::run(
            fast_config(),
            config,
            db.pool(4),
            signal,
        )));
    }
    let runs_by = async |leader: i32| {
        one_i64(
            &c,
            &format!("select count(*) from public.fired where leader = {leader}"),
        )
        .await
    };
    let within = PATIENCE;
    let (old_pid, old_port) = until("a leader that fires", within, async || {
        let (pid, port) = lock_holder(&c).await?;
        (runs_by(pid).await >= 2).then_some((pid, port))
    })
    .await;
    // Stop the leader (over TCP: a client port; over the socket: -1).
    let leader = usize::from(old_port == -1);
    let _ = stops[leader].send(true);
    let stopped = tokio::time::Instant::now();
    workers.remove(leader).await.expect("leader");
    let note = tokio::time::timeout(PATIENCE, handovers.recv())
        .await
        .expect("the leaving leader's hand-over notification")
        .expect("listening");
    let k = match note.split_once('|') {
        Some(("GMT", second)) => {
            one_i64(
                &c,
                &format!(
                    "select extract(epoch from '{second}'::timestamp at time zone 'GMT')::int8"
                ),
            )
            .await
        }
        _ => panic!("hand-over note {note:?}"),
    };
    let new_pid = until("the other scheduler to take the lock", within, async || {
        lock_holder(&c)
            .await
            .filter(|&(pid, port)| pid != old_pid && (port == -1) != (old_port == -1))
            .map(|(pid, _)| pid)
    })
    .await;
    let takeover = stopped.elapsed();
    // leader_retry is 200 ms; the bound only catches a take-over that does not happen.
    assert!(
        takeover < Duration::from_secs(10),
        "take-over took {takeover:?}"
    );
    until("the new leader to fire 2 times", within, async || {
        (runs_by(new_pid).await >= 2).then_some(())
    })
    .await;
    let _ = stops[1 - leader].send(true);
    workers.remove(0).await.expect("survivor");

    let old_runs = runs_by(old_pid).await;
    assert!(
        old_runs <= k - t0,
        "the first leader ran {old_runs} times for at most {} seconds (t0 {t0}, last fired {k})",
        k - t0
    );
    let (new_runs, new_first, new_last): (i64, i64, i64) = c
        .query_one(
            "select count(*), floor(extract(epoch from min(at)))::int8,
                    floor(extract(epoch from max(at)))::int8
             from public.fired where leader = $1",
            &[&new_pid],
        )
        .await
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .expect("new leader's runs");
    assert!(
        new_first > k,
        "the new leader fired second {new_first}, at or before the hand-over's {k}"
    );
    assert!(
        new_runs <= new_last - k,
        "the new leader ran {new_runs} times for the {} seconds after the hand-over",
        new_last - k
    );
    assert_eq!(
        one_i64(
            &c,
            &format!(
                "select count(*) from public.fired where leader is null or leader not in ({old_pid}, {new_pid})"
            )
        )
        .await,
        0,
        "every run saw one of the two leaders"
    );
    assert_eq!(
        one_i64(
            &c,
            &format!(
                "select ((select max(at) from public.fired where leader = {old_pid})
                       < (select min(at) from public.fired where leader = {new_pid}))::int::int8"
            )
        )
        .await,
        1,
        "the old leader's runs precede the new one's"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_run_details_are_pruned() {
    let db = pgbase_testkit::test_db().await;
    let c = db.connect().await;
    c.batch_execute(
        "insert into cron.job_run_details (jobid, status, start_time, end_time) values
           (1, 'succeeded', now() - interval '2 days', now() - interval '2 days'),
           (1, 'succeeded', now() - interval '1 minute', now() - interval '1 minute');",
    )
    .await
    .expect("setup");
    let (stop, signal) = watch::channel(false);
    let config = CronConfig {
        run_retention: Some(Duration::from_secs(24 * 3600)),
        ..fast_config()
    };
    let worker = tokio::spawn(pgbase_jobs::cron::run(
        config,
        db.config.clone(),
        db.pool(2),
        signal,
    ));
    wait_until(
        &c,
        "the run older than the retention to be pruned",
        "select count(*) = 1 from cron.job_run_details",
    )
    .await;
    let _ = stop.send(true);
    worker.await.expect("worker");
    assert_eq!(
        one_i64(
            &c,
            "select count(*) from cron.job_run_details where start_time > now() - interval '1 hour'"
        )
        .await,
        1,
        "the recent run is kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_cannot_leave_its_role() {
    let db = pgbase_testkit::test_db().await;
    let c = db.connect().await;
    c.batch_execute(
        "create table public.who (name text);
         grant insert on public.who to authenticated;
         create table public.secret (x int);
         revoke all on public.secret from anon, authenticated, service_role;
         select cron.schedule_in_database('reset', '1 seconds', 'reset role; insert into public.who values (current_user)', current_database(), 'authenticated');
         select cron.schedule_in_database('setrole', '1 seconds', 'select set_config(''role'', ''postgres'', false); insert into public.who values (current_user)', current_database(), 'authenticated');
         select cron.schedule_in_database('auth', '1 seconds', 'set session authorization postgres; insert into public.who values (current_user)', current_database(), 'authenticated');
         select cron.schedule_in_database('multi', '1 seconds', 'insert into public.who values (current_user); insert into public.who values (session_user)', current_database(), 'authenticated');
         select cron.schedule_in_database('secret', '1 seconds', 'select * from public.secret', current_database(), 'authenticated');
         select cron.schedule_in_database('vacuum', '1 seconds', 'vacuum public.who', current_database(), 'authenticated');",
    )
    .await
    .expect("setup");
    let (stop, signal) = watch::channel(false);
    let worker = tokio::spawn(pgbase_jobs::cron::run(
        fast_config(),
        db.config.clone(),
        db.pool(4),
        signal,
    ));
    wait_until(
        &c,
        "a finished run of each of the 6 jobs",
        "select count(distinct jobid) = 6 from cron.job_run_details where status in ('succeeded', 'failed')",
    )
    .await;
    let _ = stop.send(true);
    worker.await.expect("worker");
    let message = |name: &'static str| {
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
        message("reset").await,
        (
            "failed".to_string(),
            "ERROR:  cannot set parameter \"role\" within security-definer function".to_string()
        )
    );
    assert_eq!(message("setrole").await.0, "failed");
    assert_eq!(
        message("auth").await,
        (
            "failed".to_string(),
            "ERROR:  cannot set parameter \"session_authorization\" within security-definer function".to_string()
        )
    );
    assert_eq!(
        message("multi").await,
        ("succeeded".to_string(), "INSERT 0 1".to_string())
    );
    assert_eq!(
        message("secret").await,
        (
            "failed".to_string(),
            "ERROR:  permission denied for table secret".to_string()
        )
    );
    assert_eq!(message("vacuum").await.0, "succeeded");
    let names: Vec<String> = c
        .query("select distinct name from public.who order by 1", &[])
        .await
        .expect("who")
        .iter()
        .map(|r| r.get(0))
        .collect();
    // current_user inside the job is the job's user; session_user is pgbase's login.
    assert_eq!(
        names,
        vec!["authenticated".to_string(), "postgres".to_string()]
    );
    assert_eq!(
        one_i64(&c, "select count(*) from public.who where name = 'postgres'").await,
        one_i64(&c, "select count(*) from cron.job_run_details d join cron.job j using (jobid) where j.jobname = 'multi' and d.status = 'succeeded'").await,
        "only the session_user inserts say postgres"
    );
}
