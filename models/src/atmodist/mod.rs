//! AtmoDist (Hoffmann & Lessig 2023; the weather-analogue variant `atmodist_revised` of
//! yu-codes/yu-ml-weather-analogue): a siamese ResNet encoder applied to two atmospheric states
//! `[B, C, H, W]`, the two encodings concatenated on channels, and a small comparison head that classifies
//! the time gap between them. The encoder alone is the embedding used for analogue search.
//! Architecture: ../../../shared/specs/atmodist.md; user docs: docs/models/atmodist.md.
//!
//! Parameter names, shapes and state_dict order are the reference's, including what it registers but never
//! calls (`encoder.maxpool` has no parameters; `conv3.*` does, and stays untrained), so checkpoints load both
//! ways; tools/parity/atmodist_ref.py is the plain-torch reference and models/tests/atmodist_parity.rs holds
//! wrt to it.

mod config;

pub use config::AtmodistConfig;

use crate::satformer::strip_wrapper_prefix;
use std::collections::BTreeMap;
use wrt_autograd::Var;
use wrt_nn::module::{Module, ModuleExt, Walk};
use wrt_nn::{BatchNorm2d, Conv2d, ConvConfig, Error, Forward, Linear, Result};
use wrt_tensor::{DType, Generator, Tensor};

/// `nn.Sequential(Conv2d(k, stride, pad (k-1)/2, bias), BatchNorm2d, ReLU)`: keys `0.*` and `1.*`.
pub struct ConvBlock {
    pub conv: Conv2d,
    pub bn: BatchNorm2d,
}

impl ConvBlock {
    fn new(g: &mut Generator, cin: usize, cout: usize, k: usize, stride: usize) -> Result<ConvBlock> {
        let conv = Conv2d::new(g, cin, cout, &[k], ConvConfig::default().stride(stride).padding((k - 1) / 2))?;
        Ok(ConvBlock { conv, bn: BatchNorm2d::new(cout)? })
    }
}

impl Module for ConvBlock {
    fn visit(&self, v: &mut Walk<'_>) {
        v.child("0", &self.conv);
        v.child("1", &self.bn);
    }
}

impl Forward for ConvBlock {
    fn forward(&self, x: &Var) -> Result<Var> {
        Ok(self.bn.forward(&self.conv.forward(x)?)?.relu()?)
    }
}

/// `ResBlockDown`: `relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))`, 3x3 convolutions without bias, the
/// first strided when the block downscales. The shortcut is a strided 1x1 convolution when the channels
/// change, else the strided identity `x[:, :, ::s, ::s]` (the reference's `max_pool2d(kernel_size=1)`).
pub struct ResBlock {
    pub conv1: Conv2d,
    pub bn1: BatchNorm2d,
    pub conv2: Conv2d,
    pub bn2: BatchNorm2d,
    /// `shortcut.conv`, only when in and out channels differ.
    pub shortcut: Option<Conv2d>,
    pub stride: usize,
}

impl ResBlock {
    fn new(g: &mut Generator, cin: usize, cout: usize, downscale: bool) -> Result<ResBlock> {
        let stride = if downscale { 2 } else { 1 };
        let conv = |g: &mut Generator, ci: usize, s: usize| Conv2d::new(g, ci, cout, &[3], ConvConfig::default().stride(s).padding(1).bias(false));
        let conv1 = conv(g, cin, stride)?;
        let bn1 = BatchNorm2d::new(cout)?;
        let conv2 = conv(g, cout, 1)?;
        let bn2 = BatchNorm2d::new(cout)?;
        let shortcut = if cin != cout { Some(Conv2d::new(g, cin, cout, &[1], ConvConfig::default().stride(stride).bias(false))?) } else { None };
        Ok(ResBlock { conv1, bn1, conv2, bn2, shortcut, stride })
    }
}

/// The `shortcut` child: a `ShortcutDown` holding only `conv` (when present).
struct ShortcutKeys<'a>(&'a Conv2d);

impl Module for ShortcutKeys<'_> {
    fn visit(&self, v: &mut Walk<'_>) {
        v.child("conv", self.0);
    }
}

impl Module for ResBlock {
    fn visit(&self, v: &mut Walk<'_>) {
        v.child("conv1", &self.conv1);
        v.child("bn1", &self.bn1);
        v.child("conv2", &self.conv2);
        v.child("bn2", &self.bn2);
        if let Some(c) = &self.shortcut {
            v.child("shortcut", &ShortcutKeys(c));
        }
    }
}

impl Forward for ResBlock {
    fn forward(&self, x: &Var) -> Result<Var> {
        let r = self.bn1.forward(&self.conv1.forward(x)?)?.relu()?;
        let r = self.bn2.forward(&self.conv2.forward(&r)?)?;
        let s = match &self.shortcut {
            Some(c) => c.forward(x)?,
            None if self.stride == 1 => x.clone(),
            None => {
                let (h, w) = (x.shape()[2] as isize, x.shape()[3] as isize);
                x.slice(2, 0, h, self.stride)?.slice(3, 0, w, self.stride)?
            }
        };
        Ok(r.add(&s)?.relu()?)
    }
}

