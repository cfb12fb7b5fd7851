//! The canonical Temporal Fusion Transformer (Lim et al. 2021) as pytorch-forecasting's
//! `TemporalFusionTransformer` builds it, with its parameter names so that its weights load: static,
//! encoder and decoder variable selection, four static context GRNs, an LSTM encoder/decoder started from
//! the static context, gated skips, static enrichment, interpretable attention of the decoder steps over
//! all steps (causal within the decoder), a position-wise GRN and one linear quantile head.
//! Spec: ../../../shared/specs/tft.md section 4.
//!
//! Inputs come as pytorch-forecasting's network sees them after its normalisers: reals already scaled,
//! categoricals as class indices; the forecast is in the same (normalised) target units, and the caller
//! applies the target's inverse transform. Series have one encoder length Te and decoder length Td (the
//! fixed windows of our layouts), so the LSTMs run unpacked.

use super::layers::{AddNorm, GateAddNorm, GatedLinearUnit, Grn, InterpretableAttention, VarInput, VariableSelection};
use crate::satformer::strip_wrapper_prefix;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use wrt_autograd::Var;
use wrt_nn::module::{Module, ModuleExt, Walk};
use wrt_nn::{Embedding, Error, Forward, Linear, LstmConfig, Result, LSTM};
use wrt_tensor::{DType, Generator, Tensor};

/// A static categorical input: `cardinality` classes embedded in `embedding_dim` values
/// (`input_embeddings.embeddings.{name}`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Categorical {
    pub name: String,
    pub cardinality: usize,
    /// 0: pytorch-forecasting's rule `min(round(1.6 n^0.56), 100)`, capped at hidden_size.
    #[serde(default)]
    pub embedding_dim: usize,
}

impl Categorical {
    pub fn dim(&self, hidden: usize) -> usize {
        let d = if self.embedding_dim > 0 { self.embedding_dim } else { ((1.6 * (self.cardinality as f64).powf(0.56)).round() as usize).min(100) };
        d.min(hidden).max(1)
    }
}

/// Hyperparameters and variables of the canonical TFT. Defaults: the seed guide's sizes (hidden 32, 4 heads,
/// one LSTM layer, dropout 0.1), pytorch-forecasting's continuous width 8 and seven quantiles.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TftConfig {
    pub hidden_size: usize,
    /// Attention heads (pytorch-forecasting's `attention_head_size`).
    pub attention_head_size: usize,
    /// Width each real variable is scaled up to before its GRN (`prescalers`).
    pub hidden_continuous_size: usize,
    pub lstm_layers: usize,
    pub dropout: f64,
    /// Predicted quantiles (the output width).
    pub quantiles: Vec<f64>,
    /// A decoder step attends only to earlier decoder steps (and the encoder).
    pub causal_attention: bool,
    pub static_categoricals: Vec<Categorical>,
    pub static_reals: Vec<String>,
    /// Reals known in advance (encoder and decoder inputs), e.g. calendar features.
    pub known_reals: Vec<String>,
    /// Reals observed only in the past (encoder inputs), the target's history among them.
    pub unknown_reals: Vec<String>,
}

impl Default for TftConfig {
    fn default() -> Self {
        TftConfig {
            hidden_size: 32,
            attention_head_size: 4,
            hidden_continuous_size: 8,
            lstm_layers: 1,
            dropout: 0.1,
            quantiles: vec![0.02, 0.1, 0.25, 0.5, 0.75, 0.9, 0.98],
            causal_attention: true,
            static_categoricals: Vec::new(),
            static_reals: Vec::new(),
            known_reals: Vec::new(),
            unknown_reals: vec!["target".into()],
        }
    }
}

