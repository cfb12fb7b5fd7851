//! Convolutions (1-D/2-D/3-D, stride, padding, dilation, groups) and transposed convolutions, forward and
//! backward. Every conv is run as a 3-D conv with leading unit spatial dims by the im2col+GEMM kernels of
//! `wrt_kernels::cpu::conv`; this file validates shapes and converts dtypes (half types compute in f32).

use super::float::{check_float, dims3, finish, float_kernel};
use crate::{Error, Result, Tensor};
use wrt_kernels::cpu::conv::{self as k, ConvParams, ConvTransposeParams};

/// Hyper-parameters of a (transposed) convolution. A one-element list applies to every spatial dim.
#[derive(Clone, Debug, PartialEq)]
pub struct ConvSpec {
    pub stride: Vec<usize>,
    pub padding: Vec<usize>,
    pub dilation: Vec<usize>,
    pub groups: usize,
    /// Transposed convolutions only.
    pub output_padding: Vec<usize>,
}

impl Default for ConvSpec {
    fn default() -> Self {
        ConvSpec { stride: vec![1], padding: vec![0], dilation: vec![1], groups: 1, output_padding: vec![0] }
    }
}

impl ConvSpec {
    pub fn new(stride: usize, padding: usize) -> ConvSpec {
        ConvSpec { stride: vec![stride], padding: vec![padding], ..Default::default() }
    }
    pub fn groups(mut self, g: usize) -> ConvSpec {
        self.groups = g;
        self
    }
    pub fn dilation(mut self, d: usize) -> ConvSpec {
        self.dilation = vec![d];
        self
    }
}

fn spatial(t: &Tensor) -> [usize; 3] {
    let mut d = [1; 3];
    let s = &t.shape()[2..];
    d[3 - s.len()..].copy_from_slice(s);
    d
}

/// Validate input/weight and build kernel params.
fn conv_params(op: &'static str, x: &Tensor, w: &Tensor, s: &ConvSpec) -> Result<ConvParams> {
    let sd = x.rank().wrapping_sub(2);
    if !(1..=3).contains(&sd) || w.rank() != x.rank() {
        return Err(Error::ShapeMismatch { op, lhs: x.shape().to_vec(), rhs: w.shape().to_vec(), expected: "input [N, C, *spatial] and weight [C_out, C_in/groups, *kernel] with 1 to 3 spatial dims".into() });
    }
    let (n, c_in, c_out, g) = (x.shape()[0], x.shape()[1], w.shape()[0], s.groups);
    if g == 0 || c_in % g != 0 || c_out % g != 0 || w.shape()[1] * g != c_in {
        return Err(Error::ShapeMismatch { op, lhs: x.shape().to_vec(), rhs: w.shape().to_vec(), expected: format!("weight [C_out, C_in/groups = {}/{g}, ...] with C_in and C_out divisible by groups", c_in) });
    }
    let p = ConvParams {
        groups: g,
        stride: dims3(op, "stride", &s.stride, sd, 1)?,
        padding: dims3(op, "padding", &s.padding, sd, 0)?,
        dilation: dims3(op, "dilation", &s.dilation, sd, 1)?,
        ..ConvParams::new(n, c_in, c_out, spatial(x), spatial(w))
    };
    if p.stride.contains(&0) || p.dilation.contains(&0) {
        return Err(Error::InvalidArgument { op, msg: "stride and dilation must be positive".into() });
    }
    for i in 0..3 {
        let span = p.dilation[i] * (p.kernel[i] - 1) + 1;
        if p.in_dims[i] + 2 * p.padding[i] < span {
            return Err(Error::ShapeMismatch { op, lhs: x.shape().to_vec(), rhs: w.shape().to_vec(), expected: format!("a padded input at least as large as the dilated kernel ({span}) in every spatial dim") });
        }
    }
    Ok(p)
}

fn out_shape(n: usize, c: usize, dims: [usize; 3], sd: usize) -> Vec<usize> {
    let mut s = vec![n, c];
    s.extend_from_slice(&dims[3 - sd..]);
    s
}

