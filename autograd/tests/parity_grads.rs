//! Gradient parity of wrt-autograd against PyTorch, on the forward fixtures of `tests/fixtures/ops/`.
//!
//! Every case whose fixture holds `grad.*` tensors (see docs/parity.md) runs here: each stored input becomes a
//! `Var` leaf (requiring grad where the fixture has `grad.<i>`, i.e. for float inputs), the case's `views` are
//! applied as `Var` view ops (so gradients flow back through strides, offsets and stride-0 broadcasts), the op
//! runs through its `Var` method, and `backward_with(grad_output.<j>)` is called on each float output. Each
//! leaf's gradient must match `grad.<i>`, PyTorch's `d sum_j(output.j * grad_output.j) / d input.i`, within the
//! case's tolerance times `grad_tol_factor` (below). A float input wrt leaves without a gradient counts as zeros
//! (PyTorch stores zeros for unused inputs).
//!
//! As in `tensor/tests/parity_ops.rs`: an op with gradient fixtures that no family lists, or that `run_op`
//! does not know, fails the suite; the exceptions are in `NOT_YET_WIRED` with a reason. Cases exposing a known
//! bug are in `KNOWN_FAILURES` and must keep failing until the bug is fixed.

use std::collections::BTreeMap;
use std::panic::catch_unwind;
use wrt_autograd::{Tensor, Var};
use wrt_tensor::ops::PadMode;
use wrt_tensor::{DType, Unary};
use wrt_testkit::serde_json::Value;
use wrt_testkit::{catch, indexed, manifest, numbered, views, w, Args, Case, Exceptions, Res, View};

/// Ops with gradient fixtures but no `Var` form yet: (op, why). Their cases are skipped, loudly.
const NOT_YET_WIRED: &[(&str, &str)] = &[
    ("adaptive_max_pool2d", "no adaptive max pooling in wrt-tensor (see parity_ops.rs)"),
];

/// Cases that fail because of a known wrt bug: (case name, the bug). Remove an entry when its bug is fixed.
const KNOWN_FAILURES: &[(&str, &str)] = &[
];

/// Op families, one `#[test]` each. Every op with gradient fixtures must appear here.
const FAMILIES: &[(&str, &[&str])] = &[
    (
        "unary",
        &[
            "neg", "abs", "exp", "expm1", "log", "log1p", "sqrt", "rsqrt", "reciprocal", "square", "sin", "cos", "tanh",
            "sigmoid", "erf", "gelu", "gelu_tanh", "relu", "silu", "softplus", "sign", "floor", "ceil", "round",
        ],
    ),
    ("param_unary", &["affine", "powf", "clamp", "leaky_relu", "elu"]),
    ("binary", &["add", "sub", "mul", "div", "pow", "maximum", "minimum", "atan2"]),
    ("select", &["where", "masked_fill"]),
    ("reduce", &["sum", "mean", "max", "min", "logsumexp", "var", "std", "cumsum"]),
    ("matmul", &["matmul"]),
    ("conv", &["conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d"]),
    ("softmax", &["softmax", "log_softmax"]),
    ("index", &["index_select", "embedding", "gather", "scatter_add", "index_add"]),
    ("shape", &["cat", "stack", "pad", "roll", "tril", "triu", "contiguous", "reshape"]),
    ("cast", &["cast"]),
    ("norm", &["layer_norm", "group_norm", "batch_norm"]),
    (
        "pool",
        &[
            "max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d", "adaptive_avg_pool1d",
            "adaptive_avg_pool2d", "adaptive_max_pool2d",
        ],
    ),
];

/// Gradient tolerance = the case's forward tolerance times this factor.
///
/// 1 for f64 and for f32 elementwise ops. Backward rules are compositions of tensor ops (each rounding to the
/// dtype), where PyTorch often runs one fused kernel, so:
/// - f32 ops whose backward sums over long axes (conv, matmul, norms, pooling, reductions, softmax) get 10x,
///   as their forward error grows with the reduction length and the backward sums a different way;
/// - bf16/f16 get 4x: a rule like gelu's (erf, exp, four multiplies) rounds at every step in the low dtype.
fn grad_tol_factor(c: &Case) -> f64 {
    const LONG: &[&str] = &[
        "matmul", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "layer_norm",
        "group_norm", "batch_norm", "softmax", "log_softmax", "logsumexp", "var", "std", "mean", "sum", "cumsum",
        "avg_pool1d", "avg_pool2d", "avg_pool3d", "adaptive_avg_pool1d", "adaptive_avg_pool2d",
    ];
    match c.dtype.as_str() {
        "f32" if LONG.contains(&c.op.as_str()) => 10.0,
        "bf16" | "f16" => 4.0,
        _ => 1.0,
    }
}

