//! System-schema upgrades in place: a database made with the first release's system SQL (kept in
//! `tests/fixtures/release1/`, as that release's runner recorded it) holding auth users and
//! sessions, a queue with messages, cron jobs with runs, brought to the current release by
//! `migrate`: the data is intact, the system functions are those of a new database, and a second
//! run changes nothing.

use pgbase_migrate::migrate;
use tokio_postgres::Client;

/// The first release's system files, in order (commit 0cda4ba, the first with all six real).
const RELEASE1: &[(i32, &str, &str)] = &[
    (
        1,
        "0001_pgbase.sql",
        include_str!("fixtures/release1/0001_pgbase.sql"),
    ),
    (
        2,
        "0002_auth.sql",
        include_str!("fixtures/release1/0002_auth.sql"),
    ),
    (
        3,
        "0003_extensions_jwt.sql",
        include_str!("fixtures/release1/0003_extensions_jwt.sql"),
    ),
    (
        4,
        "0004_pgmq.sql",
        include_str!("fixtures/release1/0004_pgmq.sql"),
    ),
    (
        5,
        "0005_cron.sql",
        include_str!("fixtures/release1/0005_cron.sql"),
    ),
    (
        6,
        "0006_net.sql",
        include_str!("fixtures/release1/0006_net.sql"),
    ),
];

/// The first release's bookkeeping table (no checksum column).
const RELEASE1_BOOTSTRAP: &str = "create schema if not exists pgbase;
create table if not exists pgbase.system_migrations (
  version integer primary key,
  name text not null,
  applied_at timestamptz not null default now()
);";

/// Every piece of user data the upgrade must keep, as one text.
const DATA: &str = "select jsonb_build_object(
  'users', (select jsonb_agg(to_jsonb(u) order by id) from auth.users u),
  'sessions', (select jsonb_agg(to_jsonb(s) order by id) from auth.sessions s),
  'queues', (select jsonb_agg(to_jsonb(m) order by queue_name) from pgmq.meta m),
  'messages', (select jsonb_agg(to_jsonb(q) order by msg_id) from pgmq.q_jobs q),
  'archive', (select jsonb_agg(to_jsonb(a) order by msg_id) from pgmq.a_jobs a),
  'jobs', (select jsonb_agg(jsonb_build_object('jobid', jobid, 'schedule', schedule,
             'command', command, 'username', username, 'active', active, 'jobname', jobname)
             order by jobid) from cron.job),
  'runs', (select jsonb_agg(to_jsonb(r) order by runid) from cron.job_run_details r)
)::text";

/// The system objects a database has: function definitions and privileges, policies, triggers
/// and columns of the system schemas (per-user cron runners left out).
const OBJECTS: &str = "select jsonb_build_object(
  'functions', (select jsonb_agg(jsonb_build_object(
        'f', p.oid::regprocedure::text, 'def', pg_get_functiondef(p.oid),
        'acl', coalesce(p.proacl::text, ''))
      order by p.oid::regprocedure::text)
    from pg_proc p join pg_namespace n on n.oid = p.pronamespace
    where n.nspname in ('pgbase', 'auth', 'extensions', 'pgmq', 'pgmq_public', 'cron', 'cron_runner', 'net')
      and p.prokind in ('f', 'p') and p.proname not like '\\_run\\_as\\_%'),
  'policies', (select jsonb_agg(jsonb_build_object('t', tablename, 'p', policyname,
        'using', qual, 'check', with_check, 'cmd', cmd) order by tablename, policyname)
    from pg_policies where schemaname in ('auth', 'pgmq', 'cron', 'net')),
  'triggers', (select jsonb_agg(tgname::text || ' ' || tgrelid::regclass::text order by 1)
    from pg_trigger where not tgisinternal),
  'columns', (select jsonb_agg(table_schema || '.' || table_name || '.' || column_name || ' '
        || data_type || ' ' || coalesce(column_default, '') order by 1)
    from information_schema.columns
    where table_schema in ('pgbase', 'auth', 'pgmq', 'cron', 'net')
      and table_name not like 'q\\_%' and table_name not like 'a\\_%'
      and table_name <> 'system_migrations')
)";

/// The DDL event trigger pgbase makes: name, event, function, enabled state ('' when missing).
const EVENT_TRIGGER: &str = "select coalesce((select evtname || ' ' || evtevent || ' '
    || evtfoid::regprocedure::text || ' ' || evtenabled::text
  from pg_event_trigger where evtname = 'pgbase_ddl_end'), '')";

async fn text(client: &Client, query: &str) -> String {
    client
        .query_one(query, &[])
        .await
        .expect(query)
        .get::<_, String>(0)
}

async fn objects(client: &Client) -> serde_json::Value {
    let row = client
        .query_one(&format!("{OBJECTS}::text"), &[])
        .await
        .expect("objects");
    serde_json::from_str(row.get::<_, &str>(0)).expect("json")
}

