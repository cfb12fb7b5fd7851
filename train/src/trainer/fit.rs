//! The training loop. One `Trainer::fit` call runs epochs of training batches (gradient accumulation,
//! clipping, optimizer and scheduler steps), validation at the configured points, logging, checkpointing and
//! early stopping, and can continue exactly from any checkpoint it wrote.
//!
//! Exact resume rests on three facts: every random draw comes from a named stream whose (seed, offset) is
//! saved (model dropout streams and the global generator); the data order is a function of (seed, epoch) so
//! the loader restarts at a batch index; and checkpoints are only taken at optimizer-step boundaries, where
//! no gradient is pending. Everything else the loop carries (epoch means so far, streaming metric states,
//! callback tables) is saved beside the weights.

use super::checkpoint::{Checkpoint, Meta, Position, FORMAT_VERSION};
use super::config::{ClipAlgorithm, Precision, TrainerConfig};
use super::early_stopping::EarlyStopping;
use super::model_checkpoint::ModelCheckpoint;
use super::module::{BatchSize, Interval, OptimSetup, Stage, StepLog, TrainModule};
use super::progress::Progress;
use crate::log::Logger;
use crate::metrics::{ArtifactBody, Metric};
use crate::optim::{clip_grad_norm_, clip_grad_value_, GradScaler, GradScalerConfig};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use wrt_autograd::autocast;
use wrt_nn::ModuleExt;
use wrt_tensor::Generator;

/// Batches for the trainer: `num_batches` per epoch, and the batches of one epoch from a start index (the
/// order may depend on the epoch, never on anything else, so a resumed epoch sees the same batches).
pub trait Loader<B> {
    fn num_batches(&self) -> u64;
    fn batches<'a>(&'a self, epoch: u64, start: u64) -> Result<Box<dyn Iterator<Item = Result<B>> + 'a>>;
}

/// How a fit ended.
#[derive(Clone, Debug, PartialEq)]
pub enum FitOutcome {
    /// max_epochs or max_steps reached.
    Completed,
    EarlyStopped(String),
    /// Stopped on request (SIGINT): the state was saved to this checkpoint first.
    Interrupted(PathBuf),
    /// Stopped without saving (a test's stand-in for kill -9).
    Killed,
}

/// A request to stop, checked after every optimizer step: `Interrupt` saves `last.ckpt` and returns,
/// `Kill` returns at once with nothing saved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    Interrupt,
    Kill,
}

static SIGINT: AtomicBool = AtomicBool::new(false);

/// Route Ctrl-C to a clean stop: the first saves `last.ckpt` at the next step boundary and returns, a second
/// exits at once. Call once per process (the binary does); later calls are no-ops.
pub fn install_sigint_handler() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = ctrlc::set_handler(|| {
            if SIGINT.swap(true, Ordering::SeqCst) {
                eprintln!("\nsecond interrupt: exiting without saving");
                std::process::exit(130);
            }
            eprintln!("\ninterrupt: saving a checkpoint at the end of this step (Ctrl-C again to exit at once)");
        });
    });
}

/// Weighted epoch means in progress: name -> (sum of value * batch size, sum of batch sizes).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Means(BTreeMap<String, (f64, f64)>);

impl Means {
    fn add(&mut self, name: &str, v: f64, w: f64) {
        let e = self.0.entry(name.to_string()).or_insert((0.0, 0.0));
        e.0 += v * w;
        e.1 += w;
    }
    fn means(&self) -> impl Iterator<Item = (String, f64)> + '_ {
        self.0.iter().map(|(k, (s, w))| (k.clone(), if *w > 0.0 { s / w } else { f64::NAN }))
    }
}

/// What a mid-epoch checkpoint carries of the running epoch.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct LoopState {
    train_means: Means,
    train_metrics: Vec<serde_json::Value>,
    /// Whether a validation has run (ModelCheckpoint then insists on its monitor being logged).
    validated: bool,
}

