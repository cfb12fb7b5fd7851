use super::*;

/// Small deterministic generator for test data (xorshift64*).
pub(crate) struct Rng(u64);
impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub(crate) fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        ((self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64) / (1u64 << 53) as f64
    }
    /// Uniform in [-s, s).
    pub(crate) fn sym(&mut self, s: f64) -> f64 {
        (self.next_f64() * 2.0 - 1.0) * s
    }
    pub(crate) fn vec(&mut self, n: usize, s: f64) -> Vec<f64> {
        (0..n).map(|_| self.sym(s)).collect()
    }
}

fn naive_log_softmax(x: &[f64], cols: usize) -> Vec<f64> {
    let mut out = vec![0.0; x.len()];
    for (o, x) in out.chunks_mut(cols).zip(x.chunks(cols)) {
        let m = x.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let l = x.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
        for (o, v) in o.iter_mut().zip(x) {
            *o = v - m - l;
        }
    }
    out
}

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max)
}

const SHAPES: [(usize, usize); 10] = [
    (1, 1),
    (3, 3),
    (5, 15),
    (4, 16),
    (7, 17),
    (2, 31),
    (3, 33),
    (6, 100),
    (9, 512),
    (2, 1000),
];

#[test]
fn forward_backward_match_naive_all_isas_and_f64() {
    let mut rng = Rng::new(1);
    for &(rows, cols) in &SHAPES {
        let x = rng.vec(rows * cols, 8.0);
        let g = rng.vec(rows * cols, 1.0);
        let ls = naive_log_softmax(&x, cols);
        let sm: Vec<f64> = ls.iter().map(|v| v.exp()).collect();
        // Backward references from the formulas, in f64.
        let mut dsm = vec![0.0; x.len()];
        let mut dls = vec![0.0; x.len()];
        for r in 0..rows {
            let s = r * cols..(r + 1) * cols;
            let dot: f64 = g[s.clone()]
                .iter()
                .zip(&sm[s.clone()])
                .map(|(a, b)| a * b)
                .sum();
            let sum: f64 = g[s.clone()].iter().sum();
            for i in s {
                dsm[i] = sm[i] * (g[i] - dot);
                dls[i] = g[i] - sm[i] * sum;
            }
        }
        // f64
        let mut o = vec![0.0; x.len()];
        softmax_forward(&mut o, &x, rows, cols);
        assert!(max_abs_diff(&o, &sm) < 1e-14);
        log_softmax_forward(&mut o, &x, rows, cols);
        assert!(max_abs_diff(&o, &ls) < 1e-13);
        softmax_backward(&mut o, &g, &sm, rows, cols);
        assert!(max_abs_diff(&o, &dsm) < 1e-13);
        log_softmax_backward(&mut o, &g, &ls, rows, cols);
        assert!(max_abs_diff(&o, &dls) < 1e-13);
        // f32 on every ISA
        let f = |v: &[f64]| v.iter().map(|&a| a as f32).collect::<Vec<f32>>();
        let (x32, g32, sm32, ls32) = (f(&x), f(&g), f(&sm), f(&ls));
        for isa in available_isas() {
            let mut o = vec![0.0f32; x.len()];
            let d = |o: &[f32], r: &[f64]| {
                o.iter()
                    .zip(r)
                    .map(|(a, b)| (*a as f64 - b).abs())
                    .fold(0.0, f64::max)
            };
            rows_f32(isa, RowOp::Softmax, &mut o, &x32, &[], cols);
            assert!(
                d(&o, &sm) < 1e-6,
                "softmax {isa:?} {rows}x{cols}: {}",
                d(&o, &sm)
            );
            rows_f32(isa, RowOp::LogSoftmax, &mut o, &x32, &[], cols);
            assert!(
                d(&o, &ls) < 4e-6,
                "log_softmax {isa:?} {rows}x{cols}: {}",
                d(&o, &ls)
            );
            rows_f32(isa, RowOp::SoftmaxBwd, &mut o, &g32, &sm32, cols);
            assert!(
                d(&o, &dsm) < 1e-6,
                "softmax_bwd {isa:?} {rows}x{cols}: {}",
                d(&o, &dsm)
            );
            rows_f32(isa, RowOp::LogSoftmaxBwd, &mut o, &g32, &ls32, cols);
            assert!(
                d(&o, &dls) < 1e-5,
                "log_softmax_bwd {isa:?} {rows}x{cols}: {}",
                d(&o, &dls)
            );
        }
    }
}

