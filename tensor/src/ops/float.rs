//! Shared plumbing for the float-only kernel families (conv, pooling, norms): pick the work dtype (f64 stays
//! f64, f32 and the half types compute in f32), borrow contiguous slices without copying when possible, and
//! convert results back to the caller's dtype.

use crate::{DType, Error, Result, Tensor, WithDType};

/// f64 for f64 inputs, f32 for f32/f16/bf16; an error for integer dtypes.
pub(crate) fn work_dtype(op: &'static str, dtype: DType) -> Result<DType> {
    match dtype {
        DType::F64 => Ok(DType::F64),
        DType::F32 | DType::F16 | DType::BF16 => Ok(DType::F32),
        d => Err(Error::DType { op, got: d, expected: "a float dtype (f32, f64, f16, bf16)".into() }),
    }
}

/// All tensors must be floats of one dtype.
pub(crate) fn check_float(op: &'static str, ts: &[&Tensor]) -> Result<()> {
    for t in ts {
        work_dtype(op, t.dtype())?;
        ts[0].same_dtype(t, op)?;
        ts[0].same_device(t, op)?;
    }
    Ok(())
}

/// Run `f32f` or `f64f` on contiguous slices of `ts` in the work dtype of `ts[0]`.
pub(crate) fn with_float<R>(
    op: &'static str,
    ts: &[&Tensor],
    f32f: impl FnOnce(&[&[f32]]) -> R,
    f64f: impl FnOnce(&[&[f64]]) -> R,
) -> Result<R> {
    let work = work_dtype(op, ts[0].dtype())?;
    let cs: Vec<Tensor> = ts.iter().map(|t| t.to_dtype(work)?.contiguous()).collect::<Result<_>>()?;
    if work == DType::F64 {
        let ds = cs.iter().map(|t| t.data::<f64>()).collect::<Result<Vec<_>>>()?;
        let refs: Vec<&[f64]> = ds.iter().map(|d| &**d).collect();
        Ok(f64f(&refs))
    } else {
        let ds = cs.iter().map(|t| t.data::<f32>()).collect::<Result<Vec<_>>>()?;
        let refs: Vec<&[f32]> = ds.iter().map(|d| &**d).collect();
        Ok(f32f(&refs))
    }
}

/// Wrap a kernel result of the work dtype as a tensor of `dtype`.
pub(crate) fn finish<T: WithDType>(v: Vec<T>, shape: &[usize], dtype: DType) -> Result<Tensor> {
    Tensor::from_vec(v, shape)?.to_dtype(dtype)
}

/// Expand a per-dim list (length 1, or one value per spatial dim `sd`) to 3 dims with leading `fill`: every
/// conv and pool runs as 3-D with unit leading dims.
pub(crate) fn dims3(op: &'static str, what: &str, v: &[usize], sd: usize, fill: usize) -> Result<[usize; 3]> {
    let full: Vec<usize> = match v.len() {
        1 => vec![v[0]; sd],
        n if n == sd => v.to_vec(),
        n => return Err(Error::InvalidArgument { op, msg: format!("{what} has {n} values: expected 1 or {sd}") }),
    };
    let mut out = [fill; 3];
    out[3 - sd..].copy_from_slice(&full);
    Ok(out)
}

/// `with_float` with one body for both work types: inside `$body`, `$T` is f32 or f64 and `$v: &[&[$T]]`
/// holds the operands' slices.
macro_rules! float_kernel {
    ($op:expr, $ts:expr, |$v:ident, $T:ident| $body:expr) => {
        $crate::ops::float::with_float($op, $ts, |$v| {
            #[allow(dead_code)]
            type $T = f32;
            $body
        }, |$v| {
            #[allow(dead_code)]
            type $T = f64;
            $body
        })?
    };
}
pub(crate) use float_kernel;
