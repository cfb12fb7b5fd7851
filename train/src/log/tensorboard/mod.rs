//! `TensorBoardLogger`: TensorBoard event files written by hand (no TensorFlow, no protobuf crate).
//!
//! One file per logger, named as tensorboard's `EventFileWriter` names it,
//! `events.out.tfevents.{unix time:010}.{hostname}.{pid}.{n}`. Its first record is the
//! `file_version: "brain.Event:2"` event; then scalars (`simple_value`, what `add_scalar` writes), PNG images,
//! text, and the hparams plugin's three summaries, as Lightning's `TensorBoardLogger.log_hyperparams` writes
//! them (with `hp_metric = -1` when no metric is given, Lightning's `default_hp_metric`). Records are buffered
//! and written out every `flush_secs` (tensorboard's default is 120 s; ours 10 s), on `flush`, `finalize` and
//! drop. Each file's second event is `SessionLog{START}`: at step 0 for a fresh run; on resume,
//! `open(dir, Some(step))` puts it at the resumed step, so TensorBoard discards the points the interrupted
//! run logged past the checkpoint (torch's `purge_step`).

mod crc32c;
mod event;
mod hparams_plugin;
mod proto;
pub mod reader;
mod record;

pub use crc32c::{crc32c, masked_crc32c};
pub use hparams_plugin::{
    decode as decode_hparams, HParamValue, HParamsData, DATA_TYPE_BOOL, DATA_TYPE_FLOAT64, DATA_TYPE_STRING,
    EXPERIMENT_TAG, PLUGIN_NAME as HPARAMS_PLUGIN_NAME, SESSION_END_INFO_TAG, SESSION_START_INFO_TAG, STATUS_SUCCESS,
};
pub use proto::{fields as proto_fields, put_varint, Msg, Wire};
pub use record::{frame, unframe};

use super::png::png_info;
use super::{hparams, Logger};
use crate::{Error, Result};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Default seconds between writes of buffered events.
pub const DEFAULT_FLUSH_SECS: f64 = 10.0;

/// tensorboard's `_global_uid`: the last part of the file name, unique per process.
static FILE_UID: AtomicU64 = AtomicU64::new(0);

pub struct TensorBoardLogger {
    dir: PathBuf,
    path: PathBuf,
    file: std::fs::File,
    /// Framed records not yet written.
    pending: Vec<u8>,
    last_write: Instant,
    flush_every: Duration,
}

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// The machine's name as Python's `socket.gethostname()` gives it on Linux; elsewhere `$HOSTNAME` or
/// `localhost` (the name only needs to keep files of several machines apart).
fn hostname() -> String {
    let raw = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .unwrap_or_default();
    let name: String = raw.trim().chars().filter(|c| !c.is_control() && *c != '/').collect();
    if name.is_empty() { "localhost".into() } else { name }
}

impl TensorBoardLogger {
    /// A new event file in `log_dir` (created if missing).
    pub fn new(log_dir: impl Into<PathBuf>) -> Result<TensorBoardLogger> {
        TensorBoardLogger::open(log_dir, None)
    }

    /// A new event file in `log_dir`; with `purge_step = Some(s)` (resuming from a checkpoint at step `s`), the
    /// events of earlier files at steps >= `s` are marked for TensorBoard to discard.
    pub fn open(log_dir: impl Into<PathBuf>, purge_step: Option<u64>) -> Result<TensorBoardLogger> {
        let dir = log_dir.into();
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let wall = now();
        let name = format!(
            "events.out.tfevents.{:010}.{}.{}.{}",
            wall as u64,
            hostname(),
            std::process::id(),
            FILE_UID.fetch_add(1, Ordering::Relaxed)
        );
        let path = dir.join(name);
        let file = std::fs::OpenOptions::new().write(true).create_new(true).open(&path).map_err(|e| Error::io(&path, e))?;
        let mut logger = TensorBoardLogger {
            dir,
            path,
            file,
            pending: Vec::new(),
            last_write: Instant::now(),
            flush_every: Duration::from_secs_f64(DEFAULT_FLUSH_SECS),
        };
        logger.push(&event::file_version(wall));
        // Every file opens a session. TensorBoard's server-side loader (plugin_event_accumulator) treats
        // the first START it sees as the run's beginning and purges only on later ones, so a fresh run
        // needs its own START for a resumed run's START (at the resumed step) to take effect.
        logger.push(&event::session_start(wall, purge_step.unwrap_or(0) as i64));
        // The file_version record goes out at once: TensorBoard recognises a run by a readable first event.
        logger.write_pending()?;
        Ok(logger)
    }

    /// Seconds between writes of buffered events (0 writes every event at once).
    pub fn with_flush_secs(mut self, secs: f64) -> TensorBoardLogger {
        self.flush_every = Duration::from_secs_f64(secs.max(0.0));
        self
    }

    /// The event file this logger writes.
    pub fn event_file(&self) -> &Path {
        &self.path
    }

    fn push(&mut self, event: &[u8]) {
        frame(&mut self.pending, event);
    }

