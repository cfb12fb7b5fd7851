//! The LSTM recurrence of one layer and direction as one graph node (`lstm_scan`), with its composed twin
//! (`lstm_scan_composed`) for tests.
//!
//! Why fused: composed from `Var` ops, each step reads its slice `xproj[t]` of the precomputed input
//! projection, and the backward of each slice allocates and adds a gradient of the *whole* `[T, B, 4H]`
//! tensor (autograd accumulates dense gradients), so a backward costs O(T^2 B H). The fused node runs the
//! steps on plain buffers (the recurrent GEMM, then the cell of `wrt_kernels::cpu::lstm`: no tensor op and
//! no allocation per step), keeps the gate activations, and does backpropagation through time in its
//! backward: O(T B H) memory and time, one `[B, 4H] x [4H, H]` GEMM per step each way and one GEMM for
//! `dW_hh` at the end.
//!
//! Gate order is PyTorch's i, f, g, o:
//! `gates = xproj[t] + h W_hh^T`, `i, f, o = sigmoid(..)`, `g = tanh(..)`, `c' = f c + i g`, `h' = o tanh(c')`.

use crate::{Error, Result};
use wrt_autograd::Var;
use wrt_tensor::kernels::cpu::gemm::{gemm, GemmElem, Strides};
use wrt_tensor::kernels::cpu::lstm::{cell_backward, cell_forward, CellFloat};
use wrt_tensor::{DType, Tensor};

/// Outputs of one scan: every step's `h` `[T, B, H]` in time order, and the final `h` and `c` `[B, H]`
/// (after the last step processed: time T-1 forward, time 0 reversed).
pub struct ScanOut {
    pub hs: Var,
    pub h_n: Var,
    pub c_n: Var,
}

fn check(xproj: &Var, w_hh: &Var, h0: &Var, c0: &Var) -> Result<(usize, usize, usize)> {
    let bad = || {
        Error::Config(format!(
            "lstm_scan: expected xproj [T, B, 4H] (T > 0), w_hh [4H, H], h0 and c0 [B, H]; got {:?}, {:?}, {:?}, {:?}",
            xproj.shape(),
            w_hh.shape(),
            h0.shape(),
            c0.shape()
        ))
    };
    if xproj.rank() != 3 || w_hh.rank() != 2 || xproj.shape()[0] == 0 {
        return Err(bad());
    }
    let (t, b, h4) = (xproj.shape()[0], xproj.shape()[1], xproj.shape()[2]);
    let h = w_hh.shape()[1];
    if h4 != 4 * h || w_hh.shape()[0] != h4 || h0.shape() != [b, h] || c0.shape() != [b, h] {
        return Err(bad());
    }
    let dt = xproj.dtype();
    if w_hh.dtype() != dt || h0.dtype() != dt || c0.dtype() != dt {
        return Err(Error::Config(format!(
            "lstm_scan: xproj, w_hh, h0 and c0 must share one dtype, got {}, {}, {}, {}",
            dt,
            w_hh.dtype(),
            h0.dtype(),
            c0.dtype()
        )));
    }
    Ok((t, b, h))
}

/// Time index of processing step `s`.
fn time(s: usize, t: usize, reverse: bool) -> usize {
    if reverse {
        t - 1 - s
    } else {
        s
    }
}

/// What the forward keeps for the backward, in processing order: the gate activations `[T, B, 4H]`, the
/// cell states `[T + 1, B, H]` and hidden states `[T + 1, B, H]` (index 0: the initial state, s + 1: after
/// step s) and tanh of each new cell state `[T, B, H]`.
struct Saved<F> {
    acts: Vec<F>,
    cs: Vec<F>,
    hs: Vec<F>,
    tcs: Vec<F>,
}

/// `W^T` of a row-major `[4H, H]` weight, as the GEMM reads it (`[H, 4H]`).
fn transposed(hid: usize) -> Strides {
    Strides::row_major(hid).t()
}