impl TftConfig {
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(format!("tft: {m}")));
        if self.hidden_size == 0 || self.attention_head_size == 0 || self.hidden_size % self.attention_head_size != 0 {
            return bad(format!("hidden_size {} must be a positive multiple of attention_head_size {}", self.hidden_size, self.attention_head_size));
        }
        if self.hidden_continuous_size == 0 || self.lstm_layers == 0 {
            return bad("hidden_continuous_size and lstm_layers must be positive".into());
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad(format!("dropout {} is outside [0, 1)", self.dropout));
        }
        if self.quantiles.is_empty() || self.quantiles.iter().any(|q| !(*q > 0.0 && *q < 1.0)) || self.quantiles.windows(2).any(|w| w[0] >= w[1]) {
            return bad(format!("quantiles {:?}: need increasing values strictly between 0 and 1", self.quantiles));
        }
        if self.known_reals.is_empty() {
            return bad("the decoder needs at least one known real (e.g. a calendar feature or a time index)".into());
        }
        let mut seen = std::collections::BTreeSet::new();
        for n in self.variable_names() {
            if !seen.insert(n.clone()) {
                return bad(format!("variable '{n}' is listed twice"));
            }
        }
        if let Some(c) = self.static_categoricals.iter().find(|c| c.cardinality == 0) {
            return bad(format!("static categorical '{}' has no classes", c.name));
        }
        Ok(())
    }

    /// Every variable: static categoricals, static reals, known reals, unknown reals.
    pub fn variable_names(&self) -> Vec<String> {
        self.static_categoricals.iter().map(|c| c.name.clone()).chain(self.reals()).collect()
    }

    /// The reals in pytorch-forecasting's `reals` order (the prescalers'): static, known, unknown.
    pub fn reals(&self) -> Vec<String> {
        self.static_reals.iter().chain(&self.known_reals).chain(&self.unknown_reals).cloned().collect()
    }

    /// Encoder variables in order: known reals, then unknown reals (the columns of `encoder_real`).
    pub fn encoder_variables(&self) -> Vec<String> {
        self.known_reals.iter().chain(&self.unknown_reals).cloned().collect()
    }

    /// Static variables in order: categoricals, then reals.
    pub fn static_variables(&self) -> Vec<String> {
        self.static_categoricals.iter().map(|c| c.name.clone()).chain(self.static_reals.iter().cloned()).collect()
    }

    pub fn output_size(&self) -> usize {
        self.quantiles.len()
    }
}

/// One batch of inputs: `static_cat` `[B, n_static_categoricals]` I64 class indices, `static_real`
/// `[B, n_static_reals]`, `encoder_real` `[B, Te, n_known + n_unknown]` (known columns first),
/// `decoder_real` `[B, Td, n_known]`.
pub struct TftInput<'a> {
    pub static_cat: Option<&'a Tensor>,
    pub static_real: Option<&'a Var>,
    pub encoder_real: &'a Var,
    pub decoder_real: &'a Var,
}

/// The forecast and what explains it.
pub struct TftOutput {
    /// `[B, Td, Q]` in the (normalised) target units.
    pub prediction: Var,
    /// `[B, Td, heads, Te + Td]`: each decoder step's attention over every step, per head.
    pub attention: Tensor,
    /// `[B, 1, n_static]` (`[B, 0]` without static variables).
    pub static_weights: Tensor,
    /// `[B, Te, 1, n_encoder]`.
    pub encoder_weights: Tensor,
    /// `[B, Td, 1, n_known]`.
    pub decoder_weights: Tensor,
}

