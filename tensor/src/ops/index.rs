//! Integer indexing: index_select / embedding, index_add (their backward), gather and scatter_add.
//! Indices are I64; a negative or too-large index is an error naming the op, the index and the size.

use crate::layout::{contiguous_strides, norm_dim};
use crate::{storage_of, with_type, DType, Error, Result, Tensor, WithDType};
use half::{bf16, f16};

/// Element types that can be accumulated into (the scatter ops).
trait AddElem: WithDType {
    fn add(self, o: Self) -> Self;
}
impl AddElem for f32 {
    fn add(self, o: f32) -> f32 { self + o }
}
impl AddElem for f64 {
    fn add(self, o: f64) -> f64 { self + o }
}
impl AddElem for f16 {
    fn add(self, o: f16) -> f16 { f16::from_f32(self.to_f32() + o.to_f32()) }
}
impl AddElem for bf16 {
    fn add(self, o: bf16) -> bf16 { bf16::from_f32(self.to_f32() + o.to_f32()) }
}
impl AddElem for i64 {
    fn add(self, o: i64) -> i64 { self.wrapping_add(o) }
}

macro_rules! with_add_type {
    ($dtype:expr, $op:expr, $T:ident => $body:expr) => {
        match $dtype {
            DType::F32 => { type $T = f32; $body }
            DType::F64 => { type $T = f64; $body }
            DType::F16 => { type $T = f16; $body }
            DType::BF16 => { type $T = bf16; $body }
            DType::I64 => { type $T = i64; $body }
            d => return Err(Error::DType { op: $op, got: d, expected: "a float or int64 dtype".into() }),
        }
    };
}

fn indices(op: &'static str, idx: &Tensor, size: usize) -> Result<Vec<usize>> {
    if idx.dtype() != DType::I64 {
        return Err(Error::DType { op, got: idx.dtype(), expected: "int64 indices".into() });
    }
    idx.to_vec::<i64>()?
        .into_iter()
        .map(|i| if i >= 0 && (i as usize) < size { Ok(i as usize) } else { Err(Error::IndexOutOfBounds { op, index: i, size }) })
        .collect()
}

/// Shape as (outer, n, inner) around `d`.
fn split3(shape: &[usize], d: usize) -> (usize, usize, usize) {
    (shape[..d].iter().product(), shape[d], shape[d + 1..].iter().product())
}

