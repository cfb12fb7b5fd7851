//! CsvLogger against Lightning's CSVLogger (fixture from tools/tensorboard/lightning_csv.py), resume, and the
//! Loggers fan-out.

use serde_json::Value;
use std::path::{Path, PathBuf};
use wrt_train::log::{read_csv, CsvLogger, Logger, Loggers};
use wrt_train::{Error, Result};

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/log/lightning_csv")
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("wrt-log-csv-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn metrics(v: &Value) -> Vec<(String, f64)> {
    let obj = v.as_object().expect("metrics object");
    obj.iter()
        .map(|(k, v)| {
            // Python's repr() of each value, parsed exactly (serde_json's own float parsing may be 1 ulp off).
            (k.clone(), v.as_str().expect("repr string").parse::<f64>().expect("a float"))
        })
        .collect()
}

#[test]
fn metrics_csv_equals_lightning_bytes() {
    let spec: Value = serde_json::from_str(&std::fs::read_to_string(fixture_dir().join("calls.json")).unwrap()).unwrap();
    let dir = tmp("parity");
    {
        let every = spec["flush_logs_every_n_steps"].as_u64().unwrap();
        let mut logger = CsvLogger::new(&dir).unwrap().with_flush_every(every);
        logger.log_hparams(&spec["hparams"], &[]).unwrap();
        for call in spec["calls"].as_array().unwrap() {
            logger.log_metrics(call["step"].as_u64().unwrap(), &metrics(&call["metrics"])).unwrap();
        }
        logger.finalize().unwrap();
    }
    let ours = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    let theirs = std::fs::read_to_string(fixture_dir().join("metrics.csv")).unwrap();
    assert_eq!(ours, theirs);

    // hparams.yaml: the same document (PyYAML and serde_yaml differ in float spelling, e.g. 1.0e-05 / 1e-05).
    let ours: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(dir.join("hparams.yaml")).unwrap()).unwrap();
    let theirs: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(fixture_dir().join("hparams.yaml")).unwrap()).unwrap();
    assert_eq!(ours, theirs);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn header_widens_after_a_save() {
    let dir = tmp("widen");
    let mut logger = CsvLogger::new(&dir).unwrap().with_flush_every(1);
    logger.log_metrics(0, &[("b".into(), 1.0)]).unwrap();
    let first = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    assert_eq!(first, "b,step\r\n1.0,0\r\n");
    logger.log_metrics(1, &[("a".into(), 2.5), ("epoch".into(), 0.0)]).unwrap();
    let second = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    assert_eq!(second, "a,b,epoch,step\r\n,1.0,,0\r\n2.5,,0,1\r\n");
    logger.log_metrics(2, &[("b".into(), 3.0)]).unwrap();
    let third = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    assert_eq!(third, format!("{second},3.0,,2\r\n"));
    drop(logger);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn new_replaces_and_resume_keeps_rows() {
    let dir = tmp("resume");
    {
        let mut logger = CsvLogger::new(&dir).unwrap().with_flush_every(4);
        for step in 0..10 {
            logger.log_metrics(step, &[("loss".into(), step as f64)]).unwrap();
        }
        // Dropped without finalize, like a killed run: rows up to the last save are on disk, Drop writes the rest.
    }
    assert_eq!(read_csv(&dir.join("metrics.csv")).unwrap().rows.len(), 10);
    {
        // Resume from a checkpoint after step 4: rows 5..9 are dropped and logged again.
        let mut logger = CsvLogger::resume(&dir, Some(4)).unwrap();
        assert_eq!(read_csv(&dir.join("metrics.csv")).unwrap().rows.len(), 5);
        for step in 5..8 {
            logger.log_metrics(step, &[("loss".into(), 100.0 + step as f64), ("val_loss".into(), 1.0)]).unwrap();
        }
        logger.finalize().unwrap();
    }
    let t = read_csv(&dir.join("metrics.csv")).unwrap();
    assert_eq!(t.header, ["loss", "step", "val_loss"]);
    let steps: Vec<&str> = t.rows.iter().map(|r| r[1].as_str()).collect();
    assert_eq!(steps, ["0", "1", "2", "3", "4", "5", "6", "7"]);
    assert_eq!(t.rows[4], ["4.0", "4", ""]);
    assert_eq!(t.rows[5], ["105.0", "5", "1.0"]);

    // Resume without a step keeps everything; new() starts over, as Lightning's CSVLogger does.
    drop(CsvLogger::resume(&dir, None).unwrap());
    assert_eq!(read_csv(&dir.join("metrics.csv")).unwrap().rows.len(), 8);
    drop(CsvLogger::new(&dir).unwrap());
    assert!(!dir.join("metrics.csv").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn resume_rejects_a_foreign_file() {
    let dir = tmp("foreign");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("metrics.csv"), "loss,epoch\n1.0,0\n").unwrap();
    let err = CsvLogger::resume(&dir, Some(3)).err().expect("no step column");
    assert!(err.to_string().contains("metrics.csv") && err.to_string().contains("step"), "{err}");
    std::fs::write(dir.join("metrics.csv"), "loss,step\n1.0,x\n").unwrap();
    let err = CsvLogger::resume(&dir, Some(3)).err().expect("bad step");
    assert!(err.to_string().contains("row 2"), "{err}");
    std::fs::write(dir.join("metrics.csv"), "loss,step\n1.0,1,7\n").unwrap();
    assert!(CsvLogger::resume(&dir, None).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A logger that fails every call, to check the fan-out still reaches the others.
struct Failing(PathBuf);

impl Logger for Failing {
    fn log_dir(&self) -> &Path {
        &self.0
    }
    fn log_metrics(&mut self, _: u64, _: &[(String, f64)]) -> Result<()> {
        Err(Error::Log("failing logger".into()))
    }
    fn log_hparams(&mut self, _: &Value, _: &[(String, f64)]) -> Result<()> {
        Err(Error::Log("failing logger".into()))
    }
    fn flush(&mut self) -> Result<()> {
        Ok(())
    }
    fn finalize(&mut self) -> Result<()> {
        Ok(())
    }
}

#[test]
fn fan_out_reaches_every_logger() {
    let dir = tmp("fanout");
    let mut loggers = Loggers::new(vec![Box::new(Failing(dir.clone())), Box::new(CsvLogger::new(&dir).unwrap())]);
    let err = loggers.log_metrics(0, &[("loss".into(), 0.5)]).unwrap_err();
    assert_eq!(err, Error::Log("failing logger".into()));
    assert!(loggers.log_hparams(&serde_json::json!({"lr": 0.1}), &[]).is_err());
    loggers.finalize().unwrap();
    assert_eq!(std::fs::read_to_string(dir.join("metrics.csv")).unwrap(), "loss,step\r\n0.5,0\r\n");
    assert_eq!(std::fs::read_to_string(dir.join("hparams.yaml")).unwrap(), "lr: 0.1\n");
    assert_eq!(loggers.log_dir(), dir.as_path());
    drop(loggers);
    std::fs::remove_dir_all(&dir).unwrap();
}
