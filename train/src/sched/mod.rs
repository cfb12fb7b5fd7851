//! Learning-rate schedulers with `torch.optim.lr_scheduler`'s semantics, in f64 like Python floats.
//!
//! A scheduler is built from the optimizer it drives (its groups' current lrs become the base lrs) and, as
//! in PyTorch, takes an initial step at construction (`last_epoch` becomes 0 and the epoch-0 lr is set).
//! Call `step(opt)` after each `opt.step()`; `ReduceLROnPlateau` takes `step_metric(opt, value)`. The
//! recursive forms PyTorch uses in `get_lr()` (StepLR, CosineAnnealingLR, pl_bolts' warmup-cosine) read the
//! optimizer's current lr, so the sequences match torch's to the last bit, not just the closed forms.

mod cosine;
mod onecycle;
mod plateau;
mod step;

pub use cosine::{CosineAnnealingLR, CosineAnnealingWarmRestarts, LinearWarmupCosine};
pub use onecycle::{Anneal, OneCycleConfig, OneCycleLR};
pub use plateau::{Mode, PlateauConfig, ReduceLROnPlateau, ThresholdMode};
pub use step::{MultiStepLR, StepLR};

use crate::optim::Optimizer;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

pub trait Scheduler {
    /// Advance one epoch (or iteration) and set the optimizer's lrs.
    fn step(&mut self, opt: &mut dyn Optimizer) -> Result<()>;
    /// Advance with a monitored metric. Only `ReduceLROnPlateau` reads it; the others ignore it and `step`.
    fn step_metric(&mut self, opt: &mut dyn Optimizer, metric: f64) -> Result<()> {
        let _ = metric;
        self.step(opt)
    }
    /// The lrs the last step set, one per group (PyTorch's `get_last_lr()`).
    fn get_lr(&self) -> Vec<f64>;
    fn state_dict(&self) -> serde_json::Value;
    fn load_state_dict(&mut self, state: &serde_json::Value) -> Result<()>;
}

/// What every epoch-based scheduler tracks (PyTorch's `LRScheduler` attributes).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Base {
    pub base_lrs: Vec<f64>,
    pub last_epoch: i64,
    pub last_lr: Vec<f64>,
    /// Steps taken, counting the initial one.
    pub step_count: u64,
}

impl Base {
    fn new(base_lrs: Vec<f64>) -> Base {
        Base { last_lr: base_lrs.clone(), base_lrs, last_epoch: -1, step_count: 0 }
    }

    /// `LRScheduler.step()`: bump the epoch, compute the lrs with `get_lr(base, current lrs, is_initial)`, set them.
    fn advance(&mut self, opt: &mut dyn Optimizer, get_lr: impl FnOnce(&Base, &[f64], bool) -> Result<Vec<f64>>) -> Result<()> {
        let initial = self.step_count == 0;
        if opt.num_groups() != self.base_lrs.len() {
            return Err(Error::state(format!("scheduler built for {} param groups, optimizer has {}", self.base_lrs.len(), opt.num_groups())));
        }
        self.step_count += 1;
        self.last_epoch += 1;
        let lrs = get_lr(self, &opt.lrs(), initial)?;
        for (g, &lr) in lrs.iter().enumerate() {
            opt.set_lr(g, lr);
        }
        self.last_lr = lrs;
        Ok(())
    }
}

/// Serialise a scheduler: its kind, the shared base state and its own settings.
fn to_json<T: Serialize>(kind: &str, base: &Base, own: &T) -> serde_json::Value {
    serde_json::json!({"scheduler": kind, "base": base, "config": own})
}

/// The inverse of `to_json`, checking the kind and the number of groups.
fn from_json<T: for<'de> Deserialize<'de>>(kind: &str, v: &serde_json::Value, groups: usize) -> Result<(Base, T)> {
    let got = v.get("scheduler").and_then(|k| k.as_str()).unwrap_or("?");
    if got != kind {
        return Err(Error::state(format!("saved by a '{got}' scheduler, loading into '{kind}'")));
    }
    let base: Base = serde_json::from_value(v.get("base").cloned().unwrap_or_default()).map_err(|e| Error::state(format!("{kind}: base: {e}")))?;
    if base.base_lrs.len() != groups {
        return Err(Error::state(format!("{kind}: {} groups saved, this scheduler has {groups}", base.base_lrs.len())));
    }
    let own = serde_json::from_value(v.get("config").cloned().unwrap_or_default()).map_err(|e| Error::state(format!("{kind}: config: {e}")))?;
    Ok((base, own))
}

/// Python's `a % b` for integers (the result has b's sign).
fn py_mod(a: i64, b: i64) -> i64 {
    a.rem_euclid(b)
}
