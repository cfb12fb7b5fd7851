//! GELU with a one-pass backward: `dx = dy * gelu'(x)` in a single kernel
//! (`wrt_kernels::cpu::activation`) instead of the chain of tensor ops of `Var::gelu`'s rule
//! (erf, exp, square, four multiplies: seven temporaries). Saves only x. Twin: `Var::gelu` /
//! `Var::gelu_tanh` (ops/unary.rs).

use super::work_dtype;
use crate::{Result, Var};
use wrt_tensor::kernels::cpu::activation::{gelu_backward_f32, gelu_backward_f64};
use wrt_tensor::{DType, Tensor};

/// `gelu(x)`: `x * Phi(x)`, or with `approximate` the tanh form
/// `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))` (PyTorch's `approximate="tanh"`).
pub fn gelu(x: &Var, approximate: bool) -> Result<Var> {
    let xv = x.value().clone();
    let y = if approximate { xv.gelu_tanh()? } else { xv.gelu()? };
    let name = if approximate { "fused_gelu_tanh" } else { "fused_gelu" };
    Ok(Var::from_op(name, y, &[x], move |g| Ok(vec![Some(gelu_backward(g, &xv, approximate)?)])))
}

/// `g * gelu'(x)` in one pass.
pub fn gelu_backward(g: &Tensor, x: &Tensor, approximate: bool) -> Result<Tensor> {
    let work = work_dtype("gelu_backward", x.dtype())?;
    let xw = x.to_dtype(work)?.contiguous()?;
    let gw = g.to_dtype(work)?.contiguous()?;
    let dx = if work == DType::F64 {
        let mut dx = vec![0f64; xw.numel()];
        gelu_backward_f64(&mut dx, &gw.data::<f64>()?, &xw.data::<f64>()?, approximate);
        Tensor::from_vec(dx, x.shape())?
    } else {
        let mut dx = vec![0f32; xw.numel()];
        gelu_backward_f32(&mut dx, &gw.data::<f32>()?, &xw.data::<f32>()?, approximate);
        Tensor::from_vec(dx, x.shape())?
    };
    Ok(dx.to_dtype(x.dtype())?)
}
