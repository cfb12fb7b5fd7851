//! AtmoDist as a `TrainModule`: the guide's `LightningModelAdapter` around `atmodist_revised`. Cross-entropy
//! over the time-gap classes; `train_loss`/`train_acc` logged per step and per epoch (Lightning's
//! `train_loss_step`, `train_loss_epoch`), `val_loss`/`val_acc` per epoch, and at each validation epoch's end
//! the reference's `val_accuracy`, `val_precision`, `val_recall`, `val_f1` (support-weighted, as its
//! `average='weighted'`), the confusion matrix and the classification report (see `Classification`).
//! SGD or Adam with ReduceLROnPlateau / cosine from the config.
//!
//! State_dict names are `model.<name>`, as the adapter's `self.model`, so checkpoints of either side name the
//! same tensors.

use super::{optim_setup, RunLength};
use crate::config::RunConfig;
use crate::data::Batch;
use crate::metrics::{Classification, ClassificationConfig, Metric, Renamed};
use crate::trainer::{OptimSetup, Stage, StepLog, TrainModule};
use crate::Result;
use serde_json::{json, Value};
use wrt_autograd::{fused::Reduction, Var};
use wrt_models::atmodist::{Atmodist, AtmodistConfig, AtmodistOutput};
use wrt_nn::{Module, Walk};
use wrt_tensor::{DType, Generator, Tensor};

pub struct AtmodistTask {
    pub model: Atmodist,
    run: RunConfig,
    len: RunLength,
    /// Hours per gap class (the data's frequency), for the class names `3h`, `6h`, ...
    step_hours: Option<f64>,
}

impl AtmodistTask {
    /// The model the config describes, initialised from `seed`; `step_hours` names the classes.
    pub fn new(run: &RunConfig, len: RunLength, seed: u64, step_hours: Option<f64>) -> Result<AtmodistTask> {
        AtmodistTask::with_config(run, model_config(&run.model.hparams)?, len, seed, step_hours)
    }

    pub fn with_config(run: &RunConfig, cfg: AtmodistConfig, len: RunLength, seed: u64, step_hours: Option<f64>) -> Result<AtmodistTask> {
        let model = Atmodist::new(cfg, &mut Generator::new(seed))?;
        Ok(AtmodistTask { model, run: run.clone(), len, step_hours })
    }

    fn forward(&self, batch: &Batch) -> Result<(AtmodistOutput, Var, Tensor)> {
        let x1 = Var::constant(batch.get("x1")?.clone());
        let x2 = Var::constant(batch.get("x2")?.clone());
        let y = batch.get("y")?.clone();
        let out = self.model.forward(&x1, &x2)?;
        let loss = wrt_nn::loss::cross_entropy(&out.logits, &y, None, -100, self.run.loss.label_smoothing, Reduction::Mean)?;
        Ok((out, loss, y))
    }

    /// The variables (by name, in order) and whether they were standardised: how this model reads states.
    pub fn data_settings(&self) -> (Vec<String>, bool) {
        (self.run.data.variables.clone(), self.run.data.normalize)
    }

    /// `3h`, `6h`, ... (the reference's labels) when the step is known, else the class index.
    pub fn class_names(&self) -> Vec<String> {
        let n = self.model.config().num_classes;
        match self.step_hours {
            Some(h) => (1..=n).map(|k| format!("{}h", trim(k as f64 * h))).collect(),
            None => (0..n).map(|c| c.to_string()).collect(),
        }
    }
}

fn trim(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

/// Fraction of rows whose argmax is the target.
fn accuracy(logits: &Tensor, y: &Tensor) -> Result<f64> {
    let pred = logits.argmax(Some(-1), false)?.to_dtype(DType::I64)?.contiguous()?.to_vec::<i64>()?;
    let y = y.to_dtype(DType::I64)?.contiguous()?.to_vec::<i64>()?;
    let hits = pred.iter().zip(&y).filter(|(p, t)| p == t).count();
    Ok(hits as f64 / y.len().max(1) as f64)
}

/// `AtmodistConfig` from the validated `model:` hyperparameters; an error names the key.
pub fn model_config(h: &serde_json::Map<String, Value>) -> Result<AtmodistConfig> {
    super::network_config("model (atmodist)", h)
}

impl Module for AtmodistTask {
    fn visit(&self, v: &mut Walk<'_>) {
        v.child("model", &self.model);
    }
}

impl TrainModule for AtmodistTask {
    type Batch = Batch;

    /// `{"model": "atmodist", <the network's hyperparameters, resolved>, "optimizer": ..., ...}`.
    fn hparams(&self) -> Value {
        let network = match serde_json::to_value(self.model.config()) {
            Ok(Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        };
        let mut h = super::base_hparams("atmodist", network, &self.run);
        h.insert("momentum".into(), json!(self.run.optimizer.momentum));
        if let Some(hours) = self.step_hours {
            h.insert("frequency_hours".into(), json!(hours));
        }
        // how the states were read, so that analogue search embeds them the same way
        h.insert("variables".into(), json!(self.run.data.variables));
        h.insert("normalize".into(), json!(self.run.data.normalize));
        Value::Object(h)
    }

    fn training_step(&self, batch: &Batch, log: &mut StepLog) -> Result<Var> {
        let (out, loss, y) = self.forward(batch)?;
        log.log_with("train_loss", loss.value().item::<f32>()? as f64, true, true, true);
        log.log_with("train_acc", accuracy(out.logits.value(), &y)?, true, true, true);
        Ok(loss)
    }

    fn validation_step(&self, batch: &Batch, log: &mut StepLog) -> Result<()> {
        let (out, loss, y) = self.forward(batch)?;
        log.log("val_loss", loss.value().item::<f32>()? as f64);
        log.log("val_acc", accuracy(out.logits.value(), &y)?);
        log.outputs(out.logits.value().clone(), y);
        Ok(())
    }

    /// `probs` [B, num_classes] (softmax over the gaps), `pred` [B] (the most likely class) and the pair's
    /// time steps `step1`, `step2` [B].
    fn predict_step(&self, batch: &Batch) -> Result<Vec<(String, Tensor)>> {
        let (x1, x2) = (Var::constant(batch.get("x1")?.clone()), Var::constant(batch.get("x2")?.clone()));
        let logits = self.model.forward(&x1, &x2)?.logits.value().clone();
        let pred = logits.argmax(Some(-1), false)?.to_dtype(DType::I64)?;
        let mut out = vec![("probs".into(), logits.softmax(-1)?), ("pred".into(), pred)];
        for (name, key) in [("step1", "t1"), ("step2", "t2")] {
            if let Ok(t) = batch.get(key) {
                out.push((name.into(), t.to_dtype(DType::I64)?));
            }
        }
        Ok(out)
    }

    fn configure_optimizers(&self) -> Result<OptimSetup> {
        optim_setup(&self.run, wrt_nn::ModuleExt::parameters(self), self.len)
    }

    /// Validation only: the reference's epoch-end scores, confusion matrix and report.
    fn metrics(&self, stage: Stage) -> Vec<Box<dyn Metric>> {
        if stage != Stage::Validate {
            return Vec::new();
        }
        let mut cfg = ClassificationConfig::new(self.model.config().num_classes);
        cfg.class_names = Some(self.class_names());
        match Classification::with_config(cfg) {
            Ok(m) => vec![Box::new(Renamed::new(
                m,
                &[("acc", "accuracy"), ("precision_weighted", "precision"), ("recall_weighted", "recall"), ("f1_weighted", "f1")],
            ))],
            Err(_) => Vec::new(),
        }
    }
}
