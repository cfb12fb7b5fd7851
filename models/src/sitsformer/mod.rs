//! SITS-Former as the tutorial builds it (brillozon/explore-sitsformer `SITSFormer`): each frame of a
//! satellite image time series `[B, T, C, H, W]` is cut into patches by a strided convolution, all T x N
//! patch tokens plus a learned `temporal_token` attend jointly in pre-LN transformer blocks (padded frames,
//! mask 0, are excluded as keys), and the token's final state is classified. Architecture:
//! ../../../shared/specs/sitsformer.md.
//!
//! Parameter names, shapes and state_dict order are the reference's, including the persistent
//! `pos_encoding.pe` buffer, so weights load both ways; tools/parity/sitsformer_ref.py is the plain-torch
//! reference and models/tests/sitsformer_parity.rs holds wrt to it.

mod config;

pub use config::SitsformerConfig;

use crate::satformer::strip_wrapper_prefix;
use std::collections::BTreeMap;
use wrt_autograd::{fused, Var};
use wrt_nn::module::{Module, ModuleExt, Walk};
use wrt_nn::{init, Conv2d, ConvConfig, Dropout, Error, Forward, LayerNorm, Linear, Result};
use wrt_tensor::{DType, Generator, Tensor};

/// `nn.Linear` with the reference's `_init_weights`: weight ~ trunc_normal(std 0.02, bounds ±2), bias 0.
fn linear(g: &mut Generator, fan_in: usize, fan_out: usize) -> Result<Linear> {
    let l = Linear::new(g, fan_in, fan_out, true)?;
    l.weight.value().copy_(&init::trunc_normal(g, &[fan_out, fan_in], 0.0, 0.02, -2.0, 2.0, DType::F32)?)?;
    if let Some(b) = &l.bias {
        b.value().copy_(&Tensor::zeros(&[fan_out], DType::F32)?)?;
    }
    Ok(l)
}

/// `TemporalAttention` (full joint attention over every token, despite its name): q/k/v/out projections
/// with bias, masked keys filled with -1e9 before the softmax, dropout on the attention probabilities.
pub struct Attention {
    pub q_linear: Linear,
    pub k_linear: Linear,
    pub v_linear: Linear,
    pub out_linear: Linear,
    pub dropout: Dropout,
    pub heads: usize,
}

impl Module for Attention {
    fn visit(&self, v: &mut Walk<'_>) {
        v.child("q_linear", &self.q_linear);
        v.child("k_linear", &self.k_linear);
        v.child("v_linear", &self.v_linear);
        v.child("out_linear", &self.out_linear);
        v.child("dropout", &self.dropout);
    }
}

impl Attention {
    /// `x [B, S, D]`; `bias` `[B, 1, 1, S]`: 0 for keys that take part, -1e9 for padded ones.
    pub fn forward(&self, x: &Var, bias: Option<&Tensor>) -> Result<Var> {
        let (b, s, d) = (x.shape()[0], x.shape()[1], x.shape()[2]);
        let h = self.heads;
        let split = |l: &Linear| -> Result<Var> { Ok(l.forward(x)?.reshape_to(&[b, s, h, d / h])?.permute(&[0, 2, 1, 3])?) };
        let (q, k, v) = (split(&self.q_linear)?, split(&self.k_linear)?, split(&self.v_linear)?);
        let out = wrt_nn::attention::sdpa_with_dropout(&q, &k, &v, bias, &self.dropout)?;
        self.out_linear.forward(&out.permute(&[0, 2, 1, 3])?.reshape_to(&[b, s, d])?)
    }
}

/// `mlp = Sequential(Linear, GELU, Dropout, Linear, Dropout)`: keys `0.*` and `3.*`.
pub struct Mlp {
    pub fc1: Linear,
    pub drop1: Dropout,
    pub fc2: Linear,
    pub drop2: Dropout,
}

impl Module for Mlp {
    fn visit(&self, v: &mut Walk<'_>) {
        v.child("0", &self.fc1);
        v.child("2", &self.drop1);
        v.child("3", &self.fc2);
        v.child("4", &self.drop2);
    }
}

impl Forward for Mlp {
    fn forward(&self, x: &Var) -> Result<Var> {
        let h = self.drop1.forward(&fused::gelu(&self.fc1.forward(x)?, false)?)?;
        self.drop2.forward(&self.fc2.forward(&h)?)
    }
}

/// `SITSFormerBlock`: `x + attn(norm1(x))`, then `x + mlp(norm2(x))`.
pub struct Block {
    pub norm1: LayerNorm,
    pub temporal_attn: Attention,
    pub norm2: LayerNorm,
    pub mlp: Mlp,
}

impl Module for Block {
    fn visit(&self, v: &mut Walk<'_>) {
        v.child("norm1", &self.norm1);
        v.child("temporal_attn", &self.temporal_attn);
        v.child("norm2", &self.norm2);
        v.child("mlp", &self.mlp);
    }
}

