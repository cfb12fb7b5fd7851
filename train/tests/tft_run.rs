//! The TFT through `wrt_train::run`, as `wrt-train train|validate|predict` run it:
//! - canonical, on a generated multi-horizon file: the quantile loss falls, the P50 risk beats the
//!   seasonal-naive baseline, the checkpoint validates to the same numbers and `predict` writes the
//!   forecasts with their truth and the interpretation PNGs;
//! - the same model from a long-format CSV table (pytorch-forecasting's column arguments);
//! - the seed's model on windows of a generated series: MSE falls, the next-step RMSE beats persistence;
//! - config/data mismatches are errors that name the key.

use std::path::{Path, PathBuf};
use wrt_train::config::{self, CliInput, Override, RunConfig};
use wrt_train::run;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("wrt-tft-run-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run_config(root: &Path, data: &str, extra: &[(&str, &str)]) -> RunConfig {
    let mut o: Vec<Override> = [
        ("id", "tft"),
        ("model.type", "tft"),
        ("model.hidden_size", "16"),
        ("model.hidden_continuous_size", "4"),
        ("model.learning_rate", "0.005"),
        ("training.max_epochs", "6"),
        ("training.batch_size", "64"),
        ("training.num_workers", "0"),
        ("training.seed", "3"),
        ("training.enable_progress_bar", "false"),
        ("data.synthetic", "true"),
        ("logger", "[csv]"),
    ]
    .iter()
    .chain(extra)
    .map(|(k, v)| Override::new(*k, *v, format!("test {k}")))
    .collect();
    o.push(Override::new("data.path", root.join(data).display().to_string(), "test"));
    o.push(Override::new("output_dir", root.join("experiments").display().to_string(), "test"));
    config::from_cli_and_files(&CliInput { overrides: o, ..Default::default() }).unwrap().remove(0)
}

#[test]
fn canonical_forecasts_beat_seasonal_naive_and_predict_draws_them() {
    let root = tmp("canonical");
    let cfg = run_config(&root, "mh.h5", &[("model.variant", "canonical"), ("data.synthetic_samples", "512")]);
    let s = run::train(&cfg).unwrap();
    let (first, last) = (&s.validations[0], s.validations.last().unwrap());
    assert!(last["val_quantile_loss"] < 0.7 * first["val_quantile_loss"], "quantile loss {} -> {}", first["val_quantile_loss"], last["val_quantile_loss"]);
    let (p50, naive) = (last["val_p50_risk"], s.baseline["val_p50_risk"]);
    println!("P50 risk {p50:.4} vs seasonal naive {naive:.4} ({})", s.baseline_name);
    assert!(p50 < naive, "P50 risk {p50} should beat seasonal naive {naive}");
    assert!(s.baseline_name.contains("12 steps"), "the synthetic season is 12 steps: {}", s.baseline_name);

    let (best, score) = s.best.clone().unwrap();
    let mut v = cfg.clone();
    v.ckpt_path = Some(best.clone());
    let (_, m) = run::validate(&v).unwrap();
    assert!((m["val_loss"] - score).abs() < 1e-5 * score.max(1.0), "validate {} vs checkpoint {score}", m["val_loss"]);

    v.predict_output = Some(root.join("out").join("pred.h5"));
    let (_, out, n) = run::predict(&v).unwrap();
    assert_eq!(n, 512);
    let f = hdf5::File::open(&out).unwrap();
    let shape = |k: &str| f.dataset(k).unwrap().shape();
    assert_eq!(shape("prediction"), vec![512, 6, 7]);
    assert_eq!(shape("target"), vec![512, 6]);
    assert_eq!(shape("attention"), vec![512, 6, 4, 30]);
    assert_eq!(shape("encoder_weights"), vec![512, 24, 7]);
    assert_eq!(shape("static_weights"), vec![512, 5]);
    // quantiles stay ordered on average, and the median is near the truth in the file's units
    let p = f.dataset("prediction").unwrap().read_raw::<f32>().unwrap();
    let y = f.dataset("target").unwrap().read_raw::<f32>().unwrap();
    let mae: f64 = y.iter().enumerate().map(|(i, &t)| (p[i * 7 + 3] - t).abs() as f64).sum::<f64>() / y.len() as f64;
    let ordered = (0..y.len()).filter(|&i| p[i * 7] <= p[i * 7 + 3] && p[i * 7 + 3] <= p[i * 7 + 6]).count();
    assert!(ordered as f64 > 0.95 * y.len() as f64, "quantiles ordered in {ordered} of {}", y.len());
    assert!(mae < 0.6, "median MAE {mae}");
    for name in ["series_0", "series_5", "static_variables", "encoder_variables", "decoder_variables", "attention"] {
        let png = std::fs::read(root.join("out").join("plots").join(format!("{name}.png"))).unwrap_or_else(|e| panic!("{name}.png: {e}"));
        assert_eq!(&png[1..4], b"PNG", "{name}");
    }
    std::fs::remove_dir_all(&root).ok();
}

/// A long-format table: 24 shops x 60 days, a weekly season, a known promotion, a per-shop level.
fn write_table(path: &Path) {
    let mut s = String::from("date_idx,shop,region,size,promo,temperature,sales\n");
    for shop in 0..24 {
        let level = (shop % 5) as f64 - 2.0;
        let region = ["north", "south", "east"][shop % 3];
        for t in 0..60 {
            let promo = ((t * 7 + shop * 3) % 11 == 0) as i32;
            let temp = ((t as f64) * 0.3).sin() * 5.0 + 15.0;
            let y = level + 2.0 * (2.0 * std::f64::consts::PI * t as f64 / 7.0).sin() + 1.5 * promo as f64 + 0.05 * ((t * 13 + shop) % 7) as f64;
            s += &format!("{t},shop{shop},{region},{},{promo},{temp:.3},{y:.4}\n", 10 + shop);
        }
    }
    std::fs::write(path, s).unwrap();
}

