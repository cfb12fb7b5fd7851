#!/usr/bin/env python3
"""Forward-op parity fixtures for wrt-tensor, with PyTorch as the oracle.

Writes one safetensors file per case to tests/fixtures/ops/<case>.safetensors and one manifest,
tests/fixtures/ops/manifest.json. Each file holds

    input.<i>        the inputs, in call order, as stored (contiguous; a case's "views" are applied by the reader)
    output.<j>       torch's outputs
    grad_output.<j>  (differentiable float cases) a random upstream gradient, one per float output
    grad.<i>         (same) d sum_j(output.<j> * grad_output.<j>) / d input.<i>, for every float input i,
                     taken w.r.t. the stored input (so through the views)

A case's args may hold "views": a list of [input_index, view_op, params...] applied in order to the inputs
before the op (so the op sees strided views with offsets):
    [i, "transpose", a, b]  [i, "permute", [dims]]  [i, "narrow", dim, start, len]
    [i, "slice", dim, start, end, step]  [i, "expand", [sizes]]  [i, "unsqueeze", dim]  [i, "select", dim, idx]

Every case seeds torch with crc32(case name) before drawing its inputs, so a regeneration is byte-identical
and adding a case does not change the others. Floats that JSON cannot hold (inf, nan) are written in args as
the strings "inf", "-inf", "nan".

Usage (from the repository root):  python tools/parity/gen_ops.py
"""

import json
import math
import os
import sys
import warnings
import zlib

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT_DIR = os.path.join(ROOT, "tests", "fixtures", "ops")
SCRIPT = "tools/parity/gen_ops.py"

F32, F64, F16, BF16, I64, BOOL = torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64, torch.bool
DTYPE_NAME = {F32: "f32", F64: "f64", F16: "f16", BF16: "bf16", I64: "i64", BOOL: "bool", torch.uint8: "u8"}
INF, NAN = math.inf, math.nan

# (rtol, atol) per dtype. "long": matmul/conv with K > 64 and long reductions.
TOL = {
    "default": {F32: (1e-5, 1e-6), F64: (1e-10, 1e-12), BF16: (1e-2, 1e-3), F16: (2e-3, 1e-4)},
    "long": {F32: (1e-4, 1e-5), F64: (1e-10, 1e-11), BF16: (1e-2, 1e-2), F16: (2e-3, 1e-3)},
}

# ----------------------------------------------------------------------------------------------------------
# Input specs: materialised after the case's seed is set.


def randn(*shape, dtype=F32, scale=1.0, shift=0.0):
    return ("randn", shape, dtype, scale, shift)


def rand(*shape, dtype=F32, lo=0.0, hi=1.0):
    return ("rand", shape, dtype, lo, hi)


def randint(*shape, lo=0, hi=10, dtype=I64):
    return ("randint", shape, dtype, lo, hi)


def nonzero(*shape, dtype=F32, lo=0.25, hi=2.0):
    """Random values with |x| in [lo, hi) and a random sign (divisors)."""
    return ("nonzero", shape, dtype, lo, hi)


def boolean(*shape):
    return ("bool", shape)


def vals(values, dtype=F32, shape=None):
    t = torch.tensor(values, dtype=F64 if dtype in (F32, F16, BF16, F64) else dtype)
    t = t.to(dtype)
    return t.reshape(shape) if shape is not None else t


def materialise(spec):
    if isinstance(spec, torch.Tensor):
        return spec.clone()
    kind = spec[0]
    if kind == "randn":
        _, shape, dtype, scale, shift = spec
        return (torch.randn(shape, dtype=F64) * scale + shift).to(dtype)
    if kind == "rand":
        _, shape, dtype, lo, hi = spec
        return (torch.rand(shape, dtype=F64) * (hi - lo) + lo).to(dtype)
    if kind == "randint":
        _, shape, dtype, lo, hi = spec
        return torch.randint(lo, hi, shape, dtype=I64).to(dtype)
    if kind == "nonzero":
        _, shape, dtype, lo, hi = spec
        mag = torch.rand(shape, dtype=F64) * (hi - lo) + lo
        sign = torch.where(torch.rand(shape) < 0.5, -1.0, 1.0).to(F64)
        return (mag * sign).to(dtype)
    if kind == "bool":
        return torch.rand(spec[1]) < 0.5
    raise ValueError(spec)


# ----------------------------------------------------------------------------------------------------------
# Views, applied identically by the Rust reader.


def apply_views(xs, views):
    xs = list(xs)
    for v in views or []:
        i, op, p = v[0], v[1], v[2:]
        t = xs[i]
        if op == "transpose":
            t = t.transpose(p[0], p[1])
        elif op == "permute":
            t = t.permute(*p[0])
        elif op == "narrow":
            t = t.narrow(p[0], p[1], p[2])
        elif op == "slice":
            idx = [slice(None)] * t.dim()
            idx[p[0]] = slice(p[1], p[2], p[3])
            t = t[tuple(idx)]
        elif op == "expand":
            t = t.expand(*p[0])
        elif op == "unsqueeze":
            t = t.unsqueeze(p[0])
        elif op == "select":
            t = t.select(p[0], p[1])
        else:
            raise ValueError(f"unknown view {op}")
        xs[i] = t
    return xs


# ----------------------------------------------------------------------------------------------------------
# The ops: name -> fn(inputs, args) -> tensor or tuple of tensors. The Rust runner has one arm per name.

UNARY = {
    "neg": torch.neg, "abs": torch.abs, "exp": torch.exp, "expm1": torch.expm1, "log": torch.log,
    "log1p": torch.log1p, "sqrt": torch.sqrt, "rsqrt": torch.rsqrt, "reciprocal": torch.reciprocal,
    "square": torch.square, "sin": torch.sin, "cos": torch.cos, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
    "erf": torch.erf, "gelu": lambda x: F.gelu(x), "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "relu": torch.relu, "silu": F.silu, "softplus": F.softplus, "sign": torch.sign, "floor": torch.floor,
    "ceil": torch.ceil, "round": torch.round,
}
BINARY = {
    "add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div, "pow": torch.pow,
    "maximum": torch.maximum, "minimum": torch.minimum, "atan2": torch.atan2,
    "floor_divide": lambda a, b: torch.div(a, b, rounding_mode="floor"),
}
COMPARE = {"eq": torch.eq, "ne": torch.ne, "lt": torch.lt, "le": torch.le, "gt": torch.gt, "ge": torch.ge}
LOGICAL = {"logical_and": torch.logical_and, "logical_or": torch.logical_or, "logical_xor": torch.logical_xor}
CAST_TO = {"f32": F32, "f64": F64, "f16": F16, "bf16": BF16, "i64": I64, "bool": BOOL}


def arg_float(v):
    return float(v) if not isinstance(v, str) else float(v)


def all_dims(x, dims):
    return tuple(dims) if dims else tuple(range(x.dim()))


def reduce_op(op, x, a):
    dims, keep = all_dims(x, a["dims"]), a["keepdim"]
    if op == "sum":
        return torch.sum(x, dim=dims, keepdim=keep)
    if op == "mean":
        return torch.mean(x, dim=dims, keepdim=keep)
    if op == "max":
        return torch.amax(x, dim=dims, keepdim=keep)
    if op == "min":
        return torch.amin(x, dim=dims, keepdim=keep)
    if op == "logsumexp":
        return torch.logsumexp(x, dim=dims, keepdim=keep)
    if op == "var":
        return torch.var(x, dim=dims, correction=a["correction"], keepdim=keep)
    if op == "std":
        return torch.std(x, dim=dims, correction=a["correction"], keepdim=keep)
    raise ValueError(op)


def conv_kw(a):
    return dict(stride=a["stride"], padding=a["padding"], dilation=a["dilation"], groups=a["groups"])