/// The scan on plain buffers: `xproj` `[T, B, 4H]`, `w_hh` `[4H, H]`, `h0`, `c0` `[B, H]`, all contiguous.
/// Returns the packed output `[T + 1, B, H]` (h in time order, then c_n) and what the backward needs.
fn scan_forward<F: CellFloat>(xproj: &[F], w_hh: &[F], h0: &[F], c0: &[F], t: usize, b: usize, hid: usize, reverse: bool) -> (Vec<F>, Saved<F>) {
    let (bh, bg) = (b * hid, b * 4 * hid);
    let mut sv = Saved { acts: xproj.to_vec(), cs: vec![<F as GemmElem>::ZERO; (t + 1) * bh], hs: vec![<F as GemmElem>::ZERO; (t + 1) * bh], tcs: vec![<F as GemmElem>::ZERO; t * bh] };
    sv.cs[..bh].copy_from_slice(c0);
    sv.hs[..bh].copy_from_slice(h0);
    if reverse {
        // processing order: step s reads time T-1-s
        for s in 0..t {
            sv.acts[s * bg..(s + 1) * bg].copy_from_slice(&xproj[(t - 1 - s) * bg..(t - s) * bg]);
        }
    }
    for s in 0..t {
        let (h_prev, h_rest) = sv.hs.split_at_mut((s + 1) * bh);
        let (c_prev, c_rest) = sv.cs.split_at_mut((s + 1) * bh);
        let gates = &mut sv.acts[s * bg..(s + 1) * bg];
        // gates = xproj[t] + h_prev W_hh^T
        gemm(b, 4 * hid, hid, <F as GemmElem>::ONE, &h_prev[s * bh..], 0, Strides::row_major(hid), w_hh, 0, transposed(hid), <F as GemmElem>::ONE, gates, 0, Strides::row_major(4 * hid));
        cell_forward(hid, gates, &c_prev[s * bh..], &mut c_rest[..bh], &mut sv.tcs[s * bh..(s + 1) * bh], &mut h_rest[..bh]);
    }
    let mut packed = vec![<F as GemmElem>::ZERO; (t + 1) * bh];
    for s in 0..t {
        let ti = time(s, t, reverse);
        packed[ti * bh..(ti + 1) * bh].copy_from_slice(&sv.hs[(s + 1) * bh..(s + 2) * bh]);
    }
    packed[t * bh..].copy_from_slice(&sv.cs[t * bh..]);
    (packed, sv)
}

/// Backpropagation through time on plain buffers. `g` is the gradient of the packed output `[T + 1, B, H]`.
/// Returns `(dxproj [T, B, 4H], dW_hh [4H, H], dh0 [B, H], dc0 [B, H])`.
fn scan_backward<F: CellFloat>(g: &[F], sv: &Saved<F>, w_hh: &[F], t: usize, b: usize, hid: usize, reverse: bool) -> (Vec<F>, Vec<F>, Vec<F>, Vec<F>) {
    let (bh, bg) = (b * hid, b * 4 * hid);
    let mut dh_next = vec![<F as GemmElem>::ZERO; bh];
    let mut dc = g[t * bh..].to_vec();
    let mut dh = vec![<F as GemmElem>::ZERO; bh];
    // in processing order, so that dW_hh = dgates^T h_prev is one GEMM over the saved states
    let mut dgates = vec![<F as GemmElem>::ZERO; t * bg];
    for s in (0..t).rev() {
        let ti = time(s, t, reverse);
        for ((d, &gv), &n) in dh.iter_mut().zip(&g[ti * bh..(ti + 1) * bh]).zip(&dh_next) {
            *d = gv + n;
        }
        let dgs = &mut dgates[s * bg..(s + 1) * bg];
        cell_backward(hid, &sv.acts[s * bg..(s + 1) * bg], &sv.cs[s * bh..(s + 1) * bh], &sv.tcs[s * bh..(s + 1) * bh], &dh, &mut dc, dgs);
        // dh_prev = dgates W_hh
        gemm(b, hid, 4 * hid, <F as GemmElem>::ONE, dgs, 0, Strides::row_major(4 * hid), w_hh, 0, Strides::row_major(hid), <F as GemmElem>::ZERO, &mut dh_next, 0, Strides::row_major(hid));
    }
    let mut dw = vec![<F as GemmElem>::ZERO; 4 * hid * hid];
    gemm(4 * hid, hid, t * b, <F as GemmElem>::ONE, &dgates, 0, Strides::row_major(4 * hid).t(), &sv.hs, 0, Strides::row_major(hid), <F as GemmElem>::ZERO, &mut dw, 0, Strides::row_major(hid));
    let dxproj = if reverse {
        let mut d = vec![<F as GemmElem>::ZERO; t * bg];
        for s in 0..t {
            d[(t - 1 - s) * bg..(t - s) * bg].copy_from_slice(&dgates[s * bg..(s + 1) * bg]);
        }
        d
    } else {
        dgates
    };
    (dxproj, dw, dh_next, dc)
}