#[tokio::test]
async fn a_first_release_database_upgrades_in_place_keeping_its_data() {
    let db = pgbase_testkit::test_db().await;
    let fresh = db.connect().await;
    let name = format!("{}_release1", db.name);
    fresh
        .batch_execute(&format!("create database {name} template template0"))
        .await
        .expect("create database");
    let mut config = db.config.clone();
    config.dbname(&name);
    let (mut old, connection) = config
        .connect(tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);

    // The first release, as its runner installed it.
    old.batch_execute(RELEASE1_BOOTSTRAP)
        .await
        .expect("bootstrap");
    for (version, file, sql) in RELEASE1 {
        old.batch_execute(sql).await.expect(file);
        old.execute(
            "insert into pgbase.system_migrations (version, name) values ($1, $2)",
            &[version, file],
        )
        .await
        .expect("record");
    }
    old.batch_execute(
        "insert into auth.users (id, email, encrypted_password, role, aud)
           values ('00000000-0000-0000-0000-000000000001', 'ada@example.com', 'x', 'authenticated', 'authenticated'),
                  ('00000000-0000-0000-0000-000000000002', 'bob@example.com', 'y', 'authenticated', 'authenticated');
         insert into auth.sessions (id, user_id, user_agent)
           values ('00000000-0000-0000-0000-0000000000aa', '00000000-0000-0000-0000-000000000001', 'curl');
         select pgmq.create('jobs');
         select pgmq.send('jobs', '{\"n\": 1}');
         select pgmq.send('jobs', '{\"n\": 2}');
         select pgmq.send_batch('jobs', array['{\"n\": 3}', '{\"n\": 4}']::jsonb[]);
         select pgmq.read('jobs', 30, 1);
         select pgmq.archive('jobs', 2::bigint);
         select cron.schedule('nightly', '0 3 * * *', 'select 1');
         set role service_role;
         select cron.schedule('mine', '0 4 * * *', 'select 2');
         reset role;
         insert into cron.job_run_details (jobid, username, command, status, return_message, start_time, end_time)
           select jobid, username, command, 'succeeded', 'SELECT 1', now(), now() from cron.job;",
    )
    .await
    .expect("data made with the first release");
    // A first-release database whose DDL event trigger is gone (as one installed by a login the
    // first release did not try to create it with): the upgrade of 0001 brings it back.
    old.batch_execute("drop event trigger pgbase_ddl_end")
        .await
        .expect("drop the event trigger");
    let data_before = text(&old, DATA).await;

    let report = migrate(&mut old, None).await.expect("upgrade");
    assert_eq!(report.system_applied, ["0007_safety.sql"]);
    assert_eq!(
        report.system_upgraded,
        [
            "0001_pgbase.sql",
            "0004_pgmq.sql",
            "0005_cron.sql",
            "0006_net.sql"
        ]
    );
    assert_eq!(
        text(&old, EVENT_TRIGGER).await,
        "pgbase_ddl_end ddl_command_end pgbase.on_ddl() O",
        "the upgrade (as a superuser) made the DDL event trigger again"
    );

    assert_eq!(text(&old, DATA).await, data_before, "user data changed");
    let upgraded = objects(&old).await;
    let current = objects(&fresh).await;
    for key in ["functions", "policies", "triggers", "columns"] {
        let (a, b) = (&upgraded[key], &current[key]);
        let (a, b) = (a.as_array().expect(key), b.as_array().expect(key));
        let only_upgraded: Vec<_> = a.iter().filter(|x| !b.contains(x)).collect();
        let only_current: Vec<_> = b.iter().filter(|x| !a.contains(x)).collect();
        assert!(
            only_upgraded.is_empty() && only_current.is_empty(),
            "{key} differ from a new database:\nonly upgraded: {only_upgraded:#?}\nonly new: {only_current:#?}"
        );
    }
    let jobs: Vec<(String, String)> = old
        .query(
            "select username, scheduled_by from cron.job order by jobname",
            &[],
        )
        .await
        .expect("jobs")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        jobs,
        [
            ("service_role".into(), "service_role".into()),
            ("postgres".into(), "postgres".into())
        ]
    );
    // The new code paths work on the old queue.
    old.batch_execute(
        "select pgmq.send('jobs', '{\"n\": 5}');
         select pgmq.disable_notify_insert('jobs');
         select pgmq_public.send('jobs', '{\"n\": 6}');",
    )
    .await
    .expect("new queue functions on an old queue");
    let unread: i64 = old
        .query_one("select count(*) from pgmq.read('jobs', 30, 10)", &[])
        .await
        .expect("read")
        .get(0);
    assert_eq!(unread, 4, "messages 3, 4, 5 and 6 are visible");

    // A second run changes nothing.
    let data_after = text(&old, DATA).await;
    let again = migrate(&mut old, None).await.expect("second upgrade");
    assert!(again.system_applied.is_empty() && again.system_upgraded.is_empty());
    assert_eq!(text(&old, DATA).await, data_after);
    assert_eq!(objects(&old).await, upgraded);
    let unrecorded: i64 = old
        .query_one(
            "select count(*) from pgbase.system_migrations where checksum is null",
            &[],
        )
        .await
        .expect("checksums")
        .get(0);
    assert_eq!(unrecorded, 0, "every system file carries its checksum");

    drop(old);
    fresh
        .batch_execute(&format!("drop database {name} with (force)"))
        .await
        .expect("drop database");
}

/// A database made by the current release is not upgraded (its checksums match), and one made
/// by a release that kept no checksums has them recorded without any upgrade running.
#[tokio::test]
async fn a_current_database_is_left_alone() {
    let db = pgbase_testkit::test_db().await;
    let mut client = db.connect().await;
    let before = objects(&client).await;
    let report = migrate(&mut client, None).await.expect("migrate");
    assert!(report.system_applied.is_empty() && report.system_upgraded.is_empty());
    client
        .batch_execute("update pgbase.system_migrations set checksum = null")
        .await
        .expect("forget checksums");
    let report = migrate(&mut client, None).await.expect("migrate");
    assert!(
        report.system_upgraded.is_empty(),
        "{:?}",
        report.system_upgraded
    );
    assert_eq!(objects(&client).await, before);
}
