//! wrt-nn losses against PyTorch (tools/parity/gen_loss.py writes tests/fixtures/loss/): each case runs one
//! loss with the arguments of its CASES entry there, compares the output, then the backward of
//! sum(output * grad_output) and the gradients of the input and of a float target.

use std::collections::BTreeMap;
use wrt_autograd::Var;
use wrt_nn::loss::{self, Reduction};
use wrt_tensor::{DType, Tensor};

const F32: (f64, f64) = (1e-5, 1e-6);

fn fixture(name: &str) -> BTreeMap<String, Tensor> {
    let p = format!(
        "{}/../tests/fixtures/loss/{name}.safetensors",
        env!("CARGO_MANIFEST_DIR")
    );
    wrt_tensor::io::load_with_metadata(&p)
        .unwrap_or_else(|e| panic!("{p}: {e} (regenerate with tools/parity/gen_loss.py)"))
        .0
}

fn f64s(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64).unwrap().to_vec::<f64>().unwrap()
}

fn assert_close(what: &str, got: &Tensor, want: &Tensor, (rtol, atol): (f64, f64)) {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    for (i, (a, b)) in f64s(got).iter().zip(f64s(want)).enumerate() {
        assert!(
            (a - b).abs() <= atol + rtol * b.abs(),
            "{what}[{i}]: wrt {a} vs PyTorch {b}"
        );
    }
}

/// The case's tensors: input and target (a leaf requiring grad when float), weight, pos_weight.
struct Case {
    f: BTreeMap<String, Tensor>,
    x: Var,
    y: Var,
}

impl Case {
    fn new(name: &str) -> Case {
        let f = fixture(name);
        let x = Var::new(f["input"].deep_clone(), true);
        let t = &f["target"];
        let y = if t.dtype() == DType::I64 {
            Var::constant(t.clone())
        } else {
            Var::new(t.deep_clone(), true)
        };
        Case { f, x, y }
    }
    fn opt(&self, k: &str) -> Option<&Tensor> {
        self.f.get(k)
    }
}

/// Run `loss` on the case and compare output and gradients.
fn check(name: &str, loss: impl Fn(&Case) -> wrt_nn::Result<Var>) {
    let c = Case::new(name);
    let out = loss(&c).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_close(&format!("{name} output"), out.value(), &c.f["output"], F32);
    out.mul(&Var::constant(c.f["grad_output"].clone()))
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    assert_close(
        &format!("{name} grad.input"),
        &c.x.grad().expect("input gradient"),
        &c.f["grad.input"],
        F32,
    );
    if let Some(gt) = c.f.get("grad.target") {
        assert_close(
            &format!("{name} grad.target"),
            &c.y.grad().expect("target gradient"),
            gt,
            F32,
        );
    }
}

use Reduction::{Mean, None as Each, Sum};

#[test]
fn cross_entropy_matches_pytorch() {
    check("ce_mean", |c| {
        loss::cross_entropy(&c.x, c.y.value(), None, -100, 0.0, Mean)
    });
    check("ce_weight_ignore_smooth_sum", |c| {
        loss::cross_entropy(&c.x, c.y.value(), c.opt("weight"), -100, 0.1, Sum)
    });
    check("ce_spatial_none", |c| {
        loss::cross_entropy(&c.x, c.y.value(), None, -100, 0.0, Each)
    });
}

