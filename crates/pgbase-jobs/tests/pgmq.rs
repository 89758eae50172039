//! The pgmq system schema against a real Postgres: every function, its errors, and concurrent
//! consumers.

use std::collections::HashSet;

use serde_json::{Value, json};
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

async fn ids(client: &Client, sql: &str) -> Vec<i64> {
    client
        .query(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[tokio::test]
async fn queue_lifecycle_send_read_archive_delete() {
    let db = pgbase_testkit::test_db().await;
    let c = db.connect().await;
    c.batch_execute("select pgmq.create('MyQueue'); select pgmq.create('MyQueue');")
        .await
        .expect("create twice is fine");
    let tables = ids(
        &c,
        "select count(*) from pg_tables where schemaname = 'pgmq' and tablename in ('q_myqueue', 'a_myqueue')",
    )
    .await;
    assert_eq!(tables, vec![2]);
    let row = c
        .query_one(
            "select queue_name, is_partitioned, is_unlogged from pgmq.list_queues()",
            &[],
        )
        .await
        .expect("list");
    assert_eq!(row.get::<_, String>(0), "MyQueue");
    assert!(!row.get::<_, bool>(1) && !row.get::<_, bool>(2));

    assert_eq!(
        ids(&c, "select * from pgmq.send('MyQueue', '{\"a\":1}')").await,
        vec![1]
    );
    assert_eq!(
        ids(
            &c,
            "select * from pgmq.send('MyQueue', '{\"a\":2}', '{\"h\":1}'::jsonb)"
        )
        .await,
        vec![2]
    );
    // Delayed by seconds and by a timestamp: not visible yet.
    assert_eq!(
        ids(&c, "select * from pgmq.send('MyQueue', '{\"a\":3}', 60)").await,
        vec![3]
    );
    assert_eq!(
        ids(&c, "select * from pgmq.send('MyQueue', '{\"a\":4}', '{}'::jsonb, now() + interval '1 hour')").await,
        vec![4]
    );
    assert_eq!(
        ids(
            &c,
            "select * from pgmq.send_batch('MyQueue', array['{\"b\":1}', '{\"b\":2}']::jsonb[])"
        )
        .await,
        vec![5, 6]
    );
    assert_eq!(
        ids(
            &c,
            "select * from pgmq.send_batch('MyQueue', array['{\"c\":1}']::jsonb[], array['{\"x\":1}']::jsonb[], 0)"
        )
        .await,
        vec![7]
    );

    // read: FIFO among visible, read_ct incremented, hidden for vt.
    let rows = c
        .query(
            "select msg_id, read_ct, message, headers from pgmq.read('MyQueue', 30, 3)",
            &[],
        )
        .await
        .expect("read");
    let got: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(got, vec![1, 2, 5]);
    assert_eq!(rows[0].get::<_, i32>(1), 1);
    assert_eq!(rows[0].get::<_, Value>(2), json!({"a": 1}));
    assert_eq!(rows[1].get::<_, Option<Value>>(3), Some(json!({"h": 1})));
    assert_eq!(
        ids(&c, "select msg_id from pgmq.read('MyQueue', 30, 10)").await,
        vec![6, 7]
    );
    assert!(
        ids(&c, "select msg_id from pgmq.read('MyQueue', 30, 10)")
            .await
            .is_empty()
    );

    // conditional read
    c.batch_execute("select pgmq.create('cond'); select pgmq.send('cond', '{\"k\":\"x\"}'); select pgmq.send('cond', '{\"k\":\"y\"}');")
        .await
        .expect("cond");
    assert_eq!(
        ids(
            &c,
            "select msg_id from pgmq.read('cond', 30, 10, '{\"k\":\"y\"}')"
        )
        .await,
        vec![2]
    );

    // set_vt makes a message visible again; read_ct goes on counting.
    assert_eq!(
        ids(&c, "select msg_id from pgmq.set_vt('MyQueue', 1, 0)").await,
        vec![1]
    );
    let again = c
        .query_one(
            "select msg_id, read_ct from pgmq.read('MyQueue', 30, 1)",
            &[],
        )
        .await
        .expect("reread");
    assert_eq!((again.get::<_, i64>(0), again.get::<_, i32>(1)), (1, 2));
    assert!(
        ids(&c, "select msg_id from pgmq.set_vt('MyQueue', 999, 0)")
            .await
            .is_empty()
    );
    assert_eq!(
        ids(
            &c,
            "select msg_id from pgmq.set_vt('MyQueue', array[5,6]::bigint[], now())"
        )
        .await,
        vec![5, 6]
    );

    // archive and delete, single and array
    let r = c
        .query_one(
            "select pgmq.archive('MyQueue', 1::bigint), pgmq.delete('MyQueue', 2::bigint), pgmq.delete('MyQueue', 999::bigint)",
            &[],
        )
        .await
        .expect("archive/delete");
    assert!(r.get::<_, bool>(0) && r.get::<_, bool>(1) && !r.get::<_, bool>(2));
    assert_eq!(
        ids(
            &c,
            "select * from pgmq.archive('MyQueue', array[5, 6, 999]::bigint[])"
        )
        .await,
        vec![5, 6]
    );
    assert_eq!(
        ids(
            &c,
            "select * from pgmq.delete('MyQueue', array[7, 999]::bigint[])"
        )
        .await,
        vec![7]
    );
    let archived = c
        .query_one("select count(*), min(read_ct) from pgmq.a_myqueue", &[])
        .await
        .expect("archive table");
    assert_eq!(archived.get::<_, i64>(0), 3);
    assert!(archived.get::<_, i32>(1) >= 1);

    // pop removes the visible head
    c.batch_execute("select pgmq.set_vt('MyQueue', 3, 0)")
        .await
        .expect("vt");
    let popped = ids(&c, "select msg_id from pgmq.pop('MyQueue')").await;
    assert_eq!(popped, vec![3]);
    assert!(
        ids(&c, "select msg_id from pgmq.pop('MyQueue', 5)")
            .await
            .is_empty()
    );

    // metrics
    let m = c
        .query_one(
            "select queue_name, queue_length, total_messages, queue_visible_length, oldest_msg_age_sec from pgmq.metrics('MyQueue')",
            &[],
        )
        .await
        .expect("metrics");
    assert_eq!(m.get::<_, String>(0), "MyQueue");
    assert_eq!(m.get::<_, i64>(1), 1); // msg 4, delayed
    assert_eq!(m.get::<_, i64>(2), 7);
    assert_eq!(m.get::<_, i64>(3), 0);
    assert!(m.get::<_, Option<i32>>(4).is_some());
    assert_eq!(
        ids(&c, "select count(*) from pgmq.metrics_all()").await,
        vec![2]
    );

    assert_eq!(ids(&c, "select pgmq.purge_queue('MyQueue')").await, vec![1]);
    let dropped = c
        .query_one(
            "select pgmq.drop_queue('MyQueue'), pgmq.drop_queue('MyQueue')",
            &[],
        )
        .await
        .expect("drop");
    assert!(dropped.get::<_, bool>(0));
    assert!(!dropped.get::<_, bool>(1));
    assert_eq!(
        ids(
            &c,
            "select count(*) from pg_tables where schemaname = 'pgmq' and tablename like '%myqueue'"
        )
        .await,
        vec![0]
    );
}

#[tokio::test]
async fn errors_match_upstream() {
    let db = pgbase_testkit::test_db().await;
    let c = db.connect().await;
    for bad in ["a$b", "a;b", "a--b", "a'b"] {
        let sql = format!("select pgmq.create($q${bad}$q$)");
        assert_eq!(
            err(&c, &sql).await,
            "queue name contains invalid characters: $, ;, --, or \\'"
        );
    }
    assert_eq!(
        err(&c, &format!("select pgmq.create('{}')", "x".repeat(48))).await,
        "queue name is too long, maximum length is 47 characters"
    );
    c.batch_execute(&format!("select pgmq.create('{}')", "x".repeat(47)))
        .await
        .expect("47 characters are fine");
    c.batch_execute("select pgmq.create_unlogged('u')")
        .await
        .expect("unlogged");
    let persistence: String = c
        .query_one(
            "select relpersistence::text from pg_class where oid = 'pgmq.q_u'::regclass",
            &[],
        )
        .await
        .expect("class")
        .get(0);
    assert_eq!(persistence, "u");
    assert_eq!(
        err(&c, "select pgmq.send_batch('u', array[]::jsonb[])").await,
        "msgs cannot be NULL or empty"
    );
    assert_eq!(
        err(
            &c,
            "select pgmq.send_batch('u', array['{}']::jsonb[], array['{}','{}']::jsonb[])"
        )
        .await,
        "headers array length (2) must match msgs array length (1)"
    );
    assert!(
        err(&c, "select pgmq.send('nosuch', '{}')")
            .await
            .contains("does not exist")
    );
    // drop of a missing queue: false plus a notice, not an error
    let r: bool = c
        .query_one("select pgmq.drop_queue('nosuch')", &[])
        .await
        .expect("drop missing")
        .get(0);
    assert!(!r);
}

#[tokio::test]
async fn read_with_poll_waits_for_a_message() {
    let db = pgbase_testkit::test_db().await;
    let c = db.connect().await;
    c.batch_execute("select pgmq.create('p')")
        .await
        .expect("create");
    let started = std::time::Instant::now();
    let none = ids(
        &c,
        "select msg_id from pgmq.read_with_poll('p', 30, 1, 1, 50)",
    )
    .await;
    assert!(none.is_empty());
    assert!(started.elapsed() >= std::time::Duration::from_millis(900));

    let c2 = db.connect().await;
    let sender = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        c2.batch_execute("select pgmq.send('p', '{}')")
            .await
            .expect("send");
    });
    let got = ids(
        &c,
        "select msg_id from pgmq.read_with_poll('p', 30, 1, 5, 20)",
    )
    .await;
    assert_eq!(got, vec![1]);
    sender.await.expect("sender");
}

