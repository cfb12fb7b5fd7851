//! PNG plots drawn with plotters into memory (bitmap backend, embedded font; no system libraries):
//! metric curves at the end of training or on demand from a finished run's `metrics.csv`, and confusion
//! matrices for files and TensorBoard images.

mod confusion;
mod curves;
mod encode;
mod font;
mod history;

pub use confusion::confusion_matrix_png;
pub use curves::{curves, from_csv, groups, line_plot};
pub use encode::rgb_to_png;
pub use history::MetricsHistory;