/// The canonical TFT. Build with `Tft::new(cfg, &mut generator)` (training mode); `eval()` for inference.
pub struct Tft {
    cfg: TftConfig,
    pub embeddings: Vec<Embedding>,
    /// One `Linear(1, hidden_continuous_size)` per real, in `TftConfig::reals` order.
    pub prescalers: Vec<Linear>,
    pub static_variable_selection: Option<VariableSelection>,
    pub encoder_variable_selection: VariableSelection,
    pub decoder_variable_selection: VariableSelection,
    pub static_context_variable_selection: Grn,
    pub static_context_initial_hidden_lstm: Grn,
    pub static_context_initial_cell_lstm: Grn,
    pub static_context_enrichment: Grn,
    pub lstm_encoder: LSTM,
    pub lstm_decoder: LSTM,
    /// Shared by encoder and decoder (pytorch-forecasting's `post_lstm_gate_decoder` is this module).
    pub post_lstm_gate_encoder: GatedLinearUnit,
    /// Shared likewise (`post_lstm_add_norm_decoder`).
    pub post_lstm_add_norm_encoder: AddNorm,
    pub static_enrichment: Grn,
    pub multihead_attn: InterpretableAttention,
    pub post_attn_gate_norm: GateAddNorm,
    pub pos_wise_ff: Grn,
    pub pre_output_gate_norm: GateAddNorm,
    pub output_layer: Linear,
}

/// The keys under which a pytorch-forecasting state_dict repeats a shared module: `(alias prefix, prefix)`.
fn shared_prefixes(cfg: &TftConfig) -> Vec<(String, String)> {
    let mut out = vec![
        ("post_lstm_gate_decoder.".to_string(), "post_lstm_gate_encoder.".to_string()),
        ("post_lstm_add_norm_decoder.".to_string(), "post_lstm_add_norm_encoder.".to_string()),
    ];
    let vsns: [(&str, Vec<String>); 3] = [
        ("static_variable_selection", cfg.static_reals.clone()),
        ("encoder_variable_selection", cfg.encoder_variables()),
        ("decoder_variable_selection", cfg.known_reals.clone()),
    ];
    for (vsn, names) in vsns {
        for n in names {
            out.push((format!("{vsn}.prescalers.{n}."), format!("prescalers.{n}.")));
        }
    }
    out
}

impl Tft {
    pub fn new(cfg: TftConfig, g: &mut Generator) -> Result<Tft> {
        cfg.validate()?;
        let (h, hc, p) = (cfg.hidden_size, cfg.hidden_continuous_size, cfg.dropout);
        let embeddings = cfg.static_categoricals.iter().map(|c| Embedding::new(g, c.cardinality, c.dim(h), None)).collect::<Result<Vec<_>>>()?;
        let prescalers = cfg.reals().iter().map(|_| Linear::new(g, 1, hc, true)).collect::<Result<Vec<_>>>()?;
        let real = |name: &String| VarInput { name: name.clone(), size: hc, embedded: false };
        let static_inputs: Vec<VarInput> = cfg
            .static_categoricals
            .iter()
            .map(|c| VarInput { name: c.name.clone(), size: c.dim(h), embedded: true })
            .chain(cfg.static_reals.iter().map(real))
            .collect();
        let static_variable_selection = if static_inputs.is_empty() { None } else { Some(VariableSelection::new(g, static_inputs, h, p, None)?) };
        let encoder_variable_selection = VariableSelection::new(g, cfg.encoder_variables().iter().map(real).collect(), h, p, Some(h))?;
        let decoder_variable_selection = VariableSelection::new(g, cfg.known_reals.iter().map(real).collect(), h, p, Some(h))?;
        let grn = |g: &mut Generator, ctx: Option<usize>| Grn::new(g, h, h, h, p, ctx);
        let static_context_variable_selection = grn(g, None)?;
        let static_context_initial_hidden_lstm = grn(g, None)?;
        let static_context_initial_cell_lstm = grn(g, None)?;
        let static_context_enrichment = grn(g, None)?;
        let lstm_cfg = LstmConfig { num_layers: cfg.lstm_layers, batch_first: true, dropout: if cfg.lstm_layers > 1 { p } else { 0.0 }, ..Default::default() };
        let lstm_encoder = LSTM::new(g, h, h, lstm_cfg.clone())?;
        let lstm_decoder = LSTM::new(g, h, h, lstm_cfg)?;
        let post_lstm_gate_encoder = GatedLinearUnit::new(g, h, h, Some(p))?;
        let post_lstm_add_norm_encoder = AddNorm::new(h, h, false)?;
        let static_enrichment = grn(g, Some(h))?;
        let multihead_attn = InterpretableAttention::new(g, cfg.attention_head_size, h, p)?;
        let post_attn_gate_norm = GateAddNorm::new(g, h, h, Some(p))?;
        let pos_wise_ff = grn(g, None)?;
        let pre_output_gate_norm = GateAddNorm::new(g, h, h, None)?;
        let output_layer = Linear::new(g, h, cfg.output_size(), true)?;
        Ok(Tft {
            cfg,
            embeddings,
            prescalers,
            static_variable_selection,
            encoder_variable_selection,
            decoder_variable_selection,
            static_context_variable_selection,
            static_context_initial_hidden_lstm,
            static_context_initial_cell_lstm,
            static_context_enrichment,
            lstm_encoder,
            lstm_decoder,
            post_lstm_gate_encoder,
            post_lstm_add_norm_encoder,
            static_enrichment,
            multihead_attn,
            post_attn_gate_norm,
            pos_wise_ff,
            pre_output_gate_norm,
            output_layer,
        })
    }

