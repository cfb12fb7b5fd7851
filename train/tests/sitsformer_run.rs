//! SITS-Former through `wrt_train::run`: a small model on a generated synthetic image time series (class
//! signatures in time, variable true lengths, padded frames masked) learns far above the majority class,
//! keeps the best checkpoint by `val_acc` (the seed's monitor, mode max), writes the report and confusion
//! matrix every validation epoch, validates and predicts from the checkpoint, and trains with
//! inverse-frequency class weights when asked.

use std::path::{Path, PathBuf};
use wrt_train::config::{self, CliInput, Override, RunConfig};
use wrt_train::run;
use wrt_train::trainer::Checkpoint;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("wrt-sitsformer-run-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run_config(root: &Path, extra: &[(&str, &str)]) -> RunConfig {
    let mut o: Vec<Override> = [
        ("id", "sits"),
        ("model.type", "sitsformer"),
        ("model.img_size", "16"),
        ("model.patch_size", "8"),
        ("model.in_channels", "4"),
        ("model.num_classes", "5"),
        ("model.embed_dim", "32"),
        ("model.num_layers", "1"),
        ("model.num_heads", "4"),
        ("model.max_seq_len", "5"),
        ("model.learning_rate", "2e-3"),
        ("model.warmup_epochs", "1"),
        ("training.max_epochs", "6"),
        ("training.batch_size", "16"),
        ("training.num_workers", "0"),
        ("training.seed", "11"),
        ("training.enable_progress_bar", "false"),
        ("data.synthetic", "true"),
        ("data.synthetic_samples", "320"),
    ]
    .iter()
    .chain(extra)
    .map(|(k, v)| Override::new(*k, *v, format!("test {k}")))
    .collect();
    o.push(Override::new("data.path", root.join("sits.h5").display().to_string(), "test"));
    o.push(Override::new("output_dir", root.join("experiments").display().to_string(), "test"));
    config::from_cli_and_files(&CliInput { overrides: o, ..Default::default() }).unwrap().remove(0)
}

#[test]
fn learns_checkpoints_on_val_acc_validates_and_predicts() {
    let root = tmp("full");
    let cfg = run_config(&root, &[]);
    let s = run::train(&cfg).unwrap();
    let (acc, base) = (s.final_metrics["val_acc"], s.baseline["val_acc"]);
    assert!(acc > 3.0 * base && acc > 0.6, "val_acc {acc} vs majority class {base}");
    let (first, last) = (&s.validations[0], s.validations.last().unwrap());
    assert!(last["val_loss"] < first["val_loss"], "val_loss {} -> {}", first["val_loss"], last["val_loss"]);
    for k in ["val_f1_macro", "val_precision_macro", "val_recall_macro", "val_auroc", "train_acc"] {
        assert!(s.final_metrics.contains_key(k), "no {k}: {:?}", s.final_metrics.keys());
    }
    // best by val_acc, mode max
    let best = root.join("experiments/sits/checkpoints/best_model.ckpt");
    let (path, score) = s.best.clone().expect("a best checkpoint");
    assert_eq!(path, best);
    let top = s.validations.iter().map(|r| r["val_acc"]).fold(f64::NEG_INFINITY, f64::max);
    assert_eq!(score, top, "the best checkpoint holds the highest val_acc");
    // the tutorial's periodic checkpoint (seed default every 10 epochs; here every 3)
    assert!(!root.join("experiments/sits/checkpoints/checkpoint_epoch_3.ckpt").exists(), "this run keeps none every 10");
    let log = s.log_dir.clone().unwrap();
    let report = std::fs::read_to_string(log.join("val/classification_report_epoch005.txt")).unwrap();
    assert!(report.contains("macro avg"), "{report}");

    let mut vcfg = cfg.clone();
    vcfg.ckpt_path = Some(best.clone());
    let (_, m) = run::validate(&vcfg).unwrap();
    assert_eq!(m["val_acc"], score, "validate reproduces the checkpoint's val_acc");
    // evaluate: the same accuracy, with kappa, F1, the report and the confusion matrix
    let (_, text) = run::evaluate(&vcfg).unwrap();
    let line = |k: &str| -> f64 { text.lines().find(|l| l.starts_with(k)).unwrap().split_whitespace().last().unwrap().parse().unwrap() };
    assert!((line("overall accuracy") - score).abs() < 5e-5, "{text}");
    assert!(line("cohen kappa") <= line("overall accuracy") && line("macro F1") > 0.0, "{text}");
    assert!(text.contains("weighted avg") && text.contains("confusion matrix"), "{text}");
    vcfg.predict_output = Some(root.join("pred.csv"));
    let (_, out, n) = run::predict(&vcfg).unwrap();
    let pred = std::fs::read_to_string(out).unwrap();
    assert!(pred.starts_with("index,y,pred,probs_0,probs_1,probs_2,probs_3,probs_4\n"), "{}", pred.lines().next().unwrap());
    assert_eq!((n, pred.lines().count()), (320, 321));

    // class weights from the training labels are used and saved with the checkpoint
    let wroot = tmp("weighted");
    let wcfg = run_config(&wroot, &[("model.class_weights", "balanced"), ("training.max_epochs", "2"), ("checkpoint.save_every_n_epochs", "1")]);
    let ws = run::train(&wcfg).unwrap();
    for e in [1, 2] {
        let p = ws.checkpoint_dir.join(format!("checkpoint_epoch_{e}.ckpt"));
        assert_eq!(Checkpoint::load(&p).unwrap().meta.position.epoch, e, "{}", p.display());
    }
    let ck = Checkpoint::load(&ws.checkpoint_dir.join("last.ckpt")).unwrap();
    let w: Vec<f64> = serde_json::from_value(ck.meta.hparams["class_weights"].clone()).unwrap();
    assert_eq!(w.len(), 5);
    let mean: f64 = w.iter().sum::<f64>() / 5.0;
    assert!(w.iter().all(|&x| x > 0.5 && x < 2.0) && (mean - 1.0).abs() < 0.1, "inverse-frequency weights near 1: {w:?}");
}

