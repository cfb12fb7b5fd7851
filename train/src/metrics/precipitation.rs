//! SaTformer's metrics over precipitation bins (`train/csi`, `train/f1`, `train/crps` in its guide), with the
//! definitions of the reference code (leharris3/satformer `src/util/eval_metrics.py`), plus CSI and F1 of
//! rain events at precipitation thresholds.
//!
//! Inputs: `preds` logits `[B, N]` over the N bins (or probabilities, see [`BinnedPrecipConfig::from_logits`]),
//! any float dtype; `target` the true bin `[B]` (class index) or one-hot `[B, N]`. ŷ = argmax of preds.
//!
//! * `csi`: torchmetrics `CriticalSuccessIndex(0.5)` on one-hot ŷ against one-hot y over all B·N cells, as
//!   `mean_csi` calls it. A right bin is 1 hit; a wrong one is 1 miss and 1 false alarm, so with c right
//!   out of n, `csi = c / (c + 2 (n - c))`. Counted over the whole epoch (the reference computes it per
//!   batch and Lightning averages the batch values, which depends on the batch size).
//! * `f1`: torchmetrics `MulticlassF1Score(num_classes=N)`, macro average over the bins with
//!   TP + FP + FN > 0 (= scikit-learn's `f1_score(average="macro")`).
//! * `crps`: per sample, with P_k = Σ_{j≤k} softmax(z)_j and H_k = 1[k ≥ y], the mean over samples of
//!   Σ_k d_k² where d_k = P_k - H_k ([`CrpsForm::Standard`], the spec's formula and the discrete CRPS), or,
//!   by default, of the reference code's value ([`CrpsForm::Reference`]): `mean_crps` builds its mask as
//!   the int64 tensor `(P >= H) * 1` and `~mask` is then a bitwise NOT (-2 or -1, not a boolean
//!   complement), so a cell with P_k ≥ H_k contributes (3 d_k)² and any other d_k². Times `crps_scale`
//!   (1, as the reference; the bin width gives physical units).
//! * `csi@{t}`, `f1@{t}` for each threshold t: an event is a bin value ≥ t (torchmetrics' `>=`), for the
//!   predicted bin and for the true bin; csi = H / (H + M + F), f1 = 2H / (2H + M + F), 0 when no event
//!   was forecast or observed (torchmetrics' `_safe_divide`). `{t}` is Rust's shortest form: `csi@0.5`,
//!   `csi@2`.
//!
//! All values are computed in f64 from the f32 logits (the reference uses f32; the CRPS differs from it by
//! rounding only, ~1e-7 relative).

use super::confusion::{ConfusionMatrix, LabelSet};
use super::input::{argmax_rows, err, labels, scores, softmax_into};
use super::state::{f64_json, u64s_json, StateReader};
use super::Metric;
use crate::Result;
use serde_json::{json, Value};
use wrt_tensor::Tensor;

const KIND: &str = "binned_precip";

/// Which CRPS the `crps` key reports (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum CrpsForm {
    /// The value the SaTformer reference code logs: 9 d² on cells where the forecast CDF is at or above the
    /// observed step, d² elsewhere.
    #[default]
    Reference,
    /// The discrete CRPS Σ_k (P_k - H_k)² of the spec.
    Standard,
}

