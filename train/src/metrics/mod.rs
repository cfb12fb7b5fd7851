//! Streaming metrics: each one accumulates over the batches of an epoch (`update`), reports named values
//! (`compute`), starts over (`reset`), and saves/restores its accumulators as JSON (`state`/`load_state`) so
//! a run resumed from a mid-epoch checkpoint ends the epoch with the same values, bit for bit.
//!
//! Accumulators are u64 counts and f64 sums, added one sample or one element at a time in input order, so a
//! value does not depend on how the epoch was cut into batches (one batch or many give identical bits).
//! Inputs are read in whatever dtype the model produced (f32, f16, bf16 widen to f64 exactly).
//!
//! | metric | project | inputs | keys |
//! |---|---|---|---|
//! | [`Classification`] | AtmoDist, SITS-Former | scores `[B, C]` or classes `[B]`; target classes `[B]` or one-hot `[B, C]` | `acc`, `top{k}_acc`, `precision_/recall_/f1_` + `macro`, `weighted`, per class |
//! | [`RocAuc`] | SITS-Former | logits or probabilities `[B, C]`; target `[B]` | `auroc` |
//! | [`BinnedPrecip`] | SaTformer | logits `[B, N]` over bins; true bin `[B]` or one-hot | `csi`, `f1`, `crps`, `csi@{t}`, `f1@{t}` |
//! | [`Gridded`] | Pangu | `[B, C.., H, W]` both | `rmse`, `mae`, `wrmse`, `acc` (+ `_{channel}`) |
//! | [`Forecast`] | TFT | `[..]` or quantiles `[.., Q]`; target `[..]` | `quantile_loss`, `mae`, `mse`, `rmse`, `smape`, `r2` |
//!
//! Keys are unprefixed: the caller adds `train_`/`val_`. Definitions, formulas and the references they
//! follow are in docs/metrics.md and in each module.

mod classification;
mod confusion;
mod forecast;
mod gridded;
mod input;
mod precipitation;
mod report;
mod roc_auc;
mod state;

pub use classification::{Classification, ClassificationConfig};
pub use confusion::{ConfusionMatrix, LabelSet, Scores};
pub use forecast::Forecast;
pub use gridded::Gridded;
pub use precipitation::{bin_centres, bin_values_uniform, BinnedPrecip, BinnedPrecipConfig, CrpsForm};
pub use report::classification_report;
pub use roc_auc::RocAuc;

use crate::{Error, Result};
use serde_json::{Map, Value};
use wrt_tensor::Tensor;

/// A metric accumulated over an epoch.
pub trait Metric: Send {
    /// The metric's kind (`"classification"`, `"binned_precip"`, ...): used in errors and saved states.
    fn name(&self) -> &str;

    /// Accumulate one batch. On an error (shapes, dtypes, labels out of range; `Error::Metric` naming the
    /// metric and the shapes) nothing of the batch is counted.
    fn update(&mut self, preds: &Tensor, target: &Tensor) -> Result<()>;

    /// The values over everything accumulated since the last reset, as (unprefixed key, value). Empty
    /// before the first sample (nothing to log).
    fn compute(&self) -> Result<Vec<(String, f64)>>;

    fn reset(&mut self);

    /// The accumulators (and the config they belong to) as JSON.
    fn state(&self) -> Value;

    /// Restore accumulators saved by `state` of a metric with the same config; a state of another kind or
    /// config is an error and leaves this metric unchanged.
    fn load_state(&mut self, state: &Value) -> Result<()>;

    /// What the epoch produced besides scalars (a confusion matrix, a classification report), named without
    /// the stage prefix. The trainer logs them after each validation epoch (text and images to the loggers,
    /// every artifact as a file under the log directory). Default: none.
    fn artifacts(&self) -> Result<Vec<Artifact>> {
        Ok(Vec::new())
    }
}

/// A non-scalar epoch result of a metric.
#[derive(Clone, Debug, PartialEq)]
pub struct Artifact {
    /// `confusion_matrix`, `classification_report`, ...: the trainer adds `val_` and, for files, the epoch.
    pub name: String,
    pub body: ArtifactBody,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ArtifactBody {
    /// Free text (`.txt`; a TensorBoard text summary).
    Text(String),
    /// A table as CSV text (`.csv`).
    Csv(String),
    /// A PNG image (`.png`; a TensorBoard image).
    Png(Vec<u8>),
}

impl ArtifactBody {
    pub fn extension(&self) -> &'static str {
        match self {
            ArtifactBody::Text(_) => "txt",
            ArtifactBody::Csv(_) => "csv",
            ArtifactBody::Png(_) => "png",
        }
    }
    pub fn bytes(&self) -> &[u8] {
        match self {
            ArtifactBody::Text(s) | ArtifactBody::Csv(s) => s.as_bytes(),
            ArtifactBody::Png(b) => b,
        }
    }
}

