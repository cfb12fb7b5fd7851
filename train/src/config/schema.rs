//! The key schema of a run config: every section, key, type, default, and the seed project a spelling comes
//! from. The tables are data, so validation, the documentation (docs/config.md is checked against
//! `markdown()`), and the CLI's flag list all read the same source.
//!
//! Sections: the root, `model` (common keys + the model type's own hyperparameters, see `models.rs`),
//! `training`, `data`, `checkpoint`, `early_stopping`. `wandb` is accepted as is and ignored.

/// A value's type. Flag values arrive as strings and are parsed into these (see `validate.rs`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Ty {
    Bool,
    /// An integer with a lower bound.
    Int { min: i64 },
    /// A finite number with bounds; `open_min` excludes the lower bound.
    Float { min: f64, max: f64, open_min: bool },
    Str,
    /// One of `choices`; each choice is `canonical|alias|alias` (matched case-insensitively).
    Enum(&'static [&'static str]),
    /// A list (a scalar is a one-element list; a flag value splits on commas).
    List(&'static Ty),
    /// Lightning's "count or fraction" (`limit_train_batches: 10` or `0.25`).
    Batches,
    /// `fast_dev_run`: true/false or a batch count.
    BoolOrCount,
    /// `devices`: `auto`, a count, or a list of device ids.
    Devices,
    /// `logger`: a list of `tensorboard`/`csv`, or `false`/`null` for none.
    Loggers,
    /// Anything (the ignored `wandb` section).
    Any,
}

pub const INT0: Ty = Ty::Int { min: 0 };
pub const INT1: Ty = Ty::Int { min: 1 };
pub const FLOAT: Ty = Ty::Float { min: f64::NEG_INFINITY, max: f64::INFINITY, open_min: false };
pub const FLOAT0: Ty = Ty::Float { min: 0.0, max: f64::INFINITY, open_min: false };
pub const FLOATPOS: Ty = Ty::Float { min: 0.0, max: f64::INFINITY, open_min: true };
pub const PROB: Ty = Ty::Float { min: 0.0, max: 1.0, open_min: false };
pub const LIST_INT1: Ty = Ty::List(&INT1);
pub const LIST_INT0: Ty = Ty::List(&INT0);
pub const LIST_FLOAT: Ty = Ty::List(&FLOAT);
pub const LIST_STR: Ty = Ty::List(&Ty::Str);
pub const MODE: Ty = Ty::Enum(&["min", "max"]);

/// One key of a section.
#[derive(Clone, Copy, Debug)]
pub struct Key {
    pub name: &'static str,
    pub ty: Ty,
    /// `null` is allowed (and means "unset / derive it").
    pub nullable: bool,
    /// The default as a YAML/JSON literal (`"null"`, `"1e-3"`, `"[16, 32]"`, `"\"ST^2\""`).
    pub default: &'static str,
    /// Where the spelling comes from: a seed (`atmodist`, `satformer`, `sitsformer`, `pangu`, `tft`),
    /// `lightning` (PyTorch Lightning's own argument name), `torch`, or `wrt`.
    pub seed: &'static str,
    pub doc: &'static str,
}

const fn k(name: &'static str, ty: Ty, default: &'static str, seed: &'static str, doc: &'static str) -> Key {
    Key { name, ty, nullable: false, default, seed, doc }
}
const fn kn(name: &'static str, ty: Ty, default: &'static str, seed: &'static str, doc: &'static str) -> Key {
    Key { name, ty, nullable: true, default, seed, doc }
}

/// A seed's spelling that is stored under another name (possibly in another section).
#[derive(Clone, Copy, Debug)]
pub struct Alias {
    pub section: &'static str,
    pub name: &'static str,
    /// Canonical `section.key` (`""` section = root).
    pub to: &'static str,
    pub seed: &'static str,
}

pub const SECTIONS: &[&str] = &["model", "training", "data", "checkpoint", "early_stopping", "wandb"];

