//! nn.MultiheadAttention with PyTorch's parameter layout, masks and init.
//!
//! Parameters (PyTorch's names, in its order): `in_proj_weight [3E, E]` when query, key and value have one
//! width E, else `q_proj_weight [E, E]`, `k_proj_weight [E, kdim]`, `v_proj_weight [E, vdim]`; then
//! `in_proj_bias [3E]` and `out_proj.weight [E, E]`, `out_proj.bias [E]` (no biases with `bias=false`).
//!
//! Masks follow nn.MultiheadAttention: `key_padding_mask` `[N, S]` and `attn_mask` `[L, S]` or
//! `[N * heads, L, S]` are Bool (true = *not allowed*, the opposite of `scaled_dot_product_attention`'s
//! convention) or float (added to the scores). Both given: Bool masks are or-ed; otherwise each is turned
//! into an additive one (-inf where true) and the two are summed, as PyTorch merges them.
//!
//! Without `need_weights` the heads go through the fused attention op (no `[N, H, L, S]` probabilities kept
//! for backward); with it, the composed path of PyTorch (`softmax(q k^T / sqrt(d) + mask)`, dropout, `@ v`)
//! returns the probabilities (after dropout, as PyTorch). A query row whose keys are all masked gives NaN on
//! the composed path (as PyTorch) and a zero row on the fused one.

use crate::dropout::{fork, Stream};
use crate::module::{Module, TrainFlag, Walk};
use crate::{init, Error, Forward, Linear, Result};
use wrt_autograd::{fused, Var};
use wrt_tensor::{DType, Generator, Tensor};

/// Fused scaled dot-product attention of `q`, `k`, `v` `[.., L, D]` with an optional additive `bias`, and
/// `dropout`'s probability applied to the attention probabilities in training (drawn from its stream):
/// the attention of models that hand-write their heads (dropout on the weights, as PyTorch's composed form).
pub fn sdpa_with_dropout(q: &Var, k: &Var, v: &Var, bias: Option<&Tensor>, dropout: &crate::Dropout) -> Result<Var> {
    let p = if dropout.training.get() { dropout.p } else { 0.0 };
    Ok(if p > 0.0 {
        let mut g = crate::dropout::lock(dropout.stream());
        fused::scaled_dot_product_attention(q, k, v, bias, p, false, None, Some(&mut g))?
    } else {
        fused::scaled_dot_product_attention(q, k, v, bias, 0.0, false, None, None)?
    })
}

/// Options of `nn.MultiheadAttention(embed_dim, num_heads, dropout, bias, kdim, vdim, batch_first)`
/// (`add_bias_kv` and `add_zero_attn` are not offered).
#[derive(Clone, Debug, PartialEq)]
pub struct MhaConfig {
    /// Dropout on the attention probabilities (training mode only).
    pub dropout: f64,
    pub bias: bool,
    /// Width of the key input; `None` = embed_dim.
    pub kdim: Option<usize>,
    /// Width of the value input; `None` = embed_dim.
    pub vdim: Option<usize>,
    /// Inputs and output are `[N, L, E]` instead of `[L, N, E]`.
    pub batch_first: bool,
}

impl Default for MhaConfig {
    fn default() -> Self {
        MhaConfig { dropout: 0.0, bias: true, kdim: None, vdim: None, batch_first: false }
    }
}

/// The input projection: one packed weight (PyTorch's `_qkv_same_embed_dim`) or three.
pub enum InProj {
    Packed(Var),
    Separate { q: Var, k: Var, v: Var },
}

/// Per-call arguments of `MultiheadAttention::forward` besides query, key and value. `Default` is PyTorch's:
/// no masks, `need_weights=True`, `average_attn_weights=True`.
#[derive(Clone, Copy, Debug)]
pub struct AttnArgs<'a> {
    /// `[N, S]` (`[S]` unbatched), Bool (true = ignore that key) or float (added).
    pub key_padding_mask: Option<&'a Tensor>,
    /// `[L, S]` or `[N * heads, L, S]`, Bool (true = not allowed) or float (added).
    pub attn_mask: Option<&'a Tensor>,
    /// Also return the attention probabilities.
    pub need_weights: bool,
    /// Average the returned probabilities over heads (`[N, L, S]`) instead of `[N, heads, L, S]`.
    pub average_attn_weights: bool,
}

impl Default for AttnArgs<'_> {
    fn default() -> Self {
        AttnArgs { key_padding_mask: None, attn_mask: None, need_weights: true, average_attn_weights: true }
    }
}