/// The representation network: stem conv + BN + ReLU (the registered max-pool is not applied, as in the
/// reference), then `num_blocks` residual blocks per stage, each stage downscaling in its first block.
pub struct Encoder {
    pub conv: Conv2d,
    pub bn: BatchNorm2d,
    /// `resnet.resblocks.{j}`.
    pub resblocks: Vec<ResBlock>,
}

struct ResNetKeys<'a>(&'a [ResBlock]);

impl Module for ResNetKeys<'_> {
    fn visit(&self, v: &mut Walk<'_>) {
        v.list("resblocks", self.0);
    }
}

impl Module for Encoder {
    fn visit(&self, v: &mut Walk<'_>) {
        v.child("conv", &self.conv);
        v.child("bn", &self.bn);
        v.child("resnet", &ResNetKeys(&self.resblocks));
    }
}

impl Encoder {
    fn new(g: &mut Generator, cfg: &AtmodistConfig) -> Result<Encoder> {
        let k = cfg.conv_kernel_size;
        let stem = ConvConfig::default().stride(cfg.stride).padding((k - 1) / 2);
        let conv = Conv2d::new(g, cfg.res_in_channels, cfg.out_conv_channels, &[k], stem)?;
        let bn = BatchNorm2d::new(cfg.out_conv_channels)?;
        let mut resblocks = Vec::new();
        let mut cin = cfg.out_conv_channels;
        for &cout in &cfg.res_out_channels_list {
            for b in 0..cfg.num_blocks {
                resblocks.push(ResBlock::new(g, cin, cout, b == 0)?);
                cin = cout;
            }
        }
        Ok(Encoder { conv, bn, resblocks })
    }
}

impl Forward for Encoder {
    fn forward(&self, x: &Var) -> Result<Var> {
        let mut x = self.bn.forward(&self.conv.forward(x)?)?.relu()?;
        for b in &self.resblocks {
            x = b.forward(&x)?;
        }
        Ok(x)
    }
}

/// What `Atmodist::forward` returns: both encodings `[B, C_last, h, w]` and the gap logits `[B, num_classes]`.
pub struct AtmodistOutput {
    pub emb1: Var,
    pub emb2: Var,
    pub logits: Var,
}

/// The AtmoDist model. Build with `Atmodist::new(cfg, &mut generator)`; it starts in training mode
/// (BatchNorm on batch statistics, updating its running statistics); `ModuleExt::eval()` for inference.
pub struct Atmodist {
    cfg: AtmodistConfig,
    pub encoder: Encoder,
    pub conv1: ConvBlock,
    pub conv2: ConvBlock,
    /// Registered by the reference but never called: kept so that state_dicts match key for key.
    pub conv3: ConvBlock,
    /// `Linear(downstream_channels * fin_shape^2, num_classes, bias=False)`.
    pub linear: Linear,
}

impl Module for Atmodist {
    fn visit(&self, v: &mut Walk<'_>) {
        v.child("encoder", &self.encoder);
        v.child("conv1", &self.conv1);
        v.child("conv2", &self.conv2);
        v.child("conv3", &self.conv3);
        v.child("linear", &self.linear);
    }
}

impl Atmodist {
    /// A freshly initialised model with PyTorch's default initialisations (convolutions and the linear layer
    /// kaiming-uniform, BatchNorm ones/zeros), created in the reference's registration order.
    pub fn new(cfg: AtmodistConfig, g: &mut Generator) -> Result<Atmodist> {
        cfg.validate()?;
        let encoder = Encoder::new(g, &cfg)?;
        let (d, k) = (cfg.downstream_channels, cfg.downstream_kernel_size);
        let conv1 = ConvBlock::new(g, cfg.stack_channels(), d, k, 2)?;
        let conv2 = ConvBlock::new(g, d, d, k, 1)?;
        let conv3 = ConvBlock::new(g, d, d, k, 1)?;
        let linear = Linear::new(g, d * cfg.downstream_fin_shape * cfg.downstream_fin_shape, cfg.num_classes, false)?;
        Ok(Atmodist { cfg, encoder, conv1, conv2, conv3, linear })
    }

    pub fn config(&self) -> &AtmodistConfig {
        &self.cfg
    }

    /// `(x1, x2)` states `[B, C, H, W]` -> both encodings and the gap logits. The grid left after the head
    /// must be `downstream_fin_shape` square: with `fin_shape` 1, 32x32 states need three or four stages.
    pub fn forward(&self, x1: &Var, x2: &Var) -> Result<AtmodistOutput> {
        self.check_input("x1", x1)?;
        self.check_input("x2", x2)?;
        if x1.shape() != x2.shape() {
            return Err(Error::Config(format!("atmodist: x1 {:?} and x2 {:?} must have the same shape", x1.shape(), x2.shape())));
        }
        let emb1 = self.encoder.forward(x1)?;
        let emb2 = self.encoder.forward(x2)?;
        let x = Var::cat(&[emb1.clone(), emb2.clone()], 1)?;
        let x = self.conv2.forward(&self.conv1.forward(&x)?)?;
        let logits = self.linear.forward(&x.flatten(1, -1)?)?;
        Ok(AtmodistOutput { emb1, emb2, logits })
    }

