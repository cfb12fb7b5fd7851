//! Loss functions with `torch.nn.functional` semantics, composed from differentiable `Var` ops (so every
//! gradient comes from the ops' own backward rules), except `cross_entropy`, which is the fused kernel.
//!
//! `reduction` is the autograd `Reduction`: `None` keeps one loss per element, `Mean` (PyTorch's default)
//! averages, `Sum` adds. Regression targets are `Var`s, so a target that requires grad gets one, as in
//! PyTorch. Parity: nn/tests/loss_parity.rs against tools/parity/gen_loss.py.

use crate::{Error, Result};
use wrt_autograd::Var;
use wrt_tensor::{Cmp, DType, Tensor};

pub use wrt_autograd::fused::Reduction;

/// `F.cross_entropy`: the fused softmax cross-entropy (`wrt_autograd::fused::cross_entropy`), logits
/// `[N, C]`, `[N, C, d1, ...]` or `[C]` with I64 class targets; `weight` per class, `label_smoothing` in [0, 1].
pub fn cross_entropy(
    logits: &Var,
    targets: &Tensor,
    weight: Option<&Tensor>,
    ignore_index: i64,
    label_smoothing: f64,
    reduction: Reduction,
) -> Result<Var> {
    Ok(wrt_autograd::fused::cross_entropy(
        logits,
        targets,
        weight,
        ignore_index,
        label_smoothing,
        reduction,
    )?)
}

fn reduce(loss: Var, reduction: Reduction) -> Result<Var> {
    Ok(match reduction {
        Reduction::None => loss,
        Reduction::Mean => loss.mean_all()?,
        Reduction::Sum => loss.sum_all()?,
    })
}

fn same_shape(op: &str, a: &Var, b: &Var) -> Result<()> {
    if a.shape() != b.shape() {
        return Err(Error::Config(format!(
            "{op}: input {:?} and target {:?} differ in shape",
            a.shape(),
            b.shape()
        )));
    }
    Ok(())
}

/// `F.nll_loss`: `loss_i = -w[t_i] * log_probs[i, t_i]` (class dim 1, or 0 for unbatched `[C]` with a 0-d
/// target), 0 where `t_i == ignore_index`. `Mean` divides by the summed weights of the rows not ignored
/// (NaN when every row is ignored, as in PyTorch).
pub fn nll_loss(
    log_probs: &Var,
    targets: &Tensor,
    weight: Option<&Tensor>,
    ignore_index: i64,
    reduction: Reduction,
) -> Result<Var> {
    let shape = log_probs.shape().to_vec();
    let (cdim, classes, loss_shape): (usize, usize, Vec<usize>) = match shape.len() {
        0 => {
            return Err(Error::Config(
                "nll_loss: log_probs must be [C], [N, C] or [N, C, d1, ...]".into(),
            ))
        }
        1 => (0, shape[0], vec![]),
        _ => (
            1,
            shape[1],
            std::iter::once(shape[0])
                .chain(shape[2..].iter().copied())
                .collect(),
        ),
    };
    if targets.dtype() != DType::I64 || targets.shape() != loss_shape.as_slice() {
        return Err(Error::Config(format!(
            "nll_loss: targets must be I64 of shape {loss_shape:?}, got {:?} {:?}",
            targets.dtype(),
            targets.shape()
        )));
    }
    if let Some(w) = weight {
        if w.shape() != [classes] {
            return Err(Error::Config(format!(
                "nll_loss: weight must be [{classes}], got {:?}",
                w.shape()
            )));
        }
    }
    let t = targets.to_vec::<i64>()?;
    if let Some(bad) = t
        .iter()
        .find(|&&v| v != ignore_index && !(0..classes as i64).contains(&v))
    {
        return Err(Error::Config(format!(
            "nll_loss: target {bad} out of range for {classes} classes"
        )));
    }
    // ignored rows gather class 0 and get weight 0
    let ignored = targets.cmp_scalar(ignore_index as f64, Cmp::Eq)?;
    let safe = targets.masked_fill(&ignored, 0.0)?;
    let picked = log_probs
        .gather(cdim as isize, &safe.unsqueeze(cdim as isize)?)?
        .reshape_to(&loss_shape)?;
    let dtype = log_probs.value().dtype();
    let w = match weight {
        Some(w) => w
            .to_dtype(dtype)?
            .index_select(0, &safe.reshape(&[-1])?)?
            .reshape_to(&loss_shape)?,
        None => Tensor::full(&loss_shape, 1.0, dtype)?,
    }
    .masked_fill(&ignored, 0.0)?;
    let loss = picked.mul(&Var::constant(w.clone()))?.neg()?;
    match reduction {
        Reduction::Mean => Ok(loss.sum_all()?.div(&Var::constant(w.sum_all()?))?),
        r => reduce(loss, r),
    }
}

