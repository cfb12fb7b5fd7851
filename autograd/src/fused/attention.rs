//! Fused scaled dot-product attention (`F.scaled_dot_product_attention`), forward and backward
//! in `wrt_kernels::cpu::attention`. The graph holds one node that saves q, k, v (views, no
//! copy), the mask, the dropout mask and the row log-sum-exp `[..., L]`: never the `[..., L, S]`
//! scores or probabilities, which the composed twin (`compose::scaled_dot_product_attention`)
//! keeps several times over.
//!
//! Semantics follow PyTorch: q `[..., L, D]`, k `[..., S, D]`, v `[..., S, Dv]` with equal
//! leading dims; `mask` is Bool (true = take part) or float (added to the scores), broadcastable
//! to `[..., L, S]`; `is_causal` keeps `j <= i` (top-left aligned, like `ones(L, S).tril()`) and
//! excludes `mask`; `scale` defaults to `1/sqrt(D)`; dropout with probability `dropout_p` is
//! applied to the probabilities whenever `dropout_p > 0` (torch's functional form has no
//! training flag), its mask drawn from `rng` (or the default generator) as
//! `Generator::dropout_mask([..., L, S])`, so one seed gives one output.
//! A fully masked row gives a zero output row and zero gradients (see the kernel's doc).
//!
//! Under autocast the kernel computes in f32 on its inputs as they come: in a transformer q, k, v
//! are the rounded results of the QKV projection and the output (and, in backward, its gradient)
//! goes straight into a rounding GEMM, so rounding here again would change no value and cost four
//! passes. (PyTorch's CPU flash kernel also rounds the probabilities before `P V`; wrt keeps them f32.)

use super::{invalid, work_dtype};
use crate::{Result, Var};
use wrt_tensor::kernels::cpu::attention::{attention_backward, attention_forward, AttnDims, AttnFloat, AttnMask, HeadMat};
use wrt_tensor::{DType, Error as TError, Generator, Layout, Tensor, WithDType};

const OP: &str = "scaled_dot_product_attention";

