//! Pangu (SuperDARN) hyperparameters: the seed's `save_hyperparameters` keys (embed_dim 128, heads
//! (8, 16, 16, 8), window (2, 8, 16), grid_size 300, time_step 1, mlp_ratio 4, noise_factor 0.1), plus
//! `depths` (the reference's fixed (2, 6, 6, 2), configurable for small test and CPU models).

use serde::{Deserialize, Serialize};
use wrt_nn::{Error, Result};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PanguConfig {
    pub embed_dim: usize,
    pub num_heads: Vec<usize>,
    /// (levels, lat, lon).
    pub window_size: Vec<usize>,
    pub grid_size: usize,
    /// Steps rolled out per forecast.
    pub time_step: usize,
    pub mlp_ratio: f64,
    pub noise_factor: f64,
    pub depths: Vec<usize>,
}

impl Default for PanguConfig {
    fn default() -> Self {
        PanguConfig {
            embed_dim: 128,
            num_heads: vec![8, 16, 16, 8],
            window_size: vec![2, 8, 16],
            grid_size: 300,
            time_step: 1,
            mlp_ratio: 4.0,
            noise_factor: 0.1,
            depths: vec![2, 6, 6, 2],
        }
    }
}

impl PanguConfig {
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(format!("pangu: {m}")));
        if self.num_heads.len() != 4 || self.depths.len() != 4 || self.window_size.len() != 3 {
            return bad(format!("num_heads {:?} and depths {:?} need 4 values, window_size {:?} 3", self.num_heads, self.depths, self.window_size));
        }
        if self.window_size.iter().zip(super::SHIFT).any(|(w, s)| *w <= s) {
            return bad(format!("window_size {:?}: each window must exceed the fixed shift (1, 3, 6)", self.window_size));
        }
        if self.embed_dim == 0 || self.time_step == 0 || self.grid_size < 12 {
            return bad(format!("embed_dim ({}) and time_step ({}) must be positive and grid_size ({}) at least 12", self.embed_dim, self.time_step, self.grid_size));
        }
        for (i, (&h, dim)) in self.num_heads.iter().zip([1, 2, 2, 1].map(|m| m * self.embed_dim)).enumerate() {
            if h == 0 || dim % h != 0 {
                return bad(format!("layer {} has dim {dim}, not divisible by {h} heads", i + 1));
            }
        }
        let (r1, r2) = (self.resolution1()[1], self.resolution2()[1]);
        if 2 * r2 < r1 {
            return bad(format!("grid_size {}: the 2 x 2 merge of the {r1} x {r1} patch grid to floor(G / 6) = {r2} cells needs 2 x {r2} >= {r1}", self.grid_size));
        }
        if self.depths.iter().any(|&d| d == 0) {
            return bad(format!("depths {:?} must be positive", self.depths));
        }
        Ok(())
    }

    pub fn window(&self) -> [usize; 3] {
        [self.window_size[0], self.window_size[1], self.window_size[2]]
    }

    pub fn depths(&self) -> [usize; 4] {
        [self.depths[0], self.depths[1], self.depths[2], self.depths[3]]
    }

    /// Layers 1 and 4: the patch grid `(1, ceil(G / 4), ceil(G / 4))` (the reference's G / 4 for its G = 300).
    pub fn resolution1(&self) -> [usize; 3] {
        let n = self.grid_size.div_ceil(super::PATCH);
        [1, n, n]
    }

    /// Layers 2 and 3: `(1, floor(G / 6), floor(G / 6))`, reached by padding layer 1's grid to twice that and
    /// merging 2 x 2.
    pub fn resolution2(&self) -> [usize; 3] {
        let n = self.grid_size / 6;
        [1, n, n]
    }

    /// Drop-path rate of block i of any layer: the reference's `linspace(0, 0.2, 8)[2 + i]` (extended to
    /// `linspace(0, 0.2, 2 + max depth)` for layers deeper than its six blocks).
    pub fn drop_path_rates(&self) -> Vec<f64> {
        let n = (2 + self.depths.iter().copied().max().unwrap_or(0)).max(8);
        (2..n).map(|i| 0.2 * i as f64 / (n - 1) as f64).collect()
    }
}