def run_op(op, xs, a):
    if op in UNARY:
        return UNARY[op](xs[0])
    if op in BINARY:
        return BINARY[op](xs[0], xs[1])
    if op in COMPARE:
        return COMPARE[op](xs[0], xs[1])
    if op in LOGICAL:
        return LOGICAL[op](xs[0], xs[1])
    if op == "logical_not":
        return torch.logical_not(xs[0])
    if op == "affine":
        return xs[0] * a["mul"] + a["add"]
    if op == "powf":
        return torch.pow(xs[0], a["exponent"])
    if op == "clamp":
        return torch.clamp(xs[0], min=a.get("min"), max=a.get("max"))
    if op == "leaky_relu":
        return F.leaky_relu(xs[0], a["slope"])
    if op == "elu":
        return F.elu(xs[0], a["alpha"])
    if op == "where":
        return torch.where(xs[0], xs[1], xs[2])
    if op == "masked_fill":
        return xs[0].masked_fill(xs[1], arg_float(a["value"]))
    if op in ("sum", "mean", "max", "min", "logsumexp", "var", "std"):
        return reduce_op(op, xs[0], a)
    if op in ("argmax", "argmin"):
        f = torch.argmax if op == "argmax" else torch.argmin
        return f(xs[0], dim=a["dim"], keepdim=a["keepdim"])
    if op == "cumsum":
        return torch.cumsum(xs[0], dim=a["dim"])
    if op == "matmul":
        return torch.matmul(xs[0], xs[1])
    if op in ("conv1d", "conv2d", "conv3d"):
        f = {"conv1d": F.conv1d, "conv2d": F.conv2d, "conv3d": F.conv3d}[op]
        return f(xs[0], xs[1], xs[2] if len(xs) > 2 else None, **conv_kw(a))
    if op in ("conv_transpose1d", "conv_transpose2d", "conv_transpose3d"):
        f = {"conv_transpose1d": F.conv_transpose1d, "conv_transpose2d": F.conv_transpose2d,
             "conv_transpose3d": F.conv_transpose3d}[op]
        return f(xs[0], xs[1], xs[2] if len(xs) > 2 else None, stride=a["stride"], padding=a["padding"],
                 output_padding=a["output_padding"], groups=a["groups"], dilation=a["dilation"])
    if op == "softmax":
        return torch.softmax(xs[0], dim=a["dim"])
    if op == "log_softmax":
        return torch.log_softmax(xs[0], dim=a["dim"])
    if op == "index_select":
        return torch.index_select(xs[0], a["dim"], xs[1])
    if op == "embedding":
        return F.embedding(xs[1], xs[0])  # inputs: (weight, ids), like Tensor::embedding(weight, ids)
    if op == "gather":
        return torch.gather(xs[0], a["dim"], xs[1])
    if op == "scatter_add":
        return torch.scatter_add(xs[0], a["dim"], xs[1], xs[2])
    if op == "index_add":
        return torch.index_add(xs[0], a["dim"], xs[1], xs[2])
    if op == "cat":
        return torch.cat(xs, dim=a["dim"])
    if op == "stack":
        return torch.stack(xs, dim=a["dim"])
    if op == "pad":
        if a["mode"] == "constant":
            return F.pad(xs[0], a["pads"], mode="constant", value=arg_float(a["value"]))
        return F.pad(xs[0], a["pads"], mode=a["mode"])
    if op == "roll":
        return torch.roll(xs[0], shifts=a["shifts"], dims=a["dims"])
    if op == "tril":
        return torch.tril(xs[0], a["k"])
    if op == "triu":
        return torch.triu(xs[0], a["k"])
    if op == "cast":
        return xs[0].to(CAST_TO[a["to"]])
    if op == "contiguous":
        return xs[0].contiguous()
    if op == "reshape":
        return xs[0].reshape(a["shape"])
    # Ops that wrt-tensor may not expose yet (the Rust test lists them in NOT_YET_WIRED).
    if op == "layer_norm":
        w = xs[1] if len(xs) > 1 else None
        b = xs[2] if len(xs) > 2 else None
        return F.layer_norm(xs[0], a["normalized_shape"], w, b, eps=a["eps"])
    if op == "group_norm":
        return F.group_norm(xs[0], a["groups"], xs[1], xs[2], eps=a["eps"])
    if op == "batch_norm":
        # inputs: x, running_mean, running_var, weight, bias; outputs: y (+ updated running stats if training)
        rm, rv = xs[1].detach().clone(), xs[2].detach().clone()
        y = F.batch_norm(xs[0], rm, rv, xs[3], xs[4], training=a["training"], momentum=a["momentum"], eps=a["eps"])
        return (y, rm, rv) if a["training"] else y
    if op in ("max_pool1d", "max_pool2d", "max_pool3d"):
        f = {"max_pool1d": F.max_pool1d, "max_pool2d": F.max_pool2d, "max_pool3d": F.max_pool3d}[op]
        return f(xs[0], a["kernel"], a["stride"], a["padding"], a["dilation"], ceil_mode=a["ceil_mode"])
    if op in ("avg_pool1d", "avg_pool2d", "avg_pool3d"):
        f = {"avg_pool1d": F.avg_pool1d, "avg_pool2d": F.avg_pool2d, "avg_pool3d": F.avg_pool3d}[op]
        return f(xs[0], a["kernel"], a["stride"], a["padding"], ceil_mode=a["ceil_mode"],
                 count_include_pad=a["count_include_pad"])
    if op == "adaptive_avg_pool1d":
        return F.adaptive_avg_pool1d(xs[0], a["output_size"])
    if op == "adaptive_avg_pool2d":
        return F.adaptive_avg_pool2d(xs[0], a["output_size"])
    if op == "adaptive_max_pool2d":
        return F.adaptive_max_pool2d(xs[0], a["output_size"])
    raise ValueError(f"no torch reference for op {op}")


# Ops whose result is exactly determined (selection, data movement, sign flips, casts): compared exactly.
EXACT_OPS = {
    "neg", "abs", "relu", "sign", "floor", "ceil", "round", "clamp", "maximum", "minimum", "where", "masked_fill",
    "max", "min", "argmax", "argmin", "index_select", "embedding", "gather", "cat", "stack", "pad", "roll", "tril",
    "triu", "cast", "contiguous", "reshape", "max_pool1d", "max_pool2d", "max_pool3d", "adaptive_max_pool2d",
    "floor_divide", "eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_xor", "logical_not",
}
# Ops with no gradient (integer or boolean results, or piecewise-constant index outputs).
NO_GRAD_OPS = {"argmax", "argmin", "eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_xor",
               "logical_not", "floor_divide"}

# ----------------------------------------------------------------------------------------------------------

CASES = []
NAMES = set()


def jsonable(v):
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, dict):
        return {k: jsonable(x) for k, x in v.items()}
    return v


def case(name, op, inputs, tol="default", **args):
    """Register a case. `inputs` are specs or tensors; `args` go to the manifest (and `views`)."""
    assert name not in NAMES, f"duplicate case name {name}"
    assert all(c.isalnum() or c in "_-." for c in name), name
    NAMES.add(name)
    CASES.append((name, op, inputs, tol, args))


def build(name, op, specs, tol, args):
    torch.manual_seed(zlib.crc32(name.encode()))
    inputs = [materialise(s).contiguous() for s in specs]
    float_in = [i for i, t in enumerate(inputs) if t.is_floating_point()]
    differentiable = op not in NO_GRAD_OPS and bool(float_in)
    leaves = [t.detach().clone().requires_grad_(i in float_in and differentiable) for i, t in enumerate(inputs)]
    with torch.enable_grad() if differentiable else torch.no_grad():
        outs = run_op(op, apply_views(leaves, args.get("views")), args)
    outs = list(outs) if isinstance(outs, tuple) else [outs]
    tensors = {f"input.{i}": t.detach().contiguous() for i, t in enumerate(inputs)}
    for j, o in enumerate(outs):
        tensors[f"output.{j}"] = o.detach().contiguous()
    grad_outs = [(j, o) for j, o in enumerate(outs) if o.is_floating_point() and o.requires_grad]
    if differentiable and grad_outs:
        gos = [torch.randn(o.shape, dtype=F64).to(o.dtype) for _, o in grad_outs]
        total = sum((o.to(F64) * g.to(F64)).sum() for (_, o), g in zip(grad_outs, gos))
        wrt = [leaves[i] for i in float_in]
        try:
            grads = torch.autograd.grad(total, wrt, allow_unused=True)
        except RuntimeError as e:  # torch has no (correct) backward for this call: store no gradients
            print(f"note: {name}: no gradients ({str(e).splitlines()[0]})", file=sys.stderr)
            grads = None
        if grads is not None:
            for (j, _), g in zip(grad_outs, gos):
                tensors[f"grad_output.{j}"] = g.contiguous()
            for i, g in zip(float_in, grads):
                tensors[f"grad.{i}"] = (torch.zeros_like(inputs[i]) if g is None else g).detach().contiguous()
    out_dtype = outs[0].dtype
    case_dtype = inputs[0].dtype
    if op in EXACT_OPS or not out_dtype.is_floating_point:
        rtol, atol = 0.0, 0.0
    else:
        rtol, atol = TOL[tol][out_dtype]
    entry = {"name": name, "op": op, "args": jsonable(args), "dtype": DTYPE_NAME[case_dtype], "rtol": rtol, "atol": atol}
    return tensors, entry


# ----------------------------------------------------------------------------------------------------------
# Cases

EXTREME = [-INF, -1000.0, -100.0, -88.0, -20.5, -10.0, -2.5, -1.5, -1.0, -0.5, -1e-7, -0.0, 0.0, 1e-7, 0.5,
           1.0, 1.5, 2.5, 10.0, 20.5, 88.0, 89.0, 100.0, 1000.0, INF, NAN]
POSITIVE_DOMAIN = {"log", "sqrt", "rsqrt"}
INT_UNARY = {"neg", "abs", "square", "sign", "relu"}
HALF_EXTREME = {"exp", "expm1", "log", "log1p", "sigmoid", "softplus", "gelu", "gelu_tanh", "silu", "tanh", "erf",
                "rsqrt", "reciprocal", "round"}


def unary_domain(op, *shape, dtype=F32):
    if op in POSITIVE_DOMAIN:
        return rand(*shape, dtype=dtype, lo=0.05, hi=4.0)
    if op == "log1p":
        return rand(*shape, dtype=dtype, lo=-0.9, hi=4.0)
    if op == "reciprocal":
        return nonzero(*shape, dtype=dtype)
    if op in ("round", "floor", "ceil"):
        return randn(*shape, dtype=dtype, scale=4.0)
    return randn(*shape, dtype=dtype, scale=2.0)


