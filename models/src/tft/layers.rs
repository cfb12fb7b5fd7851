//! The canonical TFT's building blocks as pytorch-forecasting writes them (`sub_modules.py`): gated linear
//! unit, add & norm with optional resampling and trainable skip gate, gated residual network, variable
//! selection network and interpretable multi-head attention. Names inside each block are pytorch-forecasting's,
//! and so is the registration order (`resample_norm` before `fc1` in a GRN).
//!
//! Where pytorch-forecasting differs from the paper we follow the library, so its checkpoints load: a GRN's
//! `fc2` maps hidden -> hidden and the GLU maps to the output; a residual whose width differs from the output
//! is resampled by linear interpolation (`F.interpolate(.., align_corners=True)` over the features) and not
//! projected; attention averages the heads' outputs and shares one value projection.

use wrt_autograd::Var;
use wrt_nn::module::{Module, Walk};
use wrt_nn::{init, Dropout, Error, Forward, LayerNorm, Linear, Result};
use wrt_tensor::{DType, Generator, Tensor};

/// `nn.Linear` with pytorch-forecasting's GLU / attention init: xavier-uniform weight, zero bias.
pub(crate) fn linear_xavier(g: &mut Generator, fan_in: usize, fan_out: usize, bias: bool) -> Result<Linear> {
    let l = Linear::new(g, fan_in, fan_out, bias)?;
    l.weight.value().copy_(&init::xavier_uniform(g, &[fan_out, fan_in], 1.0, DType::F32)?)?;
    if let Some(b) = &l.bias {
        b.value().copy_(&Tensor::zeros(&[fan_out], DType::F32)?)?;
    }
    Ok(l)
}

/// `nn.Linear` with a GRN's `fc1`/`fc2` init: kaiming-normal (fan_in, gain sqrt 2), zero bias.
fn linear_kaiming(g: &mut Generator, fan_in: usize, fan_out: usize) -> Result<Linear> {
    let l = Linear::new(g, fan_in, fan_out, true)?;
    l.weight.value().copy_(&init::kaiming_normal(g, &[fan_out, fan_in], DType::F32)?)?;
    if let Some(b) = &l.bias {
        b.value().copy_(&Tensor::zeros(&[fan_out], DType::F32)?)?;
    }
    Ok(l)
}

fn dropout(g: &mut Generator, p: Option<f64>) -> Result<Option<Dropout>> {
    p.map(|p| Dropout::new(p, g)).transpose()
}

/// `F.interpolate(x.unsqueeze(1), out, mode="linear", align_corners=True)` over the last axis as a fixed
/// `[in, out]` matrix: output j reads position j (in - 1) / (out - 1) of the input.
fn interpolation(n_in: usize, n_out: usize) -> Result<Tensor> {
    let mut m = vec![0f32; n_in * n_out];
    let scale = if n_out > 1 { (n_in - 1) as f32 / (n_out - 1) as f32 } else { 0.0 };
    for j in 0..n_out {
        let src = scale * j as f32;
        let lo = (src.floor() as usize).min(n_in - 1);
        let hi = (lo + 1).min(n_in - 1);
        let w = src - lo as f32;
        m[lo * n_out + j] += 1.0 - w;
        m[hi * n_out + j] += w;
    }
    Ok(Tensor::from_vec(m, &[n_in, n_out])?)
}

/// `TimeDistributedInterpolation(out, trainable=False)`: the feature axis resampled to `out` values.
struct Resample(Tensor);

impl Resample {
    fn new(n_in: usize, n_out: usize) -> Result<Option<Resample>> {
        Ok(if n_in == n_out { None } else { Some(Resample(interpolation(n_in, n_out)?)) })
    }
    fn forward(&self, x: &Var) -> Result<Var> {
        Ok(x.matmul(&Var::constant(self.0.clone()))?)
    }
}

/// `x * sigmoid(mask) * 2`: the trainable gate on a skip path (identity at the init mask = 0).
fn gate(x: &Var, mask: &Var) -> Result<Var> {
    Ok(x.mul(&mask.sigmoid()?.mul_scalar(2.0)?)?)
}