#[test]
fn nll_loss_matches_pytorch() {
    check("nll_mean", |c| {
        loss::nll_loss(&c.x, c.y.value(), None, -100, Mean)
    });
    check("nll_weight_ignore_mean", |c| {
        loss::nll_loss(&c.x, c.y.value(), c.opt("weight"), 1, Mean)
    });
    check("nll_spatial_weight_none", |c| {
        loss::nll_loss(&c.x, c.y.value(), c.opt("weight"), -100, Each)
    });
    check("nll_spatial_sum", |c| {
        loss::nll_loss(&c.x, c.y.value(), None, -100, Sum)
    });
    check("nll_unbatched", |c| {
        loss::nll_loss(&c.x, c.y.value(), None, -100, Mean)
    });
    // every row ignored: Mean is 0/0 = NaN, as in PyTorch
    let lp = Var::new(Tensor::zeros(&[2, 3], DType::F32).unwrap(), true);
    let all_ignored = Tensor::from_vec(vec![-100i64, -100], &[2]).unwrap();
    assert!(loss::nll_loss(&lp, &all_ignored, None, -100, Mean)
        .unwrap()
        .value()
        .item::<f32>()
        .unwrap()
        .is_nan());
    assert!(loss::nll_loss(
        &lp,
        &Tensor::from_vec(vec![0i64, 3], &[2]).unwrap(),
        None,
        -100,
        Mean
    )
    .is_err());
}

#[test]
fn bce_with_logits_matches_pytorch() {
    check("bce_mean", |c| {
        loss::binary_cross_entropy_with_logits(&c.x, &c.y, None, None, Mean)
    });
    check("bce_weight_posweight_sum", |c| {
        loss::binary_cross_entropy_with_logits(
            &c.x,
            &c.y,
            c.opt("weight"),
            c.opt("pos_weight"),
            Sum,
        )
    });
    check("bce_posweight_mean", |c| {
        loss::binary_cross_entropy_with_logits(&c.x, &c.y, None, c.opt("pos_weight"), Mean)
    });
    // logits of magnitude ~30: the stable form stays finite
    check("bce_large_none", |c| {
        loss::binary_cross_entropy_with_logits(&c.x, &c.y, None, None, Each)
    });
}

#[test]
fn regression_losses_match_pytorch() {
    check("mse_mean", |c| loss::mse_loss(&c.x, &c.y, Mean));
    check("mse_sum", |c| loss::mse_loss(&c.x, &c.y, Sum));
    check("mse_none", |c| loss::mse_loss(&c.x, &c.y, Each));
    check("l1_mean", |c| loss::l1_loss(&c.x, &c.y, Mean));
    check("l1_none", |c| loss::l1_loss(&c.x, &c.y, Each));
    check("smooth_l1_mean", |c| {
        loss::smooth_l1_loss(&c.x, &c.y, 0.5, Mean)
    });
    check("smooth_l1_none", |c| {
        loss::smooth_l1_loss(&c.x, &c.y, 1.0, Each)
    });
    check("smooth_l1_beta0_sum", |c| {
        loss::smooth_l1_loss(&c.x, &c.y, 0.0, Sum)
    });
    check("huber_mean", |c| loss::huber_loss(&c.x, &c.y, 1.0, Mean));
    check("huber_none", |c| loss::huber_loss(&c.x, &c.y, 0.3, Each));
    let (a, b) = (
        Var::constant(Tensor::zeros(&[2, 3], DType::F32).unwrap()),
        Var::constant(Tensor::zeros(&[3, 2], DType::F32).unwrap()),
    );
    assert!(loss::mse_loss(&a, &b, Mean).is_err());
}

#[test]
fn quantile_loss_matches_hand_written_reference() {
    check("quantile_mean", |c| {
        loss::quantile_loss(&c.x, &c.y, &[0.1, 0.5, 0.9], Mean)
    });
    check("quantile_sum", |c| {
        loss::quantile_loss(&c.x, &c.y, &[0.25, 0.75], Sum)
    });
    check("quantile_none", |c| {
        loss::quantile_loss(&c.x, &c.y, &[0.02, 0.5, 0.98], Each)
    });
    let (p, y) = (
        Var::constant(Tensor::zeros(&[2, 3], DType::F32).unwrap()),
        Var::constant(Tensor::zeros(&[2], DType::F32).unwrap()),
    );
    assert!(loss::quantile_loss(&p, &y, &[0.1, 0.9], Mean).is_err());
}
