//! wrt-autograd: reverse-mode automatic differentiation over wrt-tensor.
//!
//! `Var` = a `Tensor` + its node in the graph. Every differentiable op is a method on `Var` defined in
//! `ops/<family>.rs` with its backward rule written beside its forward. Fused ops with hand-written backward
//! kernels live in `fused/`, each tested against a composed twin built from primitives.

pub mod autocast;
pub mod compose;
mod error;
pub mod fused;
pub mod gradcheck;
mod graph;
pub mod ops;

pub use error::{Error, Result};
pub use gradcheck::{gradcheck, GradCheck};
pub use autocast::{autocast, autocast_rounding, AutocastGuard, Rounding};
pub use graph::{is_grad_enabled, no_grad, BackwardFn, NoGradGuard, Var};
pub use wrt_tensor::{DType, Tensor};
