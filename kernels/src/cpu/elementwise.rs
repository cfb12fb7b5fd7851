//! Elementwise math, one definition per op (candle's `UnaryOpT` idea): the op's name (used in error messages
//! and, later, CUDA kernel names), its f64 and f32 scalar forms, and a contiguous slice form that uses the
//! SIMD routines of `vmath` where one exists. The tensor layer handles strides and broadcasting.

use rayon::prelude::*;

/// Elements per rayon task for elementwise work (~50 µs of exp on one core).
pub const GRAIN: usize = 1 << 15;

macro_rules! unary_ops {
    ($( $name:ident = $s:literal, |$x:ident| $f64:expr, |$y:ident| $f32:expr; )*) => {
        /// Parameter-free unary ops.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Unary { $($name),* }

        impl Unary {
            pub const ALL: &'static [Unary] = &[$(Unary::$name),*];
            pub fn name(self) -> &'static str {
                match self { $(Unary::$name => $s),* }
            }
            #[inline(always)]
            pub fn f64(self, v: f64) -> f64 {
                match self { $(Unary::$name => { let $x = v; $f64 }),* }
            }
            #[inline(always)]
            pub fn f32(self, v: f32) -> f32 {
                match self { $(Unary::$name => { let $y = v; $f32 }),* }
            }
        }
    };
}

const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;

unary_ops! {
    Neg = "neg", |x| -x, |y| -y;
    Abs = "abs", |x| x.abs(), |y| y.abs();
    Exp = "exp", |x| x.exp(), |y| y.exp();
    Expm1 = "expm1", |x| x.exp_m1(), |y| y.exp_m1();
    Log = "log", |x| x.ln(), |y| y.ln();
    Log1p = "log1p", |x| x.ln_1p(), |y| y.ln_1p();
    Sqrt = "sqrt", |x| x.sqrt(), |y| y.sqrt();
    Rsqrt = "rsqrt", |x| 1.0 / x.sqrt(), |y| 1.0 / y.sqrt();
    Recip = "reciprocal", |x| 1.0 / x, |y| 1.0 / y;
    Square = "square", |x| x * x, |y| y * y;
    Sin = "sin", |x| x.sin(), |y| y.sin();
    Cos = "cos", |x| x.cos(), |y| y.cos();
    Tanh = "tanh", |x| x.tanh(), |y| y.tanh();
    Sigmoid = "sigmoid", |x| sigmoid64(x), |y| sigmoid64(y as f64) as f32;
    Erf = "erf", |x| libm::erf(x), |y| libm::erff(y);
    Gelu = "gelu", |x| 0.5 * x * (1.0 + libm::erf(x * std::f64::consts::FRAC_1_SQRT_2)), |y| gelu64(y as f64) as f32;
    GeluTanh = "gelu_tanh", |x| gelu_tanh64(x), |y| gelu_tanh64(y as f64) as f32;
    Relu = "relu", |x| if x > 0.0 { x } else if x.is_nan() { x } else { 0.0 }, |y| if y > 0.0 { y } else if y.is_nan() { y } else { 0.0 };
    Silu = "silu", |x| x * sigmoid64(x), |y| (y as f64 * sigmoid64(y as f64)) as f32;
    Softplus = "softplus", |x| softplus64(x), |y| softplus64(y as f64) as f32;
    Sign = "sign", |x| sign64(x), |y| sign64(y as f64) as f32;
    Floor = "floor", |x| x.floor(), |y| y.floor();
    Ceil = "ceil", |x| x.ceil(), |y| y.ceil();
    Round = "round", |x| x.round_ties_even(), |y| y.round_ties_even();
}

#[inline(always)]
fn sigmoid64(x: f64) -> f64 {
    // Written per sign so neither branch overflows exp.
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

#[inline(always)]
fn gelu64(x: f64) -> f64 {
    0.5 * x * (1.0 + libm::erf(x * std::f64::consts::FRAC_1_SQRT_2))
}

#[inline(always)]
fn gelu_tanh64(x: f64) -> f64 {
    0.5 * x * (1.0 + (SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)).tanh())
}

/// PyTorch's softplus with beta=1, threshold=20: linear above the threshold.
#[inline(always)]
fn softplus64(x: f64) -> f64 {
    if x > 20.0 {
        x
    } else {
        x.exp().ln_1p()
    }
}

