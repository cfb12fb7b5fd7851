//! AtmoDist hyperparameters: the seed config's `model:` keys (`num_classes`, `res_in_channels`,
//! `res_out_channels_list`) plus the reference's fixed defaults, each made configurable so that the
//! repository's working config (`[16, 32, 64]`), the guide's (`[16, 32, 64, 128]`) and the multi-model
//! example's (`[32, 64, 128, 256]`) all build. Spec: ../../../shared/specs/atmodist.md.

use serde::{Deserialize, Serialize};
use wrt_nn::{Error, Result};

/// Hyperparameters of `Atmodist::new`; unknown keys are rejected when deserialising.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AtmodistConfig {
    /// Time-gap classes (time_interval / frequency: 8 for 24 h at 3 h).
    pub num_classes: usize,
    /// Input variables per state (d2m, u, v, msl, r).
    pub res_in_channels: usize,
    /// Channels of the ResNet stages; each stage halves the grid in its first block.
    pub res_out_channels_list: Vec<usize>,
    /// Channels after concatenating both encodings. `None`: 2 x the last stage (the reference's fixed 128
    /// only fits `[.., 64]`; the guide's `[.., 128]` needs 256).
    pub downstream_stack_channels: Option<usize>,
    pub downstream_channels: usize,
    pub downstream_kernel_size: usize,
    /// Grid side after the comparison head: the linear layer reads `downstream_channels * side^2` features.
    pub downstream_fin_shape: usize,
    /// Stem convolution: channels, kernel (padding (k - 1) / 2) and stride.
    pub out_conv_channels: usize,
    pub conv_kernel_size: usize,
    pub stride: usize,
    /// Residual blocks per stage.
    pub num_blocks: usize,
}

impl Default for AtmodistConfig {
    fn default() -> Self {
        AtmodistConfig {
            num_classes: 8,
            res_in_channels: 5,
            res_out_channels_list: vec![16, 32, 64, 128],
            downstream_stack_channels: None,
            downstream_channels: 64,
            downstream_kernel_size: 3,
            downstream_fin_shape: 1,
            out_conv_channels: 16,
            conv_kernel_size: 8,
            stride: 2,
            num_blocks: 6,
        }
    }
}

impl AtmodistConfig {
    /// `downstream_stack_channels`, or its default 2 x the last stage's channels.
    pub fn stack_channels(&self) -> usize {
        self.downstream_stack_channels.unwrap_or(2 * self.res_out_channels_list.last().copied().unwrap_or(0))
    }

    /// Channels of the embedding (the encoder's last stage).
    pub fn embed_channels(&self) -> usize {
        self.res_out_channels_list.last().copied().unwrap_or(0)
    }

    /// The encoder's output grid for an `h x w` input: the stem and every stage's first block each map a side
    /// s to floor((s + 2p - k) / stride) + 1.
    pub fn encoder_grid(&self, h: usize, w: usize) -> Option<(usize, usize)> {
        let side = |s: usize| -> Option<usize> {
            let (k, p) = (self.conv_kernel_size, (self.conv_kernel_size - 1) / 2);
            let mut s = (s + 2 * p).checked_sub(k)? / self.stride + 1;
            for _ in &self.res_out_channels_list {
                s = (s + 2 - 3) / 2 + 1; // 3x3, pad 1, stride 2
            }
            Some(s)
        };
        Some((side(h)?, side(w)?))
    }

    /// The grid after the comparison head (conv1: stride 2, conv2: stride 1) for an encoder grid.
    pub fn head_grid(&self, (h, w): (usize, usize)) -> Option<(usize, usize)> {
        let (k, p) = (self.downstream_kernel_size, (self.downstream_kernel_size - 1) / 2);
        let side = |s: usize| -> Option<usize> {
            let s = (s + 2 * p).checked_sub(k)? / 2 + 1;
            Some((s + 2 * p).checked_sub(k)? + 1)
        };
        Some((side(h)?, side(w)?))
    }

    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(format!("atmodist: {m}")));
        if self.res_out_channels_list.is_empty() || self.res_out_channels_list.contains(&0) {
            return bad(format!("res_out_channels_list {:?} needs at least one stage, every one with channels > 0", self.res_out_channels_list));
        }
        for (name, v) in [
            ("num_classes", self.num_classes),
            ("res_in_channels", self.res_in_channels),
            ("downstream_channels", self.downstream_channels),
            ("downstream_kernel_size", self.downstream_kernel_size),
            ("downstream_fin_shape", self.downstream_fin_shape),
            ("out_conv_channels", self.out_conv_channels),
            ("conv_kernel_size", self.conv_kernel_size),
            ("stride", self.stride),
            ("num_blocks", self.num_blocks),
            ("downstream_stack_channels", self.stack_channels()),
        ] {
            if v == 0 {
                return bad(format!("{name} must be positive"));
            }
        }
        if self.stack_channels() != 2 * self.embed_channels() {
            return bad(format!(
                "downstream_stack_channels {} must be 2 x the last of res_out_channels_list {:?} ({}): the head reads both \
                 encodings concatenated (leave it unset to derive it)",
                self.stack_channels(),
                self.res_out_channels_list,
                2 * self.embed_channels()
            ));
        }
        Ok(())
    }
}
