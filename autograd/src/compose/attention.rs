//! Scaled dot-product attention composed from primitives (the math path of PyTorch):
//! `matmul -> scale -> masked_fill / add -> softmax (composed) -> dropout (mul) -> matmul`.
//! The twin of `fused::scaled_dot_product_attention`, with the same treatment of fully masked
//! rows (output 0, gradient 0): such rows are left unmasked, then their probabilities are
//! multiplied by 0, so no NaN enters the forward or the backward.

use super::softmax;
use crate::{Result, Var};
use wrt_tensor::{Cmp, DType, Tensor};

/// `dropout_mask` is the `[..., L, S]` tensor of 0 and 1/(1-p) (what
/// `Generator::dropout_mask` draws), or None for no dropout. Other arguments as in
/// `fused::scaled_dot_product_attention`.
pub fn scaled_dot_product_attention(q: &Var, k: &Var, v: &Var, mask: Option<&Tensor>, dropout_mask: Option<&Tensor>, is_causal: bool, scale: Option<f64>) -> Result<Var> {
    let r = q.rank();
    let (l, s, d) = (q.shape()[r - 2], k.shape()[r - 2], q.shape()[r - 1]);
    let scale = scale.unwrap_or(1.0 / (d as f64).sqrt());
    let mut scores = q.matmul(&k.transpose(-2, -1)?)?.mul_scalar(scale)?;
    let full = scores.shape().to_vec();
    let keep: Option<Tensor> = match mask {
        _ if is_causal => {
            let v: Vec<bool> = (0..l * s).map(|x| x % s <= x / s).collect();
            Some(Tensor::from_bools(&v, &[l, s])?.broadcast_to(&full)?.contiguous()?)
        }
        Some(m) if m.dtype() == DType::Bool => Some(m.broadcast_to(&full)?.contiguous()?),
        Some(m) => {
            scores = scores.add(&Var::constant(m.to_dtype(q.dtype())?))?;
            None
        }
        None => None,
    };
    let p = match keep {
        Some(keep) => {
            let row_any = keep.to_dtype(DType::F64)?.sum(&[-1], true)?.cmp_scalar(0.0, Cmp::Gt)?;
            let drop = keep.logical_not()?.logical_and(&row_any)?;
            let p = softmax(&scores.masked_fill(&drop, f64::NEG_INFINITY)?, -1)?;
            p.mul(&Var::constant(row_any.to_dtype(q.dtype())?))?
        }
        None => softmax(&scores, -1)?,
    };
    let p = match dropout_mask {
        Some(m) => p.mul(&Var::constant(m.to_dtype(q.dtype())?))?,
        None => p,
    };
    p.matmul(v)
}