/// PyTorch's `(0 < x) - (x < 0)`: NaN maps to 0, and -0 to 0.
#[inline(always)]
fn sign64(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// The SIMD routines of `vmath`, where one exists for `op`. Returns false when the caller must use the scalar form.
fn simd_unary_f32(op: Unary, out: &mut [f32], inp: &[f32]) -> bool {
    use super::vmath as v;
    let f: fn(&mut [f32], &[f32]) = match op {
        Unary::Exp => v::exp_f32,
        Unary::Log => v::log_f32,
        Unary::Tanh => v::tanh_f32,
        Unary::Sigmoid => v::sigmoid_f32,
        Unary::Silu => v::silu_f32,
        Unary::Erf => v::erf_f32,
        Unary::Gelu => v::gelu_f32,
        Unary::GeluTanh => v::gelu_tanh_f32,
        _ => return false,
    };
    f(out, inp);
    true
}

/// `out[i] = op(inp[i])` for contiguous f32 slices, in parallel chunks.
pub fn unary_f32(op: Unary, out: &mut [f32], inp: &[f32]) {
    assert_eq!(out.len(), inp.len(), "unary_f32: out and inp differ in length");
    let run = |o: &mut [f32], i: &[f32]| {
        if !simd_unary_f32(op, o, i) {
            o.iter_mut().zip(i).for_each(|(o, &x)| *o = op.f32(x));
        }
    };
    if inp.len() <= GRAIN {
        run(out, inp);
    } else {
        out.par_chunks_mut(GRAIN).zip(inp.par_chunks(GRAIN)).for_each(|(o, i)| run(o, i));
    }
}

/// `out[i] = op(inp[i])` for contiguous f64 slices, in parallel chunks.
pub fn unary_f64(op: Unary, out: &mut [f64], inp: &[f64]) {
    assert_eq!(out.len(), inp.len(), "unary_f64: out and inp differ in length");
    if inp.len() <= GRAIN {
        out.iter_mut().zip(inp).for_each(|(o, &x)| *o = op.f64(x));
    } else {
        out.par_chunks_mut(GRAIN).zip(inp.par_chunks(GRAIN)).for_each(|(o, i)| {
            o.iter_mut().zip(i).for_each(|(o, &x)| *o = op.f64(x));
        });
    }
}

macro_rules! binary_ops {
    ($( $name:ident = $s:literal, |$a:ident, $b:ident| $f:expr; )*) => {
        /// Binary arithmetic ops (the tensor layer broadcasts).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Binary { $($name),* }

        impl Binary {
            pub fn name(self) -> &'static str {
                match self { $(Binary::$name => $s),* }
            }
            #[inline(always)]
            pub fn f64(self, x: f64, y: f64) -> f64 {
                match self { $(Binary::$name => { let ($a, $b) = (x, y); $f }),* }
            }
            #[inline(always)]
            pub fn f32(self, x: f32, y: f32) -> f32 {
                match self { $(Binary::$name => { let ($a, $b) = (x, y); $f }),* }
            }
        }
    };
}

binary_ops! {
    Add = "add", |a, b| a + b;
    Sub = "sub", |a, b| a - b;
    Mul = "mul", |a, b| a * b;
    Div = "div", |a, b| a / b;
    Pow = "pow", |a, b| a.powf(b);
    // torch.maximum/minimum propagate NaN from either side.
    Maximum = "maximum", |a, b| if a.is_nan() || b.is_nan() { a + b } else if a > b { a } else { b };
    Minimum = "minimum", |a, b| if a.is_nan() || b.is_nan() { a + b } else if a < b { a } else { b };
    Atan2 = "atan2", |a, b| a.atan2(b);
}

impl Binary {
    /// Integer form; `None` where the op has no integer meaning (pow with negative exponent, atan2, div by 0).
    #[inline(always)]
    pub fn i64(self, a: i64, b: i64) -> Option<i64> {
        match self {
            Binary::Add => Some(a.wrapping_add(b)),
            Binary::Sub => Some(a.wrapping_sub(b)),
            Binary::Mul => Some(a.wrapping_mul(b)),
            // torch.div(rounding_mode='floor') semantics for integers.
            Binary::Div => (b != 0).then(|| a.div_euclid(b) - if (a.rem_euclid(b) != 0) && (b < 0) { 1 } else { 0 }),
            Binary::Pow => u32::try_from(b).ok().map(|e| a.wrapping_pow(e)),
            Binary::Maximum => Some(a.max(b)),
            Binary::Minimum => Some(a.min(b)),
            Binary::Atan2 => None,
        }
    }
}

/// Comparison ops producing booleans.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    pub fn name(self) -> &'static str {
        match self {
            Cmp::Eq => "eq",
            Cmp::Ne => "ne",
            Cmp::Lt => "lt",
            Cmp::Le => "le",
            Cmp::Gt => "gt",
            Cmp::Ge => "ge",
        }
    }
    #[inline(always)]
    pub fn apply<T: PartialOrd>(self, a: T, b: T) -> bool {
        match self {
            Cmp::Eq => a == b,
            Cmp::Ne => a != b,
            Cmp::Lt => a < b,
            Cmp::Le => a <= b,
            Cmp::Gt => a > b,
            Cmp::Ge => a >= b,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f32_forms_agree_with_f64() {
        let xs = [-30.0f32, -3.5, -1.0, -0.25, 0.0, 0.3, 1.0, 2.5, 19.9, 25.0];
        for &op in Unary::ALL {
            for &x in &xs {
                let (a, b) = (op.f32(x) as f64, op.f64(x as f64));
                if a.is_nan() || b.is_nan() || a.is_infinite() || b.is_infinite() {
                    assert!(a.is_nan() && b.is_nan() || a == b, "{} at {x}: {a} vs {b}", op.name());
                    continue;
                }
                assert!((a - b).abs() <= 1e-6 * b.abs().max(1e-30) + 1e-7, "{} at {x}: {a} vs {b}", op.name());
            }
        }
    }

    #[test]
    fn integer_floor_division() {
        assert_eq!(Binary::Div.i64(7, 2), Some(3));
        assert_eq!(Binary::Div.i64(-7, 2), Some(-4));
        assert_eq!(Binary::Div.i64(7, -2), Some(-4));
        assert_eq!(Binary::Div.i64(-7, -2), Some(3));
        assert_eq!(Binary::Div.i64(1, 0), None);
    }

    #[test]
    fn slice_form_matches_scalar() {
        let inp: Vec<f32> = (0..70_001).map(|i| (i as f32 - 35_000.0) / 3000.0).collect();
        let mut out = vec![0.0; inp.len()];
        for &op in Unary::ALL {
            unary_f32(op, &mut out, &inp);
            for (i, (&o, &x)) in out.iter().zip(&inp).enumerate().step_by(97) {
                let r = op.f64(x as f64);
                if r.is_nan() {
                    assert!(o.is_nan());
                    continue;
                }
                assert!((o as f64 - r).abs() <= 2e-6 * r.abs() + 1e-6, "{} at {i} ({x}): {o} vs {r}", op.name());
            }
        }
    }
}
