//! Config loading: the AtmoDist guide's two example configs as written, `--config-dir`, precedence of
//! defaults < model seed defaults < file < flags, multi-model expansion, errors with file:line and "did you
//! mean", the effective config round trip, and the schema staying in step with the trainer's structs and
//! docs/config.md.

use std::path::{Path, PathBuf};
use wrt_train::config::{
    self, from_cli_and_files, load_file, load_str, schema, CliInput, Devices, LoggerKind, ModelKind, OptimizerKind, Override, SchedulerKind,
};
use wrt_train::trainer::{Batches, CheckpointConfig, EarlyStoppingConfig, MonitorMode, Precision, TrainerConfig};
use wrt_train::Error;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/config").join(name)
}

fn flag(path: &str, value: &str, flag: &str) -> Override {
    Override::new(path, value, flag)
}

/// (file, line, key, msg) of a ConfigKey error.
fn key_err(e: Error) -> (String, Option<usize>, String, String) {
    match e {
        Error::ConfigKey { file, line, key, msg } => (file, line, key, msg),
        e => panic!("expected a ConfigKey error, got {e:?}"),
    }
}

#[test]
fn atmodist_single_model_example_loads_as_written() {
    let runs = load_file(&fixture("lightning_example.yaml")).unwrap();
    assert_eq!(runs.len(), 1);
    let r = &runs[0];
    assert_eq!(r.id, "lightning_example");
    assert_eq!(r.run_dir, Path::new("experiments/lightning_example"));
    assert_eq!(r.checkpoint_dir(), Path::new("experiments/lightning_example/checkpoints"));
    assert_eq!(r.model.kind, ModelKind::Atmodist);
    assert_eq!(r.model.hparams["res_out_channels_list"], serde_json::json!([16, 32, 64, 128]));
    assert_eq!(r.model.hparams["num_classes"], 8);
    assert_eq!(r.model.hparams["res_in_channels"], 5);
    assert_eq!(r.optimizer.kind, OptimizerKind::Sgd);
    assert_eq!((r.optimizer.lr, r.optimizer.momentum, r.optimizer.weight_decay), (0.01, 0.9, 1e-5));
    match &r.scheduler.kind {
        Some(SchedulerKind::ReduceOnPlateau { monitor, plateau }) => {
            assert_eq!(monitor, "val_loss");
            // The AtmoDist seed's plateau settings (specs/atmodist.md) as model-type defaults.
            assert_eq!((plateau.factor, plateau.patience, plateau.min_lr.clone(), plateau.eps), (0.1, 8, vec![1e-5], 4e-2));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(r.trainer.max_epochs, Some(20));
    assert_eq!(r.trainer.check_val_every_n_epoch, 1);
    assert_eq!(r.trainer.log_every_n_steps, 10);
    assert_eq!(r.trainer.default_root_dir, "experiments/lightning_example");
    assert_eq!((r.loader.batch_size, r.loader.train_val_split), (256, 0.8));
    let es = r.early_stopping.as_ref().expect("early_stopping: true");
    assert_eq!((es.patience, es.monitor.as_str(), es.mode), (10, "val_loss", MonitorMode::Min));
    assert_eq!(r.data.variables, ["d2m", "u", "v", "msl", "r"]);
    assert_eq!((r.data.frequency.as_deref(), r.data.time_interval), (Some("3h"), Some(24)));
    assert_eq!(r.loggers, [LoggerKind::TensorBoard, LoggerKind::Csv]);
    assert!(r.wandb.is_some());
    assert!(r.notes.iter().any(|n| n.contains("wandb") && n.contains("weather-analogue-lightning")), "{:?}", r.notes);
}

#[test]
fn atmodist_multi_model_example_expands_with_overrides() {
    let runs = load_file(&fixture("multi_model_example.yaml")).unwrap();
    let ids: Vec<&str> = runs.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["model_small", "model_large"]);
    for r in &runs {
        assert_eq!(r.group.as_deref(), Some("multi_model_example"));
        assert_eq!(r.trainer.max_epochs, Some(20), "shared training.epochs");
        assert!(r.early_stopping.is_some(), "shared early_stopping: true");
        assert_eq!(r.data.frequency.as_deref(), Some("3h"));
        assert_eq!(r.run_dir, Path::new("experiments").join(&r.id));
    }
    assert_eq!(runs[0].model.hparams["res_out_channels_list"], serde_json::json!([16, 32, 64]));
    assert_eq!(runs[1].model.hparams["res_out_channels_list"], serde_json::json!([32, 64, 128, 256]));
    assert_eq!((runs[0].optimizer.lr, runs[1].optimizer.lr), (0.01, 0.005));
    assert_eq!((runs[0].loader.batch_size, runs[1].loader.batch_size), (128, 64));
}

#[test]
fn config_dir_runs_every_yaml_in_name_order() {
    let input = CliInput { config_dir: Some(fixture("dir")), ..Default::default() };
    let runs = from_cli_and_files(&input).unwrap();
    let ids: Vec<&str> = runs.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["sat_small", "tft_small", "pangu_small"]);
    assert_eq!(runs[0].model.hparams["attn"], "T->S");
    assert_eq!(runs[1].model.kind, ModelKind::Tft);
    assert_eq!(runs[2].model.hparams["window_size"], serde_json::json!([2, 4, 8]));
    assert_eq!(runs[2].group.as_deref(), Some("pair"));
    // `--only` picks runs out of the set; an unknown id is an error with a suggestion.
    let only = CliInput { config_dir: Some(fixture("dir")), only: vec!["tft_small".into()], ..Default::default() };
    assert_eq!(from_cli_and_files(&only).unwrap().len(), 1);
    let bad = CliInput { config_dir: Some(fixture("dir")), only: vec!["tft_smal".into()], ..Default::default() };
    let (_, _, key, msg) = key_err(from_cli_and_files(&bad).unwrap_err());
    assert_eq!(key, "--only");
    assert!(msg.contains("did you mean `tft_small`"), "{msg}");
}

