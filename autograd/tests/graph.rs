//! Graph semantics: accumulation, retain_graph, no_grad, detach, non-leaf grads, memory freeing.

use wrt_autograd::{no_grad, Var};
use wrt_tensor::{DType, Tensor};

fn v(data: &[f64], shape: &[usize], rg: bool) -> Var {
    Var::new(Tensor::from_slice(data, shape).unwrap(), rg)
}

#[test]
fn grads_accumulate_and_zero() {
    let x = v(&[1., 2., 3.], &[3], true);
    for _ in 0..2 {
        x.mul(&x).unwrap().sum_all().unwrap().backward().unwrap();
    }
    assert_eq!(x.grad().unwrap().to_vec::<f64>().unwrap(), vec![4., 8., 12.]);
    x.zero_grad();
    assert!(x.grad().is_none());
}

#[test]
fn second_backward_through_freed_graph_is_an_error() {
    let x = v(&[1., 2.], &[2], true);
    let y = x.exp().unwrap().sum_all().unwrap();
    y.backward().unwrap();
    let e = y.backward().unwrap_err();
    assert!(e.to_string().contains("second time"), "{e}");
    let z = x.exp().unwrap().sum_all().unwrap();
    z.backward_with(&Tensor::ones(&[], DType::F64).unwrap(), true).unwrap();
    z.backward().unwrap(); // retained: fine
}

#[test]
fn no_grad_keeps_nothing_and_detach_cuts() {
    let x = v(&[1., 2.], &[2], true);
    let y = no_grad(|| x.exp().unwrap());
    assert!(!y.requires_grad());
    let d = x.exp().unwrap().detach();
    assert!(!d.requires_grad());
    let out = d.mul(&x).unwrap().sum_all().unwrap();
    out.backward().unwrap();
    let e: Vec<f64> = [1f64, 2.].iter().map(|a| a.exp()).collect();
    assert_eq!(x.grad().unwrap().to_vec::<f64>().unwrap(), e);
}

#[test]
fn non_leaf_grad_on_request_and_nonscalar_error() {
    let x = v(&[1., 2.], &[2], true);
    let h = x.mul_scalar(3.0).unwrap();
    h.retain_grad();
    let y = h.square().unwrap();
    assert!(y.backward().unwrap_err().to_string().contains("scalar"));
    y.sum_all().unwrap().backward().unwrap();
    assert_eq!(h.grad().unwrap().to_vec::<f64>().unwrap(), vec![6., 12.]);
    assert_eq!(x.grad().unwrap().to_vec::<f64>().unwrap(), vec![18., 36.]);
}

#[test]
fn deep_chain_does_not_overflow_the_stack() {
    let x = v(&[0.5], &[1], true);
    let mut h = x.clone();
    for _ in 0..100_000 {
        h = h.mul_scalar(1.0).unwrap();
    }
    h.sum_all().unwrap().backward().unwrap();
    assert_eq!(x.grad().unwrap().to_vec::<f64>().unwrap(), vec![1.0]);
}
