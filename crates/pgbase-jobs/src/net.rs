//! The pg_net-compatible HTTP worker: sends the requests of `net.http_request_queue` and records
//! the outcomes in `net._http_response` (schema `sql/0006_net.sql`).
//!
//! **Waking.** A dedicated session (application name `pgbase-net-worker`, which
//! `net.check_worker_is_up()` looks for) LISTENs on `pgbase_net`; the queue's insert trigger
//! notifies it when the enqueuing transaction commits. A slow safety poll (`poll_interval`)
//! covers lost notifications, expired leases and claims of processes that died. There is no
//! fixed one-second sleep.
//!
//! **Claiming.** Rows are claimed with `FOR UPDATE SKIP LOCKED`, oldest first, by setting a
//! lease (`claimed_until` = now + the request's timeout + `lease_margin`) in a committed
//! statement; the worker then sends them concurrently (at most `concurrency` in flight per
//! process) and writes each response with the deletion of its request in one statement of its
//! own (several pipelined on one connection), so one response that cannot be stored never
//! holds back another. A response that cannot be stored as received (e.g. bytes Postgres
//! refuses) is stored as its status and an `error_msg` saying why, so a request whose
//! response arrived is not sent again. Several pgbase processes share the queue.
//!
//! **Take-over.** Each claim also records `claimed_by`, the backend pid of the claiming
//! process's LISTEN session. If a process dies (SIGKILL, lost host), Postgres ends that session
//! when the connection drops, and another process claims its rows again at its next wake-up
//! (a notification or the safety poll) without waiting for the lease; the lease still covers
//! a pid that cannot be checked. On a graceful stop the worker lets the requests in flight
//! finish, then puts back the rows it claimed but did not complete (clearing the claim) and
//! notifies the other workers. Delivery is **at-least-once**: a request cut off mid-flight by
//! a crash may be sent twice (as with pg_net, whose aborted batches come back); only one
//! response is stored; a request is never lost while some pgbase process runs.
//!
//! **Requests.** http and https only (others get `error_msg = 'Unsupported protocol'`),
//! redirects followed (up to 10), each request with its own `timeout_milliseconds`. The
//! optional deny-list (`deny_private_networks`, off by default) refuses loopback, private,
//! link-local, shared, unique-local and unspecified addresses, and IPv6 addresses that embed a
//! refused IPv4 one (IPv4-mapped, IPv4-compatible, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`; see
//! [`ip_denied`]), checked on every resolved address (so DNS rebinding is covered) and on every
//! redirect.
//!
//! **Responses.** `status_code`, `content_type`, `headers` (a JSON object; repeated headers
//! joined with `, `), `content` (the body as text, invalid UTF-8 and NUL bytes replaced by
//! U+FFFD), `timed_out`, and
//! `error_msg` (curl-style texts: `Timeout of N ms reached...`, `Couldn't connect to server`,
//! `Couldn't resolve host name`). Responses older than `ttl` (6 h) are deleted. The body is read
//! as a stream and reading stops at `max_response_bytes` (10 MB by default): such a response is
//! stored with its status, headers and first `max_response_bytes` bytes, and `error_msg =
//! 'response body truncated at N bytes'`. Memory stays bounded: at most `concurrency` bodies
//! of at most that size are held, plus a bounded queue of outcomes waiting to be stored.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use pgbase_db::ConnectConfig;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use serde_json::{Map, Value};
use tokio::sync::{Notify, Semaphore, mpsc};
use tokio_postgres::AsyncMessage;

use crate::{ShutdownSignal, pg_error_text, stopped};

/// Net worker settings.
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// Run the worker in this process (default true).
    pub enabled: bool,
    /// Requests in flight at once in this process (default 200).
    pub concurrency: usize,
    /// Most rows claimed per statement (pg_net's `batch_size`; default 200).
    pub batch_size: i64,
    /// Responses older than this are deleted (pg_net's `ttl`; default 6 hours).
    pub ttl: Duration,
    /// Safety poll when no notification arrives (default 10 s).
    pub poll_interval: Duration,
    /// Added to a request's timeout to form its claim lease (default 30 s).
    pub lease_margin: Duration,
    /// Refuse private, loopback and link-local destinations (default false; SSRF guard).
    pub deny_private_networks: bool,
    /// `User-Agent` of the requests.
    pub user_agent: String,
    /// Most bytes of a response body read and stored (default 10 MB); the rest is not read and
    /// the stored response says `error_msg = 'response body truncated at N bytes'`.
    pub max_response_bytes: usize,
}

