//! Fused ops against their composed twins (f32: values and every gradient within 1e-5 relative
//! + 1e-6 absolute) and against f64 finite differences (`gradcheck`).

use wrt_autograd::fused::{self, Reduction};
use wrt_autograd::{compose, gradcheck, GradCheck, Result, Var};
use wrt_tensor::{DType, Generator, Tensor};

fn rand(shape: &[usize], seed: u64, dtype: DType) -> Tensor {
    Generator::new(seed).uniform(shape, -1.0, 1.0, dtype).unwrap()
}

fn assert_close(what: &str, got: &Tensor, want: &Tensor, rtol: f64, atol: f64) {
    assert_eq!(got.shape(), want.shape(), "{what}: shapes");
    let (g, w) = (got.to_vec_f64().unwrap(), want.to_vec_f64().unwrap());
    for (i, (a, b)) in g.iter().zip(&w).enumerate() {
        let ok = (a.is_nan() && b.is_nan()) || (a - b).abs() <= atol + rtol * b.abs();
        assert!(ok, "{what}: element {i}: {a} vs {b} (|diff| {:e})", (a - b).abs());
    }
}

/// Run `fused` and `twin` on fresh f32 leaves made from `inputs`, backward with the same random
/// output gradient, and compare the outputs and each input's gradient.
fn against_twin(name: &str, inputs: &[Tensor], fused: impl Fn(&[Var]) -> Result<Var>, twin: impl Fn(&[Var]) -> Result<Var>) {
    let run = |f: &dyn Fn(&[Var]) -> Result<Var>| {
        let leaves: Vec<Var> = inputs.iter().map(|t| Var::new(t.deep_clone(), true)).collect();
        let out = f(&leaves).unwrap_or_else(|e| panic!("{name}: {e}"));
        let proj = Generator::new(99).uniform(out.shape(), -1.0, 1.0, out.dtype()).unwrap();
        out.backward_with(&proj, false).unwrap();
        let grads: Vec<Tensor> = leaves.iter().map(|l| l.grad().expect("every input gets a gradient")).collect();
        (out.value().clone(), grads)
    };
    let (yf, gf) = run(&fused);
    let (yt, gt) = run(&twin);
    assert_close(&format!("{name}: output"), &yf, &yt, 1e-5, 1e-6);
    for (i, (a, b)) in gf.iter().zip(&gt).enumerate() {
        assert_close(&format!("{name}: grad of input {i}"), a, b, 1e-5, 1e-6);
    }
}

