//! One training step of a whole model (forward, loss, backward, optimizer step), timed in wrt, for the
//! side-by-side with PyTorch in `tools/bench_vs_torch.py`. Prints one JSON object:
//! `{"model", "config", "threads", "steps", "median_ms", "min_ms", "peak_rss_mib", "params"}`; peak RSS is the
//! process's high-water mark (VmHWM) after the timed steps, start RSS its resident set before any work.
//!
//! `cargo run --release -p wrt-benches --bin step_bench -- --model satformer [--dim 128 --depth 4 --heads 8
//!  --dim_head 16 --batch 16 --attn ST^2 --threads 2 --steps 10 --warmup 2] [--phases 1]`
//! (`--phases 1` prints forward / backward / optimizer times of each step to stderr)

use std::collections::HashMap;
use std::time::Instant;
use wrt_autograd::{fused::Reduction, Var};
use wrt_models::{Satformer, SatformerConfig};
use wrt_nn::ModuleExt;
use wrt_tensor::{DType, Generator, Tensor};
use wrt_train::optim::{Adam, AdamConfig, Optimizer, ParamGroup};

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
    assert_eq!(model, "satformer", "step_bench: only --model satformer so far");
    let threads: usize = arg(&a, "threads", 2);
    rayon::ThreadPoolBuilder::new().num_threads(threads).build_global().expect("rayon pool");
    let cfg = SatformerConfig {
        dim: arg(&a, "dim", 128),
        depth: arg(&a, "depth", 4),
        heads: arg(&a, "heads", 8),
        dim_head: arg(&a, "dim_head", 16),
        num_classes: arg(&a, "num_classes", 64),
        attn: a.get("attn").map(|s| s.parse().expect("--attn")).unwrap_or(wrt_models::AttnKind::JointTwice),
        attn_dropout: arg(&a, "attn_dropout", 0.1),
        ff_dropout: arg(&a, "ff_dropout", 0.1),
        ..SatformerConfig::default()
    };
    let batch: usize = arg(&a, "batch", 16);
    let (steps, warmup): (usize, usize) = (arg(&a, "steps", 10), arg(&a, "warmup", 2));
    let mut g = Generator::new(0);
    let net = Satformer::new(cfg.clone(), &mut g).expect("model");
    let params = net.parameters();
    let n_params: usize = params.iter().map(|p| p.value().numel()).sum();
    let mut opt = Adam::adamw(vec![ParamGroup::new(params, AdamConfig { lr: 1e-4, weight_decay: 0.01, ..Default::default() })]).expect("adamw");
    let x = g.randn(&[batch, cfg.num_frames, cfg.channels, cfg.image_size, cfg.image_size], DType::F32).expect("x");
    let y = g.randint(&[batch], 0, cfg.num_classes as i64).expect("y");
    let mut times = Vec::with_capacity(steps);
    for i in 0..warmup + steps {
        let t = Instant::now();
        let logits = net.forward(&Var::constant(x.clone())).expect("forward");
        let loss = wrt_nn::loss::cross_entropy(&logits, &y, None, -100, 0.0, Reduction::Mean).expect("loss");
        let t_fwd = t.elapsed();
        loss.backward().expect("backward");
        let t_bwd = t.elapsed();
        opt.step().expect("step");
        opt.zero_grad();
        if a.contains_key("phases") {
            let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
            eprintln!("forward {:.1} ms, backward {:.1} ms, optimizer {:.1} ms", ms(t_fwd), ms(t_bwd - t_fwd), ms(t.elapsed() - t_bwd));
        }
        let _: Tensor = loss.value().clone();
        if i >= warmup {
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    println!(
        "{{\"model\": \"satformer\", \"config\": {{\"dim\": {}, \"depth\": {}, \"heads\": {}, \"dim_head\": {}, \"attn\": \"{}\", \"batch\": {batch}}}, \
         \"threads\": {threads}, \"steps\": {steps}, \"median_ms\": {median:.2}, \"min_ms\": {:.2}, \"peak_rss_mib\": {:.1}, \"start_rss_mib\": {start_rss:.1}, \"params\": {n_params}}}",
        cfg.dim, cfg.depth, cfg.heads, cfg.dim_head, cfg.attn, times[0], status_mib("VmHWM:")
    );
}
