//! Reductions over any set of dims (empty = all), with keepdim, plus cumsum.
//!
//! The input is arranged as `[outer, r, inner]` (r = the reduced elements): directly when the reduced dims are
//! adjacent in a contiguous tensor, else by permuting them last and copying. The kernels in
//! `wrt_kernels::cpu::reduce` reduce the middle axis with a fixed summation order (thread-count independent).
//! Half types reduce in f32 and convert back, as PyTorch accumulates them.

use crate::layout::{norm_dim, norm_dims};
use crate::storage::CpuStorage;
use crate::{DType, Error, Result, Tensor};
use wrt_kernels::cpu::reduce as k;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Sum,
    Mean,
    Max,
    Min,
    LogSumExp,
    Var(usize),
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Sum => "sum",
            Op::Mean => "mean",
            Op::Max => "max",
            Op::Min => "min",
            Op::LogSumExp => "logsumexp",
            Op::Var(_) => "var",
        }
    }
}

/// A tensor arranged for a middle-axis reduction.
struct Arranged {
    x: Tensor,
    outer: usize,
    r: usize,
    inner: usize,
    /// Output shape with keepdim, and without.
    keep_shape: Vec<usize>,
    drop_shape: Vec<usize>,
}

fn arrange(t: &Tensor, dims: &[usize]) -> Result<Arranged> {
    let shape = t.shape();
    let keep_shape: Vec<usize> = shape.iter().enumerate().map(|(i, &n)| if dims.contains(&i) { 1 } else { n }).collect();
    let drop_shape: Vec<usize> = shape.iter().enumerate().filter(|(i, _)| !dims.contains(i)).map(|(_, &n)| n).collect();
    let r: usize = dims.iter().map(|&d| shape[d]).product();
    let adjacent = dims.windows(2).all(|w| w[1] == w[0] + 1);
    if dims.is_empty() {
        return Ok(Arranged { x: t.contiguous()?, outer: t.numel(), r: 1, inner: 1, keep_shape, drop_shape });
    }
    if adjacent && t.is_contiguous() {
        let outer = shape[..dims[0]].iter().product();
        let inner = shape[dims[dims.len() - 1] + 1..].iter().product();
        return Ok(Arranged { x: t.contiguous()?, outer, r, inner, keep_shape, drop_shape });
    }
    let mut perm: Vec<isize> = (0..shape.len()).filter(|i| !dims.contains(i)).map(|i| i as isize).collect();
    perm.extend(dims.iter().map(|&d| d as isize));
    let x = t.permute(&perm)?.contiguous()?;
    Ok(Arranged { x, outer: drop_shape.iter().product(), r, inner: 1, keep_shape, drop_shape })
}

impl Tensor {
    fn reduce(&self, dims: &[isize], keepdim: bool, op: Op) -> Result<Tensor> {
        let name = op.name();
        let dims = norm_dims(name, dims, self.rank())?;
        let a = arrange(self, &dims)?;
        let out_shape = if keepdim { a.keep_shape.clone() } else { a.drop_shape.clone() };
        if a.r == 0 && matches!(op, Op::Max | Op::Min) {
            return Err(Error::BadShape { op: name, shape: self.shape().to_vec(), expected: "a non-empty reduced dimension".into() });
        }
        let n_out = a.outer * a.inner;
        let (outer, r, inner) = (a.outer, a.r, a.inner);
        let s = match self.dtype() {
            DType::F32 | DType::F16 | DType::BF16 => {
                let x = a.x.to_dtype(DType::F32)?;
                let mut out = vec![0f32; n_out];
                x.with_slice(name, |s: &[f32], _| run(op, &mut out, s, outer, r, inner))?;
                crate::ops::cast::cast_storage(&CpuStorage::F32(out), &crate::Layout::contiguous(&[n_out]), self.dtype())
            }
            DType::F64 => {
                let mut out = vec![0f64; n_out];
                a.x.with_slice(name, |s: &[f64], _| run(op, &mut out, s, outer, r, inner))?;
                CpuStorage::F64(out)
            }
            DType::I64 => CpuStorage::I64(a.x.with_slice(name, |s: &[i64], _| int_reduce(op, s, outer, r, inner))??),
            d => return Err(Error::DType { op: name, got: d, expected: "a numeric dtype (f32, f64, f16, bf16, i64)".into() }),
        };
        Tensor::from_cpu_storage(s, &out_shape)
    }

