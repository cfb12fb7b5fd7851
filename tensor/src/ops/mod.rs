//! Tensor ops, one file per family. Each validates its inputs (shape, dtype, device) and calls a kernel.

mod binary;
mod cast;
mod conv;
mod create;
mod float;
mod norm;
mod pool;
mod index;
mod matmul;
mod reduce;
mod shape;
mod softmax;
mod unary;

pub use conv::ConvSpec;
pub use norm::Normed;
pub use pool::PoolSpec;
pub use shape::PadMode;
