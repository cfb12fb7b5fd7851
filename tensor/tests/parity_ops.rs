//! Forward parity of wrt-tensor ops against PyTorch.
//!
//! The fixtures under `tests/fixtures/ops/` are written by `tools/parity/gen_ops.py` (see docs/parity.md):
//! one safetensors file per case with `input.<i>` and `output.<j>` (plus `grad_output.*`/`grad.*`, which only
//! the autograd parity tests read), and `manifest.json` naming each case's op, args, dtype and tolerance.
//! Each `#[test]` here runs the cases of one op family: it loads the inputs, applies the case's `views`
//! (transpose/permute/narrow/slice/expand/unsqueeze/select, so ops see strided inputs with offsets), calls
//! wrt, and compares shape, dtype and values (`|got - want| <= atol + rtol * |want|`, NaN == NaN, inf == inf).
//!
//! A manifest op that no family lists, or that the runner does not know, fails the suite, so coverage cannot
//! drop silently; the exceptions are listed in `NOT_YET_WIRED`. Cases that expose a known wrt bug are listed
//! in `KNOWN_FAILURES`: they must still fail (a fixed bug makes the suite fail until its entry is removed).

use std::panic::catch_unwind;
use wrt_tensor::ops::PadMode;
use wrt_tensor::{DType, Tensor};
use wrt_testkit::serde_json::Value;
use wrt_testkit::{catch, manifest, numbered, view_tensor, views, w, Args, Case, Exceptions, Res};

/// Ops with fixtures but no wrt-tensor entry point yet: (op, why). Their cases are skipped, loudly.
const NOT_YET_WIRED: &[(&str, &str)] = &[
    // wrt-tensor has adaptive average pooling only (ops/pool.rs); adaptive max pooling has no op yet.
    ("adaptive_max_pool2d", "no Tensor::adaptive_max_pool yet"),
];

/// Cases that fail because of a known wrt bug: (case name, the bug). Remove an entry when its bug is fixed.
const KNOWN_FAILURES: &[(&str, &str)] = &[
];

