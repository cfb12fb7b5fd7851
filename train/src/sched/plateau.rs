//! `torch.optim.lr_scheduler.ReduceLROnPlateau`: multiply the lr by `factor` once the monitored metric has
//! not improved (by more than `threshold`, relative or absolute) for more than `patience` steps, then wait
//! `cooldown` steps; never below `min_lr`, and skip changes smaller than `eps`.

use super::Scheduler;
use crate::optim::Optimizer;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum Mode {
    Min,
    Max,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum ThresholdMode {
    Rel,
    Abs,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PlateauConfig {
    pub mode: Mode,
    pub factor: f64,
    pub patience: u64,
    pub threshold: f64,
    pub threshold_mode: ThresholdMode,
    pub cooldown: u64,
    /// One per group, or a single value for all.
    pub min_lr: Vec<f64>,
    pub eps: f64,
}

impl Default for PlateauConfig {
    /// PyTorch's defaults.
    fn default() -> Self {
        PlateauConfig {
            mode: Mode::Min,
            factor: 0.1,
            patience: 10,
            threshold: 1e-4,
            threshold_mode: ThresholdMode::Rel,
            cooldown: 0,
            min_lr: vec![0.0],
            eps: 1e-8,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
struct PlateauState {
    cfg: PlateauConfig,
    /// Stored as `null` while still +-inf (JSON has no infinity).
    best: Option<f64>,
    num_bad_epochs: u64,
    cooldown_counter: u64,
    last_epoch: i64,
    last_lr: Vec<f64>,
}

pub struct ReduceLROnPlateau {
    st: PlateauState,
    min_lrs: Vec<f64>,
}

impl ReduceLROnPlateau {
    pub fn new(opt: &mut dyn Optimizer, cfg: PlateauConfig) -> Result<ReduceLROnPlateau> {
        if cfg.factor >= 1.0 {
            return Err(Error::config("ReduceLROnPlateau factor", "factor should be < 1.0"));
        }
        let n = opt.num_groups();
        let min_lrs = match cfg.min_lr.len() {
            1 => vec![cfg.min_lr[0]; n],
            k if k == n => cfg.min_lr.clone(),
            k => return Err(Error::config("ReduceLROnPlateau min_lr", format!("expected {n} min_lrs, got {k}"))),
        };
        let st = PlateauState { cfg, best: None, num_bad_epochs: 0, cooldown_counter: 0, last_epoch: 0, last_lr: opt.lrs() };
        Ok(ReduceLROnPlateau { st, min_lrs })
    }

    fn mode_worse(&self) -> f64 {
        match self.st.cfg.mode {
            Mode::Min => f64::INFINITY,
            Mode::Max => f64::NEG_INFINITY,
        }
    }

    fn is_better(&self, a: f64, best: f64) -> bool {
        let t = self.st.cfg.threshold;
        match (self.st.cfg.mode, self.st.cfg.threshold_mode) {
            (Mode::Min, ThresholdMode::Rel) => a < best * (1.0 - t),
            (Mode::Min, ThresholdMode::Abs) => a < best - t,
            (Mode::Max, ThresholdMode::Rel) => a > best * (t + 1.0),
            (Mode::Max, ThresholdMode::Abs) => a > best + t,
        }
    }

    /// Steps without improvement counted so far (for early-stopping style displays).
    pub fn num_bad_epochs(&self) -> u64 {
        self.st.num_bad_epochs
    }
}

impl Scheduler for ReduceLROnPlateau {
    /// A plateau scheduler needs the metric: use `step_metric`.
    fn step(&mut self, _opt: &mut dyn Optimizer) -> Result<()> {
        Err(Error::config("ReduceLROnPlateau step", "needs the monitored metric: call step_metric(opt, value)"))
    }

    fn step_metric(&mut self, opt: &mut dyn Optimizer, current: f64) -> Result<()> {
        self.st.last_epoch += 1;
        let best = self.st.best.unwrap_or_else(|| self.mode_worse());
        if self.is_better(current, best) {
            self.st.best = Some(current);
            self.st.num_bad_epochs = 0;
        } else {
            self.st.num_bad_epochs += 1;
        }
        if self.st.cooldown_counter > 0 {
            self.st.cooldown_counter -= 1;
            self.st.num_bad_epochs = 0;
        }
        if self.st.num_bad_epochs > self.st.cfg.patience {
            for g in 0..opt.num_groups().min(self.min_lrs.len()) {
                let old = opt.lr(g);
                let new = (old * self.st.cfg.factor).max(self.min_lrs[g]);
                if old - new > self.st.cfg.eps {
                    opt.set_lr(g, new);
                }
            }
            self.st.cooldown_counter = self.st.cfg.cooldown;
            self.st.num_bad_epochs = 0;
        }
        self.st.last_lr = opt.lrs();
        Ok(())
    }

    fn get_lr(&self) -> Vec<f64> {
        self.st.last_lr.clone()
    }
    fn state_dict(&self) -> serde_json::Value {
        serde_json::json!({"scheduler": "ReduceLROnPlateau", "state": self.st})
    }
    fn load_state_dict(&mut self, v: &serde_json::Value) -> Result<()> {
        if v.get("scheduler").and_then(|k| k.as_str()) != Some("ReduceLROnPlateau") {
            return Err(Error::state("not a ReduceLROnPlateau state"));
        }
        let st: PlateauState = serde_json::from_value(v.get("state").cloned().unwrap_or_default()).map_err(|e| Error::state(format!("ReduceLROnPlateau: {e}")))?;
        if st.last_lr.len() != self.min_lrs.len() {
            return Err(Error::state(format!("ReduceLROnPlateau: {} groups saved, this scheduler has {}", st.last_lr.len(), self.min_lrs.len())));
        }
        self.min_lrs = if st.cfg.min_lr.len() == 1 { vec![st.cfg.min_lr[0]; self.min_lrs.len()] } else { st.cfg.min_lr.clone() };
        self.st = st;
        Ok(())
    }
}
