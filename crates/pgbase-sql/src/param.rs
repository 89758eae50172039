//! [`TextParam`]: a bind parameter sent in text format that accepts whatever type Postgres
//! inferred for its placeholder, so `id = $1` with `"5"` works for int, uuid or text columns —
//! the same untyped-parameter behaviour PostgREST relies on. Postgres validates the text and
//! answers 22P02 etc. when it does not parse.

use bytes::BytesMut;
use tokio_postgres::types::{Format, IsNull, ToSql, Type, to_sql_checked};

/// A text-format parameter, `None` for NULL.
#[derive(Debug, Clone, PartialEq)]
pub struct TextParam(pub Option<String>);

impl ToSql for TextParam {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match &self.0 {
            Some(value) => {
                out.extend_from_slice(value.as_bytes());
                Ok(IsNull::No)
            }
            None => Ok(IsNull::Yes),
        }
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    fn encode_format(&self, _ty: &Type) -> Format {
        Format::Text
    }

    to_sql_checked!();
}
