//! [`CatalogHandle`]: the current [`SchemaCache`] behind an `ArcSwap`, and the
//! reload listener that swaps in a fresh one after `NOTIFY pgrst` (PostgREST
//! semantics: payload `reload schema` or empty), or, where no DDL event trigger announces
//! schema changes, when a periodic catalog fingerprint changes.
//!
//! Requests call [`CatalogHandle::current`] once and keep that `Arc` for their whole
//! life, so a reload never changes the model under a running request and never
//! blocks one.

use crate::cache::SchemaCache;
use crate::error::CatalogError;
use crate::load::{Helper, Loader};
use arc_swap::ArcSwap;
use futures_util::StreamExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres::{AsyncMessage, Client, Config, Socket, Statement};
use tracing::{debug, error, info, warn};

/// Shared, atomically swappable schema cache.
#[derive(Debug)]
pub struct CatalogHandle {
    current: ArcSwap<SchemaCache>,
    version: AtomicU64,
    /// The current version, for those who act on a reload.
    reloaded: tokio::sync::watch::Sender<u64>,
    /// How many loads have started, for those who act when one starts (the pool retires its
    /// connections then and opens a fresh one while the catalog loads).
    loads: tokio::sync::watch::Sender<u64>,
}

impl CatalogHandle {
    /// A handle holding `cache` as version 1.
    pub fn new(cache: SchemaCache) -> Self {
        let handle = CatalogHandle {
            current: ArcSwap::from_pointee(SchemaCache::empty(cache.exposed_schemas())),
            version: AtomicU64::new(0),
            reloaded: tokio::sync::watch::Sender::new(0),
            loads: tokio::sync::watch::Sender::new(0),
        };
        handle.store(cache);
        handle
    }

    /// The model to use for one request (cheap: an atomic load + refcount).
    pub fn current(&self) -> Arc<SchemaCache> {
        self.current.load_full()
    }

    /// Installs `cache` as the current model; returns its version (1, 2, ...).
    pub fn store(&self, mut cache: SchemaCache) -> u64 {
        let version = self.version.fetch_add(1, Ordering::AcqRel) + 1;
        cache.version = version;
        self.current.store(Arc::new(cache));
        self.reloaded.send_replace(version);
        version
    }

    /// A receiver that sees each new version after it was installed.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.reloaded.subscribe()
    }

    /// A receiver that sees each load start (before its catalog query runs; a load that then
    /// fails installs nothing).
    pub fn subscribe_loads(&self) -> tokio::sync::watch::Receiver<u64> {
        self.loads.subscribe()
    }

    /// Number of successful loads so far (the current model's version).
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// Loads a fresh model over `client` and swaps it in; returns its version. On
    /// error the current model stays.
    pub async fn reload(&self, client: &Client, schemas: &[String]) -> Result<u64, CatalogError> {
        self.reload_with(client, &mut Loader::default(), schemas)
            .await
    }

    async fn reload_with(
        &self,
        client: &Client,
        loader: &mut Loader,
        schemas: &[String],
    ) -> Result<u64, CatalogError> {
        self.loads.send_modify(|n| *n += 1);
        let cache = loader.load(client, schemas).await?;
        let (tables, functions, relationships, took) = (
            cache.table_count(),
            cache.function_count(),
            cache.relationship_count(),
            cache.load_duration,
        );
        let version = self.store(cache);
        info!(
            version,
            tables,
            functions,
            relationships,
            duration_ms = took.as_secs_f64() * 1000.0,
            "schema cache loaded"
        );
        Ok(version)
    }
}

