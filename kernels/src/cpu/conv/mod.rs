//! Convolution and transposed convolution (PyTorch semantics) as im2col + GEMM.
//!
//! Every convolution is 3D with spatial dims `(D, H, W)`: conv1d is `D = H = 1`, conv2d is
//! `D = 1`. Tensors are `N C D H W` contiguous row-major; the weight is
//! `[c_out, c_in/groups, kd, kh, kw]` (transposed: `[c_in, c_out/groups, kd, kh, kw]`).
//!
//! Forward, per batch item and chunk of output positions: vol2col the input into a
//! thread-local column buffer `[c_in*K, P]`, then one GEMM per group `W_g @ col_g`. Backward
//! input is `W_g^T @ dout_g` into the column buffer, then col2vol adds it back. Backward weight
//! is `dW_g^T = col_g @ dout_g^T` accumulated over positions and batch items in a fixed order.
//! A 1x1x1 stride-1 unpadded convolution skips the column buffer and multiplies the input
//! directly. The column buffer holds at most ~2M elements per thread: large problems are cut
//! into chunks of output positions. A transposed convolution is the adjoint of a convolution,
//! so its forward *is* conv backward-input and its backward-input *is* conv forward (see
//! [`ConvTransposeParams`]).
//!
//! Parallelism: when one batch item's GEMM is large, items run one after another and the GEMM
//! (over output tiles) and vol2col/col2vol (over channels) use all threads; small items run
//! side by side instead. The choice depends on the shape only, every reduction has a fixed
//! order, and the GEMM is thread-count independent, so no result depends on the thread count.

mod blocks;
mod im2col;
#[cfg(test)]
mod tests;

use crate::cpu::gemm::{gemm_batched, GemmElem, Strides};
use im2col::{col2vol, vol2col, with_scratch, Geom};
use rayon::prelude::*;
use std::ops::Range;

/// A convolution's shape. `out_dims()` follows PyTorch:
/// `floor((in + 2*padding - dilation*(kernel-1) - 1) / stride) + 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvParams {
    pub n: usize,
    pub c_in: usize,
    pub c_out: usize,
    pub groups: usize,
    pub in_dims: [usize; 3],
    pub kernel: [usize; 3],
    pub stride: [usize; 3],
    pub padding: [usize; 3],
    pub dilation: [usize; 3],
}

impl ConvParams {
    /// Stride 1, no padding, dilation 1, one group; override fields with struct update syntax.
    pub fn new(
        n: usize,
        c_in: usize,
        c_out: usize,
        in_dims: [usize; 3],
        kernel: [usize; 3],
    ) -> Self {
        ConvParams {
            n,
            c_in,
            c_out,
            groups: 1,
            in_dims,
            kernel,
            stride: [1; 3],
            padding: [0; 3],
            dilation: [1; 3],
        }
    }

    pub fn out_dims(&self) -> [usize; 3] {
        std::array::from_fn(|i| {
            let span = self.dilation[i] * (self.kernel[i].max(1) - 1) + 1;
            let padded = self.in_dims[i] + 2 * self.padding[i];
            assert!(
                padded >= span,
                "conv: kernel span {span} exceeds padded input {padded} on axis {i}"
            );
            (padded - span) / self.stride[i] + 1
        })
    }

    /// Elements of the input, output and weight.
    pub fn in_len(&self) -> usize {
        self.n * self.c_in * self.in_dims.iter().product::<usize>()
    }
    pub fn out_len(&self) -> usize {
        self.n * self.c_out * self.out_dims().iter().product::<usize>()
    }
    pub fn weight_len(&self) -> usize {
        self.c_out * (self.c_in / self.groups) * self.kernel.iter().product::<usize>()
    }

    fn geom(&self) -> Geom {
        let g = Geom {
            n: self.n,
            c_in: self.c_in,
            c_out: self.c_out,
            groups: self.groups,
            in_dims: self.in_dims,
            out_dims: self.out_dims(),
            kernel: self.kernel,
            stride: self.stride,
            padding: self.padding,
            dilation: self.dilation,
        };
        g.check();
        g
    }
}