/// Default of [`NetConfig::max_response_bytes`]: 10 MB.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 10 * 1024 * 1024;

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            enabled: true,
            concurrency: 200,
            batch_size: 200,
            ttl: Duration::from_secs(6 * 3600),
            poll_interval: Duration::from_secs(10),
            lease_margin: Duration::from_secs(30),
            deny_private_networks: false,
            user_agent: concat!("pg_net/0.14 (pgbase ", env!("CARGO_PKG_VERSION"), ")").to_string(),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }
}

/// Why the net worker could not start or continue.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("could not build the HTTP client: {0}")]
    Client(String),
    #[error("could not take a pooled connection: {0}")]
    Pool(String),
    #[error("database error while {doing}: {message}")]
    Db {
        doing: &'static str,
        message: String,
    },
}

/// One claimed row of `net.http_request_queue`.
#[derive(Debug, Clone)]
struct Request {
    id: i64,
    method: String,
    url: String,
    headers: Option<Value>,
    body: Option<Vec<u8>>,
    timeout_ms: i32,
}

/// One row for `net._http_response`.
#[derive(Debug, Clone, Default)]
struct Outcome {
    id: i64,
    status_code: Option<i32>,
    content_type: Option<String>,
    headers: Option<Value>,
    content: Option<String>,
    timed_out: bool,
    error_msg: Option<String>,
}

/// Runs the worker until `signal` says stop. Database errors are logged and retried; only a
/// client that cannot be built ends it early.
pub async fn run(
    config: NetConfig,
    db: impl Into<ConnectConfig>,
    pool: pgbase_db::Pool,
    mut signal: ShutdownSignal,
) -> Result<(), NetError> {
    let db: ConnectConfig = db.into();
    let http = build_client(&config)?;
    let wake = Arc::new(Notify::new());
    // Backend pid of the LISTEN session (0 while not connected): the claimer's identity.
    let session = Arc::new(AtomicI32::new(0));
    // The LISTEN session outlives the claim loop: it is this process's claim, and other
    // processes would take over the requests still in flight if it ended before they finish.
    let (end_session, session_ends) = tokio::sync::watch::channel(false);
    let listener = tokio::spawn(listen(db, wake.clone(), session.clone(), session_ends));
    // Bounded: a sender holds its permit until its outcome is queued, so a slow database slows
    // sending instead of piling up bodies in memory.
    let (done_tx, done_rx) = mpsc::channel::<Outcome>(OUTCOME_QUEUE);
    let writer = tokio::spawn(write_outcomes(pool.clone(), done_rx));
    let permits = Arc::new(Semaphore::new(config.concurrency.max(1)));
    let mut next_expiry = Instant::now();
    let mut claim_failure: Option<String> = None;

    loop {
        if *signal.borrow() {
            break;
        }
        if Instant::now() >= next_expiry {
            expire(&pool, config.ttl).await;
            next_expiry = Instant::now() + Duration::from_secs(60);
        }
        // Wait for at least one free slot, then claim as many rows as there are free slots.
        let first = tokio::select! {
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = stopped(&mut signal) => break,
        };
        let free = i64::try_from(permits.available_permits() + 1).unwrap_or(i64::MAX);
        let limit = free.min(config.batch_size.max(1));
        let claimer = session.load(Ordering::Acquire);
        let claimed = match claim(&pool, limit, config.lease_margin, claimer).await {
            Ok(rows) => {
                claim_failure = None;
                rows
            }
            Err(e) => {
                // While the database stays down, the same failure is logged once.
                let error = e.to_string();
                if claim_failure.as_deref() == Some(error.as_str()) {
                    tracing::debug!(%error, "net worker: claiming requests still failing");
                } else {
                    tracing::warn!(%error, "net worker: claiming requests failed");
                    claim_failure = Some(error);
                }
                drop(first);
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stopped(&mut signal) => break,
                }
                continue;
            }
        };
        let full = i64::try_from(claimed.len()) == Ok(limit);
        let mut first = Some(first);
        for request in claimed {
            let permit = match first.take() {
                Some(p) => p,
                None => match permits.clone().acquire_owned().await {
                    Ok(p) => p,
                    Err(_) => break,
                },
            };
            let (http, tx) = (http.clone(), done_tx.clone());
            let limits = SendLimits {
                deny: config.deny_private_networks,
                max_body: config.max_response_bytes,
            };
            tokio::spawn(async move {
                let outcome = send(&http, request, limits).await;
                let _ = tx.send(outcome).await;
                drop(permit);
            });
        }
        drop(first);
        if full {
            continue;
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(config.poll_interval) => {}
            _ = stopped(&mut signal) => break,
        }
    }
    // In-flight requests finish (bounded by their timeouts) and their outcomes are written.
    drop(done_tx);
    let _ = tokio::time::timeout(Duration::from_secs(10), writer).await;
    // Whatever this process still holds goes back to the queue for the other processes.
    let claimer = session.load(Ordering::Acquire);
    if claimer != 0 {
        release(&pool, claimer).await;
    }
    let _ = end_session.send(true);
    if tokio::time::timeout(Duration::from_secs(2), listener)
        .await
        .is_err()
    {
        tracing::debug!("net worker: the LISTEN session did not close in time");
    }
    Ok(())
}

