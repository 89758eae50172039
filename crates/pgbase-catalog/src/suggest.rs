//! "Did you mean …": the one rule every surface (REST hints, GraphQL messages, the agent tools)
//! uses to pick the existing name closest to one that was not found. Case is ignored; a
//! candidate is offered only within an edit distance of a third of the name's length (at least
//! 2), so typos are caught and unrelated names are not suggested. Ties go to the shorter name.

/// The candidate closest to `name`, if one is close enough.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = name.to_lowercase();
    let limit = (name.chars().count() / 3).max(2);
    candidates
        .into_iter()
        .map(|c| (strsim::levenshtein(&lower, &c.to_lowercase()), c))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, c)| (*distance, c.len()))
        .map(|(_, c)| c)
}

/// How alike two texts are, from 0 (nothing in common) to 1 (equal), by edit distance over the
/// longer length: for comparing whole lists, such as function parameter lists.
pub fn similarity(a: &str, b: &str) -> f64 {
    strsim::normalized_levenshtein(a, b)
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
    }

    #[test]
    fn similarity_is_one_for_equal_texts() {
        assert!((similarity("(a, b)", "(a, b)") - 1.0).abs() < f64::EPSILON);
        assert!(similarity("(a, b, wrong)", "(a, b, c)") > similarity("(x)", "(a, b, c)"));
    }
}
