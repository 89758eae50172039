//! The typed schema-cache model: relations, columns, keys, functions, types, roles.
//!
//! Most structs deserialise straight from the json document built by `catalog.sql`
//! (field names match the json keys); fields marked "filled at load" are derived in
//! Rust after deserialisation. Everything is `Serialize` too, so the model can be
//! dumped (MCP "describe schema", debugging, snapshots).

use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;

/// Deserialises json `null` as `T::default()` (the catalog query yields `null`
/// for empty aggregates).
pub(crate) fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A schema-qualified name (`schema.name`) of a relation or function.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct QualifiedName {
    pub schema: String,
    pub name: String,
}

impl QualifiedName {
    pub fn new(schema: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            schema: schema.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for QualifiedName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.schema, self.name)
    }
}

/// `pg_class.relkind` of the relations the cache exposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RelKind {
    #[serde(rename = "r")]
    Table,
    #[serde(rename = "v")]
    View,
    #[serde(rename = "m")]
    MaterializedView,
    #[serde(rename = "f")]
    ForeignTable,
    #[serde(rename = "p")]
    PartitionedTable,
    /// A standalone composite type (`create type t as (...)`); only seen as a
    /// function return relation.
    #[serde(rename = "c")]
    CompositeType,
    #[serde(other)]
    Other,
}

impl RelKind {
    /// Views and materialized views (PostgREST's `tableIsView`).
    pub fn is_view(self) -> bool {
        matches!(self, RelKind::View | RelKind::MaterializedView)
    }
}

/// A grantee: a role, or `PUBLIC` (every role).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(from = "Option<String>", into = "Option<String>")]
pub enum Grantee {
    Public,
    Role(String),
}

impl From<Option<String>> for Grantee {
    fn from(v: Option<String>) -> Self {
        match v {
            None => Grantee::Public,
            Some(r) => Grantee::Role(r),
        }
    }
}

impl From<Grantee> for Option<String> {
    fn from(g: Grantee) -> Self {
        match g {
            Grantee::Public => None,
            Grantee::Role(r) => Some(r),
        }
    }
}

/// A privilege as named by `aclexplode` / `GRANT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Privilege {
    Select,
    Insert,
    Update,
    Delete,
    Truncate,
    References,
    Trigger,
    Execute,
    Usage,
    Create,
    Connect,
    Temporary,
    Maintain,
    #[serde(other)]
    Other,
}

/// One entry of an ACL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub grantee: Grantee,
    pub privilege: Privilege,
    pub grantable: bool,
}

/// An exposed schema.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Schema {
    pub name: String,
    /// `COMMENT ON SCHEMA` (pg_graphql reads `@graphql(...)` directives from it).
    pub comment: Option<String>,
    pub owner: String,
    /// Schema ACL (`USAGE`, `CREATE`), defaults applied when the ACL is null.
    #[serde(default, deserialize_with = "null_default")]
    pub grants: Vec<Grant>,
}

/// `attgenerated`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Generated {
    #[default]
    #[serde(rename = "")]
    No,
    /// `GENERATED ALWAYS AS (expr) STORED`
    #[serde(rename = "s")]
    Stored,
    #[serde(other)]
    Other,
}

/// `attidentity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Identity {
    #[default]
    #[serde(rename = "")]
    No,
    #[serde(rename = "a")]
    Always,
    #[serde(rename = "d")]
    ByDefault,
    #[serde(other)]
    Other,
}

/// Where a view column comes from when it is a plain column reference
/// (followed through chains of views down to the base relation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnSource {
    pub schema: String,
    pub table: String,
    pub column: String,
}

