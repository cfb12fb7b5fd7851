//! Safetensors round trip wrt <-> PyTorch with the composite model of tools/parity/check_safetensors_roundtrip.py
//! (Conv1d + BatchNorm1d + MultiheadAttention + LSTM + Linear, f16 and bf16 buffers, an i64 counter):
//!
//! - PyTorch -> wrt: the state_dict PyTorch saved (tests/fixtures/roundtrip/torch_composite.safetensors)
//!   loads into the wrt model with strict=true, in PyTorch's key order, and wrt's eval output equals
//!   PyTorch's (torch_composite_io.safetensors) within 1e-5.
//! - wrt -> PyTorch: the committed wrt-written file (nn/examples/write_roundtrip.rs; checked on the PyTorch side
//!   by `check_safetensors_roundtrip.py check`) still loads into wrt and reproduces the output stored with it,
//!   so the file that script verified is what this code writes; and save -> load is bit-exact for every dtype.

#[path = "support/composite.rs"]
mod composite;

use composite::Composite;
use std::collections::BTreeMap;
use wrt_nn::{Error, ModuleExt, Var};
use wrt_tensor::{DType, Generator, Tensor};

fn fixture(name: &str) -> String {
    format!("{}/../tests/fixtures/roundtrip/{name}.safetensors", env!("CARGO_MANIFEST_DIR"))
}

fn f64s(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64).unwrap().to_vec::<f64>().unwrap()
}

fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.shape(), b.shape());
    f64s(a).iter().zip(f64s(b)).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

fn eval_output(m: &Composite, io: &BTreeMap<String, Tensor>) -> Tensor {
    m.eval();
    m.forward(&Var::constant(io["input"].clone())).unwrap().value().clone()
}

#[test]
fn pytorch_state_dict_loads_strict_and_reproduces_pytorchs_output() {
    let m = Composite::new(&mut Generator::new(1)).unwrap();
    let (sd, meta) = wrt_tensor::io::load_with_metadata(fixture("torch_composite")).unwrap();
    let torch_keys: Vec<&str> = meta["keys"].split(',').collect();
    let keys: Vec<String> = m.state_dict().into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, torch_keys, "state_dict keys in PyTorch's order");
    assert_eq!((sd["in_scale"].dtype(), sd["out_scale"].dtype(), sd["bn.num_batches_tracked"].dtype()), (DType::F16, DType::BF16, DType::I64));
    m.load_safetensors(fixture("torch_composite"), true).unwrap();
    assert_eq!(m.bn.num_batches_tracked.as_ref().unwrap().item::<i64>().unwrap(), 7);
    let io = wrt_tensor::io::load(fixture("torch_composite_io")).unwrap();
    let d = max_diff(&eval_output(&m, &io), &io["output"]);
    println!("max |wrt - PyTorch| = {d:e}");
    assert!(d < 1e-5, "max |wrt - PyTorch| = {d}");
}

#[test]
fn committed_wrt_file_reproduces_its_stored_output() {
    let m = Composite::new(&mut Generator::new(1)).unwrap();
    m.load_safetensors(fixture("wrt_composite"), true).unwrap();
    let io = wrt_tensor::io::load(fixture("wrt_composite_io")).unwrap();
    let d = max_diff(&eval_output(&m, &io), &io["output"]);
    assert!(d < 1e-6, "max |now - written| = {d} (rerun `cargo run -p wrt-nn --example write_roundtrip` and the check script)");
}

#[test]
fn save_then_load_is_bit_exact_and_mismatches_are_errors() {
    let a = Composite::new(&mut Generator::new(5)).unwrap();
    let b = Composite::new(&mut Generator::new(6)).unwrap();
    let path = std::env::temp_dir().join(format!("wrt_roundtrip_{}.safetensors", std::process::id()));
    a.save_safetensors(&path).unwrap();
    b.load_safetensors(&path, true).unwrap();
    for ((k, x), (_, y)) in a.state_dict().iter().zip(b.state_dict()) {
        assert_eq!(x.dtype(), y.dtype(), "{k}");
        assert_eq!(max_diff(x, &y), 0.0, "{k}");
    }
    // strict loading names the missing key; a wrong dtype is an error, not a silent cast
    let mut sd = wrt_tensor::io::load(&path).unwrap();
    std::fs::remove_file(&path).ok();
    let bf = sd["out_scale"].to_dtype(DType::F32).unwrap();
    sd.insert("out_scale".into(), bf);
    assert!(matches!(b.load_state_dict(&sd, true), Err(Error::Mismatch { key, .. }) if key == "out_scale"));
    sd.remove("lstm.weight_hh_l0");
    assert!(matches!(b.load_state_dict(&sd, true), Err(Error::Keys { missing, .. }) if missing == ["lstm.weight_hh_l0"]));
}
