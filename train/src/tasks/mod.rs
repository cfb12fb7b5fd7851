//! Tasks: each model of wrt-models wrapped as a `TrainModule` (its loss, logged values, metrics and
//! predictions), built from a `RunConfig`. `optim_setup` turns the config's optimizer and scheduler into
//! what `configure_optimizers` returns, the same for every task.

pub mod atmodist;
pub mod pangu;
pub mod satformer;
pub mod sitsformer;
pub mod tft;

use crate::config::{Interval as CfgInterval, OptimizerKind, RunConfig, SchedulerKind};
use crate::optim::{Adam, Optimizer, ParamGroup, Sgd};
use crate::sched::{CosineAnnealingLR, CosineAnnealingWarmRestarts, LinearWarmupCosine, MultiStepLR, OneCycleLR, ReduceLROnPlateau, Scheduler, StepLR};
use crate::trainer::{Interval, OptimSetup, SchedulerSetup};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use wrt_autograd::Var;

/// How long the run is, in the units schedulers count: what a cosine's default `T_max`, a warmup given in
/// epochs and OneCycle's `total_steps` are computed from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunLength {
    /// Optimizer steps per epoch (training batches / accumulate_grad_batches, rounded up).
    pub steps_per_epoch: u64,
    pub max_epochs: u64,
    /// -1: no step limit.
    pub max_steps: i64,
}

impl RunLength {
    pub fn of(cfg: &RunConfig, train_batches: u64) -> RunLength {
        let t = &cfg.trainer;
        let n = t.limit_train_batches.of(train_batches);
        let accum = t.accumulate_grad_batches.max(1);
        let steps_per_epoch = n.div_ceil(accum).max(1);
        let max_epochs = match (t.max_epochs, t.max_steps) {
            (Some(e), _) => e,
            (None, s) if s > 0 => (s as u64).div_ceil(steps_per_epoch),
            _ => 1000,
        };
        RunLength { steps_per_epoch, max_epochs, max_steps: t.max_steps }
    }

    /// Total optimizer steps of the run.
    pub fn total_steps(&self) -> u64 {
        let by_epochs = self.steps_per_epoch * self.max_epochs;
        if self.max_steps >= 0 {
            by_epochs.min(self.max_steps as u64)
        } else {
            by_epochs
        }
    }
}

/// The hyperparameters every task saves with its checkpoints: `{"model": name, <network>, "optimizer",
/// "learning_rate", "weight_decay", "batch_size"}`; each task adds its own after.
pub fn base_hparams(name: &str, network: serde_json::Map<String, serde_json::Value>, run: &RunConfig) -> serde_json::Map<String, serde_json::Value> {
    use serde_json::json;
    let mut h = serde_json::Map::new();
    h.insert("model".into(), json!(name));
    h.extend(network);
    h.insert("optimizer".into(), serde_json::to_value(run.optimizer.kind).unwrap_or(serde_json::Value::Null));
    h.insert("learning_rate".into(), json!(run.optimizer.lr));
    h.insert("weight_decay".into(), json!(run.optimizer.weight_decay));
    h.insert("batch_size".into(), json!(run.loader.batch_size));
    h
}

/// A network config from the validated `model:` hyperparameters; an error names `key` (`model (satformer)`).
pub fn network_config<T: serde::de::DeserializeOwned>(key: &'static str, h: &serde_json::Map<String, serde_json::Value>) -> Result<T> {
    serde_json::from_value(serde_json::Value::Object(h.clone())).map_err(|e| Error::config(key, e.to_string()))
}