impl<'a> AttnArgs<'a> {
    /// Masks only, no weights returned (the fused path; what nn.TransformerEncoderLayer asks for).
    pub fn masks(key_padding_mask: Option<&'a Tensor>, attn_mask: Option<&'a Tensor>) -> Self {
        AttnArgs { key_padding_mask, attn_mask, need_weights: false, average_attn_weights: true }
    }
}

/// `nn.MultiheadAttention`.
pub struct MultiheadAttention {
    pub in_proj: InProj,
    pub in_proj_bias: Option<Var>,
    pub out_proj: Linear,
    pub embed_dim: usize,
    pub num_heads: usize,
    pub dropout: f64,
    pub batch_first: bool,
    pub training: TrainFlag,
    stream: Stream,
}

fn cfg_err(msg: String) -> Error {
    Error::Config(format!("MultiheadAttention: {msg}"))
}

impl MultiheadAttention {
    /// PyTorch's init: xavier_uniform on the input projection weight(s) (each of q/k/v separately when
    /// unpacked), zeros on `in_proj_bias` and `out_proj.bias`, `out_proj.weight` as nn.Linear's.
    pub fn new(g: &mut Generator, embed_dim: usize, num_heads: usize, cfg: MhaConfig) -> Result<Self> {
        if num_heads == 0 || embed_dim == 0 || !embed_dim.is_multiple_of(num_heads) {
            return Err(cfg_err(format!("embed_dim {embed_dim} must be a positive multiple of num_heads {num_heads}")));
        }
        if !(0.0..=1.0).contains(&cfg.dropout) {
            return Err(cfg_err(format!("dropout {} is outside [0, 1]", cfg.dropout)));
        }
        let e = embed_dim;
        let (kdim, vdim) = (cfg.kdim.unwrap_or(e), cfg.vdim.unwrap_or(e));
        let mut out_proj = Linear::new(g, e, e, cfg.bias)?;
        if out_proj.bias.is_some() {
            out_proj.bias = Some(Var::new(Tensor::zeros(&[e], DType::F32)?, true));
        }
        let xavier = |g: &mut Generator, shape: &[usize]| -> Result<Var> { Ok(Var::new(init::xavier_uniform(g, shape, 1.0, DType::F32)?, true)) };
        let in_proj = if kdim == e && vdim == e {
            InProj::Packed(xavier(g, &[3 * e, e])?)
        } else {
            InProj::Separate { q: xavier(g, &[e, e])?, k: xavier(g, &[e, kdim])?, v: xavier(g, &[e, vdim])? }
        };
        let in_proj_bias = if cfg.bias { Some(Var::new(Tensor::zeros(&[3 * e], DType::F32)?, true)) } else { None };
        Ok(MultiheadAttention {
            in_proj,
            in_proj_bias,
            out_proj,
            embed_dim: e,
            num_heads,
            dropout: cfg.dropout,
            batch_first: cfg.batch_first,
            training: TrainFlag::default(),
            stream: fork(g)?,
        })
    }

    /// The dropout stream (for checkpointing its state).
    pub fn stream(&self) -> &Stream {
        &self.stream
    }

    pub fn head_dim(&self) -> usize {
        self.embed_dim / self.num_heads
    }

    /// (kdim, vdim): the widths of the key and value inputs.
    pub fn kv_dims(&self) -> (usize, usize) {
        match &self.in_proj {
            InProj::Packed(_) => (self.embed_dim, self.embed_dim),
            InProj::Separate { k, v, .. } => (k.shape()[1], v.shape()[1]),
        }
    }

    /// Self-attention `forward(x, x, x, args)`.
    pub fn self_attention(&self, x: &Var, args: &AttnArgs<'_>) -> Result<(Var, Option<Var>)> {
        self.forward_qkv(x, x, x, args)
    }