pub const ROOT: &[Key] = &[
    kn("id", Ty::Str, "null", "atmodist", "Run id (multi-model: each entry's id). Default: the config file's stem, else `run_name`, else the model type."),
    kn("run_name", Ty::Str, "null", "satformer", "Run name; the run directory is `{output_dir}/{run_name}`. Default: `id`."),
    k("output_dir", Ty::Str, "\"experiments\"", "atmodist", "Where run directories go (`experiments/{id}/`)."),
    kn("group", Ty::Str, "null", "wrt", "Set from a multi-model file's top-level `id` (runs still go to `{output_dir}/{run_name}`)."),
    kn("description", Ty::Str, "null", "wrt", "Free text, kept in the saved config."),
    k("logger", Ty::Loggers, "[\"tensorboard\", \"csv\"]", "tft", "Loggers: `tensorboard`, `csv`; `false` for none."),
    kn("resume_from", Ty::Str, "null", "satformer", "Checkpoint to resume training from (exactly: weights, optimizer, RNG, data position)."),
    kn("ckpt_path", Ty::Str, "null", "lightning", "Checkpoint that `validate` and `predict` evaluate."),
    kn("predict_output", Ty::Str, "null", "wrt", "File `predict` writes (`.h5` or `.csv`). Default: `{run_dir}/predictions.h5`."),
    k("use_lightning", Ty::Bool, "true", "atmodist", "Accepted for compatibility; wrt always runs its Lightning-like trainer."),
];

/// Keys every model type has: optimizer, scheduler, loss.
pub const MODEL_COMMON: &[Key] = &[
    k("type", Ty::Str, "null", "atmodist", "Model: `satformer`, `atmodist` (`atmodist_revised`), `sitsformer`, `pangu`, `tft`. Required."),
    k("learning_rate", FLOAT0, "1e-3", "atmodist", "Initial learning rate (`--lr`)."),
    k("optimizer", Ty::Enum(&["adam", "adamw", "sgd"]), "\"adam\"", "atmodist", "`sgd`, `adam` or `adamw`."),
    k("momentum", FLOAT0, "0.0", "atmodist", "SGD momentum."),
    k("dampening", FLOAT0, "0.0", "torch", "SGD dampening."),
    k("nesterov", Ty::Bool, "false", "torch", "SGD Nesterov momentum."),
    k("weight_decay", FLOAT0, "0.0", "atmodist", "Weight decay (coupled L2 for sgd/adam, decoupled for adamw)."),
    k("betas", LIST_FLOAT, "[0.9, 0.999]", "sitsformer", "Adam/AdamW betas."),
    k("eps", FLOATPOS, "1e-8", "torch", "Adam/AdamW epsilon."),
    k("amsgrad", Ty::Bool, "false", "torch", "AMSGrad variant of Adam/AdamW."),
    kn(
        "scheduler",
        Ty::Enum(&[
            "reduce_on_plateau|plateau|reducelronplateau",
            "cosine|cosine_annealing",
            "cosine_restarts|cosine_warm_restarts|cosineannealingwarmrestarts",
            "step|steplr",
            "multistep|multisteplr",
            "onecycle|one_cycle",
        ]),
        "null",
        "atmodist",
        "`reduce_on_plateau`, `cosine` (with `warmup_epochs` > 0: linear warmup then cosine), `cosine_restarts` (warm restarts: `t_0`, `t_mult`), `step`, `multistep`, `onecycle`, or `null`.",
    ),
    k("scheduler_interval", Ty::Enum(&["epoch", "step"]), "\"epoch\"", "lightning", "Step the scheduler every `epoch` or every optimizer `step`."),
    k("lr_scheduler_monitor", Ty::Str, "\"val_loss\"", "tft", "reduce_on_plateau: the metric it watches."),
    k("lr_scheduler_mode", MODE, "\"min\"", "torch", "reduce_on_plateau: `min` or `max`."),
    k("lr_scheduler_factor", Ty::Float { min: 0.0, max: 1.0, open_min: true }, "0.1", "tft", "reduce_on_plateau: multiply the lr by this."),
    k("lr_scheduler_patience", INT0, "10", "tft", "reduce_on_plateau: epochs without improvement before reducing."),
    k("lr_scheduler_threshold", FLOAT0, "1e-4", "torch", "reduce_on_plateau: improvement threshold."),
    k("lr_scheduler_threshold_mode", Ty::Enum(&["rel", "abs"]), "\"rel\"", "torch", "reduce_on_plateau: `rel` or `abs` threshold."),
    k("lr_scheduler_cooldown", INT0, "0", "torch", "reduce_on_plateau: epochs to wait after a reduction."),
    k("lr_scheduler_eps", FLOAT0, "1e-8", "torch", "reduce_on_plateau: ignore reductions smaller than this."),
    k("min_lr", FLOAT0, "0.0", "sitsformer", "Floor of the lr: reduce_on_plateau `min_lr`, cosine `eta_min`."),
    kn("t_max", INT1, "null", "torch", "cosine: period in scheduler intervals. Default: `max_epochs` (or the total steps when `scheduler_interval: step`)."),
    k("t_0", INT1, "10", "tft", "cosine_restarts: length of the first cycle in scheduler intervals (the seed TFT's `T_0`)."),
    k("t_mult", INT1, "2", "tft", "cosine_restarts: each cycle is this many times longer than the one before."),
    k("warmup_epochs", INT0, "0", "sitsformer", "cosine: linear warmup length in epochs (in steps of it when `scheduler_interval: step`)."),
    k("warmup_start_lr", FLOAT0, "0.0", "wrt", "cosine with warmup: the lr warmup starts from."),
    k("step_size", INT1, "30", "sitsformer", "step: period of the decay."),
    k("gamma", FLOATPOS, "0.1", "sitsformer", "step/multistep: decay factor."),
    k("milestones", LIST_INT1, "[]", "torch", "multistep: epochs at which the lr decays."),
    kn("max_lr", FLOATPOS, "null", "torch", "onecycle: peak lr. Default: `learning_rate`."),
    k("pct_start", Ty::Float { min: 0.0, max: 1.0, open_min: true }, "0.3", "torch", "onecycle: fraction of the cycle spent increasing."),
    k("div_factor", FLOATPOS, "25.0", "torch", "onecycle: initial lr = max_lr / div_factor."),
    k("final_div_factor", FLOATPOS, "1e4", "torch", "onecycle: final lr = initial lr / final_div_factor."),
    k("three_phase", Ty::Bool, "false", "torch", "onecycle: three-phase schedule."),
    k("anneal_strategy", Ty::Enum(&["cos", "linear"]), "\"cos\"", "torch", "onecycle: `cos` or `linear` annealing."),
    k(
        "loss_type",
        Ty::Enum(&["cross_entropy|ce", "nll", "bce_with_logits|bce", "mse", "l1|mae", "smooth_l1", "huber", "quantile"]),
        "\"cross_entropy\"",
        "atmodist",
        "Loss function.",
    ),
    k("loss_reduction", Ty::Enum(&["mean", "sum"]), "\"mean\"", "pangu", "`mean` or `sum` over elements (Pangu's seed sums)."),
    k("label_smoothing", Ty::Float { min: 0.0, max: 1.0, open_min: false }, "0.0", "sitsformer", "Cross-entropy label smoothing."),
    k(
        "class_weights",
        Ty::Enum(&["none", "balanced"]),
        "\"none\"",
        "sitsformer",
        "Cross-entropy class weights: `balanced` = n / (K n_c) from the training split's labels (the tutorial's inverse frequency).",
    ),
];

