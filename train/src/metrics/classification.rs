//! Classification metrics for AtmoDist, SITS-Former (and SaTformer's bins): accuracy, top-k accuracy,
//! precision / recall / F1 (macro, weighted, per class), the confusion matrix and scikit-learn's
//! `classification_report`, all from counts accumulated over the epoch.
//!
//! Inputs: `preds` are class scores `[B, C]` (logits or probabilities, any float dtype; the predicted class
//! is the row argmax, first maximum on ties, NaN counting as the maximum as in `torch.argmax`) or predicted
//! class indices `[B]`; `target` is class indices `[B]` (i64, or a float holding whole numbers) or one-hot /
//! probability rows `[B, C]` (argmax). Top-k accuracy needs scores.

use super::confusion::{ConfusionMatrix, LabelSet, Scores};
use super::input::{argmax_rows, err, indices, labels, scores};
use super::state::{u64s_json, StateReader};
use super::{report, Artifact, ArtifactBody, Metric};
use crate::Result;
use serde_json::{json, Value};
use wrt_tensor::Tensor;

const KIND: &str = "classification";

/// What a [`Classification`] metric reports besides accuracy and the averaged scores.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassificationConfig {
    pub num_classes: usize,
    /// Top-k accuracies to report (`top{k}_acc`), each k in 1..=num_classes.
    pub top_k: Vec<usize>,
    /// Also report `precision_{class}`, `recall_{class}`, `f1_{class}` for every class in `labels`.
    pub per_class: bool,
    /// The classes the macro/weighted averages and the report cover.
    pub labels: LabelSet,
    /// Names used in per-class keys and the report (default: the class index).
    pub class_names: Option<Vec<String>>,
}

impl ClassificationConfig {
    pub fn new(num_classes: usize) -> ClassificationConfig {
        ClassificationConfig { num_classes, top_k: Vec::new(), per_class: false, labels: LabelSet::Present, class_names: None }
    }
}

/// Accuracy, top-k accuracy, precision/recall/F1 and the confusion matrix over an epoch.
///
/// `compute()` names (unprefixed): `acc`; `top{k}_acc` per configured k; `precision_macro`, `recall_macro`,
/// `f1_macro`, `precision_weighted`, `recall_weighted`, `f1_weighted`; with `per_class`,
/// `precision_{name}`, `recall_{name}`, `f1_{name}` per class. Nothing is returned before the first sample.
#[derive(Clone, Debug)]
pub struct Classification {
    cfg: ClassificationConfig,
    cm: ConfusionMatrix,
    /// Samples whose true class ranks within the top k, one counter per `cfg.top_k` entry.
    topk_hits: Vec<u64>,
}

impl Classification {
    /// Accuracy, macro and weighted scores over `num_classes` classes (no top-k, no per-class values).
    pub fn new(num_classes: usize) -> Result<Classification> {
        Classification::with_config(ClassificationConfig::new(num_classes))
    }

    pub fn with_config(cfg: ClassificationConfig) -> Result<Classification> {
        if cfg.num_classes == 0 {
            return Err(err(KIND, "num_classes must be at least 1"));
        }
        if let Some(&k) = cfg.top_k.iter().find(|&&k| k == 0 || k > cfg.num_classes) {
            return Err(err(KIND, format!("top_k {k} must be in 1..={}", cfg.num_classes)));
        }
        if let Some(names) = &cfg.class_names {
            if names.len() != cfg.num_classes {
                return Err(err(KIND, format!("{} class names given for {} classes", names.len(), cfg.num_classes)));
            }
        }
        let n = cfg.num_classes;
        Ok(Classification { topk_hits: vec![0; cfg.top_k.len()], cm: ConfusionMatrix::new(n), cfg })
    }

    pub fn config(&self) -> &ClassificationConfig {
        &self.cfg
    }

    /// The accumulated counts (for kappa, single class scores, or custom averages).
    pub fn counts(&self) -> &ConfusionMatrix {
        &self.cm
    }

    /// Confusion-matrix counts `[true][pred]`, `num_classes` x `num_classes`, for the PNG renderer
    /// (`log::plot::confusion_matrix_png(counts, class_names, title)`).
    pub fn confusion_matrix(&self) -> Vec<Vec<u64>> {
        self.cm.rows()
    }

    /// The configured class names, or "0", "1", ... .
    pub fn class_names(&self) -> Vec<String> {
        match &self.cfg.class_names {
            Some(n) => n.clone(),
            None => (0..self.cfg.num_classes).map(|c| c.to_string()).collect(),
        }
    }