impl Block {
    fn new(g: &mut Generator, cfg: &SitsformerConfig) -> Result<Block> {
        let (d, hid) = (cfg.embed_dim, cfg.mlp_hidden());
        let temporal_attn = Attention {
            q_linear: linear(g, d, d)?,
            k_linear: linear(g, d, d)?,
            v_linear: linear(g, d, d)?,
            out_linear: linear(g, d, d)?,
            dropout: Dropout::new(cfg.dropout, g)?,
            heads: cfg.num_heads,
        };
        let mlp = Mlp { fc1: linear(g, d, hid)?, drop1: Dropout::new(cfg.dropout, g)?, fc2: linear(g, hid, d)?, drop2: Dropout::new(cfg.dropout, g)? };
        Ok(Block { norm1: LayerNorm::new(&[d])?, temporal_attn, norm2: LayerNorm::new(&[d])?, mlp })
    }

    fn forward(&self, x: &Var, bias: Option<&Tensor>) -> Result<Var> {
        let x = self.temporal_attn.forward(&self.norm1.forward(x)?, bias)?.add(x)?;
        Ok(self.mlp.forward(&self.norm2.forward(&x)?)?.add(&x)?)
    }
}

/// `pe[p, 0, 2i] = sin(p w_i)`, `pe[p, 0, 2i+1] = cos(p w_i)`, `w_i = exp(-(2i) ln(10000) / D)`, in f32 as
/// the reference computes it: `[max_len, 1, D]`. (A loaded state_dict brings PyTorch's own table: its f32
/// `exp` may differ from this one by an ulp in a few frequencies, up to ~1e-4 at position 3919.)
pub fn sinusoidal_table(max_len: usize, d: usize) -> Result<Tensor> {
    // the reference's operation order: arange(0, D, 2) * f32(-ln(10000) / D), then exp, all in f32
    let c = (-(10000f64.ln()) / d as f64) as f32;
    let w: Vec<f32> = (0..d / 2).map(|i| ((2 * i) as f32 * c).exp()).collect();
    let mut v = vec![0f32; max_len * d];
    for p in 0..max_len {
        for (i, &wi) in w.iter().enumerate() {
            let a = p as f32 * wi;
            v[p * d + 2 * i] = a.sin();
            v[p * d + 2 * i + 1] = a.cos();
        }
    }
    Ok(Tensor::from_vec(v, &[max_len, 1, d])?)
}

/// The model. Build with `Sitsformer::new(cfg, &mut generator)`; it starts in training mode (dropout on);
/// `ModuleExt::eval()` for inference.
pub struct Sitsformer {
    cfg: SitsformerConfig,
    /// `[1, 1, D]`, N(0, 1): the classification token, always a valid key.
    pub temporal_token: Var,
    /// `patch_embed.projection`: Conv2d(C, D, patch, stride patch), PyTorch's default init.
    pub projection: Conv2d,
    /// `pos_encoding.pe`: persistent buffer `[max_len, 1, D]`.
    pub pe: Tensor,
    pub dropout: Dropout,
    pub blocks: Vec<Block>,
    pub norm: LayerNorm,
    pub classifier: Linear,
}

