//! Dev-only helpers shared by the PyTorch parity runners (`tensor/tests/parity_ops.rs` for forward values,
//! `autograd/tests/parity_grads.rs` for gradients): the fixture manifest of `tests/fixtures/ops/`, typed
//! access to a case's args, its `views`, and the value comparison. Format and tolerances: docs/parity.md.
//! Whole-model parity tests use [`closeness`] and [`grad_closeness`].

mod closeness;
mod model_fixtures;
pub use closeness::{closeness, grad_closeness, grad_closeness_in, max_abs, Closeness};
pub use model_fixtures::{key_shapes, model_fixture_dir, model_manifest, model_tensors, prefixed, strings};

use serde_json::Value;
use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::OnceLock;
use wrt_tensor::ops::{ConvSpec, PoolSpec};
use wrt_tensor::{io, DType, Tensor};

pub use serde_json;

// ------------------------------------------------------------------------------------------------ manifest

/// One manifest entry.
pub struct Case {
    pub name: String,
    pub op: String,
    pub args: Value,
    pub dtype: String,
    pub rtol: f64,
    pub atol: f64,
}

impl Case {
    /// The case's safetensors file: `input.*`, `output.*`, and maybe `grad_output.*` / `grad.*`.
    pub fn load(&self) -> Res<BTreeMap<String, Tensor>> {
        w(io::load(fixtures_dir().join(format!("{}.safetensors", self.name))))
    }

    pub fn args(&self) -> Args<'_> {
        Args(&self.args)
    }
}

pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/ops")
}

/// The manifest, parsed once.
pub fn manifest() -> &'static [Case] {
    static CASES: OnceLock<Vec<Case>> = OnceLock::new();
    CASES.get_or_init(|| {
        let path = fixtures_dir().join("manifest.json");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e} (regenerate with tools/parity/gen_ops.py)", path.display()));
        let m: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()));
        m["cases"]
            .as_array()
            .expect("manifest has a cases array")
            .iter()
            .map(|c| Case {
                name: c["name"].as_str().expect("case name").to_string(),
                op: c["op"].as_str().expect("case op").to_string(),
                args: c["args"].clone(),
                dtype: c["dtype"].as_str().expect("case dtype").to_string(),
                rtol: c["rtol"].as_f64().expect("case rtol"),
                atol: c["atol"].as_f64().expect("case atol"),
            })
            .collect()
    })
}

/// Typed access to a case's args; a missing or mistyped arg is a malformed manifest (panics, naming the key).
pub struct Args<'a>(pub &'a Value);

/// A JSON number, or one of the strings `"inf"`, `"-inf"`, `"nan"` (JSON has no literal for them).
pub fn num(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().expect("number"),
        Value::String(s) => s.parse::<f64>().unwrap_or_else(|_| panic!("not a number: {s}")),
        other => panic!("expected a number, got {other}"),
    }
}

pub fn ints(v: &Value) -> Vec<i64> {
    v.as_array()
        .unwrap_or_else(|| panic!("expected a list of integers, got {v}"))
        .iter()
        .map(|x| x.as_i64().unwrap_or_else(|| panic!("expected an integer, got {x}")))
        .collect()
}

