//! Input values: GraphQL literals and variables become JSON, checked against the
//! reflected input types (scalars, enums, lists with list coercion, input objects without
//! extra keys, non-null). An absent value is `None`, an explicit null `Some(Null)`.

use graphql_parser::query::Value as Ast;
use serde_json::{Map, Value};

use crate::error::{GraphqlError, with_suggestion};
use crate::types::{Kind, Reflected, TypeRef};

type Result<T> = std::result::Result<T, GraphqlError>;

/// A literal with variables substituted; `None` when it is an unset variable.
pub fn literal<'a>(v: &Ast<'a, &'a str>, vars: &Map<String, Value>) -> Option<Value> {
    Some(match v {
        Ast::Variable(name) => return vars.get(*name).cloned(),
        Ast::Int(n) => n.as_i64().map(Value::from).unwrap_or(Value::Null),
        Ast::Float(f) => serde_json::Number::from_f64(*f)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        Ast::String(s) => Value::String(s.clone()),
        Ast::Boolean(b) => Value::Bool(*b),
        Ast::Null => Value::Null,
        Ast::Enum(e) => Value::String((*e).to_string()),
        Ast::List(items) => Value::Array(
            items
                .iter()
                .map(|i| literal(i, vars).unwrap_or(Value::Null))
                .collect(),
        ),
        Ast::Object(fields) => Value::Object(
            fields
                .iter()
                .filter_map(|(k, v)| literal(v, vars).map(|v| ((*k).to_string(), v)))
                .collect(),
        ),
    })
}

/// Checks `value` against `ty`; returns the coerced value.
pub fn coerce(schema: &Reflected, value: &Value, ty: &TypeRef) -> Result<Value> {
    match ty {
        TypeRef::NonNull(inner) => {
            if value.is_null() {
                return Err(GraphqlError::new("Invalid input for NonNull type"));
            }
            coerce(schema, value, inner)
        }
        _ if value.is_null() => Ok(Value::Null),
        TypeRef::List(inner) => match value {
            Value::Array(items) => items
                .iter()
                .map(|i| coerce(schema, i, inner))
                .collect::<Result<Vec<_>>>()
                .map(Value::Array),
            other => Ok(Value::Array(vec![coerce(schema, other, inner)?])),
        },
        TypeRef::Named(name) => coerce_named(schema, value, name),
    }
}

fn invalid(name: &str) -> GraphqlError {
    GraphqlError::new(format!("Invalid input for {name} type"))
}

fn coerce_named(schema: &Reflected, value: &Value, name: &str) -> Result<Value> {
    let Some(ty) = schema.ty(name) else {
        return Err(GraphqlError::new(format!("Unknown type {name}")));
    };
    match ty.kind {
        Kind::Scalar => match name {
            "Int" => match value.as_i64() {
                Some(i) if i32::try_from(i).is_ok() => Ok(value.clone()),
                _ => Err(invalid(name)),
            },
            "Float" => match value {
                Value::Number(_) => Ok(value.clone()),
                _ => Err(invalid(name)),
            },
            "Boolean" => match value {
                Value::Bool(_) => Ok(value.clone()),
                _ => Err(invalid(name)),
            },
            "BigInt" => match value {
                Value::Number(n) if n.is_i64() => Ok(Value::String(n.to_string())),
                Value::String(s) if s.trim().parse::<i64>().is_ok() => Ok(value.clone()),
                _ => Err(invalid(name)),
            },
            // a number would lose digits on its way through JSON: pg_graphql wants a string
            "BigFloat" => match value {
                Value::String(_) => Ok(value.clone()),
                _ => Err(GraphqlError::new(
                    "Invalid input for BigFloat type. String required",
                )),
            },
            "ID" => match value {
                Value::String(_) => Ok(value.clone()),
                Value::Number(n) => Ok(Value::String(n.to_string())),
                _ => Err(invalid(name)),
            },
            "JSON" => match value {
                Value::String(s) => match serde_json::from_str::<Value>(s) {
                    Ok(_) => Ok(value.clone()),
                    Err(_) => Err(invalid(name)),
                },
                other => Ok(Value::String(other.to_string())),
            },
            "Opaque" => Ok(value.clone()),
            _ => match value {
                Value::String(_) => Ok(value.clone()),
                _ => Err(invalid(name)),
            },
        },
        Kind::Enum => match value.as_str().and_then(|s| ty.enum_value(s)) {
            Some(_) => Ok(value.clone()),
            None => Err(invalid(name)),
        },
        Kind::InputObject => {
            let Value::Object(fields) = value else {
                return Err(invalid(name));
            };
            let extra: Vec<&String> = fields
                .keys()
                .filter(|k| ty.input_field(k).is_none())
                .collect();
            if let Some(first) = extra.first() {
                let message = format!("Input for type {name} contains extra keys {extra:?}");
                return Err(GraphqlError::new(with_suggestion(
                    message,
                    first,
                    ty.input_fields.iter().map(|f| f.name.as_str()),
                )));
            }
            let mut out = Map::new();
            for (k, v) in fields {
                if let Some(f) = ty.input_field(k) {
                    out.insert(k.clone(), coerce(schema, v, &f.ty)?);
                }
            }
            for f in &ty.input_fields {
                if f.ty.is_non_null() && !out.contains_key(&f.name) {
                    return Err(GraphqlError::new("Invalid input for NonNull type"));
                }
            }
            Ok(Value::Object(out))
        }
        Kind::Object | Kind::Interface => Err(GraphqlError::new(format!(
            "Invalid Type used as input argument {name}"
        ))),
    }
}

/// A JSON value as the text Postgres parses for a scalar (`None` for null).
pub fn sql_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Array(items) => Some(array_literal(items)),
        Value::Object(_) => Some(value.to_string()),
    }
}

/// A Postgres array literal: `{"a","b",NULL}`.
pub fn array_literal(items: &[Value]) -> String {
    let mut out = String::from("{");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match sql_text(item) {
            None => out.push_str("NULL"),
            Some(text) => {
                out.push('"');
                for c in text.chars() {
                    if c == '"' || c == '\\' {
                        out.push('\\');
                    }
                    out.push(c);
                }
                out.push('"');
            }
        }
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn array_literals_quote_everything() {
        assert_eq!(
            array_literal(&[json!("a\"b"), json!(1), json!(null), json!("c\\")]),
            r#"{"a\"b","1",NULL,"c\\"}"#
        );
    }
}
