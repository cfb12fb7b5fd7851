//! Cosine annealing (`torch.optim.lr_scheduler.CosineAnnealingLR`) and linear warmup followed by cosine
//! annealing (pl_bolts' `LinearWarmupCosineAnnealingLR`, which Lightning users import), both in the recursive
//! form their `get_lr()` uses: each step rescales the optimizer's current lr; and cosine annealing with warm
//! restarts (`CosineAnnealingWarmRestarts`, the seed TFT's scheduler), in its closed form.

use super::{from_json, py_mod, to_json, Base, Scheduler};
use crate::optim::Optimizer;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::f64::consts::PI;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
struct CosineCfg {
    t_max: i64,
    eta_min: f64,
}

/// lr goes from the base lr to `eta_min` over `t_max` steps along half a cosine (and back up after, as in
/// PyTorch, if stepped past `t_max`).
pub struct CosineAnnealingLR {
    base: Base,
    cfg: CosineCfg,
}

impl CosineAnnealingLR {
    pub fn new(opt: &mut dyn Optimizer, t_max: usize, eta_min: f64) -> Result<CosineAnnealingLR> {
        if t_max == 0 {
            return Err(Error::config("CosineAnnealingLR T_max", "must be positive"));
        }
        let mut s = CosineAnnealingLR { base: Base::new(opt.lrs()), cfg: CosineCfg { t_max: t_max as i64, eta_min } };
        s.step(opt)?;
        Ok(s)
    }
}

