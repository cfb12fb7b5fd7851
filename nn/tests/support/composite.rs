//! The composite model of tools/parity/check_safetensors_roundtrip.py in wrt: Conv1d + BatchNorm1d +
//! MultiheadAttention + LSTM + Linear with a float16 (`in_scale`) and a bfloat16 (`out_scale`) buffer; the
//! same state_dict names, shapes, dtypes and order as the PyTorch class. Shared by
//! nn/tests/safetensors_roundtrip.rs and nn/examples/write_roundtrip.rs (included with `#[path]`).

use wrt_nn::*;
use wrt_tensor::{DType, Generator, Tensor};

pub struct Composite {
    pub in_scale: Tensor,
    pub out_scale: Tensor,
    pub conv: Conv1d,
    pub bn: BatchNorm1d,
    pub attn: MultiheadAttention,
    pub lstm: LSTM,
    pub head: Linear,
}

impl Composite {
    pub fn new(g: &mut Generator) -> Result<Composite> {
        Ok(Composite {
            in_scale: Tensor::from_vec(vec![0.5f32, 1.0, 1.5], &[3])?.to_dtype(DType::F16)?,
            out_scale: Tensor::from_vec(vec![2.0f32, -0.5], &[2])?.to_dtype(DType::BF16)?,
            conv: Conv1d::new(g, 3, 8, &[3], ConvConfig::default().padding(1))?,
            bn: BatchNorm1d::new(8)?,
            attn: MultiheadAttention::new(g, 8, 2, MhaConfig { batch_first: true, ..MhaConfig::default() })?,
            lstm: LSTM::new(g, 8, 6, LstmConfig { batch_first: true, ..LstmConfig::default() })?,
            head: Linear::new(g, 6, 2, true)?,
        })
    }

    /// x `[B, 3, T]` -> `[B, 2]`, as `Composite.forward` in the Python script.
    pub fn forward(&self, x: &Var) -> Result<Var> {
        let x = x.mul(&Var::constant(self.in_scale.to_dtype(DType::F32)?.reshape_to(&[3, 1])?))?;
        let h = self.bn.forward(&self.conv.forward(&x)?)?.relu()?.transpose(1, 2)?;
        let (a, _) = self.attn.self_attention(&h, &AttnArgs::masks(None, None))?;
        let (y, _) = self.lstm.forward(&h.add(&a)?, None)?;
        let last = y.select(1, y.shape()[1] - 1)?;
        Ok(self.head.forward(&last)?.mul(&Var::constant(self.out_scale.to_dtype(DType::F32)?))?)
    }
}

impl Module for Composite {
    /// The root's own buffers first, then the children: PyTorch's state_dict order.
    fn visit(&self, v: &mut Walk<'_>) {
        v.buffer("in_scale", &self.in_scale);
        v.buffer("out_scale", &self.out_scale);
        v.child("conv", &self.conv);
        v.child("bn", &self.bn);
        v.child("attn", &self.attn);
        v.child("lstm", &self.lstm);
        v.child("head", &self.head);
    }
}
