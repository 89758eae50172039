//! The MCP tools against a real Postgres (a fresh database per test, system schemas installed):
//! queries as two users under RLS, read-only refusal, the max_rows cut, error positions and
//! suggestions, the explain summary, describe (and its size on 50 tables), check_policies, and
//! migrations with a broken file.

use pgbase_mcp::{Backend, Options, QueryError, QueryRequest, Subject, ToolError};
use serde_json::json;

const USER_A: &str = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa";
const USER_B: &str = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb";

const TODOS: &str = "
create table public.todos (
  id bigint generated always as identity primary key,
  user_id uuid not null,
  title text not null,
  done boolean not null default false
);
alter table public.todos enable row level security;
create policy own_select on public.todos for select to authenticated using (user_id = (select auth.uid()));
create policy own_insert on public.todos for insert to authenticated with check (user_id = (select auth.uid()));
create policy own_update on public.todos for update to authenticated using (user_id = (select auth.uid()));
grant select, insert, update, delete on public.todos to authenticated;
revoke all on public.todos from anon;
insert into public.todos (user_id, title) values
  ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'a1'),
  ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'a2'),
  ('bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', 'b1');
";

async fn setup(sql: &str, options: Options) -> (Backend, pgbase_testkit::TestDb) {
    let db = pgbase_testkit::test_db().await;
    let client = db.connect().await;
    client
        .batch_execute(sql)
        .await
        .unwrap_or_else(|e| panic!("setup SQL failed: {e:?}"));
    (Backend::new(db.config.clone(), options), db)
}

fn request(sql: &str) -> QueryRequest {
    QueryRequest {
        sql: sql.to_string(),
        subject: Subject::default(),
        read_only: false,
        max_rows: 200,
    }
}

fn as_user(sql: &str, user: &str) -> QueryRequest {
    QueryRequest {
        subject: Subject::from_word(user),
        ..request(sql)
    }
}

fn sql_error(result: Result<pgbase_mcp::QueryOutput, QueryError>) -> pgbase_mcp::SqlError {
    match result {
        Err(QueryError::Sql(e)) => *e,
        other => panic!("expected an SQL error, got {other:?}"),
    }
}

#[tokio::test]
async fn two_users_see_their_own_rows_under_rls() {
    let (backend, _db) = setup(TODOS, Options::default()).await;
    let sql = "select title, auth.uid() as uid from todos order by title";
    let a = backend.query(as_user(sql, USER_A)).await.expect("as A");
    let b = backend.query(as_user(sql, USER_B)).await.expect("as B");
    let titles = |o: &pgbase_mcp::QueryOutput| -> Vec<String> {
        o.rows
            .iter()
            .map(|r| r["title"].as_str().unwrap_or("").to_string())
            .collect()
    };
    assert_eq!(titles(&a), ["a1", "a2"]);
    assert_eq!(titles(&b), ["b1"]);
    assert_eq!(a.rows[0]["uid"], USER_A);
    assert_eq!(a.columns[0].type_name, "text");
    assert_eq!(a.columns[1].type_name, "uuid");
    assert!(
        a.ran_as.contains(USER_A) && a.ran_as.contains("authenticated"),
        "{}",
        a.ran_as
    );

    // The login (owner) sees every row; anon has no grant.
    let all = backend.query(request(sql)).await.expect("as login");
    assert_eq!(all.row_count, 3);
    let anon = sql_error(
        backend
            .query(QueryRequest {
                subject: Subject::from_word("anon"),
                ..request(sql)
            })
            .await,
    );
    assert_eq!(anon.code, "42501");

    // The claims are the ones an API request carries.
    let claims = backend
        .query(as_user(
            "select current_setting('request.jwt.claims')::jsonb->>'role' as role, current_user::text as who",
            USER_B,
        ))
        .await
        .expect("claims");
    assert_eq!(claims.rows[0]["role"], "authenticated");
    assert_eq!(claims.rows[0]["who"], "authenticated");

    // Raw claims work as a user's token would.
    let by_claims = backend
        .query(QueryRequest {
            subject: Subject {
                claims: Some(json!({"sub": USER_B, "role": "authenticated"})),
                ..Subject::default()
            },
            ..request("select title from todos")
        })
        .await
        .expect("claims");
    assert_eq!(by_claims.rows.len(), 1);
    assert_eq!(by_claims.rows[0]["title"], "b1");

    // A role no API request can take is refused.
    let refused = backend
        .query(QueryRequest {
            subject: Subject::from_word("postgres"),
            ..request("select 1")
        })
        .await;
    assert!(
        matches!(refused, Err(QueryError::Context(_))),
        "{refused:?}"
    );
}

