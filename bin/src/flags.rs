//! The run flags of `train`/`validate`/`predict` (and the argument lists `sweep` and `slurm` pass on): each
//! flag as a seed project spells it, the config key it sets, and whether it takes a value. Every flag also
//! answers to its `-`/`_` twin (`--max-epochs` = `--max_epochs`), added in `cli.rs`.

use wrt_train::config::models;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Takes {
    /// `--flag VALUE`
    Value,
    /// `--flag` alone means true; `--flag false` is accepted too.
    Switch,
}

#[derive(Clone, Debug)]
pub struct Flag {
    /// As typed after `--`, seed spelling.
    pub name: &'static str,
    /// Canonical dotted config path it sets.
    pub path: String,
    pub takes: Takes,
    pub help: String,
    /// Which seed/help group it belongs to (for `--help` headings).
    pub group: &'static str,
}

fn f(name: &'static str, path: &str, group: &'static str, help: &str) -> Flag {
    Flag { name, path: path.into(), takes: Takes::Value, help: help.into(), group }
}
fn s(name: &'static str, path: &str, group: &'static str, help: &str) -> Flag {
    Flag { name, path: path.into(), takes: Takes::Switch, help: help.into(), group }
}

const TRAIN: &str = "Training";
const OPTIM: &str = "Optimizer and scheduler";
const CKPT: &str = "Checkpoints, logs and data";
const MODEL: &str = "Model hyperparameters (checked against --model / model.type)";

/// Every flag that maps onto a config key.
pub fn run_flags() -> Vec<Flag> {
    let mut v = vec![
        f("model", "model.type", TRAIN, "Model type: satformer, atmodist, sitsformer, pangu, tft"),
        f("max_epochs", "training.max_epochs", TRAIN, "Maximum training epochs"),
        f("max_steps", "training.max_steps", TRAIN, "Maximum optimizer steps (-1: no limit)"),
        f("batch_size", "training.batch_size", TRAIN, "Training batch size"),
        f("num_workers", "training.num_workers", TRAIN, "DataLoader workers"),
        f("train_val_split", "training.train_val_split", TRAIN, "Fraction of samples used for training"),
        f("precision", "training.precision", TRAIN, "Training precision (32, 16-mixed, bf16-mixed)"),
        f("accumulate_grad_batches", "training.accumulate_grad_batches", TRAIN, "Gradient accumulation steps"),
        f("gradient_clip_val", "training.gradient_clip_val", TRAIN, "Clip gradients at this value"),
        f("gradient_clip_algorithm", "training.gradient_clip_algorithm", TRAIN, "norm or value"),
        f("check_val_every_n_epoch", "training.check_val_every_n_epoch", TRAIN, "Validate every N epochs"),
        f("val_check_interval", "training.val_check_interval", TRAIN, "Validate every N batches or fraction of an epoch"),
        f("limit_train_batches", "training.limit_train_batches", TRAIN, "Batches (or fraction) per training epoch"),
        f("limit_val_batches", "training.limit_val_batches", TRAIN, "Batches (or fraction) per validation"),
        f("num_sanity_val_steps", "training.num_sanity_val_steps", TRAIN, "Validation batches before training"),
        f("log_every_n_steps", "training.log_every_n_steps", TRAIN, "Log every N steps"),
        s("fast_dev_run", "training.fast_dev_run", TRAIN, "Run 1 (or N) train and val batches as a smoke test"),
        f("seed", "training.seed", TRAIN, "Random seed (seed_everything)"),
        s("deterministic", "training.deterministic", TRAIN, "Bit-identical runs"),
        f("accelerator", "training.accelerator", TRAIN, "auto, cpu or gpu"),
        f("devices", "training.devices", TRAIN, "auto, a device count or ids"),
        s("early_stopping", "early_stopping.enabled", TRAIN, "Stop when the monitored metric stops improving"),
        f("patience", "early_stopping.patience", TRAIN, "Early-stopping patience"),
        f("min_delta", "early_stopping.min_delta", TRAIN, "Early-stopping minimum improvement"),
        f("lr", "model.learning_rate", OPTIM, "Learning rate"),
        f("learning_rate", "model.learning_rate", OPTIM, "Learning rate (same as --lr)"),
        f("weight_decay", "model.weight_decay", OPTIM, "Weight decay (AdamW: decoupled)"),
        f("momentum", "model.momentum", OPTIM, "SGD momentum"),
        f("optimizer", "model.optimizer", OPTIM, "sgd, adam or adamw"),
        f("scheduler", "model.scheduler", OPTIM, "reduce_on_plateau, cosine, step, multistep, onecycle or null"),
        f("lr_scheduler", "model.scheduler", OPTIM, "Same as --scheduler (TFT spelling)"),
        f("warmup_epochs", "model.warmup_epochs", OPTIM, "cosine: linear warmup epochs"),
        f("min_lr", "model.min_lr", OPTIM, "Lowest lr (plateau min_lr, cosine eta_min)"),
        f("lr_scheduler_factor", "model.lr_scheduler_factor", OPTIM, "reduce_on_plateau factor"),
        f("lr_scheduler_patience", "model.lr_scheduler_patience", OPTIM, "reduce_on_plateau patience"),
        f("loss_type", "model.loss_type", OPTIM, "Loss function"),
        f("run_name", "run_name", CKPT, "Custom run name (run directory {output_dir}/{run_name})"),
        f("output_dir", "output_dir", CKPT, "Where run directories go (default experiments)"),
        f("checkpoint_dir", "checkpoint.dirpath", CKPT, "Directory for saving checkpoints"),
        f("resume_from", "resume_from", CKPT, "Path to checkpoint to resume from"),
        f("logger", "logger", CKPT, "Loggers: tensorboard,csv (or none)"),
        f("data-path", "data.path", CKPT, "Path to the processed data file (HDF5)"),
        f("data", "data.path", CKPT, "Same as --data-path"),
        s("synthetic", "data.synthetic", CKPT, "Generate a synthetic dataset at --data-path if the file is missing"),
    ];
    for name in models::all_hparam_names() {
        if v.iter().any(|x| x.name == name) {
            continue;
        }
        let owners: Vec<&str> = models::MODELS.iter().filter(|m| m.keys.iter().any(|k| k.name == name)).map(|m| m.name).collect();
        let doc = models::MODELS.iter().flat_map(|m| m.keys).find(|k| k.name == name).map(|k| k.doc).unwrap_or("");
        v.push(Flag { name, path: format!("model.{name}"), takes: Takes::Value, help: format!("{doc} [{}]", owners.join(", ")), group: MODEL });
    }
    v
}

/// `--gpus 0,1` (AtmoDist): these device ids on the GPU. Gives the two overrides it stands for.
pub fn gpus_overrides(value: &str) -> Vec<(String, String)> {
    let ids = value.trim().trim_start_matches('[').trim_end_matches(']');
    vec![("training.accelerator".into(), "gpu".into()), ("training.devices".into(), format!("[{ids}]"))]
}

/// The `--x_y`/`--x-y` twin of a flag name (None when it has neither character).
pub fn twin(name: &str) -> Option<String> {
    if name.contains('_') {
        Some(name.replace('_', "-"))
    } else if name.contains('-') {
        Some(name.replace('-', "_"))
    } else {
        None
    }
}
