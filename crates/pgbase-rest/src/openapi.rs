//! `GET /rest/v1/`: the description of the exposed schema, built from the schema cache.
//!
//! - By default, Swagger 2.0 shaped as PostgREST 12 serves it ([`swagger`]): `definitions` per
//!   table and view (PostgREST's type/format mapping, column comments, primary- and foreign-key
//!   notes, `required` for NOT NULL columns, defaults), shared `parameters` (`rowFilter.<table>.
//!   <column>`, `select`, `order`, `range`, `limit`, `offset`, `prefer*`, `body.<table>`),
//!   `paths` per relation and per function. As PostgREST's default `openapi-mode`
//!   (follow-privileges), only the relations the caller's role holds some privilege on and the
//!   functions it may execute are listed.
//! - With `?openapi=3` (any `3…` value) on the root: an OpenAPI 3.0 document ([`document`]), where
//!   each operation is listed only when the role holds the privilege for it.

use bytes::Bytes;
use http::StatusCode;
use pgbase_catalog::{Object, Privilege, SchemaCache};
use serde_json::{Map, Value, json};

use crate::handler::RestResponse;

fn json_type(data_type: &str) -> Value {
    let t = data_type.to_ascii_lowercase();
    if t.ends_with("[]") {
        return json!({ "type": "array", "items": json_type(t.trim_end_matches("[]")) });
    }
    match t.as_str() {
        "smallint" | "integer" | "bigint" => json!({ "type": "integer", "format": t }),
        "real" | "double precision" | "numeric" => json!({ "type": "number", "format": t }),
        "boolean" => json!({ "type": "boolean" }),
        "json" | "jsonb" => json!({}),
        _ => json!({ "type": "string", "format": t }),
    }
}

/// Builds the OpenAPI 3.0 document for `schema` as `role` sees it (`?openapi=3`).
pub fn document(cache: &SchemaCache, schema: &str, role: &str) -> Value {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    let can = |privilege, table: &str| cache.can_any_column(role, privilege, schema, table);
    for table in cache.tables_in(schema) {
        let select = can(Privilege::Select, &table.name);
        let insert = table.insertable && can(Privilege::Insert, &table.name);
        let update = table.updatable && can(Privilege::Update, &table.name);
        let delete = table.deletable
            && cache.can(role, Privilege::Delete, Object::table(schema, &table.name));
        if !(select || insert || update || delete) {
            continue;
        }
        let visible: Vec<&str> = cache
            .permitted_columns(role, Privilege::Select, schema, &table.name)
            .into_iter()
            .chain(cache.permitted_columns(role, Privilege::Insert, schema, &table.name))
            .chain(cache.permitted_columns(role, Privilege::Update, schema, &table.name))
            .collect();
        let mut properties = Map::new();
        for column in table
            .columns
            .iter()
            .filter(|c| visible.contains(&c.name.as_str()))
        {
            let mut property = json_type(&column.data_type);
            if let Value::Object(map) = &mut property {
                if let Some(comment) = &column.comment {
                    map.insert("description".into(), json!(comment));
                }
                if !column.enum_values.is_empty() {
                    map.insert("enum".into(), json!(column.enum_values));
                }
            }
            properties.insert(column.name.clone(), property);
        }
        let required: Vec<&str> = table
            .columns
            .iter()
            .filter(|c| !c.nullable && c.default.is_none() && c.is_writable())
            .map(|c| c.name.as_str())
            .collect();
        schemas.insert(
            table.name.clone(),
            json!({ "type": "object", "properties": properties, "required": required,
                    "description": table.comment }),
        );
        let reference = json!({ "$ref": format!("#/components/schemas/{}", table.name) });
        let rows = json!({ "description": "OK", "content": { "application/json": {
            "schema": { "type": "array", "items": reference } } } });
        let mut operations = Map::new();
        if select {
            operations.insert("get".into(), json!({ "tags": [table.name], "responses": { "200": rows.clone(), "206": { "description": "Partial Content" } } }));
        }
        if insert {
            operations.insert(
                "post".into(),
                json!({ "tags": [table.name],
                "requestBody": { "content": { "application/json": { "schema": reference } } },
                "responses": { "201": { "description": "Created" } } }),
            );
        }
        if update {
            operations.insert(
                "patch".into(),
                json!({ "tags": [table.name],
                "requestBody": { "content": { "application/json": { "schema": reference } } },
                "responses": { "204": { "description": "No Content" }, "200": rows.clone() } }),
            );
        }
        if delete {
            operations.insert(
                "delete".into(),
                json!({ "tags": [table.name],
                "responses": { "204": { "description": "No Content" }, "200": rows } }),
            );
        }
        paths.insert(format!("/{}", table.name), Value::Object(operations));
    }
    for function in cache.functions().filter(|f| {
        f.schema == schema && cache.can(role, Privilege::Execute, Object::Function(f.oid))
    }) {
        let mut properties = Map::new();
        for arg in function.input_args() {
            if let Some(name) = &arg.name {
                properties.insert(name.clone(), json_type(&arg.type_name));
            }
        }
        let body = json!({ "content": { "application/json": { "schema": {
            "type": "object", "properties": properties } } } });
        let mut operations = Map::new();
        operations.insert(
            "post".into(),
            json!({ "tags": ["(rpc) ".to_string() + &function.name],
            "description": function.comment, "requestBody": body,
            "responses": { "200": { "description": "OK" } } }),
        );
        if function.volatility != pgbase_catalog::Volatility::Volatile {
            operations.insert(
                "get".into(),
                json!({ "tags": ["(rpc) ".to_string() + &function.name],
                "responses": { "200": { "description": "OK" } } }),
            );
        }
        paths.insert(format!("/rpc/{}", function.name), Value::Object(operations));
    }
    json!({
        "openapi": "3.0.3",
        "info": { "title": "pgbase REST API", "version": env!("CARGO_PKG_VERSION"),
                  "description": cache.schema(schema).and_then(|s| s.comment.clone()) },
        "paths": paths,
        "components": { "schemas": schemas },
    })
}

