//! Loggers, as Lightning's: a `Logger` trait, `CsvLogger` (`metrics.csv` + `hparams.yaml`),
//! `TensorBoardLogger` (event files written by hand), a `Loggers` fan-out, and PNG plots (`plot`).
//!
//! A run logs into `{save_dir}/{name}/version_{n}` (`version_dir` picks the next free n, as Lightning does);
//! the CSV and TensorBoard loggers share that directory. See docs/logging.md for the layout.

mod csv;
mod hparams;
pub mod plot;
mod png;
mod pyfmt;
pub mod tensorboard;

pub use self::csv::{read_csv, CsvLogger, CsvTable, DEFAULT_FLUSH_EVERY, METRICS_FILE};
pub use self::hparams::{flatten as flatten_hparams, write_yaml as write_hparams_yaml, HPARAMS_FILE};
pub use self::png::{png_info, PngInfo, PNG_SIGNATURE};
pub use self::pyfmt::float_repr as python_float_repr;
pub use self::tensorboard::TensorBoardLogger;

use crate::Result;
use std::path::{Path, PathBuf};

/// What the trainer calls; the same calls as Lightning's `Logger`. Metric names are the keys given to
/// `self.log` (`train_loss`, `val_loss`, `lr-AdamW`, ...); the trainer adds `epoch` to each `log_metrics`
/// call, as Lightning does.
pub trait Logger {
    /// The directory this logger writes into.
    fn log_dir(&self) -> &Path;

    fn log_metrics(&mut self, step: u64, metrics: &[(String, f64)]) -> Result<()>;

    /// Record hyperparameters (a JSON object) and the metrics to show beside them in TensorBoard's hparams
    /// view (empty: Lightning's `hp_metric = -1` placeholder).
    fn log_hparams(&mut self, hparams: &serde_json::Value, metrics: &[(String, f64)]) -> Result<()>;

    /// A PNG image (a confusion matrix, a plot). Loggers without images ignore it.
    fn log_image(&mut self, tag: &str, step: u64, png: &[u8]) -> Result<()> {
        let _ = (tag, step, png);
        Ok(())
    }

    /// Free text (a classification report). Loggers without text ignore it.
    fn log_text(&mut self, tag: &str, step: u64, text: &str) -> Result<()> {
        let _ = (tag, step, text);
        Ok(())
    }

    /// Write out whatever is buffered.
    fn flush(&mut self) -> Result<()>;

    /// End of the run: flush and sync. The logger may still be dropped afterwards.
    fn finalize(&mut self) -> Result<()>;
}

/// Several loggers driven as one. Every call reaches every logger even when one fails; the first error is
/// returned.
#[derive(Default)]
pub struct Loggers {
    pub loggers: Vec<Box<dyn Logger>>,
}

impl Loggers {
    pub fn new(loggers: Vec<Box<dyn Logger>>) -> Loggers {
        Loggers { loggers }
    }

    pub fn push(&mut self, logger: Box<dyn Logger>) {
        self.loggers.push(logger);
    }

    pub fn is_empty(&self) -> bool {
        self.loggers.is_empty()
    }

    fn each(&mut self, mut f: impl FnMut(&mut dyn Logger) -> Result<()>) -> Result<()> {
        let mut first = Ok(());
        for l in &mut self.loggers {
            let r = f(l.as_mut());
            if first.is_ok() {
                first = r;
            }
        }
        first
    }
}

impl Logger for Loggers {
    /// The first logger's directory (all loggers of a run share one); "." when there is none.
    fn log_dir(&self) -> &Path {
        self.loggers.first().map(|l| l.log_dir()).unwrap_or(Path::new("."))
    }
    fn log_metrics(&mut self, step: u64, metrics: &[(String, f64)]) -> Result<()> {
        self.each(|l| l.log_metrics(step, metrics))
    }
    fn log_hparams(&mut self, hparams: &serde_json::Value, metrics: &[(String, f64)]) -> Result<()> {
        self.each(|l| l.log_hparams(hparams, metrics))
    }
    fn log_image(&mut self, tag: &str, step: u64, png: &[u8]) -> Result<()> {
        self.each(|l| l.log_image(tag, step, png))
    }
    fn log_text(&mut self, tag: &str, step: u64, text: &str) -> Result<()> {
        self.each(|l| l.log_text(tag, step, text))
    }
    fn flush(&mut self) -> Result<()> {
        self.each(|l| l.flush())
    }
    fn finalize(&mut self) -> Result<()> {
        self.each(|l| l.finalize())
    }
}

/// `{save_dir}/{name}/version_{n}` (`{save_dir}/version_{n}` when `name` is empty): `version` when given,
/// else one more than the largest existing `version_<digits>` directory there, or 0 (Lightning's
/// `_get_next_version`). Nothing is created.
pub fn version_dir(save_dir: &Path, name: &str, version: Option<u32>) -> PathBuf {
    let root = if name.is_empty() { save_dir.to_path_buf() } else { save_dir.join(name) };
    let n = version.unwrap_or_else(|| {
        let existing = std::fs::read_dir(&root).into_iter().flatten().flatten().filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let digits = name.strip_prefix("version_")?;
            let is_num = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
            (is_num && entry.path().is_dir()).then(|| digits.parse::<u32>().ok()).flatten()
        });
        existing.max().map_or(0, |m| m + 1)
    });
    root.join(format!("version_{n}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_dir_picks_next_free() {
        let tmp = std::env::temp_dir().join(format!("wrt-log-version-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        assert_eq!(version_dir(&tmp, "runs", None), tmp.join("runs/version_0"));
        for d in ["runs/version_0", "runs/version_3", "runs/version_x", "runs/other"] {
            std::fs::create_dir_all(tmp.join(d)).unwrap();
        }
        std::fs::write(tmp.join("runs/version_9"), b"a file, not a run").unwrap();
        assert_eq!(version_dir(&tmp, "runs", None), tmp.join("runs/version_4"));
        assert_eq!(version_dir(&tmp, "runs", Some(1)), tmp.join("runs/version_1"));
        assert_eq!(version_dir(&tmp, "", None), tmp.join("version_0"));
        std::fs::remove_dir_all(&tmp).unwrap();
    }
}