/// A child holding only what `visit` names: the reference's wrapper modules (`patch_embed`, `pos_encoding`).
struct Keys<'a, F: Fn(&mut Walk<'_>) + Sync>(&'a F);
impl<F: Fn(&mut Walk<'_>) + Sync> Module for Keys<'_, F> {
    fn visit(&self, v: &mut Walk<'_>) {
        (self.0)(v)
    }
}

impl Module for Sitsformer {
    fn visit(&self, v: &mut Walk<'_>) {
        v.param("temporal_token", &self.temporal_token);
        v.child("patch_embed", &Keys(&|w: &mut Walk<'_>| w.child("projection", &self.projection)));
        v.child("pos_encoding", &Keys(&|w: &mut Walk<'_>| w.buffer("pe", &self.pe)));
        v.child("dropout", &self.dropout);
        v.list("blocks", &self.blocks);
        v.child("norm", &self.norm);
        v.child("classifier", &self.classifier);
    }
}

impl Sitsformer {
    /// A freshly initialised model, in the reference's creation order.
    pub fn new(cfg: SitsformerConfig, g: &mut Generator) -> Result<Sitsformer> {
        cfg.validate()?;
        let (d, p) = (cfg.embed_dim, cfg.patch_size);
        let temporal_token = Var::new(init::normal(g, &[1, 1, d], 0.0, 1.0, DType::F32)?, true);
        let projection = Conv2d::new(g, cfg.in_channels, d, &[p], ConvConfig::default().stride(p))?;
        let pe = sinusoidal_table(cfg.max_len(), d)?;
        let dropout = Dropout::new(cfg.dropout, g)?;
        let blocks = (0..cfg.num_layers).map(|_| Block::new(g, &cfg)).collect::<Result<Vec<_>>>()?;
        let norm = LayerNorm::new(&[d])?;
        let classifier = linear(g, d, cfg.num_classes)?;
        Ok(Sitsformer { cfg, temporal_token, projection, pe, dropout, blocks, norm, classifier })
    }

    pub fn config(&self) -> &SitsformerConfig {
        &self.cfg
    }

    /// `x [B, T, C, H, W]` and optional `mask [B, T]` (non-zero = a real frame, 0 = padding) -> logits
    /// `[B, num_classes]`. Padded frames take no part as keys, so padding a series with any frames at
    /// its end leaves its logits unchanged.
    pub fn forward(&self, x: &Var, mask: Option<&Tensor>) -> Result<Var> {
        let (b, t) = self.check_input(x, mask)?;
        let (d, n) = (self.cfg.embed_dim, self.cfg.patches());
        let s = x.shape();
        // (b t) c h w -> conv -> (b t) d n -> b (t n) d
        let frames = x.reshape_to(&[b * t, s[2], s[3], s[4]])?;
        let tokens = self.projection.forward(&frames)?.reshape_to(&[b * t, d, n])?.permute(&[0, 2, 1])?.reshape_to(&[b, t * n, d])?;
        let cls = self.temporal_token.expand(&[b as isize, 1, d as isize])?;
        let len = 1 + t * n;
        let pos = Var::constant(self.pe.narrow(0, 0, len)?.reshape(&[len as isize, d as isize])?);
        let mut h = self.dropout.forward(&Var::cat(&[cls, tokens], 1)?.add(&pos)?)?;
        let bias = match mask {
            Some(m) => Some(key_bias(m, b, t, n)?),
            None => None,
        };
        for block in &self.blocks {
            h = block.forward(&h, bias.as_ref())?;
        }
        self.classifier.forward(&self.norm.forward(&h.select(1, 0)?)?)
    }

    fn check_input(&self, x: &Var, mask: Option<&Tensor>) -> Result<(usize, usize)> {
        let (s, c) = (x.shape(), &self.cfg);
        let bad = |what: String| Err(Error::Config(format!("sitsformer: input {s:?}: {what}")));
        if s.len() != 5 {
            return bad("expected [batch, time, channels, height, width]".into());
        }
        if x.dtype() != DType::F32 {
            return bad(format!("expected float32, got {}", x.dtype()));
        }
        if s[2] != c.in_channels || s[3] != c.img_size || s[4] != c.img_size {
            return bad(format!("expected {} channels of {}x{} (in_channels, img_size)", c.in_channels, c.img_size, c.img_size));
        }
        let (b, t) = (s[0], s[1]);
        if b == 0 || t == 0 {
            return bad("batch and time must be positive".into());
        }
        if 1 + t * c.patches() > c.max_len() {
            return bad(format!(
                "{t} frames give {} tokens with the temporal token, more than the positional table's {} (max_seq_len {} x {} patches): \
                 at most {} frames",
                1 + t * c.patches(),
                c.max_len(),
                c.max_seq_len,
                c.patches(),
                (c.max_len() - 1) / c.patches()
            ));
        }
        if let Some(m) = mask {
            if m.shape() != [b, t] {
                return Err(Error::Config(format!("sitsformer: mask {:?} must be [batch, time] = [{b}, {t}]", m.shape())));
            }
        }
        Ok((b, t))
    }

    /// Load a PyTorch state_dict strictly (an optional `module.`/`model.` prefix is stripped); missing or
    /// unexpected keys are an error listing them.
    pub fn load_pytorch_state_dict(&self, sd: &BTreeMap<String, Tensor>) -> Result<()> {
        self.load_state_dict(&strip_wrapper_prefix(sd), true)
    }
}

/// The additive key mask `[B, 1, 1, 1 + T*N]`: 0 for the temporal token and every patch of a real frame,
/// -1e9 for patches of padded frames. Added to scores of order 1, -1e9 rounds to exactly the -1e9 the
/// reference's `masked_fill` writes, and both give those keys a probability of exactly 0.
fn key_bias(mask: &Tensor, b: usize, t: usize, n: usize) -> Result<Tensor> {
    let m = mask.to_dtype(DType::F64)?.contiguous()?.to_vec::<f64>()?;
    let s = 1 + t * n;
    let mut v = vec![0f32; b * s];
    for bi in 0..b {
        for ti in 0..t {
            if m[bi * t + ti] == 0.0 {
                v[bi * s + 1 + ti * n..bi * s + 1 + (ti + 1) * n].fill(-1e9);
            }
        }
    }
    Ok(Tensor::from_vec(v, &[b, 1, 1, s])?)
}