/// Puts back the requests claimed by session `claimer` (this process) and not completed, and
/// wakes the other workers.
async fn release(pool: &pgbase_db::Pool, claimer: i32) {
    let client = match pool.get().await {
        Ok(client) => client,
        Err(error) => {
            tracing::warn!(%error, "net worker: could not put back unsent requests; their lease expires instead");
            return;
        }
    };
    let released = client
        .query_one(
            "with released as (update net.http_request_queue \
               set claimed_until = null, claimed_by = null where claimed_by = $1 returning 1) \
             select count(*), pg_notify('pgbase_net', '') from released",
            &[&claimer],
        )
        .await;
    client.mark_idle();
    match released {
        Ok(row) => {
            let n: i64 = row.get(0);
            if n > 0 {
                tracing::info!(
                    requests = n,
                    "net worker: put back requests it had not completed"
                );
            }
        }
        Err(e) => tracing::warn!(
            error = %pg_error_text(&e),
            "net worker: could not put back unsent requests; their lease expires instead"
        ),
    }
}

fn build_client(config: &NetConfig) -> Result<reqwest::Client, NetError> {
    let deny = config.deny_private_networks;
    let redirect = reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() >= 10 {
            attempt.error("too many redirects")
        } else if !matches!(attempt.url().scheme(), "http" | "https") {
            attempt.error("Unsupported protocol")
        } else if deny && url_host_denied(attempt.url()) {
            attempt.error("destination address is not allowed")
        } else {
            attempt.follow()
        }
    });
    let mut builder = reqwest::Client::builder()
        .user_agent(config.user_agent.clone())
        .redirect(redirect)
        .no_proxy()
        .pool_max_idle_per_host(config.concurrency.max(1));
    if deny {
        builder = builder.dns_resolver(Arc::new(DenyPrivateResolver));
    }
    builder.build().map_err(|e| NetError::Client(e.to_string()))
}