def unary_cases():
    for op in UNARY:
        case(f"{op}_f32", op, [unary_domain(op, 7, 13)])
        # transposed, then every other row from 1: strides (1, 2*9) and offset 1
        case(f"{op}_f32_strided", op, [unary_domain(op, 9, 6)], views=[[0, "transpose", 0, 1], [0, "slice", 1, 1, 9, 2]])
        # torch's vectorised f32/bf16 GELU returns NaN at +inf while its scalar and f64 paths return inf (it
        # depends on the tensor's length), so the half and single precision extremes leave +inf out for GELU.
        ext = [v for v in EXTREME if not (op == "gelu" and v == INF)]
        case(f"{op}_f32_extreme", op, [vals(ext)])
        if op in HALF_EXTREME:
            case(f"{op}_bf16_extreme", op, [vals(ext, BF16)])
            case(f"{op}_f16_extreme", op, [vals(ext, F16)])
        case(f"{op}_f64", op, [unary_domain(op, 5, 3, dtype=F64)])
        case(f"{op}_f64_extreme", op, [vals(EXTREME, F64)])
        case(f"{op}_bf16", op, [unary_domain(op, 4, 7, dtype=BF16)])
        case(f"{op}_f16", op, [unary_domain(op, 3, 5, dtype=F16)])
        case(f"{op}_f32_empty", op, [randn(0, 3)])
        case(f"{op}_f32_scalar", op, [unary_domain(op)])
        if op in INT_UNARY:
            case(f"{op}_i64", op, [randint(4, 5, lo=-9, hi=10)])


def param_unary_cases():
    for dt, sfx in ((F32, "f32"), (F64, "f64"), (BF16, "bf16")):
        case(f"affine_{sfx}", "affine", [randn(5, 7, dtype=dt)], mul=1.75, add=-0.5)
        case(f"powf_sq_{sfx}", "powf", [randn(6, 5, dtype=dt)], exponent=2.0)
        case(f"powf_sqrt_{sfx}", "powf", [rand(6, 5, dtype=dt, lo=0.0, hi=3.0)], exponent=0.5)
        case(f"clamp_both_{sfx}", "clamp", [randn(4, 9, dtype=dt)], min=-0.5, max=0.75)
        case(f"leaky_relu_{sfx}", "leaky_relu", [randn(3, 11, dtype=dt)], slope=0.01)
        case(f"elu_{sfx}", "elu", [randn(3, 11, dtype=dt, scale=3.0)], alpha=1.0)
    case("affine_f32_strided", "affine", [randn(6, 5)], mul=-3.0, add=0.25, views=[[0, "transpose", 0, 1]])
    case("powf_neg_exp_f32", "powf", [rand(9, dtype=F32, lo=0.1, hi=3.0)], exponent=-1.5)
    case("powf_cube_negative_base_f32", "powf", [vals([-2.0, -1.5, -0.5, 0.0, 0.5, 1.5, 2.0])], exponent=3.0)
    case("powf_frac_negative_base_f32", "powf", [vals([-2.0, -0.5, 0.0, 0.5, 2.0, INF, NAN])], exponent=0.5)
    case("powf_zero_exp_f32", "powf", [vals([-2.0, 0.0, 3.0, INF, NAN])], exponent=0.0)
    case("clamp_min_f32", "clamp", [randn(4, 9)], min=0.1)
    case("clamp_max_f32", "clamp", [randn(4, 9)], max=-0.1)
    case("clamp_nan_f32", "clamp", [vals([NAN, -INF, INF, -3.0, 0.0, 3.0])], min=-1.0, max=1.0)
    # integer bounds: torch promotes an int64 tensor clamped by float bounds to float; wrt keeps int64
    case("clamp_i64", "clamp", [randint(3, 7, lo=-20, hi=20)], min=-5, max=6)
    case("clamp_min_i64", "clamp", [randint(3, 7, lo=-20, hi=20)], min=-3)
    case("clamp_f32_strided", "clamp", [randn(8, 6)], min=-0.3, max=0.3, views=[[0, "slice", 0, 1, 8, 3]])
    case("leaky_relu_slope_f32", "leaky_relu", [vals(EXTREME)], slope=0.2)
    case("elu_alpha_f32", "elu", [vals(EXTREME)], alpha=0.5)
    case("elu_f32_strided", "elu", [randn(5, 8)], alpha=1.3, views=[[0, "permute", [1, 0]]])


def binary_cases():
    for op in ("add", "sub", "mul", "div", "pow", "maximum", "minimum", "atan2"):
        lhs = (lambda *s, dtype=F32: rand(*s, dtype=dtype, lo=0.1, hi=2.5)) if op == "pow" else \
            (lambda *s, dtype=F32: randn(*s, dtype=dtype))
        rhs = (lambda *s, dtype=F32: nonzero(*s, dtype=dtype)) if op == "div" else \
            (lambda *s, dtype=F32: randn(*s, dtype=dtype))
        case(f"{op}_f32", op, [lhs(5, 7), rhs(5, 7)])
        case(f"{op}_f32_bcast", op, [lhs(4, 1, 6), rhs(3, 1)])
        case(f"{op}_f32_bcast_lhs", op, [lhs(1, 5), rhs(3, 2, 5)])
        case(f"{op}_f32_scalar_rhs", op, [lhs(3, 5), rhs()])
        case(f"{op}_f32_strided", op, [lhs(6, 4), rhs(13, 5)],
             views=[[0, "transpose", 0, 1], [1, "slice", 0, 2, 13, 2], [1, "narrow", 1, 1, 4], [1, "transpose", 0, 1]])
        case(f"{op}_f32_expand", op, [lhs(1, 7), rhs(4, 7)], views=[[0, "expand", [4, 7]]])
        case(f"{op}_f32_empty", op, [lhs(0, 3), rhs(1, 3)])
        case(f"{op}_f64_bcast", op, [lhs(3, 1, 5, dtype=F64), rhs(4, 1, dtype=F64)])
        case(f"{op}_bf16", op, [lhs(3, 7, dtype=BF16), rhs(7, dtype=BF16)])
        case(f"{op}_f16", op, [lhs(3, 7, dtype=F16), rhs(3, 1, dtype=F16)])
    # integer arithmetic
    for op in ("add", "sub", "mul", "maximum", "minimum"):
        case(f"{op}_i64", op, [randint(4, 5, lo=-50, hi=50), randint(5, lo=-50, hi=50)])
    case("pow_i64", "pow", [randint(3, 4, lo=-5, hi=6), randint(4, lo=0, hi=5)])
    case("floor_divide_i64", "floor_divide", [randint(5, 6, lo=-40, hi=40), vals([-7, -3, -1, 1, 2, 5], I64)])
    case("floor_divide_i64_bcast", "floor_divide", [vals([-7, -6, -1, 0, 1, 6, 7], I64, shape=[7, 1]),
                                                    vals([-3, -2, 2, 3], I64)])
    # special values
    sp = [-INF, -2.0, -1.0, -0.0, 0.0, 0.5, 1.0, 3.0, INF, NAN]
    a = vals([[x for x in sp] for _ in sp])
    b = vals([[y for _ in sp] for y in sp])
    for op in ("add", "sub", "mul", "div", "pow", "maximum", "minimum", "atan2"):
        case(f"{op}_f32_special", op, [a, b])
    case("pow_f64_special", "pow", [a.to(F64), b.to(F64)])
    case("atan2_f64_special", "atan2", [a.to(F64), b.to(F64)])


def compare_cases():
    for op in COMPARE:
        case(f"{op}_f32_ties", op, [randint(5, 7, lo=-2, hi=3, dtype=F32), randint(5, 7, lo=-2, hi=3, dtype=F32)])
        case(f"{op}_f32_bcast", op, [randint(4, 1, 3, lo=-2, hi=3, dtype=F32), randint(5, 1, lo=-2, hi=3, dtype=F32)])
        case(f"{op}_f32_nan", op, [vals([NAN, 1.0, NAN, -INF, INF, 0.0]), vals([NAN, NAN, 1.0, -INF, 1.0, -0.0])])
        case(f"{op}_i64", op, [randint(3, 6, lo=-3, hi=3), randint(6, lo=-3, hi=3)])
        case(f"{op}_bf16_strided", op, [randint(6, 4, lo=-2, hi=3, dtype=BF16), randint(4, 6, lo=-2, hi=3, dtype=BF16)],
             views=[[0, "transpose", 0, 1]])
        case(f"{op}_f64_empty", op, [randn(0, 4, dtype=F64), randn(4, dtype=F64)])


def select_cases():
    case("where_f32_bcast", "where", [boolean(4, 1), randn(4, 5), randn(5)])
    case("where_f32_strided", "where", [boolean(5, 6), randn(6, 5), randn(1)], views=[[1, "transpose", 0, 1]])
    case("where_i64", "where", [boolean(3, 4), randint(3, 4, lo=-5, hi=5), randint(1, 4, lo=-5, hi=5)])
    case("where_bf16", "where", [boolean(2, 3, 4), randn(3, 4, dtype=BF16), randn(2, 1, 4, dtype=BF16)])
    case("where_f64_empty", "where", [boolean(0, 3), randn(0, 3, dtype=F64), randn(3, dtype=F64)])
    case("masked_fill_f32_neginf", "masked_fill", [randn(3, 4, 5), boolean(4, 1)], value=-INF)
    case("masked_fill_f32", "masked_fill", [randn(3, 7), boolean(3, 7)], value=0.5)
    case("masked_fill_f32_strided", "masked_fill", [randn(7, 3), boolean(7)], value=2.0, views=[[0, "transpose", 0, 1]])
    case("masked_fill_bf16", "masked_fill", [randn(2, 6, dtype=BF16), boolean(6)], value=-1.25)
    case("masked_fill_i64", "masked_fill", [randint(4, 3, lo=-9, hi=9), boolean(4, 3)], value=7.0)
    for op in LOGICAL:
        case(f"{op}_bool", op, [boolean(4, 5), boolean(5)])
        case(f"{op}_f32", op, [randint(3, 4, lo=-1, hi=2, dtype=F32), randint(4, lo=-1, hi=2, dtype=F32)])
        case(f"{op}_bool_strided", op, [boolean(5, 3), boolean(3, 5)], views=[[0, "transpose", 0, 1]])
    case("logical_not_bool", "logical_not", [boolean(3, 5)])
    case("logical_not_f32", "logical_not", [vals([0.0, -0.0, 1.0, -2.0, NAN, INF])])
    case("logical_not_i64", "logical_not", [randint(2, 5, lo=-1, hi=2)])


