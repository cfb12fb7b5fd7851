//! The seam between the CLI and the trainer: one function per run subcommand, each given a validated
//! `RunConfig`. The trainer loop is wired here by the training-engine work; until then these say so.
//!
//! Contract for the implementations: `run_train` first writes the effective config with
//! `cfg.save_effective(&cfg.run_dir)`, then trains into `cfg.run_dir` (checkpoints in
//! `cfg.checkpoint_dir()`), resuming from `cfg.resume_from` if set. `run_validate`/`run_predict` evaluate
//! `cfg.ckpt_path` (predictions to `cfg.predict_output`, default `{run_dir}/predictions.h5`). Trainer
//! errors go back as `CliError::Runtime(e)` (exit code 1).

use crate::error::CliError;
use wrt_train::config::RunConfig;

fn not_wired(what: &str, cfg: &RunConfig) -> CliError {
    CliError::Failed(format!(
        "`{what}`: run `{}` (model {}) is configured and valid, but the trainer is not wired to the CLI yet",
        cfg.run_name, cfg.model.type_name
    ))
}

pub fn run_train(cfg: &RunConfig) -> Result<(), CliError> {
    Err(not_wired("train", cfg))
}

pub fn run_validate(cfg: &RunConfig) -> Result<(), CliError> {
    Err(not_wired("validate", cfg))
}

pub fn run_predict(cfg: &RunConfig) -> Result<(), CliError> {
    Err(not_wired("predict", cfg))
}
