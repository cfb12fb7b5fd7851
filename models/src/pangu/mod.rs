//! Pangu-Weather as the SuperDARN project adapted it (st7ma784/WeatherLearn `PTL/model.py` at f61f806):
//! convection maps `[B, 5, G, G]` are cut into 4x4 patches, run through four layers of earth-specific 3-D
//! window attention (full resolution, half, half, full, with a 2x2 merge and split between), rolled out
//! `time_step` times, and projected back to maps by a transposed convolution from the last state
//! concatenated with every step's first-layer output. Spec: ../../../shared/specs/pangu.md.
//!
//! Parameter names, shapes and state_dict order are the reference's (the gathered `earth_position_bias`
//! parameters, the `earth_position_index` and `attn_mask` buffers), so weights load both ways;
//! tools/parity/pangu_ref.py is the plain-torch reference and models/tests/pangu_parity.rs holds wrt to it.

pub mod block;
mod config;

pub use block::{earth_position_index, pad3d, padded, shift_window_mask, EarthAttention, EarthBlock, SHIFT};
pub use config::PanguConfig;

use crate::satformer::strip_wrapper_prefix;
use std::collections::BTreeMap;
use wrt_autograd::Var;
use wrt_nn::dropout::{fork, Stream};
use wrt_nn::module::{Module, ModuleExt, TrainFlag, Walk};
use wrt_nn::{Conv2d, ConvConfig, ConvTranspose2d, Error, Forward, LayerNorm, Linear, Result};
use wrt_tensor::ops::PadMode;
use wrt_tensor::{DType, Generator, Tensor};

/// Input and output channels of a convection map, and the patch side.
pub const CHANNELS: usize = 5;
pub const PATCH: usize = 4;

/// `(first, second)` halves of a padding of `p`.
fn halves(p: usize) -> (usize, usize) {
    (p / 2, p - p / 2)
}

/// `PatchEmbed2D`: zero-pad to a multiple of 4 (`model.0`), Conv2d(5 -> C, k = s = 4) (`model.1`).
pub struct PatchEmbed {
    pub conv: Conv2d,
    pad: [usize; 4],
}

impl Module for PatchEmbed {
    fn visit(&self, v: &mut Walk<'_>) {
        v.child("model.1", &self.conv);
    }
}

/// `DownSample`: 2x2 merge of a zero-padded grid `(1, H1, W1)` -> `(1, H2, W2)`, LayerNorm(4D), Linear(4D -> 2D).
pub struct DownSample {
    pub linear: Linear,
    pub norm: LayerNorm,
    from: [usize; 2],
    to: [usize; 2],
}

impl Module for DownSample {
    fn visit(&self, v: &mut Walk<'_>) {
        v.child("linear", &self.linear);
        v.child("norm", &self.norm);
    }
}

impl Forward for DownSample {
    fn forward(&self, x: &Var) -> Result<Var> {
        let (b, d) = (x.shape()[0], x.shape()[2]);
        let ([h1, w1], [h2, w2]) = (self.from, self.to);
        let (t, bt) = halves(2 * h2 - h1);
        let (l, r) = halves(2 * w2 - w1);
        let x = x.reshape_to(&[b, 1, h1, w1, d])?.pad(&[0, 0, l, r, t, bt], PadMode::Constant(0.0))?;
        // feature index (dlat * 2 + dlon) * D + c
        let x = x.reshape_to(&[b, 1, h2, 2, w2, 2, d])?.permute(&[0, 1, 2, 4, 3, 5, 6])?.reshape_to(&[b, h2 * w2, 4 * d])?;
        self.linear.forward(&self.norm.forward(&x)?)
    }
}

/// `UpSample`: Linear(2D -> 4D), 2x2 split, centre crop `(1, H2, W2)` -> `(1, H1, W1)`, LayerNorm(D), Linear(D -> D).
pub struct UpSample {
    pub linear1: Linear,
    pub linear2: Linear,
    pub norm: LayerNorm,
    from: [usize; 2],
    to: [usize; 2],
}

impl Module for UpSample {
    fn visit(&self, v: &mut Walk<'_>) {
        v.child("linear1", &self.linear1);
        v.child("linear2", &self.linear2);
        v.child("norm", &self.norm);
    }
}

