//! Ops that build a new layout of data: cat/stack, pad (constant, reflect, replicate), roll, tril/triu.

use crate::layout::{contiguous_strides, norm_dim};
use crate::storage::CpuStorage;
use crate::{storage_of, with_type, Error, Result, Tensor, WithDType};

/// Padding modes of `F.pad`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PadMode {
    Constant(f64),
    Reflect,
    Replicate,
}

impl Tensor {
    /// Concatenate along `dim`; all other dims must agree.
    pub fn cat(tensors: &[Tensor], dim: isize) -> Result<Tensor> {
        let first = tensors.first().ok_or_else(|| Error::InvalidArgument { op: "cat", msg: "no tensors given".into() })?;
        let d = norm_dim("cat", dim, first.rank())?;
        for t in &tensors[1..] {
            first.same_dtype(t, "cat")?;
            first.same_device(t, "cat")?;
            let ok = t.rank() == first.rank() && t.shape().iter().zip(first.shape()).enumerate().all(|(k, (a, b))| k == d || a == b);
            if !ok {
                return Err(Error::ShapeMismatch {
                    op: "cat",
                    lhs: first.shape().to_vec(),
                    rhs: t.shape().to_vec(),
                    expected: format!("equal sizes in every dimension but {d}"),
                });
            }
        }
        let mut shape = first.shape().to_vec();
        shape[d] = tensors.iter().map(|t| t.shape()[d]).sum();
        let outer: usize = shape[..d].iter().product();
        let inner: usize = shape[d + 1..].iter().product();
        let row = shape[d] * inner;
        let parts: Vec<Tensor> = tensors.iter().map(|t| t.contiguous()).collect::<Result<_>>()?;
        let s = with_type!(first.dtype(), T => {
            let mut out = vec![T::default(); outer * row];
            let mut start = 0;
            for p in &parts {
                let chunk = p.shape()[d] * inner;
                p.with_slice("cat", |s: &[T], _| {
                    for o in 0..outer {
                        out[o * row + start..o * row + start + chunk].copy_from_slice(&s[o * chunk..(o + 1) * chunk]);
                    }
                })?;
                start += chunk;
            }
            storage_of(out, first.dtype())
        });
        Tensor::from_cpu_storage(s, &shape)
    }

    /// Stack equal-shaped tensors along a new dim.
    pub fn stack(tensors: &[Tensor], dim: isize) -> Result<Tensor> {
        let first = tensors.first().ok_or_else(|| Error::InvalidArgument { op: "stack", msg: "no tensors given".into() })?;
        let d = norm_dim("stack", dim, first.rank() + 1)? as isize;
        for t in tensors {
            if t.shape() != first.shape() {
                return Err(Error::ShapeMismatch { op: "stack", lhs: first.shape().to_vec(), rhs: t.shape().to_vec(), expected: "equal shapes".into() });
            }
        }
        let parts: Vec<Tensor> = tensors.iter().map(|t| t.unsqueeze(d)).collect::<Result<_>>()?;
        Tensor::cat(&parts, d)
    }

    /// `F.pad`: `pads` lists (left, right) pairs starting from the LAST dim, as PyTorch does.
    pub fn pad(&self, pads: &[usize], mode: PadMode) -> Result<Tensor> {
        if pads.len() % 2 != 0 || pads.len() / 2 > self.rank() {
            return Err(Error::InvalidArgument { op: "pad", msg: format!("{} pad values for a tensor of rank {}: expected an even count of at most {}", pads.len(), self.rank(), 2 * self.rank()) });
        }
        let mut maps: Vec<Vec<Option<usize>>> = self.shape().iter().map(|&n| (0..n).map(Some).collect()).collect();
        let mut shape = self.shape().to_vec();
        for (p, pair) in pads.chunks(2).enumerate() {
            let d = self.rank() - 1 - p;
            let (l, r, n) = (pair[0], pair[1], self.shape()[d]);
            if mode == PadMode::Reflect && (l >= n || r >= n) {
                return Err(Error::InvalidArgument { op: "pad", msg: format!("reflect padding ({l}, {r}) must be smaller than the size {n} of dimension {d}") });
            }
            if mode == PadMode::Replicate && n == 0 && l + r > 0 {
                return Err(Error::InvalidArgument { op: "pad", msg: format!("replicate padding of empty dimension {d}") });
            }
            shape[d] = n + l + r;
            maps[d] = (0..n + l + r)
                .map(|i| {
                    let j = i as isize - l as isize;
                    let n = n as isize;
                    match mode {
                        PadMode::Constant(_) => (0..n).contains(&j).then_some(j as usize),
                        PadMode::Replicate => Some(j.clamp(0, n - 1) as usize),
                        PadMode::Reflect => Some(if j < 0 { -j } else if j >= n { 2 * (n - 1) - j } else { j } as usize),
                    }
                })
                .collect();
        }
        let fill = if let PadMode::Constant(v) = mode { v } else { 0.0 };
        self.remap(&shape, &maps, fill)
    }

    /// Shift elements along `dims` by `shifts` with wrap-around (`torch.roll`).
    pub fn roll(&self, shifts: &[isize], dims: &[isize]) -> Result<Tensor> {
        if shifts.len() != dims.len() {
            return Err(Error::InvalidArgument { op: "roll", msg: format!("{} shifts for {} dims", shifts.len(), dims.len()) });
        }
        let mut maps: Vec<Vec<Option<usize>>> = self.shape().iter().map(|&n| (0..n).map(Some).collect()).collect();
        for (&s, &d) in shifts.iter().zip(dims) {
            let d = norm_dim("roll", d, self.rank())?;
            let n = self.shape()[d] as isize;
            if n == 0 {
                continue;
            }
            maps[d] = maps[d].iter().map(|src| src.map(|i| (i as isize - s).rem_euclid(n) as usize)).collect();
        }
        self.remap(self.shape(), &maps, 0.0)
    }

