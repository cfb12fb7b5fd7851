use super::*;

struct Rng(u64);
impl Rng {
    fn vec(&mut self, n: usize, lo: f64, hi: f64) -> Vec<f64> {
        (0..n)
            .map(|_| {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                lo + (hi - lo) * ((self.0 >> 11) as f64 / (1u64 << 53) as f64)
            })
            .collect()
    }
}

fn f32v(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}
fn maxdiff<A: Real, B: Real>(a: &[A], b: &[B]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(a, b)| (a.to_f64() - b.to_f64()).abs())
        .fold(0.0, f64::max)
}

/// Naive normalisation of `groups` of a flat vector given an index -> (group, channel) map.
fn naive_norm(
    x: &[f64],
    group_of: impl Fn(usize) -> usize,
    ngroups: usize,
    affine: impl Fn(usize) -> (f64, f64),
    eps: f64,
) -> Vec<f64> {
    let (mut s, mut cnt) = (vec![0.0; ngroups], vec![0.0; ngroups]);
    for (i, &v) in x.iter().enumerate() {
        s[group_of(i)] += v;
        cnt[group_of(i)] += 1.0;
    }
    let m: Vec<f64> = s.iter().zip(&cnt).map(|(s, c)| s / c).collect();
    let mut v = vec![0.0; ngroups];
    for (i, &xv) in x.iter().enumerate() {
        v[group_of(i)] += (xv - m[group_of(i)]).powi(2);
    }
    x.iter()
        .enumerate()
        .map(|(i, &xv)| {
            let g = group_of(i);
            let (w, b) = affine(i);
            (xv - m[g]) / (v[g] / cnt[g] + eps).sqrt() * w + b
        })
        .collect()
}

/// Central-difference gradient of `f` at `x`.
fn fd(x: &[f64], f: impl Fn(&[f64]) -> f64) -> Vec<f64> {
    let h = 1e-6;
    (0..x.len())
        .map(|i| {
            let (mut p, mut m) = (x.to_vec(), x.to_vec());
            p[i] += h;
            m[i] -= h;
            (f(&p) - f(&m)) / (2.0 * h)
        })
        .collect()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(a, b)| a * b).sum()
}

#[test]
fn layernorm_forward_matches_naive() {
    let mut rng = Rng(7);
    for &(rows, cols) in &[
        (1, 1),
        (3, 5),
        (4, 16),
        (5, 17),
        (2, 33),
        (7, 512),
        (3, 1000),
    ] {
        // An offset of 100 checks that the variance does not cancel.
        let x = rng.vec(rows * cols, 97.0, 103.0);
        let w = rng.vec(cols, 0.5, 1.5);
        let b = rng.vec(cols, -1.0, 1.0);
        for (wo, bo) in [
            (None, None),
            (Some(&w[..]), Some(&b[..])),
            (Some(&w[..]), None),
            (None, Some(&b[..])),
        ] {
            let want = naive_norm(
                &x,
                |i| i / cols,
                rows,
                |i| {
                    (
                        wo.map_or(1.0, |w| w[i % cols]),
                        bo.map_or(0.0, |b| b[i % cols]),
                    )
                },
                1e-5,
            );
            let (mut o, mut m, mut r) = (vec![0.0; x.len()], vec![0.0; rows], vec![0.0; rows]);
            layernorm_forward(&mut o, &mut m, &mut r, &x, wo, bo, rows, cols, 1e-5);
            assert!(maxdiff(&o, &want) < 1e-12, "f64 {rows}x{cols}");
            let (x32, w32, b32) = (f32v(&x), f32v(&w), f32v(&b));
            let (wo32, bo32) = (wo.map(|_| &w32[..]), bo.map(|_| &b32[..]));
            // Reference for the f32 input exactly as rounded.
            let x32d: Vec<f64> = x32.iter().map(|&v| v as f64).collect();
            let (w32d, b32d) = (
                w32.iter().map(|&v| v as f64).collect::<Vec<_>>(),
                b32.iter().map(|&v| v as f64).collect::<Vec<_>>(),
            );
            let want32 = naive_norm(
                &x32d,
                |i| i / cols,
                rows,
                |i| {
                    (
                        wo.map_or(1.0, |_| w32d[i % cols]),
                        bo.map_or(0.0, |_| b32d[i % cols]),
                    )
                },
                1e-5,
            );
            for isa in available_isas() {
                let (mut o, mut m, mut r) = (
                    vec![0.0f32; x.len()],
                    vec![0.0f32; rows],
                    vec![0.0f32; rows],
                );
                ln_fwd_f32(isa, &mut o, &mut m, &mut r, &x32, wo32, bo32, cols, 1e-5);
                assert!(
                    maxdiff(&o, &want32) < 5e-6,
                    "f32 {isa:?} {rows}x{cols}: {}",
                    maxdiff(&o, &want32)
                );
            }
        }
    }
}

