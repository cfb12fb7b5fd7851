//! SGD with momentum, dampening, Nesterov and L2 weight decay: `torch.optim.SGD`'s `_single_tensor_sgd`.
//!
//! Per element, in f32, with each hyperparameter rounded to f32 as ATen does:
//!   g = ±grad;  g = fma(p, wd, g)                       (grad.add(param, alpha=wd))
//!   buf = g on the first step, else fma(g, 1 - dampening, buf * momentum)
//!   g = fma(buf, momentum, g) (Nesterov) or buf
//!   p = fma(g, -lr, p)                                  (param.add_(grad, alpha=-lr))

use rayon::prelude::*;
use super::{check_finite_nonneg, check_layout, get_bool, get_f64, load_buf, shapes_json, update_f32};
use super::{OptimState, Optimizer, ParamGroup};
use crate::{Error, Result};
use serde_json::json;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdConfig {
    pub lr: f64,
    pub momentum: f64,
    pub dampening: f64,
    pub weight_decay: f64,
    pub nesterov: bool,
    pub maximize: bool,
}

impl Default for SgdConfig {
    /// PyTorch's defaults (lr 1e-3 since torch 2.2).
    fn default() -> Self {
        SgdConfig { lr: 1e-3, momentum: 0.0, dampening: 0.0, weight_decay: 0.0, nesterov: false, maximize: false }
    }
}

impl SgdConfig {
    pub fn lr(lr: f64) -> SgdConfig {
        SgdConfig { lr, ..Default::default() }
    }
    fn validate(&self) -> Result<()> {
        check_finite_nonneg("SGD lr", self.lr)?;
        check_finite_nonneg("SGD momentum", self.momentum)?;
        check_finite_nonneg("SGD weight_decay", self.weight_decay)?;
        if self.nesterov && (self.momentum <= 0.0 || self.dampening != 0.0) {
            return Err(Error::config("SGD nesterov", "Nesterov momentum requires a momentum and zero dampening"));
        }
        Ok(())
    }
}

pub struct Sgd {
    groups: Vec<ParamGroup<SgdConfig>>,
    /// Momentum buffer per parameter (per group), created on the parameter's first update with momentum.
    bufs: Vec<Vec<Option<Vec<f32>>>>,
}

impl Sgd {
    pub fn new(groups: Vec<ParamGroup<SgdConfig>>) -> Result<Sgd> {
        for g in &groups {
            g.cfg.validate()?;
        }
        let bufs = groups.iter().map(|g| vec![None; g.params.len()]).collect();
        Ok(Sgd { groups, bufs })
    }

    /// One group holding every parameter.
    pub fn single(params: Vec<wrt_autograd::Var>, cfg: SgdConfig) -> Result<Sgd> {
        Sgd::new(vec![ParamGroup::new(params, cfg)])
    }

    pub fn groups(&self) -> &[ParamGroup<SgdConfig>] {
        &self.groups
    }
    pub fn config_mut(&mut self, group: usize) -> &mut SgdConfig {
        &mut self.groups[group].cfg
    }
}

super::with_fma!(sgd_update => sgd_body(p: &mut [f32], g: &[f32], buf: &mut Option<Vec<f32>>, c: &SgdConfig));

#[inline(always)]
fn sgd_body(p: &mut [f32], g: &[f32], buf: &mut Option<Vec<f32>>, c: &SgdConfig) {
    let (wd, m, one_minus_d, neg_lr) = (c.weight_decay as f32, c.momentum as f32, (1.0 - c.dampening) as f32, (-c.lr) as f32);
    let fresh = c.momentum != 0.0 && buf.is_none();
    if fresh {
        *buf = Some(vec![0.0; p.len()]);
    }
    for i in 0..p.len() {
        let mut d = if c.maximize { -g[i] } else { g[i] };
        if c.weight_decay != 0.0 {
            d = p[i].mul_add(wd, d);
        }
        if let Some(b) = buf.as_mut().filter(|_| c.momentum != 0.0) {
            b[i] = if fresh { d } else { d.mul_add(one_minus_d, b[i] * m) };
            d = if c.nesterov { b[i].mul_add(m, d) } else { b[i] };
        }
        p[i] = d.mul_add(neg_lr, p[i]);
    }
}

impl Optimizer for Sgd {
    fn name(&self) -> &'static str {
        "SGD"
    }
    fn step(&mut self) -> Result<()> {
        for (group, bufs) in self.groups.iter().zip(&mut self.bufs) {
            // parameters are independent: update them side by side (each one's arithmetic is unchanged)
            group.params.par_iter().zip(bufs.par_iter_mut()).try_for_each(|(p, buf)| -> Result<()> {
                let Some(g) = p.grad() else { return Ok(()) };
                update_f32(p, &g, |ps, gs| sgd_update(ps, gs, buf, &group.cfg))
            })?;
        }
        Ok(())
    }
    fn zero_grad(&mut self) {
        self.groups.iter().flat_map(|g| &g.params).for_each(|p| p.zero_grad());
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
        self.groups[group].cfg.momentum
    }
    fn set_momentum(&mut self, group: usize, m: f64) {
        self.groups[group].cfg.momentum = m;
    }

    fn state_dict(&self) -> Result<OptimState> {
        let (mut tensors, mut groups, mut idx) = (Vec::new(), Vec::new(), 0usize);
        for (g, bufs) in self.groups.iter().zip(&self.bufs) {
            let c = &g.cfg;
            groups.push(json!({"lr": c.lr, "momentum": c.momentum, "dampening": c.dampening,
                "weight_decay": c.weight_decay, "nesterov": c.nesterov, "maximize": c.maximize,
                "params": (idx..idx + g.params.len()).collect::<Vec<_>>(), "shapes": shapes_json(g)}));
            for (p, b) in g.params.iter().zip(bufs) {
                if let Some(b) = b {
                    tensors.push((format!("state.{idx}.momentum_buffer"), super::buf_tensor(b, p.shape())?));
                }
                idx += 1;
            }
        }
        Ok(OptimState { tensors, meta: json!({"optimizer": "sgd", "param_groups": groups}) })
    }

    fn load_state_dict(&mut self, state: &OptimState) -> Result<()> {
        let saved = check_layout(state, "sgd", &self.groups)?;
        let mut idx = 0usize;
        for ((g, bufs), s) in self.groups.iter_mut().zip(&mut self.bufs).zip(&saved) {
            g.cfg = SgdConfig {
                lr: get_f64(s, "lr")?,
                momentum: get_f64(s, "momentum")?,
                dampening: get_f64(s, "dampening")?,
                weight_decay: get_f64(s, "weight_decay")?,
                nesterov: get_bool(s, "nesterov")?,
                maximize: get_bool(s, "maximize")?,
            };
            for (p, b) in g.params.iter().zip(bufs.iter_mut()) {
                let name = format!("state.{idx}.momentum_buffer");
                *b = match state.tensor(&name) {
                    Some(_) => Some(load_buf(state, &name, p.value().numel())?),
                    None => None,
                };
                idx += 1;
            }
        }
        Ok(())
    }
}