/// Which document the root serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Flavor {
    /// Swagger 2.0, as PostgREST 12 (the default).
    #[default]
    Swagger2,
    /// OpenAPI 3.0 (`?openapi=3`).
    OpenApi3,
}

/// Takes the `openapi=3…` parameter off the root's query string (it is no PostgREST parameter,
/// so the rest of the query is parsed as before): the query to parse and the flavor asked for.
pub fn take_flavor<'q>(path: &str, query: Option<&'q str>) -> (Option<String>, Flavor) {
    let Some(query) = query else {
        return (None, Flavor::Swagger2);
    };
    if !path.trim_start_matches('/').is_empty() {
        return (Some(query.to_string()), Flavor::Swagger2);
    }
    let mut flavor = Flavor::Swagger2;
    let rest: Vec<&'q str> = query
        .split('&')
        .filter(|pair| match pair.split_once('=') {
            Some(("openapi", version)) if version.starts_with('3') => {
                flavor = Flavor::OpenApi3;
                false
            }
            _ => true,
        })
        .collect();
    (Some(rest.join("&")), flavor)
}

/// Where the API is reached, for Swagger's `host`, `basePath` and `schemes`: from the request's
/// `X-Forwarded-Host`/`Host` and `X-Forwarded-Proto`, under `/rest/v1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub scheme: String,
    pub host: Option<String>,
    pub base_path: String,
}

impl Location {
    /// From the request headers (lower-cased names).
    pub fn from_headers(headers: &[(String, String)]) -> Location {
        let get = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.split(',').next().unwrap_or("").trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let scheme = match get("x-forwarded-proto").as_deref() {
            Some("https") => "https",
            _ => "http",
        };
        Location {
            scheme: scheme.to_string(),
            host: get("x-forwarded-host").or_else(|| get("host")),
            base_path: "/rest/v1".to_string(),
        }
    }
}