pub struct Trainer {
    pub cfg: TrainerConfig,
    /// ModelCheckpoint; None disables checkpointing (interrupts still save `last.ckpt` in `default_root_dir/checkpoints`).
    pub checkpoint: Option<ModelCheckpoint>,
    pub early_stopping: Option<EarlyStopping>,
    pub loggers: Vec<Box<dyn Logger>>,
    /// LearningRateMonitor: log `lr-<Optimizer>` (and `/pg<i>` per extra group) with each logged step.
    pub lr_monitor: bool,
    /// The latest value of every logged metric (Lightning's `trainer.callback_metrics`).
    pub callback_metrics: BTreeMap<String, f64>,
    /// Every row handed to the loggers, in order (step, values): for plots and tests.
    pub history: Vec<(u64, BTreeMap<String, f64>)>,
    /// A test hook asked after each optimizer step with the global step; it may ask the loop to stop.
    pub stop_hook: Option<Box<dyn FnMut(u64) -> Option<Stop>>>,
    pub position: Position,
    progress: Progress,
    /// The loss scaler of a `16-mixed` run (None otherwise), saved in checkpoints.
    scaler: Option<GradScaler>,
}

impl Trainer {
    pub fn new(cfg: TrainerConfig) -> Trainer {
        let progress = Progress::new(cfg.enable_progress_bar);
        Trainer {
            cfg,
            checkpoint: None,
            early_stopping: None,
            loggers: Vec::new(),
            lr_monitor: false,
            callback_metrics: BTreeMap::new(),
            history: Vec::new(),
            stop_hook: None,
            position: Position::default(),
            progress,
            scaler: None,
        }
    }

    fn max_epochs(&self) -> u64 {
        if self.cfg.fast_dev_run > 0 {
            return 1;
        }
        match (self.cfg.max_epochs, self.cfg.max_steps) {
            (Some(e), _) => e,
            (None, -1) => 1000,
            (None, _) => u64::MAX,
        }
    }

    fn ckpt_dir(&self) -> PathBuf {
        match &self.checkpoint {
            Some(mc) => mc.dir.clone(),
            None => Path::new(&self.cfg.default_root_dir).join("checkpoints"),
        }
    }

