//! Running the catalog query (`catalog.sql`) and turning its json into a
//! [`SchemaCache`].

use crate::cache::{CatalogData, SchemaCache};
use crate::error::CatalogError;
use std::time::Instant;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Statement};

/// The catalog introspection query: `$1::text[]` = exposed schemas; one row, one
/// text column holding the json document.
pub const CATALOG_SQL: &str = include_str!("catalog.sql");

/// Opens the catalog transaction: read only, empty `search_path` (so type names and
/// expressions come out schema-qualified), no JIT (the catalog row estimates are far
/// too high: JIT compilation would cost ~0.5 s), and a generic plan, so that the
/// statement the reload listener keeps per connection is planned once (planning is
/// about as expensive as executing).
const BEGIN: &str = "BEGIN READ ONLY; SET LOCAL search_path TO ''; SET LOCAL jit TO off; SET LOCAL plan_cache_mode TO force_generic_plan";

/// Loads the schema cache for `schemas` (the first one is the default schema).
///
/// Two round trips (prepare, then query + commit, pipelined), in a read-only
/// transaction; safe on a pooled connection: no session state changes except a
/// prepared statement that is closed again.
pub async fn load(client: &Client, schemas: &[String]) -> Result<SchemaCache, CatalogError> {
    load_cached(client, &mut None, schemas).await
}

/// The catalog document itself, before derivation: what golden tests check in and tools
/// inspect. Runs in the same read-only transaction as [`load`].
pub async fn load_data(client: &Client, schemas: &[String]) -> Result<CatalogData, CatalogError> {
    client
        .batch_execute(BEGIN)
        .await
        .map_err(CatalogError::Query)?;
    let row = client.query_one(CATALOG_SQL, &[&schemas]).await;
    let committed = client.batch_execute("COMMIT").await;
    let row = row.map_err(CatalogError::Query)?;
    committed.map_err(CatalogError::Query)?;
    let text: &str = row.try_get(0).map_err(CatalogError::Query)?;
    Ok(serde_json::from_str(text)?)
}

/// [`load`], reusing (or filling) a statement prepared on this client by an earlier
/// call; the reload listener keeps one per connection.
pub(crate) async fn load_cached(
    client: &Client,
    statement: &mut Option<Statement>,
    schemas: &[String],
) -> Result<SchemaCache, CatalogError> {
    let started = Instant::now();
    let begin = client.batch_execute(BEGIN);
    let stmt = match statement.clone() {
        Some(s) => {
            begin.await.map_err(CatalogError::Query)?;
            s
        }
        None => {
            // prepared inside the transaction, under the empty search_path it runs with
            let (begun, prepared) = futures_util::join!(begin, client.prepare(CATALOG_SQL));
            begun.map_err(CatalogError::Query)?;
            match prepared {
                Ok(s) => s,
                Err(e) => {
                    let _ = client.batch_execute("ROLLBACK").await;
                    return Err(CatalogError::Query(e));
                }
            }
        }
    };
    let params: [&(dyn ToSql + Sync); 1] = [&schemas];
    let (row, committed) = futures_util::join!(
        client.query_one(&stmt, &params),
        client.batch_execute("COMMIT")
    );
    let row = row.map_err(CatalogError::Query)?;
    committed.map_err(CatalogError::Query)?;
    *statement = Some(stmt);
    let queried = started.elapsed();
    let text: &str = row.try_get(0).map_err(CatalogError::Query)?;
    let data: CatalogData = serde_json::from_str(text)?;
    let parsed = started.elapsed();
    let mut cache = SchemaCache::from_data(schemas, data);
    cache.load_duration = started.elapsed();
    tracing::debug!(
        query_ms = queried.as_secs_f64() * 1000.0,
        parse_ms = (parsed - queried).as_secs_f64() * 1000.0,
        derive_ms = (cache.load_duration - parsed).as_secs_f64() * 1000.0,
        bytes = text.len(),
        "schema cache load phases"
    );
    Ok(cache)
}