fn check(name: &str, inputs: &[Tensor], f: impl Fn(&[Var]) -> Result<Var>) {
    let wrt = vec![true; inputs.len()];
    gradcheck(f, inputs, &wrt, GradCheck::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
}

// ------------------------------------------------------------------------------- cross-entropy

struct CeCase {
    name: &'static str,
    shape: Vec<usize>,
    targets: Vec<i64>,
    weight: Option<Vec<f64>>,
    ignore: i64,
    smoothing: f64,
}

fn ce_cases() -> Vec<CeCase> {
    let w5 = Some(vec![0.5, 1.0, 2.0, 0.25, 1.5]);
    vec![
        CeCase { name: "plain", shape: vec![6, 5], targets: vec![0, 4, 2, 1, 3, 2], weight: None, ignore: -100, smoothing: 0.0 },
        CeCase { name: "weighted", shape: vec![6, 5], targets: vec![0, 4, 2, 1, 3, 2], weight: w5.clone(), ignore: -100, smoothing: 0.0 },
        CeCase { name: "smoothing", shape: vec![6, 5], targets: vec![0, 4, 2, 1, 3, 2], weight: None, ignore: -100, smoothing: 0.1 },
        CeCase { name: "weighted+smoothing+ignored", shape: vec![6, 5], targets: vec![0, -100, 2, 1, -100, 4], weight: w5.clone(), ignore: -100, smoothing: 0.2 },
        CeCase { name: "ignore_index=2", shape: vec![6, 5], targets: vec![2, 4, 2, 1, 0, 3], weight: w5, ignore: 2, smoothing: 0.05 },
        CeCase { name: "spatial [N,C,d1,d2]", shape: vec![2, 4, 3, 2], targets: vec![0, 1, 2, 3, -100, 1, 3, 3, 2, 0, 1, 2], weight: Some(vec![1.0, 2.0, 0.5, 1.0]), ignore: -100, smoothing: 0.1 },
        CeCase { name: "spatial [N,C,d]", shape: vec![3, 3, 4], targets: vec![0, 1, 2, 0, 2, 2, 1, 0, 1, 1, 2, 0], weight: None, ignore: -100, smoothing: 0.0 },
        CeCase { name: "unbatched [C]", shape: vec![7], targets: vec![3], weight: None, ignore: -100, smoothing: 0.1 },
    ]
}

fn ce_targets(c: &CeCase) -> Tensor {
    let tshape: Vec<usize> = match c.shape.len() {
        1 => vec![],
        _ => std::iter::once(c.shape[0]).chain(c.shape[2..].iter().copied()).collect(),
    };
    Tensor::from_vec(c.targets.clone(), &tshape).unwrap()
}

#[test]
fn cross_entropy_matches_twin() {
    for c in ce_cases() {
        let t = ce_targets(&c);
        let w = c.weight.as_ref().map(|w| Tensor::from_slice(w, &[w.len()]).unwrap().to_dtype(DType::F32).unwrap());
        for red in [Reduction::Mean, Reduction::Sum, Reduction::None] {
            let name = format!("cross_entropy {} {red:?}", c.name);
            let x = rand(&c.shape, 3, DType::F32).mul_scalar(3.0).unwrap();
            against_twin(
                &name,
                &[x],
                |v| fused::cross_entropy(&v[0], &t, w.as_ref(), c.ignore, c.smoothing, red),
                |v| compose::cross_entropy(&v[0], &t, w.as_ref(), c.ignore, c.smoothing, red),
            );
        }
    }
}

#[test]
fn cross_entropy_gradcheck() {
    for c in ce_cases() {
        let t = ce_targets(&c);
        let w = c.weight.as_ref().map(|w| Tensor::from_slice(w, &[w.len()]).unwrap());
        for red in [Reduction::Mean, Reduction::Sum, Reduction::None] {
            let x = rand(&c.shape, 4, DType::F64);
            check(&format!("cross_entropy {} {red:?}", c.name), &[x], |v| fused::cross_entropy(&v[0], &t, w.as_ref(), c.ignore, c.smoothing, red));
        }
    }
}

#[test]
fn cross_entropy_known_value_and_edge_cases() {
    // -log softmax([1, 2, 3])[2] = log(e + e^2 + e^3) - 3
    let x = Var::new(Tensor::from_slice(&[1.0f64, 2.0, 3.0], &[1, 3]).unwrap(), true);
    let t = Tensor::from_slice(&[2i64], &[1]).unwrap();
    let l = fused::cross_entropy(&x, &t, None, -100, 0.0, Reduction::Mean).unwrap();
    assert!((l.value().item::<f64>().unwrap() - 0.407_605_964_444_380_3).abs() < 1e-12);

    // every row ignored: mean is NaN (as PyTorch), the gradient 0
    let x = Var::new(rand(&[3, 4], 5, DType::F32), true);
    let t = Tensor::from_slice(&[-100i64, -100, -100], &[3]).unwrap();
    let l = fused::cross_entropy(&x, &t, None, -100, 0.0, Reduction::Mean).unwrap();
    assert!(l.value().item::<f32>().unwrap().is_nan());
    l.backward().unwrap();
    assert!(x.grad().unwrap().to_vec::<f32>().unwrap().iter().all(|&g| g == 0.0));
    let s = fused::cross_entropy(&x, &t, None, -100, 0.0, Reduction::Sum).unwrap();
    assert_eq!(s.value().item::<f32>().unwrap(), 0.0);

    // bad targets are errors naming the target, not panics
    for (bad, c) in [(7i64, 4usize), (-3, 4), (4, 4)] {
        let x = Var::new(rand(&[2, c], 6, DType::F32), true);
        let t = Tensor::from_slice(&[0i64, bad], &[2]).unwrap();
        let e = fused::cross_entropy(&x, &t, None, -100, 0.0, Reduction::Mean).unwrap_err().to_string();
        assert!(e.contains(&bad.to_string()) && e.contains("cross_entropy"), "{e}");
        assert!(compose::cross_entropy(&x, &t, None, -100, 0.0, Reduction::Mean).is_err());
    }
    // shape, dtype and argument errors
    let x = Var::new(rand(&[2, 3], 6, DType::F32), true);
    let t2 = Tensor::from_slice(&[0i64, 1, 2], &[3]).unwrap();
    assert!(fused::cross_entropy(&x, &t2, None, -100, 0.0, Reduction::Mean).is_err());
    let tf = Tensor::from_slice(&[0f32, 1.0], &[2]).unwrap();
    assert!(fused::cross_entropy(&x, &tf, None, -100, 0.0, Reduction::Mean).is_err());
    let t = Tensor::from_slice(&[0i64, 1], &[2]).unwrap();
    let w = Tensor::from_slice(&[1f32, 1.0], &[2]).unwrap();
    assert!(fused::cross_entropy(&x, &t, Some(&w), -100, 0.0, Reduction::Mean).is_err());
    assert!(fused::cross_entropy(&x, &t, None, -100, 1.5, Reduction::Mean).is_err());
}

// ----------------------------------------------------------------------------------- attention

#[derive(Clone)]
struct AttnCase {
    name: &'static str,
    /// B, H, L, S, D, Dv
    dims: [usize; 6],
    mask: Option<Tensor>,
    causal: bool,
    scale: Option<f64>,
}

/// Bool mask of `shape` (last two dims L, S), true with probability ~0.6, row `full_row` of
/// each [L, S] slice all false (a fully masked row) when given.
fn bool_mask(shape: &[usize], seed: u64, full_row: Option<usize>) -> Tensor {
    let u = rand(shape, seed, DType::F64).to_vec::<f64>().unwrap();
    let (l, s) = (shape[shape.len() - 2], shape[shape.len() - 1]);
    let v: Vec<bool> = u
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            let (row, col) = ((i / s) % l, i % s);
            if Some(row) == full_row {
                false
            } else {
                col == row % s || x > -0.2
            }
        })
        .collect();
    Tensor::from_bools(&v, shape).unwrap()
}