/// Settings of [`listen_for_reloads`].
#[derive(Debug, Clone)]
pub struct ListenOptions {
    /// Notification channel; PostgREST's is `pgrst`.
    pub channel: String,
    /// After a reload notification, wait this long and fold further notifications
    /// into the same reload (DDL in a migration fires many).
    pub debounce: Duration,
    /// Reconnect backoff: first delay, doubled up to `max_backoff`.
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    /// Reload right after (re)connecting, since notifications sent while
    /// disconnected are lost.
    pub reload_on_connect: bool,
    /// Where the database has no (enabled) pgbase DDL event trigger, e.g. a managed database
    /// whose owner is no superuser: compare a fingerprint of the exposed schemas' catalog this
    /// often and reload when it changed, so DDL made outside `pgbase migrate` without
    /// `NOTIFY pgrst` is still picked up. `None` turns the check off.
    pub fingerprint_every: Option<Duration>,
}

impl Default for ListenOptions {
    fn default() -> Self {
        ListenOptions {
            channel: "pgrst".to_owned(),
            // One transaction's notifications arrive together at its commit (and Postgres
            // folds equal ones into one), so a short wait suffices; a notification that
            // arrives during a reload brings another one after it, so none is missed.
            debounce: Duration::from_millis(5),
            min_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
            reload_on_connect: true,
            fingerprint_every: Some(Duration::from_secs(5)),
        }
    }
}

/// Whether a `pgrst` payload asks for a schema reload: `reload schema`, or empty
/// (PostgREST reloads schema and config then). `reload config` and others are ignored.
pub fn is_schema_reload(payload: &str) -> bool {
    payload.is_empty() || payload == "reload schema"
}

/// [`listen_for_reloads_with_tls`] with the database URL's TLS settings (a plain
/// `tokio_postgres::Config` converts with libpq's default `sslmode=prefer`).
pub async fn listen_for_reloads(
    config: impl Into<pgbase_db::ConnectConfig>,
    handle: Arc<CatalogHandle>,
    schemas: Vec<String>,
    options: ListenOptions,
) {
    let config: pgbase_db::ConnectConfig = config.into();
    listen_for_reloads_with_tls(config.pg, config.tls, handle, schemas, options).await
}

/// Runs forever (spawn it; abort the task to stop): opens a dedicated connection,
/// `LISTEN`s on `options.channel`, and on a schema-reload notification reloads the
/// cache over that connection and swaps it into `handle` (after `options.debounce`).
/// Reconnects with exponential backoff when the connection drops. A failing load is
/// logged and the previous model stays.
pub async fn listen_for_reloads_with_tls<T>(
    config: Config,
    tls: T,
    handle: Arc<CatalogHandle>,
    schemas: Vec<String>,
    options: ListenOptions,
) where
    T: MakeTlsConnect<Socket> + Clone + Send + Sync + 'static,
    T::Stream: Send + 'static,
    T::TlsConnect: Send,
    <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
{
    let mut backoff = options.min_backoff;
    // While the database stays down, the same failure is logged once (then at debug level).
    let mut last_failure: Option<String> = None;
    loop {
        let mut connected = false;
        match session(
            &config,
            tls.clone(),
            &handle,
            &schemas,
            &options,
            &mut connected,
        )
        .await
        {
            Ok(()) => warn!("schema reload listener: connection closed"),
            Err(e) => {
                let error = match &e {
                    CatalogError::Listen(pg) => pgbase_db::explain(pg, &config).one_line(),
                    other => other.to_string(),
                };
                if last_failure.as_deref() == Some(error.as_str()) {
                    debug!(%error, "schema reload listener still failing");
                } else {
                    warn!(%error, "schema reload listener failed");
                    last_failure = Some(error);
                }
            }
        }
        if connected {
            backoff = options.min_backoff;
            last_failure = None;
        }
        debug!(?backoff, "schema reload listener reconnecting");
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(options.max_backoff);
    }
}

enum Event {
    Notify(String),
    Closed(Option<tokio_postgres::Error>),
}

/// Aborts the connection driver when the session ends (or is dropped).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

pub(crate) fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

