//! The pgbase server as a library: configuration, the CLI commands, and `server::app`, the
//! axum router every surface hangs off (integration tests drive it in-process).

pub mod agent;
pub mod cli;
pub mod commands;
pub mod config;
pub mod db;
pub mod dev;
pub mod doctor;
pub mod keys;
pub mod mail_sink;
pub mod metrics;
pub mod runtime;
pub mod server;
