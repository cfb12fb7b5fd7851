//! Conv kernels against direct loops written from the definitions, in f64, plus the adjoint
//! identities `<conv(x), g> == <x, conv_backward_input(g)>` and the weight analogue.

use super::*;

/// Small deterministic generator (xorshift), values in [-1, 1).
struct Rng(u64);
impl Rng {
    fn vec(&mut self, n: usize) -> Vec<f64> {
        (0..n)
            .map(|_| {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                (self.0 >> 11) as f64 / (1u64 << 52) as f64 - 1.0
            })
            .collect()
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn assert_close(what: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * (1.0 + w.abs()),
            "{what}[{i}]: got {g}, want {w}"
        );
    }
}

fn assert_scalar(what: &str, a: f64, b: f64) {
    assert!(
        (a - b).abs() <= 1e-10 * (1.0 + a.abs().max(b.abs())),
        "{what}: {a} vs {b}"
    );
}

/// Every (output index, input index, weight index) triple of a convolution, straight from
/// `out[n,co,o] += w[co,ci,k] * inp[n,g*cig+ci, o*s - p + k*d]`.
fn conv_taps(p: &ConvParams, mut f: impl FnMut(usize, usize, usize)) {
    let od = p.out_dims();
    let (cig, cog) = (p.c_in / p.groups, p.c_out / p.groups);
    let id = p.in_dims;
    for n in 0..p.n {
        for co in 0..p.c_out {
            let grp = co / cog;
            for o in 0..od.iter().product::<usize>() {
                let oc = [o / (od[1] * od[2]), o / od[2] % od[1], o % od[2]];
                for ci in 0..cig {
                    for k in 0..p.kernel.iter().product::<usize>() {
                        let kc = [
                            k / (p.kernel[1] * p.kernel[2]),
                            k / p.kernel[2] % p.kernel[1],
                            k % p.kernel[2],
                        ];
                        let ic: [isize; 3] = std::array::from_fn(|a| {
                            (oc[a] * p.stride[a] + kc[a] * p.dilation[a]) as isize
                                - p.padding[a] as isize
                        });
                        if (0..3).any(|a| ic[a] < 0 || ic[a] as usize >= id[a]) {
                            continue;
                        }
                        let i =
                            ((ic[0] as usize) * id[1] + ic[1] as usize) * id[2] + ic[2] as usize;
                        let c = grp * cig + ci;
                        f(
                            (n * p.c_out + co) * od.iter().product::<usize>() + o,
                            (n * p.c_in + c) * id.iter().product::<usize>() + i,
                            (co * cig + ci) * p.kernel.iter().product::<usize>() + k,
                        );
                    }
                }
            }
        }
    }
}

/// The same for a transposed convolution, from PyTorch's definition:
/// `out[n, g*cog+co, i*s - p + k*d] += w[ci, co, k] * inp[n, ci, i]`.
/// Yields (output index, input index, weight index).
fn transpose_taps(p: &ConvTransposeParams, mut f: impl FnMut(usize, usize, usize)) {
    let od = p.out_dims();
    let id = p.in_dims;
    let (cig, cog) = (p.c_in / p.groups, p.c_out / p.groups);
    let ks: usize = p.kernel.iter().product();
    for n in 0..p.n {
        for ci in 0..p.c_in {
            let grp = ci / cig;
            for i in 0..id.iter().product::<usize>() {
                let ic = [i / (id[1] * id[2]), i / id[2] % id[1], i % id[2]];
                for co in 0..cog {
                    for k in 0..ks {
                        let kc = [
                            k / (p.kernel[1] * p.kernel[2]),
                            k / p.kernel[2] % p.kernel[1],
                            k % p.kernel[2],
                        ];
                        let oc: [isize; 3] = std::array::from_fn(|a| {
                            (ic[a] * p.stride[a] + kc[a] * p.dilation[a]) as isize
                                - p.padding[a] as isize
                        });
                        if (0..3).any(|a| oc[a] < 0 || oc[a] as usize >= od[a]) {
                            continue;
                        }
                        let o =
                            ((oc[0] as usize) * od[1] + oc[1] as usize) * od[2] + oc[2] as usize;
                        f(
                            (n * p.c_out + grp * cog + co) * od.iter().product::<usize>() + o,
                            (n * p.c_in + ci) * id.iter().product::<usize>() + i,
                            (ci * cog + co) * ks + k,
                        );
                    }
                }
            }
        }
    }
}

