//! Gradient clipping: `torch.nn.utils.clip_grad_norm_` and `clip_grad_value_`.
//!
//! Gradients are replaced through `set_grad` with fresh tensors, never modified in place: a gradient may
//! share its storage with another tensor (an op's backward may hand the same buffer to two inputs).

use crate::{Error, Result};
use wrt_autograd::Var;
use wrt_tensor::{DType, Tensor};

/// The norm of one gradient, accumulated in f64. `inf` is the largest magnitude (NaN propagates).
fn tensor_norm(g: &Tensor, norm_type: f64) -> Result<f64> {
    let v = g.to_vec_f64()?;
    Ok(if norm_type.is_infinite() {
        v.iter().fold(0.0f64, |m, x| if m.is_nan() || x.is_nan() { f64::NAN } else { m.max(x.abs()) })
    } else {
        v.iter().map(|x| x * x).sum::<f64>().sqrt()
    })
}

/// Round like the gradients' dtype (PyTorch computes the norms in it): f32 unless every gradient is f64.
fn round_as(x: f64, all_f64: bool) -> f64 {
    if all_f64 {
        x
    } else {
        x as f32 as f64
    }
}

/// Clip the gradients of `params` so that their joint norm is at most `max_norm`; returns the total norm
/// before clipping. `norm_type` is 2.0 or `f64::INFINITY`. Each gradient is multiplied by
/// `min(max_norm / (total + 1e-6), 1)` (computed as PyTorch does, in the gradients' dtype). A NaN or infinite
/// total is an error when `error_if_nonfinite`, else the gradients are scaled by it anyway (as in PyTorch).
pub fn clip_grad_norm_(params: &[Var], max_norm: f64, norm_type: f64, error_if_nonfinite: bool) -> Result<f64> {
    if norm_type != 2.0 && !(norm_type.is_infinite() && norm_type > 0.0) {
        return Err(Error::config("clip_grad_norm_ norm_type", format!("2.0 or inf are supported, got {norm_type}")));
    }
    let grads: Vec<(&Var, Tensor)> = params.iter().filter_map(|p| p.grad().map(|g| (p, g))).collect();
    if grads.is_empty() {
        return Ok(0.0);
    }
    let all_f64 = grads.iter().all(|(_, g)| g.dtype() == DType::F64);
    let norms = grads.iter().map(|(_, g)| Ok(round_as(tensor_norm(g, norm_type)?, all_f64))).collect::<Result<Vec<f64>>>()?;
    let total = if norm_type.is_infinite() {
        norms.iter().fold(0.0f64, |m, &x| if m.is_nan() || x.is_nan() { f64::NAN } else { m.max(x) })
    } else {
        norms.iter().map(|x| x * x).sum::<f64>().sqrt()
    };
    let total = round_as(total, all_f64);
    if error_if_nonfinite && !total.is_finite() {
        return Err(Error::NonFiniteNorm { norm_type, total });
    }
    // clip_coef = max_norm / (total + 1e-6) is `(total + 1e-6).reciprocal() * max_norm` on a 0-d tensor.
    let coef = if all_f64 {
        (1.0 / (total + 1e-6) * max_norm).min(1.0)
    } else {
        let t = total as f32 + 1e-6f32;
        let c = (1.0f32 / t) * max_norm as f32;
        // torch.clamp(max=1.0) keeps NaN
        if c.is_nan() {
            f64::NAN
        } else {
            c.min(1.0) as f64
        }
    };
    for (p, g) in grads {
        p.set_grad(Some(scale(&g, coef)?));
    }
    Ok(total)
}

/// `g * coef` in g's dtype (f32 arithmetic for f32 gradients, as `g.mul_(coef)`).
fn scale(g: &Tensor, coef: f64) -> Result<Tensor> {
    if g.dtype() == DType::F32 {
        let c = coef as f32;
        let v: Vec<f32> = g.to_vec::<f32>()?.into_iter().map(|x| x * c).collect();
        return Ok(Tensor::from_vec(v, g.shape())?);
    }
    Ok(g.mul_scalar(coef)?)
}

/// Clamp every gradient element into `[-clip, clip]` (NaN stays NaN).
pub fn clip_grad_value_(params: &[Var], clip: f64) -> Result<()> {
    if clip.is_nan() || clip < 0.0 {
        return Err(Error::config("clip_grad_value_ clip", format!("must be >= 0, got {clip}")));
    }
    for p in params {
        if let Some(g) = p.grad() {
            p.set_grad(Some(g.maximum_scalar(-clip)?.minimum_scalar(clip)?));
        }
    }
    Ok(())
}
