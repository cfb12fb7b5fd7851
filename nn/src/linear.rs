//! nn.Linear: `y = x W^T + b`, weight `[out, in]`, bias `[out]`, PyTorch's default init.

use crate::module::{Module, Walk};
use crate::{init, Forward, Result};
use wrt_autograd::Var;
use wrt_tensor::{DType, Generator};

pub struct Linear {
    pub weight: Var,
    pub bias: Option<Var>,
}

impl Linear {
    /// kaiming_uniform(a = sqrt(5)) weight and U(-1/sqrt(in), 1/sqrt(in)) bias, as `nn.Linear`.
    pub fn new(g: &mut Generator, in_features: usize, out_features: usize, bias: bool) -> Result<Linear> {
        let weight = init::kaiming_uniform(g, &[out_features, in_features], 5f64.sqrt(), DType::F32)?;
        let bound = 1.0 / (in_features.max(1) as f64).sqrt();
        let bias = if bias { Some(Var::new(init::uniform(g, &[out_features], -bound, bound, DType::F32)?, true)) } else { None };
        Ok(Linear { weight: Var::new(weight, true), bias })
    }

    pub fn in_features(&self) -> usize {
        self.weight.shape()[1]
    }
    pub fn out_features(&self) -> usize {
        self.weight.shape()[0]
    }
}

impl Module for Linear {
    fn visit(&self, v: &mut Walk<'_>) {
        v.param("weight", &self.weight);
        if let Some(b) = &self.bias {
            v.param("bias", b);
        }
    }
}

impl Forward for Linear {
    /// `[*, in] -> [*, out]`. Leading dims are folded into one GEMM.
    fn forward(&self, x: &Var) -> Result<Var> {
        let lead = &x.shape()[..x.rank().saturating_sub(1)];
        let flat = if x.rank() > 2 { x.reshape(&[-1, self.in_features() as isize])? } else { x.clone() };
        let mut y = flat.matmul(&self.weight.t()?)?;
        if let Some(b) = &self.bias {
            y = y.add(b)?;
        }
        if x.rank() > 2 {
            let mut s = lead.to_vec();
            s.push(self.out_features());
            y = y.reshape_to(&s)?;
        }
        Ok(y)
    }
}
