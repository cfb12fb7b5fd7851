//! Elementwise unary ops and their derivatives. Rules that need the output (exp, sigmoid, tanh, sqrt) save
//! the output; the others save the input.

use crate::{Result, Var};
use wrt_tensor::{DType, Tensor, Unary};

/// d/dx of `op` at x (with y = op(x)), multiplied by g.
fn unary_grad(op: Unary, x: &Tensor, y: &Tensor, g: &Tensor) -> Result<Tensor> {
    let d = match op {
        Unary::Neg => return Ok(g.neg()?),
        Unary::Abs => x.sign()?,
        Unary::Exp => y.clone(),
        Unary::Expm1 => y.add_scalar(1.0)?,
        Unary::Log => x.recip()?,
        Unary::Log1p => x.add_scalar(1.0)?.recip()?,
        Unary::Sqrt => y.mul_scalar(2.0)?.recip()?,
        // d rsqrt = -0.5 x^-1.5 = -0.5 y^3
        Unary::Rsqrt => y.powf(3.0)?.mul_scalar(-0.5)?,
        Unary::Recip => y.square()?.neg()?,
        Unary::Square => x.mul_scalar(2.0)?,
        Unary::Sin => x.cos()?,
        Unary::Cos => x.sin()?.neg()?,
        Unary::Tanh => y.square()?.neg()?.add_scalar(1.0)?,
        Unary::Sigmoid => y.mul(&y.neg()?.add_scalar(1.0)?)?,
        // d erf = 2/sqrt(pi) exp(-x^2)
        Unary::Erf => x.square()?.neg()?.exp()?.mul_scalar(std::f64::consts::FRAC_2_SQRT_PI)?,
        // d gelu = Phi(x) + x phi(x)
        Unary::Gelu => {
            let cdf = x.mul_scalar(std::f64::consts::FRAC_1_SQRT_2)?.erf()?.add_scalar(1.0)?.mul_scalar(0.5)?;
            let pdf = x.square()?.mul_scalar(-0.5)?.exp()?.mul_scalar(0.398_942_280_401_432_7)?;
            cdf.add(&x.mul(&pdf)?)?
        }
        Unary::GeluTanh => {
            // y = 0.5 x (1 + tanh(u)), u = c (x + 0.044715 x^3)
            let c = 0.797_884_560_802_865_4;
            let u = x.powf(3.0)?.mul_scalar(0.044715)?.add(x)?.mul_scalar(c)?;
            let t = u.tanh()?;
            let du = x.square()?.mul_scalar(3.0 * 0.044715 * c)?.add_scalar(c)?;
            let sech2 = t.square()?.neg()?.add_scalar(1.0)?;
            t.add_scalar(1.0)?.mul_scalar(0.5)?.add(&x.mul(&sech2)?.mul(&du)?.mul_scalar(0.5)?)?
        }
        // 1 unless x <= 0, so NaN passes the gradient (PyTorch's threshold_backward)
        Unary::Relu => x.cmp_scalar(0.0, wrt_tensor::Cmp::Le)?.logical_not()?.to_dtype(x.dtype())?,
        Unary::Silu => {
            let s = x.sigmoid()?;
            s.mul(&x.mul(&s.neg()?.add_scalar(1.0)?)?.add_scalar(1.0)?)?
        }
        // softplus' = sigmoid(x), exactly 1 above PyTorch's threshold of 20
        Unary::Softplus => {
            let s = x.sigmoid()?;
            x.cmp_scalar(20.0, wrt_tensor::Cmp::Gt)?.where_cond(&x.ones_like()?, &s)?
        }
        Unary::Sign | Unary::Floor | Unary::Ceil | Unary::Round => return Ok(g.zeros_like()?),
    };
    Ok(g.mul(&d)?)
}

impl Var {
    /// Apply a parameter-free unary op.
    pub fn unary(&self, op: Unary) -> Result<Var> {
        let x = self.value().clone();
        let y = x.unary(op)?;
        let yc = y.clone();
        Ok(Var::from_op(op.name(), y, &[self], move |g| {
            // f16/bf16: the derivative in f32, rounded once, like PyTorch's opmath kernels (in f16 the x^3 of
            // gelu_tanh's rule overflows to inf and gives inf * 0 = NaN)
            if matches!(x.dtype(), DType::F16 | DType::BF16) {
                let f = |t: &Tensor| t.to_dtype(DType::F32);
                return Ok(vec![Some(unary_grad(op, &f(&x)?, &f(&yc)?, &f(g)?)?.to_dtype(x.dtype())?)]);
            }
            Ok(vec![Some(unary_grad(op, &x, &yc, g)?)])
        }))
    }

