//! Group norm over `[n, c, spatial]`: statistics per (sample, group of c/groups channels), a
//! contiguous block; affine weight and bias per channel. Blocks run in parallel.

use rayon::prelude::*;

use super::{mean_var, sum_g_gx, Real};

fn check<T>(
    n: usize,
    c: usize,
    spatial: usize,
    groups: usize,
    x: &[T],
    stats: (&[T], &[T]),
    w: Option<&[T]>,
) {
    assert!(
        groups > 0 && c.is_multiple_of(groups),
        "groupnorm: channels {c} not divisible by groups {groups}"
    );
    assert_eq!(
        x.len(),
        n * c * spatial,
        "groupnorm: slices must hold n*c*spatial"
    );
    assert!(
        stats.0.len() == n * groups && stats.1.len() == n * groups,
        "groupnorm: mean/rstd must hold n*groups"
    );
    assert!(
        w.is_none_or(|w| w.len() == c),
        "groupnorm: weight/bias must hold c"
    );
}

/// `out = (x - mean) * rstd * weight[ch] + bias[ch]`, mean and biased variance per
/// (sample, group); saves `mean` and `rstd = 1/sqrt(var + eps)` (`[n, groups]`).
#[allow(clippy::too_many_arguments)]
pub fn groupnorm_forward<T: Real>(
    out: &mut [T],
    mean: &mut [T],
    rstd: &mut [T],
    inp: &[T],
    weight: Option<&[T]>,
    bias: Option<&[T]>,
    n: usize,
    c: usize,
    spatial: usize,
    groups: usize,
    eps: T,
) {
    check(n, c, spatial, groups, inp, (mean, rstd), weight);
    assert!(
        out.len() == inp.len() && bias.is_none_or(|b| b.len() == c),
        "groupnorm: out/bias sizes"
    );
    let cpg = c / groups;
    let blk = cpg * spatial;
    if blk == 0 {
        mean.iter_mut()
            .chain(rstd.iter_mut())
            .for_each(|v| *v = T::NAN);
        return;
    }
    out.par_chunks_mut(blk)
        .zip(mean.par_iter_mut())
        .zip(rstd.par_iter_mut())
        .enumerate()
        .for_each(|(i, ((o, m), r))| {
            let x = &inp[i * blk..][..blk];
            let (mu, var) = mean_var(x);
            let rs = 1.0 / (var + eps.to_f64()).sqrt();
            (*m, *r) = (T::from_f64(mu), T::from_f64(rs));
            let ch0 = (i % groups) * cpg;
            for (j, (o, x)) in o
                .chunks_exact_mut(spatial)
                .zip(x.chunks_exact(spatial))
                .enumerate()
            {
                let alpha = rs * weight.map_or(1.0, |w| w[ch0 + j].to_f64());
                let beta = bias.map_or(0.0, |b| b[ch0 + j].to_f64()) - mu * alpha;
                let (a, b) = (T::from_f64(alpha), T::from_f64(beta));
                o.iter_mut().zip(x).for_each(|(o, &x)| *o = x * a + b);
            }
        });
}

/// Group norm backward; with `xhat = (x - mean) * rstd` and `dxhat = g * weight[ch]`, per block
/// `dinp = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))`; `dweight[ch] = sum g * xhat`
/// and `dbias[ch] = sum g` over batch and space (per-sample partials added in batch order).
/// All outputs overwritten.
#[allow(clippy::too_many_arguments)]
pub fn groupnorm_backward<T: Real>(
    dinp: &mut [T],
    dweight: Option<&mut [T]>,
    dbias: Option<&mut [T]>,
    dout: &[T],
    inp: &[T],
    weight: Option<&[T]>,
    mean: &[T],
    rstd: &[T],
    n: usize,
    c: usize,
    spatial: usize,
    groups: usize,
) {
    check(n, c, spatial, groups, inp, (mean, rstd), weight);
    assert!(
        dinp.len() == inp.len() && dout.len() == inp.len(),
        "groupnorm_backward: slices must hold n*c*spatial"
    );
    let cpg = c / groups;
    let blk = cpg * spatial;
    // Per (sample, channel): sum g and sum g * xhat.
    let mut part = vec![(0.0f64, 0.0f64); n * c];
    if blk > 0 {
        dinp.par_chunks_mut(blk)
            .zip(part.par_chunks_mut(cpg))
            .enumerate()
            .for_each(|(i, (d, part))| {
                let s = i * blk;
                let (g, x) = (&dout[s..s + blk], &inp[s..s + blk]);
                let (mu, rs) = (mean[i].to_f64(), rstd[i].to_f64());
                let ch0 = (i % groups) * cpg;
                let (mut s1, mut s2) = (0.0, 0.0); // sum dxhat, sum dxhat * xhat
                for (j, p) in part.iter_mut().enumerate() {
                    let (sg, sgx) = sum_g_gx(
                        &g[j * spatial..][..spatial],
                        &x[j * spatial..][..spatial],
                        mu,
                    );
                    *p = (sg, sgx * rs);
                    let w = weight.map_or(1.0, |w| w[ch0 + j].to_f64());
                    s1 += w * sg;
                    s2 += w * sgx * rs;
                }
                let inv = 1.0 / blk as f64;
                let (a, b) = (s1 * inv, s2 * inv);
                for (j, d) in d.chunks_exact_mut(spatial).enumerate() {
                    let w = weight.map_or(1.0, |w| w[ch0 + j].to_f64());
                    // dinp = rs*w*g - rs*a - rs*b * xhat = k1*g + k2*(x - mu) + k3
                    let k1 = T::from_f64(rs * w);
                    let k2 = T::from_f64(-rs * rs * b);
                    let k3 = T::from_f64(-rs * a);
                    let (m, o) = (T::from_f64(mu), j * spatial);
                    for ((d, &g), &x) in
                        d.iter_mut().zip(&g[o..o + spatial]).zip(&x[o..o + spatial])
                    {
                        *d = k1 * g + k2 * (x - m) + k3;
                    }
                }
            });
    }
    for (dst, pick) in [(dweight, 1usize), (dbias, 0)] {
        if let Some(dst) = dst {
            assert_eq!(
                dst.len(),
                c,
                "groupnorm_backward: dweight/dbias must hold c"
            );
            for (ch, d) in dst.iter_mut().enumerate() {
                let s = (0..n)
                    .map(|b| part[b * c + ch])
                    .fold(0.0, |acc, p| acc + if pick == 1 { p.1 } else { p.0 });
                *d = T::from_f64(s);
            }
        }
    }
}
