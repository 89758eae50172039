//! "Did you mean": the closest existing names for an unknown column, table or function — the
//! ranking rule every surface shares (pgbase-catalog's, through [`closest`]) fed by a catalog
//! lookup of candidates ([`suggestions_for`]), used for SQLSTATEs 42703, 42P01 and 42883.

use tokio_postgres::Client;

/// The suggestion lookup failed (the error it was for is still reported without suggestions).
#[derive(Debug, thiserror::Error)]
pub enum SuggestError {
    #[error("reading candidate names failed: {0}")]
    Query(#[from] tokio_postgres::Error),
}

/// Up to three of `candidates` closest to `wanted`, by the rule every surface shares
/// ([`pgbase_catalog::suggest`]).
pub fn closest<'a>(wanted: &str, candidates: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    pgbase_catalog::suggest::closest_names(wanted, candidates, 3)
        .into_iter()
        .map(str::to_string)
        .collect()
}

/// The kind of name an error says is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unknown {
    Column,
    Relation,
    Function,
}

/// The unknown name and its kind, read from a Postgres error: `column "x" does not exist`,
/// `column t.x does not exist`, `relation "s.x" does not exist`, `function x(integer) does not
/// exist`.
pub fn unknown_name(code: &str, message: &str) -> Option<(Unknown, String)> {
    let kind = match code {
        "42703" => Unknown::Column,
        "42P01" => Unknown::Relation,
        "42883" => Unknown::Function,
        _ => return None,
    };
    let rest = message
        .strip_prefix("column ")
        .or_else(|| message.strip_prefix("relation "))
        .or_else(|| message.strip_prefix("function "))?;
    let name = rest.strip_suffix(" does not exist")?;
    let name = match kind {
        Unknown::Function => name.split('(').next().unwrap_or(name),
        _ => name,
    };
    let name = name.trim_matches('"');
    // Keep the last part of a qualified name (`t.x`, `s.x`).
    let name = name.rsplit('.').next().unwrap_or(name).trim_matches('"');
    (!name.is_empty()).then(|| (kind, name.to_string()))
}

const CANDIDATES_SQL: &str = "
select distinct name from (
  select a.attname::text as name
    from pg_attribute a join pg_class c on c.oid = a.attrelid
    join pg_namespace n on n.oid = c.relnamespace
   where $1 = 'column' and a.attnum > 0 and not a.attisdropped
     and c.relkind in ('r','v','m','p','f')
     and n.nspname not in ('pg_catalog','information_schema','pg_toast')
  union all
  select case when n.nspname = 'public' then c.relname::text
              else n.nspname || '.' || c.relname end
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
   where $1 = 'relation' and c.relkind in ('r','v','m','p','f')
     and n.nspname not in ('pg_catalog','information_schema','pg_toast')
     and n.nspname not like 'pg_temp%'
  union all
  select case when n.nspname in ('public','pg_catalog') then p.proname::text
              else n.nspname || '.' || p.proname end
    from pg_proc p join pg_namespace n on n.oid = p.pronamespace
   where $1 = 'function' and n.nspname not in ('information_schema','pg_toast')
) names";

/// The closest existing names for the unknown name in an error with `code` and `message`.
pub async fn suggestions_for(
    client: &Client,
    code: &str,
    message: &str,
) -> Result<Vec<String>, SuggestError> {
    let Some((kind, name)) = unknown_name(code, message) else {
        return Ok(Vec::new());
    };
    let kind_text = match kind {
        Unknown::Column => "column",
        Unknown::Relation => "relation",
        Unknown::Function => "function",
    };
    let rows = client.query(CANDIDATES_SQL, &[&kind_text]).await?;
    let names: Vec<String> = rows.iter().map(|row| row.get(0)).collect();
    // A qualified candidate (`s.t`) also matches on its bare name.
    let bare: Vec<(&str, &str)> = names
        .iter()
        .map(|n| (n.rsplit('.').next().unwrap_or(n), n.as_str()))
        .collect();
    let hits = closest(&name, bare.iter().map(|(b, _)| *b));
    let mut out: Vec<String> = Vec::new();
    for hit in hits {
        for (b, full) in &bare {
            if *b == hit && !out.iter().any(|o| o == full) {
                out.push((*full).to_string());
            }
        }
    }
    out.truncate(3);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: [&str; 6] = ["title", "user_id", "created_at", "todos", "profiles", "id"];

    #[test]
    fn typos_one_or_two_edits_away_are_found() {
        assert_eq!(closest("titel", NAMES), ["title"]);
        assert_eq!(closest("user_di", NAMES), ["user_id"]);
        assert_eq!(closest("created", NAMES), Vec::<String>::new());
        assert_eq!(closest("cretaed_at", NAMES), ["created_at"]);
        assert_eq!(closest("todo", NAMES), ["todos"]);
        assert_eq!(closest("profile", NAMES), ["profiles"]);
        assert_eq!(closest("prfile", NAMES), ["profiles"]);
        assert_eq!(closest("TITLE", NAMES), ["title"]);
    }

    #[test]
    fn unrelated_names_are_not_suggested() {
        assert!(closest("price", NAMES).is_empty());
        assert!(closest("xyz", NAMES).is_empty());
        assert!(closest("ab", NAMES).is_empty());
        assert!(closest("orders", NAMES).is_empty());
    }

    #[test]
    fn unknown_names_are_read_from_postgres_messages() {
        assert_eq!(
            unknown_name("42703", "column \"titel\" does not exist"),
            Some((Unknown::Column, "titel".into()))
        );
        assert_eq!(
            unknown_name("42703", "column t.titel does not exist"),
            Some((Unknown::Column, "titel".into()))
        );
        assert_eq!(
            unknown_name("42P01", "relation \"todoz\" does not exist"),
            Some((Unknown::Relation, "todoz".into()))
        );
        assert_eq!(
            unknown_name("42883", "function lenght(text) does not exist"),
            Some((Unknown::Function, "lenght".into()))
        );
        assert_eq!(unknown_name("42601", "syntax error at or near \"x\""), None);
    }
}
