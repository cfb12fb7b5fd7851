//! `matmul` with torch.matmul semantics: 1-D operands are promoted and the added dim removed, batch dims
//! broadcast. Operands are passed to the GEMM with their own strides, so transposed or sliced views are
//! multiplied without a copy; broadcast batch dims reuse the same operand offset.

use crate::layout::broadcast_shapes;
use crate::{DType, Error, Layout, Result, Tensor};
use wrt_kernels::cpu::gemm::{gemm_batched, gemm_bf16_batched, gemm_rounded_batched, GemmElem, Rounding, Strides};

impl Tensor {
    /// Matrix product with broadcasting batch dims (`torch.matmul`).
    pub fn matmul(&self, rhs: &Tensor) -> Result<Tensor> {
        self.matmul_with(rhs, None)
    }

    /// Autocast's matmul of f32 tensors: the operands rounded to `r` (bf16 or f16), the products
    /// accumulated in f32, the result rounded to `r` and kept in f32 storage. Equal in value to
    /// `(a.to(r) @ b.to(r))` in PyTorch, without materialising the casts.
    pub fn matmul_rounded(&self, rhs: &Tensor, r: Rounding) -> Result<Tensor> {
        if self.dtype() != DType::F32 {
            return Err(Error::DType { op: "matmul_rounded", got: self.dtype(), expected: "f32 operands (autocast rounds f32 storage)".into() });
        }
        self.matmul_with(rhs, Some(r))
    }

    fn matmul_with(&self, rhs: &Tensor, r: Option<Rounding>) -> Result<Tensor> {
        self.same_device(rhs, "matmul")?;
        self.same_dtype(rhs, "matmul")?;
        if self.rank() == 0 || rhs.rank() == 0 {
            return Err(Error::BadShape { op: "matmul", shape: if self.rank() == 0 { self.shape() } else { rhs.shape() }.to_vec(), expected: "operands of rank >= 1".into() });
        }
        let a = if self.rank() == 1 { self.unsqueeze(0)? } else { self.clone() };
        let b = if rhs.rank() == 1 { rhs.unsqueeze(1)? } else { rhs.clone() };
        let mut out = batched(&a, &b, r)?;
        if rhs.rank() == 1 {
            out = out.squeeze(&[-1])?;
        }
        if self.rank() == 1 {
            out = out.squeeze(&[if rhs.rank() == 1 { -1 } else { -2 }])?;
        }
        Ok(out)
    }

    /// 2-D matrix product (`torch.mm`): both operands must be matrices.
    pub fn mm(&self, rhs: &Tensor) -> Result<Tensor> {
        if self.rank() != 2 || rhs.rank() != 2 {
            return Err(Error::ShapeMismatch { op: "mm", lhs: self.shape().to_vec(), rhs: rhs.shape().to_vec(), expected: "two matrices".into() });
        }
        self.matmul(rhs)
    }
}

fn batched(a: &Tensor, b: &Tensor, r: Option<Rounding>) -> Result<Tensor> {
    let (ra, rb) = (a.rank(), b.rank());
    let (m, k) = (a.shape()[ra - 2], a.shape()[ra - 1]);
    let (k2, n) = (b.shape()[rb - 2], b.shape()[rb - 1]);
    if k != k2 {
        return Err(Error::ShapeMismatch {
            op: "matmul",
            lhs: a.shape().to_vec(),
            rhs: b.shape().to_vec(),
            expected: format!("lhs columns ({k}) equal to rhs rows ({k2})"),
        });
    }
    let batch = broadcast_shapes("matmul", &a.shape()[..ra - 2], &b.shape()[..rb - 2])?;
    let mut out_shape = batch.clone();
    out_shape.extend([m, n]);
    let with = |t: &Tensor, r: usize, c: usize| -> Result<Layout> {
        let mut s = batch.clone();
        s.extend([r, c]);
        t.layout().broadcast_to(&s)
    };
    match a.dtype() {
        DType::F32 if r.is_some() => {
            let r = r.expect("checked");
            let out = f32_product::<f32>(a, b, with(a, m, k)?, with(b, k, n)?, &batch, m, n, |sa, oa, ma, sb, ob, mb, out, oc| {
                gemm_rounded_batched(r, m, n, k, sa, oa, ma, sb, ob, mb, out, oc, Strides::row_major(n))
            })?;
            Tensor::from_vec(out, &out_shape)
        }
        DType::F32 => run::<f32>(a, b, with(a, m, k)?, with(b, k, n)?, &batch, m, n, k, &out_shape),
        DType::F64 => run::<f64>(a, b, with(a, m, k)?, with(b, k, n)?, &batch, m, n, k, &out_shape),
        // bf16 x bf16 accumulates in f32 (the AVX512_BF16 dot-product kernel where the CPU has one) and
        // rounds the result once, as PyTorch's CPU bf16 matmul does.
        DType::BF16 => {
            let out = f32_product::<half::bf16>(a, b, with(a, m, k)?, with(b, k, n)?, &batch, m, n, |sa, oa, ma, sb, ob, mb, out, oc| {
                gemm_bf16_batched(m, n, k, 1.0, sa, oa, ma, sb, ob, mb, 0.0, out, oc, Strides::row_major(n))
            })?;
            Tensor::from_vec(out, &out_shape)?.to_dtype(DType::BF16)
        }
        // f16 has no CPU dot-product instruction: widen (F16C), multiply in f32, round once.
        DType::F16 => {
            let (a32, b32) = (a.to_dtype(DType::F32)?, b.to_dtype(DType::F32)?);
            let out = run::<f32>(&a32, &b32, with(&a32, m, k)?, with(&b32, k, n)?, &batch, m, n, k, &out_shape)?;
            out.to_dtype(DType::F16)
        }
        d => Err(Error::DType { op: "matmul", got: d, expected: "a float dtype (f32, f64, f16, bf16)".into() }),
    }
}

