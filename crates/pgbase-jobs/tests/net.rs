//! The net system schema and the HTTP worker against a real Postgres and a local HTTP server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use pgbase_jobs::NetConfig;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_postgres::Client;

/// A tiny HTTP/1.1 server: `/status/N` answers N, `/slow` waits 3 s, `/echo` returns the request
/// as JSON. Counts the requests it received.
async fn serve() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let counter = counter.clone();
            tokio::spawn(async move {
                loop {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    let head_end = loop {
                        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break p + 4;
                        }
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                    let mut lines = head.split("\r\n");
                    let first = lines.next().unwrap_or_default().to_string();
                    let mut headers = serde_json::Map::new();
                    let mut len = 0usize;
                    for l in lines {
                        if let Some((k, v)) = l.split_once(':') {
                            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_string());
                            if k == "content-length" {
                                len = v.parse().unwrap_or(0);
                            }
                            headers.insert(k, Value::String(v));
                        }
                    }
                    while buf.len() < head_end + len {
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let body = String::from_utf8_lossy(&buf[head_end..head_end + len]).to_string();
                    counter.fetch_add(1, Ordering::SeqCst);
                    let mut parts = first.split(' ');
                    let method = parts.next().unwrap_or_default().to_string();
                    let path = parts.next().unwrap_or_default().to_string();
                    let (status, ctype, payload) = if let Some(code) = path.strip_prefix("/status/")
                    {
                        (
                            code.parse::<u16>().unwrap_or(500),
                            "text/plain",
                            format!("status {code}"),
                        )
                    } else if path.starts_with("/slow") {
                        tokio::time::sleep(Duration::from_secs(3)).await;
                        (200, "text/plain", "slow".to_string())
                    } else {
                        let echo = json!({"method": method, "path": path, "headers": headers, "body": body});
                        (200, "application/json", echo.to_string())
                    };
                    let response = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: {ctype}\r\nx-test: a\r\nx-test: b\r\ncontent-length: {}\r\n\r\n{payload}",
                        payload.len()
                    );
                    if sock.write_all(response.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, hits)
}

async fn err(client: &Client, sql: &str) -> String {
    match client.batch_execute(sql).await {
        Ok(()) => panic!("expected an error from {sql}"),
        Err(e) => e
            .as_db_error()
            .map(|d| d.message().to_string())
            .unwrap_or_else(|| e.to_string()),
    }
}

async fn one_i64(client: &Client, sql: &str) -> i64 {
    client
        .query_one(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
        .get(0)
}

async fn wait_responses(c: &Client, want: i64) -> i64 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let n = one_i64(c, "select count(*) from net._http_response").await;
        if n >= want || tokio::time::Instant::now() > deadline {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn request_functions_fill_the_queue() {
    let db = pgbase_testkit::test_db().await;
    let c = db.connect().await;
    let id = one_i64(
        &c,
        "select net.http_get('http://x.test/a?b=1', '{\"q\":\"a b/ü\",\"n\":1}')",
    )
    .await;
    let row = c
        .query_one("select method::text, url, headers, body, timeout_milliseconds from net.http_request_queue where id = $1", &[&id])
        .await
        .expect("row");
    assert_eq!(row.get::<_, String>(0), "GET");
    assert_eq!(
        row.get::<_, String>(1),
        "http://x.test/a?b=1&n=1&q=a%20b%2F%C3%BC"
    );
    assert_eq!(row.get::<_, Value>(2), json!({}));
    assert_eq!(row.get::<_, Option<Vec<u8>>>(3), None);
    assert_eq!(row.get::<_, i32>(4), 5000);

    let id = one_i64(
        &c,
        "select net.http_post('http://x.test/p', '{\"a\":1}', headers => '{\"X-A\":\"1\"}')",
    )
    .await;
    let row = c
        .query_one(
            "select headers, convert_from(body, 'utf8') from net.http_request_queue where id = $1",
            &[&id],
        )
        .await
        .expect("post row");
    assert_eq!(
        row.get::<_, Value>(0),
        json!({"X-A": "1", "Content-Type": "application/json"})
    );
    assert_eq!(row.get::<_, String>(1), "{\"a\": 1}");
    assert_eq!(
        err(&c, "select net.http_post('http://x.test/p', '{}', headers => '{\"content-type\":\"text/plain\"}')").await,
        "Content-Type header must be \"application/json\""
    );
    let id = one_i64(
        &c,
        "select net.http_delete('http://x.test/d', timeout_milliseconds => 100)",
    )
    .await;
    let m: String = c
        .query_one(
            "select method::text from net.http_request_queue where id = $1",
            &[&id],
        )
        .await
        .expect("delete row")
        .get(0);
    assert_eq!(m, "DELETE");
    assert_eq!(
        err(&c, "select net.http_get('http://x', headers => '[1]')").await,
        "headers must be a JSON object"
    );
    assert_eq!(
        err(&c, "select net.http_get('http://x', params => '1')").await,
        "params must be a JSON object"
    );
    assert!(err(&c, "insert into net.http_request_queue (method, url, timeout_milliseconds) values ('put', 'http://x', 1)")
        .await
        .contains("violates check constraint"));
    let pending: String = c
        .query_one(
            "select (net.http_collect_response($1)).status::text",
            &[&id],
        )
        .await
        .expect("collect")
        .get(0);
    assert_eq!(pending, "PENDING");

    // The API roles may call the functions but not touch the tables.
    c.batch_execute("set role authenticated")
        .await
        .expect("role");
    one_i64(&c, "select net.http_get('http://x.test/')").await;
    assert!(
        err(&c, "select * from net.http_request_queue")
            .await
            .contains("permission denied")
    );
    assert!(
        err(&c, "select net.check_worker_is_up()")
            .await
            .contains("permission denied")
    );
    c.batch_execute("reset role").await.expect("reset");
    assert_eq!(
        err(&c, "select net.check_worker_is_up()").await,
        "the pg_net background worker is not up"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_sends_and_records_responses() {
    let (addr, hits) = serve().await;
    // A closed port for "connection refused".
    let closed = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind")
        .local_addr()
        .expect("addr");
    let db = pgbase_testkit::test_db().await;
    let mut c = db.connect().await;

    // Nothing is sent for a rolled-back transaction.
    let tx = c.transaction().await.expect("tx");
    tx.execute(
        "select net.http_get($1)",
        &[&format!("http://{addr}/status/200")],
    )
    .await
    .expect("enqueue");
    tx.rollback().await.expect("rollback");

    let (stop, signal) = watch::channel(false);
    let worker = tokio::spawn(pgbase_jobs::net::run(
        NetConfig::default(),
        db.config.clone(),
        db.pool(4),
        signal,
    ));
    c.batch_execute("select net.wait_until_running()")
        .await
        .expect("worker up");
    c.batch_execute("select net.check_worker_is_up()")
        .await
        .expect("worker up");

    let base = format!("http://{addr}");
    let get = one_i64(
        &c,
        &format!(
            "select net.http_get('{base}/echo', '{{\"q\":\"1 2\"}}', '{{\"X-Hello\":\"there\"}}')"
        ),
    )
    .await;
    let post = one_i64(
        &c,
        &format!("select net.http_post('{base}/echo', '{{\"a\":[1,2]}}')"),
    )
    .await;
    let del = one_i64(&c, &format!("select net.http_delete('{base}/echo')")).await;
    let teapot = one_i64(&c, &format!("select net.http_get('{base}/status/418')")).await;
    let slow = one_i64(
        &c,
        &format!("select net.http_get('{base}/slow', timeout_milliseconds => 300)"),
    )
    .await;
    let refused = one_i64(&c, &format!("select net.http_get('http://{closed}/')")).await;
    let ftp = one_i64(&c, "select net.http_get('ftp://example.com/')").await;
    assert_eq!(wait_responses(&c, 7).await, 7);

    let response = |id: i64| {
        let c = &c;
        async move {
            c.query_one(
                "select status_code, content_type, headers, content, timed_out, error_msg from net._http_response where id = $1",
                &[&id],
            )
            .await
            .unwrap_or_else(|e| panic!("response {id}: {e:?}"))
        }
    };
    let r = response(get).await;
    assert_eq!(r.get::<_, Option<i32>>(0), Some(200));
    assert_eq!(
        r.get::<_, Option<String>>(1).as_deref(),
        Some("application/json")
    );
    let headers: Value = r.get(2);
    assert_eq!(headers["x-test"], json!("a, b"));
    let echo: Value = serde_json::from_str(&r.get::<_, String>(3)).expect("echo json");
    assert_eq!(echo["method"], "GET");
    assert_eq!(echo["path"], "/echo?q=1%202");
    assert_eq!(echo["headers"]["x-hello"], "there");
    assert!(
        echo["headers"]["user-agent"]
            .as_str()
            .is_some_and(|u| u.starts_with("pg_net/"))
    );
    assert_eq!(r.get::<_, Option<bool>>(4), Some(false));

    let r = response(post).await;
    let echo: Value = serde_json::from_str(&r.get::<_, String>(3)).expect("echo json");
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["body"], "{\"a\": [1, 2]}");
    assert_eq!(echo["headers"]["content-type"], "application/json");

    let r = response(del).await;
    let echo: Value = serde_json::from_str(&r.get::<_, String>(3)).expect("echo json");
    assert_eq!(echo["method"], "DELETE");

    let r = response(teapot).await;
    assert_eq!(r.get::<_, Option<i32>>(0), Some(418));
    assert_eq!(r.get::<_, Option<String>>(3).as_deref(), Some("status 418"));

    let r = response(slow).await;
    assert_eq!(r.get::<_, Option<i32>>(0), None);
    assert_eq!(r.get::<_, Option<bool>>(4), Some(true));
    assert!(
        r.get::<_, Option<String>>(5)
            .is_some_and(|m| m.starts_with("Timeout of 300 ms reached"))
    );

    let r = response(refused).await;
    assert_eq!(r.get::<_, Option<i32>>(0), None);
    assert_eq!(
        r.get::<_, Option<String>>(5).as_deref(),
        Some("Couldn't connect to server")
    );

    let r = response(ftp).await;
    assert_eq!(
        r.get::<_, Option<String>>(5).as_deref(),
        Some("Unsupported protocol")
    );

    let status: String = c
        .query_one(
            "select (net.http_collect_response($1)).status::text",
            &[&teapot],
        )
        .await
        .expect("collect")
        .get(0);
    assert_eq!(status, "SUCCESS");
    assert_eq!(
        one_i64(&c, "select count(*) from net.http_request_queue").await,
        0
    );
    // The rolled-back request never reached the server: 3 echo + teapot + slow.
    assert_eq!(hits.load(Ordering::SeqCst), 5);

    let _ = stop.send(true);
    worker.await.expect("join").expect("worker");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_requests_two_workers_expired_leases_and_ttl() {
    let (addr, hits) = serve().await;
    let db = pgbase_testkit::test_db().await;
    let c = db.connect().await;
    // A lease left by a dead process (expired) is claimed again; a live one is not touched.
    c.batch_execute(&format!(
        "insert into net.http_request_queue (method, url, timeout_milliseconds, claimed_until) values
           ('GET', 'http://{addr}/status/201', 1000, now() - interval '1 minute');
         insert into net._http_response (id, status_code, created) values (-1, 200, now() - interval '7 hours');"
    ))
    .await
    .expect("setup");
    let (stop, signal) = watch::channel(false);
    let config = NetConfig {
        concurrency: 16,
        batch_size: 50,
        ..NetConfig::default()
    };
    let w1 = tokio::spawn(pgbase_jobs::net::run(
        config.clone(),
        db.config.clone(),
        db.pool(4),
        signal.clone(),
    ));
    let w2 = tokio::spawn(pgbase_jobs::net::run(
        config,
        db.config.clone(),
        db.pool(4),
        signal,
    ));
    c.execute(
        "select net.http_get($1 || '/status/200?i=' || g) from generate_series(1, 500) g",
        &[&format!("http://{addr}")],
    )
    .await
    .expect("enqueue");
    assert_eq!(wait_responses(&c, 501).await, 501);
    let _ = stop.send(true);
    w1.await.expect("join").expect("w1");
    w2.await.expect("join").expect("w2");
    assert_eq!(hits.load(Ordering::SeqCst), 501, "each request sent once");
    assert_eq!(
        one_i64(&c, "select count(*) from net._http_response where id = -1").await,
        0,
        "expired by TTL"
    );
    assert_eq!(
        one_i64(&c, "select count(distinct id) from net._http_response").await,
        501
    );
    assert_eq!(
        one_i64(&c, "select count(*) from net.http_request_queue").await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deny_list_refuses_private_addresses() {
    let (addr, hits) = serve().await;
    let db = pgbase_testkit::test_db().await;
    let c = db.connect().await;
    let (stop, signal) = watch::channel(false);
    let config = NetConfig {
        deny_private_networks: true,
        ..NetConfig::default()
    };
    let worker = tokio::spawn(pgbase_jobs::net::run(
        config,
        db.config.clone(),
        db.pool(2),
        signal,
    ));
    let a = one_i64(
        &c,
        &format!("select net.http_get('http://{addr}/status/200')"),
    )
    .await;
    let b = one_i64(
        &c,
        &format!(
            "select net.http_get('http://localhost:{}/status/200')",
            addr.port()
        ),
    )
    .await;
    assert_eq!(wait_responses(&c, 2).await, 2);
    let _ = stop.send(true);
    worker.await.expect("join").expect("worker");
    for id in [a, b] {
        let msg: Option<String> = c
            .query_one(
                "select error_msg from net._http_response where id = $1",
                &[&id],
            )
            .await
            .expect("response")
            .get(0);
        assert_eq!(msg.as_deref(), Some("destination address is not allowed"));
    }
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}
