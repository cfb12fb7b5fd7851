//! The Temporal Fusion Transformer as a `TrainModule`, in both forms (`model.variant`):
//! - `seed`: the seed project's `TemporalFusionTransformerLightning` on windows `x [B, W, F]` -> the next
//!   step `y [B, F]`; MSE loss, `train_loss` (step and epoch), `val_loss` and `val_r2` (one pooled R² over
//!   all outputs, as the seed's sklearn call) with MAE / RMSE.
//! - `canonical`: pytorch-forecasting's TFT on the multi-horizon layout. Each series' target is scaled by
//!   its encoder's mean and standard deviation (pytorch-forecasting's `EncoderNormalizer`), which are also
//!   given to the model as the static reals `target_center` and `target_scale` (its `add_target_scales`);
//!   the network sees the scaled target history as an unknown real and forecasts scaled quantiles, which
//!   are mapped back before the loss, so the loss is in the data's units as in pytorch-forecasting:
//!   `QuantileLoss` = mean over [B, Td, Q] of 2·max(q e, (q - 1) e). Validation also reports, in the
//!   original units of the file (the dataset's global normalisation undone), the quantile loss, MAE, RMSE,
//!   sMAPE, R² and the q-risks (`val_p50_risk`, `val_p90_risk`, ...).
//!
//! Both LightningModules are the networks themselves, so state_dict names carry no `model.` prefix.

use super::{optim_setup, RunLength};
use crate::config::RunConfig;
use crate::data::{Batch, ChannelStats, Normalize};
use crate::metrics::{Forecast, Metric};
use crate::trainer::{OptimSetup, Stage, StepLog, TrainModule};
use crate::{Error, Result};
use serde_json::{json, Map, Value};
use wrt_autograd::{fused::Reduction, Var};
use wrt_models::tft::{Categorical, SeedTft, SeedTftConfig, Tft, TftConfig, TftInput};
use wrt_nn::{Module, ModuleExt, Walk};
use wrt_tensor::{DType, Generator, Tensor};

/// The floor of a series' target scale (a flat encoder would divide by 0).
const MIN_SCALE: f32 = 1e-3;

pub enum TftNet {
    Seed(SeedTft),
    Canonical(Tft),
}

/// What the data says about the variables of the canonical model.
#[derive(Clone, Debug, Default)]
pub struct TftVariables {
    pub statics: Vec<String>,
    pub known: Vec<String>,
    pub observed: Vec<String>,
    pub target: String,
    pub categoricals: Vec<(String, usize)>,
}

/// Maps values in the file's normalised units back to its original ones (the target's statistics).
#[derive(Clone, Debug)]
pub struct Unscale(pub Option<(ChannelStats, Normalize)>);

impl Unscale {
    pub fn apply(&self, t: &Tensor) -> Result<Tensor> {
        let Some((stats, mode)) = &self.0 else { return Ok(t.clone()) };
        let mut v = t.to_dtype(DType::F32)?.contiguous()?.to_vec::<f32>()?;
        stats.invert(&mut v, *mode);
        Ok(Tensor::from_vec(v, t.shape())?)
    }
}

pub struct TftTask {
    pub net: TftNet,
    run: RunConfig,
    len: RunLength,
    /// The target's way back to the file's original units (canonical).
    pub unscale: Unscale,
}

fn hp_usize(h: &Map<String, Value>, k: &str, default: usize) -> usize {
    h.get(k).and_then(Value::as_u64).map_or(default, |v| v as usize)
}

