//! wrt-models: the five projects' networks, one module each, with parameter names, shapes and state_dict
//! order equal to the PyTorch references so that weights load both ways (see ../shared/design.md).
//!
//! - [`atmodist`]: AtmoDist, siamese ResNet over two atmospheric states -> time-gap logits; its encoder embeds
//!   states for analogue search.
//! - [`pangu`]: Pangu-Weather (SuperDARN adaptation), earth-specific 3-D window transformer -> maps.
//! - [`satformer`]: SaTformer, space-time transformer over satellite frames -> precipitation-bin logits.
//! - [`sitsformer`]: SITS-Former, joint space-time transformer over a masked image time series -> classes.
//! - [`tft`]: Temporal Fusion Transformer, the seed's point forecaster and the canonical quantile forecaster.

pub mod atmodist;
pub mod pangu;
pub mod satformer;
pub mod sitsformer;
pub mod tft;

pub use atmodist::{Atmodist, AtmodistConfig};
pub use pangu::{Pangu, PanguConfig};
pub use satformer::{AttnKind, Satformer, SatformerConfig};
pub use sitsformer::{Sitsformer, SitsformerConfig};
pub use tft::{SeedTft, SeedTftConfig, Tft, TftConfig};

/// Whether two tensors hold the same values in the same shape (any dtypes): how a loader checks a tensor
/// a state_dict gives twice, or a buffer it can recompute.
pub(crate) fn same_values(a: &wrt_tensor::Tensor, b: &wrt_tensor::Tensor) -> wrt_nn::Result<bool> {
    use wrt_tensor::DType;
    Ok(a.shape() == b.shape() && a.to_dtype(DType::F64)?.to_vec::<f64>()? == b.to_dtype(DType::F64)?.to_vec::<f64>()?)
}