/// A transposed convolution's shape (PyTorch `ConvTranspose`): input `[n, c_in, in_dims]`,
/// weight `[c_in, c_out/groups, k...]`, output `[n, c_out, out_dims()]` with
/// `out = (in-1)*stride - 2*padding + dilation*(kernel-1) + output_padding + 1`.
///
/// It is the adjoint of the convolution from its output back to its input with the same
/// kernel, stride, padding, dilation and groups, whose weight layout `[c_out_conv = c_in,
/// c_in_conv/groups = c_out/groups, k...]` is exactly the transposed weight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvTransposeParams {
    pub n: usize,
    pub c_in: usize,
    pub c_out: usize,
    pub groups: usize,
    pub in_dims: [usize; 3],
    pub kernel: [usize; 3],
    pub stride: [usize; 3],
    pub padding: [usize; 3],
    pub output_padding: [usize; 3],
    pub dilation: [usize; 3],
}

impl ConvTransposeParams {
    /// Stride 1, no padding or output padding, dilation 1, one group.
    pub fn new(
        n: usize,
        c_in: usize,
        c_out: usize,
        in_dims: [usize; 3],
        kernel: [usize; 3],
    ) -> Self {
        ConvTransposeParams {
            n,
            c_in,
            c_out,
            groups: 1,
            in_dims,
            kernel,
            stride: [1; 3],
            padding: [0; 3],
            output_padding: [0; 3],
            dilation: [1; 3],
        }
    }

    pub fn out_dims(&self) -> [usize; 3] {
        std::array::from_fn(|i| {
            let full = (self.in_dims[i].max(1) - 1) * self.stride[i]
                + self.dilation[i] * (self.kernel[i].max(1) - 1)
                + self.output_padding[i]
                + 1;
            assert!(
                full > 2 * self.padding[i],
                "conv_transpose: padding {} leaves no output on axis {i}",
                self.padding[i]
            );
            full - 2 * self.padding[i]
        })
    }

    pub fn in_len(&self) -> usize {
        self.n * self.c_in * self.in_dims.iter().product::<usize>()
    }
    pub fn out_len(&self) -> usize {
        self.n * self.c_out * self.out_dims().iter().product::<usize>()
    }
    pub fn weight_len(&self) -> usize {
        self.c_in * (self.c_out / self.groups) * self.kernel.iter().product::<usize>()
    }

    /// The convolution this one is the adjoint of: it maps our output back to our input.
    fn geom(&self) -> Geom {
        let g = Geom {
            n: self.n,
            c_in: self.c_out,
            c_out: self.c_in,
            groups: self.groups,
            in_dims: self.out_dims(),
            out_dims: self.in_dims,
            kernel: self.kernel,
            stride: self.stride,
            padding: self.padding,
            dilation: self.dilation,
        };
        g.check();
        g
    }
}

/// `out[n, co, o] = bias[co] + sum_{ci in group, k} weight[co, ci, k] * inp[n, ci, o*s - p + k*d]`.
/// `out` is overwritten.
pub fn conv_forward<T: GemmElem>(
    out: &mut [T],
    inp: &[T],
    weight: &[T],
    bias: Option<&[T]>,
    p: &ConvParams,
) {
    let g = p.geom();
    forward(out, inp, weight, &g);
    if let Some(b) = bias {
        add_bias(out, b, g.c_out, g.out_size());
    }
}

/// Gradient of [`conv_forward`] with respect to its input. `dinp` is overwritten.
pub fn conv_backward_input<T: GemmElem>(dinp: &mut [T], dout: &[T], weight: &[T], p: &ConvParams) {
    backward_input(dinp, dout, weight, &p.geom());
}

/// Gradients of [`conv_forward`] with respect to weight and bias. `dweight` and `dbias` are
/// overwritten (not accumulated into): the caller adds them to existing gradients if needed.
pub fn conv_backward_weight<T: GemmElem>(
    dweight: &mut [T],
    dbias: Option<&mut [T]>,
    dout: &[T],
    inp: &[T],
    p: &ConvParams,
) {
    let g = p.geom();
    backward_weight(dweight, dout, inp, &g);
    if let Some(db) = dbias {
        channel_sums(db, dout, g.n, g.c_out, g.out_size());
    }
}

/// Transposed convolution forward: the input-gradient of the adjoint convolution, plus bias.
/// `out` is overwritten.
pub fn conv_transpose_forward<T: GemmElem>(
    out: &mut [T],
    inp: &[T],
    weight: &[T],
    bias: Option<&[T]>,
    p: &ConvTransposeParams,
) {
    let g = p.geom();
    backward_input(out, inp, weight, &g);
    if let Some(b) = bias {
        add_bias(out, b, p.c_out, g.in_size());
    }
}

