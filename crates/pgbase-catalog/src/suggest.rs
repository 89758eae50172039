//! "Did you mean …": the one rule every surface (REST hints, GraphQL messages, the agent tools)
//! uses to pick the existing names closest to one that was not found. Case is ignored and a
//! swap of two neighbouring letters counts as one edit; a candidate is offered only within one
//! edit for names of up to four characters, and within a third of the name's length (at least
//! two) beyond, so typos are caught and unrelated names are not suggested. Nearest first, ties
//! to the shorter name, then by name.

/// Up to `limit` candidates close to `name`, nearest first.
pub fn closest_names<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    limit: usize,
) -> Vec<&'a str> {
    let lower = name.to_lowercase();
    let length = name.chars().count();
    let allowed = if length <= 4 { 1 } else { (length / 3).max(2) };
    let mut found: Vec<(usize, usize, &str)> = candidates
        .into_iter()
        .map(|c| (strsim::osa_distance(&lower, &c.to_lowercase()), c))
        .filter(|(distance, c)| *distance <= allowed && *c != name)
        .map(|(distance, c)| (distance, c.len(), c))
        .collect();
    found.sort_unstable();
    found.dedup_by(|a, b| a.2 == b.2);
    found.into_iter().take(limit).map(|(_, _, c)| c).collect()
}

/// The candidate closest to `name`, if one is close enough.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    closest_names(name, candidates, 1).into_iter().next()
}

/// How alike two texts are, from 0 (nothing in common) to 1 (equal), by edit distance over the
/// longer length: for comparing whole lists, such as function parameter lists.
pub fn similarity(a: &str, b: &str) -> f64 {
    strsim::normalized_levenshtein(a, b)
}

/// The suggestion lookup failed (the error it was for is still reported without suggestions).
#[derive(Debug, thiserror::Error)]
pub enum SuggestError {
    #[error("reading candidate names failed: {0}")]
    Query(#[from] tokio_postgres::Error),
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
    client: &tokio_postgres::Client,
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
    let hits = closest_names(&name, bare.iter().map(|(b, _)| *b), 3);
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

/// What to do about a `42501` (insufficient privilege) error of a request made as `role` with
/// HTTP `method`: which privilege is missing on what, and the statement that grants it — or,
/// for a row-level-security refusal, that a policy refused the row. `None` for other messages.
pub fn permission_fix(role: &str, method: &str, message: &str) -> Option<String> {
    let plain = role
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    let role_ident = if plain && !role.is_empty() {
        role.to_string()
    } else {
        crate::handle::quote_ident(role)
    };
    if let Some(rest) = message.strip_prefix("new row violates row-level security policy") {
        let table = rest
            .rsplit("for table ")
            .next()
            .unwrap_or("")
            .trim_matches('"');
        return Some(format!(
            "a row-level security policy of {table} refused this row for role {role}: no policy's \
             WITH CHECK (or, for an update, USING) expression accepts it. Read the policies with \
             `pgbase describe {table}`, or try the write as this user with the MCP tool \
             check_policies"
        ));
    }
    let rest = message.strip_prefix("permission denied for ")?;
    let (kind, object) = rest.split_once(' ')?;
    let grant = match kind {
        "table" | "view" | "materialized" => {
            let privilege = match method {
                "POST" => "insert",
                "PATCH" => "update",
                "PUT" => "insert, update",
                "DELETE" => "delete",
                _ => "select",
            };
            let object = object.strip_prefix("view ").unwrap_or(object);
            format!("grant {privilege} on {object} to {role_ident};")
        }
        "sequence" => format!("grant usage on sequence {object} to {role_ident};"),
        "function" | "procedure" => format!("grant execute on function {object} to {role_ident};"),
        "schema" => format!("grant usage on schema {object} to {role_ident};"),
        _ => return None,
    };
    Some(format!(
        "role {role} lacks a privilege on {kind} {object}; if it should have it: {grant} \
         (writes that return rows also need select)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_within_two_edits_are_found() {
        assert_eq!(closest("titel", ["title", "year", "id"]), Some("title"));
        assert_eq!(closest("user_nme", ["user_name", "id"]), Some("user_name"));
        assert_eq!(closest("Athors", ["authors", "posts"]), Some("authors"));
        assert_eq!(closest("nmae", ["name", "email"]), Some("name"));
    }

    #[test]
    fn unrelated_names_are_not_suggested() {
        assert_eq!(closest("zzzzzz", ["title", "year"]), None);
        assert_eq!(closest("price", ["id", "name", "created_at"]), None);
        assert_eq!(closest("a", []), None);
    }

    #[test]
    fn the_nearest_and_then_the_shortest_wins() {
        assert_eq!(closest("post", ["posts", "post_tags"]), Some("posts"));
        assert_eq!(closest("tag", ["tags", "tax"]), Some("tax"));
        assert_eq!(
            closest_names("usr_name", ["user_name", "usr_nam", "username", "id"], 3),
            ["usr_nam", "user_name", "username"]
        );
    }

    #[test]
    fn short_names_allow_one_edit_only() {
        assert_eq!(closest("id", ["ab", "xy"]), None);
        assert_eq!(
            closest("nmae", ["name"]),
            Some("name"),
            "a swap is one edit"
        );
        assert_eq!(closest("nm", ["name"]), None);
    }

    #[test]
    fn permission_errors_name_the_missing_grant() {
        assert_eq!(
            permission_fix("anon", "POST", "permission denied for table todos").as_deref(),
            Some(
                "role anon lacks a privilege on table todos; if it should have it: grant insert \
                 on todos to anon; (writes that return rows also need select)"
            )
        );
        let function = permission_fix("authenticated", "POST", "permission denied for function f");
        assert!(
            function.is_some_and(|h| h.contains("grant execute on function f to authenticated;"))
        );
        let rls = permission_fix(
            "authenticated",
            "POST",
            "new row violates row-level security policy for table \"todos\"",
        );
        assert!(rls.is_some_and(|h| h.contains("policy of todos refused")));
        assert_eq!(permission_fix("anon", "GET", "division by zero"), None);
    }

    #[test]
    fn similarity_is_one_for_equal_texts() {
        assert!((similarity("(a, b)", "(a, b)") - 1.0).abs() < f64::EPSILON);
        assert!(similarity("(a, b, wrong)", "(a, b, c)") > similarity("(x)", "(a, b, c)"));
    }
}