/// Walk every multi-index of `shape` in row-major order, calling `f(linear, index)`.
fn for_each_index(shape: &[usize], mut f: impl FnMut(usize, &[usize])) {
    let n: usize = shape.iter().product();
    let mut idx = vec![0usize; shape.len()];
    for lin in 0..n {
        f(lin, &idx);
        for d in (0..shape.len()).rev() {
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
}

impl Tensor {
    /// Select entries `idx` (1-D I64) along `dim`.
    pub fn index_select(&self, dim: isize, idx: &Tensor) -> Result<Tensor> {
        let d = norm_dim("index_select", dim, self.rank())?;
        if idx.rank() > 1 {
            return Err(Error::BadShape { op: "index_select", shape: idx.shape().to_vec(), expected: "a 1-D index".into() });
        }
        let ids = indices("index_select", idx, self.shape()[d])?;
        let (outer, n, inner) = split3(self.shape(), d);
        let mut shape = self.shape().to_vec();
        shape[d] = ids.len();
        let x = self.contiguous()?;
        let s = with_type!(self.dtype(), T => {
            let v = x.with_slice("index_select", |s: &[T], _| {
                let mut out = Vec::with_capacity(outer * ids.len() * inner);
                for o in 0..outer {
                    for &i in &ids {
                        out.extend_from_slice(&s[(o * n + i) * inner..(o * n + i + 1) * inner]);
                    }
                }
                out
            })?;
            storage_of(v, self.dtype())
        });
        Tensor::from_cpu_storage(s, &shape)
    }

    /// `weight[ids]` for any-shaped I64 ids: output `ids.shape + [dim]` (nn.Embedding's forward).
    pub fn embedding(weight: &Tensor, ids: &Tensor) -> Result<Tensor> {
        if weight.rank() != 2 {
            return Err(Error::BadShape { op: "embedding", shape: weight.shape().to_vec(), expected: "a [num_embeddings, dim] weight".into() });
        }
        let flat = ids.flatten(0, -1)?;
        let mut shape = ids.shape().to_vec();
        shape.push(weight.shape()[1]);
        weight.index_select(0, &flat)?.reshape_to(&shape)
    }

    /// Out-of-place `index_add`: `out = self; out[.., idx[j], ..] += src[.., j, ..]` along `dim`.
    pub fn index_add(&self, dim: isize, idx: &Tensor, src: &Tensor) -> Result<Tensor> {
        let d = norm_dim("index_add", dim, self.rank())?;
        self.same_dtype(src, "index_add")?;
        let ids = indices("index_add", idx, self.shape()[d])?;
        let mut want = self.shape().to_vec();
        want[d] = ids.len();
        if src.shape() != want.as_slice() {
            return Err(Error::ShapeMismatch { op: "index_add", lhs: self.shape().to_vec(), rhs: src.shape().to_vec(), expected: format!("source of shape {want:?}") });
        }
        let (outer, n, inner) = split3(self.shape(), d);
        let out = self.deep_clone();
        let src = src.contiguous()?;
        with_add_type!(self.dtype(), "index_add", T => {
            src.with_slice("index_add", |s: &[T], _| {
                out.with_slice_mut("index_add", |o: &mut [T]| {
                    for oo in 0..outer {
                        for (j, &i) in ids.iter().enumerate() {
                            let dst = &mut o[(oo * n + i) * inner..(oo * n + i + 1) * inner];
                            let sv = &s[(oo * ids.len() + j) * inner..(oo * ids.len() + j + 1) * inner];
                            dst.iter_mut().zip(sv).for_each(|(a, &b)| *a = a.add(b));
                        }
                    }
                })
            })??;
        });
        Ok(out)
    }

    /// `out[p] = self[p with dim replaced by idx[p]]`; idx has self's rank, out has idx's shape.
    pub fn gather(&self, dim: isize, idx: &Tensor) -> Result<Tensor> {
        let d = norm_dim("gather", dim, self.rank())?;
        check_index_shape("gather", self, idx, d)?;
        let ids = indices("gather", idx, self.shape()[d])?;
        let x = self.contiguous()?;
        let xs = contiguous_strides(self.shape());
        let s = with_type!(self.dtype(), T => {
            let v = x.with_slice("gather", |s: &[T], _| {
                let mut out = vec![T::default(); ids.len()];
                for_each_index(idx.shape(), |lin, p| {
                    let off: usize = p.iter().zip(&xs).enumerate().map(|(k, (&i, &st))| if k == d { ids[lin] * st } else { i * st }).sum();
                    out[lin] = s[off];
                });
                out
            })?;
            storage_of(v, self.dtype())
        });
        Tensor::from_cpu_storage(s, idx.shape())
    }

    /// Out-of-place `scatter_add`: `out = self; out[p with dim replaced by idx[p]] += src[p]` over idx's shape.
    pub fn scatter_add(&self, dim: isize, idx: &Tensor, src: &Tensor) -> Result<Tensor> {
        let d = norm_dim("scatter_add", dim, self.rank())?;
        self.same_dtype(src, "scatter_add")?;
        check_index_shape("scatter_add", self, idx, d)?;
        if src.rank() != idx.rank() || idx.shape().iter().zip(src.shape()).any(|(i, s)| i > s) {
            return Err(Error::ShapeMismatch { op: "scatter_add", lhs: idx.shape().to_vec(), rhs: src.shape().to_vec(), expected: "src at least as large as index in every dim".into() });
        }
        let ids = indices("scatter_add", idx, self.shape()[d])?;
        let out = self.deep_clone();
        let (xs, ss) = (contiguous_strides(self.shape()), src.strides().to_vec());
        let soff = src.layout().offset();
        with_add_type!(self.dtype(), "scatter_add", T => {
            src.with_slice("scatter_add", |s: &[T], _| {
                out.with_slice_mut("scatter_add", |o: &mut [T]| {
                    for_each_index(idx.shape(), |lin, p| {
                        let off: usize = p.iter().zip(&xs).enumerate().map(|(k, (&i, &st))| if k == d { ids[lin] * st } else { i * st }).sum();
                        let so: usize = soff + p.iter().zip(&ss).map(|(&i, &st)| i * st).sum::<usize>();
                        o[off] = o[off].add(s[so]);
                    });
                })
            })??;
        });
        Ok(out)
    }
}

fn check_index_shape(op: &'static str, x: &Tensor, idx: &Tensor, d: usize) -> Result<()> {
    if idx.rank() != x.rank() || idx.shape().iter().zip(x.shape()).enumerate().any(|(k, (i, s))| k != d && i > s) {
        return Err(Error::ShapeMismatch {
            op,
            lhs: x.shape().to_vec(),
            rhs: idx.shape().to_vec(),
            expected: format!("an index of the same rank, no larger than the input outside dim {d}"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn select_gather_scatter() {
        let x = Tensor::from_vec((0..12).map(|v| v as f32).collect(), &[3, 4]).unwrap();
        let i = Tensor::from_slice(&[2i64, 0], &[2]).unwrap();
        assert_eq!(x.index_select(0, &i).unwrap().to_vec::<f32>().unwrap(), vec![8., 9., 10., 11., 0., 1., 2., 3.]);
        assert_eq!(x.index_select(1, &i).unwrap().to_vec::<f32>().unwrap(), vec![2., 0., 6., 4., 10., 8.]);
        let g = Tensor::from_slice(&[3i64, 0, 1, 1], &[2, 2]).unwrap();
        assert_eq!(x.gather(1, &g).unwrap().to_vec::<f32>().unwrap(), vec![3., 0., 5., 5.]);
        let z = Tensor::from_vec(vec![0f32; 8], &[2, 4]).unwrap();
        let ones = Tensor::from_vec(vec![1f32; 4], &[2, 2]).unwrap();
        assert_eq!(z.scatter_add(1, &g, &ones).unwrap().to_vec::<f32>().unwrap(), vec![1., 0., 0., 1., 0., 2., 0., 0.]);
        let bad = Tensor::from_slice(&[5i64], &[1]).unwrap();
        let e = x.index_select(0, &bad).unwrap_err();
        assert!(e.to_string().contains("index 5 is out of bounds"), "{e}");
        let emb = Tensor::embedding(&x, &Tensor::from_slice(&[1i64, 1, 2], &[3, 1]).unwrap()).unwrap();
        assert_eq!(emb.shape(), &[3, 1, 4]);
        let w = z.index_add(1, &Tensor::from_slice(&[1i64, 1], &[2]).unwrap(), &ones).unwrap();
        assert_eq!(w.to_vec::<f32>().unwrap(), vec![0., 2., 0., 0., 0., 2., 0., 0.]);
    }
}
