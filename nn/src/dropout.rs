//! nn.Dropout and DropPath (timm's stochastic depth). Both are the identity in eval mode.
//!
//! Random streams: each layer holds its `Generator` behind an `Arc<Mutex<..>>`. `new(p, g)` gives the layer
//! its own stream, seeded from one draw of `g` (so a model built from one seeded generator is reproducible,
//! and layers do not share draws); `with_stream` shares a stream between layers (one stream per model, as
//! PyTorch's global generator). `stream()` hands out the stream for checkpointing its (seed, offset).

use crate::module::{Module, TrainFlag, Walk};
use crate::{Error, Forward, Result};
use std::sync::{Arc, Mutex};
use wrt_autograd::Var;
use wrt_tensor::{Generator, Tensor};

/// A shared random stream.
pub type Stream = Arc<Mutex<Generator>>;

/// A fresh stream seeded by one draw of `g`.
pub fn fork(g: &mut Generator) -> Result<Stream> {
    let seed = g.randint(&[1], 0, i64::MAX)?.item::<i64>()? as u64;
    Ok(Arc::new(Mutex::new(Generator::new(seed))))
}

fn check_p(op: &str, p: f64) -> Result<()> {
    if !(0.0..=1.0).contains(&p) {
        return Err(Error::Config(format!("{op}: probability {p} is outside [0, 1]")));
    }
    Ok(())
}

pub(crate) fn lock(s: &Stream) -> std::sync::MutexGuard<'_, Generator> {
    // a panic elsewhere cannot leave a Generator half-updated: its state is a Copy value
    s.lock().unwrap_or_else(|e| e.into_inner())
}

/// `nn.Dropout(p=0.5)`: zeroes elements with probability `p` and scales the rest by 1/(1-p) in training.
pub struct Dropout {
    pub p: f64,
    pub training: TrainFlag,
    stream: Stream,
}

impl Dropout {
    pub fn new(p: f64, g: &mut Generator) -> Result<Self> {
        Self::with_stream(p, fork(g)?)
    }
    pub fn with_stream(p: f64, stream: Stream) -> Result<Self> {
        check_p("Dropout", p)?;
        Ok(Dropout { p, training: TrainFlag::default(), stream })
    }
    pub fn stream(&self) -> &Stream {
        &self.stream
    }
}

impl Module for Dropout {
    fn visit(&self, v: &mut Walk<'_>) {
        v.mode(&self.training);
        v.rng("rng", &self.stream);
    }
}

impl Forward for Dropout {
    fn forward(&self, x: &Var) -> Result<Var> {
        if !self.training.get() || self.p == 0.0 {
            return Ok(x.clone());
        }
        Ok(x.dropout(self.p, true, &mut lock(&self.stream))?)
    }
}

/// timm's `DropPath(drop_prob, scale_by_keep=True)`: in training, each sample (dim 0) of a residual branch
/// is dropped with probability `p`; kept samples are scaled by 1/(1-p) when `scale_by_keep`.
pub struct DropPath {
    pub p: f64,
    pub scale_by_keep: bool,
    pub training: TrainFlag,
    stream: Stream,
}

impl DropPath {
    pub fn new(p: f64, g: &mut Generator) -> Result<Self> {
        Self::with_stream(p, fork(g)?)
    }
    pub fn with_stream(p: f64, stream: Stream) -> Result<Self> {
        check_p("DropPath", p)?;
        Ok(DropPath { p, scale_by_keep: true, training: TrainFlag::default(), stream })
    }
    pub fn stream(&self) -> &Stream {
        &self.stream
    }
}

impl Module for DropPath {
    fn visit(&self, v: &mut Walk<'_>) {
        v.mode(&self.training);
        v.rng("rng", &self.stream);
    }
}

impl Forward for DropPath {
    fn forward(&self, x: &Var) -> Result<Var> {
        if !self.training.get() || self.p == 0.0 {
            return Ok(x.clone());
        }
        let mut shape = vec![1; x.rank().max(1)];
        shape[0] = x.shape().first().copied().unwrap_or(1);
        let keep = 1.0 - self.p;
        // per-sample mask in {0, 1} (bernoulli(keep)), scaled by 1/keep as timm when keep > 0
        let mask = lock(&self.stream).bernoulli(&shape, keep)?.to_dtype(x.dtype())?;
        let mask: Tensor = if self.scale_by_keep && keep > 0.0 { mask.mul_scalar(1.0 / keep)? } else { mask };
        Ok(x.mul(&Var::constant(mask))?)
    }
}
