//! Request bodies (`ApiRequest.hs: getPayload`): JSON, CSV, `application/x-www-form-urlencoded`
//! and, for RPC, raw `text/plain` / `text/xml` / `application/octet-stream`.
//!
//! The body is validated and its key set computed; the bytes handed to the database are JSON
//! (or the raw body for the single-unnamed-parameter RPC case). Errors are `PGRST102`.

use std::collections::BTreeSet;

use bytes::Bytes;
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::media::MediaType;
use crate::query::decode_query;
use crate::request::{Action, InvokeMethod, Mutation};

/// A parsed request body.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// A JSON object or array of objects (CSV and form bodies are converted to this), with
    /// the keys shared by every object.
    Json {
        /// JSON text to bind as the `json` parameter.
        raw: Bytes,
        /// The object keys (identical across array elements).
        keys: BTreeSet<String>,
    },
    /// JSON passed through unparsed because `?columns=` names the keys.
    RawJson {
        /// The body as sent.
        raw: Bytes,
    },
    /// A form body on RPC: ordered pairs (repeated keys are variadic arguments).
    UrlEncoded {
        /// Decoded `(key, value)` pairs.
        pairs: Vec<(String, String)>,
        /// The distinct keys.
        keys: BTreeSet<String>,
    },
    /// A raw body for an RPC with a single unnamed `text`/`xml`/`bytea` parameter.
    Raw {
        /// The body as sent.
        raw: Bytes,
        /// Its media type.
        media_type: MediaType,
    },
}

impl Payload {
    /// The payload's keys (empty for raw bodies).
    pub fn keys(&self) -> BTreeSet<String> {
        match self {
            Payload::Json { keys, .. } | Payload::UrlEncoded { keys, .. } => keys.clone(),
            Payload::RawJson { .. } | Payload::Raw { .. } => BTreeSet::new(),
        }
    }
}

/// Body plus the columns it (or `?columns=`) provides.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedPayload {
    /// The payload; `None` when the action takes no body (reads, DELETE).
    pub payload: Option<Payload>,
    /// Payload keys, or the `?columns=` list for raw JSON.
    pub columns: BTreeSet<String>,
}

/// Parses the body for `action`. `columns` is `?columns=` (used for POST/PATCH and RPC POST).
pub fn parse_payload(
    body: Bytes,
    content_type: &MediaType,
    action: &Action,
    columns: Option<&[String]>,
) -> Result<ParsedPayload, ApiError> {
    let is_rpc = matches!(action, Action::Routine { .. });
    let should_parse = match action {
        Action::RelationMut { mutation, .. } => *mutation != Mutation::Delete,
        Action::Routine { invoke, .. } => *invoke == InvokeMethod::Post,
        _ => false,
    };
    let columns = match action {
        Action::RelationMut {
            mutation: Mutation::Create | Mutation::Update,
            ..
        }
        | Action::Routine {
            invoke: InvokeMethod::Post,
            ..
        } => columns,
        _ => None,
    };
    if !should_parse {
        return Ok(ParsedPayload {
            payload: None,
            columns: BTreeSet::new(),
        });
    }
    let payload = match content_type {
        MediaType::Json => {
            if columns.is_some() {
                Payload::RawJson { raw: body }
            } else {
                if body.is_empty() && is_rpc {
                    Payload::Json {
                        raw: Bytes::from_static(b"{}"),
                        keys: BTreeSet::new(),
                    }
                } else {
                    json_body_payload(body)?
                }
            }
        }
        MediaType::Csv => {
            let value = csv_to_json(&body)?;
            json_payload(value, "All lines must have same number of fields")?
        }
        MediaType::UrlEncoded => {
            let text = String::from_utf8_lossy(&body);
            let pairs: Vec<(String, String)> = decode_query(&text)
                .into_iter()
                .map(|(k, v)| (k, v.unwrap_or_default()))
                .collect();
            let keys = pairs.iter().map(|(k, _)| k.clone()).collect();
            if is_rpc {
                Payload::UrlEncoded { pairs, keys }
            } else {
                let mut obj = Map::new();
                for (k, v) in pairs {
                    obj.insert(k, Value::String(v));
                }
                Payload::Json {
                    raw: Bytes::from(Value::Object(obj).to_string()),
                    keys,
                }
            }
        }
        MediaType::TextPlain | MediaType::TextXml | MediaType::OctetStream if is_rpc => {
            Payload::Raw {
                raw: body,
                media_type: content_type.clone(),
            }
        }
        other => {
            return Err(ApiError::invalid_body(format!(
                "Content-Type not acceptable: {}",
                other.mime()
            )));
        }
    };
    let cols = match (&payload, columns) {
        (Payload::RawJson { .. }, Some(c)) => c.iter().cloned().collect(),
        (p, _) => p.keys(),
    };
    Ok(ParsedPayload {
        payload: Some(payload),
        columns: cols,
    })
}