    /// `(attn_output, attn_weights)`. Query `[L, N, E]` (`[N, L, E]` with batch_first, `[L, E]` unbatched),
    /// key `[S, N, kdim]`, value `[S, N, vdim]`; output shaped as the query; weights `[N, L, S]` averaged
    /// over heads or `[N, heads, L, S]` (no N when unbatched), only with `need_weights`.
    pub fn forward_qkv(&self, query: &Var, key: &Var, value: &Var, args: &AttnArgs<'_>) -> Result<(Var, Option<Var>)> {
        let (e, h, hd) = (self.embed_dim, self.num_heads, self.head_dim());
        let (kdim, vdim) = self.kv_dims();
        let batched = query.rank() == 3;
        if !(query.rank() == 3 || query.rank() == 2) || key.rank() != query.rank() || value.rank() != query.rank() {
            return Err(cfg_err(format!(
                "query, key and value must all be batched (rank 3) or all unbatched (rank 2), got shapes {:?}, {:?}, {:?}",
                query.shape(),
                key.shape(),
                value.shape()
            )));
        }
        // to [N, L, E] (batch-first) internally
        let to_nle = |x: &Var| -> Result<Var> {
            Ok(if !batched {
                x.unsqueeze(0)?
            } else if self.batch_first {
                x.clone()
            } else {
                x.transpose(0, 1)?
            })
        };
        let (q_in, k_in, v_in) = (to_nle(query)?, to_nle(key)?, to_nle(value)?);
        let (n, l, s) = (q_in.shape()[0], q_in.shape()[1], k_in.shape()[1]);
        if q_in.shape()[2] != e || k_in.shape()[2] != kdim || v_in.shape()[2] != vdim {
            return Err(cfg_err(format!(
                "expected widths query {e}, key {kdim}, value {vdim}; got shapes {:?}, {:?}, {:?}",
                query.shape(),
                key.shape(),
                value.shape()
            )));
        }
        if k_in.shape()[..2] != v_in.shape()[..2] || k_in.shape()[0] != n {
            return Err(cfg_err(format!(
                "key and value must have one length and the query's batch size, got shapes {:?}, {:?}, {:?}",
                query.shape(),
                key.shape(),
                value.shape()
            )));
        }
        let (q, k, v) = self.project(&q_in, &k_in, &v_in, query.id() == key.id() && key.id() == value.id())?;
        // [N, T, E] -> [N, H, T, hd]
        let heads = |x: Var, t: usize| -> Result<Var> { Ok(x.reshape_to(&[n, t, h, hd])?.permute(&[0, 2, 1, 3])?) };
        let (q, k, v) = (heads(q, l)?, heads(k, s)?, heads(v, s)?);
        let mask = self.merge_masks(args, n, l, s, batched, q.dtype())?;
        let p = if self.training.get() { self.dropout } else { 0.0 };
        let mut stream = crate::dropout::lock(&self.stream);
        let (out, weights) = if args.need_weights {
            let scale = 1.0 / (hd as f64).sqrt();
            let mut scores = q.mul_scalar(scale)?.matmul(&k.transpose(-2, -1)?)?;
            scores = match &mask {
                Some(Mask::Disallow(m)) => scores.masked_fill(&m.broadcast_to(scores.shape())?, f64::NEG_INFINITY)?,
                Some(Mask::Additive(m)) => scores.add(&Var::constant(m.clone()))?,
                None => scores,
            };
            let mut probs = scores.softmax(-1)?;
            if p > 0.0 {
                probs = probs.dropout(p, true, &mut stream)?;
            }
            let out = probs.matmul(&v)?;
            let w = if args.average_attn_weights { probs.mean(&[1], false)? } else { probs };
            (out, Some(if batched { w } else { w.squeeze(&[0])? }))
        } else {
            let keep = match &mask {
                Some(Mask::Disallow(m)) => Some(m.logical_not()?),
                Some(Mask::Additive(m)) => Some(m.clone()),
                None => None,
            };
            (fused::scaled_dot_product_attention(&q, &k, &v, keep.as_ref(), p, false, None, Some(&mut stream))?, None)
        };
        drop(stream);
        // [N, H, L, hd] -> [N, L, E] -> out_proj -> the query's layout
        let out = self.out_proj.forward(&out.permute(&[0, 2, 1, 3])?.reshape_to(&[n, l, e])?)?;
        let out = if !batched {
            out.squeeze(&[0])?
        } else if self.batch_first {
            out
        } else {
            out.transpose(0, 1)?
        };
        Ok((out, weights))
    }

    /// q, k, v `[N, T, E]`: one GEMM with the packed weight for self-attention, else one per input.
    fn project(&self, q: &Var, k: &Var, v: &Var, same: bool) -> Result<(Var, Var, Var)> {
        let e = self.embed_dim;
        let bias = |i: usize| -> Result<Option<Var>> { self.in_proj_bias.as_ref().map(|b| b.narrow(0, i * e, e)).transpose().map_err(Into::into) };
        match &self.in_proj {
            InProj::Packed(w) if same => {
                let qkv = linear(q, w, self.in_proj_bias.as_ref())?;
                Ok((qkv.narrow(-1, 0, e)?, qkv.narrow(-1, e, e)?, qkv.narrow(-1, 2 * e, e)?))
            }
            InProj::Packed(w) => Ok((
                linear(q, &w.narrow(0, 0, e)?, bias(0)?.as_ref())?,
                linear(k, &w.narrow(0, e, e)?, bias(1)?.as_ref())?,
                linear(v, &w.narrow(0, 2 * e, e)?, bias(2)?.as_ref())?,
            )),
            InProj::Separate { q: wq, k: wk, v: wv } => {
                Ok((linear(q, wq, bias(0)?.as_ref())?, linear(k, wk, bias(1)?.as_ref())?, linear(v, wv, bias(2)?.as_ref())?))
            }
        }
    }

