//! Convolutions (1-D/2-D/3-D by input rank) and transposed convolutions. Both save the input and the
//! weight (d weight needs the input, d input needs the weight), never the output. Under autocast they
//! run on rounded inputs and round their output (see `autocast.rs`).

use crate::autocast::rounding_for;
use crate::{Result, Var};
use wrt_tensor::ops::ConvSpec;
use wrt_tensor::Tensor;

type ConvBackward = fn(&Tensor, &Tensor, &Tensor, &ConvSpec, bool) -> wrt_tensor::Result<(Tensor, Tensor, Option<Tensor>)>;

/// Attach a conv-like rule: parents (input, weight, bias?), gradients from `backward`.
fn conv_op(name: &'static str, y: Tensor, x: &Var, w: &Var, bias: Option<&Var>, spec: &ConvSpec, backward: ConvBackward) -> Var {
    let (xv, wv, spec) = (x.value().clone(), w.value().clone(), spec.clone());
    let mut parents = vec![x, w];
    parents.extend(bias);
    let has_bias = bias.is_some();
    Var::from_op(name, y, &parents, move |g| {
        let (dx, dw, db) = backward(g, &xv, &wv, &spec, has_bias)?;
        let mut out = vec![Some(dx), Some(dw)];
        if has_bias {
            out.push(db);
        }
        Ok(out)
    })
}

impl Var {
    /// N-d convolution: input [N, C_in, *S], weight [C_out, C_in/groups, *K], bias [C_out].
    pub fn conv(&self, weight: &Var, bias: Option<&Var>, spec: &ConvSpec) -> Result<Var> {
        if let Some(r) = rounding_for(&[self, weight]) {
            let inputs: Vec<&Var> = [self, weight].into_iter().chain(bias).collect();
            return Var::autocast_region(r, &inputs, |v| v[0].conv(&v[1], v.get(2), spec));
        }
        let y = self.value().conv(weight.value(), bias.map(|b| b.value()), spec)?;
        Ok(conv_op("conv", y, self, weight, bias, spec, Tensor::conv_backward))
    }

    /// Transposed convolution: input [N, C_in, *S], weight [C_in, C_out/groups, *K], bias [C_out].
    pub fn conv_transpose(&self, weight: &Var, bias: Option<&Var>, spec: &ConvSpec) -> Result<Var> {
        if let Some(r) = rounding_for(&[self, weight]) {
            let inputs: Vec<&Var> = [self, weight].into_iter().chain(bias).collect();
            return Var::autocast_region(r, &inputs, |v| v[0].conv_transpose(&v[1], v.get(2), spec));
        }
        let y = self.value().conv_transpose(weight.value(), bias.map(|b| b.value()), spec)?;
        Ok(conv_op("conv_transpose", y, self, weight, bias, spec, Tensor::conv_transpose_backward))
    }
}
