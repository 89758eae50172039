//! Read replicas (issue #15), against a real streaming replica (`pg_basebackup -R` of a
//! private cluster): read-only REST (GET/HEAD, RPC over GET) and GraphQL queries run on the
//! replica, writes and `X-Pgbase-Primary` requests on the primary; a replica whose replay is
//! paused past `db_replica_max_lag` is taken out and comes back once it catches up; a replica
//! stopped in the middle of a read load costs no failed read (the read is retried on the
//! primary) and the primary serves from then on; `pgbase doctor` reports the replicas.
//! `/health` (details) and `/metrics` show each replica's state — in rotation or out, lag,
//! reads served — and the reads that fell back to the primary, naming a replica by
//! `host:port/database` and never printing the password its URL carries.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Method, Request};
use pgbase::config::{Config, Settings};
use pgbase::server::{AppState, app};
use pgbase_testkit::PrivateCluster;
use serde_json::{Value, json};
use tower::ServiceExt;

const SETUP: &str = "
create table public.items (id int primary key);
grant select, insert on public.items to anon;
create function public.whereami() returns boolean language sql as 'select pg_is_in_recovery()';
create function public.readwhere() returns boolean stable language sql as 'select pg_is_in_recovery()';
create function public.port() returns int language sql as 'select inet_server_port()';
grant execute on function public.whereami(), public.readwhere(), public.port() to anon;
insert into public.items values (1);
";

async fn send(
    state: &AppState,
    method: Method,
    uri: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Value) {
    let mut b = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json");
    for (name, value) in headers {
        b = b.header(*name, *value);
    }
    let response = app(state.clone())
        .oneshot(b.body(Body::from(body.to_string())).unwrap())
        .await
        .unwrap();
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, value)
}