impl Args<'_> {
    pub fn get(&self, k: &str) -> &Value {
        self.0.get(k).unwrap_or_else(|| panic!("arg '{k}' missing"))
    }
    pub fn has(&self, k: &str) -> bool {
        self.0.get(k).is_some_and(|v| !v.is_null())
    }
    pub fn f64(&self, k: &str) -> f64 {
        num(self.get(k))
    }
    pub fn opt_f64(&self, k: &str) -> Option<f64> {
        self.has(k).then(|| self.f64(k))
    }
    pub fn isize(&self, k: &str) -> isize {
        self.get(k).as_i64().unwrap_or_else(|| panic!("arg '{k}' is not an integer")) as isize
    }
    pub fn opt_isize(&self, k: &str) -> Option<isize> {
        self.has(k).then(|| self.isize(k))
    }
    pub fn usize(&self, k: &str) -> usize {
        self.get(k).as_u64().unwrap_or_else(|| panic!("arg '{k}' is not a non-negative integer")) as usize
    }
    pub fn bool(&self, k: &str) -> bool {
        self.get(k).as_bool().unwrap_or_else(|| panic!("arg '{k}' is not a bool"))
    }
    pub fn str(&self, k: &str) -> &str {
        self.get(k).as_str().unwrap_or_else(|| panic!("arg '{k}' is not a string"))
    }
    pub fn isizes(&self, k: &str) -> Vec<isize> {
        ints(self.get(k)).into_iter().map(|v| v as isize).collect()
    }
    pub fn usizes(&self, k: &str) -> Vec<usize> {
        ints(self.get(k)).into_iter().map(|v| usize::try_from(v).expect("non-negative")).collect()
    }

    /// `PoolSpec` from `kernel`, `stride`, `padding`, `dilation?`, `ceil_mode`, `count_include_pad?`.
    pub fn pool_spec(&self) -> PoolSpec {
        PoolSpec {
            kernel: self.usizes("kernel"),
            stride: Some(self.usizes("stride")),
            padding: self.usizes("padding"),
            dilation: if self.has("dilation") { self.usizes("dilation") } else { vec![1] },
            ceil_mode: self.bool("ceil_mode"),
            count_include_pad: !self.has("count_include_pad") || self.bool("count_include_pad"),
            divisor_override: None,
        }
    }

    /// `ConvSpec` from `stride`, `padding`, `dilation`, `groups`, `output_padding?`.
    pub fn conv_spec(&self) -> ConvSpec {
        ConvSpec {
            stride: self.usizes("stride"),
            padding: self.usizes("padding"),
            dilation: self.usizes("dilation"),
            groups: self.usize("groups"),
            output_padding: if self.has("output_padding") { self.usizes("output_padding") } else { vec![0] },
        }
    }
}

// ------------------------------------------------------------------------------------------------ views

/// One entry of a case's `views`: `[input, op, params...]`.
#[derive(Clone, Debug, PartialEq)]
pub enum View {
    Transpose(isize, isize),
    Permute(Vec<isize>),
    Narrow(isize, usize, usize),
    /// dim, start, end, step (Python slicing)
    Slice(isize, isize, isize, usize),
    Expand(Vec<isize>),
    Unsqueeze(isize),
    Select(isize, usize),
}

/// The case's views as (input index, view), in the order they apply.
pub fn views(args: &Value) -> Res<Vec<(usize, View)>> {
    let Some(list) = args.get("views").and_then(|v| v.as_array()) else { return Ok(vec![]) };
    list.iter()
        .map(|v| {
            let v = v.as_array().expect("a view is a list");
            let i = v[0].as_u64().expect("view input index") as usize;
            let p = &v[2..];
            let int = |k: usize| p[k].as_i64().expect("integer view param") as isize;
            let list = |k: usize| ints(&p[k]).iter().map(|&d| d as isize).collect::<Vec<_>>();
            let view = match v[1].as_str().expect("view op name") {
                "transpose" => View::Transpose(int(0), int(1)),
                "permute" => View::Permute(list(0)),
                "narrow" => View::Narrow(int(0), int(1) as usize, int(2) as usize),
                "slice" => View::Slice(int(0), int(1), int(2), int(3) as usize),
                "expand" => View::Expand(list(0)),
                "unsqueeze" => View::Unsqueeze(int(0)),
                "select" => View::Select(int(0), int(1) as usize),
                other => return Err(format!("unknown view op '{other}' (teach wrt_testkit::views)")),
            };
            Ok((i, view))
        })
        .collect()
}

/// Apply one view to a tensor.
pub fn view_tensor(t: &Tensor, v: &View) -> Res<Tensor> {
    w(match v {
        View::Transpose(a, b) => t.transpose(*a, *b),
        View::Permute(d) => t.permute(d),
        View::Narrow(d, s, n) => t.narrow(*d, *s, *n),
        View::Slice(d, s, e, st) => t.slice(*d, *s, *e, *st),
        View::Expand(s) => t.expand(s),
        View::Unsqueeze(d) => t.unsqueeze(*d),
        View::Select(d, i) => t.select(*d, *i),
    })
}

// ------------------------------------------------------------------------------------------------ results

pub type Res<T> = std::result::Result<T, String>;

pub fn w<T>(r: wrt_tensor::Result<T>) -> Res<T> {
    r.map_err(|e| format!("wrt error: {e}"))
}

