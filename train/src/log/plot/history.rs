//! A run's metrics over time, gathered from `log_metrics` calls or read back from `metrics.csv`.

use crate::log::csv::read_csv;
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::path::Path;

/// Every metric's `(step, value)` points in the order they were logged.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MetricsHistory {
    series: BTreeMap<String, Vec<(u64, f64)>>,
}

impl MetricsHistory {
    pub fn new() -> MetricsHistory {
        MetricsHistory::default()
    }

    /// Record one `log_metrics` call (a `step` key, if any, is ignored: `step` is the x axis).
    pub fn push(&mut self, step: u64, metrics: &[(String, f64)]) {
        for (k, v) in metrics {
            if k != "step" {
                self.series.entry(k.clone()).or_default().push((step, *v));
            }
        }
    }

    /// Read a `metrics.csv` as CsvLogger (or Lightning's CSVLogger) writes it: a `step` column, empty cells
    /// for metrics a row does not have.
    pub fn from_csv(path: &Path) -> Result<MetricsHistory> {
        let table = read_csv(path)?;
        let step_col = table.header.iter().position(|k| k == "step");
        let step_col = step_col.ok_or_else(|| Error::Log(format!("{}: no `step` column in the header", path.display())))?;
        let mut h = MetricsHistory::new();
        for (i, row) in table.rows.iter().enumerate() {
            let line = i + 2;
            let step: u64 = row[step_col].trim().parse().map_err(|_| {
                Error::Log(format!("{}: line {line}: step {:?} is not a non-negative integer", path.display(), row[step_col]))
            })?;
            for (j, cell) in row.iter().enumerate() {
                if j == step_col || cell.is_empty() {
                    continue;
                }
                // Python writes nan/inf as `nan`/`inf`, which Rust's parser accepts too.
                let v: f64 = cell.trim().parse().map_err(|_| {
                    Error::Log(format!("{}: line {line}, column {}: {cell:?} is not a number", path.display(), table.header[j]))
                })?;
                h.series.entry(table.header[j].clone()).or_default().push((step, v));
            }
        }
        Ok(h)
    }

    pub fn series(&self, key: &str) -> Option<&[(u64, f64)]> {
        self.series.get(key).map(Vec::as_slice)
    }

    /// Metric names, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.series.keys().map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }
}
