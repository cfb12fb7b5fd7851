//! Counter-based random numbers: Philox4x32-10 (Salmon et al., SC'11), the generator family of
//! PyTorch's CUDA backend and JAX.
//!
//! A counter-based generator is a keyed bijection `block(counter) -> 4 x u32`: there is no hidden
//! state to advance, so element `i` of a fill is computed from `(seed, offset, i)` alone. That is
//! what makes a random tensor independent of the thread count and of how the fill is chunked, and
//! what makes the whole generator state two integers ([`RngState`]) that a checkpoint can store.
//!
//! The stream (word -> value conversions, block/word indexing, Box-Muller pairing) is specified in
//! `docs/rng.md` so that another implementation (CUDA) reproduces it bit for bit; the comments
//! here are the same rules, next to the code that applies them.

use crate::cpu::vmath::{isa, Isa};
use rayon::prelude::*;

const M0: u32 = 0xD251_1F53;
const M1: u32 = 0xCD9E_8D57;
const W0: u32 = 0x9E37_79B9; // golden ratio
const W1: u32 = 0xBB67_AE85; // sqrt(3) - 1

/// Philox4x32 with 10 rounds on one 128-bit counter; the function the Random123 known-answer
/// vectors test.
#[inline(always)]
pub fn philox4x32_10(ctr: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let [mut c0, mut c1, mut c2, mut c3] = ctr;
    let [mut k0, mut k1] = key;
    for round in 0..10 {
        if round > 0 {
            k0 = k0.wrapping_add(W0);
            k1 = k1.wrapping_add(W1);
        }
        let p0 = M0 as u64 * c0 as u64;
        let p1 = M1 as u64 * c2 as u64;
        let (hi0, lo0) = ((p0 >> 32) as u32, p0 as u32);
        let (hi1, lo1) = ((p1 >> 32) as u32, p1 as u32);
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
    }
    [c0, c1, c2, c3]
}

/// Philox keyed by a 64-bit seed: `key = [seed as u32, (seed >> 32) as u32]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Philox {
    key: [u32; 2],
}

impl Philox {
    pub fn new(seed: u64) -> Self {
        Philox {
            key: [seed as u32, (seed >> 32) as u32],
        }
    }

    /// The four words of block `b`: counter `[b as u32, (b >> 32) as u32, 0, 0]`. The upper
    /// 64 counter bits are reserved (zero) for a future stream id.
    #[inline(always)]
    pub fn block(&self, b: u64) -> [u32; 4] {
        philox4x32_10([b as u32, (b >> 32) as u32, 0, 0], self.key)
    }
}

/// The whole generator state: the seed and the number of 128-bit blocks consumed so far.
/// Two integers, so it serialises into a checkpoint and a resumed run continues the same stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RngState {
    pub seed: u64,
    pub offset: u64,
}

impl RngState {
    pub fn new(seed: u64) -> Self {
        RngState { seed, offset: 0 }
    }

    /// The state after `blocks` more blocks (wraps at 2^64, the counter's period).
    pub fn advanced(self, blocks: u64) -> Self {
        RngState {
            seed: self.seed,
            offset: self.offset.wrapping_add(blocks),
        }
    }
}

// ---- word -> value conversions (docs/rng.md, "Conversions") ----

const TWO_M24: f32 = 1.0 / 16_777_216.0; // 2^-24
const TWO_M32: f64 = 1.0 / 4_294_967_296.0; // 2^-32
const TWO_M53: f64 = 1.0 / 9_007_199_254_740_992.0; // 2^-53

/// Uniform f32 in [0, 1): the top 24 bits of a word, exactly representable.
#[inline(always)]
fn unit_f32(w: u32) -> f32 {
    (w >> 8) as f32 * TWO_M24
}

/// Uniform f64 in [0, 1) on the 2^-32 grid (exact): the Bernoulli/dropout test variable.
#[inline(always)]
fn unit32_f64(w: u32) -> f64 {
    w as f64 * TWO_M32
}

/// The 64-bit value of words `lo, hi` (little-endian: `lo | hi << 32`).
#[inline(always)]
fn u64_of(lo: u32, hi: u32) -> u64 {
    lo as u64 | (hi as u64) << 32
}

/// Uniform f64 in [0, 1): the top 53 bits of a 64-bit value.
#[inline(always)]
fn unit_f64(u: u64) -> f64 {
    (u >> 11) as f64 * TWO_M53
}