#[tokio::test]
async fn read_only_refuses_writes_and_batches() {
    let (backend, db) = setup(TODOS, Options::default()).await;
    let batch = backend
        .query(QueryRequest {
            read_only: true,
            ..request("select 1; delete from todos")
        })
        .await;
    assert!(matches!(batch, Err(QueryError::Refused(_))), "{batch:?}");
    let write = sql_error(
        backend
            .query(QueryRequest {
                read_only: true,
                ..request("delete from todos")
            })
            .await,
    );
    assert_eq!(write.code, "25006", "{write}");
    // The whole-server switch makes every query read-only.
    let ro = Backend::new(
        db.config.clone(),
        Options {
            read_only: true,
            ..Options::default()
        },
    );
    let write = sql_error(ro.query(request("update todos set done = true")).await);
    assert_eq!(write.code, "25006");
    let count = backend
        .query(request("select count(*) as n from todos where not done"))
        .await
        .expect("count");
    assert_eq!(count.rows[0]["n"], 3);
}

#[tokio::test]
async fn results_are_cut_at_max_rows_and_say_so() {
    let (backend, _db) = setup("select 1", Options::default()).await;
    let out = backend
        .query(QueryRequest {
            max_rows: 10,
            ..request("select g as n from generate_series(1, 500) g")
        })
        .await
        .expect("query");
    assert_eq!(out.rows.len(), 10);
    assert_eq!(out.rows[9]["n"], 10);
    assert!(
        out.truncated.as_deref().is_some_and(|t| t.contains("10")),
        "{:?}",
        out.truncated
    );
    let small = backend
        .query(QueryRequest {
            max_rows: 10,
            ..request("select g from generate_series(1, 10) g")
        })
        .await
        .expect("query");
    assert_eq!(small.rows.len(), 10);
    assert!(small.truncated.is_none());
    // A batch is cut too.
    let batch = backend
        .query(QueryRequest {
            max_rows: 5,
            ..request(
                "create temp table t as select g from generate_series(1, 50) g; select * from t",
            )
        })
        .await
        .expect("batch");
    assert_eq!(batch.rows.len(), 5);
    assert!(
        batch
            .truncated
            .as_deref()
            .is_some_and(|t| t.starts_with("50 rows"))
    );
    // Statements that cannot run in a transaction block still run (on their own).
    let vacuum = backend
        .query(request("vacuum analyze"))
        .await
        .expect("vacuum");
    assert!(
        vacuum
            .note
            .as_deref()
            .is_some_and(|n| n.contains("outside a transaction"))
    );
    // Notices come back.
    let notice = backend
        .query(request(
            "do $$ begin raise notice 'hello from plpgsql'; end $$",
        ))
        .await
        .expect("notice");
    assert!(
        notice
            .notices
            .iter()
            .any(|n| n.contains("hello from plpgsql")),
        "{:?}",
        notice.notices
    );
}

#[tokio::test]
async fn errors_point_at_the_line_and_suggest_names() {
    let (backend, _db) = setup(TODOS, Options::default()).await;
    let column = sql_error(
        backend
            .query(request("select id,\n  titel\nfrom todos"))
            .await,
    );
    assert_eq!(column.code, "42703");
    assert_eq!(column.position.as_deref(), Some("2:3"));
    assert_eq!(column.context.as_deref(), Some("2 |   titel\n      ^"));
    assert_eq!(column.did_you_mean, ["title"]);
    assert!(column.to_string().contains("did you mean: title?"));

    let table = sql_error(backend.query(request("select * from todoz")).await);
    assert_eq!(table.code, "42P01");
    assert_eq!(table.did_you_mean, ["todos"]);

    let function = sql_error(backend.query(request("select lenght('x')")).await);
    assert_eq!(function.code, "42883");
    assert!(
        function.did_you_mean.iter().any(|n| n == "length"),
        "{:?}",
        function.did_you_mean
    );

    let unrelated = sql_error(backend.query(request("select zzqqxx from todos")).await);
    assert!(
        unrelated.did_you_mean.is_empty(),
        "{:?}",
        unrelated.did_you_mean
    );

    let syntax = sql_error(
        backend
            .query(request("select 1;\nselect * fro todos"))
            .await,
    );
    assert_eq!(syntax.code, "42601");
    assert_eq!(syntax.position.as_deref(), Some("2:10"));
    // As a user too (the error comes from inside the user's transaction).
    let as_a = sql_error(
        backend
            .query(as_user("select titel from todos", USER_A))
            .await,
    );
    assert_eq!(as_a.did_you_mean, ["title"]);
}

