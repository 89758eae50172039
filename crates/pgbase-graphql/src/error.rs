//! The one error type of request processing: every failure a client can cause ends up as
//! `{"message": ...}` in the response's `errors` list. pg_graphql writes the message and
//! nothing else (no `locations`, no `path`), and so does pgbase; the position and field an
//! error belongs to are kept for logs and tests only.

use graphql_parser::Pos;

/// A client-facing GraphQL error.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GraphqlError {
    /// The document or its variables are invalid against the reflected schema.
    #[error("{message}")]
    Validation {
        message: String,
        pos: Option<Pos>,
        /// Response key of the top-level field the error belongs to.
        path: Option<String>,
    },
    /// The database rejected the statement (message of the server).
    #[error("{0}")]
    Database(String),
    /// The request itself is malformed (transport level).
    #[error("{0}")]
    Request(String),
    /// The database is out of reach: the whole request is answered 503 with PostgREST's
    /// error body (`code` is PGRST000 or PGRST001), as Supabase does.
    #[error("{message}")]
    Unavailable {
        code: &'static str,
        message: &'static str,
        detail: String,
    },
}

impl GraphqlError {
    pub fn new(message: impl Into<String>) -> GraphqlError {
        GraphqlError::Validation {
            message: message.into(),
            pos: None,
            path: None,
        }
    }

    pub fn at(message: impl Into<String>, pos: Pos) -> GraphqlError {
        GraphqlError::Validation {
            message: message.into(),
            pos: Some(pos),
            path: None,
        }
    }

    /// Marks the error as belonging to the top-level field `key`.
    pub fn with_path(self, key: &str) -> GraphqlError {
        match self {
            GraphqlError::Validation { message, pos, .. } => GraphqlError::Validation {
                message,
                pos,
                path: Some(key.to_string()),
            },
            other => other,
        }
    }

    /// Adds a position when there is none yet.
    pub fn or_at(self, p: Pos) -> GraphqlError {
        match self {
            GraphqlError::Validation {
                message,
                pos: None,
                path,
            } => GraphqlError::Validation {
                message,
                pos: Some(p),
                path,
            },
            other => other,
        }
    }

    /// `{"message": ...}`, as pg_graphql writes an error.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "message": self.to_string() })
    }
}

/// Appends `. Did you mean "x"?` when a close candidate exists.
pub fn with_suggestion<'a>(
    message: String,
    name: &str,
    candidates: impl Iterator<Item = &'a str>,
) -> String {
    match pgbase_catalog::suggest::closest(name, candidates) {
        Some(s) => format!("{message}. Did you mean \"{s}\"?"),
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_gains_the_closest_name_only() {
        let names = ["blogCollection", "blogPostCollection", "node"];
        assert_eq!(
            with_suggestion("Unknown field".into(), "blogColection", names.into_iter()),
            "Unknown field. Did you mean \"blogCollection\"?"
        );
        assert_eq!(
            with_suggestion("Unknown field".into(), "zzzzzzzz", names.into_iter()),
            "Unknown field"
        );
    }
}
