//! Views (no data moves forward). Backward of a view that drops elements (narrow, slice, select) writes
//! the gradient into a zero tensor of the input's shape through the same view.

use super::sum_to;
use crate::{Result, Var};
use wrt_tensor::Tensor;

/// Zeros shaped like the input with `g` written through `view` of it.
fn scatter_view(shape: &[usize], g: &Tensor, view: impl Fn(&Tensor) -> wrt_tensor::Result<Tensor>) -> Result<Tensor> {
    let z = Tensor::zeros(shape, g.dtype())?;
    view(&z)?.copy_(g)?;
    Ok(z)
}

impl Var {
    /// `reshape` (a view when possible, else a copy); gradient reshaped back.
    pub fn reshape(&self, shape: &[isize]) -> Result<Var> {
        let s = self.shape().to_vec();
        let y = self.value().reshape(shape)?;
        Ok(Var::from_op("reshape", y, &[self], move |g| Ok(vec![Some(g.reshape_to(&s)?)])))
    }

    pub fn reshape_to(&self, shape: &[usize]) -> Result<Var> {
        self.reshape(&shape.iter().map(|&x| x as isize).collect::<Vec<_>>())
    }

    pub fn flatten(&self, start: isize, end: isize) -> Result<Var> {
        let s = self.shape().to_vec();
        let y = self.value().flatten(start, end)?;
        Ok(Var::from_op("flatten", y, &[self], move |g| Ok(vec![Some(g.reshape_to(&s)?)])))
    }

    pub fn permute(&self, dims: &[isize]) -> Result<Var> {
        let y = self.value().permute(dims)?;
        let r = dims.len();
        let mut inv = vec![0isize; r];
        for (i, &d) in dims.iter().enumerate() {
            inv[wrt_tensor::layout::norm_dim("permute", d, r)?] = i as isize;
        }
        Ok(Var::from_op("permute", y, &[self], move |g| Ok(vec![Some(g.permute(&inv)?)])))
    }

    pub fn transpose(&self, a: isize, b: isize) -> Result<Var> {
        let y = self.value().transpose(a, b)?;
        Ok(Var::from_op("transpose", y, &[self], move |g| Ok(vec![Some(g.transpose(a, b)?)])))
    }

    /// Transpose of the last two dims.
    pub fn t(&self) -> Result<Var> {
        self.transpose(-2, -1)
    }

    pub fn narrow(&self, dim: isize, start: usize, len: usize) -> Result<Var> {
        let s = self.shape().to_vec();
        let y = self.value().narrow(dim, start, len)?;
        Ok(Var::from_op("narrow", y, &[self], move |g| Ok(vec![Some(scatter_view(&s, g, |z| z.narrow(dim, start, len))?)])))
    }

    /// Python slicing `x[start:end:step]` along `dim`.
    pub fn slice(&self, dim: isize, start: isize, end: isize, step: usize) -> Result<Var> {
        let s = self.shape().to_vec();
        let y = self.value().slice(dim, start, end, step)?;
        Ok(Var::from_op("slice", y, &[self], move |g| Ok(vec![Some(scatter_view(&s, g, |z| z.slice(dim, start, end, step))?)])))
    }

    pub fn select(&self, dim: isize, i: usize) -> Result<Var> {
        let s = self.shape().to_vec();
        let y = self.value().select(dim, i)?;
        Ok(Var::from_op("select", y, &[self], move |g| Ok(vec![Some(scatter_view(&s, g, |z| z.select(dim, i))?)])))
    }

    pub fn squeeze(&self, dims: &[isize]) -> Result<Var> {
        let s = self.shape().to_vec();
        let y = self.value().squeeze(dims)?;
        Ok(Var::from_op("squeeze", y, &[self], move |g| Ok(vec![Some(g.reshape_to(&s)?)])))
    }

    pub fn unsqueeze(&self, dim: isize) -> Result<Var> {
        let s = self.shape().to_vec();
        let y = self.value().unsqueeze(dim)?;
        Ok(Var::from_op("unsqueeze", y, &[self], move |g| Ok(vec![Some(g.reshape_to(&s)?)])))
    }

    /// Broadcast to `shape`; gradient summed back.
    pub fn broadcast_to(&self, shape: &[usize]) -> Result<Var> {
        let s = self.shape().to_vec();
        let y = self.value().broadcast_to(shape)?;
        Ok(Var::from_op("broadcast_to", y, &[self], move |g| Ok(vec![Some(sum_to(g, &s)?)])))
    }

    pub fn expand(&self, sizes: &[isize]) -> Result<Var> {
        let s = self.shape().to_vec();
        let y = self.value().expand(sizes)?;
        Ok(Var::from_op("expand", y, &[self], move |g| Ok(vec![Some(sum_to(g, &s)?)])))
    }

    /// A contiguous copy when needed (identity for gradients).
    pub fn contiguous(&self) -> Result<Var> {
        let y = self.value().contiguous()?;
        Ok(Var::from_op("contiguous", y, &[self], move |g| Ok(vec![Some(g.clone())])))
    }

    /// Pieces of `size` along `dim` (views).
    pub fn split(&self, size: usize, dim: isize) -> Result<Vec<Var>> {
        let n = self.value().size(dim)?;
        let mut out = Vec::new();
        let mut start = 0;
        while start < n {
            let len = size.min(n - start);
            out.push(self.narrow(dim, start, len)?);
            start += len;
        }
        Ok(out)
    }

    /// `chunks` pieces along `dim` (`torch.chunk`).
    pub fn chunk(&self, chunks: usize, dim: isize) -> Result<Vec<Var>> {
        let n = self.value().size(dim)?;
        if chunks == 0 {
            return Err(wrt_tensor::Error::InvalidArgument { op: "chunk", msg: "chunks must be positive".into() }.into());
        }
        self.split(n.div_ceil(chunks).max(1), dim)
    }
}
