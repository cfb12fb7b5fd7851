//! The LSTM recurrence of one layer and direction as one graph node (`lstm_scan`), with its composed twin
//! (`lstm_scan_composed`) for tests.
//!
//! Why fused: composed from `Var` ops, each step reads its slice `xproj[t]` of the precomputed input
//! projection, and the backward of each slice allocates and adds a gradient of the *whole* `[T, B, 4H]`
//! tensor (autograd accumulates dense gradients), so a backward costs O(T^2 B H). The fused node runs the
//! steps with plain tensor ops, keeps the gate activations, and does backpropagation through time in its
//! backward: O(T B H) memory and time, one `[B, 4H] x [4H, H]` GEMM per step each way and one GEMM for
//! `dW_hh` at the end.
//!
//! Gate order is PyTorch's i, f, g, o:
//! `gates = xproj[t] + h W_hh^T`, `i, f, o = sigmoid(..)`, `g = tanh(..)`, `c' = f c + i g`, `h' = o tanh(c')`.

use crate::{Error, Result};
use wrt_autograd::Var;
use wrt_tensor::Tensor;

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

/// What one step saves for the backward (all `[B, H]`).
struct Step {
    i: Tensor,
    f: Tensor,
    g: Tensor,
    o: Tensor,
    /// tanh(c_t)
    tc: Tensor,
    c_prev: Tensor,
    h_prev: Tensor,
}

/// Time index of processing step `s`.
fn time(s: usize, t: usize, reverse: bool) -> usize {
    if reverse {
        t - 1 - s
    } else {
        s
    }
}

/// One layer-direction of an LSTM: `xproj = x W_ih^T + b_ih + b_hh` `[T, B, 4H]` (precomputed for all
/// steps), `w_hh` `[4H, H]`, initial state `h0`, `c0` `[B, H]`; `reverse` runs from time T-1 down to 0.
pub fn lstm_scan(xproj: &Var, w_hh: &Var, h0: &Var, c0: &Var, reverse: bool) -> Result<ScanOut> {
    let (t, _, hid) = check(xproj, w_hh, h0, c0)?;
    let whh_t = w_hh.value().t()?;
    // without a graph (no_grad, or nothing requires grad) nothing is saved for a backward
    let track = wrt_autograd::is_grad_enabled() && [xproj, w_hh, h0, c0].iter().any(|v| v.requires_grad());
    let (mut h, mut c) = (h0.value().clone(), c0.value().clone());
    let mut hs: Vec<Option<Tensor>> = vec![None; t];
    let mut steps = Vec::with_capacity(if track { t } else { 0 });
    for s in 0..t {
        let ti = time(s, t, reverse);
        let gates = xproj.value().select(0, ti)?.add(&h.matmul(&whh_t)?)?;
        let i = gates.narrow(1, 0, hid)?.sigmoid()?;
        let f = gates.narrow(1, hid, hid)?.sigmoid()?;
        let g = gates.narrow(1, 2 * hid, hid)?.tanh()?;
        let o = gates.narrow(1, 3 * hid, hid)?.sigmoid()?;
        let c_new = f.mul(&c)?.add(&i.mul(&g)?)?;
        let tc = c_new.tanh()?;
        let h_new = o.mul(&tc)?;
        hs[ti] = Some(h_new.clone());
        if track {
            steps.push(Step { i, f, g, o, tc, c_prev: c, h_prev: h });
        }
        h = h_new;
        c = c_new;
    }
    // packed output [T + 1, B, H]: h at each time, then c_n (one node, several outputs)
    let mut rows: Vec<Tensor> = hs.into_iter().map(|x| x.expect("every time step is visited once")).collect();
    rows.push(c);
    let packed = Tensor::stack(&rows, 0)?;
    let w = w_hh.value().clone();
    let out = Var::from_op("lstm_scan", packed, &[xproj, w_hh, h0, c0], move |g| {
        let (dxproj, dw, dh0, dc0) = backward(g, &steps, &w, reverse)?;
        Ok(vec![Some(dxproj), Some(dw), Some(dh0), Some(dc0)])
    });
    let last = time(t - 1, t, reverse);
    Ok(ScanOut { hs: out.narrow(0, 0, t)?, h_n: out.select(0, last)?, c_n: out.select(0, t)? })
}

/// Backpropagation through time. `g` is the gradient of the packed output `[T + 1, B, H]`.
fn backward(g: &Tensor, steps: &[Step], w_hh: &Tensor, reverse: bool) -> wrt_autograd::Result<(Tensor, Tensor, Tensor, Tensor)> {
    let t = steps.len();
    let mut dh_next = g.select(0, 0)?.zeros_like()?;
    let mut dc_next = g.select(0, t)?.contiguous()?;
    let mut dgates: Vec<Option<Tensor>> = vec![None; t];
    for (s, st) in steps.iter().enumerate().rev() {
        let ti = time(s, t, reverse);
        let dh = g.select(0, ti)?.add(&dh_next)?;
        // dc = dc_next + dh * o * (1 - tanh(c)^2)
        let dc = dc_next.add(&dh.mul(&st.o)?.mul(&st.tc.square()?.neg()?.add_scalar(1.0)?)?)?;
        let sig_grad = |y: &Tensor| -> wrt_tensor::Result<Tensor> { y.mul(&y.neg()?.add_scalar(1.0)?) };
        let di = dc.mul(&st.g)?.mul(&sig_grad(&st.i)?)?;
        let df = dc.mul(&st.c_prev)?.mul(&sig_grad(&st.f)?)?;
        let dg = dc.mul(&st.i)?.mul(&st.g.square()?.neg()?.add_scalar(1.0)?)?;
        let d_o = dh.mul(&st.tc)?.mul(&sig_grad(&st.o)?)?;
        let dgate = Tensor::cat(&[di, df, dg, d_o], 1)?;
        dh_next = dgate.matmul(w_hh)?;
        dc_next = dc.mul(&st.f)?;
        dgates[ti] = Some(dgate);
    }
    let dgates: Vec<Tensor> = dgates.into_iter().map(|x| x.expect("every time step is visited once")).collect();
    let dxproj = Tensor::stack(&dgates, 0)?;
    // dW_hh = sum_t dgates_t^T h_{t-1}: one GEMM over all steps, rows in time order on both sides
    let h_prev: Vec<Tensor> = (0..t).map(|ti| steps[if reverse { t - 1 - ti } else { ti }].h_prev.clone()).collect();
    let (b, h4) = (dgates[0].shape()[0], dgates[0].shape()[1]);
    let h_prev = Tensor::stack(&h_prev, 0)?.reshape_to(&[t * b, h4 / 4])?;
    let dw = dxproj.reshape_to(&[t * b, h4])?.t()?.matmul(&h_prev)?;
    Ok((dxproj, dw, dh_next, dc_next))
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
