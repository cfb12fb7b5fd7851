//! Broadcasting binary ops, comparisons, `where`/`masked_fill` and logical ops.
//! Operands must share a dtype (no silent promotion): mixing dtypes is an error that names both.

use crate::cpu::strided;
use crate::layout::broadcast_shapes;
use crate::storage::CpuStorage;
use crate::{with_type, Binary, Cmp, DType, Error, Result, Tensor, WithDType};
use std::sync::atomic::{AtomicBool, Ordering};

/// `map2` with the op resolved outside the loop for the four arithmetic ops, so each gets its own
/// vectorisable loop instead of a per-element match.
macro_rules! arith {
    ($op:expr, $shape:expr, $a:expr, $la:expr, $b:expr, $lb:expr, $t:ident) => {
        match $op {
            Binary::Add => strided::map2($shape, $a, $la, $b, $lb, |x: $t, y: $t| x + y),
            Binary::Sub => strided::map2($shape, $a, $la, $b, $lb, |x: $t, y: $t| x - y),
            Binary::Mul => strided::map2($shape, $a, $la, $b, $lb, |x: $t, y: $t| x * y),
            Binary::Div => strided::map2($shape, $a, $la, $b, $lb, |x: $t, y: $t| x / y),
            op => strided::map2($shape, $a, $la, $b, $lb, |x: $t, y: $t| op.$t(x, y)),
        }
    };
}

impl Tensor {
    /// Check that two operands share device and dtype, and broadcast their layouts to the common shape.
    fn broadcast_pair(&self, rhs: &Tensor, name: &'static str) -> Result<(Vec<usize>, crate::Layout, crate::Layout)> {
        self.same_device(rhs, name)?;
        self.same_dtype(rhs, name)?;
        let shape = broadcast_shapes(name, self.shape(), rhs.shape())?;
        let (la, lb) = (self.layout().broadcast_to(&shape)?, rhs.layout().broadcast_to(&shape)?);
        Ok((shape, la, lb))
    }

    /// `op(self, rhs)` with NumPy broadcasting.
    pub fn binary(&self, rhs: &Tensor, op: Binary) -> Result<Tensor> {
        let name = op.name();
        let (shape, la, lb) = self.broadcast_pair(rhs, name)?;
        let s = self.with_cpu(|a, _| {
            rhs.with_cpu(|b, _| -> Result<CpuStorage> {
                Ok(match (a, b) {
                    (CpuStorage::F32(a), CpuStorage::F32(b)) => CpuStorage::F32(arith!(op, &shape, a, &la, b, &lb, f32)),
                    (CpuStorage::F64(a), CpuStorage::F64(b)) => CpuStorage::F64(arith!(op, &shape, a, &la, b, &lb, f64)),
                    (CpuStorage::F16(a), CpuStorage::F16(b)) => CpuStorage::F16(strided::map2(&shape, a, &la, b, &lb, |x, y| {
                        WithDType::from_f32(op.f32(x.to_f32(), y.to_f32()))
                    })),
                    (CpuStorage::BF16(a), CpuStorage::BF16(b)) => CpuStorage::BF16(strided::map2(&shape, a, &la, b, &lb, |x, y| {
                        WithDType::from_f32(op.f32(x.to_f32(), y.to_f32()))
                    })),
                    (CpuStorage::I64(a), CpuStorage::I64(b)) => {
                        let bad = AtomicBool::new(false);
                        let v = strided::map2(&shape, a, &la, b, &lb, |x, y| {
                            op.i64(x, y).unwrap_or_else(|| {
                                bad.store(true, Ordering::Relaxed);
                                0
                            })
                        });
                        if bad.load(Ordering::Relaxed) {
                            return Err(Error::InvalidArgument {
                                op: name,
                                msg: "undefined for these int64 operands (division by zero, negative exponent, or no integer form); cast to a float dtype first".into(),
                            });
                        }
                        CpuStorage::I64(v)
                    }
                    (CpuStorage::U8(a), CpuStorage::U8(b)) => {
                        let f: fn(u8, u8) -> u8 = match op {
                            Binary::Add => u8::wrapping_add,
                            Binary::Sub => u8::wrapping_sub,
                            Binary::Mul => u8::wrapping_mul,
                            Binary::Maximum => std::cmp::max,
                            Binary::Minimum => std::cmp::min,
                            _ => return Err(Error::DType { op: name, got: DType::U8, expected: "a float or int64 dtype".into() }),
                        };
                        CpuStorage::U8(strided::map2(&shape, a, &la, b, &lb, f))
                    }
                    _ => return Err(Error::DType { op: name, got: self.dtype(), expected: "a numeric dtype (use logical_and/or for bool)".into() }),
                })
            })
        })?;
        Tensor::from_cpu_storage(s, &shape)
    }