/// A JSON body, checked and its keys read in one pass that builds no document: the body is
/// then bound as sent, without a re-serialised copy (which would also round numbers beyond
/// `f64`). The same outcomes as [`json_payload`].
fn json_body_payload(body: Bytes) -> Result<Payload, ApiError> {
    let shape: Shape = serde_json::from_slice(&body)
        .map_err(|_| ApiError::invalid_body("Empty or invalid json"))?;
    match shape {
        Shape::Object(keys) => Ok(Payload::Json { raw: body, keys }),
        Shape::Array(Some(keys)) => Ok(Payload::Json { raw: body, keys }),
        Shape::Array(None) | Shape::Scalar => Ok(Payload::Json {
            raw: Bytes::from_static(b"[]"),
            keys: BTreeSet::new(),
        }),
        Shape::Mismatch => Err(ApiError::invalid_body("All object keys must match")),
    }
}

/// What a JSON body holds, as far as the payload cares.
enum Shape {
    /// An object and its keys.
    Object(BTreeSet<String>),
    /// An array of objects with identical keys (`None`: empty).
    Array(Option<BTreeSet<String>>),
    /// An array with a non-object element or objects of different keys.
    Mismatch,
    Scalar,
}

/// One array element: an object's keys, or `None` for anything else.
struct ElementKeys(Option<BTreeSet<String>>);

struct ShapeVisitor;
struct ElementVisitor;

fn map_keys<'de, A: serde::de::MapAccess<'de>>(mut map: A) -> Result<BTreeSet<String>, A::Error> {
    let mut keys = BTreeSet::new();
    while let Some(key) = map.next_key::<String>()? {
        map.next_value::<serde::de::IgnoredAny>()?;
        keys.insert(key);
    }
    Ok(keys)
}

/// Scalars and nested arrays of an element that is not an object.
macro_rules! not_an_object {
    ($out:expr) => {
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok($out)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok($out)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok($out)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok($out)
        }
        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok($out)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok($out)
        }
    };
}

impl<'de> serde::de::Visitor<'de> for ElementVisitor {
    type Value = ElementKeys;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    not_an_object!(ElementKeys(None));

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<ElementKeys, A::Error> {
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(ElementKeys(None))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<ElementKeys, A::Error> {
        map_keys(map).map(|keys| ElementKeys(Some(keys)))
    }
}

impl<'de> serde::Deserialize<'de> for ElementKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ElementVisitor)
    }
}

impl<'de> serde::de::Visitor<'de> for ShapeVisitor {
    type Value = Shape;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    not_an_object!(Shape::Scalar);

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Shape, A::Error> {
        let first = match seq.next_element::<ElementKeys>()? {
            None => return Ok(Shape::Array(None)),
            Some(ElementKeys(first)) => first,
        };
        let mut uniform = first.is_some();
        while let Some(ElementKeys(keys)) = seq.next_element::<ElementKeys>()? {
            // keep reading: the whole body must still be valid JSON
            uniform = uniform && keys.is_some() && keys == first;
        }
        Ok(if uniform {
            Shape::Array(first)
        } else {
            Shape::Mismatch
        })
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Shape, A::Error> {
        map_keys(map).map(Shape::Object)
    }
}

impl<'de> serde::Deserialize<'de> for Shape {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ShapeVisitor)
    }
}

