//! f64 finite-difference checks of the nn primitives: index ops, cat/stack/pad/roll/tril, conv and
//! transposed conv, pooling, norms (with the fused layer_norm held to its composed twin), softmax, dropout.

use wrt_autograd::{gradcheck, no_grad, GradCheck, Result, Var};
use wrt_tensor::ops::{ConvSpec, PadMode, PoolSpec};
use wrt_tensor::{DType, Generator, Tensor};

fn rand(shape: &[usize], seed: u64) -> Tensor {
    Generator::new(seed).uniform(shape, -1.0, 1.0, DType::F64).unwrap()
}

/// Distinct values 0.1 apart in random order: a max-pool argmax that eps cannot flip.
fn distinct(shape: &[usize], seed: u64) -> Tensor {
    let n = shape.iter().product();
    Generator::new(seed).randperm(n).unwrap().to_dtype(DType::F64).unwrap().mul_scalar(0.1).unwrap().reshape_to(shape).unwrap()
}

fn ids(v: &[i64], shape: &[usize]) -> Tensor {
    Tensor::from_slice(v, shape).unwrap()
}

fn check(name: &str, inputs: &[Tensor], f: impl Fn(&[Var]) -> Result<Var>) {
    let wrt = vec![true; inputs.len()];
    gradcheck(f, inputs, &wrt, GradCheck::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
}

fn check1(name: &str, x: Tensor, f: impl Fn(&Var) -> Result<Var>) {
    check(name, &[x], |v| f(&v[0]));
}

fn close(name: &str, a: &Tensor, b: &Tensor, tol: f64) {
    assert_eq!(a.shape(), b.shape(), "{name}: shapes");
    let (a, b) = (a.to_vec_f64().unwrap(), b.to_vec_f64().unwrap());
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert!((x - y).abs() <= tol * (1.0 + y.abs()), "{name}: element {i}: {x} vs {y}");
    }
}

#[test]
fn index_ops() {
    let x = rand(&[4, 3], 1);
    let rep = ids(&[2, 0, 2, 3, 2], &[5]);
    check1("index_select d0", x.clone(), |v| v.index_select(0, &rep));
    check1("index_select d1", x.clone(), |v| v.index_select(1, &ids(&[1, 1, 0], &[3])));
    check1("index_select 3-D", rand(&[2, 3, 2], 2), |v| v.index_select(-2, &ids(&[2, 2], &[2])));

    let tok = ids(&[1, 3, 1, 0, 3, 3], &[2, 3]);
    check1("embedding", x.clone(), |w| Var::embedding(w, &tok, None));
    // padding_idx: its row is read but treated as a constant (no gradient, unlike the finite difference);
    // a repeated row gets the sum of its gradients
    let w = Var::new(x.clone(), true);
    Var::embedding(&w, &tok, Some(3)).unwrap().sum_all().unwrap().backward().unwrap();
    let g = w.grad().unwrap().to_vec::<f64>().unwrap();
    assert_eq!(g, vec![1., 1., 1., 2., 2., 2., 0., 0., 0., 0., 0., 0.]);

    let gi = ids(&[0, 0, 2, 1, 1, 1, 2, 0], &[4, 2]);
    check1("gather d1", x.clone(), |v| v.gather(1, &gi));
    let g0 = ids(&[3, 0, 3, 3, 1, 0], &[2, 3]);
    check1("gather d0", x.clone(), |v| v.gather(0, &g0));

    // scatter_add with repeats, and with a src larger than the index (its extra entries get zero grad)
    check("scatter_add", &[rand(&[3, 4], 3), rand(&[2, 4], 4)], |v| v[0].scatter_add(0, &ids(&[0, 2, 2, 1, 2, 2, 0, 0], &[2, 4]), &v[1]));
    check("scatter_add big src", &[rand(&[3, 4], 5), rand(&[3, 5], 6)], |v| v[0].scatter_add(1, &ids(&[3, 3, 0, 1, 1, 1], &[3, 2]), &v[1]));
    check("index_add", &[rand(&[4, 3], 7), rand(&[4, 5], 8)], |v| v[0].index_add(1, &ids(&[2, 0, 2, 2, 1], &[5]), &v[1]));
    check("index_add d0", &[rand(&[4, 3], 9), rand(&[3, 3], 10)], |v| v[0].index_add(0, &ids(&[3, 3, 0], &[3]), &v[1]));
}

