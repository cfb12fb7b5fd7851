//! Matrix product with broadcasting batch dims (torch.matmul). dA = g @ B^T, dB = A^T @ g, each summed back
//! over broadcast batch dims. 1-D operands are promoted to matrices first so one rule covers every case.

use super::sum_to;
use crate::{Result, Var};

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
        let y = a.matmul(&b)?;
        Ok(Var::from_op("matmul", y, &[self, rhs], move |g| {
            Ok(vec![
                if ra { Some(sum_to(&g.matmul(&b.t()?)?, a.shape())?) } else { None },
                if rb { Some(sum_to(&a.t()?.matmul(g)?, b.shape())?) } else { None },
            ])
        }))
    }
}
