//! The trainer end to end on a small classifier: it learns, two seeded runs are bit-identical, a run stopped
//! at any step (interrupt, or kill -9 after a periodic checkpoint) and resumed ends with the same weights as
//! an uninterrupted one, top-k and last checkpoints are kept, early stopping stops, and corrupt checkpoints
//! are errors.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use wrt_autograd::Var;
use wrt_nn::{Dropout, Forward, Linear, Module, ModuleExt, ReLU, Sequential, Walk};
use wrt_tensor::{DType, Generator, Tensor};
use wrt_train::optim::{ParamGroup, Sgd, SgdConfig};
use wrt_train::sched::StepLR;
use wrt_train::trainer::*;
use wrt_train::Result;

/// Gaussian blobs: class c is centred at a fixed random point (the same for every split); features [N, D],
/// labels [N]; `seed` draws the noise and the shuffling.
struct Blobs {
    x: Vec<f32>,
    y: Vec<i64>,
    d: usize,
    batch: usize,
    seed: u64,
}

impl Blobs {
    fn new(n: usize, d: usize, classes: usize, batch: usize, seed: u64) -> Blobs {
        let centres = Generator::new(0).normal(&[classes, d], 0.0, 2.0, DType::F32).unwrap().to_vec::<f32>().unwrap();
        let mut g = Generator::new(seed);
        let noise = g.normal(&[n, d], 0.0, 1.0, DType::F32).unwrap().to_vec::<f32>().unwrap();
        let y: Vec<i64> = (0..n).map(|i| (i % classes) as i64).collect();
        let x = (0..n * d).map(|k| centres[y[k / d] as usize * d + k % d] + noise[k]).collect();
        Blobs { x, y, d, batch, seed }
    }
}

struct XY {
    x: Tensor,
    y: Tensor,
}

impl BatchSize for XY {
    fn batch_size(&self) -> usize {
        self.y.numel()
    }
}

impl Loader<XY> for Blobs {
    fn num_batches(&self) -> u64 {
        self.y.len().div_ceil(self.batch) as u64
    }
    fn batches<'a>(&'a self, epoch: u64, start: u64) -> Result<Box<dyn Iterator<Item = Result<XY>> + 'a>> {
        // the order is a function of (seed, epoch) only
        let perm = Generator::new(self.seed.wrapping_mul(1000003) ^ epoch).randperm(self.y.len())?.to_vec::<i64>()?;
        let (b, d) = (self.batch, self.d);
        Ok(Box::new((start as usize..self.num_batches() as usize).map(move |i| {
            let idx = &perm[i * b..((i + 1) * b).min(perm.len())];
            let x: Vec<f32> = idx.iter().flat_map(|&j| self.x[j as usize * d..(j as usize + 1) * d].iter().copied()).collect();
            let y: Vec<i64> = idx.iter().map(|&j| self.y[j as usize]).collect();
            Ok(XY { x: Tensor::from_vec(x, &[idx.len(), d])?, y: Tensor::from_vec(y, &[idx.len()])? })
        })))
    }
}

struct Mlp {
    net: Sequential,
    lr: f64,
    step_lr: bool,
}

impl Mlp {
    fn new(seed: u64, d: usize, classes: usize) -> Mlp {
        let mut g = Generator::new(seed);
        let net = Sequential::new()
            .add(Linear::new(&mut g, d, 32, true).unwrap())
            .add(ReLU)
            .add(Dropout::new(0.2, &mut g).unwrap())
            .add(Linear::new(&mut g, 32, classes, true).unwrap());
        Mlp { net, lr: 0.05, step_lr: true }
    }
}

impl Module for Mlp {
    fn visit(&self, v: &mut Walk<'_>) {
        v.child("net", &self.net);
    }
}

