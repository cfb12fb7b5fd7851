//! The elementwise part of an LSTM step, forward and backward, on rows of gates laid out `[i | f | g | o]`
//! (PyTorch's gate order, H values each). The recurrent GEMM around it is the caller's.
//!
//! Forward, per row: `i, f, o = sigmoid(.)`, `g = tanh(.)`, `c = f c_prev + i g`, `h = o tanh(c)`.
//! Backward, given `dh` (into h) and `dc` (into c from the next step): `dc += dh o (1 - tanh(c)^2)`, then
//! `di = dc g i (1 - i)`, `df = dc c_prev f (1 - f)`, `dg = dc i (1 - g^2)`, `do = dh tanh(c) o (1 - o)`, and
//! the gradient into `c_prev` is `dc f`.

use super::gemm::GemmElem;
use super::vmath::{sigmoid_f32_inplace, tanh_f32, tanh_f32_inplace, Real};

/// f32 (the SIMD activations of `vmath`) or f64 (std).
pub trait CellFloat: Real + GemmElem {
    fn sigmoid_inplace(x: &mut [Self]);
    fn tanh_inplace(x: &mut [Self]);
    fn tanh_into(out: &mut [Self], inp: &[Self]);
}

impl CellFloat for f32 {
    fn sigmoid_inplace(x: &mut [f32]) {
        sigmoid_f32_inplace(x)
    }
    fn tanh_inplace(x: &mut [f32]) {
        tanh_f32_inplace(x)
    }
    fn tanh_into(out: &mut [f32], inp: &[f32]) {
        tanh_f32(out, inp)
    }
}

impl CellFloat for f64 {
    fn sigmoid_inplace(x: &mut [f64]) {
        x.iter_mut().for_each(|v| *v = 1.0 / (1.0 + (-*v).exp()));
    }
    fn tanh_inplace(x: &mut [f64]) {
        x.iter_mut().for_each(|v| *v = v.tanh());
    }
    fn tanh_into(out: &mut [f64], inp: &[f64]) {
        out.iter_mut().zip(inp).for_each(|(o, v)| *o = v.tanh());
    }
}

/// One step forward for `rows = c_prev.len() / hid` rows. `gates` `[rows, 4H]` holds the pre-activations on
/// entry and the activations i, f, g, o on return (what the backward needs); writes `c`, `tc = tanh(c)` and
/// `h`, each `[rows, H]`.
pub fn cell_forward<T: CellFloat>(hid: usize, gates: &mut [T], c_prev: &[T], c: &mut [T], tc: &mut [T], h: &mut [T]) {
    let rows = c_prev.len() / hid;
    assert!(gates.len() == rows * 4 * hid && c.len() == rows * hid && tc.len() == rows * hid && h.len() == rows * hid, "lstm cell: slice sizes");
    for r in 0..rows {
        let g = &mut gates[r * 4 * hid..(r + 1) * 4 * hid];
        T::sigmoid_inplace(&mut g[..2 * hid]);
        T::tanh_inplace(&mut g[2 * hid..3 * hid]);
        T::sigmoid_inplace(&mut g[3 * hid..]);
        let (i, f, gg) = (&g[..hid], &g[hid..2 * hid], &g[2 * hid..3 * hid]);
        let (cp, cr) = (&c_prev[r * hid..(r + 1) * hid], &mut c[r * hid..(r + 1) * hid]);
        for j in 0..hid {
            cr[j] = f[j] * cp[j] + i[j] * gg[j];
        }
    }
    T::tanh_into(tc, c);
    for r in 0..rows {
        let o = &gates[r * 4 * hid + 3 * hid..(r + 1) * 4 * hid];
        let (t, hr) = (&tc[r * hid..(r + 1) * hid], &mut h[r * hid..(r + 1) * hid]);
        for j in 0..hid {
            hr[j] = o[j] * t[j];
        }
    }
}

