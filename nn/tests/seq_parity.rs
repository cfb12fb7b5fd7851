//! MultiheadAttention, TransformerEncoder(Layer) and LSTM against PyTorch (SEQ_CASES of
//! tools/parity/gen_nn.py, in tests/fixtures/nn/): each case loads the PyTorch module's state_dict with
//! strict=true, runs one forward in train mode with dropout 0, compares every output, then the backward of
//! sum_k sum(out_k * gout_k) and the gradients of every float input and parameter. Also: dropout acts in
//! train mode only, the fused LSTM scan equals its composed twin (values and f64 gradcheck), PyTorch's init
//! distributions, and input errors.
//!
//! Tolerances: attention and the encoder (softmax, layer norm, GELU, summed in a different order than
//! PyTorch's kernels) rtol 2e-5 / atol 2e-6; LSTM rtol 1e-5 / atol 1e-6 (measured worst errors are
//! printed with `--nocapture`).

use std::collections::{BTreeMap, HashMap};
use wrt_autograd::Var;
use wrt_nn::lstm_scan::{lstm_scan, lstm_scan_composed};
use wrt_nn::*;
use wrt_tensor::{DType, Generator, Tensor};

const ATTN: (f64, f64) = (2e-5, 2e-6);
const RNN: (f64, f64) = (1e-5, 1e-6);

fn fixture(name: &str) -> (BTreeMap<String, Tensor>, HashMap<String, String>) {
    let p = format!("{}/../tests/fixtures/nn/{name}.safetensors", env!("CARGO_MANIFEST_DIR"));
    wrt_tensor::io::load_with_metadata(&p).unwrap_or_else(|e| panic!("{p}: {e} (regenerate with tools/parity/gen_nn.py {name})"))
}

fn f64s(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64).unwrap().to_vec::<f64>().unwrap()
}

/// Largest |a - b| / (atol + rtol |b|): at most 1 passes.
fn assert_close(what: &str, got: &Tensor, want: &Tensor, (rtol, atol): (f64, f64)) -> f64 {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    let mut worst = 0f64;
    for (i, (a, b)) in f64s(got).iter().zip(f64s(want)).enumerate() {
        assert!((a - b).abs() <= atol + rtol * b.abs(), "{what}[{i}]: wrt {a} vs PyTorch {b}");
        worst = worst.max((a - b).abs() / (atol + rtol * b.abs()));
    }
    worst
}

fn names(meta: &HashMap<String, String>, key: &str) -> Vec<String> {
    let list = meta["names"].split(';').find_map(|kv| kv.strip_prefix(key)?.strip_prefix('=')).unwrap_or_else(|| panic!("no {key} list"));
    list.split(',').filter(|s| !s.is_empty()).map(String::from).collect()
}

/// A case's inputs: float inputs as leaves requiring grad, masks as tensors.
struct Inputs {
    vars: BTreeMap<String, Var>,
    masks: BTreeMap<String, Tensor>,
}

impl Inputs {
    fn var(&self, k: &str) -> &Var {
        self.vars.get(k).unwrap_or_else(|| panic!("no input {k}"))
    }
    fn mask(&self, k: &str) -> Option<&Tensor> {
        self.masks.get(k)
    }
}

