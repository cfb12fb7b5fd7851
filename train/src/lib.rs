//! wrt-train: optimizers (`optim`: SGD, Adam, AdamW, gradient clipping) and learning-rate schedulers
//! (`sched`: step, multi-step, cosine, linear warmup + cosine, one-cycle, reduce-on-plateau), each following
//! PyTorch's update rules operation by operation so that f32 trajectories match `torch.optim`; the
//! Lightning-like `trainer` with its callbacks and checkpoints; `metrics`, `log`gers, `data` layouts and the
//! run `config`; `tasks` (each model as a `TrainModule`), `run` (what `wrt-train train|validate|predict` do)
//! and `analogues` (AtmoDist's weather-analogue search).

pub mod analogues;
pub mod config;
pub mod data;
mod error;
pub mod log;
pub mod metrics;
pub mod optim;
pub mod run;
pub mod sched;
pub mod tasks;
pub mod trainer;

pub use error::{Error, Result};
