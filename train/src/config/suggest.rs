//! "Did you mean" for mistyped keys, flag names and enum values: the closest valid name by edit distance,
//! comparing with `-`/`_` and case folded (so `max-epoch` finds `max_epochs`).

/// Levenshtein distance (insert, delete, substitute), by characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let sub = prev[j - 1] + usize::from(a[i - 1] != b[j - 1]);
            cur[j] = sub.min(prev[j] + 1).min(cur[j - 1] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

fn fold(s: &str) -> String {
    s.chars().map(|c| if c == '-' { '_' } else { c.to_ascii_lowercase() }).collect()
}

/// The closest candidate, if it is close enough to be a plausible typo: at most a third of the longer name
/// (and at least 1, at most 3 edits), or one name containing the other (`epoch` -> `max_epochs`).
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let w = fold(word);
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        let cf = fold(c);
        let d = edit_distance(&w, &cf);
        let limit = (w.chars().count().max(cf.chars().count()) / 3).clamp(1, 3);
        let contains = w.len() >= 3 && (cf.contains(&w) || w.contains(&cf)) && cf.len() >= 3;
        if d <= limit || contains {
            // Prefer real edit-distance matches over containment matches.
            let score = if d <= limit { d } else { 10 + d };
            if best.is_none_or(|(s, _)| score < s) {
                best = Some((score, c));
            }
        }
    }
    best.map(|(_, c)| c)
}

/// "; did you mean `x`?" or "".
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    match closest(word, candidates) {
        Some(c) => format!("; did you mean `{c}`?"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("max_epoch", "max_epochs"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn suggestions() {
        let keys = ["max_epochs", "max_steps", "batch_size", "precision"];
        assert_eq!(closest("max_epoch", keys), Some("max_epochs"));
        assert_eq!(closest("max-epochs", keys), Some("max_epochs"));
        assert_eq!(closest("batchsize", keys), Some("batch_size"));
        assert_eq!(closest("epochs", keys), Some("max_epochs"));
        assert_eq!(closest("zzz", keys), None);
        assert_eq!(closest("presicion", keys), Some("precision"));
    }
}
