//! One error type for wrt-tensor: each variant names the op and what was expected.

use crate::{DType, Device};

#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// Two shapes that had to agree (or broadcast) did not.
    ShapeMismatch { op: &'static str, lhs: Vec<usize>, rhs: Vec<usize>, expected: String },
    /// A shape was invalid for the op (wrong rank, zero size where not allowed, ...).
    BadShape { op: &'static str, shape: Vec<usize>, expected: String },
    /// A dimension index out of range for the tensor's rank.
    DimOutOfRange { op: &'static str, dim: isize, rank: usize },
    /// The op does not support this dtype, or two operands' dtypes differ.
    DType { op: &'static str, got: DType, expected: String },
    /// Operands live on different devices, or the device is unavailable.
    Device { op: &'static str, got: Device, expected: String },
    /// A CUDA tensor was requested in a build without the `cuda` feature.
    CudaNotCompiled { op: &'static str },
    /// A view was requested that needs a copy (`view` on non-contiguous memory, as in PyTorch).
    NeedsCopy { op: &'static str, shape: Vec<usize>, strides: Vec<usize>, target: Vec<usize> },
    /// An index (gather, embedding, narrow ...) out of bounds.
    IndexOutOfBounds { op: &'static str, index: i64, size: usize },
    /// Invalid argument value (negative step, p outside [0,1], ...).
    InvalidArgument { op: &'static str, msg: String },
    /// Reading or writing a file (safetensors).
    Io { path: String, msg: String },
}

pub type Result<T> = std::result::Result<T, Error>;

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::ShapeMismatch { op, lhs, rhs, expected } => {
                write!(f, "{op}: shapes {lhs:?} and {rhs:?} do not match: expected {expected}")
            }
            Error::BadShape { op, shape, expected } => write!(f, "{op}: bad shape {shape:?}: expected {expected}"),
            Error::DimOutOfRange { op, dim, rank } => {
                write!(f, "{op}: dimension {dim} out of range for a tensor of rank {rank} (expected {} ..= {})", -(*rank as isize), *rank as isize - 1)
            }
            Error::DType { op, got, expected } => write!(f, "{op}: unsupported dtype {got:?}: expected {expected}"),
            Error::Device { op, got, expected } => write!(f, "{op}: device {got:?}: expected {expected}"),
            Error::CudaNotCompiled { op } => write!(
                f,
                "{op}: a CUDA tensor was requested but this build of wrt has no CUDA support (rebuild with `--features cuda`)"
            ),
            Error::NeedsCopy { op, shape, strides, target } => write!(
                f,
                "{op}: cannot view a tensor of shape {shape:?} with strides {strides:?} as {target:?} without a copy; use reshape() or contiguous() first"
            ),
            Error::IndexOutOfBounds { op, index, size } => {
                write!(f, "{op}: index {index} is out of bounds for a dimension of size {size}")
            }
            Error::InvalidArgument { op, msg } => write!(f, "{op}: {msg}"),
            Error::Io { path, msg } => write!(f, "{path}: {msg}"),
        }
    }
}

impl std::error::Error for Error {}

/// Return early with an `InvalidArgument` error.
#[macro_export]
macro_rules! bail {
    ($op:expr, $($arg:tt)*) => {
        return Err($crate::Error::InvalidArgument { op: $op, msg: format!($($arg)*) })
    };
}
