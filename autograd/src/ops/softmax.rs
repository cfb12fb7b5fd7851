//! softmax / log_softmax over any dim with the fused tensor kernels. Both backward rules need only the
//! output: softmax dx = y (g - sum(g y)), log_softmax dx = g - exp(y) sum(g).

use crate::{Result, Var};
use wrt_tensor::Tensor;

impl Var {
    pub fn softmax(&self, dim: isize) -> Result<Var> {
        let y = self.value().softmax(dim)?;
        let yc = y.clone();
        Ok(Var::from_op("softmax", y, &[self], move |g| Ok(vec![Some(Tensor::softmax_backward(&yc, g, dim)?)])))
    }

    pub fn log_softmax(&self, dim: isize) -> Result<Var> {
        let y = self.value().log_softmax(dim)?;
        let yc = y.clone();
        Ok(Var::from_op("log_softmax", y, &[self], move |g| Ok(vec![Some(Tensor::log_softmax_backward(&yc, g, dim)?)])))
    }
}
