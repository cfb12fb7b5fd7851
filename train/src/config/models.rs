//! Per-model key schemas: the hyperparameters each `model.type` takes (names as the seed projects spell them,
//! defaults from the seeds and ../shared/specs), the seed's training defaults for that model, and the
//! cross-key checks. Mistyped keys are caught here before any model code runs; the models crate builds from
//! the validated map (`ModelConfig::hparams`).

use super::schema::{Key, Ty, FLOAT0, FLOATPOS, INT1, LIST_FLOAT, LIST_INT1, PROB};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The five model families.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    Satformer,
    Atmodist,
    Sitsformer,
    Pangu,
    Tft,
}

pub struct ModelSpec {
    /// Canonical `model.type`.
    pub name: &'static str,
    /// Other accepted spellings (the AtmoDist seed writes `atmodist_revised`).
    pub aliases: &'static [&'static str],
    pub kind: ModelKind,
    /// Hyperparameters (the `model:` keys besides the common optimizer/scheduler/loss keys).
    pub keys: &'static [Key],
    /// The seed's defaults for other keys (`section.key`, YAML literal); they sit between the global defaults
    /// and the config file.
    pub defaults: &'static [(&'static str, &'static str)],
    /// Checks that span keys; gets the validated hyperparameters, returns (key, message) on failure.
    pub check: fn(&Map<String, Value>) -> Result<(), (&'static str, String)>,
}

const fn h(name: &'static str, ty: Ty, default: &'static str, seed: &'static str, doc: &'static str) -> Key {
    Key { name, ty, nullable: false, default, seed, doc }
}
const fn hn(name: &'static str, ty: Ty, default: &'static str, seed: &'static str, doc: &'static str) -> Key {
    Key { name, ty, nullable: true, default, seed, doc }
}