#[test]
fn precedence_defaults_then_model_defaults_then_file_then_flags() {
    // Global default lr 1e-3 < satformer seed default 1e-5 < file 2e-4 < flag 3e-4.
    let none = load_str("model: {type: satformer}\n", "p.yaml", &[]).unwrap();
    assert_eq!(none[0].optimizer.lr, 1e-5);
    assert_eq!(none[0].optimizer.kind, OptimizerKind::AdamW);
    assert_eq!(none[0].trainer.max_epochs, Some(200));
    assert_eq!(none[0].checkpoint.filename.as_deref(), Some("satformer-{epoch}-{val_loss}"));
    assert_eq!(none[0].checkpoint.save_top_k, 3);
    let file = "model: {type: satformer, learning_rate: 2e-4, depth: 4}\ntraining: {max_epochs: 7, batch_size: 16}\n";
    let r = &load_str(file, "p.yaml", &[]).unwrap()[0];
    assert_eq!((r.optimizer.lr, r.trainer.max_epochs, r.model.hparams["depth"].as_i64()), (2e-4, Some(7), Some(4)));
    let flags = [
        flag("model.learning_rate", "3e-4", "--lr"),
        flag("training.max_epochs", "9", "--max_epochs"),
        flag("model.depth", "2", "--depth"),
        flag("training.precision", "bf16-mixed", "--precision"),
        flag("training.devices", "0,1", "--gpus"),
        flag("logger", "csv", "--logger"),
    ];
    let r = &load_str(file, "p.yaml", &flags).unwrap()[0];
    assert_eq!((r.optimizer.lr, r.trainer.max_epochs, r.model.hparams["depth"].as_i64()), (3e-4, Some(9), Some(2)));
    assert_eq!(r.loader.batch_size, 16, "file value kept where no flag is given");
    assert_eq!(r.trainer.precision, Precision::Bf16Mixed);
    assert_eq!(r.devices.devices, Devices::Ids(vec![0, 1]));
    assert_eq!(r.loggers, [LoggerKind::Csv]);
    // The model type itself: `--model` beats the file; the file's satformer-only key then is an error.
    let r = &load_str(&file.replace(", depth: 4", ""), "p.yaml", &[flag("model.type", "pangu", "--model")]).unwrap()[0];
    assert_eq!((r.model.kind, r.optimizer.lr), (ModelKind::Pangu, 2e-4));
    let (_, line, key, msg) = key_err(load_str(file, "p.yaml", &[flag("model.type", "pangu", "--model")]).unwrap_err());
    assert_eq!((line, key.as_str()), (Some(1), "model.depth"));
    // pangu's nearest key (`depths`) is suggested
    assert!(msg.contains("did you mean `depths`"), "{msg}");
}

