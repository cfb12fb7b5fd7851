//! Batch norm over `[n, c, spatial]`: statistics per channel across batch and space.
//! Channels run in parallel; each writes its own strided blocks, so order and results do not
//! depend on the thread count.

use rayon::prelude::*;

use super::{sum_f64, sum_g_gx, Real, SendPtr, CHUNK_ELEMS};

/// The `spatial`-long blocks of channel `ch`, in batch order.
fn blocks<T>(x: &[T], ch: usize, n: usize, c: usize, spatial: usize) -> impl Iterator<Item = &[T]> {
    (0..n).map(move |b| &x[(b * c + ch) * spatial..][..spatial])
}

fn check<T>(
    out: &[T],
    inp: &[T],
    n: usize,
    c: usize,
    spatial: usize,
    w: Option<&[T]>,
    b: Option<&[T]>,
) {
    assert!(
        out.len() == n * c * spatial && inp.len() == n * c * spatial,
        "batchnorm: slices must hold n*c*spatial"
    );
    assert!(
        w.is_none_or(|w| w.len() == c) && b.is_none_or(|b| b.len() == c),
        "batchnorm: weight/bias must hold c"
    );
}

/// Training-mode batch norm. Normalises with the batch's biased variance, saves `mean` and
/// `invstd = 1/sqrt(var + eps)` per channel, and updates the running statistics as PyTorch:
/// `running = (1 - momentum) * running + momentum * stat`, the variance unbiased
/// (`var * count / (count - 1)`; the caller rejects `count = n * spatial = 1`, as PyTorch does).
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_forward_train<T: Real>(
    out: &mut [T],
    save_mean: &mut [T],
    save_invstd: &mut [T],
    running_mean: Option<&mut [T]>,
    running_var: Option<&mut [T]>,
    inp: &[T],
    weight: Option<&[T]>,
    bias: Option<&[T]>,
    n: usize,
    c: usize,
    spatial: usize,
    momentum: T,
    eps: T,
) {
    check(out, inp, n, c, spatial, weight, bias);
    assert!(
        save_mean.len() == c && save_invstd.len() == c,
        "batchnorm: save_mean/save_invstd must hold c"
    );
    let count = (n * spatial) as f64;
    let op = SendPtr(out.as_mut_ptr());
    let stats: Vec<(f64, f64)> = (0..c)
        .into_par_iter()
        .map(|ch| {
            let mean = blocks(inp, ch, n, c, spatial)
                .map(|x| sum_f64(x, |v| v))
                .fold(0.0, |a, b| a + b)
                / count;
            let var = blocks(inp, ch, n, c, spatial)
                .map(|x| sum_f64(x, |v| (v - mean) * (v - mean)))
                .fold(0.0, |a, b| a + b)
                / count;
            let invstd = 1.0 / (var + eps.to_f64()).sqrt();
            // out = x * alpha + beta, as PyTorch's CPU kernel.
            let alpha = invstd * weight.map_or(1.0, |w| w[ch].to_f64());
            let beta = bias.map_or(0.0, |b| b[ch].to_f64()) - mean * alpha;
            let (a, bt) = (T::from_f64(alpha), T::from_f64(beta));
            for b in 0..n {
                let s = (b * c + ch) * spatial;
                // SAFETY: channel `ch` owns the blocks (b*c + ch)*spatial.. for every b; no other
                // task writes them, and they lie inside `out` (checked above).
                let o = unsafe { std::slice::from_raw_parts_mut(op.get().add(s), spatial) };
                o.iter_mut()
                    .zip(&inp[s..s + spatial])
                    .for_each(|(o, &x)| *o = x * a + bt);
            }
            (mean, var)
        })
        .collect();
    let mom = momentum.to_f64();
    for (ch, &(mean, var)) in stats.iter().enumerate() {
        save_mean[ch] = T::from_f64(mean);
        save_invstd[ch] = T::from_f64(1.0 / (var + eps.to_f64()).sqrt());
    }
    if let Some(rm) = running_mean {
        assert_eq!(rm.len(), c, "batchnorm: running_mean must hold c");
        for (r, &(mean, _)) in rm.iter_mut().zip(&stats) {
            *r = T::from_f64((1.0 - mom) * r.to_f64() + mom * mean);
        }
    }
    if let Some(rv) = running_var {
        assert_eq!(rv.len(), c, "batchnorm: running_var must hold c");
        for (r, &(_, var)) in rv.iter_mut().zip(&stats) {
            let unbiased = var * count / (count - 1.0);
            *r = T::from_f64((1.0 - mom) * r.to_f64() + mom * unbiased);
        }
    }
}