    fn push_summary(&mut self, step: u64, values: &[Msg]) -> Result<()> {
        self.push(&event::summary(now(), step as i64, values));
        if self.last_write.elapsed() >= self.flush_every {
            self.write_pending()?;
        }
        Ok(())
    }

    fn write_pending(&mut self) -> Result<()> {
        if !self.pending.is_empty() {
            self.file.write_all(&self.pending).map_err(|e| Error::io(&self.path, e))?;
            self.file.flush().map_err(|e| Error::io(&self.path, e))?;
            self.pending.clear();
        }
        self.last_write = Instant::now();
        Ok(())
    }
}

impl Logger for TensorBoardLogger {
    fn log_dir(&self) -> &Path {
        &self.dir
    }

    fn log_metrics(&mut self, step: u64, metrics: &[(String, f64)]) -> Result<()> {
        if metrics.is_empty() {
            return Ok(());
        }
        let values: Vec<Msg> = metrics.iter().map(|(k, v)| event::scalar(k, *v as f32)).collect();
        self.push_summary(step, &values)
    }

    fn log_hparams(&mut self, hparams: &serde_json::Value, metrics: &[(String, f64)]) -> Result<()> {
        let flat = hparams::flatten(hparams)?;
        let default_metric = [("hp_metric".to_string(), -1.0)];
        let metrics = if metrics.is_empty() { &default_metric[..] } else { metrics };
        // Lightning: log_metrics(metrics, step=None), then the three summaries, all at step 0.
        self.log_metrics(0, metrics)?;
        let tags: Vec<String> = metrics.iter().map(|(k, _)| k.clone()).collect();
        for value in hparams_plugin::summaries(&flat, &tags) {
            self.push_summary(0, &[value])?;
        }
        hparams::write_yaml(&self.dir, hparams)
    }

    fn log_image(&mut self, tag: &str, step: u64, png: &[u8]) -> Result<()> {
        let info = png_info(png).map_err(|e| Error::Log(format!("image {tag}: {e}")))?;
        self.push_summary(step, &[event::image(tag, &info, png)])
    }

    fn log_text(&mut self, tag: &str, step: u64, text: &str) -> Result<()> {
        self.push_summary(step, &[event::text(tag, text)])
    }

    fn flush(&mut self) -> Result<()> {
        self.write_pending()
    }

    fn finalize(&mut self) -> Result<()> {
        self.write_pending()?;
        self.file.sync_all().map_err(|e| Error::io(&self.path, e))
    }
}

impl Drop for TensorBoardLogger {
    fn drop(&mut self) {
        // Best effort, as SummaryWriter's close(): errors were reported by the trainer's flush/finalize.
        let _ = self.write_pending();
    }
}

#[cfg(test)]
mod tests {
    //! Our encoder against the bytes the real protobuf classes produce (tools/tensorboard/proto_bytes.py).
    use super::*;
    use serde_json::Value;

    fn fixture() -> Value {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/log/proto_bytes.json");
        serde_json::from_str(&std::fs::read_to_string(path).expect("proto_bytes.json")).expect("valid JSON")
    }

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn events_match_protobuf() {
        let f = fixture();
        let case = |k: &str| f["cases"][k].as_str().unwrap_or_else(|| panic!("case {k}")).to_string();
        let wall = f["wall_time"].as_f64().unwrap();
        let png = unhex(f["png_hex"].as_str().unwrap());

        assert_eq!(hex(&event::file_version(wall)), case("file_version"));
        let scalars = [event::scalar("train_loss", 0.5), event::scalar("lr-AdamW", 0.001)];
        assert_eq!(hex(&event::summary(wall, 7, &scalars)), case("scalars_step7"));
        let info = png_info(&png).unwrap();
        assert_eq!(hex(&event::summary(wall, 2, &[event::image("confusion_matrix", &info, &png)])), case("image_step2"));
        let text = event::text("report", "precision recall\n0.5 0.25");
        assert_eq!(hex(&event::summary(wall, 3, &[text])), case("text_step3"));
        assert_eq!(hex(&event::session_start(wall, 5)), case("purge_step5"));
    }

    #[test]
    fn hparams_match_torch() {
        let f = fixture();
        let case = |k: &str| f["cases"][k].as_str().unwrap().to_string();
        // The fixture lists the hparams in torch's dict order; flatten them one by one to keep that order.
        let mut hp = Vec::new();
        for pair in f["hparams"].as_array().unwrap() {
            let (k, v) = (pair[0].as_str().unwrap(), &pair[1]);
            let one: serde_json::Map<String, Value> = [(k.to_string(), v.clone())].into_iter().collect();
            hp.extend(hparams::flatten(&Value::Object(one)).unwrap());
        }
        let tags: Vec<String> = f["metrics"].as_array().unwrap().iter().map(|p| p[0].as_str().unwrap().to_string()).collect();
        let [exp, ssi, sei] = hparams_plugin::summaries(&hp, &tags);
        let summary = |v: &Msg| {
            let mut s = Msg::new();
            s.message(1, v);
            hex(s.as_bytes())
        };
        assert_eq!(summary(&exp), case("hparams_experiment"));
        assert_eq!(summary(&ssi), case("hparams_session_start"));
        assert_eq!(summary(&sei), case("hparams_session_end"));
    }
}