pub const TRAINING: &[Key] = &[
    kn("max_epochs", INT1, "null", "satformer", "Stop after this many epochs (`epochs` in AtmoDist configs). Neither limit set: 1000, as Lightning."),
    k("max_steps", Ty::Int { min: -1 }, "-1", "lightning", "Stop after this many optimizer steps (-1: no limit)."),
    k("batch_size", INT1, "32", "atmodist", "Batch size."),
    k("num_workers", INT0, "0", "satformer", "Background data-loading workers (prefetch pool)."),
    k("train_val_split", Ty::Float { min: 0.0, max: 1.0, open_min: true }, "0.8", "atmodist", "Fraction of the samples used for training; the rest validate."),
    k("shuffle", Ty::Bool, "true", "torch", "Shuffle the training set every epoch (seeded)."),
    k("drop_last", Ty::Bool, "false", "torch", "Drop the last incomplete training batch."),
    k("check_val_every_n_epoch", INT1, "1", "lightning", "Validate every N epochs (`validation_interval` in AtmoDist configs)."),
    k("val_check_interval", Ty::Batches, "1.0", "lightning", "Validate every N training batches (integer) or fraction of an epoch."),
    k("limit_train_batches", Ty::Batches, "1.0", "lightning", "Train on this many batches (integer) or fraction per epoch."),
    k("limit_val_batches", Ty::Batches, "1.0", "lightning", "Validate on this many batches (integer) or fraction."),
    k("num_sanity_val_steps", INT0, "2", "lightning", "Validation batches run before training."),
    k("fast_dev_run", Ty::BoolOrCount, "false", "pangu", "Run 1 (true) or N batches of train and val, no checkpoints or logs."),
    k("accumulate_grad_batches", INT1, "1", "satformer", "Accumulate gradients over N batches per optimizer step."),
    kn("gradient_clip_val", FLOAT0, "null", "pangu", "Clip gradients at this value (null: no clipping)."),
    k("gradient_clip_algorithm", Ty::Enum(&["norm", "value"]), "\"norm\"", "lightning", "`norm` (global L2 norm) or `value` (element-wise)."),
    k("log_every_n_steps", INT1, "50", "atmodist", "Log training metrics every N steps."),
    kn("seed", INT0, "null", "atmodist", "seed_everything: model init, data order, dropout (`--seed`)."),
    k("deterministic", Ty::Bool, "false", "lightning", "Bit-identical runs (and exact resume)."),
    k("precision", Ty::Enum(&["32|32-true|fp32", "16-mixed|16", "bf16-mixed|bf16"]), "\"32\"", "satformer", "`32`, `16-mixed` or `bf16-mixed`."),
    k("enable_progress_bar", Ty::Bool, "true", "lightning", "Progress bar (quiet anyway when output is not a terminal)."),
    k("enable_checkpointing", Ty::Bool, "true", "lightning", "Write checkpoints."),
    k("accelerator", Ty::Enum(&["auto", "cpu", "gpu|cuda"]), "\"auto\"", "pangu", "`auto`, `cpu` or `gpu`."),
    k("devices", Ty::Devices, "\"auto\"", "pangu", "`auto`, a device count, or a list of ids (`--gpus 0,1`)."),
];