#[tokio::test]
async fn rolled_back_read_leaves_the_message_and_send_notifies() {
    let db = pgbase_testkit::test_db().await;
    let mut c = db.connect().await;
    c.batch_execute("select pgmq.create('Tx'); select pgmq.send('Tx', '{}');")
        .await
        .expect("setup");
    let tx = c.transaction().await.expect("tx");
    let r = tx
        .query("select msg_id from pgmq.read('Tx', 30, 1)", &[])
        .await
        .expect("read");
    assert_eq!(r.len(), 1);
    tx.rollback().await.expect("rollback");
    let r = c
        .query_one("select msg_id, read_ct from pgmq.read('Tx', 30, 1)", &[])
        .await
        .expect("read again");
    assert_eq!(r.get::<_, i32>(1), 1);

    let channel: String = c
        .query_one("select pgmq.notify_channel('Tx')", &[])
        .await
        .expect("channel")
        .get(0);
    assert_eq!(channel, "pgmq.q_tx.INSERT");
    // A listener gets the notification on commit.
    let (listener, mut conn) = db
        .config
        .connect(tokio_postgres::NoTls)
        .await
        .expect("connect");
    let (ntx, mut nrx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            match futures_util::future::poll_fn(|cx| conn.poll_message(cx)).await {
                Some(Ok(tokio_postgres::AsyncMessage::Notification(n))) => {
                    let _ = ntx.send(n.channel().to_string());
                }
                Some(Ok(_)) => {}
                _ => break,
            }
        }
    });
    listener
        .batch_execute("listen \"pgmq.q_tx.INSERT\"")
        .await
        .expect("listen");
    c.batch_execute("select pgmq.send('Tx', '{}')")
        .await
        .expect("send");
    let got = tokio::time::timeout(std::time::Duration::from_secs(5), nrx.recv())
        .await
        .expect("notification in time");
    assert_eq!(got.as_deref(), Some("pgmq.q_tx.INSERT"));

    // With notifications turned off for the queue, a send is silent; turned on again, it is not.
    c.batch_execute("select pgmq.disable_notify_insert('Tx'); select pgmq.send('Tx', '{}');")
        .await
        .expect("send quietly");
    let quiet = tokio::time::timeout(std::time::Duration::from_millis(500), nrx.recv()).await;
    assert!(quiet.is_err(), "no notification while disabled");
    c.batch_execute("select pgmq.enable_notify_insert('Tx'); select pgmq.send('Tx', '{}');")
        .await
        .expect("send loudly");
    let got = tokio::time::timeout(std::time::Duration::from_secs(5), nrx.recv())
        .await
        .expect("notification after enabling again");
    assert_eq!(got.as_deref(), Some("pgmq.q_tx.INSERT"));

    // Throttled (upstream's throttle_interval_ms): the first send notifies, the next ones inside
    // the interval do not.
    c.batch_execute("select pgmq.enable_notify_insert('Tx', 60000); select pgmq.send('Tx', '{}');")
        .await
        .expect("first throttled send");
    let got = tokio::time::timeout(std::time::Duration::from_secs(5), nrx.recv())
        .await
        .expect("first send of the interval notifies");
    assert_eq!(got.as_deref(), Some("pgmq.q_tx.INSERT"));
    c.batch_execute(
        "select pgmq.send('Tx', '{}'); select pgmq.send_batch('Tx', array['{}'::jsonb]);",
    )
    .await
    .expect("sends inside the interval");
    let quiet = tokio::time::timeout(std::time::Duration::from_millis(500), nrx.recv()).await;
    assert!(
        quiet.is_err(),
        "no notification inside the throttle interval"
    );
    let err = c
        .batch_execute("select pgmq.enable_notify_insert('Tx', -1)")
        .await
        .expect_err("negative interval");
    assert!(
        format!("{err:?}").contains("throttle_interval_ms must be non-negative"),
        "{err:?}"
    );
}

