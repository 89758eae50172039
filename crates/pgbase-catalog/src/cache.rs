//! [`SchemaCache`]: the immutable, fully derived schema model that requests plan
//! against, built from the catalog document ([`CatalogData`]).

use crate::model::{ForeignKey, Function, PgType, QualifiedName, Role, Schema, Table};
use crate::relationships::{self, ComputedRelationship, Relationship, ViewKeyDependency};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime};

/// The json document returned by `catalog.sql`, deserialised as is.
///
/// Public so that tests (and tools) can build a [`SchemaCache`] without a database.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CatalogData {
    #[serde(default)]
    pub schemas: Vec<Schema>,
    #[serde(default)]
    pub tables: Vec<Table>,
    /// Every FK constraint of the database (outside pg_catalog/information_schema).
    #[serde(default)]
    pub foreign_keys: Vec<ForeignKey>,
    #[serde(default)]
    pub view_key_dependencies: Vec<ViewKeyDependency>,
    #[serde(default)]
    pub functions: Vec<Function>,
    #[serde(default)]
    pub computed_relationships: Vec<ComputedRelationship>,
    #[serde(default)]
    pub types: Vec<PgType>,
    #[serde(default)]
    pub roles: Vec<Role>,
}

impl CatalogData {
    /// Appends the parts of `other` (the catalog query's other half: each half fills some
    /// relations and leaves the sections it does not own empty).
    pub(crate) fn extend(&mut self, other: CatalogData) {
        let CatalogData {
            schemas,
            tables,
            foreign_keys,
            view_key_dependencies,
            functions,
            computed_relationships,
            types,
            roles,
        } = other;
        self.schemas.extend(schemas);
        self.tables.extend(tables);
        self.foreign_keys.extend(foreign_keys);
        self.view_key_dependencies.extend(view_key_dependencies);
        self.functions.extend(functions);
        self.computed_relationships.extend(computed_relationships);
        self.types.extend(types);
        self.roles.extend(roles);
    }
}

/// The schema cache: every exposed relation, function, relationship, role and type.
///
/// Immutable once built; a reload builds a new one and swaps it in
/// ([`crate::CatalogHandle`]), so a request keeps the model it started with.
#[derive(Debug, Clone, Serialize)]
pub struct SchemaCache {
    /// The configured schemas, in configuration order (the first is the default).
    exposed_schemas: Vec<String>,
    /// The configured schemas that exist.
    schemas: Vec<Schema>,
    /// schema → name → table
    tables: BTreeMap<String, BTreeMap<String, Table>>,
    /// schema → name → overloads (ordered by oid)
    functions: BTreeMap<String, BTreeMap<String, Vec<Function>>>,
    #[serde(skip)]
    function_oids: HashMap<u32, (String, String, usize)>,
    /// source schema → source name → relationships
    relationships: BTreeMap<String, BTreeMap<String, Vec<Relationship>>>,
    foreign_keys: Vec<ForeignKey>,
    types: BTreeMap<u32, PgType>,
    roles: BTreeMap<String, Role>,
    /// role → roles whose privileges it uses (itself first, then inherited).
    #[serde(skip)]
    pub(crate) effective_roles: HashMap<String, Vec<String>>,
    /// Load counter assigned by [`crate::CatalogHandle`] (0 = never stored).
    pub version: u64,
    pub loaded_at: SystemTime,
    /// Time spent in the catalog query plus derivation.
    pub load_duration: Duration,
}

impl SchemaCache {
    /// A cache with nothing in it (before the first load).
    pub fn empty(exposed_schemas: &[String]) -> Self {
        Self::from_data(exposed_schemas, CatalogData::default())
    }

    /// Builds the model from the catalog document: indexes, view column sources and
    /// primary keys, per-table foreign keys, relationships, role inheritance.
    pub fn from_data(exposed_schemas: &[String], data: CatalogData) -> Self {
        let CatalogData {
            schemas,
            tables: mut table_list,
            foreign_keys,
            view_key_dependencies,
            functions: function_list,
            computed_relationships,
            types,
            roles,
        } = data;

        // view primary keys inferred from base tables (PostgREST addViewPrimaryKeys)
        let view_pks = relationships::view_primary_keys(&view_key_dependencies);
        for t in table_list.iter_mut().filter(|t| t.is_view()) {
            if let Some(pk) = view_pks.get(&t.qualified_name()) {
                t.primary_key = pk.clone();
            }
        }
        // per-table foreign keys
        let mut fks_by_table: HashMap<QualifiedName, Vec<ForeignKey>> = HashMap::new();
        for fk in &foreign_keys {
            fks_by_table
                .entry(fk.table_name())
                .or_default()
                .push(fk.clone());
        }
        for t in table_list.iter_mut() {
            if let Some(fks) = fks_by_table.remove(&t.qualified_name()) {
                t.foreign_keys = fks;
            }
            t.foreign_keys.sort_by(|a, b| a.name.cmp(&b.name));
        }

        let rels = {
            let refs: Vec<&Table> = table_list.iter().collect();
            relationships::derive(
                exposed_schemas,
                &refs,
                &foreign_keys,
                &view_key_dependencies,
                &computed_relationships,
            )
        };
        let mut relationships: BTreeMap<String, BTreeMap<String, Vec<Relationship>>> =
            BTreeMap::new();
        for (source, group) in rels {
            relationships
                .entry(source.schema)
                .or_default()
                .insert(source.name, group);
        }

        let mut tables: BTreeMap<String, BTreeMap<String, Table>> = BTreeMap::new();
        for t in table_list {
            tables
                .entry(t.schema.clone())
                .or_default()
                .insert(t.name.clone(), t);
        }

        let mut functions: BTreeMap<String, BTreeMap<String, Vec<Function>>> = BTreeMap::new();
        for f in function_list {
            functions
                .entry(f.schema.clone())
                .or_default()
                .entry(f.name.clone())
                .or_default()
                .push(f);
        }
        let mut function_oids = HashMap::new();
        for (schema, by_name) in functions.iter_mut() {
            for (name, overloads) in by_name.iter_mut() {
                overloads.sort_by_key(|f| f.oid);
                for (i, f) in overloads.iter().enumerate() {
                    function_oids.insert(f.oid, (schema.clone(), name.clone(), i));
                }
            }
        }

        let roles: BTreeMap<String, Role> =
            roles.into_iter().map(|r| (r.name.clone(), r)).collect();
        let effective_roles = crate::privileges::effective_roles(&roles);

        SchemaCache {
            exposed_schemas: exposed_schemas.to_vec(),
            schemas,
            tables,
            functions,
            function_oids,
            relationships,
            foreign_keys,
            types: types.into_iter().map(|t| (t.oid, t)).collect(),
            roles,
            effective_roles,
            version: 0,
            loaded_at: SystemTime::now(),
            load_duration: Duration::ZERO,
        }
    }

