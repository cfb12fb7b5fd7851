//! The multi-item path for small output planes: `b` batch items' column matrices side by side in one
//! `[c_in*K, b*P]` buffer (item i in columns `i*P..(i+1)*P`), so each block of items is one wide GEMM
//! per group instead of `b` GEMMs `P` columns wide. The per-item output layout `[c_out, P]` differs
//! from the block's `[c_out, b*P]`, so outputs are scattered (and output gradients gathered) through
//! a second scratch block; that copy is as large as the output, small next to the GEMM.
//!
//! Blocks of items run one after another (each GEMM uses all threads) and, for the weight gradient,
//! accumulate in block order: the result depends on the shape only, not on the thread count.

use super::im2col::{col2vol, vol2col, with_scratch, Geom};
use super::{group_gemm, offs};
use crate::cpu::gemm::{GemmElem, Strides};
use rayon::prelude::*;

/// `y [c_out, b*P]` (block layout) <-> `out [b, c_out, P]` (item layout) for items `0..nb`.
fn scatter<T: GemmElem>(out: &mut [T], y: &[T], c_out: usize, p: usize) {
    let ld = y.len() / c_out.max(1);
    out.par_chunks_mut(c_out * p).enumerate().for_each(|(i, o)| {
        for (co, row) in o.chunks_mut(p).enumerate() {
            row.copy_from_slice(&y[co * ld + i * p..][..p]);
        }
    });
}

fn gather<T: GemmElem>(y: &mut [T], src: &[T], c_out: usize, p: usize) {
    let ld = y.len() / c_out.max(1);
    y.par_chunks_mut(ld).enumerate().for_each(|(co, row)| {
        for (i, dst) in row.chunks_mut(p).enumerate() {
            dst.copy_from_slice(&src[i * c_out * p + co * p..][..p]);
        }
    });
}

/// The inputs of items `n0..n0 + nb`, one slice each.
fn items<T>(x: &[T], n0: usize, nb: usize, item: usize) -> Vec<&[T]> {
    (n0..n0 + nb).map(|n| &x[n * item..][..item]).collect()
}

/// Geometry shared by the three passes.
struct Dims {
    s_in: usize,
    s_out: usize,
    cog: usize,
    wk: usize,
    rows: usize,
}

fn dims(g: &Geom) -> Dims {
    let (ks, cig) = (g.ksize(), g.cig());
    Dims { s_in: g.in_size(), s_out: g.out_size(), cog: g.cog(), wk: cig * ks, rows: g.c_in * ks }
}

/// Runs `f(n0, nb, col, y)` for each block of at most `b` items, with scratch for its columns
/// (`[rows, nb*P]`) and its block-layout output (`[c_out, nb*P]`).
fn for_each_block<T: GemmElem>(g: &Geom, b: usize, d: &Dims, mut f: impl FnMut(usize, usize, &mut [T], &mut [T])) {
    with_scratch(b * d.s_out * (d.rows + g.c_out), |buf: &mut [T]| {
        for n0 in (0..g.n).step_by(b) {
            let nb = b.min(g.n - n0);
            let ld = nb * d.s_out;
            let (col, rest) = buf.split_at_mut(d.rows * ld);
            f(n0, nb, col, &mut rest[..g.c_out * ld]);
        }
    });
}

pub(super) fn forward<T: GemmElem>(out: &mut [T], inp: &[T], weight: &[T], g: &Geom, b: usize) {
    let d = dims(g);
    let (item_in, item_out) = (g.c_in * d.s_in, g.c_out * d.s_out);
    let w = (weight, &offs(g.groups, d.cog * d.wk, 0)[..], Strides::row_major(d.wk));
    for_each_block(g, b, &d, |n0, nb, col, y| {
        let ld = nb * d.s_out;
        vol2col(col, &items(inp, n0, nb, item_in), g, 0, d.s_out, ld);
        let cols = (&*col, &offs(g.groups, d.wk * ld, 0)[..], Strides::row_major(ld));
        group_gemm([d.cog, ld, d.wk], w, cols, T::ZERO, (&mut *y, &offs(g.groups, d.cog * ld, 0), Strides::row_major(ld)));
        scatter(&mut out[n0 * item_out..(n0 + nb) * item_out], y, g.c_out, d.s_out);
    });
}

pub(super) fn backward_input<T: GemmElem>(dinp: &mut [T], dout: &[T], weight: &[T], g: &Geom, b: usize) {
    let d = dims(g);
    let (item_in, item_out) = (g.c_in * d.s_in, g.c_out * d.s_out);
    let wt = (weight, &offs(g.groups, d.cog * d.wk, 0)[..], Strides::row_major(d.wk).t());
    for_each_block(g, b, &d, |n0, nb, col, y| {
        let ld = nb * d.s_out;
        gather(y, &dout[n0 * item_out..(n0 + nb) * item_out], g.c_out, d.s_out);
        let dy = (&*y, &offs(g.groups, d.cog * ld, 0)[..], Strides::row_major(ld));
        group_gemm([d.wk, ld, d.cog], wt, dy, T::ZERO, (&mut *col, &offs(g.groups, d.wk * ld, 0), Strides::row_major(ld)));
        let dinp = &mut dinp[n0 * item_in..(n0 + nb) * item_in];
        dinp.fill(T::ZERO);
        col2vol(dinp, col, g, 0, d.s_out, ld);
    });
}

/// `dW_g^T = sum over blocks of col_g @ dy_g^T`, the first block overwriting `dweight`.
pub(super) fn backward_weight<T: GemmElem>(dweight: &mut [T], dout: &[T], inp: &[T], g: &Geom, b: usize) {
    let d = dims(g);
    let (item_in, item_out) = (g.c_in * d.s_in, g.c_out * d.s_out);
    let dw_offs = offs(g.groups, d.cog * d.wk, 0);
    let mut beta = T::ZERO;
    for_each_block(g, b, &d, |n0, nb, col, y| {
        let ld = nb * d.s_out;
        vol2col(col, &items(inp, n0, nb, item_in), g, 0, d.s_out, ld);
        gather(y, &dout[n0 * item_out..(n0 + nb) * item_out], g.c_out, d.s_out);
        let cols = (&*col, &offs(g.groups, d.wk * ld, 0)[..], Strides::row_major(ld));
        let dy_t = (&*y, &offs(g.groups, d.cog * ld, 0)[..], Strides::row_major(ld).t());
        group_gemm([d.wk, d.cog, ld], cols, dy_t, beta, (&mut *dweight, &dw_offs[..], Strides::row_major(d.wk).t()));
        beta = T::ONE;
    });
}
