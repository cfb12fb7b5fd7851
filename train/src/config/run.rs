//! `RunConfig`: the effective, validated configuration of one run, as typed structs the trainer reads, plus
//! the canonical tree it was built from (saved as `config.yaml` in the run directory).

use super::emit;
use super::models::{self, ModelKind};
use super::node::Node;
use crate::optim::{AdamConfig, SgdConfig};
use crate::sched::{Anneal, Mode, PlateauConfig, ThresholdMode};
use crate::trainer::{CheckpointConfig, EarlyStoppingConfig, TrainerConfig};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// The model: its family, the `type` as written, and its validated hyperparameters (every key of the type's
/// schema, defaults filled; the models crate deserialises its own config struct from `hparams`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelConfig {
    pub kind: ModelKind,
    /// Canonical type name (`atmodist` for `atmodist_revised`).
    pub type_name: String,
    pub hparams: Map<String, Value>,
}

impl ModelConfig {
    /// The hyperparameters as one JSON object (what a checkpoint stores to rebuild the model).
    pub fn hparams_json(&self) -> Value {
        Value::Object(self.hparams.clone())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    Sgd,
    Adam,
    AdamW,
}

/// `model.optimizer` and its settings.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OptimizerConfig {
    pub kind: OptimizerKind,
    pub lr: f64,
    pub momentum: f64,
    pub dampening: f64,
    pub nesterov: bool,
    pub weight_decay: f64,
    pub betas: (f64, f64),
    pub eps: f64,
    pub amsgrad: bool,
}

impl OptimizerConfig {
    /// The SGD settings (momentum, dampening, nesterov, weight decay).
    pub fn sgd(&self) -> SgdConfig {
        SgdConfig { lr: self.lr, momentum: self.momentum, dampening: self.dampening, weight_decay: self.weight_decay, nesterov: self.nesterov, maximize: false }
    }
    /// The Adam/AdamW settings (AdamW = decoupled weight decay, chosen by `kind`).
    pub fn adam(&self) -> AdamConfig {
        AdamConfig { lr: self.lr, betas: self.betas, eps: self.eps, weight_decay: self.weight_decay, amsgrad: self.amsgrad, maximize: false }
    }
}

/// When the scheduler steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Interval {
    Epoch,
    Step,
}

