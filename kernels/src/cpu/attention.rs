//! Scaled dot-product attention, forward and backward (torch's `scaled_dot_product_attention`),
//! for `heads` independent problems (the flattened batch x head dims):
//!
//! ```text
//!   S = scale * Q K^T + mask            Q [L, D], K [S, D], V [S, Dv]      (per head)
//!   P = softmax_rows(S)                 lse_i = m_i + ln(sum_j exp(S_ij - m_i))
//!   O = (P * M) V                       M: dropout mask of 0 and 1/(1-p) (all ones without)
//! backward, from dO:
//!   dV = (P * M)^T dO
//!   dP = (dO V^T) * M
//!   dS = P * (dP - rowsum(dP * P))
//!   dQ = scale * dS K,   dK = scale * dS^T Q
//! ```
//!
//! The forward keeps only the row log-sum-exp `lse` [heads, L]; the backward recomputes P from
//! Q, K and lse (one more GEMM instead of a saved [heads, L, S] block: flash-attention's trade).
//! Rows run in blocks of `BLOCK_ROWS` queries (`BWD_BLOCK_ROWS` in the backward, where larger
//! blocks give the dK/dV GEMMs a longer reduction: 2x faster at L = 257 than 64-row blocks), so
//! scratch is a few `block x S` buffers per head and long sequences never materialise L x S.
//! Heads run in parallel (rayon); inside a head the query blocks run in order and accumulate dK
//! and dV in that order, and the GEMM is thread-count invariant, so results are bit-identical
//! for any number of threads.
//!
//! Masks: a boolean mask (nonzero = take part, torch's convention), an additive bias, or the
//! causal mask (`j <= i`, aligned top-left like torch's `ones(L, S).tril()`), read through
//! per-head offsets and strides so a broadcast [L, S] mask is never expanded.
//! **Fully masked rows** (every score -inf) give an output row of 0 and zero gradients (lse is
//! -inf). PyTorch's math backend since 2.5 (`_safe_softmax`) does the same; older releases
//! returned NaN.

use rayon::prelude::*;

use super::gemm::{gemm, GemmElem, Strides};
use super::vmath::{exp_f32_inplace, Real};

/// Query rows per block in the forward.
pub const BLOCK_ROWS: usize = 128;
/// Query rows per block in the backward.
pub const BWD_BLOCK_ROWS: usize = 256;

/// Element types with an attention kernel.
pub trait AttnFloat: GemmElem + Real {
    /// `x[i] = exp(x[i])`.
    fn exp_inplace(x: &mut [Self]);
}

impl AttnFloat for f32 {
    fn exp_inplace(x: &mut [f32]) {
        exp_f32_inplace(x)
    }
}

impl AttnFloat for f64 {
    fn exp_inplace(x: &mut [f64]) {
        x.iter_mut().for_each(|v| *v = v.exp())
    }
}

/// A matrix per head: head `h`'s element `(r, c)` is `data[offs[h] + r * rs + c * cs]`. Strided
/// views (a permuted `[B, L, H, D]` projection) and broadcast heads (stride 0) need no copy.
#[derive(Clone, Copy, Debug)]
pub struct HeadMat<'a, T> {
    pub data: &'a [T],
    pub offs: &'a [usize],
    pub rs: usize,
    pub cs: usize,
}

impl<T> HeadMat<'_, T> {
    fn check(&self, name: &str, heads: usize, rows: usize, cols: usize) {
        assert_eq!(
            self.offs.len(),
            heads,
            "attention: {name} needs one offset per head"
        );
        if rows == 0 || cols == 0 {
            return;
        }
        let span = (rows - 1).checked_mul(self.rs).and_then(|r| {
            (cols - 1)
                .checked_mul(self.cs)
                .and_then(|c| r.checked_add(c))
        });
        for &o in self.offs {
            let last = span.and_then(|s| s.checked_add(o));
            assert!(
                last.is_some_and(|l| l < self.data.len()),
                "attention: {name} ({rows}x{cols}, offset {o}, strides {}x{}) overruns its slice of {}",
                self.rs,
                self.cs,
                self.data.len()
            );
        }
    }
    fn strides(&self) -> Strides {
        Strides::new(self.rs, self.cs)
    }
    /// The transposed matrix's strides.
    fn strides_t(&self) -> Strides {
        Strides::new(self.cs, self.rs)
    }
}