pub const MODELS: &[ModelSpec] = &[
    ModelSpec {
        name: "satformer",
        aliases: &[],
        kind: ModelKind::Satformer,
        keys: &[
            h("dim", INT1, "512", "satformer", "Embedding dimension."),
            h("depth", INT1, "12", "satformer", "Transformer layers."),
            h("heads", INT1, "8", "satformer", "Attention heads."),
            h("dim_head", INT1, "64", "satformer", "Width of one head (inner dim = heads * dim_head)."),
            h("num_frames", INT1, "4", "satformer", "Input frames T."),
            h("channels", INT1, "11", "satformer", "Input channels C."),
            h("image_size", INT1, "32", "satformer", "Input height = width."),
            h("patch_size", INT1, "4", "satformer", "Patch side (image_size must be a multiple)."),
            h("num_classes", INT1, "64", "satformer", "Precipitation bins."),
            h("attn", Ty::Enum(&["ST^2|ST2", "ST", "T->S", "S->T"]), "\"ST^2\"", "satformer", "Space-time attention: `T->S`, `S->T`, `ST`, `ST^2`."),
            h("attn_dropout", PROB, "0.1", "satformer", "Dropout after the attention output projection."),
            h("ff_dropout", PROB, "0.1", "satformer", "Dropout inside the feed-forward block."),
        ],
        defaults: &[
            ("model.optimizer", "\"adamw\""),
            ("model.learning_rate", "1e-5"),
            ("model.weight_decay", "0.0"),
            ("model.scheduler", "\"cosine\""),
            ("training.max_epochs", "200"),
            ("training.batch_size", "128"),
            ("training.num_workers", "8"),
            ("checkpoint.filename", "\"satformer-{epoch}-{val_loss}\""),
            ("checkpoint.save_top_k", "3"),
            ("checkpoint.dirpath", "\"checkpoints\""),
        ],
        check: check_satformer,
    },
    ModelSpec {
        name: "atmodist",
        aliases: &["atmodist_revised"],
        kind: ModelKind::Atmodist,
        keys: &[
            h("num_classes", INT1, "8", "atmodist", "Time-gap classes (time_interval / frequency)."),
            h("res_in_channels", INT1, "5", "atmodist", "Input variables."),
            h("res_out_channels_list", LIST_INT1, "[16, 32, 64, 128]", "atmodist", "Channels of the ResNet stages."),
            hn("downstream_stack_channels", INT1, "null", "atmodist", "Channels after concatenating both encodings. Default: 2 * last stage."),
            h("downstream_channels", INT1, "64", "atmodist", "Channels of the comparison head."),
            h("downstream_kernel_size", INT1, "3", "atmodist", "Kernel of the comparison head."),
            h("downstream_fin_shape", INT1, "1", "atmodist", "Spatial side after the head (linear in = channels * side^2)."),
            h("out_conv_channels", INT1, "16", "atmodist", "Stem convolution channels."),
            h("conv_kernel_size", INT1, "8", "atmodist", "Stem convolution kernel."),
            h("stride", INT1, "2", "atmodist", "Stem convolution stride."),
            h("num_blocks", INT1, "6", "atmodist", "Residual blocks per stage."),
        ],
        defaults: &[
            ("model.optimizer", "\"sgd\""),
            ("model.learning_rate", "0.01"),
            ("model.momentum", "0.9"),
            ("model.weight_decay", "1e-5"),
            ("model.scheduler", "\"reduce_on_plateau\""),
            ("model.lr_scheduler_factor", "0.1"),
            ("model.lr_scheduler_patience", "8"),
            ("model.min_lr", "1e-5"),
            ("model.lr_scheduler_eps", "4e-2"),
            ("data.variables", "[\"d2m\", \"u\", \"v\", \"msl\", \"r\"]"),
            ("data.frequency", "\"3h\""),
            ("data.time_interval", "24"),
            // the guide's batch of 256 needs enough pairs per epoch to take a few hundred steps in 20 epochs
            ("data.synthetic_samples", "4096"),
            ("checkpoint.filename", "\"best_model\""),
        ],
        check: check_atmodist,
    },
    ModelSpec {
        name: "sitsformer",
        aliases: &["sits_former", "sits-former"],
        kind: ModelKind::Sitsformer,
        keys: &[
            h("img_size", INT1, "224", "sitsformer", "Input image side."),
            h("patch_size", INT1, "16", "sitsformer", "Patch side (img_size must be a multiple)."),
            h("in_channels", INT1, "13", "sitsformer", "Spectral bands."),
            h("num_classes", INT1, "10", "sitsformer", "Land-cover classes."),
            h("embed_dim", INT1, "256", "sitsformer", "Embedding dimension."),
            h("num_layers", INT1, "8", "sitsformer", "Transformer layers."),
            h("num_heads", INT1, "8", "sitsformer", "Attention heads (must divide embed_dim)."),
            h("mlp_ratio", FLOATPOS, "4.0", "sitsformer", "MLP expansion ratio."),
            h("dropout", PROB, "0.1", "sitsformer", "Dropout."),
            h("max_seq_len", INT1, "20", "sitsformer", "Longest time series (T <= max_seq_len - 1)."),
        ],
        defaults: &[
            ("model.optimizer", "\"adamw\""),
            ("model.learning_rate", "1e-4"),
            ("model.weight_decay", "1e-2"),
            ("model.scheduler", "\"cosine\""),
            ("model.t_max", "100"),
            ("model.min_lr", "1e-6"),
            ("model.warmup_epochs", "5"),
            ("training.max_epochs", "100"),
            ("training.gradient_clip_val", "1.0"),
            ("early_stopping.enabled", "true"),
            ("early_stopping.monitor", "\"val_acc\""),
            ("early_stopping.mode", "\"max\""),
            ("early_stopping.patience", "10"),
            ("checkpoint.monitor", "\"val_acc\""),
            ("checkpoint.mode", "\"max\""),
            ("checkpoint.filename", "\"best_model\""),
            ("checkpoint.save_every_n_epochs", "10"),
        ],
        check: check_sitsformer,
    },
    ModelSpec {
        name: "pangu",
        aliases: &["pangu_weather"],
        kind: ModelKind::Pangu,
        keys: &[
            h("embed_dim", INT1, "128", "pangu", "Patch embedding dimension C."),
            h("num_heads", LIST_INT1, "[8, 16, 16, 8]", "pangu", "Heads of the four layers."),
            h("window_size", LIST_INT1, "[2, 8, 16]", "pangu", "Attention window (levels, lat, lon)."),
            h("grid_size", INT1, "300", "pangu", "Input grid side G."),
            h("time_step", INT1, "1", "pangu", "Forecast steps rolled out."),
            h("mlp_ratio", FLOATPOS, "4.0", "pangu", "MLP expansion ratio."),
            h("noise_factor", FLOAT0, "0.1", "pangu", "Training noise added/subtracted around each rollout step."),
            h("depths", LIST_INT1, "[2, 6, 6, 2]", "wrt", "Blocks of the four layers (the reference's fixed (2, 6, 6, 2); smaller for CPU-sized models)."),
        ],
        defaults: &[
            ("model.optimizer", "\"adam\""),
            ("model.learning_rate", "1e-4"),
            ("model.weight_decay", "0.05"),
            ("model.scheduler", "null"),
            ("model.loss_type", "\"mse\""),
            ("model.loss_reduction", "\"sum\""),
            ("training.max_epochs", "200"),
            ("training.batch_size", "16"),
            ("training.gradient_clip_val", "0.25"),
        ],
        check: check_pangu,
    },
    ModelSpec {
        name: "tft",
        aliases: &["temporal_fusion_transformer"],
        kind: ModelKind::Tft,
        keys: &[
            h("variant", Ty::Enum(&["seed|v1", "canonical|pytorch_forecasting"]), "\"seed\"", "tft", "`seed` (the Lightning project's TFT) or `canonical` (pytorch-forecasting's)."),
            h("input_size", INT1, "32", "tft", "Features per time step."),
            hn("output_size", INT1, "null", "tft", "Outputs per step. Default: input_size."),
            h("hidden_size", INT1, "32", "tft", "Hidden dimension."),
            h("num_heads", INT1, "4", "tft", "Attention heads."),
            h("num_lstm_layers", INT1, "1", "tft", "LSTM layers."),
            h("dropout", PROB, "0.1", "tft", "Dropout."),
            h("hidden_continuous_size", INT1, "8", "tft", "canonical: width of the continuous-variable prescalers."),
            h("quantiles", LIST_FLOAT, "[0.02, 0.1, 0.25, 0.5, 0.75, 0.9, 0.98]", "tft", "canonical: predicted quantiles."),
            h("causal_attention", Ty::Bool, "true", "tft", "canonical: decoder steps attend only to earlier steps."),
        ],
        defaults: &[
            ("model.optimizer", "\"adam\""),
            ("model.learning_rate", "5e-4"),
            ("model.scheduler", "\"reduce_on_plateau\""),
            ("model.lr_scheduler_factor", "0.5"),
            ("model.lr_scheduler_patience", "8"),
            ("model.loss_type", "\"mse\""),
            ("training.max_epochs", "100"),
            ("training.batch_size", "256"),
            ("training.gradient_clip_val", "1.0"),
            ("training.seed", "42"),
            ("early_stopping.enabled", "true"),
            ("early_stopping.patience", "20"),
            ("early_stopping.min_delta", "1e-5"),
            ("checkpoint.filename", "\"tft-{epoch:02d}-{val_loss:.6f}\""),
            ("data.window", "100"),
            // the seed's windows need a long series: 4096 steps (the canonical model: 4096 series)
            ("data.synthetic_samples", "4096"),
        ],
        check: check_tft,
    },
];

