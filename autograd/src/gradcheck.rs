//! `gradcheck`: compare analytic gradients with f64 central finite differences (micrograd's tiny oracle,
//! run for every op). Non-scalar outputs are reduced with a fixed random projection, so every output
//! element's gradient path is exercised.

use crate::{Error, Result, Var};
use wrt_tensor::{DType, Generator, Tensor};

/// Tolerances and step for `gradcheck`.
#[derive(Clone, Copy, Debug)]
pub struct GradCheck {
    pub eps: f64,
    pub atol: f64,
    pub rtol: f64,
}

impl Default for GradCheck {
    fn default() -> Self {
        GradCheck { eps: 1e-6, atol: 1e-6, rtol: 1e-4 }
    }
}

/// Check `f` at `inputs` (f64 tensors; non-float inputs are passed as constants). `wrt[i]` says whether
/// input i is differentiated. Returns the largest absolute error seen, or an error describing the worst element.
pub fn gradcheck(f: impl Fn(&[Var]) -> Result<Var>, inputs: &[Tensor], wrt: &[bool], cfg: GradCheck) -> Result<f64> {
    for (i, t) in inputs.iter().enumerate() {
        if wrt[i] && t.dtype() != DType::F64 {
            return Err(Error::Graph(format!("gradcheck: input {i} must be f64, got {}", t.dtype())));
        }
    }
    let leaves: Vec<Var> = inputs.iter().zip(wrt).map(|(t, &w)| Var::new(t.deep_clone(), w)).collect();
    let out = f(&leaves)?;
    let proj = Generator::new(1234).uniform(out.shape(), -1.0, 1.0, DType::F64)?;
    let loss_of = |o: &Tensor| -> Result<f64> { Ok(o.mul(&proj)?.sum_all()?.item::<f64>()?) };
    out.backward_with(&proj, false)?;
    let mut worst = 0f64;
    for (i, t) in inputs.iter().enumerate() {
        if !wrt[i] {
            continue;
        }
        let analytic = leaves[i].grad().map(|g| g.to_vec::<f64>()).transpose()?.unwrap_or_else(|| vec![0.0; t.numel()]);
        let base = t.contiguous()?.to_vec::<f64>()?;
        for j in 0..base.len() {
            let eval = |delta: f64| -> Result<f64> {
                let mut v = base.clone();
                v[j] += delta;
                let mut vars: Vec<Var> = leaves.iter().map(|l| Var::constant(l.value().clone())).collect();
                vars[i] = Var::constant(Tensor::from_vec(v, t.shape())?);
                loss_of(f(&vars)?.value())
            };
            let numeric = (eval(cfg.eps)? - eval(-cfg.eps)?) / (2.0 * cfg.eps);
            let err = (numeric - analytic[j]).abs();
            worst = worst.max(err);
            if err > cfg.atol + cfg.rtol * numeric.abs() {
                return Err(Error::Graph(format!(
                    "gradcheck failed for input {i} (shape {:?}) at flat index {j}: analytic {} vs numeric {numeric} (|diff| {err:e})",
                    t.shape(),
                    analytic[j]
                )));
            }
        }
    }
    Ok(worst)
}