def reduce_cases():
    for op in ("sum", "mean", "max", "min", "logsumexp", "var", "std"):
        extra = {"correction": 1} if op in ("var", "std") else {}
        case(f"{op}_f32_dim1", op, [randn(4, 7, 5)], dims=[1], keepdim=False, **extra)
        case(f"{op}_f32_dims02_keep", op, [randn(4, 7, 5)], dims=[0, 2], keepdim=True, **extra)
        case(f"{op}_f32_dims12", op, [randn(3, 5, 6)], dims=[1, 2], keepdim=False, **extra)
        case(f"{op}_f32_all", op, [randn(3, 5, 6)], dims=[], keepdim=False, **extra)
        case(f"{op}_f32_all_keep", op, [randn(3, 5)], dims=[], keepdim=True, **extra)
        case(f"{op}_f32_last_strided", op, [randn(6, 4, 5)], dims=[-1], keepdim=False,
             views=[[0, "transpose", 0, 2], [0, "slice", 0, 1, 5, 1]], **extra)
        case(f"{op}_f32_neg_dim_keep", op, [randn(2, 3, 4)], dims=[-2], keepdim=True, **extra)
        case(f"{op}_f32_long", op, [randn(3, 300)], tol="long", dims=[1], keepdim=False, **extra)
        case(f"{op}_f32_long_all", op, [randn(17, 61)], tol="long", dims=[], keepdim=False, **extra)
        case(f"{op}_f64", op, [randn(4, 9, dtype=F64)], dims=[0], keepdim=False, **extra)
        case(f"{op}_bf16", op, [randn(3, 20, dtype=BF16)], dims=[1], keepdim=False, **extra)
        case(f"{op}_f16", op, [randn(5, 6, dtype=F16)], dims=[0], keepdim=True, **extra)
        case(f"{op}_f32_expand", op, [randn(1, 6)], dims=[0], keepdim=False, views=[[0, "expand", [5, 6]]], **extra)
        if op not in ("max", "min"):  # max/min over an empty dim is an error in torch and wrt
            case(f"{op}_f32_empty", op, [randn(0, 4)], dims=[0], keepdim=False, **extra)
        case(f"{op}_f32_empty_outer", op, [randn(0, 4)], dims=[1], keepdim=False, **extra)
        case(f"{op}_f32_strided_dims02", op, [randn(5, 4, 6)], dims=[0, 2], keepdim=False,
             views=[[0, "permute", [2, 0, 1]], [0, "narrow", 1, 1, 3]], **extra)
    for op in ("var", "std"):
        case(f"{op}_f32_biased", op, [randn(4, 7, 5)], dims=[1], keepdim=False, correction=0)
        case(f"{op}_f32_biased_all", op, [randn(6, 5)], dims=[], keepdim=True, correction=0)
        case(f"{op}_f64_biased", op, [randn(5, 8, dtype=F64)], dims=[1], keepdim=False, correction=0)
        case(f"{op}_f32_single", op, [randn(4, 1)], dims=[1], keepdim=False, correction=1)
        case(f"{op}_f32_offset_mean", op, [randn(3, 50, shift=1000.0)], dims=[1], keepdim=False, correction=1)
    for op in ("sum", "max", "min"):
        case(f"{op}_i64", op, [randint(4, 6, lo=-100, hi=100)], dims=[1], keepdim=False)
        case(f"{op}_i64_all", op, [randint(3, 5, lo=-100, hi=100)], dims=[], keepdim=False)
    case("max_f32_nan", "max", [vals([[1.0, NAN, 3.0], [-INF, -1.0, 2.0]])], dims=[1], keepdim=False)
    case("min_f32_nan", "min", [vals([[1.0, NAN, 3.0], [INF, -1.0, 2.0]])], dims=[1], keepdim=False)
    case("logsumexp_f32_large", "logsumexp", [randn(3, 8, scale=500.0)], dims=[1], keepdim=False)
    case("logsumexp_f32_neginf", "logsumexp", [vals([[-INF, 0.0, 1.0], [-INF, -INF, 2.0], [-INF, -INF, -INF]])],
         dims=[1], keepdim=False)
    case("sum_f32_inf", "sum", [vals([[INF, 1.0], [INF, -INF], [NAN, 1.0]])], dims=[1], keepdim=False)
    # argmax / argmin
    for op in ("argmax", "argmin"):
        case(f"{op}_f32_dim1", op, [randn(5, 7)], dim=1, keepdim=False)
        case(f"{op}_f32_dim0_keep", op, [randn(5, 7)], dim=0, keepdim=True)
        case(f"{op}_f32_flat", op, [randn(4, 6)], dim=None, keepdim=False)
        case(f"{op}_f32_ties", op, [randint(6, 9, lo=0, hi=3, dtype=F32)], dim=1, keepdim=False)
        case(f"{op}_f32_ties_dim0", op, [randint(6, 9, lo=0, hi=2, dtype=F32)], dim=0, keepdim=False)
        case(f"{op}_f32_flat_keep", op, [randn(3, 4)], dim=None, keepdim=True)
        case(f"{op}_f32_all_equal", op, [vals([[2.0] * 5] * 3)], dim=None, keepdim=False)
        case(f"{op}_f32_strided", op, [randn(7, 4, 3)], dim=1, keepdim=False, views=[[0, "permute", [2, 0, 1]]])
        case(f"{op}_f32_middle_keep", op, [randn(3, 4, 5)], dim=1, keepdim=True)
        case(f"{op}_i64_ties", op, [randint(4, 8, lo=-2, hi=2)], dim=-1, keepdim=False)
        case(f"{op}_f64", op, [randn(3, 11, dtype=F64)], dim=1, keepdim=False)
        case(f"{op}_bf16", op, [randn(3, 11, dtype=BF16)], dim=1, keepdim=False)
        case(f"{op}_f32_nan", op, [vals([[1.0, NAN, 3.0, NAN], [0.0, 5.0, -1.0, 2.0]])], dim=1, keepdim=False)
        case(f"{op}_f32_inf", op, [vals([[-INF, -INF, 1.0], [INF, 2.0, INF]])], dim=1, keepdim=False)
    # cumsum
    case("cumsum_f32_dim1", "cumsum", [randn(4, 6)], dim=1)
    case("cumsum_f32_dim0", "cumsum", [randn(4, 6)], dim=0)
    case("cumsum_f32_middle", "cumsum", [randn(3, 5, 4)], dim=1)
    case("cumsum_f32_neg", "cumsum", [randn(3, 5, 4)], dim=-1)
    case("cumsum_f32_strided", "cumsum", [randn(5, 8)], dim=1, views=[[0, "transpose", 0, 1], [0, "slice", 0, 0, 8, 3]])
    case("cumsum_f32_long", "cumsum", [randn(2, 300)], tol="long", dim=1)
    case("cumsum_f64", "cumsum", [randn(3, 9, dtype=F64)], dim=1)
    case("cumsum_bf16", "cumsum", [randn(3, 9, dtype=BF16)], dim=1)
    case("cumsum_i64", "cumsum", [randint(3, 7, lo=-20, hi=20)], dim=1)
    case("cumsum_f32_empty", "cumsum", [randn(0, 5)], dim=1)
    case("cumsum_f32_1d", "cumsum", [randn(13)], dim=0)