/// `SeedTftConfig` from the `model:` keys; `features` (the data's width) must be `input_size`.
pub fn seed_config(h: &Map<String, Value>, features: Option<usize>) -> Result<SeedTftConfig> {
    let d = SeedTftConfig::default();
    let cfg = SeedTftConfig {
        input_size: hp_usize(h, "input_size", d.input_size),
        hidden_size: hp_usize(h, "hidden_size", d.hidden_size),
        num_heads: hp_usize(h, "num_heads", d.num_heads),
        num_lstm_layers: hp_usize(h, "num_lstm_layers", d.num_lstm_layers),
        dropout: h.get("dropout").and_then(Value::as_f64).unwrap_or(d.dropout),
        output_size: h.get("output_size").and_then(Value::as_u64).map(|v| v as usize),
    };
    if let Some(f) = features {
        if f != cfg.input_size {
            return Err(Error::config("model.input_size", format!("{} features per step, but the data has {f}", cfg.input_size)));
        }
        if cfg.outputs() != f {
            return Err(Error::config("model.output_size", format!("{} outputs, but the data's next step has {f} values", cfg.outputs())));
        }
    }
    cfg.validate().map_err(|e| Error::config("model (tft)", e.to_string()))?;
    Ok(cfg)
}

/// `TftConfig` from the `model:` keys and the data's variables (the target's scale and center are two more
/// static reals; its history the last unknown real).
pub fn canonical_config(h: &Map<String, Value>, vars: &TftVariables) -> Result<TftConfig> {
    let d = TftConfig::default();
    let quantiles = match h.get("quantiles").and_then(Value::as_array) {
        Some(a) => a.iter().filter_map(Value::as_f64).collect(),
        None => d.quantiles.clone(),
    };
    let mut static_reals = vars.statics.clone();
    static_reals.extend(["target_center".to_string(), "target_scale".to_string()]);
    let mut unknown_reals = vars.observed.clone();
    unknown_reals.push(vars.target.clone());
    let cfg = TftConfig {
        hidden_size: hp_usize(h, "hidden_size", d.hidden_size),
        attention_head_size: hp_usize(h, "num_heads", d.attention_head_size),
        hidden_continuous_size: hp_usize(h, "hidden_continuous_size", d.hidden_continuous_size),
        lstm_layers: hp_usize(h, "num_lstm_layers", d.lstm_layers),
        dropout: h.get("dropout").and_then(Value::as_f64).unwrap_or(d.dropout),
        quantiles,
        causal_attention: h.get("causal_attention").and_then(Value::as_bool).unwrap_or(true),
        static_categoricals: vars.categoricals.iter().map(|(n, c)| Categorical { name: n.clone(), cardinality: *c, embedding_dim: 0 }).collect(),
        static_reals,
        known_reals: vars.known.clone(),
        unknown_reals,
    };
    cfg.validate().map_err(|e| Error::config("model (tft)", e.to_string()))?;
    Ok(cfg)
}

/// `model.variant`: true for the canonical model.
pub fn is_canonical(h: &Map<String, Value>) -> bool {
    matches!(h.get("variant").and_then(Value::as_str), Some("canonical") | Some("pytorch_forecasting"))
}

/// A canonical batch's network inputs and the target's per-series (center, scale) `[B]`.
struct Prepared {
    static_cat: Option<Tensor>,
    static_real: Var,
    encoder_real: Var,
    decoder_real: Var,
    center: Tensor,
    scale: Tensor,
}

fn prepare(batch: &Batch) -> Result<Prepared> {
    let y = batch.get("encoder_target")?;
    let (b, te) = (y.shape()[0], y.shape()[1]);
    let v = y.to_dtype(DType::F32)?.contiguous()?.to_vec::<f32>()?;
    let (mut center, mut scale, mut scaled) = (Vec::with_capacity(b), Vec::with_capacity(b), Vec::with_capacity(b * te));
    for row in v.chunks(te) {
        let m = row.iter().map(|&x| x as f64).sum::<f64>() / te as f64;
        let var = row.iter().map(|&x| (x as f64 - m).powi(2)).sum::<f64>() / (te.max(2) - 1) as f64;
        let s = (var.sqrt() as f32).max(MIN_SCALE);
        center.push(m as f32);
        scale.push(s);
        scaled.extend(row.iter().map(|&x| (x - m as f32) / s));
    }
    let center = Tensor::from_vec(center, &[b])?;
    let scale = Tensor::from_vec(scale, &[b])?;
    let statics = batch.get("static")?;
    let static_real = Tensor::cat(&[statics.clone(), center.reshape(&[b as isize, 1])?, scale.reshape(&[b as isize, 1])?], 1)?;
    let target_hist = Tensor::from_vec(scaled, &[b, te, 1])?;
    let encoder_real = Tensor::cat(&[batch.get("encoder_known")?.clone(), batch.get("encoder_observed")?.clone(), target_hist], 2)?;
    let static_cat = batch.fields.iter().find(|(n, _)| n == "static_cat").map(|(_, t)| t.clone());
    Ok(Prepared {
        static_cat,
        static_real: Var::constant(static_real),
        encoder_real: Var::constant(encoder_real),
        decoder_real: Var::constant(batch.get("decoder_known")?.clone()),
        center,
        scale,
    })
}

