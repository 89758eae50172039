//! The harness's one-time work happens once, and each database it hands out is a new, clean
//! clone; along the way it prints how long each step took
//! (`cargo test -p pgbase-testkit --test timings -- --nocapture`). It asserts nothing about
//! speed: speed targets live in bench/.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use pgbase_testkit::{cluster, cluster_start_time, template_build_time, test_db};

#[tokio::test]
async fn harness_work_is_done_once_and_every_database_is_fresh() {
    let first = Instant::now();
    let c = cluster();
    let first_cluster = first.elapsed();
    let template = template_build_time();
    // Started and built once per process: later calls report the same figures and the same
    // cluster.
    assert!(std::ptr::eq(c, cluster()));
    assert_eq!(cluster_start_time(), cluster_start_time());
    assert!(cluster_start_time() > Duration::ZERO);
    assert_eq!(template_build_time(), template);
    assert!(template > Duration::ZERO);

    let warm_up = test_db().await;
    let mut names = HashSet::from([warm_up.name.clone()]);
    let mut samples: Vec<Duration> = Vec::new();
    for i in 0..20 {
        let t = Instant::now();
        let db = test_db().await;
        samples.push(t.elapsed());
        assert!(
            names.insert(db.name.clone()),
            "{} handed out twice",
            db.name
        );
        // Fresh: nothing an earlier test database got is in this one, and it was cloned from
        // the template (the system schemas are there).
        let client = db.connect().await;
        let row = client
            .query_one(
                "select current_database()::text,
                        (select count(*) from pg_class where relname like 'left_by_%'),
                        to_regclass('pgbase.migrations') is not null",
                &[],
            )
            .await
            .expect("query");
        assert_eq!(row.get::<_, String>(0), db.name);
        assert_eq!(row.get::<_, i64>(1), 0, "{} is not a clean clone", db.name);
        assert!(
            row.get::<_, bool>(2),
            "{} lacks the system schemas",
            db.name
        );
        client
            .batch_execute(&format!("create table left_by_{i} (x int)"))
            .await
            .expect("create table");
    }
    assert_eq!(names.len(), 21);
    samples.sort();
    let median = samples[samples.len() / 2];
    let connect = {
        let db = test_db().await;
        let t = Instant::now();
        let client = db.connect().await;
        let d = t.elapsed();
        let one: i32 = client
            .query_one("select 1", &[])
            .await
            .expect("select 1")
            .get(0);
        assert_eq!(one, 1);
        d
    };
    println!(
        "pgbase-testkit timings (PostgreSQL {} in {}):\n  \
         first cluster start (initdb + start): {:?} (measured inside: {:?})\n  \
         template build (create + system schemas): {:?}\n  \
         test_db() after warm-up: median {:?}, min {:?}, max {:?} (20 runs)\n  \
         TestDb::connect(): {:?}",
        c.binaries().version,
        c.dir().display(),
        first_cluster,
        cluster_start_time(),
        template,
        median,
        samples[0],
        samples[samples.len() - 1],
        connect,
    );
}