#[test]
fn cat_stack() {
    let (a, b, c) = (rand(&[2, 3, 2], 11), rand(&[2, 1, 2], 12), rand(&[2, 4, 2], 13));
    check("cat d1", &[a.clone(), b, c], |v| Var::cat(v, 1));
    check("cat d0", &[a.clone(), rand(&[1, 3, 2], 14)], |v| Var::cat(v, 0));
    check("cat d-1", &[a.clone(), rand(&[2, 3, 3], 15)], |v| Var::cat(v, -1));
    // the same var twice: both gradients accumulate
    check1("cat self", a.clone(), |v| Var::cat(&[v.clone(), v.mul_scalar(2.0)?], 2));
    for d in [0, 1, 3, -1] {
        check("stack", &[a.clone(), rand(&[2, 3, 2], 16), rand(&[2, 3, 2], 17)], |v| Var::stack(v, d));
    }
}

#[test]
fn pad_all_modes() {
    let modes = [PadMode::Constant(0.5), PadMode::Reflect, PadMode::Replicate];
    let x2 = rand(&[2, 3, 4], 21);
    let x3 = rand(&[1, 3, 4, 3], 22);
    for mode in modes {
        check1("pad 1 dim", x2.clone(), |v| v.pad(&[2, 1], mode));
        check1("pad 2-D", x2.clone(), |v| v.pad(&[1, 3, 2, 1], mode));
        check1("pad 2-D one side", x2.clone(), |v| v.pad(&[0, 2, 1, 0], mode));
        check1("pad 3-D", x3.clone(), |v| v.pad(&[2, 1, 1, 2, 2, 0], mode));
    }
    // replicate folds every padded position back onto the edge: here 1 + 2 left, 1 + 1 right
    let v = Var::new(Tensor::from_slice(&[1.0, 2.0, 3.0], &[3]).unwrap(), true);
    v.pad(&[2, 1], PadMode::Replicate).unwrap().sum_all().unwrap().backward().unwrap();
    assert_eq!(v.grad().unwrap().to_vec::<f64>().unwrap(), vec![3., 1., 2.]);
}

#[test]
fn roll_and_triangles() {
    let x = rand(&[3, 4, 2], 31);
    check1("roll", x.clone(), |v| v.roll(&[1], &[1]));
    check1("roll neg", x.clone(), |v| v.roll(&[-2, 3], &[0, -2]));
    check1("roll big neg", x.clone(), |v| v.roll(&[-5], &[2]));
    let m = rand(&[2, 3, 4], 32);
    for k in [-1, 0, 2] {
        check1("tril", m.clone(), |v| v.tril(k));
        check1("triu", m.clone(), |v| v.triu(k));
    }
}

fn spec(stride: &[usize], padding: &[usize], dilation: &[usize], groups: usize, output_padding: &[usize]) -> ConvSpec {
    ConvSpec { stride: stride.to_vec(), padding: padding.to_vec(), dilation: dilation.to_vec(), groups, output_padding: output_padding.to_vec() }
}

fn check_conv(name: &str, x: &[usize], w: &[usize], bias: bool, s: ConvSpec, transpose: bool) {
    let mut inputs = vec![rand(x, 41), rand(w, 42)];
    let c_out = if transpose { w[1] * s.groups } else { w[0] };
    if bias {
        inputs.push(rand(&[c_out], 43));
    }
    check(name, &inputs, |v| {
        if transpose {
            v[0].conv_transpose(&v[1], v.get(2), &s)
        } else {
            v[0].conv(&v[1], v.get(2), &s)
        }
    });
}