impl CrpsForm {
    fn as_str(self) -> &'static str {
        match self {
            CrpsForm::Reference => "reference",
            CrpsForm::Standard => "standard",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct BinnedPrecipConfig {
    pub num_bins: usize,
    /// preds are logits (softmax taken for the CRPS); false: preds are already probabilities.
    pub from_logits: bool,
    pub crps: CrpsForm,
    /// Multiplies the CRPS (the bin width Δ turns the reference's unitless value into precipitation units).
    pub crps_scale: f64,
    /// Precipitation value of each bin, for the threshold events (see [`bin_values_uniform`],
    /// [`bin_centres`]). Required when `thresholds` is not empty.
    pub bin_values: Option<Vec<f64>>,
    /// Event thresholds in the units of `bin_values`.
    pub thresholds: Vec<f64>,
}

impl BinnedPrecipConfig {
    pub fn new(num_bins: usize) -> BinnedPrecipConfig {
        BinnedPrecipConfig { num_bins, from_logits: true, crps: CrpsForm::Reference, crps_scale: 1.0, bin_values: None, thresholds: Vec::new() }
    }
}

/// The value of bin k when bins are uniform from 0 with round-to-nearest labels, as SaTformer's dataloader
/// assigns them (`k = round(y / step)` with `step = max / N`): k·max/N, the centre of the values that round
/// to k (`bins_k · Y_REG_MAX` in its test script).
pub fn bin_values_uniform(num_bins: usize, max: f64) -> Vec<f64> {
    (0..num_bins).map(|k| k as f64 * max / num_bins as f64).collect()
}

/// Bin centres (e_k + e_{k+1}) / 2 from N + 1 ascending bin edges (a dataset's `bin_edges` attribute).
pub fn bin_centres(edges: &[f64]) -> Result<Vec<f64>> {
    if edges.len() < 2 || edges.windows(2).any(|w| !(w[1] > w[0])) {
        return Err(err(KIND, format!("bin edges must be at least 2 strictly ascending values, got {edges:?}")));
    }
    Ok(edges.windows(2).map(|w| (w[0] + w[1]) / 2.0).collect())
}

/// Hits, misses and false alarms of one threshold.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct EventCounts {
    hits: u64,
    misses: u64,
    false_alarms: u64,
}

/// CSI, F1 and CRPS over precipitation bins for an epoch.
#[derive(Clone, Debug)]
pub struct BinnedPrecip {
    cfg: BinnedPrecipConfig,
    cm: ConfusionMatrix,
    events: Vec<EventCounts>,
    crps_sum: f64,
}

impl BinnedPrecip {
    /// `csi`, `f1`, `crps` (reference form) over `num_bins` bins from logits; no thresholds.
    pub fn new(num_bins: usize) -> Result<BinnedPrecip> {
        BinnedPrecip::with_config(BinnedPrecipConfig::new(num_bins))
    }

    pub fn with_config(cfg: BinnedPrecipConfig) -> Result<BinnedPrecip> {
        if cfg.num_bins == 0 {
            return Err(err(KIND, "num_bins must be at least 1"));
        }
        if !cfg.thresholds.is_empty() {
            match &cfg.bin_values {
                None => return Err(err(KIND, "thresholds need bin_values (the precipitation value of each bin)")),
                Some(v) if v.len() != cfg.num_bins => {
                    return Err(err(KIND, format!("{} bin values given for {} bins", v.len(), cfg.num_bins)))
                }
                _ => {}
            }
        }
        if !cfg.crps_scale.is_finite() {
            return Err(err(KIND, format!("crps_scale must be finite, got {}", cfg.crps_scale)));
        }
        let n = cfg.num_bins;
        Ok(BinnedPrecip { events: vec![EventCounts::default(); cfg.thresholds.len()], cm: ConfusionMatrix::new(n), crps_sum: 0.0, cfg })
    }

    pub fn config(&self) -> &BinnedPrecipConfig {
        &self.cfg
    }

    /// Bin confusion counts `[true][pred]` (e.g. for a confusion-matrix plot).
    pub fn counts(&self) -> &ConfusionMatrix {
        &self.cm
    }

    /// The CRPS of one sample from its probabilities.
    fn sample_crps(&self, p: &[f64], y: usize) -> f64 {
        let (mut cdf, mut total) = (0.0, 0.0);
        for (k, &pk) in p.iter().enumerate() {
            cdf += pk;
            let h = if k >= y { 1.0 } else { 0.0 };
            let d = cdf - h;
            total += match self.cfg.crps {
                CrpsForm::Standard => d * d,
                CrpsForm::Reference if cdf >= h => 9.0 * d * d,
                CrpsForm::Reference => d * d,
            };
        }
        total
    }

