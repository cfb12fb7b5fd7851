//! SaTformer behaviour besides PyTorch parity (satformer_parity.rs): the config's serde form and validation,
//! input errors, inputs smaller than configured, dropout in train mode only with its random streams reported,
//! loading wrapped (`model.` / `module.`) state_dicts, and that the two divided orders really differ.

use std::collections::BTreeMap;
use wrt_autograd::Var;
use wrt_models::satformer::{strip_wrapper_prefix, AttnKind, Satformer, SatformerConfig};
use wrt_nn::{Error, ModuleExt};
use wrt_tensor::{DType, Generator, Tensor};

fn small(attn: AttnKind) -> SatformerConfig {
    SatformerConfig {
        dim: 16,
        depth: 2,
        heads: 2,
        dim_head: 8,
        num_classes: 5,
        image_size: 8,
        patch_size: 4,
        num_frames: 3,
        channels: 3,
        attn,
        attn_dropout: 0.0,
        ff_dropout: 0.0,
    }
}

fn video(shape: &[usize], seed: u64) -> Var {
    Var::new(Generator::new(seed).normal(shape, 0.0, 1.0, DType::F32).unwrap(), false)
}

fn values(v: &Var) -> Vec<f32> {
    v.value().contiguous().unwrap().to_vec::<f32>().unwrap()
}

fn config_error(e: Error) -> String {
    match e {
        Error::Config(m) => m,
        other => panic!("expected a config error, got {other:?}"),
    }
}

