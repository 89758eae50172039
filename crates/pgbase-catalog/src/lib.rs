//! pgbase schema cache.
//!
//! One catalog query (`catalog.sql`, parameterised by the exposed schemas) returns
//! one json document describing relations, columns, keys, foreign keys, view key
//! dependencies, functions, types, roles and ACLs. It deserialises into
//! [`CatalogData`] and is turned into a [`SchemaCache`]: indexed lookups, view
//! primary keys and column origins, relationships derived as PostgREST 12 does
//! ([`relationships`]), and role inheritance for privilege checks ([`Object`],
//! [`SchemaCache::can`]).
//!
//! [`CatalogHandle`] keeps the current cache behind an `ArcSwap`;
//! [`listen_for_reloads`] swaps in a new one after `NOTIFY pgrst, 'reload schema'`.
//!
//! ```no_run
//! # async fn demo(client: tokio_postgres::Client, config: tokio_postgres::Config) -> Result<(), pgbase_catalog::CatalogError> {
//! use std::sync::Arc;
//! use pgbase_catalog::{load, listen_for_reloads, CatalogHandle, ListenOptions};
//! let schemas = vec!["public".to_string()];
//! let handle = Arc::new(CatalogHandle::new(load(&client, &schemas).await?));
//! tokio::spawn(listen_for_reloads(config, handle.clone(), schemas, ListenOptions::default()));
//! let cache = handle.current(); // keep for the whole request
//! let _users = cache.table("public", "users");
//! # Ok(()) }
//! ```

mod cache;
mod error;
mod handle;
mod load;
mod model;
mod privileges;
pub mod relationships;
pub mod suggest;

pub use cache::{CatalogData, SchemaCache};
pub use error::CatalogError;
pub use handle::{
    CatalogHandle, ListenOptions, is_schema_reload, listen_for_reloads, listen_for_reloads_with_tls,
};
pub use load::{CATALOG_SQL, load, load_data};
pub use model::*;
pub use privileges::Object;
pub use relationships::{Cardinality, Junction, Link, Relationship};

#[cfg(test)]
mod tests;