fn attn_cases(dtype: DType) -> Vec<AttnCase> {
    let c = |name, dims, mask, causal, scale| AttnCase { name, dims, mask, causal, scale };
    vec![
        c("plain", [2, 2, 5, 5, 3, 3], None, false, None),
        c("L != S, Dv != D, scale", [1, 3, 4, 7, 5, 2], None, false, Some(0.7)),
        c("causal L < S", [2, 1, 5, 7, 3, 4], None, true, None),
        c("causal L > S", [1, 2, 7, 5, 3, 3], None, true, None),
        c("bool mask [L,S]", [2, 2, 5, 6, 3, 3], Some(bool_mask(&[5, 6], 7, None)), false, None),
        c("bool mask [B,1,L,S] with a fully masked row", [2, 2, 4, 6, 5, 3], Some(bool_mask(&[2, 1, 4, 6], 8, Some(2))), false, None),
        c("additive mask [B,H,L,S]", [2, 2, 4, 5, 3, 3], Some(rand(&[2, 2, 4, 5], 9, dtype).mul_scalar(2.0).unwrap()), false, None),
        c("additive mask [L,S] with -inf", [1, 2, 3, 4, 3, 3], Some(Tensor::from_slice(&[0.0, f64::NEG_INFINITY, 0.5, -1.0, 0.0, 0.0, f64::NEG_INFINITY, 0.3, -0.5, f64::NEG_INFINITY, 0.0, 0.0], &[3, 4]).unwrap().to_dtype(dtype).unwrap()), false, None),
    ]
}

fn qkv(d: [usize; 6], seed: u64, dtype: DType) -> [Tensor; 3] {
    let [b, h, l, s, dd, dv] = d;
    [rand(&[b, h, l, dd], seed, dtype), rand(&[b, h, s, dd], seed + 1, dtype), rand(&[b, h, s, dv], seed + 2, dtype)]
}

#[test]
fn attention_matches_twin() {
    for c in attn_cases(DType::F32) {
        let m = c.mask.as_ref();
        against_twin(
            c.name,
            &qkv(c.dims, 10, DType::F32),
            |v| fused::scaled_dot_product_attention(&v[0], &v[1], &v[2], m, 0.0, c.causal, c.scale, None),
            |v| compose::scaled_dot_product_attention(&v[0], &v[1], &v[2], m, None, c.causal, c.scale),
        );
    }
}

/// The composed form of attention with a learned bias: `softmax(q k^T scale + bias) v`.
fn biased_twin(v: &[Var], scale: f64) -> Result<Var> {
    v[0].matmul(&v[1].transpose(-1, -2)?)?.mul_scalar(scale)?.add(&v[3])?.softmax(-1)?.matmul(&v[2])
}