/// Box-Muller on two uniforms, `u1` in (0, 1] (so `ln u1` is finite) and `u2` in [0, 1):
/// returns `(r cos t, r sin t)` with `r = sqrt(-2 ln u1)`, `t = 2 pi u2`.
#[inline(always)]
fn box_muller(u1: f64, u2: f64) -> (f64, f64) {
    let r = (-2.0 * u1.ln()).sqrt();
    let (s, c) = (std::f64::consts::TAU * u2).sin_cos();
    (r * c, r * s)
}

// ---- batched generation ----

/// Blocks generated together: the rounds run lane-wise over `BATCH` counters so the vectoriser
/// turns the 32x32->64 multiplies into `vpmuludq` (8 or 4 lanes per instruction).
const BATCH: usize = 64;

/// Words of blocks `b0 .. b0 + BATCH` of `key`, block `i` in `words[4 * i .. 4 * i + 4]`;
/// the same function as [`philox4x32_10`], written lane-wise.
#[inline(always)]
#[allow(clippy::needless_range_loop)] // lane-wise indexing is the point: it is what vectorises
fn batch_body(key: [u32; 2], b0: u64, words: &mut [u32; 4 * BATCH]) {
    let mut c = [[0u32; BATCH]; 4];
    for i in 0..BATCH {
        let b = b0.wrapping_add(i as u64);
        c[0][i] = b as u32;
        c[1][i] = (b >> 32) as u32;
    }
    let [mut k0, mut k1] = key;
    for round in 0..10 {
        if round > 0 {
            k0 = k0.wrapping_add(W0);
            k1 = k1.wrapping_add(W1);
        }
        for i in 0..BATCH {
            let p0 = M0 as u64 * c[0][i] as u64;
            let p1 = M1 as u64 * c[2][i] as u64;
            let (x1, x3) = (c[1][i], c[3][i]);
            c[0][i] = (p1 >> 32) as u32 ^ x1 ^ k0;
            c[1][i] = p1 as u32;
            c[2][i] = (p0 >> 32) as u32 ^ x3 ^ k1;
            c[3][i] = p0 as u32;
        }
    }
    for i in 0..BATCH {
        for k in 0..4 {
            words[4 * i + k] = c[k][i];
        }
    }
}

/// [`batch_body`] compiled for the best ISA (the same integer arithmetic on every path).
fn philox_batch(isa: Isa, key: [u32; 2], b0: u64, words: &mut [u32; 4 * BATCH]) {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f,avx2,fma")]
        unsafe fn v512(key: [u32; 2], b0: u64, words: &mut [u32; 4 * BATCH]) {
            batch_body(key, b0, words)
        }
        #[target_feature(enable = "avx2,fma")]
        unsafe fn v256(key: [u32; 2], b0: u64, words: &mut [u32; 4 * BATCH]) {
            batch_body(key, b0, words)
        }
        match isa {
            // SAFETY: a non-scalar `Isa` comes from vmath's run-time feature detection.
            Isa::Avx512 => return unsafe { v512(key, b0, words) },
            Isa::Avx2 => return unsafe { v256(key, b0, words) },
            Isa::Scalar => {}
        }
    }
    let _ = isa;
    batch_body(key, b0, words)
}

// ---- the parallel driver ----

/// Elements per parallel task. A multiple of `4 * BATCH` so every task starts on a block
/// boundary for both layouts (4 and 2 elements per block). Values never depend on it: element `i`
/// is a function of `(seed, offset, i)` alone, so any chunking (and thread count) gives the same
/// tensor.
const CHUNK: usize = 1 << 14;

