//! The checkout guard against a real Postgres: idle connections are reused, busy ones are
//! cancelled and closed, retired ones are replaced.

use std::time::{Duration, Instant};

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
    tokio::time::sleep(Duration::from_millis(300)).await;
    work.abort();
    let aborted_at = Instant::now();
    loop {
        let running: i64 = admin
            .query_one(
                "select count(*) from pg_stat_activity where query like '%pg_sleep(30) /* abandoned%' \
                 and pid <> pg_backend_pid()",
                &[],
            )
            .await
            .expect("activity")
            .get(0);
        if running == 0 {
            break;
        }
        assert!(
            aborted_at.elapsed() < Duration::from_secs(1),
            "the query kept running"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
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
