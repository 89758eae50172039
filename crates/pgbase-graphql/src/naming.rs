//! pg_graphql naming: inflection (off by default, `inflect_names` on a schema), the
//! `@graphql({...})` comment directives, and GraphQL name validity.

use serde_json::Value;

/// Why a comment directive could not be used.
#[derive(Debug, thiserror::Error)]
pub enum DirectiveError {
    #[error(
        "Error while loading schema, check comment directives. {0} has an invalid @graphql directive"
    )]
    Invalid(String),
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
    let rest = &comment[start + "@graphql(".len()..];
    let line = rest.split('\n').next().unwrap_or(rest);
    let Some(end) = line.rfind(')') else {
        return Err(DirectiveError::Invalid(what.to_string()));
    };
    match serde_json::from_str::<Value>(&line[..end]) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(DirectiveError::Invalid(what.to_string())),
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
    fn names_are_validated() {
        assert!(is_valid_name("_a1"));
        assert!(!is_valid_name("1a"));
        assert!(!is_valid_name("a-b"));
        assert!(!is_valid_name(""));
    }
}