impl Default for Location {
    fn default() -> Self {
        Location {
            scheme: "http".into(),
            host: None,
            base_path: "/rest/v1".into(),
        }
    }
}

/// PostgREST 12's Swagger type for a column or argument type (`None`: any JSON).
fn swagger_type(data_type: &str) -> Option<&'static str> {
    match data_type {
        "character varying" | "character" | "text" => Some("string"),
        "boolean" => Some("boolean"),
        "smallint" | "integer" | "bigint" => Some("integer"),
        "numeric" | "real" | "double precision" => Some("number"),
        "json" | "jsonb" => None,
        t if t.ends_with("[]") => Some("array"),
        _ => Some("string"),
    }
}

/// `items` of an array type: the element's Swagger type (`{}` for json elements).
fn array_items(data_type: &str) -> Option<Value> {
    if swagger_type(data_type) != Some("array") {
        return None;
    }
    let element = &data_type[..data_type.len() - 2];
    Some(match swagger_type(element) {
        Some(t) => json!({ "type": t }),
        None => json!({}),
    })
}

/// A column default as a JSON value where PostgREST 12 shows one: string-typed columns lose the
/// `::type` cast and the quotes; other defaults appear only when they are JSON literals.
fn default_value(data_type: &str, default: &str) -> Option<Value> {
    let text = if swagger_type(data_type) == Some("string") {
        let bare = match default.strip_suffix(&format!("::{data_type}")) {
            Some(value) => value.trim_matches('\''),
            None => default,
        };
        format!("\"{bare}\"")
    } else {
        default.to_string()
    };
    serde_json::from_str(&text).ok()
}

/// First line of a comment (the summary), and the rest without leading newlines.
fn split_comment(comment: Option<&str>) -> (Option<String>, Option<String>) {
    match comment {
        None => (None, None),
        Some(c) => match c.split_once('\n') {
            Some((first, rest)) => (
                Some(first.to_string()),
                Some(rest.trim_start_matches('\n').to_string()),
            ),
            None => (Some(c.to_string()), Some(String::new())),
        },
    }
}

/// `Prefer` header parameter with the listed values.
fn prefer_param(values: &[&str]) -> Value {
    json!({ "name": "Prefer", "description": "Preference", "required": false, "in": "header",
            "type": "string", "enum": values })
}

fn query_param(name: &str, description: &str) -> Value {
    json!({ "name": name, "description": description, "required": false, "in": "query",
            "type": "string" })
}

fn reference(kind: &str, name: &str) -> Value {
    json!({ "$ref": format!("#/{kind}/{name}") })
}

/// Whether `role` reaches the relation at all (PostgREST's `accessibleTables`): owner, any table
/// privilege, or a column privilege.
fn relation_visible(cache: &SchemaCache, role: &str, table: &pgbase_catalog::Table) -> bool {
    if cache.role_inherits(role, &table.owner) {
        return true;
    }
    let object = Object::table(&table.schema, &table.name);
    [
        Privilege::Select,
        Privilege::Insert,
        Privilege::Update,
        Privilege::Delete,
        Privilege::Truncate,
        Privilege::References,
        Privilege::Trigger,
    ]
    .into_iter()
    .any(|p| cache.can(role, p, object))
        || [
            Privilege::Select,
            Privilege::Insert,
            Privilege::Update,
            Privilege::References,
        ]
        .into_iter()
        .any(|p| cache.can_any_column(role, p, &table.schema, &table.name))
}

/// The foreign-key note of a column: the first single-column to-one relationship held by it
/// (towards tables before views), as PostgREST 12 writes it.
fn fk_note(cache: &SchemaCache, table: &pgbase_catalog::Table, column: &str) -> Option<String> {
    use pgbase_catalog::{Cardinality, Link};
    let mut rels: Vec<_> = cache
        .relationships_from(&table.schema, &table.name)
        .iter()
        .filter(|r| r.source.schema == table.schema)
        .collect();
    rels.sort_by_key(|r| r.target_is_view);
    rels.into_iter().find_map(|r| match (&r.cardinality, &r.link) {
        (
            Cardinality::ManyToOne | Cardinality::OneToOne,
            Link::ForeignKey {
                columns,
                parent: false,
                ..
            },
        ) if columns.len() == 1 && columns[0].0 == column => {
            let (target, target_column) = (&r.target.name, &columns[0].1);
            Some(format!(
                "This is a Foreign Key to `{target}.{target_column}`.<fk table='{target}' column='{target_column}'/>"
            ))
        }
        _ => None,
    })
}