/// `GatedLinearUnit(in, out, dropout)`: `fc` Linear(in -> 2 out), `y[..out] * sigmoid(y[out..])` of
/// `fc(dropout(x))`.
pub struct GatedLinearUnit {
    pub dropout: Option<Dropout>,
    pub fc: Linear,
}

impl GatedLinearUnit {
    pub fn new(g: &mut Generator, n_in: usize, n_out: usize, p: Option<f64>) -> Result<Self> {
        Ok(GatedLinearUnit { dropout: dropout(g, p)?, fc: linear_xavier(g, n_in, 2 * n_out, true)? })
    }
}

impl Module for GatedLinearUnit {
    fn visit(&self, v: &mut Walk<'_>) {
        if let Some(d) = &self.dropout {
            v.child("dropout", d);
        }
        v.child("fc", &self.fc);
    }
}

impl Forward for GatedLinearUnit {
    fn forward(&self, x: &Var) -> Result<Var> {
        let x = match &self.dropout {
            Some(d) => d.forward(x)?,
            None => x.clone(),
        };
        let y = self.fc.forward(&x)?;
        let n = y.shape()[y.rank() - 1] / 2;
        Ok(y.narrow(-1, 0, n)?.mul(&y.narrow(-1, n, n)?.sigmoid()?)?)
    }
}

/// `AddNorm(in, skip, trainable_add)`: `LayerNorm(x + gate(resample(skip)))`.
pub struct AddNorm {
    resample: Option<Resample>,
    pub mask: Option<Var>,
    pub norm: LayerNorm,
}

impl AddNorm {
    pub fn new(n_in: usize, skip: usize, trainable_add: bool) -> Result<Self> {
        let mask = if trainable_add { Some(Var::new(Tensor::zeros(&[n_in], DType::F32)?, true)) } else { None };
        Ok(AddNorm { resample: Resample::new(skip, n_in)?, mask, norm: LayerNorm::new(&[n_in])? })
    }

    pub fn forward(&self, x: &Var, skip: &Var) -> Result<Var> {
        let mut s = match &self.resample {
            Some(r) => r.forward(skip)?,
            None => skip.clone(),
        };
        if let Some(m) = &self.mask {
            s = gate(&s, m)?;
        }
        self.norm.forward(&x.add(&s)?)
    }
}

impl Module for AddNorm {
    fn visit(&self, v: &mut Walk<'_>) {
        if let Some(m) = &self.mask {
            v.param("mask", m);
        }
        v.child("norm", &self.norm);
    }
}

/// `GateAddNorm(in, out, skip=out, trainable_add=False, dropout)`: `AddNorm(GLU(x), skip)`.
pub struct GateAddNorm {
    pub glu: GatedLinearUnit,
    pub add_norm: AddNorm,
}

impl GateAddNorm {
    pub fn new(g: &mut Generator, n_in: usize, n_out: usize, p: Option<f64>) -> Result<Self> {
        Ok(GateAddNorm { glu: GatedLinearUnit::new(g, n_in, n_out, p)?, add_norm: AddNorm::new(n_out, n_out, false)? })
    }

    pub fn forward(&self, x: &Var, skip: &Var) -> Result<Var> {
        self.add_norm.forward(&self.glu.forward(x)?, skip)
    }
}

impl Module for GateAddNorm {
    fn visit(&self, v: &mut Walk<'_>) {
        v.child("glu", &self.glu);
        v.child("add_norm", &self.add_norm);
    }
}

/// `ResampleNorm(in, out, trainable_add=True)`: `LayerNorm(gate(resample(x)))`.
pub struct ResampleNorm {
    resample: Option<Resample>,
    pub mask: Var,
    pub norm: LayerNorm,
}

impl ResampleNorm {
    pub fn new(n_in: usize, n_out: usize) -> Result<Self> {
        Ok(ResampleNorm { resample: Resample::new(n_in, n_out)?, mask: Var::new(Tensor::zeros(&[n_out], DType::F32)?, true), norm: LayerNorm::new(&[n_out])? })
    }
}

