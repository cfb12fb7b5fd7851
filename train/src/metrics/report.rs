//! scikit-learn's `classification_report` text, character for character: a header, one row per class
//! (precision, recall, f1-score, support), then the accuracy row and the macro and weighted averages.
//! Python's `format(x, ".2f")` and Rust's `{:.2}` both round the exact binary value half to even, so the
//! digits agree too.

use super::confusion::{ConfusionMatrix, LabelSet, Scores};

/// The report over the classes of `set` (scikit-learn's default is [`LabelSet::Present`]); `names[c]` labels
/// class c. With no samples the class rows are empty and every score is 0.
pub fn classification_report(cm: &ConfusionMatrix, set: LabelSet, names: &[String], digits: usize) -> String {
    let labels = cm.labels(set);
    let heading = "weighted avg";
    let name_width = labels.iter().map(|&c| names[c].chars().count()).max().unwrap_or(0);
    let width = name_width.max(heading.len()).max(digits);
    let mut out = format!("{:>width$} ", "");
    for h in ["precision", "recall", "f1-score", "support"] {
        out += &format!(" {h:>9}");
    }
    out += "\n\n";
    let row = |out: &mut String, name: &str, s: Scores| {
        *out += &format!(
            "{name:>width$}  {:>9.digits$} {:>9.digits$} {:>9.digits$} {:>9}\n",
            s.precision, s.recall, s.f1, s.support
        );
    };
    for &c in &labels {
        row(&mut out, &names[c], cm.class_scores(c));
    }
    out += "\n";
    // Micro averages equal accuracy for single-label data over a label set that covers every class seen,
    // which both label sets do, so scikit-learn prints an "accuracy" row with blank precision and recall.
    let acc = if cm.total() == 0 { 0.0 } else { cm.accuracy() };
    let support: u64 = labels.iter().map(|&c| cm.support(c)).sum();
    out += &format!("{:>width$}  {:>9} {:>9} {:>9.digits$} {:>9}\n", "accuracy", "", "", acc, support);
    row(&mut out, "macro avg", cm.macro_avg(set));
    row(&mut out, heading, cm.weighted_avg(set));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_sklearn() {
        // sklearn.metrics.classification_report([0, 0, 1, 1, 2], [0, 1, 1, 1, 0]) with scikit-learn 1.9.
        let mut cm = ConfusionMatrix::new(3);
        for (t, p) in [(0, 0), (0, 1), (1, 1), (1, 1), (2, 0)] {
            cm.add(t, p);
        }
        let names: Vec<String> = (0..3).map(|c| c.to_string()).collect();
        let want = "              precision    recall  f1-score   support\n\n           0       0.50      0.50      0.50         2\n           1       0.67      1.00      0.80         2\n           2       0.00      0.00      0.00         1\n\n    accuracy                           0.60         5\n   macro avg       0.39      0.50      0.43         5\nweighted avg       0.47      0.60      0.52         5\n";
        assert_eq!(classification_report(&cm, LabelSet::Present, &names, 2), want);
    }
}