/// The default (rtol, atol) of a float dtype (docs/parity.md), the floor of every gradient tolerance.
fn default_tol(dtype: DType) -> (f64, f64) {
    match dtype {
        DType::F64 => (1e-10, 1e-12),
        DType::BF16 => (1e-2, 1e-3),
        DType::F16 => (2e-3, 1e-4),
        _ => (1e-5, 1e-6),
    }
}

// ------------------------------------------------------------------------------------------------ running

fn g<T>(r: wrt_autograd::Result<T>) -> Res<T> {
    r.map_err(|e| format!("wrt error: {e}"))
}

/// Apply one manifest view to a Var (the autograd view ops, so the gradient flows back through it).
fn view_var(x: &Var, v: &View) -> Res<Var> {
    g(match v {
        View::Transpose(a, b) => x.transpose(*a, *b),
        View::Permute(d) => x.permute(d),
        View::Narrow(d, s, n) => x.narrow(*d, *s, *n),
        View::Slice(d, s, e, st) => x.slice(*d, *s, *e, *st),
        View::Expand(s) => x.expand(s),
        View::Unsqueeze(d) => x.unsqueeze(*d),
        View::Select(d, i) => x.select(*d, *i),
    })
}

/// Run one op on Vars; `None` for outputs that carry no gradient. `Err` for a wrt error or an unknown op.
fn run_op(op: &str, a: &Args, x: &[Var]) -> Res<Vec<Option<Var>>> {
    let one = |r: wrt_autograd::Result<Var>| g(r).map(|v| vec![Some(v)]);
    let t = |i: usize| x[i].value();
    let dims = || a.isizes("dims");
    match op {
        // unary
        "neg" => one(x[0].neg()),
        "abs" => one(x[0].abs()),
        "exp" => one(x[0].exp()),
        "expm1" => one(x[0].unary(Unary::Expm1)),
        "log" => one(x[0].log()),
        "log1p" => one(x[0].log1p()),
        "sqrt" => one(x[0].sqrt()),
        "rsqrt" => one(x[0].rsqrt()),
        "reciprocal" => one(x[0].recip()),
        "square" => one(x[0].square()),
        "sin" => one(x[0].sin()),
        "cos" => one(x[0].cos()),
        "tanh" => one(x[0].tanh()),
        "sigmoid" => one(x[0].sigmoid()),
        "erf" => one(x[0].erf()),
        "gelu" => one(x[0].gelu()),
        "gelu_tanh" => one(x[0].gelu_tanh()),
        "relu" => one(x[0].relu()),
        "silu" => one(x[0].silu()),
        "softplus" => one(x[0].softplus()),
        "sign" => one(x[0].unary(Unary::Sign)),
        "floor" => one(x[0].unary(Unary::Floor)),
        "ceil" => one(x[0].unary(Unary::Ceil)),
        "round" => one(x[0].unary(Unary::Round)),
        // parametrised unary
        "affine" => one(x[0].affine(a.f64("mul"), a.f64("add"))),
        "powf" => one(x[0].powf(a.f64("exponent"))),
        "clamp" => one(x[0].clamp(a.opt_f64("min"), a.opt_f64("max"))),
        "leaky_relu" => one(x[0].leaky_relu(a.f64("slope"))),
        "elu" => one(x[0].elu(a.f64("alpha"))),
        // binary
        "add" => one(x[0].add(&x[1])),
        "sub" => one(x[0].sub(&x[1])),
        "mul" => one(x[0].mul(&x[1])),
        "div" => one(x[0].div(&x[1])),
        "pow" => one(x[0].pow(&x[1])),
        "maximum" => one(x[0].maximum(&x[1])),
        "minimum" => one(x[0].minimum(&x[1])),
        "atan2" => one(x[0].atan2(&x[1])),
        "cast" => one(x[0].to_dtype(DType::parse(a.str("to")).expect("dtype name"))),
        // selection (the condition / mask is a Bool tensor)
        "where" => one(Var::where_cond(t(0), &x[1], &x[2])),
        "masked_fill" => one(x[0].masked_fill(t(1), a.f64("value"))),
        // reductions
        "sum" => one(x[0].sum(&dims(), a.bool("keepdim"))),
        "mean" => one(x[0].mean(&dims(), a.bool("keepdim"))),
        "max" => one(x[0].max(&dims(), a.bool("keepdim"))),
        "min" => one(x[0].min(&dims(), a.bool("keepdim"))),
        "logsumexp" => one(x[0].logsumexp(&dims(), a.bool("keepdim"))),
        "var" => one(x[0].var(&dims(), a.usize("correction"), a.bool("keepdim"))),
        "std" => one(x[0].std(&dims(), a.usize("correction"), a.bool("keepdim"))),
        "cumsum" => one(x[0].cumsum(a.isize("dim"))),
        // linear algebra and convolution (rank picks 1-D/2-D/3-D)
        "matmul" => one(x[0].matmul(&x[1])),
        "conv1d" | "conv2d" | "conv3d" => one(x[0].conv(&x[1], x.get(2), &a.conv_spec())),
        "conv_transpose1d" | "conv_transpose2d" | "conv_transpose3d" => {
            one(x[0].conv_transpose(&x[1], x.get(2), &a.conv_spec()))
        }
        "softmax" => one(x[0].softmax(a.isize("dim"))),
        "log_softmax" => one(x[0].log_softmax(a.isize("dim"))),
        // indexing (index tensors are I64 constants)
        "index_select" => one(x[0].index_select(a.isize("dim"), t(1))),
        "embedding" => one(Var::embedding(&x[0], t(1), None)),
        "gather" => one(x[0].gather(a.isize("dim"), t(1))),
        "scatter_add" => one(x[0].scatter_add(a.isize("dim"), t(1), &x[2])),
        "index_add" => one(x[0].index_add(a.isize("dim"), t(1), &x[2])),
        // layout
        "cat" => one(Var::cat(x, a.isize("dim"))),
        "stack" => one(Var::stack(x, a.isize("dim"))),
        "pad" => {
            let mode = match a.str("mode") {
                "constant" => PadMode::Constant(a.f64("value")),
                "reflect" => PadMode::Reflect,
                "replicate" => PadMode::Replicate,
                m => return Err(format!("unknown pad mode '{m}'")),
            };
            one(x[0].pad(&a.usizes("pads"), mode))
        }
        "roll" => one(x[0].roll(&a.isizes("shifts"), &a.isizes("dims"))),
        "tril" => one(x[0].tril(a.isize("k"))),
        "triu" => one(x[0].triu(a.isize("k"))),
        "contiguous" => one(x[0].contiguous()),
        "reshape" => one(x[0].reshape(&a.isizes("shape"))),
        // normalisation
        "layer_norm" => one(x[0].layer_norm(&a.usizes("normalized_shape"), x.get(1), x.get(2), a.f64("eps"))),
        "group_norm" => one(x[0].group_norm(a.usize("groups"), x.get(1), x.get(2), a.f64("eps"))),
        "batch_norm" => {
            // inputs: x, running_mean, running_var, weight, bias; training also returns the updated running
            // stats (no gradient flows into or out of them)
            let (eps, momentum, training) = (a.f64("eps"), a.f64("momentum"), a.bool("training"));
            let (rm, rv) = (t(1).deep_clone(), t(2).deep_clone());
            let y = g(x[0].batch_norm(Some(&rm), Some(&rv), Some(&x[3]), Some(&x[4]), training, momentum, eps))?;
            let mut out = vec![Some(y)];
            if training {
                out.extend([None, None]);
            }
            Ok(out)
        }
        // pooling
        "max_pool1d" | "max_pool2d" | "max_pool3d" => one(x[0].max_pool(&a.pool_spec())),
        "avg_pool1d" | "avg_pool2d" | "avg_pool3d" => one(x[0].avg_pool(&a.pool_spec())),
        "adaptive_avg_pool1d" | "adaptive_avg_pool2d" => one(x[0].adaptive_avg_pool(&a.usizes("output_size"))),
        _ => Err(format!("op '{op}' is unknown to the runner (add an arm to run_op, or list it in NOT_YET_WIRED)")),
    }
}