def matmul_cases():
    mm = [
        ("vv", [7], [7]), ("vm", [5], [5, 3]), ("mv", [4, 5], [5]), ("mm", [3, 5], [5, 6]),
        ("odd", [17, 33], [33, 19]), ("bm", [2, 3, 5], [5, 4]), ("mb", [3, 5], [2, 5, 4]),
        ("bb_bcast", [5, 1, 2, 3], [4, 3, 4]), ("bv", [2, 3, 4], [4]), ("vb", [4], [3, 4, 2]),
        ("k0", [3, 0], [0, 4]), ("m0", [0, 5], [5, 3]), ("n1", [6, 9], [9, 1]),
    ]
    for name, sa, sb in mm:
        case(f"matmul_{name}_f32", "matmul", [randn(*sa), randn(*sb)])
    case("matmul_k100_f32", "matmul", [randn(3, 100), randn(100, 5)], tol="long")
    case("matmul_k257_f32", "matmul", [randn(2, 257), randn(257, 3)], tol="long")
    case("matmul_big_f32", "matmul", [randn(23, 70), randn(70, 29)], tol="long")
    case("matmul_ta_f32", "matmul", [randn(5, 3), randn(5, 6)], views=[[0, "transpose", 0, 1]])
    case("matmul_tb_f32", "matmul", [randn(3, 5), randn(6, 5)], views=[[1, "transpose", 0, 1]])
    case("matmul_tab_f32", "matmul", [randn(5, 3), randn(6, 5)], views=[[0, "transpose", 0, 1], [1, "transpose", 0, 1]])
    case("matmul_sliced_f32", "matmul", [randn(9, 7), randn(7, 12)],
         views=[[0, "slice", 0, 1, 9, 2], [0, "narrow", 1, 1, 5], [1, "slice", 1, 0, 12, 3], [1, "narrow", 0, 2, 5]])
    case("matmul_batched_t_f32", "matmul", [randn(2, 5, 3), randn(2, 4, 5)],
         views=[[0, "transpose", 1, 2], [1, "transpose", 1, 2]])
    case("matmul_batch_perm_f32", "matmul", [randn(3, 2, 4), randn(2, 4, 5)], views=[[0, "permute", [1, 0, 2]]])
    case("matmul_expand_f32", "matmul", [randn(1, 3, 4), randn(3, 4, 2)], views=[[0, "expand", [3, 3, 4]]])
    for name, sa, sb in [("vv", [7], [7]), ("mm", [3, 5], [5, 6]), ("bb_bcast", [2, 1, 3, 4], [3, 4, 5]),
                         ("mv", [4, 6], [6])]:
        case(f"matmul_{name}_f64", "matmul", [randn(*sa, dtype=F64), randn(*sb, dtype=F64)])
    case("matmul_k100_f64", "matmul", [randn(3, 100, dtype=F64), randn(100, 5, dtype=F64)], tol="long")
    case("matmul_ta_f64", "matmul", [randn(5, 3, dtype=F64), randn(5, 6, dtype=F64)], views=[[0, "transpose", 0, 1]])
    for name, sa, sb in [("mm", [3, 5], [5, 6]), ("odd", [9, 17], [17, 11]), ("bm", [2, 3, 8], [8, 5]),
                         ("vm", [6], [6, 4])]:
        case(f"matmul_{name}_bf16", "matmul", [randn(*sa, dtype=BF16), randn(*sb, dtype=BF16)])
    case("matmul_k96_bf16", "matmul", [randn(4, 96, dtype=BF16), randn(96, 3, dtype=BF16)], tol="long")
    case("matmul_tb_bf16", "matmul", [randn(3, 5, dtype=BF16), randn(6, 5, dtype=BF16)], views=[[1, "transpose", 0, 1]])
    case("matmul_mm_f16", "matmul", [randn(4, 7, dtype=F16), randn(7, 5, dtype=F16)])


def conv_args(stride=1, padding=0, dilation=1, groups=1, nd=2):
    def lst(v):
        return list(v) if isinstance(v, (list, tuple)) else [v] * nd
    return dict(stride=lst(stride), padding=lst(padding), dilation=lst(dilation), groups=groups)


def conv_cases():
    c1 = lambda **k: conv_args(nd=1, **k)
    c2 = lambda **k: conv_args(nd=2, **k)
    c3 = lambda **k: conv_args(nd=3, **k)
    # conv1d
    case("conv1d_basic_f32", "conv1d", [randn(2, 4, 11), randn(6, 4, 3), randn(6)], **c1())
    case("conv1d_stride_pad_dil_f32", "conv1d", [randn(2, 4, 13), randn(5, 4, 3), randn(5)],
         **c1(stride=2, padding=2, dilation=2))
    case("conv1d_groups_f32", "conv1d", [randn(2, 6, 10), randn(4, 3, 5)], **c1(groups=2, padding=1))
    case("conv1d_depthwise_f32", "conv1d", [randn(3, 5, 9), randn(5, 1, 3), randn(5)], **c1(groups=5, padding=1))
    case("conv1d_f64", "conv1d", [randn(2, 3, 8, dtype=F64), randn(4, 3, 2, dtype=F64), randn(4, dtype=F64)],
         **c1(stride=3))
    case("conv1d_strided_input_f32", "conv1d", [randn(2, 9, 3), randn(4, 3, 2), randn(4)],
         views=[[0, "transpose", 1, 2]], **c1(padding=1))
    # conv2d
    case("conv2d_basic_f32", "conv2d", [randn(2, 3, 9, 8), randn(4, 3, 3, 3), randn(4)], **c2())
    case("conv2d_nobias_f32", "conv2d", [randn(1, 2, 7, 7), randn(3, 2, 3, 3)], **c2(padding=1))
    case("conv2d_stride_pad_dil_f32", "conv2d", [randn(2, 3, 11, 10), randn(4, 3, 3, 2), randn(4)],
         **c2(stride=[2, 1], padding=[1, 2], dilation=[1, 2]))
    case("conv2d_groups_f32", "conv2d", [randn(2, 6, 7, 6), randn(9, 2, 3, 3), randn(9)], **c2(groups=3, padding=1))
    case("conv2d_depthwise_mult_f32", "conv2d", [randn(1, 4, 7, 7), randn(8, 1, 3, 3), randn(8)],
         **c2(groups=4, padding=1, stride=2))
    case("conv2d_depthwise_f32", "conv2d", [randn(2, 5, 6, 9), randn(5, 1, 5, 5)], **c2(groups=5, padding=2))
    case("conv2d_1x1_f32", "conv2d", [randn(2, 7, 5, 3), randn(3, 7, 1, 1), randn(3)], **c2())
    case("conv2d_k144_f32", "conv2d", [randn(1, 16, 6, 6), randn(5, 16, 3, 3), randn(5)], tol="long", **c2(padding=1))
    case("conv2d_nhwc_view_f32", "conv2d", [randn(2, 6, 5, 3), randn(4, 3, 2, 2), randn(4)],
         views=[[0, "permute", [0, 3, 1, 2]]], **c2(stride=2))
    case("conv2d_f64", "conv2d", [randn(2, 2, 6, 5, dtype=F64), randn(3, 2, 3, 3, dtype=F64), randn(3, dtype=F64)],
         **c2(padding=1, stride=[1, 2]))
    case("conv2d_bf16", "conv2d", [randn(1, 3, 6, 6, dtype=BF16), randn(2, 3, 3, 3, dtype=BF16), randn(2, dtype=BF16)],
         **c2(padding=1))
    case("conv2d_empty_batch_f32", "conv2d", [randn(0, 2, 5, 5), randn(3, 2, 3, 3), randn(3)], **c2(padding=1))
    case("conv2d_kernel_eq_input_f32", "conv2d", [randn(2, 2, 3, 4), randn(3, 2, 3, 4)], **c2())
    # conv3d
    case("conv3d_basic_f32", "conv3d", [randn(1, 2, 5, 6, 4), randn(3, 2, 2, 3, 2), randn(3)], **c3())
    case("conv3d_stride_pad_f32", "conv3d", [randn(2, 2, 5, 5, 6), randn(2, 2, 3, 3, 3), randn(2)],
         **c3(stride=2, padding=1))
    case("conv3d_groups_dil_f32", "conv3d", [randn(1, 4, 6, 5, 7), randn(4, 2, 2, 2, 3)],
         **c3(groups=2, dilation=[2, 1, 2], padding=[1, 0, 1]))
    case("conv3d_f64", "conv3d", [randn(1, 2, 4, 4, 4, dtype=F64), randn(2, 2, 2, 2, 2, dtype=F64)], **c3(stride=[1, 2, 1]))
    # transposed
    t1 = lambda output_padding=0, **k: dict(conv_args(nd=1, **k), output_padding=[output_padding] * 1
                                            if not isinstance(output_padding, list) else output_padding)
    t2 = lambda output_padding=0, **k: dict(conv_args(nd=2, **k), output_padding=[output_padding] * 2
                                            if not isinstance(output_padding, list) else output_padding)
    t3 = lambda output_padding=0, **k: dict(conv_args(nd=3, **k), output_padding=[output_padding] * 3
                                            if not isinstance(output_padding, list) else output_padding)
    case("conv_transpose1d_f32", "conv_transpose1d", [randn(2, 4, 5), randn(4, 3, 3), randn(3)],
         **t1(stride=2, padding=1, output_padding=1))
    case("conv_transpose2d_basic_f32", "conv_transpose2d", [randn(2, 3, 5, 4), randn(3, 4, 3, 3), randn(4)], **t2())
    case("conv_transpose2d_stride_f32", "conv_transpose2d", [randn(2, 4, 5, 4), randn(4, 3, 3, 3), randn(3)],
         **t2(stride=2, padding=1, output_padding=1))
    case("conv_transpose2d_asym_f32", "conv_transpose2d", [randn(1, 2, 4, 6), randn(2, 3, 2, 3)],
         **t2(stride=[3, 2], padding=[0, 1], output_padding=[2, 0]))
    case("conv_transpose2d_groups_f32", "conv_transpose2d", [randn(2, 4, 5, 5), randn(4, 2, 3, 3), randn(4)],
         **t2(groups=2, stride=2, padding=1))
    case("conv_transpose2d_depthwise_f32", "conv_transpose2d", [randn(1, 3, 4, 4), randn(3, 1, 3, 3)],
         **t2(groups=3, stride=2))
    case("conv_transpose2d_dil_f32", "conv_transpose2d", [randn(1, 2, 4, 5), randn(2, 2, 3, 2), randn(2)],
         **t2(dilation=2, padding=1, stride=2, output_padding=1))
    case("conv_transpose2d_f64", "conv_transpose2d", [randn(2, 2, 3, 4, dtype=F64), randn(2, 3, 3, 3, dtype=F64),
                                                      randn(3, dtype=F64)], **t2(stride=2, padding=1))
    case("conv_transpose3d_f32", "conv_transpose3d", [randn(1, 2, 3, 4, 3), randn(2, 3, 2, 3, 2), randn(3)],
         **t3(stride=[2, 1, 2], padding=[0, 1, 1], output_padding=[1, 0, 1]))
    case("conv_transpose3d_groups_f32", "conv_transpose3d", [randn(2, 4, 3, 3, 2), randn(4, 1, 2, 2, 2)],
         **t3(groups=2, stride=2))


