//! `torch.optim.lr_scheduler.OneCycleLR`: warm up from `max_lr / div_factor` to `max_lr` over `pct_start` of
//! `total_steps`, then anneal to `initial_lr / final_div_factor` (or, `three_phase`, back to the initial lr
//! and then down). With `cycle_momentum` the momentum (SGD's momentum, Adam's beta1) moves the other way,
//! between `max_momentum` and `base_momentum`, exactly as PyTorch writes it into the param groups.

use super::{from_json, to_json, Base, Scheduler};
use crate::optim::Optimizer;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::f64::consts::PI;

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum Anneal {
    Cos,
    Linear,
}

impl Anneal {
    fn apply(self, start: f64, end: f64, pct: f64) -> f64 {
        match self {
            Anneal::Cos => end + (start - end) / 2.0 * ((PI * pct).cos() + 1.0),
            Anneal::Linear => (end - start) * pct + start,
        }
    }
}

/// Settings, with PyTorch's defaults from `OneCycleLR::default_config(total_steps)`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct OneCycleConfig {
    pub total_steps: usize,
    pub pct_start: f64,
    pub anneal: Anneal,
    pub cycle_momentum: bool,
    pub base_momentum: f64,
    pub max_momentum: f64,
    pub div_factor: f64,
    pub final_div_factor: f64,
    pub three_phase: bool,
}

/// Per-group values PyTorch stores in the param group (`initial_lr`, `max_lr`, `min_lr`, momenta).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
struct GroupVals {
    initial_lr: f64,
    max_lr: f64,
    min_lr: f64,
    max_momentum: f64,
    base_momentum: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
struct OneCycleState {
    cfg: OneCycleConfig,
    groups: Vec<GroupVals>,
}

pub struct OneCycleLR {
    base: Base,
    st: OneCycleState,
}

impl OneCycleLR {
    pub fn default_config(total_steps: usize) -> OneCycleConfig {
        OneCycleConfig {
            total_steps,
            pct_start: 0.3,
            anneal: Anneal::Cos,
            cycle_momentum: true,
            base_momentum: 0.85,
            max_momentum: 0.95,
            div_factor: 25.0,
            final_div_factor: 1e4,
            three_phase: false,
        }
    }

    /// `max_lrs`: one per group, or a single value for all.
    pub fn new(opt: &mut dyn Optimizer, max_lrs: &[f64], cfg: OneCycleConfig) -> Result<OneCycleLR> {
        if cfg.total_steps == 0 {
            return Err(Error::config("OneCycleLR total_steps", "must be positive"));
        }
        if !(0.0..=1.0).contains(&cfg.pct_start) {
            return Err(Error::config("OneCycleLR pct_start", format!("must be in [0, 1], got {}", cfg.pct_start)));
        }
        let n = opt.num_groups();
        if max_lrs.len() != 1 && max_lrs.len() != n {
            return Err(Error::config("OneCycleLR max_lr", format!("expected 1 or {n} values, got {}", max_lrs.len())));
        }
        let groups: Vec<GroupVals> = (0..n)
            .map(|g| {
                let max_lr = max_lrs[if max_lrs.len() == 1 { 0 } else { g }];
                let initial_lr = max_lr / cfg.div_factor;
                GroupVals { initial_lr, max_lr, min_lr: initial_lr / cfg.final_div_factor, max_momentum: cfg.max_momentum, base_momentum: cfg.base_momentum }
            })
            .collect();
        if cfg.cycle_momentum {
            for g in 0..n {
                opt.set_momentum(g, cfg.max_momentum);
            }
        }
        let base = Base::new(groups.iter().map(|g| g.initial_lr).collect());
        let mut s = OneCycleLR { base, st: OneCycleState { cfg, groups } };
        s.step(opt)?;
        Ok(s)
    }

    /// (end_step, start lr, end lr, start momentum, end momentum) of each phase for one group.
    fn phases(&self, g: &GroupVals) -> Vec<(f64, f64, f64, f64, f64)> {
        let c = &self.st.cfg;
        let total = c.total_steps as f64;
        let (mx, bm) = (g.max_momentum, g.base_momentum);
        if c.three_phase {
            vec![
                ((c.pct_start * total) - 1.0, g.initial_lr, g.max_lr, mx, bm),
                ((2.0 * c.pct_start * total) - 2.0, g.max_lr, g.initial_lr, bm, mx),
                (total - 1.0, g.initial_lr, g.min_lr, mx, mx),
            ]
        } else {
            vec![((c.pct_start * total) - 1.0, g.initial_lr, g.max_lr, mx, bm), (total - 1.0, g.max_lr, g.min_lr, bm, mx)]
        }
    }
}

impl Scheduler for OneCycleLR {
    fn step(&mut self, opt: &mut dyn Optimizer) -> Result<()> {
        let step_num = self.base.last_epoch + 1;
        if step_num > self.st.cfg.total_steps as i64 {
            return Err(Error::config(
                "OneCycleLR step",
                format!("tried to step {step_num} times; the specified number of total steps is {}", self.st.cfg.total_steps),
            ));
        }
        let mut momenta = Vec::new();
        let mut lrs = Vec::new();
        for g in &self.st.groups {
            let phases = self.phases(g);
            let mut start_step = 0.0;
            for (i, &(end_step, lr0, lr1, m0, m1)) in phases.iter().enumerate() {
                if step_num as f64 <= end_step || i == phases.len() - 1 {
                    let pct = (step_num as f64 - start_step) / (end_step - start_step);
                    lrs.push(self.st.cfg.anneal.apply(lr0, lr1, pct));
                    momenta.push(self.st.cfg.anneal.apply(m0, m1, pct));
                    break;
                }
                start_step = end_step;
            }
        }
        if self.st.cfg.cycle_momentum {
            for (g, &m) in momenta.iter().enumerate() {
                opt.set_momentum(g, m);
            }
        }
        self.base.advance(opt, |_, _, _| Ok(lrs))
    }
    fn get_lr(&self) -> Vec<f64> {
        self.base.last_lr.clone()
    }
    fn state_dict(&self) -> serde_json::Value {
        to_json("OneCycleLR", &self.base, &self.st)
    }
    fn load_state_dict(&mut self, v: &serde_json::Value) -> Result<()> {
        (self.base, self.st) = from_json("OneCycleLR", v, self.base.base_lrs.len())?;
        Ok(())
    }
}