    /// The configured schemas, in configuration order (the first is the default).
    pub fn exposed_schemas(&self) -> &[String] {
        &self.exposed_schemas
    }

    /// Whether `schema` is one of the configured schemas.
    pub fn is_exposed(&self, schema: &str) -> bool {
        self.exposed_schemas.iter().any(|s| s == schema)
    }

    /// The configured schemas that exist, with comment and ACL.
    pub fn schemas(&self) -> &[Schema] {
        &self.schemas
    }

    pub fn schema(&self, name: &str) -> Option<&Schema> {
        self.schemas.iter().find(|s| s.name == name)
    }

    /// A table, view, materialized view, foreign or partitioned table.
    pub fn table(&self, schema: &str, name: &str) -> Option<&Table> {
        self.tables.get(schema)?.get(name)
    }

    /// All relations, ordered by (schema, name).
    pub fn tables(&self) -> impl Iterator<Item = &Table> {
        self.tables.values().flat_map(|m| m.values())
    }

    /// Relations of one schema, ordered by name.
    pub fn tables_in(&self, schema: &str) -> impl Iterator<Item = &Table> {
        self.tables.get(schema).into_iter().flat_map(|m| m.values())
    }

    pub fn table_count(&self) -> usize {
        self.tables.values().map(BTreeMap::len).sum()
    }

    /// All overloads of a function (ordered by oid); empty when there is none.
    pub fn function_overloads(&self, schema: &str, name: &str) -> &[Function] {
        self.functions
            .get(schema)
            .and_then(|m| m.get(name))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    pub fn function_by_oid(&self, oid: u32) -> Option<&Function> {
        let (schema, name, i) = self.function_oids.get(&oid)?;
        self.function_overloads(schema, name).get(*i)
    }

    /// All functions, ordered by (schema, name, oid).
    pub fn functions(&self) -> impl Iterator<Item = &Function> {
        self.functions
            .values()
            .flat_map(|m| m.values())
            .flat_map(|v| v.iter())
    }

    pub fn function_count(&self) -> usize {
        self.function_oids.len()
    }

    /// Relationships whose source is `schema.table` (a table, view, or the row type of
    /// a table-valued function's result), sorted: FK-based first, then computed.
    pub fn relationships_from(&self, schema: &str, table: &str) -> &[Relationship] {
        self.relationships
            .get(schema)
            .and_then(|m| m.get(table))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Every relationship.
    pub fn relationships(&self) -> impl Iterator<Item = &Relationship> {
        self.relationships
            .values()
            .flat_map(|m| m.values())
            .flat_map(|v| v.iter())
    }

    pub fn relationship_count(&self) -> usize {
        self.relationships
            .values()
            .flat_map(|m| m.values())
            .map(Vec::len)
            .sum()
    }

    /// Every FK of the database outside the system schemas (including ones between
    /// non-exposed tables).
    pub fn all_foreign_keys(&self) -> &[ForeignKey] {
        &self.foreign_keys
    }

    /// A type referenced by an exposed column or function (or an exposed enum).
    pub fn type_by_oid(&self, oid: u32) -> Option<&PgType> {
        self.types.get(&oid)
    }

    pub fn types(&self) -> impl Iterator<Item = &PgType> {
        self.types.values()
    }

    /// Enum types known to the cache (those of exposed schemas and those used by
    /// exposed columns/functions).
    pub fn enums(&self) -> impl Iterator<Item = &PgType> {
        self.types.values().filter(|t| t.is_enum())
    }

    pub fn role(&self, name: &str) -> Option<&Role> {
        self.roles.get(name)
    }

    /// The session settings a request as `role` starts with: `defaults` (the server's), then
    /// the role's own `ALTER ROLE … SET` values, which win where both name a setting.
    pub fn session_settings<'a>(
        &'a self,
        role: &str,
        defaults: &'a [(String, String)],
    ) -> impl Iterator<Item = (&'a str, &'a str)> {
        let own = self
            .role(role)
            .map(|r| r.settings.as_slice())
            .unwrap_or_default();
        defaults
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .chain(own.iter().map(|s| (s.name.as_str(), s.value.as_str())))
    }

    pub fn roles(&self) -> impl Iterator<Item = &Role> {
        self.roles.values()
    }
}