/// The attention mask.
#[derive(Clone, Copy, Debug)]
pub enum AttnMask<'a, T> {
    None,
    /// Keep `j <= i` (top-left aligned).
    Causal,
    /// `[L, S]` per head; 0 = masked out.
    Keep(HeadMat<'a, u8>),
    /// `[L, S]` per head, added to the scaled scores.
    Bias(HeadMat<'a, T>),
}

/// Problem sizes: `heads` problems of Q [q_len, qk_dim], K [kv_len, qk_dim], V [kv_len, v_dim].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttnDims {
    pub heads: usize,
    pub q_len: usize,
    pub kv_len: usize,
    pub qk_dim: usize,
    pub v_dim: usize,
}

impl AttnDims {
    #[allow(clippy::too_many_arguments)]
    fn check<T>(
        &self,
        q: &HeadMat<T>,
        k: &HeadMat<T>,
        v: &HeadMat<T>,
        mask: &AttnMask<T>,
        dropout: Option<&[T]>,
    ) {
        let d = *self;
        q.check("Q", d.heads, d.q_len, d.qk_dim);
        k.check("K", d.heads, d.kv_len, d.qk_dim);
        v.check("V", d.heads, d.kv_len, d.v_dim);
        match mask {
            AttnMask::Keep(m) => m.check("mask", d.heads, d.q_len, d.kv_len),
            AttnMask::Bias(m) => m.check("bias", d.heads, d.q_len, d.kv_len),
            AttnMask::None | AttnMask::Causal => {}
        }
        if let Some(m) = dropout {
            assert_eq!(
                m.len(),
                d.heads * d.q_len * d.kv_len,
                "attention: dropout mask must be [heads, L, S]"
            );
        }
    }
}

/// Split `buf` into `heads` consecutive pieces of `per` elements (empty pieces when `per == 0`).
fn split_heads<T>(buf: &mut [T], per: usize, heads: usize) -> Vec<&mut [T]> {
    assert_eq!(buf.len(), per * heads, "attention: output slice size");
    if per == 0 {
        return (0..heads).map(|_| <&mut [T]>::default()).collect();
    }
    buf.chunks_mut(per).collect()
}

/// Scale-and-mask the score row of query `i` of head `h` in place.
fn mask_row<T: AttnFloat>(row: &mut [T], mask: &AttnMask<T>, h: usize, i: usize) {
    match mask {
        AttnMask::None => {}
        AttnMask::Causal => row
            .iter_mut()
            .skip(i + 1)
            .for_each(|x| *x = <T as Real>::NEG_INFINITY),
        AttnMask::Keep(m) => {
            let base = m.offs[h] + i * m.rs;
            for (j, x) in row.iter_mut().enumerate() {
                if m.data[base + j * m.cs] == 0 {
                    *x = <T as Real>::NEG_INFINITY;
                }
            }
        }
        AttnMask::Bias(m) => {
            let base = m.offs[h] + i * m.rs;
            for (j, x) in row.iter_mut().enumerate() {
                *x += m.data[base + j * m.cs];
            }
        }
    }
}

/// Row softmax in place; returns the row's log-sum-exp. A fully masked row (max -inf) becomes
/// zeros with lse -inf.
fn softmax_row<T: AttnFloat>(row: &mut [T]) -> T {
    let m = row_max(row);
    if m == <T as Real>::NEG_INFINITY {
        row.iter_mut().for_each(|x| *x = <T as Real>::ZERO);
        return m;
    }
    row.iter_mut().for_each(|x| *x = *x - m);
    T::exp_inplace(row);
    let s = row_sum(row);
    let inv = <T as Real>::ONE / s;
    row.iter_mut().for_each(|x| *x = *x * inv);
    m + s.ln()
}

