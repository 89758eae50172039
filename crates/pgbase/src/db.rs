//! Database connections: the request pool (`pgbase_db`, every checkout guarded) and one-off clients
//! for migrations and `pgbase sql`, all with the database URL's TLS settings
//! (`pgbase_db::tls`: `sslmode`, `sslrootcert`, `sslcert`, `sslkey`, and the `PGSSL*` variables).

pub use pgbase_db::ConnectConfig;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(transparent)]
    Url(#[from] pgbase_db::TlsConfigError),
    #[error("cannot build the connection pool: {0}")]
    Pool(String),
    /// The server's message or the network/TLS cause, and the fix (`pgbase_db::explain`).
    #[error("cannot connect to the database: {0}")]
    Connect(pgbase_db::ConnectFailure),
}

/// Parses the database URL with its TLS settings (the URL wins over `PGSSLMODE`,
/// `PGSSLROOTCERT`, `PGSSLCERT`, `PGSSLKEY`).
pub fn parse_url(url: &str) -> Result<ConnectConfig, DbError> {
    Ok(ConnectConfig::from_url(url)?)
}

/// The request pool (see `pgbase_db`): lazily connecting, so the server comes up (and
/// `/health` says 503) while the database is unreachable.
pub fn pool(config: ConnectConfig, size: usize) -> Result<pgbase_db::Pool, DbError> {
    pgbase_db::Pool::new(
        config,
        pgbase_db::PoolOptions {
            size,
            ..Default::default()
        },
    )
    .map_err(|e| DbError::Pool(e.to_string()))
}

/// One connection whose driver task runs on the current runtime.
pub async fn connect(config: &ConnectConfig) -> Result<tokio_postgres::Client, DbError> {
    let (client, connection) = config
        .connect()
        .await
        .map_err(|e| DbError::Connect(pgbase_db::explain(&e, &config.pg)))?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "database connection closed");
        }
    });
    Ok(client)
}
