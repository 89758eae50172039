//! Two `pgbase serve` processes on one database: the cron leader is elected by advisory lock,
//! so a '1 seconds' job fires once per tick over 100 ticks, even when the leader is killed
//! half way and the other process takes over.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_pgbase");
const TICKS: u64 = 100;

fn serve(db_url: &str) -> Child {
    Command::new(BIN)
        .args([
            "serve",
            "--db-url",
            db_url,
            "--port",
            &pgbase_testkit::free_port().to_string(),
        ])
        .args(["--jwt-secret", "a-secret-of-at-least-thirty-two-characters"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn pgbase serve")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_fire_each_tick_once_over_100_ticks() {
    let db = pgbase_testkit::test_db().await;
    let client = db.connect().await;
    client
        .batch_execute(
            "create table public.fired (at timestamptz default clock_timestamp());
             select cron.schedule('tick', '1 seconds', 'insert into public.fired default values');",
        )
        .await
        .expect("setup");
    let mut first = serve(&db.url);
    let mut second = serve(&db.url);

    // Let a leader settle, then count over TICKS seconds.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let count = async || -> i64 {
        client
            .query_one("select count(*) from public.fired", &[])
            .await
            .expect("count")
            .get(0)
    };
    let before = count().await;
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(TICKS / 2)).await;
    // Kill one process outright (no clean shutdown); the other takes the lead.
    let _ = first.kill();
    let _ = first.wait();
    tokio::time::sleep(Duration::from_secs(TICKS / 2)).await;
    let fired = count().await - before;
    let elapsed = started.elapsed().as_secs_f64();
    let _ = second.kill();
    let _ = second.wait();

    assert!(
        (fired as f64) <= elapsed + 1.0,
        "fired {fired} times in {elapsed:.1} s: some tick fired twice"
    );
    // The takeover may cost a few ticks (the dead leader's lock goes with its connection).
    assert!(
        (fired as f64) >= elapsed - 5.0,
        "fired {fired} times in {elapsed:.1} s: too many ticks lost"
    );
}
