//! Normalisation layers' math: layer_norm, batch_norm (train with running-stat update, eval), group_norm,
//! each with its backward. Statistics saved for backward (mean, rstd/invstd) are returned as tensors.

use super::float::{check_float, finish, float_kernel};
use crate::{Error, Result, Tensor};
use wrt_kernels::cpu::norm as k;

/// Output of a normalisation forward: the result and the statistics its backward needs.
pub struct Normed {
    pub out: Tensor,
    pub mean: Tensor,
    /// 1/sqrt(var + eps) (PyTorch's rstd / invstd).
    pub rstd: Tensor,
}

fn check_affine(op: &'static str, w: Option<&Tensor>, b: Option<&Tensor>, want: &[usize]) -> Result<()> {
    for t in [w, b].into_iter().flatten() {
        if t.shape() != want {
            return Err(Error::ShapeMismatch { op, lhs: want.to_vec(), rhs: t.shape().to_vec(), expected: format!("weight/bias of shape {want:?}") });
        }
    }
    Ok(())
}

fn operands<'a>(x: &'a Tensor, w: Option<&'a Tensor>, b: Option<&'a Tensor>) -> Vec<&'a Tensor> {
    let mut ts = vec![x];
    ts.extend(w);
    ts.extend(b);
    ts
}

/// (n, c, spatial) of an [N, C, *] tensor.
fn ncs(op: &'static str, x: &Tensor) -> Result<(usize, usize, usize)> {
    if x.rank() < 2 {
        return Err(Error::BadShape { op, shape: x.shape().to_vec(), expected: "[N, C, *] (rank >= 2)".into() });
    }
    Ok((x.shape()[0], x.shape()[1], x.shape()[2..].iter().product()))
}

impl Tensor {
    /// `F.layer_norm` over the trailing dims `normalized_shape`.
    pub fn layer_norm(&self, normalized_shape: &[usize], weight: Option<&Tensor>, bias: Option<&Tensor>, eps: f64) -> Result<Tensor> {
        Ok(self.layer_norm_stats(normalized_shape, weight, bias, eps)?.out)
    }

    /// layer_norm returning mean and rstd per row (shape: the leading dims).
    pub fn layer_norm_stats(&self, normalized_shape: &[usize], weight: Option<&Tensor>, bias: Option<&Tensor>, eps: f64) -> Result<Normed> {
        let op = "layer_norm";
        let r = self.rank();
        if normalized_shape.is_empty() || normalized_shape.len() > r || self.shape()[r - normalized_shape.len()..] != *normalized_shape {
            return Err(Error::ShapeMismatch { op, lhs: self.shape().to_vec(), rhs: normalized_shape.to_vec(), expected: "normalized_shape equal to the input's trailing dims".into() });
        }
        check_affine(op, weight, bias, normalized_shape)?;
        check_float(op, &operands(self, weight, bias))?;
        let cols: usize = normalized_shape.iter().product();
        let rows = if cols == 0 { 0 } else { self.numel() / cols };
        let lead = &self.shape()[..r - normalized_shape.len()];
        let (hw, hb) = (weight.is_some(), bias.is_some());
        let dtype = self.dtype();
        float_kernel!(op, &operands(self, weight, bias), |v, T| {
            let w = hw.then(|| v[1]);
            let b = hb.then(|| v[1 + hw as usize]);
            let (mut out, mut mean, mut rstd) = (vec![0 as T; rows * cols], vec![0 as T; rows], vec![0 as T; rows]);
            k::layernorm_forward(&mut out, &mut mean, &mut rstd, v[0], w, b, rows, cols, eps as T);
            Ok(Normed { out: finish(out, self.shape(), dtype)?, mean: finish(mean, lead, dtype)?, rstd: finish(rstd, lead, dtype)? })
        })
    }