/// A column of a table or view.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    /// `attnum` (1-based, gaps after dropped columns).
    pub ordinal: i16,
    /// PostgREST's `data_type`: `format_type` without typmod for pg_catalog types,
    /// the base type for domains over pg_catalog types, else the full `format_type`.
    pub data_type: String,
    /// `format_type(atttypid, atttypmod)`: the declared type, domain and typmod
    /// included (schema-qualified unless in pg_catalog). Use this for casts.
    pub nominal_type: String,
    pub type_oid: u32,
    /// The type after resolving domains (equals `type_oid` when not a domain).
    pub base_type_oid: u32,
    /// Element type of the (domain-resolved) array type.
    pub element_type_oid: Option<u32>,
    pub nullable: bool,
    /// Default expression. Domain defaults apply; `GENERATED BY DEFAULT AS IDENTITY`
    /// shows as `nextval('seq'::regclass)`; `null` for generated columns and
    /// `GENERATED ALWAYS AS IDENTITY` (as PostgREST).
    pub default: Option<String>,
    pub generation_expression: Option<String>,
    #[serde(default)]
    pub generated: Generated,
    #[serde(default)]
    pub identity: Identity,
    pub comment: Option<String>,
    /// Character maximum length for `varchar(n)` / `char(n)` (and domains over them).
    pub max_length: Option<i32>,
    /// Labels when the (domain-resolved) type is an enum, in sort order.
    #[serde(default, deserialize_with = "null_default")]
    pub enum_values: Vec<String>,
    /// Column-level grants (`GRANT SELECT (col) ...`); table-level grants are on the table.
    #[serde(default, deserialize_with = "null_default")]
    pub grants: Vec<Grant>,
    /// Views only: the base column this column is a plain reference to (filled at load).
    #[serde(default)]
    pub source: Option<ColumnSource>,
    /// PostgREST's data representation of a domain column: the function of an implicit
    /// `CREATE CAST (json AS domain) WITH FUNCTION …` that writes pass the body's JSON value to.
    #[serde(default)]
    pub json_cast: Option<CastFunction>,
    /// Of a `CREATE CAST (text AS domain)`: filter values go through it.
    #[serde(default)]
    pub text_cast: Option<CastFunction>,
    /// Of a `CREATE CAST (domain AS json)`: the column's value in a response body.
    #[serde(default)]
    pub to_json_cast: Option<CastFunction>,
}

/// A cast function, schema-qualified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CastFunction {
    pub schema: String,
    pub name: String,
}

impl Column {
    /// Whether an INSERT may name this column (not generated, not identity ALWAYS).
    pub fn is_writable(&self) -> bool {
        self.generated == Generated::No && self.identity != Identity::Always
    }
}

/// A named unique key (`UNIQUE` constraint or unique index).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UniqueKey {
    pub name: String,
    #[serde(default, deserialize_with = "null_default")]
    pub columns: Vec<String>,
}

/// A foreign-key constraint. The referenced table may lie outside the exposed schemas.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForeignKey {
    /// Constraint name.
    pub name: String,
    /// Schema of the referencing table.
    pub schema: String,
    /// The referencing table.
    pub table: String,
    #[serde(default, deserialize_with = "null_default")]
    pub columns: Vec<String>,
    pub referenced_schema: String,
    pub referenced_table: String,
    #[serde(default, deserialize_with = "null_default")]
    pub referenced_columns: Vec<String>,
    /// The FK columns are exactly the PK or a UNIQUE constraint of the referencing
    /// table (so the relationship is one-to-one).
    pub unique: bool,
    /// `confupdtype` (`a` no action, `r` restrict, `c` cascade, `n` set null, `d` set default).
    pub on_update: String,
    /// `confdeltype`, same letters.
    pub on_delete: String,
    /// `COMMENT ON CONSTRAINT` (pg_graphql `local_name` / `foreign_name` directives).
    pub comment: Option<String>,
}

impl ForeignKey {
    pub fn table_name(&self) -> QualifiedName {
        QualifiedName::new(&self.schema, &self.table)
    }
    pub fn referenced_name(&self) -> QualifiedName {
        QualifiedName::new(&self.referenced_schema, &self.referenced_table)
    }
}

/// `polcmd`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PolicyCommand {
    #[serde(rename = "*")]
    All,
    #[serde(rename = "r")]
    Select,
    #[serde(rename = "a")]
    Insert,
    #[serde(rename = "w")]
    Update,
    #[serde(rename = "d")]
    Delete,
    #[serde(other)]
    Other,
}

/// A row-level-security policy.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Policy {
    pub name: String,
    pub command: PolicyCommand,
    /// `AS PERMISSIVE` (true) or `AS RESTRICTIVE`.
    pub permissive: bool,
    /// `TO` roles; `Grantee::Public` for `PUBLIC`.
    #[serde(default, deserialize_with = "null_default")]
    pub roles: Vec<Grantee>,
    /// `USING` expression.
    pub using: Option<String>,
    /// `WITH CHECK` expression.
    pub with_check: Option<String>,
}

