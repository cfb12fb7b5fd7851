//! PNG plots drawn with plotters into memory (bitmap backend, embedded font; no system libraries):
//! metric curves at the end of training or on demand from a finished run's `metrics.csv`, and confusion
//! matrices for files and TensorBoard images, and a TFT's forecasts and interpretation (variable
//! importances, attention).

mod confusion;
mod curves;
mod encode;
mod font;
mod forecast;
mod history;
mod maps;

pub use confusion::confusion_matrix_png;
pub use curves::{curves, from_csv, groups, line_plot};
pub use encode::rgb_to_png;
pub use forecast::{attention_png, forecast_png, importance_png, ForecastPlot};
pub use history::MetricsHistory;
pub use maps::{forecast_maps_png, MapRow};