    /// Gradients of layer_norm: (d input, d weight, d bias) — dweight/dbias when weight/bias were used.
    pub fn layer_norm_backward(dout: &Tensor, input: &Tensor, normalized_shape: &[usize], weight: Option<&Tensor>, has_bias: bool, mean: &Tensor, rstd: &Tensor) -> Result<(Tensor, Option<Tensor>, Option<Tensor>)> {
        let op = "layer_norm_backward";
        let cols: usize = normalized_shape.iter().product();
        let rows = if cols == 0 { 0 } else { input.numel() / cols };
        if dout.shape() != input.shape() || mean.numel() != rows || rstd.numel() != rows {
            return Err(Error::ShapeMismatch { op, lhs: input.shape().to_vec(), rhs: dout.shape().to_vec(), expected: "dout shaped like the input, and mean/rstd with one value per row".into() });
        }
        let mut ts = vec![dout, input, mean, rstd];
        ts.extend(weight);
        check_float(op, &ts)?;
        let dtype = input.dtype();
        let hw = weight.is_some();
        float_kernel!(op, &ts, |v, T| {
            let w = hw.then(|| v[4]);
            let mut dx = vec![0 as T; rows * cols];
            let mut dw = vec![0 as T; if hw { cols } else { 0 }];
            let mut db = vec![0 as T; if has_bias { cols } else { 0 }];
            k::layernorm_backward(&mut dx, hw.then_some(dw.as_mut_slice()), has_bias.then_some(db.as_mut_slice()), v[0], v[1], w, v[2], v[3], rows, cols);
            let dw = if hw { Some(finish(dw, normalized_shape, dtype)?) } else { None };
            let db = if has_bias { Some(finish(db, normalized_shape, dtype)?) } else { None };
            Ok((finish(dx, input.shape(), dtype)?, dw, db))
        })
    }

    /// Training-mode `F.batch_norm` on [N, C, *]: normalises with batch statistics and, when given, updates
    /// `running_mean`/`running_var` in place (running var unbiased, like PyTorch). Returns mean and invstd per channel.
    pub fn batch_norm_train(&self, weight: Option<&Tensor>, bias: Option<&Tensor>, running_mean: Option<&Tensor>, running_var: Option<&Tensor>, momentum: f64, eps: f64) -> Result<Normed> {
        let op = "batch_norm";
        let (n, c, sp) = ncs(op, self)?;
        check_affine(op, weight, bias, &[c])?;
        check_affine(op, running_mean, running_var, &[c])?;
        if n * sp <= 1 {
            return Err(Error::BadShape { op, shape: self.shape().to_vec(), expected: "more than one value per channel in training mode".into() });
        }
        let ts = operands(self, weight, bias);
        check_float(op, &ts)?;
        let dtype = self.dtype();
        let (hw, hb) = (weight.is_some(), bias.is_some());
        float_kernel!(op, &ts, |v, T| {
            let w = hw.then(|| v[1]);
            let b = hb.then(|| v[1 + hw as usize]);
            let mut out = vec![0 as T; self.numel()];
            let (mut m, mut s) = (vec![0 as T; c], vec![0 as T; c]);
            let mut rm = running_mean.map(|t| t.to_dtype(<T as crate::WithDType>::DTYPE)?.to_vec::<T>()).transpose()?;
            let mut rv = running_var.map(|t| t.to_dtype(<T as crate::WithDType>::DTYPE)?.to_vec::<T>()).transpose()?;
            k::batchnorm_forward_train(&mut out, &mut m, &mut s, rm.as_deref_mut(), rv.as_deref_mut(), v[0], w, b, n, c, sp, momentum as T, eps as T);
            for (dst, src) in [(running_mean, rm), (running_var, rv)] {
                if let (Some(dst), Some(src)) = (dst, src) {
                    dst.copy_(&Tensor::from_vec(src, &[c])?.to_dtype(dst.dtype())?)?;
                }
            }
            Ok(Normed { out: finish(out, self.shape(), dtype)?, mean: finish(m, &[c], dtype)?, rstd: finish(s, &[c], dtype)? })
        })
    }

    /// Evaluation-mode batch norm with running statistics.
    pub fn batch_norm_eval(&self, running_mean: &Tensor, running_var: &Tensor, weight: Option<&Tensor>, bias: Option<&Tensor>, eps: f64) -> Result<Tensor> {
        let op = "batch_norm";
        let (n, c, sp) = ncs(op, self)?;
        check_affine(op, weight, bias, &[c])?;
        check_affine(op, Some(running_mean), Some(running_var), &[c])?;
        let mut ts = vec![self, running_mean, running_var];
        ts.extend(weight);
        ts.extend(bias);
        check_float(op, &ts)?;
        let dtype = self.dtype();
        let (hw, hb) = (weight.is_some(), bias.is_some());
        float_kernel!(op, &ts, |v, T| {
            let w = hw.then(|| v[3]);
            let b = hb.then(|| v[3 + hw as usize]);
            let mut out = vec![0 as T; self.numel()];
            k::batchnorm_forward_eval(&mut out, v[0], v[1], v[2], w, b, n, c, sp, eps as T);
            finish(out, self.shape(), dtype)
        })
    }