/// Load the case into `m`, run `call` (which returns the outputs by name) and compare everything.
fn check<M: Module>(name: &str, m: &M, tol: (f64, f64), call: impl Fn(&M, &Inputs) -> Vec<(&'static str, Var)>) {
    let (f, meta) = fixture(name);
    let params: Vec<String> = m.named_parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(params, names(&meta, "params"), "{name}: named_parameters");
    let keys: Vec<String> = m.state_dict().into_iter().map(|(n, _)| n).collect();
    assert_eq!(keys, names(&meta, "keys"), "{name}: state_dict keys");
    let sd: BTreeMap<String, Tensor> = f.iter().filter_map(|(k, v)| k.strip_prefix("state.").map(|k| (k.to_string(), v.deep_clone()))).collect();
    m.load_state_dict(&sd, true).unwrap_or_else(|e| panic!("{name}: {e}"));

    let mut inputs = Inputs { vars: BTreeMap::new(), masks: BTreeMap::new() };
    for (k, v) in &f {
        let Some(k) = k.strip_prefix("in.") else { continue };
        if k.starts_with("mask.") {
            inputs.masks.insert(k.to_string(), v.clone());
        } else {
            inputs.vars.insert(k.to_string(), Var::new(v.deep_clone(), true));
        }
    }
    m.train();
    let outs = call(m, &inputs);
    let mut worst = 0f64;
    let mut loss: Option<Var> = None;
    for (k, y) in &outs {
        worst = worst.max(assert_close(&format!("{name} out.{k}"), y.value(), &f[&format!("out.{k}")], tol));
        let term = y.mul(&Var::constant(f[&format!("gout.{k}")].clone())).unwrap().sum_all().unwrap();
        loss = Some(match loss {
            Some(l) => l.add(&term).unwrap(),
            None => term,
        });
    }
    let want_outs = f.keys().filter(|k| k.starts_with("out.")).count();
    assert_eq!(outs.len(), want_outs, "{name}: every output of the fixture is compared");
    loss.expect("at least one output").backward().unwrap();
    for (k, x) in &inputs.vars {
        let g = x.grad().unwrap_or_else(|| panic!("{name}: no gradient for input {k}"));
        worst = worst.max(assert_close(&format!("{name} grad.in.{k}"), &g, &f[&format!("grad.in.{k}")], tol));
    }
    for (n, p) in m.named_parameters() {
        let g = p.grad().unwrap_or_else(|| panic!("{name}: no gradient for {n}"));
        worst = worst.max(assert_close(&format!("{name} grad.{n}"), &g, &f[&format!("grad.{n}")], tol));
    }
    println!("{name}: worst error {worst:.3} of the tolerance {tol:?}");
}

fn g() -> Generator {
    Generator::new(11)
}

fn mha(g: &mut Generator, e: usize, h: usize, cfg: MhaConfig) -> MultiheadAttention {
    MultiheadAttention::new(g, e, h, cfg).unwrap()
}

#[test]
fn multihead_attention_matches_pytorch() {
    let g = &mut g();
    // self-attention, [L, N, E], Bool key padding and causal masks, averaged weights
    let m = mha(g, 8, 2, MhaConfig::default());
    check("mha_self_bool_masks", &m, ATTN, |m, i| {
        let x = i.var("x");
        let args = AttnArgs { key_padding_mask: i.mask("mask.key_padding"), attn_mask: i.mask("mask.attn"), ..AttnArgs::default() };
        let (y, w) = m.forward_qkv(x, x, x, &args).unwrap();
        vec![("output", y), ("weights", w.unwrap())]
    });
    // cross-attention, batch_first, float masks ([N * heads, L, S] attn_mask), per-head weights
    let m = mha(g, 8, 2, MhaConfig { batch_first: true, ..MhaConfig::default() });
    check("mha_cross_float_masks_batch_first", &m, ATTN, |m, i| {
        let args = AttnArgs { key_padding_mask: i.mask("mask.key_padding"), attn_mask: i.mask("mask.attn"), need_weights: true, average_attn_weights: false };
        let (y, w) = m.forward_qkv(i.var("query"), i.var("key"), i.var("value"), &args).unwrap();
        vec![("output", y), ("weights", w.unwrap())]
    });
    // kdim / vdim != embed_dim (q/k/v_proj_weight), Bool masks, fused path without weights
    let m = mha(g, 8, 4, MhaConfig { kdim: Some(5), vdim: Some(3), batch_first: true, ..MhaConfig::default() });
    check("mha_kvdim_noweights", &m, ATTN, |m, i| {
        let args = AttnArgs::masks(i.mask("mask.key_padding"), i.mask("mask.attn"));
        let (y, w) = m.forward_qkv(i.var("query"), i.var("key"), i.var("value"), &args).unwrap();
        assert!(w.is_none());
        vec![("output", y)]
    });
    // unbatched [L, E], no biases
    let m = mha(g, 6, 3, MhaConfig { bias: false, ..MhaConfig::default() });
    check("mha_nobias_unbatched", &m, ATTN, |m, i| {
        let (y, w) = m.self_attention(i.var("x"), &AttnArgs::default()).unwrap();
        vec![("output", y), ("weights", w.unwrap())]
    });
}

#[test]
fn attention_paths_agree_and_bad_masks_are_errors() {
    let g = &mut g();
    let m = mha(g, 8, 2, MhaConfig { batch_first: true, ..MhaConfig::default() });
    let x = Var::constant(g.normal(&[2, 5, 8], 0.0, 1.0, DType::F32).unwrap());
    let kpm = Tensor::from_bools(&[false, false, false, true, true, false, false, false, false, true], &[2, 5]).unwrap();
    // the fused path (no weights) and the composed one (weights) give one output
    let (fused, _) = m.self_attention(&x, &AttnArgs::masks(Some(&kpm), None)).unwrap();
    let (composed, w) = m.self_attention(&x, &AttnArgs { key_padding_mask: Some(&kpm), ..AttnArgs::default() }).unwrap();
    assert_close("fused vs composed", fused.value(), composed.value(), (1e-5, 1e-6));
    // padded keys get weight 0, rows sum to 1
    let w = f64s(w.unwrap().value());
    for (r, row) in w.chunks(5).enumerate() {
        assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-5);
        let padded: &[usize] = if r < 5 { &[3, 4] } else { &[4] };
        assert!(padded.iter().all(|&j| row[j] == 0.0), "row {r}: {row:?}");
    }
    // a Bool mask and its additive twin agree
    let add = Tensor::zeros(&[2, 5], DType::F32).unwrap().masked_fill(&kpm, f64::NEG_INFINITY).unwrap();
    let (y_add, _) = m.self_attention(&x, &AttnArgs::masks(Some(&add), None)).unwrap();
    assert_close("additive vs Bool mask", y_add.value(), fused.value(), (1e-6, 1e-7));
    // wrong shapes and dtypes
    let bad = Tensor::zeros(&[5, 2], DType::Bool).unwrap();
    assert!(m.self_attention(&x, &AttnArgs::masks(Some(&bad), None)).is_err());
    assert!(m.self_attention(&x, &AttnArgs::masks(None, Some(&Tensor::zeros(&[3, 5, 5], DType::Bool).unwrap()))).is_err());
    assert!(m.self_attention(&x, &AttnArgs::masks(None, Some(&Tensor::zeros(&[5, 5], DType::I64).unwrap()))).is_err());
    assert!(m.self_attention(&Var::constant(Tensor::zeros(&[2, 5, 6], DType::F32).unwrap()), &AttnArgs::default()).is_err());
    assert!(MultiheadAttention::new(g, 10, 3, MhaConfig::default()).is_err());
}

