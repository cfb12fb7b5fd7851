//! Training-time augmentations of image time series (the SITS-Former tutorial's random flips and rotations
//! and temporal dropout of frames), as a `Dataset` wrapper around the training split only: validation and
//! prediction read the data unchanged. Each sample's draws come from a stream keyed by (seed, epoch,
//! index), so an epoch is the same whatever the worker count, and a resumed run sees the same samples.
//! The transforms run where `get` runs: on the loader's worker threads.

use super::rng::{derive_seed, Uniform, AUGMENT};
use super::{Dataset, FieldInfo, Sample};
use crate::{Error, Result};
use std::sync::Arc;
use wrt_tensor::{storage::CpuStorage, DType, Tensor};

/// What to apply, each with its own probability.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SeriesAugment {
    /// Mirror every frame left-right / top-bottom with probability 1/2 each, and rotate by a uniform
    /// multiple of 90 degrees (square frames only).
    pub flips_and_rotations: bool,
    /// Drop each valid frame (mask it out and zero it) with this probability, keeping at least one.
    pub temporal_dropout: f64,
}

/// `inner` with [`SeriesAugment`] applied to its `sequence` [T, C, H, W] and `mask` [T] fields.
pub struct Augmented {
    inner: Arc<dyn Dataset>,
    aug: SeriesAugment,
    seed: u64,
}

impl Augmented {
    pub fn new(inner: Arc<dyn Dataset>, aug: SeriesAugment, seed: u64) -> Result<Augmented> {
        if !(0.0..1.0).contains(&aug.temporal_dropout) {
            return Err(Error::config("data.temporal_dropout", format!("{} is outside [0, 1)", aug.temporal_dropout)));
        }
        let fields = inner.fields();
        let seq = fields.iter().find(|f| f.name == "sequence").ok_or_else(|| Error::config("data.augment", "needs image time series (a `sequence` field)"))?;
        if aug.flips_and_rotations && seq.shape.get(2) != seq.shape.get(3) {
            return Err(Error::config("data.augment", format!("rotations need square frames, got {:?}", seq.shape)));
        }
        Ok(Augmented { inner, aug, seed })
    }
}

/// Index of pixel (y, x) of an `s x s` frame after `rot` quarter turns and the flips, read from the source.
fn source_of(y: usize, x: usize, s: usize, rot: u64, flip_x: bool, flip_y: bool) -> usize {
    let (y, x) = (if flip_y { s - 1 - y } else { y }, if flip_x { s - 1 - x } else { x });
    let (y, x) = match rot {
        1 => (x, s - 1 - y),
        2 => (s - 1 - y, s - 1 - x),
        3 => (s - 1 - x, y),
        _ => (y, x),
    };
    y * s + x
}

impl Dataset for Augmented {
    fn len(&self) -> usize {
        self.inner.len()
    }

    fn get(&self, index: usize, epoch: u64) -> Result<Sample> {
        let mut sample = self.inner.get(index, epoch)?;
        let mut u = Uniform::new(derive_seed(self.seed, &[AUGMENT, epoch, index as u64]));
        let pos = |name: &str| sample.iter().position(|(n, _)| n == name);
        let (Some(si), Some(mi)) = (pos("sequence"), pos("mask")) else { return Ok(sample) };
        let shape = sample[si].1.shape().to_vec();
        let (t, c, h, w) = (shape[0], shape[1], shape[2], shape[3]);
        let mut v = sample[si].1.contiguous()?.to_vec::<f32>()?;
        let mut mask: Vec<u8> = sample[mi].1.to_dtype(DType::I64)?.contiguous()?.to_vec::<i64>()?.into_iter().map(|m| u8::from(m != 0)).collect();
        if self.aug.flips_and_rotations {
            let (fx, fy, rot) = (u.below(2) == 1, u.below(2) == 1, u.below(4));
            if fx || fy || rot != 0 {
                let mut out = vec![0f32; v.len()];
                for plane in 0..t * c {
                    let (src, dst) = (&v[plane * h * w..][..h * w], &mut out[plane * h * w..][..h * w]);
                    for y in 0..h {
                        for x in 0..w {
                            dst[y * w + x] = src[source_of(y, x, w, rot, fx, fy)];
                        }
                    }
                }
                v = out;
            }
        }
        if self.aug.temporal_dropout > 0.0 {
            let valid: Vec<usize> = (0..t).filter(|&i| mask[i] != 0).collect();
            let mut dropped: Vec<usize> = valid.iter().copied().filter(|_| u.next_f64() < self.aug.temporal_dropout).collect();
            if dropped.len() == valid.len() {
                dropped.pop(); // keep at least one real frame
            }
            for i in dropped {
                mask[i] = 0;
                v[i * c * h * w..(i + 1) * c * h * w].fill(0.0);
            }
        }
        sample[si].1 = Tensor::from_vec(v, &shape)?;
        sample[mi].1 = Tensor::from_cpu_storage(CpuStorage::Bool(mask), &[t])?;
        Ok(sample)
    }

    fn fields(&self) -> Vec<FieldInfo> {
        self.inner.fields()
    }

    fn class_label(&self, index: usize) -> Option<i64> {
        self.inner.class_label(index)
    }
}

#[cfg(test)]
mod tests {
    use super::source_of;

    #[test]
    fn rotations_and_flips_permute_pixels() {
        let s = 3;
        for rot in 0..4 {
            for (fx, fy) in [(false, false), (true, false), (false, true), (true, true)] {
                let mut seen: Vec<usize> = (0..s * s).map(|i| source_of(i / s, i % s, s, rot, fx, fy)).collect();
                seen.sort();
                assert_eq!(seen, (0..s * s).collect::<Vec<_>>(), "rot {rot} flips {fx} {fy}: a permutation");
            }
        }
        // one quarter turn counter-clockwise, as np.rot90: the top-right pixel comes to the top-left
        assert_eq!(source_of(0, 0, s, 1, false, false), 2);
        assert_eq!(source_of(0, 0, s, 0, true, false), 2);
        assert_eq!(source_of(0, 0, s, 0, false, true), 6);
    }
}
