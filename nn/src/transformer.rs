//! nn.TransformerEncoderLayer (post-norm or pre-norm) and nn.TransformerEncoder, with PyTorch's submodule
//! names (`self_attn`, `linear1`, `dropout`, `linear2`, `norm1`, `norm2`, `dropout1`, `dropout2`;
//! `layers.N`, `norm`) and forward:
//!
//! ```text
//! post-norm: x = norm1(x + dropout1(self_attn(x)));  x = norm2(x + dropout2(linear2(dropout(act(linear1(x))))))
//! pre-norm:  x = x + dropout1(self_attn(norm1(x)));  x = x + dropout2(linear2(dropout(act(linear1(norm2(x))))))
//! ```
//!
//! Masks as in `MultiheadAttention` (`src_mask` = attn_mask, `src_key_padding_mask` = key_padding_mask; Bool
//! true = not allowed). PyTorch's inference fast path (nested tensors in eval mode) zeroes padded positions
//! of the output; wrt always computes the regular path, whose padded positions hold the regular values.

use crate::attention::{AttnArgs, MhaConfig, MultiheadAttention};
use crate::module::{Module, Walk};
use crate::{Dropout, Error, Forward, LayerNorm, Linear, ModuleList, ModuleExt, Result};
use std::collections::BTreeMap;
use wrt_autograd::{fused, Var};
use wrt_tensor::{Generator, Tensor};

/// The feed-forward activation (`activation="relu"` or `"gelu"`, exact GELU).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    Relu,
    Gelu,
}

impl Activation {
    /// PyTorch's string form.
    pub fn parse(s: &str) -> Result<Activation> {
        match s {
            "relu" => Ok(Activation::Relu),
            "gelu" => Ok(Activation::Gelu),
            _ => Err(Error::Config(format!("TransformerEncoderLayer: activation must be \"relu\" or \"gelu\", got {s:?}"))),
        }
    }
    fn apply(self, x: &Var) -> Result<Var> {
        Ok(match self {
            Activation::Relu => x.relu()?,
            Activation::Gelu => fused::gelu(x, false)?,
        })
    }
}

/// Options of `nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward=2048, dropout=0.1,
/// activation="relu", layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True)`.
#[derive(Clone, Debug, PartialEq)]
pub struct EncoderLayerConfig {
    pub d_model: usize,
    pub nhead: usize,
    pub dim_feedforward: usize,
    pub dropout: f64,
    pub activation: Activation,
    pub layer_norm_eps: f64,
    pub batch_first: bool,
    pub norm_first: bool,
    pub bias: bool,
}

impl EncoderLayerConfig {
    /// PyTorch's defaults for the given width and head count.
    pub fn new(d_model: usize, nhead: usize) -> Self {
        EncoderLayerConfig {
            d_model,
            nhead,
            dim_feedforward: 2048,
            dropout: 0.1,
            activation: Activation::Relu,
            layer_norm_eps: 1e-5,
            batch_first: false,
            norm_first: false,
            bias: true,
        }
    }
}

/// `nn.TransformerEncoderLayer`.
pub struct TransformerEncoderLayer {
    pub self_attn: MultiheadAttention,
    pub linear1: Linear,
    pub dropout: Dropout,
    pub linear2: Linear,
    pub norm1: LayerNorm,
    pub norm2: LayerNorm,
    pub dropout1: Dropout,
    pub dropout2: Dropout,
    pub activation: Activation,
    pub norm_first: bool,
}

impl TransformerEncoderLayer {
    /// Each submodule with its PyTorch init (the attention's dropout is `cfg.dropout` too, as PyTorch).
    pub fn new(g: &mut Generator, cfg: &EncoderLayerConfig) -> Result<Self> {
        let (d, f) = (cfg.d_model, cfg.dim_feedforward);
        let mha = MhaConfig { dropout: cfg.dropout, bias: cfg.bias, kdim: None, vdim: None, batch_first: cfg.batch_first };
        let norm = || LayerNorm::with_options(&[d], cfg.layer_norm_eps, true, cfg.bias);
        Ok(TransformerEncoderLayer {
            self_attn: MultiheadAttention::new(g, d, cfg.nhead, mha)?,
            linear1: Linear::new(g, d, f, cfg.bias)?,
            dropout: Dropout::new(cfg.dropout, g)?,
            linear2: Linear::new(g, f, d, cfg.bias)?,
            norm1: norm()?,
            norm2: norm()?,
            dropout1: Dropout::new(cfg.dropout, g)?,
            dropout2: Dropout::new(cfg.dropout, g)?,
            activation: cfg.activation,
            norm_first: cfg.norm_first,
        })
    }

