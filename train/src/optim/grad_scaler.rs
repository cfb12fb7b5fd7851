//! `torch.amp.GradScaler`: dynamic loss scaling for float16 mixed precision. The loss is multiplied by the
//! scale before backward so small float16 gradients do not flush to zero; `unscale_` divides the gradients
//! back (before clipping) and notes whether any is infinite or NaN; `step` skips the optimizer step when one
//! was; `update` halves the scale after an overflow (`backoff_factor`) and doubles it after `growth_interval`
//! clean steps in a row (`growth_factor`). bfloat16 needs no scaler (its range is float32's).
//!
//! Arithmetic as PyTorch's: the scale is a float32 value, the inverse scale `float(1 / double(scale))`, each
//! gradient element multiplied by it in float32 (`_amp_foreach_non_finite_check_and_unscale_`), and
//! `_amp_update_scale_`: after an overflow `scale *= backoff` and the growth tracker resets to 0; otherwise the
//! tracker counts up, and when it reaches `growth_interval` the scale grows (if the grown scale is finite) and
//! the tracker resets. The state_dict has PyTorch's keys.

use super::Optimizer;
use crate::{Error, Result};
use serde_json::{json, Value};
use wrt_autograd::Var;
use wrt_tensor::{DType, Tensor};

#[derive(Clone, Debug, PartialEq)]
pub struct GradScalerConfig {
    pub init_scale: f64,
    pub growth_factor: f64,
    pub backoff_factor: f64,
    pub growth_interval: u64,
}

impl Default for GradScalerConfig {
    fn default() -> Self {
        GradScalerConfig { init_scale: 65536.0, growth_factor: 2.0, backoff_factor: 0.5, growth_interval: 2000 }
    }
}

/// Where a step is: `unscale_` may run once between backward and `step`.
#[derive(Clone, Copy, Debug, PartialEq)]
enum StepState {
    Ready,
    Unscaled { found_inf: bool },
    Stepped { found_inf: bool },
}

pub struct GradScaler {
    cfg: GradScalerConfig,
    scale: f32,
    growth_tracker: u64,
    state: StepState,
}

impl GradScaler {
    pub fn new(cfg: GradScalerConfig) -> Result<GradScaler> {
        if !(cfg.init_scale > 0.0 && cfg.init_scale.is_finite()) || !(cfg.growth_factor > 1.0) || !(cfg.backoff_factor > 0.0 && cfg.backoff_factor < 1.0) || cfg.growth_interval == 0 {
            return Err(Error::config(
                "GradScaler",
                format!("needs init_scale > 0, growth_factor > 1, 0 < backoff_factor < 1 and growth_interval >= 1, got {cfg:?}"),
            ));
        }
        Ok(GradScaler { scale: cfg.init_scale as f32, cfg, growth_tracker: 0, state: StepState::Ready })
    }

    pub fn get_scale(&self) -> f64 {
        self.scale as f64
    }

    /// Clean steps in a row since the last growth or overflow.
    pub fn growth_tracker(&self) -> u64 {
        self.growth_tracker
    }

    /// `loss * scale`, to call backward on.
    pub fn scale(&self, loss: &Var) -> Result<Var> {
        Ok(loss.mul_scalar(self.scale as f64)?)
    }

    /// Divide every gradient of `params` by the scale (in place of the old gradient) and record whether any
    /// element was infinite or NaN. Once per step, before clipping; returns the overflow flag.
    pub fn unscale_(&mut self, params: &[Var]) -> Result<bool> {
        if self.state != StepState::Ready {
            return Err(Error::state("GradScaler: unscale_() was already called since the last update()"));
        }
        let inv = (1.0 / self.scale as f64) as f32;
        let mut found_inf = false;
        for p in params {
            let Some(g) = p.grad() else { continue };
            let dt = g.dtype();
            let mut v = g.to_dtype(DType::F32)?.contiguous()?.to_vec::<f32>()?;
            for x in &mut v {
                found_inf |= !x.is_finite();
                *x *= inv;
            }
            p.set_grad(Some(Tensor::from_vec(v, g.shape())?.to_dtype(dt)?));
        }
        self.state = StepState::Unscaled { found_inf };
        Ok(found_inf)
    }

    /// The optimizer step unless a gradient overflowed (unscaling first if `unscale_` was not called);
    /// returns whether it stepped.
    pub fn step(&mut self, opt: &mut dyn Optimizer, params: &[Var]) -> Result<bool> {
        let found_inf = match self.state {
            StepState::Ready => self.unscale_(params)?,
            StepState::Unscaled { found_inf } => found_inf,
            StepState::Stepped { .. } => return Err(Error::state("GradScaler: step() was already called since the last update()")),
        };
        if !found_inf {
            opt.step()?;
        }
        self.state = StepState::Stepped { found_inf };
        Ok(!found_inf)
    }

    /// Adjust the scale for the next step (after `step`).
    pub fn update(&mut self) -> Result<()> {
        let StepState::Stepped { found_inf } = self.state else {
            return Err(Error::state("GradScaler: update() needs a step() first"));
        };
        if found_inf {
            self.scale *= self.cfg.backoff_factor as f32;
            self.growth_tracker = 0;
        } else {
            let successful = self.growth_tracker + 1;
            if successful == self.cfg.growth_interval {
                let grown = self.scale * self.cfg.growth_factor as f32;
                if grown.is_finite() {
                    self.scale = grown;
                }
                self.growth_tracker = 0;
            } else {
                self.growth_tracker = successful;
            }
        }
        self.state = StepState::Ready;
        Ok(())
    }

    /// PyTorch's `GradScaler.state_dict()`.
    pub fn state_dict(&self) -> Value {
        json!({
            "scale": self.scale as f64,
            "growth_factor": self.cfg.growth_factor,
            "backoff_factor": self.cfg.backoff_factor,
            "growth_interval": self.cfg.growth_interval,
            "_growth_tracker": self.growth_tracker,
        })
    }

    pub fn load_state_dict(&mut self, v: &Value) -> Result<()> {
        let num = |k: &str| v.get(k).and_then(Value::as_f64).ok_or_else(|| Error::state(format!("GradScaler state: missing number '{k}'")));
        let cfg = GradScalerConfig {
            init_scale: num("scale")?,
            growth_factor: num("growth_factor")?,
            backoff_factor: num("backoff_factor")?,
            growth_interval: num("growth_interval")? as u64,
        };
        let mut s = GradScaler::new(cfg)?;
        s.growth_tracker = num("_growth_tracker")? as u64;
        s.cfg.init_scale = self.cfg.init_scale;
        *self = s;
        Ok(())
    }
}