    /// The key-padding and attention masks as one mask broadcastable to `[N, H, L, S]`.
    fn merge_masks(&self, args: &AttnArgs<'_>, n: usize, l: usize, s: usize, batched: bool, dtype: DType) -> Result<Option<Mask>> {
        let h = self.num_heads;
        let kpm = match args.key_padding_mask {
            None => None,
            Some(m) => {
                let want: &[usize] = if batched { &[n, s] } else { &[s] };
                if m.shape() != want {
                    return Err(cfg_err(format!("key_padding_mask must have shape {want:?} ([batch, source length]), got {:?}", m.shape())));
                }
                Some(Mask::of("key_padding_mask", &m.reshape_to(&[n, 1, 1, s])?, dtype)?)
            }
        };
        let am = match args.attn_mask {
            None => None,
            Some(m) if m.shape() == [l, s] => Some(Mask::of("attn_mask", &m.reshape_to(&[1, 1, l, s])?, dtype)?),
            Some(m) if m.shape() == [n * h, l, s] => Some(Mask::of("attn_mask", &m.reshape_to(&[n, h, l, s])?, dtype)?),
            Some(m) => {
                return Err(cfg_err(format!("attn_mask must have shape [{l}, {s}] or [{}, {l}, {s}] (batch * heads), got {:?}", n * h, m.shape())));
            }
        };
        Ok(match (kpm, am) {
            (None, m) | (m, None) => m,
            (Some(Mask::Disallow(a)), Some(Mask::Disallow(b))) => Some(Mask::Disallow(a.logical_or(&b)?)),
            (Some(a), Some(b)) => Some(Mask::Additive(a.additive(dtype)?.add(&b.additive(dtype)?)?)),
        })
    }
}

/// `x [N, T, in] @ w^T + b`, leading dims folded into one GEMM.
fn linear(x: &Var, w: &Var, b: Option<&Var>) -> Result<Var> {
    let (n, t) = (x.shape()[0], x.shape()[1]);
    let mut y = x.reshape(&[-1, w.shape()[1] as isize])?.matmul(&w.t()?)?;
    if let Some(b) = b {
        y = y.add(b)?;
    }
    Ok(y.reshape_to(&[n, t, w.shape()[0]])?)
}

/// A mask in PyTorch's MultiheadAttention convention.
enum Mask {
    /// Bool, true = not allowed.
    Disallow(Tensor),
    /// Added to the scores.
    Additive(Tensor),
}

impl Mask {
    fn of(what: &str, m: &Tensor, dtype: DType) -> Result<Mask> {
        match m.dtype() {
            DType::Bool => Ok(Mask::Disallow(m.clone())),
            DType::F32 | DType::F64 | DType::F16 | DType::BF16 => Ok(Mask::Additive(m.to_dtype(dtype)?)),
            got => Err(cfg_err(format!("{what} must be Bool (true = not allowed) or float (additive), got {got}"))),
        }
    }

    /// As an additive mask: -inf where not allowed.
    fn additive(self, dtype: DType) -> Result<Tensor> {
        match self {
            Mask::Additive(t) => Ok(t),
            Mask::Disallow(m) => Ok(Tensor::zeros(m.shape(), dtype)?.masked_fill(&m, f64::NEG_INFINITY)?),
        }
    }
}

impl Module for MultiheadAttention {
    fn visit(&self, v: &mut Walk<'_>) {
        match &self.in_proj {
            InProj::Packed(w) => v.param("in_proj_weight", w),
            InProj::Separate { q, k, v: wv } => {
                v.param("q_proj_weight", q);
                v.param("k_proj_weight", k);
                v.param("v_proj_weight", wv);
            }
        }
        if let Some(b) = &self.in_proj_bias {
            v.param("in_proj_bias", b);
        }
        v.child("out_proj", &self.out_proj);
        v.mode(&self.training);
        v.rng("rng", &self.stream);
    }
}