/// `model.scheduler` and its settings.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum SchedulerKind {
    /// `ReduceLROnPlateau`, stepped with the value of `monitor`.
    ReduceOnPlateau { monitor: String, plateau: PlateauConfig },
    /// `CosineAnnealingLR(t_max, eta_min)`, or with `warmup_epochs > 0` linear warmup from
    /// `warmup_start_lr` then cosine (`LinearWarmupCosine(warmup, t_max, ...)`). `t_max: None` = the run's
    /// length in scheduler intervals (max_epochs, or total steps).
    Cosine { t_max: Option<u64>, eta_min: f64, warmup_epochs: u64, warmup_start_lr: f64 },
    /// `CosineAnnealingWarmRestarts(t_0, t_mult, eta_min)`.
    CosineRestarts { t_0: u64, t_mult: u64, eta_min: f64 },
    Step { step_size: u64, gamma: f64 },
    MultiStep { milestones: Vec<u64>, gamma: f64 },
    /// `OneCycleLR`; total_steps comes from the data at run time. `max_lr: None` = `OptimizerConfig::lr`.
    OneCycle { max_lr: Option<f64>, pct_start: f64, div_factor: f64, final_div_factor: f64, three_phase: bool, anneal: Anneal },
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SchedulerConfig {
    /// None = constant lr.
    pub kind: Option<SchedulerKind>,
    pub interval: Interval,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossKind {
    CrossEntropy,
    Nll,
    BceWithLogits,
    Mse,
    L1,
    SmoothL1,
    Huber,
    Quantile,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reduction {
    Mean,
    Sum,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LossConfig {
    pub kind: LossKind,
    pub reduction: Reduction,
    pub label_smoothing: f64,
    /// Weight classes by inverse frequency in the training split (`model.class_weights: balanced`).
    pub balanced_class_weights: bool,
}

/// DataLoader settings (they sit under `training:` in the seeds' configs).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LoaderConfig {
    pub batch_size: u64,
    pub num_workers: u64,
    /// Fraction of the samples used for training.
    pub train_val_split: f64,
    pub shuffle: bool,
    pub drop_last: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Accelerator {
    Auto,
    Cpu,
    Gpu,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum Devices {
    Auto,
    Count(u64),
    Ids(Vec<u64>),
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DeviceConfig {
    pub accelerator: Accelerator,
    pub devices: Devices,
}

/// What data: the file and the seed's data keys.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DataConfig {
    pub path: Option<PathBuf>,
    pub variables: Vec<String>,
    pub frequency: Option<String>,
    pub time_interval: Option<u64>,
    pub window: Option<u64>,
    pub normalize: bool,
    /// Training-time augmentation of image time series (`data.augment`, `data.temporal_dropout`).
    pub augment: bool,
    pub temporal_dropout: f64,
    /// Generate a synthetic dataset at `path` when it is missing.
    pub synthetic: bool,
    pub synthetic_samples: u64,
    /// The columns of a long-format CSV table (TFT).
    pub columns: crate::data::CsvColumns,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LoggerKind {
    TensorBoard,
    Csv,
}

/// The effective configuration of one run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunConfig {
    /// Run id (`id:`, each multi-model entry's id, or derived: file stem / run_name / model type).
    pub id: String,
    /// Name of the run directory and of the run in logs (default: `id`).
    pub run_name: String,
    /// The `id` of the multi-model file this run came from.
    pub group: Option<String>,
    pub output_dir: PathBuf,
    /// `{output_dir}/{run_name}`: logs, checkpoints (unless `checkpoint.dirpath`), `config.yaml`.
    pub run_dir: PathBuf,
    /// The config file this run came from (None: flags and defaults only).
    pub source: Option<PathBuf>,
    pub description: Option<String>,
    pub model: ModelConfig,
    pub optimizer: OptimizerConfig,
    pub scheduler: SchedulerConfig,
    pub loss: LossConfig,
    /// Lightning Trainer settings; `default_root_dir` = `run_dir`.
    pub trainer: TrainerConfig,
    pub loader: LoaderConfig,
    pub devices: DeviceConfig,
    pub data: DataConfig,
    /// ModelCheckpoint settings; `dirpath: None` = `{run_dir}/checkpoints`.
    pub checkpoint: CheckpointConfig,
    /// None when early stopping is off.
    pub early_stopping: Option<EarlyStoppingConfig>,
    pub loggers: Vec<LoggerKind>,
    pub resume_from: Option<PathBuf>,
    /// The checkpoint `validate`/`predict` evaluate.
    pub ckpt_path: Option<PathBuf>,
    pub predict_output: Option<PathBuf>,
    /// The `wandb:` section as written (ignored: logs go to TensorBoard/CSV).
    pub wandb: Option<Value>,
    /// Things the user should know (ignored settings); the CLI prints them once per run.
    pub notes: Vec<String>,
    /// The canonical tree (every key, in schema order).
    #[serde(skip)]
    pub(crate) effective: Node,
}

fn internal(what: &str, e: impl std::fmt::Display) -> Error {
    Error::ConfigKey { file: "built-in schema".into(), line: None, key: what.into(), msg: format!("internal error, please report: {e}") }
}

impl RunConfig {
    /// Build the typed config from a validated canonical tree (see `validate::validate`).
    pub(crate) fn from_tree(tree: Node, source: Option<PathBuf>) -> Result<RunConfig> {
        let t = tree.to_json();
        let get = |p: &str| p.split('.').try_fold(&t, |v, k| v.get(k)).cloned().unwrap_or(Value::Null);
        let s = |p: &str| get(p).as_str().map(str::to_string);
        let f = |p: &str| get(p).as_f64().unwrap_or(0.0);
        let u = |p: &str| get(p).as_u64().unwrap_or(0);
        let b = |p: &str| get(p).as_bool().unwrap_or(false);
        let path_of = |p: &str| s(p).map(PathBuf::from);

        let type_name = s("model.type").unwrap_or_default();
        let spec = models::find(&type_name).ok_or_else(|| internal("model.type", format!("unknown type {type_name}")))?;
        let hparams: Map<String, Value> = spec.keys.iter().map(|k| (k.name.to_string(), get(&format!("model.{}", k.name)))).collect();

        let betas: Vec<f64> = get("model.betas").as_array().map(|a| a.iter().filter_map(Value::as_f64).collect()).unwrap_or_default();
        let optimizer = OptimizerConfig {
            kind: serde_json::from_value(get("model.optimizer")).map_err(|e| internal("model.optimizer", e))?,
            lr: f("model.learning_rate"),
            momentum: f("model.momentum"),
            dampening: f("model.dampening"),
            nesterov: b("model.nesterov"),
            weight_decay: f("model.weight_decay"),
            betas: (betas.first().copied().unwrap_or(0.9), betas.get(1).copied().unwrap_or(0.999)),
            eps: f("model.eps"),
            amsgrad: b("model.amsgrad"),
        };
        let mode = |p: &str| if s(p).as_deref() == Some("max") { Mode::Max } else { Mode::Min };
        let kind = match s("model.scheduler").as_deref() {
            None => None,
            Some("reduce_on_plateau") => Some(SchedulerKind::ReduceOnPlateau {
                monitor: s("model.lr_scheduler_monitor").unwrap_or_default(),
                plateau: PlateauConfig {
                    mode: mode("model.lr_scheduler_mode"),
                    factor: f("model.lr_scheduler_factor"),
                    patience: u("model.lr_scheduler_patience"),
                    threshold: f("model.lr_scheduler_threshold"),
                    threshold_mode: if s("model.lr_scheduler_threshold_mode").as_deref() == Some("abs") { ThresholdMode::Abs } else { ThresholdMode::Rel },
                    cooldown: u("model.lr_scheduler_cooldown"),
                    min_lr: vec![f("model.min_lr")],
                    eps: f("model.lr_scheduler_eps"),
                },
            }),
            Some("cosine") => Some(SchedulerKind::Cosine {
                t_max: get("model.t_max").as_u64(),
                eta_min: f("model.min_lr"),
                warmup_epochs: u("model.warmup_epochs"),
                warmup_start_lr: f("model.warmup_start_lr"),
            }),
            Some("cosine_restarts") => Some(SchedulerKind::CosineRestarts { t_0: u("model.t_0"), t_mult: u("model.t_mult"), eta_min: f("model.min_lr") }),
            Some("step") => Some(SchedulerKind::Step { step_size: u("model.step_size"), gamma: f("model.gamma") }),
            Some("multistep") => Some(SchedulerKind::MultiStep {
                milestones: get("model.milestones").as_array().map(|a| a.iter().filter_map(Value::as_u64).collect()).unwrap_or_default(),
                gamma: f("model.gamma"),
            }),
            Some("onecycle") => Some(SchedulerKind::OneCycle {
                max_lr: get("model.max_lr").as_f64(),
                pct_start: f("model.pct_start"),
                div_factor: f("model.div_factor"),
                final_div_factor: f("model.final_div_factor"),
                three_phase: b("model.three_phase"),
                anneal: if s("model.anneal_strategy").as_deref() == Some("linear") { Anneal::Linear } else { Anneal::Cos },
            }),
            Some(other) => return Err(internal("model.scheduler", other)),
        };
        let scheduler = SchedulerConfig {
            kind,
            interval: if s("model.scheduler_interval").as_deref() == Some("step") { Interval::Step } else { Interval::Epoch },
        };
        let loss = LossConfig {
            kind: serde_json::from_value(get("model.loss_type")).map_err(|e| internal("model.loss_type", e))?,
            reduction: serde_json::from_value(get("model.loss_reduction")).map_err(|e| internal("model.loss_reduction", e))?,
            label_smoothing: f("model.label_smoothing"),
            balanced_class_weights: s("model.class_weights").as_deref() == Some("balanced"),
        };

        let id = s("id").unwrap_or_default();
        let run_name = s("run_name").unwrap_or_else(|| id.clone());
        let output_dir = PathBuf::from(s("output_dir").unwrap_or_else(|| "experiments".into()));
        let run_dir = output_dir.join(&run_name);

        // The Lightning-named structs deserialise from the canonical keys directly, so a field added to them
        // without a schema key shows up in `tests::schema_covers_trainer_structs`.
        let mut trainer_json = Map::new();
        for key in super::schema::TRAINING {
            if TRAINER_KEYS.contains(&key.name) {
                trainer_json.insert(key.name.into(), get(&format!("training.{}", key.name)));
            }
        }
        trainer_json.insert("default_root_dir".into(), Value::String(run_dir.display().to_string()));
        let trainer: TrainerConfig = serde_json::from_value(Value::Object(trainer_json)).map_err(|e| internal("training", e))?;
        let checkpoint: CheckpointConfig = serde_json::from_value(get("checkpoint")).map_err(|e| internal("checkpoint", e))?;
        let mut es = get("early_stopping");
        let enabled = es.get("enabled").and_then(Value::as_bool).unwrap_or(false);
        if let Some(o) = es.as_object_mut() {
            o.remove("enabled");
        }
        let early_stopping: Option<EarlyStoppingConfig> =
            if enabled { Some(serde_json::from_value(es).map_err(|e| internal("early_stopping", e))?) } else { None };

        let loader = LoaderConfig {
            batch_size: u("training.batch_size"),
            num_workers: u("training.num_workers"),
            train_val_split: f("training.train_val_split"),
            shuffle: b("training.shuffle"),
            drop_last: b("training.drop_last"),
        };
        let devices = DeviceConfig {
            accelerator: serde_json::from_value(get("training.accelerator")).map_err(|e| internal("training.accelerator", e))?,
            devices: match get("training.devices") {
                Value::Number(n) => Devices::Count(n.as_u64().unwrap_or(1)),
                Value::Array(a) => Devices::Ids(a.iter().filter_map(Value::as_u64).collect()),
                _ => Devices::Auto,
            },
        };
        let strs = |k: &str| -> Vec<String> { get(k).as_array().map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect()).unwrap_or_default() };
        let data = DataConfig {
            path: path_of("data.path"),
            variables: strs("data.variables"),
            frequency: s("data.frequency"),
            time_interval: get("data.time_interval").as_u64(),
            window: get("data.window").as_u64(),
            normalize: b("data.normalize"),
            augment: b("data.augment"),
            temporal_dropout: f("data.temporal_dropout"),
            synthetic: b("data.synthetic"),
            synthetic_samples: u("data.synthetic_samples"),
            columns: crate::data::CsvColumns {
                time_idx: s("data.time_idx"),
                group_ids: strs("data.group_ids"),
                target: s("data.target"),
                static_categoricals: strs("data.static_categoricals"),
                static_reals: strs("data.static_reals"),
                known_reals: strs("data.time_varying_known_reals"),
                unknown_reals: strs("data.time_varying_unknown_reals"),
                encoder_length: get("data.max_encoder_length").as_u64().map(|v| v as usize),
                prediction_length: get("data.max_prediction_length").as_u64().map(|v| v as usize),
            },
        };
        let loggers = get("logger")
            .as_array()
            .map(|a| a.iter().filter_map(|v| if v.as_str() == Some("csv") { Some(LoggerKind::Csv) } else if v.is_string() { Some(LoggerKind::TensorBoard) } else { None }).collect())
            .unwrap_or_default();
        let wandb = Some(get("wandb")).filter(|w| !w.is_null());
        let mut notes = Vec::new();
        if let Some(w) = &wandb {
            let project = w.get("project").and_then(Value::as_str).map(|p| format!(" (project `{p}`)")).unwrap_or_default();
            notes.push(format!(
                "wandb settings{project} are accepted but not used: logs go to TensorBoard event files and metrics.csv in {} \
                 (`wandb sync --sync-tensorboard {}` uploads them)",
                run_dir.display(),
                run_dir.display()
            ));
        }
        if get("use_lightning") == Value::Bool(false) {
            notes.push("`use_lightning: false` has no effect: wrt always runs its Lightning-like trainer".into());
        }
        Ok(RunConfig {
            id,
            run_name,
            group: s("group"),
            output_dir,
            run_dir,
            source,
            description: s("description"),
            model: ModelConfig { kind: spec.kind, type_name: spec.name.into(), hparams },
            optimizer,
            scheduler,
            loss,
            trainer,
            loader,
            devices,
            data,
            checkpoint,
            early_stopping,
            loggers,
            resume_from: path_of("resume_from"),
            ckpt_path: path_of("ckpt_path"),
            predict_output: path_of("predict_output"),
            wandb,
            notes,
            effective: tree.without_origins(),
        })
    }

    /// The effective configuration as JSON (every key, canonical names) — for checkpoint hyperparameters.
    pub fn effective_json(&self) -> Value {
        self.effective.to_json()
    }

    /// The effective configuration as YAML text (what `save_effective` writes; loading it gives this run back).
    pub fn effective_yaml(&self) -> String {
        let mut head = format!("# Effective configuration of run `{}`, written by wrt-train {}.\n", self.run_name, env!("CARGO_PKG_VERSION"));
        if let Some(src) = &self.source {
            head += &format!("# From {} + defaults + command-line flags.\n", src.display());
        }
        head + &emit::to_yaml(&self.effective)
    }

    /// Write `config.yaml` into `dir` (normally `run_dir`), creating the directory; atomic (temp + rename).
    pub fn save_effective(&self, dir: &Path) -> Result<PathBuf> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let path = dir.join("config.yaml");
        let tmp = dir.join(".config.yaml.tmp");
        std::fs::write(&tmp, self.effective_yaml()).map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
        Ok(path)
    }

    /// The checkpoint directory: `checkpoint.dirpath` or `{run_dir}/checkpoints`.
    pub fn checkpoint_dir(&self) -> PathBuf {
        self.checkpoint.dirpath.as_ref().map(PathBuf::from).unwrap_or_else(|| self.run_dir.join("checkpoints"))
    }

    /// The value at a dotted canonical path (`training.max_epochs`), as JSON; for sweeps and summaries.
    pub fn get(&self, path: &str) -> Option<Value> {
        self.effective.get_path(path).map(Node::to_json)
    }
}

/// The `training:` keys that are `TrainerConfig` fields (the rest are loader and device settings).
pub(crate) const TRAINER_KEYS: &[&str] = &[
    "max_epochs",
    "max_steps",
    "limit_train_batches",
    "limit_val_batches",
    "val_check_interval",
    "check_val_every_n_epoch",
    "num_sanity_val_steps",
    "fast_dev_run",
    "accumulate_grad_batches",
    "gradient_clip_val",
    "gradient_clip_algorithm",
    "log_every_n_steps",
    "seed",
    "deterministic",
    "precision",
    "enable_progress_bar",
    "enable_checkpointing",
];