    /// Gradients of training-mode batch norm: (d input, d weight, d bias).
    pub fn batch_norm_backward(dout: &Tensor, input: &Tensor, weight: Option<&Tensor>, has_bias: bool, save_mean: &Tensor, save_invstd: &Tensor) -> Result<(Tensor, Option<Tensor>, Option<Tensor>)> {
        let op = "batch_norm_backward";
        let (n, c, sp) = ncs(op, input)?;
        if dout.shape() != input.shape() {
            return Err(Error::ShapeMismatch { op, lhs: input.shape().to_vec(), rhs: dout.shape().to_vec(), expected: "dout shaped like the input".into() });
        }
        let mut ts = vec![dout, input, save_mean, save_invstd];
        ts.extend(weight);
        check_float(op, &ts)?;
        let dtype = input.dtype();
        let hw = weight.is_some();
        float_kernel!(op, &ts, |v, T| {
            let w = hw.then(|| v[4]);
            let mut dx = vec![0 as T; input.numel()];
            let mut dw = vec![0 as T; if hw { c } else { 0 }];
            let mut db = vec![0 as T; if has_bias { c } else { 0 }];
            k::batchnorm_backward(&mut dx, hw.then_some(dw.as_mut_slice()), has_bias.then_some(db.as_mut_slice()), v[0], v[1], w, v[2], v[3], n, c, sp);
            let dw = if hw { Some(finish(dw, &[c], dtype)?) } else { None };
            let db = if has_bias { Some(finish(db, &[c], dtype)?) } else { None };
            Ok((finish(dx, input.shape(), dtype)?, dw, db))
        })
    }

    /// `F.group_norm` on [N, C, *]; mean/rstd are [N, groups].
    pub fn group_norm_stats(&self, groups: usize, weight: Option<&Tensor>, bias: Option<&Tensor>, eps: f64) -> Result<Normed> {
        let op = "group_norm";
        let (n, c, sp) = ncs(op, self)?;
        if groups == 0 || c % groups != 0 {
            return Err(Error::InvalidArgument { op, msg: format!("{c} channels are not divisible into {groups} groups") });
        }
        check_affine(op, weight, bias, &[c])?;
        let ts = operands(self, weight, bias);
        check_float(op, &ts)?;
        let dtype = self.dtype();
        let (hw, hb) = (weight.is_some(), bias.is_some());
        float_kernel!(op, &ts, |v, T| {
            let w = hw.then(|| v[1]);
            let b = hb.then(|| v[1 + hw as usize]);
            let mut out = vec![0 as T; self.numel()];
            let (mut m, mut s) = (vec![0 as T; n * groups], vec![0 as T; n * groups]);
            k::groupnorm_forward(&mut out, &mut m, &mut s, v[0], w, b, n, c, sp, groups, eps as T);
            Ok(Normed { out: finish(out, self.shape(), dtype)?, mean: finish(m, &[n, groups], dtype)?, rstd: finish(s, &[n, groups], dtype)? })
        })
    }

    pub fn group_norm(&self, groups: usize, weight: Option<&Tensor>, bias: Option<&Tensor>, eps: f64) -> Result<Tensor> {
        Ok(self.group_norm_stats(groups, weight, bias, eps)?.out)
    }

    /// Gradients of group_norm: (d input, d weight, d bias).
    #[allow(clippy::too_many_arguments)]
    pub fn group_norm_backward(dout: &Tensor, input: &Tensor, groups: usize, weight: Option<&Tensor>, has_bias: bool, mean: &Tensor, rstd: &Tensor) -> Result<(Tensor, Option<Tensor>, Option<Tensor>)> {
        let op = "group_norm_backward";
        let (n, c, sp) = ncs(op, input)?;
        if dout.shape() != input.shape() || mean.numel() != n * groups || rstd.numel() != n * groups {
            return Err(Error::ShapeMismatch { op, lhs: input.shape().to_vec(), rhs: dout.shape().to_vec(), expected: "dout shaped like the input and [N, groups] statistics".into() });
        }
        let mut ts = vec![dout, input, mean, rstd];
        ts.extend(weight);
        check_float(op, &ts)?;
        let dtype = input.dtype();
        let hw = weight.is_some();
        float_kernel!(op, &ts, |v, T| {
            let w = hw.then(|| v[4]);
            let mut dx = vec![0 as T; input.numel()];
            let mut dw = vec![0 as T; if hw { c } else { 0 }];
            let mut db = vec![0 as T; if has_bias { c } else { 0 }];
            k::groupnorm_backward(&mut dx, hw.then_some(dw.as_mut_slice()), has_bias.then_some(db.as_mut_slice()), v[0], v[1], w, v[2], v[3], n, c, sp, groups);
            let dw = if hw { Some(finish(dw, &[c], dtype)?) } else { None };
            let db = if has_bias { Some(finish(db, &[c], dtype)?) } else { None };
            Ok((finish(dx, input.shape(), dtype)?, dw, db))
        })
    }
}
