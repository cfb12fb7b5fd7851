//! The checkpoint file: one safetensors file holding the model's state_dict (`model.<key>`) and the
//! optimizer's moment buffers (`optim.<key>`), with everything else — format version, hyperparameters, loop
//! position, scheduler, random streams, callback states, metrics — as JSON in the safetensors metadata under
//! the key `wrt`. One file means one atomic rename (temp + fsync + rename), and any safetensors reader (Python's
//! `safetensors.safe_open(...).metadata()`) can look inside.

use crate::optim::OptimState;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use wrt_tensor::Tensor;

/// Bumped when the layout changes incompatibly; a newer file is refused with a clear message.
pub const FORMAT_VERSION: u32 = 1;

const MODEL: &str = "model.";
const OPTIM: &str = "optim.";

/// Where the training loop stands: the next batch to run is batch `batch_in_epoch` of epoch `epoch`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Position {
    pub epoch: u64,
    pub batch_in_epoch: u64,
    pub global_step: u64,
}

/// The JSON part of a checkpoint.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Meta {
    pub format: u32,
    pub wrt_version: String,
    /// The model's name and hyperparameters (`TrainModule::hparams`), enough to rebuild it.
    pub hparams: serde_json::Value,
    pub position: Position,
    /// The optimizer's JSON scalars (`OptimState::meta`); its tensors are the `optim.*` entries.
    pub optimizer: serde_json::Value,
    pub scheduler: Option<serde_json::Value>,
    /// (seed, offset) of each named random stream, plus `default` for the global generator.
    pub rng: BTreeMap<String, (u64, u64)>,
    /// Callback states by callback name (ModelCheckpoint's best-k table, EarlyStopping's counters).
    pub callbacks: BTreeMap<String, serde_json::Value>,
    /// The latest value of every logged metric (Lightning's `callback_metrics`).
    pub metrics: BTreeMap<String, f64>,
    /// Mid-epoch accumulations (epoch means so far, streaming metric states) so a resumed epoch logs what
    /// the uninterrupted one would have.
    pub loop_state: serde_json::Value,
    /// The GradScaler's state_dict of a `16-mixed` run (Lightning's `native_amp_scaling_state`).
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "native_amp_scaling_state")]
    pub amp_scaling_state: Option<serde_json::Value>,
}

/// A whole checkpoint in memory.
pub struct Checkpoint {
    pub model: Vec<(String, Tensor)>,
    pub optim_tensors: Vec<(String, Tensor)>,
    pub meta: Meta,
}

impl Checkpoint {
    /// Write atomically: readers see the previous file or this one, never a torn one.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut tensors = Vec::with_capacity(self.model.len() + self.optim_tensors.len());
        tensors.extend(self.model.iter().map(|(k, t)| (format!("{MODEL}{k}"), t.clone())));
        tensors.extend(self.optim_tensors.iter().map(|(k, t)| (format!("{OPTIM}{k}"), t.clone())));
        let json = serde_json::to_string(&self.meta).map_err(|e| Error::checkpoint(path, e.to_string()))?;
        let meta = HashMap::from([("wrt".to_string(), json), ("format".to_string(), "wrt-checkpoint".to_string())]);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        wrt_tensor::io::save(path, &tensors, Some(meta)).map_err(|e| Error::checkpoint(path, e.to_string()))
    }

    /// Read and check a checkpoint: a truncated, corrupt or foreign file is an error naming the file.
    pub fn load(path: &Path) -> Result<Checkpoint> {
        if !path.exists() {
            return Err(Error::checkpoint(path, "no such file"));
        }
        let (tensors, meta) = wrt_tensor::io::load_with_metadata(path)
            .map_err(|e| Error::checkpoint(path, format!("not a readable checkpoint (truncated or corrupt?): {e}")))?;
        let json = meta.get("wrt").ok_or_else(|| {
            Error::checkpoint(path, "a safetensors file without wrt checkpoint metadata (a plain weights file? load it with load_safetensors)")
        })?;
        let meta: Meta = serde_json::from_str(json).map_err(|e| Error::checkpoint(path, format!("metadata does not parse: {e}")))?;
        if meta.format > FORMAT_VERSION {
            return Err(Error::checkpoint(path, format!("format {} is newer than this wrt understands ({FORMAT_VERSION})", meta.format)));
        }
        let (mut model, mut optim_tensors) = (Vec::new(), Vec::new());
        for (k, t) in tensors {
            if let Some(rest) = k.strip_prefix(MODEL) {
                model.push((rest.to_string(), t));
            } else if let Some(rest) = k.strip_prefix(OPTIM) {
                optim_tensors.push((rest.to_string(), t));
            } else {
                return Err(Error::checkpoint(path, format!("unexpected tensor '{k}' (expected model.* or optim.*)")));
            }
        }
        Ok(Checkpoint { model, optim_tensors, meta })
    }

    pub fn optim_state(&self) -> OptimState {
        OptimState { tensors: self.optim_tensors.clone(), meta: self.meta.optimizer.clone() }
    }

    /// The model's state_dict as a map, for `load_state_dict`.
    pub fn model_state(&self) -> BTreeMap<String, Tensor> {
        self.model.iter().cloned().collect()
    }

    /// Write the model weights alone as a plain safetensors state_dict (loads in PyTorch with
    /// `model.load_state_dict(safetensors.torch.load_file(path))`).
    pub fn export_weights(&self, path: &Path) -> Result<()> {
        wrt_tensor::io::save(path, &self.model, None).map_err(|e| Error::io(path, e))
    }
}

/// Rebuild a model from a checkpoint: `build` receives the saved hyperparameters and returns a fresh model
/// whose weights are then loaded strictly (Lightning's `Model.load_from_checkpoint(path)`).
pub fn load_from_checkpoint<M: wrt_nn::Module>(path: &Path, build: impl FnOnce(&serde_json::Value) -> Result<M>) -> Result<M> {
    use wrt_nn::ModuleExt;
    let ck = Checkpoint::load(path)?;
    let model = build(&ck.meta.hparams)?;
    model.load_state_dict(&ck.model_state(), true).map_err(|e| Error::checkpoint(path, e.to_string()))?;
    Ok(model)
}
