//! Fused ops: one op in the graph with a hand-written backward kernel, where the composition of
//! primitives would cost too much time or memory. Each keeps a composed twin in `compose/` built
//! only from primitive `Var` ops, and `tests/fused.rs` holds the two to the same values and
//! gradients (f32) and checks each fused op with `gradcheck` (f64).
//!
//! - [`cross_entropy`]: softmax + negative log-likelihood with class weights, `ignore_index` and
//!   label smoothing (PyTorch's `F.cross_entropy`); saves the logits, not the probabilities.
//! - [`scaled_dot_product_attention`]: `softmax(Q K^T * scale + mask) V` with dropout
//!   (`F.scaled_dot_product_attention`); saves only the row log-sum-exp besides its inputs.
//! - [`gelu`]: GELU (exact or tanh) whose backward is one pass instead of a chain of tensor ops.
//!
//! Float16/bfloat16 inputs compute in f32 and are cast back.

mod attention;
mod cross_entropy;
mod gelu;

pub use attention::{scaled_dot_product_attention, scaled_dot_product_attention_biased};
pub use cross_entropy::{cross_entropy, Reduction};
pub(crate) use cross_entropy::check_targets;
pub use gelu::gelu;

use crate::Result;
use wrt_tensor::{DType, Error as TError};

/// The dtype a fused kernel computes in: f64 as is, f32 for f32 and the half types.
pub(crate) fn work_dtype(op: &'static str, dtype: DType) -> Result<DType> {
    match dtype {
        DType::F64 => Ok(DType::F64),
        DType::F32 | DType::F16 | DType::BF16 => Ok(DType::F32),
        got => Err(TError::DType { op, got, expected: "a float dtype".into() }.into()),
    }
}

/// An `InvalidArgument` error of wrt-tensor, wrapped.
pub(crate) fn invalid(op: &'static str, msg: String) -> crate::Error {
    TError::InvalidArgument { op, msg }.into()
}
