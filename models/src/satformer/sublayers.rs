//! The reference's `PreNorm` wrapper and GEGLU `FeedForward`.

use wrt_autograd::{fused, Var};
use wrt_nn::module::{Module, Walk};
use wrt_nn::{Dropout, Forward, LayerNorm, Linear, Result};
use wrt_tensor::Generator;

/// `PreNorm(dim, fn)`: LayerNorm, then `fn`. PyTorch registers `fn` before `norm`, so `fn.*` keys come first.
pub struct PreNorm<M> {
    pub inner: M,
    pub norm: LayerNorm,
}

impl<M> PreNorm<M> {
    pub fn new(dim: usize, inner: M) -> Result<Self> {
        Ok(PreNorm { inner, norm: LayerNorm::new(&[dim])? })
    }
}

impl<M: Module> Module for PreNorm<M> {
    fn visit(&self, v: &mut Walk<'_>) {
        v.child("fn", &self.inner);
        v.child("norm", &self.norm);
    }
}

impl<M: Forward> Forward for PreNorm<M> {
    fn forward(&self, x: &Var) -> Result<Var> {
        self.inner.forward(&self.norm.forward(x)?)
    }
}

/// `FeedForward(dim, mult, dropout)`: `net = Sequential(Linear(dim, 2 * mult * dim), GEGLU, Dropout,
/// Linear(mult * dim, dim))`. GEGLU splits the first layer's output into halves `a | gate` and returns
/// `a * gelu(gate)` (exact erf GELU). `net.1` (GEGLU) has no parameters and no name in the state_dict.
pub struct FeedForward {
    pub proj_in: Linear,
    pub dropout: Dropout,
    pub proj_out: Linear,
}

impl FeedForward {
    pub fn new(g: &mut Generator, dim: usize, mult: usize, dropout: f64) -> Result<Self> {
        Ok(FeedForward {
            proj_in: Linear::new(g, dim, 2 * mult * dim, true)?,
            dropout: Dropout::new(dropout, g)?,
            proj_out: Linear::new(g, mult * dim, dim, true)?,
        })
    }
}

impl Module for FeedForward {
    fn visit(&self, v: &mut Walk<'_>) {
        v.child("net.0", &self.proj_in);
        v.child("net.2", &self.dropout);
        v.child("net.3", &self.proj_out);
    }
}

impl Forward for FeedForward {
    fn forward(&self, x: &Var) -> Result<Var> {
        let y = self.proj_in.forward(x)?;
        let hidden = self.proj_out.in_features();
        let geglu = y.narrow(-1, 0, hidden)?.mul(&fused::gelu(&y.narrow(-1, hidden, hidden)?, false)?)?;
        self.proj_out.forward(&self.dropout.forward(&geglu)?)
    }
}