#[test]
fn flags_alone_make_one_run_named_after_the_model_or_run_name() {
    let input = CliInput { overrides: vec![flag("model.type", "sitsformer", "--model"), flag("model.embed_dim", "64", "--embed_dim")], ..Default::default() };
    let r = &from_cli_and_files(&input).unwrap()[0];
    assert_eq!((r.id.as_str(), r.model.hparams["embed_dim"].as_i64()), ("sitsformer", Some(64)));
    assert_eq!(r.source, None);
    let es = r.early_stopping.as_ref().unwrap();
    assert_eq!((es.monitor.as_str(), es.mode, es.patience), ("val_acc", MonitorMode::Max, 10));
    let named = CliInput { overrides: vec![flag("model.type", "tft", "--model"), flag("run_name", "tft-a", "--run_name")], ..Default::default() };
    let r = &from_cli_and_files(&named).unwrap()[0];
    assert_eq!((r.id.as_str(), r.run_dir.as_path()), ("tft-a", Path::new("experiments/tft-a")));
    assert_eq!(r.trainer.seed, Some(42), "TFT seed default seed_everything(42)");
    // Nothing at all: the model type is the one required key.
    let (file, _, key, msg) = key_err(from_cli_and_files(&CliInput::default()).unwrap_err());
    assert_eq!((file.as_str(), key.as_str()), ("command line", "model.type"));
    assert!(msg.contains("--model"), "{msg}");
}

#[test]
fn run_name_flag_with_several_runs_suffixes_each_id() {
    let runs = load_str(
        "models:\n  - {id: a, model: {type: tft}}\n  - {id: b, model: {type: tft}}\n",
        "m.yaml",
        &[flag("run_name", "sweep1", "--run_name")],
    )
    .unwrap();
    let names: Vec<&str> = runs.iter().map(|r| r.run_name.as_str()).collect();
    assert_eq!(names, ["sweep1-a", "sweep1-b"]);
}

#[test]
fn unknown_key_names_file_line_key_and_suggestion() {
    let path = fixture("bad_typo.yaml");
    let (file, line, key, msg) = key_err(load_file(&path).unwrap_err());
    assert!(file.ends_with("bad_typo.yaml"), "{file}");
    assert_eq!((line, key.as_str()), (Some(5), "training.max_epoch"));
    assert!(msg.contains("did you mean `max_epochs`?"), "{msg}");
    // The Display form is file:line: key: message.
    let shown = load_file(&path).unwrap_err().to_string();
    assert!(shown.contains("bad_typo.yaml:5: training.max_epoch: unknown key in `training:`; did you mean `max_epochs`?"), "{shown}");
}