/// One step backward. `acts` `[rows, 4H]` are the step's activations (as `cell_forward` left them),
/// `c_prev` and `tc` its saved state, `dh` the gradient into its h. `dc` holds the gradient into its c from
/// later steps on entry and the gradient into `c_prev` on return; `dgates` `[rows, 4H]` receives the
/// gradient of the pre-activations.
pub fn cell_backward<T: CellFloat>(hid: usize, acts: &[T], c_prev: &[T], tc: &[T], dh: &[T], dc: &mut [T], dgates: &mut [T]) {
    let rows = c_prev.len() / hid;
    assert!(acts.len() == rows * 4 * hid && dgates.len() == acts.len() && tc.len() == c_prev.len() && dh.len() == c_prev.len() && dc.len() == c_prev.len(), "lstm cell: slice sizes");
    let one = <T as Real>::ONE;
    for r in 0..rows {
        let a = &acts[r * 4 * hid..(r + 1) * 4 * hid];
        let d = &mut dgates[r * 4 * hid..(r + 1) * 4 * hid];
        let s = r * hid;
        for j in 0..hid {
            let (i, f, g, o) = (a[j], a[hid + j], a[2 * hid + j], a[3 * hid + j]);
            let (t, dhj) = (tc[s + j], dh[s + j]);
            let dcj = dc[s + j] + dhj * o * (one - t * t);
            d[j] = dcj * g * i * (one - i);
            d[hid + j] = dcj * c_prev[s + j] * f * (one - f);
            d[2 * hid + j] = dcj * i * (one - g * g);
            d[3 * hid + j] = dhj * t * o * (one - o);
            dc[s + j] = dcj * f;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The backward against central differences of the forward (f64), through h and c.
    #[test]
    fn backward_matches_finite_differences() {
        let (hid, rows) = (3, 2);
        let pre: Vec<f64> = (0..rows * 4 * hid).map(|k| ((k * 37 % 11) as f64 - 5.0) * 0.3).collect();
        let c_prev: Vec<f64> = (0..rows * hid).map(|k| (k as f64 - 2.5) * 0.4).collect();
        let (wh, wc): (Vec<f64>, Vec<f64>) = ((0..rows * hid).map(|k| 0.5 + k as f64 * 0.1).collect(), (0..rows * hid).map(|k| 1.0 - k as f64 * 0.15).collect());
        // scalar objective L = sum(wh h) + sum(wc c)
        let objective = |pre: &[f64], c_prev: &[f64]| -> f64 {
            let mut g = pre.to_vec();
            let (mut c, mut tc, mut h) = (vec![0.0; rows * hid], vec![0.0; rows * hid], vec![0.0; rows * hid]);
            cell_forward(hid, &mut g, c_prev, &mut c, &mut tc, &mut h);
            h.iter().zip(&wh).map(|(a, b)| a * b).sum::<f64>() + c.iter().zip(&wc).map(|(a, b)| a * b).sum::<f64>()
        };
        let mut acts = pre.clone();
        let (mut c, mut tc, mut h) = (vec![0.0; rows * hid], vec![0.0; rows * hid], vec![0.0; rows * hid]);
        cell_forward(hid, &mut acts, &c_prev, &mut c, &mut tc, &mut h);
        let mut dc = wc.clone();
        let mut dgates = vec![0.0; acts.len()];
        cell_backward(hid, &acts, &c_prev, &tc, &wh, &mut dc, &mut dgates);
        let eps = 1e-6;
        for k in 0..pre.len() {
            let (mut p, mut m) = (pre.clone(), pre.clone());
            p[k] += eps;
            m[k] -= eps;
            let fd = (objective(&p, &c_prev) - objective(&m, &c_prev)) / (2.0 * eps);
            assert!((fd - dgates[k]).abs() < 1e-8, "dgates[{k}]: {fd} vs {}", dgates[k]);
        }
        for k in 0..c_prev.len() {
            let (mut p, mut m) = (c_prev.clone(), c_prev.clone());
            p[k] += eps;
            m[k] -= eps;
            let fd = (objective(&pre, &p) - objective(&pre, &m)) / (2.0 * eps);
            assert!((fd - dc[k]).abs() < 1e-8, "dc_prev[{k}]: {fd} vs {}", dc[k]);
        }
    }
}