#[test]
fn layernorm_backward_finite_differences_and_f32() {
    let (rows, cols) = (3, 7);
    let mut rng = Rng(8);
    let x = rng.vec(rows * cols, -2.0, 2.0);
    let w = rng.vec(cols, 0.5, 1.5);
    let b = rng.vec(cols, -1.0, 1.0);
    let g = rng.vec(rows * cols, -1.0, 1.0);
    let loss = |x: &[f64], w: &[f64], b: &[f64]| {
        let (mut o, mut m, mut r) = (vec![0.0; x.len()], vec![0.0; rows], vec![0.0; rows]);
        layernorm_forward(
            &mut o,
            &mut m,
            &mut r,
            x,
            Some(w),
            Some(b),
            rows,
            cols,
            1e-5,
        );
        dot(&o, &g)
    };
    let (mut o, mut m, mut r) = (vec![0.0; x.len()], vec![0.0; rows], vec![0.0; rows]);
    layernorm_forward(
        &mut o,
        &mut m,
        &mut r,
        &x,
        Some(&w),
        Some(&b),
        rows,
        cols,
        1e-5,
    );
    let (mut dx, mut dw, mut db) = (vec![0.0; x.len()], vec![9.0; cols], vec![9.0; cols]);
    layernorm_backward(
        &mut dx,
        Some(&mut dw),
        Some(&mut db),
        &g,
        &x,
        Some(&w),
        &m,
        &r,
        rows,
        cols,
    );
    assert!(maxdiff(&dx, &fd(&x, |x| loss(x, &w, &b))) < 1e-6);
    assert!(maxdiff(&dw, &fd(&w, |w| loss(&x, w, &b))) < 1e-6);
    assert!(maxdiff(&db, &fd(&b, |b| loss(&x, &w, b))) < 1e-6);
    // No weight: same as weight of ones.
    let ones = vec![1.0; cols];
    let (mut dx1, mut dx2) = (vec![0.0; x.len()], vec![0.0; x.len()]);
    layernorm_backward(&mut dx1, None, None, &g, &x, None, &m, &r, rows, cols);
    layernorm_backward(
        &mut dx2,
        None,
        None,
        &g,
        &x,
        Some(&ones),
        &m,
        &r,
        rows,
        cols,
    );
    assert!(maxdiff(&dx1, &dx2) < 1e-15);
    // f32 paths against the f64 result.
    let (x32, w32, g32, m32, r32) = (f32v(&x), f32v(&w), f32v(&g), f32v(&m), f32v(&r));
    for isa in available_isas() {
        let (mut dx3, mut dw3, mut db3) = (
            vec![0.0f32; x.len()],
            vec![0.0f32; cols],
            vec![0.0f32; cols],
        );
        ln_bwd_f32(
            isa,
            &mut dx3,
            &mut dw3,
            &mut db3,
            &g32,
            &x32,
            Some(&w32),
            &m32,
            &r32,
            cols,
        );
        assert!(
            maxdiff(&dx3, &dx) < 1e-5 && maxdiff(&dw3, &dw) < 1e-5 && maxdiff(&db3, &db) < 1e-5,
            "{isa:?}"
        );
    }
}