impl Tensor {
    /// N-d convolution (`F.conv1d/2d/3d` by input rank): input [N, C_in, *S], weight [C_out, C_in/g, *K].
    pub fn conv(&self, weight: &Tensor, bias: Option<&Tensor>, spec: &ConvSpec) -> Result<Tensor> {
        let op = "conv";
        let p = conv_params(op, self, weight, spec)?;
        if let Some(b) = bias {
            if b.shape() != [p.c_out] {
                return Err(Error::ShapeMismatch { op, lhs: weight.shape().to_vec(), rhs: b.shape().to_vec(), expected: format!("bias of shape [{}]", p.c_out) });
            }
        }
        let mut ts = vec![self, weight];
        ts.extend(bias);
        check_float(op, &ts)?;
        let shape = out_shape(p.n, p.c_out, p.out_dims(), self.rank() - 2);
        let dtype = self.dtype();
        float_kernel!(op, &ts, |v, T| {
            let mut out = vec![0 as T; p.out_len()];
            k::conv_forward(&mut out, v[0], v[1], v.get(2).copied(), &p);
            finish(out, &shape, dtype)
        })
    }

    pub fn conv1d(&self, w: &Tensor, b: Option<&Tensor>, spec: &ConvSpec) -> Result<Tensor> {
        self.check_rank("conv1d", 3)?;
        self.conv(w, b, spec)
    }
    pub fn conv2d(&self, w: &Tensor, b: Option<&Tensor>, spec: &ConvSpec) -> Result<Tensor> {
        self.check_rank("conv2d", 4)?;
        self.conv(w, b, spec)
    }
    pub fn conv3d(&self, w: &Tensor, b: Option<&Tensor>, spec: &ConvSpec) -> Result<Tensor> {
        self.check_rank("conv3d", 5)?;
        self.conv(w, b, spec)
    }

    pub(crate) fn check_rank(&self, op: &'static str, rank: usize) -> Result<()> {
        if self.rank() != rank {
            return Err(Error::BadShape { op, shape: self.shape().to_vec(), expected: format!("rank {rank}") });
        }
        Ok(())
    }

    /// Gradients of `conv`: (d input, d weight, d bias if `with_bias`), given d output.
    pub fn conv_backward(dout: &Tensor, input: &Tensor, weight: &Tensor, spec: &ConvSpec, with_bias: bool) -> Result<(Tensor, Tensor, Option<Tensor>)> {
        let op = "conv_backward";
        let p = conv_params(op, input, weight, spec)?;
        check_float(op, &[input, weight, dout])?;
        let (xs, ws, dtype) = (input.shape().to_vec(), weight.shape().to_vec(), input.dtype());
        float_kernel!(op, &[input, weight, dout], |v, T| {
            let (x, w, g) = (v[0], v[1], v[2]);
            let mut dx = vec![0 as T; p.in_len()];
            k::conv_backward_input(&mut dx, g, w, &p);
            let mut dw = vec![0 as T; p.weight_len()];
            let mut db = vec![0 as T; if with_bias { p.c_out } else { 0 }];
            k::conv_backward_weight(&mut dw, with_bias.then_some(db.as_mut_slice()), g, x, &p);
            let db = if with_bias { Some(finish(db, &[p.c_out], dtype)?) } else { None };
            Ok((finish(dx, &xs, dtype)?, finish(dw, &ws, dtype)?, db))
        })
    }

    /// Transposed convolution (`F.conv_transpose1d/2d/3d`): weight [C_in, C_out/g, *K].
    pub fn conv_transpose(&self, weight: &Tensor, bias: Option<&Tensor>, spec: &ConvSpec) -> Result<Tensor> {
        let op = "conv_transpose";
        let p = transpose_params(op, self, weight, spec)?;
        if let Some(b) = bias {
            if b.shape() != [p.c_out] {
                return Err(Error::ShapeMismatch { op, lhs: weight.shape().to_vec(), rhs: b.shape().to_vec(), expected: format!("bias of shape [{}]", p.c_out) });
            }
        }
        let mut ts = vec![self, weight];
        ts.extend(bias);
        check_float(op, &ts)?;
        let shape = out_shape(p.n, p.c_out, p.out_dims(), self.rank() - 2);
        let dtype = self.dtype();
        float_kernel!(op, &ts, |v, T| {
            let mut out = vec![0 as T; p.out_len()];
            k::conv_transpose_forward(&mut out, v[0], v[1], v.get(2).copied(), &p);
            finish(out, &shape, dtype)
        })
    }

