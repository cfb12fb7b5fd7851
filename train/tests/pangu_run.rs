//! Pangu through `wrt_train::run`, as `wrt-train train|validate|predict` run it: a small model on generated
//! travelling waves learns (the summed MSE falls), its autoregressive rollout beats persistence at lead 3,
//! the checkpoint validates to the same loss and `predict` writes the forecasts and the truth / prediction /
//! error maps of the rollout; a file with other
//! than the five convection-map channels is an error that says so.

use std::path::{Path, PathBuf};
use wrt_train::config::{self, CliInput, Override, RunConfig};
use wrt_train::run;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("wrt-pangu-run-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run_config(root: &Path, extra: &[(&str, &str)]) -> RunConfig {
    let mut o: Vec<Override> = [
        ("id", "pangu"),
        ("model.type", "pangu"),
        ("model.grid_size", "24"),
        ("model.embed_dim", "8"),
        ("model.num_heads", "[1, 2, 2, 1]"),
        ("model.window_size", "[2, 4, 8]"),
        ("model.depths", "[2, 2, 2, 2]"),
        ("model.learning_rate", "0.002"),
        ("training.max_epochs", "6"),
        ("training.batch_size", "8"),
        ("training.num_workers", "0"),
        ("training.seed", "2"),
        ("training.enable_progress_bar", "false"),
        ("data.synthetic", "true"),
        ("data.synthetic_samples", "120"),
        ("logger", "[csv]"),
    ]
    .iter()
    .chain(extra)
    .map(|(k, v)| Override::new(*k, *v, format!("test {k}")))
    .collect();
    o.push(Override::new("data.path", root.join("maps.h5").display().to_string(), "test"));
    o.push(Override::new("output_dir", root.join("experiments").display().to_string(), "test"));
    config::from_cli_and_files(&CliInput { overrides: o, ..Default::default() }).unwrap().remove(0)
}

#[test]
fn learns_the_waves_and_its_rollout_beats_persistence() {
    let root = tmp("learn");
    let cfg = run_config(&root, &[]);
    let s = run::train(&cfg).unwrap();
    let (first, last) = (&s.validations[0], s.validations.last().unwrap());
    assert!(last["val_loss"] < 0.5 * first["val_loss"], "val_loss {} -> {}", first["val_loss"], last["val_loss"]);
    for lead in [1, 3] {
        let k = format!("val_mse_lead{lead}");
        println!("lead {lead}: RMSE {:.4} vs persistence {:.4}", last[&k].sqrt(), s.baseline[&k].sqrt());
    }
    assert!(last["val_mse_lead3"] < s.baseline["val_mse_lead3"], "lead 3: {} vs persistence {}", last["val_mse_lead3"], s.baseline["val_mse_lead3"]);
    assert!(last.contains_key("val_wrmse") && last.contains_key("val_rmse_ch4"), "{:?}", last.keys());
    // ACC against the training climatology: after six short epochs the forecast's anomalies already follow
    // the truth's (from about 0 untrained)
    assert!(last["val_acc"] > 0.8 && first["val_acc"] < last["val_acc"], "ACC {} -> {}", first["val_acc"], last["val_acc"]);

    let (best, score) = s.best.clone().unwrap();
    let mut v = cfg.clone();
    v.ckpt_path = Some(best);
    let (_, m) = run::validate(&v).unwrap();
    assert!((m["val_loss"] - score).abs() < 1e-4 * score, "validate {} vs checkpoint {score}", m["val_loss"]);
    // the same split, so the same climatology and ACC as the best epoch's validation
    let best_row = s.validations.iter().find(|r| (r["val_loss"] - score).abs() < 1e-9 * score).expect("the best epoch's row");
    assert!((m["val_acc"] - best_row["val_acc"]).abs() < 1e-6, "validate ACC {} vs training {}", m["val_acc"], best_row["val_acc"]);
    v.predict_output = Some(root.join("pred.h5"));
    let (_, out, n) = run::predict(&v).unwrap();
    let f = hdf5::File::open(&out).unwrap();
    assert_eq!(f.dataset("prediction").unwrap().shape(), vec![n, 5, 24, 24]);
    for name in ["map_0_lead1", "map_0_lead3", "map_2_lead2"] {
        let png = std::fs::read(root.join("plots").join(format!("{name}.png"))).unwrap_or_else(|e| panic!("{name}.png: {e}"));
        assert_eq!(&png[1..4], b"PNG", "{name}");
    }
    std::fs::remove_dir_all(&root).ok();
}

#[test]
fn other_channel_counts_are_an_error() {
    let root = tmp("channels");
    // the synthetic pangu generator's `--channels` would give 5; write 3 instead
    let path = root.join("maps.h5");
    wrt_train::data::synth::write(wrt_train::data::Kind::Pangu, &path, &wrt_train::data::synth::SynthOptions { n: 20, size: 24, channels: 3, ..Default::default() }).unwrap();
    let e = run::train(&run_config(&root, &[("data.synthetic", "false")])).unwrap_err().to_string();
    assert!(e.contains("has 3 channels") && e.contains("maps 5"), "{e}");
    std::fs::remove_dir_all(&root).ok();
}
