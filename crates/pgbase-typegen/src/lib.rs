//! TypeScript types for supabase-js, generated from the live schema in the shape
//! `supabase gen types typescript` emits (`Database[schema]['Tables'|'Views'|'Functions'|'Enums'|
//! 'CompositeTypes']`), so `createClient<Database>()` type-checks an application.

#[derive(Debug, thiserror::Error)]
pub enum TypegenError {
    #[error("reading the schema failed: {0}")]
    Query(#[from] tokio_postgres::Error),
}

/// The TypeScript module (one exported `Database` type plus the helper types) for `schemas`.
pub async fn typescript(
    client: &tokio_postgres::Client,
    schemas: &[String],
) -> Result<String, TypegenError> {
    let _ = (client, schemas);
    todo!("pgbase-typegen: the generator is being written")
}