#[tokio::test]
async fn partitioned_queues() {
    let db = pgbase_testkit::test_db().await;
    let c = db.connect().await;
    c.batch_execute("select pgmq.create_partitioned('part', '100', '1000', 2)")
        .await
        .expect("create");
    let row = c
        .query_one(
            "select is_partitioned from pgmq.meta where queue_name = 'part'",
            &[],
        )
        .await
        .expect("meta");
    assert!(row.get::<_, bool>(0));
    let ids = ids(
        &c,
        "select * from pgmq.send_batch('part', array(select jsonb_build_object('i', g) from generate_series(1, 250) g))",
    )
    .await;
    assert_eq!(ids.len(), 250);
    let parts: Vec<String> = c
        .query(
            "select tableoid::regclass::text from pgmq.q_part group by 1 order by 1",
            &[],
        )
        .await
        .expect("parts")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        parts,
        vec!["pgmq.q_part_p0", "pgmq.q_part_p100", "pgmq.q_part_p200"]
    );
    let read = c
        .query("select msg_id from pgmq.read('part', 30, 5)", &[])
        .await
        .expect("read");
    assert_eq!(read.len(), 5);
    let archived = c
        .query(
            "select * from pgmq.archive('part', array[1,2,3]::bigint[])",
            &[],
        )
        .await
        .expect("archive");
    assert_eq!(archived.len(), 3);
    c.batch_execute("select pgmq.run_maintenance()")
        .await
        .expect("maintenance");
    let m: i64 = c
        .query_one("select queue_length from pgmq.metrics('part')", &[])
        .await
        .expect("metrics")
        .get(0);
    assert_eq!(m, 247);

    // time-based partitions
    c.batch_execute("select pgmq.create_partitioned('tpart', '1 day', '7 days')")
        .await
        .expect("create time partitioned");
    c.batch_execute("select pgmq.send('tpart', '{}')")
        .await
        .expect("send");
    let n: i64 = c
        .query_one(
            "select count(*) from pg_inherits where inhparent = 'pgmq.q_tpart'::regclass",
            &[],
        )
        .await
        .expect("count")
        .get(0);
    assert!(n >= 5, "premade daily partitions plus default, got {n}");
    assert!(
        err(
            &c,
            "select pgmq.create_partitioned('bad', 'nonsense', '7 days')"
        )
        .await
        .contains("invalid partition_interval")
    );
    assert!(
        c.query_one("select pgmq.drop_queue('tpart')", &[])
            .await
            .expect("drop")
            .get::<_, bool>(0)
    );
}