    fn config_json(&self) -> Value {
        json!({
            "num_bins": self.cfg.num_bins,
            "from_logits": self.cfg.from_logits,
            "crps": self.cfg.crps.as_str(),
            "crps_scale": f64_json(self.cfg.crps_scale),
            "bin_values": self.cfg.bin_values.as_ref().map(|v| v.iter().map(|x| f64_json(*x)).collect::<Vec<_>>()),
            "thresholds": self.cfg.thresholds.iter().map(|x| f64_json(*x)).collect::<Vec<_>>(),
        })
    }
}

impl Metric for BinnedPrecip {
    fn name(&self) -> &str {
        KIND
    }

    fn update(&mut self, preds: &Tensor, target: &Tensor) -> Result<()> {
        let n = self.cfg.num_bins;
        let sc = scores(KIND, preds, n)?;
        let y = labels(KIND, target, preds.shape()[0], n)?;
        let pred = argmax_rows(&sc, n);
        let mut p = vec![0.0; n];
        for ((row, &t), &k) in sc.chunks_exact(n).zip(&y).zip(&pred) {
            self.cm.add(t, k);
            if self.cfg.from_logits {
                softmax_into(row, &mut p);
            } else {
                p.copy_from_slice(row);
            }
            self.crps_sum += self.sample_crps(&p, t);
            if let Some(values) = &self.cfg.bin_values {
                for (e, &thr) in self.events.iter_mut().zip(&self.cfg.thresholds) {
                    let (f, o) = (values[k] >= thr, values[t] >= thr);
                    e.hits += (f && o) as u64;
                    e.misses += (!f && o) as u64;
                    e.false_alarms += (f && !o) as u64;
                }
            }
        }
        Ok(())
    }

    fn compute(&self) -> Result<Vec<(String, f64)>> {
        let total = self.cm.total();
        if total == 0 {
            return Ok(Vec::new());
        }
        let c = self.cm.correct();
        let csi = c as f64 / (c + 2 * (total - c)) as f64;
        let mut out = vec![
            ("csi".to_string(), csi),
            ("f1".to_string(), self.cm.macro_avg(LabelSet::Present).f1),
            ("crps".to_string(), self.crps_sum / total as f64 * self.cfg.crps_scale),
        ];
        for (e, t) in self.events.iter().zip(&self.cfg.thresholds) {
            let safe = |num: u64, den: u64| if den == 0 { 0.0 } else { num as f64 / den as f64 };
            out.push((format!("csi@{t}"), safe(e.hits, e.hits + e.misses + e.false_alarms)));
            out.push((format!("f1@{t}"), safe(2 * e.hits, 2 * e.hits + e.misses + e.false_alarms)));
        }
        Ok(out)
    }

    fn reset(&mut self) {
        self.cm.reset();
        self.events.iter_mut().for_each(|e| *e = EventCounts::default());
        self.crps_sum = 0.0;
    }

    fn state(&self) -> Value {
        let flat: Vec<u64> = self.events.iter().flat_map(|e| [e.hits, e.misses, e.false_alarms]).collect();
        json!({
            "kind": KIND,
            "config": self.config_json(),
            "confusion": u64s_json(self.cm.flat()),
            "events": u64s_json(&flat),
            "crps_sum": f64_json(self.crps_sum),
        })
    }

