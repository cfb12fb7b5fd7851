//! SaTformer (Harris & Chen, NeurIPS 2025 Weather4Cast; leharris3/satformer): a space-time transformer that
//! maps 4 frames of 11-channel 32x32 satellite imagery `[B, T, C, H, W]` to logits over precipitation bins
//! `[B, num_classes]`. Architecture: ../../../shared/specs/satformer.md; user docs: docs/models/satformer.md.
//!
//! Parameter names, shapes and state_dict order are the PyTorch reference's (`rotary_emb=False`), so weights
//! load both ways; tools/parity/satformer_ref.py is the plain-torch reference and
//! models/tests/satformer_parity.rs holds wrt to it for all four attention variants.
//!
//! Forward: patchify `b f c (h p1) (w p2) -> b (f h w) (p1 p2 c)` (channel fastest), `to_patch_embedding`,
//! prepend `cls_token`, add `pos_emb.weight[..L]`, the blocks (pre-LN residual sublayers, see `AttnKind`),
//! then `to_out` (LayerNorm, Linear) on the CLS token.

mod attention;
mod config;
mod sublayers;

pub use attention::{Attention, Group, OutProj};
pub use config::{AttnKind, SatformerConfig};
pub use sublayers::{FeedForward, PreNorm};

use std::collections::BTreeMap;
use wrt_autograd::Var;
use wrt_nn::module::{Module, ModuleExt, Walk};
use wrt_nn::{init, Embedding, Error, Forward, LayerNorm, Linear, Result};
use wrt_tensor::{DType, Generator, Tensor};

/// One block (`layers.i`). The module indices are the reference's: for both divided orders `0` is the time
/// attention and `1` the spatial one; only the call order differs.
pub enum Block {
    /// `T->S` (`space_first = false`) and `S->T`: `[time, space, ff]`.
    Divided { time: PreNorm<Attention>, space: PreNorm<Attention>, ff: PreNorm<FeedForward>, space_first: bool },
    /// `ST`: `[attn, ff]`; `ff` is never called (as in the reference), so its parameters get no gradient.
    Joint { attn: PreNorm<Attention>, ff: PreNorm<FeedForward> },
    /// `ST^2`: `[attn1, attn2, ff]` with the feed-forward behind two LayerNorms: `FF(LN_fn(LN_outer(x)))`,
    /// keys `2.norm.*` (outer) and `2.fn.norm.*` (inner).
    JointTwice { attn1: PreNorm<Attention>, attn2: PreNorm<Attention>, ff: PreNorm<PreNorm<FeedForward>> },
}

impl Block {
    fn new(g: &mut Generator, cfg: &SatformerConfig) -> Result<Block> {
        let attn = |g: &mut Generator| -> Result<PreNorm<Attention>> {
            PreNorm::new(cfg.dim, Attention::new(g, cfg.dim, cfg.heads, cfg.dim_head, cfg.attn_dropout)?)
        };
        let ff = |g: &mut Generator| -> Result<PreNorm<FeedForward>> {
            PreNorm::new(cfg.dim, FeedForward::new(g, cfg.dim, SatformerConfig::FF_MULT, cfg.ff_dropout)?)
        };
        Ok(match cfg.attn {
            AttnKind::TimeSpace | AttnKind::SpaceTime => {
                Block::Divided { time: attn(g)?, space: attn(g)?, ff: ff(g)?, space_first: cfg.attn == AttnKind::SpaceTime }
            }
            AttnKind::Joint => Block::Joint { attn: attn(g)?, ff: ff(g)? },
            AttnKind::JointTwice => Block::JointTwice { attn1: attn(g)?, attn2: attn(g)?, ff: PreNorm::new(cfg.dim, ff(g)?)? },
        })
    }

