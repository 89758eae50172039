//! The checkout guard against a real Postgres: idle connections are reused, busy ones are
//! cancelled and closed, retired ones are replaced.

use std::time::{Duration, Instant};

/// Upper bound of a wait for an event: reached only when something hangs.
const PATIENCE: Duration = Duration::from_secs(30);
/// The README's promise: a dropped slow request stops costing a connection within a second.
const RELEASED_WITHIN: Duration = Duration::from_secs(1);

async fn backend_pid(pool: &pgbase_db::Pool) -> i32 {
    let client = pool.get().await.expect("checkout");
    let pid: i32 = client
        .query_one("select pg_backend_pid()", &[])
        .await
        .expect("pid")
        .get(0);
    client.mark_idle();
    pid
}

#[tokio::test]
async fn an_idle_checkout_goes_back_to_the_pool() {
    let db = pgbase_testkit::test_db().await;
    let pool = db.pool(1);
    let first = backend_pid(&pool).await;
    assert_eq!(backend_pid(&pool).await, first);
}

#[tokio::test]
async fn a_checkout_dropped_inside_a_transaction_is_closed_not_reused() {
    let db = pgbase_testkit::test_db().await;
    let pool = db.pool(1);
    let first = backend_pid(&pool).await;
    {
        let client = pool.get().await.expect("checkout");
        client
            .batch_execute("begin; set local statement_timeout = '1234ms'")
            .await
            .expect("begin");
        // dropped busy, inside its transaction
    }
    let client = pool.get().await.expect("checkout");
    let row = client
        .query_one(
            "select pg_backend_pid(), current_setting('statement_timeout')",
            &[],
        )
        .await
        .expect("query");
    client.mark_idle();
    assert_ne!(
        row.get::<_, i32>(0),
        first,
        "the abandoned connection was handed out again"
    );
    assert_eq!(row.get::<_, String>(1), "0");
}

#[tokio::test]
async fn an_abandoned_query_is_cancelled_on_the_server() {
    let db = pgbase_testkit::test_db().await;
    let pool = db.pool(2);
    let admin = db.connect().await;
    let work = {
        let pool = pool.clone();
        tokio::spawn(async move {
            let client = pool.get().await.expect("checkout");
            let _ = client
                .batch_execute("select pg_sleep(30) /* abandoned */")
                .await;
        })
    };
    let running = async || -> i64 {
        admin
            .query_one(
                "select count(*) from pg_stat_activity where query like '%pg_sleep(30) /* abandoned%' \
                 and state = 'active' and pid <> pg_backend_pid()",
                &[],
            )
            .await
            .expect("activity")
            .get(0)
    };
    // Abort only once the query runs, so the test is about abandoned work on the server.
    let waiting_since = Instant::now();
    while running().await == 0 {
        assert!(
            waiting_since.elapsed() < PATIENCE,
            "the query never started"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    work.abort();
    let aborted_at = Instant::now();
    // The clock stops at the start of the first probe that finds the query gone, so the
    // probe's own round trip is not counted against the promise.
    let released = loop {
        let probed_at = aborted_at.elapsed();
        if running().await == 0 {
            break probed_at;
        }
        assert!(
            aborted_at.elapsed() < PATIENCE,
            "the query kept running {PATIENCE:?} after the abort"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!(
        released < RELEASED_WITHIN,
        "the abandoned query ran on {released:?} after the abort"
    );
}

#[tokio::test]
async fn retired_connections_are_replaced() {
    let db = pgbase_testkit::test_db().await;
    let pool = db.pool(1);
    let first = backend_pid(&pool).await;
    pool.retire_connections();
    assert_ne!(backend_pid(&pool).await, first);
}

#[tokio::test]
async fn an_exhausted_pool_says_so() {
    let db = pgbase_testkit::test_db().await;
    let pool = pgbase_db::Pool::new(
        db.config.clone(),
        pgbase_db::PoolOptions {
            size: 1,
            wait_timeout: Duration::from_millis(100),
            ..Default::default()
        },
    )
    .expect("pool");
    let held = pool.get().await.expect("first");
    let error = pool.get().await.expect_err("second checkout must time out");
    assert!(error.is_timeout(), "{error}");
    drop(held);
}
