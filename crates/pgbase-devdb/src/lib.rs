//! A private PostgreSQL cluster built from the machine's own server binaries, for `pgbase dev`
//! and the test harness. Synchronous (std::process only): [`find_binaries`] locates `initdb` and
//! `postgres`, [`Cluster::start`] creates or reuses a cluster directory and runs the server until
//! [`Cluster::stop`] or drop. The server never outlives the process that started it (one that a
//! `pg_ctl restart` put in its place is stopped through the data directory's `postmaster.pid`),
//! and when that process is root the server runs as the `postgres` (or `nobody`) user. With
//! [`ClusterOptions::tcp_password`] TCP connections need a password while the unix socket keeps
//! `trust`.

mod binaries;
mod cluster;
mod error;
mod privilege;
mod process;

pub use binaries::{PgBinaries, SearchPaths, find_binaries, find_binaries_in};
pub use cluster::{Cluster, ClusterOptions, SUPERUSER};
pub use error::DevDbError;
pub use process::process_alive;
