//! Integer indexing: index_select, embedding, gather, scatter_add, index_add. Each backward is the
//! adjoint scatter or gather with the same (I64) indices, which are the only thing saved; repeated
//! indices accumulate.

use crate::{Result, Var};
use wrt_tensor::Tensor;

/// `t` (shaped like an index, no larger than `shape` in any dim) written into the leading corner of zeros
/// of `shape`: the gradient of a source that the index covers only partly.
fn into_corner(t: Tensor, shape: &[usize]) -> Result<Tensor> {
    if t.shape() == shape {
        return Ok(t);
    }
    let z = Tensor::zeros(shape, t.dtype())?;
    let mut view = z.clone();
    for (d, &n) in t.shape().iter().enumerate() {
        view = view.narrow(d as isize, 0, n)?;
    }
    view.copy_(&t)?;
    Ok(z)
}

impl Var {
    /// Entries `idx` (1-D I64) along `dim`; gradient: `index_add` of g into zeros.
    pub fn index_select(&self, dim: isize, idx: &Tensor) -> Result<Var> {
        let shape = self.shape().to_vec();
        let y = self.value().index_select(dim, idx)?;
        let idx = idx.clone();
        Ok(Var::from_op("index_select", y, &[self], move |g| {
            Ok(vec![Some(Tensor::zeros(&shape, g.dtype())?.index_add(dim, &idx, g)?)])
        }))
    }

    /// `weight[ids]` ([V, D] weight, any-shaped I64 ids -> `ids.shape + [D]`). The row `padding_idx` gets
    /// no gradient (nn.Embedding's padding_idx).
    pub fn embedding(weight: &Var, ids: &Tensor, padding_idx: Option<usize>) -> Result<Var> {
        let wshape = weight.shape().to_vec();
        let y = Tensor::embedding(weight.value(), ids)?;
        let flat = ids.flatten(0, -1)?;
        Ok(Var::from_op("embedding", y, &[weight], move |g| {
            let rows = g.reshape_to(&[flat.numel(), wshape[1]])?;
            let dw = Tensor::zeros(&wshape, g.dtype())?.index_add(0, &flat, &rows)?;
            if let Some(p) = padding_idx.filter(|&p| p < wshape[0]) {
                dw.narrow(0, p, 1)?.copy_(&Tensor::zeros(&[1, wshape[1]], g.dtype())?)?;
            }
            Ok(vec![Some(dw)])
        }))
    }

    /// `out[p] = self[p with dim replaced by idx[p]]`; gradient: `scatter_add` of g into zeros.
    pub fn gather(&self, dim: isize, idx: &Tensor) -> Result<Var> {
        let shape = self.shape().to_vec();
        let y = self.value().gather(dim, idx)?;
        let idx = idx.clone();
        Ok(Var::from_op("gather", y, &[self], move |g| {
            Ok(vec![Some(Tensor::zeros(&shape, g.dtype())?.scatter_add(dim, &idx, g)?)])
        }))
    }

    /// Out-of-place `scatter_add`; gradients: self <- g, src <- g gathered at idx (zero where src lies
    /// outside the index's extent).
    pub fn scatter_add(&self, dim: isize, idx: &Tensor, src: &Var) -> Result<Var> {
        let src_shape = src.shape().to_vec();
        let y = self.value().scatter_add(dim, idx, src.value())?;
        let idx = idx.clone();
        let rs = src.requires_grad();
        Ok(Var::from_op("scatter_add", y, &[self, src], move |g| {
            let gs = if rs { Some(into_corner(g.gather(dim, &idx)?, &src_shape)?) } else { None };
            Ok(vec![Some(g.clone()), gs])
        }))
    }

    /// Out-of-place `index_add` along `dim`; gradients: self <- g, src <- g selected at idx.
    pub fn index_add(&self, dim: isize, idx: &Tensor, src: &Var) -> Result<Var> {
        let y = self.value().index_add(dim, idx, src.value())?;
        let idx = idx.clone();
        let rs = src.requires_grad();
        Ok(Var::from_op("index_add", y, &[self, src], move |g| {
            let gs = if rs { Some(g.index_select(dim, &idx)?) } else { None };
            Ok(vec![Some(g.clone()), gs])
        }))
    }
}
