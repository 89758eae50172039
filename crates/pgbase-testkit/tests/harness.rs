//! The harness against the real cluster: isolation, the template's contents, concurrency, pools.

use std::collections::HashSet;

use pgbase_testkit::{TEMPLATE_DB, cluster, test_db};

#[tokio::test]
async fn test_databases_are_isolated() {
    let a = test_db().await;
    let b = test_db().await;
    assert_ne!(a.name, b.name);
    assert!(
        a.url.starts_with("postgres://postgres@127.0.0.1:"),
        "{}",
        a.url
    );
    assert!(a.url.ends_with(&format!("/{}", a.name)));

    let ca = a.connect().await;
    let cb = b.connect().await;
    ca.batch_execute("create table only_in_a (x int); insert into only_in_a values (1)")
        .await
        .unwrap();
    let in_a: bool = ca
        .query_one("select to_regclass('only_in_a') is not null", &[])
        .await
        .unwrap()
        .get(0);
    let in_b: bool = cb
        .query_one("select to_regclass('only_in_a') is not null", &[])
        .await
        .unwrap()
        .get(0);
    assert!(in_a);
    assert!(!in_b, "a table made in one test database is not in another");
    let db: String = cb
        .query_one("select current_database()::text", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(db, b.name);
}

#[tokio::test]
async fn the_tcp_url_connects() {
    let db = test_db().await;
    let (client, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let row = client
        .query_one(
            "select current_database()::text, inet_client_addr()::text, current_user::text",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), db.name);
    assert_eq!(row.get::<_, String>(1), "127.0.0.1/32");
    assert_eq!(row.get::<_, String>(2), "postgres");
}

#[tokio::test]
async fn the_template_holds_the_system_schemas() {
    let db = test_db().await;
    let client = db.connect().await;
    let has_schema: bool = client
        .query_one("select to_regnamespace('pgbase') is not null", &[])
        .await
        .unwrap()
        .get(0);
    assert!(
        has_schema,
        "the pgbase schema was cloned from {TEMPLATE_DB}"
    );
    let roles: i64 = client
        .query_one(
            "select count(*) from pg_roles
             where rolname in ('anon', 'authenticated', 'service_role', 'authenticator')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(roles, 4);
    let (is_template, allow_conn): (bool, bool) = {
        let row = client
            .query_one(
                "select datistemplate, datallowconn from pg_database where datname = $1",
                &[&TEMPLATE_DB],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert!(is_template && !allow_conn);
}

#[test]
fn concurrent_callers_on_separate_runtimes_each_get_a_database() {
    let threads: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(|| {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    let db = test_db().await;
                    let client = db.connect().await;
                    client.query_one("select 1", &[]).await.unwrap();
                    db.name
                })
            })
        })
        .collect();
    let names: HashSet<String> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(names.len(), 4);
}

#[tokio::test]
async fn pools_hand_out_working_connections() {
    let db = test_db().await;
    let pool = db.pool(3);
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(pool.get().await.unwrap());
    }
    let mut pids = HashSet::new();
    for c in &held {
        let pid: i32 = c
            .query_one("select pg_backend_pid()", &[])
            .await
            .unwrap()
            .get(0);
        pids.insert(pid);
    }
    assert_eq!(pids.len(), 3);
    assert_eq!(pool.status().size, 3);
}

#[tokio::test]
async fn the_cluster_is_shared_and_answers_as_superuser() {
    let c = cluster();
    assert!(c.is_running());
    assert!(c.listens_tcp());
    let (client, conn) = tokio_postgres::connect(&c.url("postgres"), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let (fsync, superuser): (String, bool) = {
        let row = client
            .query_one(
                "select current_setting('fsync'), rolsuper from pg_roles where rolname = current_user",
                &[],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert_eq!(fsync, "off");
    assert!(superuser);
    assert!(std::ptr::eq(c, cluster()));
}