    pub fn sum(&self, dims: &[isize], keepdim: bool) -> Result<Tensor> { self.reduce(dims, keepdim, Op::Sum) }
    pub fn mean(&self, dims: &[isize], keepdim: bool) -> Result<Tensor> { self.reduce(dims, keepdim, Op::Mean) }
    /// Max over dims (values only; see `max_dim` for indices).
    pub fn max(&self, dims: &[isize], keepdim: bool) -> Result<Tensor> { self.reduce(dims, keepdim, Op::Max) }
    pub fn min(&self, dims: &[isize], keepdim: bool) -> Result<Tensor> { self.reduce(dims, keepdim, Op::Min) }
    pub fn logsumexp(&self, dims: &[isize], keepdim: bool) -> Result<Tensor> { self.reduce(dims, keepdim, Op::LogSumExp) }
    /// Variance with `correction` (1 = unbiased, PyTorch's default; 0 = biased).
    pub fn var(&self, dims: &[isize], correction: usize, keepdim: bool) -> Result<Tensor> {
        // Variance is shift-invariant: subtracting each slice's first element makes a constant slice exactly 0
        // (as PyTorch's Welford update gives) instead of a rounding residue, and helps large-offset data.
        let d = norm_dims("var", dims, self.rank())?;
        let shifted = if self.dtype().is_float() && self.numel() > 0 {
            let mut first = self.clone();
            for &k in &d {
                first = first.narrow(k as isize, 0, 1)?;
            }
            self.sub(&first)?
        } else {
            self.clone()
        };
        shifted.reduce(dims, keepdim, Op::Var(correction))
    }
    pub fn std(&self, dims: &[isize], correction: usize, keepdim: bool) -> Result<Tensor> {
        self.var(dims, correction, keepdim)?.sqrt()
    }
    /// Sum of all elements as a 0-d tensor.
    pub fn sum_all(&self) -> Result<Tensor> { self.sum(&[], false) }
    pub fn mean_all(&self) -> Result<Tensor> { self.mean(&[], false) }

    /// Index of the max along `dim` (None: over the flattened tensor). First occurrence wins; NaN is the max.
    pub fn argmax(&self, dim: Option<isize>, keepdim: bool) -> Result<Tensor> { self.arg_reduce(dim, keepdim, true) }
    pub fn argmin(&self, dim: Option<isize>, keepdim: bool) -> Result<Tensor> { self.arg_reduce(dim, keepdim, false) }

    /// `torch.max(x, dim)`: (values, indices).
    pub fn max_dim(&self, dim: isize, keepdim: bool) -> Result<(Tensor, Tensor)> {
        Ok((self.max(&[dim], keepdim)?, self.argmax(Some(dim), keepdim)?))
    }
    pub fn min_dim(&self, dim: isize, keepdim: bool) -> Result<(Tensor, Tensor)> {
        Ok((self.min(&[dim], keepdim)?, self.argmin(Some(dim), keepdim)?))
    }

    fn arg_reduce(&self, dim: Option<isize>, keepdim: bool, is_max: bool) -> Result<Tensor> {
        let name = if is_max { "argmax" } else { "argmin" };
        let (x, d) = match dim {
            Some(d) => (self.clone(), norm_dim(name, d, self.rank())?),
            None => (self.flatten(0, -1)?, 0),
        };
        let a = arrange(&x, &[d])?;
        if a.r == 0 {
            return Err(Error::BadShape { op: name, shape: self.shape().to_vec(), expected: "a non-empty reduced dimension".into() });
        }
        let mut out = vec![0i64; a.outer * a.inner];
        let (outer, r, inner) = (a.outer, a.r, a.inner);
        match self.dtype() {
            DType::F64 => a.x.with_slice(name, |s: &[f64], _| arg(is_max, &mut out, s, outer, r, inner))?,
            DType::I64 => a.x.with_slice(name, |s: &[i64], _| int_arg(is_max, &mut out, s, outer, r, inner))?,
            DType::F32 | DType::F16 | DType::BF16 => {
                a.x.to_dtype(DType::F32)?.with_slice(name, |s: &[f32], _| arg(is_max, &mut out, s, outer, r, inner))?
            }
            d => return Err(Error::DType { op: name, got: d, expected: "a numeric dtype".into() }),
        }
        let shape = match (dim, keepdim) {
            (None, true) => vec![1; self.rank()],
            (None, false) => vec![],
            (Some(_), true) => a.keep_shape,
            (Some(_), false) => a.drop_shape,
        };
        Tensor::from_vec(out, &shape)
    }

