//! Broadcasting binary ops, `where` and `masked_fill`. Every gradient is summed back to its input's shape.

use super::sum_to;
use crate::{Result, Var};
use wrt_tensor::{Cmp, Tensor};

impl Var {
    pub fn add(&self, rhs: &Var) -> Result<Var> {
        let (sa, sb) = (self.shape().to_vec(), rhs.shape().to_vec());
        let y = self.value().add(rhs.value())?;
        Ok(Var::from_op("add", y, &[self, rhs], move |g| Ok(vec![Some(sum_to(g, &sa)?), Some(sum_to(g, &sb)?)])))
    }

    pub fn sub(&self, rhs: &Var) -> Result<Var> {
        let (sa, sb) = (self.shape().to_vec(), rhs.shape().to_vec());
        let y = self.value().sub(rhs.value())?;
        Ok(Var::from_op("sub", y, &[self, rhs], move |g| Ok(vec![Some(sum_to(g, &sa)?), Some(sum_to(&g.neg()?, &sb)?)])))
    }

    pub fn mul(&self, rhs: &Var) -> Result<Var> {
        let (a, b) = (self.value().clone(), rhs.value().clone());
        let (ra, rb) = (self.requires_grad(), rhs.requires_grad());
        let y = a.mul(&b)?;
        Ok(Var::from_op("mul", y, &[self, rhs], move |g| {
            Ok(vec![
                if ra { Some(sum_to(&g.mul(&b)?, a.shape())?) } else { None },
                if rb { Some(sum_to(&g.mul(&a)?, b.shape())?) } else { None },
            ])
        }))
    }

    pub fn div(&self, rhs: &Var) -> Result<Var> {
        let (a, b) = (self.value().clone(), rhs.value().clone());
        let (ra, rb) = (self.requires_grad(), rhs.requires_grad());
        let y = a.div(&b)?;
        Ok(Var::from_op("div", y, &[self, rhs], move |g| {
            let gb = g.div(&b)?;
            Ok(vec![
                if ra { Some(sum_to(&gb, a.shape())?) } else { None },
                // d(a/b)/db = -a/b^2
                if rb { Some(sum_to(&gb.mul(&a)?.div(&b)?.neg()?, b.shape())?) } else { None },
            ])
        }))
    }

    /// `self ^ rhs` elementwise.
    pub fn pow(&self, rhs: &Var) -> Result<Var> {
        let (a, b) = (self.value().clone(), rhs.value().clone());
        let (ra, rb) = (self.requires_grad(), rhs.requires_grad());
        let y = a.pow(&b)?;
        let yc = y.clone();
        Ok(Var::from_op("pow", y, &[self, rhs], move |g| {
            Ok(vec![
                // b * a^(b-1), 0 where b == 0 (not 0 * a^-1 = NaN at a = 0), as PyTorch's pow_backward_self
                if ra {
                    let d = g.mul(&b.mul(&a.pow(&b.sub_scalar(1.0)?)?)?)?;
                    let d = b.cmp_scalar(0.0, Cmp::Eq)?.where_cond(&d.zeros_like()?, &d)?;
                    Some(sum_to(&d, a.shape())?)
                } else {
                    None
                },
                // a^b * ln a, 0 where a == 0 and b >= 0 (as PyTorch's pow_backward_exponent; for b < 0 it is
                // inf * -inf)
                if rb {
                    let d = g.mul(&yc.mul(&a.log()?)?)?;
                    let zero = a.cmp_scalar(0.0, Cmp::Eq)?.logical_and(&b.cmp_scalar(0.0, Cmp::Ge)?)?;
                    Some(sum_to(&zero.where_cond(&d.zeros_like()?, &d)?, b.shape())?)
                } else {
                    None
                },
            ])
        }))
    }

    /// `atan2(self, rhs)`: d/da = b / (a^2 + b^2), d/db = -a / (a^2 + b^2).
    pub fn atan2(&self, rhs: &Var) -> Result<Var> {
        let (a, b) = (self.value().clone(), rhs.value().clone());
        let y = a.atan2(&b)?;
        Ok(Var::from_op("atan2", y, &[self, rhs], move |g| {
            // At a = b = 0 the gradient is 0, as PyTorch masks the infinite reciprocal.
            let den = a.square()?.add(&b.square()?)?;
            let recip = den.cmp_scalar(0.0, Cmp::Eq)?.where_cond(&den.zeros_like()?, &den.recip()?)?;
            let gr = g.mul(&recip)?;
            Ok(vec![Some(sum_to(&gr.mul(&b)?, a.shape())?), Some(sum_to(&gr.mul(&a)?.neg()?, b.shape())?)])
        }))
    }

    /// Elementwise max; on ties the gradient is split evenly, and where a NaN makes the comparison false
    /// both inputs get it whole (PyTorch masks the loser rather than selecting the winner).
    pub fn maximum(&self, rhs: &Var) -> Result<Var> {
        self.extremum(rhs, true)
    }
    pub fn minimum(&self, rhs: &Var) -> Result<Var> {
        self.extremum(rhs, false)
    }

    fn extremum(&self, rhs: &Var, is_max: bool) -> Result<Var> {
        let (a, b) = (self.value().clone(), rhs.value().clone());
        let y = if is_max { a.maximum(&b)? } else { a.minimum(&b)? };
        Ok(Var::from_op(if is_max { "maximum" } else { "minimum" }, y, &[self, rhs], move |g| {
            // weight 1 minus: 1 if that input loses, 1/2 on a tie
            let loses = |lt: Cmp| -> Result<Tensor> {
                let l = a.cmp(&b, lt)?.to_dtype(g.dtype())?;
                Ok(l.add(&a.cmp(&b, Cmp::Eq)?.to_dtype(g.dtype())?.mul_scalar(0.5)?)?.neg()?.add_scalar(1.0)?)
            };
            let (wa, wb) = if is_max { (loses(Cmp::Lt)?, loses(Cmp::Gt)?) } else { (loses(Cmp::Gt)?, loses(Cmp::Lt)?) };
            Ok(vec![Some(sum_to(&g.mul(&wa)?, a.shape())?), Some(sum_to(&g.mul(&wb)?, b.shape())?)])
        }))
    }

    /// `cond ? self : other` (cond is a Bool tensor; no gradient flows to it).
    pub fn where_cond(cond: &Tensor, on_true: &Var, on_false: &Var) -> Result<Var> {
        let (sa, sb) = (on_true.shape().to_vec(), on_false.shape().to_vec());
        let y = cond.where_cond(on_true.value(), on_false.value())?;
        let c = cond.clone();
        Ok(Var::from_op("where", y, &[on_true, on_false], move |g| {
            let z = g.zeros_like()?;
            Ok(vec![Some(sum_to(&c.where_cond(g, &z)?, &sa)?), Some(sum_to(&c.where_cond(&z, g)?, &sb)?)])
        }))
    }

    /// Replace elements where `mask` is true by `value`; no gradient flows through replaced elements.
    pub fn masked_fill(&self, mask: &Tensor, value: f64) -> Result<Var> {
        let y = self.value().masked_fill(mask, value)?;
        let m = mask.clone();
        Ok(Var::from_op("masked_fill", y, &[self], move |g| Ok(vec![Some(g.masked_fill(&m, 0.0)?)])))
    }
}