fn column_property(
    cache: &SchemaCache,
    table: &pgbase_catalog::Table,
    column: &pgbase_catalog::Column,
) -> Value {
    let mut notes = vec!["Note:".to_string()];
    if table.primary_key.contains(&column.name) {
        notes.push("This is a Primary Key.<pk/>".into());
    }
    if let Some(fk) = fk_note(cache, table, &column.name) {
        notes.push(fk);
    }
    let description = if notes.len() > 1 {
        let prefix = column
            .comment
            .as_ref()
            .map(|c| format!("{c}\n\n"))
            .unwrap_or_default();
        Some(format!("{prefix}{}", notes.join("\n")))
    } else {
        column.comment.clone()
    };
    let mut property = Map::new();
    if let Some(default) = column
        .default
        .as_deref()
        .and_then(|d| default_value(&column.data_type, d))
    {
        property.insert("default".into(), default);
    }
    if let Some(description) = description {
        property.insert("description".into(), json!(description));
    }
    if !column.enum_values.is_empty() {
        property.insert("enum".into(), json!(column.enum_values));
    }
    property.insert("format".into(), json!(column.data_type));
    if let Some(max) = column.max_length {
        property.insert("maxLength".into(), json!(max));
    }
    if let Some(t) = swagger_type(&column.data_type) {
        property.insert("type".into(), json!(t));
    }
    if let Some(items) = array_items(&column.data_type) {
        property.insert("items".into(), items);
    }
    Value::Object(property)
}

fn table_definition(cache: &SchemaCache, table: &pgbase_catalog::Table) -> Value {
    let mut definition = Map::new();
    if let Some(comment) = &table.comment {
        definition.insert("description".into(), json!(comment));
    }
    let properties: Map<String, Value> = table
        .columns
        .iter()
        .map(|c| (c.name.clone(), column_property(cache, table, c)))
        .collect();
    if !properties.is_empty() {
        definition.insert("properties".into(), Value::Object(properties));
    }
    let required: Vec<&str> = table
        .columns
        .iter()
        .filter(|c| !c.nullable)
        .map(|c| c.name.as_str())
        .collect();
    if !required.is_empty() {
        definition.insert("required".into(), json!(required));
    }
    definition.insert("type".into(), json!("object"));
    Value::Object(definition)
}

/// The operation fields shared by a path's methods: tags, summary and description.
fn operation_base(tag: String, comment: Option<&str>) -> Map<String, Value> {
    let (summary, description) = split_comment(comment);
    let mut op = Map::new();
    op.insert("tags".into(), json!([tag]));
    if let Some(summary) = summary {
        op.insert("summary".into(), json!(summary));
    }
    if let Some(description) = description.filter(|d| !d.is_empty()) {
        op.insert("description".into(), json!(description));
    }
    op
}

fn with(mut op: Map<String, Value>, fields: Value) -> Value {
    if let Value::Object(fields) = fields {
        op.extend(fields);
    }
    Value::Object(op)
}