/// The optimizer over `params` (one param group) and the scheduler the config asks for.
pub fn optim_setup(cfg: &RunConfig, params: Vec<Var>, len: RunLength) -> Result<OptimSetup> {
    let o = &cfg.optimizer;
    let mut optimizer: Box<dyn Optimizer> = match o.kind {
        OptimizerKind::Sgd => Box::new(Sgd::new(vec![ParamGroup::new(params, o.sgd())])?),
        OptimizerKind::Adam => Box::new(Adam::new(vec![ParamGroup::new(params, o.adam())])?),
        OptimizerKind::AdamW => Box::new(Adam::adamw(vec![ParamGroup::new(params, o.adam())])?),
    };
    let interval = match cfg.scheduler.interval {
        CfgInterval::Epoch => Interval::Epoch,
        CfgInterval::Step => Interval::Step,
    };
    // the run's length in scheduler intervals, and how many intervals an epoch is
    let (intervals, per_epoch) = match interval {
        Interval::Epoch => (len.max_epochs, 1),
        Interval::Step => (len.total_steps(), len.steps_per_epoch),
    };
    let opt = optimizer.as_mut();
    let count = |v: u64, what: &'static str| -> Result<usize> {
        usize::try_from(v).map_err(|_| Error::config(what, format!("{v} is too large")))
    };
    let (scheduler, monitor): (Box<dyn Scheduler>, Option<String>) = match &cfg.scheduler.kind {
        None => return Ok(OptimSetup { optimizer, scheduler: None }),
        Some(SchedulerKind::ReduceOnPlateau { monitor, plateau }) => (Box::new(ReduceLROnPlateau::new(opt, plateau.clone())?), Some(monitor.clone())),
        Some(SchedulerKind::Cosine { t_max, eta_min, warmup_epochs, warmup_start_lr }) => {
            let t_max = count(t_max.unwrap_or(intervals).max(1), "model.t_max")?;
            if *warmup_epochs > 0 {
                let mut warmup = count(warmup_epochs * per_epoch, "model.warmup_epochs")?;
                if warmup >= t_max {
                    // a run shorter than its warmup (`--max_epochs 1` on a config with warmup): keep half of it
                    let w = t_max / 2;
                    eprintln!("warning: the warmup ({warmup} scheduler steps) is not shorter than the run ({t_max}); warming up for {w} instead");
                    warmup = w;
                }
                (Box::new(LinearWarmupCosine::new(opt, warmup, t_max, *warmup_start_lr, *eta_min)?), None)
            } else {
                (Box::new(CosineAnnealingLR::new(opt, t_max, *eta_min)?), None)
            }
        }
        Some(SchedulerKind::CosineRestarts { t_0, t_mult, eta_min }) => {
            (Box::new(CosineAnnealingWarmRestarts::new(opt, count(*t_0, "model.t_0")?, count(*t_mult, "model.t_mult")?, *eta_min)?), None)
        }
        Some(SchedulerKind::Step { step_size, gamma }) => (Box::new(StepLR::new(opt, count(*step_size, "model.step_size")?, *gamma)?), None),
        Some(SchedulerKind::MultiStep { milestones, gamma }) => {
            let m = milestones.iter().map(|&v| count(v, "model.milestones")).collect::<Result<Vec<_>>>()?;
            (Box::new(MultiStepLR::new(opt, &m, *gamma)?), None)
        }
        Some(SchedulerKind::OneCycle { max_lr, pct_start, div_factor, final_div_factor, three_phase, anneal }) => {
            // OneCycle is a per-step schedule whatever `interval` says (PyTorch's and Lightning's usage)
            let mut c = OneCycleLR::default_config(count(len.total_steps().max(1), "total steps")?);
            c.pct_start = *pct_start;
            c.div_factor = *div_factor;
            c.final_div_factor = *final_div_factor;
            c.three_phase = *three_phase;
            c.anneal = *anneal;
            let lrs = opt.lrs().iter().map(|&lr| max_lr.unwrap_or(lr)).collect::<Vec<_>>();
            let s = OneCycleLR::new(opt, &lrs, c)?;
            return Ok(OptimSetup { optimizer, scheduler: Some(SchedulerSetup { scheduler: Box::new(s), interval: Interval::Step, frequency: 1, monitor: None }) });
        }
    };
    Ok(OptimSetup { optimizer, scheduler: Some(SchedulerSetup { scheduler, interval, frequency: 1, monitor }) })
}