#[test]
fn batchnorm_forward_and_running_stats() {
    let (n, c, sp) = (3, 4, 5);
    let mut rng = Rng(9);
    let x = rng.vec(n * c * sp, 48.0, 52.0);
    let w = rng.vec(c, 0.5, 1.5);
    let b = rng.vec(c, -1.0, 1.0);
    let want = naive_norm(
        &x,
        |i| (i / sp) % c,
        c,
        |i| (w[(i / sp) % c], b[(i / sp) % c]),
        1e-5,
    );
    let (mut o, mut sm, mut si) = (vec![0.0; x.len()], vec![0.0; c], vec![0.0; c]);
    let (mut rm, mut rv) = (vec![0.5; c], vec![2.0; c]);
    batchnorm_forward_train(
        &mut o,
        &mut sm,
        &mut si,
        Some(&mut rm),
        Some(&mut rv),
        &x,
        Some(&w),
        Some(&b),
        n,
        c,
        sp,
        0.1,
        1e-5,
    );
    assert!(maxdiff(&o, &want) < 1e-12);
    for ch in 0..c {
        let v: Vec<f64> = (0..n)
            .flat_map(|bb| x[(bb * c + ch) * sp..][..sp].to_vec())
            .collect();
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let var_u = v.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / (v.len() - 1) as f64;
        assert!((rm[ch] - (0.9 * 0.5 + 0.1 * mean)).abs() < 1e-12);
        assert!((rv[ch] - (0.9 * 2.0 + 0.1 * var_u)).abs() < 1e-12);
        assert!((sm[ch] - mean).abs() < 1e-12);
    }
    // Eval with the statistics of the batch reproduces the training output.
    let var_b: Vec<f64> = si.iter().map(|s| 1.0 / (s * s) - 1e-5).collect();
    let mut oe = vec![0.0; x.len()];
    batchnorm_forward_eval(&mut oe, &x, &sm, &var_b, Some(&w), Some(&b), n, c, sp, 1e-5);
    assert!(maxdiff(&oe, &o) < 1e-9);
}

#[test]
fn batchnorm_backward_finite_differences() {
    let (n, c, sp) = (2, 3, 4);
    let mut rng = Rng(10);
    let x = rng.vec(n * c * sp, -2.0, 2.0);
    let w = rng.vec(c, 0.5, 1.5);
    let b = rng.vec(c, -1.0, 1.0);
    let g = rng.vec(x.len(), -1.0, 1.0);
    let fwd = |x: &[f64], w: &[f64], b: &[f64]| {
        let (mut o, mut sm, mut si) = (vec![0.0; x.len()], vec![0.0; c], vec![0.0; c]);
        batchnorm_forward_train(
            &mut o,
            &mut sm,
            &mut si,
            None,
            None,
            x,
            Some(w),
            Some(b),
            n,
            c,
            sp,
            0.1,
            1e-5,
        );
        (o, sm, si)
    };
    let (_, sm, si) = fwd(&x, &w, &b);
    let (mut dx, mut dw, mut db) = (vec![0.0; x.len()], vec![0.0; c], vec![0.0; c]);
    batchnorm_backward(
        &mut dx,
        Some(&mut dw),
        Some(&mut db),
        &g,
        &x,
        Some(&w),
        &sm,
        &si,
        n,
        c,
        sp,
    );
    assert!(maxdiff(&dx, &fd(&x, |x| dot(&fwd(x, &w, &b).0, &g))) < 1e-6);
    assert!(maxdiff(&dw, &fd(&w, |w| dot(&fwd(&x, w, &b).0, &g))) < 1e-6);
    assert!(maxdiff(&db, &fd(&b, |b| dot(&fwd(&x, &w, b).0, &g))) < 1e-6);
}

