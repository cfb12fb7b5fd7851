//! Elementwise unary ops: the parameter-free `Unary` set from wrt-kernels plus parametrised maps
//! (affine, powf, clamp, leaky_relu, elu). Floats only, except where an integer meaning is obvious.

use crate::cpu::strided;
use crate::storage::CpuStorage;
use crate::{DType, Error, Result, Tensor, Unary, WithDType};
use wrt_kernels::cpu::elementwise::{unary_f32, unary_f64};

impl Tensor {
    /// Apply a parameter-free unary op.
    pub fn unary(&self, op: Unary) -> Result<Tensor> {
        match self.dtype() {
            DType::F32 => {
                let x = self.contiguous()?;
                let mut out = vec![0f32; x.numel()];
                x.with_slice("unary", |s: &[f32], _| unary_f32(op, &mut out, s))?;
                Tensor::from_vec(out, self.shape())
            }
            DType::F64 => {
                let x = self.contiguous()?;
                let mut out = vec![0f64; x.numel()];
                x.with_slice("unary", |s: &[f64], _| unary_f64(op, &mut out, s))?;
                Tensor::from_vec(out, self.shape())
            }
            DType::F16 | DType::BF16 => self.map_float(op.name(), |x| op.f64(x), |x| op.f32(x)),
            DType::I64 => {
                let f: fn(i64) -> i64 = match op {
                    Unary::Neg => |x| x.wrapping_neg(),
                    Unary::Abs => |x| x.wrapping_abs(),
                    Unary::Square => |x| x.wrapping_mul(x),
                    Unary::Sign => |x| x.signum(),
                    Unary::Relu => |x| x.max(0),
                    _ => return Err(float_only(op.name(), self.dtype())),
                };
                let v = self.with_slice("unary", |s: &[i64], l| strided::map1(s, l, f))?;
                Tensor::from_vec(v, self.shape())
            }
            _ => Err(float_only(op.name(), self.dtype())),
        }
    }

    /// Apply `f` (f64 and f32 forms of one function) to a float tensor; half types compute in f32.
    pub fn map_float(
        &self,
        op: &'static str,
        f64_fn: impl Fn(f64) -> f64 + Sync,
        f32_fn: impl Fn(f32) -> f32 + Sync,
    ) -> Result<Tensor> {
        let s = self.with_cpu(|s, l| match s {
            CpuStorage::F32(v) => Ok(CpuStorage::F32(strided::map1(v, l, &f32_fn))),
            CpuStorage::F64(v) => Ok(CpuStorage::F64(strided::map1(v, l, &f64_fn))),
            CpuStorage::F16(v) => Ok(CpuStorage::F16(strided::map1(v, l, |x| WithDType::from_f32(f32_fn(x.to_f32()))))),
            CpuStorage::BF16(v) => Ok(CpuStorage::BF16(strided::map1(v, l, |x| WithDType::from_f32(f32_fn(x.to_f32()))))),
            _ => Err(float_only(op, self.dtype())),
        })?;
        Tensor::from_cpu_storage(s, self.shape())
    }