#[test]
fn errors_for_types_missing_keys_and_duplicates() {
    let err = |text: &str| key_err(load_str(text, "e.yaml", &[]).unwrap_err());
    // Wrong type, with the line of the value.
    let (_, line, key, msg) = err("model:\n  type: satformer\ntraining:\n  batch_size: lots\n");
    assert_eq!((line, key.as_str()), (Some(4), "training.batch_size"));
    assert!(msg.contains("expected integer >= 1") && msg.contains("`lots`"), "{msg}");
    let (_, line, key, msg) = err("model: {type: satformer, attn: ST3}\n");
    assert_eq!((line, key.as_str()), (Some(1), "model.attn"));
    assert!(msg.contains("did you mean `ST^2`") || msg.contains("did you mean `ST2`"), "{msg}");
    let (_, _, _, msg) = err("model: {type: satformer, attn_dropout: 1.5}\n");
    assert!(msg.contains("[0, 1]"), "{msg}");
    // Unknown model type, with a suggestion.
    let (_, line, key, msg) = err("id: x\nmodel:\n  type: satformr\n");
    assert_eq!((line, key.as_str()), (Some(3), "model.type"));
    assert!(msg.contains("did you mean `satformer`"), "{msg}");
    // A hyperparameter of another model.
    let (_, line, key, msg) = err("model:\n  type: atmodist\n  dim: 64\n");
    assert_eq!((line, key.as_str()), (Some(3), "model.dim"));
    assert!(msg.contains("hyperparameter of satformer"), "{msg}");
    // A key in the wrong section: Pangu's `data.batch_size` spelling is accepted, others are pointed home.
    assert_eq!(load_str("model: {type: tft}\ndata: {batch_size: 4}\n", "e.yaml", &[]).unwrap()[0].loader.batch_size, 4);
    let (_, line, key, msg) = err("model: {type: tft}\ncheckpoint: {max_epochs: 4}\n");
    assert_eq!((line, key.as_str()), (Some(2), "checkpoint.max_epochs"));
    assert!(msg.contains("training.max_epochs"), "{msg}");
    // Missing required key (an entry without id) and duplicate ids.
    let (_, line, key, msg) = err("models:\n  - model: {type: tft}\n");
    assert_eq!((line, key.as_str()), (Some(2), "models[0].id"));
    assert!(msg.contains("missing required key"), "{msg}");
    let (file, line, key, msg) = key_err(load_file(&fixture("bad_duplicate_id.yaml")).unwrap_err());
    assert!(file.ends_with("bad_duplicate_id.yaml"));
    assert_eq!((line, key.as_str()), (Some(6), "id"));
    assert!(msg.contains("duplicate model id `a`") && msg.contains(":2"), "{msg}");
    // Duplicate key in a mapping.
    let (_, line, key, _) = err("model: {type: tft}\ntraining:\n  batch_size: 4\n  batch_size: 8\n");
    assert_eq!((line, key.as_str()), (Some(4), "batch_size"));
    // Two spellings of one key.
    let (_, line, key, msg) = err("model: {type: tft}\ntraining:\n  epochs: 4\n  max_epochs: 8\n");
    assert_eq!((line, key.as_str()), (Some(3), "training.epochs"));
    assert!(msg.contains("line 4"), "{msg}");
    // YAML syntax errors have a line too.
    let (_, line, _, _) = err("model: {type: tft\ntraining:\n  epochs: 4\n");
    assert!(line.is_some());
    // Bad flag values name the flag.
    let e = load_str("model: {type: tft}\n", "e.yaml", &[flag("training.max_epochs", "ten", "--max_epochs")]).unwrap_err();
    let (file, line, key, msg) = key_err(e);
    assert_eq!((file.as_str(), line, key.as_str()), ("command line (--max_epochs)", None, "training.max_epochs"));
    assert!(msg.contains("`ten`"), "{msg}");
    let e = load_str("model: {type: atmodist}\n", "e.yaml", &[flag("model.dim", "64", "--dim")]).unwrap_err();
    assert!(e.to_string().contains("--dim") && e.to_string().contains("satformer"), "{e}");
    // Cross-key checks of the model type.
    let (_, line, key, msg) = err("model:\n  type: sitsformer\n  embed_dim: 100\n  num_heads: 8\n");
    assert_eq!((line, key.as_str()), (Some(4), "model.num_heads"));
    assert!(msg.contains("not divisible"), "{msg}");
    // Names that would escape the output directory.
    let (_, _, key, _) = err("id: ../x\nmodel: {type: tft}\n");
    assert_eq!(key, "id");
}

