//! Initialisers with PyTorch's semantics (`torch.nn.init`), drawing from a wrt `Generator`. A fresh wrt layer
//! has the same initial *distribution* as the PyTorch layer (the streams differ: Philox vs mt19937).

use crate::Result;
use wrt_tensor::{DType, Error, Generator, Tensor};

/// (fan_in, fan_out) of a weight `[out, in, *kernel]` (PyTorch's `_calculate_fan_in_and_fan_out`).
pub fn fans(shape: &[usize]) -> Result<(usize, usize)> {
    if shape.len() < 2 {
        return Err(Error::BadShape { op: "init", shape: shape.to_vec(), expected: "a weight with at least 2 dims".into() }.into());
    }
    let receptive: usize = shape[2..].iter().product();
    Ok((shape[1] * receptive, shape[0] * receptive))
}

pub fn uniform(g: &mut Generator, shape: &[usize], low: f64, high: f64, dtype: DType) -> Result<Tensor> {
    Ok(g.uniform(shape, low, high, dtype)?)
}

pub fn normal(g: &mut Generator, shape: &[usize], mean: f64, std: f64, dtype: DType) -> Result<Tensor> {
    Ok(g.normal(shape, mean, std, dtype)?)
}

/// `kaiming_uniform_(w, a)` with the leaky_relu gain sqrt(2 / (1 + a^2)): bound = gain * sqrt(3 / fan_in).
/// nn.Linear and nn.ConvNd use a = sqrt(5), i.e. bound = 1 / sqrt(fan_in).
pub fn kaiming_uniform(g: &mut Generator, shape: &[usize], a: f64, dtype: DType) -> Result<Tensor> {
    let (fan_in, _) = fans(shape)?;
    let gain = (2.0 / (1.0 + a * a)).sqrt();
    let bound = gain * (3.0 / fan_in.max(1) as f64).sqrt();
    uniform(g, shape, -bound, bound, dtype)
}

/// `kaiming_normal_(w, a=0, mode='fan_in', nonlinearity='relu')`: std = sqrt(2 / fan_in).
pub fn kaiming_normal(g: &mut Generator, shape: &[usize], dtype: DType) -> Result<Tensor> {
    let (fan_in, _) = fans(shape)?;
    normal(g, shape, 0.0, (2.0 / fan_in.max(1) as f64).sqrt(), dtype)
}

/// `xavier_uniform_(w, gain)`: bound = gain * sqrt(6 / (fan_in + fan_out)).
pub fn xavier_uniform(g: &mut Generator, shape: &[usize], gain: f64, dtype: DType) -> Result<Tensor> {
    let (fi, fo) = fans(shape)?;
    let bound = gain * (6.0 / (fi + fo).max(1) as f64).sqrt();
    uniform(g, shape, -bound, bound, dtype)
}

/// `xavier_normal_(w, gain)`: std = gain * sqrt(2 / (fan_in + fan_out)).
pub fn xavier_normal(g: &mut Generator, shape: &[usize], gain: f64, dtype: DType) -> Result<Tensor> {
    let (fi, fo) = fans(shape)?;
    normal(g, shape, 0.0, gain * (2.0 / (fi + fo).max(1) as f64).sqrt(), dtype)
}

/// `trunc_normal_(w, mean, std, a, b)`: normal restricted to [a, b], drawn by rejection (same distribution as
/// PyTorch's inverse-CDF method).
pub fn trunc_normal(g: &mut Generator, shape: &[usize], mean: f64, std: f64, a: f64, b: f64, dtype: DType) -> Result<Tensor> {
    if !(a < b) {
        return Err(Error::InvalidArgument { op: "trunc_normal", msg: format!("empty interval [{a}, {b}]") }.into());
    }
    let n: usize = shape.iter().product();
    let mut out = Vec::with_capacity(n);
    let mut tries = 0;
    while out.len() < n {
        let draw = g.normal(&[(n - out.len()).max(64) * 2], mean, std, DType::F64)?.to_vec::<f64>()?;
        out.extend(draw.into_iter().filter(|v| (a..=b).contains(v)).take(n - out.len()));
        tries += 1;
        if tries > 10_000 {
            return Err(Error::InvalidArgument { op: "trunc_normal", msg: format!("[{a}, {b}] has almost no mass under N({mean}, {std}^2)") }.into());
        }
    }
    Ok(Tensor::from_vec(out, shape)?.to_dtype(dtype)?)
}