pub const DATA: &[Key] = &[
    kn("path", Ty::Str, "null", "atmodist", "HDF5 data file (`--data-path`)."),
    k("variables", LIST_STR, "[]", "atmodist", "Variables (channels) to use, by name."),
    kn("frequency", Ty::Str, "null", "atmodist", "Time step of the series (`3h`)."),
    kn("time_interval", INT1, "null", "atmodist", "AtmoDist: largest time gap in hours (num_classes = time_interval / frequency)."),
    kn("window", INT1, "null", "tft", "TFT (seed): window length in time steps."),
    kn("time_idx", Ty::Str, "null", "tft", "TFT from a CSV table (pytorch-forecasting's `TimeSeriesDataSet` names): the integer time column."),
    k("group_ids", LIST_STR, "[]", "tft", "CSV: the columns that identify a series (none: one series)."),
    kn("target", Ty::Str, "null", "tft", "CSV: the column to forecast."),
    k("static_categoricals", LIST_STR, "[]", "tft", "CSV: per-series categorical columns (embedded)."),
    k("static_reals", LIST_STR, "[]", "tft", "CSV: per-series real columns."),
    k("time_varying_known_reals", LIST_STR, "[]", "tft", "CSV: reals known in advance (calendar, plans); encoder and decoder inputs."),
    k("time_varying_unknown_reals", LIST_STR, "[]", "tft", "CSV: reals observed only in the past (the target's history is added)."),
    kn("max_encoder_length", INT1, "null", "tft", "CSV: encoder (history) steps of each window."),
    kn("max_prediction_length", INT1, "null", "tft", "CSV: decoder (forecast) steps of each window."),
    k("augment", Ty::Bool, "false", "sitsformer", "SITS-Former: random flips and 90-degree rotations of the training samples (on the loader threads)."),
    k("temporal_dropout", Ty::Float { min: 0.0, max: 1.0, open_min: false }, "0.0", "sitsformer", "SITS-Former: drop each valid frame of a training sample with this probability (at least one kept)."),
    k("normalize", Ty::Bool, "true", "sitsformer", "Standardise inputs per channel, with statistics computed once over the whole file and kept in `<file>.stats.json`."),
    k("synthetic", Ty::Bool, "false", "wrt", "Generate a synthetic, learnable dataset of the model's layout at `data.path` when the file is missing (`--synthetic`)."),
    k("synthetic_samples", INT1, "1024", "wrt", "Samples (time steps for atmodist/pangu) of a generated synthetic dataset."),
];