impl Scheduler for CosineAnnealingLR {
    fn step(&mut self, opt: &mut dyn Optimizer) -> Result<()> {
        let c = &self.cfg;
        self.base.advance(opt, |b, cur, initial| {
            let (e, t, eta) = (b.last_epoch, c.t_max, c.eta_min);
            if initial {
                return Ok(cur.to_vec());
            }
            if py_mod(e - 1 - t, 2 * t) == 0 {
                return Ok(cur.iter().zip(&b.base_lrs).map(|(lr, base)| lr + (base - eta) * (1.0 - (PI / t as f64).cos()) / 2.0).collect());
            }
            let ratio = (1.0 + (PI * e as f64 / t as f64).cos()) / (1.0 + (PI * (e - 1) as f64 / t as f64).cos());
            Ok(cur.iter().map(|lr| ratio * (lr - eta) + eta).collect())
        })
    }
    fn get_lr(&self) -> Vec<f64> {
        self.base.last_lr.clone()
    }
    fn state_dict(&self) -> serde_json::Value {
        to_json("CosineAnnealingLR", &self.base, &self.cfg)
    }
    fn load_state_dict(&mut self, v: &serde_json::Value) -> Result<()> {
        (self.base, self.cfg) = from_json("CosineAnnealingLR", v, self.base.base_lrs.len())?;
        Ok(())
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
struct WarmupCfg {
    warmup_steps: i64,
    max_steps: i64,
    warmup_start_lr: f64,
    eta_min: f64,
}

/// pl_bolts' `LinearWarmupCosineAnnealingLR(optimizer, warmup_epochs, max_epochs, warmup_start_lr, eta_min)`:
/// lr rises linearly from `warmup_start_lr` (epoch 0) to the base lr (epoch `warmup_steps`), then follows a
/// cosine down to `eta_min` at `max_steps`.
pub struct LinearWarmupCosine {
    base: Base,
    cfg: WarmupCfg,
}

impl LinearWarmupCosine {
    pub fn new(opt: &mut dyn Optimizer, warmup_steps: usize, max_steps: usize, warmup_start_lr: f64, eta_min: f64) -> Result<LinearWarmupCosine> {
        if max_steps <= warmup_steps {
            return Err(Error::config("LinearWarmupCosine max_steps", format!("must exceed warmup_steps ({max_steps} <= {warmup_steps})")));
        }
        let cfg = WarmupCfg { warmup_steps: warmup_steps as i64, max_steps: max_steps as i64, warmup_start_lr, eta_min };
        let mut s = LinearWarmupCosine { base: Base::new(opt.lrs()), cfg };
        s.step(opt)?;
        Ok(s)
    }
}

impl Scheduler for LinearWarmupCosine {
    fn step(&mut self, opt: &mut dyn Optimizer) -> Result<()> {
        let c = &self.cfg;
        self.base.advance(opt, |b, cur, _| {
            let (e, w, m) = (b.last_epoch, c.warmup_steps, c.max_steps);
            if e == 0 {
                return Ok(vec![c.warmup_start_lr; cur.len()]);
            }
            if e < w {
                return Ok(cur.iter().zip(&b.base_lrs).map(|(lr, base)| lr + (base - c.warmup_start_lr) / (w - 1) as f64).collect());
            }
            if e == w {
                return Ok(b.base_lrs.clone());
            }
            let span = (m - w) as f64;
            if py_mod(e - 1 - m, 2 * (m - w)) == 0 {
                return Ok(cur.iter().zip(&b.base_lrs).map(|(lr, base)| lr + (base - c.eta_min) * (1.0 - (PI / span).cos()) / 2.0).collect());
            }
            let ratio = (1.0 + (PI * (e - w) as f64 / span).cos()) / (1.0 + (PI * (e - w - 1) as f64 / span).cos());
            Ok(cur.iter().map(|lr| ratio * (lr - c.eta_min) + c.eta_min).collect())
        })
    }
    fn get_lr(&self) -> Vec<f64> {
        self.base.last_lr.clone()
    }
    fn state_dict(&self) -> serde_json::Value {
        to_json("LinearWarmupCosine", &self.base, &self.cfg)
    }
    fn load_state_dict(&mut self, v: &serde_json::Value) -> Result<()> {
        (self.base, self.cfg) = from_json("LinearWarmupCosine", v, self.base.base_lrs.len())?;
        Ok(())
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
struct RestartsCfg {
    t_0: i64,
    t_mult: i64,
    eta_min: f64,
    /// Steps into the current cycle, and the cycle's length (PyTorch's `T_cur`, `T_i`).
    t_cur: i64,
    t_i: i64,
}

/// `CosineAnnealingWarmRestarts(T_0, T_mult, eta_min)`: a cosine from the base lr to `eta_min` over T_0
/// steps, then restarting at the base lr with cycles T_mult times longer each time.
/// `lr = eta_min + (base - eta_min) (1 + cos(pi T_cur / T_i)) / 2`.
pub struct CosineAnnealingWarmRestarts {
    base: Base,
    cfg: RestartsCfg,
}

impl CosineAnnealingWarmRestarts {
    pub fn new(opt: &mut dyn Optimizer, t_0: usize, t_mult: usize, eta_min: f64) -> Result<CosineAnnealingWarmRestarts> {
        if t_0 == 0 || t_mult == 0 {
            return Err(Error::config("CosineAnnealingWarmRestarts", format!("T_0 ({t_0}) and T_mult ({t_mult}) must be positive")));
        }
        let cfg = RestartsCfg { t_0: t_0 as i64, t_mult: t_mult as i64, eta_min, t_cur: -1, t_i: t_0 as i64 };
        let mut s = CosineAnnealingWarmRestarts { base: Base::new(opt.lrs()), cfg };
        s.step(opt)?;
        Ok(s)
    }
}

impl Scheduler for CosineAnnealingWarmRestarts {
    fn step(&mut self, opt: &mut dyn Optimizer) -> Result<()> {
        let c = &mut self.cfg;
        if self.base.last_epoch < 0 {
            // the constructor's step: epoch 0 of the first cycle
            (c.t_cur, c.t_i) = (0, c.t_0);
        } else {
            c.t_cur += 1;
            if c.t_cur >= c.t_i {
                c.t_cur -= c.t_i;
                c.t_i *= c.t_mult;
            }
        }
        // PyTorch's operation order: (pi T_cur) / T_i
        let (eta, angle) = (c.eta_min, PI * c.t_cur as f64 / c.t_i as f64);
        self.base.advance(opt, |b, _, _| Ok(b.base_lrs.iter().map(|base| eta + (base - eta) * (1.0 + angle.cos()) / 2.0).collect()))
    }
    fn get_lr(&self) -> Vec<f64> {
        self.base.last_lr.clone()
    }
    fn state_dict(&self) -> serde_json::Value {
        to_json("CosineAnnealingWarmRestarts", &self.base, &self.cfg)
    }
    fn load_state_dict(&mut self, v: &serde_json::Value) -> Result<()> {
        (self.base, self.cfg) = from_json("CosineAnnealingWarmRestarts", v, self.base.base_lrs.len())?;
        Ok(())
    }
}