#[test]
fn conv() {
    check_conv("conv1d", &[2, 3, 7], &[4, 3, 3], true, ConvSpec::default(), false);
    check_conv("conv1d s2 p1 d2 g2", &[2, 4, 9], &[6, 2, 3], true, spec(&[2], &[1], &[2], 2, &[0]), false);
    check_conv("conv2d", &[2, 3, 5, 4], &[2, 3, 3, 2], false, spec(&[2, 1], &[1, 0], &[1], 1, &[0]), false);
    check_conv("conv2d d2 g3 bias", &[1, 3, 6, 6], &[3, 1, 2, 3], true, spec(&[1], &[2, 1], &[2, 1], 3, &[0]), false);
    check_conv("conv3d", &[1, 2, 4, 3, 4], &[2, 1, 2, 2, 3], true, spec(&[1, 2, 1], &[1], &[1], 2, &[0]), false);
}

#[test]
fn conv_transpose() {
    check_conv("conv_transpose1d", &[2, 2, 4], &[2, 3, 3], true, spec(&[2], &[1], &[1], 1, &[1]), true);
    check_conv("conv_transpose2d", &[1, 4, 3, 3], &[4, 1, 3, 2], true, spec(&[2], &[1, 0], &[1], 2, &[1, 0]), true);
    check_conv("conv_transpose2d dilation", &[2, 2, 3, 2], &[2, 2, 2, 2], false, spec(&[1, 2], &[0], &[2], 1, &[1]), true);
    check_conv("conv_transpose3d", &[1, 2, 2, 3, 2], &[2, 2, 2, 2, 2], true, spec(&[2, 1, 2], &[1, 0, 0], &[1], 1, &[1, 0, 0]), true);
}

fn pool(kernel: &[usize], stride: &[usize], padding: &[usize], ceil_mode: bool) -> PoolSpec {
    PoolSpec { kernel: kernel.to_vec(), stride: Some(stride.to_vec()), padding: padding.to_vec(), ceil_mode, ..PoolSpec::new(1) }
}

#[test]
fn pooling() {
    let specs = [pool(&[2], &[2], &[0], false), pool(&[3, 2], &[2, 1], &[1, 0], false), pool(&[3], &[2], &[1], true), pool(&[2], &[3], &[0], true)];
    for (i, s) in specs.iter().enumerate() {
        check1("max_pool2d", distinct(&[2, 2, 5, 6], i as u64), |v| v.max_pool(s));
        check1("avg_pool2d", rand(&[2, 2, 5, 6], 50 + i as u64), |v| v.avg_pool(s));
    }
    let no_pad_count = PoolSpec { count_include_pad: false, ..pool(&[3], &[2], &[1], true) };
    check1("avg_pool2d exclude pad", rand(&[1, 2, 5, 5], 55), |v| v.avg_pool(&no_pad_count));
    let div = PoolSpec { divisor_override: Some(3), ..pool(&[2], &[1], &[0], false) };
    check1("avg_pool2d divisor", rand(&[1, 1, 3, 4], 56), |v| v.avg_pool(&div));
    let dil = PoolSpec { dilation: vec![2], ..pool(&[2], &[1], &[1], false) };
    check1("max_pool2d dilation", distinct(&[1, 2, 5, 5], 57), |v| v.max_pool(&dil));
    check1("max_pool1d", distinct(&[2, 3, 7], 58), |v| v.max_pool(&pool(&[3], &[2], &[1], true)));

    let s3 = [pool(&[2], &[2], &[0], false), pool(&[3, 2, 2], &[2, 1, 2], &[1, 0, 1], true)];
    for (i, s) in s3.iter().enumerate() {
        check1("max_pool3d", distinct(&[1, 2, 4, 3, 5], 60 + i as u64), |v| v.max_pool(s));
        check1("avg_pool3d", rand(&[1, 2, 4, 3, 5], 62 + i as u64), |v| v.avg_pool(s));
    }

    check1("adaptive 1-D", rand(&[2, 2, 7], 63), |v| v.adaptive_avg_pool(&[3]));
    check1("adaptive 2-D", rand(&[1, 2, 5, 7], 64), |v| v.adaptive_avg_pool(&[3, 4]));
    check1("adaptive 2-D up", rand(&[1, 1, 2, 3], 65), |v| v.adaptive_avg_pool(&[3, 5]));
    check1("adaptive 3-D", rand(&[1, 2, 3, 4, 5], 66), |v| v.adaptive_avg_pool(&[2, 1, 3]));

    // the indices returned are those the backward routes through
    let (y, idx) = Var::new(distinct(&[1, 1, 4, 4], 67), true).max_pool_with_indices(&pool(&[2], &[2], &[0], false)).unwrap();
    assert_eq!(idx.shape(), y.shape());
}