#[test]
fn transformer_encoders_match_pytorch() {
    let g = &mut g();
    let cfg = EncoderLayerConfig { dim_feedforward: 16, dropout: 0.0, activation: Activation::Gelu, batch_first: true, ..EncoderLayerConfig::new(8, 2) };
    let post = TransformerEncoderLayer::new(g, &cfg).unwrap();
    check("encoder_layer_post_gelu", &post, ATTN, |m, i| vec![("output", m.forward_masked(i.var("x"), None, i.mask("mask.key_padding")).unwrap())]);
    let pre_cfg = EncoderLayerConfig { norm_first: true, batch_first: false, layer_norm_eps: 1e-6, ..cfg.clone() };
    let pre = TransformerEncoderLayer::new(g, &pre_cfg).unwrap();
    check("encoder_layer_pre_gelu", &pre, ATTN, |m, i| vec![("output", m.forward_masked(i.var("x"), i.mask("mask.attn"), None).unwrap())]);
    let relu = EncoderLayerConfig { activation: Activation::Relu, ..cfg };
    let enc = TransformerEncoder::new(g, &relu, 2, Some(LayerNorm::new(&[8]).unwrap())).unwrap();
    check("encoder_2layers_relu_norm", &enc, ATTN, |m, i| {
        vec![("output", m.forward_masked(i.var("x"), i.mask("mask.attn"), i.mask("mask.key_padding")).unwrap())]
    });
}

