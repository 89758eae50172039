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

/// A database that applied the system schemas up to 0006 with an earlier pgbase (and has jobs)
/// reaches the same safety state through 0007 as a new one: existing jobs keep running as their
/// user, the cron API is no longer open to the API roles, and the owner guard is in place.
#[tokio::test]
async fn the_safety_upgrade_applies_to_a_database_made_before_it() {
    let db = pgbase_testkit::test_db().await;
    let admin = db.connect().await;
    let name = format!("{}_old", db.name);
    admin
        .batch_execute(&format!("create database {name} template template0"))
        .await
        .expect("create database");
    let mut config = db.config.clone();
    config.dbname(&name);
    let (old, connection) = config
        .connect(tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    let (before, after): (Vec<&pgbase_migrate::SystemSchema>, Vec<_>) =
        pgbase_migrate::SYSTEM_SCHEMAS
            .iter()
            .partition(|schema| schema.version < 7);
    for schema in before {
        old.batch_execute(schema.sql).await.expect(schema.name);
    }
    old.batch_execute(
        "select cron.schedule('nightly', '0 3 * * *', 'select 1');
         set role service_role;
         select cron.schedule('mine', '0 4 * * *', 'select 2');
         reset role;",
    )
    .await
    .expect("jobs scheduled the old way");
    for schema in after {
        old.batch_execute(schema.sql).await.expect(schema.name);
    }

    let rows = old
        .query(
            "select jobname, username, scheduled_by from cron.job order by jobname",
            &[],
        )
        .await
        .expect("jobs");
    let jobs: Vec<(String, String, String)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        jobs,
        [
            ("mine".into(), "service_role".into(), "service_role".into()),
            ("nightly".into(), "postgres".into(), "postgres".into()),
        ]
    );
    let anon_can: bool = old
        .query_one("select has_schema_privilege('anon', 'cron', 'USAGE')", &[])
        .await
        .expect("privilege")
        .get(0);
    assert!(!anon_can, "anon still reaches the cron schema");
    let escalation = old
        .batch_execute(
            "set role service_role;
             insert into cron.job (schedule, command, username) values ('* * * * *', 'select 3', 'postgres');",
        )
        .await;
    let error = escalation.expect_err("service_role scheduled a job as the superuser");
    assert_eq!(
        error.as_db_error().map(|e| e.code().code()),
        Some("42501"),
        "{error:?}"
    );
    drop(old);
    admin
        .batch_execute(&format!("drop database {name} with (force)"))
        .await
        .expect("drop database");
}

/// Issue #13: a migration that names an unknown column or table is told the closest names
/// that exist; an unrelated name gets no suggestion.
#[tokio::test]
async fn unknown_names_in_a_migration_come_with_the_closest_existing_ones() {
    let db = pgbase_testkit::test_db().await;
    let mut client = db.connect().await;
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "001_tasks.sql",
        "create table tasks (id int primary key, title text, done boolean);",
    );
    migrate(&mut client, Some(dir.path()))
        .await
        .expect("first migration");
    write(
        dir.path(),
        "002_index.sql",
        "create index on tasks (titel);\n",
    );
    let err = migrate(&mut client, Some(dir.path()))
        .await
        .expect_err("unknown column");
    let text = err.to_string();
    assert!(text.contains("002_index.sql:1:"), "{text}");
    assert!(text.contains("hint: did you mean title?"), "{text}");

    std::fs::remove_file(dir.path().join("002_index.sql")).expect("remove");
    write(
        dir.path(),
        "002_view.sql",
        "create view open_tasks as\n  select * from taks where not done;\n",
    );
    let text = migrate(&mut client, Some(dir.path()))
        .await
        .expect_err("unknown table")
        .to_string();
    assert!(text.contains("002_view.sql:2:17"), "{text}");
    assert!(text.contains("hint: did you mean tasks?"), "{text}");

    std::fs::remove_file(dir.path().join("002_view.sql")).expect("remove");
    write(dir.path(), "002_other.sql", "select price from tasks;\n");
    let text = migrate(&mut client, Some(dir.path()))
        .await
        .expect_err("unrelated column")
        .to_string();
    assert!(!text.contains("did you mean"), "{text}");
}

#[tokio::test]
async fn an_untouched_new_template_is_skipped_unrecorded_and_holds_later_files() {
    let db = pgbase_testkit::test_db().await;
    let mut client = db.connect().await;
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "001_create.sql", "create table t (x int);");
    let template = pgbase_migrate::new_migration(dir.path(), "fill")
        .expect("new migration")
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    // Named after the template, so it must wait for it.
    write(
        dir.path(),
        "99990101000000_later.sql",
        "insert into t values (3);",
    );
    let shown = |name: &str| dir.path().join(name).display().to_string();

    let report = migrate(&mut client, Some(dir.path()))
        .await
        .expect("migrate");
    let applied: Vec<_> = report.applied.iter().map(|a| a.version.as_str()).collect();
    assert_eq!(applied, ["001_create"]);
    assert_eq!(report.untouched, [shown(&template)]);
    assert_eq!(report.held, [shown("99990101000000_later.sql")]);
    let notices = report.template_notices();
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(
        notices[0].contains(&template)
            && notices[0].contains("is still the empty template from `pgbase migrate new`")
            && notices[0].contains("edit it or delete it")
            && notices[0].contains("99990101000000_later.sql waits for it"),
        "{notices:?}"
    );
    let recorded = client
        .query(
            "select version from pgbase.migrations order by version",
            &[],
        )
        .await
        .expect("history");
    assert_eq!(recorded.len(), 1, "only 001 is recorded");
    let states = status(&mut client, dir.path()).await.expect("status");
    assert_eq!(states[1].1, MigrationState::Pending, "{states:?}");

    // Edited: the template's file and the one held behind it apply, in name order.
    let path = dir.path().join(&template);
    let text = std::fs::read_to_string(&path).expect("read");
    std::fs::write(&path, format!("{text}insert into t values (2);\n")).expect("edit");
    let report = migrate(&mut client, Some(dir.path()))
        .await
        .expect("migrate after the edit");
    let applied: Vec<_> = report
        .applied
        .iter()
        .map(|a| a.display_path.clone())
        .collect();
    assert_eq!(
        applied,
        [shown(&template), shown("99990101000000_later.sql")]
    );
    assert!(report.untouched.is_empty() && report.held.is_empty());
    let rows = client
        .query("select x from t order by x", &[])
        .await
        .expect("select");
    let xs: Vec<i32> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(xs, [2, 3]);
}