/// layer_norm from primitives: (x - mean) / sqrt(var + eps) * w + b over the trailing dims.
fn layer_norm_composed(x: &Var, ns: &[usize], w: Option<&Var>, b: Option<&Var>, eps: f64) -> Result<Var> {
    let dims: Vec<isize> = (0..ns.len() as isize).map(|i| -1 - i).collect();
    let mean = x.mean(&dims, true)?;
    let var = x.var(&dims, 0, true)?;
    let mut y = x.sub(&mean)?.mul(&var.add_scalar(eps)?.rsqrt()?)?;
    if let Some(w) = w {
        y = y.mul(w)?;
    }
    if let Some(b) = b {
        y = y.add(b)?;
    }
    Ok(y)
}

#[test]
fn layer_norm_and_its_composed_twin() {
    let eps = 1e-5;
    for (xs, ns) in [(vec![3, 5], vec![5]), (vec![2, 3, 4], vec![3, 4]), (vec![2, 2, 6], vec![6])] {
        let (x, w, b) = (rand(&xs, 71), rand(&ns, 72).add_scalar(1.0).unwrap(), rand(&ns, 73));
        check("layer_norm affine", &[x.clone(), w.clone(), b.clone()], |v| v[0].layer_norm(&ns, Some(&v[1]), Some(&v[2]), eps));
        check("layer_norm weight only", &[x.clone(), w.clone()], |v| v[0].layer_norm(&ns, Some(&v[1]), None, eps));
        check1("layer_norm plain", x.clone(), |v| v.layer_norm(&ns, None, None, eps));

        // fused vs composed: values and every gradient
        let run = |fused: bool| {
            let vars = [Var::new(x.clone(), true), Var::new(w.clone(), true), Var::new(b.clone(), true)];
            let y = if fused {
                vars[0].layer_norm(&ns, Some(&vars[1]), Some(&vars[2]), eps)
            } else {
                layer_norm_composed(&vars[0], &ns, Some(&vars[1]), Some(&vars[2]), eps)
            }
            .unwrap();
            y.backward_with(&rand(&xs, 74), false).unwrap();
            (y.value().clone(), vars.map(|v| v.grad().unwrap()))
        };
        let ((yf, gf), (yc, gc)) = (run(true), run(false));
        close("layer_norm value", &yf, &yc, 1e-12);
        for (a, b) in gf.iter().zip(&gc) {
            close("layer_norm grad", a, b, 1e-10);
        }
    }
}