/// Fills `out` with `per_block` elements per Philox block: element `i` comes from block
/// `offset + i / per_block`, slot `i % per_block`. `f(words, dst)` fills `dst` from consecutive
/// blocks' words (4 per block, block-major), `dst[0]` being slot 0 of the first: with 4 elements
/// per block word `i` is element `i`, so the fill is one flat loop the compiler vectorises; see
/// [`each_block`] otherwise. Returns the state advanced by `ceil(len / per_block)` blocks.
fn fill_blocks<T: Send>(
    out: &mut [T],
    state: RngState,
    per_block: usize,
    f: impl Fn(&[u32], &mut [T]) + Sync,
) -> RngState {
    debug_assert!(CHUNK.is_multiple_of(per_block * BATCH));
    let gen = Philox::new(state.seed);
    let isa = isa();
    let task = |c: usize, chunk: &mut [T]| {
        let mut words = [0u32; 4 * BATCH];
        let b0 = state.offset.wrapping_add((c * CHUNK / per_block) as u64);
        for (k, dst) in chunk.chunks_mut(per_block * BATCH).enumerate() {
            philox_batch(
                isa,
                gen.key,
                b0.wrapping_add((k * BATCH) as u64),
                &mut words,
            );
            f(&words, dst);
        }
    };
    if out.len() <= CHUNK {
        task(0, out);
    } else {
        out.par_chunks_mut(CHUNK)
            .enumerate()
            .for_each(|(c, chunk)| task(c, chunk));
    }
    state.advanced(out.len().div_ceil(per_block) as u64)
}

/// A `fill_blocks` body from a per-block one: `f(words of one block, its <= per_block elements)`.
fn each_block<T>(per_block: usize, f: impl Fn(&[u32; 4], &mut [T]) + Sync) -> impl Fn(&[u32], &mut [T]) + Sync {
    move |words, dst| {
        for (w, d) in words.chunks_exact(4).zip(dst.chunks_mut(per_block)) {
            f(w.try_into().expect("chunks_exact(4)"), d);
        }
    }
}

// ---- fills ----

/// `out[i] = low + (high - low) * u`, u = top 24 bits of word `i % 4` of block `offset + i / 4`
/// times 2^-24 (in [0, 1)); the product and the sum are separate f32 roundings (no FMA).
/// Rounding may give `high` itself when `high - low` is large relative to `low` (as in PyTorch).
/// 4 elements per block.
pub fn fill_uniform_f32(out: &mut [f32], state: RngState, low: f32, high: f32) -> RngState {
    let span = high - low;
    fill_blocks(out, state, 4, each_block(4, |w, dst| {
        for (d, &w) in dst.iter_mut().zip(w) {
            *d = low + span * unit_f32(w);
        }
    }))
}

/// `out[i] = low + (high - low) * u`, u = top 53 bits of the u64 made of words
/// `(2h, 2h + 1)`, `h = i % 2`, of block `offset + i / 2`, times 2^-53. 2 elements per block.
pub fn fill_uniform_f64(out: &mut [f64], state: RngState, low: f64, high: f64) -> RngState {
    let span = high - low;
    fill_blocks(out, state, 2, each_block(2, |w, dst| {
        for (h, d) in dst.iter_mut().enumerate() {
            *d = low + span * unit_f64(u64_of(w[2 * h], w[2 * h + 1]));
        }
    }))
}

/// Normal(mean, std) by Box-Muller, 4 elements per block: words (0, 1) make the pair for
/// elements 0 and 1 of the block, words (2, 3) the pair for elements 2 and 3;
/// `u1 = (w_even + 1) 2^-32` in (0, 1], `u2 = w_odd 2^-32`; the even element takes the cosine,
/// the odd one the sine. Computed in f64 (`mean + std * z`) and rounded once to f32.
pub fn fill_normal_f32(out: &mut [f32], state: RngState, mean: f32, std: f32) -> RngState {
    let (mean, std) = (mean as f64, std as f64);
    fill_blocks(out, state, 4, each_block(4, |w, dst| {
        let mut z = [0.0f64; 4];
        for p in 0..dst.len().div_ceil(2) {
            let u1 = (w[2 * p] as f64 + 1.0) * TWO_M32;
            let (c, s) = box_muller(u1, unit32_f64(w[2 * p + 1]));
            z[2 * p] = c;
            z[2 * p + 1] = s;
        }
        for (d, z) in dst.iter_mut().zip(z) {
            *d = (mean + std * z) as f32;
        }
    }))
}

/// Normal(mean, std) by Box-Muller, 2 elements per block: `u1 = ((U01 >> 11) + 1) 2^-53` in
/// (0, 1] from the u64 of words (0, 1), `u2 = (U23 >> 11) 2^-53` from words (2, 3); element 0 of
/// the block takes the cosine, element 1 the sine.
pub fn fill_normal_f64(out: &mut [f64], state: RngState, mean: f64, std: f64) -> RngState {
    fill_blocks(out, state, 2, each_block(2, |w, dst| {
        let u1 = ((u64_of(w[0], w[1]) >> 11) + 1) as f64 * TWO_M53;
        let (c, s) = box_muller(u1, unit_f64(u64_of(w[2], w[3])));
        for (d, z) in dst.iter_mut().zip([c, s]) {
            *d = mean + std * z;
        }
    }))
}