    /// Keep the lower triangle (col - row <= k) of the last two dims, zero elsewhere.
    pub fn tril(&self, k: isize) -> Result<Tensor> {
        self.triangle(k, true)
    }
    /// Keep the upper triangle (col - row >= k) of the last two dims.
    pub fn triu(&self, k: isize) -> Result<Tensor> {
        self.triangle(k, false)
    }

    fn triangle(&self, k: isize, lower: bool) -> Result<Tensor> {
        if self.rank() < 2 {
            return Err(Error::BadShape { op: if lower { "tril" } else { "triu" }, shape: self.shape().to_vec(), expected: "rank >= 2".into() });
        }
        let (r, c) = (self.shape()[self.rank() - 2], self.shape()[self.rank() - 1]);
        let mask: Vec<u8> = (0..r * c)
            .map(|i| {
                let diff = (i % c) as isize - (i / c) as isize;
                (if lower { diff <= k } else { diff >= k }) as u8
            })
            .collect();
        let mask = Tensor::from_cpu_storage(CpuStorage::Bool(mask), &[r, c])?;
        mask.where_cond(self, &self.scalar_like(0.0))
    }

    /// `out[i0,i1,..] = self[maps[0][i0], maps[1][i1], ..]`, or `fill` where any map entry is None.
    fn remap(&self, shape: &[usize], maps: &[Vec<Option<usize>>], fill: f64) -> Result<Tensor> {
        let x = self.contiguous()?;
        let xs = contiguous_strides(self.shape());
        let n: usize = shape.iter().product();
        let rank = shape.len();
        let s = with_type!(self.dtype(), T => {
            let fillv = T::from_f64(fill);
            let v = x.with_slice("remap", |s: &[T], _| {
                let mut out = Vec::with_capacity(n);
                if n == 0 {
                    return out;
                }
                if rank == 0 {
                    out.push(s[0]);
                    return out;
                }
                let last = rank - 1;
                let mut idx = vec![0usize; rank];
                'rows: loop {
                    // Offset of the row without the last dim, or None if a padded position.
                    let base: Option<usize> = (0..last).map(|d| maps[d][idx[d]].map(|j| j * xs[d])).sum();
                    match base {
                        None => out.extend(std::iter::repeat_n(fillv, shape[last])),
                        Some(b) => out.extend(maps[last].iter().map(|m| m.map_or(fillv, |j| s[b + j * xs[last]]))),
                    }
                    for d in (0..last).rev() {
                        idx[d] += 1;
                        if idx[d] < shape[d] {
                            continue 'rows;
                        }
                        idx[d] = 0;
                    }
                    break;
                }
                out
            })?;
            storage_of(v, self.dtype())
        });
        Tensor::from_cpu_storage(s, shape)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(t: &Tensor) -> Vec<f32> {
        t.to_vec::<f32>().unwrap()
    }

    #[test]
    fn cat_stack() {
        let a = Tensor::from_vec(vec![1f32, 2., 3., 4.], &[2, 2]).unwrap();
        let b = Tensor::from_vec(vec![5f32, 6.], &[2, 1]).unwrap();
        assert_eq!(f(&Tensor::cat(&[a.clone(), b.clone()], 1).unwrap()), vec![1., 2., 5., 3., 4., 6.]);
        assert!(Tensor::cat(&[a.clone(), b], 0).is_err());
        let s = Tensor::stack(&[a.clone(), a.clone()], 1).unwrap();
        assert_eq!(s.shape(), &[2, 2, 2]);
        assert_eq!(f(&s), vec![1., 2., 1., 2., 3., 4., 3., 4.]);
    }

    #[test]
    fn pad_modes() {
        let x = Tensor::from_vec(vec![1f32, 2., 3.], &[1, 3]).unwrap();
        assert_eq!(f(&x.pad(&[2, 1], PadMode::Constant(0.)).unwrap()), vec![0., 0., 1., 2., 3., 0.]);
        assert_eq!(f(&x.pad(&[2, 2], PadMode::Reflect).unwrap()), vec![3., 2., 1., 2., 3., 2., 1.]);
        assert_eq!(f(&x.pad(&[1, 2], PadMode::Replicate).unwrap()), vec![1., 1., 2., 3., 3., 3.]);
        let p = x.pad(&[0, 0, 1, 0], PadMode::Constant(9.)).unwrap();
        assert_eq!(p.shape(), &[2, 3]);
        assert_eq!(f(&p), vec![9., 9., 9., 1., 2., 3.]);
        assert!(x.pad(&[3, 0], PadMode::Reflect).is_err());
    }

    #[test]
    fn roll_and_triangles() {
        let x = Tensor::from_vec((0..6).map(|v| v as f32).collect(), &[2, 3]).unwrap();
        assert_eq!(f(&x.roll(&[1], &[1]).unwrap()), vec![2., 0., 1., 5., 3., 4.]);
        assert_eq!(f(&x.roll(&[-1, 1], &[0, 1]).unwrap()), vec![5., 3., 4., 2., 0., 1.]);
        assert_eq!(f(&x.tril(0).unwrap()), vec![0., 0., 0., 3., 4., 0.]);
        assert_eq!(f(&x.triu(1).unwrap()), vec![0., 1., 2., 0., 0., 5.]);
    }
}