impl TftTask {
    /// `vars` (canonical) or `features` (seed: the window's width) describe the data.
    pub fn new(run: &RunConfig, len: RunLength, seed: u64, vars: Option<&TftVariables>, features: Option<usize>, unscale: Unscale) -> Result<TftTask> {
        let h = &run.model.hparams;
        let mut g = Generator::new(seed);
        let net = if is_canonical(h) {
            let vars = vars.ok_or_else(|| Error::config("model.variant", "canonical needs the multi-horizon layout (static, known, observed, target)"))?;
            TftNet::Canonical(Tft::new(canonical_config(h, vars)?, &mut g)?)
        } else {
            TftNet::Seed(SeedTft::new(seed_config(h, features)?, &mut g)?)
        };
        Ok(TftTask { net, run: run.clone(), len, unscale })
    }

    /// The network of a saved run (`hparams` as `TftTask::hparams` wrote them).
    pub fn from_hparams(run: &RunConfig, hparams: &Value, path: &std::path::Path, unscale: Unscale) -> Result<TftTask> {
        let network = hparams.get("network").cloned().ok_or_else(|| Error::checkpoint(path, "its hyperparameters have no 'network' (not a tft checkpoint?)"))?;
        let bad = |e: serde_json::Error| Error::checkpoint(path, format!("its tft network hyperparameters: {e}"));
        let mut g = Generator::new(0);
        let net = match hparams.get("variant").and_then(Value::as_str) {
            Some("canonical") => TftNet::Canonical(Tft::new(serde_json::from_value(network).map_err(bad)?, &mut g)?),
            _ => TftNet::Seed(SeedTft::new(serde_json::from_value(network).map_err(bad)?, &mut g)?),
        };
        Ok(TftTask { net, run: run.clone(), len: RunLength { steps_per_epoch: 1, max_epochs: 1, max_steps: -1 }, unscale })
    }

    pub fn quantiles(&self) -> Option<&[f64]> {
        match &self.net {
            TftNet::Canonical(m) => Some(&m.config().quantiles),
            TftNet::Seed(_) => None,
        }
    }

    /// Seed: `(y_hat [B, O], y [B, O])`. Canonical: `(quantiles [B, Td, Q], target [B, Td])`, the forecast
    /// in the file's (globally normalised) units.
    pub fn forecast(&self, batch: &Batch) -> Result<(Var, Tensor, Option<wrt_models::tft::TftOutput>)> {
        match &self.net {
            TftNet::Seed(m) => Ok((m.forward(&Var::constant(batch.get("x")?.clone()))?, batch.get("y")?.clone(), None)),
            TftNet::Canonical(m) => {
                let p = prepare(batch)?;
                let out = m.forward(&TftInput {
                    static_cat: p.static_cat.as_ref(),
                    static_real: Some(&p.static_real),
                    encoder_real: &p.encoder_real,
                    decoder_real: &p.decoder_real,
                })?;
                let b = p.center.shape()[0];
                let shape = [b as isize, 1, 1];
                let pred = out.prediction.mul(&Var::constant(p.scale.reshape(&shape)?))?.add(&Var::constant(p.center.reshape(&shape)?))?;
                let mut out = out;
                out.prediction = pred.clone();
                Ok((pred, batch.get("target")?.clone(), Some(out)))
            }
        }
    }

