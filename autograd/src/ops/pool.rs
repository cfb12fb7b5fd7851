//! Pooling over 1 to 3 spatial dims ([N, C, *S]). Max pooling saves only its argmax indices; the average
//! poolings save nothing but the input's shape.

use crate::{Result, Var};
use wrt_tensor::ops::PoolSpec;
use wrt_tensor::Tensor;

impl Var {
    /// Max pooling; the gradient goes to each window's argmax.
    pub fn max_pool(&self, spec: &PoolSpec) -> Result<Var> {
        Ok(self.max_pool_with_indices(spec)?.0)
    }

    /// Max pooling that also returns the argmax indices (per (n, c) plane, PyTorch's return_indices).
    pub fn max_pool_with_indices(&self, spec: &PoolSpec) -> Result<(Var, Tensor)> {
        let (y, idx) = self.value().max_pool(spec)?;
        let (shape, spec, saved) = (self.shape().to_vec(), spec.clone(), idx.clone());
        let out = Var::from_op("max_pool", y, &[self], move |g| Ok(vec![Some(Tensor::max_pool_backward(g, &saved, &shape, &spec)?)]));
        Ok((out, idx))
    }

    /// Average pooling (ceil_mode, count_include_pad, divisor_override as PyTorch).
    pub fn avg_pool(&self, spec: &PoolSpec) -> Result<Var> {
        let y = self.value().avg_pool(spec)?;
        let (shape, spec) = (self.shape().to_vec(), spec.clone());
        Ok(Var::from_op("avg_pool", y, &[self], move |g| Ok(vec![Some(Tensor::avg_pool_backward(g, &shape, &spec)?)])))
    }

    /// Adaptive average pooling to `out_size` (one value per spatial dim, or one for all).
    pub fn adaptive_avg_pool(&self, out_size: &[usize]) -> Result<Var> {
        let y = self.value().adaptive_avg_pool(out_size)?;
        let shape = self.shape().to_vec();
        Ok(Var::from_op("adaptive_avg_pool", y, &[self], move |g| Ok(vec![Some(Tensor::adaptive_avg_pool_backward(g, &shape)?)])))
    }
}
