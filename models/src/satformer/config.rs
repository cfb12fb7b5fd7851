//! SaTformer hyperparameters: the seed guide's flags (`--dim --depth --heads --num_classes --attn
//! --attn_dropout --ff_dropout`, with its defaults) plus the architecture constants the guide leaves out,
//! taken from the reference's trained config (dim_head 64, image 32, patch 4, 4 frames of 11 channels).
//! Serialised with the checkpoint so a model can be rebuilt from its sidecar.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use wrt_nn::{Error, Result};

/// How each block attends over space and time (`--attn`); the spellings are the seed's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AttnKind {
    /// `T->S`: divided attention, time (each patch position over its frames) then space (each frame over its
    /// patches), then the feed-forward.
    #[serde(rename = "T->S")]
    TimeSpace,
    /// `S->T`: divided attention, space then time, then the feed-forward.
    #[serde(rename = "S->T")]
    SpaceTime,
    /// `ST`: one joint space-time attention per block and **no** feed-forward call (the reference builds the
    /// feed-forward but never calls it; its weights exist and stay untrained).
    #[serde(rename = "ST")]
    Joint,
    /// `ST^2`: two joint space-time attentions with separate weights, then the feed-forward behind two
    /// LayerNorms (the reference wraps it in PreNorm twice).
    #[serde(rename = "ST^2")]
    JointTwice,
}

impl AttnKind {
    pub const ALL: [AttnKind; 4] = [AttnKind::TimeSpace, AttnKind::SpaceTime, AttnKind::Joint, AttnKind::JointTwice];

    /// The seed's spelling (`T->S`, `S->T`, `ST`, `ST^2`).
    pub fn as_str(self) -> &'static str {
        match self {
            AttnKind::TimeSpace => "T->S",
            AttnKind::SpaceTime => "S->T",
            AttnKind::Joint => "ST",
            AttnKind::JointTwice => "ST^2",
        }
    }

    /// A file-name-safe spelling (`t_s`, `s_t`, `st`, `st2`), for run names and fixtures.
    pub fn slug(self) -> &'static str {
        match self {
            AttnKind::TimeSpace => "t_s",
            AttnKind::SpaceTime => "s_t",
            AttnKind::Joint => "st",
            AttnKind::JointTwice => "st2",
        }
    }
}

impl fmt::Display for AttnKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AttnKind {
    type Err = Error;
    /// The seed's spellings only; anything else is an error listing them.
    fn from_str(s: &str) -> Result<Self> {
        AttnKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| Error::Config(format!("satformer: attn must be one of T->S, S->T, ST, ST^2, got '{s}'")))
    }
}

/// Hyperparameters of `Satformer::new`. Every field has the seed's default (`SatformerConfig::default()`);
/// unknown keys are rejected when deserialising.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SatformerConfig {
    /// Token width (`--dim`).
    pub dim: usize,
    /// Number of blocks (`--depth`).
    pub depth: usize,
    /// Attention heads (`--heads`).
    pub heads: usize,
    /// Width of one head; the attention's inner width is `heads * dim_head`, independent of `dim`.
    pub dim_head: usize,
    /// Precipitation bins (`--num_classes`): the width of the logits.
    pub num_classes: usize,
    /// Input height and width (square frames).
    pub image_size: usize,
    /// Side of a square patch; `image_size` must be a multiple of it.
    pub patch_size: usize,
    /// Frames per sample (T of `[B, T, C, H, W]`); with the patches it sizes the positional table.
    pub num_frames: usize,
    /// Channels per frame (C).
    pub channels: usize,
    /// Attention variant (`--attn`).
    pub attn: AttnKind,
    /// Dropout after each attention's output projection (`--attn_dropout`); there is none on the
    /// attention probabilities.
    pub attn_dropout: f64,
    /// Dropout between the feed-forward's two linear layers (`--ff_dropout`).
    pub ff_dropout: f64,
}

impl Default for SatformerConfig {
    fn default() -> Self {
        SatformerConfig {
            dim: 512,
            depth: 12,
            heads: 8,
            dim_head: 64,
            num_classes: 64,
            image_size: 32,
            patch_size: 4,
            num_frames: 4,
            channels: 11,
            attn: AttnKind::JointTwice,
            attn_dropout: 0.1,
            ff_dropout: 0.1,
        }
    }
}

impl SatformerConfig {
    /// The feed-forward's hidden width is `FF_MULT * dim` (fixed in the reference).
    pub const FF_MULT: usize = 4;

    /// Patches per frame, `(image_size / patch_size)^2`.
    pub fn patches_per_frame(&self) -> usize {
        let side = self.image_size / self.patch_size.max(1);
        side * side
    }

    /// Features of one patch token, `channels * patch_size^2`.
    pub fn patch_dim(&self) -> usize {
        self.channels * self.patch_size * self.patch_size
    }

    /// Rows of the positional table: the CLS token plus every patch of every frame.
    pub fn num_positions(&self) -> usize {
        self.num_frames * self.patches_per_frame() + 1
    }

    /// Every field in range, or an error naming the field, the value and what it must be.
    pub fn validate(&self) -> Result<()> {
        let positive = [
            ("dim", self.dim),
            ("heads", self.heads),
            ("dim_head", self.dim_head),
            ("num_classes", self.num_classes),
            ("image_size", self.image_size),
            ("patch_size", self.patch_size),
            ("num_frames", self.num_frames),
            ("channels", self.channels),
        ];
        for (name, v) in positive {
            if v == 0 {
                return Err(Error::Config(format!("satformer: {name} must be positive, got 0")));
            }
        }
        if self.image_size % self.patch_size != 0 {
            return Err(Error::Config(format!(
                "satformer: image_size {} must be a multiple of patch_size {}",
                self.image_size, self.patch_size
            )));
        }
        for (name, p) in [("attn_dropout", self.attn_dropout), ("ff_dropout", self.ff_dropout)] {
            if !(0.0..=1.0).contains(&p) {
                return Err(Error::Config(format!("satformer: {name} must be in [0, 1], got {p}")));
            }
        }
        Ok(())
    }
}
