//! The confusion matrix and every score derived from it, with scikit-learn's definitions:
//! rows are true classes, columns predicted classes (`sklearn.metrics.confusion_matrix`).
//!
//! Per class c: precision = TP / (TP + FP), recall = TP / (TP + FN), F1 = 2 TP / (2 TP + FP + FN) (the form
//! `precision_recall_fscore_support` uses since scikit-learn 1.3), each 0 when its denominator is 0 — the
//! value of scikit-learn's default `zero_division="warn"` (which warns and returns 0). Macro averages are
//! the plain mean over a label set, weighted averages weight each class by its support (true count).

/// Which classes the averages (and the classification report) cover.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LabelSet {
    /// Classes that occur in the targets or the predictions — scikit-learn's default label set
    /// (`unique_labels(y_true, y_pred)`) and what torchmetrics' macro average keeps (it drops classes with
    /// TP + FP + FN = 0).
    #[default]
    Present,
    /// Every class `0..num_classes`, as scikit-learn with `labels=range(num_classes)`: an absent class
    /// scores 0 and pulls the macro average down.
    All,
}

impl LabelSet {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            LabelSet::Present => "present",
            LabelSet::All => "all",
        }
    }
}

/// Precision, recall, F1 and support of one class (or one average).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scores {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Number of samples whose true class this is (for an average: the total over its classes).
    pub support: u64,
}

/// Counts over `n` classes; `counts[t * n + p]` is the number of samples of true class t predicted as p.
#[derive(Clone, Debug, PartialEq)]
pub struct ConfusionMatrix {
    n: usize,
    counts: Vec<u64>,
}

impl ConfusionMatrix {
    pub fn new(num_classes: usize) -> ConfusionMatrix {
        ConfusionMatrix { n: num_classes, counts: vec![0; num_classes * num_classes] }
    }

    pub fn num_classes(&self) -> usize {
        self.n
    }

    /// Count one sample. Both indices must be below `num_classes` (the metrics check labels first).
    pub fn add(&mut self, truth: usize, pred: usize) {
        self.counts[truth * self.n + pred] += 1;
    }

    pub fn get(&self, truth: usize, pred: usize) -> u64 {
        self.counts[truth * self.n + pred]
    }

    /// Row-major counts, `[true][pred]`.
    pub fn flat(&self) -> &[u64] {
        &self.counts
    }

    pub(crate) fn set_flat(&mut self, counts: Vec<u64>) {
        debug_assert_eq!(counts.len(), self.n * self.n, "confusion counts must be n*n");
        self.counts = counts;
    }

    /// The counts as rows (true class) of columns (predicted class): what the confusion-matrix PNG renders.
    pub fn rows(&self) -> Vec<Vec<u64>> {
        if self.n == 0 {
            return Vec::new();
        }
        self.counts.chunks(self.n).map(|r| r.to_vec()).collect()
    }

