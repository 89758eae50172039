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

/// The candidate most similar to `text` (similarity `1 - distance / longer length`), if it is
/// at least a third similar: looser than [`closest`], for whole parameter lists such as
/// `(a, b, c)`.
pub fn most_similar<'a>(
    text: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| {
            let longer = text.chars().count().max(c.chars().count()).max(1);
            let similarity = 1.0 - distance(text, c) as f64 / longer as f64;
            (similarity, c)
        })
        .filter(|(s, _)| *s >= 1.0 / 3.0)
        .max_by(|(a, _), (b, _)| a.total_cmp(b))
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
        let lists = ["()", "(a, b)", "(a, b, c)"];
        assert_eq!(most_similar("(a, b, wrong_arg)", lists), Some("(a, b, c)"));
        assert_eq!(most_similar("(wrong_arg)", lists), None);
        assert_eq!(most_similar("(nam)", ["(name)"]), Some("(name)"));
    }
}
