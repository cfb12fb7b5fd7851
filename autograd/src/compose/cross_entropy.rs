//! Cross-entropy composed from primitives: `log_softmax` (composed), then one constant
//! coefficient tensor that does the gather (a one-hot), the class weights, the label smoothing
//! and the ignored rows at once, then sums. The twin of `fused::cross_entropy`.

use super::log_softmax;
use crate::fused::{check_targets, Reduction};
use crate::{Result, Var};
use wrt_tensor::Tensor;

/// Same contract as `fused::cross_entropy`:
/// `loss_i = -sum_c lp_ic * ((1 - eps) w[t_i] [c == t_i] + eps/C w[c])`, 0 for ignored rows.
pub fn cross_entropy(logits: &Var, targets: &Tensor, weight: Option<&Tensor>, ignore_index: i64, label_smoothing: f64, reduction: Reduction) -> Result<Var> {
    let pb = check_targets(logits.shape(), targets, weight, ignore_index, label_smoothing)?;
    let x = if logits.rank() == 1 { logits.unsqueeze(0)? } else { logits.clone() };
    let (n, c) = (x.shape()[0], pb.classes);
    let inner: usize = x.shape()[2..].iter().product();
    let w: Vec<f64> = match weight {
        Some(w) => w.to_vec_f64()?,
        None => vec![1.0; c],
    };
    let eps = label_smoothing;
    // coef [N, C, inner]: the weight each log-probability enters its row's loss with.
    let mut coef = vec![0f64; n * c * inner];
    let mut total_w = 0f64;
    for i in 0..n {
        for s in 0..inner {
            let t = pb.targets[i * inner + s];
            if t == ignore_index {
                continue;
            }
            total_w += w[t as usize];
            for (cl, wc) in w.iter().enumerate() {
                let hit = if cl == t as usize { (1.0 - eps) * w[t as usize] } else { 0.0 };
                coef[(i * c + cl) * inner + s] = hit + eps / c as f64 * wc;
            }
        }
    }
    let coef = Tensor::from_vec(coef, x.shape())?.to_dtype(x.dtype())?;
    let lp = log_softmax(&x, 1)?;
    let loss = lp.mul(&Var::constant(coef))?.sum(&[1], false)?.neg()?;
    match reduction {
        Reduction::None => loss.reshape_to(&pb.loss_shape),
        Reduction::Sum => loss.sum_all(),
        Reduction::Mean => loss.sum_all()?.mul_scalar(1.0 / total_w),
    }
}