    /// Running sum along `dim` (same shape).
    pub fn cumsum(&self, dim: isize) -> Result<Tensor> {
        let d = norm_dim("cumsum", dim, self.rank().max(1))?;
        if self.rank() == 0 {
            return Ok(self.clone());
        }
        let x = self.contiguous()?;
        let outer: usize = self.shape()[..d].iter().product();
        let r = self.shape()[d];
        let inner: usize = self.shape()[d + 1..].iter().product();
        match self.dtype() {
            DType::F64 => {
                let mut out = vec![0f64; x.numel()];
                x.with_slice("cumsum", |s: &[f64], _| k::cumsum(&mut out, s, outer, r, inner))?;
                Tensor::from_vec(out, self.shape())
            }
            DType::I64 => {
                let v = x.with_slice("cumsum", |s: &[i64], _| {
                    let mut out = s.to_vec();
                    for o in 0..outer {
                        for j in 1..r {
                            for i in 0..inner {
                                let b = (o * r + j) * inner + i;
                                out[b] = out[b].wrapping_add(out[b - inner]);
                            }
                        }
                    }
                    out
                })?;
                Tensor::from_vec(v, self.shape())
            }
            DType::F32 | DType::F16 | DType::BF16 => {
                let mut out = vec![0f32; x.numel()];
                x.to_dtype(DType::F32)?.with_slice("cumsum", |s: &[f32], _| k::cumsum(&mut out, s, outer, r, inner))?;
                Tensor::from_vec(out, self.shape())?.to_dtype(self.dtype())
            }
            d => Err(Error::DType { op: "cumsum", got: d, expected: "a numeric dtype".into() }),
        }
    }
}

fn run<T: k::Elem>(op: Op, out: &mut [T], s: &[T], outer: usize, r: usize, inner: usize) {
    match op {
        Op::Sum => k::sum(out, s, outer, r, inner),
        Op::Mean => k::mean(out, s, outer, r, inner),
        Op::Max => k::max(out, s, outer, r, inner),
        Op::Min => k::min(out, s, outer, r, inner),
        Op::LogSumExp => k::logsumexp(out, s, outer, r, inner),
        Op::Var(c) => k::var(out, s, outer, r, inner, c),
    }
}

fn arg<T: k::Elem>(is_max: bool, out: &mut [i64], s: &[T], outer: usize, r: usize, inner: usize) {
    if is_max {
        k::argmax(out, s, outer, r, inner)
    } else {
        k::argmin(out, s, outer, r, inner)
    }
}

fn int_reduce(op: Op, s: &[i64], outer: usize, r: usize, inner: usize) -> Result<Vec<i64>> {
    let mut out = vec![0i64; outer * inner];
    match op {
        Op::Sum => k::sum_i64(&mut out, s, outer, r, inner),
        Op::Max | Op::Min => {
            for o in 0..outer {
                for i in 0..inner {
                    let it = (0..r).map(|j| s[(o * r + j) * inner + i]);
                    out[o * inner + i] = if op == Op::Max { it.max() } else { it.min() }.expect("r > 0 checked by caller");
                }
            }
        }
        _ => return Err(Error::DType { op: op.name(), got: DType::I64, expected: "a float dtype".into() }),
    }
    Ok(out)
}

fn int_arg(is_max: bool, out: &mut [i64], s: &[i64], outer: usize, r: usize, inner: usize) {
    for o in 0..outer {
        for i in 0..inner {
            let mut best = 0;
            for j in 1..r {
                let (v, b) = (s[(o * r + j) * inner + i], s[(o * r + best) * inner + i]);
                if (is_max && v > b) || (!is_max && v < b) {
                    best = j;
                }
            }
            out[o * inner + i] = best as i64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reduce_any_dims() {
        let x = Tensor::from_vec((0..24).map(|v| v as f32).collect(), &[2, 3, 4]).unwrap();
        assert_eq!(x.sum(&[1], false).unwrap().to_vec::<f32>().unwrap(), vec![12., 15., 18., 21., 48., 51., 54., 57.]);
        let s = x.sum(&[0, 2], true).unwrap();
        assert_eq!(s.shape(), &[1, 3, 1]);
        assert_eq!(s.to_vec::<f32>().unwrap(), vec![60., 92., 124.]);
        assert_eq!(x.sum_all().unwrap().item::<f32>().unwrap(), 276.);
        assert_eq!(x.max(&[-1], false).unwrap().to_vec::<f32>().unwrap()[..2], [3., 7.]);
        assert_eq!(x.argmax(Some(1), false).unwrap().to_vec::<i64>().unwrap(), vec![2; 8]);
        assert_eq!(x.argmax(None, false).unwrap().item::<i64>().unwrap(), 23);
        let v = x.var(&[2], 1, false).unwrap().to_vec::<f32>().unwrap();
        assert!((v[0] - 5.0 / 3.0).abs() < 1e-6);
        // transposed input (non-contiguous) reduces the same
        let xt = x.transpose(0, 2).unwrap();
        assert_eq!(xt.sum(&[2], false).unwrap().to_vec::<f32>().unwrap(), x.sum(&[0], false).unwrap().t().unwrap().to_vec::<f32>().unwrap());
        assert_eq!(x.cumsum(2).unwrap().to_vec::<f32>().unwrap()[..4], [0., 1., 3., 6.]);
    }

    #[test]
    fn empty_max_is_an_error() {
        let x = Tensor::from_vec(Vec::<f32>::new(), &[0, 3]).unwrap();
        assert!(x.max(&[0], false).is_err());
        assert_eq!(x.sum(&[0], false).unwrap().to_vec::<f32>().unwrap(), vec![0.; 3]);
    }
}