#[test]
fn batch_norm_train_and_eval() {
    let eps = 1e-5;
    for xs in [vec![4, 3], vec![2, 3, 5], vec![2, 2, 3, 2]] {
        let c = xs[1];
        let (x, w, b) = (rand(&xs, 81), rand(&[c], 82).add_scalar(1.5).unwrap(), rand(&[c], 83));
        let train = |v: &[Var], wi: Option<usize>, bi: Option<usize>| {
            let (rm, rv) = (Tensor::zeros(&[c], DType::F64)?, Tensor::ones(&[c], DType::F64)?);
            v[0].batch_norm(Some(&rm), Some(&rv), wi.map(|i| &v[i]), bi.map(|i| &v[i]), true, 0.1, eps)
        };
        check("batch_norm train affine", &[x.clone(), w.clone(), b.clone()], |v| train(v, Some(1), Some(2)));
        check("batch_norm train bias only", &[x.clone(), b.clone()], |v| train(v, None, Some(1)));
        check1("batch_norm train plain, no running stats", x.clone(), |v| v.batch_norm(None, None, None, None, true, 0.1, eps));

        let (rm, rv) = (rand(&[c], 84), rand(&[c], 85).add_scalar(1.5).unwrap());
        check("batch_norm eval affine", &[x.clone(), w.clone(), b.clone()], |v| v[0].batch_norm(Some(&rm), Some(&rv), Some(&v[1]), Some(&v[2]), false, 0.1, eps));
        check1("batch_norm eval plain", x.clone(), |v| v.batch_norm(Some(&rm), Some(&rv), None, None, false, 0.1, eps));
        // eval value = the elementwise formula
        let y = Var::constant(x.clone()).batch_norm(Some(&rm), Some(&rv), Some(&Var::constant(w.clone())), None, false, 0.1, eps).unwrap();
        let mut cs = vec![1; xs.len()];
        cs[1] = c;
        let want = x.sub(&rm.reshape_to(&cs).unwrap()).unwrap().div(&rv.add_scalar(eps).unwrap().sqrt().unwrap().reshape_to(&cs).unwrap()).unwrap().mul(&w.reshape_to(&cs).unwrap()).unwrap();
        close("batch_norm eval value", y.value(), &want, 1e-12);
    }

    // the running stats are updated in place: momentum 0.1, unbiased variance
    let x = rand(&[4, 2, 3], 86);
    let (rm, rv) = (Tensor::zeros(&[2], DType::F64).unwrap(), Tensor::ones(&[2], DType::F64).unwrap());
    Var::new(x.clone(), true).batch_norm(Some(&rm), Some(&rv), None, None, true, 0.1, 1e-5).unwrap();
    let mean = x.mean(&[0, 2], false).unwrap();
    let var = x.var(&[0, 2], 1, false).unwrap();
    close("running_mean", &rm, &mean.mul_scalar(0.1).unwrap(), 1e-12);
    close("running_var", &rv, &var.mul_scalar(0.1).unwrap().add_scalar(0.9).unwrap(), 1e-12);
}

#[test]
fn group_norm() {
    let eps = 1e-5;
    for (xs, groups) in [(vec![2, 4, 3], 2), (vec![1, 6, 2, 2], 3), (vec![2, 3, 5], 1), (vec![2, 4], 4)] {
        let c = xs[1];
        let (x, w, b) = (rand(&xs, 91), rand(&[c], 92).add_scalar(1.5).unwrap(), rand(&[c], 93));
        check("group_norm affine", &[x.clone(), w, b], |v| v[0].group_norm(groups, Some(&v[1]), Some(&v[2]), eps));
        check1("group_norm plain", x, |v| v.group_norm(groups, None, None, eps));
    }
}

#[test]
fn softmax_every_dim() {
    let x = rand(&[2, 3, 4], 101).mul_scalar(3.0).unwrap();
    for d in [0, 1, 2, -1] {
        check1("softmax", x.clone(), |v| v.softmax(d));
        check1("log_softmax", x.clone(), |v| v.log_softmax(d));
    }
    check1("softmax 1-D", rand(&[5], 102), |v| v.softmax(0));
}

