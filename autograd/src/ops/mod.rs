//! Differentiable ops, one family per file. Each op is a method on `Var`: the forward computes with
//! wrt-tensor, then `Var::from_op` attaches the backward rule, which captures only what it needs.
//!
//! Primitives (own backward rule): unary math, binary arithmetic with broadcasting, reductions, views
//! (reshape/permute/narrow/expand/...), matmul, index ops, cat/pad/roll, conv, pooling, norms, softmax,
//! dropout. Composites (no rule of their own) are written in terms of these.

mod binary;
mod conv;
mod dropout;
mod index;
mod matmul;
mod norm;
mod pool;
mod reduce;
mod shape;
mod softmax;
mod unary;
mod views;

use crate::Result;
use wrt_tensor::Tensor;

/// Sum `g` down to `shape`, undoing NumPy broadcasting (leading dims summed away, stretched 1-dims summed
/// with keepdim). The backward of every broadcasting op ends with this.
pub fn sum_to(g: &Tensor, shape: &[usize]) -> Result<Tensor> {
    if g.shape() == shape {
        return Ok(g.clone());
    }
    let lead = g.rank() - shape.len();
    let mut dims: Vec<isize> = (0..lead as isize).collect();
    for (i, &n) in shape.iter().enumerate() {
        if n == 1 && g.shape()[lead + i] != 1 {
            dims.push((lead + i) as isize);
        }
    }
    let s = if dims.is_empty() { g.clone() } else { g.sum(&dims, true)? };
    Ok(s.reshape_to(shape)?)
}