/// Op families, one `#[test]` each. Every op in the manifest must appear here.
const FAMILIES: &[(&str, &[&str])] = &[
    (
        "unary",
        &[
            "neg", "abs", "exp", "expm1", "log", "log1p", "sqrt", "rsqrt", "reciprocal", "square", "sin", "cos", "tanh",
            "sigmoid", "erf", "gelu", "gelu_tanh", "relu", "silu", "softplus", "sign", "floor", "ceil", "round",
        ],
    ),
    ("param_unary", &["affine", "powf", "clamp", "leaky_relu", "elu"]),
    ("binary", &["add", "sub", "mul", "div", "pow", "maximum", "minimum", "atan2", "floor_divide"]),
    ("compare", &["eq", "ne", "lt", "le", "gt", "ge"]),
    ("select_logical", &["where", "masked_fill", "logical_and", "logical_or", "logical_xor", "logical_not"]),
    ("reduce", &["sum", "mean", "max", "min", "logsumexp", "var", "std"]),
    ("arg_cumsum", &["argmax", "argmin", "cumsum"]),
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

// ------------------------------------------------------------------------------------------------ running
// The manifest, args, views and comparison are shared with the autograd parity test: crate wrt-testkit.

/// Apply the case's `views`: a list of [input, view op, params...], in order.
fn apply_views(xs: &mut [Tensor], args: &Value) -> Res<()> {
    for (i, v) in views(args)? {
        xs[i] = view_tensor(&xs[i], &v)?;
    }
    Ok(())
}

fn check_rank(op: &str, x: &Tensor, rank: usize) -> Res<()> {
    if x.rank() != rank {
        return Err(format!("{op} wants a rank-{rank} input, fixture has {:?}", x.shape()));
    }
    Ok(())
}

/// Run one op. `Err` for a wrt error or an op this runner does not know.
fn run_op(op: &str, a: &Args, x: &[Tensor]) -> Res<Vec<Tensor>> {
    let one = |r: wrt_tensor::Result<Tensor>| w(r).map(|t| vec![t]);
    let dims = || a.isizes("dims");
    match op {
        // unary
        "neg" => one(x[0].neg()),
        "abs" => one(x[0].abs()),
        "exp" => one(x[0].exp()),
        "expm1" => one(x[0].expm1()),
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
        "sign" => one(x[0].sign()),
        "floor" => one(x[0].floor()),
        "ceil" => one(x[0].ceil()),
        "round" => one(x[0].round()),
        // parametrised unary
        "affine" => one(x[0].affine(a.f64("mul"), a.f64("add"))),
        "powf" => one(x[0].powf(a.f64("exponent"))),
        "clamp" => one(x[0].clamp(a.opt_f64("min"), a.opt_f64("max"))),
        "leaky_relu" => one(x[0].leaky_relu(a.f64("slope"))),
        "elu" => one(x[0].elu(a.f64("alpha"))),
        // binary (int64 `div` is floor division)
        "add" => one(x[0].add(&x[1])),
        "sub" => one(x[0].sub(&x[1])),
        "mul" => one(x[0].mul(&x[1])),
        "div" | "floor_divide" => one(x[0].div(&x[1])),
        "pow" => one(x[0].pow(&x[1])),
        "maximum" => one(x[0].maximum(&x[1])),
        "minimum" => one(x[0].minimum(&x[1])),
        "atan2" => one(x[0].atan2(&x[1])),
        // comparisons
        "eq" => one(x[0].eq(&x[1])),
        "ne" => one(x[0].ne(&x[1])),
        "lt" => one(x[0].lt(&x[1])),
        "le" => one(x[0].le(&x[1])),
        "gt" => one(x[0].gt(&x[1])),
        "ge" => one(x[0].ge(&x[1])),
        // selection and logic
        "where" => one(x[0].where_cond(&x[1], &x[2])),
        "masked_fill" => one(x[0].masked_fill(&x[1], a.f64("value"))),
        "logical_and" => one(x[0].logical_and(&x[1])),
        "logical_or" => one(x[0].logical_or(&x[1])),
        "logical_xor" => one(x[0].logical_xor(&x[1])),
        "logical_not" => one(x[0].logical_not()),
        // reductions
        "sum" => one(x[0].sum(&dims(), a.bool("keepdim"))),
        "mean" => one(x[0].mean(&dims(), a.bool("keepdim"))),
        "max" => one(x[0].max(&dims(), a.bool("keepdim"))),
        "min" => one(x[0].min(&dims(), a.bool("keepdim"))),
        "logsumexp" => one(x[0].logsumexp(&dims(), a.bool("keepdim"))),
        "var" => one(x[0].var(&dims(), a.usize("correction"), a.bool("keepdim"))),
        "std" => one(x[0].std(&dims(), a.usize("correction"), a.bool("keepdim"))),
        "argmax" => one(x[0].argmax(a.opt_isize("dim"), a.bool("keepdim"))),
        "argmin" => one(x[0].argmin(a.opt_isize("dim"), a.bool("keepdim"))),
        "cumsum" => one(x[0].cumsum(a.isize("dim"))),
        // linear algebra and convolution
        "matmul" => one(x[0].matmul(&x[1])),
        "conv1d" => one(x[0].conv1d(&x[1], x.get(2), &a.conv_spec())),
        "conv2d" => one(x[0].conv2d(&x[1], x.get(2), &a.conv_spec())),
        "conv3d" => one(x[0].conv3d(&x[1], x.get(2), &a.conv_spec())),
        "conv_transpose1d" => {
            check_rank(op, &x[0], 3)?;
            one(x[0].conv_transpose(&x[1], x.get(2), &a.conv_spec()))
        }
        "conv_transpose2d" => one(x[0].conv_transpose2d(&x[1], x.get(2), &a.conv_spec())),
        "conv_transpose3d" => one(x[0].conv_transpose3d(&x[1], x.get(2), &a.conv_spec())),
        "softmax" => one(x[0].softmax(a.isize("dim"))),
        "log_softmax" => one(x[0].log_softmax(a.isize("dim"))),
        // indexing
        "index_select" => one(x[0].index_select(a.isize("dim"), &x[1])),
        "embedding" => one(Tensor::embedding(&x[0], &x[1])),
        "gather" => one(x[0].gather(a.isize("dim"), &x[1])),
        "scatter_add" => one(x[0].scatter_add(a.isize("dim"), &x[1], &x[2])),
        "index_add" => one(x[0].index_add(a.isize("dim"), &x[1], &x[2])),
        // layout
        "cat" => one(Tensor::cat(x, a.isize("dim"))),
        "stack" => one(Tensor::stack(x, a.isize("dim"))),
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
        "contiguous" => {
            let y = w(x[0].contiguous())?;
            if !y.is_contiguous() {
                return Err(format!("contiguous() returned strides {:?} for shape {:?}", y.strides(), y.shape()));
            }
            Ok(vec![y])
        }
        "reshape" => one(x[0].reshape(&a.isizes("shape"))),
        "cast" => one(x[0].to_dtype(w(DType::parse(a.str("to")))?)),
        // normalisation
        "layer_norm" => one(x[0].layer_norm(&a.usizes("normalized_shape"), x.get(1), x.get(2), a.f64("eps"))),
        "group_norm" => one(x[0].group_norm(a.usize("groups"), x.get(1), x.get(2), a.f64("eps"))),
        "batch_norm" => {
            // inputs: x, running_mean, running_var, weight, bias; training also returns the updated running stats
            let (eps, momentum) = (a.f64("eps"), a.f64("momentum"));
            if a.bool("training") {
                let (rm, rv) = (x[1].deep_clone(), x[2].deep_clone());
                let n = w(x[0].batch_norm_train(Some(&x[3]), Some(&x[4]), Some(&rm), Some(&rv), momentum, eps))?;
                Ok(vec![n.out, rm, rv])
            } else {
                one(x[0].batch_norm_eval(&x[1], &x[2], Some(&x[3]), Some(&x[4]), eps))
            }
        }
        // pooling
        "max_pool1d" => {
            check_rank(op, &x[0], 3)?;
            w(x[0].max_pool(&a.pool_spec())).map(|(v, _)| vec![v])
        }
        "max_pool2d" => one(x[0].max_pool2d(&a.pool_spec())),
        "max_pool3d" => one(x[0].max_pool3d(&a.pool_spec())),
        "avg_pool1d" => {
            check_rank(op, &x[0], 3)?;
            one(x[0].avg_pool(&a.pool_spec()))
        }
        "avg_pool2d" => one(x[0].avg_pool2d(&a.pool_spec())),
        "avg_pool3d" => one(x[0].avg_pool3d(&a.pool_spec())),
        "adaptive_avg_pool1d" => {
            check_rank(op, &x[0], 3)?;
            one(x[0].adaptive_avg_pool(&a.usizes("output_size")))
        }
        "adaptive_avg_pool2d" => {
            check_rank(op, &x[0], 4)?;
            one(x[0].adaptive_avg_pool(&a.usizes("output_size")))
        }
        _ => Err(format!("op '{op}' is unknown to the runner (add an arm to run_op, or list it in NOT_YET_WIRED)")),
    }
}

fn run_case(c: &Case) -> Res<()> {
    let map = c.load()?;
    let mut inputs = numbered(&map, "input");
    let want = numbered(&map, "output");
    apply_views(&mut inputs, &c.args)?;
    let got = catch(|| run_op(&c.op, &c.args(), &inputs))?;
    if got.len() != want.len() {
        return Err(format!("{} outputs, fixture has {}", got.len(), want.len()));
    }
    for (j, (g, e)) in got.iter().zip(&want).enumerate() {
        wrt_testkit::compare(&format!("output.{j}"), g, e, c.rtol, c.atol)?;
    }
    Ok(())
}

fn family_ops(family: &str) -> &'static [&'static str] {
    FAMILIES.iter().find(|(f, _)| *f == family).unwrap_or_else(|| panic!("no family {family}")).1
}