    pub fn neg(&self) -> Result<Var> { self.unary(Unary::Neg) }
    pub fn abs(&self) -> Result<Var> { self.unary(Unary::Abs) }
    pub fn exp(&self) -> Result<Var> { self.unary(Unary::Exp) }
    pub fn log(&self) -> Result<Var> { self.unary(Unary::Log) }
    pub fn log1p(&self) -> Result<Var> { self.unary(Unary::Log1p) }
    pub fn sqrt(&self) -> Result<Var> { self.unary(Unary::Sqrt) }
    pub fn rsqrt(&self) -> Result<Var> { self.unary(Unary::Rsqrt) }
    pub fn recip(&self) -> Result<Var> { self.unary(Unary::Recip) }
    pub fn square(&self) -> Result<Var> { self.unary(Unary::Square) }
    pub fn sin(&self) -> Result<Var> { self.unary(Unary::Sin) }
    pub fn cos(&self) -> Result<Var> { self.unary(Unary::Cos) }
    pub fn tanh(&self) -> Result<Var> { self.unary(Unary::Tanh) }
    pub fn sigmoid(&self) -> Result<Var> { self.unary(Unary::Sigmoid) }
    pub fn erf(&self) -> Result<Var> { self.unary(Unary::Erf) }
    pub fn gelu(&self) -> Result<Var> { self.unary(Unary::Gelu) }
    pub fn gelu_tanh(&self) -> Result<Var> { self.unary(Unary::GeluTanh) }
    pub fn relu(&self) -> Result<Var> { self.unary(Unary::Relu) }
    pub fn silu(&self) -> Result<Var> { self.unary(Unary::Silu) }
    pub fn softplus(&self) -> Result<Var> { self.unary(Unary::Softplus) }

    /// Convert to `dtype`; the gradient is converted back to the input's dtype (none flows to integer inputs).
    pub fn to_dtype(&self, dtype: wrt_tensor::DType) -> Result<Var> {
        let from = self.dtype();
        let y = self.value().to_dtype(dtype)?;
        Ok(Var::from_op("to_dtype", y, &[self], move |g| Ok(vec![from.is_float().then(|| g.to_dtype(from)).transpose()?])))
    }

    /// `x * mul + add`.
    pub fn affine(&self, mul: f64, add: f64) -> Result<Var> {
        let y = self.value().affine(mul, add)?;
        Ok(Var::from_op("affine", y, &[self], move |g| Ok(vec![Some(g.mul_scalar(mul)?)])))
    }
    pub fn add_scalar(&self, v: f64) -> Result<Var> { self.affine(1.0, v) }
    pub fn mul_scalar(&self, v: f64) -> Result<Var> { self.affine(v, 0.0) }

    /// `x ^ e` for a scalar exponent.
    pub fn powf(&self, e: f64) -> Result<Var> {
        let x = self.value().clone();
        let y = x.powf(e)?;
        Ok(Var::from_op("powf", y, &[self], move |g| {
            // x^0 is constant: zero gradient, not 0 * x^-1 (NaN at x = 0), as PyTorch
            if e == 0.0 {
                return Ok(vec![Some(g.zeros_like()?)]);
            }
            Ok(vec![Some(g.mul(&x.powf(e - 1.0)?.mul_scalar(e)?)?)])
        }))
    }

    /// Clamp into [min, max]; the gradient passes where min <= x <= max (PyTorch).
    pub fn clamp(&self, min: Option<f64>, max: Option<f64>) -> Result<Var> {
        let x = self.value().clone();
        let y = x.clamp(min, max)?;
        Ok(Var::from_op("clamp", y, &[self], move |g| {
            let mut keep = x.ones_like()?.to_dtype(wrt_tensor::DType::Bool)?;
            if let Some(lo) = min {
                keep = keep.logical_and(&x.cmp_scalar(lo, wrt_tensor::Cmp::Ge)?)?;
            }
            if let Some(hi) = max {
                keep = keep.logical_and(&x.cmp_scalar(hi, wrt_tensor::Cmp::Le)?)?;
            }
            Ok(vec![Some(keep.where_cond(g, &g.zeros_like()?)?)])
        }))
    }

    pub fn leaky_relu(&self, slope: f64) -> Result<Var> {
        let x = self.value().clone();
        let y = x.leaky_relu(slope)?;
        Ok(Var::from_op("leaky_relu", y, &[self], move |g| {
            Ok(vec![Some(x.cmp_scalar(0.0, wrt_tensor::Cmp::Gt)?.where_cond(g, &g.mul_scalar(slope)?)?)])
        }))
    }

    pub fn elu(&self, alpha: f64) -> Result<Var> {
        let x = self.value().clone();
        let y = x.elu(alpha)?;
        let yc = y.clone();
        Ok(Var::from_op("elu", y, &[self], move |g| {
            // x <= 0: d = alpha * exp(x) = y + alpha; else 1 (NaN included, as PyTorch's elu_backward)
            let d = x.cmp_scalar(0.0, wrt_tensor::Cmp::Le)?.where_cond(&yc.add_scalar(alpha)?, &x.ones_like()?)?;
            Ok(vec![Some(g.mul(&d)?)])
        }))
    }
}