    /// Train `module` on `train`, validating on `val`; `resume_from` continues a checkpointed run exactly.
    pub fn fit<M: TrainModule>(
        &mut self,
        module: &M,
        train: &dyn Loader<M::Batch>,
        val: Option<&dyn Loader<M::Batch>>,
        resume_from: Option<&Path>,
    ) -> Result<FitOutcome> {
        let amp = self.cfg.precision.autocast();
        self.scaler = match self.cfg.precision {
            Precision::F16Mixed => Some(GradScaler::new(GradScalerConfig::default())?),
            _ => None,
        };
        if self.cfg.accumulate_grad_batches == 0 {
            return Err(Error::config("accumulate_grad_batches", "must be at least 1"));
        }
        if self.cfg.fast_dev_run > 0 {
            // a smoke test: no checkpoints, no logs, no sanity pass, one epoch of `fast_dev_run` batches
            self.checkpoint = None;
            self.loggers.clear();
        }
        let mut setup = module.configure_optimizers()?;
        let mut train_metrics = module.metrics(Stage::Train);
        let mut val_metrics = module.metrics(Stage::Validate);
        let mut ls = LoopState::default();
        if let Some(path) = resume_from {
            ls = self.restore(module, &mut setup, &mut train_metrics, path)?;
        } else {
            self.position = Position::default();
            if let Some(seed) = self.cfg.seed {
                Generator::manual_seed(seed);
            }
            for l in &mut self.loggers {
                l.log_hparams(&module.hparams(), &[])?;
            }
            if let (Some(v), false) = (val, self.cfg.fast_dev_run > 0) {
                let n = self.cfg.num_sanity_val_steps.min(v.num_batches());
                if n > 0 {
                    self.validate_batches(module, v, n, &mut val_metrics)?;
                }
            }
        }
        module.train();
        let max_epochs = self.max_epochs();
        let accum = self.cfg.accumulate_grad_batches;
        let params = module.parameters();
        let epoch_len = train.num_batches();
        let n_train = match self.cfg.fast_dev_run {
            0 => self.cfg.limit_train_batches.of(epoch_len),
            n => n.min(epoch_len),
        };
        if n_train == 0 {
            return Err(Error::data("the training loader yields no batches (empty dataset, or limit_train_batches = 0)"));
        }
        let val_every: Option<u64> = match self.cfg.val_check_interval {
            super::config::Batches::Count(k) => Some(k.max(1)),
            super::config::Batches::Fraction(f) if f < 1.0 => Some(((n_train as f64 * f) as u64).max(1)),
            _ => None,
        };

        if self.position.batch_in_epoch > n_train {
            return Err(Error::data(format!(
                "the checkpoint stands at batch {} of epoch {}, but an epoch here has {n_train} batches \
                 (different data, batch_size or limit_train_batches than the checkpointed run)",
                self.position.batch_in_epoch, self.position.epoch
            )));
        }
        while self.position.epoch < max_epochs {
            let epoch = self.position.epoch;
            let start = self.position.batch_in_epoch;
            if start == 0 {
                ls.train_means = Means::default();
                train_metrics.iter_mut().for_each(|m| m.reset());
            }
            self.progress.start_epoch(epoch, self.cfg.max_epochs, n_train, start);
            let mut shown = BTreeMap::new();
            let mut b = start;
            for batch in train.batches(epoch, start)?.take((n_train - start) as usize) {
                let batch = batch?;
                let mut log = StepLog::new(Stage::Train, batch.batch_size());
                // Lightning's precision plugin: the step (forward and loss) under autocast, backward outside.
                let loss = autocast(amp, || module.training_step(&batch, &mut log))?;
                let mut scaled = if accum > 1 { loss.mul_scalar(1.0 / accum as f64)? } else { loss };
                if let Some(s) = &self.scaler {
                    scaled = s.scale(&scaled)?;
                }
                scaled.backward()?;
                drop(scaled);
                self.absorb_train_log(&log, &mut ls.train_means, &mut shown);
                for (p, t) in &log.outputs {
                    for m in &mut train_metrics {
                        m.update(p, t)?;
                    }
                }
                b += 1;
                self.progress.batch(&shown);
                if b % accum != 0 && b != n_train {
                    continue;
                }
                // an optimizer step: gradients unscaled before clipping; the scaler skips the step on inf/NaN
                if let Some(s) = &mut self.scaler {
                    s.unscale_(&params)?;
                }
                match (self.cfg.gradient_clip_val, self.cfg.gradient_clip_algorithm) {
                    (Some(c), ClipAlgorithm::Norm) => {
                        clip_grad_norm_(&params, c, 2.0, false)?;
                    }
                    (Some(c), ClipAlgorithm::Value) => clip_grad_value_(&params, c)?,
                    (None, _) => {}
                }
                match &mut self.scaler {
                    Some(s) => {
                        s.step(setup.optimizer.as_mut(), &params)?;
                        s.update()?;
                    }
                    None => setup.optimizer.step()?,
                }
                setup.optimizer.zero_grad();
                self.position.global_step += 1;
                let step = self.position.global_step;
                if let Some(s) = &mut setup.scheduler {
                    if s.interval == Interval::Step && step % s.frequency.max(1) == 0 {
                        s.scheduler.step(setup.optimizer.as_mut())?;
                    }
                }
                self.position.batch_in_epoch = b;
                if step % self.cfg.log_every_n_steps.max(1) == 0 {
                    let mut row: BTreeMap<String, f64> = log.values.iter().filter(|l| l.on_step).map(|l| (step_name(l), l.value)).collect();
                    if self.lr_monitor {
                        row.extend(lr_row(&setup));
                    }
                    self.emit(row)?;
                }
                let mut saved = false;
                if val.is_some() && val_every.is_some_and(|k| b % k == 0) && b != n_train {
                    let v = val.unwrap();
                    ls.validated = true;
                    self.run_validation(module, v, &mut val_metrics)?;
                    if let Some(reason) = self.check_early_stopping()? {
                        self.save_event(module, &setup, &train_metrics, &ls)?;
                        return self.finish(FitOutcome::EarlyStopped(reason));
                    }
                    self.save_event(module, &setup, &train_metrics, &ls)?;
                    saved = true;
                }
                if let Some(mc) = &self.checkpoint {
                    let n = mc.cfg.every_n_train_steps;
                    if n > 0 && step % n == 0 && !saved && b != n_train {
                        self.save_event(module, &setup, &train_metrics, &ls)?;
                    }
                }
                let stop = if SIGINT.swap(false, Ordering::SeqCst) { Some(Stop::Interrupt) } else { self.stop_hook.as_mut().and_then(|h| h(step)) };
                match stop {
                    Some(Stop::Kill) => return Ok(FitOutcome::Killed),
                    Some(Stop::Interrupt) => {
                        let path = self.ckpt_dir().join("last.ckpt");
                        self.write_checkpoint(module, &setup, &train_metrics, &ls, &path)?;
                        self.progress.println(&format!("saved {} at step {step}", path.display()));
                        return self.finish(FitOutcome::Interrupted(path));
                    }
                    None => {}
                }
                if self.cfg.max_steps >= 0 && step >= self.cfg.max_steps as u64 {
                    break;
                }
            }

            // end of the training epoch: epoch means and train metrics
            let mut row: BTreeMap<String, f64> = ls.train_means.means().collect();
            for m in &train_metrics {
                row.extend(m.compute()?.into_iter().map(|(k, v)| (format!("train_{k}"), v)));
            }
            row.insert("epoch".into(), epoch as f64);
            self.emit(row)?;
            let max_steps_hit = self.cfg.max_steps >= 0 && self.position.global_step >= self.cfg.max_steps as u64;
            let mut stop_reason = None;
            let validate_now = val.is_some() && (epoch + 1) % self.cfg.check_val_every_n_epoch.max(1) == 0;
            if let (Some(v), true) = (val, validate_now) {
                ls.validated = true;
                self.run_validation(module, v, &mut val_metrics)?;
                stop_reason = self.check_early_stopping()?;
            }
            if let Some(s) = &mut setup.scheduler {
                if s.interval == Interval::Epoch && (epoch + 1) % s.frequency.max(1) == 0 {
                    match &s.monitor {
                        Some(name) => {
                            let Some(&v) = self.callback_metrics.get(name) else {
                                return Err(Error::config(
                                    "scheduler monitor",
                                    format!("'{name}' was never logged (logged: {})", keys(&self.callback_metrics)),
                                ));
                            };
                            s.scheduler.step_metric(setup.optimizer.as_mut(), v)?;
                        }
                        None => s.scheduler.step(setup.optimizer.as_mut())?,
                    }
                }
            }
            self.progress.end_epoch(epoch, &self.shown_epoch());
            self.position.epoch += 1;
            self.position.batch_in_epoch = 0;
            let every = self.checkpoint.as_ref().map(|mc| mc.cfg.every_n_epochs.max(1)).unwrap_or(1);
            if (epoch + 1) % every == 0 || max_steps_hit || stop_reason.is_some() || self.position.epoch == max_epochs {
                self.save_event(module, &setup, &train_metrics, &ls)?;
            }
            let keep = self.checkpoint.as_ref().map_or(0, |mc| mc.cfg.save_every_n_epochs);
            if keep > 0 && (epoch + 1) % keep == 0 && self.cfg.enable_checkpointing {
                let path = self.ckpt_dir().join(format!("checkpoint_epoch_{}.ckpt", epoch + 1));
                self.write_checkpoint(module, &setup, &train_metrics, &ls, &path)?;
            }
            if let Some(reason) = stop_reason {
                return self.finish(FitOutcome::EarlyStopped(reason));
            }
            if max_steps_hit {
                break;
            }
        }
        self.finish(FitOutcome::Completed)
    }