/// Keeps the LISTEN session up and turns notifications into wake-ups.
async fn listen(
    db: ConnectConfig,
    wake: Arc<Notify>,
    session: Arc<AtomicI32>,
    mut signal: ShutdownSignal,
) {
    let mut db = db;
    db.pg.application_name("pgbase-net-worker");
    // While the database stays down, the same failure is logged once, not every 2 s.
    let mut last_failure: Option<String> = None;
    loop {
        match db.connect().await {
            Ok((client, mut connection)) => {
                last_failure = None;
                let (tx, mut rx) = mpsc::unbounded_channel::<()>();
                let driver = tokio::spawn(async move {
                    loop {
                        match futures_util::future::poll_fn(|cx| connection.poll_message(cx)).await
                        {
                            Some(Ok(AsyncMessage::Notification(_))) => {
                                if tx.send(()).is_err() {
                                    return;
                                }
                            }
                            Some(Ok(_)) => {}
                            Some(Err(_)) | None => return,
                        }
                    }
                });
                let listening = match client.batch_execute("listen pgbase_net").await {
                    Ok(()) => client
                        .query_one("select pg_backend_pid()", &[])
                        .await
                        .map(|row| row.get::<_, i32>(0)),
                    Err(e) => Err(e),
                };
                match listening {
                    Ok(pid) => {
                        session.store(pid, Ordering::Release);
                        // Requests may have arrived while not listening.
                        wake.notify_one();
                        loop {
                            tokio::select! {
                                n = rx.recv() => match n {
                                    Some(()) => wake.notify_one(),
                                    None => break,
                                },
                                _ = stopped(&mut signal) => {
                                    driver.abort();
                                    return;
                                }
                            }
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %pg_error_text(&e), "net worker: LISTEN failed")
                    }
                }
                driver.abort();
                session.store(0, Ordering::Release);
            }
            Err(e) => {
                let error = pgbase_db::explain(&e, &db.pg).one_line();
                if last_failure.as_deref() == Some(error.as_str()) {
                    tracing::debug!(%error, "net worker: still cannot connect to listen");
                } else {
                    tracing::warn!(%error, "net worker: cannot connect to listen");
                    last_failure = Some(error);
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = stopped(&mut signal) => return,
        }
    }
}

/// Claims up to `limit` requests that nobody holds: never claimed, lease expired, or claimed
/// by a session that no longer exists (its process died). `claimer` is this process's LISTEN
/// session pid (0 when not connected: the claim then relies on its lease alone).
async fn claim(
    pool: &pgbase_db::Pool,
    limit: i64,
    margin: Duration,
    claimer: i32,
) -> Result<Vec<Request>, NetError> {
    let client = pool
        .get()
        .await
        .map_err(|e| NetError::Pool(e.to_string()))?;
    let margin_ms = margin.as_millis() as f64;
    let rows = client
        .query(
            "update net.http_request_queue q \
             set claimed_until = clock_timestamp() + make_interval(secs => (q.timeout_milliseconds + $2::float8) / 1000.0), \
                 claimed_by = nullif($3::int, 0) \
             from (select r.id from net.http_request_queue r \
                   where r.claimed_until is null or r.claimed_until < clock_timestamp() \
                      or (r.claimed_by is not null \
                          and not exists (select from pg_stat_activity a where a.pid = r.claimed_by)) \
                   order by r.id limit $1::bigint for update of r skip locked) c \
             where q.id = c.id \
             returning q.id, q.method::text, q.url, q.headers, q.body, q.timeout_milliseconds",
            &[&limit, &margin_ms, &claimer],
        )
        .await;
    client.mark_idle();
    let rows = rows.map_err(|e| NetError::Db {
        doing: "claiming requests",
        message: pg_error_text(&e),
    })?;
    let mut requests: Vec<Request> = rows
        .iter()
        .map(|r| Request {
            id: r.get(0),
            method: r.get(1),
            url: r.get(2),
            headers: r.get(3),
            body: r.get(4),
            timeout_ms: r.get(5),
        })
        .collect();
    requests.sort_by_key(|r| r.id);
    Ok(requests)
}

/// Outcomes waiting for the writer (each holds at most `max_response_bytes` of body).
const OUTCOME_QUEUE: usize = 64;

/// Most outcomes written in one round (pipelined on one connection, one statement each).
const WRITE_BATCH: usize = 64;

/// Writes outcomes: each response is inserted and its request deleted in one statement of its
/// own, so a request is done exactly when its response exists, and a response that cannot be
/// stored affects no other.
async fn write_outcomes(pool: pgbase_db::Pool, mut rx: mpsc::Receiver<Outcome>) {
    let mut batch: Vec<Outcome> = Vec::new();
    while let Some(first) = rx.recv().await {
        batch.push(first);
        let mut bytes = batch_bytes(&batch);
        while batch.len() < WRITE_BATCH && bytes < 16 * 1024 * 1024 {
            match rx.try_recv() {
                Ok(o) => {
                    bytes += o.content.as_ref().map_or(0, String::len);
                    batch.push(o);
                }
                Err(_) => break,
            }
        }
        let mut attempts: u64 = 0;
        while !batch.is_empty() {
            match write_batch(&pool, &batch).await {
                Ok(()) => batch.clear(),
                Err(e) => {
                    attempts += 1;
                    tracing::warn!(error = %e, attempts, "net worker: writing responses failed");
                    if attempts >= 5 {
                        // The database is unreachable: the requests keep their lease and are
                        // claimed again when it expires (at-least-once delivery).
                        batch.clear();
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(200 * attempts)).await;
                }
            }
        }
    }
}

fn batch_bytes(batch: &[Outcome]) -> usize {
    batch
        .iter()
        .map(|o| o.content.as_ref().map_or(0, String::len))
        .sum()
}

/// Deletes the request and stores its response, only if the request was still queued: storing
/// twice (a retry after a lost connection, or two processes after an expired lease) leaves one
/// response.
const STORE_RESPONSE: &str = "with done as (delete from net.http_request_queue where id = $1 returning id) \
     insert into net._http_response (id, status_code, content_type, headers, content, timed_out, error_msg) \
     select id, $2, $3, $4, $5, $6, $7 from done";

/// Stores every outcome of `batch`, one statement each, pipelined on one pooled connection.
/// An outcome the database refuses is stored again as its status and the reason; only a lost
/// connection (or pool) is an error, and then the caller retries the whole batch (storing is
/// idempotent: a request already done is no longer queued, so it gets no second response).
async fn write_batch(pool: &pgbase_db::Pool, batch: &[Outcome]) -> Result<(), NetError> {
    let client = pool
        .get()
        .await
        .map_err(|e| NetError::Pool(e.to_string()))?;
    let store = match client.prepare(STORE_RESPONSE).await {
        Ok(statement) => statement,
        Err(e) => {
            client.mark_idle();
            return Err(NetError::Db {
                doing: "preparing to write responses",
                message: pg_error_text(&e),
            });
        }
    };
    let results = futures_util::future::join_all(batch.iter().map(|o| {
        let (client, store) = (&client, &store);
        async move {
            client
                .execute(
                    store,
                    &[
                        &o.id,
                        &o.status_code,
                        &o.content_type,
                        &o.headers,
                        &o.content,
                        &o.timed_out,
                        &o.error_msg,
                    ],
                )
                .await
        }
    }))
    .await;
    let mut lost: Option<tokio_postgres::Error> = None;
    for (o, result) in batch.iter().zip(results) {
        let Err(e) = result else { continue };
        if e.as_db_error().is_none() {
            lost = Some(e);
            continue;
        }
        // The response as received cannot be stored: store what can be, so the request is done
        // and never sent again.
        let reason = format!("could not store the response: {}", pg_error_text(&e));
        tracing::warn!(id = o.id, error = %reason, "net worker: storing a response failed");
        let fallback = client
            .execute(
                &store,
                &[
                    &o.id,
                    &o.status_code,
                    &None::<String>,
                    &None::<Value>,
                    &None::<String>,
                    &o.timed_out,
                    &Some(reason),
                ],
            )
            .await;
        if let Err(e) = fallback {
            if e.as_db_error().is_none() {
                lost = Some(e);
                continue;
            }
            tracing::warn!(id = o.id, error = %pg_error_text(&e), "net worker: dropping a request whose response cannot be stored");
            if let Err(e) = client
                .execute("delete from net.http_request_queue where id = $1", &[&o.id])
                .await
                && e.as_db_error().is_none()
            {
                lost = Some(e);
            }
        }
    }
    client.mark_idle();
    match lost {
        Some(e) => Err(NetError::Db {
            doing: "writing responses",
            message: pg_error_text(&e),
        }),
        None => Ok(()),
    }
}

async fn expire(pool: &pgbase_db::Pool, ttl: Duration) {
    let client = match pool.get().await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "net worker: no pooled connection to expire responses");
            return;
        }
    };
    let secs = ttl.as_secs_f64();
    if let Err(e) = client
        .execute(
            "delete from net._http_response where created < now() - make_interval(secs => $1)",
            &[&secs],
        )
        .await
    {
        tracing::warn!(error = %pg_error_text(&e), "net worker: expiring responses failed");
    }
    client.mark_idle();
}

