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

/// The closest of `candidates` to `name` (edit distance at most a third of the length, at
/// least 2), for "Did you mean" hints.
pub fn suggest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (name.len() / 3).max(2);
    candidates
        .map(|c| (distance(&name.to_lowercase(), &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, c)| (*d, c.len()))
        .map(|(_, c)| c)
}

/// Appends `. Did you mean "x"?` when a close candidate exists.
pub fn with_suggestion<'a>(
    message: String,
    name: &str,
    candidates: impl Iterator<Item = &'a str>,
) -> String {
    match suggest(name, candidates) {
        Some(s) => format!("{message}. Did you mean \"{s}\"?"),
        None => message,
    }
}

fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_pick_the_closest_name() {
        let names = ["blogCollection", "blogPostCollection", "node"];
        assert_eq!(
            suggest("blogColection", names.iter().copied()),
            Some("blogCollection")
        );
        assert_eq!(suggest("zzzzzzzz", names.iter().copied()), None);
    }
}
