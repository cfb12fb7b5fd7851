//! Fused softmax cross-entropy with integer targets (`F.cross_entropy`): one kernel computes each
//! row's loss from the logits (`wrt_kernels::cpu::softmax::cross_entropy_forward`, whose doc
//! states the formula with class weights and label smoothing), and the backward recomputes the
//! softmax from the saved logits. Twin: `compose::cross_entropy`.
//!
//! Shapes as in PyTorch: logits `[N, C]` with targets `[N]`, `[N, C, d1, ...]` with targets
//! `[N, d1, ...]` (class dim 1), or unbatched `[C]` with a 0-d target. `Mean` divides by the
//! sum of the target weights of the rows that are not ignored; when every row is ignored that
//! is 0/0 = NaN, as in PyTorch (the gradient is then 0).

use super::{invalid, work_dtype};
use crate::{Result, Var};
use wrt_tensor::kernels::cpu::softmax::{cross_entropy_backward, cross_entropy_forward};
use wrt_tensor::{DType, Error as TError, Tensor, WithDType};

/// How per-element losses are combined (`reduction=` of PyTorch's losses).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Reduction {
    /// The loss of each element, shaped like the targets.
    None,
    /// Weighted mean (PyTorch's default).
    #[default]
    Mean,
    Sum,
}

/// The validated problem: rows (class-last), classes, target values, output shape.
pub(crate) struct Problem {
    pub rows: usize,
    pub classes: usize,
    pub targets: Vec<i64>,
    /// Shape of the per-element loss (the targets' shape).
    pub loss_shape: Vec<usize>,
}

/// Check shapes, dtypes, `label_smoothing` and every target (in `[0, C)` or `ignore_index`).
pub(crate) fn check_targets(logits: &[usize], targets: &Tensor, weight: Option<&Tensor>, ignore_index: i64, label_smoothing: f64) -> Result<Problem> {
    const OP: &str = "cross_entropy";
    if targets.dtype() != DType::I64 {
        return Err(TError::DType { op: OP, got: targets.dtype(), expected: "I64 class indices for the targets".into() }.into());
    }
    let (classes, loss_shape): (usize, Vec<usize>) = match logits.len() {
        0 => return Err(TError::BadShape { op: OP, shape: vec![], expected: "logits [C], [N, C] or [N, C, d1, ...]".into() }.into()),
        1 => (logits[0], vec![]),
        _ => (logits[1], std::iter::once(logits[0]).chain(logits[2..].iter().copied()).collect()),
    };
    if targets.shape() != loss_shape.as_slice() {
        return Err(TError::ShapeMismatch {
            op: OP,
            lhs: logits.to_vec(),
            rhs: targets.shape().to_vec(),
            expected: format!("targets of shape {loss_shape:?} for these logits (class dim 1)"),
        }
        .into());
    }
    if let Some(w) = weight {
        if w.shape() != [classes] {
            return Err(TError::BadShape { op: OP, shape: w.shape().to_vec(), expected: format!("a weight of shape [{classes}], one per class") }.into());
        }
        work_dtype(OP, w.dtype())?;
    }
    if !(0.0..=1.0).contains(&label_smoothing) {
        return Err(invalid(OP, format!("label_smoothing must be in [0, 1], got {label_smoothing}")));
    }
    let targets = targets.to_vec::<i64>()?;
    if let Some(&bad) = targets.iter().find(|&&t| t != ignore_index && (t < 0 || t >= classes as i64)) {
        return Err(TError::IndexOutOfBounds { op: "cross_entropy target", index: bad, size: classes }.into());
    }
    Ok(Problem { rows: targets.len(), classes, targets, loss_shape })
}

/// Logits as contiguous class-last rows `[rows, C]` in `work`.
fn rows_of(x: &Tensor, work: DType) -> Result<Tensor> {
    let r = x.rank();
    let t = if r > 2 {
        let perm: Vec<isize> = std::iter::once(0).chain(2..r as isize).chain(std::iter::once(1)).collect();
        x.permute(&perm)?
    } else {
        x.clone()
    };
    Ok(t.to_dtype(work)?.contiguous()?)
}