impl Forward for UpSample {
    fn forward(&self, x: &Var) -> Result<Var> {
        let b = x.shape()[0];
        let ([h2, w2], [h1, w1]) = (self.from, self.to);
        let y = self.linear1.forward(x)?;
        let d = y.shape()[2] / 4;
        let y = y.reshape_to(&[b, 1, h2, w2, 2, 2, d])?.permute(&[0, 1, 2, 4, 3, 5, 6])?.reshape_to(&[b, 1, 2 * h2, 2 * w2, d])?;
        let (t, _) = halves(2 * h2 - h1);
        let (l, _) = halves(2 * w2 - w1);
        let y = y.narrow(2, t, h1)?.narrow(3, l, w1)?.reshape_to(&[b, h1 * w1, d])?;
        self.linear2.forward(&self.norm.forward(&y)?)
    }
}

/// `PatchRecovery2D`: ConvTranspose2d((1 + T) C -> 5, k = s = 4), centre crop to G x G.
pub struct PatchRecovery {
    pub conv: ConvTranspose2d,
}

impl Module for PatchRecovery {
    fn visit(&self, v: &mut Walk<'_>) {
        v.child("conv", &self.conv);
    }
}

/// A sequence of blocks, `nn.Sequential` numbering (`layer1.0`, `layer1.1`, ...).
pub struct Layer(pub Vec<EarthBlock>);

impl Module for Layer {
    fn visit(&self, v: &mut Walk<'_>) {
        v.list("", &self.0);
    }
}

impl Forward for Layer {
    fn forward(&self, x: &Var) -> Result<Var> {
        let mut x = x.clone();
        for b in &self.0 {
            x = b.forward(&x)?;
        }
        Ok(x)
    }
}

/// The model. `Pangu::new(cfg, &mut generator)` (training mode: drop path and rollout noise on); `eval()`
/// for inference.
pub struct Pangu {
    cfg: PanguConfig,
    pub patchembed2d: PatchEmbed,
    pub layer1: Layer,
    pub downsample: DownSample,
    pub layer2: Layer,
    pub layer3: Layer,
    pub upsample: UpSample,
    pub layer4: Layer,
    pub patchrecovery2d: PatchRecovery,
    training: TrainFlag,
    /// The rollout noise (training only).
    noise: Stream,
}

impl Module for Pangu {
    fn visit(&self, v: &mut Walk<'_>) {
        v.child("patchembed2d", &self.patchembed2d);
        v.child("layer1", &self.layer1);
        v.child("downsample", &self.downsample);
        v.child("layer2", &self.layer2);
        v.child("layer3", &self.layer3);
        v.child("upsample", &self.upsample);
        v.child("layer4", &self.layer4);
        v.child("patchrecovery2d", &self.patchrecovery2d);
        v.mode(&self.training);
        v.rng("noise", &self.noise);
    }
}

impl Pangu {
    pub fn new(cfg: PanguConfig, g: &mut Generator) -> Result<Pangu> {
        cfg.validate()?;
        let c = cfg.embed_dim;
        let (r1, r2) = (cfg.resolution1(), cfg.resolution2());
        let win = cfg.window();
        let pad = cfg.grid_size.next_multiple_of(PATCH) - cfg.grid_size;
        let (t, b) = halves(pad);
        let patchembed2d = PatchEmbed { conv: Conv2d::new(g, CHANNELS, c, &[PATCH], ConvConfig::default().stride(PATCH))?, pad: [t, b, t, b] };
        let rates = cfg.drop_path_rates();
        let layer = |g: &mut Generator, depth: usize, dim: usize, heads: usize, res: [usize; 3]| -> Result<Layer> {
            Ok(Layer((0..depth).map(|i| EarthBlock::new(g, dim, res, heads, win, i % 2 == 1, cfg.mlp_ratio, rates[i])).collect::<Result<Vec<_>>>()?))
        };
        let [d1, d2, d3, d4] = cfg.depths();
        let h = &cfg.num_heads;
        let layer1 = layer(g, d1, c, h[0], r1)?;
        let downsample = DownSample { linear: Linear::new(g, 4 * c, 2 * c, false)?, norm: LayerNorm::new(&[4 * c])?, from: [r1[1], r1[2]], to: [r2[1], r2[2]] };
        let layer2 = layer(g, d2, 2 * c, h[1], r2)?;
        let layer3 = layer(g, d3, 2 * c, h[2], r2)?;
        let upsample = UpSample {
            linear1: Linear::new(g, 2 * c, 4 * c, false)?,
            linear2: Linear::new(g, c, c, false)?,
            norm: LayerNorm::new(&[c])?,
            from: [r2[1], r2[2]],
            to: [r1[1], r1[2]],
        };
        let layer4 = layer(g, d4, c, h[3], r1)?;
        let conv = ConvTranspose2d::new(g, (1 + cfg.time_step) * c, CHANNELS, &[PATCH], ConvConfig::default().stride(PATCH))?;
        Ok(Pangu {
            patchembed2d,
            layer1,
            downsample,
            layer2,
            layer3,
            upsample,
            layer4,
            patchrecovery2d: PatchRecovery { conv },
            training: TrainFlag::default(),
            noise: fork(g)?,
            cfg,
        })
    }

