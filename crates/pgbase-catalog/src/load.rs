//! Running the catalog query (`catalog.sql`) and turning its json into a
//! [`SchemaCache`]: in one statement on one connection ([`load`]), or, for the reload
//! listener, in two halves at once on two connections that share one snapshot
//! ([`Loader`]), which on a two-core database server takes about half the time.

use crate::cache::{CatalogData, SchemaCache};
use crate::error::CatalogError;
use std::time::{Duration, Instant};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, SimpleQueryMessage, Statement};
use tracing::{debug, warn};

/// The catalog introspection query: `$1::text[]` = exposed schemas, `$2::int` = the part
/// of the document to fill (0 = all; 1 and 2 = the two halves, see the query's header);
/// one row, one text column holding the json document.
pub const CATALOG_SQL: &str = include_str!("catalog.sql");

/// The text of [`SETTINGS`], a literal so that [`BEGIN`] is built from it at compile time.
macro_rules! settings {
    () => {
        "SET LOCAL search_path TO ''; SET LOCAL jit TO off; SET LOCAL plan_cache_mode TO force_generic_plan"
    };
}

/// The catalog query's settings, after a `BEGIN`: empty `search_path` (so type names and
/// expressions come out schema-qualified), no JIT (the catalog row estimates are far
/// too high: JIT compilation would cost ~0.5 s), and a generic plan, so that the
/// statement the reload listener keeps per connection is planned once (planning is
/// about as expensive as executing).
const SETTINGS: &str = settings!();

/// Opens the one-statement catalog transaction: read only, then [`SETTINGS`].
const BEGIN: &str = concat!("BEGIN READ ONLY; ", settings!());

/// The whole document in one statement.
const ALL: i32 = 0;
/// The half run on the listening connection (the schemas and most relations).
const FIRST_HALF: i32 = 1;
/// The half run on the helper connection (the other relations and everything else).
const SECOND_HALF: i32 = 2;

/// Loads the schema cache for `schemas` (the first one is the default schema).
///
/// Two round trips (prepare, then query + commit, pipelined), in a read-only
/// transaction; safe on a pooled connection: no session state changes except a
/// prepared statement that is closed again.
pub async fn load(client: &Client, schemas: &[String]) -> Result<SchemaCache, CatalogError> {
    let started = Instant::now();
    let data = query_part(client, &mut None, schemas, ALL).await?;
    Ok(build(schemas, data, started, started.elapsed()))
}

/// The catalog document itself, before derivation: what golden tests check in and tools
/// inspect. Runs in the same read-only transaction as [`load`].
pub async fn load_data(client: &Client, schemas: &[String]) -> Result<CatalogData, CatalogError> {
    client
        .batch_execute(BEGIN)
        .await
        .map_err(CatalogError::Query)?;
    let row = client.query_one(CATALOG_SQL, &[&schemas, &ALL]).await;
    let committed = client.batch_execute("COMMIT").await;
    let row = row.map_err(CatalogError::Query)?;
    committed.map_err(CatalogError::Query)?;
    let text: &str = row.try_get(0).map_err(CatalogError::Query)?;
    Ok(serde_json::from_str(text)?)
}

/// The reload listener's loader: the catalog statement it keeps prepared on its own
/// connection and, when it has one, a second connection (with its own prepared statement)
/// that runs the other half of the document at the same time.
#[derive(Default)]
pub(crate) struct Loader {
    statement: Option<Statement>,
    helper: Option<Helper>,
}

/// The second connection of a [`Loader`]; `_guard` is dropped with it (the listener passes
/// the task driving the connection, so dropping the helper closes it).
pub(crate) struct Helper {
    pub client: Client,
    pub statement: Option<Statement>,
    pub _guard: Box<dyn Send + Sync>,
}

impl Loader {
    /// A loader that runs the document in two halves, the second one on `helper`.
    pub(crate) fn with_helper(helper: Option<Helper>) -> Loader {
        Loader {
            statement: None,
            helper,
        }
    }

    /// Loads the cache over `client` (and the helper connection, when there is one). When
    /// the two-connection load fails while `client` is fine (the helper connection broke,
    /// the server cannot share snapshots), the helper is dropped and this and every later
    /// load run as one statement on `client`.
    pub(crate) async fn load(
        &mut self,
        client: &Client,
        schemas: &[String],
    ) -> Result<SchemaCache, CatalogError> {
        let started = Instant::now();
        if let Some(helper) = self.helper.as_mut() {
            match load_halves(client, &mut self.statement, helper, schemas).await {
                Ok(data) => return Ok(build(schemas, data, started, started.elapsed())),
                Err(e) if client.is_closed() => return Err(e),
                Err(e) => {
                    warn!(error = %e, "schema cache: loading on two connections failed; loading on one from now on");
                    self.helper = None;
                    // ends the transaction the failed attempt may have left open
                    let _ = client.batch_execute("ROLLBACK").await;
                }
            }
        }
        let data = query_part(client, &mut self.statement, schemas, ALL).await?;
        Ok(build(schemas, data, started, started.elapsed()))
    }
}

