//! The seam a model plugs into: `TrainModule`, wrt's LightningModule. A model implements its steps and its
//! optimizer setup; the trainer owns everything else (loop, accumulation, clipping, scheduling, logging,
//! checkpoints, resume).

use crate::optim::Optimizer;
use crate::sched::Scheduler;
use crate::Result;
use wrt_autograd::Var;
use wrt_nn::Module;
use wrt_tensor::Tensor;

/// A batch knows its size, so epoch means weight each batch by it (as Lightning's `batch_size`).
pub trait BatchSize {
    fn batch_size(&self) -> usize;
}

/// The phase a value was logged in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    Train,
    Validate,
    Predict,
}

/// What a step logs: `log("train_loss", v)` as Lightning's `self.log`. In training the default is per step
/// (and an epoch mean when `on_epoch`), in validation an epoch mean weighted by batch size.
pub struct StepLog {
    pub(crate) stage: Stage,
    pub(crate) batch_size: usize,
    pub(crate) values: Vec<Logged>,
    pub(crate) outputs: Vec<(Tensor, Tensor)>,
}

#[derive(Clone, Debug)]
pub(crate) struct Logged {
    pub name: String,
    pub value: f64,
    pub on_step: bool,
    pub on_epoch: bool,
    pub prog_bar: bool,
}

impl StepLog {
    pub(crate) fn new(stage: Stage, batch_size: usize) -> StepLog {
        StepLog { stage, batch_size, values: Vec::new(), outputs: Vec::new() }
    }

    /// Log a scalar with the stage's defaults (train: every step; validation: epoch mean).
    pub fn log(&mut self, name: &str, value: f64) {
        let train = self.stage == Stage::Train;
        self.log_with(name, value, train, !train, true);
    }

    /// Log with explicit `on_step` / `on_epoch` / `prog_bar` (Lightning's flags).
    pub fn log_with(&mut self, name: &str, value: f64, on_step: bool, on_epoch: bool, prog_bar: bool) {
        self.values.push(Logged { name: name.to_string(), value, on_step, on_epoch, prog_bar });
    }

    /// Hand predictions and targets to the module's streaming metrics (`TrainModule::metrics`), which the
    /// trainer accumulates over the epoch and logs as `{stage}_{name}`.
    pub fn outputs(&mut self, preds: Tensor, target: Tensor) {
        self.outputs.push((preds, target));
    }
}

/// When a scheduler steps (Lightning's `lr_scheduler_config["interval"]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interval {
    Epoch,
    Step,
}

/// A scheduler and how the trainer drives it. `monitor` names the metric a `ReduceLROnPlateau` reads
/// (stepped after validation); other schedulers ignore it.
pub struct SchedulerSetup {
    pub scheduler: Box<dyn Scheduler>,
    pub interval: Interval,
    pub frequency: u64,
    pub monitor: Option<String>,
}

/// What `configure_optimizers` returns.
pub struct OptimSetup {
    pub optimizer: Box<dyn Optimizer>,
    pub scheduler: Option<SchedulerSetup>,
}

/// wrt's LightningModule. `Module` gives the parameters, buffers, train/eval switch and random streams.
pub trait TrainModule: Module {
    type Batch: BatchSize + Send;

    /// The model's name and hyperparameters: saved in every checkpoint, so `load_from_checkpoint` can rebuild
    /// the model, and logged as hparams.
    fn hparams(&self) -> serde_json::Value {
        serde_json::Value::Null
    }

    /// Forward a batch and return the loss to minimise (log what you want shown).
    fn training_step(&self, batch: &Self::Batch, log: &mut StepLog) -> Result<Var>;

    /// Forward a batch in eval mode under no_grad; log `val_loss` and hand outputs to metrics.
    fn validation_step(&self, batch: &Self::Batch, log: &mut StepLog) -> Result<()>;

    /// Named output tensors for one batch (`wrt-train predict` writes them).
    fn predict_step(&self, batch: &Self::Batch) -> Result<Vec<(String, Tensor)>> {
        let _ = batch;
        Err(crate::Error::state("this model has no predict_step"))
    }

    /// The optimizer (with param groups) and an optional scheduler.
    fn configure_optimizers(&self) -> Result<OptimSetup>;

    /// Fresh streaming metrics for one stage (called once per stage; reset every epoch). Names are logged as
    /// `{train|val}_{metric name}`.
    fn metrics(&self, stage: Stage) -> Vec<Box<dyn crate::metrics::Metric>> {
        let _ = stage;
        Vec::new()
    }
}
