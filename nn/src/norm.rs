//! nn.BatchNorm1d/2d/3d, nn.LayerNorm and nn.GroupNorm. Affine weights start at ones and biases at zeros,
//! running_mean at zeros, running_var at ones, as PyTorch; nothing is random, so the constructors take no
//! `Generator`.

use crate::module::{Module, TrainFlag, Walk};
use crate::{Error, Forward, Result};
use wrt_autograd::Var;
use wrt_tensor::{DType, Tensor};

fn ones(shape: &[usize]) -> Result<Var> {
    Ok(Var::new(Tensor::ones(shape, DType::F32)?, true))
}
fn zeros(shape: &[usize]) -> Result<Var> {
    Ok(Var::new(Tensor::zeros(shape, DType::F32)?, true))
}

/// Options of `nn.BatchNorm{D}d(num_features, eps, momentum, affine, track_running_stats)`.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchNormConfig {
    pub eps: f64,
    /// `None`: running statistics are the cumulative average over all batches (`momentum=None`).
    pub momentum: Option<f64>,
    pub affine: bool,
    pub track_running_stats: bool,
}

impl Default for BatchNormConfig {
    fn default() -> Self {
        BatchNormConfig { eps: 1e-5, momentum: Some(0.1), affine: true, track_running_stats: true }
    }
}

/// `nn.BatchNorm{D}d`: parameters `weight`, `bias` `[C]` (when affine); buffers `running_mean`,
/// `running_var` `[C]` and `num_batches_tracked` (an I64 scalar) when tracking running statistics.
/// Training mode normalises with the batch statistics and updates the buffers in place; eval mode uses the
/// running statistics (or the batch's, when not tracking them).
pub struct BatchNorm<const D: usize> {
    pub weight: Option<Var>,
    pub bias: Option<Var>,
    pub running_mean: Option<Tensor>,
    pub running_var: Option<Tensor>,
    pub num_batches_tracked: Option<Tensor>,
    pub eps: f64,
    pub momentum: Option<f64>,
    pub training: TrainFlag,
}

pub type BatchNorm1d = BatchNorm<1>;
pub type BatchNorm2d = BatchNorm<2>;
pub type BatchNorm3d = BatchNorm<3>;

impl<const D: usize> BatchNorm<D> {
    /// Defaults: eps 1e-5, momentum 0.1, affine, tracking running statistics.
    pub fn new(num_features: usize) -> Result<Self> {
        Self::with_config(num_features, BatchNormConfig::default())
    }

    pub fn with_config(num_features: usize, cfg: BatchNormConfig) -> Result<Self> {
        let c = [num_features];
        let (weight, bias) = if cfg.affine { (Some(ones(&c)?), Some(zeros(&c)?)) } else { (None, None) };
        let (running_mean, running_var, num_batches_tracked) = if cfg.track_running_stats {
            (Some(Tensor::zeros(&c, DType::F32)?), Some(Tensor::ones(&c, DType::F32)?), Some(Tensor::scalar(0i64)))
        } else {
            (None, None, None)
        };
        Ok(BatchNorm { weight, bias, running_mean, running_var, num_batches_tracked, eps: cfg.eps, momentum: cfg.momentum, training: TrainFlag::default() })
    }

    /// Input ranks the module accepts: BatchNorm1d takes `[N, C]` or `[N, C, L]`, the others `[N, C, *D]`.
    fn check_input(&self, x: &Var) -> Result<()> {
        let ok = if D == 1 { x.rank() == 2 || x.rank() == 3 } else { x.rank() == D + 2 };
        if !ok {
            let want = if D == 1 { "[N, C] or [N, C, L]".to_string() } else { format!("[N, C, {D} spatial dims]") };
            return Err(Error::Config(format!("BatchNorm{D}d: expected input {want}, got shape {:?}", x.shape())));
        }
        Ok(())
    }
}

impl<const D: usize> Module for BatchNorm<D> {
    fn visit(&self, v: &mut Walk<'_>) {
        if let Some(w) = &self.weight {
            v.param("weight", w);
        }
        if let Some(b) = &self.bias {
            v.param("bias", b);
        }
        if let (Some(m), Some(r), Some(n)) = (&self.running_mean, &self.running_var, &self.num_batches_tracked) {
            v.buffer("running_mean", m);
            v.buffer("running_var", r);
            v.buffer("num_batches_tracked", n);
        }
        v.mode(&self.training);
    }
}