#[tokio::test]
async fn explain_notes_the_seq_scan_and_suggests_an_index() {
    let (backend, db) = setup(
        "create table events (id bigint primary key, category int not null, payload text);
         insert into events select g, g % 50, 'p' || g from generate_series(1, 5000) g;
         analyze events;",
        Options::default(),
    )
    .await;
    let out = backend
        .explain(
            "select * from events where category = 7",
            &Subject::default(),
        )
        .await
        .expect("explain");
    assert!(out.total_ms > 0.0);
    assert!(
        out.notes
            .iter()
            .any(|n| n.contains("Seq Scan on \"public\".\"events\"") && n.contains("category")),
        "{:?}",
        out.notes
    );
    assert_eq!(
        out.suggested_indexes,
        ["create index on \"public\".\"events\" (\"category\");"]
    );
    assert_eq!(out.plan[0]["Plan"]["Node Type"], "Seq Scan");

    // Nothing to suggest once the index exists.
    db.connect()
        .await
        .batch_execute("create index on events (category); analyze events")
        .await
        .expect("index");
    let out = backend
        .explain(
            "select * from events where category = 7",
            &Subject::default(),
        )
        .await
        .expect("explain");
    assert!(
        out.suggested_indexes.is_empty(),
        "{:?}",
        out.suggested_indexes
    );

    // A write is rolled back.
    backend
        .explain("delete from events", &Subject::default())
        .await
        .expect("explain delete");
    let count = backend
        .query(request("select count(*) as n from events"))
        .await
        .expect("count");
    assert_eq!(count.rows[0]["n"], 5000);

    // A small table gets no note.
    let small = backend
        .explain("select * from events where id = 3", &Subject::default())
        .await
        .expect("explain");
    assert!(small.suggested_indexes.is_empty());
}

#[tokio::test]
async fn describe_shows_policies_routes_and_relationships() {
    let (backend, _db) = setup(
        &format!(
            "{TODOS}
             create table public.comments (id int primary key, todo_id bigint references public.todos(id), body text);
             create index on public.comments (todo_id);
             create function public.open_count() returns bigint language sql stable as 'select count(*) from public.todos where not done';
             select pgmq.create('emails');
             select pgmq.send('emails', '{{\"to\": \"a@b\"}}');
             select cron.schedule('nightly', '0 3 * * *', 'select 1');"
        ),
        Options::default(),
    )
    .await;
    let d = backend.describe(&[], None).await.expect("describe");
    let text = pgbase_mcp::describe::render(&d);
    assert!(text.starts_with("schemas: public (API)\n"), "{text}");
    assert!(text.contains("table public.todos [rls on"), "{text}");
    assert!(
        text.contains("REST /rest/v1/todos GraphQL todosCollection"),
        "{text}"
    );
    assert!(text.contains("\"own_select\" for select to authenticated using ((user_id = ( SELECT auth.uid() AS uid)))"), "{text}");
    assert!(
        text.contains("with check ((user_id = ( SELECT auth.uid() AS uid)))"),
        "{text}"
    );
    assert!(text.contains("fk: (todo_id) -> todos(id)"), "{text}");
    assert!(text.contains("referenced by: comments(todo_id)"), "{text}");
    assert!(text.contains("comments_todo_id_idx (todo_id)"), "{text}");
    assert!(
        text.contains("public.open_count() returns bigint"),
        "{text}"
    );
    assert!(text.contains("nightly 0 3 * * *"), "{text}");
    assert!(text.contains("emails: 1 messages"), "{text}");
    assert!(
        !text.contains("auth.users"),
        "system schemas are left out: {text}"
    );

    let one = backend
        .describe(&[], Some("todos"))
        .await
        .expect("describe one");
    assert_eq!(one.relations.len(), 1);
    let text = pgbase_mcp::describe::render(&one);
    assert!(
        text.contains(
            "grant: authenticated: delete, insert, references, select, trigger, truncate, update"
        ),
        "{text}"
    );
    assert!(!text.contains("grant: anon"), "{text}");
    assert!(text.contains("index: todos_pkey"), "{text}");
}