#[test]
fn backward_matches_finite_differences() {
    // d/dx of sum(g * softmax(x)) and sum(g * log_softmax(x)) by central differences.
    let (rows, cols) = (3, 7);
    let mut rng = Rng::new(2);
    let x = rng.vec(rows * cols, 3.0);
    let g = rng.vec(rows * cols, 1.0);
    for log in [false, true] {
        let fwd = |x: &[f64]| {
            let mut o = vec![0.0; x.len()];
            if log {
                log_softmax_forward(&mut o, x, rows, cols)
            } else {
                softmax_forward(&mut o, x, rows, cols)
            }
            o
        };
        let y = fwd(&x);
        let mut dx = vec![0.0; x.len()];
        if log {
            log_softmax_backward(&mut dx, &g, &y, rows, cols)
        } else {
            softmax_backward(&mut dx, &g, &y, rows, cols)
        }
        let h = 1e-6;
        for i in 0..x.len() {
            let (mut xp, mut xm) = (x.clone(), x.clone());
            xp[i] += h;
            xm[i] -= h;
            let fp: f64 = fwd(&xp).iter().zip(&g).map(|(a, b)| a * b).sum();
            let fm: f64 = fwd(&xm).iter().zip(&g).map(|(a, b)| a * b).sum();
            let num = (fp - fm) / (2.0 * h);
            assert!(
                (num - dx[i]).abs() < 1e-6,
                "log={log} i={i}: {num} vs {}",
                dx[i]
            );
        }
    }
}

#[test]
fn edge_rows() {
    let ninf = f32::NEG_INFINITY;
    // all -inf -> NaN (PyTorch); partly -inf -> exact zeros there; huge values stay finite.
    let x = [ninf, ninf, ninf, 1.0, ninf, 1.0, 1e30, 1e30 - 1e24, 3e38];
    for isa in available_isas() {
        let mut o = [0.0f32; 9];
        rows_f32(isa, RowOp::Softmax, &mut o, &x, &[], 3);
        assert!(o[..3].iter().all(|v| v.is_nan()), "{isa:?} {o:?}");
        assert_eq!(&o[3..6], &[0.5, 0.0, 0.5]);
        assert_eq!(o[8], 1.0);
        rows_f32(isa, RowOp::LogSoftmax, &mut o, &x, &[], 3);
        assert!(o[..3].iter().all(|v| v.is_nan()));
        assert_eq!(o[4], ninf);
        assert!((o[3] + std::f32::consts::LN_2).abs() < 1e-7);
        // A NaN anywhere in a row poisons the row.
        let xn = [1.0, f32::NAN, 2.0];
        rows_f32(isa, RowOp::Softmax, &mut o[..3], &xn, &[], 3);
        assert!(o[..3].iter().all(|v| v.is_nan()));
    }
}

#[test]
fn deterministic_across_thread_counts() {
    let (rows, cols) = (300, 77);
    let mut rng = Rng::new(3);
    let x: Vec<f32> = rng
        .vec(rows * cols, 5.0)
        .iter()
        .map(|&v| v as f32)
        .collect();
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let mut o = vec![0.0f32; x.len()];
            softmax_forward(&mut o, &x, rows, cols);
            o
        })
    };
    let (a, b) = (run(1), run(2));
    assert!(a.iter().zip(&b).all(|(a, b)| a.to_bits() == b.to_bits()));
}

// ---------------------------------------------------------------------------------------------
// Cross-entropy.