    pub fn config(&self) -> &PanguConfig {
        &self.cfg
    }

    /// Patch tokens `[B, H1 * W1, C]` of maps `[B, 5, G, G]`.
    pub fn embed(&self, x: &Var) -> Result<Var> {
        let p = self.patchembed2d.pad;
        let x = if p.iter().any(|&v| v > 0) { x.pad(&[p[2], p[3], p[0], p[1]], PadMode::Constant(0.0))? } else { x.clone() };
        let e = self.patchembed2d.conv.forward(&x)?;
        let (b, c) = (e.shape()[0], e.shape()[1]);
        Ok(e.reshape_to(&[b, c, e.shape()[2] * e.shape()[3]])?.transpose(1, 2)?)
    }

    /// One step of the layer stack; returns the new state and the first layer's output (the skip).
    pub fn stack(&self, z: &Var) -> Result<(Var, Var)> {
        let s = self.layer1.forward(z)?;
        let x = self.layer3.forward(&self.layer2.forward(&self.downsample.forward(&s)?)?)?;
        let x = self.layer4.forward(&self.upsample.forward(&x)?)?;
        Ok((x, s))
    }

    fn noise_like(&self, z: &Var) -> Result<Var> {
        let mut g = self.noise.lock().unwrap_or_else(|e| e.into_inner());
        Ok(Var::constant(g.randn(z.shape(), DType::F32)?.mul_scalar(self.cfg.noise_factor)?))
    }

    /// Maps `[B, 5, G, G]` -> the forecast `time_step` steps ahead `[B, 5, G, G]`. In training, noise of
    /// scale `noise_factor` is added before and (freshly drawn) subtracted after every step.
    pub fn forward(&self, x: &Var) -> Result<Var> {
        let (s, g) = (x.shape(), self.cfg.grid_size);
        if s.len() != 4 || s[1] != CHANNELS || s[2] != g || s[3] != g || x.dtype() != DType::F32 {
            return Err(Error::Config(format!("pangu: input {s:?} {}: expected float32 [batch, {CHANNELS}, {g}, {g}] (grid_size {g})", x.dtype())));
        }
        let b = s[0];
        let mut z = self.embed(x)?;
        let noisy = self.training.get() && self.cfg.noise_factor > 0.0;
        let mut skips = Vec::with_capacity(self.cfg.time_step);
        for _ in 0..self.cfg.time_step {
            if noisy {
                z = z.add(&self.noise_like(&z)?)?;
            }
            let (next, skip) = self.stack(&z)?;
            z = next;
            skips.push(skip);
            if noisy {
                z = z.sub(&self.noise_like(&z)?)?;
            }
        }
        let mut parts = vec![z];
        parts.extend(skips);
        let lat = Var::cat(&parts, -1)?;
        let [_, h1, w1] = self.cfg.resolution1();
        let ch = lat.shape()[2];
        let y = self.patchrecovery2d.conv.forward(&lat.transpose(1, 2)?.reshape_to(&[b, ch, h1, w1])?)?;
        let (top, _) = halves(y.shape()[2] - g);
        let (left, _) = halves(y.shape()[3] - g);
        Ok(y.narrow(2, top, g)?.narrow(3, left, g)?)
    }

    /// Load a PyTorch state_dict (an optional `model.`/`module.` prefix stripped). Every parameter must be
    /// there; the deterministic buffers (`earth_position_index`, `attn_mask`) may be absent, and where
    /// present must equal the ones this configuration computes.
    pub fn load_pytorch_state_dict(&self, sd: &BTreeMap<String, Tensor>) -> Result<()> {
        let sd = strip_wrapper_prefix(sd);
        let mine: BTreeMap<String, Tensor> = self.named_buffers().into_iter().collect();
        for (k, want) in &mine {
            if let Some(got) = sd.get(k) {
                if !crate::same_values(got, want)? {
                    return Err(Error::Config(format!("pangu state_dict: buffer '{k}' differs from the one this configuration computes (another window or grid?)")));
                }
            }
        }
        let mut full = sd.clone();
        for (k, v) in mine {
            full.entry(k).or_insert(v);
        }
        self.load_state_dict(&full, true)
    }
}
