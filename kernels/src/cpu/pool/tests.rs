//! Pooling against direct loops over every kernel tap, written from the definitions.

use super::*;

fn rand(n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 52) as f64 - 1.0
        })
        .collect()
}

/// Taps of output `o` along one axis, straight from the definition `o*s - p + k*d`:
/// (input coordinate or None in the padding, whether the tap is before `in + p`).
fn taps(
    o: usize,
    k: usize,
    s: usize,
    p: usize,
    d: usize,
    inp: usize,
) -> Vec<(Option<usize>, bool)> {
    (0..k)
        .map(|t| {
            let i = (o * s + t * d) as isize - p as isize;
            (
                (i >= 0 && (i as usize) < inp).then_some(i as usize),
                i < (inp + p) as isize,
            )
        })
        .collect()
}

/// For every (plane, output), the list of (input index or None, counts-with-padding).
fn windows(p: &PoolParams) -> Vec<Vec<(Option<usize>, bool)>> {
    let od = p.out_dims();
    let id = p.in_dims;
    let mut all = Vec::new();
    for o in 0..od.iter().product::<usize>() {
        let oc = [o / (od[1] * od[2]), o / od[2] % od[1], o % od[2]];
        let t: [_; 3] = std::array::from_fn(|a| {
            taps(
                oc[a],
                p.kernel[a],
                p.stride[a],
                p.padding[a],
                p.dilation[a],
                id[a],
            )
        });
        let mut w = Vec::new();
        for (z, zp) in &t[0] {
            for (y, yp) in &t[1] {
                for (x, xp) in &t[2] {
                    let i = z
                        .zip(*y)
                        .zip(*x)
                        .map(|((z, y), x)| (z * id[1] + y) * id[2] + x);
                    w.push((i, *zp && *yp && *xp));
                }
            }
        }
        all.push(w);
    }
    all
}

fn naive_max(p: &PoolParams, x: &[f64]) -> (Vec<f64>, Vec<i64>) {
    let (pi, wins) = (p.in_dims.iter().product::<usize>(), windows(p));
    let (mut out, mut idx) = (Vec::new(), Vec::new());
    for plane in x.chunks(pi) {
        for w in &wins {
            let (mut best, mut at) = (f64::NEG_INFINITY, None);
            for &(i, _) in w {
                if let Some(i) = i {
                    if at.is_none() || plane[i] > best || plane[i].is_nan() {
                        (best, at) = (plane[i], Some(i));
                    }
                }
            }
            out.push(best);
            idx.push(at.expect("test windows are never empty") as i64);
        }
    }
    (out, idx)
}

fn naive_avg(p: &PoolParams, x: &[f64]) -> Vec<f64> {
    let (pi, wins) = (p.in_dims.iter().product::<usize>(), windows(p));
    let mut out = Vec::new();
    for plane in x.chunks(pi) {
        for w in &wins {
            let valid: Vec<usize> = w.iter().filter_map(|t| t.0).collect();
            let padded = w.iter().filter(|t| t.1).count();
            let div = p.divisor_override.unwrap_or(if p.count_include_pad {
                padded
            } else {
                valid.len()
            });
            out.push(if valid.is_empty() {
                0.0
            } else {
                valid.iter().map(|&i| plane[i]).sum::<f64>() / div as f64
            });
        }
    }
    out
}

fn close(what: &str, a: &[f64], b: &[f64]) {
    assert_eq!(a.len(), b.len(), "{what}: length");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= 1e-12 * (1.0 + y.abs()) || (x.is_nan() && y.is_nan()),
            "{what}[{i}]: {x} vs {y}"
        );
    }
}

fn check_max(p: PoolParams, seed: u64) {
    let x = rand(p.in_len(), seed);
    let (want, want_idx) = naive_max(&p, &x);
    let (mut out, mut idx) = (vec![0.0; p.out_len()], vec![-1; p.out_len()]);
    max_pool_forward(&mut out, &mut idx, &x, &p);
    close("max forward", &out, &want);
    assert_eq!(idx, want_idx, "max indices");
    let g = rand(p.out_len(), seed + 1);
    let mut want_dx = vec![0.0; p.in_len()];
    let pi: usize = p.in_dims.iter().product();
    for (o, (&gi, &i)) in g.iter().zip(&idx).enumerate() {
        want_dx[o / (p.out_len() / (p.n * p.c)) * pi + i as usize] += gi;
    }
    let mut dx = vec![f64::NAN; p.in_len()];
    max_pool_backward(&mut dx, &g, &idx, &p);
    close("max backward", &dx, &want_dx);
}

