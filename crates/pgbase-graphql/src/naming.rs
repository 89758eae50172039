//! pg_graphql naming: inflection (off by default, `inflect_names` on a schema), the
//! `@graphql({...})` comment directives, and GraphQL name validity.

use serde_json::Value;

/// Why a comment directive could not be used (pg_graphql's wording: the whole schema fails
/// to load).
#[derive(Debug, thiserror::Error)]
pub enum DirectiveError {
    /// The text inside `@graphql(...)` is not a JSON object.
    #[error(
        "Error while loading schema, check comment directives. {0} has an invalid @graphql directive"
    )]
    Invalid(String),
    /// A key holds a value of the wrong type (serde's words, as pg_graphql reports them).
    #[error("Error while loading schema, check comment directives. {0}")]
    Type(String),
}

/// The typed keys of a table/view directive, checked as pg_graphql deserializes them.
#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct TableKeys {
    description: Option<String>,
    primary_key_columns: Option<Vec<String>>,
    foreign_keys: Option<Vec<ForeignKeyKeys>>,
    max_rows: Option<u64>,
}

#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct ForeignKeyKeys {
    local_name: Option<String>,
    local_columns: Vec<String>,
    foreign_name: Option<String>,
    foreign_schema: String,
    foreign_table: String,
    foreign_columns: Vec<String>,
}

#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct SchemaKeys {
    max_rows: Option<u64>,
}

#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct ColumnKeys {
    description: Option<String>,
}

#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct EnumKeys {
    mappings: Option<std::collections::BTreeMap<String, String>>,
}

/// Which object a directive is on: decides the keys whose types are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum On {
    Schema,
    Table,
    Column,
    Enum,
    Other,
}

/// Checks the types of the keys pg_graphql reads typed from a directive of `on` (a negative
/// `max_rows`, `local_columns` that is not a list, ...).
pub fn check(d: &Value, on: On) -> Result<(), DirectiveError> {
    let typed = |key: &str| d.get(key).filter(|v| !v.is_null()).cloned();
    let mut picked = serde_json::Map::new();
    let keys: &[&str] = match on {
        On::Schema => &["max_rows"],
        On::Table => &[
            "description",
            "primary_key_columns",
            "foreign_keys",
            "max_rows",
        ],
        On::Column => &["description"],
        On::Enum => &["mappings"],
        On::Other => &[],
    };
    for key in keys {
        // pg_graphql reads `max_rows` as text cast to int, so only a number's sign matters
        if let Some(v) = typed(key).filter(|v| *key != "max_rows" || v.is_number()) {
            picked.insert((*key).to_string(), v);
        }
    }
    let value = Value::Object(picked);
    let result = match on {
        On::Schema => serde_json::from_value::<SchemaKeys>(value).map(drop),
        On::Table => serde_json::from_value::<TableKeys>(value).map(drop),
        On::Column => serde_json::from_value::<ColumnKeys>(value).map(drop),
        On::Enum => serde_json::from_value::<EnumKeys>(value).map(drop),
        On::Other => Ok(()),
    };
    result.map_err(|e| DirectiveError::Type(e.to_string()))
}

/// Whether `name` matches `^[_A-Za-z][_0-9A-Za-z]*$`.
pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c == '_' || c.is_ascii_alphabetic() => {}
        _ => return false,
    }
    chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// Upper-cases every character that follows a non-alphanumeric one (and the first), then
/// drops underscores: `account_holder` → `AccountHolder`, `account_BY_email` → `AccountBYEmail`.
pub fn pascal(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut prev_alnum = false;
    for c in name.chars() {
        if prev_alnum {
            out.push(c);
        } else {
            out.extend(c.to_uppercase());
        }
        prev_alnum = c.is_alphanumeric();
    }
    out.replace('_', "")
}