pub const CHECKPOINT: &[Key] = &[
    kn("dirpath", Ty::Str, "null", "lightning", "Checkpoint directory (`--checkpoint_dir`). Default: `{run_dir}/checkpoints`."),
    kn("filename", Ty::Str, "null", "lightning", "File name template: `{epoch}`, `{step}`, metrics (`{val_loss:.4f}`)."),
    kn("monitor", Ty::Str, "\"val_loss\"", "lightning", "Metric that ranks checkpoints (null: keep the latest)."),
    k("mode", MODE, "\"min\"", "lightning", "`min` or `max`."),
    k("save_top_k", Ty::Int { min: -1 }, "1", "satformer", "Keep the best k (-1 all, 0 none)."),
    k("save_last", Ty::Bool, "true", "satformer", "Also write `last.ckpt`."),
    k("every_n_epochs", INT0, "1", "lightning", "Checkpoint every N epochs."),
    k("every_n_train_steps", INT0, "0", "lightning", "Also checkpoint every N optimizer steps (0: off)."),
    k("save_every_n_epochs", INT0, "0", "sitsformer", "Also keep `checkpoint_epoch_{E}.ckpt` every N epochs, never removed (0: off)."),
];

pub const EARLY_STOPPING: &[Key] = &[
    k("enabled", Ty::Bool, "false", "atmodist", "Stop when `monitor` stops improving (`training.early_stopping: true`)."),
    k("monitor", Ty::Str, "\"val_loss\"", "lightning", "Metric to watch."),
    k("mode", MODE, "\"min\"", "lightning", "`min` or `max`."),
    k("patience", INT0, "3", "atmodist", "Validation checks without improvement (`training.patience`)."),
    k("min_delta", FLOAT0, "0.0", "tft", "Minimum improvement."),
    k("check_finite", Ty::Bool, "true", "lightning", "Stop at once when the metric is NaN or infinite."),
];

/// Seed spellings and their canonical place.
pub const ALIASES: &[Alias] = &[
    Alias { section: "training", name: "epochs", to: "training.max_epochs", seed: "atmodist" },
    Alias { section: "training", name: "num_epochs", to: "training.max_epochs", seed: "sitsformer" },
    Alias { section: "training", name: "validation_interval", to: "training.check_val_every_n_epoch", seed: "atmodist" },
    Alias { section: "training", name: "patience", to: "early_stopping.patience", seed: "atmodist" },
    Alias { section: "training", name: "early_stopping_patience", to: "early_stopping.patience", seed: "tft" },
    Alias { section: "training", name: "min_delta", to: "early_stopping.min_delta", seed: "tft" },
    Alias { section: "training", name: "early_stopping_min_delta", to: "early_stopping.min_delta", seed: "tft" },
    Alias { section: "training", name: "checkpoint_dir", to: "checkpoint.dirpath", seed: "satformer" },
    Alias { section: "training", name: "resume_from", to: "resume_from", seed: "satformer" },
    Alias { section: "training", name: "lr", to: "model.learning_rate", seed: "satformer" },
    Alias { section: "training", name: "learning_rate", to: "model.learning_rate", seed: "tft" },
    Alias { section: "training", name: "weight_decay", to: "model.weight_decay", seed: "satformer" },
    Alias { section: "model", name: "lr", to: "model.learning_rate", seed: "satformer" },
    Alias { section: "model", name: "lr_scheduler", to: "model.scheduler", seed: "tft" },
    Alias { section: "model", name: "eta_min", to: "model.min_lr", seed: "torch" },
    Alias { section: "model", name: "lr_scheduler_min_lr", to: "model.min_lr", seed: "tft" },
    Alias { section: "model", name: "loss", to: "model.loss_type", seed: "wrt" },
    Alias { section: "data", name: "num_workers", to: "training.num_workers", seed: "pangu" },
    Alias { section: "data", name: "batch_size", to: "training.batch_size", seed: "pangu" },
    Alias { section: "data", name: "data_path", to: "data.path", seed: "atmodist" },
    Alias { section: "checkpoint", name: "checkpoint_dir", to: "checkpoint.dirpath", seed: "satformer" },
    Alias { section: "", name: "seed", to: "training.seed", seed: "atmodist" },
    Alias { section: "", name: "checkpoint_dir", to: "checkpoint.dirpath", seed: "satformer" },
    Alias { section: "", name: "data_path", to: "data.path", seed: "atmodist" },
    Alias { section: "", name: "experiment_name", to: "run_name", seed: "sitsformer" },
];