/// The spec of a `model.type` as written (canonical name or alias, case-insensitive).
pub fn find(type_name: &str) -> Option<&'static ModelSpec> {
    MODELS.iter().find(|m| m.name.eq_ignore_ascii_case(type_name) || m.aliases.iter().any(|a| a.eq_ignore_ascii_case(type_name)))
}

/// Every accepted `model.type` spelling (for "did you mean" and messages).
pub fn type_names() -> Vec<&'static str> {
    MODELS.iter().flat_map(|m| std::iter::once(m.name).chain(m.aliases.iter().copied())).collect()
}

/// Every hyperparameter name of any model, once (the CLI offers each as a flag).
pub fn all_hparam_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = Vec::new();
    for m in MODELS {
        for k in m.keys {
            if !names.contains(&k.name) {
                names.push(k.name);
            }
        }
    }
    names
}

fn int(h: &Map<String, Value>, k: &str) -> i64 {
    h.get(k).and_then(Value::as_i64).unwrap_or(0)
}

fn ints(h: &Map<String, Value>, k: &str) -> Vec<i64> {
    h.get(k).and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_i64).collect()).unwrap_or_default()
}

fn check_satformer(h: &Map<String, Value>) -> Result<(), (&'static str, String)> {
    let (img, p) = (int(h, "image_size"), int(h, "patch_size"));
    if img % p != 0 {
        return Err(("patch_size", format!("image_size {img} is not a multiple of patch_size {p}")));
    }
    Ok(())
}