impl Module for ResampleNorm {
    fn visit(&self, v: &mut Walk<'_>) {
        v.param("mask", &self.mask);
        v.child("norm", &self.norm);
    }
}

impl Forward for ResampleNorm {
    fn forward(&self, x: &Var) -> Result<Var> {
        let x = match &self.resample {
            Some(r) => r.forward(x)?,
            None => x.clone(),
        };
        self.norm.forward(&gate(&x, &self.mask)?)
    }
}

/// `GatedResidualNetwork(in, hidden, out, dropout, context)`:
/// `LayerNorm(GLU(fc2(ELU(fc1(x) + context(c)))) + r)`, `r = resample_norm(x)` when in != out, else x.
pub struct Grn {
    pub resample_norm: Option<ResampleNorm>,
    pub fc1: Linear,
    /// Linear(context -> hidden, no bias), xavier init.
    pub context: Option<Linear>,
    pub fc2: Linear,
    pub gate_norm: GateAddNorm,
}

impl Grn {
    pub fn new(g: &mut Generator, n_in: usize, hidden: usize, n_out: usize, p: f64, context: Option<usize>) -> Result<Self> {
        // pytorch-forecasting's creation order: resample_norm, fc1, context, fc2 (then init), gate_norm
        let resample_norm = if n_in != n_out { Some(ResampleNorm::new(n_in, n_out)?) } else { None };
        let fc1 = linear_kaiming(g, n_in, hidden)?;
        let context = context.map(|c| linear_xavier(g, c, hidden, false)).transpose()?;
        let fc2 = linear_kaiming(g, hidden, hidden)?;
        let gate_norm = GateAddNorm::new(g, hidden, n_out, Some(p))?;
        Ok(Grn { resample_norm, fc1, context, fc2, gate_norm })
    }

    pub fn forward(&self, x: &Var, context: Option<&Var>) -> Result<Var> {
        let residual = match &self.resample_norm {
            Some(r) => r.forward(x)?,
            None => x.clone(),
        };
        let mut h = self.fc1.forward(x)?;
        match (&self.context, context) {
            (Some(l), Some(c)) => h = h.add(&l.forward(c)?)?,
            (None, None) => {}
            (Some(_), None) => return Err(Error::Config("GatedResidualNetwork: this network takes a context, none was given".into())),
            (None, Some(_)) => return Err(Error::Config("GatedResidualNetwork: a context was given to a network built without one".into())),
        }
        let h = self.fc2.forward(&h.elu(1.0)?)?;
        self.gate_norm.forward(&h, &residual)
    }
}

impl Module for Grn {
    fn visit(&self, v: &mut Walk<'_>) {
        if let Some(r) = &self.resample_norm {
            v.child("resample_norm", r);
        }
        v.child("fc1", &self.fc1);
        if let Some(c) = &self.context {
            v.child("context", c);
        }
        v.child("fc2", &self.fc2);
        v.child("gate_norm", &self.gate_norm);
    }
}

/// The network a variable selection applies to one variable: a GRN for a (prescaled) real, a
/// `ResampleNorm` for a categorical embedding.
pub enum VariableNet {
    Real(Grn),
    Embedded(ResampleNorm),
}

impl VariableNet {
    fn forward(&self, x: &Var) -> Result<Var> {
        match self {
            VariableNet::Real(g) => g.forward(x, None),
            VariableNet::Embedded(r) => r.forward(x),
        }
    }
}

impl Module for VariableNet {
    fn visit(&self, v: &mut Walk<'_>) {
        match self {
            VariableNet::Real(g) => g.visit(v),
            VariableNet::Embedded(r) => r.visit(v),
        }
    }
}

/// One input of a variable selection: its name, width (the prescaler's or embedding's) and whether it
/// is a categorical embedding.
#[derive(Clone, Debug, PartialEq)]
pub struct VarInput {
    pub name: String,
    pub size: usize,
    pub embedded: bool,
}

