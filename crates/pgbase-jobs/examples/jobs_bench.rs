//! Measurements of the net and cron workers (the code `pgbase serve` runs) against a throwaway
//! test cluster (pgbase-testkit). Run through `bench/jobs/net_cron.sh`, or
//! `cargo run --release -p pgbase-jobs --example jobs_bench [net|cron]`. The queue is pure SQL
//! and is measured beside upstream pgmq by `bench/jobs/queue_vs_pgmq.py`.
//!
//! - net: requests/s from SQL to a local HTTP server (5,000 requests enqueued in one
//!   transaction), and commit-to-request latency p50/p99 for single requests.
//! - cron: start lag (start_time minus the tick second) p50/p99 of second-level jobs with 1,000
//!   jobs scheduled.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{Mutex, watch};

#[tokio::main]
async fn main() {
    let what = std::env::args().nth(1).unwrap_or_else(|| "all".to_string());
    if what == "all" || what == "net" {
        net().await;
    }
    if what == "all" || what == "cron" {
        cron().await;
    }
}

async fn http_server() -> (std::net::SocketAddr, Arc<Mutex<Vec<Instant>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let log = arrivals.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let n = match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    buf.extend_from_slice(&chunk[..n]);
                    while let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        buf.drain(..p + 4);
                        log.lock().await.push(Instant::now());
                        let r = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok";
                        if sock.write_all(r).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    (addr, arrivals)
}

async fn net() {
    let (addr, arrivals) = http_server().await;
    let db = pgbase_testkit::test_db().await;
    let c = db.connect().await;
    let (stop, signal) = watch::channel(false);
    let worker = tokio::spawn(pgbase_jobs::net::run(
        pgbase_jobs::NetConfig::default(),
        db.config.clone(),
        db.pool(8),
        signal,
    ));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let url = format!("http://{addr}/");
    let n: i64 = 5000;
    let started = Instant::now();
    c.execute(
        "select net.http_get($1 || g) from generate_series(1, $2::int) g",
        &[&url, &(n as i32)],
    )
    .await
    .expect("enqueue");
    loop {
        let done: i64 = c
            .query_one("select count(*) from net._http_response", &[])
            .await
            .expect("count")
            .get(0);
        if done >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    println!(
        "net: {n} requests from SQL to a local server: {:.0} requests/s (target >= 2,000/s)",
        n as f64 / started.elapsed().as_secs_f64()
    );

    let mut lat = Vec::new();
    for _ in 0..200 {
        let before = arrivals.lock().await.len();
        c.execute("select net.http_get($1)", &[&url])
            .await
            .expect("one");
        let committed = Instant::now();
        loop {
            let a = arrivals.lock().await;
            if a.len() > before {
                lat.push(a[before].duration_since(committed));
                break;
            }
            drop(a);
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    }
    lat.sort();
    println!(
        "net: commit-to-request latency p50 {:.1} ms, p99 {:.1} ms",
        lat[lat.len() / 2].as_secs_f64() * 1000.0,
        lat[lat.len() * 99 / 100].as_secs_f64() * 1000.0
    );
    let _ = stop.send(true);
    let _ = worker.await;
}

async fn cron() {
    let db = pgbase_testkit::test_db().await;
    let c = db.connect().await;
    // 1,000 jobs: 50 second-level jobs and 950 minute-level ones.
    c.batch_execute(
        "select cron.schedule('s' || g, '1 seconds', 'select 1') from generate_series(1, 50) g;
         select cron.schedule('m' || g, (g % 60) || ' * * * *', 'select 1') from generate_series(1, 950) g;",
    )
    .await
    .expect("schedule");
    let (stop, signal) = watch::channel(false);
    let worker = tokio::spawn(pgbase_jobs::cron::run(
        pgbase_jobs::CronConfig::default(),
        db.config.clone(),
        db.pool(8),
        signal,
    ));
    tokio::time::sleep(Duration::from_secs(12)).await;
    let _ = stop.send(true);
    let _ = worker.await;
    let row = c
        .query_one(
            "select count(*),
                    percentile_cont(0.5) within group (order by extract(epoch from start_time - date_trunc('second', start_time))) * 1000,
                    percentile_cont(0.99) within group (order by extract(epoch from start_time - date_trunc('second', start_time))) * 1000
             from cron.job_run_details d join cron.job j using (jobid) where j.schedule = '1 seconds'",
            &[],
        )
        .await
        .expect("lag");
    let ticks = c
        .query(
            "select (extract(epoch from min(start_time) - date_trunc('second', min(start_time))) * 1000)::float8
             from cron.job_run_details d join cron.job j using (jobid) where j.schedule = '1 seconds'
             group by date_trunc('second', start_time) order by date_trunc('second', start_time)",
            &[],
        )
        .await
        .expect("ticks");
    let ticks: Vec<String> = ticks
        .iter()
        .map(|r| format!("{:.0}", r.get::<_, f64>(0)))
        .collect();
    println!(
        "cron: first start per tick, ms after the second: {}",
        ticks.join(" ")
    );
    println!(
        "cron: {} second-level runs among 1,000 jobs: start lag p50 {:.1} ms, p99 {:.1} ms (target p99 < 100 ms)",
        row.get::<_, i64>(0),
        row.get::<_, Option<f64>>(1).unwrap_or(f64::NAN),
        row.get::<_, Option<f64>>(2).unwrap_or(f64::NAN)
    );
}
