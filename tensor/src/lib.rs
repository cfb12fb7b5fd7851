//! wrt-tensor: `Tensor` = shared storage + layout (shape, strides, offset) + dtype + device.
//!
//! Views (reshape/permute/transpose/narrow/slice/expand/broadcast) share storage and never copy;
//! `contiguous()` copies only when needed. Ops validate shapes, dtypes and devices and return `Result`,
//! then dispatch to the slice kernels of `wrt-kernels`. Ops are grouped by family under `ops/`.

pub mod cpu;
mod device;
mod dtype;
mod error;
pub mod io;
pub mod layout;
pub mod ops;
pub mod random;
pub mod storage;
mod tensor;

pub use device::Device;
pub use dtype::{storage_of, DType, WithDType};
pub use error::{Error, Result};
pub use layout::Layout;
pub use random::Generator;
pub use tensor::{Tensor, TensorData};
pub use wrt_kernels as kernels;
pub use wrt_kernels::cpu::elementwise::{Binary, Cmp, Unary};
