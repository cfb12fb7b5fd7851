//! The Temporal Fusion Transformer, in the two forms users hold weights for (spec:
//! ../../../shared/specs/tft.md):
//! - [`SeedTft`]: the seed project's `TemporalFusionTransformerLightning`, a window of W steps of I features
//!   -> the next step's O values (point forecast), its parameter names;
//! - [`Tft`]: the canonical TFT of Lim et al. as pytorch-forecasting implements it (variable selection,
//!   static contexts, LSTM encoder/decoder, interpretable attention, quantile outputs), its parameter names.
//!
//! tools/parity/tft_ref.py is the plain-torch reference of both; models/tests/tft_parity.rs holds wrt to it.

mod canonical;
pub mod layers;
mod seed;

pub use canonical::{Categorical, Tft, TftConfig, TftInput, TftOutput};
pub use seed::{SeedAttention, SeedGrn, SeedTft, SeedTftConfig};