    /// Validate `module` on `val` once (`wrt-train validate`): the epoch means and metrics, named `val_*`.
    pub fn validate<M: TrainModule>(&mut self, module: &M, val: &dyn Loader<M::Batch>) -> Result<BTreeMap<String, f64>> {
        let mut metrics = module.metrics(Stage::Validate);
        let n = self.cfg.limit_val_batches.of(val.num_batches());
        let out = self.validate_batches(module, val, n, &mut metrics)?;
        module.train();
        Ok(out)
    }

    fn finish(&mut self, outcome: FitOutcome) -> Result<FitOutcome> {
        for l in &mut self.loggers {
            l.finalize()?;
        }
        Ok(outcome)
    }

    /// Fold one training batch's logs into the epoch means, the progress bar and the callback metrics.
    fn absorb_train_log(&mut self, log: &StepLog, means: &mut Means, shown: &mut BTreeMap<String, f64>) {
        for l in &log.values {
            if l.on_epoch {
                means.add(&epoch_name(l), l.value, log.batch_size as f64);
            }
            if l.on_step {
                self.callback_metrics.insert(step_name(l), l.value);
            }
            if l.prog_bar {
                shown.insert(l.name.clone(), l.value);
            }
        }
    }

    fn validate_batches<M: TrainModule>(
        &mut self,
        module: &M,
        val: &dyn Loader<M::Batch>,
        n: u64,
        metrics: &mut [Box<dyn Metric>],
    ) -> Result<BTreeMap<String, f64>> {
        module.eval();
        metrics.iter_mut().for_each(|m| m.reset());
        let mut means = Means::default();
        let _ng = wrt_autograd::NoGradGuard::new();
        for batch in val.batches(0, 0)?.take(n as usize) {
            let batch = batch?;
            let mut log = StepLog::new(Stage::Validate, batch.batch_size());
            autocast(self.cfg.precision.autocast(), || module.validation_step(&batch, &mut log))?;
            for l in &log.values {
                means.add(&l.name, l.value, log.batch_size as f64);
            }
            for (p, t) in &log.outputs {
                for m in metrics.iter_mut() {
                    m.update(p, t)?;
                }
            }
        }
        let mut out: BTreeMap<String, f64> = means.means().collect();
        for m in metrics.iter() {
            out.extend(m.compute()?.into_iter().map(|(k, v)| (format!("val_{k}"), v)));
        }
        Ok(out)
    }