    /// `forward(src, src_mask, src_key_padding_mask)`: src `[S, N, E]` (`[N, S, E]` with batch_first).
    pub fn forward_masked(&self, src: &Var, src_mask: Option<&Tensor>, src_key_padding_mask: Option<&Tensor>) -> Result<Var> {
        let sa = |x: &Var| -> Result<Var> {
            let (y, _) = self.self_attn.self_attention(x, &AttnArgs::masks(src_key_padding_mask, src_mask))?;
            self.dropout1.forward(&y)
        };
        let ff = |x: &Var| -> Result<Var> {
            let y = self.linear2.forward(&self.dropout.forward(&self.activation.apply(&self.linear1.forward(x)?)?)?)?;
            self.dropout2.forward(&y)
        };
        if self.norm_first {
            let x = src.add(&sa(&self.norm1.forward(src)?)?)?;
            Ok(x.add(&ff(&self.norm2.forward(&x)?)?)?)
        } else {
            let x = self.norm1.forward(&src.add(&sa(src)?)?)?;
            self.norm2.forward(&x.add(&ff(&x)?)?)
        }
    }
}

impl Module for TransformerEncoderLayer {
    fn visit(&self, v: &mut Walk<'_>) {
        v.child("self_attn", &self.self_attn);
        v.child("linear1", &self.linear1);
        v.child("dropout", &self.dropout);
        v.child("linear2", &self.linear2);
        v.child("norm1", &self.norm1);
        v.child("norm2", &self.norm2);
        v.child("dropout1", &self.dropout1);
        v.child("dropout2", &self.dropout2);
    }
}

impl Forward for TransformerEncoderLayer {
    /// Without masks.
    fn forward(&self, x: &Var) -> Result<Var> {
        self.forward_masked(x, None, None)
    }
}

/// `nn.TransformerEncoder(encoder_layer, num_layers, norm=None)`: `layers.0 ... layers.{N-1}`, then the
/// optional final `norm`.
pub struct TransformerEncoder {
    pub layers: ModuleList<TransformerEncoderLayer>,
    pub norm: Option<LayerNorm>,
}

impl TransformerEncoder {
    /// Like PyTorch, which deep-copies one layer `num_layers` times, every layer starts with the same
    /// parameters (the first layer's draw); dropout streams are each layer's own.
    pub fn new(g: &mut Generator, cfg: &EncoderLayerConfig, num_layers: usize, norm: Option<LayerNorm>) -> Result<Self> {
        let layers: Vec<TransformerEncoderLayer> = (0..num_layers).map(|_| TransformerEncoderLayer::new(g, cfg)).collect::<Result<_>>()?;
        if let Some(first) = layers.first() {
            let sd: BTreeMap<String, Tensor> = first.state_dict().into_iter().map(|(k, t)| (k, t.deep_clone())).collect();
            for l in &layers[1..] {
                l.load_state_dict(&sd, true)?;
            }
        }
        Ok(TransformerEncoder { layers: layers.into(), norm })
    }

    /// `forward(src, mask, src_key_padding_mask)`: every layer with the same masks, then the final norm.
    pub fn forward_masked(&self, src: &Var, mask: Option<&Tensor>, src_key_padding_mask: Option<&Tensor>) -> Result<Var> {
        let mut x = src.clone();
        for l in self.layers.iter() {
            x = l.forward_masked(&x, mask, src_key_padding_mask)?;
        }
        match &self.norm {
            Some(n) => n.forward(&x),
            None => Ok(x),
        }
    }
}

impl Module for TransformerEncoder {
    fn visit(&self, v: &mut Walk<'_>) {
        v.child("layers", &self.layers);
        if let Some(n) = &self.norm {
            v.child("norm", n);
        }
    }
}

impl Forward for TransformerEncoder {
    /// Without masks.
    fn forward(&self, x: &Var) -> Result<Var> {
        self.forward_masked(x, None, None)
    }
}
