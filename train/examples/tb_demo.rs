//! Writes a TensorBoard + CSV run the way the trainer will, for tools/tensorboard/readback.py to check
//! with the real `tensorboard` package:
//!
//! ```text
//! cargo run -p wrt-train --example tb_demo -- <save_dir>             # a run in <save_dir>/tb_demo/version_N
//! cargo run -p wrt-train --example tb_demo -- --fixture <dir>        # the small committed fixture
//! ```
//!
//! The run is interrupted and resumed: the first "process" logs 20 steps and stops without finalizing;
//! the second resumes from a checkpoint at step 16, so the CSV keeps rows through step 15 and the new event
//! file purges steps >= 16 of the old one. Values logged after the checkpoint by the first process are
//! offset by +100, so any that survive the purge show up as a CSV/TensorBoard mismatch in the read-back.

use serde_json::json;
use std::path::{Path, PathBuf};
use wrt_train::log::plot::{self, confusion_matrix_png};
use wrt_train::log::{version_dir, CsvLogger, Logger, Loggers, TensorBoardLogger};
use wrt_train::Result;

const STEPS_PER_EPOCH: u64 = 8;
const CLASSES: [&str; 3] = ["light", "moderate", "heavy"];

fn train_loss(step: u64) -> f64 {
    2.3 * (-(step as f64) / 12.0).exp() + 0.05 * (step as f64).sin() + 0.1
}

fn lr(step: u64) -> f64 {
    // Linear warmup over 4 steps, then cosine to 0 over 32.
    let s = step as f64;
    if s < 4.0 { 1e-3 * (s + 1.0) / 4.0 } else { 0.5e-3 * (1.0 + (std::f64::consts::PI * (s - 4.0) / 28.0).cos()) }
}

fn confusion(epoch: u64) -> Vec<Vec<u64>> {
    // Gets more diagonal with each epoch.
    let d = 10 + 15 * epoch;
    vec![vec![d, 12, 3], vec![9, d + 5, 7], vec![2, 8, d + 2]]
}

fn names() -> Vec<String> {
    CLASSES.iter().map(|s| s.to_string()).collect()
}

/// Log steps `from..to` of the demo (train every step; validation, epoch loss and the confusion matrix at
/// the last step of each epoch), adding `offset` to every value (the doomed steps of the first process).
fn log_steps(loggers: &mut dyn Logger, from: u64, to: u64, offset: f64) -> Result<()> {
    for step in from..to {
        let epoch = step / STEPS_PER_EPOCH;
        let m = |k: &str, v: f64| (k.to_string(), v + offset);
        loggers.log_metrics(step, &[m("train_loss_step", train_loss(step)), m("lr-AdamW", lr(step)), ("epoch".into(), epoch as f64)])?;
        if (step + 1) % STEPS_PER_EPOCH == 0 {
            let val = [m("val_loss", train_loss(step) * 1.1), m("val_acc", 0.4 + 0.15 * epoch as f64), ("epoch".into(), epoch as f64)];
            loggers.log_metrics(step, &val)?;
            let mean = (step + 1 - STEPS_PER_EPOCH..=step).map(train_loss).sum::<f64>() / STEPS_PER_EPOCH as f64;
            loggers.log_metrics(step, &[m("train_loss_epoch", mean), ("epoch".into(), epoch as f64)])?;
            let png = confusion_matrix_png(&confusion(epoch), &names(), &format!("val confusion matrix, epoch {epoch}"))?;
            loggers.log_image("val_confusion_matrix", step, &png)?;
        }
    }
    Ok(())
}

fn hparams() -> serde_json::Value {
    json!({"lr": 1e-3, "batch_size": 32, "max_epochs": 4, "precision": "32",
           "model": {"name": "satformer", "dim": 64, "depth": 2, "attn": "ST^2"},
           "deterministic": true, "gpus": [0, 1]})
}

fn full_run(save_dir: &Path) -> Result<PathBuf> {
    let dir = version_dir(save_dir, "tb_demo", None);
    {
        // First process: logs 20 steps, then "dies" (dropped without finalize; Drop flushes what it can).
        let mut loggers = Loggers::new(vec![
            Box::new(CsvLogger::new(&dir)?.with_flush_every(5)),
            Box::new(TensorBoardLogger::new(&dir)?),
        ]);
        loggers.log_hparams(&hparams(), &[])?;
        log_steps(&mut loggers, 0, 16, 0.0)?;
        log_steps(&mut loggers, 16, 20, 100.0)?;
    }
    // Second process: resumes from the checkpoint taken after step 15 (global step 16).
    let mut loggers = Loggers::new(vec![
        Box::new(CsvLogger::resume(&dir, Some(15))?.with_flush_every(5)),
        Box::new(TensorBoardLogger::open(&dir, Some(16))?),
    ]);
    loggers.log_hparams(&hparams(), &[])?;
    log_steps(&mut loggers, 16, 32, 0.0)?;
    let report = "class     precision  recall\nlight     0.80       0.75\nmoderate  0.70       0.72\nheavy     0.85       0.83";
    loggers.log_text("classification_report", 31, report)?;
    loggers.finalize()?;
    drop(loggers);

    let plots = plot::from_csv(&dir.join("metrics.csv"), &dir.join("plots"))?;
    let cm = confusion_matrix_png(&confusion(3), &names(), "val confusion matrix, epoch 3")?;
    std::fs::write(dir.join("plots/confusion_matrix.png"), cm).map_err(|e| wrt_train::Error::io(&dir, e))?;
    for p in plots {
        eprintln!("plot {}", p.display());
    }
    Ok(dir)
}

/// The committed fixture: a few scalars, one image, hparams and a text in one event file with a fixed name.
fn fixture(dir: &Path) -> Result<PathBuf> {
    let path = {
        let mut tb = TensorBoardLogger::new(dir)?;
        let hp = json!({"lr": 0.001, "batch_size": 32, "name": "fixture", "amp": true, "model": {"dim": 16}});
        tb.log_hparams(&hp, &[])?;
        for step in 0..4u64 {
            tb.log_metrics(step, &[("train_loss".into(), 1.0 / (step + 1) as f64), ("lr-Adam".into(), 1e-3), ("epoch".into(), 0.0)])?;
        }
        tb.log_metrics(3, &[("val_loss".into(), 0.75), ("epoch".into(), 0.0)])?;
        let png = confusion_matrix_png(&[vec![5, 1], vec![2, 4]], &["no".into(), "yes".into()], "fixture")?;
        tb.log_image("val_confusion_matrix", 3, &png)?;
        tb.log_text("note", 3, "written by wrt")?;
        tb.finalize()?;
        tb.event_file().to_path_buf()
    };
    let fixed = dir.join("events.out.tfevents.1700000000.wrt-fixture.0.0");
    std::fs::rename(&path, &fixed).map_err(|e| wrt_train::Error::io(&path, e))?;
    Ok(fixed)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.as_slice() {
        [flag, dir] if flag == "--fixture" => fixture(Path::new(dir)),
        [dir] if !dir.starts_with("--") => full_run(Path::new(dir)),
        _ => {
            eprintln!("usage: tb_demo <save_dir> | tb_demo --fixture <dir>");
            std::process::exit(2);
        }
    };
    match result {
        Ok(p) => println!("{}", p.display()),
        Err(e) => {
            eprintln!("tb_demo: {e}");
            std::process::exit(1);
        }
    }
}