#[test]
fn attention_with_a_learned_bias() {
    // q [2, 3, 5, 4], k/v [2, 3, 7, 4]; the bias broadcast over the batch ([1, 3, 5, 7]) and over heads too
    let d = [2, 3, 5, 7, 4, 4];
    let scale = 0.5;
    for bias_shape in [vec![1, 3, 5, 7], vec![5, 7], vec![2, 1, 5, 7]] {
        let mut inputs: Vec<Tensor> = qkv(d, 30, DType::F32).to_vec();
        inputs.push(rand(&bias_shape, 33, DType::F32));
        against_twin(
            &format!("biased {bias_shape:?}"),
            &inputs,
            |v| fused::scaled_dot_product_attention_biased(&v[0], &v[1], &v[2], &v[3], Some(scale)),
            |v| biased_twin(v, scale),
        );
        let mut inputs64: Vec<Tensor> = qkv(d, 40, DType::F64).to_vec();
        inputs64.push(rand(&bias_shape, 43, DType::F64));
        check("biased gradcheck", &inputs64, |v| fused::scaled_dot_product_attention_biased(&v[0], &v[1], &v[2], &v[3], Some(scale)));
    }
    let [q, k, v] = qkv(d, 1, DType::F32);
    let e = fused::scaled_dot_product_attention_biased(&Var::constant(q), &Var::constant(k), &Var::constant(v), &Var::constant(rand(&[5, 6], 2, DType::F32)), None);
    assert!(e.is_err(), "a bias that does not broadcast to [.., L, S] is an error");
}

#[test]
fn attention_gradcheck() {
    for c in attn_cases(DType::F64) {
        let m = c.mask.as_ref();
        check(c.name, &qkv(c.dims, 20, DType::F64), |v| fused::scaled_dot_product_attention(&v[0], &v[1], &v[2], m, 0.0, c.causal, c.scale, None));
    }
}

#[test]
fn attention_long_rows_and_strided_inputs() {
    // L past the kernel's row blocks (128 forward, 256 backward), D = 19; q, k, v as permuted views of [B, L, H, D]
    // projections (no copy on the fused path).
    let (b, h, l, s, d) = (1, 2, 300, 67, 19);
    let q = rand(&[b, l, h, d], 30, DType::F32);
    let k = rand(&[b, s, h, d], 31, DType::F32);
    let v = rand(&[b, s, h, d], 32, DType::F32);
    let perm = |x: &Var| x.permute(&[0, 2, 1, 3]);
    for causal in [false, true] {
        against_twin(
            "long strided",
            &[q.clone(), k.clone(), v.clone()],
            |x| fused::scaled_dot_product_attention(&perm(&x[0])?, &perm(&x[1])?, &perm(&x[2])?, None, 0.0, causal, None, None),
            |x| compose::scaled_dot_product_attention(&perm(&x[0])?, &perm(&x[1])?, &perm(&x[2])?, None, None, causal, None),
        );
    }
}

#[test]
fn attention_dropout() {
    let d = [2, 2, 6, 5, 4, 3];
    let [q, k, v] = qkv(d, 40, DType::F32);
    let p = 0.3;
    let full = [2, 2, 6, 5];
    let run = |seed: u64| {
        let vars: Vec<Var> = [&q, &k, &v].iter().map(|t| Var::new((*t).clone(), true)).collect();
        let mut g = Generator::new(seed);
        fused::scaled_dot_product_attention(&vars[0], &vars[1], &vars[2], None, p, false, None, Some(&mut g)).unwrap()
    };
    // same seed, same output; another seed, another output
    let (a, b, c) = (run(5), run(5), run(6));
    assert_eq!(a.value().to_vec::<f32>().unwrap(), b.value().to_vec::<f32>().unwrap());
    assert_ne!(a.value().to_vec::<f32>().unwrap(), c.value().to_vec::<f32>().unwrap());
    // the generator advances: two calls on one generator draw two masks
    let mut g = Generator::new(5);
    let vars: Vec<Var> = [&q, &k, &v].iter().map(|t| Var::constant((*t).clone())).collect();
    let y1 = fused::scaled_dot_product_attention(&vars[0], &vars[1], &vars[2], None, p, false, None, Some(&mut g)).unwrap();
    let y2 = fused::scaled_dot_product_attention(&vars[0], &vars[1], &vars[2], None, p, false, None, Some(&mut g)).unwrap();
    assert_eq!(y1.value().to_vec::<f32>().unwrap(), a.value().to_vec::<f32>().unwrap());
    assert_ne!(y1.value().to_vec::<f32>().unwrap(), y2.value().to_vec::<f32>().unwrap());

    // values and gradients equal the twin fed the mask the same seed draws
    let mask = Generator::new(5).dropout_mask(&full, p, DType::F32).unwrap();
    let keep = bool_mask(&[6, 5], 41, None);
    for m in [None, Some(&keep)] {
        against_twin(
            "dropout",
            &[q.clone(), k.clone(), v.clone()],
            |x| fused::scaled_dot_product_attention(&x[0], &x[1], &x[2], m, p, false, None, Some(&mut Generator::new(5))),
            |x| compose::scaled_dot_product_attention(&x[0], &x[1], &x[2], m, Some(&mask), false, None),
        );
    }
    // and the gradient is consistent with the mask it drew (f64 finite differences, fixed seed)
    check("dropout gradcheck", &qkv(d, 42, DType::F64), |x| {
        fused::scaled_dot_product_attention(&x[0], &x[1], &x[2], None, p, false, None, Some(&mut Generator::new(7)))
    });
    // dropout_p = 1 drops everything
    let z = fused::scaled_dot_product_attention(&vars[0], &vars[1], &vars[2], None, 1.0, false, None, Some(&mut g)).unwrap();
    assert!(z.value().to_vec::<f32>().unwrap().iter().all(|&x| x == 0.0));
}

