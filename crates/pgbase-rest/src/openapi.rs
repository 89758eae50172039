//! `GET /rest/v1/`: an OpenAPI 3.0 description of the exposed schema — the tables and views
//! (with the columns) and the functions the caller's role may use, each operation listed only
//! when the role holds the privilege for it — built from the schema cache.

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

/// Builds the document for `schema` as `role` sees it.
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

/// The `GET /` response for `role`.
pub fn response(cache: &SchemaCache, schema: &str, role: &str, headers_only: bool) -> RestResponse {
    let body = if headers_only {
        Bytes::new()
    } else {
        Bytes::from(document(cache, schema, role).to_string())
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
