//! Wiring for a running server: the pool, the schema cache with its reload listener, and the
//! router, shared by `pgbase dev` and `pgbase serve`.

use std::sync::Arc;
use std::time::Duration;

use pgbase_catalog::{CatalogHandle, ListenOptions, SchemaCache};

use crate::config::Config;
use crate::db;
use crate::metrics::Metrics;
use crate::server::AppState;

/// Builds the state and starts the schema-cache listener (which loads the cache first and
/// keeps retrying with backoff while the database is unreachable).
pub async fn start(config: Config) -> Result<AppState, db::DbError> {
    let pg_config = db::parse_url(&config.db_url)?;
    let pool = db::pool(pg_config.clone(), config.db_pool)?;
    let catalog = Arc::new(CatalogHandle::new(SchemaCache::empty(&config.db_schemas)));
    tokio::spawn(pgbase_catalog::listen_for_reloads(
        pg_config,
        catalog.clone(),
        config.db_schemas.clone(),
        ListenOptions::default(),
    ));
    let rest = Arc::new(pgbase_rest::handler::RestState {
        pool: pool.clone(),
        catalog: catalog.clone(),
        config: pgbase_rest::request::RequestConfig {
            schemas: config.db_schemas.clone(),
            allow_tx_override: true,
            ..pgbase_rest::request::RequestConfig::default()
        },
        max_rows: config.db_max_rows.and_then(|n| u64::try_from(n).ok()),
    });
    Ok(AppState {
        config: Arc::new(config),
        pool,
        catalog,
        metrics: Arc::new(Metrics::default()),
        rest,
    })
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

/// Resolves on Ctrl-C or SIGTERM.
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
    tracing::info!("shutting down");
}