fn check_avg(p: PoolParams, seed: u64) {
    let x = rand(p.in_len(), seed);
    let mut out = vec![f64::NAN; p.out_len()];
    avg_pool_forward(&mut out, &x, &p);
    close("avg forward", &out, &naive_avg(&p, &x));
    // The backward is the adjoint of the (linear) forward: test it column by column.
    let g = rand(p.out_len(), seed + 1);
    let mut dx = vec![f64::NAN; p.in_len()];
    avg_pool_backward(&mut dx, &g, &p);
    let mut e = vec![0.0; p.in_len()];
    for j in 0..p.in_len() {
        e[j] = 1.0;
        let col = naive_avg(&p, &e);
        e[j] = 0.0;
        let want: f64 = col.iter().zip(&g).map(|(a, b)| a * b).sum();
        assert!(
            (dx[j] - want).abs() < 1e-12,
            "avg backward[{j}]: {} vs {want}",
            dx[j]
        );
    }
}

fn pp(n: usize, c: usize, in_dims: [usize; 3], kernel: [usize; 3]) -> PoolParams {
    PoolParams::new(n, c, in_dims, kernel)
}

#[test]
fn out_dims_match_pytorch() {
    let d = |inp, k, s, p, ceil| {
        PoolParams {
            stride: [1, 1, s],
            padding: [0, 0, p],
            ceil_mode: ceil,
            ..pp(1, 1, [1, 1, inp], [1, 1, k])
        }
        .out_dims()[2]
    };
    assert_eq!(d(5, 2, 2, 0, false), 2);
    assert_eq!(d(5, 2, 2, 0, true), 3);
    assert_eq!(d(6, 3, 2, 1, true), 4);
    // ceil would give 4, but the 4th window would start in the right padding.
    assert_eq!(d(5, 2, 2, 1, true), 3);
    assert_eq!(d(7, 3, 3, 1, true), 3);
    assert_eq!(d(112, 3, 2, 1, false), 56);
}

#[test]
fn max_pool() {
    check_max(pp(2, 3, [1, 1, 9], [1, 1, 2]), 1);
    check_max(
        PoolParams {
            stride: [1, 1, 2],
            padding: [0, 0, 1],
            ceil_mode: true,
            ..pp(1, 2, [1, 1, 10], [1, 1, 3])
        },
        2,
    );
    check_max(
        PoolParams {
            stride: [1, 2, 2],
            padding: [0, 1, 1],
            ..pp(2, 3, [1, 11, 10], [1, 3, 3])
        },
        3,
    );
    check_max(
        PoolParams {
            ceil_mode: true,
            ..pp(2, 2, [1, 7, 9], [1, 2, 2])
        },
        4,
    );
    check_max(
        PoolParams {
            stride: [1, 2, 2],
            padding: [0, 1, 1],
            ceil_mode: true,
            ..pp(1, 2, [1, 5, 5], [1, 2, 2])
        },
        5,
    );
    check_max(
        PoolParams {
            dilation: [1, 2, 3],
            padding: [0, 1, 2],
            ..pp(2, 2, [1, 9, 11], [1, 3, 3])
        },
        6,
    );
    check_max(
        PoolParams {
            stride: [2, 1, 2],
            padding: [1, 0, 1],
            ceil_mode: true,
            ..pp(2, 2, [5, 4, 6], [3, 2, 3])
        },
        7,
    );
}

#[test]
fn max_pool_nan_and_ties() {
    let p = pp(1, 1, [1, 2, 4], [1, 2, 2]);
    let x = [1.0, 3.0, 3.0, f64::NAN, 3.0, 0.0, 1.0, 2.0];
    let (mut out, mut idx) = (vec![0.0; 2], vec![0; 2]);
    max_pool_forward(&mut out, &mut idx, &x, &p);
    assert_eq!(out[0], 3.0);
    assert_eq!(idx[0], 1, "the first of equal maxima wins");
    assert!(out[1].is_nan() && idx[1] == 3, "NaN propagates");
}