def softmax_cases():
    for op in ("softmax", "log_softmax"):
        for d in (0, 1, 2, -1):
            case(f"{op}_f32_dim{d}", op, [randn(3, 5, 7)], dim=d)
        case(f"{op}_f32_1d", op, [randn(11)], dim=0)
        case(f"{op}_f32_wide", op, [randn(3, 300, scale=3.0)], dim=1)
        case(f"{op}_f32_large", op, [randn(4, 9, scale=1000.0)], dim=-1)
        case(f"{op}_f32_masked", op, [vals([[0.0, -INF, 1.0, -INF], [-INF, -INF, 2.0, 3.0]])], dim=-1)
        case(f"{op}_f32_all_masked", op, [vals([[-INF, -INF, -INF], [0.0, 1.0, 2.0]])], dim=-1)
        case(f"{op}_f32_strided", op, [randn(6, 5, 4)], dim=1, views=[[0, "permute", [2, 0, 1]]])
        case(f"{op}_f32_strided_last", op, [randn(7, 6)], dim=-1, views=[[0, "transpose", 0, 1], [0, "slice", 1, 1, 7, 2]])
        case(f"{op}_f64", op, [randn(4, 6, dtype=F64)], dim=0)
        case(f"{op}_bf16", op, [randn(3, 10, dtype=BF16)], dim=-1)
        case(f"{op}_f16", op, [randn(3, 10, dtype=F16)], dim=1)
        case(f"{op}_f32_empty", op, [randn(0, 5)], dim=1)
        case(f"{op}_f32_size1", op, [randn(4, 1)], dim=1)
        case(f"{op}_f32_scalar", op, [randn()], dim=0)


def index_cases():
    idx = lambda v: vals(v, I64)
    case("index_select_dim0_f32", "index_select", [randn(5, 4), idx([3, 0, 3, 4])], dim=0)
    case("index_select_dim1_f32", "index_select", [randn(3, 6), idx([5, 1, 1])], dim=1)
    case("index_select_mid_f32", "index_select", [randn(2, 5, 3), idx([4, 0])], dim=1)
    case("index_select_empty_f32", "index_select", [randn(4, 3), idx([])], dim=0)
    case("index_select_strided_f32", "index_select", [randn(6, 5), idx([0, 2, 5])], dim=0,
         views=[[0, "transpose", 0, 1], [0, "transpose", 0, 1], [0, "slice", 1, 1, 5, 2]])
    case("index_select_i64", "index_select", [randint(4, 3, lo=-9, hi=9), idx([1, 1, 0])], dim=0)
    case("index_select_bf16", "index_select", [randn(5, 3, dtype=BF16), idx([4, 2])], dim=0)
    case("embedding_f32", "embedding", [randn(10, 4), idx([[1, 3, 3], [0, 9, 2]])])
    case("embedding_1d_f32", "embedding", [randn(7, 5), idx([6, 0, 6, 2])])
    case("embedding_bf16", "embedding", [randn(6, 3, dtype=BF16), idx([[5], [1]])])
    case("embedding_f64", "embedding", [randn(4, 2, dtype=F64), idx([[[0, 3], [2, 2]]])])
    case("gather_dim1_f32", "gather", [randn(4, 5), randint(4, 3, lo=0, hi=5)], dim=1)
    case("gather_dim0_f32", "gather", [randn(4, 5), randint(2, 5, lo=0, hi=4)], dim=0)
    case("gather_small_idx_f32", "gather", [randn(4, 6), randint(2, 3, lo=0, hi=6)], dim=1)
    case("gather_3d_f32", "gather", [randn(2, 3, 4), randint(2, 5, 4, lo=0, hi=3)], dim=1)
    case("gather_strided_f32", "gather", [randn(5, 4), randint(4, 2, lo=0, hi=5)], dim=1, views=[[0, "transpose", 0, 1]])
    case("gather_neg_dim_f32", "gather", [randn(2, 3, 4), randint(2, 3, 2, lo=0, hi=4)], dim=-1)
    case("gather_i64", "gather", [randint(3, 4, lo=-9, hi=9), randint(3, 4, lo=0, hi=4)], dim=1)
    case("scatter_add_dim1_f32", "scatter_add", [randn(3, 5), randint(3, 4, lo=0, hi=5), randn(3, 4)], dim=1)
    case("scatter_add_dim0_f32", "scatter_add", [randn(4, 3), randint(6, 3, lo=0, hi=4), randn(6, 3)], dim=0)
    case("scatter_add_src_larger_f32", "scatter_add", [randn(3, 5), randint(2, 4, lo=0, hi=5), randn(3, 6)], dim=1)
    case("scatter_add_dups_f32", "scatter_add", [randn(2, 3), idx([[0, 0, 0, 0], [2, 2, 1, 2]]), randn(2, 4)], dim=1)
    case("scatter_add_strided_src_f32", "scatter_add", [randn(3, 4), randint(3, 4, lo=0, hi=4), randn(4, 3)], dim=1,
         views=[[2, "transpose", 0, 1]])
    case("scatter_add_i64", "scatter_add", [randint(3, 4, lo=-9, hi=9), randint(3, 4, lo=0, hi=4),
                                            randint(3, 4, lo=-9, hi=9)], dim=1)
    case("scatter_add_f64", "scatter_add", [randn(4, 2, dtype=F64), randint(5, 2, lo=0, hi=4), randn(5, 2, dtype=F64)],
         dim=0)
    case("index_add_dim0_f32", "index_add", [randn(5, 3), idx([0, 2, 2, 4]), randn(4, 3)], dim=0)
    case("index_add_dim1_f32", "index_add", [randn(3, 4), idx([3, 3, 0]), randn(3, 3)], dim=1)
    case("index_add_mid_f32", "index_add", [randn(2, 4, 3), idx([1, 0, 1, 1, 3]), randn(2, 5, 3)], dim=1)
    case("index_add_strided_f32", "index_add", [randn(4, 3), idx([1, 1]), randn(3, 2)], dim=0,
         views=[[2, "transpose", 0, 1]])
    case("index_add_i64", "index_add", [randint(4, 2, lo=-9, hi=9), idx([3, 0, 3]), randint(3, 2, lo=-9, hi=9)], dim=0)
    case("index_add_bf16", "index_add", [randn(4, 2, dtype=BF16), idx([1, 1, 2]), randn(3, 2, dtype=BF16)], dim=0)


