//! Ops that build a new layout: cat/stack, pad, roll, tril/triu. Their backward moves g back to where each
//! element came from; where several outputs read one input (reflect/replicate padding) the pieces are summed.

use crate::{Error, Result, Var};
use wrt_tensor::layout::norm_dim;
use wrt_tensor::ops::PadMode;
use wrt_tensor::Tensor;

/// For one padded dim of size `n` with (l, r) padding: the source index of every output position.
fn pad_sources(n: usize, l: usize, r: usize, mode: PadMode) -> Vec<i64> {
    let n = n as i64;
    (0..n + (l + r) as i64)
        .map(|i| {
            let j = i - l as i64;
            match mode {
                PadMode::Reflect if j < 0 => -j,
                PadMode::Reflect if j >= n => 2 * (n - 1) - j,
                _ => j.clamp(0, n - 1),
            }
        })
        .collect()
}

impl Var {
    /// Concatenate along `dim`; each input's gradient is its slice of g.
    pub fn cat(vars: &[Var], dim: isize) -> Result<Var> {
        let values: Vec<Tensor> = vars.iter().map(|v| v.value().clone()).collect();
        let y = Tensor::cat(&values, dim)?;
        let d = norm_dim("cat", dim, y.rank())?;
        let sizes: Vec<usize> = vars.iter().map(|v| v.shape()[d]).collect();
        let wants: Vec<bool> = vars.iter().map(|v| v.requires_grad()).collect();
        let parents: Vec<&Var> = vars.iter().collect();
        Ok(Var::from_op("cat", y, &parents, move |g| {
            let mut start = 0;
            let mut out = Vec::with_capacity(sizes.len());
            for (&n, &want) in sizes.iter().zip(&wants) {
                out.push(if want { Some(g.narrow(d as isize, start, n)?) } else { None });
                start += n;
            }
            Ok(out)
        }))
    }

    /// Stack equal-shaped vars along a new dim (unsqueeze + cat: no rule of its own).
    pub fn stack(vars: &[Var], dim: isize) -> Result<Var> {
        let first = vars.first().ok_or_else(|| Error::Tensor(wrt_tensor::Error::InvalidArgument { op: "stack", msg: "no tensors given".into() }))?;
        let d = norm_dim("stack", dim, first.rank() + 1)? as isize;
        for v in vars {
            if v.shape() != first.shape() {
                return Err(wrt_tensor::Error::ShapeMismatch { op: "stack", lhs: first.shape().to_vec(), rhs: v.shape().to_vec(), expected: "equal shapes".into() }.into());
            }
        }
        let parts: Vec<Var> = vars.iter().map(|v| v.unsqueeze(d)).collect::<Result<_>>()?;
        Var::cat(&parts, d)
    }

    /// `F.pad` (`pads` = (left, right) pairs from the last dim). Backward: the interior of g for constant
    /// padding; for reflect/replicate, g folded back onto its source positions with `index_add`, dim by dim.
    pub fn pad(&self, pads: &[usize], mode: PadMode) -> Result<Var> {
        let shape = self.shape().to_vec();
        let y = self.value().pad(pads, mode)?;
        let rank = shape.len();
        // (dim, left, right) of every padded dim
        let padded: Vec<(usize, usize, usize)> =
            pads.chunks(2).enumerate().map(|(p, lr)| (rank - 1 - p, lr[0], lr[1])).filter(|&(_, l, r)| l + r > 0).collect();
        Ok(Var::from_op("pad", y, &[self], move |g| {
            let mut cur = g.clone();
            for &(d, l, r) in &padded {
                let n = shape[d];
                cur = match mode {
                    PadMode::Constant(_) => cur.narrow(d as isize, l, n)?,
                    _ => {
                        let src = Tensor::from_vec(pad_sources(n, l, r, mode), &[n + l + r])?;
                        let mut s = cur.shape().to_vec();
                        s[d] = n;
                        Tensor::zeros(&s, g.dtype())?.index_add(d as isize, &src, &cur)?
                    }
                };
            }
            Ok(vec![Some(cur)])
        }))
    }

    /// `torch.roll`; backward rolls g back by the negated shifts.
    pub fn roll(&self, shifts: &[isize], dims: &[isize]) -> Result<Var> {
        let y = self.value().roll(shifts, dims)?;
        let back: Vec<isize> = shifts.iter().map(|s| -s).collect();
        let dims = dims.to_vec();
        Ok(Var::from_op("roll", y, &[self], move |g| Ok(vec![Some(g.roll(&back, &dims)?)])))
    }

    /// Lower triangle (col - row <= k) of the last two dims; the gradient is masked the same way.
    pub fn tril(&self, k: isize) -> Result<Var> {
        let y = self.value().tril(k)?;
        Ok(Var::from_op("tril", y, &[self], move |g| Ok(vec![Some(g.tril(k)?)])))
    }

    /// Upper triangle (col - row >= k) of the last two dims.
    pub fn triu(&self, k: isize) -> Result<Var> {
        let y = self.value().triu(k)?;
        Ok(Var::from_op("triu", y, &[self], move |g| Ok(vec![Some(g.triu(k)?)])))
    }
}