#[test]
fn lstms_match_pytorch() {
    let g = &mut g();
    let bf = LstmConfig { num_layers: 2, batch_first: true, ..LstmConfig::default() };
    let run = |m: &LSTM, i: &Inputs| {
        let state = i.vars.get("h0").map(|h0| (h0, i.var("c0")));
        let (y, (h, c)) = m.forward(i.var("x"), state).unwrap();
        vec![("output", y), ("h_n", h), ("c_n", c)]
    };
    check("lstm_2layer_batch_first", &LSTM::new(g, 4, 6, bf.clone()).unwrap(), RNN, run);
    check("lstm_2layer_batch_first_state", &LSTM::new(g, 4, 6, bf).unwrap(), RNN, run);
    let bi = LstmConfig { num_layers: 2, bidirectional: true, ..LstmConfig::default() };
    check("lstm_bidirectional_state", &LSTM::new(g, 4, 5, bi).unwrap(), RNN, run);
    check("lstm_nobias", &LSTM::new(g, 3, 4, LstmConfig { bias: false, ..LstmConfig::default() }).unwrap(), RNN, run);
}

#[test]
fn lstm_inputs_are_checked_and_unbatched_input_works() {
    let g = &mut g();
    let m = LSTM::new(g, 3, 4, LstmConfig { num_layers: 2, ..LstmConfig::default() }).unwrap();
    let x = Var::constant(g.normal(&[5, 2, 3], 0.0, 1.0, DType::F32).unwrap());
    let (y, (h, c)) = m.forward(&x, None).unwrap();
    assert_eq!((y.shape(), h.shape(), c.shape()), (&[5, 2, 4][..], &[2, 2, 4][..], &[2, 2, 4][..]));
    // unbatched [T, in] equals batch element 0
    let (y0, (h0, _)) = m.forward(&Var::constant(x.value().select(1, 0).unwrap()), None).unwrap();
    assert_close("unbatched output", y0.value(), &y.value().select(1, 0).unwrap(), (1e-6, 1e-7));
    assert_close("unbatched h_n", h0.value(), &h.value().select(1, 0).unwrap(), (1e-6, 1e-7));
    assert!(m.forward(&Var::constant(Tensor::zeros(&[5, 2, 4], DType::F32).unwrap()), None).is_err());
    let wrong = Var::constant(Tensor::zeros(&[1, 2, 4], DType::F32).unwrap());
    assert!(m.forward(&x, Some((&wrong, &wrong))).is_err());
    assert!(LSTM::new(g, 3, 4, LstmConfig { proj_size: 2, ..LstmConfig::default() }).is_err());
}

type Scan = fn(&Var, &Var, &Var, &Var, bool) -> wrt_nn::Result<wrt_nn::lstm_scan::ScanOut>;

/// The scan's inputs: xproj [T, B, 4H], w_hh [4H, H], h0, c0 [B, H].
fn scan_inputs(g: &mut Generator, dtype: DType) -> Vec<Tensor> {
    let (t, b, h) = (4, 2, 3);
    [vec![t, b, 4 * h], vec![4 * h, h], vec![b, h], vec![b, h]].iter().map(|s| g.normal(s, 0.0, 0.7, dtype).unwrap()).collect()
}

