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

/// The connection's own view after a request: no transaction open, and none of the request's
/// settings (role, claims, read-only) left behind for the next request on it.
async fn session_state(checkout: &pgbase_db::Checkout) -> (String, String, String, String) {
    let row = checkout
        .query_one(
            "select current_user::text, current_setting('request.jwt.claims', true), \
             current_setting('transaction_read_only'), \
             (select state from pg_stat_activity where pid = pg_backend_pid())",
            &[],
        )
        .await
        .expect("session state");
    (
        row.get(0),
        row.get::<_, Option<String>>(1).unwrap_or_default(),
        row.get(2),
        row.get(3),
    )
}

#[tokio::test]
async fn one_trip_reads_run_as_the_role_and_leave_nothing_behind() {
    let (db, pool) = setup().await;
    db.connect()
        .await
        .batch_execute(
            "create role bench_reader nologin; grant select on public.notes to bench_reader; \
             insert into public.notes values (1, 'a')",
        )
        .await
        .expect("role");
    let reader = RequestContext {
        role: "bench_reader".into(),
        claims: r#"{"role":"bench_reader","sub":"u9"}"#.into(),
        ..context()
    };
    let checkout = pool.get().await.expect("checkout");
    let (session_user, ..) = session_state(&checkout).await;
    for round in 0..3 {
        // a successful read, then a failing one, on the same connection, prepared statements
        // cached from the second round on
        let rows = transaction::run(
            &checkout,
            &reader,
            TxPolicy::READ,
            &[statement(
                "select current_user::text, current_setting('transaction_read_only'), \
                 (select count(*) from public.notes)",
            )],
            no_check,
        )
        .await
        .expect("read");
        assert_eq!(
            rows[0][0].get::<_, String>(0),
            "bench_reader",
            "round {round}"
        );
        assert_eq!(rows[0][0].get::<_, String>(1), "on", "round {round}");
        assert_eq!(rows[0][0].get::<_, i64>(2), 1, "round {round}");
        assert_eq!(
            session_state(&checkout).await,
            (
                session_user.clone(),
                String::new(),
                "off".into(),
                "active".into()
            ),
            "nothing of the read is left on the connection (round {round})"
        );
        let refused = transaction::run(
            &checkout,
            &reader,
            TxPolicy::READ,
            &[statement("delete from public.notes")],
            no_check,
        )
        .await;
        assert!(
            matches!(refused, Err(TxError::Db(_))),
            "the role may not delete, and reads are read only (round {round})"
        );
        assert!(!checkout.is_busy(), "round {round}");
        assert_eq!(
            session_state(&checkout).await,
            (
                session_user.clone(),
                String::new(),
                "off".into(),
                "active".into()
            ),
            "nothing of the failed read is left on the connection (round {round})"
        );
    }
    checkout.mark_idle();
    drop(checkout);
    assert_eq!(count_notes(&pool).await, 1);
}

#[tokio::test]
async fn names_only_on_the_requests_search_path_are_prepared_inside_the_transaction() {
    let (_db, pool) = setup().await;
    pool.get()
        .await
        .expect("checkout")
        .batch_execute(
            "create schema private; create table private.secrets (v text);
             insert into private.secrets values ('s');
             create function private.stamp() returns void language sql
               as $$ select set_config('request.stamped', 'yes', true) $$;",
        )
        .await
        .expect("setup");
    let context = RequestContext {
        search_path: "\"private\"".into(),
        pre_request: pgbase_db::pre_request_call("stamp"),
        ..context()
    };
    let statements = [
        statement("select v from secrets"),
        statement("select current_setting('request.stamped', true)"),
    ];
    // twice: the first run prepares inside the transaction, the second from the cache
    for _ in 0..2 {
        let checkout = pool.get().await.expect("checkout");
        let results = transaction::run(&checkout, &context, TxPolicy::READ, &statements, no_check)
            .await
            .expect("runs");
        assert_eq!(results[0][0].get::<_, String>(0), "s");
        assert_eq!(results[1][0].get::<_, String>(0), "yes");
    }
    // a statement unknown even there fails where it stands; the one before it still ran
    let checkout = pool.get().await.expect("checkout");
    let failing = [
        statement("insert into public.notes values (1, 'a') returning id"),
        statement("select * from nowhere"),
    ];
    let error = transaction::run(&checkout, &context, TxPolicy::WRITE, &failing, no_check)
        .await
        .expect_err("fails");
    match error {
        TxError::Db(e) => assert_eq!(e.code().map(|c| c.code()), Some("42P01")),
        other => panic!("expected an undefined table, got {other}"),
    }
    drop(checkout);
    assert_eq!(count_notes(&pool).await, 0);
}