/// Gradient of [`conv_transpose_forward`] with respect to its input: the adjoint
/// convolution's forward. `dinp` is overwritten.
pub fn conv_transpose_backward_input<T: GemmElem>(
    dinp: &mut [T],
    dout: &[T],
    weight: &[T],
    p: &ConvTransposeParams,
) {
    forward(dinp, dout, weight, &p.geom());
}

/// Gradients of [`conv_transpose_forward`] with respect to weight and bias; both overwritten.
/// The adjoint convolution's weight gradient with the roles swapped: its "output gradient"
/// is our input, its "input" is our output gradient.
pub fn conv_transpose_backward_weight<T: GemmElem>(
    dweight: &mut [T],
    dbias: Option<&mut [T]>,
    dout: &[T],
    inp: &[T],
    p: &ConvTransposeParams,
) {
    let g = p.geom();
    backward_weight(dweight, inp, dout, &g);
    if let Some(db) = dbias {
        channel_sums(db, dout, g.n, p.c_out, g.in_size());
    }
}

/// Per-group GEMM operand offsets: `g * step + base` for each group.
fn offs(groups: usize, step: usize, base: usize) -> Vec<usize> {
    (0..groups).map(|i| i * step + base).collect()
}

/// A GEMM operand: slice, one offset per group, strides.
type Operand<'a, T> = (&'a [T], &'a [usize], Strides);

/// One GEMM per group, `C_g = A_g @ B_g + beta * C_g`, with `[m, n, k]` dims.
fn group_gemm<T: GemmElem>(
    [m, n, k]: [usize; 3],
    (a, a_offs, sa): Operand<T>,
    (b, b_offs, sb): Operand<T>,
    beta: T,
    (c, c_offs, sc): (&mut [T], &[usize], Strides),
) {
    gemm_batched(
        m,
        n,
        k,
        T::ONE,
        a,
        a_offs,
        sa,
        b,
        b_offs,
        sb,
        beta,
        c,
        c_offs,
        sc,
    );
}

fn check_len(what: &str, name: &str, got: usize, want: usize) {
    assert_eq!(
        got, want,
        "{what}: {name} has {got} elements, the shape needs {want}"
    );
}

/// Runs `f(n, item n of buf)` for every batch item: one after another when `serial` (each
/// item's GEMM and vol2col then use all threads themselves), else in parallel.
fn for_each_item<T: Send>(
    buf: &mut [T],
    item: usize,
    serial: bool,
    f: impl Fn(usize, &mut [T]) + Sync,
) {
    if serial {
        buf.chunks_mut(item).enumerate().for_each(|(n, b)| f(n, b));
    } else {
        buf.par_chunks_mut(item)
            .enumerate()
            .for_each(|(n, b)| f(n, b));
    }
}

/// `out[n] = W_g @ col(inp[n])_g` for every group, written over `out`.
fn forward<T: GemmElem>(out: &mut [T], inp: &[T], weight: &[T], g: &Geom) {
    let (s_in, s_out, ks, cig, cog) = (g.in_size(), g.out_size(), g.ksize(), g.cig(), g.cog());
    let (item_in, item_out, wk) = (g.c_in * s_in, g.c_out * s_out, cig * ks);
    check_len("conv forward", "output", out.len(), g.n * item_out);
    check_len("conv forward", "input", inp.len(), g.n * item_in);
    check_len("conv forward", "weight", weight.len(), g.c_out * wk);
    if out.is_empty() {
        return;
    }
    if let Some(b) = g.items_per_block() {
        return blocks::forward(out, inp, weight, g, b);
    }
    let w = (
        weight,
        &offs(g.groups, cog * wk, 0)[..],
        Strides::row_major(wk),
    );
    let out_offs = |p0| offs(g.groups, cog * s_out, p0);
    if g.is_pointwise() {
        let in_offs = offs(g.groups, cig * s_in, 0);
        for_each_item(out, item_out, g.serial_items(), |n, out_n| {
            let inp_n = &inp[n * item_in..][..item_in];
            let x = (inp_n, &in_offs[..], Strides::row_major(s_in));
            group_gemm(
                [cog, s_out, cig],
                w,
                x,
                T::ZERO,
                (out_n, &out_offs(0), Strides::row_major(s_out)),
            );
        });
        return;
    }
    let pc = g.chunk_len();
    for_each_item(out, item_out, g.serial_items(), |n, out_n| {
        let inp_n = &inp[n * item_in..][..item_in];
        with_scratch(g.c_in * ks * pc, |col: &mut [T]| {
            for p0 in (0..s_out).step_by(pc) {
                let len = pc.min(s_out - p0);
                vol2col(col, &[inp_n], g, p0, p0 + len, len);
                let cols = (
                    &*col,
                    &offs(g.groups, wk * len, 0)[..],
                    Strides::row_major(len),
                );
                let c = (&mut *out_n, &out_offs(p0)[..], Strides::row_major(s_out));
                group_gemm([cog, len, wk], w, cols, T::ZERO, c);
            }
        });
    });
}