#[test]
fn fused_lstm_scan_equals_its_composed_twin() {
    let g = &mut g();
    for reverse in [false, true] {
        let ins = scan_inputs(g, DType::F32);
        let gout = [g.normal(&[4, 2, 3], 0.0, 1.0, DType::F32).unwrap(), g.normal(&[2, 3], 0.0, 1.0, DType::F32).unwrap(), g.normal(&[2, 3], 0.0, 1.0, DType::F32).unwrap()];
        let mut results = Vec::new();
        let scans: [Scan; 2] = [lstm_scan, lstm_scan_composed];
        for scan in scans {
            let v: Vec<Var> = ins.iter().map(|t| Var::new(t.deep_clone(), true)).collect();
            let r = scan(&v[0], &v[1], &v[2], &v[3], reverse).unwrap();
            let outs = [r.hs, r.h_n, r.c_n];
            let mut loss = outs[0].mul(&Var::constant(gout[0].clone())).unwrap().sum_all().unwrap();
            for (o, go) in outs.iter().zip(&gout).skip(1) {
                loss = loss.add(&o.mul(&Var::constant(go.clone())).unwrap().sum_all().unwrap()).unwrap();
            }
            loss.backward().unwrap();
            let grads: Vec<Tensor> = v.iter().map(|x| x.grad().unwrap()).collect();
            results.push((outs.map(|o| o.value().clone()), grads));
        }
        let ((fo, fg), (co, cg)) = (&results[0], &results[1]);
        for (k, (a, b)) in fo.iter().zip(co).enumerate() {
            assert_close(&format!("reverse={reverse} output {k}"), a, b, (1e-5, 1e-6));
        }
        for (k, (a, b)) in fg.iter().zip(cg).enumerate() {
            assert_close(&format!("reverse={reverse} grad of input {k}"), a, b, (1e-5, 1e-6));
        }
        // f64 finite differences through all three outputs
        let ins = scan_inputs(g, DType::F64);
        let f = |v: &[Var]| -> wrt_autograd::Result<Var> {
            let r = lstm_scan(&v[0], &v[1], &v[2], &v[3], reverse).map_err(|e| wrt_autograd::Error::Graph(e.to_string()))?;
            Var::cat(&[r.hs.flatten(0, -1)?, r.h_n.flatten(0, -1)?, r.c_n.flatten(0, -1)?], 0)
        };
        wrt_autograd::gradcheck(f, &ins, &[true; 4], wrt_autograd::GradCheck::default()).unwrap();
    }
}

/// Max |a - b| over two tensors.
fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    f64s(a).iter().zip(f64s(b)).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

/// A copy of `m`'s parameters into `other` (same architecture).
fn copy_params<M: Module>(from: &M, to: &M) {
    let sd: BTreeMap<String, Tensor> = from.state_dict().into_iter().map(|(k, t)| (k, t.deep_clone())).collect();
    to.load_state_dict(&sd, true).unwrap();
}

#[test]
fn dropout_acts_in_train_mode_only() {
    let g = &mut g();
    let x = Var::constant(g.normal(&[2, 6, 8], 0.0, 1.0, DType::F32).unwrap());

    // attention: eval equals the dropout-free layer; train drops probabilities (scaled by 1/(1-p))
    let cfg = MhaConfig { batch_first: true, dropout: 0.5, ..MhaConfig::default() };
    let (m, m0) = (mha(g, 8, 2, cfg.clone()), mha(g, 8, 2, MhaConfig { dropout: 0.0, ..cfg }));
    copy_params(&m, &m0);
    let (want, w0) = m0.self_attention(&x, &AttnArgs::default()).unwrap();
    m.eval();
    let (y, w) = m.self_attention(&x, &AttnArgs::default()).unwrap();
    assert_eq!(max_diff(y.value(), want.value()), 0.0);
    assert_eq!(max_diff(w.unwrap().value(), w0.as_ref().unwrap().value()), 0.0);
    m.train();
    let (y, w) = m.self_attention(&x, &AttnArgs { average_attn_weights: false, ..AttnArgs::default() }).unwrap();
    assert!(max_diff(y.value(), want.value()) > 1e-3);
    let w = f64s(w.unwrap().value());
    let zeros = w.iter().filter(|&&p| p == 0.0).count() as f64 / w.len() as f64;
    assert!((0.3..0.7).contains(&zeros), "dropped fraction {zeros}");
    let (y_fused, _) = m.self_attention(&x, &AttnArgs::masks(None, None)).unwrap();
    assert!(max_diff(y_fused.value(), want.value()) > 1e-3, "the fused path drops too");

    // encoder layer
    let cfg = EncoderLayerConfig { dim_feedforward: 16, dropout: 0.3, batch_first: true, ..EncoderLayerConfig::new(8, 2) };
    let (l, l0) = (TransformerEncoderLayer::new(g, &cfg).unwrap(), TransformerEncoderLayer::new(g, &EncoderLayerConfig { dropout: 0.0, ..cfg }).unwrap());
    copy_params(&l, &l0);
    let want = l0.forward(&x).unwrap();
    assert!(max_diff(l.forward(&x).unwrap().value(), want.value()) > 1e-3);
    l.eval();
    assert_eq!(max_diff(l.forward(&x).unwrap().value(), want.value()), 0.0);

    // LSTM: between layers only
    let cfg = LstmConfig { num_layers: 2, dropout: 0.5, batch_first: true, ..LstmConfig::default() };
    let (r, r0) = (LSTM::new(g, 8, 5, cfg.clone()).unwrap(), LSTM::new(g, 8, 5, LstmConfig { dropout: 0.0, ..cfg }).unwrap());
    copy_params(&r, &r0);
    let (want, (h0, _)) = r0.forward(&x, None).unwrap();
    let (y, (h, _)) = r.forward(&x, None).unwrap();
    assert!(max_diff(y.value(), want.value()) > 1e-3);
    // the first layer's final state is before any dropout
    assert_eq!(max_diff(&h.value().select(0, 0).unwrap(), &h0.value().select(0, 0).unwrap()), 0.0);
    r.eval();
    assert_eq!(max_diff(r.forward(&x, None).unwrap().0.value(), want.value()), 0.0);

    // the streams are reported for checkpoints
    let rngs: Vec<String> = l.named_rngs().into_iter().map(|(n, _)| n).collect();
    assert_eq!(rngs, ["self_attn.rng", "dropout.rng", "dropout1.rng", "dropout2.rng"]);
    assert_eq!(r.named_rngs().len(), 1);
}

