//! wrt-nn: modules whose parameter names and shapes equal PyTorch's, so weights load both ways.
//!
//! A module implements `Module::visit` once (parameters, buffers, children in registration order); names,
//! state_dict I/O, parameter counts and train/eval all derive from it (`ModuleExt`). Layers with a single
//! input implement `Forward`.

mod error;
pub mod init;
mod linear;
pub mod module;

pub use error::{Error, Result};
pub use linear::Linear;
pub use module::{Module, ModuleExt, TrainFlag, Visitor, Walk};
pub use wrt_autograd::Var;

/// A layer with one input and one output.
pub trait Forward {
    fn forward(&self, x: &Var) -> Result<Var>;
}