fn bias_sum(dout: &[f64], n: usize, c: usize) -> Vec<f64> {
    let s = dout.len() / (n * c).max(1);
    (0..c)
        .map(|ci| {
            (0..n)
                .map(|ni| dout[(ni * c + ci) * s..][..s].iter().sum::<f64>())
                .sum()
        })
        .collect()
}

fn check_conv(p: ConvParams, seed: u64) {
    let mut rng = Rng(seed);
    let (x, w, b, g) = (
        rng.vec(p.in_len()),
        rng.vec(p.weight_len()),
        rng.vec(p.c_out),
        rng.vec(p.out_len()),
    );
    let sp = p.out_len() / (p.n * p.c_out);

    // Forward, with and without bias.
    let mut want = vec![0.0; p.out_len()];
    conv_taps(&p, |o, i, k| want[o] += w[k] * x[i]);
    let mut got = vec![f64::NAN; p.out_len()];
    conv_forward(&mut got, &x, &w, None, &p);
    assert_close("forward", &got, &want, 1e-12);
    for (j, v) in want.iter_mut().enumerate() {
        *v += b[j / sp % p.c_out];
    }
    conv_forward(&mut got, &x, &w, Some(&b), &p);
    assert_close("forward+bias", &got, &want, 1e-12);

    // Backward input: naive scatter, and the adjoint identity.
    let mut want_dx = vec![0.0; p.in_len()];
    conv_taps(&p, |o, i, k| want_dx[i] += w[k] * g[o]);
    let mut dx = vec![f64::NAN; p.in_len()];
    conv_backward_input(&mut dx, &g, &w, &p);
    assert_close("backward input", &dx, &want_dx, 1e-12);
    conv_forward(&mut got, &x, &w, None, &p);
    assert_scalar(
        "adjoint <conv(x), g> = <x, dx>",
        dot(&got, &g),
        dot(&x, &dx),
    );

    // Backward weight and bias: naive, and the adjoint identity in w.
    let mut want_dw = vec![0.0; p.weight_len()];
    conv_taps(&p, |o, i, k| want_dw[k] += x[i] * g[o]);
    let (mut dw, mut db) = (vec![f64::NAN; p.weight_len()], vec![f64::NAN; p.c_out]);
    conv_backward_weight(&mut dw, Some(&mut db), &g, &x, &p);
    assert_close("backward weight", &dw, &want_dw, 1e-12);
    assert_close("backward bias", &db, &bias_sum(&g, p.n, p.c_out), 1e-12);
    assert_scalar(
        "adjoint <conv_w(x), g> = <w, dw>",
        dot(&got, &g),
        dot(&w, &dw),
    );
    let mut dw2 = vec![f64::NAN; p.weight_len()];
    conv_backward_weight(&mut dw2, None, &g, &x, &p);
    assert_eq!(dw, dw2, "dbias must not change dweight");
}

