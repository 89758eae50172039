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
    fn similarity_is_one_for_equal_texts() {
        assert!((similarity("(a, b)", "(a, b)") - 1.0).abs() < f64::EPSILON);
        assert!(similarity("(a, b, wrong)", "(a, b, c)") > similarity("(x)", "(a, b, c)"));
    }
}