/// `dinp[n] = col2vol(W_g^T @ dout[n]_g)`, written over `dinp`.
fn backward_input<T: GemmElem>(dinp: &mut [T], dout: &[T], weight: &[T], g: &Geom) {
    let (s_in, s_out, ks, cig, cog) = (g.in_size(), g.out_size(), g.ksize(), g.cig(), g.cog());
    let (item_in, item_out, wk) = (g.c_in * s_in, g.c_out * s_out, cig * ks);
    check_len(
        "conv backward input",
        "input gradient",
        dinp.len(),
        g.n * item_in,
    );
    check_len(
        "conv backward input",
        "output gradient",
        dout.len(),
        g.n * item_out,
    );
    check_len("conv backward input", "weight", weight.len(), g.c_out * wk);
    if dinp.is_empty() {
        return;
    }
    if let Some(b) = g.items_per_block() {
        return blocks::backward_input(dinp, dout, weight, g, b);
    }
    // W_g^T: [cig*K, cog], the weight read transposed.
    let wt = (
        weight,
        &offs(g.groups, cog * wk, 0)[..],
        Strides::row_major(wk).t(),
    );
    let dout_offs = |p0| offs(g.groups, cog * s_out, p0);
    if g.is_pointwise() {
        let in_offs = offs(g.groups, cig * s_in, 0);
        for_each_item(dinp, item_in, g.serial_items(), |n, dinp_n| {
            let dy = (
                &dout[n * item_out..][..item_out],
                &dout_offs(0)[..],
                Strides::row_major(s_out),
            );
            group_gemm(
                [cig, s_in, cog],
                wt,
                dy,
                T::ZERO,
                (dinp_n, &in_offs, Strides::row_major(s_in)),
            );
        });
        return;
    }
    let pc = g.chunk_len();
    for_each_item(dinp, item_in, g.serial_items(), |n, dinp_n| {
        let dout_n = &dout[n * item_out..][..item_out];
        dinp_n.fill(T::ZERO);
        with_scratch(g.c_in * ks * pc, |col: &mut [T]| {
            for p0 in (0..s_out).step_by(pc) {
                let len = pc.min(s_out - p0);
                let dy = (dout_n, &dout_offs(p0)[..], Strides::row_major(s_out));
                let c = (
                    &mut *col,
                    &offs(g.groups, wk * len, 0)[..],
                    Strides::row_major(len),
                );
                group_gemm([wk, len, cog], wt, dy, T::ZERO, c);
                col2vol(dinp_n, col, g, p0, p0 + len, len);
            }
        });
    });
}

/// Batch items are split into at most this many fixed parts whose partial weight gradients
/// run in parallel and are summed in part order: the split depends on the shape only, never
/// on the thread count, so the result is bit-reproducible.
const WEIGHT_PARTS: usize = 4;
/// Bound on the extra memory (elements) the partial weight gradients may take.
const WEIGHT_PART_BUDGET: usize = 1 << 24;

/// `dW_g = sum_n dout[n]_g @ col(inp[n])_g^T`, written over `dweight`.
fn backward_weight<T: GemmElem>(dweight: &mut [T], dout: &[T], inp: &[T], g: &Geom) {
    let wlen = g.c_out * g.cig() * g.ksize();
    check_len(
        "conv backward weight",
        "weight gradient",
        dweight.len(),
        wlen,
    );
    check_len(
        "conv backward weight",
        "output gradient",
        dout.len(),
        g.n * g.c_out * g.out_size(),
    );
    check_len(
        "conv backward weight",
        "input",
        inp.len(),
        g.n * g.c_in * g.in_size(),
    );
    if wlen == 0 {
        return;
    }
    if let Some(b) = g.items_per_block() {
        return blocks::backward_weight(dweight, dout, inp, g, b);
    }
    let per =
        g.n.div_ceil(WEIGHT_PARTS.min(1 + WEIGHT_PART_BUDGET / wlen))
            .max(1);
    let parts = g.n.div_ceil(per).max(1);
    let mut extra = vec![T::ZERO; (parts - 1) * wlen];
    let mut bufs: Vec<&mut [T]> = std::iter::once(&mut *dweight)
        .chain(extra.chunks_mut(wlen))
        .collect();
    bufs.par_iter_mut().enumerate().for_each(|(i, dw)| {
        weight_grad_part(dw, dout, inp, g, i * per..((i + 1) * per).min(g.n));
    });
    drop(bufs);
    for part in extra.chunks(wlen) {
        for (d, &s) in dweight.iter_mut().zip(part) {
            *d = d.add(s);
        }
    }
}