    /// The embedding of analogue search: the encoder's output for `x [B, C, H, W]`, flattened to `[B, D]`
    /// (D = last stage channels x the encoder's output grid).
    pub fn embed(&self, x: &Var) -> Result<Var> {
        self.check_input("x", x)?;
        Ok(self.encoder.forward(x)?.flatten(1, -1)?)
    }

    /// Length of `embed`'s vectors for `h x w` states.
    pub fn embed_dim(&self, h: usize, w: usize) -> Option<usize> {
        let (gh, gw) = self.cfg.encoder_grid(h, w)?;
        Some(self.cfg.embed_channels() * gh * gw)
    }

    fn check_input(&self, name: &str, x: &Var) -> Result<()> {
        let s = x.shape();
        let bad = |what: String| Err(Error::Config(format!("atmodist: input {name} {s:?}: {what}")));
        if s.len() != 4 {
            return bad("expected [batch, variables, height, width]".into());
        }
        if x.dtype() != DType::F32 {
            return bad(format!("expected float32, got {}", x.dtype()));
        }
        if s[1] != self.cfg.res_in_channels {
            return bad(format!("expected {} variables (res_in_channels) in dim 1, got {}", self.cfg.res_in_channels, s[1]));
        }
        let fin = self.cfg.downstream_fin_shape;
        match self.cfg.encoder_grid(s[2], s[3]).and_then(|g| self.cfg.head_grid(g)) {
            Some((h, w)) if h == fin && w == fin => Ok(()),
            Some((h, w)) => bad(format!(
                "a {}x{} state leaves a {h}x{w} grid after the comparison head, but the linear layer reads a {fin}x{fin} grid \
                 (downstream_fin_shape {fin}); use 32x32 states with {} stages, or set downstream_fin_shape",
                s[2],
                s[3],
                self.cfg.res_out_channels_list.len()
            )),
            None => bad(format!("{}x{} is smaller than the stem's {}x{} kernel", s[2], s[3], self.cfg.conv_kernel_size, self.cfg.conv_kernel_size)),
        }
    }

    /// Load a PyTorch state_dict strictly after stripping a leading `module.` or `model.` (the Lightning
    /// adapter holds the network as `self.model`); missing or unexpected keys are an error listing them.
    pub fn load_pytorch_state_dict(&self, sd: &BTreeMap<String, Tensor>) -> Result<()> {
        self.load_state_dict(&strip_wrapper_prefix(sd), true)
    }
}

/// The hyperparameters a state_dict's shapes imply (for checkpoints without them): stage channels and the
/// number of blocks per stage from `encoder.resnet.resblocks.*`, the stem and head from their weights.
/// Keys may carry a `model.`/`module.` prefix.
pub fn config_from_state_dict(sd: &BTreeMap<String, Tensor>) -> Result<AtmodistConfig> {
    let sd = strip_wrapper_prefix(sd);
    let shape = |k: &str| -> Result<Vec<usize>> {
        sd.get(k).map(|t| t.shape().to_vec()).ok_or_else(|| Error::Config(format!("atmodist state_dict: no '{k}' to read the architecture from")))
    };
    let stem = shape("encoder.conv.weight")?;
    let mut outs = Vec::new();
    let mut j = 0;
    while let Some(t) = sd.get(&format!("encoder.resnet.resblocks.{j}.conv1.weight")) {
        outs.push(t.shape()[0]);
        j += 1;
    }
    if outs.is_empty() {
        return Err(Error::Config("atmodist state_dict: no encoder.resnet.resblocks.*.conv1.weight".into()));
    }
    // stages are runs of equal channels; a block that starts a stage has a strided conv1 — with equal
    // channels in two stages in a row the run splits evenly
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for &c in &outs {
        match runs.last_mut() {
            Some((rc, n)) if *rc == c => *n += 1,
            _ => runs.push((c, 1)),
        }
    }
    let num_blocks = runs.iter().map(|r| r.1).fold(0, gcd);
    let list: Vec<usize> = runs.iter().flat_map(|&(c, n)| std::iter::repeat_n(c, n / num_blocks)).collect();
    let c1 = shape("conv1.0.weight")?;
    let lin = shape("linear.weight")?;
    let d = c1[0];
    let fin2 = lin[1] / d.max(1);
    let fin = (fin2 as f64).sqrt().round() as usize;
    Ok(AtmodistConfig {
        num_classes: lin[0],
        res_in_channels: stem[1],
        res_out_channels_list: list,
        downstream_stack_channels: Some(c1[1]),
        downstream_channels: d,
        downstream_kernel_size: c1[2],
        downstream_fin_shape: fin,
        out_conv_channels: stem[0],
        conv_kernel_size: stem[2],
        stride: AtmodistConfig::default().stride,
        num_blocks,
    })
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}
