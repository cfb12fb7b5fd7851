//! nn.Conv1d/2d/3d, nn.ConvTranspose2d/3d and the pooling layers (MaxPool2d, AvgPool2d, AdaptiveAvgPool2d).
//!
//! One struct per family with the spatial rank `D` as a const parameter (`Conv2d = Conv<2>`): parameter
//! names, shapes and init are PyTorch's (`_ConvNd.reset_parameters`). Only `padding_mode='zeros'`; pad the
//! input with `Var::pad` first for reflect/replicate/circular.

use crate::module::{Module, Walk};
use crate::{init, Error, Forward, Result};
use wrt_autograd::Var;
use wrt_tensor::ops::{ConvSpec, PoolSpec};
use wrt_tensor::{DType, Generator};

/// Hyperparameters of a (transposed) convolution. Each per-dim field holds one value for all spatial dims
/// or one per dim, as PyTorch's int-or-tuple arguments.
#[derive(Clone, Debug, PartialEq)]
pub struct ConvConfig {
    pub stride: Vec<usize>,
    pub padding: Vec<usize>,
    pub dilation: Vec<usize>,
    pub groups: usize,
    pub bias: bool,
    /// Transposed convolutions only.
    pub output_padding: Vec<usize>,
}

impl Default for ConvConfig {
    fn default() -> Self {
        ConvConfig { stride: vec![1], padding: vec![0], dilation: vec![1], groups: 1, bias: true, output_padding: vec![0] }
    }
}

impl ConvConfig {
    pub fn stride(mut self, s: usize) -> Self {
        self.stride = vec![s];
        self
    }
    pub fn padding(mut self, p: usize) -> Self {
        self.padding = vec![p];
        self
    }
    pub fn dilation(mut self, d: usize) -> Self {
        self.dilation = vec![d];
        self
    }
    pub fn groups(mut self, g: usize) -> Self {
        self.groups = g;
        self
    }
    pub fn bias(mut self, on: bool) -> Self {
        self.bias = on;
        self
    }
    pub fn output_padding(mut self, p: usize) -> Self {
        self.output_padding = vec![p];
        self
    }
    fn spec(&self) -> ConvSpec {
        ConvSpec {
            stride: self.stride.clone(),
            padding: self.padding.clone(),
            dilation: self.dilation.clone(),
            groups: self.groups,
            output_padding: self.output_padding.clone(),
        }
    }
}

/// `kernel` (one value or `d`) spread to `d` dims.
fn per_dim(what: &str, v: &[usize], d: usize) -> Result<Vec<usize>> {
    match v.len() {
        1 => Ok(vec![v[0]; d]),
        n if n == d => Ok(v.to_vec()),
        n => Err(Error::Config(format!("{what}: {n} values for {d} spatial dims"))),
    }
}

/// Weight (kaiming_uniform a=sqrt 5) and bias (U(±1/sqrt(fan_in)), fan_in from the weight's dims 1..).
fn conv_params(g: &mut Generator, wshape: &[usize], bias_len: usize, bias: bool) -> Result<(Var, Option<Var>)> {
    let weight = Var::new(init::kaiming_uniform(g, wshape, 5f64.sqrt(), DType::F32)?, true);
    let (fan_in, _) = init::fans(wshape)?;
    let bound = 1.0 / (fan_in.max(1) as f64).sqrt();
    let bias = if bias { Some(Var::new(init::uniform(g, &[bias_len], -bound, bound, DType::F32)?, true)) } else { None };
    Ok((weight, bias))
}

fn check_channels(op: &str, in_ch: usize, out_ch: usize, groups: usize) -> Result<()> {
    if groups == 0 || !in_ch.is_multiple_of(groups) || !out_ch.is_multiple_of(groups) {
        return Err(Error::Config(format!("{op}: in_channels {in_ch} and out_channels {out_ch} must be divisible by groups {groups}")));
    }
    Ok(())
}

fn check_rank(op: &str, x: &Var, d: usize) -> Result<()> {
    if x.rank() != d + 2 {
        return Err(Error::Config(format!("{op}: expected input [N, C, {d} spatial dims], got shape {:?}", x.shape())));
    }
    Ok(())
}

/// `nn.Conv{D}d`: weight `[out, in/groups, *kernel]`, bias `[out]`.
pub struct Conv<const D: usize> {
    pub weight: Var,
    pub bias: Option<Var>,
    pub spec: ConvSpec,
}

pub type Conv1d = Conv<1>;
pub type Conv2d = Conv<2>;
pub type Conv3d = Conv<3>;

impl<const D: usize> Conv<D> {
    /// `nn.Conv{D}d(in_channels, out_channels, kernel_size, **cfg)`; `kernel` is one size or `D` sizes.
    pub fn new(g: &mut Generator, in_channels: usize, out_channels: usize, kernel: &[usize], cfg: ConvConfig) -> Result<Self> {
        check_channels("Conv", in_channels, out_channels, cfg.groups)?;
        let mut wshape = vec![out_channels, in_channels / cfg.groups];
        wshape.extend(per_dim("kernel_size", kernel, D)?);
        let (weight, bias) = conv_params(g, &wshape, out_channels, cfg.bias)?;
        Ok(Conv { weight, bias, spec: cfg.spec() })
    }
}

