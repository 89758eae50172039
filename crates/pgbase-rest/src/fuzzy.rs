//! "Perhaps you meant …": the closest existing name to one that was not found, by edit
//! distance, for the hints of PGRST200/202/204/205 and unknown-column errors.

/// Levenshtein distance over characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous.last().copied().unwrap_or(0)
}

/// The candidate closest to `name`, if any is reasonably close (case-insensitively).
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = name.to_lowercase();
    let limit = (name.chars().count() / 2).max(2);
    candidates
        .into_iter()
        .map(|c| (distance(&lower, &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, c)| (*d, c.len()))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_near_names_only() {
        assert_eq!(closest("titel", ["title", "year", "id"]), Some("title"));
        assert_eq!(closest("user_nme", ["user_name", "id"]), Some("user_name"));
        assert_eq!(closest("zzzzzz", ["title", "year"]), None);
        assert_eq!(distance("kitten", "sitting"), 3);
    }
}
