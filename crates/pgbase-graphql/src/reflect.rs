//! Reflection: the schema cache seen through one role's privileges becomes pg_graphql's
//! type system (tables with a primary key and at least one SELECT-able column, their
//! connection/edge/filter/orderBy/input/response types, relationships from foreign keys
//! and `foreign_keys` directives, enums, the standard scalars and filters, introspection
//! types).

use std::collections::{BTreeMap, HashMap, HashSet};

use pgbase_catalog::{Object, Privilege, RelKind, ReturnShape, SchemaCache, Table, Volatility};
use serde_json::Value;

use crate::naming::{self, DirectiveError, On, directive, enabled, str_key};
use crate::types::{
    AggOp, ColumnInfo, EnumValue, Field, FuncArg, FuncInfo, FuncReturn, InputValue, Kind,
    Reflected, RelInfo, Resolve, Role, Scalar, TableInfo, TypeDef, TypeRef,
};

/// Default page size (pg_graphql `max_rows`).
pub const DEFAULT_MAX_ROWS: u64 = 30;

const SIMPLE_SCALARS: [&str; 11] = [
    "Int", "Float", "String", "Boolean", "BigInt", "BigFloat", "Date", "Time", "Datetime", "UUID",
    "ID",
];

/// Per-schema options from the schema's `@graphql` directive.
struct SchemaOpts {
    inflect: bool,
    max_rows: u64,
}

/// The schemas `role` may use, with their options and introspection directives.
struct Exposed {
    opts: HashMap<String, SchemaOpts>,
    /// schemas whose directive says `"introspection": true`
    introspected: HashSet<String>,
    /// schemas whose directive says `"introspection": false`
    refused: HashSet<String>,
}

struct EnumDef {
    schema: String,
    name: String,
    values: Vec<EnumValue>,
    description: Option<String>,
}

/// A reflected table with what the later passes still need from the catalog.
struct Pending<'a> {
    table: &'a Table,
    directive: Value,
    inflect: bool,
    insert: bool,
    update: bool,
    delete: bool,
}

/// The reflected tables and where each catalog relation landed among them.
struct Tables<'a> {
    pending: Vec<Pending<'a>>,
    index: HashMap<(String, String), usize>,
}

/// A foreign key between two reflected tables, from a constraint or a `foreign_keys` directive.
struct Fk {
    local: usize,
    foreign: usize,
    local_cols: Vec<String>,
    foreign_cols: Vec<String>,
    local_name: Option<String>,
    foreign_name: Option<String>,
    unique: bool,
    not_null: bool,
}

/// Which functions became fields: computed fields per table, and root fields with whether
/// each is a mutation.
struct FunctionFields {
    computed: Vec<Vec<usize>>,
    roots: Vec<(usize, bool)>,
}

/// The root types, filled table by table.
struct Roots {
    query: TypeDef,
    mutation: TypeDef,
    node_iface: TypeDef,
}

/// Builds the schema `role` sees. `introspection` turns on `__schema`/`__type`; `upsert` adds
/// the `onConflict` argument of inserts and its types (pgbase's extension, off by default so
/// that the schema is pg_graphql's).
///
/// The passes, in order: which schemas are exposed and how, enums, tables with their
/// columns, relationships, functions, then the types each of them yields, and last what
/// introspection hides.
pub fn reflect(
    cache: &SchemaCache,
    schemas: &[String],
    role: &str,
    introspection: bool,
    upsert: bool,
) -> Result<Reflected, DirectiveError> {
    let mut out = Reflected {
        introspection,
        upsert,
        ..Reflected::default()
    };
    let exposed = exposed_schemas(cache, schemas, role)?;
    out.introspection |= !exposed.introspected.is_empty();
    let enums = enum_defs(cache, &exposed.opts)?;
    let tables = tables(cache, schemas, role, &exposed.opts, &enums, &mut out)?;
    relationships(cache, &tables, &mut out)?;
    let functions = functions(cache, role, &exposed.opts, &enums, &tables.index, &mut out)?;

    add_standard_types(&mut out);
    add_enum_types(&enums, &mut out);
    let mut roots = Roots::new(&mut out);
    for (ti, p) in tables.pending.iter().enumerate() {
        add_table_types(&mut out, ti, p, &functions.computed[ti], &mut roots);
    }
    roots.finish(&functions.roots, &mut out);
    hide_from_introspection(&exposed, &enums, introspection, &mut out);
    if out.introspection {
        crate::introspection::add_meta_types(&mut out);
    }
    Ok(out)
}

/// Pass 1: the schemas `role` has USAGE on, with their directive's options.
fn exposed_schemas(
    cache: &SchemaCache,
    schemas: &[String],
    role: &str,
) -> Result<Exposed, DirectiveError> {
    let mut opts: HashMap<String, SchemaOpts> = HashMap::new();
    let mut introspected: HashSet<String> = HashSet::new();
    let mut refused: HashSet<String> = HashSet::new();
    for s in schemas {
        let Some(schema) = cache.schema(s) else {
            continue;
        };
        if !cache.can(role, Privilege::Usage, Object::Schema(s)) {
            continue;
        }
        let d = directive(schema.comment.as_deref(), &format!("schema {s}"))?;
        naming::check(&d, On::Schema)?;
        let inflect = d
            .get("inflect_names")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let max_rows = d
            .get("max_rows")
            .and_then(naming::as_count)
            .unwrap_or(DEFAULT_MAX_ROWS);
        match d.get("introspection").and_then(Value::as_bool) {
            Some(true) => {
                introspected.insert(s.clone());
            }
            Some(false) => {
                refused.insert(s.clone());
            }
            None => {}
        }
        opts.insert(s.clone(), SchemaOpts { inflect, max_rows });
    }
    Ok(Exposed {
        opts,
        introspected,
        refused,
    })
}

/// Pass 2: enums of exposed schemas, with their directive names and value mappings.
fn enum_defs(
    cache: &SchemaCache,
    opts: &HashMap<String, SchemaOpts>,
) -> Result<HashMap<u32, EnumDef>, DirectiveError> {
    let mut enums: HashMap<u32, EnumDef> = HashMap::new();
    for t in cache.enums() {
        let Some(o) = opts.get(&t.schema) else {
            continue;
        };
        let d = directive(t.comment.as_deref(), &format!("type {}", t.name))?;
        naming::check(&d, On::Enum)?;
        let name = naming::type_name(&t.name, str_key(&d, "name"), o.inflect);
        if !naming::is_valid_name(&name) {
            continue;
        }
        let mappings = d.get("mappings");
        let values = t
            .enum_values
            .iter()
            .map(|v| EnumValue {
                name: mappings
                    .and_then(|m| m.get(v))
                    .and_then(Value::as_str)
                    .unwrap_or(v)
                    .to_string(),
                description: None,
                value: v.clone(),
            })
            .filter(|v| naming::is_valid_name(&v.name))
            .collect();
        enums.insert(
            t.oid,
            EnumDef {
                schema: t.schema.clone(),
                name,
                values,
                description: str_key(&d, "description").map(str::to_string),
            },
        );
    }
    Ok(enums)
}

