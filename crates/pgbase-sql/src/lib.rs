//! SQL building blocks shared by every API front end: [`Snippet`] (SQL text and its bind
//! parameters kept together), the one identifier-quoting function, and [`TextParam`], the
//! parameter type that lets Postgres infer each value's type from context, the way PostgREST
//! sends untyped (`unknown`) text parameters. Above them: the plan tree ([`plan`]), the
//! emitters both front ends share (conditions and sources in [`emit`], joins, writes in
//! [`emit_write`]) and the two output shapers (REST's result columns in [`emit::statement`],
//! GraphQL's objects and connections in [`emit_graph`]); `docs/architecture.md` says why
//! those are two.
//!
//! The rule this crate enforces: client values only ever become bind parameters, and names only
//! ever pass through [`quote_ident`]. Fixed SQL enters as `&'static str`.

pub mod emit;
pub mod emit_graph;
mod emit_join;
pub mod emit_write;
mod param;
pub mod plan;
mod snippet;

pub use param::TextParam;
pub use snippet::{Snippet, quote_ident};