    pub fn add(&self, rhs: &Tensor) -> Result<Tensor> { self.binary(rhs, Binary::Add) }
    pub fn sub(&self, rhs: &Tensor) -> Result<Tensor> { self.binary(rhs, Binary::Sub) }
    pub fn mul(&self, rhs: &Tensor) -> Result<Tensor> { self.binary(rhs, Binary::Mul) }
    /// True division for floats; floor division for int64 (`torch.div(rounding_mode='floor')`).
    pub fn div(&self, rhs: &Tensor) -> Result<Tensor> { self.binary(rhs, Binary::Div) }
    pub fn pow(&self, rhs: &Tensor) -> Result<Tensor> { self.binary(rhs, Binary::Pow) }
    /// Elementwise max (`torch.maximum`), NaN-propagating.
    pub fn maximum(&self, rhs: &Tensor) -> Result<Tensor> { self.binary(rhs, Binary::Maximum) }
    pub fn minimum(&self, rhs: &Tensor) -> Result<Tensor> { self.binary(rhs, Binary::Minimum) }
    pub fn atan2(&self, rhs: &Tensor) -> Result<Tensor> { self.binary(rhs, Binary::Atan2) }

    /// A 0-d tensor of this tensor's dtype holding `v`.
    pub fn scalar_like(&self, v: f64) -> Tensor {
        with_type!(self.dtype(), T => {
            let t = Tensor::scalar(T::from_f64(v));
            if self.dtype() == DType::Bool { t.retag(DType::Bool) } else { t }
        })
    }

    pub fn add_scalar(&self, v: f64) -> Result<Tensor> { self.add(&self.scalar_like(v)) }
    pub fn sub_scalar(&self, v: f64) -> Result<Tensor> { self.sub(&self.scalar_like(v)) }
    pub fn mul_scalar(&self, v: f64) -> Result<Tensor> { self.mul(&self.scalar_like(v)) }
    pub fn div_scalar(&self, v: f64) -> Result<Tensor> { self.div(&self.scalar_like(v)) }
    pub fn maximum_scalar(&self, v: f64) -> Result<Tensor> { self.maximum(&self.scalar_like(v)) }
    pub fn minimum_scalar(&self, v: f64) -> Result<Tensor> { self.minimum(&self.scalar_like(v)) }

    /// Elementwise comparison with broadcasting; the result is Bool.
    pub fn cmp(&self, rhs: &Tensor, op: Cmp) -> Result<Tensor> {
        let name = op.name();
        let (shape, la, lb) = self.broadcast_pair(rhs, name)?;
        let v = self.with_cpu(|a, _| {
            rhs.with_cpu(|b, _| {
                with_type!(self.dtype(), T => {
                    let (a, b) = (T::slice(a).expect("dtype checked"), T::slice(b).expect("dtype checked"));
                    strided::map2(&shape, a, &la, b, &lb, |x, y| op.apply(x, y) as u8)
                })
            })
        });
        Tensor::from_cpu_storage(CpuStorage::Bool(v), &shape)
    }

    pub fn eq(&self, rhs: &Tensor) -> Result<Tensor> { self.cmp(rhs, Cmp::Eq) }
    pub fn ne(&self, rhs: &Tensor) -> Result<Tensor> { self.cmp(rhs, Cmp::Ne) }
    pub fn lt(&self, rhs: &Tensor) -> Result<Tensor> { self.cmp(rhs, Cmp::Lt) }
    pub fn le(&self, rhs: &Tensor) -> Result<Tensor> { self.cmp(rhs, Cmp::Le) }
    pub fn gt(&self, rhs: &Tensor) -> Result<Tensor> { self.cmp(rhs, Cmp::Gt) }
    pub fn ge(&self, rhs: &Tensor) -> Result<Tensor> { self.cmp(rhs, Cmp::Ge) }
    pub fn cmp_scalar(&self, v: f64, op: Cmp) -> Result<Tensor> { self.cmp(&self.scalar_like(v), op) }

    /// `cond ? on_true : on_false` elementwise, all three broadcast together. `self` is the condition (Bool/U8).
    pub fn where_cond(&self, on_true: &Tensor, on_false: &Tensor) -> Result<Tensor> {
        if !matches!(self.dtype(), DType::Bool | DType::U8) {
            return Err(Error::DType { op: "where", got: self.dtype(), expected: "a bool condition".into() });
        }
        on_true.same_dtype(on_false, "where")?;
        on_true.same_device(on_false, "where")?;
        self.same_device(on_true, "where")?;
        let shape = broadcast_shapes("where", &broadcast_shapes("where", self.shape(), on_true.shape())?, on_false.shape())?;
        let (lc, la, lb) = (self.layout().broadcast_to(&shape)?, on_true.layout().broadcast_to(&shape)?, on_false.layout().broadcast_to(&shape)?);
        let dtype = on_true.dtype();
        let s = self.with_cpu(|c, _| {
            on_true.with_cpu(|a, _| {
                on_false.with_cpu(|b, _| {
                    let c = u8::slice(c).expect("bool storage is u8");
                    with_type!(dtype, T => {
                        let (a, b) = (T::slice(a).expect("dtype checked"), T::slice(b).expect("dtype checked"));
                        crate::storage_of(strided::map3(&shape, c, &lc, a, &la, b, &lb, |c, x, y| if c != 0 { x } else { y }), dtype)
                    })
                })
            })
        });
        Tensor::from_cpu_storage(s, &shape)
    }

