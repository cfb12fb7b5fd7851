//! The seed project's `TemporalFusionTransformerLightning` (its model file's V1): a window of W steps of I
//! features is projected to H, run through a bidirectional LSTM, self-attention with add & norm, and the last
//! step's state through two gated residual networks to a point forecast of the next step's O values.
//! Parameter names are the seed's, so its checkpoints' `state_dict` loads. Spec: ../../../shared/specs/tft.md
//! section 3.

use crate::satformer::strip_wrapper_prefix;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use wrt_autograd::Var;
use wrt_nn::module::{Module, ModuleExt, Walk};
use wrt_nn::{Dropout, Error, Forward, LayerNorm, Linear, LstmConfig, Result, LSTM};
use wrt_tensor::{DType, Generator, Tensor};

/// The seed's `LightningTrainingConfig` model keys (hidden 32, 4 heads, 1 LSTM layer, dropout 0.1) and the
/// data's widths (32 features in, the same 32 out by default).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SeedTftConfig {
    pub input_size: usize,
    pub hidden_size: usize,
    pub num_heads: usize,
    pub num_lstm_layers: usize,
    pub dropout: f64,
    /// Outputs per forecast; `None` = input_size (the seed's default).
    pub output_size: Option<usize>,
}

impl Default for SeedTftConfig {
    fn default() -> Self {
        SeedTftConfig { input_size: 32, hidden_size: 32, num_heads: 4, num_lstm_layers: 1, dropout: 0.1, output_size: None }
    }
}

impl SeedTftConfig {
    /// Width after the bidirectional LSTM, 2 x hidden.
    pub fn model_dim(&self) -> usize {
        2 * self.hidden_size
    }
    pub fn outputs(&self) -> usize {
        self.output_size.unwrap_or(self.input_size)
    }
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(format!("tft (seed): {m}")));
        if self.input_size == 0 || self.hidden_size == 0 || self.num_lstm_layers == 0 || self.outputs() == 0 {
            return bad("input_size, hidden_size, num_lstm_layers and output_size must be positive".into());
        }
        if self.num_heads == 0 || self.model_dim() % self.num_heads != 0 {
            return bad(format!("the attention width 2 x hidden_size = {} is not divisible by num_heads {}", self.model_dim(), self.num_heads));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad(format!("dropout {} is outside [0, 1)", self.dropout));
        }
        Ok(())
    }
}

/// The seed's `GatedResidualNetwork` (V1): `LayerNorm(g * a + skip)` with `a = dropout(fc2(ELU(fc1 x)))`,
/// `g = sigmoid(gate_fc(a))` (the gate reads the post-fc2 vector, so hidden = output), `skip` = x, or
/// `skip_layer(x)` when input and output widths differ.
pub struct SeedGrn {
    pub fc1: Linear,
    pub fc2: Linear,
    pub gate_fc: Linear,
    pub layer_norm: LayerNorm,
    pub dropout: Dropout,
    pub skip_layer: Option<Linear>,
}

impl SeedGrn {
    pub fn new(g: &mut Generator, n_in: usize, hidden: usize, n_out: usize, p: f64) -> Result<SeedGrn> {
        if hidden != n_out {
            return Err(Error::Config(format!("seed GRN: its gate reads the fc2 output, so hidden ({hidden}) must equal output ({n_out})")));
        }
        Ok(SeedGrn {
            fc1: Linear::new(g, n_in, hidden, true)?,
            fc2: Linear::new(g, hidden, n_out, true)?,
            gate_fc: Linear::new(g, n_out, n_out, true)?,
            layer_norm: LayerNorm::new(&[n_out])?,
            dropout: Dropout::new(p, g)?,
            skip_layer: if n_in != n_out { Some(Linear::new(g, n_in, n_out, true)?) } else { None },
        })
    }
}

impl Module for SeedGrn {
    fn visit(&self, v: &mut Walk<'_>) {
        v.child("fc1", &self.fc1);
        v.child("fc2", &self.fc2);
        v.child("gate_fc", &self.gate_fc);
        v.child("layer_norm", &self.layer_norm);
        v.child("dropout", &self.dropout);
        if let Some(s) = &self.skip_layer {
            v.child("skip_layer", s);
        }
    }
}

impl Forward for SeedGrn {
    fn forward(&self, x: &Var) -> Result<Var> {
        let a = self.dropout.forward(&self.fc2.forward(&self.fc1.forward(x)?.elu(1.0)?)?)?;
        let gate = self.gate_fc.forward(&a)?.sigmoid()?;
        let skip = match &self.skip_layer {
            Some(s) => s.forward(x)?,
            None => x.clone(),
        };
        self.layer_norm.forward(&gate.mul(&a)?.add(&skip)?)
    }
}

/// The seed's `MultiHeadAttention`: `W_q`, `W_k`, `W_v`, `W_o` (all D x D with bias), scores / sqrt(d_k),
/// softmax, dropout on the attention weights, no mask.
pub struct SeedAttention {
    pub w_q: Linear,
    pub w_k: Linear,
    pub w_v: Linear,
    pub w_o: Linear,
    pub dropout: Dropout,
    pub heads: usize,
}

