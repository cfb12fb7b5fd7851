//! Parameter-free layers: activations (nn.ReLU, GELU, SiLU, ELU, LeakyReLU, Tanh, Sigmoid), nn.Identity and
//! nn.Flatten. Each is a zero-parameter `Module` so it can sit in a `Sequential`.

use crate::module::{Module, Walk};
use crate::{Forward, Result};
use wrt_autograd::{fused, Var};

macro_rules! unit_activation {
    ($(#[$doc:meta] $name:ident => |$x:ident| $body:expr;)*) => {$(
        #[$doc]
        #[derive(Clone, Copy, Debug, Default)]
        pub struct $name;

        impl Module for $name {
            fn visit(&self, _: &mut Walk<'_>) {}
        }

        impl Forward for $name {
            fn forward(&self, $x: &Var) -> Result<Var> {
                Ok($body?)
            }
        }
    )*};
}

unit_activation! {
    /// `nn.ReLU()`.
    ReLU => |x| x.relu();
    /// `nn.SiLU()` (swish).
    SiLU => |x| x.silu();
    /// `nn.Tanh()`.
    Tanh => |x| x.tanh();
    /// `nn.Sigmoid()`.
    Sigmoid => |x| x.sigmoid();
    /// `nn.Identity()`.
    Identity => |x| Ok::<Var, wrt_autograd::Error>(x.clone());
}

/// `nn.GELU(approximate='none' | 'tanh')`, through the fused GELU kernel.
#[derive(Clone, Copy, Debug, Default)]
pub struct GELU {
    /// `approximate='tanh'`.
    pub tanh: bool,
}

impl GELU {
    pub fn new() -> Self {
        GELU { tanh: false }
    }
    pub fn tanh() -> Self {
        GELU { tanh: true }
    }
}

/// `nn.ELU(alpha=1.0)`.
#[derive(Clone, Copy, Debug)]
pub struct ELU {
    pub alpha: f64,
}

impl Default for ELU {
    fn default() -> Self {
        ELU { alpha: 1.0 }
    }
}

/// `nn.LeakyReLU(negative_slope=0.01)`.
#[derive(Clone, Copy, Debug)]
pub struct LeakyReLU {
    pub negative_slope: f64,
}

impl Default for LeakyReLU {
    fn default() -> Self {
        LeakyReLU { negative_slope: 0.01 }
    }
}

/// `nn.Flatten(start_dim=1, end_dim=-1)`.
#[derive(Clone, Copy, Debug)]
pub struct Flatten {
    pub start_dim: isize,
    pub end_dim: isize,
}

impl Default for Flatten {
    fn default() -> Self {
        Flatten { start_dim: 1, end_dim: -1 }
    }
}

impl Flatten {
    pub fn new(start_dim: isize, end_dim: isize) -> Self {
        Flatten { start_dim, end_dim }
    }
}

impl Module for GELU {
    fn visit(&self, _: &mut Walk<'_>) {}
}
impl Module for ELU {
    fn visit(&self, _: &mut Walk<'_>) {}
}
impl Module for LeakyReLU {
    fn visit(&self, _: &mut Walk<'_>) {}
}
impl Module for Flatten {
    fn visit(&self, _: &mut Walk<'_>) {}
}

impl Forward for GELU {
    fn forward(&self, x: &Var) -> Result<Var> {
        Ok(fused::gelu(x, self.tanh)?)
    }
}
impl Forward for ELU {
    fn forward(&self, x: &Var) -> Result<Var> {
        Ok(x.elu(self.alpha)?)
    }
}
impl Forward for LeakyReLU {
    fn forward(&self, x: &Var) -> Result<Var> {
        Ok(x.leaky_relu(self.negative_slope)?)
    }
}
impl Forward for Flatten {
    fn forward(&self, x: &Var) -> Result<Var> {
        Ok(x.flatten(self.start_dim, self.end_dim)?)
    }
}