    pub fn config(&self) -> &TftConfig {
        &self.cfg
    }

    fn prescale(&self, real_index: usize, column: &Var) -> Result<Var> {
        self.prescalers[real_index].forward(&column.unsqueeze(-1)?)
    }

    /// The real columns of `x [.., n]` prescaled: column j is real `first + j`.
    fn prescale_columns(&self, x: &Var, first: usize) -> Result<Vec<Var>> {
        let n = x.shape()[x.rank() - 1];
        (0..n).map(|j| self.prescale(first + j, &x.select(-1, j)?)).collect()
    }

    fn check(&self, x: &TftInput<'_>) -> Result<(usize, usize, usize)> {
        let c = &self.cfg;
        let (es, ds) = (x.encoder_real.shape(), x.decoder_real.shape());
        let (nk, nu) = (c.known_reals.len(), c.unknown_reals.len());
        if es.len() != 3 || es[2] != nk + nu || es[1] == 0 {
            return Err(Error::Config(format!("tft: encoder_real {es:?}: expected [batch, encoder steps > 0, {}] ({nk} known + {nu} unknown reals)", nk + nu)));
        }
        let b = es[0];
        if ds.len() != 3 || ds[0] != b || ds[2] != nk || ds[1] == 0 {
            return Err(Error::Config(format!("tft: decoder_real {ds:?}: expected [{b}, decoder steps > 0, {nk}] (the known reals)")));
        }
        let (ns, nc) = (c.static_reals.len(), c.static_categoricals.len());
        match x.static_real {
            Some(s) if s.shape() != [b, ns] => return Err(Error::Config(format!("tft: static_real {:?}: expected [{b}, {ns}]", s.shape()))),
            None if ns > 0 => return Err(Error::Config(format!("tft: the model has {ns} static reals, none were given"))),
            _ => {}
        }
        match x.static_cat {
            Some(s) if s.shape() != [b, nc] || s.dtype() != DType::I64 => {
                return Err(Error::Config(format!("tft: static_cat {:?} {}: expected I64 [{b}, {nc}]", s.shape(), s.dtype())))
            }
            None if nc > 0 => return Err(Error::Config(format!("tft: the model has {nc} static categoricals, none were given"))),
            _ => {}
        }
        Ok((b, es[1], ds[1]))
    }

    /// The attention bias `[B, 1, Td, Te + Td]`: 0 where a decoder step may look, -1e9 where it may not
    /// (with causal attention: its own and later decoder steps).
    fn attention_bias(&self, b: usize, te: usize, td: usize) -> Result<Option<Tensor>> {
        if !self.cfg.causal_attention {
            return Ok(None);
        }
        let t = te + td;
        let mut v = vec![0f32; td * t];
        for i in 0..td {
            for j in i..td {
                v[i * t + te + j] = -1e9;
            }
        }
        Ok(Some(Tensor::from_vec(v, &[1, 1, td, t])?.expand(&[b as isize, 1, td as isize, t as isize])?))
    }

