//! wrt-train: optimizers (`optim`: SGD, Adam, AdamW, gradient clipping) and learning-rate schedulers
//! (`sched`: step, multi-step, cosine, linear warmup + cosine, one-cycle, reduce-on-plateau), each following
//! PyTorch's update rules operation by operation so that f32 trajectories match `torch.optim`.
//! The trainer loop, callbacks and checkpoints land later (see ../shared/design.md, "train/").

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
