//! Max / average / adaptive-average pooling over 1 to 3 spatial dims ([N, C, *S]), forward and backward.

use super::float::{check_float, dims3, finish, float_kernel};
use crate::{DType, Error, Result, Tensor};
use wrt_kernels::cpu::pool::{self as k, AdaptivePoolParams, PoolParams};

/// Pooling hyper-parameters; one-element lists apply to every spatial dim. `stride: None` = kernel (PyTorch).
#[derive(Clone, Debug, PartialEq)]
pub struct PoolSpec {
    pub kernel: Vec<usize>,
    pub stride: Option<Vec<usize>>,
    pub padding: Vec<usize>,
    pub dilation: Vec<usize>,
    pub ceil_mode: bool,
    pub count_include_pad: bool,
    pub divisor_override: Option<usize>,
}

impl PoolSpec {
    pub fn new(kernel: usize) -> PoolSpec {
        PoolSpec { kernel: vec![kernel], stride: None, padding: vec![0], dilation: vec![1], ceil_mode: false, count_include_pad: true, divisor_override: None }
    }
    pub fn stride(mut self, s: usize) -> PoolSpec {
        self.stride = Some(vec![s]);
        self
    }
    pub fn padding(mut self, p: usize) -> PoolSpec {
        self.padding = vec![p];
        self
    }
}

fn spatial_rank(op: &'static str, x: &Tensor) -> Result<usize> {
    let sd = x.rank().wrapping_sub(2);
    if !(1..=3).contains(&sd) {
        return Err(Error::BadShape { op, shape: x.shape().to_vec(), expected: "[N, C, *spatial] with 1 to 3 spatial dims".into() });
    }
    Ok(sd)
}

fn in_dims(shape: &[usize]) -> [usize; 3] {
    let mut d = [1; 3];
    d[3 - (shape.len() - 2)..].copy_from_slice(&shape[2..]);
    d
}

fn params(op: &'static str, shape: &[usize], s: &PoolSpec) -> Result<PoolParams> {
    let sd = shape.len() - 2;
    let kernel = dims3(op, "kernel_size", &s.kernel, sd, 1)?;
    let p = PoolParams {
        stride: match &s.stride {
            Some(st) => dims3(op, "stride", st, sd, 1)?,
            None => kernel,
        },
        padding: dims3(op, "padding", &s.padding, sd, 0)?,
        dilation: dims3(op, "dilation", &s.dilation, sd, 1)?,
        ceil_mode: s.ceil_mode,
        count_include_pad: s.count_include_pad,
        divisor_override: s.divisor_override,
        ..PoolParams::new(shape[0], shape[1], in_dims(shape), kernel)
    };
    for a in 0..3 {
        let (i, kk, st, pd, d) = (p.in_dims[a], p.kernel[a], p.stride[a], p.padding[a], p.dilation[a]);
        if kk == 0 || st == 0 || d == 0 {
            return Err(Error::InvalidArgument { op, msg: "kernel_size, stride and dilation must be positive".into() });
        }
        if 2 * pd > kk {
            return Err(Error::InvalidArgument { op, msg: format!("padding {pd} should be at most half of kernel size {kk}") });
        }
        if i + 2 * pd < d * (kk - 1) + 1 {
            return Err(Error::BadShape { op, shape: shape.to_vec(), expected: format!("a padded input at least as large as the (dilated) window {}", d * (kk - 1) + 1) });
        }
    }
    if p.divisor_override == Some(0) {
        return Err(Error::InvalidArgument { op, msg: "divisor_override must be positive".into() });
    }
    Ok(p)
}

fn out_shape(shape: &[usize], dims: [usize; 3]) -> Vec<usize> {
    let sd = shape.len() - 2;
    let mut s = shape[..2].to_vec();
    s.extend_from_slice(&dims[3 - sd..]);
    s
}

impl Tensor {
    /// Max pooling: (values, indices into each (n, c) input plane, as PyTorch's return_indices).
    pub fn max_pool(&self, spec: &PoolSpec) -> Result<(Tensor, Tensor)> {
        let op = "max_pool";
        spatial_rank(op, self)?;
        check_float(op, &[self])?;
        let p = params(op, self.shape(), spec)?;
        let shape = out_shape(self.shape(), p.out_dims());
        let dtype = self.dtype();
        float_kernel!(op, &[self], |v, T| {
            let mut out = vec![0 as T; p.out_len()];
            let mut idx = vec![0i64; p.out_len()];
            k::max_pool_forward(&mut out, &mut idx, v[0], &p);
            Ok((finish(out, &shape, dtype)?, Tensor::from_vec(idx, &shape)?))
        })
    }

    pub fn max_pool2d(&self, spec: &PoolSpec) -> Result<Tensor> {
        self.check_rank("max_pool2d", 4)?;
        Ok(self.max_pool(spec)?.0)
    }
    pub fn max_pool3d(&self, spec: &PoolSpec) -> Result<Tensor> {
        self.check_rank("max_pool3d", 5)?;
        Ok(self.max_pool(spec)?.0)
    }