/// A table, view, materialized view, foreign table or partitioned table of an
/// exposed schema (partitions themselves are not listed, as in PostgREST).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Table {
    pub oid: u32,
    pub schema: String,
    pub name: String,
    pub kind: RelKind,
    pub owner: String,
    pub comment: Option<String>,
    /// Tables always; views and foreign tables per `pg_relation_is_updatable`.
    pub insertable: bool,
    pub updatable: bool,
    pub deletable: bool,
    pub rls_enabled: bool,
    pub rls_forced: bool,
    #[serde(default, deserialize_with = "null_default")]
    pub columns: Vec<Column>,
    /// Primary key columns in key order. For views: inferred from the base tables'
    /// primary keys when the view selects them (filled at load, as PostgREST).
    #[serde(default, deserialize_with = "null_default")]
    pub primary_key: Vec<String>,
    /// `UNIQUE` constraints.
    #[serde(default, deserialize_with = "null_default")]
    pub unique_constraints: Vec<UniqueKey>,
    /// Non-partial unique indexes on plain columns (includes the ones backing the PK
    /// and UNIQUE constraints).
    #[serde(default, deserialize_with = "null_default")]
    pub unique_indexes: Vec<UniqueKey>,
    /// Foreign keys held by this table (filled at load).
    #[serde(default)]
    pub foreign_keys: Vec<ForeignKey>,
    #[serde(default, deserialize_with = "null_default")]
    pub policies: Vec<Policy>,
    /// Table ACL, defaults applied when the ACL is null (owner has everything).
    #[serde(default, deserialize_with = "null_default")]
    pub grants: Vec<Grant>,
}

impl Table {
    pub fn qualified_name(&self) -> QualifiedName {
        QualifiedName::new(&self.schema, &self.name)
    }

    pub fn is_view(&self) -> bool {
        self.kind.is_view()
    }

    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// `proargmodes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ArgMode {
    #[serde(rename = "i")]
    In,
    #[serde(rename = "o")]
    Out,
    #[serde(rename = "b")]
    InOut,
    #[serde(rename = "v")]
    Variadic,
    /// A `RETURNS TABLE (...)` output column.
    #[serde(rename = "t")]
    Table,
    #[serde(other)]
    Other,
}

impl ArgMode {
    /// Whether the argument is passed by the caller (IN, INOUT, VARIADIC).
    pub fn is_input(self) -> bool {
        matches!(self, ArgMode::In | ArgMode::InOut | ArgMode::Variadic)
    }
}

/// A function argument (inputs and outputs, in declaration order).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FunctionArg {
    /// `None` for unnamed arguments.
    pub name: Option<String>,
    pub type_oid: u32,
    /// `format_type(oid, null)`, schema-qualified outside pg_catalog.
    #[serde(rename = "type")]
    pub type_name: String,
    pub mode: ArgMode,
    pub has_default: bool,
}

/// `provolatile`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Volatility {
    #[serde(rename = "i")]
    Immutable,
    #[serde(rename = "s")]
    Stable,
    #[serde(rename = "v")]
    Volatile,
    #[serde(other)]
    Other,
}

/// The relation behind a composite type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeRelation {
    pub schema: String,
    pub name: String,
    pub kind: RelKind,
}

impl TypeRelation {
    pub fn qualified_name(&self) -> QualifiedName {
        QualifiedName::new(&self.schema, &self.name)
    }
}

/// A function's declared return type.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReturnType {
    pub oid: u32,
    /// `format_type(prorettype, null)`.
    pub name: String,
    /// After resolving domains.
    pub base_oid: u32,
    /// `typtype` of the base type: `b` base, `c` composite, `d` domain, `e` enum,
    /// `p` pseudo, `r` range, `m` multirange.
    pub kind: String,
    /// The relation (or standalone composite type) when the base type is composite.
    pub relation: Option<TypeRelation>,
}

/// What a function returns, as the REST/GraphQL layers need to know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReturnShape {
    /// `RETURNS void` (PostgREST answers 204).
    Void,
    /// A scalar (base, enum, domain, range, array...).
    Scalar,
    /// The row type of a table/view: `RETURNS t`, `RETURNS SETOF t`.
    Relation(QualifiedName),
    /// An anonymous composite: `OUT`/`INOUT`/`TABLE` arguments, or a standalone
    /// composite type (`create type`).
    Composite,
    /// `RETURNS record` without OUT arguments (cannot be filtered).
    Record,
    /// Other pseudo types (`anyelement`, ...).
    Pseudo,
}

