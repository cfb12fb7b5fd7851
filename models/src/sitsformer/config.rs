//! SITS-Former hyperparameters: the tutorial's constructor arguments and defaults
//! (`create_sits_former(img_size=224, patch_size=16, in_channels=13, num_classes=10, embed_dim=256,
//! num_layers=8, num_heads=8, mlp_ratio=4, dropout=0.1, max_seq_len=20)`). Spec:
//! ../../../shared/specs/sitsformer.md.

use serde::{Deserialize, Serialize};
use wrt_nn::{Error, Result};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SitsformerConfig {
    pub img_size: usize,
    pub patch_size: usize,
    /// Spectral bands per frame.
    pub in_channels: usize,
    pub num_classes: usize,
    pub embed_dim: usize,
    pub num_layers: usize,
    pub num_heads: usize,
    /// MLP hidden width = embed_dim x mlp_ratio (truncated, as `int(...)`).
    pub mlp_ratio: f64,
    pub dropout: f64,
    /// The positional table holds max_seq_len x patches rows; with the CLS token a series may have at
    /// most max_seq_len - 1 frames.
    pub max_seq_len: usize,
}

impl Default for SitsformerConfig {
    fn default() -> Self {
        SitsformerConfig {
            img_size: 224,
            patch_size: 16,
            in_channels: 13,
            num_classes: 10,
            embed_dim: 256,
            num_layers: 8,
            num_heads: 8,
            mlp_ratio: 4.0,
            dropout: 0.1,
            max_seq_len: 20,
        }
    }
}

impl SitsformerConfig {
    /// Patches per frame N.
    pub fn patches(&self) -> usize {
        (self.img_size / self.patch_size).pow(2)
    }
    /// Rows of the positional table (`max_seq_len * N`).
    pub fn max_len(&self) -> usize {
        self.max_seq_len * self.patches()
    }
    pub fn mlp_hidden(&self) -> usize {
        (self.embed_dim as f64 * self.mlp_ratio) as usize
    }

    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(format!("sitsformer: {m}")));
        for (name, v) in [
            ("img_size", self.img_size),
            ("patch_size", self.patch_size),
            ("in_channels", self.in_channels),
            ("num_classes", self.num_classes),
            ("embed_dim", self.embed_dim),
            ("num_heads", self.num_heads),
            ("max_seq_len", self.max_seq_len),
        ] {
            if v == 0 {
                return bad(format!("{name} must be positive"));
            }
        }
        if self.img_size % self.patch_size != 0 {
            return bad(format!("img_size {} is not a multiple of patch_size {}", self.img_size, self.patch_size));
        }
        if self.embed_dim % self.num_heads != 0 {
            return bad(format!("embed_dim {} is not divisible by num_heads {}", self.embed_dim, self.num_heads));
        }
        if self.embed_dim % 2 != 0 {
            return bad(format!("embed_dim {} must be even (sinusoidal positions pair sin and cos)", self.embed_dim));
        }
        if !(self.mlp_ratio > 0.0) || self.mlp_hidden() == 0 {
            return bad(format!("mlp_ratio {} gives no MLP width", self.mlp_ratio));
        }
        if !(0.0..=1.0).contains(&self.dropout) {
            return bad(format!("dropout {} is outside [0, 1]", self.dropout));
        }
        Ok(())
    }
}
