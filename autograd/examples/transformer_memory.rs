//! Peak host memory of a 12-layer pre-norm transformer stack, measured with a counting global allocator.
//!
//! `cargo run --release -p wrt-autograd --example transformer_memory`
//!
//! Each block: `x + proj(attn(ln1(x)))`, then `x + fc2(gelu(fc1(ln2(x))))`, with `Var::layer_norm`, Linear as
//! `matmul + add`, `fused::scaled_dot_product_attention` and `fused::gelu`. Dim 256, 8 heads, seq 257,
//! batch 8, f32. Measured, relative to a baseline holding the parameters and the input:
//! (a) forward under `no_grad` (only the live activations of one block at a time),
//! (b) forward with the graph (everything backward will need is held until the loss is dropped),
//! (c) forward + backward (the graph plus the gradients in flight),
//! and after backward, dropping the loss and the parameters' grads, current memory must return to the
//! baseline: the graph's saved tensors are all freed.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use wrt_autograd::{fused, no_grad, DType, Result, Tensor, Var};
use wrt_tensor::Generator;

/// `System`, counting live bytes and their high-water mark.
struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(n: usize) {
    let now = CURRENT.fetch_add(n, Relaxed) + n;
    PEAK.fetch_max(now, Relaxed);
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = System.alloc(l);
        if !p.is_null() {
            grew(l.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(l);
        if !p.is_null() {
            grew(l.size());
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l);
        CURRENT.fetch_sub(l.size(), Relaxed);
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new_size: usize) -> *mut u8 {
        let q = System.realloc(p, l, new_size);
        if !q.is_null() {
            CURRENT.fetch_sub(l.size(), Relaxed);
            grew(new_size);
        }
        q
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn current() -> usize {
    CURRENT.load(Relaxed)
}
/// Start a new high-water mark from the current level.
fn reset_peak() {
    PEAK.store(current(), Relaxed);
}
fn peak() -> usize {
    PEAK.load(Relaxed)
}
fn mib(b: usize) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

const LAYERS: usize = 12;
const DIM: usize = 256;
const HEADS: usize = 8;
const SEQ: usize = 257;
const BATCH: usize = 8;
const HIDDEN: usize = 4 * DIM;

/// `x @ w + b`.
struct Linear {
    w: Var,
    b: Var,
}

impl Linear {
    fn new(rng: &mut Generator, fan_in: usize, fan_out: usize) -> Result<Linear> {
        let w = rng.normal(&[fan_in, fan_out], 0.0, 1.0 / (fan_in as f64).sqrt(), DType::F32)?;
        Ok(Linear { w: Var::new(w, true), b: Var::new(Tensor::zeros(&[fan_out], DType::F32)?, true) })
    }
    fn forward(&self, x: &Var) -> Result<Var> {
        x.matmul(&self.w)?.add(&self.b)
    }
}

struct Norm {
    w: Var,
    b: Var,
}

impl Norm {
    fn new() -> Result<Norm> {
        Ok(Norm { w: Var::new(Tensor::ones(&[DIM], DType::F32)?, true), b: Var::new(Tensor::zeros(&[DIM], DType::F32)?, true) })
    }
    fn forward(&self, x: &Var) -> Result<Var> {
        x.layer_norm(&[DIM], Some(&self.w), Some(&self.b), 1e-5)
    }
}

struct Block {
    ln1: Norm,
    qkv: Linear,
    proj: Linear,
    ln2: Norm,
    fc1: Linear,
    fc2: Linear,
}

impl Block {
    fn new(rng: &mut Generator) -> Result<Block> {
        Ok(Block {
            ln1: Norm::new()?,
            qkv: Linear::new(rng, DIM, 3 * DIM)?,
            proj: Linear::new(rng, DIM, DIM)?,
            ln2: Norm::new()?,
            fc1: Linear::new(rng, DIM, HIDDEN)?,
            fc2: Linear::new(rng, HIDDEN, DIM)?,
        })
    }

    fn params(&self) -> Vec<&Var> {
        let mut p = vec![&self.ln1.w, &self.ln1.b, &self.ln2.w, &self.ln2.b];
        for l in [&self.qkv, &self.proj, &self.fc1, &self.fc2] {
            p.extend([&l.w, &l.b]);
        }
        p
    }

    /// x: [B, T, D].
    fn forward(&self, x: &Var) -> Result<Var> {
        let (b, t) = (x.shape()[0], x.shape()[1]);
        // attention: q, k, v as strided [B, H, T, D/H] views of the qkv projection (no copies)
        let qkv = self.qkv.forward(&self.ln1.forward(x)?)?.reshape(&[b as isize, t as isize, 3, HEADS as isize, -1])?;
        let head = |i: usize| qkv.select(2, i)?.transpose(1, 2);
        let (q, k, v) = (head(0)?, head(1)?, head(2)?);
        let a = fused::scaled_dot_product_attention(&q, &k, &v, None, 0.0, false, None, None)?;
        let a = a.transpose(1, 2)?.reshape(&[b as isize, t as isize, DIM as isize])?;
        let x = x.add(&self.proj.forward(&a)?)?;
        // MLP
        let h = fused::gelu(&self.fc1.forward(&self.ln2.forward(&x)?)?, false)?;
        x.add(&self.fc2.forward(&h)?)
    }
}

fn forward(blocks: &[Block], x: &Var) -> Result<Var> {
    let mut h = x.clone();
    for blk in blocks {
        h = blk.forward(&h)?;
    }
    Ok(h)
}

/// One forward + backward with the parameters' grads cleared afterwards (also the warm-up: thread pools and
/// per-thread GEMM buffers are allocated once, before the baseline is taken).
fn train_step(blocks: &[Block], x: &Var) -> Result<()> {
    forward(blocks, x)?.mean_all()?.backward()?;
    blocks.iter().flat_map(|b| b.params()).for_each(|p| p.zero_grad());
    Ok(())
}

fn main() -> Result<()> {
    let t0 = std::time::Instant::now();
    let mut rng = Generator::new(0);
    let blocks: Vec<Block> = (0..LAYERS).map(|_| Block::new(&mut rng)).collect::<Result<_>>()?;
    let x = Var::constant(rng.randn(&[BATCH, SEQ, DIM], DType::F32)?);
    let params: Vec<&Var> = blocks.iter().flat_map(|b| b.params()).collect();
    let n_params: usize = params.iter().map(|p| p.value().numel()).sum();
    let param_bytes = n_params * 4;
    let act_bytes = BATCH * SEQ * DIM * 4; // one [B, T, D] f32 activation

    train_step(&blocks, &x)?;
    let baseline = current();

    // (a) forward, no graph
    reset_peak();
    no_grad(|| forward(&blocks, &x).map(drop))?;
    let peak_nograd = peak() - baseline;

    // (b) forward with the graph, (c) plus backward
    reset_peak();
    let loss = forward(&blocks, &x)?.mean_all()?;
    let held_graph = current() - baseline;
    let peak_fwd = peak() - baseline;
    loss.backward()?;
    let peak_fwd_bwd = peak() - baseline;
    let after_backward = current() - baseline; // the graph is freed by backward; the params' grads remain
    drop(loss);
    let after_drop = current() - baseline;
    params.iter().for_each(|p| p.zero_grad());
    let after_zero_grad = current() as isize - baseline as isize;

    println!("12-layer pre-norm transformer, dim {DIM}, heads {HEADS}, seq {SEQ}, batch {BATCH}, f32");
    println!("parameters: {n_params} ({:.1} MiB); one [B, T, D] activation: {:.2} MiB", mib(param_bytes), mib(act_bytes));
    println!("baseline (params + input + warm-up caches): {:.1} MiB", mib(baseline));
    println!();
    println!("| measurement (above baseline) | MiB | [B, T, D] activations | per layer |");
    println!("| --- | ---: | ---: | ---: |");
    let row = |name: &str, b: usize| {
        println!("| {name} | {:.1} | {:.1} | {:.1} |", mib(b), b as f64 / act_bytes as f64, b as f64 / act_bytes as f64 / LAYERS as f64)
    };
    row("(a) peak, forward under no_grad", peak_nograd);
    row("(b) peak, forward with graph", peak_fwd);
    row("    held by the graph after forward", held_graph);
    row("(c) peak, forward + backward", peak_fwd_bwd);
    row("    after backward (param grads)", after_backward);
    row("    after dropping the loss", after_drop);
    println!();
    // After backward and dropping the loss, only the parameters' gradients may remain; after zero_grad, nothing.
    let slack = act_bytes / 4;
    let grads_ok = after_drop.abs_diff(param_bytes) <= slack;
    let freed_ok = after_zero_grad.unsigned_abs() <= slack;
    println!(
        "check: after dropping the loss {:.2} MiB above baseline vs {:.2} MiB of parameter grads: {}",
        mib(after_drop),
        mib(param_bytes),
        if grads_ok { "ok" } else { "LEAK" }
    );
    println!(
        "check: after zero_grad {:+.3} MiB from baseline (slack {:.2} MiB): {}",
        after_zero_grad as f64 / (1024.0 * 1024.0),
        mib(slack),
        if freed_ok { "ok (intermediates freed)" } else { "LEAK" }
    );
    println!("total time {:.1} s", t0.elapsed().as_secs_f64());
    if !(grads_ok && freed_ok) {
        std::process::exit(1);
    }
    Ok(())
}
