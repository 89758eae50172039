//! A private PostgreSQL cluster built from the machine's own server binaries, for `pgbase dev`
//! and the test harness. Synchronous (std::process only): [`find_binaries`] locates `initdb` and
//! `postgres`, [`Cluster::start`] creates or reuses a cluster directory and runs the server until
//! [`Cluster::stop`] or drop. The server never outlives the process that started it, and when
//! that process is root the server runs as the `postgres` (or `nobody`) user.

mod binaries;
mod cluster;
mod error;
mod privilege;
mod process;

pub use binaries::{PgBinaries, SearchPaths, find_binaries, find_binaries_in};
pub use cluster::{Cluster, ClusterOptions, SUPERUSER};
pub use error::DevDbError;
pub use process::process_alive;