impl<const D: usize> Module for Conv<D> {
    fn visit(&self, v: &mut Walk<'_>) {
        v.param("weight", &self.weight);
        if let Some(b) = &self.bias {
            v.param("bias", b);
        }
    }
}

impl<const D: usize> Forward for Conv<D> {
    /// `[N, C_in, *S] -> [N, C_out, *S']`.
    fn forward(&self, x: &Var) -> Result<Var> {
        check_rank("Conv", x, D)?;
        Ok(x.conv(&self.weight, self.bias.as_ref(), &self.spec)?)
    }
}

/// `nn.ConvTranspose{D}d`: weight `[in, out/groups, *kernel]`, bias `[out]`. The init takes fan_in from the
/// weight's dims 1.. (out/groups * kernel), exactly as PyTorch does.
pub struct ConvTranspose<const D: usize> {
    pub weight: Var,
    pub bias: Option<Var>,
    pub spec: ConvSpec,
}

pub type ConvTranspose1d = ConvTranspose<1>;
pub type ConvTranspose2d = ConvTranspose<2>;
pub type ConvTranspose3d = ConvTranspose<3>;

impl<const D: usize> ConvTranspose<D> {
    pub fn new(g: &mut Generator, in_channels: usize, out_channels: usize, kernel: &[usize], cfg: ConvConfig) -> Result<Self> {
        check_channels("ConvTranspose", in_channels, out_channels, cfg.groups)?;
        let mut wshape = vec![in_channels, out_channels / cfg.groups];
        wshape.extend(per_dim("kernel_size", kernel, D)?);
        let (weight, bias) = conv_params(g, &wshape, out_channels, cfg.bias)?;
        Ok(ConvTranspose { weight, bias, spec: cfg.spec() })
    }
}

impl<const D: usize> Module for ConvTranspose<D> {
    fn visit(&self, v: &mut Walk<'_>) {
        v.param("weight", &self.weight);
        if let Some(b) = &self.bias {
            v.param("bias", b);
        }
    }
}

impl<const D: usize> Forward for ConvTranspose<D> {
    fn forward(&self, x: &Var) -> Result<Var> {
        check_rank("ConvTranspose", x, D)?;
        Ok(x.conv_transpose(&self.weight, self.bias.as_ref(), &self.spec)?)
    }
}

/// Run a 2-d pooling on `[N, C, H, W]` or unbatched `[C, H, W]` (as PyTorch's 2d pooling modules accept).
fn pool2d(op: &str, x: &Var, f: impl Fn(&Var) -> wrt_autograd::Result<Var>) -> Result<Var> {
    match x.rank() {
        4 => Ok(f(x)?),
        3 => Ok(f(&x.unsqueeze(0)?)?.squeeze(&[0])?),
        _ => Err(Error::Config(format!("{op}: expected [N, C, H, W] or [C, H, W], got shape {:?}", x.shape()))),
    }
}

/// `nn.MaxPool2d(kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False)`.
pub struct MaxPool2d {
    pub spec: PoolSpec,
}

impl MaxPool2d {
    /// Window `kernel`, stride `kernel` (PyTorch's default `stride=None`).
    pub fn new(kernel: usize) -> Self {
        MaxPool2d { spec: PoolSpec::new(kernel) }
    }
    pub fn with_spec(spec: PoolSpec) -> Self {
        MaxPool2d { spec }
    }
}

/// `nn.AvgPool2d(kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None)`.
pub struct AvgPool2d {
    pub spec: PoolSpec,
}

impl AvgPool2d {
    pub fn new(kernel: usize) -> Self {
        AvgPool2d { spec: PoolSpec::new(kernel) }
    }
    pub fn with_spec(spec: PoolSpec) -> Self {
        AvgPool2d { spec }
    }
}

/// `nn.AdaptiveAvgPool2d(output_size)`: one size for both dims or `[h, w]`.
pub struct AdaptiveAvgPool2d {
    pub output_size: Vec<usize>,
}

impl AdaptiveAvgPool2d {
    pub fn new(output_size: &[usize]) -> Self {
        AdaptiveAvgPool2d { output_size: output_size.to_vec() }
    }
}

impl Module for MaxPool2d {
    fn visit(&self, _: &mut Walk<'_>) {}
}
impl Module for AvgPool2d {
    fn visit(&self, _: &mut Walk<'_>) {}
}
impl Module for AdaptiveAvgPool2d {
    fn visit(&self, _: &mut Walk<'_>) {}
}

impl Forward for MaxPool2d {
    fn forward(&self, x: &Var) -> Result<Var> {
        pool2d("MaxPool2d", x, |x| x.max_pool(&self.spec))
    }
}
impl Forward for AvgPool2d {
    fn forward(&self, x: &Var) -> Result<Var> {
        pool2d("AvgPool2d", x, |x| x.avg_pool(&self.spec))
    }
}
impl Forward for AdaptiveAvgPool2d {
    fn forward(&self, x: &Var) -> Result<Var> {
        pool2d("AdaptiveAvgPool2d", x, |x| x.adaptive_avg_pool(&self.output_size))
    }
}