    /// Replace elements where `mask` is true by `value` (mask broadcasts to self's shape).
    pub fn masked_fill(&self, mask: &Tensor, value: f64) -> Result<Tensor> {
        let out = mask.where_cond(&self.scalar_like(value), self)?;
        if out.shape() != self.shape() {
            return Err(Error::ShapeMismatch {
                op: "masked_fill",
                lhs: self.shape().to_vec(),
                rhs: mask.shape().to_vec(),
                expected: "a mask that broadcasts to the tensor's shape".into(),
            });
        }
        Ok(out)
    }

    fn logical(&self, rhs: &Tensor, name: &'static str, f: fn(bool, bool) -> bool) -> Result<Tensor> {
        let a = self.to_dtype(DType::Bool)?;
        let b = rhs.to_dtype(DType::Bool)?;
        let shape = broadcast_shapes(name, a.shape(), b.shape())?;
        let (la, lb) = (a.layout().broadcast_to(&shape)?, b.layout().broadcast_to(&shape)?);
        let v = a.with_slice(name, |x: &[u8], _| {
            b.with_slice(name, |y: &[u8], _| strided::map2(&shape, x, &la, y, &lb, |p, q| f(p != 0, q != 0) as u8))
        })??;
        Tensor::from_cpu_storage(CpuStorage::Bool(v), &shape)
    }

    pub fn logical_and(&self, rhs: &Tensor) -> Result<Tensor> { self.logical(rhs, "logical_and", |a, b| a && b) }
    pub fn logical_or(&self, rhs: &Tensor) -> Result<Tensor> { self.logical(rhs, "logical_or", |a, b| a || b) }
    pub fn logical_xor(&self, rhs: &Tensor) -> Result<Tensor> { self.logical(rhs, "logical_xor", |a, b| a != b) }
    pub fn logical_not(&self) -> Result<Tensor> {
        let v = self.with_cpu(|s, l| {
            with_type!(self.dtype(), T => strided::map1(T::slice(s).expect("dtype tag"), l, |x| (x.to_f64() == 0.0) as u8))
        });
        Tensor::from_cpu_storage(CpuStorage::Bool(v), self.shape())
    }

    /// True if every element is non-zero.
    pub fn all(&self) -> Result<bool> {
        Ok(self.to_dtype(DType::Bool)?.to_vec::<u8>()?.iter().all(|&b| b != 0))
    }
    /// True if any element is non-zero.
    pub fn any(&self) -> Result<bool> {
        Ok(self.to_dtype(DType::Bool)?.to_vec::<u8>()?.iter().any(|&b| b != 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(v: &[f32], s: &[usize]) -> Tensor {
        Tensor::from_slice(v, s).unwrap()
    }

    #[test]
    fn broadcast_add_and_errors() {
        let a = t(&[1., 2., 3.], &[3, 1]);
        let b = t(&[10., 20.], &[2]);
        let c = a.add(&b).unwrap();
        assert_eq!(c.shape(), &[3, 2]);
        assert_eq!(c.to_vec::<f32>().unwrap(), vec![11., 21., 12., 22., 13., 23.]);
        let e = a.add(&t(&[1., 2.], &[2, 1])).unwrap_err();
        assert!(e.to_string().contains("add"), "{e}");
        let e = a.add(&Tensor::from_slice(&[1f64], &[1]).unwrap()).unwrap_err();
        assert!(matches!(e, Error::DType { .. }), "{e}");
    }

    #[test]
    fn where_and_masked_fill() {
        let x = t(&[1., -2., 3., -4.], &[2, 2]);
        let m = x.cmp_scalar(0.0, Cmp::Lt).unwrap();
        assert_eq!(m.dtype(), DType::Bool);
        assert_eq!(x.masked_fill(&m, 0.0).unwrap().to_vec::<f32>().unwrap(), vec![1., 0., 3., 0.]);
        let w = m.where_cond(&x.neg().unwrap(), &x).unwrap();
        assert_eq!(w.to_vec::<f32>().unwrap(), vec![1., 2., 3., 4.]);
    }

    #[test]
    fn int_division_by_zero_is_an_error() {
        let a = Tensor::from_slice(&[4i64, 5], &[2]).unwrap();
        let b = Tensor::from_slice(&[2i64, 0], &[2]).unwrap();
        assert!(a.div(&b).is_err());
    }
}