    pub fn forward(&self, x: &TftInput<'_>) -> Result<TftOutput> {
        let (b, te, td) = self.check(x)?;
        let (c, h) = (&self.cfg, self.cfg.hidden_size);
        let t = te + td;
        // 1. static variable selection
        let (static_embedding, static_weights) = match &self.static_variable_selection {
            Some(vsn) => {
                let mut xs = Vec::new();
                if let Some(ids) = x.static_cat {
                    for (j, e) in self.embeddings.iter().enumerate() {
                        xs.push(e.forward_ids(&ids.select(1, j)?.contiguous()?)?);
                    }
                }
                if let Some(s) = x.static_real {
                    xs.extend(self.prescale_columns(s, 0)?);
                }
                let (e, w) = vsn.forward(&xs, None)?;
                (e, w.value().clone())
            }
            None => (Var::constant(Tensor::zeros(&[b, h], DType::F32)?), Tensor::zeros(&[b, 0], DType::F32)?),
        };
        // 2. static contexts
        let expand = |v: &Var, steps: usize| -> Result<Var> { Ok(v.unsqueeze(1)?.expand(&[b as isize, steps as isize, h as isize])?) };
        let c_s = self.static_context_variable_selection.forward(&static_embedding, None)?;
        // 3. variable selection over time
        let ns = c.static_reals.len();
        let enc_in = self.prescale_columns(x.encoder_real, ns)?;
        let (xi_enc, enc_w) = self.encoder_variable_selection.forward(&enc_in, Some(&expand(&c_s, te)?))?;
        let dec_in = self.prescale_columns(x.decoder_real, ns)?;
        let (xi_dec, dec_w) = self.decoder_variable_selection.forward(&dec_in, Some(&expand(&c_s, td)?))?;
        // 4. LSTM encoder from the static state, decoder from the encoder's final state
        let layers = c.lstm_layers as isize;
        let state = |grn: &Grn| -> Result<Var> { Ok(grn.forward(&static_embedding, None)?.unsqueeze(0)?.expand(&[layers, b as isize, h as isize])?) };
        let (h0, c0) = (state(&self.static_context_initial_hidden_lstm)?, state(&self.static_context_initial_cell_lstm)?);
        let (enc_out, (hn, cn)) = self.lstm_encoder.forward(&xi_enc, Some((&h0, &c0)))?;
        let (dec_out, _) = self.lstm_decoder.forward(&xi_dec, Some((&hn, &cn)))?;
        // 5. gated skip over the LSTM (one module for both halves)
        let skip = |out: &Var, xi: &Var| -> Result<Var> { self.post_lstm_add_norm_encoder.forward(&self.post_lstm_gate_encoder.forward(out)?, xi) };
        let lstm_output = Var::cat(&[skip(&enc_out, &xi_enc)?, skip(&dec_out, &xi_dec)?], 1)?;
        // 6. static enrichment
        let c_e = self.static_context_enrichment.forward(&static_embedding, None)?;
        let attn_input = self.static_enrichment.forward(&lstm_output, Some(&expand(&c_e, t)?))?;
        // 7. decoder steps attend over all steps
        let query = attn_input.narrow(1, te, td)?;
        let bias = self.attention_bias(b, te, td)?;
        let (attn_out, attn) = self.multihead_attn.forward(&query, &attn_input, bias.as_ref())?;
        // 8. gated skips and position-wise feed-forward
        let attn_out = self.post_attn_gate_norm.forward(&attn_out, &query)?;
        let out = self.pos_wise_ff.forward(&attn_out, None)?;
        let out = self.pre_output_gate_norm.forward(&out, &lstm_output.narrow(1, te, td)?)?;
        Ok(TftOutput {
            prediction: self.output_layer.forward(&out)?,
            attention: attn.value().clone(),
            static_weights,
            encoder_weights: enc_w.value().clone(),
            decoder_weights: dec_w.value().clone(),
        })
    }

