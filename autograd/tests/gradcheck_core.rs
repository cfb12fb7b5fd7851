//! f64 finite-difference checks of the core primitives (unary, binary with broadcasting, reductions,
//! views, matmul).

use wrt_autograd::{gradcheck, GradCheck, Result, Var};
use wrt_tensor::{DType, Generator, Tensor, Unary};

fn rand(shape: &[usize], seed: u64) -> Tensor {
    Generator::new(seed).uniform(shape, -1.0, 1.0, DType::F64).unwrap()
}

fn pos(shape: &[usize], seed: u64) -> Tensor {
    Generator::new(seed).uniform(shape, 0.5, 2.0, DType::F64).unwrap()
}

fn check1(name: &str, x: Tensor, f: impl Fn(&Var) -> Result<Var>) {
    gradcheck(|v| f(&v[0]), &[x], &[true], GradCheck::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
}

fn check2(name: &str, a: Tensor, b: Tensor, f: impl Fn(&Var, &Var) -> Result<Var>) {
    gradcheck(|v| f(&v[0], &v[1]), &[a, b], &[true, true], GradCheck::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
}

#[test]
fn unary_ops() {
    for &op in Unary::ALL {
        let x = match op {
            Unary::Log | Unary::Sqrt | Unary::Rsqrt | Unary::Recip | Unary::Log1p => pos(&[3, 4], 1),
            // stay away from the kinks and jumps
            Unary::Abs | Unary::Relu | Unary::Sign | Unary::Floor | Unary::Ceil | Unary::Round => {
                Tensor::from_slice(&[-0.73, -0.31, 0.22, 0.61, 1.37, -1.62], &[2, 3]).unwrap()
            }
            _ => rand(&[3, 4], 2),
        };
        check1(op.name(), x, |v| v.unary(op));
    }
    check1("powf", pos(&[5], 3), |v| v.powf(2.5));
    check1("affine", rand(&[5], 3), |v| v.affine(-2.0, 1.0));
    check1("clamp", Tensor::from_slice(&[-0.9, -0.2, 0.3, 0.8], &[4]).unwrap(), |v| v.clamp(Some(-0.5), Some(0.5)));
    check1("leaky_relu", Tensor::from_slice(&[-0.9, -0.2, 0.3, 0.8], &[4]).unwrap(), |v| v.leaky_relu(0.1));
    check1("elu", Tensor::from_slice(&[-0.9, -0.2, 0.3, 0.8], &[4]).unwrap(), |v| v.elu(1.0));
    // through f32 and back: a step far above f32 rounding, tolerance at f32 precision
    let cast = GradCheck { eps: 1e-2, atol: 1e-4, rtol: 1e-4 };
    gradcheck(|v| v[0].to_dtype(DType::F32)?.square()?.to_dtype(DType::F64), &[rand(&[5], 4)], &[true], cast).unwrap();
}

#[test]
fn binary_ops_with_broadcasting() {
    let shapes: [(&[usize], &[usize]); 4] = [(&[3, 4], &[3, 4]), (&[3, 1], &[4]), (&[2, 3, 4], &[3, 1]), (&[1], &[2, 2])];
    for (i, (sa, sb)) in shapes.iter().enumerate() {
        let s = i as u64 * 10;
        check2("add", rand(sa, s), rand(sb, s + 1), |a, b| a.add(b));
        check2("sub", rand(sa, s), rand(sb, s + 1), |a, b| a.sub(b));
        check2("mul", rand(sa, s), rand(sb, s + 1), |a, b| a.mul(b));
        check2("div", rand(sa, s), pos(sb, s + 1), |a, b| a.div(b));
        check2("pow", pos(sa, s), rand(sb, s + 1), |a, b| a.pow(b));
        check2("maximum", rand(sa, s), rand(sb, s + 1), |a, b| a.maximum(b));
        check2("minimum", rand(sa, s), rand(sb, s + 1), |a, b| a.minimum(b));
        check2("atan2", rand(sa, s), rand(sb, s + 1), |a, b| a.atan2(b));
    }
    let mask = Tensor::from_bools(&[true, false, false, true], &[2, 2]).unwrap();
    check2("where", rand(&[2, 2], 5), rand(&[2], 6), |a, b| Var::where_cond(&mask, a, b));
    check1("masked_fill", rand(&[2, 2], 7), |a| a.masked_fill(&mask, 3.0));
}

#[test]
fn reductions() {
    let x = rand(&[3, 4, 5], 11);
    for dims in [vec![], vec![0], vec![1], vec![-1], vec![0, 2]] {
        for keep in [false, true] {
            check1("sum", x.clone(), |v| v.sum(&dims, keep));
            check1("mean", x.clone(), |v| v.mean(&dims, keep));
            check1("max", x.clone(), |v| v.max(&dims, keep));
            check1("min", x.clone(), |v| v.min(&dims, keep));
            check1("var", x.clone(), |v| v.var(&dims, 1, keep));
            check1("std0", x.clone(), |v| v.std(&dims, 0, keep));
            check1("logsumexp", x.clone(), |v| v.logsumexp(&dims, keep));
        }
    }
    check1("cumsum", x.clone(), |v| v.cumsum(1));
}

#[test]
fn views() {
    let x = rand(&[2, 3, 4], 21);
    check1("reshape", x.clone(), |v| v.reshape(&[4, -1])?.mul_scalar(2.0));
    check1("permute", x.clone(), |v| v.permute(&[2, 0, 1])?.contiguous());
    check1("transpose", x.clone(), |v| v.transpose(0, 2));
    check1("narrow", x.clone(), |v| v.narrow(2, 1, 2));
    check1("slice", x.clone(), |v| v.slice(2, 0, 4, 3));
    check1("select", x.clone(), |v| v.select(1, 2));
    check1("squeeze", rand(&[2, 1, 3], 22), |v| v.squeeze(&[]));
    check1("unsqueeze", x.clone(), |v| v.unsqueeze(1));
    check1("expand", rand(&[3, 1], 23), |v| v.expand(&[2, 3, 4])?.mul_scalar(1.5));
    check1("flatten", x.clone(), |v| v.flatten(1, 2));
    check1("chunk", x.clone(), |v| {
        let c = v.chunk(2, 2)?;
        c[0].mul(&c[1])
    });
}

#[test]
fn matmul_all_ranks() {
    check2("mm", rand(&[3, 4], 31), rand(&[4, 5], 32), |a, b| a.matmul(b));
    check2("vec-mat", rand(&[4], 33), rand(&[4, 5], 34), |a, b| a.matmul(b));
    check2("mat-vec", rand(&[3, 4], 35), rand(&[4], 36), |a, b| a.matmul(b));
    check2("dot", rand(&[4], 37), rand(&[4], 38), |a, b| a.matmul(b));
    check2("batched-broadcast", rand(&[2, 1, 3, 4], 39), rand(&[5, 4, 2], 40), |a, b| a.matmul(b));
    check2("transposed", rand(&[4, 3], 41), rand(&[5, 4], 42), |a, b| a.t()?.matmul(&b.t()?));
}