/// PyTorch's composition: log_softmax, nll with weights, smoothing term (see the module doc).
fn naive_ce(
    x: &[f64],
    t: &[i64],
    w: Option<&[f64]>,
    eps: f64,
    ignore: i64,
    c: usize,
) -> (Vec<f64>, Vec<f64>) {
    let ls = naive_log_softmax(x, c);
    let mut loss = vec![0.0; t.len()];
    let mut wu = vec![0.0; t.len()];
    for i in 0..t.len() {
        if t[i] == ignore {
            continue;
        }
        let ti = t[i] as usize;
        let wc = |k: usize| w.map_or(1.0, |w| w[k]);
        let smooth: f64 = (0..c).map(|k| -wc(k) * ls[i * c + k]).sum();
        loss[i] = (1.0 - eps) * wc(ti) * -ls[i * c + ti] + eps / c as f64 * smooth;
        wu[i] = wc(ti);
    }
    (loss, wu)
}

#[test]
fn cross_entropy_forward_backward() {
    let (rows, c) = (6, 5);
    let mut rng = Rng::new(4);
    let x = rng.vec(rows * c, 4.0);
    let t: Vec<i64> = vec![0, 4, -100, 2, 1, 3];
    let wts: Vec<f64> = (0..c).map(|k| 0.5 + k as f64 * 0.3).collect();
    for w in [None, Some(&wts[..])] {
        for eps in [0.0, 0.1] {
            let (rl, rw) = naive_ce(&x, &t, w, eps, -100, c);
            let (mut l, mut wu) = (vec![0.0; rows], vec![0.0; rows]);
            cross_entropy_forward(&mut l, &mut wu, &x, &t, w, eps, -100, rows, c);
            assert!(max_abs_diff(&l, &rl) < 1e-13, "{l:?} {rl:?}");
            assert_eq!(wu, rw);
            // f32 path too.
            let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
            let w32: Option<Vec<f32>> = w.map(|w| w.iter().map(|&v| v as f32).collect());
            let (mut l32, mut wu32) = (vec![0.0f32; rows], vec![0.0f32; rows]);
            cross_entropy_forward(
                &mut l32,
                &mut wu32,
                &x32,
                &t,
                w32.as_deref(),
                eps as f32,
                -100,
                rows,
                c,
            );
            assert!(l32
                .iter()
                .zip(&rl)
                .all(|(a, b)| (*a as f64 - b).abs() < 1e-5));
            // Backward of the mean loss against central differences.
            let mean = |x: &[f64]| {
                let (l, wu) = naive_ce(x, &t, w, eps, -100, c);
                l.iter().sum::<f64>() / wu.iter().sum::<f64>()
            };
            let denom: f64 = rw.iter().sum();
            let dloss = vec![1.0 / denom; rows];
            let mut dx = vec![0.0; rows * c];
            cross_entropy_backward(&mut dx, &dloss, &x, &t, w, eps, -100, rows, c);
            let h = 1e-6;
            for i in 0..x.len() {
                let (mut xp, mut xm) = (x.clone(), x.clone());
                xp[i] += h;
                xm[i] -= h;
                let num = (mean(&xp) - mean(&xm)) / (2.0 * h);
                assert!(
                    (num - dx[i]).abs() < 1e-7,
                    "w={} eps={eps} i={i}: {num} vs {}",
                    w.is_some(),
                    dx[i]
                );
            }
        }
    }
}

#[test]
fn cross_entropy_large_logits_stable() {
    let x = [1e4f32, 1e4 - 1.0, 0.0];
    let (mut l, mut w) = ([0.0f32], [0.0f32]);
    cross_entropy_forward(&mut l, &mut w, &x, &[1], None, 0.1, -100, 1, 3);
    let lse = (1.0f64 + (-1.0f64).exp()).ln();
    let want = 0.9 * (1.0 + lse) + 0.1 / 3.0 * ((0.0 + lse) + (1.0 + lse) + (1e4 + lse));
    assert!(
        (l[0] as f64 - want).abs() < 1e-3 * want.abs(),
        "{} vs {want}",
        l[0]
    );
}