    pub fn neg(&self) -> Result<Tensor> { self.unary(Unary::Neg) }
    pub fn abs(&self) -> Result<Tensor> { self.unary(Unary::Abs) }
    pub fn exp(&self) -> Result<Tensor> { self.unary(Unary::Exp) }
    pub fn expm1(&self) -> Result<Tensor> { self.unary(Unary::Expm1) }
    pub fn log(&self) -> Result<Tensor> { self.unary(Unary::Log) }
    pub fn log1p(&self) -> Result<Tensor> { self.unary(Unary::Log1p) }
    pub fn sqrt(&self) -> Result<Tensor> { self.unary(Unary::Sqrt) }
    pub fn rsqrt(&self) -> Result<Tensor> { self.unary(Unary::Rsqrt) }
    pub fn recip(&self) -> Result<Tensor> { self.unary(Unary::Recip) }
    pub fn square(&self) -> Result<Tensor> { self.unary(Unary::Square) }
    pub fn sin(&self) -> Result<Tensor> { self.unary(Unary::Sin) }
    pub fn cos(&self) -> Result<Tensor> { self.unary(Unary::Cos) }
    pub fn tanh(&self) -> Result<Tensor> { self.unary(Unary::Tanh) }
    pub fn sigmoid(&self) -> Result<Tensor> { self.unary(Unary::Sigmoid) }
    pub fn erf(&self) -> Result<Tensor> { self.unary(Unary::Erf) }
    /// Exact GELU, `x * Phi(x)` (PyTorch's default `approximate='none'`).
    pub fn gelu(&self) -> Result<Tensor> { self.unary(Unary::Gelu) }
    /// GELU with the tanh approximation (`approximate='tanh'`).
    pub fn gelu_tanh(&self) -> Result<Tensor> { self.unary(Unary::GeluTanh) }
    pub fn relu(&self) -> Result<Tensor> { self.unary(Unary::Relu) }
    pub fn silu(&self) -> Result<Tensor> { self.unary(Unary::Silu) }
    /// `log(1 + exp(x))`, linear above 20 like PyTorch's default threshold.
    pub fn softplus(&self) -> Result<Tensor> { self.unary(Unary::Softplus) }
    pub fn sign(&self) -> Result<Tensor> { self.unary(Unary::Sign) }
    pub fn floor(&self) -> Result<Tensor> { self.unary(Unary::Floor) }
    pub fn ceil(&self) -> Result<Tensor> { self.unary(Unary::Ceil) }
    pub fn round(&self) -> Result<Tensor> { self.unary(Unary::Round) }

    /// `x * mul + add` in one pass.
    pub fn affine(&self, mul: f64, add: f64) -> Result<Tensor> {
        let (m32, a32) = (mul as f32, add as f32);
        self.map_float("affine", move |x| x * mul + add, move |x| x * m32 + a32)
    }

    /// `x ^ e` for a scalar exponent.
    pub fn powf(&self, e: f64) -> Result<Tensor> {
        let e32 = e as f32;
        self.map_float("powf", move |x| x.powf(e), move |x| x.powf(e32))
    }

    /// Clamp into `[min, max]`; either bound may be absent. NaN stays NaN (PyTorch).
    pub fn clamp(&self, min: Option<f64>, max: Option<f64>) -> Result<Tensor> {
        if let (Some(lo), Some(hi)) = (min, max) {
            if lo > hi {
                return Err(Error::InvalidArgument { op: "clamp", msg: format!("min {lo} is greater than max {hi}") });
            }
        }
        if self.dtype() == DType::I64 {
            let (lo, hi) = (min.map(|v| v as i64).unwrap_or(i64::MIN), max.map(|v| v as i64).unwrap_or(i64::MAX));
            let v = self.with_slice("clamp", |s: &[i64], l| strided::map1(s, l, |x| x.clamp(lo, hi)))?;
            return Tensor::from_vec(v, self.shape());
        }
        let (lo, hi) = (min.unwrap_or(f64::NEG_INFINITY), max.unwrap_or(f64::INFINITY));
        let (lo32, hi32) = (lo as f32, hi as f32);
        let c64 = move |x: f64| if x.is_nan() { x } else { x.max(lo).min(hi) };
        let c32 = move |x: f32| if x.is_nan() { x } else { x.max(lo32).min(hi32) };
        self.map_float("clamp", c64, c32)
    }

    pub fn leaky_relu(&self, slope: f64) -> Result<Tensor> {
        let s32 = slope as f32;
        self.map_float("leaky_relu", move |x| if x > 0.0 { x } else { x * slope }, move |x| if x > 0.0 { x } else { x * s32 })
    }

    pub fn elu(&self, alpha: f64) -> Result<Tensor> {
        let a32 = alpha as f32;
        self.map_float("elu", move |x| if x > 0.0 { x } else { alpha * x.exp_m1() }, move |x| if x > 0.0 { x } else { a32 * x.exp_m1() })
    }
}

pub(crate) fn float_only(op: &'static str, got: DType) -> Error {
    Error::DType { op, got, expected: "a float dtype (f32, f64, f16, bf16)".into() }
}