/// A metric reporting only some of another's keys, under new names (`acc` -> `accuracy`): how a task logs
/// the names its reference logs. Accumulators, state and artifacts are the inner metric's.
pub struct Renamed<M> {
    pub inner: M,
    keys: Vec<(String, String)>,
}

impl<M: Metric> Renamed<M> {
    /// Report `inner`'s key `from` as `to`, for each `(from, to)`, in that order; other keys are dropped.
    pub fn new(inner: M, keys: &[(&str, &str)]) -> Renamed<M> {
        Renamed { inner, keys: keys.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect() }
    }
}

impl<M: Metric> Metric for Renamed<M> {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn update(&mut self, preds: &Tensor, target: &Tensor) -> Result<()> {
        self.inner.update(preds, target)
    }
    fn compute(&self) -> Result<Vec<(String, f64)>> {
        let all = self.inner.compute()?;
        Ok(self.keys.iter().filter_map(|(from, to)| all.iter().find(|(k, _)| k == from).map(|(_, v)| (to.clone(), *v))).collect())
    }
    fn reset(&mut self) {
        self.inner.reset()
    }
    fn state(&self) -> Value {
        self.inner.state()
    }
    fn load_state(&mut self, state: &Value) -> Result<()> {
        self.inner.load_state(state)
    }
    fn artifacts(&self) -> Result<Vec<Artifact>> {
        self.inner.artifacts()
    }
}

/// Several metrics fed the same batches, their keys concatenated in insertion order. Each is stored
/// under a unique key (its `name()` unless given one), which also keys its saved state.
#[derive(Default)]
pub struct MetricSet {
    items: Vec<(String, Box<dyn Metric>)>,
}

impl MetricSet {
    pub fn new() -> MetricSet {
        MetricSet::default()
    }

    /// Add a metric under its `name()`.
    pub fn with(self, metric: impl Metric + 'static) -> Result<MetricSet> {
        let key = metric.name().to_string();
        self.with_key(key, metric)
    }

