//! The trainer's settings, named and defaulted as PyTorch Lightning's `Trainer`, `ModelCheckpoint` and
//! `EarlyStopping` arguments, so a user's existing values carry over. These structs are plain data: the YAML
//! and command-line layer (`crate::config`) fills them and validates the values; `Trainer` reads them.

use serde::{Deserialize, Serialize};

/// How many batches: a fraction of the epoch (`0.25`) or a count (`10`), as Lightning's `limit_*_batches`
/// and `val_check_interval` take either.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Batches {
    Count(u64),
    Fraction(f64),
}

impl Batches {
    /// The number of batches out of an epoch of `total` (a fraction rounds down but keeps at least one
    /// batch when the fraction is positive, as Lightning does).
    pub fn of(self, total: u64) -> u64 {
        match self {
            Batches::Count(n) => n.min(total),
            Batches::Fraction(f) if f <= 0.0 => 0,
            Batches::Fraction(f) => ((total as f64 * f.min(1.0)) as u64).max(1).min(total),
        }
    }
}

/// Gradient clipping by the global L2 norm or element-wise by value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ClipAlgorithm {
    #[default]
    Norm,
    Value,
}

/// Numeric precision of a run (`--precision`), as in Lightning: `32` trains in f32; `16-mixed` runs
/// the forward under f16 autocast with dynamic loss scaling (GradScaler); `bf16-mixed` under bf16
/// autocast, no scaler. Parameters and optimizer state stay f32 either way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Precision {
    #[default]
    #[serde(rename = "32", alias = "32-true", alias = "fp32")]
    F32,
    #[serde(rename = "16-mixed", alias = "16")]
    F16Mixed,
    #[serde(rename = "bf16-mixed", alias = "bf16")]
    Bf16Mixed,
}

impl Precision {
    /// The autocast precision of the forward pass (None for 32-bit).
    pub fn autocast(self) -> Option<wrt_autograd::Rounding> {
        match self {
            Precision::F32 => None,
            Precision::F16Mixed => Some(wrt_autograd::Rounding::F16),
            Precision::Bf16Mixed => Some(wrt_autograd::Rounding::Bf16),
        }
    }
}

/// Whether a monitored value improves downwards (`min`, losses) or upwards (`max`, accuracies).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum MonitorMode {
    #[default]
    Min,
    Max,
}

impl MonitorMode {
    /// Is `a` better than `b`?
    pub fn better(self, a: f64, b: f64) -> bool {
        match self {
            MonitorMode::Min => a < b,
            MonitorMode::Max => a > b,
        }
    }
}

/// `pl.Trainer(...)` arguments.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainerConfig {
    /// Stop after this many epochs (Lightning's default when neither limit is set is 1000).
    pub max_epochs: Option<u64>,
    /// Stop after this many optimizer steps; -1 = no limit.
    pub max_steps: i64,
    pub limit_train_batches: Batches,
    pub limit_val_batches: Batches,
    /// Validate every this many training batches (count) or this fraction of an epoch.
    pub val_check_interval: Batches,
    pub check_val_every_n_epoch: u64,
    /// Validation batches run before training to catch bugs in the validation step early.
    pub num_sanity_val_steps: u64,
    /// Run this many train and val batches (true = 1) once, with no checkpoints or logs: a smoke test.
    #[serde(deserialize_with = "bool_or_count")]
    pub fast_dev_run: u64,
    pub accumulate_grad_batches: u64,
    pub gradient_clip_val: Option<f64>,
    pub gradient_clip_algorithm: ClipAlgorithm,
    pub log_every_n_steps: u64,
    /// seed_everything: model init, data order, dropout, sampling.
    pub seed: Option<u64>,
    /// Bit-identical weights across runs (wrt's CPU kernels are deterministic; this also pins the thread
    /// count's influence out, see `Trainer`).
    pub deterministic: bool,
    pub precision: Precision,
    pub enable_progress_bar: bool,
    pub enable_checkpointing: bool,
    /// Where logs and checkpoints go when not given separately (Lightning's `default_root_dir`).
    pub default_root_dir: String,
}

impl Default for TrainerConfig {
    fn default() -> Self {
        TrainerConfig {
            max_epochs: None,
            max_steps: -1,
            limit_train_batches: Batches::Fraction(1.0),
            limit_val_batches: Batches::Fraction(1.0),
            val_check_interval: Batches::Fraction(1.0),
            check_val_every_n_epoch: 1,
            num_sanity_val_steps: 2,
            fast_dev_run: 0,
            accumulate_grad_batches: 1,
            gradient_clip_val: None,
            gradient_clip_algorithm: ClipAlgorithm::Norm,
            log_every_n_steps: 50,
            seed: None,
            deterministic: false,
            precision: Precision::F32,
            enable_progress_bar: true,
            enable_checkpointing: true,
            default_root_dir: ".".into(),
        }
    }
}

/// `ModelCheckpoint(...)` arguments.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CheckpointConfig {
    /// Directory for checkpoint files (`--checkpoint_dir`); default `{default_root_dir}/checkpoints`.
    pub dirpath: Option<String>,
    /// File name template without extension: `{epoch}`, `{step}` and any logged metric (`{val_loss}`,
    /// `{val_loss:.4f}`); `epoch={epoch}` style literals pass through. Default `{epoch}-{step}`
    /// written as `epoch=E-step=S` (Lightning's `auto_insert_metric_name`).
    pub filename: Option<String>,
    /// Metric that ranks checkpoints; none = keep the latest only.
    pub monitor: Option<String>,
    pub mode: MonitorMode,
    /// Keep the best k (-1 = all, 0 = none).
    pub save_top_k: i64,
    /// Also write `last.ckpt` after every checkpointing event.
    pub save_last: bool,
    pub every_n_epochs: u64,
    /// Save every N optimizer steps as well (0 = off).
    pub every_n_train_steps: u64,
    /// Also keep `checkpoint_epoch_{E}.ckpt` every N epochs, never removed (0 = off): the periodic
    /// checkpoints of the SITS-Former tutorial, next to the best one.
    pub save_every_n_epochs: u64,
}

impl Default for CheckpointConfig {
    fn default() -> Self {
        CheckpointConfig {
            dirpath: None,
            filename: None,
            monitor: None,
            mode: MonitorMode::Min,
            save_top_k: 1,
            save_last: true,
            every_n_epochs: 1,
            every_n_train_steps: 0,
            save_every_n_epochs: 0,
        }
    }
}

/// `EarlyStopping(...)` arguments.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EarlyStoppingConfig {
    pub monitor: String,
    pub mode: MonitorMode,
    /// Validation checks without improvement before stopping.
    pub patience: u64,
    /// An improvement must beat the best by more than this.
    pub min_delta: f64,
    /// Stop at once when the monitored value becomes NaN or infinite.
    pub check_finite: bool,
}

impl Default for EarlyStoppingConfig {
    fn default() -> Self {
        EarlyStoppingConfig { monitor: "val_loss".into(), mode: MonitorMode::Min, patience: 3, min_delta: 0.0, check_finite: true }
    }
}

/// `fast_dev_run: true` means one batch, an integer that many (Lightning accepts both).
fn bool_or_count<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum BoolOrCount {
        Bool(bool),
        Count(u64),
    }
    Ok(match BoolOrCount::deserialize(d)? {
        BoolOrCount::Bool(b) => b as u64,
        BoolOrCount::Count(n) => n,
    })
}
