//! Reading model outputs and targets into f64 for the metrics: shape checks that name the metric and both
//! shapes, class labels from index or one-hot targets, row argmax with PyTorch's tie and NaN rules, and a
//! row softmax in f64.

use crate::{Error, Result};
use wrt_tensor::{DType, Tensor};

pub(crate) fn err(metric: &str, msg: impl std::fmt::Display) -> Error {
    Error::Metric(format!("{metric}: {msg}"))
}

/// Every element as f64 in row-major order (any dtype: f32/f16/bf16 widen exactly, so comparisons and
/// argmax see the values the model produced).
pub(crate) fn values(metric: &str, what: &str, t: &Tensor) -> Result<Vec<f64>> {
    t.to_vec_f64().map_err(|e| err(metric, format!("cannot read {what} {:?} ({}): {e}", t.shape(), t.dtype())))
}

/// Class scores `[B, C]` (logits or probabilities, any float dtype) as a row-major f64 buffer.
pub(crate) fn scores(metric: &str, preds: &Tensor, num_classes: usize) -> Result<Vec<f64>> {
    let s = preds.shape();
    if s.len() != 2 || s[1] != num_classes {
        return Err(err(metric, format!("preds must be scores [B, {num_classes}] (logits or probabilities), got {s:?}")));
    }
    if !preds.dtype().is_float() {
        return Err(err(metric, format!("preds scores must be a float tensor, got {} {s:?}", preds.dtype())));
    }
    values(metric, "preds", preds)
}

/// Class labels from a target of shape `[B]` (integer class indices in any dtype; a float must hold a whole
/// number) or `[B, C]` (one-hot or class probabilities: the row argmax, as AtmoDist's one-hot targets).
pub(crate) fn labels(metric: &str, target: &Tensor, batch: usize, num_classes: usize) -> Result<Vec<usize>> {
    let s = target.shape();
    if s == [batch, num_classes] && num_classes > 0 && target.dtype().is_float() {
        return Ok(argmax_rows(&values(metric, "target", target)?, num_classes));
    }
    if s != [batch] {
        return Err(err(
            metric,
            format!("target must be class indices [{batch}] or one-hot [{batch}, {num_classes}] to match the preds' batch, got {s:?}"),
        ));
    }
    indices(metric, "target", target, num_classes)
}

/// Whole-number class indices in `0..num_classes` from a 1-D tensor.
pub(crate) fn indices(metric: &str, what: &str, t: &Tensor, num_classes: usize) -> Result<Vec<usize>> {
    if t.dtype() == DType::I64 {
        let v = t.to_vec::<i64>().map_err(|e| err(metric, format!("cannot read {what}: {e}")))?;
        return v
            .iter()
            .map(|&x| {
                if x >= 0 && (x as u64) < num_classes as u64 {
                    Ok(x as usize)
                } else {
                    Err(err(metric, format!("{what} holds class {x}, outside 0..{num_classes}")))
                }
            })
            .collect();
    }
    values(metric, what, t)?
        .iter()
        .map(|&x| {
            if x.fract() == 0.0 && x >= 0.0 && x < num_classes as f64 {
                Ok(x as usize)
            } else {
                Err(err(metric, format!("{what} holds {x}, not a class index in 0..{num_classes}")))
            }
        })
        .collect()
}

/// Index of the largest value in each row of `c` columns. Like `torch.argmax` on CPU: the first maximum
/// wins a tie, and a NaN counts as larger than everything (the first NaN wins).
pub(crate) fn argmax_rows(v: &[f64], c: usize) -> Vec<usize> {
    v.chunks_exact(c)
        .map(|row| {
            let mut best = 0;
            for (j, &x) in row.iter().enumerate().skip(1) {
                let b = row[best];
                if b.is_nan() {
                    break;
                }
                if x.is_nan() || x > b {
                    best = j;
                }
            }
            best
        })
        .collect()
}

/// Softmax of one row in f64, max-shifted so large logits do not overflow.
pub(crate) fn softmax_into(row: &[f64], out: &mut [f64]) {
    let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let mut sum = 0.0;
    for (o, &x) in out.iter_mut().zip(row) {
        *o = (x - m).exp();
        sum += *o;
    }
    for o in out.iter_mut() {
        *o /= sum;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_follows_torch_ties_and_nan() {
        let v = [1.0, 3.0, 3.0, 0.0, f64::NAN, 5.0, f64::NAN, 2.0, f64::NEG_INFINITY, f64::NEG_INFINITY, 7.0, f64::NAN];
        assert_eq!(argmax_rows(&v, 3), vec![1, 1, 0, 2]);
    }

    #[test]
    fn labels_accept_indices_floats_and_one_hot() {
        let t = Tensor::from_vec(vec![2i64, 0, 1], &[3]).unwrap();
        assert_eq!(labels("m", &t, 3, 3).unwrap(), vec![2, 0, 1]);
        let t = Tensor::from_vec(vec![2.0f32, 0.0, 1.0], &[3]).unwrap();
        assert_eq!(labels("m", &t, 3, 3).unwrap(), vec![2, 0, 1]);
        let t = Tensor::from_vec(vec![0.0f32, 0.0, 1.0, 1.0, 0.0, 0.0], &[2, 3]).unwrap();
        assert_eq!(labels("m", &t, 2, 3).unwrap(), vec![2, 0]);
        let bad = Tensor::from_vec(vec![3i64], &[1]).unwrap();
        assert!(labels("m", &bad, 1, 3).unwrap_err().to_string().contains("outside 0..3"));
        let bad = Tensor::from_vec(vec![0.5f32], &[1]).unwrap();
        assert!(labels("m", &bad, 1, 3).is_err());
        let bad = Tensor::from_vec(vec![0i64, 1], &[2]).unwrap();
        let e = labels("m", &bad, 3, 3).unwrap_err().to_string();
        assert!(e.contains("[2]") && e.contains("[3]"), "{e}");
    }

    #[test]
    fn softmax_sums_to_one_without_overflow() {
        let mut out = [0.0; 3];
        softmax_into(&[1000.0, 1000.0, 0.0], &mut out);
        assert!((out[0] - 0.5).abs() < 1e-15 && out[2] == 0.0);
    }
}