    /// The state_dict as pytorch-forecasting writes it: ours plus every shared module again under its
    /// second name (`encoder_variable_selection.prescalers.*`, `post_lstm_gate_decoder.*`, ...).
    pub fn pytorch_state_dict(&self) -> Vec<(String, Tensor)> {
        let mut sd = self.state_dict();
        let mut extra = Vec::new();
        for (alias, primary) in shared_prefixes(&self.cfg) {
            for (k, v) in &sd {
                if let Some(rest) = k.strip_prefix(&primary) {
                    extra.push((format!("{alias}{rest}"), v.clone()));
                }
            }
        }
        sd.extend(extra);
        sd
    }

    /// Load a pytorch-forecasting state_dict strictly (an optional `module.`/`model.` prefix is stripped).
    /// Shared modules may appear under either or both of their names; where both, they must agree.
    pub fn load_pytorch_state_dict(&self, sd: &BTreeMap<String, Tensor>) -> Result<()> {
        let mut sd = strip_wrapper_prefix(sd);
        // pytorch-forecasting keeps its loss (with the quantiles as a buffer) in the module; not a weight
        sd.retain(|k, _| !k.starts_with("loss.") && !k.starts_with("logging_metrics."));
        for (alias, primary) in shared_prefixes(&self.cfg) {
            let keys: Vec<String> = sd.keys().filter(|k| k.starts_with(&alias)).cloned().collect();
            for k in keys {
                let v = sd.remove(&k).expect("listed");
                let p = format!("{primary}{}", &k[alias.len()..]);
                match sd.get(&p) {
                    Some(w) => {
                        if !crate::same_values(w, &v)? {
                            return Err(Error::Config(format!("tft state_dict: '{k}' and '{p}' name one shared tensor but differ")));
                        }
                    }
                    None => {
                        sd.insert(p, v);
                    }
                }
            }
        }
        self.load_state_dict(&sd, true)
    }
}

impl Module for Tft {
    fn visit(&self, v: &mut Walk<'_>) {
        for (cat, e) in self.cfg.static_categoricals.iter().zip(&self.embeddings) {
            v.child(&format!("input_embeddings.embeddings.{}", cat.name), e);
        }
        for (name, p) in self.cfg.reals().iter().zip(&self.prescalers) {
            v.child(&format!("prescalers.{name}"), p);
        }
        if let Some(s) = &self.static_variable_selection {
            v.child("static_variable_selection", s);
        }
        v.child("encoder_variable_selection", &self.encoder_variable_selection);
        v.child("decoder_variable_selection", &self.decoder_variable_selection);
        v.child("static_context_variable_selection", &self.static_context_variable_selection);
        v.child("static_context_initial_hidden_lstm", &self.static_context_initial_hidden_lstm);
        v.child("static_context_initial_cell_lstm", &self.static_context_initial_cell_lstm);
        v.child("static_context_enrichment", &self.static_context_enrichment);
        v.child("lstm_encoder", &self.lstm_encoder);
        v.child("lstm_decoder", &self.lstm_decoder);
        v.child("post_lstm_gate_encoder", &self.post_lstm_gate_encoder);
        v.child("post_lstm_add_norm_encoder", &self.post_lstm_add_norm_encoder);
        v.child("static_enrichment", &self.static_enrichment);
        v.child("multihead_attn", &self.multihead_attn);
        v.child("post_attn_gate_norm", &self.post_attn_gate_norm);
        v.child("pos_wise_ff", &self.pos_wise_ff);
        v.child("pre_output_gate_norm", &self.pre_output_gate_norm);
        v.child("output_layer", &self.output_layer);
    }
}