/// Per-request limits of [`send`].
#[derive(Debug, Clone, Copy)]
struct SendLimits {
    deny: bool,
    max_body: usize,
}

async fn send(http: &reqwest::Client, request: Request, limits: SendLimits) -> Outcome {
    let deny = limits.deny;
    let id = request.id;
    let failed = |msg: String| Outcome {
        id,
        error_msg: Some(msg),
        ..Outcome::default()
    };
    let url = match reqwest::Url::parse(&request.url) {
        Ok(u) => u,
        Err(e) => return failed(format!("URL using bad/illegal format or missing URL ({e})")),
    };
    if !matches!(url.scheme(), "http" | "https") {
        return failed("Unsupported protocol".to_string());
    }
    if deny && url_host_denied(&url) {
        return failed("destination address is not allowed".to_string());
    }
    let method = match request.method.to_ascii_uppercase().as_str() {
        "GET" => reqwest::Method::GET,
        "POST" => reqwest::Method::POST,
        "DELETE" => reqwest::Method::DELETE,
        other => return failed(format!("unsupported method {other}")),
    };
    let timeout = Duration::from_millis(u64::try_from(request.timeout_ms.max(1)).unwrap_or(1));
    let mut builder = http.request(method, url).timeout(timeout);
    if let Some(Value::Object(headers)) = &request.headers {
        for (k, v) in headers {
            let v = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            builder = builder.header(k.as_str(), v);
        }
    }
    if let Some(body) = request.body {
        builder = builder.body(body);
    }
    let started = Instant::now();
    let result = async {
        let response = builder.send().await?;
        let status = response.status().as_u16();
        let mut headers = Map::new();
        for (name, value) in response.headers() {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            match headers.get_mut(name.as_str()) {
                Some(Value::String(existing)) => {
                    existing.push_str(", ");
                    existing.push_str(&value);
                }
                _ => {
                    headers.insert(name.as_str().to_string(), Value::String(value));
                }
            }
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let (body, truncated) = read_capped(response, limits.max_body).await?;
        Ok::<_, reqwest::Error>((status, headers, content_type, body, truncated))
    }
    .await;
    match result {
        Ok((status, headers, content_type, body, truncated)) => Outcome {
            id,
            status_code: Some(i32::from(status)),
            content_type,
            headers: Some(Value::Object(headers)),
            content: Some(body_text(body, truncated)),
            timed_out: false,
            error_msg: truncated
                .then(|| format!("response body truncated at {} bytes", limits.max_body)),
        },
        Err(e) if e.is_timeout() => Outcome {
            id,
            timed_out: true,
            error_msg: Some(format!(
                "Timeout of {} ms reached. Total time: {:.3} ms",
                request.timeout_ms,
                started.elapsed().as_secs_f64() * 1000.0
            )),
            ..Outcome::default()
        },
        Err(e) => {
            let detail = error_chain(&e);
            tracing::debug!(id, error = %detail, "net worker: request failed");
            let msg = if e.is_connect() {
                if detail.contains("dns error") || detail.contains("failed to lookup") {
                    "Couldn't resolve host name".to_string()
                } else if detail.contains("not allowed") {
                    "destination address is not allowed".to_string()
                } else {
                    "Couldn't connect to server".to_string()
                }
            } else {
                detail
            };
            failed(msg)
        }
    }
}

/// Reads the body chunk by chunk, keeping at most `max` bytes; stops reading (and drops the
/// connection) as soon as more arrive. Returns the bytes and whether the body was cut.
async fn read_capped(
    mut response: reqwest::Response,
    max: usize,
) -> Result<(Vec<u8>, bool), reqwest::Error> {
    let expected = response
        .content_length()
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(0);
    let mut body = Vec::with_capacity(expected.min(max).min(1024 * 1024));
    while let Some(chunk) = response.chunk().await? {
        let room = max - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            return Ok((body, true));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, false))
}

