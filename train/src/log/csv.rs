//! `CsvLogger`: `metrics.csv` and `hparams.yaml` exactly as Lightning's CSVLogger writes them.
//!
//! Lightning's `_ExperimentWriter` buffers rows (`{metric: value, "step": step}`), and on save takes the
//! union of all keys ever seen, **sorted** (`metrics_keys.sort()`), as the header. When a save brings a key
//! the file does not have yet, the whole file is rewritten under the wider header; otherwise rows are
//! appended. Cells are Python's `str()` of the value (`csv.DictWriter`, `restval=""` for keys a row lacks,
//! `\r\n` line ends). `step` and `epoch` are Python ints there, so they print without `.0`. Saves happen when
//! `(step + 1) % flush_logs_every_n_steps == 0` and at finalize.
//!
//! One deliberate difference: Lightning deletes an existing `metrics.csv` when a logger opens a non-empty
//! directory. `CsvLogger::new` does the same, but `CsvLogger::resume` keeps the rows of the interrupted run
//! (dropping those past the resumed step) so one file tells the whole story.

use super::pyfmt::float_repr;
use super::{hparams, Logger};
use crate::{Error, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

pub const METRICS_FILE: &str = "metrics.csv";

/// Lightning's default `flush_logs_every_n_steps`.
pub const DEFAULT_FLUSH_EVERY: u64 = 100;

pub struct CsvLogger {
    dir: PathBuf,
    /// The header: sorted union of every key saved so far (Lightning's `metrics_keys`).
    keys: Vec<String>,
    /// Rows not yet saved, cells already formatted.
    pending: Vec<BTreeMap<String, String>>,
    flush_every: u64,
    /// Accumulated hyperparameters (Lightning's `ExperimentWriter.hparams.update(params)`).
    hparams: serde_json::Map<String, serde_json::Value>,
}

impl CsvLogger {
    /// A logger writing into `log_dir` (created if missing); an existing `metrics.csv` there is removed, as
    /// Lightning does.
    pub fn new(log_dir: impl Into<PathBuf>) -> Result<CsvLogger> {
        let dir = log_dir.into();
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let path = dir.join(METRICS_FILE);
        if path.is_file() {
            std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
        }
        Ok(CsvLogger::empty(dir))
    }

    /// Continue the `metrics.csv` of an interrupted run in `log_dir`: its header and rows are kept and new rows
    /// appended. With `keep_through_step = Some(s)`, rows with `step > s` (logged after the checkpoint being
    /// resumed from, so about to be logged again) are dropped first. A missing file starts a fresh one.
    pub fn resume(log_dir: impl Into<PathBuf>, keep_through_step: Option<u64>) -> Result<CsvLogger> {
        let dir = log_dir.into();
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let mut logger = CsvLogger::empty(dir);
        let path = logger.metrics_path();
        if !path.is_file() {
            return Ok(logger);
        }
        let table = read_csv(&path)?;
        let step_col = table.header.iter().position(|k| k == "step");
        let step_col = step_col.ok_or_else(|| Error::Log(format!("{}: no `step` column in the header", path.display())))?;
        let mut rows = Vec::with_capacity(table.rows.len());
        for (i, row) in table.rows.into_iter().enumerate() {
            let step: u64 = row[step_col].parse().map_err(|_| {
                Error::Log(format!("{}: row {}: step {:?} is not an integer", path.display(), i + 2, row[step_col]))
            })?;
            if keep_through_step.is_none_or(|s| step <= s) {
                rows.push(row);
            }
        }
        write_csv(&path, &table.header, &rows)?;
        logger.keys = table.header;
        Ok(logger)
    }

    fn empty(dir: PathBuf) -> CsvLogger {
        CsvLogger {
            dir,
            keys: Vec::new(),
            pending: Vec::new(),
            flush_every: DEFAULT_FLUSH_EVERY,
            hparams: serde_json::Map::new(),
        }
    }

    /// Lightning's `flush_logs_every_n_steps` (at least 1).
    pub fn with_flush_every(mut self, n: u64) -> CsvLogger {
        self.flush_every = n.max(1);
        self
    }

    pub fn metrics_path(&self) -> PathBuf {
        self.dir.join(METRICS_FILE)
    }

    /// Write the buffered rows (Lightning's `_ExperimentWriter.save`).
    fn save(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let path = self.metrics_path();
        let seen: BTreeSet<&String> = self.pending.iter().flat_map(|r| r.keys()).collect();
        let new_keys: Vec<String> = seen.into_iter().filter(|k| !self.keys.contains(k)).cloned().collect();
        let exists = path.is_file();
        let header_changed = !new_keys.is_empty();
        self.keys.extend(new_keys);
        self.keys.sort();

        let mut rows: Vec<Vec<String>> = Vec::new();
        if exists && header_changed {
            // Rewrite under the wider header, moving every old cell to its column.
            let old = read_csv(&path)?;
            let index: Vec<usize> =
                old.header.iter().map(|k| self.keys.iter().position(|n| n == k).expect("old keys are kept")).collect();
            for row in old.rows {
                let mut wide = vec![String::new(); self.keys.len()];
                for (cell, &j) in row.into_iter().zip(&index) {
                    wide[j] = cell;
                }
                rows.push(wide);
            }
        }
        for row in self.pending.drain(..) {
            rows.push(self.keys.iter().map(|k| row.get(k).cloned().unwrap_or_default()).collect());
        }
        if exists && !header_changed {
            append_csv(&path, &rows)
        } else {
            write_csv(&path, &self.keys, &rows)
        }
    }
}

/// A cell as Python's `str()` prints it: `step` and an integral `epoch` are ints in Lightning, the rest floats.
fn cell(key: &str, value: f64) -> String {
    if key == "epoch" && value.fract() == 0.0 && value.abs() < 9.0e15 {
        format!("{}", value as i64)
    } else {
        float_repr(value)
    }
}

impl Logger for CsvLogger {
    fn log_dir(&self) -> &Path {
        &self.dir
    }

    fn log_metrics(&mut self, step: u64, metrics: &[(String, f64)]) -> Result<()> {
        let mut row: BTreeMap<String, String> = metrics.iter().map(|(k, v)| (k.clone(), cell(k, *v))).collect();
        row.insert("step".into(), step.to_string());
        self.pending.push(row);
        if (step + 1).is_multiple_of(self.flush_every) {
            self.save()?;
        }
        Ok(())
    }

    fn log_hparams(&mut self, hparams: &serde_json::Value, _metrics: &[(String, f64)]) -> Result<()> {
        match hparams {
            serde_json::Value::Object(m) => self.hparams.extend(m.clone()),
            other => return Err(Error::Log(format!("hparams must be a JSON object, found {other}"))),
        }
        hparams::write_yaml(&self.dir, &serde_json::Value::Object(self.hparams.clone()))
    }

    fn flush(&mut self) -> Result<()> {
        self.save()
    }

    fn finalize(&mut self) -> Result<()> {
        self.save()
    }
}

impl Drop for CsvLogger {
    fn drop(&mut self) {
        // Best effort: a run that ends by an error still leaves its rows on disk. Errors were reported by the
        // explicit flush/finalize the trainer calls; there is nowhere to report one from here.
        let _ = self.save();
    }
}

/// A parsed CSV file: header and rows, each row as long as the header.
#[derive(Clone, Debug, PartialEq)]
pub struct CsvTable {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// Read a CSV file as Python's `csv` module writes it (RFC 4180 quoting, `\r\n` or `\n` line ends). Rows
/// shorter than the header are padded with empty cells, as `csv.DictReader` fills `restval`; longer rows
/// are an error naming the line.
pub fn read_csv(path: &Path) -> Result<CsvTable> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut records = parse_csv(&text).map_err(|msg| Error::Log(format!("{}: {msg}", path.display())))?;
    if records.is_empty() {
        return Err(Error::Log(format!("{}: empty file, expected a header line", path.display())));
    }
    let header = records.remove(0);
    for (i, r) in records.iter_mut().enumerate() {
        if r.len() > header.len() {
            return Err(Error::Log(format!(
                "{}: record {} has {} cells, the header has {}",
                path.display(),
                i + 2,
                r.len(),
                header.len()
            )));
        }
        r.resize(header.len(), String::new());
    }
    Ok(CsvTable { header, rows: records })
}

fn parse_csv(text: &str) -> std::result::Result<Vec<Vec<String>>, String> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    let mut at_start = true; // nothing read on this record yet (skips blank lines, as csv.reader does)
    while let Some(c) = chars.next() {
        match c {
            '"' if field.is_empty() => {
                // Quoted field: until a lone quote; "" is a literal quote.
                loop {
                    match chars.next() {
                        Some('"') if chars.peek() == Some(&'"') => {
                            chars.next();
                            field.push('"');
                        }
                        Some('"') => break,
                        Some(c) => {
                            if c == '\n' {
                                line += 1;
                            }
                            field.push(c)
                        }
                        None => return Err(format!("line {line}: unterminated quoted field")),
                    }
                }
                at_start = false;
            }
            ',' => {
                record.push(std::mem::take(&mut field));
                at_start = false;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' | '\r' => {
                if !at_start || !field.is_empty() {
                    record.push(std::mem::take(&mut field));
                    records.push(std::mem::take(&mut record));
                }
                at_start = true;
                line += 1;
            }
            c => {
                field.push(c);
                at_start = false;
            }
        }
    }
    if !at_start || !field.is_empty() {
        record.push(field);
        records.push(record);
    }
    Ok(records)
}

