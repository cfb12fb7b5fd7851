//! SaTformer through `wrt_train::run`, as `wrt-train train|validate|predict` run it: a tiny config on a
//! generated synthetic file learns (val_loss falls, CSI above climatology), logs the guide's metric names to
//! metrics.csv and TensorBoard, keeps the top-3 `satformer-{epoch}-{val_loss}` checkpoints plus `last.ckpt`,
//! resumes from `last.ckpt` after an interrupt to bitwise the same weights, and predicts.

use std::path::{Path, PathBuf};
use wrt_train::config::{self, CliInput, Override, RunConfig};
use wrt_train::run;
use wrt_train::trainer::{Checkpoint, FitOutcome, Stop};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("wrt-satformer-run-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A tiny SaTformer run in `root` (data shared through `data`), plus extra `key=value` settings.
fn run_config(root: &Path, data: &Path, extra: &[(&str, &str)]) -> RunConfig {
    let mut o: Vec<Override> = [
        ("model.type", "satformer"),
        ("model.dim", "16"),
        ("model.depth", "1"),
        ("model.heads", "2"),
        ("model.dim_head", "8"),
        ("model.image_size", "8"),
        ("model.patch_size", "4"),
        ("model.num_frames", "2"),
        ("model.channels", "3"),
        ("model.num_classes", "4"),
        ("model.attn", "T->S"),
        ("model.learning_rate", "3e-3"),
        ("training.max_epochs", "4"),
        ("training.batch_size", "16"),
        ("training.num_workers", "0"),
        ("training.seed", "3"),
        ("training.enable_progress_bar", "false"),
        ("training.log_every_n_steps", "1"),
        ("data.synthetic", "true"),
        ("data.synthetic_samples", "128"),
        ("logger", "[csv, tensorboard]"),
    ]
    .iter()
    .chain(extra)
    .map(|(k, v)| Override::new(*k, *v, format!("test {k}")))
    .collect();
    o.push(Override::new("data.path", data.display().to_string(), "test"));
    o.push(Override::new("output_dir", root.join("experiments").display().to_string(), "test"));
    o.push(Override::new("checkpoint.dirpath", root.join("checkpoints").display().to_string(), "test"));
    config::from_cli_and_files(&CliInput { overrides: o, ..Default::default() }).unwrap().remove(0)
}

fn weights(path: &Path) -> Vec<(String, Vec<u32>)> {
    let ck = Checkpoint::load(path).unwrap();
    ck.model_state().into_iter().map(|(k, t)| (k, t.contiguous().unwrap().to_vec::<f32>().unwrap().iter().map(|v| v.to_bits()).collect())).collect()
}

#[test]
fn trains_logs_checkpoints_resumes_and_predicts() {
    let root = tmp("full");
    let data = root.join("sat.h5");
    let cfg = run_config(&root.join("a"), &data, &[]);
    let s = run::train(&cfg).unwrap();
    assert_eq!(s.outcome, FitOutcome::Completed);
    assert_eq!(s.generated_data.as_deref(), Some(data.as_path()));
    assert!(data.exists());

    // learns: val_loss falls, CSI beats the climatology forecast
    let val: Vec<f64> = s.validations.iter().map(|r| r["val_loss"]).collect();
    assert_eq!(val.len(), 4, "one validation per epoch: {val:?}");
    assert!(val[3] < val[0] * 0.9, "val_loss did not fall: {val:?}");
    let (csi, base) = (s.final_metrics["val_csi"], s.baseline["val_csi"]);
    assert!(csi > base, "val_csi {csi} not above climatology {base}");

    // the guide's metric names, in metrics.csv and in TensorBoard's event file
    let log_dir = s.log_dir.clone().unwrap();
    let csv = std::fs::read_to_string(log_dir.join("metrics.csv")).unwrap();
    let header = csv.lines().next().unwrap();
    for k in ["train_loss", "val_loss", "train_csi", "val_csi", "train_f1", "val_f1", "train_crps", "val_crps", "lr-AdamW", "epoch", "step"] {
        assert!(header.split(',').any(|c| c == k), "{k} missing from metrics.csv header {header}");
    }
    let events: Vec<PathBuf> = std::fs::read_dir(&log_dir).unwrap().flatten().map(|e| e.path()).filter(|p| p.to_string_lossy().contains("tfevents")).collect();
    assert_eq!(events.len(), 1, "{events:?}");
    let ev: Vec<u8> = events.iter().flat_map(|e| std::fs::read(e).unwrap()).collect();
    assert!(ev.windows(7).any(|w| w == b"val_csi"), "val_csi not in the event files");
    assert!(ev.windows(20).any(|w| w == b"val_confusion_matrix"), "no confusion-matrix image in the event files");
    assert!(s.plots.iter().any(|p| p.ends_with("loss.png")) && s.plots.iter().all(|p| p.exists()), "{:?}", s.plots);
    let cm = s.plots.iter().find(|p| p.ends_with("confusion_matrix.png")).expect("confusion matrix plot");
    assert!(std::fs::read(cm).unwrap().starts_with(b"\x89PNG"));
    assert!(cfg.run_dir.join("config.yaml").exists());

    // top-3 by val_loss + last.ckpt, named by the guide's template
    let mut files: Vec<String> = std::fs::read_dir(root.join("a/checkpoints")).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    files.sort();
    assert_eq!(files.len(), 4, "{files:?}");
    assert!(files.iter().all(|f| f == "last.ckpt" || (f.starts_with("satformer-epoch=") && f.contains("-val_loss="))), "{files:?}");
    let (best, score) = s.best.clone().unwrap();
    assert_eq!(score, val.iter().cloned().fold(f64::INFINITY, f64::min));
    let want = weights(&root.join("a/checkpoints/last.ckpt"));

    // interrupted at step 11 (inside epoch 1, 8 steps per epoch), resumed from last.ckpt: same final bits
    let cfg_b = run_config(&root.join("b"), &data, &[]);
    let s_b = run::train_with(&cfg_b, Some(Box::new(|step| (step == 11).then_some(Stop::Interrupt)))).unwrap();
    let FitOutcome::Interrupted(last) = s_b.outcome else { panic!("not interrupted: {:?}", s_b.outcome) };
    assert_eq!(Checkpoint::load(&last).unwrap().meta.position.global_step, 11);
    let mut cfg_c = run_config(&root.join("b"), &data, &[]);
    cfg_c.resume_from = Some(last.clone());
    let s_c = run::train(&cfg_c).unwrap();
    assert_eq!(s_c.outcome, FitOutcome::Completed);
    assert!(weights(&last) == want, "weights after interrupt + resume differ from the uninterrupted run");
    // the resumed run's metrics.csv continues the same version directory without duplicate steps
    assert_eq!(s_c.log_dir, s_b.log_dir);

    // validate the best checkpoint: its val_loss is the recorded score
    let mut cfg_v = cfg.clone();
    cfg_v.ckpt_path = Some(best.clone());
    let (_, m) = run::validate(&cfg_v).unwrap();
    assert!((m["val_loss"] - score).abs() < 1e-9, "{} vs {score}", m["val_loss"]);

    // predict: probabilities per bin that sum to 1 and their argmax, for every sample, as HDF5 and CSV
    let mut cfg_p = cfg.clone();
    cfg_p.predict_output = Some(root.join("pred.h5"));
    let (_, out, n) = run::predict(&cfg_p).unwrap();
    assert_eq!(n, 128);
    let f = wrt_train::data::H5File::open(&out).unwrap();
    let probs = f.array("probs", wrt_train::data::ElemKind::Float, &["N", "K"]).unwrap();
    assert_eq!(probs.shape(), &[128, 4]);
    let p = probs.read_f32(&[0, 0], &[128, 4]).unwrap();
    let pred = f.array("pred", wrt_train::data::ElemKind::Int, &["N"]).unwrap().read_i64(&[0], &[128]).unwrap();
    for (row, &k) in p.chunks(4).zip(&pred) {
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        let am = (0..4).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap();
        assert_eq!(am as i64, k);
    }
    cfg_p.predict_output = Some(root.join("pred.csv"));
    run::predict(&cfg_p).unwrap();
    let csv = std::fs::read_to_string(root.join("pred.csv")).unwrap();
    assert_eq!(csv.lines().next().unwrap(), "index,y,pred,probs_0,probs_1,probs_2,probs_3");
    assert_eq!(csv.lines().count(), 129);
}

#[test]
fn missing_data_and_wrong_model_are_clear_errors() {
    let root = tmp("errors");
    let cfg = run_config(&root, &root.join("absent.h5"), &[("data.synthetic", "false")]);
    let e = run::train(&cfg).unwrap_err().to_string();
    assert!(e.contains("absent.h5") && e.contains("data synth"), "{e}");
    let mut no_path = cfg.clone();
    no_path.data.path = None;
    let e = run::train(&no_path).unwrap_err().to_string();
    assert!(e.contains("--data-path"), "{e}");
    let mut cfg_v = cfg.clone();
    cfg_v.ckpt_path = Some(root.join("nope.ckpt"));
    cfg_v.data.synthetic = true;
    let e = run::validate(&cfg_v).unwrap_err().to_string();
    assert!(e.contains("nope.ckpt"), "{e}");
}
