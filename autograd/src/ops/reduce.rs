//! Reductions. The gradient of a reduction is broadcast back over the reduced dims (kept as size 1).

use crate::{Result, Var};
use wrt_tensor::layout::norm_dims;
use wrt_tensor::{Cmp, Tensor};

/// `g` reshaped so it broadcasts against the input: reduced dims re-inserted as size 1.
fn unreduce(g: &Tensor, in_shape: &[usize], dims: &[usize]) -> Result<Tensor> {
    let keep: Vec<usize> = in_shape.iter().enumerate().map(|(i, &n)| if dims.contains(&i) { 1 } else { n }).collect();
    Ok(g.reshape_to(&keep)?)
}

impl Var {
    pub fn sum(&self, dims: &[isize], keepdim: bool) -> Result<Var> {
        let shape = self.shape().to_vec();
        let d = norm_dims("sum", dims, self.rank())?;
        let y = self.value().sum(dims, keepdim)?;
        Ok(Var::from_op("sum", y, &[self], move |g| Ok(vec![Some(unreduce(g, &shape, &d)?.broadcast_to(&shape)?.contiguous()?)])))
    }

    pub fn sum_all(&self) -> Result<Var> {
        self.sum(&[], false)
    }

    pub fn mean(&self, dims: &[isize], keepdim: bool) -> Result<Var> {
        let shape = self.shape().to_vec();
        let d = norm_dims("mean", dims, self.rank())?;
        let n: usize = d.iter().map(|&i| shape[i]).product();
        let y = self.value().mean(dims, keepdim)?;
        Ok(Var::from_op("mean", y, &[self], move |g| {
            Ok(vec![Some(unreduce(g, &shape, &d)?.mul_scalar(1.0 / n as f64)?.broadcast_to(&shape)?.contiguous()?)])
        }))
    }

    pub fn mean_all(&self) -> Result<Var> {
        self.mean(&[], false)
    }

    /// Variance with `correction` (1 = unbiased): d var / dx = 2 (x - mean) / (n - correction).
    pub fn var(&self, dims: &[isize], correction: usize, keepdim: bool) -> Result<Var> {
        let x = self.value().clone();
        let d = norm_dims("var", dims, self.rank())?;
        let n: usize = d.iter().map(|&i| x.shape()[i]).product();
        let y = x.var(dims, correction, keepdim)?;
        let dims_i: Vec<isize> = d.iter().map(|&i| i as isize).collect();
        Ok(Var::from_op("var", y, &[self], move |g| {
            let centered = x.sub(&x.mean(&dims_i, true)?)?;
            let scale = 2.0 / (n as f64 - correction as f64);
            Ok(vec![Some(unreduce(g, x.shape(), &d)?.mul(&centered)?.mul_scalar(scale)?)])
        }))
    }

    /// Standard deviation: sqrt of `var`, whose rule g / (2 std) is 0 where std == 0 (a constant slice) rather
    /// than 0 * inf = NaN, as PyTorch's std_backward.
    pub fn std(&self, dims: &[isize], correction: usize, keepdim: bool) -> Result<Var> {
        let v = self.var(dims, correction, keepdim)?;
        let s = v.value().sqrt()?;
        let sc = s.clone();
        Ok(Var::from_op("std", s, &[&v], move |g| {
            Ok(vec![Some(g.div(&sc.mul_scalar(2.0)?)?.masked_fill(&sc.cmp_scalar(0.0, Cmp::Eq)?, 0.0)?)])
        }))
    }

    /// Max over dims; the gradient goes to the maximal elements, split evenly between ties (PyTorch's
    /// `amax` rule).
    pub fn max(&self, dims: &[isize], keepdim: bool) -> Result<Var> {
        self.extreme(dims, keepdim, true)
    }
    pub fn min(&self, dims: &[isize], keepdim: bool) -> Result<Var> {
        self.extreme(dims, keepdim, false)
    }

    fn extreme(&self, dims: &[isize], keepdim: bool, is_max: bool) -> Result<Var> {
        let x = self.value().clone();
        let d = norm_dims("max", dims, self.rank())?;
        let y = if is_max { x.max(dims, keepdim)? } else { x.min(dims, keepdim)? };
        let yk = unreduce(&y, x.shape(), &d)?;
        let dims_i: Vec<isize> = d.iter().map(|&i| i as isize).collect();
        Ok(Var::from_op(if is_max { "max" } else { "min" }, y, &[self], move |g| {
            let hit = x.cmp(&yk, Cmp::Eq)?.to_dtype(x.dtype())?;
            let count = hit.sum(&dims_i, true)?;
            Ok(vec![Some(hit.div(&count)?.mul(&unreduce(g, x.shape(), &d)?)?)])
        }))
    }

    /// `log(sum(exp(x)))` over dims; gradient softmax(x) * g.
    pub fn logsumexp(&self, dims: &[isize], keepdim: bool) -> Result<Var> {
        let x = self.value().clone();
        let d = norm_dims("logsumexp", dims, self.rank())?;
        let y = x.logsumexp(dims, keepdim)?;
        let yk = unreduce(&y, x.shape(), &d)?;
        Ok(Var::from_op("logsumexp", y, &[self], move |g| Ok(vec![Some(x.sub(&yk)?.exp()?.mul(&unreduce(g, x.shape(), &d)?)?)])))
    }

    /// Running sum along `dim`; gradient is the reversed running sum of g.
    pub fn cumsum(&self, dim: isize) -> Result<Var> {
        let y = self.value().cumsum(dim)?;
        Ok(Var::from_op("cumsum", y, &[self], move |g| {
            // reverse cumsum: total - cumsum + g
            let total = g.sum(&[dim], true)?;
            Ok(vec![Some(total.sub(&g.cumsum(dim)?)?.add(g)?)])
        }))
    }
}