/// A field as `csv.writer` (QUOTE_MINIMAL) writes it.
fn quote(field: &str) -> String {
    if field.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

fn encode_rows(out: &mut String, rows: &[Vec<String>]) {
    for row in rows {
        out.push_str(&row.iter().map(|f| quote(f)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
}

fn write_csv(path: &Path, header: &[String], rows: &[Vec<String>]) -> Result<()> {
    let mut out = String::new();
    encode_rows(&mut out, std::slice::from_ref(&header.to_vec()));
    encode_rows(&mut out, rows);
    std::fs::write(path, out).map_err(|e| Error::io(path, e))
}

fn append_csv(path: &Path, rows: &[Vec<String>]) -> Result<()> {
    use std::io::Write;
    let mut out = String::new();
    encode_rows(&mut out, rows);
    let mut f = std::fs::OpenOptions::new().append(true).open(path).map_err(|e| Error::io(path, e))?;
    f.write_all(out.as_bytes()).map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_quotes_and_line_ends() {
        let t = parse_csv("a,b\r\n1,\"x,\"\"y\"\"\"\r\n\r\n2,\n").unwrap();
        assert_eq!(t, vec![vec!["a", "b"], vec!["1", "x,\"y\""], vec!["2", ""]]);
        assert!(parse_csv("a\n\"open").is_err());
        assert_eq!(quote("x,\"y\""), "\"x,\"\"y\"\"\"");
        assert_eq!(quote("lr-Adam"), "lr-Adam");
    }

    #[test]
    fn cells_as_python_prints_them() {
        assert_eq!(cell("epoch", 3.0), "3");
        assert_eq!(cell("epoch", 0.5), "0.5");
        assert_eq!(cell("val_loss", 3.0), "3.0");
        assert_eq!(cell("lr", 1e-5), "1e-05");
    }
}
