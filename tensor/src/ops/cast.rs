//! dtype conversion. Float -> int truncates toward zero (saturating), anything -> bool is `x != 0`.

use crate::cpu::strided;
use crate::storage::CpuStorage;
use crate::{storage_of, with_type, DType, Layout, Result, Tensor, WithDType};
use half::{bf16, f16};
use wrt_kernels::cpu::convert::{round_one, Rounding};

fn convert<S: WithDType, D: WithDType>(src: &[S], l: &Layout, to: DType) -> CpuStorage {
    if to == DType::Bool {
        return CpuStorage::Bool(strided::map1(src, l, |x| (x.to_f64() != 0.0) as u8));
    }
    storage_of(strided::map1(src, l, |x| D::from_f64(x.to_f64())), to)
}

/// Cast a strided view into a new contiguous buffer of `to`.
pub(crate) fn cast_storage(s: &CpuStorage, l: &Layout, to: DType) -> CpuStorage {
    // Fast paths through f32 for the half types (a single rounding either way).
    match (s, to) {
        (CpuStorage::F32(v), DType::F16) => return CpuStorage::F16(strided::map1(v, l, f16::from_f32)),
        (CpuStorage::F32(v), DType::BF16) => return CpuStorage::BF16(strided::map1(v, l, bf16::from_f32)),
        (CpuStorage::F16(v), DType::F32) => return CpuStorage::F32(strided::map1(v, l, |x| x.to_f32())),
        (CpuStorage::BF16(v), DType::F32) => return CpuStorage::F32(strided::map1(v, l, |x| x.to_f32())),
        // One rounding, as PyTorch (through f64 would round twice above 2^53).
        (CpuStorage::I64(v), DType::F32) => return CpuStorage::F32(strided::map1(v, l, |x| x as f32)),
        _ => {}
    }
    with_type!(s.dtype(), S => {
        let src = S::slice(s).expect("dtype tag matches storage variant");
        with_type!(to, D => convert::<S, D>(src, l, to))
    })
}

impl Tensor {
    /// Convert to `dtype` (a no-op clone when the dtype already matches).
    pub fn to_dtype(&self, dtype: DType) -> Result<Tensor> {
        if dtype == self.dtype() {
            return Ok(self.clone());
        }
        let s = self.with_cpu(|s, l| cast_storage(s, l, dtype));
        Tensor::from_cpu_storage(s, self.shape())
    }
}

impl Tensor {
    /// An f32 tensor with every value rounded to `r` (bf16 or f16), kept in f32: the value a cast to
    /// that dtype and back gives, in one pass (autocast's rounding points on f32 storage).
    pub fn round_to(&self, r: Rounding) -> Result<Tensor> {
        let v = self.with_slice("round_to", |s: &[f32], l| strided::map1(s, l, |x| round_one(r, x)))?;
        Tensor::from_vec(v, self.shape())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounded_matmul_equals_the_low_precision_dtype_path() {
        // Autocast on f32 storage must give the very bits of the cast-multiply-cast chain.
        let a = Tensor::from_vec((0..3 * 37 * 50).map(|i| ((i * 7919 % 1000) as f32 / 300.0 - 1.6).sin()).collect(), &[3, 37, 50]).unwrap();
        let b = Tensor::from_vec((0..50 * 29).map(|i| ((i * 104729 % 997) as f32 / 97.0).cos()).collect(), &[50, 29]).unwrap();
        for (r, d) in [(Rounding::Bf16, DType::BF16), (Rounding::F16, DType::F16)] {
            let want = a.to_dtype(d).unwrap().matmul(&b.to_dtype(d).unwrap()).unwrap().to_dtype(DType::F32).unwrap();
            let got = a.matmul_rounded(&b, r).unwrap();
            let bits = |t: &Tensor| t.to_vec::<f32>().unwrap().iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&want), "{r:?}");
            let rt = a.round_to(r).unwrap();
            assert_eq!(bits(&rt), bits(&a.to_dtype(d).unwrap().to_dtype(DType::F32).unwrap()), "{r:?} round_to");
        }
    }

    #[test]
    fn casts_round_and_saturate() {
        let t = Tensor::from_vec(vec![1.5f32, -2.7, 0.0, 1e10], &[4]).unwrap();
        assert_eq!(t.to_dtype(DType::I64).unwrap().to_vec::<i64>().unwrap(), vec![1, -2, 0, 10_000_000_000]);
        assert_eq!(t.to_dtype(DType::Bool).unwrap().to_vec::<u8>().unwrap(), vec![1, 1, 0, 1]);
        let h = t.to_dtype(DType::BF16).unwrap().to_dtype(DType::F32).unwrap().to_vec::<f32>().unwrap();
        assert_eq!(h[0], 1.5);
        assert!((h[1] + 2.7).abs() < 0.02);
        // strided source
        let m = Tensor::from_vec((0..6).map(|x| x as f64).collect(), &[2, 3]).unwrap().t().unwrap();
        assert_eq!(m.to_dtype(DType::F32).unwrap().to_vec::<f32>().unwrap(), vec![0., 3., 1., 4., 2., 5.]);
    }
}
