//! Seeds for the data pipeline. Every random choice (the shuffle of an epoch, the pair AtmoDist samples at an
//! index, the split) gets its own Philox stream keyed by a seed derived from (base seed, purpose, epoch,
//! index), so results depend on those numbers only: never on thread timing, worker count or call order.

use wrt_tensor::Generator;

/// SplitMix64's finaliser: a bijective mix, so distinct inputs give distinct, well-spread outputs.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A seed for one purpose: `derive_seed(seed, &[PURPOSE, epoch, index])`. Each part is folded in with
/// SplitMix64, so (1, 2) and (2, 1) give unrelated seeds.
pub fn derive_seed(seed: u64, parts: &[u64]) -> u64 {
    let mut h = mix(seed ^ 0x9e37_79b9_7f4a_7c15);
    for &p in parts {
        h = mix(h.wrapping_add(0x9e37_79b9_7f4a_7c15) ^ mix(p));
    }
    h
}

/// Purposes, so that streams for different uses of the same seed never coincide.
pub(crate) const SHUFFLE: u64 = 1;
pub(crate) const SPLIT: u64 = 2;
pub(crate) const PAIRS: u64 = 3;
pub(crate) const SYNTH: u64 = 4;
pub(crate) const AUGMENT: u64 = 5;

/// A generator for one purpose.
pub(crate) fn generator(seed: u64, parts: &[u64]) -> Generator {
    Generator::new(derive_seed(seed, parts))
}

/// A small counter-free helper for places that need a handful of uniform numbers without a tensor round
/// trip (the pair sampler draws two integers per sample).
pub(crate) struct Uniform {
    state: u64,
}

impl Uniform {
    pub(crate) fn new(seed: u64) -> Uniform {
        Uniform { state: seed }
    }
    /// Next 64 random bits (SplitMix64).
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.state)
    }
    /// Uniform on [0, 1).
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
    /// Uniform integer in [0, n); n > 0. (Lemire's multiply-shift: the bias is below 2^-64 * n.)
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }
    /// Standard normal (Box-Muller), for the synthetic generators.
    pub(crate) fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.next_f64();
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_seeds_depend_on_every_part_and_its_position() {
        let a = derive_seed(42, &[SHUFFLE, 0]);
        assert_eq!(a, derive_seed(42, &[SHUFFLE, 0]));
        assert_ne!(a, derive_seed(42, &[SHUFFLE, 1]));
        assert_ne!(a, derive_seed(43, &[SHUFFLE, 0]));
        assert_ne!(derive_seed(1, &[2, 3]), derive_seed(1, &[3, 2]));
        let mut u = Uniform::new(a);
        for _ in 0..1000 {
            assert!(u.below(7) < 7);
            let f = u.next_f64();
            assert!((0.0..1.0).contains(&f));
        }
    }
}