#[tokio::test]
async fn describe_of_fifty_tables_stays_under_40_kb() {
    let mut sql = String::new();
    for i in 0..50 {
        sql.push_str(&format!(
            "create table public.t{i:02} (
               id bigint generated always as identity primary key,
               owner_id uuid not null references auth.users(id),
               parent_id bigint{parent},
               name text not null,
               status text not null default 'open',
               created_at timestamptz not null default now()
             );
             create index on public.t{i:02} (owner_id);
             alter table public.t{i:02} enable row level security;
             create policy owner_all on public.t{i:02} for all to authenticated
               using (owner_id = (select auth.uid())) with check (owner_id = (select auth.uid()));
            ",
            parent = if i > 0 {
                format!(" references public.t{:02}(id)", i - 1)
            } else {
                String::new()
            }
        ));
    }
    let (backend, _db) = setup(&sql, Options::default()).await;
    let d = backend.describe(&[], None).await.expect("describe");
    assert_eq!(d.relations.len(), 50);
    let text = pgbase_mcp::describe::render(&d);
    println!(
        "describe of a 50-table schema: {} bytes of text",
        text.len()
    );
    assert!(text.len() < 40_000, "{} bytes", text.len());
}

#[tokio::test]
async fn check_policies_shows_each_user_side_by_side_and_changes_nothing() {
    let (backend, _db) = setup(TODOS, Options::default()).await;
    let subjects = [
        Subject::from_word(USER_A),
        Subject::from_word(USER_B),
        Subject::from_word("anon"),
    ];
    let probe = |action: &str, values: serde_json::Value, filter: serde_json::Value| {
        pgbase_mcp::policies::Probe {
            table: "todos".into(),
            action: action.into(),
            values: values.as_object().cloned().unwrap_or_default(),
            filter: filter.as_object().cloned().unwrap_or_default(),
            max_rows: 20,
        }
    };
    let seen = backend
        .check_policies(&probe("select", json!({}), json!({})), &subjects)
        .await
        .expect("select");
    assert_eq!(seen[0].row_count, Some(2));
    assert_eq!(seen[1].row_count, Some(1));
    assert_eq!(
        seen[1].rows.as_ref().map(|r| r[0]["title"].clone()),
        Some(json!("b1"))
    );
    let anon_error = seen[2].error.as_ref().expect("anon has no grant");
    assert_eq!(anon_error["code"], "42501");

    // B cannot update A's rows; A can (rolled back).
    let update = backend
        .check_policies(
            &probe("update", json!({"title": "x"}), json!({"user_id": USER_A})),
            &subjects[..2],
        )
        .await
        .expect("update");
    assert_eq!(update[0].row_count, Some(2));
    assert_eq!(update[1].row_count, Some(0));

    // Inserting a row for someone else breaks the WITH CHECK.
    let insert = backend
        .check_policies(
            &probe(
                "insert",
                json!({"title": "mine", "user_id": USER_A}),
                json!({}),
            ),
            &subjects[..2],
        )
        .await
        .expect("insert");
    assert_eq!(insert[0].row_count, Some(1));
    let b_error = insert[1].error.as_ref().expect("B may not insert for A");
    assert_eq!(b_error["code"], "42501");
    assert!(
        b_error["message"]
            .as_str()
            .unwrap_or("")
            .contains("row-level security")
    );

    let after = backend
        .query(request(
            "select count(*) as n, count(*) filter (where title = 'x') as x from todos",
        ))
        .await
        .expect("count");
    assert_eq!(after.rows[0]["n"], 3, "probes are rolled back");
    assert_eq!(after.rows[0]["x"], 0);
}