fn has_grads(map: &BTreeMap<String, Tensor>) -> bool {
    map.keys().any(|k| k.starts_with("grad."))
}

/// Cases with gradient fixtures (reads each file's header: the loader is cheap at these sizes).
fn grad_cases() -> &'static [(&'static Case, BTreeMap<String, Tensor>)] {
    static CASES: std::sync::OnceLock<Vec<(&'static Case, BTreeMap<String, Tensor>)>> = std::sync::OnceLock::new();
    CASES.get_or_init(|| {
        manifest()
            .iter()
            .filter_map(|c| {
                let map = c.load().unwrap_or_else(|e| panic!("case {}: {e}", c.name));
                has_grads(&map).then_some((c, map))
            })
            .collect()
    })
}

fn run_case(c: &Case, map: &BTreeMap<String, Tensor>) -> Res<()> {
    let inputs = numbered(map, "input");
    let want = indexed(map, "grad");
    let grad_outs = indexed(map, "grad_output");
    let leaves: Vec<Var> =
        inputs.iter().enumerate().map(|(i, t)| Var::new(t.clone(), want.iter().any(|(k, _)| *k == i))).collect();
    let mut xs = leaves.clone();
    for (i, v) in views(&c.args)? {
        xs[i] = view_var(&xs[i], &v)?;
    }
    let outs = catch(|| run_op(&c.op, &c.args(), &xs))?;
    for (j, go) in &grad_outs {
        let out = outs
            .get(*j)
            .ok_or_else(|| format!("fixture has grad_output.{j}, the op returned {} outputs", outs.len()))?
            .as_ref()
            .ok_or_else(|| format!("fixture has grad_output.{j}, wrt's output {j} carries no gradient"))?;
        g(out.backward_with(go, true))?;
    }
    let factor = grad_tol_factor(c);
    for (i, expected) in &want {
        // exact ops (rtol = atol = 0) still sum in their backward (pad, expand, ties): the dtype's default
        let (rtol, atol) = default_tol(expected.dtype());
        let (rtol, atol) = (c.rtol.max(rtol) * factor, c.atol.max(atol) * factor);
        let got = match leaves[*i].grad() {
            Some(t) => t,
            None => w(expected.zeros_like())?,
        };
        wrt_testkit::compare(&format!("grad.{i}"), &got, expected, rtol, atol)?;
    }
    Ok(())
}

fn family_ops(family: &str) -> &'static [&'static str] {
    FAMILIES.iter().find(|(f, _)| *f == family).unwrap_or_else(|| panic!("no family {family}")).1
}

