//! softmax / log_softmax over any dim, forward and backward. The kernels work on contiguous rows, so a
//! non-last dim is transposed to the end (one copy) and the result transposed back as a view.

use crate::layout::norm_dim;
use crate::{DType, Error, Result, Tensor};
use wrt_kernels::cpu::softmax as k;

#[derive(Clone, Copy)]
enum Kind {
    Softmax,
    LogSoftmax,
}

/// `x` with `dim` moved last, as contiguous rows: (tensor, rows, cols).
fn rows_of(x: &Tensor, d: usize) -> Result<(Tensor, usize, usize)> {
    let last = x.rank() - 1;
    let t = if d == last { x.contiguous()? } else { x.transpose(d as isize, -1)?.contiguous()? };
    let cols = x.shape()[d];
    let rows = if cols == 0 { 0 } else { x.numel() / cols };
    Ok((t, rows, cols))
}

fn back(t: Tensor, d: usize) -> Result<Tensor> {
    if d == t.rank() - 1 {
        Ok(t)
    } else {
        t.transpose(d as isize, -1)
    }
}

fn float_work(op: &'static str, dtype: DType) -> Result<DType> {
    match dtype {
        DType::F64 => Ok(DType::F64),
        DType::F32 | DType::F16 | DType::BF16 => Ok(DType::F32),
        d => Err(Error::DType { op, got: d, expected: "a float dtype".into() }),
    }
}

impl Tensor {
    fn softmax_kind(&self, dim: isize, kind: Kind) -> Result<Tensor> {
        let op = match kind {
            Kind::Softmax => "softmax",
            Kind::LogSoftmax => "log_softmax",
        };
        if self.rank() == 0 {
            return self.unsqueeze(0)?.softmax_kind(0, kind)?.squeeze(&[0]);
        }
        let d = norm_dim(op, dim, self.rank())?;
        let work = float_work(op, self.dtype())?;
        let (x, rows, cols) = rows_of(&self.to_dtype(work)?, d)?;
        let shape = x.shape().to_vec();
        let out = match work {
            DType::F64 => {
                let mut o = vec![0f64; x.numel()];
                x.with_slice(op, |s: &[f64], _| match kind {
                    Kind::Softmax => k::softmax_forward(&mut o, s, rows, cols),
                    Kind::LogSoftmax => k::log_softmax_forward(&mut o, s, rows, cols),
                })?;
                Tensor::from_vec(o, &shape)?
            }
            _ => {
                let mut o = vec![0f32; x.numel()];
                x.with_slice(op, |s: &[f32], _| match kind {
                    Kind::Softmax => k::softmax_forward(&mut o, s, rows, cols),
                    Kind::LogSoftmax => k::log_softmax_forward(&mut o, s, rows, cols),
                })?;
                Tensor::from_vec(o, &shape)?
            }
        };
        back(out, d)?.to_dtype(self.dtype())
    }

    pub fn softmax(&self, dim: isize) -> Result<Tensor> {
        self.softmax_kind(dim, Kind::Softmax)
    }
    pub fn log_softmax(&self, dim: isize) -> Result<Tensor> {
        self.softmax_kind(dim, Kind::LogSoftmax)
    }

    fn softmax_kind_backward(out: &Tensor, dout: &Tensor, dim: isize, kind: Kind) -> Result<Tensor> {
        let op = "softmax_backward";
        if out.shape() != dout.shape() {
            return Err(Error::ShapeMismatch { op, lhs: out.shape().to_vec(), rhs: dout.shape().to_vec(), expected: "equal shapes".into() });
        }
        if out.rank() == 0 {
            return Tensor::softmax_kind_backward(&out.unsqueeze(0)?, &dout.unsqueeze(0)?, 0, kind)?.squeeze(&[0]);
        }
        let d = norm_dim(op, dim, out.rank())?;
        let work = float_work(op, out.dtype())?;
        let (y, rows, cols) = rows_of(&out.to_dtype(work)?, d)?;
        let (g, _, _) = rows_of(&dout.to_dtype(work)?, d)?;
        let shape = y.shape().to_vec();
        macro_rules! run {
            ($T:ty) => {{
                let mut o = vec![<$T>::default(); y.numel()];
                y.with_slice(op, |ys: &[$T], _| {
                    g.with_slice(op, |gs: &[$T], _| match kind {
                        Kind::Softmax => k::softmax_backward(&mut o, gs, ys, rows, cols),
                        Kind::LogSoftmax => k::log_softmax_backward(&mut o, gs, ys, rows, cols),
                    })
                })??;
                Tensor::from_vec(o, &shape)?
            }};
        }
        let dx = if work == DType::F64 { run!(f64) } else { run!(f32) };
        back(dx, d)?.to_dtype(out.dtype())
    }

    /// Gradient of softmax given its output `out` and upstream gradient `dout`.
    pub fn softmax_backward(out: &Tensor, dout: &Tensor, dim: isize) -> Result<Tensor> {
        Tensor::softmax_kind_backward(out, dout, dim, Kind::Softmax)
    }
    /// Gradient of log_softmax given its output and upstream gradient.
    pub fn log_softmax_backward(out: &Tensor, dout: &Tensor, dim: isize) -> Result<Tensor> {
        Tensor::softmax_kind_backward(out, dout, dim, Kind::LogSoftmax)
    }
}
