//! Presets (`--preset NAME`): named lists of settings, applied as if typed on the command line before every
//! other flag, so the user's own flags still win (`--preset quickstart --max_epochs 3`).

use super::load::Override;
use crate::{Error, Result};

pub struct Preset {
    pub name: &'static str,
    pub about: &'static str,
    /// (dotted config key, value as a flag would give it)
    pub settings: &'static [(&'static str, &'static str)],
}

pub const PRESETS: &[Preset] = &[Preset {
    name: "quickstart",
    about: "A small SaTformer (dim 64, depth 2, ST^2) on a synthetic dataset generated on first use; trains in about \
            two minutes on 2 CPU cores with val_loss falling and CSI rising above climatology.",
    settings: &[
        ("model.type", "satformer"),
        ("model.dim", "64"),
        ("model.depth", "2"),
        ("model.heads", "4"),
        ("model.dim_head", "16"),
        ("model.attn_dropout", "0.0"),
        ("model.ff_dropout", "0.0"),
        ("model.num_classes", "16"),
        ("model.learning_rate", "2e-3"),
        ("model.weight_decay", "0.01"),
        ("model.warmup_epochs", "1"),
        ("model.scheduler_interval", "step"),
        ("training.max_epochs", "8"),
        ("training.batch_size", "32"),
        ("training.num_workers", "1"),
        ("training.precision", "32"),
        ("training.seed", "42"),
        ("training.log_every_n_steps", "5"),
        ("data.path", "data/satformer-quickstart.h5"),
        ("data.synthetic", "true"),
        ("data.synthetic_samples", "1280"),
        ("run_name", "quickstart"),
    ],
}];

/// The settings of preset `name` as overrides (flag `--preset NAME`); an unknown name lists the presets.
pub fn overrides(name: &str) -> Result<Vec<Override>> {
    let p = PRESETS.iter().find(|p| p.name == name).ok_or_else(|| Error::ConfigKey {
        file: "command line".into(),
        line: None,
        key: "--preset".into(),
        msg: format!("unknown preset '{name}' (presets: {})", PRESETS.iter().map(|p| p.name).collect::<Vec<_>>().join(", ")),
    })?;
    Ok(p.settings.iter().map(|(k, v)| Override::new(*k, *v, format!("--preset {name}"))).collect())
}