#[test]
fn augmentations_change_training_samples_deterministically() {
    use std::sync::Arc;
    use wrt_train::data::augment::{Augmented, SeriesAugment};
    use wrt_train::data::{synth, Dataset, Kind, OpenOptions, SitsformerDataset};
    let root = tmp("augment");
    let path = root.join("s.h5");
    synth::write(Kind::Sitsformer, &path, &synth::SynthOptions { n: 24, size: 8, frames: 5, channels: 2, classes: 3, ..Default::default() }).unwrap();
    let inner: Arc<dyn Dataset> = Arc::new(SitsformerDataset::open(&path, &OpenOptions::default()).unwrap());
    let aug = Augmented::new(inner.clone(), SeriesAugment { flips_and_rotations: true, temporal_dropout: 0.4 }, 9).unwrap();
    let vals = |s: &wrt_train::data::Sample, k: &str| -> Vec<f32> { s.iter().find(|(n, _)| n == k).unwrap().1.to_dtype(wrt_tensor::DType::F32).unwrap().contiguous().unwrap().to_vec::<f32>().unwrap() };
    let (mut changed, mut dropped) = (0, 0);
    for i in 0..24 {
        let (a, b) = (inner.get(i, 0).unwrap(), aug.get(i, 0).unwrap());
        assert_eq!(vals(&b, "sequence"), vals(&aug.get(i, 0).unwrap(), "sequence"), "sample {i}: the same draw every time");
        let (ma, mb) = (vals(&a, "mask"), vals(&b, "mask"));
        assert!(mb.iter().sum::<f32>() >= 1.0 && mb.iter().zip(&ma).all(|(b, a)| b <= a), "frames are only ever dropped, one kept");
        dropped += (ma.iter().sum::<f32>() - mb.iter().sum::<f32>()) as usize;
        let (sa, sb) = (vals(&a, "sequence"), vals(&b, "sequence"));
        changed += usize::from(sa != sb);
        // each kept frame holds the original's pixels, permuted
        let frame = sa.len() / 5;
        for t in (0..5).filter(|&t| mb[t] == 1.0) {
            let (mut x, mut y) = (sa[t * frame..(t + 1) * frame].to_vec(), sb[t * frame..(t + 1) * frame].to_vec());
            x.sort_by(f32::total_cmp);
            y.sort_by(f32::total_cmp);
            assert_eq!(x, y, "sample {i} frame {t}");
        }
        assert_eq!(vals(&a, "label"), vals(&b, "label"));
    }
    assert!(changed > 12 && dropped > 5, "{changed} samples changed, {dropped} frames dropped");
    // another epoch, other draws
    let differs = (0..24).filter(|&i| vals(&aug.get(i, 0).unwrap(), "sequence") != vals(&aug.get(i, 1).unwrap(), "sequence")).count();
    assert!(differs > 12, "{differs} samples differ between epochs");
    // a training run with both takes them
    let s = run::train(&run_config(&tmp("augment-run"), &[("data.augment", "true"), ("data.temporal_dropout", "0.2"), ("training.max_epochs", "2")])).unwrap();
    assert!(s.final_metrics["val_acc"].is_finite());
}
