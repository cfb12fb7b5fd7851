//! AtmoDist through `wrt_train::run`, as `wrt-train train|validate|predict|analogues` run it: a small ResNet
//! on a generated synthetic series learns the time gap (val_loss falls, accuracy well above the majority
//! class), logs the reference's metric names, writes the confusion matrix and classification report every
//! validation epoch, keeps `experiments/{id}/checkpoints/best_model.ckpt`, validates and predicts from it,
//! and its encoder drives an exact analogue search. Also: one SGD step of the task equals PyTorch's on the
//! parity fixture, and config/data mismatches are errors that name the key.

use std::path::{Path, PathBuf};
use wrt_train::analogues::{self, AnalogueIndex, Distance, QueryOptions};
use wrt_train::config::{self, CliInput, Override, RunConfig};
use wrt_train::data::{AtmoDistDataset, OpenOptions};
use wrt_train::run;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("wrt-atmodist-run-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A small AtmoDist run (three stages of one block, 32x32 states) in `root`, plus extra settings.
fn run_config(root: &Path, extra: &[(&str, &str)]) -> RunConfig {
    let mut o: Vec<Override> = [
        ("id", "gap"),
        ("model.type", "atmodist_revised"),
        ("model.res_out_channels_list", "[8, 16, 32]"),
        ("model.num_blocks", "1"),
        ("model.out_conv_channels", "8"),
        ("model.downstream_channels", "16"),
        ("model.learning_rate", "0.05"),
        ("training.max_epochs", "6"),
        ("training.batch_size", "32"),
        ("training.num_workers", "0"),
        ("training.seed", "5"),
        ("training.enable_progress_bar", "false"),
        ("training.log_every_n_steps", "5"),
        ("data.synthetic", "true"),
        ("data.synthetic_samples", "1024"),
        ("logger", "[csv, tensorboard]"),
    ]
    .iter()
    .chain(extra)
    .map(|(k, v)| Override::new(*k, *v, format!("test {k}")))
    .collect();
    o.push(Override::new("data.path", root.join("gap.h5").display().to_string(), "test"));
    o.push(Override::new("output_dir", root.join("experiments").display().to_string(), "test"));
    config::from_cli_and_files(&CliInput { overrides: o, ..Default::default() }).unwrap().remove(0)
}

#[test]
fn learns_the_gap_logs_reports_and_searches_analogues() {
    let root = tmp("full");
    let cfg = run_config(&root, &[]);
    let s = run::train(&cfg).unwrap();

    // learning: loss down, accuracy far above the majority class
    let (first, last) = (&s.validations[0], s.validations.last().unwrap());
    assert!(last["val_loss"] < first["val_loss"] - 0.2, "val_loss {} -> {}", first["val_loss"], last["val_loss"]);
    let (acc, base) = (s.final_metrics["val_accuracy"], s.baseline["val_accuracy"]);
    assert!(acc > 2.0 * base && acc > 0.3, "val_accuracy {acc} vs majority class {base}");
    assert!((s.final_metrics["val_acc"] - acc).abs() < 1e-9, "the batch mean and the epoch metric agree");

    // the guide's layout and the reference's names
    let best = root.join("experiments/gap/checkpoints/best_model.ckpt");
    assert!(best.exists(), "no {}", best.display());
    assert_eq!(s.best.as_ref().map(|b| b.0.clone()), Some(best.clone()));
    let log = s.log_dir.clone().unwrap();
    let csv = std::fs::read_to_string(log.join("metrics.csv")).unwrap();
    let header = csv.lines().next().unwrap();
    for k in ["train_loss_step", "train_loss_epoch", "train_acc_step", "train_acc_epoch", "val_loss", "val_acc", "val_accuracy", "val_precision", "val_recall", "val_f1", "lr-SGD"] {
        assert!(header.split(',').any(|c| c == k), "metrics.csv has no '{k}': {header}");
    }
    for e in 0..6 {
        for f in ["confusion_matrix_epoch{e:03}.csv", "confusion_matrix_epoch{e:03}.png", "classification_report_epoch{e:03}.txt"] {
            let p = log.join("val").join(f.replace("{e:03}", &format!("{e:03}")));
            assert!(p.exists(), "no {}", p.display());
        }
    }
    let report = std::fs::read_to_string(log.join("val/classification_report_epoch005.txt")).unwrap();
    assert!(report.contains("weighted avg") && report.contains("3h") && report.contains("24h"), "{report}");
    let cm = std::fs::read_to_string(log.join("val/confusion_matrix_epoch005.csv")).unwrap();
    let total: u64 = cm.lines().skip(1).flat_map(|l| l.split(',').skip(1).map(|v| v.parse::<u64>().unwrap()).collect::<Vec<_>>()).sum();
    assert_eq!(total as usize, s.val_samples, "the confusion matrix counts every validation pair");
    let events: Vec<u8> = std::fs::read_dir(&log).unwrap().flatten().filter(|e| e.file_name().to_string_lossy().starts_with("events.out")).flat_map(|e| std::fs::read(e.path()).unwrap()).collect();
    for tag in ["val_confusion_matrix", "val_classification_report"] {
        assert!(events.windows(tag.len()).any(|w| w == tag.as_bytes()), "TensorBoard events have no '{tag}'");
    }

    // validate the best checkpoint: its val_loss is the monitored best, exactly reproduced
    let mut vcfg = cfg.clone();
    vcfg.ckpt_path = Some(best.clone());
    let (_, m) = run::validate(&vcfg).unwrap();
    assert!((m["val_loss"] - s.best.as_ref().unwrap().1).abs() < 1e-6, "validate {} vs best {}", m["val_loss"], s.best.as_ref().unwrap().1);
    vcfg.predict_output = Some(root.join("pred.csv"));
    let (_, out, n) = run::predict(&vcfg).unwrap();
    let pred = std::fs::read_to_string(out).unwrap();
    assert_eq!(pred.lines().next().unwrap(), "index,y,pred,step1,step2,probs_0,probs_1,probs_2,probs_3,probs_4,probs_5,probs_6,probs_7");
    assert_eq!(pred.lines().count(), n + 1);
    for row in pred.lines().skip(1) {
        // the gap class is the steps apart minus one
        let v: Vec<i64> = row.split(',').take(5).map(|x| x.parse().unwrap()).collect();
        assert_eq!(v[4] - v[3], v[1] + 1, "{row}");
    }

    // analogue search with the trained encoder
    let task = run::atmodist_from_checkpoint(&cfg, &best).unwrap();
    let ds = AtmoDistDataset::open(&root.join("gap.h5"), &OpenOptions::default()).unwrap();
    let (index, stats) = AnalogueIndex::build(&task, &best, &ds, 128, |_| {}).unwrap();
    assert_eq!((index.len(), index.dim), (1024, 32 * 2 * 2), "32 channels on a 2x2 grid");
    assert!(stats.states_per_second() > 0.0);
    let path = root.join("index.safetensors");
    index.save(&path).unwrap();
    let index = AnalogueIndex::load(&path).unwrap();
    assert_eq!(index.times.as_ref().unwrap()[1] - index.times.as_ref().unwrap()[0], 3 * 3600);
    assert_eq!(analogues::timestamp(&index, 8), "2001-01-02T00:00:00Z");
    let q_steps: Vec<i64> = vec![3, 400, 1000];
    let mut queries = Vec::new();
    for &s in &q_steps {
        queries.extend_from_slice(&index.embeddings[s as usize * index.dim..(s as usize + 1) * index.dim]);
    }
    for distance in [Distance::L2, Distance::Cosine] {
        let o = QueryOptions { k: 5, distance, window: 1, min_separation: 4 };
        let (found, _) = analogues::query(&index, &queries, Some(&q_steps), &o).unwrap();
        for (qi, list) in found.iter().enumerate() {
            // brute force over the stored embeddings, excluding the query's neighbourhood
            let q = &queries[qi * index.dim..(qi + 1) * index.dim];
            let mut all: Vec<(f64, i64)> = (0..index.len())
                .filter(|&j| (j as i64 - q_steps[qi]).abs() >= 4)
                .map(|j| {
                    let l = &index.embeddings[j * index.dim..(j + 1) * index.dim];
                    let dot: f64 = q.iter().zip(l).map(|(a, b)| *a as f64 * *b as f64).sum();
                    let (qq, ll): (f64, f64) = (q.iter().map(|a| (*a as f64).powi(2)).sum(), l.iter().map(|a| (*a as f64).powi(2)).sum());
                    let d = match distance {
                        Distance::L2 => qq + ll - 2.0 * dot,
                        Distance::Cosine => 1.0 - dot / (qq * ll).sqrt(),
                    };
                    (d, j as i64)
                })
                .collect();
            all.sort_by(|a, b| a.0.total_cmp(&b.0));
            let want: Vec<i64> = all[..5].iter().map(|x| x.1).collect();
            let got: Vec<i64> = list.iter().map(|a| a.step).collect();
            assert_eq!(got, want, "{distance:?} query step {}", q_steps[qi]);
        }
    }
    // without separation every query finds itself first, at distance 0
    let o = QueryOptions { k: 3, distance: Distance::L2, window: 2, min_separation: 0 };
    let mut windows = Vec::new();
    for &s in &q_steps {
        windows.extend_from_slice(&index.embeddings[s as usize * index.dim..(s as usize + 2) * index.dim]);
    }
    let (found, _) = analogues::query(&index, &windows, Some(&q_steps), &o).unwrap();
    for (qi, list) in found.iter().enumerate() {
        assert_eq!((list[0].step, list[0].distance), (q_steps[qi], 0.0));
    }
}

#[test]
fn one_sgd_step_matches_pytorch() {
    // the parity fixture's small model, its gradients and torch.optim.SGD(lr 0.01, momentum 0.9, wd 1e-5)
    use wrt_autograd::Var;
    use wrt_nn::ModuleExt;
    use wrt_train::optim::{Optimizer, ParamGroup, Sgd, SgdConfig};
    use wrt_testkit::{model_manifest, model_tensors, prefixed};
    let (fx, m) = (model_tensors("atmodist", "small.safetensors"), model_manifest("atmodist"));
    let model = wrt_models::Atmodist::new(serde_json::from_value(m["config"].clone()).unwrap(), &mut wrt_tensor::Generator::new(1)).unwrap();
    model.load_state_dict(&prefixed(&fx, "state."), true).unwrap();
    let out = model.forward(&Var::constant(fx["input.x1"].clone()), &Var::constant(fx["input.x2"].clone())).unwrap();
    let loss = wrt_nn::loss::cross_entropy(&out.logits, &fx["target"], None, -100, 0.0, wrt_nn::loss::Reduction::Mean).unwrap();
    loss.backward().unwrap();
    let sgd = &m["sgd"];
    let cfg = SgdConfig { lr: sgd["lr"].as_f64().unwrap(), momentum: sgd["momentum"].as_f64().unwrap(), weight_decay: sgd["weight_decay"].as_f64().unwrap(), ..Default::default() };
    let mut opt = Sgd::new(vec![ParamGroup::new(model.parameters(), cfg)]).unwrap();
    opt.step().unwrap();
    let want = prefixed(&fx, "sgd.");
    for (name, p) in model.named_parameters() {
        wrt_testkit::closeness(&format!("sgd.{name}"), p.value(), &want[&name], 1e-5, 1e-6);
    }
}

#[test]
fn mismatches_between_config_and_data_name_the_key() {
    let root = tmp("mismatch");
    // the file first (a run would generate it from its own, mismatched, config)
    let opts = wrt_train::data::synth::SynthOptions { n: 64, ..Default::default() };
    wrt_train::data::synth::write(wrt_train::data::Kind::AtmoDist, &root.join("gap.h5"), &opts).unwrap();
    let err = |extra: &[(&str, &str)]| run::train(&run_config(&root, extra)).err().expect("an error").to_string();
    let e = err(&[("model.res_in_channels", "4")]);
    assert!(e.contains("model.res_in_channels") && e.contains("d2m, u, v, msl, r"), "{e}");
    let e = err(&[("data.time_interval", "12")]);
    assert!(e.contains("model.num_classes") && e.contains("gives 4 gaps"), "{e}");
    let e = err(&[("data.time_interval", "null"), ("model.num_classes", "6")]);
    assert!(e.contains("model.num_classes") && e.contains("= 8 gaps"), "{e}");
    let e = err(&[("data.frequency", "6h")]);
    assert!(e.contains("data.frequency") && e.contains("frequency 3 h"), "{e}");
    let e = err(&[("data.variables", "[d2m, t2m]")]);
    assert!(e.contains("'t2m'") && e.contains("d2m, u, v, msl, r"), "{e}");
    let e = err(&[("model.res_out_channels_list", "[8, 16]")]);
    assert!(e.contains("2x2 grid after the comparison head"), "{e}");
}
