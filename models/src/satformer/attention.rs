//! The reference's `Attention` (from lucidrains' TimeSformer): multi-head attention over `[B, L, dim]` tokens
//! (CLS first, then `f * n` patches, frame-major) in which the CLS query attends to every token and each
//! patch query attends to the CLS token plus the patches of its group:
//!
//! - `Group::Joint`: all patches (plain full attention over the L tokens);
//! - `Group::Time`: the patches at the same position in every frame (`f` patches, so `f + 1` keys);
//! - `Group::Space`: the patches of the same frame (`n` patches, so `n + 1` keys).
//!
//! Parameters: `to_qkv.weight [3 * inner, dim]` (no bias; rows q, then k, then v; head `h` uses features
//! `h * dim_head ..`), `to_out.0` Linear(inner, dim), `to_out.1` Dropout. There is no dropout on the attention
//! probabilities. The softmax attentions go through the fused kernel, grouped as extra leading dims of views.

use wrt_autograd::{fused, Var};
use wrt_nn::module::{Module, Walk};
use wrt_nn::{Dropout, Forward, Linear, Result};
use wrt_tensor::Generator;

/// Which patches a patch query sees besides the CLS token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    Joint,
    Time,
    Space,
}

/// `nn.Sequential(nn.Linear(inner, dim), nn.Dropout(p))`.
pub struct OutProj {
    pub linear: Linear,
    pub dropout: Dropout,
}

impl Module for OutProj {
    fn visit(&self, v: &mut Walk<'_>) {
        v.child("0", &self.linear);
        v.child("1", &self.dropout);
    }
}

impl Forward for OutProj {
    fn forward(&self, x: &Var) -> Result<Var> {
        self.dropout.forward(&self.linear.forward(x)?)
    }
}

pub struct Attention {
    pub to_qkv: Linear,
    pub to_out: OutProj,
    pub heads: usize,
    pub dim_head: usize,
}

impl Module for Attention {
    fn visit(&self, v: &mut Walk<'_>) {
        v.child("to_qkv", &self.to_qkv);
        v.child("to_out", &self.to_out);
    }
}

impl Attention {
    pub fn new(g: &mut Generator, dim: usize, heads: usize, dim_head: usize, dropout: f64) -> Result<Self> {
        let inner = heads * dim_head;
        Ok(Attention {
            to_qkv: Linear::new(g, dim, 3 * inner, false)?,
            to_out: OutProj { linear: Linear::new(g, inner, dim, true)?, dropout: Dropout::new(dropout, g)? },
            heads,
            dim_head,
        })
    }

    /// `x [B, L, dim]` (already normalised), `L = 1 + f * n` -> `[B, L, dim]`.
    pub fn forward(&self, x: &Var, group: Group, f: usize, n: usize) -> Result<Var> {
        let (b, l) = (x.shape()[0], x.shape()[1]);
        let (h, d) = (self.heads, self.dim_head);
        let inner = h * d;
        // q, k, v as [B, H, L, d] views. One GEMM per projection on a row block of the packed weight: the
        // backward then scatters weight-sized blocks instead of three [B, L, 3 * inner] activation buffers.
        let w = &self.to_qkv.weight;
        let project = |i: usize| -> Result<Var> {
            let y = x.reshape(&[-1, x.shape()[2] as isize])?.matmul(&w.narrow(0, i * inner, inner)?.t()?)?;
            Ok(y.reshape_to(&[b, l, h, d])?.permute(&[0, 2, 1, 3])?)
        };
        let (q, k, v) = (project(0)?, project(1)?, project(2)?);
        let scale = Some((d as f64).powf(-0.5));
        let sdpa = |q: &Var, k: &Var, v: &Var| -> Result<Var> { Ok(fused::scaled_dot_product_attention(q, k, v, None, 0.0, false, scale, None)?) };
        let out = match group {
            // CLS and patch queries alike see every token: standard full attention
            Group::Joint => sdpa(&q, &k, &v)?,
            Group::Time | Group::Space => {
                let cls_out = sdpa(&q.narrow(2, 0, 1)?, &k, &v)?;
                // [B, H, f*n, d] -> [B, H, groups, per group, d]
                let grouped = |t: &Var| -> Result<Var> {
                    let t = t.narrow(2, 1, f * n)?.reshape_to(&[b, h, f, n, d])?;
                    Ok(if group == Group::Time { t.permute(&[0, 1, 3, 2, 4])? } else { t })
                };
                let groups = if group == Group::Time { n } else { f };
                // the CLS key and value lead every group's keys and values
                let with_cls = |t: &Var| -> Result<Var> {
                    let cls = t.narrow(2, 0, 1)?.unsqueeze(2)?.expand(&[b as isize, h as isize, groups as isize, 1, d as isize])?;
                    Ok(Var::cat(&[cls, grouped(t)?], 3)?)
                };
                let out = sdpa(&grouped(&q)?, &with_cls(&k)?, &with_cls(&v)?)?;
                let out = if group == Group::Time { out.permute(&[0, 1, 3, 2, 4])? } else { out };
                Var::cat(&[cls_out, out.reshape_to(&[b, h, f * n, d])?], 2)?
            }
        };
        // [B, H, L, d] -> [B, L, H * d]
        let out = out.permute(&[0, 2, 1, 3])?.reshape_to(&[b, l, inner])?;
        self.to_out.forward(&out)
    }
}