impl TrainModule for Mlp {
    type Batch = XY;
    fn hparams(&self) -> serde_json::Value {
        serde_json::json!({"model": "mlp", "lr": self.lr})
    }
    fn training_step(&self, b: &XY, log: &mut StepLog) -> Result<Var> {
        let logits = self.net.forward(&Var::constant(b.x.clone()))?;
        let loss = wrt_nn::loss::cross_entropy(&logits, &b.y, None, -100, 0.0, wrt_nn::loss::Reduction::Mean)?;
        log.log_with("train_loss", loss.value().item::<f32>()? as f64, true, true, true);
        Ok(loss)
    }
    fn validation_step(&self, b: &XY, log: &mut StepLog) -> Result<()> {
        let logits = self.net.forward(&Var::constant(b.x.clone()))?;
        let loss = wrt_nn::loss::cross_entropy(&logits, &b.y, None, -100, 0.0, wrt_nn::loss::Reduction::Mean)?;
        log.log("val_loss", loss.value().item::<f32>()? as f64);
        let pred = logits.value().argmax(Some(-1), false)?;
        let acc = pred.eq(&b.y)?.to_dtype(DType::F32)?.mean_all()?.item::<f32>()? as f64;
        log.log("val_acc", acc);
        Ok(())
    }
    fn configure_optimizers(&self) -> Result<OptimSetup> {
        let cfg = SgdConfig { lr: self.lr, momentum: 0.9, weight_decay: 1e-4, ..Default::default() };
        let mut opt = Sgd::new(vec![ParamGroup::new(self.parameters(), cfg)])?;
        let scheduler = if self.step_lr {
            Some(SchedulerSetup { scheduler: Box::new(StepLR::new(&mut opt, 2, 0.5)?), interval: Interval::Epoch, frequency: 1, monitor: None })
        } else {
            None
        };
        Ok(OptimSetup { optimizer: Box::new(opt), scheduler })
    }
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("wrt-trainer-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn cfg(root: &Path, epochs: u64) -> TrainerConfig {
    TrainerConfig {
        max_epochs: Some(epochs),
        seed: Some(7),
        deterministic: true,
        enable_progress_bar: false,
        accumulate_grad_batches: 2,
        gradient_clip_val: Some(1.0),
        val_check_interval: Batches::Fraction(0.5),
        log_every_n_steps: 1,
        num_sanity_val_steps: 1,
        default_root_dir: root.display().to_string(),
        ..Default::default()
    }
}

fn weights(m: &Mlp) -> Vec<(String, Vec<u32>)> {
    m.state_dict().into_iter().map(|(k, t)| (k, t.to_vec::<f32>().unwrap().iter().map(|v| v.to_bits()).collect())).collect()
}

fn data() -> (Blobs, Blobs) {
    (Blobs::new(96, 6, 3, 8, 1), Blobs::new(48, 6, 3, 16, 2))
}

fn trainer(root: &Path, epochs: u64) -> Trainer {
    let mut t = Trainer::new(cfg(root, epochs));
    let ck = CheckpointConfig { monitor: Some("val_loss".into()), save_top_k: 2, every_n_train_steps: 5, filename: Some("mlp-{epoch}-{val_loss:.4f}".into()), ..Default::default() };
    t.checkpoint = Some(ModelCheckpoint::new(ck, &root.join("checkpoints")));
    t.lr_monitor = true;
    t
}

fn uninterrupted(root: &Path) -> (Vec<(String, Vec<u32>)>, Trainer) {
    let (tr, va) = data();
    let m = Mlp::new(3, 6, 3);
    let mut t = trainer(root, 4);
    assert_eq!(t.fit(&m, &tr, Some(&va), None).unwrap(), FitOutcome::Completed);
    (weights(&m), t)
}

#[test]
fn learns_and_is_deterministic() {
    let root = tmp("learn");
    let (w1, t1) = uninterrupted(&root.join("a"));
    let (w2, t2) = uninterrupted(&root.join("b"));
    assert!(w1 == w2, "two seeded runs differ");
    assert_eq!(t1.history, t2.history);
    let val: Vec<f64> = t1.history.iter().filter_map(|(_, r)| r.get("val_loss").copied()).collect();
    assert!(val.len() >= 8, "validation twice per epoch: {val:?}");
    assert!(val.last().unwrap() < &(val[0] * 0.5), "val_loss did not fall: {val:?}");
    assert!(t1.callback_metrics["val_acc"] > 0.9, "{:?}", t1.callback_metrics);
    // Lightning names: per-step and per-epoch copies of train_loss, lr-SGD from the monitor
    let keys: std::collections::BTreeSet<&String> = t1.history.iter().flat_map(|(_, r)| r.keys()).collect();
    for k in ["train_loss_step", "train_loss_epoch", "lr-SGD", "val_loss", "val_acc", "epoch"] {
        assert!(keys.iter().any(|x| *x == k), "{k} not logged: {keys:?}");
    }
    // StepLR(2, 0.5) over 4 epochs: lr 0.05, 0.05, 0.025, 0.025
    let lrs: Vec<f64> = t1.history.iter().filter_map(|(_, r)| r.get("lr-SGD").copied()).collect();
    assert_eq!(lrs.first(), Some(&0.05));
    assert_eq!(lrs.last(), Some(&0.025));
    // top-2 by val_loss plus last.ckpt
    let mut files: Vec<String> = std::fs::read_dir(root.join("a/checkpoints")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    files.sort();
    assert_eq!(files.len(), 3, "{files:?}");
    assert!(files.contains(&"last.ckpt".to_string()));
    assert!(files.iter().all(|f| f == "last.ckpt" || f.starts_with("mlp-epoch=")), "{files:?}");
    let mc = t1.checkpoint.as_ref().unwrap();
    let best = mc.state.best_model_score.unwrap();
    assert_eq!(best, val.iter().cloned().fold(f64::INFINITY, f64::min));
}

#[test]
fn resume_after_interrupt_is_bitwise_exact() {
    let root = tmp("resume");
    let (want, _) = uninterrupted(&root.join("ref"));
    // steps per epoch: 12 batches / accumulate 2 = 6; validation after batch 6 and at the epoch end
    for stop_at in [1u64, 3, 6, 7, 12, 20] {
        let dir = root.join(format!("stop{stop_at}"));
        let (tr, va) = data();
        let m = Mlp::new(3, 6, 3);
        let mut t = trainer(&dir, 4);
        t.stop_hook = Some(Box::new(move |s| (s == stop_at).then_some(Stop::Interrupt)));
        let FitOutcome::Interrupted(ck) = t.fit(&m, &tr, Some(&va), None).unwrap() else { panic!("no interrupt at {stop_at}") };
        // resume in a fresh process-like state: new model (different init), new trainer, generator reseeded
        Generator::manual_seed(999);
        let m2 = Mlp::new(11, 6, 3);
        let mut t2 = trainer(&dir, 4);
        assert_eq!(t2.fit(&m2, &tr, Some(&va), Some(&ck)).unwrap(), FitOutcome::Completed);
        assert!(weights(&m2) == want, "weights differ after stopping at step {stop_at} and resuming");
    }
}

#[test]
fn resume_after_kill_from_periodic_checkpoint() {
    let root = tmp("kill");
    let (want, _) = uninterrupted(&root.join("ref"));
    let dir = root.join("killed");
    let (tr, va) = data();
    let m = Mlp::new(3, 6, 3);
    let mut t = trainer(&dir, 4);
    // every_n_train_steps = 5: killed at step 14, the last save was at step 12 (epoch end) or 10
    t.stop_hook = Some(Box::new(|s| (s == 14).then_some(Stop::Kill)));
    assert_eq!(t.fit(&m, &tr, Some(&va), None).unwrap(), FitOutcome::Killed);
    let last = dir.join("checkpoints/last.ckpt");
    let ck = Checkpoint::load(&last).unwrap();
    assert!(ck.meta.position.global_step < 14 && ck.meta.position.global_step >= 10, "{:?}", ck.meta.position);
    let m2 = Mlp::new(5, 6, 3);
    let mut t2 = trainer(&dir, 4);
    assert_eq!(t2.fit(&m2, &tr, Some(&va), Some(&last)).unwrap(), FitOutcome::Completed);
    assert!(weights(&m2) == want);
}

#[test]
fn early_stopping_and_load_from_checkpoint() {
    let root = tmp("es");
    let (tr, va) = data();
    let m = Mlp::new(3, 6, 3);
    let mut t = trainer(&root, 50);
    // an improvement must be larger than 10 (never): stops after `patience` validations
    t.early_stopping = Some(EarlyStopping::new(EarlyStoppingConfig { patience: 3, min_delta: 10.0, ..Default::default() }));
    let out = t.fit(&m, &tr, Some(&va), None).unwrap();
    assert!(matches!(out, FitOutcome::EarlyStopped(_)), "{out:?}");
    // validations: the first sets best (an improvement from inf), then 3 without improvement
    assert_eq!(t.history.iter().filter(|(_, r)| r.contains_key("val_loss")).count(), 4);
    let last = root.join("checkpoints/last.ckpt");
    let rebuilt = load_from_checkpoint(&last, |hp| {
        assert_eq!(hp["model"], "mlp");
        Ok(Mlp::new(42, 6, 3))
    })
    .unwrap();
    assert!(weights(&rebuilt) == weights(&m));
}

#[test]
fn corrupt_checkpoints_are_errors_not_panics() {
    let root = tmp("corrupt");
    let (tr, va) = data();
    let m = Mlp::new(3, 6, 3);
    let mut t = trainer(&root, 1);
    t.fit(&m, &tr, Some(&va), None).unwrap();
    let good = std::fs::read(root.join("checkpoints/last.ckpt")).unwrap();
    let mut g = Generator::new(5);
    let r = g.randint(&[3000], 0, i64::MAX).unwrap().to_vec::<i64>().unwrap();
    let bad = root.join("bad.ckpt");
    let mut errors = 0;
    for i in 0..1000 {
        let mut b = good.clone();
        let (a, c) = (r[3 * i] as usize, r[3 * i + 1] as usize);
        let len = b.len();
        match i % 4 {
            0 => b.truncate(a % len),
            1 => b[a % len] ^= 1 << (c % 8),
            // the JSON header region: flip bytes where the metadata lives
            2 => {
                let n = b.len();
                let h = 8 + (a % 400).min(n - 9);
                b[h] = (c % 256) as u8;
            }
            _ => {
                let n = b.len();
                b[8..n.min(64)].iter_mut().for_each(|x| *x = (c % 256) as u8);
            }
        }
        std::fs::write(&bad, &b).unwrap();
        let m2 = Mlp::new(3, 6, 3);
        let mut t2 = trainer(&root.join("r"), 1);
        t2.cfg.max_epochs = Some(0);
        if t2.fit(&m2, &tr, Some(&va), Some(&bad)).is_err() {
            errors += 1;
        }
    }
    assert!(errors > 500, "only {errors} of 1000 mutations were rejected");
    let e = Checkpoint::load(&root.join("missing.ckpt")).err().unwrap().to_string();
    assert!(e.contains("missing.ckpt"), "{e}");
    let _ = BTreeMap::<String, f64>::new();
}
