//! Fused softmax + cross-entropy with integer targets, PyTorch's `F.cross_entropy` semantics.
//!
//! For logits x `[rows, C]`, targets t, class weights w (all 1 when absent), smoothing eps:
//!
//! ```text
//!   logp_ic  = x_ic - m_i - ln(sum_c exp(x_ic - m_i))          m_i = max_c x_ic
//!   loss_i   = (1 - eps) * w[t_i] * (-logp_{i,t_i})  +  eps/C * sum_c w[c] * (-logp_ic)
//!   weight_i = w[t_i]
//!   rows with t_i == ignore_index: loss_i = 0, weight_i = 0
//! ```
//!
//! `reduction="mean"` is `sum_i loss_i / sum_i weight_i` (PyTorch divides the smoothing term by
//! the same sum of target weights), `"sum"` is `sum_i loss_i`, `"none"` is `loss_i`.
//! The backward, with p = softmax(x) and W = sum_c w[c]:
//!
//! ```text
//!   dx_ic = dloss_i * ( (1 - eps) * w[t_i] * (p_ic - [c == t_i]) + eps/C * (p_ic * W - w[c]) )
//! ```
//!
//! The smoothing sum is formed as `sum_c w[c] * (m_i - x_ic) + W * ln(s_i)`: every term is
//! non-negative, so large logits do not cancel. Scalar code (class counts here are small);
//! rows in parallel, each row computed the same way whatever the thread count.

use rayon::prelude::*;

use super::super::vmath::Real;
use super::CHUNK_ELEMS;

fn chunk_rows(classes: usize) -> usize {
    CHUNK_ELEMS.div_ceil(classes.max(1)).max(1)
}

fn check_target(t: i64, classes: usize) -> usize {
    assert!(
        t >= 0 && (t as usize) < classes,
        "cross_entropy: target {t} out of range for {classes} classes"
    );
    t as usize
}

/// Row max and `ln(sum exp(x - max))`.
fn row_lse<T: Real>(x: &[T]) -> (T, T) {
    let m = x.iter().fold(T::NEG_INFINITY, |m, &v| m.max_nan(v));
    let mut s = T::ZERO;
    x.iter().for_each(|&v| s += (v - m).exp());
    (m, s.ln())
}

/// Per-row loss and the weight each row contributes to a mean (see the module doc).
#[allow(clippy::too_many_arguments)]
pub fn cross_entropy_forward<T: Real>(
    loss: &mut [T],
    weight_used: &mut [T],
    logits: &[T],
    targets: &[i64],
    class_weight: Option<&[T]>,
    label_smoothing: T,
    ignore_index: i64,
    rows: usize,
    classes: usize,
) {
    assert!(
        loss.len() == rows && weight_used.len() == rows && targets.len() == rows,
        "cross_entropy: per-row slices"
    );
    assert_eq!(
        logits.len(),
        rows * classes,
        "cross_entropy: logits must hold rows*classes elements"
    );
    if let Some(w) = class_weight {
        assert_eq!(w.len(), classes, "cross_entropy: one weight per class");
    }
    let eps = label_smoothing;
    let eps_c = eps / T::from_f64(classes as f64);
    let cr = chunk_rows(classes);
    loss.par_chunks_mut(cr)
        .zip(weight_used.par_chunks_mut(cr))
        .enumerate()
        .for_each(|(ci, (loss, wu))| {
            for (j, (l, wu)) in loss.iter_mut().zip(wu.iter_mut()).enumerate() {
                let i = ci * cr + j;
                let t = targets[i];
                if t == ignore_index {
                    (*l, *wu) = (T::ZERO, T::ZERO);
                    continue;
                }
                let t = check_target(t, classes);
                let x = &logits[i * classes..(i + 1) * classes];
                let (m, lse) = row_lse(x);
                let nll = (m - x[t]) + lse;
                let (wt, smooth) = match class_weight {
                    None => {
                        let mut s = T::ZERO;
                        x.iter().for_each(|&v| s += m - v);
                        (T::ONE, s + T::from_f64(classes as f64) * lse)
                    }
                    Some(w) => {
                        let (mut s, mut wsum) = (T::ZERO, T::ZERO);
                        x.iter().zip(w).for_each(|(&v, &wc)| {
                            s += wc * (m - v);
                            wsum += wc;
                        });
                        (w[t], s + wsum * lse)
                    }
                };
                *l = (T::ONE - eps) * wt * nll + eps_c * smooth;
                *wu = wt;
            }
        });
}

/// `dlogits` (overwritten) from the gradient of each row's loss (see the module doc). For a
/// mean reduction pass `dloss_i = g / sum_i weight_i`.
#[allow(clippy::too_many_arguments)]
pub fn cross_entropy_backward<T: Real>(
    dlogits: &mut [T],
    dloss: &[T],
    logits: &[T],
    targets: &[i64],
    class_weight: Option<&[T]>,
    label_smoothing: T,
    ignore_index: i64,
    rows: usize,
    classes: usize,
) {
    assert!(
        dloss.len() == rows && targets.len() == rows,
        "cross_entropy_backward: per-row slices"
    );
    assert!(
        logits.len() == rows * classes && dlogits.len() == rows * classes,
        "cross_entropy_backward: rows*classes"
    );
    if let Some(w) = class_weight {
        assert_eq!(
            w.len(),
            classes,
            "cross_entropy_backward: one weight per class"
        );
    }
    if rows * classes == 0 {
        return;
    }
    let eps = label_smoothing;
    let eps_c = eps / T::from_f64(classes as f64);
    let wsum = match class_weight {
        None => T::from_f64(classes as f64),
        Some(w) => w.iter().fold(T::ZERO, |a, &b| a + b),
    };
    let cr = chunk_rows(classes);
    dlogits
        .par_chunks_mut(cr * classes)
        .enumerate()
        .for_each(|(ci, dl)| {
            for (j, d) in dl.chunks_exact_mut(classes).enumerate() {
                let i = ci * cr + j;
                let t = targets[i];
                if t == ignore_index {
                    d.iter_mut().for_each(|d| *d = T::ZERO);
                    continue;
                }
                let t = check_target(t, classes);
                let x = &logits[i * classes..(i + 1) * classes];
                let (m, lse) = row_lse(x);
                let g = dloss[i];
                let wt = class_weight.map_or(T::ONE, |w| w[t]);
                // dx_c = g * (p_c * k - eps_c * w_c) - [c == t] * g * (1 - eps) * w_t
                let k = (T::ONE - eps) * wt + eps_c * wsum;
                for (c, (d, &v)) in d.iter_mut().zip(x).enumerate() {
                    let p = ((v - m) - lse).exp();
                    let wc = class_weight.map_or(T::ONE, |w| w[c]);
                    *d = g * (p * k - eps_c * wc);
                }
                d[t] = d[t] - g * (T::ONE - eps) * wt;
            }
        });
}