/// A function (`prokind = 'f'`) of an exposed schema. Trigger functions are omitted.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Function {
    pub oid: u32,
    pub schema: String,
    pub name: String,
    pub comment: Option<String>,
    pub owner: String,
    #[serde(default, deserialize_with = "null_default")]
    pub args: Vec<FunctionArg>,
    pub return_type: ReturnType,
    pub returns_set: bool,
    /// Has `OUT`, `INOUT` or `TABLE` arguments (returns an anonymous record).
    pub has_out_args: bool,
    /// `prorows` (the `ROWS` estimate) of set-returning functions.
    pub rows: Option<f32>,
    pub volatility: Volatility,
    pub strict: bool,
    pub security_definer: bool,
    pub language: String,
    /// Has a `VARIADIC` argument.
    pub variadic: bool,
    /// `proconfig` (`SET name = value` clauses), as `name=value` strings.
    #[serde(default, deserialize_with = "null_default")]
    pub config: Vec<String>,
    /// Function ACL, defaults applied (`EXECUTE` to PUBLIC unless revoked).
    #[serde(default, deserialize_with = "null_default")]
    pub grants: Vec<Grant>,
}

impl Function {
    pub fn qualified_name(&self) -> QualifiedName {
        QualifiedName::new(&self.schema, &self.name)
    }

    /// Arguments the caller passes (IN, INOUT, VARIADIC).
    pub fn input_args(&self) -> impl Iterator<Item = &FunctionArg> {
        self.args.iter().filter(|a| a.mode.is_input())
    }

    /// Output columns of `OUT`/`INOUT`/`TABLE` arguments.
    pub fn output_args(&self) -> impl Iterator<Item = &FunctionArg> {
        self.args
            .iter()
            .filter(|a| matches!(a.mode, ArgMode::Out | ArgMode::InOut | ArgMode::Table))
    }

    /// The result shape (void / scalar / a relation's rows / anonymous composite / record).
    pub fn return_shape(&self) -> ReturnShape {
        const VOID: u32 = 2278;
        const RECORD: u32 = 2249;
        if self.has_out_args {
            return ReturnShape::Composite;
        }
        if self.return_type.base_oid == VOID {
            return ReturnShape::Void;
        }
        if let Some(rel) = &self.return_type.relation {
            return if rel.kind == RelKind::CompositeType {
                ReturnShape::Composite
            } else {
                ReturnShape::Relation(rel.qualified_name())
            };
        }
        match self.return_type.kind.as_str() {
            "p" if self.return_type.base_oid == RECORD => ReturnShape::Record,
            "p" => ReturnShape::Pseudo,
            "c" => ReturnShape::Composite,
            _ => ReturnShape::Scalar,
        }
    }

    /// Whether a call yields at most one row: not set-returning, or `ROWS 1`.
    pub fn is_single_row(&self) -> bool {
        !self.returns_set || self.rows == Some(1.0)
    }

    /// The `SET` value of a configuration parameter in `proconfig`.
    pub fn setting(&self, name: &str) -> Option<&str> {
        self.config.iter().find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (k == name).then_some(v)
        })
    }
}

/// A type referenced by an exposed column or function, or an enum of an exposed schema.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PgType {
    pub oid: u32,
    pub schema: String,
    /// `typname` (arrays: `_int4`).
    pub name: String,
    /// `format_type(oid, null)` (arrays: `integer[]`).
    pub formatted: String,
    /// `typtype`: `b`, `c`, `d`, `e`, `p`, `r`, `m`.
    pub kind: String,
    /// `typcategory` (`A` array, `N` numeric, `S` string, `E` enum, ...).
    pub category: String,
    /// Domains: the ultimate base type.
    pub base_oid: Option<u32>,
    /// Arrays: the element type.
    pub element_oid: Option<u32>,
    pub relation: Option<TypeRelation>,
    #[serde(default, deserialize_with = "null_default")]
    pub enum_values: Vec<String>,
    pub comment: Option<String>,
}

impl PgType {
    pub fn is_enum(&self) -> bool {
        self.kind == "e"
    }
    pub fn is_array(&self) -> bool {
        self.category == "A"
    }
    pub fn is_domain(&self) -> bool {
        self.kind == "d"
    }
}

/// A membership edge: the role is a member of `role`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    pub role: String,
    /// Whether the member inherits `role`'s privileges through this grant
    /// (PostgreSQL 16+: the grant's INHERIT option; before: the member's `rolinherit`).
    pub inherit: bool,
}

/// One `ALTER ROLE … SET name = value` of a role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleSetting {
    pub name: String,
    pub value: String,
}

/// A database role.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Role {
    pub name: String,
    pub superuser: bool,
    pub inherit: bool,
    pub bypass_rls: bool,
    pub can_login: bool,
    /// The role's own `ALTER ROLE … SET` settings (user-settable ones only), applied to
    /// every request made as the role.
    #[serde(default, deserialize_with = "null_default")]
    pub settings: Vec<RoleSetting>,
    /// Roles this role is a direct member of.
    #[serde(default, deserialize_with = "null_default")]
    pub member_of: Vec<Membership>,
}
