//! Wiring for a running server: the pool, the schema cache with its reload listener, and the
//! router, shared by `pgbase dev` and `pgbase serve`.

use std::sync::Arc;
use std::time::Duration;

use pgbase_catalog::{CatalogHandle, ListenOptions, SchemaCache};

use crate::config::Config;
use crate::db;
use crate::metrics::Metrics;
use crate::server::{self, AppState, ServeError};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Db(#[from] db::DbError),
    #[error("invalid JWT configuration: {0}")]
    Jwt(#[from] pgbase_auth::JwtConfigError),
}

/// The login requests switch roles from. Tokens may only name roles granted to it; when the
/// server connects as a superuser (as `pgbase dev` does) the conventional `authenticator`
/// stands in, so a token can never become the superuser.
fn assumable_roles(
    catalog: Arc<CatalogHandle>,
    login: Option<String>,
    anon_role: String,
) -> pgbase_auth::RoleFilter {
    pgbase_auth::RoleFilter::Callback(Arc::new(move |role: &str| {
        if role == anon_role {
            return true;
        }
        let cache = catalog.current();
        let login = login
            .as_deref()
            .filter(|l| cache.role(l).is_some_and(|r| !r.superuser))
            .unwrap_or("authenticator");
        cache
            .role(login)
            .is_some_and(|r| r.member_of.iter().any(|m| m.role == role))
    }))
}

fn jwt_config(
    config: &Config,
    catalog: Arc<CatalogHandle>,
    login: Option<String>,
) -> pgbase_auth::JwtConfig {
    let jwks = config.jwt_jwks.as_ref().map(|source| {
        if let Some(path) = source.strip_prefix('@') {
            pgbase_auth::JwksSource::File(path.into())
        } else if source.starts_with("http://") || source.starts_with("https://") {
            pgbase_auth::JwksSource::Url(source.clone())
        } else {
            pgbase_auth::JwksSource::Inline(source.clone())
        }
    });
    pgbase_auth::JwtConfig {
        secret: Some(config.jwt_secret.clone()),
        jwks,
        audience: config.jwt_aud.clone(),
        role_claim_key: config.jwt_role_claim_key.clone(),
        anon_role: Some(config.db_anon_role.clone()),
        assumable_roles: assumable_roles(catalog, login, config.db_anon_role.clone()),
        ..pgbase_auth::JwtConfig::default()
    }
}

/// Builds the state and starts the schema-cache listener (which loads the cache first and
/// keeps retrying with backoff while the database is unreachable).
pub async fn start(config: Config) -> Result<AppState, StartError> {
    let pg_config = db::parse_url(&config.db_url)?;
    let login = pg_config.pg.get_user().map(str::to_string);
    let pool = db::pool(pg_config.clone(), config.db_pool)?;
    let pool = with_replicas(pool, &config)?;
    let catalog = Arc::new(CatalogHandle::new(SchemaCache::empty(&config.db_schemas)));
    tokio::spawn(pgbase_catalog::listen_for_reloads(
        pg_config,
        catalog.clone(),
        config.db_schemas.clone(),
        ListenOptions::default(),
    ));
    tokio::spawn(retire_connections_on_reload(catalog.clone(), pool.clone()));
    let rest = Arc::new(pgbase_rest::handler::RestState {
        pool: pool.clone(),
        catalog: catalog.clone(),
        config: pgbase_rest::request::RequestConfig {
            schemas: config.db_schemas.clone(),
            allow_tx_override: config.db_tx_end.allow_override,
            tx_end: config.db_tx_end.end,
            pre_request: config.db_pre_request.clone(),
            plan_enabled: config.db_plan_enabled,
            safe_update: config.db_safe_update,
            extra_search_path: config.db_extra_search_path.clone(),
            aggregates_enabled: config.db_aggregates_enabled,
            ..pgbase_rest::request::RequestConfig::default()
        },
        max_rows: config.db_max_rows.and_then(|n| u64::try_from(n).ok()),
        session_defaults: session_defaults(&config),
    });
    let authenticator = Arc::new(pgbase_auth::Authenticator::new(jwt_config(
        &config,
        catalog.clone(),
        login,
    ))?);
    let auth_config = pgbase_auth::AuthConfig {
        rate_limit_sign_in_sign_up: config.auth_rate_limit_sign_in_sign_up,
        rate_limit_token_refresh: config.auth_rate_limit_token_refresh,
        rate_limit_window: Duration::from_secs(config.auth_rate_limit_window_secs),
        trusted_proxies: config.trusted_proxies.clone(),
        client_ip_header: config.client_ip_header.clone(),
        jwt_issuer: format!("{}/auth/v1", config.api_external_url),
        ..pgbase_auth::AuthConfig::new(config.jwt_secret.clone())
    };
    let auth = pgbase_auth::AuthState::new(pool.clone(), auth_config, authenticator.clone());
    let mut graphql = pgbase_graphql::GraphqlState::new(
        pool.clone(),
        catalog.clone(),
        config.db_schemas.clone(),
        config.graphql_introspection,
    );
    graphql.session_defaults = session_defaults(&config);
    graphql.safe_update = config.db_safe_update;
    graphql.upsert = config.graphql_upsert;
    graphql.pre_request = config.db_pre_request.clone();
    let graphql = Arc::new(graphql);
    Ok(AppState {
        graphql,
        config: Arc::new(config),
        pool,
        catalog,
        metrics: Arc::new(Metrics::default()),
        rest,
        authenticator,
        auth,
    })
}

/// Adds the configured read replicas to the primary pool and starts their monitor.
fn with_replicas(pool: pgbase_db::Pool, config: &Config) -> Result<pgbase_db::Pool, db::DbError> {
    if config.db_replica_urls.is_empty() {
        return Ok(pool);
    }
    let replicas = config
        .db_replica_urls
        .iter()
        .map(|url| db::pool(db::parse_url(url)?, config.db_pool))
        .collect::<Result<Vec<_>, _>>()?;
    let pool = pool.with_replicas(replicas, config.db_replica_max_lag);
    pool.spawn_replica_monitor();
    Ok(pool)
}

/// The session settings every API request starts with, before its role's own.
fn session_defaults(config: &Config) -> Vec<(String, String)> {
    let mut settings = vec![(
        "statement_timeout".to_string(),
        config.db_statement_timeout.clone(),
    )];
    // PostgREST's `app.settings.*`, readable with `current_setting('app.settings.name')`.
    settings.extend(
        config
            .app_settings
            .iter()
            .map(|(name, value)| (format!("app.settings.{name}"), value.clone())),
    );
    settings
}

/// When a schema reload starts, connections opened before it are closed instead of reused: their
/// prepared statements and type caches may name types that were dropped and re-created
/// (`cache lookup failed for type N`). A reload starts after the DDL that caused it committed,
/// so connections opened from then on are safe, and one is opened at once: the first request
/// after the reload finds it ready instead of waiting for a connection (retiring when the
/// reload ends, as before, put a connection set-up in front of that request).
async fn retire_connections_on_reload(catalog: Arc<CatalogHandle>, pool: pgbase_db::Pool) {
    let mut loads = catalog.subscribe_loads();
    while loads.changed().await.is_ok() {
        pool.retire_connections();
        let pool = pool.clone();
        tokio::spawn(async move {
            if let Ok(checkout) = pool.get().await {
                checkout.mark_idle();
            }
        });
    }
}

/// Starts the cron scheduler and the net worker (unless `jobs = false`).
pub fn spawn_jobs(
    config: &Config,
    pool: pgbase_db::Pool,
) -> Result<pgbase_jobs::JobsHandle, db::DbError> {
    let mut jobs = pgbase_jobs::JobsConfig::default();
    jobs.cron.enabled = config.jobs;
    jobs.cron.timezone = config.cron_timezone.clone();
    jobs.cron.run_retention = (config.cron_retention_days > 0)
        .then(|| Duration::from_secs(u64::from(config.cron_retention_days) * 24 * 3600));
    jobs.net.enabled = config.jobs;
    jobs.net.concurrency = config.net_concurrency;
    jobs.net.max_response_bytes = config.net_max_response_bytes;
    jobs.net.deny_private_networks = config.net_deny_private;
    Ok(pgbase_jobs::spawn(
        jobs,
        db::parse_url(&config.db_url)?,
        pool,
    ))
}

/// Waits (up to `limit`) for the first schema-cache load, so `dev` prints its banner when the
/// API is ready.
pub async fn wait_for_schema_cache(state: &AppState, limit: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if state.catalog.version() > 1 {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// Serves `router` on `listener` until `signal` resolves (in the binary: [`shutdown_signal`]),
/// then shuts down within `timeout`: the listener closes at once (new connections are
/// refused), idle keep-alive connections close, in-flight requests run to their end, and the
/// workers stop beside them (the cron leader unlocks so another process leads from the next
/// tick; the net worker hands back what it has not sent). All finished in time: `Ok`. Anything
/// still running when `timeout` passes is abandoned and the result is
/// [`ServeError::ShutdownTimeout`], which the binary turns into exit status 1.
pub async fn serve_until_signal(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    jobs: pgbase_jobs::JobsHandle,
    timeout: Duration,
    signal: impl std::future::Future<Output = ()>,
) -> Result<(), ServeError> {
    let (drain, drain_now) = tokio::sync::oneshot::channel::<()>();
    let server = server::serve(listener, router, async move {
        let _ = drain_now.await;
    });
    tokio::pin!(server);
    tokio::select! {
        served = server.as_mut() => {
            jobs.shutdown_within(timeout).await;
            return served;
        }
        () = signal => {}
    }
    let started = tokio::time::Instant::now();
    tracing::info!(
        ?timeout,
        "shutting down: no new connections; draining in-flight requests and stopping the workers"
    );
    let _ = drain.send(());
    let (served, jobs_stopped) = tokio::join!(
        tokio::time::timeout(timeout, server.as_mut()),
        jobs.shutdown_within(timeout)
    );
    match served {
        Ok(result) => result?,
        Err(_) => {
            tracing::warn!(
                ?timeout,
                "shutdown_timeout elapsed with requests still in flight"
            );
            return Err(ServeError::ShutdownTimeout(timeout));
        }
    }
    if !jobs_stopped {
        tracing::warn!(
            ?timeout,
            "shutdown_timeout elapsed with background work still running"
        );
        return Err(ServeError::ShutdownTimeout(timeout));
    }
    tracing::info!(elapsed = ?started.elapsed(), "shut down cleanly");
    Ok(())
}