fn check_transpose(p: ConvTransposeParams, seed: u64) {
    let mut rng = Rng(seed);
    let (x, w, b, g) = (
        rng.vec(p.in_len()),
        rng.vec(p.weight_len()),
        rng.vec(p.c_out),
        rng.vec(p.out_len()),
    );
    let sp = p.out_len() / (p.n * p.c_out);

    let mut want = vec![0.0; p.out_len()];
    transpose_taps(&p, |o, i, k| want[o] += w[k] * x[i]);
    for (j, v) in want.iter_mut().enumerate() {
        *v += b[j / sp % p.c_out];
    }
    let mut got = vec![f64::NAN; p.out_len()];
    conv_transpose_forward(&mut got, &x, &w, Some(&b), &p);
    assert_close("transpose forward", &got, &want, 1e-12);

    let mut want_dx = vec![0.0; p.in_len()];
    transpose_taps(&p, |o, i, k| want_dx[i] += w[k] * g[o]);
    let mut dx = vec![f64::NAN; p.in_len()];
    conv_transpose_backward_input(&mut dx, &g, &w, &p);
    assert_close("transpose backward input", &dx, &want_dx, 1e-12);
    conv_transpose_forward(&mut got, &x, &w, None, &p);
    assert_scalar("transpose adjoint in x", dot(&got, &g), dot(&x, &dx));

    let mut want_dw = vec![0.0; p.weight_len()];
    transpose_taps(&p, |o, i, k| want_dw[k] += x[i] * g[o]);
    let (mut dw, mut db) = (vec![f64::NAN; p.weight_len()], vec![f64::NAN; p.c_out]);
    conv_transpose_backward_weight(&mut dw, Some(&mut db), &g, &x, &p);
    assert_close("transpose backward weight", &dw, &want_dw, 1e-12);
    assert_close(
        "transpose backward bias",
        &db,
        &bias_sum(&g, p.n, p.c_out),
        1e-12,
    );
    assert_scalar("transpose adjoint in w", dot(&got, &g), dot(&w, &dw));
}

fn c(n: usize, c_in: usize, c_out: usize, in_dims: [usize; 3], kernel: [usize; 3]) -> ConvParams {
    ConvParams::new(n, c_in, c_out, in_dims, kernel)
}

#[test]
fn conv1d() {
    check_conv(
        ConvParams {
            stride: [1, 1, 2],
            padding: [0, 0, 1],
            ..c(2, 3, 4, [1, 1, 11], [1, 1, 3])
        },
        1,
    );
    check_conv(
        ConvParams {
            padding: [0, 0, 2],
            dilation: [1, 1, 2],
            ..c(3, 2, 5, [1, 1, 13], [1, 1, 3])
        },
        2,
    );
    check_conv(
        ConvParams {
            groups: 2,
            stride: [1, 1, 3],
            ..c(1, 4, 2, [1, 1, 17], [1, 1, 4])
        },
        3,
    );
    // Kernel wider than the input: only the padding makes room.
    check_conv(
        ConvParams {
            padding: [0, 0, 3],
            ..c(2, 2, 3, [1, 1, 2], [1, 1, 5])
        },
        4,
    );
}

#[test]
fn conv2d() {
    check_conv(
        ConvParams {
            padding: [0, 1, 1],
            ..c(2, 3, 4, [1, 8, 8], [1, 3, 3])
        },
        5,
    );
    check_conv(
        ConvParams {
            groups: 2,
            stride: [1, 2, 1],
            padding: [0, 1, 2],
            dilation: [1, 1, 2],
            ..c(3, 4, 6, [1, 7, 9], [1, 3, 2])
        },
        6,
    );
    check_conv(
        ConvParams {
            stride: [1, 2, 2],
            padding: [0, 3, 3],
            ..c(2, 3, 5, [1, 15, 13], [1, 7, 7])
        },
        7,
    );
    // Stride larger than the kernel (taps skip input pixels), padding on one odd size.
    check_conv(
        ConvParams {
            stride: [1, 3, 2],
            padding: [0, 1, 0],
            ..c(2, 2, 3, [1, 10, 9], [1, 2, 1])
        },
        8,
    );
}

#[test]
fn conv2d_depthwise() {
    check_conv(
        ConvParams {
            groups: 5,
            padding: [0, 1, 1],
            ..c(2, 5, 5, [1, 9, 7], [1, 3, 3])
        },
        9,
    );
    // Channel multiplier 2.
    check_conv(
        ConvParams {
            groups: 3,
            stride: [1, 2, 2],
            padding: [0, 2, 2],
            ..c(2, 3, 6, [1, 8, 11], [1, 5, 5])
        },
        10,
    );
}

