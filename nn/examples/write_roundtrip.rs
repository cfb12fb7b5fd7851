//! wrt -> PyTorch half of the safetensors round trip: builds the composite model of
//! nn/tests/support/composite.rs from a seeded Generator (batch-norm statistics, biases and the f16/bf16
//! buffers moved off their defaults), and writes
//!
//!   wrt_composite.safetensors     its state_dict (`save_safetensors`)
//!   wrt_composite_io.safetensors  an input and wrt's eval-mode output
//!
//! to tests/fixtures/roundtrip/ (or the directory given as the first argument). Then
//! `tools/parity/check_safetensors_roundtrip.py check` loads the state_dict into the PyTorch model with
//! strict=True and compares the outputs.
//!
//!     cargo run -p wrt-nn --example write_roundtrip

#[path = "../tests/support/composite.rs"]
mod composite;

use composite::Composite;
use std::path::PathBuf;
use wrt_nn::{ModuleExt, Var};
use wrt_tensor::{DType, Generator, Tensor};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args().nth(1).map(PathBuf::from).unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/roundtrip"));
    std::fs::create_dir_all(&dir)?;
    let g = &mut Generator::new(2024);
    let m = Composite::new(g)?;
    let set = |t: &Tensor, v: Tensor| t.copy_(&v.to_dtype(t.dtype())?);
    set(m.bn.running_mean.as_ref().ok_or("running_mean")?, g.normal(&[8], 0.0, 0.3, DType::F32)?)?;
    set(m.bn.running_var.as_ref().ok_or("running_var")?, g.uniform(&[8], 0.5, 1.5, DType::F32)?)?;
    set(m.bn.num_batches_tracked.as_ref().ok_or("num_batches_tracked")?, Tensor::scalar(11i64))?;
    set(m.bn.weight.as_ref().ok_or("bn.weight")?.value(), g.normal(&[8], 1.0, 0.2, DType::F32)?)?;
    set(m.bn.bias.as_ref().ok_or("bn.bias")?.value(), g.normal(&[8], 0.0, 0.2, DType::F32)?)?;
    set(m.attn.in_proj_bias.as_ref().ok_or("in_proj_bias")?.value(), g.normal(&[24], 0.0, 0.1, DType::F32)?)?;
    set(&m.in_scale, Tensor::from_vec(vec![1.25f32, -0.5, 0.875], &[3])?)?;
    set(&m.out_scale, Tensor::from_vec(vec![-1.5f32, 0.625], &[2])?)?;
    m.eval();
    let x = g.normal(&[3, 3, 9], 0.0, 1.0, DType::F32)?;
    let y = m.forward(&Var::constant(x.clone()))?;
    let state = dir.join("wrt_composite.safetensors");
    m.save_safetensors(&state)?;
    let io = dir.join("wrt_composite_io.safetensors");
    wrt_tensor::io::save(&io, &[("input".to_string(), x), ("output".to_string(), y.value().clone())], None)?;
    println!("wrote {} ({} tensors) and {}", state.display(), m.state_dict().len(), io.display());
    println!("output: {:?}", y.value().to_vec::<f32>()?);
    Ok(())
}
