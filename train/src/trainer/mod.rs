//! The trainer: a Lightning-like loop over a `TrainModule` (`fit`), with callbacks (ModelCheckpoint,
//! EarlyStopping, LearningRateMonitor, a progress bar) and checkpoints that resume exactly.

mod checkpoint;
pub mod config;
mod early_stopping;
mod fit;
mod model_checkpoint;
mod module;
mod progress;

pub use checkpoint::{load_from_checkpoint, Checkpoint, Meta, Position, FORMAT_VERSION};
pub use config::{Batches, CheckpointConfig, ClipAlgorithm, EarlyStoppingConfig, MonitorMode, Precision, TrainerConfig};
pub use early_stopping::{EarlyStopping, EarlyStoppingState};
pub use fit::{install_sigint_handler, FitOutcome, Loader, Stop, Trainer};
pub use model_checkpoint::{format_name, CheckpointState, ModelCheckpoint};
pub use module::{BatchSize, Interval, OptimSetup, SchedulerSetup, Stage, StepLog, TrainModule};
