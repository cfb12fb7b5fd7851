//! Run configuration: YAML files (the AtmoDist project's schema, generalised to all five models), command-line
//! overrides, validation with file:line errors and "did you mean" suggestions, and the effective config of
//! each run.
//!
//! Entry points:
//! - [`from_cli_and_files`]: `--config FILE` / `--config-dir DIR` + flag overrides -> `Vec<RunConfig>`.
//! - [`load_file`], [`load_str`]: the same for a file or a string.
//! - [`RunConfig::save_effective`]: write the run's `config.yaml` (loading it back gives the same run).
//!
//! Layers, lowest first: built-in defaults (`schema.rs`), the model type's seed defaults (`models.rs`), the
//! file's shared settings, the `models:` entry, the flags. Keys and their seed spellings: docs/config.md.

mod emit;
mod load;
pub mod models;
mod node;
pub mod presets;
mod run;
pub mod schema;
pub mod suggest;
mod validate;
mod yaml;

pub use load::{from_cli_and_files, load_file, load_str, CliInput, Override};
pub use models::{ModelKind, ModelSpec};
pub use run::{
    Accelerator, DataConfig, DeviceConfig, Devices, Interval, LoaderConfig, LoggerKind, LossConfig, LossKind, ModelConfig, OptimizerConfig,
    OptimizerKind, Reduction, RunConfig, SchedulerConfig, SchedulerKind,
};
