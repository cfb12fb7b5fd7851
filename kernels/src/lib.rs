//! wrt-kernels: raw compute on slices and device buffers. Knows nothing of tensors.
//!
//! Every kernel takes its output first (`&mut [T]`), then its inputs, then sizes, in the
//! llm.c style (`layernorm_forward(out, mean, rstd, inp, weight, bias, rows, cols)`).
//! Shapes are validated by the caller (wrt-tensor); kernels assert only internal invariants.
//! Results never depend on the number of rayon threads: every reduction has a fixed order.

pub mod cpu;
pub mod rng;