/// An object → its keys; an array of objects with identical keys → those keys; an empty array
/// or a scalar → empty array (as upstream); anything else → `mismatch` error.
fn json_payload(value: Value, mismatch: &str) -> Result<Payload, ApiError> {
    let keys_of = |m: &Map<String, Value>| m.keys().cloned().collect::<BTreeSet<String>>();
    match &value {
        Value::Object(o) => Ok(Payload::Json {
            keys: keys_of(o),
            raw: Bytes::from(value.to_string()),
        }),
        Value::Array(items) => match items.first() {
            None => Ok(Payload::Json {
                raw: Bytes::from_static(b"[]"),
                keys: BTreeSet::new(),
            }),
            Some(Value::Object(first)) => {
                let keys = keys_of(first);
                let uniform = items.iter().all(|i| match i {
                    Value::Object(o) => o.len() == keys.len() && o.keys().all(|k| keys.contains(k)),
                    _ => false,
                });
                if uniform {
                    Ok(Payload::Json {
                        raw: Bytes::from(value.to_string()),
                        keys,
                    })
                } else {
                    Err(ApiError::invalid_body(mismatch))
                }
            }
            Some(_) => Err(ApiError::invalid_body(mismatch)),
        },
        _ => Ok(Payload::Json {
            raw: Bytes::from_static(b"[]"),
            keys: BTreeSet::new(),
        }),
    }
}

/// RFC 4180 CSV with a header row → JSON array of objects; `NULL` becomes null, everything
/// else a string.
fn csv_to_json(body: &[u8]) -> Result<Value, ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::invalid_body("parse error: invalid UTF-8 in CSV body"))?;
    let rows = parse_csv(text)?;
    let mut rows = rows.into_iter();
    let header = rows.next().unwrap_or_default();
    let mut out = Vec::new();
    for (n, row) in rows.enumerate() {
        if row.len() != header.len() {
            return Err(ApiError::invalid_body(format!(
                "parse error: row {} has {} fields but the header has {}",
                n + 2,
                row.len(),
                header.len()
            )));
        }
        let mut obj = Map::new();
        for (k, v) in header.iter().zip(row) {
            let v = if v == "NULL" {
                Value::Null
            } else {
                Value::String(v)
            };
            obj.insert(k.clone(), v);
        }
        out.push(Value::Object(obj));
    }
    Ok(Value::Array(out))
}