/// `out[i] = (u < p) as u8` with `u = w 2^-32` (all 32 bits, exact in f64), 4 elements per
/// block. `p <= 0` gives all zeros, `p >= 1` all ones.
pub fn fill_bernoulli_u8(out: &mut [u8], state: RngState, p: f64) -> RngState {
    fill_blocks(out, state, 4, each_block(4, |w, dst| {
        for (d, &w) in dst.iter_mut().zip(w) {
            *d = (unit32_f64(w) < p) as u8;
        }
    }))
}

/// Inverted-dropout mask (PyTorch convention): `mask[i] = 1 / (1 - p)` where `u < 1 - p` (kept)
/// and 0 elsewhere, `u = w 2^-32` as for Bernoulli; the scale is computed in f64 and rounded to
/// f32. `p = 1` drops everything (all zeros, no division by zero). 4 elements per block.
pub fn fill_dropout_mask_f32(mask_out: &mut [f32], state: RngState, p: f64) -> RngState {
    assert!(
        (0.0..=1.0).contains(&p),
        "dropout probability {p} outside [0, 1]"
    );
    let keep = 1.0 - p;
    let scale = if keep > 0.0 { (1.0 / keep) as f32 } else { 0.0 };
    // w 2^-32 < keep  <=>  w < keep 2^32 (exact in f64)  <=>  w < ceil(keep 2^32): one integer compare
    let below = (keep * 4294967296.0).ceil() as u64;
    let isa = isa();
    fill_blocks(mask_out, state, 4, |words, dst| mask_words(isa, words, dst, below, scale))
}

#[inline(always)]
fn mask_body(words: &[u32], dst: &mut [f32], below: u64, scale: f32) {
    for (d, &w) in dst.iter_mut().zip(words) {
        *d = if (w as u64) < below { scale } else { 0.0 };
    }
}

/// [`mask_body`] compiled for the best ISA (a vector compare and select; the same values on every path).
fn mask_words(isa: Isa, words: &[u32], dst: &mut [f32], below: u64, scale: f32) {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f,avx2")]
        unsafe fn v512(words: &[u32], dst: &mut [f32], below: u64, scale: f32) {
            mask_body(words, dst, below, scale)
        }
        #[target_feature(enable = "avx2")]
        unsafe fn v256(words: &[u32], dst: &mut [f32], below: u64, scale: f32) {
            mask_body(words, dst, below, scale)
        }
        match isa {
            // SAFETY: a non-scalar `Isa` comes from vmath's run-time feature detection.
            Isa::Avx512 => return unsafe { v512(words, dst, below, scale) },
            Isa::Avx2 => return unsafe { v256(words, dst, below, scale) },
            Isa::Scalar => {}
        }
    }
    let _ = isa;
    mask_body(words, dst, below, scale)
}