#[tokio::test]
async fn migrations_are_created_applied_and_a_broken_one_is_located_and_rolled_back() {
    let project = tempfile::tempdir().expect("tempdir");
    let options = Options {
        project_dir: Some(project.path().to_path_buf()),
        allow_migrations: true,
        ..Options::default()
    };
    let (backend, db) = setup("select 1", options.clone()).await;
    let path = backend
        .migration_create(
            "add_notes",
            "create table public.notes (id int primary key, body text);",
        )
        .expect("create");
    assert!(
        path.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.len() == "20260101000000_add_notes.sql".len()
                && n.ends_with("_add_notes.sql"))
    );
    let applied = backend.migration_apply().await.expect("apply");
    assert_eq!(applied.applied.len(), 1, "{applied:?}");
    let listed = backend.list_migrations().await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].state, "applied");

    backend
        .migration_create(
            "broken",
            "create table public.half (id int);\ncreate tabel public.other (id int);\n",
        )
        .expect("create broken");
    let failed = backend.migration_apply().await;
    let Err(ToolError::Migration(pgbase_migrate_error)) = failed else {
        panic!("expected a migration failure, got {failed:?}");
    };
    let text = pgbase_migrate_error.to_string();
    assert!(text.contains("_broken.sql:2:8:"), "{text}");
    assert!(
        text.contains("2 | create tabel public.other (id int);"),
        "{text}"
    );
    assert!(text.contains("\n           ^"), "{text}");
    let half: bool = db
        .connect()
        .await
        .query_one("select to_regclass('public.half') is null", &[])
        .await
        .expect("check")
        .get(0);
    assert!(half, "nothing of the broken migration is left applied");
    let listed = backend.list_migrations().await.expect("list");
    assert_eq!(listed[1].state, "pending");

    // Refused without the switch, and in read-only mode.
    let locked = Backend::new(
        db.config.clone(),
        Options {
            allow_migrations: false,
            ..options.clone()
        },
    );
    assert!(matches!(
        locked.migration_create("x", "select 1"),
        Err(ToolError::Refused(_))
    ));
    let read_only = Backend::new(
        db.config.clone(),
        Options {
            read_only: true,
            ..options
        },
    );
    assert!(matches!(
        read_only.migration_apply().await,
        Err(ToolError::Refused(_))
    ));
}

#[tokio::test]
async fn logs_report_failed_cron_runs_net_errors_and_queue_depths() {
    let (backend, _db) = setup(
        "select cron.schedule('broken', '* * * * *', 'select 1/0');
         insert into cron.job_run_details (jobid, command, status, return_message, start_time, end_time)
           select jobid, command, 'failed', 'division by zero', now(), now() from cron.job where jobname = 'broken';
         insert into cron.job_run_details (jobid, command, status, return_message, start_time, end_time)
           select jobid, command, 'succeeded', '1 row', now(), now() from cron.job where jobname = 'broken';
         insert into net._http_response (id, status_code, content, timed_out, error_msg)
           values (1, 503, 'unavailable', false, null), (2, 200, 'fine', false, null), (3, null, null, false, 'connection refused');
         select pgmq.create('jobs');
         select pgmq.send('jobs', '{\"n\": 1}');
         select pgmq.send('jobs', '{\"n\": 2}');",
        Options::default(),
    )
    .await;
    let logs = backend.logs(20).await.expect("logs");
    assert_eq!(logs.failed_cron_runs.len(), 1);
    assert_eq!(logs.failed_cron_runs[0]["message"], "division by zero");
    assert_eq!(logs.failed_cron_runs[0]["job"], "broken");
    let ids: Vec<i64> = logs
        .failed_net_requests
        .iter()
        .filter_map(|r| r["id"].as_i64())
        .collect();
    assert_eq!(ids.len(), 2, "{:?}", logs.failed_net_requests);
    assert!(ids.contains(&1) && ids.contains(&3));
    assert_eq!(logs.queues.len(), 1);
    assert_eq!(logs.queues[0]["queue"], "jobs");
    assert_eq!(logs.queues[0]["depth"], 2);
    assert!(logs.failed_api_requests.is_none());
}