fn parse_csv(text: &str) -> Result<Vec<Vec<String>>, ApiError> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut at_field_start = true;
    let mut line_has_content = false;
    while let Some(c) = chars.next() {
        match c {
            '"' if at_field_start => {
                line_has_content = true;
                at_field_start = false;
                loop {
                    match chars.next() {
                        Some('"') if chars.peek() == Some(&'"') => {
                            chars.next();
                            field.push('"');
                        }
                        Some('"') => break,
                        Some(ch) => field.push(ch),
                        None => {
                            return Err(ApiError::invalid_body(
                                "parse error: unterminated quoted field in CSV body",
                            ));
                        }
                    }
                }
            }
            ',' => {
                line_has_content = true;
                row.push(std::mem::take(&mut field));
                at_field_start = true;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                if line_has_content {
                    row.push(std::mem::take(&mut field));
                    rows.push(std::mem::take(&mut row));
                }
                line_has_content = false;
                at_field_start = true;
            }
            ch => {
                line_has_content = true;
                at_field_start = false;
                field.push(ch);
            }
        }
    }
    if line_has_content {
        row.push(field);
        rows.push(row);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn create() -> Action {
        Action::RelationMut {
            relation: "t".into(),
            mutation: Mutation::Create,
        }
    }

    fn rpc_post() -> Action {
        Action::Routine {
            function: "f".into(),
            invoke: InvokeMethod::Post,
        }
    }

    fn parse(body: &str, ct: &str, action: &Action) -> Result<ParsedPayload, ApiError> {
        parse_payload(
            Bytes::from(body.to_owned()),
            &MediaType::parse(ct),
            action,
            None,
        )
    }

    fn keys(p: &ParsedPayload) -> Vec<&str> {
        p.columns.iter().map(String::as_str).collect()
    }

    #[test]
    fn json_object_and_uniform_array() {
        let p = parse(r#"{"a":1,"b":2}"#, "application/json", &create()).unwrap();
        assert_eq!(keys(&p), ["a", "b"]);
        let p = parse(
            r#"[{"a":1,"b":2},{"b":3,"a":4}]"#,
            "application/json",
            &create(),
        )
        .unwrap();
        assert_eq!(keys(&p), ["a", "b"]);
        let e = parse(r#"[{"a":1},{"b":3}]"#, "application/json", &create()).unwrap_err();
        assert_eq!(e.code(), "PGRST102");
        assert_eq!(e.message(), "All object keys must match");
        let e = parse(r#"[1,2]"#, "application/json", &create()).unwrap_err();
        assert_eq!(e.message(), "All object keys must match");
        let p = parse("[]", "application/json", &create()).unwrap();
        assert!(p.columns.is_empty());
        let p = parse("42", "application/json", &create()).unwrap();
        assert_eq!(
            p.payload,
            Some(Payload::Json {
                raw: Bytes::from_static(b"[]"),
                keys: BTreeSet::new()
            })
        );
    }

    #[test]
    fn invalid_and_empty_json() {
        let e = parse("{", "application/json", &create()).unwrap_err();
        assert_eq!(
            e.body(),
            json!({"code":"PGRST102","message":"Empty or invalid json","details":null,"hint":null})
        );
        assert!(parse("", "application/json", &create()).is_err());
        // Empty body on RPC POST is `{}`.
        let p = parse("", "application/json", &rpc_post()).unwrap();
        assert!(p.columns.is_empty());
        assert!(matches!(p.payload, Some(Payload::Json { .. })));
    }

    #[test]
    fn columns_keep_raw_json() {
        let cols = vec!["a".to_owned(), "b".to_owned()];
        let p = parse_payload(
            Bytes::from_static(b"[{\"a\":1},{\"b\":2}]"),
            &MediaType::Json,
            &create(),
            Some(&cols),
        )
        .unwrap();
        assert!(matches!(p.payload, Some(Payload::RawJson { .. })));
        assert_eq!(keys(&p), ["a", "b"]);
    }

    #[test]
    fn no_payload_for_reads_and_delete() {
        let del = Action::RelationMut {
            relation: "t".into(),
            mutation: Mutation::Delete,
        };
        assert_eq!(parse("garbage", "text/html", &del).unwrap().payload, None);
        let get = Action::RelationRead {
            relation: "t".into(),
            headers_only: false,
        };
        assert_eq!(parse("x", "application/json", &get).unwrap().payload, None);
    }

    #[test]
    fn csv_bodies() {
        let p = parse(
            "a,b\n1,NULL\r\n\"x,y\",\"say \"\"hi\"\"\"\n",
            "text/csv",
            &create(),
        )
        .unwrap();
        assert_eq!(keys(&p), ["a", "b"]);
        let Some(Payload::Json { raw, .. }) = p.payload else {
            panic!("json")
        };
        let v: Value = serde_json::from_slice(&raw).unwrap();
        assert_eq!(v, json!([{"a":"1","b":null},{"a":"x,y","b":"say \"hi\""}]));
        let e = parse("a,b\n1\n", "text/csv", &create()).unwrap_err();
        assert_eq!(e.code(), "PGRST102");
        assert!(parse("a\n\"open", "text/csv", &create()).is_err());
        let p = parse("a,b\n1,\n", "text/csv", &create()).unwrap();
        let Some(Payload::Json { raw, .. }) = p.payload else {
            panic!("json")
        };
        assert_eq!(
            serde_json::from_slice::<Value>(&raw).unwrap(),
            json!([{"a":"1","b":""}])
        );
    }

    #[test]
    fn form_bodies() {
        let p = parse("a=1&b=x+y", "application/x-www-form-urlencoded", &create()).unwrap();
        let Some(Payload::Json { raw, keys }) = p.payload else {
            panic!("json")
        };
        assert_eq!(
            serde_json::from_slice::<Value>(&raw).unwrap(),
            json!({"a":"1","b":"x y"})
        );
        assert_eq!(keys.len(), 2);
        let p = parse("v=1&v=2", "application/x-www-form-urlencoded", &rpc_post()).unwrap();
        assert_eq!(
            p.payload,
            Some(Payload::UrlEncoded {
                pairs: vec![("v".into(), "1".into()), ("v".into(), "2".into())],
                keys: ["v".to_owned()].into_iter().collect()
            })
        );
    }

    #[test]
    fn raw_bodies_only_for_rpc() {
        let p = parse("hello", "text/plain", &rpc_post()).unwrap();
        assert_eq!(
            p.payload,
            Some(Payload::Raw {
                raw: Bytes::from_static(b"hello"),
                media_type: MediaType::TextPlain
            })
        );
        assert!(parse("<a/>", "text/xml", &rpc_post()).is_ok());
        assert!(parse("\x00\x01", "application/octet-stream", &rpc_post()).is_ok());
        let e = parse("hello", "text/plain", &create()).unwrap_err();
        assert_eq!(e.message(), "Content-Type not acceptable: text/plain");
        let e = parse("x", "application/pdf", &rpc_post()).unwrap_err();
        assert_eq!(e.message(), "Content-Type not acceptable: application/pdf");
    }
}