    /// Add a metric under `key` (two metrics of one kind need distinct keys).
    pub fn with_key(mut self, key: impl Into<String>, metric: impl Metric + 'static) -> Result<MetricSet> {
        let key = key.into();
        if self.items.iter().any(|(k, _)| *k == key) {
            return Err(Error::Metric(format!("metric set: key '{key}' is used twice")));
        }
        self.items.push((key, Box::new(metric)));
        Ok(self)
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The metric stored under `key` (e.g. to read a confusion matrix or a report).
    pub fn get(&self, key: &str) -> Option<&dyn Metric> {
        self.items.iter().find(|(k, _)| k == key).map(|(_, m)| m.as_ref())
    }

    /// Update every metric with the batch; stops at the first error (metrics before it have counted it).
    pub fn update(&mut self, preds: &Tensor, target: &Tensor) -> Result<()> {
        self.items.iter_mut().try_for_each(|(_, m)| m.update(preds, target))
    }

    pub fn compute(&self) -> Result<Vec<(String, f64)>> {
        let mut out = Vec::new();
        for (_, m) in &self.items {
            out.extend(m.compute()?);
        }
        Ok(out)
    }

    pub fn reset(&mut self) {
        self.items.iter_mut().for_each(|(_, m)| m.reset());
    }

    /// `{key: state}` for every metric.
    pub fn state(&self) -> Value {
        Value::Object(self.items.iter().map(|(k, m)| (k.clone(), m.state())).collect::<Map<_, _>>())
    }

    /// Restore every metric from `state`; every key must be present. Checks all before changing any.
    pub fn load_state(&mut self, state: &Value) -> Result<()> {
        let obj = state.as_object().ok_or_else(|| Error::Metric(format!("metric set: saved state must be a JSON object, found {state}")))?;
        for (k, _) in &self.items {
            if !obj.contains_key(k) {
                return Err(Error::Metric(format!("metric set: saved state has no entry for metric '{k}'")));
            }
        }
        // Each metric's load is all-or-nothing; roll back the ones already loaded if a later entry fails.
        let backups: Vec<Value> = self.items.iter().map(|(_, m)| m.state()).collect();
        for i in 0..self.items.len() {
            let (k, m) = &mut self.items[i];
            if let Err(e) = m.load_state(&obj[k.as_str()]) {
                let e = Error::Metric(format!("metric set: entry '{k}': {e}"));
                for (done, saved) in self.items.iter_mut().zip(&backups).take(i) {
                    // Re-loading a state this metric produced itself cannot fail.
                    done.1.load_state(saved).expect("a metric reloads its own state");
                }
                return Err(e);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Feed `x`/`y` cut along dim 0 into batches of the given sizes, then compute.
    pub(crate) fn feed_split<M: Metric>(mut m: M, x: &Tensor, y: &Tensor, sizes: &[usize]) -> Vec<(String, f64)> {
        feed(&mut m, x, y, sizes, 0);
        m.compute().unwrap()
    }

    fn feed<M: Metric>(m: &mut M, x: &Tensor, y: &Tensor, sizes: &[usize], mut start: usize) -> usize {
        for &s in sizes {
            m.update(&x.narrow(0, start, s).unwrap(), &y.narrow(0, start, s).unwrap()).unwrap();
            start += s;
        }
        start
    }

    /// Identical keys and bit-identical values (NaN equal to NaN).
    pub(crate) fn assert_same(a: &[(String, f64)], b: &[(String, f64)]) {
        assert_eq!(a.len(), b.len(), "{a:?} vs {b:?}");
        for ((ka, va), (kb, vb)) in a.iter().zip(b) {
            assert_eq!(ka, kb);
            assert!(va.to_bits() == vb.to_bits() || (va.is_nan() && vb.is_nan()), "{ka}: {va} vs {vb}");
        }
    }

    /// Feeding `sizes[0]` samples, saving the state through JSON text, loading it into a fresh metric and
    /// feeding the rest gives the same values as feeding everything into one metric.
    pub(crate) fn resume_split<M: Metric>(mk: impl Fn() -> M, x: &Tensor, y: &Tensor, sizes: &[usize]) {
        let whole = feed_split(mk(), x, y, sizes);
        let mut first = mk();
        let next = feed(&mut first, x, y, &sizes[..1], 0);
        let text = serde_json::to_string(&first.state()).unwrap();
        let mut resumed = mk();
        resumed.load_state(&serde_json::from_str(&text).unwrap()).unwrap();
        feed(&mut resumed, x, y, &sizes[1..], next);
        assert_same(&whole, &resumed.compute().unwrap());
        resumed.reset();
        assert!(resumed.compute().unwrap().is_empty(), "reset must clear the accumulators");
    }

    #[test]
    fn set_concatenates_keys_and_round_trips() {
        let mk = || {
            MetricSet::new().with(Classification::new(3).unwrap()).unwrap().with(RocAuc::new(3, true).unwrap()).unwrap()
        };
        let x = Tensor::from_vec(vec![2.0f32, 1.0, 0.0, 0.0, 1.0, 2.0, 0.0, 3.0, 1.0], &[3, 3]).unwrap();
        let y = Tensor::from_vec(vec![0i64, 2, 2], &[3]).unwrap();
        let mut a = mk();
        a.update(&x, &y).unwrap();
        let keys: Vec<String> = a.compute().unwrap().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys[0], "acc");
        assert!(!keys.contains(&"auroc".to_string()), "class 1 has no sample, so no AUC");
        let mut b = mk();
        b.load_state(&a.state()).unwrap();
        assert_same(&a.compute().unwrap(), &b.compute().unwrap());
        assert!(mk().with(Classification::new(2).unwrap()).is_err(), "duplicate key");
    }

    #[test]
    fn set_load_is_all_or_nothing() {
        let mut a = MetricSet::new().with(Classification::new(2).unwrap()).unwrap().with(Forecast::point()).unwrap();
        let x = Tensor::from_vec(vec![1.0f32, 0.0], &[1, 2]).unwrap();
        a.get("classification").unwrap();
        let mut saved = a.state();
        a.items[0].1.update(&x, &Tensor::from_vec(vec![0i64], &[1]).unwrap()).unwrap();
        let before = a.compute().unwrap();
        saved["forecast"]["n"] = Value::from("bad");
        let e = a.load_state(&saved).unwrap_err().to_string();
        assert!(e.contains("forecast") && e.contains("'n'"), "{e}");
        assert_same(&before, &a.compute().unwrap());
        assert!(a.load_state(&serde_json::json!({})).is_err());
    }
}

/// Whether a metric improves downwards (losses and errors) rather than upwards (scores), from its name:
/// the default goal of sweeps and the "best" of a run's summary.
pub fn lower_is_better(metric: &str) -> bool {
    ["loss", "crps", "mae", "mse", "rmse", "smape", "mape", "risk", "error"].iter().any(|k| metric.contains(k))
}