#[test]
fn avg_pool() {
    check_avg(pp(2, 3, [1, 1, 9], [1, 1, 3]), 11);
    check_avg(
        PoolParams {
            stride: [1, 2, 2],
            padding: [0, 1, 1],
            ..pp(2, 2, [1, 7, 8], [1, 3, 3])
        },
        12,
    );
    check_avg(
        PoolParams {
            stride: [1, 2, 2],
            padding: [0, 1, 1],
            count_include_pad: false,
            ..pp(2, 2, [1, 7, 8], [1, 3, 3])
        },
        13,
    );
    check_avg(
        PoolParams {
            stride: [1, 2, 2],
            padding: [0, 1, 1],
            ceil_mode: true,
            ..pp(1, 2, [1, 6, 7], [1, 3, 3])
        },
        14,
    );
    check_avg(
        PoolParams {
            stride: [1, 2, 2],
            padding: [0, 1, 0],
            ceil_mode: true,
            count_include_pad: false,
            ..pp(1, 2, [1, 5, 6], [1, 2, 3])
        },
        15,
    );
    check_avg(
        PoolParams {
            divisor_override: Some(3),
            padding: [0, 1, 1],
            ..pp(1, 2, [1, 5, 5], [1, 2, 2])
        },
        16,
    );
    check_avg(
        PoolParams {
            stride: [2, 1, 2],
            padding: [1, 0, 1],
            ceil_mode: true,
            ..pp(2, 1, [5, 4, 6], [3, 2, 3])
        },
        17,
    );
}

fn naive_adaptive(p: &AdaptivePoolParams, x: &[f64]) -> Vec<f64> {
    let (id, od) = (p.in_dims, p.out_dims);
    let r = |o: usize, a: usize| (o * id[a] / od[a])..((o + 1) * id[a]).div_ceil(od[a]);
    let mut out = Vec::new();
    for plane in x.chunks(id.iter().product()) {
        for oz in 0..od[0] {
            for oy in 0..od[1] {
                for ox in 0..od[2] {
                    let mut v = Vec::new();
                    for z in r(oz, 0) {
                        for y in r(oy, 1) {
                            for x in r(ox, 2) {
                                v.push(plane[(z * id[1] + y) * id[2] + x]);
                            }
                        }
                    }
                    out.push(v.iter().sum::<f64>() / v.len() as f64);
                }
            }
        }
    }
    out
}

#[test]
fn adaptive_avg_pool() {
    for (k, (in_dims, out_dims)) in [
        ([1, 7, 7], [1, 1, 1]),
        ([1, 7, 5], [1, 3, 2]),
        ([1, 1, 5], [1, 1, 7]),
        ([4, 6, 5], [3, 4, 2]),
    ]
    .into_iter()
    .enumerate()
    {
        let p = AdaptivePoolParams {
            n: 2,
            c: 3,
            in_dims,
            out_dims,
        };
        let x = rand(p.in_len(), 20 + k as u64);
        let mut out = vec![f64::NAN; p.out_len()];
        adaptive_avg_pool_forward(&mut out, &x, &p);
        close("adaptive forward", &out, &naive_adaptive(&p, &x));
        let g = rand(p.out_len(), 30 + k as u64);
        let mut dx = vec![f64::NAN; p.in_len()];
        adaptive_avg_pool_backward(&mut dx, &g, &p);
        let mut e = vec![0.0; p.in_len()];
        for j in 0..p.in_len() {
            e[j] = 1.0;
            let want: f64 = naive_adaptive(&p, &e)
                .iter()
                .zip(&g)
                .map(|(a, b)| a * b)
                .sum();
            e[j] = 0.0;
            assert!(
                (dx[j] - want).abs() < 1e-12,
                "adaptive backward[{j}]: {} vs {want}",
                dx[j]
            );
        }
    }
}

#[test]
fn pool_f32_and_thread_count() {
    let p = PoolParams {
        stride: [1, 2, 2],
        padding: [0, 1, 1],
        ceil_mode: true,
        ..pp(3, 5, [1, 13, 14], [1, 3, 3])
    };
    let x: Vec<f32> = rand(p.in_len(), 40).into_iter().map(|v| v as f32).collect();
    let g: Vec<f32> = rand(p.out_len(), 41)
        .into_iter()
        .map(|v| v as f32)
        .collect();
    let run = |threads| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("thread pool")
            .install(|| {
                let (mut m, mut i, mut a) = (
                    vec![0f32; p.out_len()],
                    vec![0i64; p.out_len()],
                    vec![0f32; p.out_len()],
                );
                max_pool_forward(&mut m, &mut i, &x, &p);
                avg_pool_forward(&mut a, &x, &p);
                let (mut dm, mut da) = (vec![0f32; p.in_len()], vec![0f32; p.in_len()]);
                max_pool_backward(&mut dm, &g, &i, &p);
                avg_pool_backward(&mut da, &g, &p);
                (m, i, a, dm, da)
            })
    };
    assert_eq!(run(1), run(2));
}