/// Largest element (NaN if any is NaN). Eight independent lanes: a single fold is one long dependency
/// chain of compares and was 13% of a SaTformer training step. Max is exact, so the lane split cannot
/// change the result.
fn row_max<T: AttnFloat>(row: &[T]) -> T {
    let mut acc = [<T as Real>::NEG_INFINITY; 8];
    let mut chunks = row.chunks_exact(8);
    for c in &mut chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a = a.max_nan(v);
        }
    }
    let tail = chunks.remainder().iter().fold(<T as Real>::NEG_INFINITY, |m, &v| m.max_nan(v));
    acc.iter().fold(tail, |m, &v| m.max_nan(v))
}

/// Sum in a fixed order (eight lanes over the row, then the lanes and the tail in order): deterministic for
/// any thread count, and without the single fold's serial dependency.
fn row_sum<T: AttnFloat>(row: &[T]) -> T {
    let mut acc = [<T as Real>::ZERO; 8];
    let mut chunks = row.chunks_exact(8);
    for c in &mut chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a = *a + v;
        }
    }
    let lanes = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    chunks.remainder().iter().fold(lanes, |a, &v| a + v)
}

/// Dot product in the same fixed lane order as `row_sum`.
fn row_dot<T: AttnFloat>(a: &[T], b: &[T]) -> T {
    let mut acc = [<T as Real>::ZERO; 8];
    let (mut ca, mut cb) = (a.chunks_exact(8), b.chunks_exact(8));
    for (x, y) in (&mut ca).zip(&mut cb) {
        for k in 0..8 {
            acc[k] = acc[k] + x[k] * y[k];
        }
    }
    let lanes = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    ca.remainder().iter().zip(cb.remainder()).fold(lanes, |s, (&x, &y)| s + x * y)
}

/// `P = exp(S - lse)` in place (0 where lse is -inf).
fn probs_row<T: AttnFloat>(row: &mut [T], lse: T) {
    if lse == <T as Real>::NEG_INFINITY {
        row.iter_mut().for_each(|x| *x = <T as Real>::ZERO);
        return;
    }
    row.iter_mut().for_each(|x| *x = *x - lse);
    T::exp_inplace(row);
}

/// Scores of query rows `r0..r0+m` of head `h` into `sbuf` ([m, S] row-major), scaled and masked.
#[allow(clippy::too_many_arguments)]
fn scores<T: AttnFloat>(
    sbuf: &mut [T],
    q: &HeadMat<T>,
    k: &HeadMat<T>,
    mask: &AttnMask<T>,
    scale: T,
    d: &AttnDims,
    h: usize,
    r0: usize,
    m: usize,
) {
    let s = d.kv_len;
    #[rustfmt::skip]
    gemm(m, s, d.qk_dim, scale,
        q.data, q.offs[h] + r0 * q.rs, q.strides(),
        k.data, k.offs[h], k.strides_t(),
        <T as GemmElem>::ZERO, sbuf, 0, Strides::row_major(s));
    for i in 0..m {
        mask_row(&mut sbuf[i * s..(i + 1) * s], mask, h, r0 + i);
    }
}

/// Forward: `out` [heads, L, Dv] and `lse` [heads, L] (both overwritten). `dropout` is the
/// [heads, L, S] mask of 0 and 1/(1-p), applied to P before the product with V.
#[allow(clippy::too_many_arguments)]
pub fn attention_forward<T: AttnFloat>(
    out: &mut [T],
    lse: &mut [T],
    q: HeadMat<T>,
    k: HeadMat<T>,
    v: HeadMat<T>,
    mask: AttnMask<T>,
    dropout: Option<&[T]>,
    scale: T,
    d: AttnDims,
) {
    d.check(&q, &k, &v, &mask, dropout);
    let (l, s, dv) = (d.q_len, d.kv_len, d.v_dim);
    let outs = split_heads(out, l * dv, d.heads);
    let lses = split_heads(lse, l, d.heads);
    // One score buffer per rayon job rather than per head: every use overwrites it first (the scores GEMM
    // runs with beta = 0), and allocating and zeroing it for each of a batch's heads cost ~5% of a step.
    outs.into_par_iter()
        .zip(lses)
        .enumerate()
        .for_each_init(|| vec![<T as Real>::ZERO; BLOCK_ROWS.min(l) * s], |sbuf, (h, (out, lse))| {
            for r0 in (0..l).step_by(BLOCK_ROWS) {
                let m = BLOCK_ROWS.min(l - r0);
                scores(sbuf, &q, &k, &mask, scale, &d, h, r0, m);
                for i in 0..m {
                    let row = &mut sbuf[i * s..(i + 1) * s];
                    lse[r0 + i] = softmax_row(row);
                    if let Some(dm) = dropout {
                        let mrow = &dm[(h * l + r0 + i) * s..][..s];
                        row.iter_mut().zip(mrow).for_each(|(p, &w)| *p = *p * w);
                    }
                }
                #[rustfmt::skip]
            gemm(m, dv, s, <T as GemmElem>::ONE,
                sbuf, 0, Strides::row_major(s),
                v.data, v.offs[h], v.strides(),
                <T as GemmElem>::ZERO, out, r0 * dv, Strides::row_major(dv));
            }
        });
}

