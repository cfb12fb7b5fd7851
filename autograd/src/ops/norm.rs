//! Normalisations: layer_norm, batch_norm, group_norm. The forward kernels return the per-row (or
//! per-channel, per-group) mean and rstd; backward saves those, the input and the weight, not the output.
//! Parents are (input, weight?, bias?) in that order.

use crate::{Error, Result, Var};
use wrt_tensor::ops::Normed;
use wrt_tensor::Tensor;

/// The parents (x, weight?, bias?).
fn parents<'a>(x: &'a Var, weight: Option<&'a Var>, bias: Option<&'a Var>) -> Vec<&'a Var> {
    let mut p = vec![x];
    p.extend(weight);
    p.extend(bias);
    p
}

/// One gradient per parent from a kernel's (dx, dweight?, dbias?).
fn grads((dx, dw, db): (Tensor, Option<Tensor>, Option<Tensor>), has_w: bool, has_b: bool) -> Vec<Option<Tensor>> {
    let mut out = vec![Some(dx)];
    if has_w {
        out.push(dw);
    }
    if has_b {
        out.push(db);
    }
    out
}

/// Shape [1, C, 1, ..] that broadcasts a per-channel [C] tensor against an [N, C, *] input.
fn channel_shape(shape: &[usize]) -> Vec<usize> {
    shape.iter().enumerate().map(|(i, &n)| if i == 1 { n } else { 1 }).collect()
}

impl Var {
    /// `F.layer_norm` over the trailing dims `normalized_shape` (the fused kernel; its composed twin from
    /// mean/var/sub/mul is held to the same values and gradients in the tests).
    pub fn layer_norm(&self, normalized_shape: &[usize], weight: Option<&Var>, bias: Option<&Var>, eps: f64) -> Result<Var> {
        let Normed { out, mean, rstd } = self.value().layer_norm_stats(normalized_shape, weight.map(|w| w.value()), bias.map(|b| b.value()), eps)?;
        let (x, w, ns, has_b) = (self.value().clone(), weight.map(|w| w.value().clone()), normalized_shape.to_vec(), bias.is_some());
        Ok(Var::from_op("layer_norm", out, &parents(self, weight, bias), move |g| {
            Ok(grads(Tensor::layer_norm_backward(g, &x, &ns, w.as_ref(), has_b, &mean, &rstd)?, w.is_some(), has_b))
        }))
    }

    /// `F.batch_norm` on [N, C, *]. With `training` (or without running statistics) it normalises with the
    /// batch statistics and updates `running_mean` / `running_var` in place when given (`momentum`, unbiased
    /// running variance, as PyTorch); otherwise it uses the running statistics, an elementwise affine map.
    #[allow(clippy::too_many_arguments)]
    pub fn batch_norm(
        &self,
        running_mean: Option<&Tensor>,
        running_var: Option<&Tensor>,
        weight: Option<&Var>,
        bias: Option<&Var>,
        training: bool,
        momentum: f64,
        eps: f64,
    ) -> Result<Var> {
        let (wv, bv) = (weight.map(|w| w.value()), bias.map(|b| b.value()));
        let (rm, rv) = match (running_mean, running_var) {
            (Some(rm), Some(rv)) if !training => (rm, rv),
            (None, None) | (Some(_), Some(_)) => {
                let Normed { out, mean, rstd } = self.value().batch_norm_train(wv, bv, running_mean, running_var, momentum, eps)?;
                let (x, w, has_b) = (self.value().clone(), wv.cloned(), bias.is_some());
                return Ok(Var::from_op("batch_norm", out, &parents(self, weight, bias), move |g| {
                    Ok(grads(Tensor::batch_norm_backward(g, &x, w.as_ref(), has_b, &mean, &rstd)?, w.is_some(), has_b))
                }));
            }
            _ => return Err(Error::Tensor(wrt_tensor::Error::InvalidArgument { op: "batch_norm", msg: "give both running_mean and running_var, or neither".into() })),
        };
        // Eval: y = (x - rm) * inv * w + b with inv = 1/sqrt(rv + eps), per channel. The running stats are
        // snapshotted: a later training step updates them in place.
        let y = self.value().batch_norm_eval(rm, rv, wv, bv, eps)?;
        let cs = channel_shape(self.shape());
        let inv = rv.add_scalar(eps)?.rsqrt()?.reshape_to(&cs)?;
        let scale = match wv {
            Some(w) => inv.mul(&w.reshape_to(&cs)?)?,
            None => inv.clone(),
        };
        let (has_w, has_b) = (weight.is_some(), bias.is_some());
        // x-hat is needed only for d weight
        let xhat = if weight.is_some_and(|w| w.requires_grad()) { Some(self.value().sub(&rm.reshape_to(&cs)?)?.mul(&inv)?) } else { None };
        let dims: Vec<isize> = (0..cs.len() as isize).filter(|&d| d != 1).collect();
        Ok(Var::from_op("batch_norm", y, &parents(self, weight, bias), move |g| {
            let mut out = vec![Some(g.mul(&scale)?)];
            if has_w {
                out.push(xhat.as_ref().map(|xh| g.mul(xh)?.sum(&dims, false)).transpose()?);
            }
            if has_b {
                out.push(Some(g.sum(&dims, false)?));
            }
            Ok(out)
        }))
    }

    /// `F.group_norm` on [N, C, *] with `groups` dividing C; weight and bias are per channel.
    pub fn group_norm(&self, groups: usize, weight: Option<&Var>, bias: Option<&Var>, eps: f64) -> Result<Var> {
        let Normed { out, mean, rstd } = self.value().group_norm_stats(groups, weight.map(|w| w.value()), bias.map(|b| b.value()), eps)?;
        let (x, w, has_b) = (self.value().clone(), weight.map(|w| w.value().clone()), bias.is_some());
        Ok(Var::from_op("group_norm", out, &parents(self, weight, bias), move |g| {
            Ok(grads(Tensor::group_norm_backward(g, &x, groups, w.as_ref(), has_b, &mean, &rstd)?, w.is_some(), has_b))
        }))
    }
}