    /// Gradient of max pooling: routes dout to the argmax positions.
    pub fn max_pool_backward(dout: &Tensor, indices: &Tensor, input_shape: &[usize], spec: &PoolSpec) -> Result<Tensor> {
        let op = "max_pool_backward";
        let p = params(op, input_shape, spec)?;
        let want = out_shape(input_shape, p.out_dims());
        if dout.shape() != want.as_slice() || indices.shape() != want.as_slice() || indices.dtype() != DType::I64 {
            return Err(Error::ShapeMismatch { op, lhs: want, rhs: dout.shape().to_vec(), expected: "dout and int64 indices of the pooled shape".into() });
        }
        check_float(op, &[dout])?;
        let idx = indices.contiguous()?;
        let idx = idx.data::<i64>()?;
        let plane: usize = p.in_dims.iter().product();
        if idx.iter().any(|&i| i < 0 || i as usize >= plane) {
            return Err(Error::InvalidArgument { op, msg: format!("indices must lie in [0, {plane})") });
        }
        let dtype = dout.dtype();
        float_kernel!(op, &[dout], |v, T| {
            let mut dx = vec![0 as T; p.in_len()];
            k::max_pool_backward(&mut dx, v[0], &idx, &p);
            finish(dx, input_shape, dtype)
        })
    }

    /// Average pooling (count_include_pad, ceil_mode, divisor_override as PyTorch).
    pub fn avg_pool(&self, spec: &PoolSpec) -> Result<Tensor> {
        let op = "avg_pool";
        spatial_rank(op, self)?;
        check_float(op, &[self])?;
        let p = params(op, self.shape(), spec)?;
        let shape = out_shape(self.shape(), p.out_dims());
        let dtype = self.dtype();
        float_kernel!(op, &[self], |v, T| {
            let mut out = vec![0 as T; p.out_len()];
            k::avg_pool_forward(&mut out, v[0], &p);
            finish(out, &shape, dtype)
        })
    }

    pub fn avg_pool2d(&self, spec: &PoolSpec) -> Result<Tensor> {
        self.check_rank("avg_pool2d", 4)?;
        self.avg_pool(spec)
    }
    pub fn avg_pool3d(&self, spec: &PoolSpec) -> Result<Tensor> {
        self.check_rank("avg_pool3d", 5)?;
        self.avg_pool(spec)
    }

    pub fn avg_pool_backward(dout: &Tensor, input_shape: &[usize], spec: &PoolSpec) -> Result<Tensor> {
        let op = "avg_pool_backward";
        let p = params(op, input_shape, spec)?;
        let want = out_shape(input_shape, p.out_dims());
        if dout.shape() != want.as_slice() {
            return Err(Error::ShapeMismatch { op, lhs: want, rhs: dout.shape().to_vec(), expected: "dout of the pooled shape".into() });
        }
        check_float(op, &[dout])?;
        let dtype = dout.dtype();
        float_kernel!(op, &[dout], |v, T| {
            let mut dx = vec![0 as T; p.in_len()];
            k::avg_pool_backward(&mut dx, v[0], &p);
            finish(dx, input_shape, dtype)
        })
    }

    /// Adaptive average pooling to `out_size` (one value per spatial dim, or one for all).
    pub fn adaptive_avg_pool(&self, out_size: &[usize]) -> Result<Tensor> {
        let op = "adaptive_avg_pool";
        let sd = spatial_rank(op, self)?;
        check_float(op, &[self])?;
        let out_dims = dims3(op, "output_size", out_size, sd, 1)?;
        if out_dims.contains(&0) || in_dims(self.shape()).contains(&0) {
            return Err(Error::InvalidArgument { op, msg: "input and output sizes must be positive".into() });
        }
        let p = AdaptivePoolParams { n: self.shape()[0], c: self.shape()[1], in_dims: in_dims(self.shape()), out_dims };
        let shape = out_shape(self.shape(), out_dims);
        let dtype = self.dtype();
        float_kernel!(op, &[self], |v, T| {
            let mut out = vec![0 as T; p.out_len()];
            k::adaptive_avg_pool_forward(&mut out, v[0], &p);
            finish(out, &shape, dtype)
        })
    }

    pub fn adaptive_avg_pool_backward(dout: &Tensor, input_shape: &[usize]) -> Result<Tensor> {
        let op = "adaptive_avg_pool_backward";
        if input_shape.len() != dout.rank() || input_shape.len() < 3 || input_shape[..2] != dout.shape()[..2] {
            return Err(Error::ShapeMismatch { op, lhs: input_shape.to_vec(), rhs: dout.shape().to_vec(), expected: "dout [N, C, *out] matching the input's N, C".into() });
        }
        check_float(op, &[dout])?;
        let p = AdaptivePoolParams { n: input_shape[0], c: input_shape[1], in_dims: in_dims(input_shape), out_dims: in_dims(dout.shape()) };
        let dtype = dout.dtype();
        float_kernel!(op, &[dout], |v, T| {
            let mut dx = vec![0 as T; p.in_len()];
            k::adaptive_avg_pool_backward(&mut dx, v[0], &p);
            finish(dx, input_shape, dtype)
        })
    }
}