    fn load_state(&mut self, state: &Value) -> Result<()> {
        let r = StateReader::new(KIND, state)?;
        r.expect_config(&self.config_json())?;
        let n = self.cfg.num_bins;
        let confusion = r.u64s("confusion", n * n)?;
        let flat = r.u64s("events", 3 * self.events.len())?;
        let crps_sum = r.f64("crps_sum")?;
        self.cm.set_flat(confusion);
        self.events = flat.chunks(3).map(|e| EventCounts { hits: e[0], misses: e[1], false_alarms: e[2] }).collect();
        self.crps_sum = crps_sum;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::tests::{assert_same, feed_split, resume_split};
    use wrt_tensor::{DType, Generator};

    fn metric() -> BinnedPrecip {
        let mut cfg = BinnedPrecipConfig::new(8);
        cfg.bin_values = Some(bin_values_uniform(8, 4.0));
        cfg.thresholds = vec![0.5, 2.0];
        BinnedPrecip::with_config(cfg).unwrap()
    }

    #[test]
    fn hand_checked_two_bins() {
        // Logits ln(1), ln(3): p = (0.25, 0.75), P = (0.25, 1).
        let z = Tensor::from_vec(vec![0.0f64, 3f64.ln()], &[1, 2]).unwrap();
        for (form, y, want) in [
            (CrpsForm::Standard, 0i64, 0.75 * 0.75),
            (CrpsForm::Standard, 1, 0.0625),
            // y = 1: cell 0 has P = 0.25 >= H = 0 -> 9 * 0.0625; cell 1 has P = 1 >= H = 1 -> 9 * 0.
            (CrpsForm::Reference, 1, 9.0 * 0.0625),
            // y = 0: cell 0 has P = 0.25 < H = 1 -> 0.5625; cell 1 P = 1 >= 1 -> 0.
            (CrpsForm::Reference, 0, 0.5625),
        ] {
            let mut cfg = BinnedPrecipConfig::new(2);
            cfg.crps = form;
            let mut m = BinnedPrecip::with_config(cfg).unwrap();
            m.update(&z, &Tensor::from_vec(vec![y], &[1]).unwrap()).unwrap();
            let out = m.compute().unwrap();
            assert!((out[2].1 - want).abs() < 1e-15, "{form:?} y={y}: {} vs {want}", out[2].1);
            let csi = if y == 1 { 1.0 } else { 0.0 };
            assert_eq!(out[0].1, csi);
        }
    }

    #[test]
    fn thresholds_count_events() {
        let mut m = metric(); // bin values 0, 0.5, 1, ..., 3.5
        let mut z = vec![0.0f32; 3 * 8];
        z[2] = 5.0; // predicts bin 2 (1.0 mm)
        z[8] = 5.0; // predicts bin 0
        z[16 + 6] = 5.0; // predicts bin 6 (3.0)
        let x = Tensor::from_vec(z, &[3, 8]).unwrap();
        let y = Tensor::from_vec(vec![1i64, 4, 7], &[3]).unwrap(); // 0.5, 2.0, 3.5
        m.update(&x, &y).unwrap();
        let out: std::collections::BTreeMap<_, _> = m.compute().unwrap().into_iter().collect();
        // t = 0.5: forecast events {0, 2}, observed {0, 1, 2}: H = 2, M = 1, F = 0.
        assert_eq!(out["csi@0.5"], 2.0 / 3.0);
        assert_eq!(out["f1@0.5"], 0.8);
        // t = 2: forecast {2}, observed {1, 2}: H = 1, M = 1.
        assert_eq!(out["csi@2"], 0.5);
        assert_eq!(out["csi"], 0.0);
    }

    #[test]
    fn batches_resume_and_errors() {
        let mut g = Generator::new(9);
        let x = g.normal(&[29, 8], 0.0, 2.0, DType::F32).unwrap();
        let y = g.randint(&[29], 0, 8).unwrap();
        assert_same(&feed_split(metric(), &x, &y, &[29]), &feed_split(metric(), &x, &y, &[5, 5, 5, 14]));
        resume_split(metric, &x, &y, &[3, 26]);
        let e = metric().update(&x, &Tensor::zeros(&[29, 7], DType::F32).unwrap()).unwrap_err().to_string();
        assert!(e.contains("binned_precip") && e.contains("[29, 7]"), "{e}");
        let mut cfg = BinnedPrecipConfig::new(8);
        cfg.thresholds = vec![1.0];
        assert!(BinnedPrecip::with_config(cfg).is_err());
        assert!(bin_centres(&[0.0, 1.0, 1.0]).is_err());
        assert_eq!(bin_centres(&[0.0, 1.0, 3.0]).unwrap(), vec![0.5, 2.0]);
    }
}