    /// `x [B, 1 + f * n, dim]`, every sublayer `x = sublayer(x) + x`.
    fn forward(&self, x: &Var, f: usize, n: usize) -> Result<Var> {
        let attend = |m: &PreNorm<Attention>, x: &Var, group: Group| -> Result<Var> { Ok(m.inner.forward(&m.norm.forward(x)?, group, f, n)?.add(x)?) };
        match self {
            Block::Divided { time, space, ff, space_first } => {
                let x = if *space_first {
                    attend(time, &attend(space, x, Group::Space)?, Group::Time)?
                } else {
                    attend(space, &attend(time, x, Group::Time)?, Group::Space)?
                };
                Ok(ff.forward(&x)?.add(&x)?)
            }
            Block::Joint { attn, .. } => attend(attn, x, Group::Joint),
            Block::JointTwice { attn1, attn2, ff } => {
                let x = attend(attn2, &attend(attn1, x, Group::Joint)?, Group::Joint)?;
                Ok(ff.forward(&x)?.add(&x)?)
            }
        }
    }
}

impl Module for Block {
    fn visit(&self, v: &mut Walk<'_>) {
        match self {
            Block::Divided { time, space, ff, .. } => {
                v.child("0", time);
                v.child("1", space);
                v.child("2", ff);
            }
            Block::Joint { attn, ff } => {
                v.child("0", attn);
                v.child("1", ff);
            }
            Block::JointTwice { attn1, attn2, ff } => {
                v.child("0", attn1);
                v.child("1", attn2);
                v.child("2", ff);
            }
        }
    }
}

/// `to_out = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, num_classes))`.
pub struct Head {
    pub norm: LayerNorm,
    pub linear: Linear,
}

impl Module for Head {
    fn visit(&self, v: &mut Walk<'_>) {
        v.child("0", &self.norm);
        v.child("1", &self.linear);
    }
}

impl Forward for Head {
    fn forward(&self, x: &Var) -> Result<Var> {
        self.linear.forward(&self.norm.forward(x)?)
    }
}

/// The SaTformer model. Build with `Satformer::new(cfg, &mut generator)`; it starts in training mode (dropout
/// active); `ModuleExt::eval()` for inference.
pub struct Satformer {
    cfg: SatformerConfig,
    /// `[1, dim]`, N(0, 1).
    pub cls_token: Var,
    pub to_patch_embedding: Linear,
    /// `[num_frames * patches_per_frame + 1, dim]`, row 0 for the CLS token.
    pub pos_emb: Embedding,
    pub layers: Vec<Block>,
    pub to_out: Head,
}

impl Module for Satformer {
    /// PyTorch's order: the model's own parameter (`cls_token`) first, then the children as registered.
    fn visit(&self, v: &mut Walk<'_>) {
        v.param("cls_token", &self.cls_token);
        v.child("to_patch_embedding", &self.to_patch_embedding);
        v.child("pos_emb", &self.pos_emb);
        v.list("layers", &self.layers);
        v.child("to_out", &self.to_out);
    }
}

impl Satformer {
    /// A freshly initialised model with PyTorch's default initialisations (Linear: kaiming-uniform weight and
    /// uniform bias; LayerNorm: ones and zeros; `pos_emb` and `cls_token`: N(0, 1)). Every dropout layer gets
    /// its own random stream forked from `g` (reported by `named_rngs` for checkpoints).
    pub fn new(cfg: SatformerConfig, g: &mut Generator) -> Result<Satformer> {
        cfg.validate()?;
        let cls_token = Var::new(init::normal(g, &[1, cfg.dim], 0.0, 1.0, DType::F32)?, true);
        let to_patch_embedding = Linear::new(g, cfg.patch_dim(), cfg.dim, true)?;
        let pos_emb = Embedding::new(g, cfg.num_positions(), cfg.dim, None)?;
        let layers = (0..cfg.depth).map(|_| Block::new(g, &cfg)).collect::<Result<Vec<_>>>()?;
        let to_out = Head { norm: LayerNorm::new(&[cfg.dim])?, linear: Linear::new(g, cfg.dim, cfg.num_classes, true)? };
        Ok(Satformer { cfg, cls_token, to_patch_embedding, pos_emb, layers, to_out })
    }

    pub fn config(&self) -> &SatformerConfig {
        &self.cfg
    }

