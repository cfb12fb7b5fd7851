//! The whole-model parity fixtures, `tests/fixtures/<model>/` (written by `tools/parity/gen_<model>.py`): a
//! `manifest.json` (config, tolerances, state_dict keys and shapes) and safetensors files of inputs,
//! weights (`state.<key>`), outputs and gradients (`grad.<name>`).

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use wrt_tensor::Tensor;

pub fn model_fixture_dir(model: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures").join(model)
}

/// `tests/fixtures/<model>/manifest.json`, parsed.
pub fn model_manifest(model: &str) -> Value {
    let p = model_fixture_dir(model).join("manifest.json");
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e} (regenerate with tools/parity/gen_{model}.py)", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The tensors of `tests/fixtures/<model>/<file>`.
pub fn model_tensors(model: &str, file: &str) -> BTreeMap<String, Tensor> {
    let p = model_fixture_dir(model).join(file);
    wrt_tensor::io::load(&p).unwrap_or_else(|e| panic!("{}: {e} (regenerate with tools/parity/gen_{model}.py)", p.display()))
}

/// The tensors whose names start with `prefix`, under the rest of the name (`state.` -> a state_dict).
pub fn prefixed(tensors: &BTreeMap<String, Tensor>, prefix: &str) -> BTreeMap<String, Tensor> {
    tensors.iter().filter_map(|(k, v)| Some((k.strip_prefix(prefix)?.to_string(), v.clone()))).collect()
}

/// A manifest list of strings (keys, parameter names).
pub fn strings(v: &Value) -> Vec<String> {
    v.as_array().expect("a list of strings").iter().map(|s| s.as_str().expect("a string").to_string()).collect()
}

/// A manifest state_dict listing `[[key, [dims...]], ...]`.
pub fn key_shapes(v: &Value) -> Vec<(String, Vec<usize>)> {
    v.as_array()
        .expect("a list of [key, shape]")
        .iter()
        .map(|e| (e[0].as_str().expect("a key").to_string(), e[1].as_array().expect("a shape").iter().map(|d| d.as_u64().expect("a dim") as usize).collect()))
        .collect()
}
