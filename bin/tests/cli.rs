//! The `wrt-train` command line: seed flag spellings with `_` and `-`, precedence of flags over the config,
//! W&B flags accepted with a note, sweep expansion, the sbatch script, `inspect` on a safetensors file, exit
//! codes. Most tests call the library; a few spawn the binary.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use wrt_cli::{cli, inspect, slurm, sweep};
use wrt_tensor::Tensor;
use wrt_train::config::{self, Devices, LoggerKind, OptimizerKind, RunConfig};
use wrt_train::trainer::Precision;

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/config").join(name).display().to_string()
}

fn runs(args: &[&str]) -> Vec<RunConfig> {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let ra = cli::parse_train_args(&args).unwrap_or_else(|e| panic!("{args:?}: {}", e.report()));
    config::from_cli_and_files(&ra.input).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("wrt-cli-test-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn seed_flags_with_underscores_and_dashes() {
    // SaTformer guide spellings.
    let sat = [
        "--model", "satformer", "--batch_size", "64", "--lr", "1e-4", "--max_epochs", "100", "--weight_decay", "0.01", "--num_workers", "2",
        "--precision", "bf16-mixed", "--accumulate_grad_batches", "4", "--dim", "64", "--depth", "2", "--heads", "4", "--num_classes", "16",
        "--attn", "T->S", "--attn_dropout", "0.2", "--ff_dropout", "0.3", "--run_name", "sat-T", "--checkpoint_dir", "ck", "--resume_from", "ck/last.ckpt",
    ];
    let dashed: Vec<String> = sat.iter().map(|a| if a.starts_with("--") { a.replace('_', "-") } else { a.to_string() }).collect();
    let dashed: Vec<&str> = dashed.iter().map(String::as_str).collect();
    for args in [&sat[..], &dashed[..]] {
        let r = &runs(args)[0];
        assert_eq!((r.loader.batch_size, r.optimizer.lr, r.trainer.max_epochs, r.optimizer.weight_decay), (64, 1e-4, Some(100), 0.01));
        assert_eq!((r.loader.num_workers, r.trainer.precision, r.trainer.accumulate_grad_batches), (2, Precision::Bf16Mixed, 4));
        let h = &r.model.hparams;
        assert_eq!((h["dim"].as_i64(), h["depth"].as_i64(), h["heads"].as_i64(), h["num_classes"].as_i64()), (Some(64), Some(2), Some(4), Some(16)));
        assert_eq!((h["attn"].as_str(), h["attn_dropout"].as_f64(), h["ff_dropout"].as_f64()), (Some("T->S"), Some(0.2), Some(0.3)));
        assert_eq!((r.run_name.as_str(), r.run_dir.as_path()), ("sat-T", Path::new("experiments/sat-T")));
        assert_eq!((r.checkpoint_dir(), r.resume_from.as_deref()), (PathBuf::from("ck"), Some(Path::new("ck/last.ckpt"))));
    }
    // AtmoDist's config-driven form, with both spellings of its dashed flags.
    for (data, gpus, par) in [("--data-path", "--gpus", "--max-parallel"), ("--data_path", "--gpus", "--max_parallel")] {
        let args = ["--config", &fixture("lightning_example.yaml"), data, "d.h5", gpus, "0,1", par, "2", "--seed", "7"];
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let ra = cli::parse_train_args(&args).unwrap();
        assert_eq!(ra.max_parallel, 2);
        let r = &config::from_cli_and_files(&ra.input).unwrap()[0];
        assert_eq!(r.data.path.as_deref(), Some(Path::new("d.h5")));
        assert_eq!(r.devices.devices, Devices::Ids(vec![0, 1]));
        assert_eq!(r.trainer.seed, Some(7));
    }
    // Other seeds' model flags, --set for any key, loggers, switches.
    let r = &runs(&["--model", "sitsformer", "--embed_dim", "128", "--num_layers", "2", "--num_heads", "4", "--dropout", "0", "--img_size", "64"])[0];
    assert_eq!((r.model.hparams["embed_dim"].as_i64(), r.model.hparams["img_size"].as_i64()), (Some(128), Some(64)));
    let r = &runs(&["--model", "pangu", "--window_size", "2,4,8", "--num_heads", "2,4,4,2", "--embed_dim", "16", "--grid_size", "40", "--logger", "tensorboard"])[0];
    assert_eq!(r.model.hparams["window_size"], serde_json::json!([2, 4, 8]));
    assert_eq!(r.loggers, [LoggerKind::TensorBoard]);
    let r = &runs(&["--model", "tft", "--hidden_size", "16", "--num_lstm_layers", "2", "--lr_scheduler", "cosine", "--deterministic", "--fast_dev_run", "--set", "model.t_max=5"])[0];
    assert!(r.trainer.deterministic);
    assert_eq!(r.trainer.fast_dev_run, 1);
    assert_eq!(r.model.hparams["num_lstm_layers"].as_i64(), Some(2));
    assert!(matches!(r.scheduler.kind, Some(config::SchedulerKind::Cosine { t_max: Some(5), .. })));
    let r = &runs(&["--model", "atmodist", "--optimizer", "adamw", "--max_steps", "-1", "--deterministic", "false"])[0];
    assert_eq!((r.optimizer.kind, r.trainer.max_steps, r.trainer.deterministic), (OptimizerKind::AdamW, -1, false));
}

#[test]
fn flags_override_the_config_and_later_flags_win() {
    let cfg = fixture("lightning_example.yaml");
    let r = &runs(&["--config", &cfg, "--lr", "0.5", "--set", "model.learning_rate=0.25", "--max_epochs", "3", "--max_epochs", "4"])[0];
    assert_eq!((r.optimizer.lr, r.trainer.max_epochs), (0.25, Some(4)));
    let r = &runs(&["--set", "model.learning_rate=0.25", "--config", &cfg, "--lr", "0.5"])[0];
    assert_eq!(r.optimizer.lr, 0.5);
    // Config values stay where no flag is given.
    assert_eq!(r.loader.batch_size, 256);
}

#[test]
fn wandb_flags_are_accepted_and_recorded() {
    let args: Vec<String> = ["--model", "satformer", "--wandb_project", "p", "--wandb-entity=e", "--no_wandb", "--max_epochs", "2"].iter().map(|s| s.to_string()).collect();
    let (rest, overrides, notes) = cli::strip_wandb(args.clone());
    assert_eq!(rest, ["--model", "satformer", "--max_epochs", "2"]);
    assert_eq!(overrides.len(), 2);
    assert_eq!(notes.len(), 1, "--no_wandb");
    let ra = cli::parse_train_args(&args).unwrap();
    let r = &config::from_cli_and_files(&ra.input).unwrap()[0];
    assert_eq!(r.wandb, Some(serde_json::json!({"project": "p", "entity": "e"})));
    assert!(r.notes.iter().any(|n| n.contains("TensorBoard")));
}

#[test]
fn sweep_expands_grids_and_random_searches() {
    let p = |s: &str| sweep::parse_param(s).unwrap();
    let trials = sweep::grid(&[p("lr=1e-3,1e-4"), p("model.depth=2,4")]).unwrap();
    assert_eq!(trials.len(), 4);
    assert_eq!(sweep::describe(&trials[1]), "lr=1e-3 model.depth=4");
    assert_eq!(sweep::trial_args(&trials[1]), ["--lr", "1e-3", "--set", "model.depth=4"]);
    assert!(sweep::grid(&[p("lr=log:1e-5:1e-2")]).is_err(), "ranges need --random");
    let a = sweep::random(&[p("lr=log:1e-5:1e-2"), p("depth=2:8"), p("attn=ST,ST^2")], 50, 3);
    assert_eq!(a, sweep::random(&[p("lr=log:1e-5:1e-2"), p("depth=2:8"), p("attn=ST,ST^2")], 50, 3), "seeded");
    assert_ne!(a, sweep::random(&[p("lr=log:1e-5:1e-2"), p("depth=2:8"), p("attn=ST,ST^2")], 50, 4));
    for t in &a {
        let lr: f64 = t[0].1.parse().unwrap();
        let depth: i64 = t[1].1.parse().unwrap();
        assert!((1e-5..=1e-2).contains(&lr) && (2..=8).contains(&depth) && ["ST", "ST^2"].contains(&t[2].1.as_str()), "{t:?}");
    }
    // Every trial's arguments parse and validate as a train command.
    for t in sweep::grid(&[p("lr=1e-3,1e-4"), p("model.depth=2,4"), p("attn=T->S,ST")]).unwrap() {
        let mut args = vec!["--model".to_string(), "satformer".into()];
        args.extend(sweep::trial_args(&t));
        let r = &config::from_cli_and_files(&cli::parse_train_args(&args).unwrap().input).unwrap()[0];
        assert_eq!(r.model.hparams["depth"], serde_json::json!(t[1].1.parse::<i64>().unwrap()));
        assert_eq!(r.optimizer.lr, t[0].1.parse::<f64>().unwrap());
    }
}

#[test]
fn slurm_script_has_the_resources_and_the_command() {
    let o = slurm::SlurmOpts {
        job_name: "sat".into(),
        nodes: 1,
        ntasks_per_node: 1,
        gres: Some("gpu:2".into()),
        cpus_per_task: Some(8),
        mem: Some("64G".into()),
        time: "1-00:00:00".into(),
        partition: Some("gpu".into()),
        account: None,
        log: "slurm-%j.out".into(),
        extra: vec!["--qos=high".into()],
        setup: vec!["module load cuda".into()],
    };
    let cmd: Vec<String> = ["/opt/wrt-train", "train", "--attn", "T->S", "--gpus", "0,1"].iter().map(|s| s.to_string()).collect();
    let s = slurm::script(&o, "/home/u/run", &cmd).unwrap();
    for line in [
        "#!/bin/bash",
        "#SBATCH --job-name=sat",
        "#SBATCH --nodes=1",
        "#SBATCH --ntasks-per-node=1",
        "#SBATCH --gres=gpu:2",
        "#SBATCH --cpus-per-task=8",
        "#SBATCH --mem=64G",
        "#SBATCH --time=1-00:00:00",
        "#SBATCH --partition=gpu",
        "#SBATCH --output=slurm-%j.out",
        "#SBATCH --qos=high",
        "cd /home/u/run",
        "module load cuda",
        "srun /opt/wrt-train train --attn 'T->S' --gpus 0,1",
    ] {
        assert!(s.lines().any(|l| l == line), "missing `{line}` in\n{s}");
    }
    assert!(!s.contains("--account"));
    assert!(slurm::script(&slurm::SlurmOpts { nodes: 2, ..o.clone() }, "/", &cmd).is_err(), "multi-node comes with distributed");
    assert!(slurm::script(&slurm::SlurmOpts { time: "forever".into(), ..o.clone() }, "/", &cmd).is_err());
}

fn write_checkpoint(path: &Path) {
    let tensors = vec![
        ("encoder.weight".to_string(), Tensor::from_vec(vec![0f32; 12], &[3, 4]).unwrap()),
        ("encoder.bias".to_string(), Tensor::from_vec(vec![0f32; 3], &[3]).unwrap()),
        ("head.weight".to_string(), Tensor::from_vec(vec![0f32; 6], &[2, 3]).unwrap()),
    ];
    let wrt = serde_json::json!({"model": "satformer", "epoch": 3, "global_step": 120, "hparams": {"dim": 64, "depth": 2}, "metrics": {"val_loss": 0.5}});
    let meta = HashMap::from([("wrt".to_string(), wrt.to_string()), ("format".to_string(), "pt".to_string())]);
    wrt_tensor::io::save(path, &tensors, Some(meta)).unwrap();
}

#[test]
fn inspect_reads_tensors_and_wrt_metadata_and_rejects_corrupt_files() {
    let dir = tmp("inspect");
    let path = dir.join("model.safetensors");
    write_checkpoint(&path);
    let s = inspect::read_summary(&path).unwrap();
    assert_eq!(s.tensors.len(), 3);
    assert_eq!(s.total_numel(), 21);
    let w = s.tensors.iter().find(|t| t.name == "encoder.weight").unwrap();
    assert_eq!((w.dtype.as_str(), w.shape.clone()), ("F32", vec![3, 4]));
    assert_eq!(s.metadata["wrt"]["hparams"]["dim"], 64);
    let text = inspect::render(&s);
    for part in ["model: satformer", "epoch: 3", "step: 120", "\"val_loss\": 0.5", "elements: 21", "encoder.*: 2 tensors, 15 elements", "[3, 4]", "format: pt"] {
        assert!(text.contains(part), "missing `{part}` in\n{text}");
    }
    // Truncated, garbage and empty files are errors, never panics.
    let bytes = std::fs::read(&path).unwrap();
    for cut in [0, 4, 8, 20, bytes.len() / 2, bytes.len() - 1] {
        let p = dir.join(format!("cut{cut}.safetensors"));
        std::fs::write(&p, &bytes[..cut]).unwrap();
        assert!(inspect::read_summary(&p).is_err(), "cut at {cut}");
    }
    let mut evil = bytes.clone();
    evil[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    std::fs::write(dir.join("evil.safetensors"), &evil).unwrap();
    assert!(inspect::read_summary(&dir.join("evil.safetensors")).is_err());
    std::fs::remove_dir_all(&dir).ok();
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_wrt-train"))
}

#[test]
fn binary_exit_codes_and_messages() {
    // A config error: exit 2, file:line: key: message with the suggestion.
    let out = bin().args(["train", "--config", &fixture("bad_typo.yaml")]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("bad_typo.yaml:5: training.max_epoch: unknown key") && err.contains("did you mean `max_epochs`?"), "{err}");
    // A clap usage error: exit 2 with clap's suggestion.
    let out = bin().args(["train", "--max_epoch", "3"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--max_epochs"));
    // A valid config without a data file: a runtime error (exit 1) naming the missing flag; the run
    // directory (its config.yaml) goes under the working directory, a scratch one here.
    let cwd = tmp("no-data");
    let out = bin().current_dir(&cwd).args(["train", "--config", &fixture("lightning_example.yaml"), "--max-epochs", "1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--data-path"), "{}", String::from_utf8_lossy(&out.stderr));
    // `config` prints the effective configuration, which loads back to the same run.
    let out = bin().args(["config", "--config", &fixture("lightning_example.yaml"), "--lr", "0.02", "--wandb_project", "x"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let yaml = String::from_utf8(out.stdout).unwrap();
    let back = &config::load_str(&yaml, "lightning_example.yaml", &[]).unwrap()[0];
    assert_eq!((back.optimizer.lr, back.trainer.max_epochs), (0.02, Some(20)));
    // `inspect` and `slurm` through the binary.
    let dir = tmp("bin");
    let ck = dir.join("c.safetensors");
    write_checkpoint(&ck);
    let out = bin().args(["inspect", ck.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("head.weight"));
    let out = bin().args(["inspect", dir.join("missing.safetensors").to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let out = bin().args(["slurm", "--partition", "gpu", "--time", "2:00:00", "--", "--model", "tft", "--gpus", "0,1"]).output().unwrap();
    let script = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(script.contains("#SBATCH --gres=gpu:2") && script.contains("train --model tft --gpus 0,1"), "{script}");
    let out = bin().args(["slurm", "--", "--model", "tfx"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "train args are validated");
    // `sweep --dry-run` lists one command per trial with its own run name.
    let out = bin().args(["sweep", "--grid", "lr=1e-3,1e-4", "--grid", "model.depth=2,4", "--dry-run", "--", "--model", "satformer"]).output().unwrap();
    let cmds = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(cmds.lines().count(), 4, "{cmds}");
    assert!(cmds.contains("--run_name sweep-00") && cmds.contains("--set model.depth=4"), "{cmds}");
    // data synth writes a small file that data inspect lists; a bad kind is a usage error with a suggestion.
    let h5 = dir.join("x.h5");
    let out = bin().args(["data", "synth", "--kind", "tft", "--out", h5.to_str().unwrap(), "--samples", "8", "--seed", "1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let out = bin().args(["data", "inspect", h5.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("target"), "{}", String::from_utf8_lossy(&out.stdout));
    let out = bin().args(["data", "synth", "--kind", "tfx", "--out", h5.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("did you mean `tft`"));
    std::fs::remove_dir_all(&dir).ok();
}

/// The binary end to end on a tiny SaTformer: `train --synthetic` generates the data, trains one epoch and
/// prints the summary; `predict --checkpoint ... --data ...` (the spelling) writes the predictions;
/// `WRT_INTERRUPT_AT_STEP` stops a run with `last.ckpt` saved, and `--resume_from` finishes it.
#[test]
fn train_predict_and_resume_through_the_binary() {
    let dir = tmp("e2e");
    let (data, ck, out) = (dir.join("d.h5"), dir.join("ck"), dir.join("exp"));
    let d = |p: &Path| p.display().to_string();
    let tiny = [
        "--model", "satformer", "--dim", "16", "--depth", "1", "--heads", "2", "--dim_head", "8", "--image_size", "8", "--patch_size", "4",
        "--num_frames", "2", "--channels", "3", "--num_classes", "4", "--set", "data.synthetic_samples=64", "--batch_size", "16",
        "--max_epochs", "2", "--seed", "1",
    ];
    let run = |extra: &[String], env: Option<(&str, &str)>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_wrt-train"));
        c.arg("train").args(tiny).args(["--synthetic", "--data-path", &d(&data), "--checkpoint_dir", &d(&ck), "--output_dir", &d(&out)]).args(extra);
        if let Some((k, v)) = env {
            c.env(k, v);
        }
        c.output().unwrap()
    };
    let o = run(&[], Some(("WRT_INTERRUPT_AT_STEP", "3")));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("interrupted; resume with --resume_from"), "{err}");
    let last = ck.join("last.ckpt");
    let o = run(&["--resume_from".into(), d(&last)], None);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success() && err.contains("completed"), "{err}");
    assert!(err.contains("climatology") && err.contains("val_csi"), "{err}");
    let pred = dir.join("p.csv");
    let o = Command::new(env!("CARGO_BIN_EXE_wrt-train"))
        .args(["predict", "--model", "satformer", "--checkpoint", &d(&last), "--data", &d(&data), "-o", &d(&pred)])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let csv = std::fs::read_to_string(&pred).unwrap();
    assert_eq!(csv.lines().count(), 65);
    assert!(csv.starts_with("index,y,pred,probs_0"), "{csv}");
    // a wrong model type for the checkpoint's data is a clear error, exit 1
    let o = Command::new(env!("CARGO_BIN_EXE_wrt-train")).args(["validate", "--model", "satformer", "--checkpoint", &d(&dir.join("none.ckpt")), "--data", &d(&data)]).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("none.ckpt"));
}

/// A multi-model AtmoDist config through the binary, as the guide runs it: every model trains in turn
/// into `experiments/{id}/`, one that fails (an inconsistent head) does not stop the other, and the
/// summary names both with the reason; then the trained encoder builds and queries an analogue index.
#[test]
fn atmodist_multi_model_failure_is_isolated_and_analogues_run() {
    let dir = tmp("atmodist-multi");
    let cfg = dir.join("multi.yaml");
    std::fs::write(
        &cfg,
        "id: multi\ntraining:\n  epochs: 1\n  batch_size: 32\n  early_stopping: true\ndata:\n  variables: [d2m, u, v, msl, r]\n  frequency: 3h\n\
         models:\n  - id: model_bad\n    model:\n      type: atmodist_revised\n      res_out_channels_list: [8, 16, 32]\n      downstream_stack_channels: 7\n\
         \x20 - id: model_ok\n    model:\n      type: atmodist_revised\n      res_out_channels_list: [8, 16, 32]\n      num_blocks: 1\n      out_conv_channels: 8\n",
    )
    .unwrap();
    let out = bin()
        .current_dir(&dir)
        .args(["train", "--config", "multi.yaml", "--data-path", "d.h5", "--synthetic", "--set", "data.synthetic_samples=96", "--seed", "3"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("model_bad: FAILED") && err.contains("downstream_stack_channels 7"), "{err}");
    assert!(err.contains("model_ok: ok") && err.contains("1 of 2 runs failed: model_bad"), "{err}");
    let best = dir.join("experiments/model_ok/checkpoints/best_model.ckpt");
    assert!(best.exists(), "{err}");

    let out = bin().current_dir(&dir).args(["analogues", "build", "--checkpoint", best.to_str().unwrap(), "--data-path", "d.h5", "--index", "idx.safetensors"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("indexed 96 states"));
    let out = bin().current_dir(&dir).args(["analogues", "query", "--index", "idx.safetensors", "--steps", "5,10-11", "-k", "3", "--output", "a.csv"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let csv = std::fs::read_to_string(dir.join("a.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows[0], "query_step,query_time,rank,step,time,distance");
    assert_eq!(rows.len(), 1 + 3 * 3);
    assert!(rows[1].starts_with("5,2001-01-01T15:00:00Z,1,5,2001-01-01T15:00:00Z,0"), "{}", rows[1]);
    // a bad step and a wrong file are clear errors
    let out = bin().current_dir(&dir).args(["analogues", "query", "--index", "idx.safetensors", "--steps", "500"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("'500' is not a step"));
    let out = bin().current_dir(&dir).args(["analogues", "query", "--index", best.to_str().unwrap(), "--steps", "1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("without analogue-index metadata"));
}

/// `sweep --method bayes`: trials one after another, each scored from its metrics.csv, the best reported,
/// every score in summary.csv.
#[test]
fn bayes_sweep_scores_each_trial() {
    let dir = tmp("bayes-sweep");
    std::fs::write(
        dir.join("tiny.yaml"),
        "model:\n  type: sitsformer\n  img_size: 16\n  patch_size: 8\n  in_channels: 4\n  num_classes: 5\n  embed_dim: 16\n  num_layers: 1\n  num_heads: 2\n  max_seq_len: 4\n  warmup_epochs: 0\n\
         training:\n  max_epochs: 1\n  batch_size: 16\n  enable_progress_bar: false\ndata:\n  synthetic: true\n  synthetic_samples: 96\n",
    )
    .unwrap();
    let out = bin()
        .current_dir(&dir)
        .args(["sweep", "--method", "bayes", "--trials", "4", "--init", "2", "--grid", "lr=log:1e-5:1e-1", "--metric", "val_loss", "--name", "bo", "--", "--config", "tiny.yaml", "--data-path", "t.h5"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("minimize val_loss") && err.contains("best: bo-"), "{err}");
    let csv = std::fs::read_to_string(dir.join("experiments/sweeps/bo/summary.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows[0], "run_name,params,exit_code,seconds,score");
    assert_eq!(rows.len(), 5);
    for r in &rows[1..] {
        let score: f64 = r.rsplit(',').next().unwrap().parse().unwrap_or_else(|_| panic!("no score in {r}"));
        assert!(score.is_finite() && score > 0.0, "{r}");
    }
    let out = bin().current_dir(&dir).args(["sweep", "--method", "bayes", "--grid", "lr=log:1e-5:1e-1", "--", "--config", "tiny.yaml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs --trials N"));
}