fn check_atmodist(h: &Map<String, Value>) -> Result<(), (&'static str, String)> {
    if ints(h, "res_out_channels_list").is_empty() {
        return Err(("res_out_channels_list", "needs at least one stage".into()));
    }
    Ok(())
}

fn check_sitsformer(h: &Map<String, Value>) -> Result<(), (&'static str, String)> {
    let (img, p) = (int(h, "img_size"), int(h, "patch_size"));
    if img % p != 0 {
        return Err(("patch_size", format!("img_size {img} is not a multiple of patch_size {p}")));
    }
    let (d, nh) = (int(h, "embed_dim"), int(h, "num_heads"));
    if d % nh != 0 {
        return Err(("num_heads", format!("embed_dim {d} is not divisible by num_heads {nh}")));
    }
    Ok(())
}

fn check_pangu(h: &Map<String, Value>) -> Result<(), (&'static str, String)> {
    let heads = ints(h, "num_heads");
    if heads.len() != 4 {
        return Err(("num_heads", format!("needs 4 values (one per layer), got {}", heads.len())));
    }
    if ints(h, "depths").len() != 4 {
        return Err(("depths", "needs 4 values (blocks per layer)".into()));
    }
    let w = ints(h, "window_size");
    if w.len() != 3 {
        return Err(("window_size", format!("needs 3 values (levels, lat, lon), got {}", w.len())));
    }
    // The blocks shift windows by (1, 3, 6) whatever the window (spec: reject a shift >= window).
    if w.iter().zip([1, 3, 6]).any(|(w, s)| s >= *w) {
        return Err(("window_size", format!("{w:?}: each window must exceed the fixed shift (1, 3, 6)")));
    }
    let c = int(h, "embed_dim");
    for (i, nh) in heads.iter().enumerate() {
        let dim = if i == 1 || i == 2 { 2 * c } else { c };
        if dim % nh != 0 {
            return Err(("num_heads", format!("layer {} has dim {dim}, not divisible by {nh} heads", i + 1)));
        }
    }
    Ok(())
}

fn check_tft(h: &Map<String, Value>) -> Result<(), (&'static str, String)> {
    let (hs, nh) = (int(h, "hidden_size"), int(h, "num_heads"));
    if hs % nh != 0 {
        return Err(("num_heads", format!("hidden_size {hs} is not divisible by num_heads {nh}")));
    }
    let q: Vec<f64> = h.get("quantiles").and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_f64).collect()).unwrap_or_default();
    if q.is_empty() || q.iter().any(|x| !(*x > 0.0 && *x < 1.0)) || q.windows(2).any(|w| w[0] >= w[1]) {
        return Err(("quantiles", format!("{q:?}: need increasing values strictly between 0 and 1")));
    }
    Ok(())
}
