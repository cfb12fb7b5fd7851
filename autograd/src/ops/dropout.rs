//! Inverted dropout: y = x * mask with mask in {0, 1/(1-p)} drawn from the caller's `Generator`; backward
//! multiplies g by the same saved mask.

use crate::{Result, Var};
use wrt_tensor::{Generator, Tensor};

impl Var {
    /// `F.dropout`. Identity when `!training` or `p == 0` (no random numbers drawn); zeros when `p == 1`.
    pub fn dropout(&self, p: f64, training: bool, gen: &mut Generator) -> Result<Var> {
        if !(0.0..=1.0).contains(&p) {
            return Err(wrt_tensor::Error::InvalidArgument { op: "dropout", msg: format!("probability {p} is outside [0, 1]") }.into());
        }
        if !training || p == 0.0 {
            return Ok(self.clone());
        }
        if p == 1.0 {
            let y = self.value().zeros_like()?;
            return Ok(Var::from_op("dropout", y, &[self], move |g| Ok(vec![Some(g.zeros_like()?)])));
        }
        let mask = gen.dropout_mask(self.shape(), p, self.dtype())?;
        let y = self.value().mul(&mask)?;
        Ok(Var::from_op("dropout", y, &[self], move |g: &Tensor| Ok(vec![Some(g.mul(&mask)?)])))
    }
}
