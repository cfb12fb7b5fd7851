//! Seedable, serialisable random streams for tensors. A `Generator` is a Philox4x32-10 counter state
//! (seed, offset): every fill consumes a documented number of 128-bit blocks (see docs/rng.md), so values
//! never depend on the thread count and a checkpoint that stores (seed, offset) resumes the exact stream.

use crate::{DType, Error, Result, Tensor};
use std::sync::Mutex;
use wrt_kernels::rng::{self as k, RngState};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Generator {
    state: RngState,
}

static DEFAULT: Mutex<Option<Generator>> = Mutex::new(None);

impl Generator {
    pub fn new(seed: u64) -> Generator {
        Generator { state: RngState::new(seed) }
    }
    pub fn from_state(seed: u64, offset: u64) -> Generator {
        Generator { state: RngState { seed, offset } }
    }
    /// (seed, offset): everything needed to resume the stream.
    pub fn state(&self) -> (u64, u64) {
        (self.state.seed, self.state.offset)
    }

    /// Reseed the process-wide default generator (`torch.manual_seed`).
    pub fn manual_seed(seed: u64) {
        *DEFAULT.lock().expect("default generator lock poisoned") = Some(Generator::new(seed));
    }

    /// Run `f` with the process-wide default generator (seed 0 until `manual_seed`).
    pub fn with_default<R>(f: impl FnOnce(&mut Generator) -> R) -> R {
        let mut g = DEFAULT.lock().expect("default generator lock poisoned");
        f(g.get_or_insert_with(|| Generator::new(0)))
    }

    fn float_fill(&mut self, op: &'static str, shape: &[usize], dtype: DType, f32f: impl FnOnce(&mut [f32], RngState) -> RngState, f64f: impl FnOnce(&mut [f64], RngState) -> RngState) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        match dtype {
            DType::F64 => {
                let mut v = vec![0f64; n];
                self.state = f64f(&mut v, self.state);
                Tensor::from_vec(v, shape)
            }
            DType::F32 | DType::F16 | DType::BF16 => {
                let mut v = vec![0f32; n];
                self.state = f32f(&mut v, self.state);
                Tensor::from_vec(v, shape)?.to_dtype(dtype)
            }
            d => Err(Error::DType { op, got: d, expected: "a float dtype".into() }),
        }
    }

    /// Uniform on [low, high).
    pub fn uniform(&mut self, shape: &[usize], low: f64, high: f64, dtype: DType) -> Result<Tensor> {
        self.float_fill("rand", shape, dtype, |o, s| k::fill_uniform_f32(o, s, low as f32, high as f32), |o, s| k::fill_uniform_f64(o, s, low, high))
    }
    /// Uniform on [0, 1) (`torch.rand`).
    pub fn rand(&mut self, shape: &[usize], dtype: DType) -> Result<Tensor> {
        self.uniform(shape, 0.0, 1.0, dtype)
    }
    /// Normal(mean, std) (`torch.randn` with mean 0, std 1).
    pub fn normal(&mut self, shape: &[usize], mean: f64, std: f64, dtype: DType) -> Result<Tensor> {
        self.float_fill("randn", shape, dtype, |o, s| k::fill_normal_f32(o, s, mean as f32, std as f32), |o, s| k::fill_normal_f64(o, s, mean, std))
    }
    pub fn randn(&mut self, shape: &[usize], dtype: DType) -> Result<Tensor> {
        self.normal(shape, 0.0, 1.0, dtype)
    }
    /// Integers uniform on [low, high) as I64.
    pub fn randint(&mut self, shape: &[usize], low: i64, high: i64) -> Result<Tensor> {
        if high <= low {
            return Err(Error::InvalidArgument { op: "randint", msg: format!("empty range [{low}, {high})") });
        }
        let mut v = vec![0i64; shape.iter().product()];
        self.state = k::fill_randint_i64(&mut v, self.state, low, high);
        Tensor::from_vec(v, shape)
    }
    /// Bool tensor, true with probability p.
    pub fn bernoulli(&mut self, shape: &[usize], p: f64) -> Result<Tensor> {
        check_p("bernoulli", p)?;
        let mut v = vec![0u8; shape.iter().product()];
        self.state = k::fill_bernoulli_u8(&mut v, self.state, p);
        Ok(Tensor::from_vec(v, shape)?.retag(DType::Bool))
    }
    /// Dropout mask of 0 and 1/(1-p) (PyTorch's inverted dropout), in `dtype`.
    pub fn dropout_mask(&mut self, shape: &[usize], p: f64, dtype: DType) -> Result<Tensor> {
        check_p("dropout", p)?;
        let mut v = vec![0f32; shape.iter().product()];
        self.state = k::fill_dropout_mask_f32(&mut v, self.state, p);
        Tensor::from_vec(v, shape)?.to_dtype(dtype)
    }
    /// A random permutation of 0..n (Fisher-Yates on this stream), as I64.
    pub fn randperm(&mut self, n: usize) -> Result<Tensor> {
        let mut perm: Vec<i64> = (0..n as i64).collect();
        if n > 1 {
            let mut r = vec![0f64; n];
            self.state = k::fill_uniform_f64(&mut r, self.state, 0.0, 1.0);
            for i in (1..n).rev() {
                let j = ((r[i] * (i + 1) as f64) as usize).min(i);
                perm.swap(i, j);
            }
        }
        Tensor::from_vec(perm, &[n])
    }
}

fn check_p(op: &'static str, p: f64) -> Result<()> {
    if !(0.0..=1.0).contains(&p) {
        return Err(Error::InvalidArgument { op, msg: format!("probability {p} is outside [0, 1]") });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_resume() {
        let mut g = Generator::new(7);
        let a = g.randn(&[10], DType::F32).unwrap().to_vec::<f32>().unwrap();
        let (seed, off) = g.state();
        let b = g.rand(&[5], DType::F32).unwrap().to_vec::<f32>().unwrap();
        let mut h = Generator::new(7);
        assert_eq!(h.randn(&[10], DType::F32).unwrap().to_vec::<f32>().unwrap(), a);
        let mut r = Generator::from_state(seed, off);
        assert_eq!(r.rand(&[5], DType::F32).unwrap().to_vec::<f32>().unwrap(), b);
        let p = g.randperm(10).unwrap().to_vec::<i64>().unwrap();
        let mut s = p.clone();
        s.sort();
        assert_eq!(s, (0..10).collect::<Vec<_>>());
        assert!(g.bernoulli(&[3], 1.5).is_err());
    }
}