#[test]
fn config_serde_defaults_and_spellings() {
    let d = SatformerConfig::default();
    assert_eq!((d.dim, d.depth, d.heads, d.dim_head, d.num_classes), (512, 12, 8, 64, 64));
    assert_eq!((d.image_size, d.patch_size, d.num_frames, d.channels), (32, 4, 4, 11));
    assert_eq!((d.attn, d.attn_dropout, d.ff_dropout), (AttnKind::JointTwice, 0.1, 0.1));
    assert_eq!((d.patches_per_frame(), d.patch_dim(), d.num_positions()), (64, 176, 257));

    let empty: SatformerConfig = serde_json::from_str("{}").unwrap();
    assert_eq!(empty, d);
    let c: SatformerConfig = serde_json::from_str(r#"{"dim": 64, "attn": "T->S"}"#).unwrap();
    assert_eq!((c.dim, c.attn, c.depth), (64, AttnKind::TimeSpace, 12));
    let json = serde_json::to_string(&c).unwrap();
    assert!(json.contains(r#""attn":"T->S""#), "{json}");
    assert_eq!(serde_json::from_str::<SatformerConfig>(&json).unwrap(), c);

    let unknown = serde_json::from_str::<SatformerConfig>(r#"{"dimm": 64}"#).unwrap_err().to_string();
    assert!(unknown.contains("dimm"), "{unknown}");
    assert!(serde_json::from_str::<SatformerConfig>(r#"{"attn": "TS"}"#).is_err());

    for k in AttnKind::ALL {
        assert_eq!(k.as_str().parse::<AttnKind>().unwrap(), k);
        assert_eq!(k.to_string(), k.as_str());
    }
    let msg = config_error("ST2".parse::<AttnKind>().unwrap_err());
    assert!(msg.contains("ST2") && msg.contains("T->S, S->T, ST, ST^2"), "{msg}");
}

#[test]
fn invalid_configs_are_errors_naming_the_field() {
    let cases: [(SatformerConfig, &str); 4] = [
        (SatformerConfig { image_size: 30, ..SatformerConfig::default() }, "image_size 30"),
        (SatformerConfig { heads: 0, ..SatformerConfig::default() }, "heads"),
        (SatformerConfig { ff_dropout: 1.5, ..SatformerConfig::default() }, "ff_dropout"),
        (SatformerConfig { patch_size: 0, ..SatformerConfig::default() }, "patch_size"),
    ];
    for (cfg, want) in cases {
        let msg = config_error(Satformer::new(cfg, &mut Generator::new(0)).err().expect("an invalid config"));
        assert!(msg.contains(want), "{msg} should name {want}");
    }
}

#[test]
fn input_errors_name_the_problem() {
    let m = Satformer::new(small(AttnKind::TimeSpace), &mut Generator::new(0)).unwrap();
    let cases: [(Var, &str); 5] = [
        (video(&[2, 3, 3, 8], 0), "expected [batch, frames, channels, height, width]"),
        (video(&[2, 3, 4, 8, 8], 0), "expected 3 channels"),
        (video(&[2, 3, 3, 8, 6], 0), "multiples of patch_size 4"),
        (video(&[2, 4, 3, 8, 8], 0), "exceed the positional table of 13"),
        (Var::new(Tensor::zeros(&[2, 3, 3, 8, 8], DType::F64).unwrap(), false), "float32"),
    ];
    for (x, want) in cases {
        let msg = config_error(m.forward(&x).err().expect("a bad input"));
        assert!(msg.contains(want), "{msg} should say {want}");
    }
}

/// The positional table is read from its start, so fewer frames (or a smaller grid) run, as in the
/// reference; the logits then differ from a full input's.
#[test]
fn fewer_frames_than_configured() {
    for attn in AttnKind::ALL {
        let m = Satformer::new(small(attn), &mut Generator::new(1)).unwrap();
        let full = video(&[2, 3, 3, 8, 8], 2);
        let short = Var::new(full.value().narrow(1, 0, 2).unwrap().contiguous().unwrap(), false);
        let (a, b) = (m.forward(&full).unwrap(), m.forward(&short).unwrap());
        assert_eq!(a.shape(), [2, 5]);
        assert_eq!(b.shape(), [2, 5]);
        assert_ne!(values(&a), values(&b), "{attn}");
    }
}

/// Dropout acts in train mode only; every dropout layer reports its stream under its PyTorch module path.
#[test]
fn dropout_train_only_and_streams_named() {
    let cfg = SatformerConfig { attn_dropout: 0.3, ff_dropout: 0.3, ..small(AttnKind::JointTwice) };
    let m = Satformer::new(cfg, &mut Generator::new(3)).unwrap();
    let x = video(&[2, 3, 3, 8, 8], 4);
    let (t1, t2) = (values(&m.forward(&x).unwrap()), values(&m.forward(&x).unwrap()));
    assert_ne!(t1, t2, "train mode draws new dropout masks");
    m.eval();
    let (e1, e2) = (values(&m.forward(&x).unwrap()), values(&m.forward(&x).unwrap()));
    assert_eq!(e1, e2, "eval mode is deterministic");
    assert_ne!(e1, t1);

    let names: Vec<String> = m.named_rngs().into_iter().map(|(n, _)| n).collect();
    let mut want = Vec::new();
    for i in 0..2 {
        want.push(format!("layers.{i}.0.fn.to_out.1.rng"));
        want.push(format!("layers.{i}.1.fn.to_out.1.rng"));
        want.push(format!("layers.{i}.2.fn.fn.net.2.rng"));
    }
    assert_eq!(names, want);

    // the same weights with dropout 0 in train mode give the eval logits
    let plain = Satformer::new(small(AttnKind::JointTwice), &mut Generator::new(9)).unwrap();
    plain.load_state_dict(&m.state_dict().into_iter().collect(), true).unwrap();
    assert_eq!(values(&plain.forward(&x).unwrap()), e1);
}

/// T->S and S->T share keys (so each loads the other's weights strictly) but not results.
#[test]
fn divided_orders_share_keys_not_results() {
    let ts = Satformer::new(small(AttnKind::TimeSpace), &mut Generator::new(5)).unwrap();
    let st = Satformer::new(small(AttnKind::SpaceTime), &mut Generator::new(6)).unwrap();
    st.load_state_dict(&ts.state_dict().into_iter().collect(), true).unwrap();
    let x = video(&[2, 3, 3, 8, 8], 7);
    assert_ne!(values(&ts.forward(&x).unwrap()), values(&st.forward(&x).unwrap()));
}

/// "ST" never calls its feed-forward (the reference's bug, kept): those weights get no gradient.
#[test]
fn joint_leaves_feed_forward_unused() {
    let m = Satformer::new(small(AttnKind::Joint), &mut Generator::new(8)).unwrap();
    m.forward(&video(&[2, 3, 3, 8, 8], 9)).unwrap().sum_all().unwrap().backward().unwrap();
    for (name, p) in m.named_parameters() {
        assert_eq!(p.grad().is_none(), name.contains(".1.fn.net.") || name.contains(".1.norm."), "{name}");
    }
}

/// A Lightning (`model.`) or DDP (`module.`) prefix is stripped; then loading is strict.
#[test]
fn load_wrapped_state_dicts() {
    let src = Satformer::new(small(AttnKind::JointTwice), &mut Generator::new(10)).unwrap();
    let dst = Satformer::new(small(AttnKind::JointTwice), &mut Generator::new(11)).unwrap();
    let x = video(&[1, 3, 3, 8, 8], 12);
    src.eval();
    dst.eval();
    for prefix in ["model.", "module.", "module.model.", ""] {
        let sd: BTreeMap<String, Tensor> = src.state_dict().into_iter().map(|(k, v)| (format!("{prefix}{k}"), v)).collect();
        dst.load_pytorch_state_dict(&sd).unwrap();
        assert_eq!(values(&dst.forward(&x).unwrap()), values(&src.forward(&x).unwrap()), "prefix {prefix:?}");
    }
    // a prefix on only some keys is not stripped, and strict loading reports the keys
    let mut sd: BTreeMap<String, Tensor> = src.state_dict().into_iter().collect();
    let w = sd.remove("cls_token").unwrap();
    sd.insert("model.cls_token".into(), w);
    assert_eq!(strip_wrapper_prefix(&sd).len(), sd.len());
    match dst.load_pytorch_state_dict(&sd) {
        Err(Error::Keys { missing, unexpected }) => {
            assert_eq!(missing, ["cls_token"]);
            assert_eq!(unexpected, ["model.cls_token"]);
        }
        other => panic!("expected a key error, got {other:?}"),
    }
}

/// Weights saved as safetensors load into a fresh model and give the same logits.
#[test]
fn safetensors_round_trip() {
    let a = Satformer::new(small(AttnKind::TimeSpace), &mut Generator::new(13)).unwrap();
    let b = Satformer::new(small(AttnKind::TimeSpace), &mut Generator::new(14)).unwrap();
    let path = std::env::temp_dir().join(format!("wrt-satformer-roundtrip-{}.safetensors", std::process::id()));
    a.save_safetensors(&path).unwrap();
    b.load_pytorch_safetensors(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let x = video(&[2, 3, 3, 8, 8], 15);
    assert_eq!(values(&a.forward(&x).unwrap()), values(&b.forward(&x).unwrap()));
    assert_eq!(b.config(), a.config());
}