    pub fn conv_transpose2d(&self, w: &Tensor, b: Option<&Tensor>, spec: &ConvSpec) -> Result<Tensor> {
        self.check_rank("conv_transpose2d", 4)?;
        self.conv_transpose(w, b, spec)
    }
    pub fn conv_transpose3d(&self, w: &Tensor, b: Option<&Tensor>, spec: &ConvSpec) -> Result<Tensor> {
        self.check_rank("conv_transpose3d", 5)?;
        self.conv_transpose(w, b, spec)
    }

    /// Gradients of `conv_transpose`: (d input, d weight, d bias if `with_bias`).
    pub fn conv_transpose_backward(dout: &Tensor, input: &Tensor, weight: &Tensor, spec: &ConvSpec, with_bias: bool) -> Result<(Tensor, Tensor, Option<Tensor>)> {
        let op = "conv_transpose_backward";
        let p = transpose_params(op, input, weight, spec)?;
        check_float(op, &[input, weight, dout])?;
        let (xs, ws, dtype) = (input.shape().to_vec(), weight.shape().to_vec(), input.dtype());
        float_kernel!(op, &[input, weight, dout], |v, T| {
            let (x, w, g) = (v[0], v[1], v[2]);
            let mut dx = vec![0 as T; p.in_len()];
            k::conv_transpose_backward_input(&mut dx, g, w, &p);
            let mut dw = vec![0 as T; p.weight_len()];
            let mut db = vec![0 as T; if with_bias { p.c_out } else { 0 }];
            k::conv_transpose_backward_weight(&mut dw, with_bias.then_some(db.as_mut_slice()), g, x, &p);
            let db = if with_bias { Some(finish(db, &[p.c_out], dtype)?) } else { None };
            Ok((finish(dx, &xs, dtype)?, finish(dw, &ws, dtype)?, db))
        })
    }
}

fn transpose_params(op: &'static str, x: &Tensor, w: &Tensor, s: &ConvSpec) -> Result<ConvTransposeParams> {
    let sd = x.rank().wrapping_sub(2);
    if !(1..=3).contains(&sd) || w.rank() != x.rank() {
        return Err(Error::ShapeMismatch { op, lhs: x.shape().to_vec(), rhs: w.shape().to_vec(), expected: "input [N, C_in, *spatial] and weight [C_in, C_out/groups, *kernel]".into() });
    }
    let g = s.groups;
    let (n, c_in) = (x.shape()[0], x.shape()[1]);
    if g == 0 || w.shape()[0] != c_in || c_in % g != 0 {
        return Err(Error::ShapeMismatch { op, lhs: x.shape().to_vec(), rhs: w.shape().to_vec(), expected: format!("weight [C_in = {c_in}, C_out/groups, ...] with C_in divisible by groups {g}") });
    }
    let p = ConvTransposeParams {
        groups: g,
        stride: dims3(op, "stride", &s.stride, sd, 1)?,
        padding: dims3(op, "padding", &s.padding, sd, 0)?,
        dilation: dims3(op, "dilation", &s.dilation, sd, 1)?,
        output_padding: dims3(op, "output_padding", &s.output_padding, sd, 0)?,
        ..ConvTransposeParams::new(n, c_in, w.shape()[1] * g, spatial(x), spatial(w))
    };
    for i in 0..3 {
        if p.stride[i] == 0 || p.dilation[i] == 0 {
            return Err(Error::InvalidArgument { op, msg: "stride and dilation must be positive".into() });
        }
        if p.output_padding[i] >= p.stride[i].max(p.dilation[i]) {
            return Err(Error::InvalidArgument { op, msg: "output_padding must be smaller than stride or dilation".into() });
        }
        let full = (p.in_dims[i].max(1) - 1) * p.stride[i] + p.dilation[i] * (p.kernel[i] - 1) + p.output_padding[i] + 1;
        if full <= 2 * p.padding[i] {
            return Err(Error::InvalidArgument { op, msg: format!("padding {} leaves no output", p.padding[i]) });
        }
    }
    Ok(p)
}