/// Pass 3: tables (and views) with a primary key and at least one column `role` may select.
fn tables<'a>(
    cache: &'a SchemaCache,
    schemas: &[String],
    role: &str,
    opts: &HashMap<String, SchemaOpts>,
    enums: &HashMap<u32, EnumDef>,
    out: &mut Reflected,
) -> Result<Tables<'a>, DirectiveError> {
    let mut pending: Vec<Pending> = Vec::new();
    let mut index: HashMap<(String, String), usize> = HashMap::new();
    for s in schemas {
        let Some(o) = opts.get(s) else { continue };
        for t in cache.tables_in(s) {
            if !matches!(
                t.kind,
                RelKind::Table
                    | RelKind::View
                    | RelKind::MaterializedView
                    | RelKind::ForeignTable
                    | RelKind::PartitionedTable
            ) {
                continue;
            }
            let d = directive(
                t.comment.as_deref(),
                &format!("table {}.{}", t.schema, t.name),
            )?;
            naming::check(&d, On::Table)?;
            let type_name = naming::type_name(&t.name, str_key(&d, "name"), o.inflect);
            if !naming::is_valid_name(&type_name) || type_name.starts_with("__") {
                continue;
            }
            let mut columns = Vec::new();
            for c in &t.columns {
                if !cache.can(role, Privilege::Select, Object::column(s, &t.name, &c.name)) {
                    continue;
                }
                let cd = directive(c.comment.as_deref(), &format!("column {}", c.name))?;
                naming::check(&cd, On::Column)?;
                let field = naming::field_name(&c.name, str_key(&cd, "name"), o.inflect);
                if !naming::is_valid_name(&field) {
                    continue;
                }
                let Some((scalar, list)) = column_scalar(cache, c, enums) else {
                    continue;
                };
                columns.push(ColumnInfo {
                    sql: c.name.clone(),
                    field,
                    scalar,
                    list,
                    nullable: c.nullable,
                    description: str_key(&cd, "description").map(str::to_string),
                    max_length: c.max_length,
                    insertable: t.insertable
                        && c.is_writable()
                        && cache.can(role, Privilege::Insert, Object::column(s, &t.name, &c.name)),
                    updatable: t.updatable
                        && c.is_writable()
                        && cache.can(role, Privilege::Update, Object::column(s, &t.name, &c.name)),
                });
            }
            if columns.is_empty() {
                continue;
            }
            let pk_names: Vec<String> = match d.get("primary_key_columns") {
                Some(Value::Array(cols)) => cols
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect(),
                _ if t.is_view() => Vec::new(),
                _ => t.primary_key.clone(),
            };
            let pk: Option<Vec<usize>> = pk_names
                .iter()
                .map(|n| columns.iter().position(|c| &c.sql == n))
                .collect();
            let Some(pk) = pk.filter(|p| !p.is_empty()) else {
                continue;
            };
            let max_rows = d
                .get("max_rows")
                .and_then(naming::as_count)
                .unwrap_or(o.max_rows);
            let insert = columns.iter().any(|c| c.insertable);
            let update = columns.iter().any(|c| c.updatable);
            let delete =
                t.deletable && cache.can(role, Privilege::Delete, Object::table(s, &t.name));
            let unique_keys: Vec<(String, Vec<String>)> = t
                .unique_indexes
                .iter()
                .filter(|u| {
                    naming::is_valid_name(&u.name)
                        && !u.columns.is_empty()
                        && u.columns
                            .iter()
                            .all(|c| columns.iter().any(|x| &x.sql == c))
                })
                .map(|u| (u.name.clone(), u.columns.clone()))
                .collect();
            index.insert((t.schema.clone(), t.name.clone()), out.tables.len());
            out.tables.push(TableInfo {
                schema: t.schema.clone(),
                name: t.name.clone(),
                type_name,
                description: str_key(&d, "description").map(str::to_string),
                columns,
                pk,
                max_rows,
                total_count: enabled(&d, "totalCount"),
                aggregate: enabled(&d, "aggregate"),
                unique_keys,
                relations: Vec::new(),
            });
            pending.push(Pending {
                table: t,
                directive: d,
                inflect: o.inflect,
                insert,
                update,
                delete,
            });
        }
    }
    Ok(Tables { pending, index })
}

/// Pass 4: relationships, from real foreign keys and then directive-declared ones, linked
/// both ways.
fn relationships(
    cache: &SchemaCache,
    tables: &Tables<'_>,
    out: &mut Reflected,
) -> Result<(), DirectiveError> {
    let mut fks = constraint_foreign_keys(cache, tables)?;
    fks.extend(directive_foreign_keys(tables, out));
    for fk in &fks {
        link(fk, &tables.pending, out);
    }
    Ok(())
}

/// Foreign-key constraints between two reflected tables.
fn constraint_foreign_keys(
    cache: &SchemaCache,
    tables: &Tables<'_>,
) -> Result<Vec<Fk>, DirectiveError> {
    let (pending, index) = (&tables.pending, &tables.index);
    let mut fks: Vec<Fk> = Vec::new();
    for fk in cache.all_foreign_keys() {
        let (Some(&local), Some(&foreign)) = (
            index.get(&(fk.schema.clone(), fk.table.clone())),
            index.get(&(fk.referenced_schema.clone(), fk.referenced_table.clone())),
        ) else {
            continue;
        };
        let d = directive(fk.comment.as_deref(), &format!("constraint {}", fk.name))?;
        let lt = pending[local].table;
        let not_null = fk
            .columns
            .iter()
            .all(|c| lt.column(c).is_some_and(|c| !c.nullable));
        fks.push(Fk {
            local,
            foreign,
            local_cols: fk.columns.clone(),
            foreign_cols: fk.referenced_columns.clone(),
            local_name: str_key(&d, "local_name").map(str::to_string),
            foreign_name: str_key(&d, "foreign_name").map(str::to_string),
            unique: fk.unique,
            not_null,
        });
    }
    Ok(fks)
}