/// Lower-cases the first character.
pub fn lower_first(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A type name from a SQL name: the override, else the name (inflected when asked).
pub fn type_name(sql: &str, name_override: Option<&str>, inflect: bool) -> String {
    match name_override {
        Some(n) => n.to_string(),
        None if inflect => pascal(sql),
        None => sql.to_string(),
    }
}

/// A field name from a SQL name: the override, else the name (camelCase when inflecting).
pub fn field_name(sql: &str, name_override: Option<&str>, inflect: bool) -> String {
    match name_override {
        Some(n) => n.to_string(),
        None if inflect => lower_first(&pascal(sql)),
        None => sql.to_string(),
    }
}

/// The json inside `@graphql(...)` of a comment (an empty object when there is none).
pub fn directive(comment: Option<&str>, what: &str) -> Result<Value, DirectiveError> {
    let Some(comment) = comment else {
        return Ok(Value::Object(Default::default()));
    };
    let Some(start) = comment.find("@graphql(") else {
        return Ok(Value::Object(Default::default()));
    };
    // as pg_graphql's `@graphql\((.+)\)`: up to the last `)` of the comment, across lines
    let rest = &comment[start + "@graphql(".len()..];
    let Some(end) = rest.rfind(')').filter(|&end| end > 0) else {
        return Err(DirectiveError::Invalid(what.to_string()));
    };
    match serde_json::from_str::<Value>(&rest[..end]) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(DirectiveError::Invalid(what.to_string())),
    }
}

/// A count such as `max_rows`: a JSON number, or a string of digits (pg_graphql reads the
/// value as text cast to `int`).
pub fn as_count(v: &Value) -> Option<u64> {
    match v {
        Value::String(s) => s.trim().parse().ok(),
        _ => v.as_u64(),
    }
}

/// `directive[key]` as a string.
pub fn str_key<'a>(d: &'a Value, key: &str) -> Option<&'a str> {
    d.get(key).and_then(Value::as_str)
}

/// `directive[key]["enabled"]` (`totalCount`, `aggregate`).
pub fn enabled(d: &Value, key: &str) -> bool {
    d.get(key)
        .and_then(|v| v.get("enabled"))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inflection_matches_pg_graphql() {
        assert_eq!(pascal("account_holder"), "AccountHolder");
        assert_eq!(pascal("account_BY_email"), "AccountBYEmail");
        assert_eq!(pascal("blog"), "Blog");
        assert_eq!(field_name("created_at", None, true), "createdAt");
        assert_eq!(field_name("created_at", None, false), "created_at");
        assert_eq!(type_name("Blog", None, false), "Blog");
        assert_eq!(lower_first("Blog"), "blog");
    }

    #[test]
    fn directives_are_read_from_comments() {
        let d = directive(Some("hello\n@graphql({\"name\": \"X\"})"), "t").unwrap();
        assert_eq!(str_key(&d, "name"), Some("X"));
        assert!(directive(Some("@graphql({bad)"), "t").is_err());
        // a directive may span lines, and text may follow it
        let d = directive(
            Some("about\n  @graphql({\n    \"name\": \"X (y)\",\n    \"max_rows\": 5\n  })\n"),
            "t",
        )
        .unwrap();
        assert_eq!(str_key(&d, "name"), Some("X (y)"));
        assert_eq!(d["max_rows"], 5);
        let d = directive(Some("@graphql({\"totalCount\": {\"enabled\": true}})"), "t").unwrap();
        assert!(enabled(&d, "totalCount"));
        assert!(
            directive(None, "t")
                .unwrap()
                .as_object()
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn directive_types_are_checked_with_pg_graphqls_words() {
        let err = |d: Value, on| check(&d, on).unwrap_err().to_string();
        assert_eq!(
            err(serde_json::json!({"max_rows": -1}), On::Schema),
            "Error while loading schema, check comment directives. invalid value: integer `-1`, expected u64"
        );
        assert_eq!(
            err(
                serde_json::json!({"foreign_keys": [{"local_columns": "account_id",
                    "foreign_schema": "public", "foreign_table": "person",
                    "foreign_columns": ["id"]}]}),
                On::Table
            ),
            "Error while loading schema, check comment directives. invalid type: string \"account_id\", expected a sequence"
        );
        assert!(check(&serde_json::json!({"max_rows": 5, "name": 1}), On::Table).is_ok());
        assert!(check(&serde_json::json!({"max_rows": -1}), On::Other).is_ok());
    }

    #[test]
    fn names_are_validated() {
        assert!(is_valid_name("_a1"));
        assert!(!is_valid_name("1a"));
        assert!(!is_valid_name("a-b"));
        assert!(!is_valid_name(""));
    }
}