    /// scikit-learn's `classification_report` text over the configured label set, `digits` decimals.
    pub fn report(&self, digits: usize) -> String {
        report::classification_report(&self.cm, self.cfg.labels, &self.class_names(), digits)
    }

    fn topk_update(&mut self, sc: &[f64], truth: &[usize]) {
        let c = self.cfg.num_classes;
        for (row, &t) in sc.chunks_exact(c).zip(truth) {
            // Rank of the true class in scikit-learn's `top_k_accuracy_score` order: a stable ascending
            // argsort reversed, so higher scores come first and, among equal scores, the higher index.
            let s = row[t];
            let rank = row.iter().enumerate().filter(|&(j, &x)| x > s || (x == s && j > t)).count();
            for (hits, &k) in self.topk_hits.iter_mut().zip(&self.cfg.top_k) {
                if rank < k {
                    *hits += 1;
                }
            }
        }
    }

    fn config_json(&self) -> Value {
        json!({
            "num_classes": self.cfg.num_classes,
            "top_k": self.cfg.top_k,
            "labels": self.cfg.labels.as_str(),
        })
    }
}

impl Metric for Classification {
    fn name(&self) -> &str {
        KIND
    }

    fn update(&mut self, preds: &Tensor, target: &Tensor) -> Result<()> {
        let c = self.cfg.num_classes;
        let (pred, sc) = if preds.rank() == 1 {
            if !self.cfg.top_k.is_empty() {
                return Err(err(KIND, format!("top-k accuracy needs class scores [B, {c}], got class indices {:?}", preds.shape())));
            }
            (indices(KIND, "preds", preds, c)?, None)
        } else {
            let sc = scores(KIND, preds, c)?;
            (argmax_rows(&sc, c), Some(sc))
        };
        let truth = labels(KIND, target, pred.len(), c)?;
        if let Some(sc) = sc {
            self.topk_update(&sc, &truth);
        }
        for (&t, &p) in truth.iter().zip(&pred) {
            self.cm.add(t, p);
        }
        Ok(())
    }

    fn compute(&self) -> Result<Vec<(String, f64)>> {
        let total = self.cm.total();
        if total == 0 {
            return Ok(Vec::new());
        }
        let mut out = vec![("acc".to_string(), self.cm.accuracy())];
        for (&k, &h) in self.cfg.top_k.iter().zip(&self.topk_hits) {
            out.push((format!("top{k}_acc"), h as f64 / total as f64));
        }
        let push = |out: &mut Vec<(String, f64)>, suffix: &str, s: Scores| {
            out.push((format!("precision_{suffix}"), s.precision));
            out.push((format!("recall_{suffix}"), s.recall));
            out.push((format!("f1_{suffix}"), s.f1));
        };
        push(&mut out, "macro", self.cm.macro_avg(self.cfg.labels));
        push(&mut out, "weighted", self.cm.weighted_avg(self.cfg.labels));
        if self.cfg.per_class {
            let names = self.class_names();
            for c in self.cm.labels(self.cfg.labels) {
                push(&mut out, &names[c], self.cm.class_scores(c));
            }
        }
        Ok(out)
    }

    fn reset(&mut self) {
        self.cm.reset();
        self.topk_hits.iter_mut().for_each(|h| *h = 0);
    }

    fn state(&self) -> Value {
        json!({
            "kind": KIND,
            "config": self.config_json(),
            "confusion": u64s_json(self.cm.flat()),
            "topk_hits": u64s_json(&self.topk_hits),
        })
    }

    fn load_state(&mut self, state: &Value) -> Result<()> {
        let r = StateReader::new(KIND, state)?;
        r.expect_config(&self.config_json())?;
        let n = self.cfg.num_classes;
        let confusion = r.u64s("confusion", n * n)?;
        let topk_hits = r.u64s("topk_hits", self.cfg.top_k.len())?;
        self.cm.set_flat(confusion);
        self.topk_hits = topk_hits;
        Ok(())
    }

