//! Pool exhaustion (issue #16): 500 concurrent slow RPCs (each sleeping 1 s) against a pool of
//! 10 are queued; those that get no connection within the pool's acquire timeout (10 s) answer
//! 503 with a PGRST code instead of hanging; nothing deadlocks, `/health` answers throughout
//! without queueing behind them, and the process's memory stays bounded.
//!
//! Clocks: the 503s may not come before the acquire timeout (a lower bound, which load cannot
//! break); a `/health` probe must answer in under half the acquire timeout (queued behind the
//! pool it would take the whole timeout); a hang fails through a generous bound.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::TestApp;
use pgbase::config::Settings;

/// The pool's acquire timeout (`pgbase_db::PoolOptions::wait_timeout`, 10 s by default).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// A `/health` answer slower than this waited for a pooled connection.
const HEALTH_BOUND: Duration = Duration::from_secs(5);
/// Upper bound of a wait for one answer: reached only when something hangs.
const PATIENCE: Duration = Duration::from_secs(60);

const SETUP: &str = r#"
create function public.nap(seconds float8) returns text language sql as $$
  select pg_sleep(seconds)::text || 'rested' $$;
grant execute on function public.nap(float8) to anon;
"#;

/// Resident set size of this process in kB (VmRSS in /proc/self/status).
fn rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_slow_requests_on_a_pool_of_ten_queue_then_503_without_deadlock() {
    let settings = Settings {
        db_pool: Some(10),
        ..Settings::default()
    };
    let app = Arc::new(TestApp::with_settings(SETUP, settings).await);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..500 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            let r = app.get("/rest/v1/rpc/nap?seconds=1").await;
            (r.status.as_u16(), r.text, started.elapsed())
        }));
    }

    // /health answers while the pool is exhausted, every 250 ms, each without queueing.
    let done = Arc::new(AtomicBool::new(false));
    let health = {
        let app = app.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let mut answers = Vec::new();
            let mut peak_rss = 0;
            while !done.load(Ordering::Relaxed) {
                let t = Instant::now();
                let r = tokio::time::timeout(HEALTH_BOUND, app.get("/health")).await;
                answers.push((r.map(|r| r.status.as_u16()).ok(), t.elapsed()));
                peak_rss = peak_rss.max(rss_kb());
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            (answers, peak_rss)
        })
    };

    let mut ok = 0;
    let mut unavailable = 0;
    let mut latest = Duration::ZERO;
    for t in tasks {
        // Bounded: a deadlock fails here instead of hanging the suite.
        let (status, text, at) = tokio::time::timeout(PATIENCE, t)
            .await
            .expect("a request hung: deadlock?")
            .unwrap();
        latest = latest.max(at);
        match status {
            200 => ok += 1,
            503 | 504 => {
                let v: serde_json::Value = serde_json::from_str(&text).unwrap();
                let code = v["code"].as_str().unwrap_or_default();
                assert!(code.starts_with("PGRST"), "{text}");
                // `at` counts from before the request was sent: never later than its wait.
                assert!(
                    at >= ACQUIRE_TIMEOUT,
                    "gave up before the acquire timeout: {at:?}"
                );
                unavailable += 1;
            }
            other => panic!("unexpected {other}: {text}"),
        }
    }
    done.store(true, Ordering::Relaxed);
    let (answers, peak_rss) = health.await.unwrap();
    eprintln!(
        "ok={ok} unavailable={unavailable} last answer at {latest:?}; health probes {}; peak RSS {} kB",
        answers.len(),
        peak_rss
    );
    // 10 connections × ~10 s of 1 s naps: roughly 100 served; the rest time out waiting.
    assert!(ok >= 50, "only {ok} served: the pool is not serving");
    assert!(
        unavailable >= 300,
        "only {unavailable} × 503: requests were not bounded"
    );
    assert_eq!(ok + unavailable, 500);
    assert!(answers.len() >= 10, "too few health probes: {answers:?}");
    for (status, took) in &answers {
        // /health reports on the database through the pool; it may say 503, but it answers.
        assert!(
            status.is_some(),
            "/health did not answer within {HEALTH_BOUND:?}: {answers:?}"
        );
        assert!(*took < HEALTH_BOUND, "{answers:?}");
    }
    assert!(peak_rss < 100 * 1024, "RSS {peak_rss} kB");
    // The pool serves again at once.
    let r = app.get("/rest/v1/rpc/nap?seconds=0").await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text);
}