#[test]
fn conv3d() {
    check_conv(
        ConvParams {
            stride: [2, 1, 2],
            padding: [1, 1, 0],
            dilation: [1, 2, 1],
            ..c(2, 2, 3, [5, 6, 4], [2, 3, 3])
        },
        11,
    );
    check_conv(
        ConvParams {
            groups: 2,
            padding: [1, 1, 1],
            ..c(1, 4, 4, [3, 5, 6], [3, 3, 3])
        },
        12,
    );
    check_conv(
        ConvParams {
            stride: [1, 4, 4],
            ..c(3, 3, 5, [2, 8, 8], [2, 4, 4])
        },
        13,
    );
}

#[test]
fn conv_pointwise_and_strided_1x1() {
    check_conv(c(2, 8, 5, [1, 6, 7], [1, 1, 1]), 14);
    check_conv(
        ConvParams {
            groups: 4,
            ..c(3, 8, 4, [1, 5, 5], [1, 1, 1])
        },
        15,
    );
    check_conv(c(2, 3, 2, [3, 4, 5], [1, 1, 1]), 16);
    check_conv(
        ConvParams {
            stride: [1, 2, 2],
            ..c(2, 4, 3, [1, 7, 6], [1, 1, 1])
        },
        17,
    );
    check_conv(
        ConvParams {
            padding: [0, 1, 1],
            ..c(1, 2, 3, [1, 3, 3], [1, 1, 1])
        },
        18,
    );
}

#[test]
fn conv_small_planes_in_item_blocks() {
    // Output planes of at most 16 positions take the multi-item path: several blocks, the last
    // one partial, with stride, padding and groups (the test budget fits a few items per block).
    let cases = [
        ConvParams { stride: [1, 2, 2], padding: [0, 1, 1], ..c(11, 4, 6, [1, 6, 6], [1, 3, 3]) },
        ConvParams { stride: [1, 2, 2], groups: 2, ..c(30, 16, 12, [1, 4, 5], [1, 1, 1]) },
        ConvParams { padding: [0, 1, 1], ..c(40, 8, 3, [1, 1, 1], [1, 3, 3]) },
    ];
    for (i, p) in cases.into_iter().enumerate() {
        let b = p.geom().items_per_block().expect("a small plane takes the block path");
        assert!(b >= 2 && b < p.n, "case {i}: {b} items per block of {}", p.n);
        check_conv(p, 40 + i as u64);
        same_for_any_thread_count(p, 50 + i as u64);
    }
}

#[test]
fn conv_many_batch_items() {
    // More items than weight-gradient parts, not a multiple of them.
    check_conv(
        ConvParams {
            padding: [0, 1, 1],
            ..c(7, 2, 3, [1, 5, 6], [1, 3, 3])
        },
        19,
    );
    check_conv(c(9, 3, 2, [1, 1, 4], [1, 1, 1]), 20);
}

#[test]
fn conv_f32_matches_f64() {
    let p = ConvParams {
        groups: 2,
        stride: [1, 2, 1],
        padding: [0, 1, 1],
        ..c(3, 4, 6, [1, 9, 10], [1, 3, 3])
    };
    let mut rng = Rng(21);
    let (x, w, b) = (
        rng.vec(p.in_len()),
        rng.vec(p.weight_len()),
        rng.vec(p.c_out),
    );
    let mut want = vec![0.0; p.out_len()];
    conv_forward(&mut want, &x, &w, Some(&b), &p);
    let f = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
    let mut got = vec![0f32; p.out_len()];
    conv_forward(&mut got, &f(&x), &f(&w), Some(&f(&b)), &p);
    let got: Vec<f64> = got.iter().map(|&v| v as f64).collect();
    assert_close("f32 forward", &got, &want, 1e-5);
}

fn t(
    n: usize,
    c_in: usize,
    c_out: usize,
    in_dims: [usize; 3],
    kernel: [usize; 3],
) -> ConvTransposeParams {
    ConvTransposeParams::new(n, c_in, c_out, in_dims, kernel)
}

