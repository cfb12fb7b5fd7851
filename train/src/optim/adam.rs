//! Adam (L2 weight decay folded into the gradient) and AdamW (decoupled weight decay), with AMSGrad:
//! `torch.optim.Adam` / `AdamW`'s `_single_tensor_adam` (not capturable), per element in f32:
//!   step += 1
//!   AdamW: p = p * (1 - lr*wd)          Adam: g = fma(p, wd, g)
//!   m = lerp(m, g, 1 - beta1)           (fma(w, g - m, m) for w < 0.5, else fma(w - 1, g - m, g))
//!   v = fma((1 - beta2) * g, g, v * beta2)
//!   vmax = max(vmax, v)                 (AMSGrad; the denominator then uses vmax)
//!   denom = sqrt(v) / sqrt(1 - beta2^step) + eps
//!   p = p + (-lr / (1 - beta1^step)) * m / denom
//! Bias corrections and step size are computed in f64 (Python floats) and rounded to f32 where ATen does.

use rayon::prelude::*;
use super::{check_finite_nonneg, check_layout, get_bool, get_f64, load_buf, shapes_json, update_f32};
use super::{OptimState, Optimizer, ParamGroup};
use crate::{Error, Result};
use serde_json::json;
use wrt_autograd::Var;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamConfig {
    pub lr: f64,
    pub betas: (f64, f64),
    pub eps: f64,
    pub weight_decay: f64,
    pub amsgrad: bool,
    pub maximize: bool,
}

impl Default for AdamConfig {
    /// `torch.optim.Adam`'s defaults (AdamW's differ only in weight_decay = 1e-2: see `AdamConfig::adamw`).
    fn default() -> Self {
        AdamConfig { lr: 1e-3, betas: (0.9, 0.999), eps: 1e-8, weight_decay: 0.0, amsgrad: false, maximize: false }
    }
}

impl AdamConfig {
    /// `torch.optim.AdamW`'s defaults.
    pub fn adamw() -> AdamConfig {
        AdamConfig { weight_decay: 1e-2, ..Default::default() }
    }
    fn validate(&self) -> Result<()> {
        check_finite_nonneg("Adam lr", self.lr)?;
        check_finite_nonneg("Adam eps", self.eps)?;
        check_finite_nonneg("Adam weight_decay", self.weight_decay)?;
        for (i, b) in [self.betas.0, self.betas.1].into_iter().enumerate() {
            if !(0.0..1.0).contains(&b) {
                return Err(Error::config("Adam betas", format!("beta parameter at index {i} must be in [0, 1), got {b}")));
            }
        }
        Ok(())
    }
}

/// One parameter's state; `max_exp_avg_sq` is empty unless AMSGrad.
#[derive(Clone, Debug)]
struct AdamState {
    /// PyTorch keeps the step as an f32 tensor; exact up to 2^24.
    step: f32,
    exp_avg: Vec<f32>,
    exp_avg_sq: Vec<f32>,
    max_exp_avg_sq: Vec<f32>,
}

pub struct Adam {
    groups: Vec<ParamGroup<AdamConfig>>,
    state: Vec<Vec<Option<AdamState>>>,
    /// AdamW: decay the parameter itself instead of adding `wd * p` to the gradient.
    decoupled: bool,
}

impl Adam {
    /// Adam (weight decay as an L2 term in the gradient).
    pub fn new(groups: Vec<ParamGroup<AdamConfig>>) -> Result<Adam> {
        Adam::build(groups, false)
    }
    /// AdamW (decoupled weight decay).
    pub fn adamw(groups: Vec<ParamGroup<AdamConfig>>) -> Result<Adam> {
        Adam::build(groups, true)
    }
    fn build(groups: Vec<ParamGroup<AdamConfig>>, decoupled: bool) -> Result<Adam> {
        for g in &groups {
            g.cfg.validate()?;
        }
        let state = groups.iter().map(|g| vec![None; g.params.len()]).collect();
        Ok(Adam { groups, state, decoupled })
    }
    pub fn groups(&self) -> &[ParamGroup<AdamConfig>] {
        &self.groups
    }
    pub fn config_mut(&mut self, group: usize) -> &mut AdamConfig {
        &mut self.groups[group].cfg
    }
    fn kind(&self) -> &'static str {
        if self.decoupled {
            "adamw"
        } else {
            "adam"
        }
    }
}