/// Weight gradient over batch items `items`, in order, written over `dw`.
///
/// Computed transposed, `dW_g^T = col_g @ dout_g^T`: the column block is then the row-major
/// A operand and the small `dout` block the B operand, which packs faster than reading the
/// large column block transposed (measured ~1.4x on conv 3x3 64->64).
fn weight_grad_part<T: GemmElem>(
    dw: &mut [T],
    dout: &[T],
    inp: &[T],
    g: &Geom,
    items: Range<usize>,
) {
    let (s_in, s_out, ks, cig, cog) = (g.in_size(), g.out_size(), g.ksize(), g.cig(), g.cog());
    let (item_in, item_out, wk) = (g.c_in * s_in, g.c_out * s_out, cig * ks);
    if items.is_empty() || s_out == 0 {
        dw.fill(T::ZERO);
        return;
    }
    let dw_offs = offs(g.groups, cog * wk, 0);
    let mut beta = T::ZERO; // the first product overwrites, the rest accumulate
    let pointwise = g.is_pointwise();
    let pc = if pointwise { s_out } else { g.chunk_len() };
    let col_len = if pointwise { 0 } else { g.c_in * ks * pc };
    with_scratch(col_len, |col: &mut [T]| {
        for n in items {
            let (dout_n, inp_n) = (
                &dout[n * item_out..][..item_out],
                &inp[n * item_in..][..item_in],
            );
            for p0 in (0..s_out).step_by(pc) {
                let len = pc.min(s_out - p0);
                let dy_t = (
                    dout_n,
                    &offs(g.groups, cog * s_out, p0)[..],
                    Strides::row_major(s_out).t(),
                );
                let (src, col_offs, sc) = if pointwise {
                    (
                        inp_n,
                        offs(g.groups, cig * s_in, p0),
                        Strides::row_major(s_in),
                    )
                } else {
                    vol2col(col, &[inp_n], g, p0, p0 + len, len);
                    (&*col, offs(g.groups, wk * len, 0), Strides::row_major(len))
                };
                let dw_t = (&mut *dw, &dw_offs[..], Strides::row_major(wk).t());
                group_gemm([wk, cog, len], (src, &col_offs, sc), dy_t, beta, dw_t);
                beta = T::ONE;
            }
        }
    });
}

/// `out[n, c, :] += bias[c]`.
fn add_bias<T: GemmElem>(out: &mut [T], bias: &[T], c: usize, spatial: usize) {
    assert_eq!(
        bias.len(),
        c,
        "conv: bias length {} != channels {c}",
        bias.len()
    );
    if spatial == 0 || c == 0 {
        return;
    }
    out.par_chunks_mut(c * spatial).for_each(|item| {
        for (plane, &b) in item.chunks_mut(spatial).zip(bias) {
            plane.iter_mut().for_each(|v| *v = v.add(b));
        }
    });
}

/// `sums[c] = sum over n, then positions, of x[n, c, :]`, in that fixed order.
fn channel_sums<T: GemmElem>(sums: &mut [T], x: &[T], n: usize, c: usize, spatial: usize) {
    assert_eq!(
        sums.len(),
        c,
        "conv: bias gradient length {} != channels {c}",
        sums.len()
    );
    assert_eq!(
        x.len(),
        n * c * spatial,
        "conv: gradient length does not match the shape"
    );
    sums.par_iter_mut().enumerate().for_each(|(ci, s)| {
        let mut acc = T::ZERO;
        for ni in 0..n {
            for &v in &x[(ni * c + ci) * spatial..][..spatial] {
                acc = acc.add(v);
            }
        }
        *s = acc;
    });
}