/// Class-last rows back to the logits' layout.
fn unrows(t: Tensor, shape: &[usize]) -> Result<Tensor> {
    let r = shape.len();
    if r <= 2 {
        return Ok(t.reshape_to(shape)?);
    }
    let last: Vec<usize> = std::iter::once(shape[0]).chain(shape[2..].iter().copied()).chain(std::iter::once(shape[1])).collect();
    let perm: Vec<isize> = std::iter::once(0).chain(std::iter::once(r as isize - 1)).chain(1..r as isize - 1).collect();
    Ok(t.reshape_to(&last)?.permute(&perm)?.contiguous()?)
}

/// `F.cross_entropy(logits, targets, weight, ignore_index=ignore_index,
/// label_smoothing=label_smoothing, reduction=reduction)`. A target outside `[0, C)` that is not
/// `ignore_index` is an error naming it.
pub fn cross_entropy(logits: &Var, targets: &Tensor, weight: Option<&Tensor>, ignore_index: i64, label_smoothing: f64, reduction: Reduction) -> Result<Var> {
    let pb = check_targets(logits.shape(), targets, weight, ignore_index, label_smoothing)?;
    let dtype = logits.dtype();
    let work = work_dtype("cross_entropy", dtype)?;
    let x = rows_of(logits.value(), work)?;
    let w = weight.map(|w| w.to_dtype(work)).transpose()?;
    let shape = logits.shape().to_vec();
    if work == DType::F64 {
        run::<f64>(logits, x, w, pb, shape, ignore_index, label_smoothing, reduction, dtype)
    } else {
        run::<f32>(logits, x, w, pb, shape, ignore_index, label_smoothing, reduction, dtype)
    }
}

trait CeFloat: wrt_tensor::kernels::cpu::vmath::Real + WithDType {}
impl CeFloat for f32 {}
impl CeFloat for f64 {}

fn cv<T: CeFloat>(x: f64) -> T {
    <T as wrt_tensor::kernels::cpu::vmath::Real>::from_f64(x)
}
fn fv<T: CeFloat>(x: T) -> f64 {
    <T as wrt_tensor::kernels::cpu::vmath::Real>::to_f64(x)
}

#[allow(clippy::too_many_arguments)]
fn run<T: CeFloat>(logits: &Var, x: Tensor, w: Option<Tensor>, pb: Problem, shape: Vec<usize>, ignore_index: i64, eps: f64, reduction: Reduction, dtype: DType) -> Result<Var> {
    let (rows, classes) = (pb.rows, pb.classes);
    let wv: Option<Vec<T>> = w.map(|w| w.to_vec::<T>()).transpose()?;
    let (mut loss, mut wused) = (vec![cv::<T>(0.0); rows], vec![cv::<T>(0.0); rows]);
    cross_entropy_forward(&mut loss, &mut wused, &x.data::<T>()?, &pb.targets, wv.as_deref(), cv::<T>(eps), ignore_index, rows, classes);
    // Totals in f64, in row order: the same value whatever the thread count.
    let total_w: f64 = wused.iter().map(|&w| fv(w)).sum();
    let out = match reduction {
        Reduction::None => Tensor::from_vec(loss, &pb.loss_shape)?,
        Reduction::Sum => Tensor::scalar(cv::<T>(loss.iter().map(|&l| fv(l)).sum())),
        Reduction::Mean => Tensor::scalar(cv::<T>(loss.iter().map(|&l| fv(l)).sum::<f64>() / total_w)),
    }
    .to_dtype(dtype)?;
    let targets = pb.targets;
    Ok(Var::from_op("fused_cross_entropy", out, &[logits], move |g| {
        let g = g.to_dtype(T::DTYPE)?;
        let dloss: Vec<T> = match reduction {
            Reduction::None => g.to_vec::<T>()?,
            Reduction::Sum => vec![g.item::<T>()?; rows],
            Reduction::Mean => vec![cv::<T>(fv(g.item::<T>()?) / total_w); rows],
        };
        let mut dx = vec![cv::<T>(0.0); rows * classes];
        cross_entropy_backward(&mut dx, &dloss, &x.data::<T>()?, &targets, wv.as_deref(), cv::<T>(eps), ignore_index, rows, classes);
        Ok(vec![Some(unrows(Tensor::from_vec(dx, &[rows, classes])?, &shape)?.to_dtype(dtype)?)])
    }))
}