/// 8 consumers take 100,000 messages: none lost, none delivered twice within its vt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_consumers_take_every_message_once() {
    const N: i64 = 100_000;
    let db = pgbase_testkit::test_db().await;
    let c = db.connect().await;
    c.batch_execute("select pgmq.create('load')")
        .await
        .expect("create");
    c.execute(
        "select pgmq.send_batch('load', array(select jsonb_build_object('i', g) from generate_series(1, $1::bigint) g))",
        &[&N],
    )
    .await
    .expect("fill");
    let mut consumers = Vec::new();
    for _ in 0..8 {
        let db = db.clone();
        consumers.push(tokio::spawn(async move {
            let c = db.connect().await;
            let mut seen = Vec::new();
            loop {
                let rows = c
                    .query("select msg_id from pgmq.read('load', 300, 50)", &[])
                    .await
                    .expect("read");
                if rows.is_empty() {
                    break;
                }
                let batch: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
                c.query("select * from pgmq.delete('load', $1::bigint[])", &[&batch])
                    .await
                    .expect("delete");
                seen.extend(batch);
            }
            seen
        }));
    }
    let mut all = Vec::new();
    for consumer in consumers {
        all.extend(consumer.await.expect("consumer"));
    }
    let distinct: HashSet<i64> = all.iter().copied().collect();
    assert_eq!(all.len() as i64, N, "every message delivered exactly once");
    assert_eq!(distinct.len() as i64, N);
    let left: i64 = c
        .query_one("select count(*) from pgmq.q_load", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(left, 0);
}

