//! Whole-model parity checks: every element within tolerance (panicking on the first that is not), and how
//! close the tensor came, for the summary line a parity test prints.

use wrt_tensor::{DType, Tensor};

fn f64s(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64).unwrap().contiguous().unwrap().to_vec::<f64>().unwrap()
}

/// How far wrt is from PyTorch on one tensor.
#[derive(Clone, Copy, Debug, Default)]
pub struct Closeness {
    /// Largest |a - b| / (atol + rtol |b|): at most 1 passes.
    pub of_tol: f64,
    /// Largest |a - b|.
    pub abs: f64,
    /// Largest |a - b| / largest |b| (the error relative to the tensor's scale).
    pub rel: f64,
}

/// Assert `|got - want| <= atol + rtol |want|` elementwise (shapes equal) and report the margins.
pub fn closeness(what: &str, got: &Tensor, want: &Tensor, rtol: f64, atol: f64) -> Closeness {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    let (g, w) = (f64s(got), f64s(want));
    let mut e = Closeness::default();
    for (i, (a, b)) in g.iter().zip(&w).enumerate() {
        let r = (a - b).abs() / (atol + rtol * b.abs());
        assert!(r.is_finite() && r <= 1.0, "{what}[{i}]: wrt {a} vs PyTorch {b} (rtol {rtol}, atol {atol})");
        e.of_tol = e.of_tol.max(r);
        e.abs = e.abs.max((a - b).abs());
    }
    let scale = w.iter().fold(0f64, |m, x| m.max(x.abs()));
    e.rel = if scale > 0.0 { e.abs / scale } else { 0.0 };
    e
}

/// `grad_closeness` for a tensor of a model whose largest gradient anywhere is `model_scale`: a tensor whose
/// exact gradient is zero (a bias before a train-mode BatchNorm, an attention key bias: the softmax ignores
/// a constant shift) holds only rounding noise on both sides, so when its own scale is below 1e-3 of the
/// model's it is compared at an absolute `floor x 1e-3 x model_scale`.
pub fn grad_closeness_in(what: &str, got: &Tensor, want: &Tensor, rtol: f64, floor: f64, model_scale: f64) -> Closeness {
    let scale = f64s(want).iter().fold(0f64, |m, x| m.max(x.abs()));
    if scale < 1e-3 * model_scale {
        closeness(what, got, want, 0.0, floor * 1e-3 * model_scale)
    } else {
        grad_closeness(what, got, want, rtol, floor)
    }
}

/// The largest |value| over tensors (a model's gradient scale).
pub fn max_abs<'a>(ts: impl IntoIterator<Item = &'a Tensor>) -> f64 {
    ts.into_iter().flat_map(f64s).fold(0f64, |m, x| m.max(x.abs()))
}

/// The gradient bound: rtol relative, with an absolute floor of `floor` x the tensor's largest |gradient|
/// (entries near zero are compared at the tensor's scale).
pub fn grad_closeness(what: &str, got: &Tensor, want: &Tensor, rtol: f64, floor: f64) -> Closeness {
    let scale = f64s(want).iter().fold(0f64, |m, x| m.max(x.abs()));
    closeness(what, got, want, rtol, (floor * scale).max(1e-12))
}