impl<const D: usize> Forward for BatchNorm<D> {
    fn forward(&self, x: &Var) -> Result<Var> {
        self.check_input(x)?;
        let training = self.training.get();
        // PyTorch's exponential_average_factor: momentum, or 1/num_batches_tracked for the cumulative average
        let mut factor = self.momentum.unwrap_or(0.0);
        if training {
            if let Some(n) = &self.num_batches_tracked {
                n.copy_(&n.add_scalar(1.0)?)?;
                if self.momentum.is_none() {
                    factor = 1.0 / n.item::<i64>()? as f64;
                }
            }
        }
        // running stats are used in eval, updated in training; without them both modes use batch statistics
        let use_batch = training || self.running_mean.is_none();
        Ok(x.batch_norm(self.running_mean.as_ref(), self.running_var.as_ref(), self.weight.as_ref(), self.bias.as_ref(), use_batch, factor, self.eps)?)
    }
}

/// `nn.LayerNorm(normalized_shape, eps=1e-5, elementwise_affine=True, bias=True)`: normalises over the
/// trailing `normalized_shape` dims; `weight` and `bias` have that shape.
pub struct LayerNorm {
    pub weight: Option<Var>,
    pub bias: Option<Var>,
    pub normalized_shape: Vec<usize>,
    pub eps: f64,
}

impl LayerNorm {
    /// Defaults: eps 1e-5, weight and bias.
    pub fn new(normalized_shape: &[usize]) -> Result<Self> {
        Self::with_options(normalized_shape, 1e-5, true, true)
    }

    /// `bias` only matters with `elementwise_affine` (PyTorch likewise has no bias without it).
    pub fn with_options(normalized_shape: &[usize], eps: f64, elementwise_affine: bool, bias: bool) -> Result<Self> {
        let weight = if elementwise_affine { Some(ones(normalized_shape)?) } else { None };
        let bias = if elementwise_affine && bias { Some(zeros(normalized_shape)?) } else { None };
        Ok(LayerNorm { weight, bias, normalized_shape: normalized_shape.to_vec(), eps })
    }
}

impl Module for LayerNorm {
    fn visit(&self, v: &mut Walk<'_>) {
        if let Some(w) = &self.weight {
            v.param("weight", w);
        }
        if let Some(b) = &self.bias {
            v.param("bias", b);
        }
    }
}

impl Forward for LayerNorm {
    fn forward(&self, x: &Var) -> Result<Var> {
        Ok(x.layer_norm(&self.normalized_shape, self.weight.as_ref(), self.bias.as_ref(), self.eps)?)
    }
}

/// `nn.GroupNorm(num_groups, num_channels, eps=1e-5, affine=True)` on `[N, C, *]`; per-channel `weight`,
/// `bias` `[C]`.
pub struct GroupNorm {
    pub weight: Option<Var>,
    pub bias: Option<Var>,
    pub num_groups: usize,
    pub eps: f64,
}

impl GroupNorm {
    pub fn new(num_groups: usize, num_channels: usize) -> Result<Self> {
        Self::with_options(num_groups, num_channels, 1e-5, true)
    }

    pub fn with_options(num_groups: usize, num_channels: usize, eps: f64, affine: bool) -> Result<Self> {
        if num_groups == 0 || !num_channels.is_multiple_of(num_groups) {
            return Err(Error::Config(format!("GroupNorm: num_channels {num_channels} must be divisible by num_groups {num_groups}")));
        }
        let c = [num_channels];
        let (weight, bias) = if affine { (Some(ones(&c)?), Some(zeros(&c)?)) } else { (None, None) };
        Ok(GroupNorm { weight, bias, num_groups, eps })
    }
}

impl Module for GroupNorm {
    fn visit(&self, v: &mut Walk<'_>) {
        if let Some(w) = &self.weight {
            v.param("weight", w);
        }
        if let Some(b) = &self.bias {
            v.param("bias", b);
        }
    }
}

impl Forward for GroupNorm {
    fn forward(&self, x: &Var) -> Result<Var> {
        Ok(x.group_norm(self.num_groups, self.weight.as_ref(), self.bias.as_ref(), self.eps)?)
    }
}