/// Evaluation-mode batch norm with the running statistics:
/// `out = (x - running_mean) / sqrt(running_var + eps) * weight + bias`.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_forward_eval<T: Real>(
    out: &mut [T],
    inp: &[T],
    running_mean: &[T],
    running_var: &[T],
    weight: Option<&[T]>,
    bias: Option<&[T]>,
    n: usize,
    c: usize,
    spatial: usize,
    eps: T,
) {
    check(out, inp, n, c, spatial, weight, bias);
    assert!(
        running_mean.len() == c && running_var.len() == c,
        "batchnorm_eval: running stats must hold c"
    );
    if out.is_empty() {
        return;
    }
    let coef: Vec<(T, T)> = (0..c)
        .map(|ch| {
            let invstd = 1.0 / (running_var[ch].to_f64() + eps.to_f64()).sqrt();
            let alpha = invstd * weight.map_or(1.0, |w| w[ch].to_f64());
            let beta = bias.map_or(0.0, |b| b[ch].to_f64()) - running_mean[ch].to_f64() * alpha;
            (T::from_f64(alpha), T::from_f64(beta))
        })
        .collect();
    let per = CHUNK_ELEMS.div_ceil(spatial).max(1); // blocks per task
    out.par_chunks_mut(per * spatial)
        .enumerate()
        .for_each(|(i, o)| {
            for (j, o) in o.chunks_exact_mut(spatial).enumerate() {
                let blk = i * per + j;
                let (a, b) = coef[blk % c];
                let x = &inp[blk * spatial..][..spatial];
                o.iter_mut().zip(x).for_each(|(o, &x)| *o = x * a + b);
            }
        });
}

/// Training-mode batch norm backward (the statistics are functions of the input). With
/// `xhat = (x - mean) * invstd`: `dbias = sum g`, `dweight = sum g * xhat`, and
/// `dinp = (g - sum(g)/N - (x - mean) * invstd^2 * sum(g * (x - mean))/N) * invstd * weight`.
/// All outputs overwritten.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_backward<T: Real>(
    dinp: &mut [T],
    dweight: Option<&mut [T]>,
    dbias: Option<&mut [T]>,
    dout: &[T],
    inp: &[T],
    weight: Option<&[T]>,
    save_mean: &[T],
    save_invstd: &[T],
    n: usize,
    c: usize,
    spatial: usize,
) {
    check(dinp, inp, n, c, spatial, weight, None);
    assert_eq!(
        dout.len(),
        inp.len(),
        "batchnorm_backward: dout must hold n*c*spatial"
    );
    assert!(
        save_mean.len() == c && save_invstd.len() == c,
        "batchnorm_backward: saved stats must hold c"
    );
    let count = (n * spatial) as f64;
    let dp = SendPtr(dinp.as_mut_ptr());
    let sums: Vec<(f64, f64)> = (0..c)
        .into_par_iter()
        .map(|ch| {
            let mean = save_mean[ch].to_f64();
            let invstd = save_invstd[ch].to_f64();
            let (mut sg, mut sgx) = (0.0, 0.0);
            for (g, x) in blocks(dout, ch, n, c, spatial).zip(blocks(inp, ch, n, c, spatial)) {
                let (a, b) = sum_g_gx(g, x, mean);
                sg += a;
                sgx += b;
            }
            let k = T::from_f64(sgx * invstd * invstd / count);
            let gm = T::from_f64(sg / count);
            let scale = T::from_f64(invstd * weight.map_or(1.0, |w| w[ch].to_f64()));
            let m = T::from_f64(mean);
            for b in 0..n {
                let s = (b * c + ch) * spatial;
                // SAFETY: as in the forward, channel `ch` alone writes these blocks.
                let d = unsafe { std::slice::from_raw_parts_mut(dp.get().add(s), spatial) };
                for ((d, &g), &x) in d
                    .iter_mut()
                    .zip(&dout[s..s + spatial])
                    .zip(&inp[s..s + spatial])
                {
                    *d = (g - gm - (x - m) * k) * scale;
                }
            }
            (sg, sgx * invstd)
        })
        .collect();
    if let Some(dw) = dweight {
        assert_eq!(dw.len(), c, "batchnorm_backward: dweight must hold c");
        dw.iter_mut()
            .zip(&sums)
            .for_each(|(d, s)| *d = T::from_f64(s.1));
    }
    if let Some(db) = dbias {
        assert_eq!(db.len(), c, "batchnorm_backward: dbias must hold c");
        db.iter_mut()
            .zip(&sums)
            .for_each(|(d, s)| *d = T::from_f64(s.0));
    }
}
