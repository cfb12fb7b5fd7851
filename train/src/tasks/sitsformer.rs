//! SITS-Former as a `TrainModule`: the tutorial's training loop. Cross-entropy (label smoothing and
//! inverse-frequency class weights from the config), `train_loss_step` / `train_loss` and `train_acc`,
//! `val_loss`, and at each validation epoch's end the tutorial's metrics (`val_acc`, macro and weighted
//! precision / recall / F1, `val_auroc`), the confusion matrix and the per-class report. AdamW with a warmup
//! cosine by default; early stopping and the best checkpoint on `val_acc` (seed defaults).
//!
//! State_dict names are `model.<name>`, as a Lightning module holding `self.model`.

use super::{optim_setup, RunLength};
use crate::config::RunConfig;
use crate::data::Batch;
use crate::metrics::{Classification, ClassificationConfig, Metric, Renamed, RocAuc};
use crate::trainer::{OptimSetup, Stage, StepLog, TrainModule};
use crate::Result;
use serde_json::{json, Value};
use wrt_autograd::{fused::Reduction, Var};
use wrt_models::sitsformer::{Sitsformer, SitsformerConfig};
use wrt_nn::{Module, Walk};
use wrt_tensor::{DType, Generator, Tensor};

pub struct SitsformerTask {
    pub model: Sitsformer,
    run: RunConfig,
    len: RunLength,
    /// Cross-entropy class weights `[num_classes]` (`model.class_weights: balanced`), else None.
    weights: Option<Tensor>,
}

impl SitsformerTask {
    pub fn new(run: &RunConfig, len: RunLength, seed: u64, weights: Option<Tensor>) -> Result<SitsformerTask> {
        let model = Sitsformer::new(model_config(&run.model.hparams)?, &mut Generator::new(seed))?;
        Ok(SitsformerTask { model, run: run.clone(), len, weights })
    }

    fn logits(&self, batch: &Batch) -> Result<Var> {
        let x = Var::constant(batch.get("sequence")?.clone());
        Ok(self.model.forward(&x, Some(batch.get("mask")?))?)
    }

    fn loss(&self, batch: &Batch) -> Result<(Var, Var)> {
        let logits = self.logits(batch)?;
        let y = batch.get("label")?;
        let loss = wrt_nn::loss::cross_entropy(&logits, y, self.weights.as_ref(), -100, self.run.loss.label_smoothing, Reduction::Mean)?;
        Ok((logits, loss))
    }
}

/// Inverse-frequency weights `n / (K n_c)` from the training labels (a class never seen gets weight 0, as
/// it contributes no loss anyway).
pub fn balanced_weights(labels: impl Iterator<Item = i64>, num_classes: usize) -> Result<Tensor> {
    let mut counts = vec![0u64; num_classes];
    let mut n = 0u64;
    for y in labels {
        if let Some(c) = usize::try_from(y).ok().and_then(|y| counts.get_mut(y)) {
            *c += 1;
            n += 1;
        }
    }
    let w: Vec<f32> = counts.iter().map(|&c| if c == 0 { 0.0 } else { (n as f64 / (num_classes as f64 * c as f64)) as f32 }).collect();
    Ok(Tensor::from_vec(w, &[num_classes])?)
}

/// `SitsformerConfig` from the validated `model:` hyperparameters; an error names the key.
pub fn model_config(h: &serde_json::Map<String, Value>) -> Result<SitsformerConfig> {
    super::network_config("model (sitsformer)", h)
}

impl Module for SitsformerTask {
    fn visit(&self, v: &mut Walk<'_>) {
        v.child("model", &self.model);
    }
}

impl TrainModule for SitsformerTask {
    type Batch = Batch;

    fn hparams(&self) -> Value {
        let mut h = super::base_hparams("sitsformer", self.run.model.hparams.clone(), &self.run);
        h.insert("label_smoothing".into(), json!(self.run.loss.label_smoothing));
        if let Some(w) = &self.weights {
            h.insert("class_weights".into(), json!(w.to_vec::<f32>().unwrap_or_default()));
        }
        Value::Object(h)
    }

    fn training_step(&self, batch: &Batch, log: &mut StepLog) -> Result<Var> {
        let (logits, loss) = self.loss(batch)?;
        let v = loss.value().item::<f32>()? as f64;
        log.log_with("train_loss_step", v, true, false, true);
        log.log_with("train_loss", v, false, true, false);
        log.outputs(logits.value().clone(), batch.get("label")?.clone());
        Ok(loss)
    }

    fn validation_step(&self, batch: &Batch, log: &mut StepLog) -> Result<()> {
        let (logits, loss) = self.loss(batch)?;
        log.log("val_loss", loss.value().item::<f32>()? as f64);
        log.outputs(logits.value().clone(), batch.get("label")?.clone());
        Ok(())
    }

    /// `probs` [B, num_classes] and `pred` [B].
    fn predict_step(&self, batch: &Batch) -> Result<Vec<(String, Tensor)>> {
        let logits = self.logits(batch)?.value().clone();
        let pred = logits.argmax(Some(-1), false)?.to_dtype(DType::I64)?;
        Ok(vec![("probs".into(), logits.softmax(-1)?), ("pred".into(), pred)])
    }

    fn configure_optimizers(&self) -> Result<OptimSetup> {
        optim_setup(&self.run, wrt_nn::ModuleExt::parameters(self), self.len)
    }

    /// Training: accuracy (`train_acc`). Validation: accuracy, macro and weighted scores, AUROC, the
    /// confusion matrix and the per-class report.
    fn metrics(&self, stage: Stage) -> Vec<Box<dyn Metric>> {
        let k = self.model.config().num_classes;
        let Ok(cls) = Classification::with_config(ClassificationConfig::new(k)) else { return Vec::new() };
        match stage {
            Stage::Validate => {
                let mut out: Vec<Box<dyn Metric>> = vec![Box::new(cls)];
                if let Ok(auc) = RocAuc::new(k, true) {
                    out.push(Box::new(auc));
                }
                out
            }
            _ => vec![Box::new(Renamed::new(cls, &[("acc", "acc")]))],
        }
    }
}