#[test]
fn conv_transpose() {
    check_transpose(
        ConvTransposeParams {
            stride: [1, 1, 2],
            padding: [0, 0, 1],
            output_padding: [0, 0, 1],
            ..t(2, 3, 4, [1, 1, 5], [1, 1, 3])
        },
        31,
    );
    check_transpose(
        ConvTransposeParams {
            groups: 2,
            stride: [1, 2, 3],
            padding: [0, 1, 0],
            output_padding: [0, 1, 2],
            dilation: [1, 1, 2],
            ..t(2, 4, 6, [1, 4, 5], [1, 3, 2])
        },
        32,
    );
    check_transpose(
        ConvTransposeParams {
            stride: [2, 2, 1],
            padding: [1, 0, 1],
            output_padding: [1, 0, 0],
            ..t(2, 2, 3, [3, 3, 4], [3, 2, 3])
        },
        33,
    );
    // output_padding >= stride is legal when smaller than the dilation.
    check_transpose(
        ConvTransposeParams {
            dilation: [1, 2, 2],
            output_padding: [0, 1, 1],
            ..t(2, 2, 3, [1, 4, 4], [1, 3, 3])
        },
        34,
    );
    // Pointwise and depthwise transposed.
    check_transpose(t(3, 4, 2, [1, 3, 5], [1, 1, 1]), 35);
    check_transpose(
        ConvTransposeParams {
            groups: 3,
            stride: [1, 2, 2],
            output_padding: [0, 1, 0],
            ..t(2, 3, 3, [1, 5, 4], [1, 4, 4])
        },
        36,
    );
    // The classic 2x upsampler: kernel 4, stride 2, padding 1.
    check_transpose(
        ConvTransposeParams {
            stride: [1, 2, 2],
            padding: [0, 1, 1],
            ..t(5, 3, 2, [1, 4, 4], [1, 4, 4])
        },
        37,
    );
}

#[test]
fn thread_count_does_not_change_results() {
    // Large items (run one by one, threads inside) and small ones (items side by side, the
    // weight gradient summed from fixed batch parts).
    let big = ConvParams {
        stride: [1, 1, 2],
        padding: [0, 1, 1],
        ..c(6, 5, 7, [1, 13, 17], [1, 3, 3])
    };
    let small = ConvParams {
        groups: 5,
        padding: [0, 1, 1],
        ..c(7, 5, 5, [1, 9, 8], [1, 3, 3])
    };
    assert!(big.geom().serial_items() && !small.geom().serial_items());
    same_for_any_thread_count(big, 41);
    same_for_any_thread_count(small, 42);
}

fn same_for_any_thread_count(p: ConvParams, seed: u64) {
    let mut rng = Rng(seed);
    let f = |v: Vec<f64>| v.into_iter().map(|x| x as f32).collect::<Vec<f32>>();
    let (x, w, b, g) = (
        f(rng.vec(p.in_len())),
        f(rng.vec(p.weight_len())),
        f(rng.vec(p.c_out)),
        f(rng.vec(p.out_len())),
    );
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("thread pool");
        pool.install(|| {
            let mut y = vec![0f32; p.out_len()];
            conv_forward(&mut y, &x, &w, Some(&b), &p);
            let mut dx = vec![0f32; p.in_len()];
            conv_backward_input(&mut dx, &g, &w, &p);
            let (mut dw, mut db) = (vec![0f32; p.weight_len()], vec![0f32; p.c_out]);
            conv_backward_weight(&mut dw, Some(&mut db), &g, &x, &p);
            (y, dx, dw, db)
        })
    };
    let one = run(1);
    for threads in [2, 3] {
        let other = run(threads);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<u32>>();
        assert_eq!(
            bits(&one.0),
            bits(&other.0),
            "forward differs with {threads} threads"
        );
        assert_eq!(
            bits(&one.1),
            bits(&other.1),
            "backward input differs with {threads} threads"
        );
        assert_eq!(
            bits(&one.2),
            bits(&other.2),
            "backward weight differs with {threads} threads"
        );
        assert_eq!(
            bits(&one.3),
            bits(&other.3),
            "backward bias differs with {threads} threads"
        );
    }
}