/// Run `f`, turning a panic into `Err("panicked: ...")`.
pub fn catch<T>(f: impl FnOnce() -> Res<T>) -> Res<T> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| {
        let msg = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()));
        format!("panicked: {}", msg.unwrap_or_default())
    })?
}

/// The tensors `<prefix>.0, <prefix>.1, ...` of a fixture, in index order; the indices must be 0..n.
pub fn numbered(map: &BTreeMap<String, Tensor>, prefix: &str) -> Vec<Tensor> {
    let v = indexed(map, prefix);
    assert!(v.iter().enumerate().all(|(k, (i, _))| k == *i), "{prefix}.* indices are not 0..n");
    v.into_iter().map(|(_, t)| t).collect()
}

/// The tensors `<prefix>.<i>` with their indices, ascending; gaps allowed (`grad.<i>` exists only for float
/// inputs).
pub fn indexed(map: &BTreeMap<String, Tensor>, prefix: &str) -> Vec<(usize, Tensor)> {
    let mut v: Vec<(usize, Tensor)> = map
        .iter()
        .filter_map(|(k, t)| k.strip_prefix(prefix)?.strip_prefix('.')?.parse::<usize>().ok().map(|i| (i, t.clone())))
        .collect();
    v.sort_by_key(|(i, _)| *i);
    v
}

pub fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for d in (0..shape.len()).rev() {
        idx[d] = i % shape[d].max(1);
        i /= shape[d].max(1);
    }
    idx
}