/// Foreign keys declared by a table's `foreign_keys` directive (views have no constraints).
fn directive_foreign_keys(tables: &Tables<'_>, out: &Reflected) -> Vec<Fk> {
    let (pending, index) = (&tables.pending, &tables.index);
    let mut fks = Vec::new();
    for (local, p) in pending.iter().enumerate() {
        let Some(Value::Array(list)) = p.directive.get("foreign_keys") else {
            continue;
        };
        for item in list {
            let strings = |k: &str| -> Vec<String> {
                item.get(k)
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let (Some(fs), Some(ft)) = (
                str_key(item, "foreign_schema"),
                str_key(item, "foreign_table"),
            ) else {
                continue;
            };
            let Some(&foreign) = index.get(&(fs.to_string(), ft.to_string())) else {
                continue;
            };
            let local_cols = strings("local_columns");
            let unique = {
                let t = p.table;
                let mut sorted = local_cols.clone();
                sorted.sort();
                let same = |cols: &[String]| {
                    let mut c = cols.to_vec();
                    c.sort();
                    c == sorted
                };
                same(
                    &out.tables[local]
                        .pk
                        .iter()
                        .map(|&i| out.tables[local].columns[i].sql.clone())
                        .collect::<Vec<_>>(),
                ) || t.unique_indexes.iter().any(|u| same(&u.columns))
            };
            fks.push(Fk {
                local,
                foreign,
                local_cols,
                foreign_cols: strings("foreign_columns"),
                local_name: str_key(item, "local_name").map(str::to_string),
                foreign_name: str_key(item, "foreign_name").map(str::to_string),
                unique,
                not_null: false,
            });
        }
    }
    fks
}

/// Adds `fk` as a many-to-one (or one-to-one) field on its holder and the reverse on the
/// referenced table, when both sides' columns are reflected.
fn link(fk: &Fk, pending: &[Pending<'_>], out: &mut Reflected) {
    let cols_ok = |t: usize, cols: &[String]| {
        !cols.is_empty()
            && cols
                .iter()
                .all(|c| out.tables[t].columns.iter().any(|x| &x.sql == c))
    };
    if fk.local_cols.len() != fk.foreign_cols.len()
        || !cols_ok(fk.local, &fk.local_cols)
        || !cols_ok(fk.foreign, &fk.foreign_cols)
    {
        return;
    }
    let pairs: Vec<(String, String)> = fk
        .local_cols
        .iter()
        .cloned()
        .zip(fk.foreign_cols.iter().cloned())
        .collect();
    // many-to-one on the FK holder
    let foreign_type = out.tables[fk.foreign].type_name.clone();
    let local_inflect = pending[fk.local].inflect;
    let m2o_name = fk
        .foreign_name
        .clone()
        .unwrap_or_else(|| singular_name(&fk.local_cols, &foreign_type, local_inflect));
    let foreign_rls = pending[fk.foreign].table.rls_enabled;
    push_relation(
        &mut out.tables[fk.local],
        RelInfo {
            field: m2o_name,
            target: fk.foreign,
            pairs: pairs.clone(),
            to_many: false,
            nullable: !fk.not_null || foreign_rls,
        },
    );
    // the reverse on the referenced table
    let local_type = out.tables[fk.local].type_name.clone();
    let foreign_inflect = pending[fk.foreign].inflect;
    let reverse_name = fk.local_name.clone().unwrap_or_else(|| {
        if fk.unique {
            singular_name(&fk.foreign_cols, &local_type, foreign_inflect)
        } else {
            format!("{}Collection", naming::lower_first(&local_type))
        }
    });
    push_relation(
        &mut out.tables[fk.foreign],
        RelInfo {
            field: reverse_name,
            target: fk.local,
            pairs: pairs.iter().map(|(a, b)| (b.clone(), a.clone())).collect(),
            to_many: !fk.unique,
            nullable: true,
        },
    );
}

/// Pass 5: functions as root fields (stable/immutable → Query, volatile → Mutation) and
/// computed fields (one argument of a reflected table's row type).
fn functions(
    cache: &SchemaCache,
    role: &str,
    opts: &HashMap<String, SchemaOpts>,
    enums: &HashMap<u32, EnumDef>,
    index: &HashMap<(String, String), usize>,
    out: &mut Reflected,
) -> Result<FunctionFields, DirectiveError> {
    let mut computed: Vec<Vec<usize>> = vec![Vec::new(); out.tables.len()];
    let mut roots: Vec<(usize, bool)> = Vec::new();
    for f in cache.functions() {
        let Some(o) = opts.get(&f.schema) else {
            continue;
        };
        if !cache.can(role, Privilege::Execute, Object::Function(f.oid))
            || cache.function_overloads(&f.schema, &f.name).len() != 1
            || f.variadic
            || f.has_out_args
            // as pg_graphql: no functions of the Supabase system schemas, none taking or
            // returning an enum or an array of one
            || FUNCTION_SYSTEM_SCHEMAS.contains(&f.schema.as_str())
            || enum_or_enum_array(cache, f.return_type.oid)
            || f.input_args().any(|a| enum_or_enum_array(cache, a.type_oid))
        {
            continue;
        }
        let d = directive(f.comment.as_deref(), &format!("function {}", f.name))?;
        let field = match str_key(&d, "name") {
            Some(n) => n.to_string(),
            None => naming::lower_first(&naming::field_name(
                f.name.trim_start_matches('_'),
                None,
                o.inflect,
            )),
        };
        if !naming::is_valid_name(&field) {
            continue;
        }
        let ret = match f.return_shape() {
            ReturnShape::Scalar if !f.returns_set => scalar_of_oid(cache, f.return_type.oid, enums)
                .map(|(s, l)| FuncReturn::Scalar(s, l)),
            ReturnShape::Relation(qn) => {
                index.get(&(qn.schema.clone(), qn.name.clone())).map(|&t| {
                    if f.is_single_row() {
                        FuncReturn::Row(t)
                    } else {
                        FuncReturn::Rows(t)
                    }
                })
            }
            _ => None,
        };
        let Some(ret) = ret else { continue };
        let inputs: Vec<&pgbase_catalog::FunctionArg> = f.input_args().collect();
        let row_of = |oid: u32| {
            cache
                .type_by_oid(oid)
                .and_then(|t| t.relation.as_ref())
                .map(|r| (r.schema.clone(), r.name.clone()))
        };
        if let [only] = inputs[..]
            && let Some(rel) = row_of(only.type_oid)
        {
            if let Some(&ti) = index.get(&rel) {
                computed[ti].push(out.functions.len());
                out.functions.push(FuncInfo {
                    schema: f.schema.clone(),
                    name: f.name.clone(),
                    field,
                    description: str_key(&d, "description").map(str::to_string),
                    args: Vec::new(),
                    ret,
                });
            }
            continue;
        }
        let mut args = Vec::new();
        for a in &inputs {
            let Some(name) = a.name.as_deref().filter(|n| !n.is_empty()) else {
                break;
            };
            let Some((scalar, list)) = scalar_of_oid(cache, a.type_oid, enums) else {
                break;
            };
            let arg_field = naming::lower_first(&naming::field_name(
                name.trim_start_matches('_'),
                None,
                o.inflect,
            ));
            args.push(FuncArg {
                sql: name.to_string(),
                field: arg_field,
                scalar,
                list,
                required: !a.has_default,
            });
        }
        if args.len() != inputs.len() || args.iter().any(|a| !naming::is_valid_name(&a.field)) {
            continue;
        }
        const CONNECTION_ARGS: [&str; 7] = [
            "first", "last", "before", "after", "offset", "filter", "orderBy",
        ];
        if matches!(ret, FuncReturn::Rows(_))
            && args
                .iter()
                .any(|a| CONNECTION_ARGS.contains(&a.field.as_str()))
        {
            continue;
        }
        roots.push((out.functions.len(), f.volatility == Volatility::Volatile));
        out.functions.push(FuncInfo {
            schema: f.schema.clone(),
            name: f.name.clone(),
            field,
            description: str_key(&d, "description").map(str::to_string),
            args,
            ret,
        });
    }
    Ok(FunctionFields { computed, roots })
}

/// Each enum and its filter input type.
fn add_enum_types(enums: &HashMap<u32, EnumDef>, out: &mut Reflected) {
    for e in enums.values() {
        let mut ty = TypeDef::new(&e.name, Kind::Enum, Role::Plain);
        ty.description = e.description.clone();
        ty.enum_values = e.values.clone();
        out.insert(ty);
        let mut f = TypeDef::new(
            &format!("{}Filter", e.name),
            Kind::InputObject,
            Role::ScalarFilter,
        );
        f.description = Some(format!(
            "Boolean expression comparing fields on type \"{}\"",
            e.name
        ));
        f.input_fields = vec![
            InputValue::new("eq", TypeRef::named(&e.name)),
            InputValue::new("in", TypeRef::required(&e.name).list()),
            InputValue::new("is", TypeRef::named("FilterIs")),
            InputValue::new("neq", TypeRef::named(&e.name)),
        ];
        out.insert(f);
    }
}

impl Roots {
    /// `Query` with its `node` field, an empty `Mutation`, and the `Node` interface.
    fn new(out: &mut Reflected) -> Self {
        let mut query = TypeDef::new("Query", Kind::Object, Role::Query);
        query.description = Some("The root type for querying data".into());
        let mut node_field = Field::new("node", TypeRef::named("Node"), Resolve::Node);
        node_field.description = Some("Retrieve a record by its `ID`".into());
        node_field.args = vec![InputValue {
            description: Some("The record's `ID`".into()),
            ..InputValue::new("nodeId", TypeRef::required("ID"))
        }];
        query.fields.push(node_field);
        let mut mutation = TypeDef::new("Mutation", Kind::Object, Role::Mutation);
        mutation.description = Some("The root type for creating and mutating data".into());
        let node_iface = out
            .types
            .remove("Node")
            .unwrap_or_else(|| TypeDef::new("Node", Kind::Interface, Role::Plain));

        Roots {
            query,
            mutation,
            node_iface,
        }
    }

    /// Adds the function root fields a table field does not shadow, and inserts the roots
    /// (`Mutation` only when it has a field).
    fn finish(self, functions: &[(usize, bool)], out: &mut Reflected) {
        let Roots {
            mut query,
            mut mutation,
            node_iface,
        } = self;
        for &(fi, is_mutation) in functions {
            let root = if is_mutation {
                &mut mutation
            } else {
                &mut query
            };
            if root.field(&out.functions[fi].field).is_none() {
                root.fields.push(func_field(out, fi));
            }
        }
        out.insert(node_iface);
        query.fields.sort_by(|a, b| a.name.cmp(&b.name));
        out.insert(query);
        if !mutation.fields.is_empty() {
            mutation.fields.sort_by(|a, b| a.name.cmp(&b.name));
            out.has_mutation = true;
            out.insert(mutation);
        }
    }
}

/// The types one table yields: its node, edge, connection (with aggregates), filter and
/// orderBy types, its query fields and its mutations.
fn add_table_types(
    out: &mut Reflected,
    ti: usize,
    p: &Pending<'_>,
    computed: &[usize],
    roots: &mut Roots,
) {
    let t = out.tables[ti].clone();
    roots.node_iface.possible_types.push(t.type_name.clone());
    node_type(out, ti, &t, computed);
    connection_types(out, ti, &t);
    filter_type(out, ti, &t);
    order_by_type(out, ti, &t);
    query_fields(ti, &t, &mut roots.query);
    mutation_fields(out, ti, &t, p, &mut roots.mutation);
}

/// The node type: `nodeId`, columns, relationships, computed fields.
fn node_type(out: &mut Reflected, ti: usize, t: &TableInfo, computed: &[usize]) {
    let n = t.type_name.as_str();
    let mut node = TypeDef::new(n, Kind::Object, Role::Node(ti));
    node.description = t.description.clone();
    node.interfaces = vec!["Node".into()];
    let mut id = Field::new("nodeId", TypeRef::required("ID"), Resolve::NodeId);
    id.description = Some("Globally Unique Record Identifier".into());
    node.fields.push(id);
    for (ci, c) in t.columns.iter().enumerate() {
        let mut f = Field::new(&c.field, c.output_type(), Resolve::Column(ci));
        f.description = c.description.clone();
        node.fields.push(f);
    }
    for (ri, r) in t.relations.iter().enumerate() {
        let target = &out.tables[r.target];
        let f = if r.to_many {
            Field {
                args: connection_args(&target.type_name),
                ..Field::new(
                    &r.field,
                    TypeRef::named(&target.connection_type()),
                    Resolve::Relation(ri),
                )
            }
        } else {
            let ty = TypeRef::named(&target.type_name);
            Field::new(
                &r.field,
                if r.nullable { ty } else { ty.non_null() },
                Resolve::Relation(ri),
            )
        };
        node.fields.push(f);
    }
    // a computed field of a column's name replaces the column (pg_graphql: last wins)
    for &fi in computed {
        let mut f = func_field(out, fi);
        f.resolve = Resolve::Computed(fi);
        node.fields.push(f);
    }
    out.insert(node);
}

/// The edge and connection types, with `totalCount` and the aggregate types when enabled.
fn connection_types(out: &mut Reflected, ti: usize, t: &TableInfo) {
    let n = t.type_name.as_str();
    let mut edge = TypeDef::new(&format!("{n}Edge"), Kind::Object, Role::Edge(ti));
    edge.fields = vec![
        Field::new("cursor", TypeRef::required("String"), Resolve::Cursor),
        Field::new("node", TypeRef::required(n), Resolve::EdgeNode),
    ];
    out.insert(edge);
    let mut conn = TypeDef::new(&t.connection_type(), Kind::Object, Role::Connection(ti));
    conn.fields = vec![
        Field::new(
            "edges",
            TypeRef::required(&format!("{n}Edge")).list().non_null(),
            Resolve::Edges,
        ),
        Field::new("pageInfo", TypeRef::required("PageInfo"), Resolve::PageInfo),
    ];
    if t.total_count {
        let mut tc = Field::new("totalCount", TypeRef::required("Int"), Resolve::TotalCount);
        tc.description = Some("The total number of records matching the `filter` criteria".into());
        conn.fields.push(tc);
    }
    if t.aggregate {
        let mut agg = TypeDef::new(&format!("{n}Aggregate"), Kind::Object, Role::Aggregate(ti));
        let mut count = Field::new("count", TypeRef::required("Int"), Resolve::AggregateCount);
        count.description = Some("The number of records matching the query".into());
        agg.fields.push(count);
        for op in AggOp::ALL {
            let fields: Vec<Field> = t
                .columns
                .iter()
                .enumerate()
                .filter(|(_, c)| !c.list)
                .filter_map(|(ci, c)| {
                    op.result(&c.scalar).map(|r| {
                        Field::new(&c.field, TypeRef::named(r.type_name()), Resolve::Column(ci))
                    })
                })
                .collect();
            if fields.is_empty() {
                continue;
            }
            let name = format!("{n}{}AggregateResult", op.title());
            let mut group = TypeDef::new(&name, Kind::Object, Role::AggregateGroup(ti, op));
            group.fields = fields;
            out.insert(group);
            agg.fields.push(Field::new(
                &op.title().to_lowercase(),
                TypeRef::named(&name),
                Resolve::AggregateGroup(op),
            ));
        }
        out.insert(agg);
        let mut f = Field::new(
            "aggregate",
            TypeRef::named(&format!("{n}Aggregate")),
            Resolve::Aggregate,
        );
        f.description =
            Some("Aggregate functions calculated on the collection of `{n}`".replace("{n}", n));
        conn.fields.push(f);
    }
    out.insert(conn);
}

/// The filter input: columns, `nodeId`, related tables, `and`/`or`/`not`.
fn filter_type(out: &mut Reflected, ti: usize, t: &TableInfo) {
    let n = t.type_name.as_str();
    let mut filter = TypeDef::new(&format!("{n}Filter"), Kind::InputObject, Role::Filter(ti));
    filter.description = Some(format!(
        "Boolean expression comparing fields on type \"{n}\""
    ));
    let mut used: HashSet<String> = HashSet::new();
    for c in t.columns.iter().filter(|c| c.filterable()) {
        let fname = if c.list {
            if matches!(c.scalar, Scalar::Enum(_) | Scalar::Opaque) {
                continue;
            }
            format!("{}ListFilter", c.scalar.type_name())
        } else {
            format!("{}Filter", c.scalar.type_name())
        };
        // a later column of the same name replaces an earlier one (in `insert`)
        used.insert(c.field.clone());
        filter
            .input_fields
            .push(InputValue::new(&c.field, TypeRef::named(&fname)));
    }
    // after the columns, as pg_graphql lists it (a column named `nodeId` keeps the name)
    if used.insert("nodeId".into()) {
        filter
            .input_fields
            .push(InputValue::new("nodeId", TypeRef::named("IDFilter")));
    }
    // related tables (beyond pg_graphql, its #88)
    for r in &t.relations {
        if used.insert(r.field.clone()) {
            let mut iv = InputValue::new(
                &r.field,
                TypeRef::named(&format!("{}Filter", out.tables[r.target].type_name)),
            );
            iv.description = Some(if r.to_many {
                "Matches when at least one related record matches".into()
            } else {
                "Matches when the related record matches".into()
            });
            filter.input_fields.push(iv);
        }
    }
    let fname = format!("{n}Filter");
    for (k, ty) in [
        ("and", TypeRef::required(&fname).list()),
        ("or", TypeRef::required(&fname).list()),
        ("not", TypeRef::named(&fname)),
    ] {
        if used.insert(k.to_string()) {
            let mut iv = InputValue::new(k, ty);
            iv.description = Some(match k {
                    "and" => "Returns true only if all its inner filters are true, otherwise returns false".into(),
                    "or" => "Returns true if at least one of its inner filters is true, otherwise returns false".into(),
                    _ => "Negates a filter".into(),
                });
            filter.input_fields.push(iv);
        }
    }
    out.insert(filter);
}

/// The orderBy input: sortable columns and to-one relationships.
fn order_by_type(out: &mut Reflected, ti: usize, t: &TableInfo) {
    let n = t.type_name.as_str();
    let mut order = TypeDef::new(&format!("{n}OrderBy"), Kind::InputObject, Role::OrderBy(ti));
    for c in t.columns.iter().filter(|c| c.filterable() && !c.list) {
        order.input_fields.push(InputValue::new(
            &c.field,
            TypeRef::named("OrderByDirection"),
        ));
    }
    for r in t.relations.iter().filter(|r| !r.to_many) {
        if order.input_field(&r.field).is_none() {
            order.input_fields.push(InputValue::new(
                &r.field,
                TypeRef::named(&format!("{}OrderBy", out.tables[r.target].type_name)),
            ));
        }
    }
    out.insert(order);
}

/// `<table>Collection` and, for primary keys of simple types, `<table>ByPk`.
fn query_fields(ti: usize, t: &TableInfo, query: &mut TypeDef) {
    let n = t.type_name.as_str();
    let lower = naming::lower_first(n);
    let mut coll = Field::new(
        &format!("{lower}Collection"),
        TypeRef::required(&t.connection_type()),
        Resolve::Collection(ti),
    );
    coll.description = Some(format!("A pagable collection of type `{n}`"));
    coll.args = connection_args(n);
    query.fields.push(coll);
    let pk_ok = t.pk.iter().all(|&i| {
        let c = &t.columns[i];
        !c.list
            && matches!(
                c.scalar,
                Scalar::Int | Scalar::BigInt | Scalar::String | Scalar::Uuid
            )
    });
    if pk_ok {
        let mut by_pk = Field::new(
            &format!("{lower}ByPk"),
            TypeRef::named(n),
            Resolve::ByPk(ti),
        );
        by_pk.description = Some(format!(
            "Retrieve a record of type `{n}` by its primary key"
        ));
        by_pk.args =
            t.pk.iter()
                .map(|&i| {
                    InputValue::new(
                        &t.columns[i].field,
                        TypeRef::required(t.columns[i].scalar.type_name()),
                    )
                })
                .collect();
        query.fields.push(by_pk);
    }
}

/// Insert (with the upsert extension), update and delete mutations the role may run.
fn mutation_fields(
    out: &mut Reflected,
    ti: usize,
    t: &TableInfo,
    p: &Pending<'_>,
    mutation: &mut TypeDef,
) {
    let n = t.type_name.as_str();
    let response = |kind: &str| -> TypeDef {
        let mut r = TypeDef::new(
            &format!("{n}{kind}Response"),
            Kind::Object,
            Role::Response(ti),
        );
        let mut ac = Field::new(
            "affectedCount",
            TypeRef::required("Int"),
            Resolve::AffectedCount,
        );
        ac.description = Some("Count of the records impacted by the mutation".into());
        let mut rec = Field::new(
            "records",
            TypeRef::required(n).list().non_null(),
            Resolve::Records,
        );
        rec.description = Some("Array of records impacted by the mutation".into());
        r.fields = vec![ac, rec];
        r
    };
    if p.insert {
        let mut input = TypeDef::new(
            &format!("{n}InsertInput"),
            Kind::InputObject,
            Role::InsertInput(ti),
        );
        for c in t.columns.iter().filter(|c| c.insertable) {
            input
                .input_fields
                .push(InputValue::new(&c.field, input_scalar(c)));
        }
        out.insert(input);
        out.insert(response("Insert"));
        let mut f = Field::new(
            &format!("insertInto{n}Collection"),
            TypeRef::named(&format!("{n}InsertResponse")),
            Resolve::Insert(ti),
        );
        f.description = Some(format!("Adds one or more `{n}` records to the collection"));
        f.args = vec![InputValue::new(
            "objects",
            TypeRef::required(&format!("{n}InsertInput"))
                .list()
                .non_null(),
        )];
        if out.upsert && p.update && !t.unique_keys.is_empty() {
            // upsert (beyond pg_graphql, its issue #190)
            let mut constraint =
                TypeDef::new(&format!("{n}OnConflictConstraint"), Kind::Enum, Role::Plain);
            constraint.description =
                Some(format!("Unique keys of `{n}` an insert can conflict on"));
            constraint.enum_values = t
                .unique_keys
                .iter()
                .map(|(name, _)| EnumValue {
                    name: name.clone(),
                    description: None,
                    value: name.clone(),
                })
                .collect();
            let mut fields = TypeDef::new(&format!("{n}UpdateField"), Kind::Enum, Role::Plain);
            fields.description = Some(format!("Updatable fields of `{n}`"));
            fields.enum_values = t
                .columns
                .iter()
                .filter(|c| c.updatable)
                .map(|c| EnumValue {
                    name: c.field.clone(),
                    description: None,
                    value: c.sql.clone(),
                })
                .collect();
            let mut on_conflict =
                TypeDef::new(&format!("{n}OnConflict"), Kind::InputObject, Role::Plain);
            on_conflict.description = Some("What to do when an inserted record conflicts with an existing one: update `updateFields` from the new record (nothing when empty) where `filter` matches the existing one".into());
            on_conflict.input_fields = vec![
                InputValue::new("constraint", TypeRef::required(&constraint.name)),
                InputValue::new(
                    "updateFields",
                    TypeRef::required(&fields.name).list().non_null(),
                ),
                InputValue::new("filter", TypeRef::named(&format!("{n}Filter"))),
            ];
            f.args.push(InputValue::new(
                "onConflict",
                TypeRef::named(&on_conflict.name),
            ));
            out.insert(constraint);
            out.insert(fields);
            out.insert(on_conflict);
        }
        mutation.fields.push(f);
    }
    if p.update {
        let mut input = TypeDef::new(
            &format!("{n}UpdateInput"),
            Kind::InputObject,
            Role::UpdateInput(ti),
        );
        for c in t.columns.iter().filter(|c| c.updatable) {
            input
                .input_fields
                .push(InputValue::new(&c.field, input_scalar(c)));
        }
        out.insert(input);
        out.insert(response("Update"));
        let mut f = Field::new(
            &format!("update{n}Collection"),
            TypeRef::required(&format!("{n}UpdateResponse")),
            Resolve::Update(ti),
        );
        f.description = Some(format!(
            "Updates zero or more records in the `{n}` collection"
        ));
        f.args = vec![
            InputValue::new("set", TypeRef::required(&format!("{n}UpdateInput"))),
            InputValue::new("filter", TypeRef::named(&format!("{n}Filter"))),
            InputValue {
                default: Some("1".into()),
                ..InputValue::new("atMost", TypeRef::required("Int"))
            },
        ];
        mutation.fields.push(f);
    }
    if p.delete {
        out.insert(response("Delete"));
        let mut f = Field::new(
            &format!("deleteFrom{n}Collection"),
            TypeRef::required(&format!("{n}DeleteResponse")),
            Resolve::Delete(ti),
        );
        f.description = Some(format!(
            "Deletes zero or more records from the `{n}` collection"
        ));
        f.args = vec![
            InputValue::new("filter", TypeRef::named(&format!("{n}Filter"))),
            InputValue {
                default: Some("1".into()),
                ..InputValue::new("atMost", TypeRef::required("Int"))
            },
        ];
        mutation.fields.push(f);
    }
}

/// With introspection turned on by schema directives (pg_graphql's way), a schema that does
/// not opt in keeps its types out of introspection; with it on for the server, only a schema
/// that says `"introspection": false` does. Its types still resolve for queries.
fn hide_from_introspection(
    exposed: &Exposed,
    enums: &HashMap<u32, EnumDef>,
    introspection: bool,
    out: &mut Reflected,
) {
    let Exposed {
        opts,
        introspected,
        refused,
    } = exposed;
    let hidden: HashSet<&String> = opts
        .keys()
        .filter(|s| refused.contains(*s) || (!introspection && !introspected.contains(*s)))
        .collect();
    if out.introspection && !hidden.is_empty() {
        out.hidden_tables = out
            .tables
            .iter()
            .enumerate()
            .filter(|(_, t)| hidden.contains(&t.schema))
            .map(|(i, _)| i)
            .collect();
        out.hidden_functions = out
            .functions
            .iter()
            .enumerate()
            .filter(|(_, f)| hidden.contains(&f.schema))
            .map(|(i, _)| i)
            .collect();
        for e in enums.values().filter(|e| hidden.contains(&e.schema)) {
            out.hidden_types.insert(e.name.clone());
        }
        for &t in &out.hidden_tables {
            let n = &out.tables[t].type_name;
            for suffix in ["OnConflict", "OnConflictConstraint", "UpdateField"] {
                out.hidden_types.insert(format!("{n}{suffix}"));
            }
        }
    }
}

/// The field of a function (root field; computed fields change `resolve`).
fn func_field(out: &Reflected, fi: usize) -> Field {
    let func = &out.functions[fi];
    let (ty, mut args) = match &func.ret {
        FuncReturn::Scalar(s, list) => {
            let base = TypeRef::named(s.type_name());
            (if *list { base.list() } else { base }, Vec::new())
        }
        FuncReturn::Row(t) => (TypeRef::named(&out.tables[*t].type_name), Vec::new()),
        FuncReturn::Rows(t) => (
            TypeRef::named(&out.tables[*t].connection_type()),
            connection_args(&out.tables[*t].type_name),
        ),
    };
    let mut own: Vec<InputValue> = func
        .args
        .iter()
        .map(|a| {
            let base = TypeRef::named(a.scalar.type_name());
            let ty = if a.list { base.list() } else { base };
            InputValue::new(&a.field, if a.required { ty.non_null() } else { ty })
        })
        .collect();
    own.append(&mut args);
    Field {
        description: func.description.clone(),
        args: own,
        ..Field::new(&func.field, ty, Resolve::Function(fi))
    }
}

/// The scalar of a type (element scalar and `true` for arrays); `None` for composite and
/// pseudo types.
/// Schemas whose functions pg_graphql never exposes (Supabase's system schemas).
const FUNCTION_SYSTEM_SCHEMAS: [&str; 4] = ["graphql", "graphql_public", "auth", "extensions"];

/// Whether `oid` is an enum or an array of enums.
fn enum_or_enum_array(cache: &SchemaCache, oid: u32) -> bool {
    let Some(t) = cache.type_by_oid(oid) else {
        return false;
    };
    t.is_enum()
        || t.element_oid
            .and_then(|e| cache.type_by_oid(e))
            .is_some_and(|e| e.is_enum())
}

fn scalar_of_oid(
    cache: &SchemaCache,
    oid: u32,
    enums: &HashMap<u32, EnumDef>,
) -> Option<(Scalar, bool)> {
    let oid = cache
        .type_by_oid(oid)
        .and_then(|t| t.base_oid)
        .unwrap_or(oid);
    if let Some(t) = cache.type_by_oid(oid) {
        if t.is_array() {
            let (s, nested) = scalar_of_oid(cache, t.element_oid?, enums)?;
            return (!nested).then_some((s, true));
        }
        if t.kind == "c" || t.kind == "p" {
            return None;
        }
    }
    if let Some(e) = enums.get(&oid) {
        return Some((Scalar::Enum(e.name.clone()), false));
    }
    if matches!(oid, 2249 | 2278 | 2283 | 2776) {
        return None;
    }
    Some((base_scalar(cache, oid), false))
}

fn base_scalar(cache: &SchemaCache, oid: u32) -> Scalar {
    match oid {
        16 => Scalar::Boolean,
        20 => Scalar::BigInt,
        21 | 23 => Scalar::Int,
        700 | 701 => Scalar::Float,
        1700 => Scalar::BigFloat,
        18 | 25 | 1042 | 1043 => Scalar::String,
        2950 => Scalar::Uuid,
        1082 => Scalar::Date,
        1083 => Scalar::Time,
        1114 | 1184 => Scalar::Datetime,
        114 | 3802 => Scalar::Json,
        _ if cache.type_by_oid(oid).is_some_and(|t| t.name == "citext") => Scalar::String,
        _ => Scalar::Opaque,
    }
}

fn push_relation(t: &mut TableInfo, rel: RelInfo) {
    let taken = rel.field == "nodeId"
        || t.columns.iter().any(|c| c.field == rel.field)
        || t.relations.iter().any(|r| r.field == rel.field);
    if !taken && naming::is_valid_name(&rel.field) {
        t.relations.push(rel);
    }
}

/// pg_graphql's to-one relationship name: a single `x_id` (inflected) / `xId` column gives
/// `x`, anything else the target type with a lower-case first letter.
fn singular_name(cols: &[String], target_type: &str, inflect: bool) -> String {
    if let [col] = cols {
        let suffix = if inflect { "_id" } else { "Id" };
        if let Some(stripped) = col.strip_suffix(suffix) {
            return naming::lower_first(&naming::type_name(stripped, None, inflect));
        }
    }
    naming::lower_first(target_type)
}

fn input_scalar(c: &ColumnInfo) -> TypeRef {
    let base = TypeRef::named(c.scalar.type_name());
    if c.list { base.list() } else { base }
}

fn connection_args(type_name: &str) -> Vec<InputValue> {
    let described = |name: &str, ty: TypeRef, d: &str| InputValue {
        description: Some(d.to_string()),
        ..InputValue::new(name, ty)
    };
    vec![
        described(
            "first",
            TypeRef::named("Int"),
            "Query the first `n` records in the collection",
        ),
        described(
            "last",
            TypeRef::named("Int"),
            "Query the last `n` records in the collection",
        ),
        described(
            "before",
            TypeRef::named("Cursor"),
            "Query values in the collection before the provided cursor",
        ),
        described(
            "after",
            TypeRef::named("Cursor"),
            "Query values in the collection after the provided cursor",
        ),
        described(
            "offset",
            TypeRef::named("Int"),
            "Skip n values from the after cursor. Alternative to cursor pagination. Backward pagination not supported.",
        ),
        described(
            "filter",
            TypeRef::named(&format!("{type_name}Filter")),
            "Filters to apply to the results set when querying from the collection",
        ),
        described(
            "orderBy",
            TypeRef::required(&format!("{type_name}OrderBy")).list(),
            "Sort order to apply to the collection",
        ),
    ]
}

/// The scalar of a column (element scalar and `true` for arrays); `None` for composite columns.
fn column_scalar(
    cache: &SchemaCache,
    c: &pgbase_catalog::Column,
    enums: &HashMap<u32, EnumDef>,
) -> Option<(Scalar, bool)> {
    let resolve = |oid: u32| -> u32 {
        cache
            .type_by_oid(oid)
            .and_then(|t| t.base_oid)
            .unwrap_or(oid)
    };
    let (oid, list) = match c.element_type_oid {
        Some(e) => (resolve(e), true),
        None => (c.base_type_oid, false),
    };
    if let Some(t) = cache.type_by_oid(oid) {
        if t.kind == "c" {
            return None;
        }
        if t.is_array() {
            // nested arrays: opaque
            return Some((Scalar::Opaque, false));
        }
    }
    if let Some(e) = enums.get(&oid) {
        return Some((Scalar::Enum(e.name.clone()), list));
    }
    Some((base_scalar(cache, oid), list))
}

fn add_standard_types(out: &mut Reflected) {
    let scalar = |name: &str, d: Option<&str>| {
        let mut t = TypeDef::new(name, Kind::Scalar, Role::Plain);
        t.description = d.map(str::to_string);
        t
    };
    for (name, d) in [
        // pg_graphql's descriptions of its scalars
        ("Int", Some("A scalar integer up to 32 bits")),
        ("Float", Some("A scalar floating point value up to 32 bits")),
        ("String", Some("A string")),
        ("Boolean", Some("A value that is true or false")),
        (
            "ID",
            Some("A globally unique identifier for a given record"),
        ),
        (
            "BigInt",
            Some("An arbitrary size integer represented as a string"),
        ),
        (
            "BigFloat",
            Some("A high precision floating point value represented as a string"),
        ),
        (
            "Cursor",
            Some("An opaque string using for tracking a position in results during pagination"),
        ),
        ("Date", Some("A date without time information")),
        ("Datetime", Some("A date and time")),
        (
            "JSON",
            Some("A Javascript Object Notation value serialized as a string"),
        ),
        ("Opaque", Some("Any type not handled by the type system")),
        ("Time", Some("A time without date information")),
        ("UUID", Some("A universally unique identifier")),
    ] {
        out.insert(scalar(name, d));
    }
    let mut page_info = TypeDef::new("PageInfo", Kind::Object, Role::PageInfo);
    page_info.fields = vec![
        Field::new("endCursor", TypeRef::named("String"), Resolve::EndCursor),
        Field::new(
            "hasNextPage",
            TypeRef::required("Boolean"),
            Resolve::HasNextPage,
        ),
        Field::new(
            "hasPreviousPage",
            TypeRef::required("Boolean"),
            Resolve::HasPreviousPage,
        ),
        Field::new(
            "startCursor",
            TypeRef::named("String"),
            Resolve::StartCursor,
        ),
    ];
    out.insert(page_info);
    let mut node = TypeDef::new("Node", Kind::Interface, Role::Plain);
    let mut id = Field::new("nodeId", TypeRef::required("ID"), Resolve::NodeId);
    id.description = Some("Retrieves a record by `ID`".into());
    node.fields.push(id);
    out.insert(node);
    let enum_ty = |name: &str, values: &[(&str, Option<&str>)], d: &str| {
        let mut t = TypeDef::new(name, Kind::Enum, Role::Plain);
        t.description = Some(d.to_string());
        t.enum_values = values
            .iter()
            .map(|(v, description)| EnumValue {
                name: v.to_string(),
                description: description.map(str::to_string),
                value: v.to_string(),
            })
            .collect();
        t
    };
    out.insert(enum_ty(
        "FilterIs",
        &[("NULL", None), ("NOT_NULL", None)],
        "Boolean expression comparing whether a value is null or not",
    ));
    out.insert(enum_ty(
        "OrderByDirection",
        &[
            ("AscNullsFirst", Some("Ascending order, nulls first")),
            ("AscNullsLast", Some("Ascending order, nulls last")),
            ("DescNullsFirst", Some("Descending order, nulls first")),
            ("DescNullsLast", Some("Descending order, nulls last")),
        ],
        "Defines a per-field sorting order",
    ));
    let mut filters: BTreeMap<String, Vec<InputValue>> = BTreeMap::new();
    filters.insert(
        "IDFilter".into(),
        vec![InputValue::new("eq", TypeRef::named("ID"))],
    );
    for s in [
        "Int", "Float", "BigInt", "BigFloat", "Date", "Time", "Datetime", "String", "UUID",
        "Boolean", "Opaque",
    ] {
        let ops: &[&str] = match s {
            "Boolean" | "Opaque" => &["eq", "is"],
            "UUID" => &["eq", "in", "is", "neq"],
            "String" => &[
                "eq",
                "gt",
                "gte",
                "ilike",
                "in",
                "iregex",
                "is",
                "like",
                "lt",
                "lte",
                "neq",
                "regex",
                "startsWith",
            ],
            _ => &["eq", "gt", "gte", "in", "is", "lt", "lte", "neq"],
        };
        let fields = ops
            .iter()
            .map(|op| {
                let ty = match *op {
                    "in" => TypeRef::required(s).list(),
                    "is" => TypeRef::named("FilterIs"),
                    _ => TypeRef::named(s),
                };
                InputValue::new(op, ty)
            })
            .collect();
        filters.insert(format!("{s}Filter"), fields);
    }
    for s in SIMPLE_SCALARS.iter().filter(|s| **s != "ID") {
        let list = TypeRef::required(s).list();
        filters.insert(
            format!("{s}ListFilter"),
            vec![
                InputValue::new("containedBy", list.clone()),
                InputValue::new("contains", list.clone()),
                InputValue::new("eq", list.clone()),
                InputValue::new("is", TypeRef::named("FilterIs")),
                InputValue::new("overlaps", list),
            ],
        );
    }
    for (name, fields) in filters {
        let mut t = TypeDef::new(&name, Kind::InputObject, Role::ScalarFilter);
        let subject = name.trim_end_matches("Filter");
        t.description = Some(format!(
            "Boolean expression comparing fields on type \"{subject}\""
        ));
        t.input_fields = fields;
        out.insert(t);
    }
}