    fn loss(&self, pred: &Var, y: &Tensor) -> Result<Var> {
        let target = Var::constant(y.clone());
        Ok(match self.quantiles() {
            // pytorch-forecasting's QuantileLoss: the mean of 2 x pinball over every [B, Td, Q] entry
            Some(q) => wrt_nn::loss::quantile_loss(pred, &target, q, wrt_nn::loss::Reduction::None)?.mean_all()?.mul_scalar(2.0)?,
            None => wrt_nn::loss::mse_loss(pred, &target, Reduction::Mean)?,
        })
    }

    fn step(&self, batch: &Batch) -> Result<(Var, Var, Tensor)> {
        let (pred, y, _) = self.forecast(batch)?;
        let loss = self.loss(&pred, &y)?;
        Ok((pred, loss, y))
    }
}

impl Module for TftTask {
    fn visit(&self, v: &mut Walk<'_>) {
        match &self.net {
            TftNet::Seed(m) => m.visit(v),
            TftNet::Canonical(m) => m.visit(v),
        }
    }
}

impl TrainModule for TftTask {
    type Batch = Batch;

    fn hparams(&self) -> Value {
        let mut h = super::base_hparams("tft", self.run.model.hparams.clone(), &self.run);
        let (variant, network) = match &self.net {
            TftNet::Seed(m) => ("seed", serde_json::to_value(m.config())),
            TftNet::Canonical(m) => ("canonical", serde_json::to_value(m.config())),
        };
        h.insert("variant".into(), json!(variant));
        h.insert("network".into(), network.unwrap_or(Value::Null));
        Value::Object(h)
    }

    fn training_step(&self, batch: &Batch, log: &mut StepLog) -> Result<Var> {
        let (_, loss, _) = self.step(batch)?;
        let v = loss.value().item::<f32>()? as f64;
        log.log_with("train_loss", v, true, true, true);
        Ok(loss)
    }

    fn validation_step(&self, batch: &Batch, log: &mut StepLog) -> Result<()> {
        let (pred, loss, y) = self.step(batch)?;
        log.log("val_loss", loss.value().item::<f32>()? as f64);
        log.outputs(self.unscale.apply(pred.value())?, self.unscale.apply(&y)?);
        Ok(())
    }

    /// Both: `target` (the truth, in the units of `prediction`). Seed: `prediction` [B, O]. Canonical: `prediction` [B, Td, Q] in the data's original units, the
    /// `attention` [B, Td, heads, Te + Td] and the variable weights `static_weights` [B, n_static],
    /// `encoder_weights` [B, Te, n_encoder], `decoder_weights` [B, Td, n_known].
    fn predict_step(&self, batch: &Batch) -> Result<Vec<(String, Tensor)>> {
        let (pred, y, out) = self.forecast(batch)?;
        let mut v = vec![("prediction".to_string(), self.unscale.apply(pred.value())?), ("target".to_string(), self.unscale.apply(&y)?)];
        if let Some(o) = out {
            let b = pred.shape()[0];
            let squeeze = |t: &Tensor| -> Result<Tensor> { Ok(t.squeeze(&[-2])?.contiguous()?) };
            v.push(("attention".into(), o.attention));
            let sw = if o.static_weights.rank() == 3 { o.static_weights.reshape(&[b as isize, -1])? } else { o.static_weights };
            v.push(("static_weights".into(), sw.contiguous()?));
            v.push(("encoder_weights".into(), squeeze(&o.encoder_weights)?));
            v.push(("decoder_weights".into(), squeeze(&o.decoder_weights)?));
        }
        Ok(v)
    }

    fn configure_optimizers(&self) -> Result<OptimSetup> {
        optim_setup(&self.run, self.parameters(), self.len)
    }

    fn metrics(&self, stage: Stage) -> Vec<Box<dyn Metric>> {
        if stage != Stage::Validate {
            return Vec::new();
        }
        match self.quantiles() {
            Some(q) => Forecast::quantiles(q).map(|m| vec![Box::new(m) as Box<dyn Metric>]).unwrap_or_default(),
            None => vec![Box::new(Forecast::point())],
        }
    }
}
