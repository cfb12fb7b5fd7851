//! Composites: functions written only in terms of primitive `Var` ops, with no backward rule of
//! their own (their gradients come from the primitives'). They are the test oracles ("twins")
//! of the fused ops in `fused/`, and a fallback wherever a fused kernel does not apply.
//!
//! The softmax family subtracts a *detached* row max (a constant, as tinygrad does): the max
//! does not change the value, so no gradient needs to flow through it.

mod attention;
mod cross_entropy;

pub use attention::scaled_dot_product_attention;
pub use cross_entropy::cross_entropy;

use crate::{Result, Var};
use wrt_tensor::Cmp;

/// `x - max(x, dim)` with the max detached; a max of -inf (a fully masked row) is taken as 0 so
/// the row stays -inf instead of turning NaN.
fn shifted(x: &Var, dim: isize) -> Result<Var> {
    let m = x.value().max(&[dim], true)?;
    let m = m.masked_fill(&m.cmp_scalar(f64::NEG_INFINITY, Cmp::Eq)?, 0.0)?;
    x.sub(&Var::constant(m))
}

/// `softmax(x, dim) = exp(x - m) / sum(exp(x - m))`.
pub fn softmax(x: &Var, dim: isize) -> Result<Var> {
    let e = shifted(x, dim)?.exp()?;
    let s = e.sum(&[dim], true)?;
    e.div(&s)
}

/// `log_softmax(x, dim) = (x - m) - log(sum(exp(x - m)))`.
pub fn log_softmax(x: &Var, dim: isize) -> Result<Var> {
    let z = shifted(x, dim)?;
    let l = z.exp()?.sum(&[dim], true)?.log()?;
    z.sub(&l)
}