/// `exp_avg.lerp_(grad, w)` as ATen's CPU kernel computes it.
#[inline(always)]
fn lerp(start: f32, end: f32, w: f32) -> f32 {
    if w.abs() < 0.5 {
        w.mul_add(end - start, start)
    } else {
        (w - 1.0).mul_add(end - start, end)
    }
}

super::with_fma!(adam_update => adam_body(p: &mut [f32], g: &[f32], s: &mut AdamState, c: &AdamConfig, decoupled: bool));

#[inline(always)]
fn adam_body(p: &mut [f32], g: &[f32], s: &mut AdamState, c: &AdamConfig, decoupled: bool) {
    s.step += 1.0;
    let step = s.step as f64;
    let (beta1, beta2) = c.betas;
    let bc1 = 1.0 - beta1.powf(step);
    let bc2 = 1.0 - beta2.powf(step);
    let neg_step_size = (-(c.lr / bc1)) as f32;
    let bc2_sqrt = bc2.powf(0.5) as f32;
    let (wd, decay) = (c.weight_decay as f32, (1.0 - c.lr * c.weight_decay) as f32);
    let (w1, b2, one_minus_b2, eps) = ((1.0 - beta1) as f32, beta2 as f32, (1.0 - beta2) as f32, c.eps as f32);
    for i in 0..p.len() {
        let mut d = if c.maximize { -g[i] } else { g[i] };
        if c.weight_decay != 0.0 {
            if decoupled {
                p[i] *= decay;
            } else {
                d = p[i].mul_add(wd, d);
            }
        }
        let m = lerp(s.exp_avg[i], d, w1);
        s.exp_avg[i] = m;
        let v = (one_minus_b2 * d).mul_add(d, s.exp_avg_sq[i] * b2);
        s.exp_avg_sq[i] = v;
        let v = if c.amsgrad {
            // torch.maximum propagates NaN
            let mx = s.max_exp_avg_sq[i];
            let mx = if mx.is_nan() || v.is_nan() { f32::NAN } else { mx.max(v) };
            s.max_exp_avg_sq[i] = mx;
            mx
        } else {
            v
        };
        let denom = v.sqrt() / bc2_sqrt + eps;
        p[i] += neg_step_size * m / denom;
    }
}