/// The body as text Postgres accepts: invalid UTF-8 and NUL bytes become U+FFFD; a character
/// cut in half by truncation is dropped.
fn body_text(body: Vec<u8>, truncated: bool) -> String {
    let text = match String::from_utf8(body) {
        Ok(s) => s,
        Err(e) => {
            let utf8 = e.utf8_error();
            let mut bytes = e.into_bytes();
            if truncated && utf8.error_len().is_none() {
                // Only an incomplete character at the very end: drop it.
                bytes.truncate(utf8.valid_up_to());
                String::from_utf8(bytes)
                    .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
            } else {
                String::from_utf8_lossy(&bytes).into_owned()
            }
        }
    };
    if text.contains('\0') {
        text.replace('\0', "\u{FFFD}")
    } else {
        text
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn url_host_denied(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return true;
    };
    // The URL parser has already normalised IPv4 forms (`2130706433`, `0x7f.1`) to dotted quads
    // and put IPv6 literals in brackets.
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(ip) => ip_denied(ip),
        Err(_) => {
            let host = host.trim_end_matches('.').to_ascii_lowercase();
            host == "localhost" || host.ends_with(".localhost")
        }
    }
}

/// Whether an address belongs to the ranges the SSRF deny-list refuses: loopback, private,
/// link-local, shared (CGNAT), unspecified, broadcast, multicast, reserved and benchmarking
/// IPv4; loopback, unspecified, multicast, unique-local, link-local and site-local IPv6; and
/// every IPv6 form that carries an IPv4 address (IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible
/// `::a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`), judged by that IPv4 address. The
/// local-use NAT64 prefix `64:ff9b:1::/48`, Teredo `2001::/32` (its client address is
/// obfuscated) and the documentation prefix `2001:db8::/32` are refused whole.
pub fn ip_denied(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => ipv4_denied(v4),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let o = v6.octets();
            if v6.is_loopback() || v6.is_unspecified() {
                return true;
            }
            // IPv4-mapped (::ffff:0:0/96) and IPv4-compatible (::/96, deprecated).
            if s[..5] == [0, 0, 0, 0, 0] && (s[5] == 0xffff || s[5] == 0) {
                return ipv4_denied(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
            }
            // NAT64 well-known prefix 64:ff9b::/96: the last 32 bits are the IPv4 address.
            if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                return ipv4_denied(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
            }
            // 6to4 2002::/16: bits 16..48 are the IPv4 address.
            if s[0] == 0x2002 {
                return ipv4_denied(Ipv4Addr::new(o[2], o[3], o[4], o[5]));
            }
            v6.is_multicast()
                || (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1) // local-use NAT64 64:ff9b:1::/48
                || (s[0] == 0x2001 && s[1] == 0) // Teredo 2001::/32
                || (s[0] == 0x2001 && s[1] == 0xdb8) // documentation
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link local
                || (s[0] & 0xffc0) == 0xfec0 // site local (deprecated)
        }
    }
}

