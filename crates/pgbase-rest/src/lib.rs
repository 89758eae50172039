//! PostgREST-compatible REST front end for pgbase.
//!
//! This crate turns the parts of an HTTP request addressed to `/rest/v1` (method, path, query
//! string, headers and body) into a typed [`request::ApiRequest`] — or a PostgREST-compatible
//! [`error::ApiError`] — without any I/O (modules `ast`, `query`, `preferences`, `range`, `media`,
//! `payload`, `request`). [`handler`] runs the later stages on it as one pipeline: plan
//! (`prepare` over the planner in [`plan`]), statement (`statement`), [`execute`] and respond
//! (`respond`), with [`pg_error`] mapping database errors.
//!
//! Entry points: [`request::parse_request`] for the request line and headers,
//! [`payload::parse_payload`] for the body, [`query::parse_query`] for a bare query string.

pub mod ast;
pub mod error;
pub mod execute;
pub mod handler;
pub mod media;
pub mod openapi;
pub mod payload;
pub mod pg_error;
pub mod plan;
pub mod preferences;
mod prepare;
pub mod query;
pub mod range;
pub mod request;
mod respond;
mod statement;

mod cursor;
#[cfg(test)]
mod proptests;
