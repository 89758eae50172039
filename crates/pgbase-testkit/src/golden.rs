//! The fixture schema of the golden tests, without a database: `golden/fixture.sql` (what a
//! migration would create) and `golden/catalog.json` (the catalog document Postgres returns for
//! it, normalised so it does not depend on the database it was read from). Golden tests in the
//! REST and GraphQL crates plan requests against [`schema_cache`] and compare the SQL they emit
//! with checked-in snapshots; `tests/golden_catalog.rs` keeps catalog.json true to fixture.sql.

use pgbase_catalog::{CatalogData, SchemaCache};
use serde_json::Value;
use std::collections::HashMap;

/// The DDL of the fixture schema.
pub const FIXTURE_SQL: &str = include_str!("../golden/fixture.sql");

/// The normalised catalog document of [`FIXTURE_SQL`], as checked in.
pub const CATALOG_JSON: &str = include_str!("../golden/catalog.json");

/// The schemas the fixture exposes.
pub fn exposed_schemas() -> Vec<String> {
    vec!["public".to_string()]
}

/// The schema cache the golden tests plan against, built from [`CATALOG_JSON`].
pub fn schema_cache() -> SchemaCache {
    let data: CatalogData = serde_json::from_str(CATALOG_JSON)
        .unwrap_or_else(|e| panic!("pgbase-testkit: golden/catalog.json does not parse: {e}"));
    SchemaCache::from_data(&exposed_schemas(), data)
}

/// The roles the fixture's catalog keeps (the cluster's others, such as a test run's own, are
/// dropped).
const KEPT_ROLES: [&str; 5] = [
    "anon",
    "authenticated",
    "service_role",
    "authenticator",
    "postgres",
];

/// First OID Postgres hands to user objects; smaller ones are built in and stable.
const FIRST_USER_OID: u64 = 16384;

/// Makes a catalog document independent of the database it was read from: user-object OIDs
/// become 1_000_000 + their order of first appearance, and only the API roles and `postgres`
/// remain.
pub fn normalise(data: &CatalogData) -> Value {
    let mut value = serde_json::to_value(data)
        .unwrap_or_else(|e| panic!("pgbase-testkit: a catalog document serialises: {e}"));
    if let Some(roles) = value.get_mut("roles").and_then(Value::as_array_mut) {
        roles.retain(|role| {
            role.get("name")
                .and_then(Value::as_str)
                .is_some_and(|name| KEPT_ROLES.contains(&name))
        });
    }
    let mut oids = HashMap::new();
    renumber(&mut value, false, &mut oids);
    value
}

fn renumber(value: &mut Value, is_oid: bool, oids: &mut HashMap<u64, u64>) {
    match value {
        Value::Number(n) if is_oid => {
            if let Some(oid) = n.as_u64().filter(|oid| *oid >= FIRST_USER_OID) {
                let next = 1_000_000 + oids.len() as u64;
                *value = Value::from(*oids.entry(oid).or_insert(next));
            }
        }
        Value::Array(items) => {
            for item in items {
                renumber(item, is_oid, oids);
            }
        }
        Value::Object(fields) => {
            for (key, field) in fields.iter_mut() {
                let oid_key = key == "oid" || key.ends_with("_oid") || key.ends_with("_oids");
                renumber(field, oid_key, oids);
            }
        }
        _ => {}
    }
}
