//! Constructors: zeros/ones/full, arange/linspace, eye, and the *_like forms.

use crate::{with_type, storage_of, DType, Error, Result, Tensor, WithDType};

impl Tensor {
    /// A tensor of `shape` filled with `v` (converted to `dtype`).
    pub fn full(shape: &[usize], v: f64, dtype: DType) -> Result<Tensor> {
        let n = shape.iter().product();
        let s = with_type!(dtype, T => storage_of(vec![T::from_f64(v); n], dtype));
        Tensor::from_cpu_storage(s, shape)
    }
    pub fn zeros(shape: &[usize], dtype: DType) -> Result<Tensor> {
        Tensor::full(shape, 0.0, dtype)
    }
    pub fn ones(shape: &[usize], dtype: DType) -> Result<Tensor> {
        Tensor::full(shape, 1.0, dtype)
    }
    pub fn zeros_like(&self) -> Result<Tensor> {
        Tensor::zeros(self.shape(), self.dtype())
    }
    pub fn ones_like(&self) -> Result<Tensor> {
        Tensor::ones(self.shape(), self.dtype())
    }
    pub fn full_like(&self, v: f64) -> Result<Tensor> {
        Tensor::full(self.shape(), v, self.dtype())
    }

    /// `start, start+step, ...` below `end` (`torch.arange`); value i is computed as start + i*step.
    pub fn arange(start: f64, end: f64, step: f64, dtype: DType) -> Result<Tensor> {
        if step == 0.0 || !step.is_finite() || !start.is_finite() || !end.is_finite() {
            return Err(Error::InvalidArgument { op: "arange", msg: format!("invalid range start={start} end={end} step={step}") });
        }
        let n = ((end - start) / step).ceil().max(0.0) as usize;
        let s = with_type!(dtype, T => storage_of((0..n).map(|i| T::from_f64(start + i as f64 * step)).collect::<Vec<T>>(), dtype));
        Tensor::from_cpu_storage(s, &[n])
    }

    /// `steps` evenly spaced values from start to end inclusive (`torch.linspace`).
    pub fn linspace(start: f64, end: f64, steps: usize, dtype: DType) -> Result<Tensor> {
        let step = if steps > 1 { (end - start) / (steps - 1) as f64 } else { 0.0 };
        // PyTorch fills the second half from the end so that the last value is exactly `end`.
        let half = steps / 2;
        let s = with_type!(dtype, T => storage_of(
            (0..steps)
                .map(|i| T::from_f64(if i < half { start + step * i as f64 } else { end - step * (steps - 1 - i) as f64 }))
                .collect::<Vec<T>>(),
            dtype
        ));
        Tensor::from_cpu_storage(s, &[steps])
    }

    /// Identity matrix `[n, n]`.
    pub fn eye(n: usize, dtype: DType) -> Result<Tensor> {
        let s = with_type!(dtype, T => storage_of((0..n * n).map(|i| T::from_f64((i % (n + 1) == 0) as u8 as f64)).collect::<Vec<T>>(), dtype));
        Tensor::from_cpu_storage(s, &[n, n])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors() {
        assert_eq!(Tensor::arange(0.0, 5.0, 2.0, DType::I64).unwrap().to_vec::<i64>().unwrap(), vec![0, 2, 4]);
        assert_eq!(Tensor::linspace(0.0, 1.0, 5, DType::F32).unwrap().to_vec::<f32>().unwrap(), vec![0., 0.25, 0.5, 0.75, 1.]);
        assert_eq!(Tensor::eye(2, DType::F64).unwrap().to_vec::<f64>().unwrap(), vec![1., 0., 0., 1.]);
        assert_eq!(Tensor::ones(&[2], DType::Bool).unwrap().dtype(), DType::Bool);
        assert!(Tensor::arange(0.0, 1.0, 0.0, DType::F32).is_err());
    }
}