fn run_family(family: &str) {
    let ops = family_ops(family);
    let ex = Exceptions { not_yet_wired: NOT_YET_WIRED, known_failures: KNOWN_FAILURES };
    wrt_testkit::run_family(family, "parity", manifest().iter().filter(|c| ops.contains(&c.op.as_str())), &ex, run_case);
}

// ------------------------------------------------------------------------------------------------ tests

/// Every op in the manifest belongs to a family (so some test runs it), and the exception lists name real things.
#[test]
fn manifest_ops_are_all_covered() {
    let cases = manifest();
    assert!(!cases.is_empty(), "empty manifest");
    let mut errors = Vec::new();
    for c in cases {
        if !FAMILIES.iter().any(|(_, ops)| ops.contains(&c.op.as_str())) {
            errors.push(format!("case {}: op '{}' is in no family (add it to FAMILIES and run_op)", c.name, c.op));
        }
    }
    for (op, _) in NOT_YET_WIRED {
        if !cases.iter().any(|c| c.op == *op) {
            errors.push(format!("NOT_YET_WIRED lists '{op}', which has no cases"));
        }
    }
    for (name, _) in KNOWN_FAILURES {
        if !cases.iter().any(|c| c.name == *name) {
            errors.push(format!("KNOWN_FAILURES lists '{name}', which is not in the manifest"));
        }
    }
    // An op the runner knows must not hide in NOT_YET_WIRED: probe with no inputs (unknown ops answer without
    // touching them; known ops panic on the empty input list, which proves they are wired).
    for (op, _) in NOT_YET_WIRED {
        let probe = catch_unwind(|| run_op(op, &Args(&Value::Null), &[]));
        if !matches!(&probe, Ok(Err(e)) if e.contains("unknown to the runner")) {
            errors.push(format!("'{op}' is wired in run_op: remove it from NOT_YET_WIRED"));
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

#[test]
fn parity_unary() {
    run_family("unary");
}

#[test]
fn parity_param_unary() {
    run_family("param_unary");
}

#[test]
fn parity_binary() {
    run_family("binary");
}

#[test]
fn parity_compare() {
    run_family("compare");
}

#[test]
fn parity_select_logical() {
    run_family("select_logical");
}

#[test]
fn parity_reduce() {
    run_family("reduce");
}

#[test]
fn parity_arg_cumsum() {
    run_family("arg_cumsum");
}

#[test]
fn parity_matmul() {
    run_family("matmul");
}

#[test]
fn parity_conv() {
    run_family("conv");
}

#[test]
fn parity_softmax() {
    run_family("softmax");
}

#[test]
fn parity_index() {
    run_family("index");
}

#[test]
fn parity_shape() {
    run_family("shape");
}

#[test]
fn parity_cast() {
    run_family("cast");
}

#[test]
fn parity_norm() {
    run_family("norm");
}

#[test]
fn parity_pool() {
    run_family("pool");
}