    pub fn reset(&mut self) {
        self.counts.iter_mut().for_each(|c| *c = 0);
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    pub fn correct(&self) -> u64 {
        (0..self.n).map(|c| self.get(c, c)).sum()
    }

    /// Fraction of samples on the diagonal (`accuracy_score`); NaN with no samples.
    pub fn accuracy(&self) -> f64 {
        self.correct() as f64 / self.total() as f64
    }

    /// Number of samples of true class c.
    pub fn support(&self, c: usize) -> u64 {
        self.counts[c * self.n..(c + 1) * self.n].iter().sum()
    }

    /// Number of samples predicted as class c.
    pub fn predicted(&self, c: usize) -> u64 {
        (0..self.n).map(|t| self.get(t, c)).sum()
    }

    /// The classes an average covers, ascending.
    pub fn labels(&self, set: LabelSet) -> Vec<usize> {
        match set {
            LabelSet::All => (0..self.n).collect(),
            LabelSet::Present => (0..self.n).filter(|&c| self.support(c) > 0 || self.predicted(c) > 0).collect(),
        }
    }

    /// Scores of one class (zero_division = 0).
    pub fn class_scores(&self, c: usize) -> Scores {
        let tp = self.get(c, c) as f64;
        let (true_sum, pred_sum) = (self.support(c), self.predicted(c));
        Scores {
            precision: div0(tp, pred_sum as f64),
            recall: div0(tp, true_sum as f64),
            f1: div0(2.0 * tp, (true_sum + pred_sum) as f64),
            support: true_sum,
        }
    }

    /// Unweighted mean of the class scores over `set` (`average="macro"`); support = the total over it.
    pub fn macro_avg(&self, set: LabelSet) -> Scores {
        let labels = self.labels(set);
        let k = labels.len() as f64;
        let s: Vec<Scores> = labels.iter().map(|&c| self.class_scores(c)).collect();
        let mean = |f: fn(&Scores) -> f64| div0(s.iter().map(f).sum::<f64>(), k);
        Scores { precision: mean(|x| x.precision), recall: mean(|x| x.recall), f1: mean(|x| x.f1), support: s.iter().map(|x| x.support).sum() }
    }

    /// Support-weighted mean of the class scores over `set` (`average="weighted"`); 0 when no class in
    /// the set has support.
    pub fn weighted_avg(&self, set: LabelSet) -> Scores {
        let s: Vec<Scores> = self.labels(set).iter().map(|&c| self.class_scores(c)).collect();
        let w: u64 = s.iter().map(|x| x.support).sum();
        let mean = |f: fn(&Scores) -> f64| div0(s.iter().map(|x| f(x) * x.support as f64).sum::<f64>(), w as f64);
        Scores { precision: mean(|x| x.precision), recall: mean(|x| x.recall), f1: mean(|x| x.f1), support: w }
    }

    /// Cohen's kappa of predictions against targets (`cohen_kappa_score`, unweighted):
    /// 1 - (observed disagreement / disagreement expected from the marginals). NaN with no samples.
    pub fn cohen_kappa(&self) -> f64 {
        let total = self.total() as f64;
        let (mut observed, mut expected) = (0.0, 0.0);
        for t in 0..self.n {
            let row = self.support(t) as f64;
            for p in 0..self.n {
                if t != p {
                    observed += self.get(t, p) as f64;
                    expected += row * self.predicted(p) as f64 / total;
                }
            }
        }
        1.0 - observed / expected
    }
}

fn div0(num: f64, den: f64) -> f64 {
    if den == 0.0 {
        0.0
    } else {
        num / den
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cm(pairs: &[(usize, usize)], n: usize) -> ConfusionMatrix {
        let mut m = ConfusionMatrix::new(n);
        for &(t, p) in pairs {
            m.add(t, p);
        }
        m
    }

    #[test]
    fn hand_checked_scores() {
        // true 0,0,1,1,2 ; pred 0,1,1,1,0 ; class 3 absent everywhere.
        let m = cm(&[(0, 0), (0, 1), (1, 1), (1, 1), (2, 0)], 4);
        assert_eq!(m.accuracy(), 0.6);
        let c0 = m.class_scores(0);
        assert_eq!((c0.precision, c0.recall, c0.f1, c0.support), (0.5, 0.5, 0.5, 2));
        let c1 = m.class_scores(1);
        assert_eq!((c1.precision, c1.recall, c1.f1), (2.0 / 3.0, 1.0, 0.8));
        let c2 = m.class_scores(2);
        assert_eq!((c2.precision, c2.recall, c2.f1), (0.0, 0.0, 0.0));
        assert_eq!(m.labels(LabelSet::Present), vec![0, 1, 2]);
        let mac = m.macro_avg(LabelSet::Present);
        assert!((mac.f1 - 1.3 / 3.0).abs() < 1e-15);
        let all = m.macro_avg(LabelSet::All);
        assert!((all.f1 - 1.3 / 4.0).abs() < 1e-15);
        let w = m.weighted_avg(LabelSet::Present);
        assert!((w.f1 - (0.5 * 2.0 + 0.8 * 2.0) / 5.0).abs() < 1e-15);
        assert_eq!(m.rows()[1], vec![0, 2, 0, 0]);
    }

    #[test]
    fn kappa_of_perfect_and_chance_agreement() {
        assert_eq!(cm(&[(0, 0), (1, 1), (2, 2)], 3).cohen_kappa(), 1.0);
        // Predictions independent of the truth: observed = expected disagreement.
        assert_eq!(cm(&[(0, 0), (0, 1), (1, 0), (1, 1)], 2).cohen_kappa(), 0.0);
    }
}