    /// `video [B, T, C, H, W]` (f32) -> logits `[B, num_classes]`. As in the reference, T and the patch grid
    /// may be smaller than configured (the positional table is read from its start), but C must equal
    /// `channels` and H, W must be multiples of `patch_size`.
    pub fn forward(&self, video: &Var) -> Result<Var> {
        let (b, f, hp, wp) = self.check_input(video)?;
        let (c, p, n) = (self.cfg.channels, self.cfg.patch_size, hp * wp);
        // b f c (h p1) (w p2) -> b (f h w) (p1 p2 c)
        let patches = video
            .reshape_to(&[b, f, c, hp, p, wp, p])?
            .permute(&[0, 1, 3, 5, 4, 6, 2])?
            .reshape_to(&[b, f * n, p * p * c])?;
        let tokens = self.to_patch_embedding.forward(&patches)?;
        let cls = self.cls_token.unsqueeze(0)?.expand(&[b as isize, 1, self.cfg.dim as isize])?;
        let l = 1 + f * n;
        let mut x = Var::cat(&[cls, tokens], 1)?.add(&self.pos_emb.weight.narrow(0, 0, l)?)?;
        for block in &self.layers {
            x = block.forward(&x, f, n)?;
        }
        self.to_out.forward(&x.select(1, 0)?)
    }

    /// (B, T, H / p, W / p) of a valid input, or an error naming what is wrong.
    fn check_input(&self, video: &Var) -> Result<(usize, usize, usize, usize)> {
        let (s, cfg) = (video.shape(), &self.cfg);
        let bad = |what: String| Error::Config(format!("satformer: input {s:?}: {what}"));
        if s.len() != 5 {
            return Err(bad("expected [batch, frames, channels, height, width]".into()));
        }
        if video.dtype() != DType::F32 {
            return Err(bad(format!("expected float32, got {}", video.dtype())));
        }
        let (b, f, c, h, w) = (s[0], s[1], s[2], s[3], s[4]);
        if c != cfg.channels {
            return Err(bad(format!("expected {} channels (dim 2), got {c}", cfg.channels)));
        }
        if h % cfg.patch_size != 0 || w % cfg.patch_size != 0 || h == 0 || w == 0 || f == 0 || b == 0 {
            return Err(bad(format!("batch, frames, height and width must be positive, height and width multiples of patch_size {}", cfg.patch_size)));
        }
        let (hp, wp) = (h / cfg.patch_size, w / cfg.patch_size);
        if f * hp * wp + 1 > cfg.num_positions() {
            return Err(bad(format!(
                "{} tokens (frames x patches + CLS) exceed the positional table of {} (num_frames {} x image_size {} at patch_size {})",
                f * hp * wp + 1,
                cfg.num_positions(),
                cfg.num_frames,
                cfg.image_size,
                cfg.patch_size
            )));
        }
        Ok((b, f, hp, wp))
    }

    /// Load a PyTorch state_dict strictly after stripping a leading `module.` (DDP) or `model.` (a Lightning
    /// wrapper) from every key; missing or unexpected keys are an error listing them.
    pub fn load_pytorch_state_dict(&self, sd: &BTreeMap<String, Tensor>) -> Result<()> {
        self.load_state_dict(&strip_wrapper_prefix(sd), true)
    }

    /// `load_pytorch_state_dict` from a safetensors file (`safetensors.torch.save_file(model.state_dict(), p)`).
    pub fn load_pytorch_safetensors(&self, path: impl AsRef<std::path::Path>) -> Result<()> {
        self.load_pytorch_state_dict(&wrt_tensor::io::load(path)?)
    }
}

impl Forward for Satformer {
    fn forward(&self, x: &Var) -> Result<Var> {
        Satformer::forward(self, x)
    }
}

/// Keys without the wrapper prefix that *every* key carries (`module.` from DistributedDataParallel, `model.`
/// from a Lightning module holding the network as `self.model`); a state_dict without one is returned as is.
pub fn strip_wrapper_prefix(sd: &BTreeMap<String, Tensor>) -> BTreeMap<String, Tensor> {
    let mut out = sd.clone();
    for prefix in ["module.", "model."] {
        if !out.is_empty() && out.keys().all(|k| k.starts_with(prefix)) {
            out = out.into_iter().map(|(k, v)| (k[prefix.len()..].to_string(), v)).collect();
        }
    }
    out
}