async fn graphql(state: &AppState, query: &str, headers: &[(&str, &str)]) -> Value {
    let (status, body) = send(
        state,
        Method::POST,
        "/graphql/v1",
        headers,
        &json!({ "query": query }).to_string(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("errors").is_none(), "{body}");
    body["data"].clone()
}

/// The password every replica URL carries (the test clusters trust local logins, so it is
/// ignored there); it must never show up in `/health` or `/metrics`.
const REPLICA_PASSWORD: &str = "s3cret-Replica-pw";

/// A primary with the setup, `count` streaming replicas, and pgbase configured with them.
async fn start(max_lag: f64, count: usize) -> (PrivateCluster, Vec<PrivateCluster>, AppState) {
    let primary = PrivateCluster::start();
    primary.connect().await.batch_execute(SETUP).await.unwrap();
    let replicas: Vec<_> = (0..count)
        .map(|_| tokio::task::block_in_place(|| primary.replica()))
        .collect();
    let urls: Vec<String> = replicas
        .iter()
        .map(|r| {
            r.url()
                .replace("postgres@", &format!("postgres:{REPLICA_PASSWORD}@"))
        })
        .collect();
    assert!(urls.iter().all(|u| u.contains(REPLICA_PASSWORD)));
    let settings = Settings {
        db_replica_urls: Some(urls.join(",")),
        db_replica_max_lag: Some(max_lag),
        ..Settings::default()
    };
    let config =
        Config::from_settings(settings, primary.url(), common::SECRET.into(), true).unwrap();
    let state = pgbase::runtime::start(config).await.unwrap();
    assert!(pgbase::runtime::wait_for_schema_cache(&state, Duration::from_secs(10)).await);
    for index in 0..count {
        wait_for(&state, index, true, Duration::from_secs(10)).await;
    }
    (primary, replicas, state)
}

/// Waits until the replica is (or is not) in rotation; fails after `limit`.
async fn wait_for(state: &AppState, index: usize, healthy: bool, limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let status = state.pool.replicas().unwrap().status();
        if status[index].healthy == healthy {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "replica healthy={healthy} not reached in {limit:?}: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `127.0.0.1:PORT/app`: how `/health` and `/metrics` name a test replica.
fn label(replica: &PrivateCluster) -> String {
    replica.url().rsplit('@').next().unwrap().to_string()
}

/// The `/health` details' replica section and the `/metrics` text (ops are open in dev).
async fn ops(state: &AppState) -> (Value, String) {
    let (status, health) = send(state, Method::GET, "/health", &[], "").await;
    assert_eq!(status, 200, "{health}");
    let (status, metrics) = send(state, Method::GET, "/metrics", &[], "").await;
    assert_eq!(status, 200, "{metrics}");
    let metrics = metrics.as_str().unwrap().to_string();
    for text in [health.to_string(), metrics.clone()] {
        assert!(!text.contains(REPLICA_PASSWORD), "password printed: {text}");
    }
    (health["replicas"].clone(), metrics)
}

/// The value of one sample in Prometheus text, e.g. `sample(m, "x_total", "")`.
fn sample(metrics: &str, name: &str, labels: &str) -> Option<f64> {
    let key = format!("{name}{labels} ");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&key))
        .map(|value| value.trim().parse().unwrap())
}

async fn ids(state: &AppState, headers: &[(&str, &str)]) -> Value {
    let (status, body) = send(
        state,
        Method::GET,
        "/rest/v1/items?select=id&order=id",
        headers,
        "",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_go_to_the_replica_and_writes_to_the_primary() {
    let (primary, replicas, state) = start(60.0, 2).await;
    let replica = &replicas[0];

    // Reads alternate between the two replicas (round-robin), never the primary.
    let port = |c: &PrivateCluster| -> Value {
        json!(
            c.url()
                .rsplit(':')
                .next()
                .unwrap()
                .split('/')
                .next()
                .unwrap()
                .parse::<u16>()
                .unwrap()
        )
    };
    let mut seen = Vec::new();
    for _ in 0..4 {
        let (status, body) = send(&state, Method::GET, "/rest/v1/rpc/port", &[], "").await;
        assert_eq!(status, 200, "{body}");
        seen.push(body);
    }
    let (a, b) = (port(&replicas[0]), port(&replicas[1]));
    assert!(
        seen == [a.clone(), b.clone(), a.clone(), b.clone()]
            || seen == [b.clone(), a.clone(), b, a],
        "{seen:?}"
    );
    // Two reads each, counted per replica; none fell back to the primary.
    let (health, metrics) = ops(&state).await;
    for (index, replica) in replicas.iter().enumerate() {
        let member = &health["members"][index];
        assert_eq!(member["replica"], json!(label(replica)), "{health}");
        assert_eq!(
            (&member["healthy"], &member["reads"]),
            (&json!(true), &json!(2)),
            "{health}"
        );
        let labels = format!("{{replica=\"{}\"}}", label(replica));
        assert_eq!(
            sample(&metrics, "pgbase_db_replica_reads_total", &labels),
            Some(2.0),
            "{metrics}"
        );
    }
    assert_eq!(health["fallbacks_to_primary"], json!(0), "{health}");

    // RPC: over GET (read-only) on the replica, over POST and with the header on the primary.
    let (status, body) = send(&state, Method::GET, "/rest/v1/rpc/whereami", &[], "").await;
    assert_eq!((status, body), (200, json!(true)));
    let (status, body) = send(&state, Method::POST, "/rest/v1/rpc/whereami", &[], "{}").await;
    assert_eq!((status, body), (200, json!(false)));
    let force = [("x-pgbase-primary", "1")];
    let (status, body) = send(&state, Method::GET, "/rest/v1/rpc/whereami", &force, "").await;
    assert_eq!((status, body), (200, json!(false)));
    // GraphQL: a query on the replica, with the header on the primary.
    assert_eq!(
        graphql(&state, "{ readwhere }", &[]).await,
        json!({"readwhere": true})
    );
    assert_eq!(
        graphql(&state, "{ readwhere }", &force).await,
        json!({"readwhere": false})
    );

    // With replay paused on both (lag allowance 60 s), a write is on the primary only: reads don't see
    // it, forced reads do; the write itself went to the primary (a replica would refuse it).
    for replica in &replicas {
        replica
            .connect()
            .await
            .batch_execute("select pg_wal_replay_pause()")
            .await
            .unwrap();
    }
    let (status, body) = send(&state, Method::POST, "/rest/v1/items", &[], r#"{"id": 2}"#).await;
    assert_eq!(status, 201, "{body}");
    let data = graphql(
        &state,
        "mutation { insertIntoitemsCollection(objects: [{id: 3}]) { affectedCount } }",
        &[],
    )
    .await;
    assert_eq!(data["insertIntoitemsCollection"]["affectedCount"], json!(1));
    assert_eq!(ids(&state, &[]).await, json!([{"id": 1}]));
    assert_eq!(
        ids(&state, &force).await,
        json!([{"id": 1}, {"id": 2}, {"id": 3}])
    );
    let query = "{ itemsCollection(orderBy: [{id: AscNullsLast}]) { edges { node { id } } } }";
    let nodes = |data: Value| data["itemsCollection"]["edges"].as_array().unwrap().len();
    assert_eq!(nodes(graphql(&state, query, &[]).await), 1);
    assert_eq!(nodes(graphql(&state, query, &force).await), 3);

    // `pgbase doctor` checks the replicas: the standby is ready, the primary named as a
    // replica is not.
    let line = |report: pgbase::doctor::Report| {
        report
            .checks
            .into_iter()
            .find(|c| c.capability == "replicas")
            .unwrap()
    };
    let good = line(pgbase::doctor::diagnose(&primary.url(), &[replica.url()]).await);
    assert_eq!(good.status, pgbase::doctor::Status::Ready, "{good:?}");
    let bad = line(pgbase::doctor::diagnose(&primary.url(), &[primary.url()]).await);
    assert_eq!(bad.status, pgbase::doctor::Status::Missing, "{bad:?}");
    assert!(bad.detail.contains("not in recovery"), "{bad:?}");
    drop(primary);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lagging_or_stopped_replica_is_taken_out_and_reads_never_fail() {
    let (primary, replicas, state) = start(1.0, 1).await;
    let replica = &replicas[0];
    let labels = format!("{{replica=\"{}\"}}", label(replica));

    // In rotation: `/health` and `/metrics` say so, with a lag within the limit; a read is
    // counted on the replica.
    assert_eq!(ids(&state, &[]).await, json!([{"id": 1}]));
    let (health, metrics) = ops(&state).await;
    let member = &health["members"][0];
    assert_eq!(member["replica"], json!(label(replica)), "{health}");
    assert_eq!(member["healthy"], json!(true), "{health}");
    assert!(member["lag_seconds"].as_f64().unwrap() <= 1.0, "{health}");
    assert_eq!(member["problem"], Value::Null, "{health}");
    assert_eq!(member["reads"], json!(1), "{health}");
    assert_eq!(health["fallbacks_to_primary"], json!(0), "{health}");
    assert_eq!(health["max_lag_seconds"], json!(1.0), "{health}");
    assert_eq!(
        sample(&metrics, "pgbase_db_replica_healthy", &labels),
        Some(1.0),
        "{metrics}"
    );
    assert!(
        sample(&metrics, "pgbase_db_replica_lag_seconds", &labels).unwrap() <= 1.0,
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, "pgbase_db_replica_reads_total", &labels),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, "pgbase_db_replica_fallbacks_total", ""),
        Some(0.0),
        "{metrics}"
    );

    // Lag: replay paused while the primary writes → out within max_lag plus a few checks,
    // reads then see the write (primary); resumed → back in rotation.
    let standby = replica.connect().await;
    standby
        .batch_execute("select pg_wal_replay_pause()")
        .await
        .unwrap();
    let (status, _) = send(&state, Method::POST, "/rest/v1/items", &[], r#"{"id": 2}"#).await;
    assert_eq!(status, 201);
    let out_after = wait_for(&state, 0, false, Duration::from_secs(5)).await;
    assert!(
        out_after >= Duration::from_millis(500),
        "taken out too early: {out_after:?}"
    );
    assert_eq!(ids(&state, &[]).await, json!([{"id": 1}, {"id": 2}]));
    let problem = state.pool.replicas().unwrap().status()[0]
        .problem
        .clone()
        .unwrap();
    assert!(problem.contains("db_replica_max_lag"), "{problem}");
    // `/health` and `/metrics` show it out, with a lag past the limit and the read above
    // counted as a fallback to the primary.
    let (health, metrics) = ops(&state).await;
    let member = &health["members"][0];
    assert_eq!(member["healthy"], json!(false), "{health}");
    assert!(member["lag_seconds"].as_f64().unwrap() > 1.0, "{health}");
    assert!(
        member["problem"]
            .as_str()
            .unwrap()
            .contains("db_replica_max_lag"),
        "{health}"
    );
    assert_eq!(member["reads"], json!(1), "{health}");
    assert_eq!(health["fallbacks_to_primary"], json!(1), "{health}");
    assert_eq!(
        sample(&metrics, "pgbase_db_replica_healthy", &labels),
        Some(0.0),
        "{metrics}"
    );
    assert!(
        sample(&metrics, "pgbase_db_replica_lag_seconds", &labels).unwrap() > 1.0,
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, "pgbase_db_replica_fallbacks_total", ""),
        Some(1.0),
        "{metrics}"
    );
    standby
        .batch_execute("select pg_wal_replay_resume()")
        .await
        .unwrap();
    drop(standby);
    wait_for(&state, 0, true, Duration::from_secs(5)).await;
    let (_, body) = send(&state, Method::GET, "/rest/v1/rpc/whereami", &[], "").await;
    assert_eq!(body, json!(true), "reads are back on the replica");
    let (health, metrics) = ops(&state).await;
    assert_eq!(health["members"][0]["healthy"], json!(true), "{health}");
    assert_eq!(health["members"][0]["reads"], json!(2), "{health}");
    assert_eq!(
        sample(&metrics, "pgbase_db_replica_healthy", &labels),
        Some(1.0),
        "{metrics}"
    );

    // Stop the replica in the middle of a read load (REST and GraphQL): no read fails.
    let stop = Arc::new(AtomicBool::new(false));
    // Half the readers use REST (RPC over GET), half GraphQL queries.
    let readers: Vec<_> = (0..8)
        .map(|n| {
            let (state, stop) = (state.clone(), stop.clone());
            tokio::spawn(async move {
                let (mut ok, mut failed, mut on_replica) = (0, Vec::new(), 0);
                let query = json!({ "query": "{ readwhere }" }).to_string();
                while !stop.load(Ordering::Relaxed) {
                    let (status, body) = if n % 2 == 0 {
                        send(&state, Method::GET, "/rest/v1/rpc/whereami", &[], "").await
                    } else {
                        let (status, body) =
                            send(&state, Method::POST, "/graphql/v1", &[], &query).await;
                        match body.pointer("/data/readwhere") {
                            Some(answer) if body.get("errors").is_none() => {
                                (status, answer.clone())
                            }
                            _ => (599, body),
                        }
                    };
                    match status {
                        200 => {
                            ok += 1;
                            on_replica += usize::from(body == json!(true));
                        }
                        _ => failed.push((status, body)),
                    }
                }
                (ok, failed, on_replica)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(700)).await;
    tokio::task::block_in_place(|| replica.stop());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::Relaxed);
    let (mut ok, mut on_replica, mut failed) = (0, 0, Vec::new());
    for reader in readers {
        let (o, f, r) = reader.await.unwrap();
        ok += o;
        on_replica += r;
        failed.extend(f);
    }
    assert!(
        failed.is_empty(),
        "{} failed reads: {:?}",
        failed.len(),
        &failed[..failed.len().min(3)]
    );
    assert!(
        on_replica > 0 && ok > on_replica,
        "ok {ok}, on the replica {on_replica}"
    );
    assert!(!state.pool.replicas().unwrap().status()[0].healthy);
    let (_, body) = send(&state, Method::GET, "/rest/v1/rpc/whereami", &[], "").await;
    assert_eq!(body, json!(false), "the primary serves");
    // Every read the primary served after the stop counts as a fallback.
    let (health, _) = ops(&state).await;
    let fallbacks = health["fallbacks_to_primary"].as_u64().unwrap();
    assert!(
        fallbacks as usize > ok - on_replica,
        "{fallbacks} fallbacks, {} reads on the primary: {health}",
        ok - on_replica + 1
    );
    drop(primary);
}
