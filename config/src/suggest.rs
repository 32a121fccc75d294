//! "Did you mean" suggestions for misspelt keys, component types and references.

/// The candidate closest to `got` by edit distance, if it is close enough to be a likely typo: at most a third of
/// the longer word's length (and at least one edit) away.
pub fn closest<'a>(got: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let got_lower = got.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| (edit_distance(&got_lower, &c.to_ascii_lowercase()), c))
        .filter(|(d, c)| *d <= (got.chars().count().max(c.chars().count()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance over chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_words_only() {
        let keys = ["endpoint", "protocols", "max_recv_msg_size_mib"];
        assert_eq!(closest("endpont", keys), Some("endpoint"));
        assert_eq!(closest("Endpoint", keys), Some("endpoint"));
        assert_eq!(closest("protocol", keys), Some("protocols"));
        assert_eq!(closest("colour", keys), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
