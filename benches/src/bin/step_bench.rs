//! One training step of a whole model (forward, loss, backward, optimizer step), timed in wrt, for the
//! side-by-side with PyTorch in `tools/bench_vs_torch.py`. Prints one JSON object:
//! `{"model", "config", "threads", "steps", "median_ms", "min_ms", "peak_rss_mib", "params"}`; peak RSS is the
//! process's high-water mark (VmHWM) after the timed steps, start RSS its resident set before any work.
//!
//! `cargo run --release -p wrt-benches --bin step_bench -- --model satformer [--dim 128 --depth 4 --heads 8
//!  --dim_head 16 --batch 16 --attn ST^2 --threads 2 --steps 10 --warmup 2] [--phases 1]`
//! `... -- --model atmodist [--channels 16,32,64,128 --batch 64]` (SGD, momentum 0.9, weight decay 1e-5)
//! `... -- --model sitsformer [--img_size 32 --patch_size 8 --frames 8 --embed_dim 256 --num_layers 8
//!  --num_heads 8 --batch 8]` (AdamW; the last quarter of each series padded and masked)
//! `... -- --model tft [--input_size 32 --hidden_size 32 --num_heads 4 --lstm_layers 1 --window 100
//!  --output_size 32 --batch 256]` (the seed's TFT; AdamW lr 5e-4, wd 1e-4, MSE, gradient norm clipped at 1)
//! `... -- --model pangu [--grid_size 64 --embed_dim 32 --pangu_heads 2,4,4,2 --window_size 2,4,8
//!  --depths 2,6,6,2 --time_step 1 --batch 4]` (Adam lr 1e-4, coupled weight decay 0.05, summed MSE, gradient
//!  norm clipped at 0.25, train mode with the rollout noise)
//! (`--phases 1` prints forward / backward / optimizer times of each step to stderr; `--precision bf16-mixed`
//!  or `16-mixed` runs forward and loss under autocast)

use std::collections::HashMap;
use std::time::{Duration, Instant};
use wrt_autograd::{fused::Reduction, Var};
use wrt_models::{Atmodist, AtmodistConfig, Pangu, PanguConfig, Satformer, SatformerConfig, SeedTft, SeedTftConfig, Sitsformer, SitsformerConfig};
use wrt_nn::ModuleExt;
use wrt_tensor::{DType, Generator};
use wrt_train::optim::{Adam, AdamConfig, Optimizer, ParamGroup, Sgd, SgdConfig};

fn arg<T: std::str::FromStr>(a: &HashMap<String, String>, k: &str, d: T) -> T {
    a.get(k).map(|v| v.parse().unwrap_or_else(|_| panic!("--{k}: cannot parse '{v}'"))).unwrap_or(d)
}

/// A `/proc/self/status` field in MiB: `VmHWM` (peak resident set) or `VmRSS` (now).
fn status_mib(field: &str) -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines().find_map(|l| l.strip_prefix(field)).and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok()).map_or(f64::NAN, |kb| kb / 1024.0)
}

fn main() {
    let start_rss = status_mib("VmRSS:");
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut a = HashMap::new();
    for pair in argv.chunks(2) {
        let k = pair[0].trim_start_matches("--").replace('-', "_");
        a.insert(k, pair.get(1).cloned().unwrap_or_default());
    }
    let model = a.get("model").cloned().unwrap_or_else(|| "satformer".into());
    let threads: usize = arg(&a, "threads", 2);
    rayon::ThreadPoolBuilder::new().num_threads(threads).build_global().expect("rayon pool");
    match model.as_str() {
        "satformer" => satformer(&a, threads, start_rss),
        "atmodist" => atmodist(&a, threads, start_rss),
        "sitsformer" => sitsformer(&a, threads, start_rss),
        "tft" => tft(&a, threads, start_rss),
        "pangu" => pangu(&a, threads, start_rss),
        m => panic!("step_bench: --model satformer, atmodist, sitsformer, tft or pangu, got {m}"),
    }
}