#[tokio::test]
async fn read_only_servers_explain_and_probe_in_read_only_transactions() {
    let (_, db) = setup(TODOS, Options::default()).await;
    let backend = Backend::new(
        db.config.clone(),
        Options {
            read_only: true,
            ..Options::default()
        },
    );
    let explained = backend
        .explain("delete from todos", &Subject::default())
        .await;
    match explained {
        Err(QueryError::Sql(e)) => assert_eq!(e.code, "25006"),
        other => panic!("expected 25006, got {other:?}"),
    }
    assert!(
        backend
            .explain("select * from todos", &Subject::default())
            .await
            .is_ok()
    );
    let probe = pgbase_mcp::policies::Probe {
        table: "todos".into(),
        action: "delete".into(),
        values: Default::default(),
        filter: Default::default(),
        max_rows: 5,
    };
    let outcome = backend
        .check_policies(&probe, &[Subject::from_word(USER_A)])
        .await
        .expect("probe");
    assert_eq!(
        outcome[0].error.as_ref().map(|e| e["code"].clone()),
        Some(json!("25006"))
    );
}

#[tokio::test]
async fn explain_suggests_an_index_for_an_unindexed_join_column() {
    let (backend, _db) = setup(
        "create table customers (id int primary key, name text not null);
         create table orders (id int primary key, customer_id int not null references customers(id), total int);
         insert into customers select g, 'c' || g from generate_series(1, 20) g;
         insert into orders select g, 1 + g % 20, g from generate_series(1, 20000) g;
         analyze customers; analyze orders;",
        Options::default(),
    )
    .await;
    let out = backend
        .explain(
            "select o.total from orders o join customers c on c.id = o.customer_id where c.name = 'c7'",
            &Subject::default(),
        )
        .await
        .expect("explain");
    assert!(
        out.suggested_indexes
            .contains(&"create index on \"public\".\"orders\" (\"customer_id\");".to_string()),
        "{:?} {:?}",
        out.suggested_indexes,
        out.notes
    );
}

#[tokio::test]
async fn data_modifying_ctes_and_returning_come_back_as_rows() {
    let (backend, _db) = setup(TODOS, Options::default()).await;
    let cte = backend
        .query(request(
            "with added as (insert into todos (user_id, title) values ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'new') returning title) select * from added",
        ))
        .await
        .expect("cte");
    assert_eq!(cte.rows.len(), 1);
    assert_eq!(cte.rows[0]["title"], "new");
    let returning = backend
        .query(QueryRequest {
            max_rows: 2,
            ..request("update todos set done = true returning id, done")
        })
        .await
        .expect("returning");
    assert_eq!(returning.rows.len(), 2);
    assert_eq!(returning.rows[0]["done"], true);
    assert!(
        returning
            .truncated
            .as_deref()
            .is_some_and(|t| t.starts_with("4 rows"))
    );
    let done = backend
        .query(request(
            "select count(*) filter (where done) as n from todos",
        ))
        .await
        .expect("count");
    assert_eq!(done.rows[0]["n"], 4, "the update was committed");
}

#[tokio::test]
async fn the_statement_timeout_cancels_long_calls_and_says_why() {
    let (_, db) = setup(TODOS, Options::default()).await;
    let backend = Backend::new(
        db.config.clone(),
        Options {
            statement_timeout: std::time::Duration::from_millis(200),
            ..Options::default()
        },
    );
    let started = std::time::Instant::now();
    let slow = sql_error(backend.query(request("select pg_sleep(5)")).await);
    assert_eq!(slow.code, "57014");
    assert!(
        slow.hint.as_deref().is_some_and(|h| h.contains("200 ms")),
        "{slow}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    // As a user too (the tool's timeout comes after the role's own settings).
    let slow = sql_error(backend.query(as_user("select pg_sleep(5)", USER_A)).await);
    assert_eq!(slow.code, "57014");
    // The connection is usable afterwards.
    let ok = backend
        .query(request("select 1 as one"))
        .await
        .expect("after timeout");
    assert_eq!(ok.rows[0]["one"], 1);
    // Explain as a user sees the plan under RLS.
    let explained = backend
        .explain("select * from todos", &Subject::from_word(USER_A))
        .await
        .expect("explain as user");
    assert!(explained.ran_as.contains(USER_A));
    assert_eq!(explained.plan[0]["Plan"]["Actual Rows"], 2);
}
