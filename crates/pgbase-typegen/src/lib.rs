//! TypeScript types for supabase-js, generated from the live schema in the shape
//! `supabase gen types typescript` emits (`Database[schema]['Tables'|'Views'|'Functions'|'Enums'|
//! 'CompositeTypes']`), so `createClient<Database>()` type-checks an application.
//!
//! This module owns the entry point: it loads pgbase's schema cache for the schemas (tables,
//! views, columns, functions, relationships derived as PostgREST derives them) plus the types
//! (`introspect`), and hands both to the renderer (`emit`).

mod emit;
mod introspect;

pub use introspect::IntrospectError;

#[derive(Debug, thiserror::Error)]
pub enum TypegenError {
    #[error("reading the schema failed: {0}")]
    Query(#[from] tokio_postgres::Error),
    #[error("loading the schema cache failed: {0}")]
    Catalog(#[from] pgbase_catalog::CatalogError),
    #[error(transparent)]
    Introspect(#[from] IntrospectError),
}

/// The TypeScript module (one exported `Database` type plus the helper types) for `schemas`.
pub async fn typescript(
    client: &tokio_postgres::Client,
    schemas: &[String],
) -> Result<String, TypegenError> {
    let cache = pgbase_catalog::load(client, schemas).await?;
    let types = introspect::types(client, schemas).await?;
    let composites = introspect::composites(client, schemas).await?;
    let mut rendered: Vec<String> = cache.schemas().iter().map(|s| s.name.clone()).collect();
    rendered.sort();
    rendered.dedup();
    Ok(emit::render(&emit::Input {
        cache: &cache,
        types: &types,
        composites: &composites,
        schemas: rendered,
    }))
}