fn ipv4_denied(v4: Ipv4Addr) -> bool {
    let o = v4.octets();
    v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_broadcast()
        || v4.is_multicast()
        || o[0] == 0
        || o[0] >= 240 // reserved 240.0.0.0/4
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // 100.64.0.0/10
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // 192.0.0.0/24
        || (o[0] == 192 && o[1] == 88 && o[2] == 99) // 6to4 relay anycast
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // 198.18.0.0/15
}

/// A resolver that drops denied addresses and fails when none is left.
struct DenyPrivateResolver;

impl Resolve for DenyPrivateResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| !ip_denied(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(format!("{host}: destination address is not allowed").into());
            }
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deny_list() {
        for denied in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(ip_denied(denied.parse().expect("ip")), "{denied}");
        }
        for allowed in ["1.1.1.1", "8.8.8.8", "2606:4700::1111"] {
            assert!(!ip_denied(allowed.parse().expect("ip")), "{allowed}");
        }
        let url = reqwest::Url::parse("http://localhost:8080/").expect("url");
        assert!(url_host_denied(&url));
    }

    #[test]
    fn body_text_is_storable() {
        assert_eq!(body_text(b"plain".to_vec(), false), "plain");
        assert_eq!(body_text(b"a\0b".to_vec(), false), "a\u{FFFD}b");
        assert_eq!(body_text(b"a\xffb".to_vec(), false), "a\u{FFFD}b");
        // "é" is two bytes; cut after the first by truncation, it is dropped.
        assert_eq!(body_text(b"ab\xc3".to_vec(), true), "ab");
        assert_eq!(body_text(b"ab\xc3".to_vec(), false), "ab\u{FFFD}");
    }

    #[test]
    fn deny_list_covers_ipv6_forms_of_ipv4() {
        for denied in [
            // IPv4-mapped and IPv4-compatible
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "::10.1.2.3",
            "::192.168.0.1",
            "::0.0.0.1",
            // NAT64 well-known prefix with a private/loopback IPv4, and the local-use prefix
            "64:ff9b::127.0.0.1",
            "64:ff9b::10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::1.1.1.1",
            // 6to4 with a private/loopback IPv4
            "2002:7f00:1::",
            "2002:a00:1::1",
            "2002:c0a8:101::1",
            "2002:a9fe:a9fe::1",
            // Teredo, documentation, site-local, multicast
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001:db8::1",
            "fec0::1",
            "ff02::1",
            // reserved IPv4
            "240.0.0.1",
            "255.255.255.255",
        ] {
            assert!(ip_denied(denied.parse().expect("ip")), "{denied}");
        }
        for allowed in [
            "64:ff9b::808:808",
            "2002:808:808::1",
            "::ffff:1.1.1.1",
            "2a00:1450:4001::200e",
        ] {
            assert!(!ip_denied(allowed.parse().expect("ip")), "{allowed}");
        }
        for denied in [
            "http://[::ffff:127.0.0.1]/",
            "http://[::127.0.0.1]/",
            "http://[64:ff9b::7f00:1]/",
            "http://[2002:7f00:1::]/",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://LOCALHOST./",
            "http://a.localhost/",
        ] {
            let url = reqwest::Url::parse(denied).expect("url");
            assert!(url_host_denied(&url), "{denied}");
        }
    }
}
#[cfg(test)]
mod client_tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A server that redirects `/loop` to itself, `/ftp` to an ftp URL, `/private` to
    /// 127.0.0.1 and `/hop` to `/ok`, and answers `/ok` with the request's user agent.
    async fn redirector() -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let n = sock.read(&mut buf).await.unwrap_or(0);
                    let req = String::from_utf8_lossy(&buf[..n]).to_string();
                    let path = req.split_whitespace().nth(1).unwrap_or("/").to_string();
                    let agent = req
                        .lines()
                        .find_map(|l| l.strip_prefix("user-agent: "))
                        .unwrap_or("")
                        .to_string();
                    let response = match path.as_str() {
                        "/ok" => format!(
                            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{agent}",
                            agent.len()
                        ),
                        "/loop" => redirect("/loop"),
                        "/ftp" => redirect("ftp://example.com/file"),
                        "/private" => redirect(&format!("http://127.0.0.1:{}/ok", addr.port())),
                        _ => redirect("/ok"),
                    };
                    let _ = sock.write_all(response.as_bytes()).await;
                });
            }
        });
        addr
    }

    fn redirect(to: &str) -> String {
        format!(
            "HTTP/1.1 302 Found\r\nlocation: {to}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        )
    }

    /// The client's redirect policy: follows http redirects with its user agent, stops loops
    /// after 10 hops, refuses other schemes, and (when asked) private destinations.
    #[tokio::test]
    async fn client_follows_only_safe_redirects() {
        let addr = redirector().await;
        let config = super::NetConfig {
            user_agent: "pgbase-test-agent".into(),
            ..super::NetConfig::default()
        };
        let client = super::build_client(&config).expect("client");
        // Bounded: a policy that follows a loop forever fails here instead of hanging.
        let get = async |path: &str| {
            tokio::time::timeout(
                std::time::Duration::from_secs(30),
                client.get(format!("http://{addr}{path}")).send(),
            )
            .await
            .expect("an answer within 30 s")
        };

        let ok = get("/hop").await.expect("redirect followed");
        assert_eq!(ok.status(), 200);
        assert_eq!(ok.text().await.expect("body"), "pgbase-test-agent");
        let e = get("/loop").await.expect_err("a redirect loop");
        assert!(format!("{e:?}").contains("too many redirects"), "{e:?}");
        let e = get("/ftp").await.expect_err("an ftp redirect");
        assert!(format!("{e:?}").contains("Unsupported protocol"), "{e:?}");
        // Without the deny list a redirect to a private address is followed ...
        assert_eq!(get("/private").await.expect("private").status(), 200);
        // ... with it, refused (checked on the redirect, before any connection).
        let strict = super::build_client(&super::NetConfig {
            deny_private_networks: true,
            ..config
        })
        .expect("client");
        let e = strict
            .get(format!("http://{addr}/private"))
            .send()
            .await
            .expect_err("a private destination");
        assert!(format!("{e:?}").contains("not allowed"), "{e:?}");
    }
}