#[test]
fn dropout() {
    let (x, g) = (rand(&[4, 5], 111), rand(&[4, 5], 112));
    let p = 0.4;
    let v = Var::new(x.clone(), true);
    let y = v.dropout(p, true, &mut Generator::new(7)).unwrap();
    y.backward_with(&g, false).unwrap();
    // the same seed reproduces the mask; forward and backward both use it
    let mask = Generator::new(7).dropout_mask(&[4, 5], p, DType::F64).unwrap();
    assert_eq!(y.value().to_vec::<f64>().unwrap(), x.mul(&mask).unwrap().to_vec::<f64>().unwrap());
    assert_eq!(v.grad().unwrap().to_vec::<f64>().unwrap(), g.mul(&mask).unwrap().to_vec::<f64>().unwrap());
    let m = mask.to_vec::<f64>().unwrap();
    assert!(m.iter().all(|&e| e == 0.0 || (e - 1.0 / (1.0 - p)).abs() < 1e-6));
    assert!(m.contains(&0.0) && m.iter().any(|&e| e != 0.0));
    check1("dropout", x.clone(), |v| v.dropout(p, true, &mut Generator::new(9)));

    // identity when p = 0 or not training, zeros (and zero gradient) when p = 1
    let mut gen = Generator::new(3);
    let before = gen.state();
    assert!(v.dropout(0.0, true, &mut gen).unwrap().value().same_storage(v.value()));
    assert!(v.dropout(0.5, false, &mut gen).unwrap().value().same_storage(v.value()));
    assert_eq!(gen.state(), before, "no random numbers drawn");
    let w = Var::new(x.clone(), true);
    let z = w.dropout(1.0, true, &mut gen).unwrap();
    assert!(z.value().to_vec::<f64>().unwrap().iter().all(|&e| e == 0.0));
    z.backward_with(&g, false).unwrap();
    assert!(w.grad().unwrap().to_vec::<f64>().unwrap().iter().all(|&e| e == 0.0));
    assert!(v.dropout(1.5, true, &mut gen).is_err());
}

#[test]
fn no_grad_keeps_no_graph() {
    let x = Var::new(rand(&[1, 2, 5, 5], 121), true);
    let w = Var::new(rand(&[2, 2, 3, 3], 122), true);
    let b = Var::new(rand(&[2], 123), true);
    let outs = no_grad(|| {
        let mut gen = Generator::new(1);
        vec![
            x.conv(&w, Some(&b), &ConvSpec::new(1, 1)).unwrap(),
            x.conv_transpose(&w, None, &ConvSpec::default()).unwrap(),
            x.max_pool(&PoolSpec::new(2)).unwrap(),
            x.avg_pool(&PoolSpec::new(2)).unwrap(),
            x.adaptive_avg_pool(&[2]).unwrap(),
            x.layer_norm(&[5], None, None, 1e-5).unwrap(),
            x.batch_norm(None, None, Some(&b), Some(&b), true, 0.1, 1e-5).unwrap(),
            x.group_norm(2, Some(&b), None, 1e-5).unwrap(),
            x.softmax(-1).unwrap(),
            x.log_softmax(1).unwrap(),
            x.dropout(0.5, true, &mut gen).unwrap(),
            x.index_select(2, &ids(&[0, 0], &[2])).unwrap(),
            x.gather(3, &ids(&[0; 10], &[1, 2, 5, 1])).unwrap(),
            Var::cat(&[x.clone(), x.clone()], 1).unwrap(),
            Var::stack(&[x.clone(), x.clone()], 0).unwrap(),
            x.pad(&[1, 1], PadMode::Reflect).unwrap(),
            x.roll(&[1], &[2]).unwrap(),
            x.tril(0).unwrap(),
            Var::embedding(&b.reshape(&[2, 1]).unwrap(), &ids(&[1, 0], &[2]), None).unwrap(),
        ]
    });
    for o in outs {
        assert!(!o.requires_grad() && o.is_leaf(), "{} kept a graph under no_grad", o.op_name());
    }
    // the same ops outside no_grad do track
    assert!(x.conv(&w, Some(&b), &ConvSpec::new(1, 1)).unwrap().requires_grad());
}