async fn session<T>(
    config: &Config,
    tls: T,
    handle: &CatalogHandle,
    schemas: &[String],
    options: &ListenOptions,
    connected: &mut bool,
) -> Result<(), CatalogError>
where
    T: MakeTlsConnect<Socket> + Clone + Send + 'static,
    T::Stream: Send + 'static,
    T::TlsConnect: Send,
    <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
{
    let (client, mut connection) = config
        .connect(tls.clone())
        .await
        .map_err(CatalogError::Listen)?;
    let (tx, mut rx) = mpsc::unbounded_channel::<Event>();
    let _driver = AbortOnDrop(tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(n)) => {
                    if tx.send(Event::Notify(n.payload().to_owned())).is_err() {
                        return;
                    }
                }
                Ok(AsyncMessage::Notice(n)) => debug!(notice = %n, "schema reload listener notice"),
                Ok(_) => {}
                Err(e) => {
                    let _ = tx.send(Event::Closed(Some(e)));
                    return;
                }
            }
        }
        let _ = tx.send(Event::Closed(None));
    }));

    client
        .batch_execute(&format!("LISTEN {}", quote_ident(&options.channel)))
        .await
        .map_err(CatalogError::Listen)?;
    *connected = true;
    info!(channel = %options.channel, "schema reload listener connected");

    let mut loader = Loader::with_helper(helper(config, tls).await);
    let check_every = options.fingerprint_every;
    let mut fingerprint = None;
    let mut fingerprint_statement = None;
    if check_every.is_some() {
        fingerprint = catalog_fingerprint(&client, &mut fingerprint_statement, schemas).await?;
    }
    if options.reload_on_connect {
        reload_logged(handle, &client, &mut loader, schemas).await?;
    }
    let mut ticker = tokio::time::interval(check_every.unwrap_or(Duration::from_secs(3600)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        let event = tokio::select! {
            event = rx.recv() => event,
            _ = ticker.tick(), if check_every.is_some() => {
                let now = catalog_fingerprint(&client, &mut fingerprint_statement, schemas).await?;
                if now.is_some() && now != fingerprint {
                    info!("schema change seen by the catalog fingerprint check; reloading");
                    reload_logged(handle, &client, &mut loader, schemas).await?;
                }
                fingerprint = now;
                continue;
            }
        };
        match event {
            Some(Event::Notify(payload)) if is_schema_reload(&payload) => {
                debug!(payload = %payload, "schema reload requested");
                let deadline = tokio::time::sleep(options.debounce);
                tokio::pin!(deadline);
                loop {
                    tokio::select! {
                        _ = &mut deadline => break,
                        ev = rx.recv() => match ev {
                            Some(Event::Notify(_)) => {}
                            Some(Event::Closed(e)) => return closed(e),
                            None => return Err(CatalogError::ConnectionClosed),
                        },
                    }
                }
                if check_every.is_some() {
                    fingerprint =
                        catalog_fingerprint(&client, &mut fingerprint_statement, schemas).await?;
                }
                reload_logged(handle, &client, &mut loader, schemas).await?;
            }
            Some(Event::Notify(payload)) => debug!(payload = %payload, "ignored notification"),
            Some(Event::Closed(e)) => return closed(e),
            None => return Err(CatalogError::ConnectionClosed),
        }
    }
}