fn table_path(table: &pgbase_catalog::Table) -> Value {
    let tn = &table.name;
    let base = operation_base(tn.clone(), table.comment.as_deref());
    let filters: Vec<Value> = table
        .columns
        .iter()
        .map(|c| reference("parameters", &format!("rowFilter.{tn}.{}", c.name)))
        .collect();
    let refs = |names: &[&str]| -> Vec<Value> {
        names.iter().map(|n| reference("parameters", n)).collect()
    };
    let body = format!("body.{tn}");
    let mut get_params = filters.clone();
    get_params.extend(refs(&[
        "select",
        "order",
        "range",
        "rangeUnit",
        "offset",
        "limit",
        "preferCount",
    ]));
    let mut item = Map::new();
    item.insert(
        "get".into(),
        with(
            base.clone(),
            json!({ "parameters": get_params, "responses": {
                "200": { "description": "OK", "schema": { "type": "array",
                         "items": reference("definitions", tn) } },
                "206": { "description": "Partial Content" } } }),
        ),
    );
    if table.insertable || table.updatable || table.deletable {
        item.insert(
            "post".into(),
            with(
                base.clone(),
                json!({ "parameters": refs(&[&body, "select", "preferPost"]),
                        "responses": { "201": { "description": "Created" } } }),
            ),
        );
        let mut patch_params = filters.clone();
        patch_params.extend(refs(&[&body, "preferReturn"]));
        item.insert(
            "patch".into(),
            with(
                base.clone(),
                json!({ "parameters": patch_params,
                        "responses": { "204": { "description": "No Content" } } }),
            ),
        );
        let mut delete_params = filters;
        delete_params.extend(refs(&["preferReturn"]));
        item.insert(
            "delete".into(),
            with(
                base,
                json!({ "parameters": delete_params,
                        "responses": { "204": { "description": "No Content" } } }),
            ),
        );
    }
    Value::Object(item)
}

/// The argument's schema in the POST body.
fn arg_property(type_name: &str) -> Value {
    let mut property = Map::new();
    if let Some(t) = swagger_type(type_name) {
        property.insert("type".into(), json!(t));
    }
    if let Some(items) = array_items(type_name) {
        property.insert("items".into(), items);
    }
    property.insert("format".into(), json!(type_name));
    Value::Object(property)
}

/// The argument as a GET query parameter (arrays travel as `{…}` strings; a VARIADIC argument
/// repeats the parameter).
fn arg_query_param(arg: &pgbase_catalog::FunctionArg, name: &str) -> Value {
    let t = &arg.type_name;
    let required = !arg.has_default;
    if arg.mode == pgbase_catalog::ArgMode::Variadic {
        let element = t.strip_suffix("[]").unwrap_or(t);
        let mut items = Map::new();
        if let Some(et) = swagger_type(element) {
            items.insert("type".into(), json!(et));
        }
        items.insert("format".into(), json!(element));
        return json!({ "name": name, "required": required, "in": "query",
                       "type": swagger_type(t).unwrap_or("string"),
                       "collectionFormat": "multi", "items": items });
    }
    let param_type = match swagger_type(t) {
        Some("array") | None => "string",
        Some(other) => other,
    };
    json!({ "name": name, "required": required, "in": "query", "format": t, "type": param_type })
}

