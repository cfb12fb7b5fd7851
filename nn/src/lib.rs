//! wrt-nn: modules whose parameter names and shapes equal PyTorch's, so weights load both ways.
//!
//! A module implements `Module::visit` once (parameters, buffers, children in registration order); names,
//! state_dict I/O, parameter counts and train/eval all derive from it (`ModuleExt`). Layers with a single
//! input implement `Forward`; layers with several inputs or outputs (MultiheadAttention, LSTM) have their own
//! `forward` methods.

mod activation;
pub mod attention;
mod container;
mod conv;
pub mod dropout;
mod embedding;
mod error;
pub mod init;
mod linear;
pub mod loss;
pub mod lstm;
pub mod lstm_scan;
pub mod module;
mod norm;
pub mod transformer;

pub use activation::{Flatten, Identity, LeakyReLU, ReLU, SiLU, Sigmoid, Tanh, ELU, GELU};
pub use attention::{AttnArgs, MhaConfig, MultiheadAttention};
pub use container::{Layer, ModuleList, Sequential};
pub use conv::{AdaptiveAvgPool2d, AvgPool2d, Conv, Conv1d, Conv2d, Conv3d, ConvConfig, ConvTranspose, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d, MaxPool2d};
pub use dropout::{DropPath, Dropout};
pub use embedding::Embedding;
pub use error::{Error, Result};
pub use linear::Linear;
pub use lstm::{LstmConfig, LSTM};
pub use module::{Module, ModuleExt, TrainFlag, Visitor, Walk};
pub use norm::{BatchNorm, BatchNorm1d, BatchNorm2d, BatchNorm3d, BatchNormConfig, GroupNorm, LayerNorm};
pub use transformer::{Activation, EncoderLayerConfig, TransformerEncoder, TransformerEncoderLayer};
pub use wrt_autograd::Var;

/// A layer with one input and one output.
pub trait Forward {
    fn forward(&self, x: &Var) -> Result<Var>;
}
