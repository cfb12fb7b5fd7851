//! `StepLR` (decay by gamma every `step_size` epochs) and `MultiStepLR` (decay by gamma at each milestone),
//! in PyTorch's recursive form: the current lr times gamma at the decay epochs.

use super::{from_json, to_json, Base, Scheduler};
use crate::optim::Optimizer;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
struct StepCfg {
    step_size: i64,
    gamma: f64,
}

pub struct StepLR {
    base: Base,
    cfg: StepCfg,
}

impl StepLR {
    pub fn new(opt: &mut dyn Optimizer, step_size: usize, gamma: f64) -> Result<StepLR> {
        if step_size == 0 {
            return Err(Error::config("StepLR step_size", "must be positive"));
        }
        let mut s = StepLR { base: Base::new(opt.lrs()), cfg: StepCfg { step_size: step_size as i64, gamma } };
        s.step(opt)?;
        Ok(s)
    }
}

impl Scheduler for StepLR {
    fn step(&mut self, opt: &mut dyn Optimizer) -> Result<()> {
        let c = &self.cfg;
        self.base.advance(opt, |b, cur, _| {
            Ok(if b.last_epoch == 0 || b.last_epoch % c.step_size != 0 { cur.to_vec() } else { cur.iter().map(|lr| lr * c.gamma).collect() })
        })
    }
    fn get_lr(&self) -> Vec<f64> {
        self.base.last_lr.clone()
    }
    fn state_dict(&self) -> serde_json::Value {
        to_json("StepLR", &self.base, &self.cfg)
    }
    fn load_state_dict(&mut self, v: &serde_json::Value) -> Result<()> {
        (self.base, self.cfg) = from_json("StepLR", v, self.base.base_lrs.len())?;
        Ok(())
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
struct MultiStepCfg {
    /// milestone -> how many times it was given (PyTorch keeps a Counter)
    milestones: BTreeMap<i64, u32>,
    gamma: f64,
}

pub struct MultiStepLR {
    base: Base,
    cfg: MultiStepCfg,
}

impl MultiStepLR {
    pub fn new(opt: &mut dyn Optimizer, milestones: &[usize], gamma: f64) -> Result<MultiStepLR> {
        let mut counts = BTreeMap::new();
        for &m in milestones {
            *counts.entry(m as i64).or_insert(0) += 1;
        }
        let mut s = MultiStepLR { base: Base::new(opt.lrs()), cfg: MultiStepCfg { milestones: counts, gamma } };
        s.step(opt)?;
        Ok(s)
    }
}

impl Scheduler for MultiStepLR {
    fn step(&mut self, opt: &mut dyn Optimizer) -> Result<()> {
        let c = &self.cfg;
        self.base.advance(opt, |b, cur, _| {
            Ok(match c.milestones.get(&b.last_epoch) {
                None => cur.to_vec(),
                Some(&n) => cur.iter().map(|lr| lr * c.gamma.powf(n as f64)).collect(),
            })
        })
    }
    fn get_lr(&self) -> Vec<f64> {
        self.base.last_lr.clone()
    }
    fn state_dict(&self) -> serde_json::Value {
        to_json("MultiStepLR", &self.base, &self.cfg)
    }
    fn load_state_dict(&mut self, v: &serde_json::Value) -> Result<()> {
        (self.base, self.cfg) = from_json("MultiStepLR", v, self.base.base_lrs.len())?;
        Ok(())
    }
}
