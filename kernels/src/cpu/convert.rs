//! Conversions between f32 and the 16-bit floats, over slices.
//!
//! bf16 is the top half of an f32, so widening is a shift and narrowing rounds to nearest even
//! on the dropped 16 bits; both are written as branch-free integer loops the compiler turns into
//! AVX-512/AVX2 code, and give the same bits as `half` and PyTorch (NaN stays NaN, quieted).
//! f16 goes through `half`'s slice conversions, which use F16C where the CPU has it.

use half::slice::HalfFloatSliceExt;
use half::{bf16, f16};

/// `x` rounded to the nearest bf16 (ties to even).
#[inline(always)]
pub fn round_bf16(x: f32) -> bf16 {
    bf16::from_bits(narrow(x))
}

/// Round-to-nearest-even f32 -> bf16 on the bit pattern.
#[inline(always)]
fn narrow(x: f32) -> u16 {
    let b = x.to_bits();
    let rounded = b.wrapping_add(0x7fff + ((b >> 16) & 1)) >> 16;
    let nan = (b & 0x7fff_ffff) > 0x7f80_0000;
    if nan {
        ((b >> 16) | 0x40) as u16
    } else {
        rounded as u16
    }
}

/// `dst[i] = bf16(src[i])`, rounding to nearest even.
pub fn f32_to_bf16(src: &[f32], dst: &mut [bf16]) {
    assert_eq!(src.len(), dst.len(), "f32_to_bf16: lengths differ");
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = round_bf16(s);
    }
}

/// `dst[i] = f32(src[i])` (exact).
pub fn bf16_to_f32(src: &[bf16], dst: &mut [f32]) {
    assert_eq!(src.len(), dst.len(), "bf16_to_f32: lengths differ");
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = f32::from_bits((s.to_bits() as u32) << 16);
    }
}

/// The whole slice widened to f32.
pub fn bf16_to_f32_vec(src: &[bf16]) -> Vec<f32> {
    let mut out = vec![0f32; src.len()];
    bf16_to_f32(src, &mut out);
    out
}

/// A 16-bit float format autocast rounds to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rounding {
    Bf16,
    F16,
}

/// `x` rounded to the format and widened back (an f32 holding a bf16/f16 value).
#[inline(always)]
pub fn round_one(r: Rounding, x: f32) -> f32 {
    match r {
        Rounding::Bf16 => f32::from_bits((narrow(x) as u32) << 16),
        Rounding::F16 => f16::from_f32(x).to_f32(),
    }
}

/// Every element rounded to the format in place (f16 through F16C where the CPU has it).
pub fn round_in_place(r: Rounding, xs: &mut [f32]) {
    match r {
        Rounding::Bf16 => xs.iter_mut().for_each(|x| *x = round_one(r, *x)),
        Rounding::F16 => {
            let mut h = [f16::ZERO; 256];
            for ch in xs.chunks_mut(256) {
                let h = &mut h[..ch.len()];
                h.convert_from_f32_slice(ch);
                h.convert_to_f32_slice(ch);
            }
        }
    }
}

/// `dst[i] = f16(src[i])`, rounding to nearest even.
pub fn f32_to_f16(src: &[f32], dst: &mut [f16]) {
    dst.convert_from_f32_slice(src);
}

/// `dst[i] = f32(src[i])` (exact).
pub fn f16_to_f32(src: &[f16], dst: &mut [f32]) {
    src.convert_to_f32_slice(dst);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bf16_matches_half_bit_for_bit() {
        let mut xs: Vec<f32> = vec![0.0, -0.0, 1.0, 1.00390625, 1.005859375, -3.3e38, 3.4e38, f32::INFINITY, f32::NEG_INFINITY, f32::MIN_POSITIVE, 1e-40];
        // Ties in both directions and a spread of ordinary values.
        xs.extend([f32::from_bits(0x3f80_8000), f32::from_bits(0x3f81_8000), f32::from_bits(0x3f80_7fff)]);
        xs.extend((0..2000).map(|i| ((i as f32) * 0.7311).sin() * 10f32.powi(i % 20 - 10)));
        let mut out = vec![bf16::ZERO; xs.len()];
        f32_to_bf16(&xs, &mut out);
        for (x, o) in xs.iter().zip(&out) {
            assert_eq!(o.to_bits(), bf16::from_f32(*x).to_bits(), "{x:e}");
        }
        let mut back = vec![0f32; xs.len()];
        bf16_to_f32(&out, &mut back);
        for (o, b) in out.iter().zip(&back) {
            assert_eq!(o.to_f32().to_bits(), b.to_bits());
        }
        let mut nan = [bf16::ZERO];
        f32_to_bf16(&[f32::NAN], &mut nan);
        assert!(nan[0].is_nan());
    }

    #[test]
    fn f16_round_trips() {
        let xs: Vec<f32> = (0..300).map(|i| (i as f32 - 150.0) * 0.37).collect();
        let mut h = vec![f16::ZERO; xs.len()];
        f32_to_f16(&xs, &mut h);
        let mut back = vec![0f32; xs.len()];
        f16_to_f32(&h, &mut back);
        for ((x, h), b) in xs.iter().zip(&h).zip(&back) {
            assert_eq!(h.to_bits(), f16::from_f32(*x).to_bits());
            assert_eq!(*b, h.to_f32());
        }
    }
}