#[tokio::test]
async fn pgmq_public_wrappers_run_as_the_caller() {
    let db = pgbase_testkit::test_db().await;
    let c = db.connect().await;
    c.batch_execute("select pgmq.create('pub'); set role authenticated;")
        .await
        .expect("setup");
    assert_eq!(
        err(&c, "select pgmq_public.send('pub', '{}')").await,
        "permission denied for table q_pub"
    );
    c.batch_execute(
        "reset role; grant select, insert, update, delete on pgmq.q_pub, pgmq.a_pub to authenticated; set role authenticated;",
    )
    .await
    .expect("grant");
    assert_eq!(
        ids(&c, "select * from pgmq_public.send('pub', '{\"a\":1}')").await,
        vec![1]
    );
    assert_eq!(
        ids(
            &c,
            "select * from pgmq_public.send_batch('pub', array['{}', '{}']::jsonb[])"
        )
        .await,
        vec![2, 3]
    );
    assert_eq!(
        ids(&c, "select msg_id from pgmq_public.read('pub', 30, 2)").await,
        vec![1, 2]
    );
    assert_eq!(
        ids(&c, "select msg_id from pgmq_public.pop('pub')").await,
        vec![3]
    );
    // A throttled queue records its last notification even for a role granted only the queue.
    c.batch_execute(
        "reset role; select pgmq.enable_notify_insert('pub', 1000); set role authenticated;",
    )
    .await
    .expect("throttle");
    assert_eq!(
        ids(&c, "select * from pgmq_public.send('pub', '{}')").await,
        vec![4]
    );
    let r = c
        .query_one(
            "select pgmq_public.archive('pub', 1), pgmq_public.delete('pub', 2)",
            &[],
        )
        .await
        .expect("archive/delete");
    assert!(r.get::<_, bool>(0) && r.get::<_, bool>(1));
}

#[tokio::test]
async fn internal_functions_are_not_callable_by_the_api_roles() {
    let db = pgbase_testkit::test_db().await;
    let c = db.connect().await;
    c.batch_execute(
        "select pgmq.create('mine'); select pgmq.create('theirs');
         select pgmq.enable_notify_insert('theirs', 60000);
         grant select, insert, update, delete on pgmq.q_mine, pgmq.a_mine to authenticated;",
    )
    .await
    .expect("setup");
    for role in ["anon", "authenticated"] {
        c.batch_execute(&format!("reset role; set role {role}"))
            .await
            .expect("role");
        assert_eq!(
            err(&c, "select pgmq._notify_insert('theirs', 'q_theirs')").await,
            "permission denied for function _notify_insert",
            "{role}"
        );
        // Nor may a role touch the throttle of a queue it cannot send to.
        let n = c
            .execute(
                "update pgmq.notify_insert_settings set last_notified_at = now() + interval '1 day' \
                 where queue_name = 'theirs'",
                &[],
            )
            .await
            .map(|n| n as i64)
            .unwrap_or(-1);
        assert!(n <= 0, "{role} changed another queue's throttle");
        assert!(
            err(&c, "select pgmq.enable_notify_insert('theirs', 0)")
                .await
                .contains("permission denied"),
            "{role}"
        );
    }
    c.batch_execute("reset role").await.expect("reset");
    // No SECURITY DEFINER function of the job schemas is callable by the API roles unless it is
    // part of the public API.
    let rows = c
        .query(
            "select p.oid::regprocedure::text, r.rolname from pg_proc p \
             join pg_namespace n on n.oid = p.pronamespace \
             cross join (values ('anon'), ('authenticated')) r(rolname) \
             where n.nspname in ('pgmq', 'pgmq_public', 'cron', 'net') and p.prosecdef \
               and p.proname like '\\_%' \
               and has_function_privilege(r.rolname, p.oid, 'EXECUTE') \
             order by 1, 2",
            &[],
        )
        .await
        .expect("privileges");
    let open: Vec<String> = rows
        .iter()
        .map(|r| format!("{} to {}", r.get::<_, String>(0), r.get::<_, String>(1)))
        .collect();
    assert!(
        open.is_empty(),
        "internal security-definer functions callable: {open:?}"
    );
    // A role granted its queue still sends to it when throttled (and records the notification).
    c.batch_execute(
        "select pgmq.enable_notify_insert('mine', 60000); set role authenticated;
         select pgmq.send('mine', '{}'); select pgmq.send_batch('mine', array['{}'::jsonb]);
         reset role;",
    )
    .await
    .expect("throttled sends as authenticated");
    let recorded: bool = c
        .query_one(
            "select last_notified_at > now() - interval '1 minute' from pgmq.notify_insert_settings where queue_name = 'mine'",
            &[],
        )
        .await
        .expect("settings")
        .get(0);
    assert!(recorded, "the throttled send recorded its notification");
}