    fn run_validation<M: TrainModule>(&mut self, module: &M, val: &dyn Loader<M::Batch>, metrics: &mut [Box<dyn Metric>]) -> Result<()> {
        let n = match self.cfg.fast_dev_run {
            0 => self.cfg.limit_val_batches.of(val.num_batches()),
            k => k.min(val.num_batches()),
        };
        let mut row = self.validate_batches(module, val, n, metrics)?;
        module.train();
        row.insert("epoch".into(), self.position.epoch as f64);
        self.emit(row)?;
        self.log_artifacts(metrics)
    }

    /// The validation metrics' artifacts (confusion matrix, classification report) of this epoch: text and
    /// images to every logger under `val_{name}`, and each one as `{log_dir}/val/{name}_epoch{E}.{ext}`.
    fn log_artifacts(&mut self, metrics: &[Box<dyn Metric>]) -> Result<()> {
        let step = self.position.global_step.saturating_sub(1);
        let epoch = self.position.epoch;
        let dir = self.loggers.first().map(|l| l.log_dir().join("val"));
        for m in metrics {
            for a in m.artifacts()? {
                let tag = format!("val_{}", a.name);
                for l in &mut self.loggers {
                    match &a.body {
                        ArtifactBody::Text(t) => l.log_text(&tag, step, t)?,
                        ArtifactBody::Png(p) => l.log_image(&tag, step, p)?,
                        ArtifactBody::Csv(_) => {}
                    }
                }
                if let Some(dir) = &dir {
                    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
                    let path = dir.join(format!("{}_epoch{epoch:03}.{}", a.name, a.body.extension()));
                    std::fs::write(&path, a.body.bytes()).map_err(|e| Error::io(&path, e))?;
                }
            }
        }
        Ok(())
    }

    fn check_early_stopping(&mut self) -> Result<Option<String>> {
        let epoch = self.position.epoch;
        match &mut self.early_stopping {
            Some(es) => {
                let r = es.check(epoch, &self.callback_metrics)?;
                if let Some(reason) = &r {
                    self.progress.println(&format!("early stopping: {reason}"));
                }
                Ok(r)
            }
            None => Ok(None),
        }
    }

    /// Hand a row to the loggers and remember it.
    fn emit(&mut self, row: BTreeMap<String, f64>) -> Result<()> {
        if row.is_empty() {
            return Ok(());
        }
        let step = self.position.global_step.saturating_sub(1);
        for (k, v) in &row {
            if k != "epoch" {
                self.callback_metrics.insert(k.clone(), *v);
            }
        }
        let mut values: Vec<(String, f64)> = row.iter().map(|(k, v)| (k.clone(), *v)).collect();
        if !row.contains_key("epoch") {
            values.push(("epoch".into(), self.position.epoch as f64));
        }
        for l in &mut self.loggers {
            l.log_metrics(step, &values)?;
        }
        self.history.push((step, row));
        Ok(())
    }