/// Backward: `dq` [heads, L, D], `dk` [heads, S, D], `dv` [heads, S, Dv] (all overwritten) from
/// `dout` [L, Dv] per head and the forward's `lse`; the other arguments as given to the forward. With
/// `dscores` ([heads, L, S], overwritten) it also returns dS, the gradient of the pre-softmax scores, which
/// is the gradient of an additive bias (before any reduction over the heads it is broadcast to).
#[allow(clippy::too_many_arguments)]
pub fn attention_backward<T: AttnFloat>(
    dq: &mut [T],
    dk: &mut [T],
    dv: &mut [T],
    dscores: Option<&mut [T]>,
    dout: HeadMat<T>,
    q: HeadMat<T>,
    k: HeadMat<T>,
    v: HeadMat<T>,
    lse: &[T],
    mask: AttnMask<T>,
    dropout: Option<&[T]>,
    scale: T,
    d: AttnDims,
) {
    d.check(&q, &k, &v, &mask, dropout);
    let (l, s, dqk, dvd) = (d.q_len, d.kv_len, d.qk_dim, d.v_dim);
    dout.check("dO", d.heads, l, dvd);
    assert_eq!(
        lse.len(),
        d.heads * l,
        "attention_backward: lse must be [heads, L]"
    );
    let zero = <T as Real>::ZERO;
    let one = <T as GemmElem>::ONE;
    let dqs = split_heads(dq, l * dqk, d.heads);
    let dks = split_heads(dk, s * dqk, d.heads);
    let dvs = split_heads(dv, s * dvd, d.heads);
    let dss: Vec<&mut [T]> = match dscores {
        Some(b) => split_heads(b, l * s, d.heads),
        None => (0..d.heads).map(|_| <&mut [T]>::default()).collect(),
    };
    let rows = BWD_BLOCK_ROWS.min(l);
    // P, dP then dS, and P * M: per rayon job, not per head (each is overwritten before it is read)
    let scratch = || (vec![zero; rows * s], vec![zero; rows * s], vec![zero; if dropout.is_some() { rows * s } else { 0 }]);
    dqs.into_par_iter()
        .zip(dks)
        .zip(dvs)
        .zip(dss)
        .enumerate()
        .for_each_init(scratch, |(pbuf, gbuf, dbuf), (h, (((dq, dk), dv), ds))| {
            dk.iter_mut().for_each(|x| *x = zero);
            dv.iter_mut().for_each(|x| *x = zero);
            for r0 in (0..l).step_by(BWD_BLOCK_ROWS) {
                let m = BWD_BLOCK_ROWS.min(l - r0);
                scores(pbuf, &q, &k, &mask, scale, &d, h, r0, m);
                for i in 0..m {
                    probs_row(&mut pbuf[i * s..(i + 1) * s], lse[h * l + r0 + i]);
                }
                let dm = dropout.map(|dm| &dm[(h * l + r0) * s..][..m * s]);
                let pd: &[T] = match dm {
                    Some(dm) => {
                        dbuf[..m * s]
                            .iter_mut()
                            .zip(&pbuf[..m * s])
                            .zip(dm)
                            .for_each(|((o, &p), &w)| *o = p * w);
                        &dbuf
                    }
                    None => &pbuf,
                };
                let o_off = dout.offs[h] + r0 * dout.rs;
                // dV += (P * M)^T dO
                #[rustfmt::skip]
            gemm(s, dvd, m, one,
                pd, 0, Strides::new(1, s),
                dout.data, o_off, dout.strides(),
                one, dv, 0, Strides::row_major(dvd));
                // dP = dO V^T (* M)
                #[rustfmt::skip]
            gemm(m, s, dvd, one,
                dout.data, o_off, dout.strides(),
                v.data, v.offs[h], v.strides_t(),
                <T as GemmElem>::ZERO, gbuf, 0, Strides::row_major(s));
                if let Some(dm) = dm {
                    gbuf[..m * s]
                        .iter_mut()
                        .zip(dm)
                        .for_each(|(g, &w)| *g = *g * w);
                }
                // dS = P * (dP - rowsum(dP * P))
                for i in 0..m {
                    let (p, g) = (&pbuf[i * s..(i + 1) * s], &mut gbuf[i * s..(i + 1) * s]);
                    let di = row_dot(p, g);
                    g.iter_mut().zip(p).for_each(|(g, &p)| *g = p * (*g - di));
                }
                if !ds.is_empty() {
                    ds[r0 * s..(r0 + m) * s].copy_from_slice(&gbuf[..m * s]);
                }
                // dQ = scale dS K
                #[rustfmt::skip]
            gemm(m, dqk, s, scale,
                &gbuf, 0, Strides::row_major(s),
                k.data, k.offs[h], k.strides(),
                <T as GemmElem>::ZERO, dq, r0 * dqk, Strides::row_major(dqk));
                // dK += scale dS^T Q
                #[rustfmt::skip]
            gemm(s, dqk, m, scale,
                &gbuf, 0, Strides::new(1, s),
                q.data, q.offs[h] + r0 * q.rs, q.strides(),
                one, dk, 0, Strides::row_major(dqk));
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(n: usize, seed: u64) -> Vec<f64> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
            })
            .collect()
    }

    fn hm(x: &[f64], rs: usize) -> HeadMat<'_, f64> {
        HeadMat {
            data: x,
            offs: &[0],
            rs,
            cs: 1,
        }
    }

    /// Naive per-head reference: O = softmax(scale Q K^T + mask) V.
    #[allow(clippy::too_many_arguments)]
    fn naive(
        q: &[f64],
        k: &[f64],
        v: &[f64],
        l: usize,
        s: usize,
        dd: usize,
        causal: bool,
        scale: f64,
    ) -> Vec<f64> {
        let mut o = vec![0.0; l * dd];
        for i in 0..l {
            let mut sc: Vec<f64> = (0..s)
                .map(|j| (0..dd).map(|p| q[i * dd + p] * k[j * dd + p]).sum::<f64>() * scale)
                .collect();
            if causal {
                sc.iter_mut()
                    .skip(i + 1)
                    .for_each(|x| *x = f64::NEG_INFINITY);
            }
            let m = sc.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let z: f64 = sc.iter().map(|x| (x - m).exp()).sum();
            for j in 0..s {
                let p = (sc[j] - m).exp() / z;
                for c in 0..dd {
                    o[i * dd + c] += p * v[j * dd + c];
                }
            }
        }
        o
    }

    #[test]
    fn forward_matches_naive_across_blocks() {
        let (l, s, dd) = (BLOCK_ROWS + 7, 70, 5);
        let (q, k, v) = (fill(l * dd, 1), fill(s * dd, 2), fill(s * dd, 3));
        for causal in [false, true] {
            let mut out = vec![0.0; l * dd];
            let mut lse = vec![0.0; l];
            let mask = if causal {
                AttnMask::Causal
            } else {
                AttnMask::None
            };
            let dims = AttnDims {
                heads: 1,
                q_len: l,
                kv_len: s,
                qk_dim: dd,
                v_dim: dd,
            };
            attention_forward(
                &mut out,
                &mut lse,
                hm(&q, dd),
                hm(&k, dd),
                hm(&v, dd),
                mask,
                None,
                0.3,
                dims,
            );
            let want = naive(&q, &k, &v, l, s, dd, causal, 0.3);
            for (a, b) in out.iter().zip(&want) {
                assert!((a - b).abs() < 1e-12, "{a} vs {b}");
            }
        }
    }

    #[test]
    fn fully_masked_rows_are_zero() {
        let (l, s, dd) = (3, 4, 2);
        let (q, k, v) = (fill(l * dd, 4), fill(s * dd, 5), fill(s * dd, 6));
        let keep: Vec<u8> = vec![1, 0, 1, 0, 0, 0, 0, 0, 1, 1, 1, 1];
        let dims = AttnDims {
            heads: 1,
            q_len: l,
            kv_len: s,
            qk_dim: dd,
            v_dim: dd,
        };
        let mask = AttnMask::Keep(HeadMat {
            data: &keep,
            offs: &[0],
            rs: s,
            cs: 1,
        });
        let (mut out, mut lse) = (vec![9.0; l * dd], vec![0.0; l]);
        attention_forward(
            &mut out,
            &mut lse,
            hm(&q, dd),
            hm(&k, dd),
            hm(&v, dd),
            mask,
            None,
            1.0,
            dims,
        );
        assert_eq!(&out[dd..2 * dd], &[0.0, 0.0]);
        assert_eq!(lse[1], f64::NEG_INFINITY);
        let (mut dq, mut dk, mut dv) = (vec![9.0; l * dd], vec![9.0; s * dd], vec![9.0; s * dd]);
        let g = vec![1.0; l * dd];
        attention_backward(
            &mut dq,
            &mut dk,
            &mut dv,
            None,
            hm(&g, dd),
            hm(&q, dd),
            hm(&k, dd),
            hm(&v, dd),
            &lse,
            mask,
            None,
            1.0,
            dims,
        );
        assert_eq!(&dq[dd..2 * dd], &[0.0, 0.0]);
        assert!(dq.iter().chain(&dk).chain(&dv).all(|x| x.is_finite()));
    }

    #[test]
    fn bit_identical_for_any_thread_count() {
        // Blocks of 64 x 600 x 64 are big enough for the GEMM to split them across threads too.
        let (heads, l, s, dd) = (3, 70, 600, 64);
        let f = |n, seed| {
            fill(n, seed)
                .into_iter()
                .map(|x| x as f32)
                .collect::<Vec<f32>>()
        };
        let (q, k, v, g) = (
            f(heads * l * dd, 7),
            f(heads * s * dd, 8),
            f(heads * s * dd, 9),
            f(heads * l * dd, 10),
        );
        let drop: Vec<f32> = f(heads * l * s, 11)
            .iter()
            .map(|&x| if x > -0.6 { 1.25 } else { 0.0 })
            .collect();
        let offs = |n: usize| (0..heads).map(|h| h * n * dd).collect::<Vec<usize>>();
        let (oq, okv) = (offs(l), offs(s));
        let dims = AttnDims {
            heads,
            q_len: l,
            kv_len: s,
            qk_dim: dd,
            v_dim: dd,
        };
        let run = || {
            fn m<'a>(x: &'a [f32], o: &'a [usize]) -> HeadMat<'a, f32> {
                HeadMat {
                    data: x,
                    offs: o,
                    rs: 64,
                    cs: 1,
                }
            }
            let (mut out, mut lse) = (vec![0f32; heads * l * dd], vec![0f32; heads * l]);
            attention_forward(
                &mut out,
                &mut lse,
                m(&q, &oq),
                m(&k, &okv),
                m(&v, &okv),
                AttnMask::Causal,
                Some(&drop),
                0.125,
                dims,
            );
            let (mut dq, mut dk, mut dv) = (
                vec![0f32; q.len()],
                vec![0f32; k.len()],
                vec![0f32; v.len()],
            );
            #[rustfmt::skip]
            attention_backward(&mut dq, &mut dk, &mut dv, None, m(&g, &oq), m(&q, &oq), m(&k, &okv), m(&v, &okv), &lse,
                AttnMask::Causal, Some(&drop), 0.125, dims);
            (out, lse, dq, dk, dv)
        };
        let pool = |n| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .unwrap()
        };
        let one = pool(1).install(run);
        for n in [2, 3] {
            assert!(pool(n).install(run) == one, "{n} threads differ from one");
        }
    }
}
