//! [`Snippet`]: SQL text assembled from static fragments, quoted identifiers and bind
//! parameters, numbered `$1…$n` only when the statement is finished, so snippets compose freely.

use crate::TextParam;

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Sql(String),
    Param(Option<String>),
}

/// A piece of SQL with its parameters. Build with [`Snippet::sql`], [`Snippet::ident`],
/// [`Snippet::param`], [`Snippet::push`]; finish with [`Snippet::render`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snippet {
    parts: Vec<Part>,
}

/// Quotes a name as a Postgres identifier: `a"b` → `"a""b"`. The only way names enter SQL.
pub fn quote_ident(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for ch in name.chars() {
        if ch == '"' {
            out.push('"');
        }
        if ch != '\0' {
            out.push(ch);
        }
    }
    out.push('"');
    out
}

impl Snippet {
    pub fn new() -> Snippet {
        Snippet::default()
    }

    /// Fixed SQL text (static, so it can never carry client input).
    pub fn sql(text: &'static str) -> Snippet {
        Snippet {
            parts: vec![Part::Sql(text.to_string())],
        }
    }

    /// A quoted identifier.
    pub fn ident(name: &str) -> Snippet {
        Snippet {
            parts: vec![Part::Sql(quote_ident(name))],
        }
    }

    /// `"schema"."name"`.
    pub fn qualified(schema: &str, name: &str) -> Snippet {
        Snippet {
            parts: vec![Part::Sql(format!(
                "{}.{}",
                quote_ident(schema),
                quote_ident(name)
            ))],
        }
    }

    /// A bind parameter holding `value` as text; Postgres infers its type from context.
    pub fn param(value: impl Into<String>) -> Snippet {
        Snippet {
            parts: vec![Part::Param(Some(value.into()))],
        }
    }

    /// A NULL bind parameter.
    pub fn null_param() -> Snippet {
        Snippet {
            parts: vec![Part::Param(None)],
        }
    }

    /// An integer literal (integers cannot carry SQL).
    pub fn int(value: i64) -> Snippet {
        Snippet {
            parts: vec![Part::Sql(value.to_string())],
        }
    }

    pub fn push(&mut self, other: Snippet) -> &mut Snippet {
        self.parts.extend(other.parts);
        self
    }

    pub fn push_sql(&mut self, text: &'static str) -> &mut Snippet {
        self.parts.push(Part::Sql(text.to_string()));
        self
    }

    pub fn push_ident(&mut self, name: &str) -> &mut Snippet {
        self.parts.push(Part::Sql(quote_ident(name)));
        self
    }

    pub fn push_param(&mut self, value: impl Into<String>) -> &mut Snippet {
        self.parts.push(Part::Param(Some(value.into())));
        self
    }

    /// Chains `self` and `other`.
    pub fn then(mut self, other: Snippet) -> Snippet {
        self.push(other);
        self
    }

    /// Joins snippets with a static separator.
    pub fn join(items: impl IntoIterator<Item = Snippet>, separator: &'static str) -> Snippet {
        let mut out = Snippet::new();
        for (i, item) in items.into_iter().enumerate() {
            if i > 0 {
                out.push_sql(separator);
            }
            out.push(item);
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// The final SQL text with `$1…$n`, and the parameters in order.
    pub fn render(&self) -> (String, Vec<TextParam>) {
        let mut sql = String::new();
        let mut params = Vec::new();
        for part in &self.parts {
            match part {
                Part::Sql(text) => sql.push_str(text),
                Part::Param(value) => {
                    params.push(TextParam(value.clone()));
                    sql.push('$');
                    sql.push_str(&params.len().to_string());
                }
            }
        }
        (sql, params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted_and_params_numbered_in_order() {
        let mut s = Snippet::sql("select ");
        s.push(Snippet::qualified("public", "we\"ird"))
            .push_sql(" where a = ")
            .push_param("1")
            .push_sql(" and b = ")
            .push(Snippet::param("x'; drop table t; --"));
        let (sql, params) = s.render();
        assert_eq!(
            sql,
            "select \"public\".\"we\"\"ird\" where a = $1 and b = $2"
        );
        assert_eq!(params.len(), 2);
        assert_eq!(params[1].0.as_deref(), Some("x'; drop table t; --"));
    }

    #[test]
    fn quoting_drops_nul_bytes() {
        assert_eq!(quote_ident("a\0b"), "\"ab\"");
    }
}