/// `F.binary_cross_entropy_with_logits` in the stable form: `max(x, 0) - x*y + log1p(exp(-|x|))`; with
/// `pos_weight` (broadcast along the last dim, as PyTorch) `(1 - y)*x + (1 + (pw - 1)*y) * (log1p(exp(-|x|)) + max(-x, 0))`.
/// `weight` multiplies each element's loss (broadcast); `Mean` is the plain mean over elements.
pub fn binary_cross_entropy_with_logits(
    logits: &Var,
    targets: &Var,
    weight: Option<&Tensor>,
    pos_weight: Option<&Tensor>,
    reduction: Reduction,
) -> Result<Var> {
    same_shape("binary_cross_entropy_with_logits", logits, targets)?;
    let x = logits;
    let log1p_exp = x.abs()?.neg()?.exp()?.log1p()?;
    let mut loss = match pos_weight {
        None => x.relu()?.sub(&x.mul(targets)?)?.add(&log1p_exp)?,
        Some(pw) => {
            let lw = targets
                .mul(&Var::constant(pw.add_scalar(-1.0)?))?
                .add_scalar(1.0)?;
            let one_minus_y = targets.affine(-1.0, 1.0)?;
            one_minus_y
                .mul(x)?
                .add(&lw.mul(&log1p_exp.add(&x.neg()?.relu()?)?)?)?
        }
    };
    if let Some(w) = weight {
        loss = loss.mul(&Var::constant(w.clone()))?;
    }
    reduce(loss, reduction)
}

/// `F.mse_loss`: `(x - y)^2`.
pub fn mse_loss(input: &Var, target: &Var, reduction: Reduction) -> Result<Var> {
    same_shape("mse_loss", input, target)?;
    reduce(input.sub(target)?.square()?, reduction)
}

/// `F.l1_loss`: `|x - y|`.
pub fn l1_loss(input: &Var, target: &Var, reduction: Reduction) -> Result<Var> {
    same_shape("l1_loss", input, target)?;
    reduce(input.sub(target)?.abs()?, reduction)
}

/// `z = |x - y|`; `quad_scale * z^2` where `z < cut`, else `lin_scale * (z - cut/2)`.
fn piecewise(input: &Var, target: &Var, cut: f64, quad_scale: f64, lin_scale: f64) -> Result<Var> {
    let d = input.sub(target)?;
    let z = d.abs()?;
    let small = z.value().cmp_scalar(cut, Cmp::Lt)?;
    let quad = d.square()?.mul_scalar(quad_scale)?;
    let lin = z.add_scalar(-0.5 * cut)?.mul_scalar(lin_scale)?;
    Ok(Var::where_cond(&small, &quad, &lin)?)
}

/// `F.smooth_l1_loss`: `0.5 z^2 / beta` where `z = |x - y| < beta`, else `z - 0.5 beta`; `beta = 0` is `l1_loss`.
pub fn smooth_l1_loss(input: &Var, target: &Var, beta: f64, reduction: Reduction) -> Result<Var> {
    same_shape("smooth_l1_loss", input, target)?;
    if beta < 0.0 {
        return Err(Error::Config(format!(
            "smooth_l1_loss: beta must be >= 0, got {beta}"
        )));
    }
    if beta == 0.0 {
        return l1_loss(input, target, reduction);
    }
    reduce(piecewise(input, target, beta, 0.5 / beta, 1.0)?, reduction)
}

/// `F.huber_loss`: `0.5 z^2` where `z = |x - y| < delta`, else `delta (z - 0.5 delta)`.
pub fn huber_loss(input: &Var, target: &Var, delta: f64, reduction: Reduction) -> Result<Var> {
    same_shape("huber_loss", input, target)?;
    if delta <= 0.0 {
        return Err(Error::Config(format!(
            "huber_loss: delta must be > 0, got {delta}"
        )));
    }
    reduce(piecewise(input, target, delta, 0.5, delta)?, reduction)
}

/// Quantile (pinball) loss of the Temporal Fusion Transformer: `preds [..., Q]`, `target [...]`, one
/// quantile per last-dim slot; per quantile `max(q e, (q - 1) e)` with `e = y - p`.
///
/// Reduction as in pytorch-forecasting's `QuantileLoss` (the usual TFT training loss): the quantile losses
/// are summed per element, then `Mean` averages over the elements of `target` (so it equals
/// `Q * mean` over all `[..., Q]` entries); `Sum` adds everything; `None` returns the unreduced `[..., Q]`.
/// pytorch-forecasting also scales by 2 (from version 0.10); this function does not.
pub fn quantile_loss(
    preds: &Var,
    target: &Var,
    quantiles: &[f64],
    reduction: Reduction,
) -> Result<Var> {
    let (ps, ts) = (preds.shape(), target.shape());
    if ps.is_empty() || ps[..ps.len() - 1] != *ts || ps[ps.len() - 1] != quantiles.len() {
        return Err(Error::Config(format!(
            "quantile_loss: preds {ps:?} must be target {ts:?} + [{}] quantiles",
            quantiles.len()
        )));
    }
    if let Some(q) = quantiles.iter().find(|q| !(0.0..=1.0).contains(*q)) {
        return Err(Error::Config(format!(
            "quantile_loss: quantile {q} outside [0, 1]"
        )));
    }
    let dtype = preds.value().dtype();
    let q =
        Var::constant(Tensor::from_vec(quantiles.to_vec(), &[quantiles.len()])?.to_dtype(dtype)?);
    let e = target.unsqueeze(-1)?.sub(preds)?;
    let loss = e.mul(&q)?.maximum(&e.mul(&q.add_scalar(-1.0)?)?)?;
    match reduction {
        Reduction::None => Ok(loss),
        Reduction::Sum => Ok(loss.sum_all()?),
        Reduction::Mean => Ok(loss.sum(&[-1], false)?.mean_all()?),
    }
}
