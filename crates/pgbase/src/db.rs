//! Database connections: the request pool (`pgbase_db`, every checkout guarded) and one-off clients
//! for migrations and `pgbase sql`.

use tokio_postgres::NoTls;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("invalid database URL: {0}\nhint: postgres://USER:PASSWORD@HOST:PORT/DATABASE")]
    Url(tokio_postgres::Error),
    #[error("cannot build the connection pool: {0}")]
    Pool(String),
    #[error("cannot connect to the database: {0}")]
    Connect(tokio_postgres::Error),
}

pub fn parse_url(url: &str) -> Result<tokio_postgres::Config, DbError> {
    url.parse().map_err(DbError::Url)
}

/// The request pool (see `pgbase_db`): lazily connecting, so the server comes up (and
/// `/health` says 503) while the database is unreachable.
pub fn pool(config: tokio_postgres::Config, size: usize) -> Result<pgbase_db::Pool, DbError> {
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
pub async fn connect(config: &tokio_postgres::Config) -> Result<tokio_postgres::Client, DbError> {
    let (client, connection) = config.connect(NoTls).await.map_err(DbError::Connect)?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "database connection closed");
        }
    });
    Ok(client)
}
