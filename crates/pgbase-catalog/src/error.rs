//! The crate's error type.

/// Errors of loading the schema cache or listening for reloads.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The catalog query (or its transaction) failed.
    #[error("schema cache query failed: {0}")]
    Query(#[source] tokio_postgres::Error),
    /// The catalog document did not match the model (a bug: `catalog.sql` and the
    /// model are out of sync).
    #[error("could not decode the schema cache document: {0}")]
    Decode(#[from] serde_json::Error),
    /// The reload listener could not connect or `LISTEN`.
    #[error("schema reload listener: {0}")]
    Listen(#[source] tokio_postgres::Error),
    /// The catalog transaction did not export a snapshot its second connection could
    /// import (the listener then loads on one connection).
    #[error("schema cache query: the server exported no usable snapshot")]
    Snapshot,
    /// The reload listener's connection closed.
    #[error("schema reload listener connection closed")]
    ConnectionClosed,
}
