//! Migrations against a real Postgres: order, history, checksum refusal, failure reports with
//! file:line:col, rollback of a failed file, and two concurrent runs applying each file once.

use std::path::Path;

use pgbase_migrate::{MigrateError, MigrationState, migrate, status};

fn write(dir: &Path, name: &str, sql: &str) {
    std::fs::write(dir.join(name), sql).expect("write migration");
}

#[tokio::test]
async fn applies_files_in_name_order_once_and_records_history() {
    let db = pgbase_testkit::test_db().await;
    let mut client = db.connect().await;
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "002_insert.sql", "insert into t values (2);");
    write(
        dir.path(),
        "001_create.sql",
        "create table t (x int); insert into t values (1);",
    );
    write(dir.path(), "README.md", "not a migration");

    let report = migrate(&mut client, Some(dir.path()))
        .await
        .expect("migrate");
    let applied: Vec<_> = report.applied.iter().map(|a| a.version.as_str()).collect();
    assert_eq!(applied, ["001_create", "002_insert"]);

    let again = migrate(&mut client, Some(dir.path()))
        .await
        .expect("second run");
    assert!(again.applied.is_empty() && again.system_applied.is_empty());

    let rows = client
        .query("select x from t order by x", &[])
        .await
        .expect("select");
    assert_eq!(rows.len(), 2, "each file ran exactly once");
    let history = client
        .query("select version, name, length(checksum), duration_ms >= 0 from pgbase.migrations order by version", &[])
        .await
        .expect("history");
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].get::<_, String>(1), "create");
    assert_eq!(history[0].get::<_, i32>(2), 64);
    assert!(history[0].get::<_, bool>(3));
}

#[tokio::test]
async fn an_edited_applied_migration_is_refused_by_name() {
    let db = pgbase_testkit::test_db().await;
    let mut client = db.connect().await;
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "001_create.sql", "create table t (x int);");
    migrate(&mut client, Some(dir.path()))
        .await
        .expect("migrate");
    write(
        dir.path(),
        "001_create.sql",
        "create table t (x int, y int);",
    );
    write(dir.path(), "002_more.sql", "create table u (x int);");

    let err = migrate(&mut client, Some(dir.path()))
        .await
        .expect_err("edited file");
    assert!(matches!(err, MigrateError::ChecksumMismatch { .. }));
    assert!(err.to_string().contains("001_create.sql"), "{err}");
    let pending: bool = client
        .query_one("select to_regclass('u') is null", &[])
        .await
        .expect("query")
        .get(0);
    assert!(pending, "nothing after the refusal was applied");
    let states = status(&mut client, dir.path()).await.expect("status");
    assert_eq!(states[0].1, MigrationState::Changed);
    assert_eq!(states[1].1, MigrationState::Pending);
}

#[tokio::test]
async fn a_failing_migration_reports_line_and_column_and_rolls_back_whole() {
    let db = pgbase_testkit::test_db().await;
    let mut client = db.connect().await;
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "001_bad.sql",
        "create table good (x int);\n\ncreate table bad (\n  y int,\n  z nosuchtype\n);\n",
    );
    let err = migrate(&mut client, Some(dir.path()))
        .await
        .expect_err("must fail");
    let MigrateError::Failed(failure) = &err else {
        panic!("expected a located failure, got {err}");
    };
    assert_eq!((failure.line, failure.column), (5, 5), "{err}");
    assert!(failure.message.contains("nosuchtype"));
    let text = err.to_string();
    assert!(
        text.contains("001_bad.sql:5:5: type \"nosuchtype\" does not exist"),
        "{text}"
    );
    assert!(text.contains("5 |   z nosuchtype\n        ^"), "{text}");
    let good_absent: bool = client
        .query_one("select to_regclass('good') is null", &[])
        .await
        .expect("query")
        .get(0);
    assert!(
        good_absent,
        "the file's first statement was rolled back too"
    );
    let recorded: i64 = client
        .query_one("select count(*) from pgbase.migrations", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(recorded, 0);
}

#[tokio::test]
async fn errors_without_a_position_point_at_the_failing_statement() {
    let db = pgbase_testkit::test_db().await;
    let mut client = db.connect().await;
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "001_dup.sql",
        "create table a (x int);\n-- again:\n  create table a (x int);\n",
    );
    let err = migrate(&mut client, Some(dir.path()))
        .await
        .expect_err("must fail");
    let MigrateError::Failed(failure) = &err else {
        panic!("expected a located failure, got {err}");
    };
    assert_eq!((failure.line, failure.column), (3, 3), "{err}");
    assert!(failure.message.contains("already exists"), "{err}");
}

#[tokio::test]
async fn concurrent_runs_apply_each_file_once() {
    let db = pgbase_testkit::test_db().await;
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "001_t.sql", "create table t (x int);");
    for n in 2..=6 {
        write(
            dir.path(),
            &format!("00{n}_insert.sql"),
            &format!("select pg_sleep(0.02); insert into t values ({n});"),
        );
    }
    let mut handles = Vec::new();
    for _ in 0..3 {
        let mut client = db.connect().await;
        let path = dir.path().to_path_buf();
        handles.push(tokio::spawn(async move {
            migrate(&mut client, Some(&path))
                .await
                .map(|r| r.applied.len())
        }));
    }
    let mut total = 0;
    for handle in handles {
        total += handle.await.expect("join").expect("migrate");
    }
    assert_eq!(total, 6, "six files applied across three runs");
    let client = db.connect().await;
    let rows: i64 = client
        .query_one("select count(*) from t", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(rows, 5);
}

#[tokio::test]
async fn ddl_bumps_the_schema_version() {
    let db = pgbase_testkit::test_db().await;
    let client = db.connect().await;
    let before: i64 = client
        .query_one("select version from pgbase.schema_version", &[])
        .await
        .expect("version")
        .get(0);
    client
        .batch_execute("create table bump (x int)")
        .await
        .expect("ddl");
    let after: i64 = client
        .query_one("select version from pgbase.schema_version", &[])
        .await
        .expect("version")
        .get(0);
    assert!(after > before);
}
