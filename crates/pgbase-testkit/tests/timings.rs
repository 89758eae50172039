//! Prints how long the harness takes (`cargo test -p pgbase-testkit --test timings -- --nocapture`).
//! It asserts nothing about speed; speed targets live in bench/.

use std::time::{Duration, Instant};

use pgbase_testkit::{cluster, cluster_start_time, template_build_time, test_db};

#[tokio::test]
async fn harness_timings() {
    let first = Instant::now();
    let c = cluster();
    let first_cluster = first.elapsed();
    let template = template_build_time();
    let warm_up = test_db().await;
    drop(warm_up);

    let mut samples: Vec<Duration> = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let db = test_db().await;
        samples.push(t.elapsed());
        drop(db);
    }
    samples.sort();
    let median = samples[samples.len() / 2];
    let connect = {
        let db = test_db().await;
        let t = Instant::now();
        let client = db.connect().await;
        let d = t.elapsed();
        client.query_one("select 1", &[]).await.unwrap();
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
