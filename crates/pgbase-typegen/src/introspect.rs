//! What the generator needs beyond the schema cache, read straight from pg_catalog: every
//! type (to map columns, arguments and results to TypeScript) and the attributes of standalone
//! composite types, each from its own `.sql` file.

use std::collections::BTreeMap;

use tokio_postgres::Client;

/// Why reading the types failed.
#[derive(Debug, thiserror::Error)]
pub enum IntrospectError {
    #[error("reading pg_type failed: {0}")]
    Types(#[source] tokio_postgres::Error),
    #[error("reading the composite types failed: {0}")]
    Composites(#[source] tokio_postgres::Error),
}

/// One row of `pg_type`, reduced to what the mapping needs.
#[derive(Debug, Clone)]
pub struct PgTypeInfo {
    pub schema: String,
    pub name: String,
    /// `typtype`: `b` base, `c` composite, `d` domain, `e` enum, `p` pseudo, `r` range,
    /// `m` multirange.
    pub kind: String,
    /// `typcategory` (`A` array, `N` numeric, `S` string, ...).
    pub category: String,
    /// Arrays: the element type (0 otherwise).
    pub element: u32,
    /// Domains: the type it is over (0 otherwise).
    pub base: u32,
    /// Composite types: the `relkind` of the relation behind it (`c` for standalone ones).
    pub relkind: String,
    /// Enums: the labels in declaration order.
    pub labels: Vec<String>,
}

/// A standalone composite type: (attribute name, type oid) in attribute order.
pub type Composite = Vec<(String, u32)>;

/// Every type, by oid.
pub async fn types(
    client: &Client,
    schemas: &[String],
) -> Result<BTreeMap<u32, PgTypeInfo>, IntrospectError> {
    let rows = client
        .query(include_str!("types.sql"), &[&schemas])
        .await
        .map_err(IntrospectError::Types)?;
    let mut out = BTreeMap::new();
    for row in rows {
        let oid: u32 = row.try_get("oid").map_err(IntrospectError::Types)?;
        let info = PgTypeInfo {
            schema: row.try_get("schema").map_err(IntrospectError::Types)?,
            name: row.try_get("name").map_err(IntrospectError::Types)?,
            kind: row.try_get("kind").map_err(IntrospectError::Types)?,
            category: row.try_get("category").map_err(IntrospectError::Types)?,
            element: row.try_get("element").map_err(IntrospectError::Types)?,
            base: row.try_get("base").map_err(IntrospectError::Types)?,
            relkind: row.try_get("relkind").map_err(IntrospectError::Types)?,
            labels: row.try_get("labels").map_err(IntrospectError::Types)?,
        };
        out.insert(oid, info);
    }
    Ok(out)
}

/// Standalone composite types of `schemas`, keyed by (schema, name).
pub async fn composites(
    client: &Client,
    schemas: &[String],
) -> Result<BTreeMap<(String, String), Composite>, IntrospectError> {
    let rows = client
        .query(include_str!("composites.sql"), &[&schemas])
        .await
        .map_err(IntrospectError::Composites)?;
    let mut out: BTreeMap<(String, String), Composite> = BTreeMap::new();
    for row in rows {
        let schema: String = row.try_get("schema").map_err(IntrospectError::Composites)?;
        let name: String = row.try_get("name").map_err(IntrospectError::Composites)?;
        let attribute: String = row
            .try_get("attribute")
            .map_err(IntrospectError::Composites)?;
        let type_oid: u32 = row
            .try_get("type_oid")
            .map_err(IntrospectError::Composites)?;
        out.entry((schema, name))
            .or_default()
            .push((attribute, type_oid));
    }
    Ok(out)
}
