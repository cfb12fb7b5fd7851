//! SaTformer as a `TrainModule`: the guide's LightningModule. Cross-entropy over the precipitation bins,
//! `train_loss`/`val_loss` plus CSI, F1 and CRPS per epoch (`train_csi`, `val_csi`, ...), AdamW with a
//! cosine schedule by default (from the config), and predictions as bin probabilities and argmax.
//!
//! Its state_dict names are Lightning's for a module holding `self.model = SaTformer(...)`: `model.<name>`,
//! so a `.ckpt` of either side names the same tensors.

use super::{optim_setup, RunLength};
use crate::config::RunConfig;
use crate::data::Batch;
use crate::metrics::{BinnedPrecip, BinnedPrecipConfig, Metric};
use crate::trainer::{OptimSetup, Stage, StepLog, TrainModule};
use crate::Result;
use serde_json::{json, Value};
use wrt_autograd::{fused::Reduction, Var};
use wrt_models::{Satformer, SatformerConfig};
use wrt_nn::{Module, Walk};
use wrt_tensor::{DType, Generator};

impl crate::trainer::BatchSize for Batch {
    fn batch_size(&self) -> usize {
        self.len()
    }
}

pub struct SatformerTask {
    pub model: Satformer,
    run: RunConfig,
    len: RunLength,
}

impl SatformerTask {
    /// The model the config describes, initialised from `seed` (the run's seed, as `seed_everything` before
    /// the LightningModule is built).
    pub fn new(run: &RunConfig, len: RunLength, seed: u64) -> Result<SatformerTask> {
        let cfg = model_config(&run.model.hparams)?;
        let model = Satformer::new(cfg, &mut Generator::new(seed))?;
        Ok(SatformerTask { model, run: run.clone(), len })
    }

    fn loss(&self, batch: &Batch) -> Result<(Var, Var)> {
        let x = Var::constant(batch.get("x")?.clone());
        let y = batch.get("y")?;
        let logits = self.model.forward(&x)?;
        let loss = wrt_nn::loss::cross_entropy(&logits, y, None, -100, self.run.loss.label_smoothing, Reduction::Mean)?;
        Ok((logits, loss))
    }
}

/// `SatformerConfig` from the validated `model:` hyperparameters; an error names the key.
pub fn model_config(h: &serde_json::Map<String, Value>) -> Result<SatformerConfig> {
    let mut h = h.clone();
    if h.get("attn").and_then(Value::as_str) == Some("ST2") {
        h.insert("attn".into(), Value::String("ST^2".into()));
    }
    super::network_config("model (satformer)", &h)
}

impl Module for SatformerTask {
    fn visit(&self, v: &mut Walk<'_>) {
        v.child("model", &self.model);
    }
}

impl TrainModule for SatformerTask {
    type Batch = Batch;

    /// `{"model": "satformer", <model hyperparameters>, "optimizer": ..., "learning_rate": ...}`: enough for
    /// `load_from_checkpoint` to rebuild the network, and what TensorBoard's hparams view shows.
    fn hparams(&self) -> Value {
        let mut h = super::base_hparams("satformer", self.run.model.hparams.clone(), &self.run);
        h.insert("accumulate_grad_batches".into(), json!(self.run.trainer.accumulate_grad_batches));
        Value::Object(h)
    }

    fn training_step(&self, batch: &Batch, log: &mut StepLog) -> Result<Var> {
        let (logits, loss) = self.loss(batch)?;
        let v = loss.value().item::<f32>()? as f64;
        // `train_loss_step` every step, `train_loss` as the epoch mean (the names the guide's table lists)
        log.log_with("train_loss_step", v, true, false, true);
        log.log_with("train_loss", v, false, true, false);
        log.outputs(logits.value().clone(), batch.get("y")?.clone());
        Ok(loss)
    }

    fn validation_step(&self, batch: &Batch, log: &mut StepLog) -> Result<()> {
        let (logits, loss) = self.loss(batch)?;
        log.log("val_loss", loss.value().item::<f32>()? as f64);
        log.outputs(logits.value().clone(), batch.get("y")?.clone());
        Ok(())
    }

    /// `probs` [B, num_classes] (softmax over the bins) and `pred` [B] (the most likely bin).
    fn predict_step(&self, batch: &Batch) -> Result<Vec<(String, wrt_tensor::Tensor)>> {
        let x = Var::constant(batch.get("x")?.clone());
        let logits = self.model.forward(&x)?.value().clone();
        let probs = logits.softmax(-1)?;
        let pred = logits.argmax(Some(-1), false)?;
        Ok(vec![("probs".into(), probs), ("pred".into(), pred.to_dtype(DType::I64)?)])
    }

    fn configure_optimizers(&self) -> Result<OptimSetup> {
        optim_setup(&self.run, wrt_nn::ModuleExt::parameters(self), self.len)
    }

    fn metrics(&self, _stage: Stage) -> Vec<Box<dyn Metric>> {
        match BinnedPrecip::with_config(BinnedPrecipConfig::new(self.model.config().num_classes)) {
            Ok(m) => vec![Box::new(m)],
            Err(_) => Vec::new(),
        }
    }
}