impl Optimizer for Adam {
    fn name(&self) -> &'static str {
        if self.decoupled {
            "AdamW"
        } else {
            "Adam"
        }
    }
    fn step(&mut self) -> Result<()> {
        let decoupled = self.decoupled;
        for (group, states) in self.groups.iter().zip(&mut self.state) {
            // parameters are independent: update them side by side (each one's arithmetic is unchanged)
            group.params.par_iter().zip(states.par_iter_mut()).try_for_each(|(p, st)| -> Result<()> {
                let Some(g) = p.grad() else { return Ok(()) };
                let n = p.value().numel();
                let s = st.get_or_insert_with(|| AdamState {
                    step: 0.0,
                    exp_avg: vec![0.0; n],
                    exp_avg_sq: vec![0.0; n],
                    max_exp_avg_sq: if group.cfg.amsgrad { vec![0.0; n] } else { Vec::new() },
                });
                if group.cfg.amsgrad && s.max_exp_avg_sq.len() != n {
                    s.max_exp_avg_sq = vec![0.0; n];
                }
                update_f32(p, &g, |ps, gs| adam_update(ps, gs, s, &group.cfg, decoupled))
            })?;
        }
        Ok(())
    }
    fn zero_grad(&mut self) {
        self.groups.iter().flat_map(|g| &g.params).for_each(|p: &Var| p.zero_grad());
    }
    fn num_groups(&self) -> usize {
        self.groups.len()
    }
    fn lr(&self, group: usize) -> f64 {
        self.groups[group].cfg.lr
    }
    fn set_lr(&mut self, group: usize, lr: f64) {
        self.groups[group].cfg.lr = lr;
    }
    fn momentum(&self, group: usize) -> f64 {
        self.groups[group].cfg.betas.0
    }
    fn set_momentum(&mut self, group: usize, m: f64) {
        self.groups[group].cfg.betas.0 = m;
    }

    fn state_dict(&self) -> Result<OptimState> {
        let (mut tensors, mut groups, mut steps, mut idx) = (Vec::new(), Vec::new(), serde_json::Map::new(), 0usize);
        for (g, states) in self.groups.iter().zip(&self.state) {
            let c = &g.cfg;
            groups.push(json!({"lr": c.lr, "betas": [c.betas.0, c.betas.1], "eps": c.eps,
                "weight_decay": c.weight_decay, "amsgrad": c.amsgrad, "maximize": c.maximize,
                "params": (idx..idx + g.params.len()).collect::<Vec<_>>(), "shapes": shapes_json(g)}));
            for (p, s) in g.params.iter().zip(states) {
                if let Some(s) = s {
                    steps.insert(idx.to_string(), json!({"step": s.step}));
                    tensors.push((format!("state.{idx}.exp_avg"), super::buf_tensor(&s.exp_avg, p.shape())?));
                    tensors.push((format!("state.{idx}.exp_avg_sq"), super::buf_tensor(&s.exp_avg_sq, p.shape())?));
                    if !s.max_exp_avg_sq.is_empty() {
                        tensors.push((format!("state.{idx}.max_exp_avg_sq"), super::buf_tensor(&s.max_exp_avg_sq, p.shape())?));
                    }
                }
                idx += 1;
            }
        }
        Ok(OptimState { tensors, meta: json!({"optimizer": self.kind(), "param_groups": groups, "state": steps}) })
    }

    fn load_state_dict(&mut self, state: &OptimState) -> Result<()> {
        let saved = check_layout(state, self.kind(), &self.groups)?;
        let steps = state.meta.get("state").cloned().unwrap_or_default();
        let mut idx = 0usize;
        for ((g, states), s) in self.groups.iter_mut().zip(&mut self.state).zip(&saved) {
            let betas = s.get("betas").and_then(|b| b.as_array()).filter(|b| b.len() == 2);
            let betas = betas.ok_or_else(|| Error::state("missing 'betas'"))?;
            let beta = |i: usize| betas[i].as_f64().ok_or_else(|| Error::state("'betas' must be numbers"));
            g.cfg = AdamConfig {
                lr: get_f64(s, "lr")?,
                betas: (beta(0)?, beta(1)?),
                eps: get_f64(s, "eps")?,
                weight_decay: get_f64(s, "weight_decay")?,
                amsgrad: get_bool(s, "amsgrad")?,
                maximize: get_bool(s, "maximize")?,
            };
            for (p, st) in g.params.iter().zip(states.iter_mut()) {
                let n = p.value().numel();
                *st = match steps.get(idx.to_string()) {
                    None => None,
                    Some(v) => {
                        let max_name = format!("state.{idx}.max_exp_avg_sq");
                        Some(AdamState {
                            step: get_f64(v, "step")? as f32,
                            exp_avg: load_buf(state, &format!("state.{idx}.exp_avg"), n)?,
                            exp_avg_sq: load_buf(state, &format!("state.{idx}.exp_avg_sq"), n)?,
                            max_exp_avg_sq: match state.tensor(&max_name) {
                                Some(_) => load_buf(state, &max_name, n)?,
                                None => Vec::new(),
                            },
                        })
                    }
                };
                idx += 1;
            }
        }
        Ok(())
    }
}