/// `VariableSelectionNetwork`: each variable's vector `ξ_j` goes through its own network to `[.., H]`;
/// with more than one variable the weights `v = softmax(flattened_grn(concat ξ, c))` mix them. The
/// prescalers (shared with the model, pytorch-forecasting's `prescalers`) are applied by the caller.
pub struct VariableSelection {
    pub inputs: Vec<VarInput>,
    pub flattened_grn: Option<Grn>,
    pub single_variable_grns: Vec<VariableNet>,
}

impl VariableSelection {
    pub fn new(g: &mut Generator, inputs: Vec<VarInput>, hidden: usize, p: f64, context: Option<usize>) -> Result<Self> {
        let n = inputs.len();
        let total: usize = inputs.iter().map(|i| i.size).sum();
        let flattened_grn = if n > 1 { Some(Grn::new(g, total, hidden.min(n), n, p, context)?) } else { None };
        let single_variable_grns = inputs
            .iter()
            .map(|i| {
                Ok(if i.embedded {
                    VariableNet::Embedded(ResampleNorm::new(i.size, hidden)?)
                } else {
                    VariableNet::Real(Grn::new(g, i.size, i.size.min(hidden), hidden, p, None)?)
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(VariableSelection { inputs, flattened_grn, single_variable_grns })
    }

    /// `xs[j]`: variable j's vector `[.., size_j]` (in `inputs` order). Returns the selection `[.., H]` and
    /// the weights `[.., 1, n]` (pytorch-forecasting's `sparse_weights`; all ones for a single variable).
    pub fn forward(&self, xs: &[Var], context: Option<&Var>) -> Result<(Var, Var)> {
        if xs.len() != self.inputs.len() {
            return Err(Error::Config(format!("variable selection: {} inputs for {} variables", xs.len(), self.inputs.len())));
        }
        let outs = xs.iter().zip(&self.single_variable_grns).map(|(x, net)| net.forward(x)).collect::<Result<Vec<_>>>()?;
        match &self.flattened_grn {
            None => {
                let out = outs.into_iter().next().ok_or_else(|| Error::Config("variable selection over no variables".into()))?;
                let mut shape = out.shape().to_vec();
                *shape.last_mut().expect("rank >= 1") = 1;
                shape.push(1);
                Ok((out, Var::constant(Tensor::ones(&shape, DType::F32)?)))
            }
            Some(grn) => {
                let weights = grn.forward(&Var::cat(xs, -1)?, context)?.softmax(-1)?;
                // Σ_j v_j out_j: [.., H, n] x [.., n, 1]
                let stacked = Var::stack(&outs, -1)?;
                let out = stacked.matmul(&weights.unsqueeze(-1)?)?.squeeze(&[-1])?;
                Ok((out, weights.unsqueeze(-2)?))
            }
        }
    }
}

impl Module for VariableSelection {
    fn visit(&self, v: &mut Walk<'_>) {
        if let Some(f) = &self.flattened_grn {
            v.child("flattened_grn", f);
        }
        for (i, net) in self.inputs.iter().zip(&self.single_variable_grns) {
            v.child(&format!("single_variable_grns.{}", i.name), net);
        }
    }
}

/// `InterpretableMultiHeadAttention(n_head, d_model, dropout)`: per-head query and key projections, one
/// value projection shared by all heads, head outputs averaged before `w_h`, so the averaged attention
/// weights say which time steps matter.
pub struct InterpretableAttention {
    pub dropout: Dropout,
    pub v_layer: Linear,
    pub q_layers: Vec<Linear>,
    pub k_layers: Vec<Linear>,
    pub w_h: Linear,
}

impl InterpretableAttention {
    pub fn new(g: &mut Generator, heads: usize, d_model: usize, p: f64) -> Result<Self> {
        if heads == 0 || d_model % heads != 0 {
            return Err(Error::Config(format!("interpretable attention: hidden_size {d_model} is not divisible by {heads} heads")));
        }
        let dk = d_model / heads;
        let dropout = Dropout::new(p, g)?;
        let v_layer = linear_xavier(g, d_model, dk, true)?;
        let q_layers = (0..heads).map(|_| linear_xavier(g, d_model, dk, true)).collect::<Result<Vec<_>>>()?;
        let k_layers = (0..heads).map(|_| linear_xavier(g, d_model, dk, true)).collect::<Result<Vec<_>>>()?;
        let w_h = linear_xavier(g, dk, d_model, false)?;
        Ok(InterpretableAttention { dropout, v_layer, q_layers, k_layers, w_h })
    }

    pub fn heads(&self) -> usize {
        self.q_layers.len()
    }

    /// All heads' projections as one GEMM: the heads' weights stacked `[heads * d_k, d]` -> `[B, heads, T, d_k]`.
    fn project(layers: &[Linear], x: &Var) -> Result<Var> {
        let ws: Vec<Var> = layers.iter().map(|l| l.weight.clone()).collect();
        let bs: Vec<Var> = layers.iter().filter_map(|l| l.bias.clone()).collect();
        let (b, t, dk) = (x.shape()[0], x.shape()[1], layers[0].out_features());
        let mut y = x.matmul(&Var::cat(&ws, 0)?.t()?)?;
        if bs.len() == layers.len() {
            y = y.add(&Var::cat(&bs, 0)?)?;
        }
        Ok(y.reshape_to(&[b, t, layers.len(), dk])?.permute(&[0, 2, 1, 3])?)
    }

    /// `q [B, Tq, d]`, `kv [B, T, d]` (keys and values are the same input in the TFT), `bias` additive
    /// `[B, 1, Tq, T]` (-1e9 where blocked). Returns the output `[B, Tq, d]` and the attention weights
    /// `[B, Tq, heads, T]`.
    pub fn forward(&self, q: &Var, kv: &Var, bias: Option<&Tensor>) -> Result<(Var, Var)> {
        let heads = self.heads();
        let dk = self.v_layer.out_features();
        let vs = self.v_layer.forward(kv)?.unsqueeze(1)?; // [B, 1, T, dk]
        let qs = Self::project(&self.q_layers, q)?;
        let ks = Self::project(&self.k_layers, kv)?;
        // the reference divides by sqrt(d_k) computed in f32
        let mut scores = qs.matmul(&ks.transpose(-1, -2)?)?.mul_scalar(1.0 / (dk as f32).sqrt() as f64)?;
        if let Some(b) = bias {
            scores = scores.add(&Var::constant(b.clone()))?;
        }
        let attn = scores.softmax(-1)?; // [B, heads, Tq, T]
        let head = self.dropout.forward(&attn.matmul(&vs)?)?; // [B, heads, Tq, dk]
        let mean = if heads > 1 { head.mean(&[1], false)? } else { head.squeeze(&[1])? };
        let out = self.dropout.forward(&self.w_h.forward(&mean)?)?;
        Ok((out, attn.permute(&[0, 2, 1, 3])?))
    }
}

impl Module for InterpretableAttention {
    fn visit(&self, v: &mut Walk<'_>) {
        v.child("dropout", &self.dropout);
        v.child("v_layer", &self.v_layer);
        v.list("q_layers", &self.q_layers);
        v.list("k_layers", &self.k_layers);
        v.child("w_h", &self.w_h);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolation_matches_align_corners() {
        // in 3 -> out 5: positions 0, .5, 1, 1.5, 2
        let m = interpolation(3, 5).unwrap().to_vec::<f32>().unwrap();
        let x = [1.0f32, 3.0, 7.0];
        let y: Vec<f32> = (0..5).map(|j| (0..3).map(|i| x[i] * m[i * 5 + j]).sum()).collect();
        assert_eq!(y, vec![1.0, 2.0, 3.0, 5.0, 7.0]);
        // down: in 5 -> out 2 picks the ends; -> 1 picks the first
        let m = interpolation(5, 2).unwrap().to_vec::<f32>().unwrap();
        assert_eq!(m, vec![1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]);
        let m = interpolation(4, 1).unwrap().to_vec::<f32>().unwrap();
        assert_eq!(m, vec![1.0, 0.0, 0.0, 0.0]);
    }
}