    /// `confusion_matrix` (counts, true class x predicted class, as CSV and as a PNG heatmap) and
    /// `classification_report` (scikit-learn's text, 2 decimals). None before the first sample.
    fn artifacts(&self) -> Result<Vec<Artifact>> {
        if self.cm.total() == 0 {
            return Ok(Vec::new());
        }
        let names = self.class_names();
        let rows = self.cm.rows();
        let mut csv = format!("true\\pred,{}\n", names.join(","));
        for (name, row) in names.iter().zip(&rows) {
            csv += &format!("{name},{}\n", row.iter().map(u64::to_string).collect::<Vec<_>>().join(","));
        }
        let png = crate::log::plot::confusion_matrix_png(&rows, &names, "true class (rows) x predicted class (columns)")?;
        Ok(vec![
            Artifact { name: "confusion_matrix".into(), body: ArtifactBody::Csv(csv) },
            Artifact { name: "confusion_matrix".into(), body: ArtifactBody::Png(png) },
            Artifact { name: "classification_report".into(), body: ArtifactBody::Text(self.report(2)) },
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::tests::{assert_same, feed_split, resume_split};
    use wrt_tensor::Generator;

    fn data(n: usize, c: usize, seed: u64) -> (Tensor, Tensor) {
        let mut g = Generator::new(seed);
        let logits = g.normal(&[n, c], 0.0, 1.0, wrt_tensor::DType::F32).unwrap();
        let y = g.randint(&[n], 0, c as i64).unwrap();
        (logits, y)
    }

    fn metric() -> Classification {
        let mut cfg = ClassificationConfig::new(5);
        cfg.top_k = vec![2, 3];
        cfg.per_class = true;
        Classification::with_config(cfg).unwrap()
    }

    #[test]
    fn batch_boundaries_do_not_change_the_result() {
        let (x, y) = data(37, 5, 1);
        assert_same(&feed_split(metric(), &x, &y, &[37]), &feed_split(metric(), &x, &y, &[1, 10, 3, 23]));
    }

    #[test]
    fn state_round_trip_resumes_exactly() {
        let (x, y) = data(37, 5, 2);
        resume_split(metric, &x, &y, &[12, 25]);
    }

    #[test]
    fn shape_mismatch_names_metric_and_shapes() {
        let mut m = metric();
        let x = Tensor::zeros(&[4, 6], wrt_tensor::DType::F32).unwrap();
        let y = Tensor::zeros(&[4], wrt_tensor::DType::I64).unwrap();
        let e = m.update(&x, &y).unwrap_err().to_string();
        assert!(e.contains("classification") && e.contains("[4, 6]") && e.contains("[B, 5]"), "{e}");
        let x = Tensor::zeros(&[4, 5], wrt_tensor::DType::F32).unwrap();
        let y = Tensor::zeros(&[3], wrt_tensor::DType::I64).unwrap();
        let e = m.update(&x, &y).unwrap_err().to_string();
        assert!(e.contains("[3]") && e.contains("[4]"), "{e}");
        let idx = Tensor::zeros(&[4], wrt_tensor::DType::I64).unwrap();
        assert!(m.update(&idx, &y).is_err(), "top-k without scores must fail");
        assert_eq!(m.counts().total(), 0, "a failed update must not count anything");
    }

    #[test]
    fn index_predictions_and_empty_compute() {
        let mut m = Classification::new(3).unwrap();
        assert!(m.compute().unwrap().is_empty());
        let p = Tensor::from_vec(vec![0i64, 2, 2], &[3]).unwrap();
        let y = Tensor::from_vec(vec![0i64, 2, 1], &[3]).unwrap();
        m.update(&p, &y).unwrap();
        let out = m.compute().unwrap();
        assert_eq!(out[0], ("acc".to_string(), 2.0 / 3.0));
        assert_eq!(m.confusion_matrix(), vec![vec![1, 0, 0], vec![0, 0, 1], vec![0, 0, 1]]);
    }

    #[test]
    fn topk_ties_follow_sklearn() {
        // Scores tie between classes 0 and 2; scikit-learn ranks the higher index first.
        let mut cfg = ClassificationConfig::new(3);
        cfg.top_k = vec![1];
        let mut m = Classification::with_config(cfg).unwrap();
        let p = Tensor::from_vec(vec![1.0f32, 0.0, 1.0, 1.0, 0.0, 1.0], &[2, 3]).unwrap();
        let y = Tensor::from_vec(vec![2i64, 0], &[2]).unwrap();
        m.update(&p, &y).unwrap();
        let out = m.compute().unwrap();
        assert_eq!(out[1], ("top1_acc".to_string(), 0.5));
        // torch.argmax picks the first maximum: both rows predict class 0.
        assert_eq!(m.confusion_matrix()[0][0], 1);
    }
}