/// Storage offsets of every batch entry of a layout whose last two dims are the matrix.
fn batch_offsets(l: &Layout, batch: &[usize]) -> Vec<usize> {
    let nb: usize = batch.iter().product();
    let strides = &l.strides()[..batch.len()];
    let mut offs = Vec::with_capacity(nb);
    let mut idx = vec![0usize; batch.len()];
    for _ in 0..nb {
        offs.push(l.offset() + idx.iter().zip(strides).map(|(i, s)| i * s).sum::<usize>());
        for d in (0..batch.len()).rev() {
            idx[d] += 1;
            if idx[d] < batch[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    offs
}

/// Row and column strides of the matrix part of a layout.
fn mat(l: &Layout) -> Strides {
    let r = l.rank();
    Strides::new(l.strides()[r - 2], l.strides()[r - 1])
}

/// The f32 result (`m x n` per batch entry, row-major) of `gemm` over operands stored as `I`.
#[allow(clippy::too_many_arguments)]
fn f32_product<I: crate::WithDType>(
    a: &Tensor,
    b: &Tensor,
    la: Layout,
    lb: Layout,
    batch: &[usize],
    m: usize,
    n: usize,
    gemm: impl FnOnce(&[I], &[usize], Strides, &[I], &[usize], Strides, &mut [f32], &[usize]),
) -> Result<Vec<f32>> {
    let nb: usize = batch.iter().product();
    let mut out = vec![0f32; nb * m * n];
    if nb * m * n > 0 {
        let (oa, ob) = (batch_offsets(&la, batch), batch_offsets(&lb, batch));
        let oc: Vec<usize> = (0..nb).map(|i| i * m * n).collect();
        a.with_slice("matmul", |sa: &[I], _| {
            b.with_slice("matmul", |sb: &[I], _| {
                gemm(sa, &oa, mat(&la), sb, &ob, mat(&lb), &mut out, &oc)
            })
        })??;
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn run<T: GemmElem + crate::WithDType>(
    a: &Tensor,
    b: &Tensor,
    la: Layout,
    lb: Layout,
    batch: &[usize],
    m: usize,
    n: usize,
    k: usize,
    out_shape: &[usize],
) -> Result<Tensor> {
    let nb: usize = batch.iter().product();
    let mut out = vec![T::default(); nb * m * n];
    if nb * m * n > 0 {
        let (oa, ob) = (batch_offsets(&la, batch), batch_offsets(&lb, batch));
        let oc: Vec<usize> = (0..nb).map(|i| i * m * n).collect();
        a.with_slice("matmul", |sa: &[T], _| {
            b.with_slice("matmul", |sb: &[T], _| {
                gemm_batched(m, n, k, T::ONE, sa, &oa, mat(&la), sb, &ob, mat(&lb), T::ZERO, &mut out, &oc, Strides::row_major(n))
            })
        })??;
    }
    Tensor::from_vec(out, out_shape)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(n: usize, shape: &[usize]) -> Tensor {
        Tensor::from_vec((0..n).map(|v| (v % 7) as f32 - 3.0).collect(), shape).unwrap()
    }

    #[test]
    fn matmul_shapes_like_torch() {
        let a = seq(6, &[2, 3]);
        let b = seq(12, &[3, 4]);
        assert_eq!(a.matmul(&b).unwrap().shape(), &[2, 4]);
        let v = seq(3, &[3]);
        assert_eq!(v.matmul(&b).unwrap().shape(), &[4]);
        assert_eq!(a.matmul(&v).unwrap().shape(), &[2]);
        assert_eq!(v.matmul(&v).unwrap().shape(), &[] as &[usize]);
        let ba = seq(5 * 2 * 3, &[5, 1, 2, 3]);
        let bb = seq(4 * 3 * 4, &[4, 3, 4]);
        assert_eq!(ba.matmul(&bb).unwrap().shape(), &[5, 4, 2, 4]);
        assert!(a.matmul(&a).is_err());
    }

    #[test]
    fn transposed_operands_without_copy() {
        let a = seq(12, &[4, 3]);
        let b = seq(12, &[4, 3]);
        let c = a.t().unwrap().matmul(&b).unwrap(); // [3,3] = a^T b
        let (av, bv) = (a.to_vec::<f32>().unwrap(), b.to_vec::<f32>().unwrap());
        let cv = c.to_vec::<f32>().unwrap();
        for i in 0..3 {
            for j in 0..3 {
                let want: f32 = (0..4).map(|p| av[p * 3 + i] * bv[p * 3 + j]).sum();
                assert_eq!(cv[i * 3 + j], want);
            }
        }
    }
}