/// Integers uniform in `[low, high)`: `low + (U % (high - low))` with `U` the u64 of words
/// `(2h, 2h + 1)`, `h = i % 2`, of block `offset + i / 2` (2 elements per block). Modulo bias:
/// every value has probability `floor(2^64 / n) / 2^64` or one more `2^-64`, so relative
/// deviation from `1 / n` is below `n / 2^64` (< 2.4e-10 for `n <= 2^32`).
pub fn fill_randint_i64(out: &mut [i64], state: RngState, low: i64, high: i64) -> RngState {
    assert!(high > low, "randint needs high > low, got [{low}, {high})");
    let n = high.wrapping_sub(low) as u64; // in [1, 2^64 - 1]: the difference fits as unsigned
    fill_blocks(out, state, 2, each_block(2, |w, dst| {
        for (h, d) in dst.iter_mut().enumerate() {
            *d = low.wrapping_add((u64_of(w[2 * h], w[2 * h + 1]) % n) as i64);
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random123_known_answers() {
        assert_eq!(
            philox4x32_10([0; 4], [0; 2]),
            [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]
        );
        assert_eq!(
            philox4x32_10([u32::MAX; 4], [u32::MAX; 2]),
            [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]
        );
        assert_eq!(
            philox4x32_10(
                [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
                [0xa4093822, 0x299f31d0]
            ),
            [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]
        );
    }

    #[test]
    fn seed_and_block_mapping() {
        let seed = 0x0123_4567_89ab_cdefu64;
        let b = 0x0000_0001_ffff_fffeu64; // a carry into the high counter word would show
        assert_eq!(
            Philox::new(seed).block(b),
            philox4x32_10([0xffff_fffe, 1, 0, 0], [0x89ab_cdef, 0x0123_4567])
        );
    }

    #[test]
    fn batches_match_single_blocks_on_every_isa() {
        let g = Philox::new(0xdead_beef_0000_0001);
        let b0 = u64::MAX - 10; // the batch wraps the counter
        for isa in crate::cpu::vmath::available_isas() {
            let mut words = [0u32; 4 * BATCH];
            philox_batch(isa, g.key, b0, &mut words);
            for i in 0..BATCH {
                assert_eq!(
                    words[4 * i..4 * i + 4],
                    g.block(b0.wrapping_add(i as u64)),
                    "{isa:?}"
                );
            }
        }
    }

    /// The first values of each fill for seed 42, written in docs/rng.md as the check another
    /// implementation must pass. Uniform f32 and Bernoulli/randint are exact by construction.
    #[test]
    fn golden_values() {
        let w = Philox::new(42).block(0);
        let mut u = [0f32; 4];
        let s = fill_uniform_f32(&mut u, RngState::new(42), 0.0, 1.0);
        assert_eq!(
            s,
            RngState {
                seed: 42,
                offset: 1
            }
        );
        for k in 0..4 {
            assert_eq!(u[k], (w[k] >> 8) as f32 / 16_777_216.0);
        }
        let mut r = [0i64; 3];
        let s = fill_randint_i64(&mut r, RngState::new(42), -5, 5);
        assert_eq!(s.offset, 2);
        let w1 = Philox::new(42).block(1);
        assert_eq!(r[0], -5 + (u64_of(w[0], w[1]) % 10) as i64);
        assert_eq!(r[1], -5 + (u64_of(w[2], w[3]) % 10) as i64);
        assert_eq!(r[2], -5 + (u64_of(w1[0], w1[1]) % 10) as i64);
        // Frozen numbers, also in docs/rng.md. Normals go through f64 log/sin/cos, so these
        // bits also pin the platform libm (see the doc for the cross-platform caveat).
        assert_eq!(w, [0x9ceaf053, 0x77f5493b, 0x12bf50ad, 0x5742b3d7]);
        let mut n = [0f32; 4];
        fill_normal_f32(&mut n, RngState::new(42), 0.0, 1.0);
        assert_eq!(
            n.map(f32::to_bits),
            [0xbf785e5c, 0x3e46ace8, 0xbf9e28d2, 0x3ff6433b]
        );
    }

    #[test]
    fn conversions_stay_in_range() {
        assert_eq!(unit_f32(0), 0.0);
        assert!(unit_f32(u32::MAX) < 1.0);
        assert_eq!(unit_f64(0), 0.0);
        assert!(unit_f64(u64::MAX) < 1.0);
        // The smallest Box-Muller u1 is 2^-32 (f32 path) and 2^-53 (f64 path): finite radii.
        assert!(box_muller(TWO_M32, 0.0).0.is_finite());
        assert!(box_muller(TWO_M53, 0.0).0.is_finite());
        assert_eq!(box_muller(1.0, 0.25).0.abs(), 0.0);
    }

    /// Fills one buffer of every kind; used to compare runs bit for bit.
    fn fill_all(n: usize, st: RngState) -> Vec<Vec<u64>> {
        let mut a = vec![0f32; n];
        let mut b = vec![0f64; n];
        let mut c = vec![0f32; n];
        let mut d = vec![0f64; n];
        let mut e = vec![0u8; n];
        let mut f = vec![0i64; n];
        let mut g = vec![0f32; n];
        fill_uniform_f32(&mut a, st, -1.0, 2.0);
        fill_uniform_f64(&mut b, st, -1.0, 2.0);
        fill_normal_f32(&mut c, st, 0.5, 2.0);
        fill_normal_f64(&mut d, st, 0.5, 2.0);
        fill_bernoulli_u8(&mut e, st, 0.3);
        fill_randint_i64(&mut f, st, -7, 100);
        fill_dropout_mask_f32(&mut g, st, 0.25);
        let f32s = |v: &[f32]| v.iter().map(|x| x.to_bits() as u64).collect();
        let f64s = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect();
        vec![
            f32s(&a),
            f64s(&b),
            f32s(&c),
            f64s(&d),
            e.iter().map(|&x| x as u64).collect(),
            f.iter().map(|&x| x as u64).collect(),
            f32s(&g),
        ]
    }

    #[test]
    fn independent_of_thread_count() {
        let n = 3 * CHUNK + 13;
        let st = RngState {
            seed: 7,
            offset: 123,
        };
        let pool = |t| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(t)
                .build()
                .unwrap()
        };
        let one = pool(1).install(|| fill_all(n, st));
        let two = pool(2).install(|| fill_all(n, st));
        assert!(one == two);
    }

    #[test]
    fn split_fills_continue_the_stream() {
        // Rule: n1 + n2 in two calls equals n in one call when n1 is a multiple of the
        // elements per block (4 for f32/u8 fills, 2 for f64/i64 fills).
        let st = RngState {
            seed: 99,
            offset: u64::MAX - 3,
        }; // also crosses the offset wrap
        let n = CHUNK + 37;
        for n1 in [0, 4, 8, 100, CHUNK] {
            let mut whole = vec![0f32; n];
            let end = fill_normal_f32(&mut whole, st, 0.0, 1.0);
            let mut parts = vec![0f32; n];
            let (p1, p2) = parts.split_at_mut(n1);
            let mid = fill_normal_f32(p1, st, 0.0, 1.0);
            assert_eq!(fill_normal_f32(p2, mid, 0.0, 1.0), end);
            assert_eq!(whole, parts);
            assert_eq!(end, st.advanced(n.div_ceil(4) as u64));

            let n1 = n1 + 2; // still even
            let mut whole = vec![0i64; n];
            let end = fill_randint_i64(&mut whole, st, 0, 1 << 40);
            let mut parts = vec![0i64; n];
            let (p1, p2) = parts.split_at_mut(n1);
            let mid = fill_randint_i64(p1, st, 0, 1 << 40);
            assert_eq!(fill_randint_i64(p2, mid, 0, 1 << 40), end);
            assert_eq!(whole, parts);
            assert_eq!(end, st.advanced(n.div_ceil(2) as u64));
        }
    }

    #[test]
    fn element_depends_only_on_seed_offset_index() {
        let st = RngState {
            seed: 5,
            offset: 10,
        };
        let (mut a, mut b) = (vec![0f64; 40], vec![0f64; 30]);
        fill_uniform_f64(&mut a, st, 0.0, 1.0);
        fill_uniform_f64(&mut b, st.advanced(5), 0.0, 1.0); // 5 blocks = 10 f64 elements
        assert_eq!(&a[10..], &b[..]);
        let mut c = vec![0f64; 30];
        fill_uniform_f64(
            &mut c,
            RngState {
                seed: 6,
                offset: 15,
            },
            0.0,
            1.0,
        );
        assert_ne!(b, c);
    }

    fn mean_var(x: impl Iterator<Item = f64>) -> (f64, f64) {
        let v: Vec<f64> = x.collect();
        let n = v.len() as f64;
        let m = v.iter().sum::<f64>() / n;
        (
            m,
            v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1.0),
        )
    }

    #[test]
    fn uniform_statistics() {
        let n = 1_000_000;
        let mut a = vec![0f32; n];
        fill_uniform_f32(&mut a, RngState::new(1), 0.0, 1.0);
        assert!(a.iter().all(|&x| (0.0..1.0).contains(&x)));
        let (m, v) = mean_var(a.iter().map(|&x| x as f64));
        // Standard errors: mean 2.9e-4, variance 7.5e-5; bounds are ~5 sigma.
        assert!((m - 0.5).abs() < 1.5e-3, "mean {m}");
        assert!((v - 1.0 / 12.0).abs() < 4e-4, "var {v}");
        let mut b = vec![0f64; n];
        fill_uniform_f64(&mut b, RngState::new(2), -3.0, 5.0);
        assert!(b.iter().all(|&x| (-3.0..5.0).contains(&x)));
        let (m, v) = mean_var(b.iter().copied());
        assert!((m - 1.0).abs() < 1.2e-2, "mean {m}");
        assert!((v - 64.0 / 12.0).abs() < 2.6e-2, "var {v}");
    }

    #[test]
    fn normal_statistics() {
        let n = 1_000_000;
        let mut a = vec![0f32; n];
        fill_normal_f32(&mut a, RngState::new(3), 1.0, 2.0);
        assert!(a.iter().all(|x| x.is_finite()));
        let (m, v) = mean_var(a.iter().map(|&x| x as f64));
        // Standard errors: mean 2e-3, variance 4 * 1.4e-3.
        assert!((m - 1.0).abs() < 1e-2, "mean {m}");
        assert!((v - 4.0).abs() < 3e-2, "var {v}");
        let mut b = vec![0f64; n];
        fill_normal_f64(&mut b, RngState::new(4), 0.0, 1.0);
        let (m, v) = mean_var(b.iter().copied());
        assert!(m.abs() < 5e-3, "mean {m}");
        assert!((v - 1.0).abs() < 7e-3, "var {v}");
        // Tail mass beyond 3 sigma is 0.0027 for a normal.
        let tail = b.iter().filter(|x| x.abs() > 3.0).count() as f64 / n as f64;
        assert!((tail - 0.0027).abs() < 3e-4, "tail {tail}");
        // Cosine and sine halves are each normal: check the sine elements alone.
        let (m, v) = mean_var(b.iter().skip(1).step_by(2).copied());
        assert!(
            m.abs() < 7e-3 && (v - 1.0).abs() < 1e-2,
            "sine half {m} {v}"
        );
    }

    #[test]
    fn bernoulli_and_dropout_rates() {
        let n = 1_000_000;
        let mut e = vec![0u8; n];
        fill_bernoulli_u8(&mut e, RngState::new(8), 0.3);
        let rate = e.iter().map(|&x| x as f64).sum::<f64>() / n as f64;
        assert!((rate - 0.3).abs() < 2.5e-3, "rate {rate}"); // s.e. 4.6e-4
        assert!(e.iter().all(|&x| x <= 1));
        let s = fill_bernoulli_u8(&mut e[..5], RngState::new(8), 0.0);
        assert_eq!(s.offset, 2);
        assert!(e[..5].iter().all(|&x| x == 0));
        fill_bernoulli_u8(&mut e[..5], RngState::new(8), 1.0);
        assert!(e[..5].iter().all(|&x| x == 1));

        let mut g = vec![0f32; n];
        fill_dropout_mask_f32(&mut g, RngState::new(9), 0.2);
        assert!(g.iter().all(|&x| x == 0.0 || x == 1.25));
        let kept = g.iter().filter(|&&x| x != 0.0).count() as f64 / n as f64;
        assert!((kept - 0.8).abs() < 2.5e-3, "kept {kept}");
        let mean = g.iter().map(|&x| x as f64).sum::<f64>() / n as f64;
        assert!((mean - 1.0).abs() < 4e-3, "mean {mean}"); // inverted dropout keeps E = 1
        fill_dropout_mask_f32(&mut g[..9], RngState::new(9), 1.0);
        assert!(g[..9].iter().all(|&x| x == 0.0));
        fill_dropout_mask_f32(&mut g[..9], RngState::new(9), 0.0);
        assert!(g[..9].iter().all(|&x| x == 1.0));
    }

    #[test]
    fn randint_range_and_buckets() {
        let n = 200_000;
        let mut f = vec![0i64; n];
        fill_randint_i64(&mut f, RngState::new(10), -3, 7);
        let mut counts = [0usize; 10];
        for &x in &f {
            assert!((-3..7).contains(&x));
            counts[(x + 3) as usize] += 1;
        }
        for c in counts {
            // Expected 20_000, s.e. 134.
            assert!((c as i64 - 20_000).abs() < 700, "{counts:?}");
        }
        // The extreme range: the difference does not fit in i64 but does in u64.
        fill_randint_i64(&mut f[..100], RngState::new(11), i64::MIN, i64::MAX);
        assert!(f[..100].iter().any(|&x| x < 0) && f[..100].iter().any(|&x| x > 0));
        fill_randint_i64(&mut f[..10], RngState::new(12), 4, 5);
        assert!(f[..10].iter().all(|&x| x == 4));
    }
}
