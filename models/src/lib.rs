//! wrt-models: the five projects' networks, one module each, with parameter names, shapes and state_dict
//! order equal to the PyTorch references so that weights load both ways (see ../shared/design.md).
//!
//! - [`satformer`]: SaTformer, space-time transformer over satellite frames -> precipitation-bin logits.

pub mod satformer;

pub use satformer::{AttnKind, Satformer, SatformerConfig};