impl Module for SeedAttention {
    fn visit(&self, v: &mut Walk<'_>) {
        v.child("W_q", &self.w_q);
        v.child("W_k", &self.w_k);
        v.child("W_v", &self.w_v);
        v.child("W_o", &self.w_o);
        v.child("dropout", &self.dropout);
    }
}

impl SeedAttention {
    /// Self-attention of `x [B, W, D]`.
    pub fn forward(&self, x: &Var) -> Result<Var> {
        let (b, w, d) = (x.shape()[0], x.shape()[1], x.shape()[2]);
        let h = self.heads;
        let split = |l: &Linear| -> Result<Var> { Ok(l.forward(x)?.reshape_to(&[b, w, h, d / h])?.permute(&[0, 2, 1, 3])?) };
        let (q, k, v) = (split(&self.w_q)?, split(&self.w_k)?, split(&self.w_v)?);
        let out = wrt_nn::attention::sdpa_with_dropout(&q, &k, &v, None, &self.dropout)?;
        self.w_o.forward(&out.permute(&[0, 2, 1, 3])?.reshape_to(&[b, w, d])?)
    }
}

/// The seed's model. `forward(x [B, W, I]) -> [B, O]`.
pub struct SeedTft {
    cfg: SeedTftConfig,
    pub input_projection: Linear,
    pub lstm: LSTM,
    pub self_attention: SeedAttention,
    pub enrichment_grn: SeedGrn,
    pub output_grn: SeedGrn,
    pub output_layer: Linear,
    pub layer_norm: LayerNorm,
    pub dropout: Dropout,
}

impl Module for SeedTft {
    fn visit(&self, v: &mut Walk<'_>) {
        v.child("input_projection", &self.input_projection);
        v.child("lstm", &self.lstm);
        v.child("self_attention", &self.self_attention);
        v.child("enrichment_grn", &self.enrichment_grn);
        v.child("output_grn", &self.output_grn);
        v.child("output_layer", &self.output_layer);
        v.child("layer_norm", &self.layer_norm);
        v.child("dropout", &self.dropout);
    }
}

impl SeedTft {
    pub fn new(cfg: SeedTftConfig, g: &mut Generator) -> Result<SeedTft> {
        cfg.validate()?;
        let (h, d, p) = (cfg.hidden_size, cfg.model_dim(), cfg.dropout);
        let input_projection = Linear::new(g, cfg.input_size, h, true)?;
        let lstm_cfg = LstmConfig {
            num_layers: cfg.num_lstm_layers,
            batch_first: true,
            bidirectional: true,
            dropout: if cfg.num_lstm_layers > 1 { p } else { 0.0 },
            ..Default::default()
        };
        let lstm = LSTM::new(g, h, h, lstm_cfg)?;
        let self_attention = SeedAttention {
            w_q: Linear::new(g, d, d, true)?,
            w_k: Linear::new(g, d, d, true)?,
            w_v: Linear::new(g, d, d, true)?,
            w_o: Linear::new(g, d, d, true)?,
            dropout: Dropout::new(p, g)?,
            heads: cfg.num_heads,
        };
        let enrichment_grn = SeedGrn::new(g, d, d, d, p)?;
        let output_grn = SeedGrn::new(g, d, d, d, p)?;
        let output_layer = Linear::new(g, d, cfg.outputs(), true)?;
        Ok(SeedTft { input_projection, lstm, self_attention, enrichment_grn, output_grn, output_layer, layer_norm: LayerNorm::new(&[d])?, dropout: Dropout::new(p, g)?, cfg })
    }

    pub fn config(&self) -> &SeedTftConfig {
        &self.cfg
    }

    pub fn forward(&self, x: &Var) -> Result<Var> {
        let s = x.shape();
        if s.len() != 3 || s[2] != self.cfg.input_size || s[1] == 0 || x.dtype() != DType::F32 {
            return Err(Error::Config(format!("tft (seed): input {s:?} {}: expected float32 [batch, window > 0, {}]", x.dtype(), self.cfg.input_size)));
        }
        let xp = self.input_projection.forward(x)?;
        let (seq, _) = self.lstm.forward(&xp, None)?;
        let a = self.self_attention.forward(&seq)?;
        let seq = self.layer_norm.forward(&seq.add(&self.dropout.forward(&a)?)?)?;
        let z = seq.select(1, s[1] - 1)?;
        let z = self.output_grn.forward(&self.enrichment_grn.forward(&z)?)?;
        self.output_layer.forward(&z)
    }

    /// Load the seed's state_dict strictly (a Lightning checkpoint's `state_dict`; an optional `model.`
    /// prefix is stripped).
    pub fn load_pytorch_state_dict(&self, sd: &BTreeMap<String, Tensor>) -> Result<()> {
        self.load_state_dict(&strip_wrapper_prefix(sd), true)
    }
}
