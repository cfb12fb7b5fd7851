//! ROC-AUC as SITS-Former's evaluation reports it (scikit-learn `roc_auc_score` on softmax probabilities):
//! binary problems score `p[:, 1]`, multiclass problems average the one-vs-rest AUC of every class
//! (`multi_class="ovr"`, `average="macro"`).
//!
//! AUC needs every score, so this metric keeps the epoch's probability rows (B x C f64 per batch, also in
//! its saved state) instead of counts. Each class AUC is the Mann-Whitney statistic with tied scores
//! counting one half, which equals the trapezoidal area under scikit-learn's `roc_curve` (it merges tied
//! thresholds). Like SITS-Former's `None` on failure, nothing is reported when the AUC is undefined: a class
//! with no positive or no negative sample, i.e. not every class present in the targets.

use super::input::{err, labels, scores, softmax_into};
use super::state::{f64s_json, u64s_json, StateReader};
use super::Metric;
use crate::Result;
use serde_json::{json, Value};
use wrt_tensor::Tensor;

const KIND: &str = "roc_auc";

/// Macro one-vs-rest ROC-AUC over an epoch. `compute()` name: `auroc`.
#[derive(Clone, Debug)]
pub struct RocAuc {
    num_classes: usize,
    from_logits: bool,
    /// Probability rows, row-major `[N, C]`.
    probs: Vec<f64>,
    labels: Vec<u64>,
}

impl RocAuc {
    /// `from_logits`: preds are logits and get a softmax (in f64); otherwise preds are probabilities.
    pub fn new(num_classes: usize, from_logits: bool) -> Result<RocAuc> {
        if num_classes < 2 {
            return Err(err(KIND, format!("needs at least 2 classes, got {num_classes}")));
        }
        Ok(RocAuc { num_classes, from_logits, probs: Vec::new(), labels: Vec::new() })
    }

    /// The AUC of class c against the rest, or None when it has no positive or no negative sample.
    fn class_auc(&self, c: usize) -> Option<f64> {
        let n = self.labels.len();
        let mut s: Vec<(f64, bool)> = (0..n).map(|i| (self.probs[i * self.num_classes + c], self.labels[i] == c as u64)).collect();
        let pos = s.iter().filter(|x| x.1).count();
        let neg = n - pos;
        if pos == 0 || neg == 0 {
            return None;
        }
        s.sort_by(|a, b| a.0.total_cmp(&b.0));
        // Sum of the (1-based, tie-averaged) ranks of the positives.
        let mut rank_sum = 0.0;
        let mut i = 0;
        while i < n {
            let mut j = i;
            while j < n && s[j].0 == s[i].0 {
                j += 1;
            }
            let avg_rank = (i + 1 + j) as f64 / 2.0;
            rank_sum += avg_rank * s[i..j].iter().filter(|x| x.1).count() as f64;
            i = j;
        }
        let (p, q) = (pos as f64, neg as f64);
        Some((rank_sum - p * (p + 1.0) / 2.0) / (p * q))
    }

    fn config_json(&self) -> Value {
        json!({"num_classes": self.num_classes, "from_logits": self.from_logits})
    }
}

impl Metric for RocAuc {
    fn name(&self) -> &str {
        KIND
    }

    fn update(&mut self, preds: &Tensor, target: &Tensor) -> Result<()> {
        let c = self.num_classes;
        let sc = scores(KIND, preds, c)?;
        let y = labels(KIND, target, preds.shape()[0], c)?;
        if self.from_logits {
            let mut p = vec![0.0; c];
            for row in sc.chunks_exact(c) {
                softmax_into(row, &mut p);
                self.probs.extend_from_slice(&p);
            }
        } else {
            self.probs.extend_from_slice(&sc);
        }
        self.labels.extend(y.iter().map(|&l| l as u64));
        Ok(())
    }

    fn compute(&self) -> Result<Vec<(String, f64)>> {
        let auc = if self.num_classes == 2 {
            self.class_auc(1)
        } else {
            let per: Option<Vec<f64>> = (0..self.num_classes).map(|c| self.class_auc(c)).collect();
            per.map(|v| v.iter().sum::<f64>() / v.len() as f64)
        };
        Ok(auc.map(|a| vec![("auroc".to_string(), a)]).unwrap_or_default())
    }

    fn reset(&mut self) {
        self.probs.clear();
        self.labels.clear();
    }

    fn state(&self) -> Value {
        json!({"kind": KIND, "config": self.config_json(), "probs": f64s_json(&self.probs), "labels": u64s_json(&self.labels)})
    }

    fn load_state(&mut self, state: &Value) -> Result<()> {
        let r = StateReader::new(KIND, state)?;
        r.expect_config(&self.config_json())?;
        let labels = r.u64s_any("labels")?;
        let probs = r.f64s("probs", labels.len() * self.num_classes)?;
        if let Some(l) = labels.iter().find(|&&l| l >= self.num_classes as u64) {
            return Err(r.err(format!("saved label {l} is outside 0..{}", self.num_classes)));
        }
        self.probs = probs;
        self.labels = labels;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::tests::{assert_same, feed_split, resume_split};
    use wrt_tensor::{DType, Generator};

    #[test]
    fn hand_checked_binary_auc_with_a_tie() {
        // Positives score 0.8 and 0.4, negatives 0.4 and 0.1: pairs won 1 + 1 + 0.5 + 1 of 4.
        let mut m = RocAuc::new(2, false).unwrap();
        let p = Tensor::from_vec(vec![0.2f64, 0.8, 0.6, 0.4, 0.6, 0.4, 0.9, 0.1], &[4, 2]).unwrap();
        let y = Tensor::from_vec(vec![1i64, 1, 0, 0], &[4]).unwrap();
        m.update(&p, &y).unwrap();
        assert_eq!(m.compute().unwrap(), vec![("auroc".to_string(), 0.875)]);
    }

    #[test]
    fn undefined_when_a_class_is_missing() {
        let mut m = RocAuc::new(3, true).unwrap();
        let p = Tensor::zeros(&[2, 3], DType::F32).unwrap();
        m.update(&p, &Tensor::from_vec(vec![0i64, 1], &[2]).unwrap()).unwrap();
        assert!(m.compute().unwrap().is_empty());
    }

    #[test]
    fn batches_and_resume() {
        let mut g = Generator::new(5);
        let x = g.normal(&[30, 4], 0.0, 1.0, DType::F32).unwrap();
        let y = g.randint(&[30], 0, 4).unwrap();
        let mk = || RocAuc::new(4, true).unwrap();
        assert_same(&feed_split(mk(), &x, &y, &[30]), &feed_split(mk(), &x, &y, &[7, 7, 16]));
        resume_split(mk, &x, &y, &[11, 19]);
    }
}