fn function_path(function: &pgbase_catalog::Function) -> Value {
    let base = operation_base(
        format!("(rpc) {}", function.name),
        function.comment.as_deref(),
    );
    let base = match with(
        base,
        json!({
            "produces": ["application/json",
                         "application/vnd.pgrst.object+json;nulls=stripped",
                         "application/vnd.pgrst.object+json"],
            "responses": { "200": { "description": "OK" } } }),
    ) {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    let args: Vec<(&str, &pgbase_catalog::FunctionArg)> = function
        .input_args()
        .filter_map(|a| a.name.as_deref().map(|n| (n, a)))
        .collect();
    let get_params: Vec<Value> = args.iter().map(|(n, a)| arg_query_param(a, n)).collect();
    let mut schema = Map::new();
    if let Some(comment) = &function.comment {
        schema.insert("description".into(), json!(comment));
    }
    let properties: Map<String, Value> = args
        .iter()
        .map(|(n, a)| (n.to_string(), arg_property(&a.type_name)))
        .collect();
    if !properties.is_empty() {
        schema.insert("properties".into(), Value::Object(properties));
    }
    let required: Vec<&str> = args
        .iter()
        .filter(|(_, a)| !a.has_default)
        .map(|(n, _)| *n)
        .collect();
    if !required.is_empty() {
        schema.insert("required".into(), json!(required));
    }
    schema.insert("type".into(), json!("object"));
    json!({
        "get": with(base.clone(), json!({ "parameters": get_params })),
        "post": with(base, json!({ "parameters": [
            { "name": "args", "required": true, "in": "body", "schema": schema },
            reference("parameters", "preferParams") ] })),
    })
}

/// The Swagger 2.0 document for `schema` as `role` sees it, shaped as PostgREST 12's.
pub fn swagger(cache: &SchemaCache, schema: &str, role: &str, location: &Location) -> Value {
    let tables: Vec<&pgbase_catalog::Table> = cache
        .tables_in(schema)
        .filter(|t| relation_visible(cache, role, t))
        .collect();
    let functions: Vec<&pgbase_catalog::Function> = cache
        .functions()
        .filter(|f| {
            f.schema == schema && cache.can(role, Privilege::Execute, Object::Function(f.oid))
        })
        .collect();

    let mut parameters = Map::new();
    for (key, value) in [
        ("preferParams", prefer_param(&["params=single-object"])),
        (
            "preferReturn",
            prefer_param(&["return=representation", "return=minimal", "return=none"]),
        ),
        ("preferCount", prefer_param(&["count=none"])),
        (
            "preferPost",
            prefer_param(&[
                "return=representation",
                "return=minimal",
                "return=none",
                "resolution=ignore-duplicates",
                "resolution=merge-duplicates",
            ]),
        ),
        ("select", query_param("select", "Filtering Columns")),
        ("on_conflict", query_param("on_conflict", "On Conflict")),
        ("order", query_param("order", "Ordering")),
        (
            "range",
            json!({ "name": "Range", "description": "Limiting and Pagination",
                    "required": false, "in": "header", "type": "string" }),
        ),
        (
            "rangeUnit",
            json!({ "name": "Range-Unit", "description": "Limiting and Pagination",
                    "required": false, "in": "header", "type": "string", "default": "items" }),
        ),
        ("offset", query_param("offset", "Limiting and Pagination")),
        ("limit", query_param("limit", "Limiting and Pagination")),
    ] {
        parameters.insert(key.into(), value);
    }
    for table in &tables {
        let tn = &table.name;
        parameters.insert(
            format!("body.{tn}"),
            json!({ "name": tn, "description": tn, "required": false, "in": "body",
                    "schema": reference("definitions", tn) }),
        );
        for column in &table.columns {
            let mut param = Map::new();
            param.insert("name".into(), json!(column.name));
            if let Some(comment) = &column.comment {
                param.insert("description".into(), json!(comment));
            }
            param.insert("required".into(), json!(false));
            param.insert("in".into(), json!("query"));
            param.insert("type".into(), json!("string"));
            parameters.insert(
                format!("rowFilter.{tn}.{}", column.name),
                Value::Object(param),
            );
        }
    }

    let mut paths = Map::new();
    paths.insert(
        "/".into(),
        json!({ "get": { "tags": ["Introspection"],
                         "summary": "OpenAPI description (this document)",
                         "produces": ["application/openapi+json", "application/json"],
                         "responses": { "200": { "description": "OK" } } } }),
    );
    for table in &tables {
        paths.insert(format!("/{}", table.name), table_path(table));
    }
    for function in &functions {
        paths.insert(format!("/rpc/{}", function.name), function_path(function));
    }

    let definitions: Map<String, Value> = tables
        .iter()
        .map(|t| (t.name.clone(), table_definition(cache, t)))
        .collect();

    let comment = cache.schema(schema).and_then(|s| s.comment.clone());
    let (title, description) = split_comment(comment.as_deref());
    let mimes = [
        "application/json",
        "application/vnd.pgrst.object+json;nulls=stripped",
        "application/vnd.pgrst.object+json",
        "text/csv",
    ];
    let mut doc = Map::new();
    doc.insert("swagger".into(), json!("2.0"));
    doc.insert(
        "info".into(),
        json!({
            "description": description.unwrap_or_else(|| "This is a dynamic API generated by PostgREST".into()),
            "title": title.unwrap_or_else(|| "PostgREST API".into()),
            "version": format!("{POSTGREST_VERSION} (pgbase {})", env!("CARGO_PKG_VERSION")),
        }),
    );
    if let Some(host) = &location.host {
        doc.insert("host".into(), json!(host));
    }
    doc.insert("basePath".into(), json!(location.base_path));
    doc.insert("schemes".into(), json!([location.scheme]));
    doc.insert("consumes".into(), json!(mimes));
    doc.insert("produces".into(), json!(mimes));
    doc.insert("paths".into(), Value::Object(paths));
    doc.insert("definitions".into(), Value::Object(definitions));
    doc.insert("parameters".into(), Value::Object(parameters));
    doc.insert(
        "externalDocs".into(),
        json!({ "description": "PostgREST Documentation",
                "url": "https://postgrest.org/en/v12/references/api.html" }),
    );
    Value::Object(doc)
}

/// The PostgREST release whose API pgbase serves (Swagger `info.version`).
const POSTGREST_VERSION: &str = "12.2.12";

/// The `GET /` response for `role`: Swagger 2.0, or OpenAPI 3.0 when asked for.
pub fn response(
    cache: &SchemaCache,
    schema: &str,
    role: &str,
    headers_only: bool,
    flavor: Flavor,
    location: &Location,
) -> RestResponse {
    let body = if headers_only {
        Bytes::new()
    } else {
        let doc = match flavor {
            Flavor::Swagger2 => swagger(cache, schema, role, location),
            Flavor::OpenApi3 => document(cache, schema, role),
        };
        Bytes::from(doc.to_string())
    };
    RestResponse {
        status: StatusCode::OK,
        headers: vec![(
            "content-type".into(),
            "application/openapi+json; charset=utf-8".into(),
        )],
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_map_as_postgrest_12() {
        assert_eq!(swagger_type("integer"), Some("integer"));
        assert_eq!(swagger_type("text"), Some("string"));
        assert_eq!(swagger_type("double precision"), Some("number"));
        assert_eq!(swagger_type("jsonb"), None);
        assert_eq!(swagger_type("uuid"), Some("string"));
        assert_eq!(swagger_type("text[]"), Some("array"));
        assert_eq!(array_items("integer[]"), Some(json!({"type": "integer"})));
        assert_eq!(array_items("json[]"), Some(json!({})));
        assert_eq!(array_items("text"), None);
    }

    #[test]
    fn defaults_show_as_json_values() {
        assert_eq!(
            default_value("text", "'default'::text"),
            Some(json!("default"))
        );
        assert_eq!(
            default_value("date", "'1900-01-01'::date"),
            Some(json!("1900-01-01"))
        );
        assert_eq!(default_value("boolean", "false"), Some(json!(false)));
        assert_eq!(default_value("numeric", "42.2"), Some(json!(42.2)));
        assert_eq!(default_value("integer", "nextval('s'::regclass)"), None);
    }

    #[test]
    fn comments_split_into_summary_and_description() {
        assert_eq!(
            split_comment(Some("title\n\nmore\nlines")),
            (Some("title".into()), Some("more\nlines".into()))
        );
        assert_eq!(
            split_comment(Some("one line")),
            (Some("one line".into()), Some(String::new()))
        );
    }

    #[test]
    fn the_openapi_parameter_is_taken_off_the_root_query() {
        assert_eq!(take_flavor("/", None), (None, Flavor::Swagger2));
        assert_eq!(
            take_flavor("/", Some("openapi=3")),
            (Some(String::new()), Flavor::OpenApi3)
        );
        assert_eq!(
            take_flavor("/", Some("a=b&openapi=3.0")),
            (Some("a=b".into()), Flavor::OpenApi3)
        );
        assert_eq!(
            take_flavor("/t", Some("openapi=3")),
            (Some("openapi=3".into()), Flavor::Swagger2)
        );
    }
}