/// Compare one result named `what` (e.g. `output.0`): shape, dtype, then values within
/// `atol + rtol * |want|` (NaN == NaN, inf == inf, int64 exactly).
pub fn compare(what: &str, got: &Tensor, want: &Tensor, rtol: f64, atol: f64) -> Res<()> {
    if got.shape() != want.shape() {
        return Err(format!("{what}: shape {:?}, expected {:?}", got.shape(), want.shape()));
    }
    if got.dtype() != want.dtype() {
        return Err(format!("{what}: dtype {}, expected {}", got.dtype(), want.dtype()));
    }
    if want.dtype() == DType::I64 {
        let (g, e) = (w(got.to_vec::<i64>())?, w(want.to_vec::<i64>())?);
        let bad: Vec<usize> = (0..g.len()).filter(|&i| g[i] != e[i]).collect();
        return match bad.first() {
            None => Ok(()),
            Some(&i) => Err(format!(
                "{what}: {} of {} int64 elements differ; first at {:?}: got {}, expected {}",
                bad.len(),
                g.len(),
                unravel(i, want.shape()),
                g[i],
                e[i]
            )),
        };
    }
    let (g, e) = (w(got.to_vec_f64())?, w(want.to_vec_f64())?);
    let (mut n_bad, mut worst, mut worst_excess) = (0usize, None, f64::NEG_INFINITY);
    let (mut max_abs, mut max_rel) = (0f64, 0f64);
    for i in 0..g.len() {
        let (a, b) = (g[i], e[i]);
        // non-finite values must match exactly (else inf would be within rtol * |inf| of anything)
        let ok = (a.is_nan() && b.is_nan())
            || a == b
            || (a.is_finite() && b.is_finite() && (a - b).abs() <= atol + rtol * b.abs());
        if a.is_finite() && b.is_finite() {
            max_abs = max_abs.max((a - b).abs());
            if b != 0.0 {
                max_rel = max_rel.max((a - b).abs() / b.abs());
            }
        }
        if !ok {
            n_bad += 1;
            let excess = if (a - b).is_nan() { f64::INFINITY } else { (a - b).abs() - (atol + rtol * b.abs()) };
            if worst.is_none() || excess > worst_excess {
                worst = Some(i);
                worst_excess = excess;
            }
        }
    }
    match worst {
        None => Ok(()),
        Some(i) => Err(format!(
            "{what}: {n_bad} of {} elements out of tolerance (rtol {rtol:e}, atol {atol:e}); worst at {:?}: got {:e}, \
             expected {:e}; max abs err {max_abs:e}, max rel err {max_rel:e} (finite elements)",
            g.len(),
            unravel(i, want.shape()),
            g[i],
            e[i],
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The comparison itself: NaN matches NaN, infinities match only themselves, tolerances are |want|-relative.
    #[test]
    fn compare_semantics() {
        let t = |v: &[f32]| Tensor::from_slice(v, &[v.len()]).unwrap();
        let (nan, inf) = (f32::NAN, f32::INFINITY);
        assert!(compare("o", &t(&[nan, inf, -inf, 1.0]), &t(&[nan, inf, -inf, 1.0]), 0.0, 0.0).is_ok());
        assert!(compare("o", &t(&[1.0 + 1e-6]), &t(&[1.0]), 2e-6, 0.0).is_ok());
        assert!(compare("o", &t(&[1.0 + 1e-5]), &t(&[1.0]), 2e-6, 0.0).is_err());
        assert!(compare("o", &t(&[1e-7]), &t(&[0.0]), 0.0, 1e-6).is_ok());
        for (got, want) in [(inf, nan), (nan, 1.0), (inf, 3e38), (-inf, inf), (1.0, nan)] {
            assert!(compare("o", &t(&[got]), &t(&[want]), 1.0, 1.0).is_err(), "{got} vs {want}");
        }
        let e = compare("o", &t(&[1.0, 2.0, 5.0]), &t(&[1.0, 2.0, 3.0]), 0.0, 0.0).unwrap_err();
        assert!(e.contains("worst at [2]") && e.contains("got 5e0") && e.contains("expected 3e0"), "{e}");
        assert!(compare("o", &t(&[1.0, 2.0]), &Tensor::from_slice(&[1.0f32, 2.0], &[2, 1]).unwrap(), 0.0, 0.0).is_err());
        assert!(compare("o", &t(&[1.0]), &Tensor::from_slice(&[1.0f64], &[1]).unwrap(), 0.0, 0.0).is_err());
        let i = |v: &[i64]| Tensor::from_slice(v, &[v.len()]).unwrap();
        assert!(compare("o", &i(&[1 << 60]), &i(&[(1 << 60) + 1]), 1.0, 1.0).is_err(), "int64 compares exactly");
    }

    #[test]
    fn views_parse() {
        let a: Value = serde_json::from_str(r#"{"views": [[1, "slice", 0, 1, -1, 2], [0, "permute", [2, 0, 1]]]}"#).unwrap();
        assert_eq!(views(&a).unwrap(), vec![(1, View::Slice(0, 1, -1, 2)), (0, View::Permute(vec![2, 0, 1]))]);
        assert!(views(&serde_json::json!({"views": [[0, "flip", 0]]})).is_err());
        assert!(views(&serde_json::json!({})).unwrap().is_empty());
    }
}

/// Exceptions of a runner: ops with fixtures but no entry point yet, and cases failing on a known bug.
pub struct Exceptions {
    pub not_yet_wired: &'static [(&'static str, &'static str)],
    pub known_failures: &'static [(&'static str, &'static str)],
}

/// Run every case of one op family with `run`, and assert: no unexpected failure, every known failure still
/// failing (a fixed bug must be removed from the list), and at least one case present. `what` names the kind
/// of check in messages ("parity", "gradient").
pub fn run_family<'a>(family: &str, what: &str, cases: impl Iterator<Item = &'a Case>, ex: &Exceptions, run: impl Fn(&Case) -> Res<()>) {
    let (mut passed, mut skipped, mut known) = (0, 0, 0);
    let mut failures = Vec::new();
    for c in cases {
        if ex.not_yet_wired.iter().any(|(op, _)| *op == c.op) {
            skipped += 1;
            continue;
        }
        let known_bug = ex.known_failures.iter().find(|(n, _)| *n == c.name);
        match (run(c), known_bug) {
            (Ok(()), None) => passed += 1,
            (Ok(()), Some((_, bug))) => failures.push(format!(
                "{} [{} {}]: passes now; remove it from KNOWN_FAILURES ({bug})",
                c.name, c.op, c.dtype
            )),
            (Err(e), None) => failures.push(format!("{} [{} {}, args {}]: {e}", c.name, c.op, c.dtype, c.args)),
            (Err(e), Some((_, bug))) => {
                known += 1;
                println!("known failure {} ({bug}): {e}", c.name);
            }
        }
    }
    println!("{family} {what}: {passed} passed, {known} known failures, {skipped} not yet wired");
    assert!(failures.is_empty(), "{} {family} {what} case(s) failed:\n  {}", failures.len(), failures.join("\n  "));
    assert!(passed + known + skipped > 0, "family {family} has no {what} cases in the manifest");
}