/// U(-b, b) within statistical error (mean 0, std b/sqrt 3), inside the bounds.
fn assert_uniform(what: &str, t: &Tensor, b: f64) {
    let v = f64s(t);
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let std = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
    assert!(v.iter().all(|x| x.abs() <= b), "{what}: outside ±{b}");
    let sd = b / 3f64.sqrt();
    assert!(mean.abs() < 4.0 * sd / n.sqrt() && (std / sd - 1.0).abs() < 1.8 / n.sqrt(), "{what}: mean {mean}, std {std} vs U(±{b})");
}

#[test]
fn fresh_layers_have_pytorchs_init() {
    let g = &mut g();
    let e = 64;
    let m = mha(g, e, 4, MhaConfig::default());
    let wrt_nn::attention::InProj::Packed(w) = &m.in_proj else { panic!("packed in_proj expected") };
    assert_eq!(w.shape(), &[3 * e, e]);
    // xavier_uniform on [3E, E]: bound sqrt(6 / (E + 3E))
    assert_uniform("in_proj_weight", w.value(), (6.0 / (4 * e) as f64).sqrt());
    assert_uniform("out_proj.weight", m.out_proj.weight.value(), 1.0 / (e as f64).sqrt());
    assert!(f64s(m.in_proj_bias.as_ref().unwrap().value()).iter().all(|&x| x == 0.0));
    assert!(f64s(m.out_proj.bias.as_ref().unwrap().value()).iter().all(|&x| x == 0.0));
    let m = mha(g, 16, 2, MhaConfig { kdim: Some(8), vdim: Some(4), bias: false, ..MhaConfig::default() });
    let names: Vec<String> = m.named_parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["q_proj_weight", "k_proj_weight", "v_proj_weight", "out_proj.weight"]);

    let lstm = LSTM::new(g, 16, 32, LstmConfig { num_layers: 2, bidirectional: true, ..LstmConfig::default() }).unwrap();
    for (n, p) in lstm.named_parameters() {
        assert_uniform(&n, p.value(), 1.0 / 32f64.sqrt());
    }
    assert_eq!(lstm.named_parameters()[4].0, "weight_ih_l0_reverse");
    assert_eq!(lstm.cells[2].weight_ih.shape(), &[128, 64]);

    // nn.TransformerEncoder deep-copies its layer: every layer starts equal
    let enc = TransformerEncoder::new(g, &EncoderLayerConfig { dim_feedforward: 32, ..EncoderLayerConfig::new(16, 2) }, 3, None).unwrap();
    let sds: Vec<Vec<(String, Tensor)>> = enc.layers.iter().map(|l| l.state_dict()).collect();
    for sd in &sds[1..] {
        for ((k, a), (_, b)) in sd.iter().zip(&sds[0]) {
            assert_eq!(max_diff(a, b), 0.0, "{k}");
        }
    }
    assert_eq!(enc.state_dict().len(), 3 * 12);
}