/// The keys of a fixed section (the model section's keys depend on the type: `models::model_keys`).
pub fn section_keys(section: &str) -> Option<&'static [Key]> {
    Some(match section {
        "" => ROOT,
        "training" => TRAINING,
        "data" => DATA,
        "checkpoint" => CHECKPOINT,
        "early_stopping" => EARLY_STOPPING,
        _ => return None,
    })
}

/// Split `canonical|alias` choices.
pub fn choice_names(choice: &'static str) -> impl Iterator<Item = &'static str> {
    choice.split('|')
}

/// The canonical spelling of an enum value, if `value` is one of the choices or their aliases.
pub fn enum_canonical(choices: &'static [&'static str], value: &str) -> Option<&'static str> {
    choices
        .iter()
        .find(|c| choice_names(c).any(|n| n.eq_ignore_ascii_case(value)))
        .map(|c| choice_names(c).next().unwrap_or(c))
}

/// The canonical choices, for messages (`one of sgd, adam, adamw`).
pub fn enum_list(choices: &'static [&'static str]) -> String {
    choices.iter().filter_map(|c| choice_names(c).next()).collect::<Vec<_>>().join(", ")
}

pub fn ty_name(ty: &Ty) -> String {
    match ty {
        Ty::Bool => "true/false".into(),
        Ty::Int { min } if *min == i64::MIN => "integer".into(),
        Ty::Int { min } => format!("integer >= {min}"),
        Ty::Float { min, max, open_min } => match (min.is_finite(), max.is_finite()) {
            (false, false) => "number".into(),
            (true, false) => format!("number {} {min}", if *open_min { ">" } else { ">=" }),
            _ => format!("number in {}{min}, {max}]", if *open_min { "(" } else { "[" }),
        },
        Ty::Str => "string".into(),
        Ty::Enum(c) => format!("one of {}", enum_list(c)),
        Ty::List(inner) => format!("list of {}", ty_name(inner)),
        Ty::Batches => "integer count or fraction in [0, 1]".into(),
        Ty::BoolOrCount => "true/false or a batch count".into(),
        Ty::Devices => "`auto`, a count, or a list of device ids".into(),
        Ty::Loggers => "list of tensorboard, csv (or false)".into(),
        Ty::Any => "anything".into(),
    }
}

/// The documentation tables (docs/config.md embeds this output between markers; a test keeps them equal).
pub fn markdown() -> String {
    let mut out = table("Top level", ROOT);
    out += &table("`model:` (every model type)", MODEL_COMMON);
    for m in super::models::MODELS {
        out += &table(&format!("`model:` hyperparameters of `type: {}`{}", m.name, alias_note(m.aliases)), m.keys);
        let seeded: Vec<String> = m.defaults.iter().map(|(k, v)| format!("`{k}: {v}`")).collect();
        out += &format!("Seed defaults of `type: {}` (between the built-in defaults and your config): {}.\n\n", m.name, seeded.join(", "));
    }
    out += &table("`training:`", TRAINING);
    out += &table("`data:`", DATA);
    out += &table("`checkpoint:`", CHECKPOINT);
    out += &table("`early_stopping:`", EARLY_STOPPING);
    out += "### Other spellings accepted\n\n| written as | stored as | from |\n|---|---|---|\n";
    for a in ALIASES {
        let at = if a.section.is_empty() { a.name.to_string() } else { format!("{}.{}", a.section, a.name) };
        out += &format!("| `{at}` | `{}` | {} |\n", a.to, a.seed);
    }
    out += "| `training.early_stopping: true/false` | `early_stopping.enabled` | atmodist |\n";
    out += "| `training.early_stopping: {monitor: ..}` | the `early_stopping:` section | wrt |\n";
    out
}

fn table(title: &str, keys: &[Key]) -> String {
    let mut out = format!("### {title}\n\n| key | type | default | from | meaning |\n|---|---|---|---|---|\n");
    for key in keys {
        let ty = ty_name(&key.ty) + if key.nullable { " or null" } else { "" };
        let default = if key.name == "type" { "required".to_string() } else { format!("`{}`", key.default) };
        out += &format!("| `{}` | {} | {default} | {} | {} |\n", key.name, ty.replace('|', "\\|"), key.seed, key.doc.replace('|', "\\|"));
    }
    out + "\n"
}

fn alias_note(aliases: &[&str]) -> String {
    if aliases.is_empty() {
        String::new()
    } else {
        format!(" (also `{}`)", aliases.join("`, `"))
    }
}