/// `lstm_scan` for one float type.
fn scan_typed<F: CellFloat + wrt_tensor::WithDType>(xproj: &Var, w_hh: &Var, h0: &Var, c0: &Var, reverse: bool, t: usize, b: usize, hid: usize) -> Result<ScanOut> {
    let vec = |v: &Var| -> Result<Vec<F>> { Ok(v.value().contiguous()?.to_vec::<F>()?) };
    let w = vec(w_hh)?;
    let (packed, saved) = scan_forward(&vec(xproj)?, &w, &vec(h0)?, &vec(c0)?, t, b, hid, reverse);
    let packed = Tensor::from_vec(packed, &[t + 1, b, hid])?;
    // without a graph (no_grad, or nothing requires grad) nothing is saved for a backward
    let track = wrt_autograd::is_grad_enabled() && [xproj, w_hh, h0, c0].iter().any(|v| v.requires_grad());
    let out = if track {
        Var::from_op("lstm_scan", packed, &[xproj, w_hh, h0, c0], move |g| {
            let g = g.contiguous()?.to_vec::<F>()?;
            let (dx, dw, dh0, dc0) = scan_backward(&g, &saved, &w, t, b, hid, reverse);
            Ok(vec![
                Some(Tensor::from_vec(dx, &[t, b, 4 * hid])?),
                Some(Tensor::from_vec(dw, &[4 * hid, hid])?),
                Some(Tensor::from_vec(dh0, &[b, hid])?),
                Some(Tensor::from_vec(dc0, &[b, hid])?),
            ])
        })
    } else {
        Var::constant(packed)
    };
    let last = time(t - 1, t, reverse);
    Ok(ScanOut { hs: out.narrow(0, 0, t)?, h_n: out.select(0, last)?, c_n: out.select(0, t)? })
}

/// One layer-direction of an LSTM: `xproj = x W_ih^T + b_ih + b_hh` `[T, B, 4H]` (precomputed for all
/// steps), `w_hh` `[4H, H]`, initial state `h0`, `c0` `[B, H]`; `reverse` runs from time T-1 down to 0.
/// f32 and f64 (other dtypes: cast first).
pub fn lstm_scan(xproj: &Var, w_hh: &Var, h0: &Var, c0: &Var, reverse: bool) -> Result<ScanOut> {
    let (t, b, hid) = check(xproj, w_hh, h0, c0)?;
    match xproj.dtype() {
        DType::F32 => scan_typed::<f32>(xproj, w_hh, h0, c0, reverse, t, b, hid),
        DType::F64 => scan_typed::<f64>(xproj, w_hh, h0, c0, reverse, t, b, hid),
        d => Err(Error::Config(format!("lstm_scan: {d} is not supported (f32 or f64)"))),
    }
}

/// The same recurrence composed from `Var` ops, one small graph per step (the test oracle of `lstm_scan`;
/// its backward is O(T^2), see the module doc).
pub fn lstm_scan_composed(xproj: &Var, w_hh: &Var, h0: &Var, c0: &Var, reverse: bool) -> Result<ScanOut> {
    let (t, _, hid) = check(xproj, w_hh, h0, c0)?;
    let whh_t = w_hh.t()?;
    let (mut h, mut c) = (h0.clone(), c0.clone());
    let mut hs: Vec<Option<Var>> = vec![None; t];
    for s in 0..t {
        let ti = time(s, t, reverse);
        let gates = xproj.select(0, ti)?.add(&h.matmul(&whh_t)?)?;
        let i = gates.narrow(1, 0, hid)?.sigmoid()?;
        let f = gates.narrow(1, hid, hid)?.sigmoid()?;
        let g = gates.narrow(1, 2 * hid, hid)?.tanh()?;
        let o = gates.narrow(1, 3 * hid, hid)?.sigmoid()?;
        c = f.mul(&c)?.add(&i.mul(&g)?)?;
        h = o.mul(&c.tanh()?)?;
        hs[ti] = Some(h.clone());
    }
    let hs: Vec<Var> = hs.into_iter().map(|x| x.expect("every time step is visited once")).collect();
    Ok(ScanOut { hs: Var::stack(&hs, 0)?, h_n: h, c_n: c })
}