/// Derives the cache from the document; logs how long each phase took.
fn build(
    schemas: &[String],
    data: CatalogData,
    started: Instant,
    queried: Duration,
) -> SchemaCache {
    let mut cache = SchemaCache::from_data(schemas, data);
    cache.load_duration = started.elapsed();
    debug!(
        query_and_parse_ms = queried.as_secs_f64() * 1000.0,
        derive_ms = cache.load_duration.saturating_sub(queried).as_secs_f64() * 1000.0,
        "schema cache load phases"
    );
    cache
}

/// Prepares the catalog statement on `client` unless `statement` already holds it; runs
/// after `begin` (pipelined with it), inside the transaction, under the empty search_path
/// the statement runs with.
async fn begin_and_prepare(
    client: &Client,
    statement: &mut Option<Statement>,
    begin: impl std::future::Future<Output = Result<(), CatalogError>>,
) -> Result<Statement, CatalogError> {
    if let Some(s) = statement.clone() {
        begin.await?;
        return Ok(s);
    }
    let (begun, prepared) = futures_util::join!(begin, client.prepare(CATALOG_SQL));
    begun?;
    match prepared {
        Ok(s) => {
            *statement = Some(s.clone());
            Ok(s)
        }
        Err(e) => {
            let _ = client.batch_execute("ROLLBACK").await;
            Err(CatalogError::Query(e))
        }
    }
}

/// Runs `part` of the document with `stmt` and commits (pipelined), then parses it.
async fn run_part(
    client: &Client,
    stmt: &Statement,
    schemas: &[String],
    part: i32,
) -> Result<CatalogData, CatalogError> {
    let params: [&(dyn ToSql + Sync); 2] = [&schemas, &part];
    let (row, committed) = futures_util::join!(
        client.query_one(stmt, &params),
        client.batch_execute("COMMIT")
    );
    let row = row.map_err(CatalogError::Query)?;
    committed.map_err(CatalogError::Query)?;
    let text: &str = row.try_get(0).map_err(CatalogError::Query)?;
    Ok(serde_json::from_str(text)?)
}

/// `part` of the document in its own read-only transaction on `client`, reusing (or
/// filling) the statement prepared there.
async fn query_part(
    client: &Client,
    statement: &mut Option<Statement>,
    schemas: &[String],
    part: i32,
) -> Result<CatalogData, CatalogError> {
    let begin = async {
        client
            .batch_execute(BEGIN)
            .await
            .map_err(CatalogError::Query)
    };
    let stmt = begin_and_prepare(client, statement, begin).await?;
    run_part(client, &stmt, schemas, part).await
}

/// The document in two halves at once: `client` opens a repeatable-read transaction and
/// exports its snapshot, the helper's transaction imports it (so both halves see the same
/// catalog), then each runs its half and commits; the halves are concatenated.
async fn load_halves(
    client: &Client,
    statement: &mut Option<Statement>,
    helper: &mut Helper,
    schemas: &[String],
) -> Result<CatalogData, CatalogError> {
    let mut snapshot = None;
    let begin = async {
        let messages = client
            .simple_query(&format!(
                "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; {SETTINGS}; SELECT pg_export_snapshot()"
            ))
            .await
            .map_err(CatalogError::Query)?;
        snapshot = messages.iter().find_map(|m| match m {
            SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
            _ => None,
        });
        Ok(())
    };
    let first = begin_and_prepare(client, statement, begin).await?;
    // a snapshot id is hex digits and dashes (`00000003-0000001B-1`); checked, as it is
    // written into the statement (SET TRANSACTION SNAPSHOT takes no parameter)
    let snapshot = snapshot
        .filter(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_hexdigit() || c == '-'))
        .ok_or(CatalogError::Snapshot)?;
    let import = format!(
        "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET TRANSACTION SNAPSHOT '{snapshot}'; {SETTINGS}"
    );
    let helper_client = &helper.client;
    let imported = async {
        helper_client
            .batch_execute(&import)
            .await
            .map_err(CatalogError::Query)
    };
    let second = match begin_and_prepare(helper_client, &mut helper.statement, imported).await {
        Ok(s) => s,
        Err(e) => {
            let _ = client.batch_execute("ROLLBACK").await;
            return Err(e);
        }
    };
    let (a, b) = futures_util::join!(
        run_part(client, &first, schemas, FIRST_HALF),
        run_part(helper_client, &second, schemas, SECOND_HALF)
    );
    let mut data = a?;
    data.extend(b?);
    Ok(data)
}