def shape_cases():
    case("cat_dim0_f32", "cat", [randn(2, 3), randn(4, 3)], dim=0)
    case("cat_dim1_empty_f32", "cat", [randn(2, 3), randn(2, 1), randn(2, 0)], dim=1)
    case("cat_last_strided_f32", "cat", [randn(2, 4, 3), randn(3, 4, 2)], dim=-1, views=[[1, "permute", [2, 1, 0]]])
    case("cat_mid_f32", "cat", [randn(2, 1, 3), randn(2, 4, 3), randn(2, 2, 3)], dim=1)
    case("cat_i64", "cat", [randint(3, lo=0, hi=9), randint(5, lo=0, hi=9)], dim=0)
    case("cat_bool", "cat", [boolean(2, 2), boolean(2, 3)], dim=1)
    case("cat_bf16", "cat", [randn(1, 3, dtype=BF16), randn(2, 3, dtype=BF16)], dim=0)
    case("cat_single_f64", "cat", [randn(3, 2, dtype=F64)], dim=1)
    for d in (0, 1, 2, -1):
        case(f"stack_dim{d}_f32", "stack", [randn(2, 3), randn(2, 3), randn(2, 3)], dim=d)
    case("stack_strided_f32", "stack", [randn(3, 2), randn(2, 3)], dim=0, views=[[0, "transpose", 0, 1]])
    case("stack_i64", "stack", [randint(4, lo=0, hi=9), randint(4, lo=0, hi=9)], dim=1)
    # pad: constant any rank; reflect/replicate as F.pad allows (1-dim pad on 2-D/3-D, 2-dim on 3-D/4-D, 3 on 4-D/5-D)
    case("pad_const_1d_f32", "pad", [randn(2, 3, 4)], pads=[1, 2], mode="constant", value=0.5)
    case("pad_const_2d_f32", "pad", [randn(2, 3, 4)], pads=[1, 0, 2, 1], mode="constant", value=0.0)
    case("pad_const_3d_f32", "pad", [randn(2, 3, 4)], pads=[1, 1, 0, 2, 1, 0], mode="constant", value=-1.5)
    case("pad_const_neginf_f32", "pad", [randn(3, 3)], pads=[0, 2], mode="constant", value=-INF)
    case("pad_const_i64", "pad", [randint(2, 3, lo=0, hi=9)], pads=[1, 1, 1, 0], mode="constant", value=7.0)
    case("pad_const_strided_f32", "pad", [randn(5, 4)], pads=[2, 1], mode="constant", value=0.0,
         views=[[0, "transpose", 0, 1]])
    case("pad_reflect_1d_f32", "pad", [randn(2, 3, 5)], pads=[2, 3], mode="reflect")
    case("pad_reflect_2d_f32", "pad", [randn(1, 2, 5, 4)], pads=[1, 2, 3, 1], mode="reflect")
    case("pad_reflect_3d_f32", "pad", [randn(1, 2, 3, 4, 5)], pads=[1, 2, 1, 0, 2, 1], mode="reflect")
    case("pad_reflect_2d_3dinput_f32", "pad", [randn(2, 4, 4)], pads=[3, 3, 1, 2], mode="reflect")
    case("pad_reflect_strided_f32", "pad", [randn(2, 5, 6)], pads=[2, 2], mode="reflect", views=[[0, "transpose", 1, 2]])
    case("pad_replicate_1d_f32", "pad", [randn(2, 3, 4)], pads=[3, 1], mode="replicate")
    case("pad_replicate_2d_f32", "pad", [randn(1, 2, 3, 4)], pads=[2, 0, 1, 4], mode="replicate")
    case("pad_replicate_3d_f32", "pad", [randn(1, 1, 2, 3, 2)], pads=[1, 1, 2, 0, 1, 2], mode="replicate")
    case("pad_replicate_f64", "pad", [randn(2, 1, 3, dtype=F64)], pads=[2, 2], mode="replicate")
    case("pad_reflect_bf16", "pad", [randn(1, 3, 4, dtype=BF16)], pads=[1, 3], mode="reflect")
    case("roll_one_f32", "roll", [randn(3, 5)], shifts=[2], dims=[1])
    case("roll_two_f32", "roll", [randn(3, 5)], shifts=[-1, 3], dims=[0, 1])
    case("roll_big_shift_f32", "roll", [randn(4, 5)], shifts=[7], dims=[-1])
    case("roll_neg_big_f32", "roll", [randn(2, 3, 4)], shifts=[-9, 4], dims=[2, 0])
    case("roll_strided_f32", "roll", [randn(6, 4)], shifts=[1], dims=[0], views=[[0, "transpose", 0, 1]])
    case("roll_i64", "roll", [randint(7, lo=0, hi=99)], shifts=[3], dims=[0])
    for op in ("tril", "triu"):
        for k in (0, 1, -1, 7, -7):
            case(f"{op}_k{k}_f32".replace("-", "m"), op, [randn(4, 5)], k=k)
        case(f"{op}_batched_f32", op, [randn(2, 5, 3)], k=0)
        case(f"{op}_tall_f32", op, [randn(6, 3)], k=-2)
        case(f"{op}_strided_f32", op, [randn(5, 4)], k=1, views=[[0, "transpose", 0, 1]])
        case(f"{op}_i64", op, [randint(3, 3, lo=1, hi=9)], k=0)
        case(f"{op}_bool", op, [boolean(4, 4)], k=1)
        case(f"{op}_bf16", op, [randn(3, 4, dtype=BF16)], k=-1)
    # views followed by contiguous()
    case("contiguous_permute_f32", "contiguous", [randn(3, 4, 5)], views=[[0, "permute", [2, 0, 1]]])
    case("contiguous_transpose_narrow_f32", "contiguous", [randn(5, 6)],
         views=[[0, "transpose", 0, 1], [0, "narrow", 0, 2, 3]])
    case("contiguous_slice_step_f32", "contiguous", [randn(7, 10)],
         views=[[0, "slice", 0, 1, 7, 2], [0, "slice", 1, 2, 10, 3]])
    case("contiguous_slice_neg_f32", "contiguous", [randn(9)], views=[[0, "slice", 0, -7, -1, 2]])
    case("contiguous_slice_clamp_f32", "contiguous", [randn(4, 3)], views=[[0, "slice", 0, 2, 100, 1]])
    case("contiguous_slice_empty_f32", "contiguous", [randn(4, 3)], views=[[0, "slice", 0, 3, 1, 1]])
    case("contiguous_expand_f32", "contiguous", [randn(1, 5)], views=[[0, "expand", [4, 5]]])
    case("contiguous_expand_new_dims_f32", "contiguous", [randn(3, 1)], views=[[0, "expand", [2, 3, 4]]])
    case("contiguous_select_f32", "contiguous", [randn(3, 4, 5)], views=[[0, "select", 1, 2]])
    case("contiguous_unsqueeze_expand_f32", "contiguous", [randn(3, 4)],
         views=[[0, "transpose", 0, 1], [0, "unsqueeze", 1], [0, "expand", [4, 2, 3]]])
    case("contiguous_narrow_chain_f32", "contiguous", [randn(6, 7, 5)],
         views=[[0, "narrow", 0, 1, 4], [0, "narrow", 2, 2, 3], [0, "permute", [1, 2, 0]], [0, "slice", 2, 1, 4, 2]])
    case("contiguous_i64", "contiguous", [randint(4, 6, lo=0, hi=99)], views=[[0, "transpose", 0, 1]])
    case("contiguous_bf16", "contiguous", [randn(3, 8, dtype=BF16)], views=[[0, "slice", 1, 1, 8, 3]])
    case("contiguous_bool", "contiguous", [boolean(3, 4)], views=[[0, "permute", [1, 0]]])
    case("reshape_transposed_f32", "reshape", [randn(4, 6)], shape=[3, 8], views=[[0, "transpose", 0, 1]])
    case("reshape_infer_f32", "reshape", [randn(2, 3, 4)], shape=[-1, 6], views=[[0, "permute", [2, 1, 0]]])
    case("reshape_contig_f32", "reshape", [randn(2, 3, 4)], shape=[4, 1, 6])


def cast_cases():
    f16_half = [1.0 + 2 ** -11, 1.0 + 3 * 2 ** -11, -(1.0 + 2 ** -11), 2049.0, 2051.0, 65504.0, 65519.0, 65520.0,
                70000.0, -70000.0, 2 ** -24, 2 ** -25, 3 * 2 ** -25, 2 ** -26, 6.1e-5, 0.1, -0.0, INF, -INF, NAN]
    bf16_half = [1.0 + 2 ** -8, 1.0 + 3 * 2 ** -8, -(1.0 + 2 ** -8), 257.0, 259.0, 1.0 + 2 ** -8 + 2 ** -20,
                 3.0e38, 3.4e38, 1e-40, 0.1, -0.0, INF, -INF, NAN]
    case("cast_f32_f16", "cast", [randn(5, 7)], to="f16")
    case("cast_f32_f16_halfway", "cast", [vals(f16_half)], to="f16")
    case("cast_f32_bf16", "cast", [randn(5, 7)], to="bf16")
    case("cast_f32_bf16_halfway", "cast", [vals(bf16_half)], to="bf16")
    case("cast_f32_f64", "cast", [randn(4, 5)], to="f64")
    case("cast_f32_i64", "cast", [vals([-2.7, -2.5, -0.9, -0.0, 0.4, 0.5, 1.5, 2.999, 1e10, -1e10, 123456.7])],
         to="i64")
    case("cast_f32_bool", "cast", [vals([0.0, -0.0, 1e-30, -1.0, INF, NAN])], to="bool")
    case("cast_f16_f32", "cast", [randn(4, 6, dtype=F16)], to="f32")
    case("cast_f16_f32_special", "cast", [vals([65504.0, 2 ** -24, -0.0, INF, -INF, NAN], F16)], to="f32")
    case("cast_bf16_f32", "cast", [randn(4, 6, dtype=BF16)], to="f32")
    case("cast_bf16_f32_special", "cast", [vals([3.0e38, 1e-40, -0.0, INF, -INF, NAN], BF16)], to="f32")
    case("cast_f64_f32", "cast", [randn(4, 5, dtype=F64)], to="f32")
    case("cast_f64_f32_halfway", "cast", [vals([1.0 + 2 ** -24, 1.0 + 3 * 2 ** -24, 1.0 + 2 ** -24 + 2 ** -40,
                                                 1e300, -1e300, 1e-50, INF, NAN], F64)], to="f32")
    case("cast_f64_i64", "cast", [vals([-3.99, -1.5, 0.5, 7.9, 2.0 ** 52 + 1], F64)], to="i64")
    case("cast_i64_f32", "cast", [vals([0, -1, 7, 2 ** 24 + 1, 2 ** 24 + 3, -(2 ** 31), 2 ** 40 + 1], I64)], to="f32")
    case("cast_i64_f32_double_rounding", "cast", [vals([2 ** 60 + 2 ** 36 + 1, -(2 ** 60 + 2 ** 36 + 1),
                                                         2 ** 55 + 2 ** 31 + 1], I64)], to="f32")
    case("cast_i64_f64", "cast", [vals([0, -5, 2 ** 53 + 1, 2 ** 62], I64)], to="f64")
    case("cast_i64_bf16", "cast", [vals([1, 257, 259, -1000], I64)], to="bf16")
    case("cast_bool_f32", "cast", [boolean(3, 4)], to="f32")
    case("cast_bool_i64", "cast", [boolean(5)], to="i64")
    case("cast_f16_bf16", "cast", [randn(3, 3, dtype=F16)], to="bf16")
    case("cast_f32_f16_strided", "cast", [randn(4, 6)], to="f16", views=[[0, "transpose", 0, 1], [0, "slice", 0, 1, 6, 2]])
    case("cast_f32_i64_strided", "cast", [randn(5, 3, scale=10.0)], to="i64", views=[[0, "transpose", 0, 1]])


