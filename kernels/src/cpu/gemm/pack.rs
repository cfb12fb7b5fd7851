//! Panel packing: copy a block of A or B, read through arbitrary strides, into the contiguous
//! panel layout the micro-kernels stream through.
//!
//! Both operands pack the same way once B is read transposed: a panel is `W` "lanes" (rows of A,
//! or columns of B) interleaved along the depth `p` (the K index), `dst[p * W + i] = src lane i
//! at depth p`, and the last panel is zero-padded to full width so the kernel never branches on
//! edges. Transposed or sliced operands are therefore packed straight from their storage and
//! never materialised.

use super::GemmElem;

/// Packs `lanes x depth` (lane `i`, depth `p` at `src + i*s_lane + p*s_depth`) into
/// `ceil(lanes / W)` panels of `W * depth` elements at `dst`, with a constant panel width.
///
/// # Safety
/// Every `src + i*s_lane + p*s_depth` with `i < lanes`, `p < depth` is readable and `dst` has
/// room for `round_up(lanes, W) * depth` elements.
pub unsafe fn pack_panels_w<T: GemmElem, const W: usize>(
    dst: *mut T,
    src: *const T,
    s_lane: usize,
    s_depth: usize,
    lanes: usize,
    depth: usize,
) {
    pack_body(W, dst, src, s_lane, s_depth, lanes, depth)
}

#[inline(always)]
unsafe fn pack_body<T: GemmElem>(
    w: usize,
    dst: *mut T,
    src: *const T,
    s_lane: usize,
    s_depth: usize,
    lanes: usize,
    depth: usize,
) {
    let mut d = dst;
    let mut l0 = 0;
    while l0 < lanes {
        let live = w.min(lanes - l0);
        let s = src.add(l0 * s_lane);
        if live == w && s_lane == 1 {
            // Lanes contiguous (row-major B, column-major A): each depth step is one copy.
            for p in 0..depth {
                std::ptr::copy_nonoverlapping(s.add(p * s_depth), d.add(p * w), w);
            }
        } else if live == w {
            // Lanes strided (row-major A, transposed B): gather one element per lane. Reading
            // `w` rows in step keeps every read stream sequential for the prefetcher.
            for p in 0..depth {
                for i in 0..w {
                    *d.add(p * w + i) = *s.add(i * s_lane + p * s_depth);
                }
            }
        } else {
            for p in 0..depth {
                for i in 0..w {
                    *d.add(p * w + i) = if i < live {
                        *s.add(i * s_lane + p * s_depth)
                    } else {
                        T::ZERO
                    };
                }
            }
        }
        d = d.add(w * depth);
        l0 += w;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_row_major_and_transposed_the_same() {
        // A 5x3 matrix, lanes = rows, packed with W = 2: 3 panels, the last zero-padded.
        let rows = 5;
        let depth = 3;
        let a: Vec<f32> = (0..rows * depth).map(|x| x as f32).collect(); // row-major
        let at: Vec<f32> = (0..rows * depth)
            .map(|x| a[(x % rows) * depth + x / rows])
            .collect(); // col-major
        let mut d1 = vec![f32::NAN; 6 * depth];
        let mut d2 = vec![f32::NAN; 6 * depth];
        unsafe {
            pack_panels_w::<f32, 2>(d1.as_mut_ptr(), a.as_ptr(), depth, 1, rows, depth);
            pack_panels_w::<f32, 2>(d2.as_mut_ptr(), at.as_ptr(), 1, rows, rows, depth);
        }
        assert_eq!(d1, d2);
        // Panel 0: rows 0,1 interleaved by depth; panel 2: row 4 and a zero lane.
        assert_eq!(&d1[0..6], &[0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
        assert_eq!(&d1[12..18], &[12.0, 0.0, 13.0, 0.0, 14.0, 0.0]);
    }
}