    fn shown_epoch(&self) -> BTreeMap<String, f64> {
        self.callback_metrics.iter().filter(|(k, _)| k.contains("loss") || k.contains("acc")).map(|(k, v)| (k.clone(), *v)).collect()
    }

    /// A checkpointing event (after a validation, every n steps, at an epoch end): top-k and `last`.
    fn save_event<M: TrainModule>(&mut self, module: &M, setup: &OptimSetup, metrics: &[Box<dyn Metric>], ls: &LoopState) -> Result<()> {
        let Some(mc) = &self.checkpoint else { return Ok(()) };
        if !self.cfg.enable_checkpointing {
            return Ok(());
        }
        let epoch = self.position.epoch.saturating_sub(u64::from(self.position.batch_in_epoch == 0));
        let plan = match mc.plan(epoch, self.position.global_step, &self.callback_metrics) {
            Ok(p) => p,
            // before the first validation a monitored val metric cannot exist yet: keep `last` only
            Err(_) if !ls.validated => super::model_checkpoint::SavePlan { path: None, remove: Vec::new(), last: mc.cfg.save_last.then(|| mc.dir.join("last.ckpt")) },
            Err(e) => return Err(e),
        };
        let score = mc.cfg.monitor.as_ref().and_then(|m| self.callback_metrics.get(m).copied());
        // record first so the table inside the file already lists the file itself
        self.checkpoint.as_mut().unwrap().commit(&plan, score);
        if let Some(p) = &plan.path {
            self.write_checkpoint(module, setup, metrics, ls, p)?;
        }
        if let Some(l) = &plan.last {
            self.write_checkpoint(module, setup, metrics, ls, l)?;
        }
        for r in &plan.remove {
            if plan.path.as_ref() != Some(r) {
                let _ = std::fs::remove_file(r);
            }
        }
        Ok(())
    }

    fn write_checkpoint<M: TrainModule>(&self, module: &M, setup: &OptimSetup, metrics: &[Box<dyn Metric>], ls: &LoopState, path: &Path) -> Result<()> {
        let opt = setup.optimizer.state_dict()?;
        let mut rng: BTreeMap<String, (u64, u64)> = module.named_rngs().into_iter().map(|(n, s)| (n, lock(&s).state())).collect();
        rng.insert("default".into(), Generator::with_default(|g| g.state()));
        let mut callbacks = BTreeMap::new();
        if let Some(mc) = &self.checkpoint {
            callbacks.insert("ModelCheckpoint".to_string(), serde_json::to_value(&mc.state).map_err(|e| Error::checkpoint(path, e.to_string()))?);
        }
        if let Some(es) = &self.early_stopping {
            callbacks.insert("EarlyStopping".to_string(), serde_json::to_value(&es.state).map_err(|e| Error::checkpoint(path, e.to_string()))?);
        }
        let mut ls = ls.clone();
        ls.train_metrics = metrics.iter().map(|m| m.state()).collect();
        let meta = Meta {
            format: FORMAT_VERSION,
            wrt_version: env!("CARGO_PKG_VERSION").to_string(),
            hparams: module.hparams(),
            position: self.position.clone(),
            optimizer: opt.meta,
            scheduler: setup.scheduler.as_ref().map(|s| s.scheduler.state_dict()),
            rng,
            callbacks,
            metrics: self.callback_metrics.clone(),
            loop_state: serde_json::to_value(&ls).map_err(|e| Error::checkpoint(path, e.to_string()))?,
            amp_scaling_state: self.scaler.as_ref().map(GradScaler::state_dict),
        };
        Checkpoint { model: module.state_dict(), optim_tensors: opt.tensors, meta }.save(path)
    }

