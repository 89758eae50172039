//! Running the catalog query (`catalog.sql`) and turning its json into a
//! [`SchemaCache`].

use crate::cache::{CatalogData, SchemaCache};
use crate::error::CatalogError;
use std::time::Instant;
use tokio_postgres::Client;

/// The catalog introspection query: `$1::text[]` = exposed schemas; one row, one
/// text column holding the json document.
pub const CATALOG_SQL: &str = include_str!("catalog.sql");

/// Loads the schema cache for `schemas` (the first one is the default schema).
///
/// Runs the catalog query in a read-only transaction with an empty `search_path`
/// (so type names and expressions come out schema-qualified), pipelined:
/// one round trip to prepare, one for `BEGIN` + query + `COMMIT`. Safe on a pooled
/// connection: nothing outlives the transaction.
pub async fn load(client: &Client, schemas: &[String]) -> Result<SchemaCache, CatalogError> {
    let started = Instant::now();
    let statement = client
        .prepare(CATALOG_SQL)
        .await
        .map_err(CatalogError::Query)?;
    let begin = client.batch_execute("BEGIN READ ONLY; SET LOCAL search_path TO ''");
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&schemas];
    let query = client.query_one(&statement, &params);
    let commit = client.batch_execute("COMMIT");
    let (begun, row, committed) = futures_util::join!(begin, query, commit);
    begun.map_err(CatalogError::Query)?;
    let row = row.map_err(CatalogError::Query)?;
    committed.map_err(CatalogError::Query)?;
    let text: &str = row.try_get(0).map_err(CatalogError::Query)?;
    let data: CatalogData = serde_json::from_str(text)?;
    let mut cache = SchemaCache::from_data(schemas, data);
    cache.load_duration = started.elapsed();
    Ok(cache)
}