#[test]
fn every_model_type_loads_with_defaults_only() {
    for m in config::models::MODELS {
        for name in std::iter::once(m.name).chain(m.aliases.iter().copied()) {
            let r = load_str(&format!("model: {{type: {name}}}\n"), "d.yaml", &[]).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(r[0].model.kind, m.kind);
            assert_eq!(r[0].model.hparams.len(), m.keys.len());
        }
    }
}

#[test]
fn effective_config_round_trips() {
    let dir = std::env::temp_dir().join(format!("wrt-config-roundtrip-{}", std::process::id()));
    let flags = [flag("model.learning_rate", "3e-4", "--lr"), flag("training.seed", "7", "--seed"), flag("data.path", "x.h5", "--data-path")];
    let mut runs = load_str(&std::fs::read_to_string(fixture("lightning_example.yaml")).unwrap(), "lightning_example.yaml", &flags).unwrap();
    runs.extend(load_file(&fixture("multi_model_example.yaml")).unwrap());
    runs.extend(from_cli_and_files(&CliInput { config_dir: Some(fixture("dir")), ..Default::default() }).unwrap());
    for run in runs {
        let saved = run.save_effective(&dir.join(&run.id)).unwrap();
        assert_eq!(saved.file_name().unwrap(), "config.yaml");
        let back = load_file(&saved).unwrap_or_else(|e| panic!("{}: {e}\n{}", run.id, run.effective_yaml()));
        assert_eq!(back.len(), 1);
        let mut back = back.into_iter().next().unwrap();
        back.source = run.source.clone();
        back.notes.clone_from(&run.notes);
        assert_eq!(back, run, "{}", run.effective_yaml());
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn schema_covers_the_trainer_structs() {
    // Every Lightning-named field must be settable from a config (default_root_dir is the run directory).
    let names = |v: serde_json::Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    let has = |keys: &[schema::Key], n: &str| keys.iter().any(|k| k.name == n);
    for f in names(serde_json::to_value(TrainerConfig::default()).unwrap()) {
        assert!(f == "default_root_dir" || has(schema::TRAINING, &f), "TrainerConfig.{f} has no `training:` key");
    }
    for f in names(serde_json::to_value(CheckpointConfig::default()).unwrap()) {
        assert!(has(schema::CHECKPOINT, &f), "CheckpointConfig.{f} has no `checkpoint:` key");
    }
    for f in names(serde_json::to_value(EarlyStoppingConfig::default()).unwrap()) {
        assert!(has(schema::EARLY_STOPPING, &f), "EarlyStoppingConfig.{f} has no `early_stopping:` key");
    }
    // And the defaults agree with Lightning's where the schema has no seed-specific reason to differ.
    let r = &load_str("model: {type: pangu}\n", "d.yaml", &[]).unwrap()[0];
    let d = TrainerConfig::default();
    assert_eq!((r.trainer.max_steps, r.trainer.num_sanity_val_steps, r.trainer.log_every_n_steps), (d.max_steps, d.num_sanity_val_steps, d.log_every_n_steps));
    assert_eq!(r.trainer.limit_train_batches, Batches::Fraction(1.0));
    assert_eq!(r.trainer.gradient_clip_val, Some(0.25), "Pangu seed");
}

#[test]
fn docs_config_md_lists_every_key() {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/config.md")).unwrap();
    let start = "<!-- BEGIN GENERATED: wrt_train::config::schema::markdown() -->\n";
    let end = "<!-- END GENERATED -->";
    let (a, b) = (doc.find(start).expect("begin marker") + start.len(), doc.find(end).expect("end marker"));
    assert_eq!(&doc[a..b], schema::markdown(), "docs/config.md is stale: paste schema::markdown() between the markers");
}