#[test]
fn canonical_reads_a_long_format_csv() {
    let root = tmp("csv");
    let table = root.join("sales.csv");
    write_table(&table);
    let csv = [
        ("model.variant", "canonical"),
        ("data.synthetic", "false"),
        ("data.time_idx", "date_idx"),
        ("data.group_ids", "[shop]"),
        ("data.target", "sales"),
        ("data.static_categoricals", "[region]"),
        ("data.static_reals", "[size]"),
        ("data.time_varying_known_reals", "[promo, date_idx]"),
        ("data.time_varying_unknown_reals", "[temperature]"),
        ("data.max_encoder_length", "14"),
        ("data.max_prediction_length", "7"),
        ("training.max_epochs", "4"),
    ];
    let cfg = run_config(&root, "sales.csv", &csv);
    let s = run::train(&cfg).unwrap();
    assert_eq!(s.train_samples + s.val_samples, 24 * (60 - 21 + 1));
    let (first, last) = (&s.validations[0], s.validations.last().unwrap());
    assert!(last["val_quantile_loss"] < first["val_quantile_loss"], "{} -> {}", first["val_quantile_loss"], last["val_quantile_loss"]);
    assert!(s.baseline_name.contains("7 steps"), "weekly season: {}", s.baseline_name);

    // a column the table lacks, a gap in time, the seed's model on a table: errors that say what to fix
    let mut bad = csv.to_vec();
    bad.push(("data.target", "revenue"));
    let e = run::train(&run_config(&root, "sales.csv", &bad)).unwrap_err().to_string();
    assert!(e.contains("data.target") && e.contains("'revenue'") && e.contains("sales"), "{e}");
    let mut seed = csv.to_vec();
    seed[0] = ("model.variant", "seed");
    let e = run::train(&run_config(&root, "sales.csv", &seed)).unwrap_err().to_string();
    assert!(e.contains("model.variant") && e.contains("canonical"), "{e}");
    std::fs::remove_dir_all(&root).ok();
}

#[test]
fn seed_model_beats_persistence() {
    let root = tmp("seed");
    let cfg = run_config(
        &root,
        "series.h5",
        &[
            ("model.input_size", "8"),
            ("model.hidden_size", "16"),
            ("model.num_heads", "2"),
            ("data.window", "24"),
            ("data.synthetic_samples", "1500"),
            ("training.max_epochs", "8"),
        ],
    );
    let s = run::train(&cfg).unwrap();
    let (first, last) = (&s.validations[0], s.validations.last().unwrap());
    assert!(last["val_loss"] < 0.5 * first["val_loss"], "val_loss {} -> {}", first["val_loss"], last["val_loss"]);
    let (rmse, persist) = (last["val_rmse"], s.baseline["val_rmse"]);
    println!("next-step RMSE {rmse:.4} vs persistence {persist:.4}; R2 {:.3}", last["val_r2"]);
    assert!(rmse < persist, "RMSE {rmse} should beat persistence {persist}");

    // the data has 8 features: a model of 6 is a config error naming the key
    let e = run::train(&run_config(&root, "series.h5", &[("model.input_size", "6"), ("data.window", "24")])).unwrap_err().to_string();
    assert!(e.contains("model.input_size") && e.contains("has 8"), "{e}");
    std::fs::remove_dir_all(&root).ok();
}

/// The example configs load with the seed guide's recipe: Adam 5e-4, batch 256, 100 epochs, early stopping
/// (20, 1e-5), ReduceLROnPlateau (0.5, 8), clipping 1.0, seed 42, the seed's checkpoint names.
#[test]
fn example_configs_carry_the_seed_recipe() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/tft");
    for (file, variant) in [("lightning_config.yaml", "seed"), ("canonical.yaml", "canonical"), ("csv_table.yaml", "canonical")] {
        let cfg = config::load_file(&dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}")).remove(0);
        assert_eq!(cfg.model.hparams["variant"], variant, "{file}");
        assert_eq!(cfg.trainer.gradient_clip_val, Some(1.0), "{file}");
        assert_eq!(cfg.trainer.seed, Some(42), "{file}");
        if file == "csv_table.yaml" {
            assert_eq!(cfg.data.columns.group_ids, ["shop"]);
            assert_eq!((cfg.data.columns.encoder_length, cfg.data.columns.prediction_length), (Some(14), Some(7)));
            continue;
        }
        let es = cfg.early_stopping.as_ref().expect("early stopping on");
        assert_eq!((es.patience, es.min_delta), (20, 1e-5), "{file}");
        assert_eq!((cfg.optimizer.lr, cfg.loader.batch_size, cfg.trainer.max_epochs), (5e-4, 256, Some(100)), "{file}");
        assert!(matches!(&cfg.scheduler.kind, Some(config::SchedulerKind::ReduceOnPlateau { plateau, .. }) if plateau.factor == 0.5 && plateau.patience == 8), "{file}");
    }
    let seed = config::load_file(&dir.join("lightning_config.yaml")).unwrap().remove(0);
    assert_eq!(seed.checkpoint_dir().file_name().unwrap(), "checkpoints_lightning");
    assert_eq!(seed.data.window, Some(100));
}