def norm_pool_cases():
    """Ops being added to wrt-tensor separately; the Rust test wires them when they exist."""
    case("layer_norm_f32", "layer_norm", [randn(4, 7), randn(7), randn(7)], normalized_shape=[7], eps=1e-5)
    case("layer_norm_2d_f32", "layer_norm", [randn(2, 3, 5), randn(3, 5), randn(3, 5)], normalized_shape=[3, 5], eps=1e-5)
    case("layer_norm_noaffine_f32", "layer_norm", [randn(3, 9, shift=5.0)], normalized_shape=[9], eps=1e-6)
    case("layer_norm_wide_f32", "layer_norm", [randn(2, 300), randn(300), randn(300)], tol="long",
         normalized_shape=[300], eps=1e-5)
    case("layer_norm_f64", "layer_norm", [randn(3, 6, dtype=F64), randn(6, dtype=F64), randn(6, dtype=F64)],
         normalized_shape=[6], eps=1e-5)
    case("layer_norm_bf16", "layer_norm", [randn(3, 16, dtype=BF16), randn(16, dtype=BF16), randn(16, dtype=BF16)],
         normalized_shape=[16], eps=1e-5)
    case("layer_norm_strided_f32", "layer_norm", [randn(6, 4), randn(4), randn(4)], normalized_shape=[4], eps=1e-5,
         views=[[0, "slice", 0, 0, 6, 2]])
    case("group_norm_f32", "group_norm", [randn(2, 6, 5), randn(6), randn(6)], groups=3, eps=1e-5)
    case("group_norm_4d_f32", "group_norm", [randn(2, 4, 3, 3), randn(4), randn(4)], groups=2, eps=1e-5)
    case("group_norm_one_group_f32", "group_norm", [randn(3, 4, 5), randn(4), randn(4)], groups=1, eps=1e-5)
    case("group_norm_instance_f32", "group_norm", [randn(2, 3, 7), randn(3), randn(3)], groups=3, eps=1e-5)
    case("group_norm_f64", "group_norm", [randn(2, 4, 6, dtype=F64), randn(4, dtype=F64), randn(4, dtype=F64)],
         groups=2, eps=1e-5)
    rv = lambda c: rand(c, lo=0.5, hi=2.0)
    case("batch_norm_train_f32", "batch_norm", [randn(4, 3, 5), randn(3), rv(3), randn(3), randn(3)],
         training=True, momentum=0.1, eps=1e-5)
    case("batch_norm_train_2d_f32", "batch_norm", [randn(6, 4), randn(4), rv(4), randn(4), randn(4)],
         training=True, momentum=0.3, eps=1e-5)
    case("batch_norm_train_4d_f32", "batch_norm", [randn(2, 3, 4, 3), randn(3), rv(3), randn(3), randn(3)],
         training=True, momentum=0.1, eps=1e-5)
    case("batch_norm_eval_f32", "batch_norm", [randn(4, 3, 5), randn(3), rv(3), randn(3), randn(3)],
         training=False, momentum=0.1, eps=1e-5)
    case("batch_norm_train_f64", "batch_norm", [randn(5, 2, 3, dtype=F64), randn(2, dtype=F64),
                                                 rand(2, dtype=F64, lo=0.5, hi=2.0), randn(2, dtype=F64),
                                                 randn(2, dtype=F64)], training=True, momentum=0.1, eps=1e-5)
    pool = lambda kernel, stride=None, padding=0, dilation=1, ceil_mode=False, nd=2: dict(
        kernel=[kernel] * nd if isinstance(kernel, int) else kernel,
        stride=(([kernel] * nd if isinstance(kernel, int) else kernel) if stride is None else
                ([stride] * nd if isinstance(stride, int) else stride)),
        padding=[padding] * nd if isinstance(padding, int) else padding,
        dilation=[dilation] * nd if isinstance(dilation, int) else dilation, ceil_mode=ceil_mode)
    case("max_pool2d_f32", "max_pool2d", [randn(2, 3, 9, 8)], **pool(3, 2, 1))
    case("max_pool2d_default_stride_f32", "max_pool2d", [randn(1, 2, 6, 7)], **pool(2))
    case("max_pool2d_ceil_f32", "max_pool2d", [randn(1, 2, 7, 7)], **pool(2, ceil_mode=True))
    case("max_pool2d_dil_f32", "max_pool2d", [randn(1, 2, 9, 9)], **pool(3, 1, 1, dilation=2))
    case("max_pool2d_ties_f32", "max_pool2d", [randint(1, 1, 4, 4, lo=0, hi=2, dtype=F32)], **pool(2))
    case("max_pool2d_negative_pad_f32", "max_pool2d", [randn(1, 2, 5, 6, shift=-10.0)], **pool(3, 2, 1))
    case("max_pool2d_strided_f32", "max_pool2d", [randn(2, 7, 6, 3)], views=[[0, "permute", [0, 3, 1, 2]]], **pool(2, 1))
    case("max_pool2d_bf16", "max_pool2d", [randn(1, 2, 6, 6, dtype=BF16)], **pool(3, 2, 1))
    case("max_pool2d_f64", "max_pool2d", [randn(1, 1, 5, 7, dtype=F64)], **pool([2, 3], [1, 2], [1, 0]))
    case("max_pool1d_f32", "max_pool1d", [randn(2, 3, 10)], **pool(3, 2, 1, nd=1))
    case("max_pool3d_f32", "max_pool3d", [randn(1, 2, 4, 5, 6)], **pool(2, nd=3))
    apool = lambda kernel, stride=None, padding=0, ceil_mode=False, count_include_pad=True, nd=2: dict(
        {k: v for k, v in pool(kernel, stride, padding, 1, ceil_mode, nd).items() if k != "dilation"},
        count_include_pad=count_include_pad)
    case("avg_pool2d_f32", "avg_pool2d", [randn(2, 3, 9, 8)], **apool(3, 2, 1))
    case("avg_pool2d_no_pad_count_f32", "avg_pool2d", [randn(1, 2, 7, 6)], **apool(3, 2, 1, count_include_pad=False))
    case("avg_pool2d_ceil_f32", "avg_pool2d", [randn(1, 2, 7, 7)], **apool(2, ceil_mode=True))
    case("avg_pool2d_strided_f32", "avg_pool2d", [randn(2, 8, 7, 3)], views=[[0, "permute", [0, 3, 2, 1]]],
         **apool(3, 2, 1, count_include_pad=False))
    case("avg_pool2d_bf16", "avg_pool2d", [randn(1, 2, 6, 6, dtype=BF16)], **apool(2))
    case("avg_pool1d_f32", "avg_pool1d", [randn(2, 3, 10)], **apool(4, 3, 2, nd=1))
    case("avg_pool3d_f32", "avg_pool3d", [randn(1, 2, 4, 4, 5)], **apool(2, nd=3))
    case("adaptive_avg_pool2d_f32", "adaptive_avg_pool2d", [randn(2, 3, 7, 9)], output_size=[3, 4])
    case("adaptive_avg_pool2d_global_f32", "adaptive_avg_pool2d", [randn(2, 5, 4, 3)], output_size=[1, 1])
    case("adaptive_avg_pool2d_upsample_f32", "adaptive_avg_pool2d", [randn(1, 2, 3, 2)], output_size=[5, 4])
    case("adaptive_avg_pool1d_f32", "adaptive_avg_pool1d", [randn(2, 3, 10)], output_size=[4])
    case("adaptive_max_pool2d_f32", "adaptive_max_pool2d", [randn(1, 2, 7, 5)], output_size=[3, 2])


def all_cases():
    unary_cases()
    param_unary_cases()
    binary_cases()
    compare_cases()
    select_cases()
    reduce_cases()
    matmul_cases()
    conv_cases()
    softmax_cases()
    index_cases()
    shape_cases()
    cast_cases()
    norm_pool_cases()


def main():
    warnings.filterwarnings("ignore", category=UserWarning)  # torch warns on the deliberate edge cases (var of 1 element)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)  # one summation order for the reference
    all_cases()
    os.makedirs(OUT_DIR, exist_ok=True)
    manifest = {"torch_version": torch.__version__, "script": SCRIPT, "cases": []}
    written = set()
    for name, op, specs, tol, args in CASES:
        try:
            tensors, entry = build(name, op, specs, tol, args)
        except Exception as e:
            raise RuntimeError(f"case {name}: {e}") from e
        tensors = {k: t.clone() for k, t in tensors.items()}  # distinct buffers (safetensors refuses shared ones)
        save_file(tensors, os.path.join(OUT_DIR, f"{name}.safetensors"))
        written.add(f"{name}.safetensors")
        manifest["cases"].append(entry)
    for f in os.listdir(OUT_DIR):  # drop fixtures of cases that no longer exist
        if f.endswith(".safetensors") and f not in written:
            os.remove(os.path.join(OUT_DIR, f))
    with open(os.path.join(OUT_DIR, "manifest.json"), "w") as fh:
        # one case per line: readable diffs when cases change
        head = {k: v for k, v in manifest.items() if k != "cases"}
        fh.write(json.dumps(head, allow_nan=False)[:-1] + ', "cases": [\n')
        fh.write(",\n".join(json.dumps(c, allow_nan=False) for c in manifest["cases"]))
        fh.write("\n]}\n")
    total = sum(os.path.getsize(os.path.join(OUT_DIR, f)) for f in os.listdir(OUT_DIR))
    print(f"{len(CASES)} cases, {len({c[1] for c in CASES})} ops, {total / 1e6:.2f} MB in {os.path.relpath(OUT_DIR, ROOT)}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
