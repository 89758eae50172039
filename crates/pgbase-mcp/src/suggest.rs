//! "Did you mean": the closest existing names for an unknown column, table or function — the
//! ranking rule every surface shares (pgbase-catalog's, through [`closest`]) fed by a catalog
//! lookup of candidates ([`suggestions_for`]), used for SQLSTATEs 42703, 42P01 and 42883.

/// Up to three of `candidates` closest to `wanted`, by the rule every surface shares
/// ([`pgbase_catalog::suggest`]).
pub fn closest<'a>(wanted: &str, candidates: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    pgbase_catalog::suggest::closest_names(wanted, candidates, 3)
        .into_iter()
        .map(str::to_string)
        .collect()
}

pub use pgbase_catalog::suggest::{SuggestError, Unknown, suggestions_for, unknown_name};

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