/// Offsets of each matrix of a `[lead..., R, C]` layout (row-major over the lead dims), and the
/// row and column strides.
fn heads_of(l: &Layout) -> (Vec<usize>, usize, usize) {
    let r = l.rank();
    let (shape, strides) = (l.shape(), l.strides());
    let heads: usize = shape[..r - 2].iter().product();
    let mut offs = Vec::with_capacity(heads);
    let mut idx = vec![0usize; r - 2];
    for _ in 0..heads {
        offs.push(l.offset() + idx.iter().zip(strides).map(|(i, s)| i * s).sum::<usize>());
        for d in (0..r - 2).rev() {
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    (offs, strides[r - 2], strides[r - 1])
}

/// The mask as the kernel reads it.
#[derive(Clone)]
enum Mask {
    None,
    Causal,
    /// Bool (u8) tensor and its layout broadcast to `[..., L, S]`.
    Keep(Tensor, Layout),
    /// Float tensor (work dtype) and its broadcast layout.
    Bias(Tensor, Layout),
}

/// Scaled dot-product attention; see the module doc.
#[allow(clippy::too_many_arguments)]
pub fn scaled_dot_product_attention(
    q: &Var,
    k: &Var,
    v: &Var,
    mask: Option<&Tensor>,
    dropout_p: f64,
    is_causal: bool,
    scale: Option<f64>,
    rng: Option<&mut Generator>,
) -> Result<Var> {
    let (st, out_shape) = prepare(q, k, v, mask, dropout_p, is_causal, scale, rng)?;
    if st.q.dtype() == DType::F64 {
        build::<f64>(st, q, k, v, None, &out_shape)
    } else {
        build::<f32>(st, q, k, v, None, &out_shape)
    }
}

/// `scaled_dot_product_attention` with a learned additive bias: `softmax(Q K^T * scale + bias) V`, `bias` a
/// float `Var` broadcastable to `[..., L, S]` that receives a gradient (dS summed over its broadcast dims),
/// as window attention's relative or earth-specific position biases need. No dropout.
pub fn scaled_dot_product_attention_biased(q: &Var, k: &Var, v: &Var, bias: &Var, scale: Option<f64>) -> Result<Var> {
    let (st, out_shape) = prepare(q, k, v, Some(bias.value()), 0.0, false, scale, None)?;
    if st.q.dtype() == DType::F64 {
        build::<f64>(st, q, k, v, Some(bias), &out_shape)
    } else {
        build::<f32>(st, q, k, v, Some(bias), &out_shape)
    }
}

/// The checks, the mask's kernel form and the saved inputs (in the work dtype), and the output shape.
#[allow(clippy::too_many_arguments)]
fn prepare(
    q: &Var,
    k: &Var,
    v: &Var,
    mask: Option<&Tensor>,
    dropout_p: f64,
    is_causal: bool,
    scale: Option<f64>,
    rng: Option<&mut Generator>,
) -> Result<(Saved, Vec<usize>)> {
    let (qs, ks, vs) = (q.shape().to_vec(), k.shape().to_vec(), v.shape().to_vec());
    let r = qs.len();
    let bad = |expected: &str| -> crate::Error {
        TError::ShapeMismatch { op: OP, lhs: qs.clone(), rhs: ks.clone(), expected: format!("{expected} (v: {vs:?})") }.into()
    };
    if r < 2 || ks.len() != r || vs.len() != r {
        return Err(bad("q [..., L, D], k [..., S, D], v [..., S, Dv] of one rank >= 2"));
    }
    if qs[..r - 2] != ks[..r - 2] || ks[..r - 2] != vs[..r - 2] {
        return Err(bad("equal leading (batch, head) dims"));
    }
    if qs[r - 1] != ks[r - 1] || ks[r - 2] != vs[r - 2] {
        return Err(bad("q and k with one last dim D, k and v with one length S"));
    }
    let dtype = q.dtype();
    if k.dtype() != dtype || v.dtype() != dtype {
        return Err(TError::DType { op: OP, got: k.dtype(), expected: format!("q, k and v of one dtype ({dtype})") }.into());
    }
    let work = work_dtype(OP, dtype)?;
    if !(0.0..=1.0).contains(&dropout_p) {
        return Err(invalid(OP, format!("dropout_p must be in [0, 1], got {dropout_p}")));
    }
    let lead = &qs[..r - 2];
    let dims = AttnDims { heads: lead.iter().product(), q_len: qs[r - 2], kv_len: ks[r - 2], qk_dim: qs[r - 1], v_dim: vs[r - 1] };
    let full: Vec<usize> = lead.iter().copied().chain([dims.q_len, dims.kv_len]).collect();
    let mask = match (mask, is_causal) {
        (Some(_), true) => return Err(invalid(OP, "an explicit mask cannot be combined with is_causal=true (as in PyTorch)".into())),
        (None, true) => Mask::Causal,
        (None, false) => Mask::None,
        (Some(m), false) => {
            let bl = |t: &Tensor| -> Result<Layout> {
                t.layout().broadcast_to(&full).map_err(|_| {
                    TError::ShapeMismatch { op: OP, lhs: t.shape().to_vec(), rhs: full.clone(), expected: "a mask that broadcasts to [..., L, S]".into() }.into()
                })
            };
            match m.dtype() {
                DType::Bool => Mask::Keep(m.clone(), bl(m)?),
                DType::F32 | DType::F64 | DType::F16 | DType::BF16 => {
                    let t = m.to_dtype(work)?;
                    let l = bl(&t)?;
                    Mask::Bias(t, l)
                }
                got => return Err(TError::DType { op: OP, got, expected: "a Bool (true = keep) or float (additive) mask".into() }.into()),
            }
        }
    };
    let scale = scale.unwrap_or(1.0 / (dims.qk_dim as f64).sqrt());
    let drop = if dropout_p > 0.0 {
        let draw = |g: &mut Generator| g.dropout_mask(&full, dropout_p, work);
        Some(match rng {
            Some(g) => draw(g)?,
            None => Generator::with_default(draw)?,
        })
    } else {
        None
    };
    let (qw, kw, vw) = (q.value().to_dtype(work)?, k.value().to_dtype(work)?, v.value().to_dtype(work)?);
    let st = Saved { q: qw, k: kw, v: vw, mask, drop, scale, dims, dtype };
    let out_shape: Vec<usize> = lead.iter().copied().chain([dims.q_len, dims.v_dim]).collect();
    Ok((st, out_shape))
}

/// The graph node: inputs q, k, v and, when the additive bias is a `Var`, the bias (its gradient is dS
/// summed over the dims it was broadcast along).
fn build<T: Elem>(st: Saved, q: &Var, k: &Var, v: &Var, bias: Option<&Var>, out_shape: &[usize]) -> Result<Var> {
    let (out, lse) = st.forward::<T>()?;
    let out = out.reshape_to(out_shape)?.to_dtype(st.dtype)?;
    let Some(b) = bias else {
        return Ok(Var::from_op("fused_scaled_dot_product_attention", out, &[q, k, v], move |g| {
            let (dq, dk, dv, _) = st.backward::<T>(g, &lse, false)?;
            Ok(vec![Some(dq), Some(dk), Some(dv)])
        }));
    };
    let bias_shape = b.shape().to_vec();
    Ok(Var::from_op("fused_scaled_dot_product_attention", out, &[q, k, v, b], move |g| {
        let (dq, dk, dv, ds) = st.backward::<T>(g, &lse, true)?;
        let db = crate::ops::sum_to(&ds.expect("asked for dS"), &bias_shape)?;
        Ok(vec![Some(dq), Some(dk), Some(dv), Some(db)])
    }))
}

/// What the backward needs (inputs in the work dtype, as views).
struct Saved {
    q: Tensor,
    k: Tensor,
    v: Tensor,
    mask: Mask,
    drop: Option<Tensor>,
    scale: f64,
    dims: AttnDims,
    dtype: DType,
}

trait Elem: AttnFloat + WithDType {}
impl Elem for f32 {}
impl Elem for f64 {}

/// Run `f` with the kernel's view of a per-head operand.
fn with_heads<T: WithDType, R>(t: &Tensor, l: &Layout, f: impl FnOnce(HeadMat<T>) -> R) -> Result<R> {
    let (offs, rs, cs) = heads_of(l);
    Ok(t.with_slice(OP, |s: &[T], _| f(HeadMat { data: s, offs: &offs, rs, cs }))?)
}

impl Saved {
    /// Run `f` with q, k, v, the mask and the dropout mask as kernel operands.
    fn operands<T: Elem, R>(&self, f: impl FnOnce(HeadMat<T>, HeadMat<T>, HeadMat<T>, AttnMask<T>, Option<&[T]>) -> R) -> Result<R> {
        let drop = self.drop.as_ref().map(|d| d.data::<T>()).transpose()?;
        let drop = drop.as_deref();
        with_heads(&self.q, self.q.layout(), |q| -> Result<R> {
            with_heads(&self.k, self.k.layout(), |k| -> Result<R> {
                with_heads(&self.v, self.v.layout(), |v| -> Result<R> {
                    match &self.mask {
                        Mask::None => Ok(f(q, k, v, AttnMask::None, drop)),
                        Mask::Causal => Ok(f(q, k, v, AttnMask::Causal, drop)),
                        Mask::Keep(t, l) => with_heads(t, l, |m| f(q, k, v, AttnMask::Keep(m), drop)),
                        Mask::Bias(t, l) => with_heads(t, l, |m| f(q, k, v, AttnMask::Bias(m), drop)),
                    }
                })?
            })?
        })?
    }

    fn forward<T: Elem>(&self) -> Result<(Tensor, Vec<T>)> {
        let d = self.dims;
        let mut out = vec![zero::<T>(); d.heads * d.q_len * d.v_dim];
        let mut lse = vec![zero::<T>(); d.heads * d.q_len];
        let scale = <T as wrt_tensor::kernels::cpu::vmath::Real>::from_f64(self.scale);
        self.operands::<T, _>(|q, k, v, m, drop| attention_forward(&mut out, &mut lse, q, k, v, m, drop, scale, d))?;
        Ok((Tensor::from_vec(out, &[d.heads * d.q_len * d.v_dim])?, lse))
    }

    /// `(dq, dk, dv)` and, with `want_dscores`, dS `[lead..., L, S]` (the gradient of an additive bias).
    fn backward<T: Elem>(&self, g: &Tensor, lse: &[T], want_dscores: bool) -> Result<(Tensor, Tensor, Tensor, Option<Tensor>)> {
        let d = self.dims;
        let g = g.to_dtype(T::DTYPE)?;
        let mut dq = vec![zero::<T>(); d.heads * d.q_len * d.qk_dim];
        let mut dk = vec![zero::<T>(); d.heads * d.kv_len * d.qk_dim];
        let mut dv = vec![zero::<T>(); d.heads * d.kv_len * d.v_dim];
        let mut ds = if want_dscores { vec![zero::<T>(); d.heads * d.q_len * d.kv_len] } else { Vec::new() };
        let scale = <T as wrt_tensor::kernels::cpu::vmath::Real>::from_f64(self.scale);
        with_heads(&g, g.layout(), |go| {
            self.operands::<T, _>(|q, k, v, m, drop| {
                let dsc = if want_dscores { Some(&mut ds[..]) } else { None };
                attention_backward(&mut dq, &mut dk, &mut dv, dsc, go, q, k, v, lse, m, drop, scale, d)
            })
        })??;
        let t = |x: Vec<T>, like: &Tensor| -> Result<Tensor> { Ok(Tensor::from_vec(x, like.shape())?.to_dtype(self.dtype)?) };
        let ds = if want_dscores {
            let mut shape = self.q.shape()[..self.q.rank() - 2].to_vec();
            shape.extend([d.q_len, d.kv_len]);
            Some(Tensor::from_vec(ds, &shape)?.to_dtype(self.dtype)?)
        } else {
            None
        };
        Ok((t(dq, &self.q)?, t(dk, &self.k)?, t(dv, &self.v)?, ds))
    }
}

fn zero<T: Elem>() -> T {
    <T as wrt_tensor::kernels::cpu::vmath::Real>::ZERO
}
