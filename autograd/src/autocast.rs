//! Autocast (`torch.autocast`): inside [`autocast`], GEMM-like ops run in bf16 or f16 with f32
//! accumulation, the rest in f32. Parameters and activations keep f32 storage; the low precision
//! is applied where PyTorch's casts would round: the operands and the result of matmul (so
//! Linear) and conv. Attention computes in f32 on what it is given, which in a model is the
//! rounded output of a projection, and hands its result to another rounding GEMM (see
//! `fused/attention.rs`). Every other op (softmax, norms, losses, reductions, exp/log,
//! pow, elementwise) then computes in f32, PyTorch's rule for its fp32 op list, and what the
//! promotion of a low-precision tensor with an f32 one gives.
//!
//! Gradients round at the same places: the gradient reaching a rounded value is rounded, as the
//! gradient of a bf16 tensor is a bf16 tensor in PyTorch. Matmul does all of it inside the GEMM
//! (the operands are rounded while packed: no rounded copy of a weight or an activation is made);
//! conv rounds its inputs and output with [`Var::round_to`].
//!
//! Differences from PyTorch, by design: between two GEMM-like ops values stay f32, where PyTorch
//! keeps a bf16 tensor through elementwise ops (a GELU or a residual add of two bf16 tensors rounds
//! once more there); Linear adds its bias after rounding the product (PyTorch's `addmm` rounds
//! after the add). Both move results by about one bf16 ulp; the fixtures measure it.

use std::cell::Cell;

use crate::{Result, Var};
pub use wrt_tensor::kernels::cpu::convert::Rounding;
use wrt_tensor::DType;

thread_local! {
    static AUTOCAST: Cell<Option<Rounding>> = const { Cell::new(None) };
}

/// The low precision GEMM-like ops run in on this thread, if autocast is on.
pub fn autocast_rounding() -> Option<Rounding> {
    AUTOCAST.with(|a| a.get())
}

/// Sets the autocast precision on this thread while alive (`None` turns it off, as
/// `torch.autocast(enabled=False)`), and restores the previous setting when dropped.
pub struct AutocastGuard(Option<Rounding>);

impl AutocastGuard {
    pub fn new(r: Option<Rounding>) -> AutocastGuard {
        AutocastGuard(AUTOCAST.with(|a| a.replace(r)))
    }
}

impl Drop for AutocastGuard {
    fn drop(&mut self) {
        AUTOCAST.with(|a| a.set(self.0));
    }
}

/// Run `f` with autocast at `r` (or off, for `None`).
pub fn autocast<R>(r: Option<Rounding>, f: impl FnOnce() -> R) -> R {
    let _g = AutocastGuard::new(r);
    f()
}

/// The rounding that applies to an op on `vars` now: autocast on and every operand f32.
pub(crate) fn rounding_for(vars: &[&Var]) -> Option<Rounding> {
    autocast_rounding().filter(|_| vars.iter().all(|v| v.dtype() == DType::F32))
}

impl Var {
    /// Every value rounded to bf16/f16 and kept in f32 (a cast to the low dtype, as autocast
    /// makes it); the gradient is rounded the same way (the gradient of a low-precision tensor).
    pub fn round_to(&self, r: Rounding) -> Result<Var> {
        let y = self.value().round_to(r)?;
        Ok(Var::from_op("round_to", y, &[self], move |g| Ok(vec![Some(g.round_to(r)?)])))
    }

    /// `op` on the operands rounded to `r`, its result rounded too: one autocast region, with
    /// autocast off inside so `op` computes in f32 on the rounded values.
    pub(crate) fn autocast_region(r: Rounding, inputs: &[&Var], op: impl FnOnce(&[Var]) -> Result<Var>) -> Result<Var> {
        let rounded = inputs.iter().map(|v| v.round_to(r)).collect::<Result<Vec<_>>>()?;
        autocast(None, || op(&rounded))?.round_to(r)
    }
}