#[test]
fn attention_argument_errors() {
    let [q, k, v] = qkv([1, 2, 3, 4, 5, 5], 50, DType::F32);
    let (q, k, v) = (Var::constant(q), Var::constant(k), Var::constant(v));
    let sdpa = |q: &Var, k: &Var, v: &Var, m: Option<&Tensor>, p: f64, causal: bool| fused::scaled_dot_product_attention(q, k, v, m, p, causal, None, None);
    assert!(sdpa(&q, &k, &v, None, 0.0, false).is_ok());
    assert!(sdpa(&q, &q, &v, None, 0.0, false).is_err(), "k and v lengths differ");
    assert!(sdpa(&q, &k.narrow(-1, 0, 4).unwrap(), &v, None, 0.0, false).is_err(), "q and k dims differ");
    assert!(sdpa(&q, &k, &v, None, 1.5, false).is_err(), "dropout_p out of range");
    let m = bool_mask(&[3, 4], 1, None);
    assert!(sdpa(&q, &k, &v, Some(&m), 0.0, true).is_err(), "mask and is_causal");
    let bad = bool_mask(&[3, 5], 1, None);
    assert!(sdpa(&q, &k, &v, Some(&bad), 0.0, false).is_err(), "mask does not broadcast");
    let im = Tensor::from_slice(&[1i64; 12], &[3, 4]).unwrap();
    assert!(sdpa(&q, &k, &v, Some(&im), 0.0, false).is_err(), "integer mask");
}

// ---------------------------------------------------------------------------------------- gelu

#[test]
fn gelu_matches_twin_and_gradcheck() {
    for approximate in [false, true] {
        let x = rand(&[7, 33], 60, DType::F32).mul_scalar(4.0).unwrap();
        against_twin(
            "gelu",
            &[x],
            |v| fused::gelu(&v[0], approximate),
            |v| if approximate { v[0].gelu_tanh() } else { v[0].gelu() },
        );
        check("gelu", &[rand(&[4, 5], 61, DType::F64).mul_scalar(3.0).unwrap()], |v| fused::gelu(&v[0], approximate));
    }
}

#[test]
fn half_inputs_compute_in_f32() {
    let [q, k, v] = qkv([1, 2, 4, 5, 3, 3], 70, DType::F32);
    let x = rand(&[4, 6], 71, DType::F32);
    let t = Tensor::from_slice(&[0i64, 5, 2, -100], &[4]).unwrap();
    for dt in [DType::F16, DType::BF16] {
        let h = |t: &Tensor| Var::new(t.to_dtype(dt).unwrap(), true);
        let (qh, kh, vh) = (h(&q), h(&k), h(&v));
        let y = fused::scaled_dot_product_attention(&qh, &kh, &vh, None, 0.0, true, None, None).unwrap();
        assert_eq!(y.dtype(), dt);
        y.sum_all().unwrap().backward().unwrap();
        assert_eq!(qh.grad().unwrap().dtype(), dt);
        // the same as f32 on the rounded inputs, up to the output's rounding
        let f = |v: &Var| Var::new(v.value().to_dtype(DType::F32).unwrap(), false);
        let y32 = fused::scaled_dot_product_attention(&f(&qh), &f(&kh), &f(&vh), None, 0.0, true, None, None).unwrap();
        assert_close("sdpa half", &y.value().to_dtype(DType::F32).unwrap(), y32.value(), 1e-2, 1e-2);

        let xh = h(&x);
        let l = fused::cross_entropy(&xh, &t, None, -100, 0.1, Reduction::Mean).unwrap();
        assert_eq!(l.dtype(), dt);
        l.backward().unwrap();
        assert_eq!(xh.grad().unwrap().dtype(), dt);
        let g = h(&x);
        let y = fused::gelu(&g, false).unwrap();
        y.sum_all().unwrap().backward().unwrap();
        assert_eq!(g.grad().unwrap().dtype(), dt);
    }
}