    /// Load everything a checkpoint holds back into the module, optimizer, scheduler, streams and callbacks.
    fn restore<M: TrainModule>(&mut self, module: &M, setup: &mut OptimSetup, metrics: &mut [Box<dyn Metric>], path: &Path) -> Result<LoopState> {
        let ck = Checkpoint::load(path)?;
        let ctx = |e: Error| Error::checkpoint(path, e.to_string());
        module.load_state_dict(&ck.model_state(), true).map_err(|e| Error::checkpoint(path, e.to_string()))?;
        setup.optimizer.load_state_dict(&ck.optim_state()).map_err(ctx)?;
        match (&mut setup.scheduler, &ck.meta.scheduler) {
            (Some(s), Some(st)) => s.scheduler.load_state_dict(st).map_err(ctx)?,
            (None, None) => {}
            (Some(_), None) => return Err(Error::checkpoint(path, "the run has a scheduler but the checkpoint saved none")),
            (None, Some(_)) => return Err(Error::checkpoint(path, "the checkpoint has scheduler state but the run configures no scheduler")),
        }
        for (name, stream) in module.named_rngs() {
            let (seed, offset) = *ck.meta.rng.get(&name).ok_or_else(|| Error::checkpoint(path, format!("no state for random stream '{name}'")))?;
            *lock(&stream) = Generator::from_state(seed, offset);
        }
        if let Some(&(seed, offset)) = ck.meta.rng.get("default") {
            Generator::with_default(|g| *g = Generator::from_state(seed, offset));
        }
        let cb = |name: &str| ck.meta.callbacks.get(name).cloned();
        if let (Some(mc), Some(st)) = (&mut self.checkpoint, cb("ModelCheckpoint")) {
            mc.state = serde_json::from_value(st).map_err(|e| Error::checkpoint(path, format!("ModelCheckpoint state: {e}")))?;
        }
        if let (Some(es), Some(st)) = (&mut self.early_stopping, cb("EarlyStopping")) {
            es.state = serde_json::from_value(st).map_err(|e| Error::checkpoint(path, format!("EarlyStopping state: {e}")))?;
        }
        let ls: LoopState = serde_json::from_value(ck.meta.loop_state.clone()).map_err(|e| Error::checkpoint(path, format!("loop state: {e}")))?;
        if ls.train_metrics.len() == metrics.len() {
            for (m, st) in metrics.iter_mut().zip(&ls.train_metrics) {
                m.load_state(st).map_err(ctx)?;
            }
        } else if ck.meta.position.batch_in_epoch > 0 {
            return Err(Error::checkpoint(path, format!("{} train metric states saved, the model has {} metrics", ls.train_metrics.len(), metrics.len())));
        }
        match (&mut self.scaler, &ck.meta.amp_scaling_state) {
            (Some(s), Some(st)) => s.load_state_dict(st).map_err(ctx)?,
            // Lightning's behaviour: a 32/bf16 checkpoint resumed in 16-mixed starts a fresh scaler
            (Some(_), None) => self.progress.println("note: the checkpoint has no loss-scaler state (not a 16-mixed run); starting from init_scale"),
            (None, _) => {}
        }
        self.callback_metrics = ck.meta.metrics.clone();
        self.position = ck.meta.position.clone();
        Ok(ls)
    }
}

fn lock(s: &wrt_nn::dropout::Stream) -> std::sync::MutexGuard<'_, Generator> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

/// Lightning's names: a value logged both per step and per epoch becomes `name_step` and `name_epoch`.
fn step_name(l: &super::module::Logged) -> String {
    if l.on_step && l.on_epoch {
        format!("{}_step", l.name)
    } else {
        l.name.clone()
    }
}

fn epoch_name(l: &super::module::Logged) -> String {
    if l.on_step && l.on_epoch {
        format!("{}_epoch", l.name)
    } else {
        l.name.clone()
    }
}

/// LearningRateMonitor's row: `lr-SGD`, or `lr-SGD/pg1`, `lr-SGD/pg2` with several param groups.
fn lr_row(setup: &OptimSetup) -> Vec<(String, f64)> {
    let o = &setup.optimizer;
    let lrs = o.lrs();
    if lrs.len() == 1 {
        return vec![(format!("lr-{}", o.name()), lrs[0])];
    }
    lrs.iter().enumerate().map(|(i, lr)| (format!("lr-{}/pg{}", o.name(), i + 1), *lr)).collect()
}

fn keys(m: &BTreeMap<String, f64>) -> String {
    m.keys().cloned().collect::<Vec<_>>().join(", ")
}