/// Times training steps, warmup steps first: `logits()` is the forward, then cross-entropy against `y`,
/// backward, `opt.step()` and `zero_grad`. Returns the sorted step times in ms.
fn time_steps(a: &HashMap<String, String>, opt: &mut dyn Optimizer, y: &wrt_tensor::Tensor, mut logits: impl FnMut() -> Var) -> Vec<f64> {
    time_loss_steps(a, opt, None, || wrt_nn::loss::cross_entropy(&logits(), y, None, -100, 0.0, Reduction::Mean).expect("loss"))
}

/// Times training steps of `loss()` (forward and loss), backward, gradient-norm clipping of `clip`
/// (params, max norm) when given, `opt.step()` and `zero_grad`. Returns the sorted step times in ms.
fn time_loss_steps(a: &HashMap<String, String>, opt: &mut dyn Optimizer, clip: Option<(&[Var], f64)>, mut loss: impl FnMut() -> Var) -> Vec<f64> {
    let (steps, warmup): (usize, usize) = (arg(a, "steps", 10), arg(a, "warmup", 2));
    let mut times = Vec::with_capacity(steps);
    // `--precision bf16-mixed|16-mixed`: forward and loss under autocast, as the trainer runs them (no loss
    // scaling here: the scaler's cost is one pass over the gradients, timed with the optimizer).
    let amp = match a.get("precision").map(String::as_str) {
        None | Some("32") => None,
        Some("bf16-mixed") => Some(wrt_autograd::Rounding::Bf16),
        Some("16-mixed") => Some(wrt_autograd::Rounding::F16),
        Some(p) => panic!("--precision 32, 16-mixed or bf16-mixed, got {p}"),
    };
    for i in 0..warmup + steps {
        let t = Instant::now();
        let loss = wrt_autograd::autocast(amp, &mut loss);
        let t_fwd = t.elapsed();
        loss.backward().expect("backward");
        let t_bwd = t.elapsed();
        if let Some((params, max_norm)) = clip {
            wrt_train::optim::clip_grad_norm_(params, max_norm, 2.0, false).expect("clip");
        }
        opt.step().expect("step");
        opt.zero_grad();
        if a.contains_key("phases") {
            let ms = |d: Duration| d.as_secs_f64() * 1e3;
            eprintln!("forward {:.1} ms, backward {:.1} ms, optimizer {:.1} ms", ms(t_fwd), ms(t_bwd - t_fwd), ms(t.elapsed() - t_bwd));
        }
        if i >= warmup {
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    times.sort_by(f64::total_cmp);
    times
}

fn report(model: &str, config: &str, threads: usize, times: &[f64], start_rss: f64, n_params: usize) {
    println!(
        "{{\"model\": \"{model}\", \"config\": {config}, \"threads\": {threads}, \"steps\": {}, \"median_ms\": {:.2}, \"min_ms\": {:.2}, \
         \"peak_rss_mib\": {:.1}, \"start_rss_mib\": {start_rss:.1}, \"params\": {n_params}}}",
        times.len(),
        times[times.len() / 2],
        times[0],
        status_mib("VmHWM:")
    );
}

fn satformer(a: &HashMap<String, String>, threads: usize, start_rss: f64) {
    let cfg = SatformerConfig {
        dim: arg(a, "dim", 128),
        depth: arg(a, "depth", 4),
        heads: arg(a, "heads", 8),
        dim_head: arg(a, "dim_head", 16),
        num_classes: arg(a, "num_classes", 64),
        attn: a.get("attn").map(|s| s.parse().expect("--attn")).unwrap_or(wrt_models::AttnKind::JointTwice),
        attn_dropout: arg(a, "attn_dropout", 0.1),
        ff_dropout: arg(a, "ff_dropout", 0.1),
        ..SatformerConfig::default()
    };
    let batch: usize = arg(a, "batch", 16);
    let mut g = Generator::new(0);
    let net = Satformer::new(cfg.clone(), &mut g).expect("model");
    let params = net.parameters();
    let n_params: usize = params.iter().map(|p| p.value().numel()).sum();
    let mut opt = Adam::adamw(vec![ParamGroup::new(params, AdamConfig { lr: 1e-4, weight_decay: 0.01, ..Default::default() })]).expect("adamw");
    let x = g.randn(&[batch, cfg.num_frames, cfg.channels, cfg.image_size, cfg.image_size], DType::F32).expect("x");
    let y = g.randint(&[batch], 0, cfg.num_classes as i64).expect("y");
    let times = time_steps(a, &mut opt, &y, || net.forward(&Var::constant(x.clone())).expect("forward"));
    let config = format!(
        "{{\"dim\": {}, \"depth\": {}, \"heads\": {}, \"dim_head\": {}, \"attn\": \"{}\", \"batch\": {batch}}}",
        cfg.dim, cfg.depth, cfg.heads, cfg.dim_head, cfg.attn
    );
    report("satformer", &config, threads, &times, start_rss, n_params);
}

fn atmodist(a: &HashMap<String, String>, threads: usize, start_rss: f64) {
    let list = a.get("channels").map_or("16,32,64,128", |s| s.as_str()).to_string();
    let channels: Vec<usize> = list.split(',').map(|c| c.trim().parse().expect("--channels")).collect();
    let cfg = AtmodistConfig { res_out_channels_list: channels, ..AtmodistConfig::default() };
    let batch: usize = arg(a, "batch", 64);
    let mut g = Generator::new(0);
    let net = Atmodist::new(cfg.clone(), &mut g).expect("model");
    let params = net.parameters();
    let n_params: usize = params.iter().map(|p| p.value().numel()).sum();
    let mut opt = Sgd::new(vec![ParamGroup::new(params, SgdConfig { lr: 0.01, momentum: 0.9, weight_decay: 1e-5, ..Default::default() })]).expect("sgd");
    let x1 = g.randn(&[batch, cfg.res_in_channels, 32, 32], DType::F32).expect("x1");
    let x2 = g.randn(&[batch, cfg.res_in_channels, 32, 32], DType::F32).expect("x2");
    let y = g.randint(&[batch], 0, cfg.num_classes as i64).expect("y");
    let times = time_steps(a, &mut opt, &y, || net.forward(&Var::constant(x1.clone()), &Var::constant(x2.clone())).expect("forward").logits);
    report("atmodist", &format!("{{\"channels\": \"{list}\", \"batch\": {batch}}}"), threads, &times, start_rss, n_params);
}

fn sitsformer(a: &HashMap<String, String>, threads: usize, start_rss: f64) {
    let frames: usize = arg(a, "frames", 8);
    let cfg = SitsformerConfig {
        img_size: arg(a, "img_size", 32),
        patch_size: arg(a, "patch_size", 8),
        embed_dim: arg(a, "embed_dim", 256),
        num_layers: arg(a, "num_layers", 8),
        num_heads: arg(a, "num_heads", 8),
        max_seq_len: frames + 1,
        ..SitsformerConfig::default()
    };
    let batch: usize = arg(a, "batch", 8);
    let mut g = Generator::new(0);
    let net = Sitsformer::new(cfg.clone(), &mut g).expect("model");
    let params = net.parameters();
    let n_params: usize = params.iter().map(|p| p.value().numel()).sum();
    let mut opt = Adam::adamw(vec![ParamGroup::new(params, AdamConfig { lr: 1e-4, weight_decay: 0.01, ..Default::default() })]).expect("adamw");
    let x = g.randn(&[batch, frames, cfg.in_channels, cfg.img_size, cfg.img_size], DType::F32).expect("x");
    let valid = frames - frames / 4;
    let mask: Vec<f32> = (0..batch * frames).map(|i| if i % frames < valid { 1.0 } else { 0.0 }).collect();
    let mask = wrt_tensor::Tensor::from_vec(mask, &[batch, frames]).expect("mask");
    let y = g.randint(&[batch], 0, cfg.num_classes as i64).expect("y");
    let times = time_steps(a, &mut opt, &y, || net.forward(&Var::constant(x.clone()), Some(&mask)).expect("forward"));
    let config = format!(
        "{{\"img_size\": {}, \"patch_size\": {}, \"frames\": {frames}, \"embed_dim\": {}, \"num_layers\": {}, \"num_heads\": {}, \"batch\": {batch}}}",
        cfg.img_size, cfg.patch_size, cfg.embed_dim, cfg.num_layers, cfg.num_heads
    );
    report("sitsformer", &config, threads, &times, start_rss, n_params);
}

fn tft(a: &HashMap<String, String>, threads: usize, start_rss: f64) {
    let cfg = SeedTftConfig {
        input_size: arg(a, "input_size", 32),
        hidden_size: arg(a, "hidden_size", 32),
        num_heads: arg(a, "num_heads", 4),
        num_lstm_layers: arg(a, "lstm_layers", 1),
        dropout: 0.1,
        output_size: Some(arg(a, "output_size", 32)),
    };
    let (batch, window): (usize, usize) = (arg(a, "batch", 256), arg(a, "window", 100));
    let mut g = Generator::new(0);
    let net = SeedTft::new(cfg.clone(), &mut g).expect("model");
    let params = net.parameters();
    let n_params: usize = params.iter().map(|p| p.value().numel()).sum();
    let mut opt = Adam::adamw(vec![ParamGroup::new(params.clone(), AdamConfig { lr: 5e-4, weight_decay: 1e-4, ..Default::default() })]).expect("adamw");
    let x = g.randn(&[batch, window, cfg.input_size], DType::F32).expect("x");
    let y = Var::constant(g.randn(&[batch, cfg.outputs()], DType::F32).expect("y"));
    let times = time_loss_steps(a, &mut opt, Some((&params, 1.0)), || {
        let out = net.forward(&Var::constant(x.clone())).expect("forward");
        wrt_nn::loss::mse_loss(&out, &y, Reduction::Mean).expect("loss")
    });
    let config = format!(
        "{{\"input_size\": {}, \"hidden_size\": {}, \"num_heads\": {}, \"lstm_layers\": {}, \"window\": {window}, \"batch\": {batch}}}",
        cfg.input_size, cfg.hidden_size, cfg.num_heads, cfg.num_lstm_layers
    );
    report("tft", &config, threads, &times, start_rss, n_params);
}

/// A comma-separated list flag.
fn list(a: &HashMap<String, String>, k: &str, d: &str) -> Vec<usize> {
    a.get(k).map_or(d, |s| s.as_str()).split(',').map(|v| v.trim().parse().unwrap_or_else(|_| panic!("--{k}: cannot parse '{v}'"))).collect()
}

fn pangu(a: &HashMap<String, String>, threads: usize, start_rss: f64) {
    let cfg = PanguConfig {
        embed_dim: arg(a, "embed_dim", 32),
        num_heads: list(a, "pangu_heads", "2,4,4,2"),
        window_size: list(a, "window_size", "2,4,8"),
        grid_size: arg(a, "grid_size", 64),
        time_step: arg(a, "time_step", 1),
        depths: list(a, "depths", "2,6,6,2"),
        ..PanguConfig::default()
    };
    let batch: usize = arg(a, "batch", 4);
    let mut g = Generator::new(0);
    let net = Pangu::new(cfg.clone(), &mut g).expect("model");
    let params = net.parameters();
    let n_params: usize = params.iter().map(|p| p.value().numel()).sum();
    let mut opt = Adam::new(vec![ParamGroup::new(params.clone(), AdamConfig { lr: 1e-4, weight_decay: 0.05, ..Default::default() })]).expect("adam");
    let (gs, c) = (cfg.grid_size, wrt_models::pangu::CHANNELS);
    let x = g.randn(&[batch, c, gs, gs], DType::F32).expect("x");
    let y = Var::constant(g.randn(&[batch, c, gs, gs], DType::F32).expect("y"));
    let times = time_loss_steps(a, &mut opt, Some((&params, 0.25)), || {
        let out = net.forward(&Var::constant(x.clone())).expect("forward");
        wrt_nn::loss::mse_loss(&out, &y, Reduction::Sum).expect("loss")
    });
    let config = format!(
        "{{\"grid_size\": {gs}, \"embed_dim\": {}, \"heads\": \"{:?}\", \"window\": \"{:?}\", \"depths\": \"{:?}\", \"time_step\": {}, \"batch\": {batch}}}",
        cfg.embed_dim, cfg.num_heads, cfg.window_size, cfg.depths, cfg.time_step
    );
    report("pangu", &config, threads, &times, start_rss, n_params);
}
