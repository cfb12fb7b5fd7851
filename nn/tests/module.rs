//! Module naming, state_dict round trips and their errors.

use std::collections::BTreeMap;
use wrt_nn::{Forward, Linear, Module, ModuleExt, Walk};
use wrt_tensor::{DType, Generator, Tensor};

struct Mlp {
    layers: Vec<Linear>,
    head: Linear,
}

impl Module for Mlp {
    fn visit(&self, v: &mut Walk<'_>) {
        v.list("layers", &self.layers);
        v.child("head", &self.head);
    }
}

fn mlp(seed: u64) -> Mlp {
    let mut g = Generator::new(seed);
    Mlp {
        layers: vec![Linear::new(&mut g, 4, 8, true).unwrap(), Linear::new(&mut g, 8, 8, false).unwrap()],
        head: Linear::new(&mut g, 8, 2, true).unwrap(),
    }
}

#[test]
fn dotted_names_and_counts() {
    let m = mlp(0);
    let names: Vec<String> = m.named_parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["layers.0.weight", "layers.0.bias", "layers.1.weight", "head.weight", "head.bias"]);
    assert_eq!(m.num_parameters(), 32 + 8 + 64 + 16 + 2);
}

#[test]
fn state_dict_round_trip_and_errors() {
    let (a, b) = (mlp(0), mlp(9));
    let sd: BTreeMap<String, Tensor> = a.state_dict().into_iter().collect();
    b.load_state_dict(&sd, true).unwrap();
    assert_eq!(b.head.weight.value().to_vec::<f32>().unwrap(), a.head.weight.value().to_vec::<f32>().unwrap());

    let mut extra = sd.clone();
    extra.insert("head.scale".into(), Tensor::ones(&[1], DType::F32).unwrap());
    extra.remove("layers.1.weight");
    let e = b.load_state_dict(&extra, true).unwrap_err().to_string();
    assert!(e.contains("layers.1.weight") && e.contains("head.scale"), "{e}");
    b.load_state_dict(&extra, false).unwrap();

    let mut bad = sd.clone();
    bad.insert("head.bias".into(), Tensor::ones(&[3], DType::F32).unwrap());
    let e = b.load_state_dict(&bad, true).unwrap_err().to_string();
    assert!(e.contains("head.bias") && e.contains("[2]") && e.contains("[3]"), "{e}");

    let dir = std::env::temp_dir().join(format!("wrt-nn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("m.safetensors");
    a.save_safetensors(&p).unwrap();
    let c = mlp(5);
    c.load_safetensors(&p, true).unwrap();
    assert_eq!(c.layers[1].weight.value().to_vec::<f32>().unwrap(), a.layers[1].weight.value().to_vec::<f32>().unwrap());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn linear_folds_leading_dims_and_has_torch_init_bounds() {
    let mut g = Generator::new(3);
    let l = Linear::new(&mut g, 100, 7, true).unwrap();
    let w = l.weight.value().to_vec::<f32>().unwrap();
    assert!(w.iter().all(|v| v.abs() <= 0.1) && w.iter().any(|v| v.abs() > 0.09));
    let x = wrt_autograd::Var::constant(g.randn(&[2, 3, 100], DType::F32).unwrap());
    let y = l.forward(&x).unwrap();
    assert_eq!(y.shape(), &[2, 3, 7]);
    let row = x.value().select(0, 1).unwrap().select(0, 2).unwrap().unsqueeze(0).unwrap();
    let y0 = l.forward(&wrt_autograd::Var::constant(row)).unwrap();
    let a = y.value().select(0, 1).unwrap().select(0, 2).unwrap().to_vec::<f32>().unwrap();
    let b = y0.value().to_vec::<f32>().unwrap();
    assert!(a.iter().zip(&b).all(|(p, q)| (p - q).abs() < 1e-5));
}
