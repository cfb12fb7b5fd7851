//! Matrix product with broadcasting batch dims (torch.matmul). dA = g @ B^T, dB = A^T @ g, each summed back
//! over broadcast batch dims. 1-D operands are promoted to matrices first so one rule covers every case.
//! Under autocast all three products run in the low precision (see `autocast.rs`).

use super::sum_to;
use crate::autocast::rounding_for;
use crate::{Result, Var};
use wrt_tensor::Tensor;

impl Var {
    pub fn matmul(&self, rhs: &Var) -> Result<Var> {
        if self.rank() == 1 {
            return self.unsqueeze(0)?.matmul(rhs)?.squeeze(&[if rhs.rank() == 1 { -1 } else { -2 }]);
        }
        if rhs.rank() == 1 {
            return self.matmul(&rhs.unsqueeze(1)?)?.squeeze(&[-1]);
        }
        let (a, b) = (self.value().clone(), rhs.value().clone());
        let (ra, rb) = (self.requires_grad(), rhs.requires_grad());
        // Under autocast every product (forward and both backward ones) rounds its operands and its
        // result inside the GEMM, which is the autocast cast chain without the copies.
        let rounding = rounding_for(&[self, rhs]);
        let mm = move |x: &Tensor, y: &Tensor| match rounding {
            Some(r) => x.matmul_rounded(y, r),
            None => x.matmul(y),
        };
        let y = mm(&a, &b)?;
        Ok(Var::from_op("matmul", y, &[self, rhs], move |g| {
            Ok(vec![
                if ra { Some(sum_to(&mm(g, &b.t()?)?, a.shape())?) } else { None },
                if rb { Some(sum_to(&mm(&a.t()?, g)?, b.shape())?) } else { None },
            ])
        }))
    }
}