#[test]
fn groupnorm_forward_and_backward() {
    let (n, c, sp, groups) = (2, 6, 5, 3);
    let cpg = c / groups;
    let mut rng = Rng(11);
    let x = rng.vec(n * c * sp, 8.0, 12.0);
    let w = rng.vec(c, 0.5, 1.5);
    let b = rng.vec(c, -1.0, 1.0);
    let g = rng.vec(x.len(), -1.0, 1.0);
    let ch = |i: usize| (i / sp) % c;
    let want = naive_norm(
        &x,
        |i| (i / sp) / cpg,
        n * groups,
        |i| (w[ch(i)], b[ch(i)]),
        1e-5,
    );
    let fwd = |x: &[f64], w: &[f64], b: &[f64]| {
        let (mut o, mut m, mut r) = (
            vec![0.0; x.len()],
            vec![0.0; n * groups],
            vec![0.0; n * groups],
        );
        groupnorm_forward(
            &mut o,
            &mut m,
            &mut r,
            x,
            Some(w),
            Some(b),
            n,
            c,
            sp,
            groups,
            1e-5,
        );
        (o, m, r)
    };
    let (o, m, r) = fwd(&x, &w, &b);
    assert!(maxdiff(&o, &want) < 1e-12);
    let (mut dx, mut dw, mut db) = (vec![0.0; x.len()], vec![0.0; c], vec![0.0; c]);
    groupnorm_backward(
        &mut dx,
        Some(&mut dw),
        Some(&mut db),
        &g,
        &x,
        Some(&w),
        &m,
        &r,
        n,
        c,
        sp,
        groups,
    );
    assert!(maxdiff(&dx, &fd(&x, |x| dot(&fwd(x, &w, &b).0, &g))) < 1e-6);
    assert!(maxdiff(&dw, &fd(&w, |w| dot(&fwd(&x, w, &b).0, &g))) < 1e-6);
    assert!(maxdiff(&db, &fd(&b, |b| dot(&fwd(&x, &w, b).0, &g))) < 1e-6);
    // f32 agrees with f64.
    let (x32, w32, b32, g32) = (f32v(&x), f32v(&w), f32v(&b), f32v(&g));
    let (mut o32, mut m32, mut r32) = (
        vec![0.0f32; x.len()],
        vec![0.0f32; n * groups],
        vec![0.0f32; n * groups],
    );
    groupnorm_forward(
        &mut o32,
        &mut m32,
        &mut r32,
        &x32,
        Some(&w32),
        Some(&b32),
        n,
        c,
        sp,
        groups,
        1e-5,
    );
    assert!(maxdiff(&o32, &o) < 1e-5);
    let mut dx32 = vec![0.0f32; x.len()];
    groupnorm_backward(
        &mut dx32,
        None,
        None,
        &g32,
        &x32,
        Some(&w32),
        &m32,
        &r32,
        n,
        c,
        sp,
        groups,
    );
    assert!(maxdiff(&dx32, &dx) < 1e-5);
}

#[test]
fn deterministic_across_thread_counts() {
    let mut rng = Rng(12);
    let (rows, cols) = (1000, 96);
    let x = f32v(&rng.vec(rows * cols, -3.0, 3.0));
    let g = f32v(&rng.vec(rows * cols, -1.0, 1.0));
    let w = f32v(&rng.vec(cols, 0.5, 1.5));
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let (mut o, mut m, mut r) = (
                vec![0.0f32; x.len()],
                vec![0.0f32; rows],
                vec![0.0f32; rows],
            );
            layernorm_forward(&mut o, &mut m, &mut r, &x, Some(&w), None, rows, cols, 1e-5);
            let (mut dx, mut dw, mut db) = (
                vec![0.0f32; x.len()],
                vec![0.0f32; cols],
                vec![0.0f32; cols],
            );
            layernorm_backward(
                &mut dx,
                Some(&mut dw),
                Some(&mut db),
                &g,
                &x,
                Some(&w),
                &m,
                &r,
                rows,
                cols,
            );
            // Batch norm and group norm on the same data seen as [10, 96, 100] / 8 groups.
            let (n, c, sp) = (10, 96, 100);
            let (mut bo, mut sm, mut si) =
                (vec![0.0f32; x.len()], vec![0.0f32; c], vec![0.0f32; c]);
            batchnorm_forward_train(
                &mut bo,
                &mut sm,
                &mut si,
                None,
                None,
                &x,
                Some(&w),
                None,
                n,
                c,
                sp,
                0.1,
                1e-5,
            );
            let (mut bdx, mut bdw) = (vec![0.0f32; x.len()], vec![0.0f32; c]);
            batchnorm_backward(
                &mut bdx,
                Some(&mut bdw),
                None,
                &g,
                &x,
                Some(&w),
                &sm,
                &si,
                n,
                c,
                sp,
            );
            let (mut go, mut gm, mut gr) = (
                vec![0.0f32; x.len()],
                vec![0.0f32; n * 8],
                vec![0.0f32; n * 8],
            );
            groupnorm_forward(
                &mut go,
                &mut gm,
                &mut gr,
                &x,
                Some(&w),
                None,
                n,
                c,
                sp,
                8,
                1e-5,
            );
            let (mut gdx, mut gdw) = (vec![0.0f32; x.len()], vec![0.0f32; c]);
            groupnorm_backward(
                &mut gdx,
                Some(&mut gdw),
                None,
                &g,
                &x,
                Some(&w),
                &gm,
                &gr,
                n,
                c,
                sp,
                8,
            );
            [o, dx, dw, db, bo, bdx, bdw, go, gdx, gdw]
        })
    };
    let (a, b) = (run(1), run(2));
    for (i, (a, b)) in a.iter().zip(&b).enumerate() {
        assert!(
            a.iter().zip(b).all(|(a, b)| a.to_bits() == b.to_bits()),
            "output {i} differs"
        );
    }
}