fn run_family(family: &str) {
    let ops = family_ops(family);
    let cases: Vec<_> = grad_cases().iter().filter(|(c, _)| ops.contains(&c.op.as_str())).collect();
    let maps: BTreeMap<&str, &BTreeMap<String, Tensor>> = cases.iter().map(|(c, m)| (c.name.as_str(), m)).collect();
    let ex = Exceptions { not_yet_wired: NOT_YET_WIRED, known_failures: KNOWN_FAILURES };
    wrt_testkit::run_family(family, "gradient", cases.iter().map(|(c, _)| *c), &ex, |c| run_case(c, maps[c.name.as_str()]));
}

// ------------------------------------------------------------------------------------------------ tests

/// Every op with gradient fixtures belongs to a family, the exception lists name real things, and coverage
/// (ops with gradient fixtures / ops wired) is printed.
#[test]
fn grad_ops_are_all_covered() {
    let cases = grad_cases();
    assert!(!cases.is_empty(), "no case has gradient fixtures");
    let mut errors = Vec::new();
    let mut ops: Vec<&str> = cases.iter().map(|(c, _)| c.op.as_str()).collect();
    ops.sort();
    ops.dedup();
    for op in &ops {
        if !FAMILIES.iter().any(|(_, f)| f.contains(op)) {
            errors.push(format!("op '{op}' has gradient fixtures but is in no family (add it to FAMILIES and run_op)"));
        }
    }
    for (op, _) in NOT_YET_WIRED {
        if !ops.contains(op) {
            errors.push(format!("NOT_YET_WIRED lists '{op}', which has no gradient cases"));
        }
        // a wired op answers the empty probe by panicking on the missing inputs, not with "unknown"
        let probe = catch_unwind(|| run_op(op, &Args(&Value::Null), &[]));
        if !matches!(&probe, Ok(Err(e)) if e.contains("unknown to the runner")) {
            errors.push(format!("'{op}' is wired in run_op: remove it from NOT_YET_WIRED"));
        }
    }
    for (name, _) in KNOWN_FAILURES {
        if !cases.iter().any(|(c, _)| c.name == *name) {
            errors.push(format!("KNOWN_FAILURES lists '{name}', which has no gradient fixture"));
        }
    }
    let wired = ops.iter().filter(|op| !NOT_YET_WIRED.iter().any(|(o, _)| o == *op)).count();
    let wired_cases = cases.iter().filter(|(c, _)| !NOT_YET_WIRED.iter().any(|(o, _)| *o == c.op)).count();
    println!(
        "gradient coverage: {wired} of {} ops with gradient fixtures wired ({wired_cases} of {} cases)",
        ops.len(),
        cases.len()
    );
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

#[test]
fn parity_grads_unary() {
    run_family("unary");
}

#[test]
fn parity_grads_param_unary() {
    run_family("param_unary");
}

#[test]
fn parity_grads_binary() {
    run_family("binary");
}

#[test]
fn parity_grads_select() {
    run_family("select");
}

#[test]
fn parity_grads_reduce() {
    run_family("reduce");
}

#[test]
fn parity_grads_matmul() {
    run_family("matmul");
}

#[test]
fn parity_grads_conv() {
    run_family("conv");
}

#[test]
fn parity_grads_softmax() {
    run_family("softmax");
}

#[test]
fn parity_grads_index() {
    run_family("index");
}

#[test]
fn parity_grads_shape() {
    run_family("shape");
}

#[test]
fn parity_grads_cast() {
    run_family("cast");
}

#[test]
fn parity_grads_norm() {
    run_family("norm");
}

#[test]
fn parity_grads_pool() {
    run_family("pool");
}