/// A digest of what the schema cache is made of in `schemas` (relations, columns, constraints,
/// functions, policies, privileges, comments), or `None` when an enabled pgbase DDL event
/// trigger already announces every change.
const FINGERPRINT: &str = "select case
  when exists (select from pg_event_trigger where evtname = 'pgbase_ddl_end' and evtenabled <> 'D')
  then null
  else md5(coalesce((select string_agg(x, ',' order by x) from (
    select concat_ws(':', c.oid, c.relname, c.relkind, c.relnatts, c.relrowsecurity, c.relacl,
                     obj_description(c.oid, 'pg_class')) as x
      from pg_class c where c.relnamespace in (select oid from pg_namespace where nspname = any($1))
        and c.relkind in ('r', 'v', 'm', 'f', 'p')
    union all
    select concat_ws(':', a.attrelid, a.attname, a.atttypid, a.attnum, a.attnotnull, a.atthasdef,
                     a.attisdropped, a.attacl, col_description(a.attrelid, a.attnum))
      from pg_attribute a join pg_class c on c.oid = a.attrelid
      where c.relnamespace in (select oid from pg_namespace where nspname = any($1)) and a.attnum > 0
    union all
    select concat_ws(':', k.oid, k.conname, k.contype, k.conrelid, k.confrelid, k.conkey, k.confkey)
      from pg_constraint k where k.connamespace in (select oid from pg_namespace where nspname = any($1))
    union all
    select concat_ws(':', p.oid, p.proname, p.proargtypes, p.prorettype, p.provolatile,
                     md5(p.prosrc), p.proacl, obj_description(p.oid, 'pg_proc'))
      from pg_proc p where p.pronamespace in (select oid from pg_namespace where nspname = any($1))
    union all
    select concat_ws(':', po.oid, po.polname, po.polrelid, po.polcmd, po.polroles)
      from pg_policy po join pg_class c on c.oid = po.polrelid
      where c.relnamespace in (select oid from pg_namespace where nspname = any($1))
  ) parts), ''))
end";

/// The fingerprint, with the statement prepared once per connection (it is run before
/// every reload).
async fn catalog_fingerprint(
    client: &Client,
    statement: &mut Option<Statement>,
    schemas: &[String],
) -> Result<Option<String>, CatalogError> {
    let stmt = match statement {
        Some(s) => s.clone(),
        None => {
            let s = client
                .prepare(FINGERPRINT)
                .await
                .map_err(CatalogError::Listen)?;
            *statement = Some(s.clone());
            s
        }
    };
    let row = client
        .query_one(&stmt, &[&schemas])
        .await
        .map_err(CatalogError::Listen)?;
    row.try_get(0).map_err(CatalogError::Listen)
}

/// A second connection for the loader, which runs half of the catalog query on it at the
/// same time as the other half; without one (the server refuses another connection) the
/// cache loads on the listening connection alone.
async fn helper<T>(config: &Config, tls: T) -> Option<Helper>
where
    T: MakeTlsConnect<Socket> + Send + 'static,
    T::Stream: Send + 'static,
    T::TlsConnect: Send,
    <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
{
    // named apart from the listening connection in pg_stat_activity
    let mut config = config.clone();
    if let Some(name) = config.get_application_name().map(str::to_owned) {
        config.application_name(format!("{name} (catalog half)"));
    }
    match config.connect(tls).await {
        Ok((client, connection)) => {
            let driver = tokio::spawn(async move {
                if let Err(e) = connection.await {
                    debug!(error = %e, "schema cache helper connection closed");
                }
            });
            Some(Helper {
                client,
                statement: None,
                _guard: Box::new(AbortOnDrop(driver)),
            })
        }
        Err(e) => {
            warn!(error = %e, "schema cache: no second connection; loading on one");
            None
        }
    }
}

fn closed(e: Option<tokio_postgres::Error>) -> Result<(), CatalogError> {
    match e {
        Some(e) => Err(CatalogError::Listen(e)),
        None => Ok(()),
    }
}

/// Reloads; a load error on a live connection (bad catalog state, a bug) is logged
/// and the old model kept; a dead connection is an error (reconnect).
async fn reload_logged(
    handle: &CatalogHandle,
    client: &Client,
    loader: &mut Loader,
    schemas: &[String],
) -> Result<(), CatalogError> {
    match handle.reload_with(client, loader, schemas).await {
        Ok(_) => Ok(()),
        Err(e) if client.is_closed() => Err(e),
        Err(e) => {
            error!(error = %e, "schema cache reload failed; keeping the previous schema cache");
            Ok(())
        }
    }
}
