//! The shared executor against a real Postgres: the transaction policy (read only, commit or
//! roll back), the request context seen by the statements, errors reported in statement order,
//! and the connection back in the pool idle afterwards.

use pgbase_db::transaction::{self, Statement, TxEnd, TxError, TxPolicy};
use pgbase_db::{Pool, RequestContext};

const SETUP: &str = "create table public.notes (id int primary key, body text not null);";

fn context() -> RequestContext {
    RequestContext {
        search_path: "\"public\"".into(),
        role: "postgres".into(),
        claims: r#"{"role":"postgres","sub":"u1"}"#.into(),
        method: "PATCH".into(),
        path: "/notes".into(),
        headers: r#"{"x-tenant":"acme"}"#.into(),
        cookies: "{}".into(),
        ..Default::default()
    }
}

fn statement(sql: &str) -> Statement<'_> {
    Statement {
        sql,
        params: Vec::new(),
    }
}

async fn setup() -> (pgbase_testkit::TestDb, Pool) {
    let db = pgbase_testkit::test_db().await;
    db.connect()
        .await
        .batch_execute(SETUP)
        .await
        .expect("setup");
    let pool = db.pool(1);
    (db, pool)
}

async fn count_notes(pool: &Pool) -> i64 {
    let client = pool.get().await.expect("checkout");
    let n = client
        .query_one("select count(*) from public.notes", &[])
        .await
        .expect("count")
        .get(0);
    client.mark_idle();
    n
}

fn no_check(_: usize, _: &[tokio_postgres::Row]) -> Result<(), String> {
    Ok(())
}

#[tokio::test]
async fn statements_see_the_request_context_and_results_come_in_order() {
    let (_db, pool) = setup().await;
    let checkout = pool.get().await.expect("checkout");
    let statements = [
        statement(
            "select current_setting('request.method'), current_setting('request.headers')::json->>'x-tenant'",
        ),
        statement(
            "select current_setting('request.jwt.claims')::json->>'sub', current_setting('transaction_read_only')",
        ),
    ];
    let rows = transaction::run(&checkout, &context(), TxPolicy::READ, &statements, no_check)
        .await
        .expect("runs");
    assert!(
        !checkout.is_busy(),
        "the checkout is idle after the transaction"
    );
    assert_eq!(rows[0][0].get::<_, String>(0), "PATCH");
    assert_eq!(rows[0][0].get::<_, String>(1), "acme");
    assert_eq!(rows[1][0].get::<_, String>(0), "u1");
    assert_eq!(rows[1][0].get::<_, String>(1), "on", "reads run read only");
}

#[tokio::test]
async fn a_read_only_transaction_refuses_writes() {
    let (_db, pool) = setup().await;
    let checkout = pool.get().await.expect("checkout");
    let statements = [statement(
        "insert into public.notes values (1, 'x') returning id",
    )];
    let error = transaction::run(&checkout, &context(), TxPolicy::READ, &statements, no_check)
        .await
        .expect_err("refused");
    match error {
        TxError::Db(e) => assert_eq!(e.code().map(|c| c.code()), Some("25006")),
        other => panic!("expected 25006, got {other}"),
    }
    assert!(!checkout.is_busy());
    drop(checkout);
    assert_eq!(count_notes(&pool).await, 0);
}

#[tokio::test]
async fn a_refused_check_rolls_back_every_statement() {
    let (_db, pool) = setup().await;
    let checkout = pool.get().await.expect("checkout");
    let statements = [
        statement("insert into public.notes values (1, 'a') returning id"),
        statement("insert into public.notes values (2, 'b'), (3, 'c') returning id"),
    ];
    let error = transaction::run(
        &checkout,
        &context(),
        TxPolicy::WRITE,
        &statements,
        |i, rows| {
            if rows.len() > 1 {
                Err(format!(
                    "statement {i} changed {} rows, at most 1 allowed",
                    rows.len()
                ))
            } else {
                Ok(())
            }
        },
    )
    .await
    .expect_err("refused");
    match error {
        TxError::Check { index, error } => {
            assert_eq!(index, 1);
            assert_eq!(error, "statement 1 changed 2 rows, at most 1 allowed");
        }
        other => panic!("expected a check error, got {other}"),
    }
    assert!(!checkout.is_busy());
    drop(checkout);
    assert_eq!(
        count_notes(&pool).await,
        0,
        "the first insert was rolled back too"
    );
}

#[tokio::test]
async fn the_first_failing_statement_is_the_error_reported() {
    let (_db, pool) = setup().await;
    let checkout = pool.get().await.expect("checkout");
    let statements = [
        statement("insert into public.notes values (1, 'a') returning id"),
        statement("select 1 / 0"),
        statement("select * from public.missing"),
    ];
    let error = transaction::run(
        &checkout,
        &context(),
        TxPolicy::WRITE,
        &statements,
        no_check,
    )
    .await
    .expect_err("fails");
    match error {
        TxError::Db(e) => assert_eq!(e.code().map(|c| c.code()), Some("22012")),
        other => panic!("expected division by zero, got {other}"),
    }
    drop(checkout);
    assert_eq!(count_notes(&pool).await, 0);
}

#[tokio::test]
async fn commit_keeps_and_rollback_discards_a_write() {
    let (_db, pool) = setup().await;
    let write = [statement(
        "insert into public.notes values (1, 'kept') returning id",
    )];
    let checkout = pool.get().await.expect("checkout");
    transaction::run(&checkout, &context(), TxPolicy::WRITE, &write, no_check)
        .await
        .expect("commits");
    let dry_run = TxPolicy {
        read_only: false,
        end: TxEnd::Rollback,
    };
    let rolled = [statement(
        "insert into public.notes values (2, 'dry run') returning id",
    )];
    let rows = transaction::run(&checkout, &context(), dry_run, &rolled, no_check)
        .await
        .expect("runs");
    assert_eq!(
        rows[0][0].get::<_, i32>(0),
        2,
        "the rolled-back statement still answers"
    );
    assert!(!checkout.is_busy());
    drop(checkout);
    assert_eq!(count_notes(&pool).await, 1);
}
