//! Pangu (SuperDARN) as a `TrainModule`, the seed's LightningModule: the model rolls `time_step` steps out
//! from `surface` and is scored against the state `time_step` steps ahead with `MSELoss(reduction='sum')`
//! (`train_loss`, `val_loss`). Validation also reports, per channel and pooled, RMSE and MAE (latitude-
//! weighted RMSE when the file has latitudes; ACC against the training split's mean state), and the
//! autoregressive rollout's mean squared error at each lead `k` the targets reach (`val_mse_lead{k}`: the
//! forecast fed back as input k times). The seed's test step is broken upstream; `validate` is its stand-in.

use super::{optim_setup, RunLength};
use crate::config::RunConfig;
use crate::data::Batch;
use crate::metrics::{Gridded, Metric};
use crate::trainer::{OptimSetup, Stage, StepLog, TrainModule};
use crate::{Error, Result};
use serde_json::{json, Value};
use wrt_autograd::{fused::Reduction, Var};
use wrt_models::pangu::{Pangu, PanguConfig};
use wrt_nn::{Module, ModuleExt, Walk};
use wrt_tensor::{Generator, Tensor};

pub struct PanguTask {
    pub model: Pangu,
    run: RunConfig,
    len: RunLength,
    /// Grid-row latitudes (degrees) for weighted metrics, when the data has them.
    pub lat: Option<Vec<f64>>,
    /// The training split's mean state `[C, H, W]`: the climatology of the ACC.
    pub climatology: Option<Tensor>,
}

/// `PanguConfig` from the validated `model:` hyperparameters.
pub fn model_config(h: &serde_json::Map<String, Value>) -> Result<PanguConfig> {
    super::network_config("model (pangu)", h)
}

impl PanguTask {
    pub fn new(run: &RunConfig, len: RunLength, seed: u64, lat: Option<Vec<f64>>) -> Result<PanguTask> {
        let model = Pangu::new(model_config(&run.model.hparams)?, &mut Generator::new(seed))?;
        Ok(PanguTask { model, run: run.clone(), len, lat, climatology: None })
    }

    /// The state `k * time_step` steps ahead, `[B, C, H, W]` (k from 1), if the batch's targets reach it.
    fn target(&self, batch: &Batch, k: usize) -> Result<Option<Tensor>> {
        let t = batch.get("target_surface")?;
        let i = k * self.model.config().time_step;
        Ok(if i <= t.shape()[1] { Some(t.select(1, i - 1)?.contiguous()?) } else { None })
    }

    fn forecast(&self, batch: &Batch) -> Result<(Var, Tensor)> {
        let x = Var::constant(batch.get("surface")?.clone());
        let y = self.target(batch, 1)?.ok_or_else(|| {
            Error::config("model.time_step", format!("the data's targets reach {} steps, fewer than time_step {}", batch.get("target_surface").map(|t| t.shape()[1]).unwrap_or(0), self.model.config().time_step))
        })?;
        Ok((self.model.forward(&x)?, y))
    }

    /// Leads (in `time_step` units) the batch's targets reach.
    fn leads(&self, batch: &Batch) -> Result<usize> {
        Ok(batch.get("target_surface")?.shape()[1] / self.model.config().time_step)
    }
}

pub(crate) fn mse(a: &Tensor, b: &Tensor) -> Result<f64> {
    Ok(a.sub(b)?.square()?.mean_all()?.to_dtype(wrt_tensor::DType::F64)?.item::<f64>()?)
}

impl Module for PanguTask {
    fn visit(&self, v: &mut Walk<'_>) {
        self.model.visit(v)
    }
}

impl TrainModule for PanguTask {
    type Batch = Batch;

    fn hparams(&self) -> Value {
        let mut h = super::base_hparams("pangu", self.run.model.hparams.clone(), &self.run);
        h.insert("loss".into(), json!("mse_sum"));
        Value::Object(h)
    }

    fn training_step(&self, batch: &Batch, log: &mut StepLog) -> Result<Var> {
        let (pred, y) = self.forecast(batch)?;
        let loss = wrt_nn::loss::mse_loss(&pred, &Var::constant(y), Reduction::Sum)?;
        log.log_with("train_loss", loss.value().item::<f32>()? as f64, true, true, true);
        Ok(loss)
    }

    fn validation_step(&self, batch: &Batch, log: &mut StepLog) -> Result<()> {
        let (pred, y) = self.forecast(batch)?;
        let loss = wrt_nn::loss::mse_loss(&pred, &Var::constant(y.clone()), Reduction::Sum)?;
        log.log("val_loss", loss.value().item::<f32>()? as f64);
        let leads = self.leads(batch)?;
        if leads > 1 {
            // the autoregressive rollout: each lead from the previous forecast
            let mut x = pred.value().clone();
            log.log("val_mse_lead1", mse(&x, &y)?);
            for k in 2..=leads {
                x = self.model.forward(&Var::constant(x))?.value().clone();
                if let Some(t) = self.target(batch, k)? {
                    log.log(&format!("val_mse_lead{k}"), mse(&x, &t)?);
                }
            }
        }
        log.outputs(pred.value().clone(), y);
        Ok(())
    }

    /// `prediction` [B, C, H, W]: the forecast `time_step` steps ahead.
    fn predict_step(&self, batch: &Batch) -> Result<Vec<(String, Tensor)>> {
        let (pred, _) = self.forecast(batch)?;
        Ok(vec![("prediction".into(), pred.value().clone())])
    }

    fn configure_optimizers(&self) -> Result<OptimSetup> {
        optim_setup(&self.run, self.parameters(), self.len)
    }

    fn metrics(&self, stage: Stage) -> Vec<Box<dyn Metric>> {
        if stage != Stage::Validate {
            return Vec::new();
        }
        let names: Vec<String> = (0..wrt_models::pangu::CHANNELS).map(|c| format!("ch{c}")).collect();
        let Ok(mut m) = Gridded::new(names) else { return Vec::new() };
        if let Some(lat) = &self.lat {
            match m.clone().with_latitudes(lat) {
                Ok(w) => m = w,
                Err(e) => eprintln!("warning: latitude weighting off: {e}"),
            }
        }
        if let Some(c) = &self.climatology {
            match m.clone().with_climatology(c) {
                Ok(w) => m = w,
                Err(e) => eprintln!("warning: no ACC: {e}"),
            }
        }
        vec![Box::new(m)]
    }
}
