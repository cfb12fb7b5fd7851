//! The analogue index file: every library state's embedding with its time step and timestamp, as a
//! safetensors file (`embeddings` [N, D] f32, `step` [N] i64, `time` [N] i64 seconds since 1970 when the
//! data has a `time` dataset) plus JSON metadata naming the checkpoint and data it came from. It loads in
//! Python with `safetensors.numpy.load_file`.

use crate::data::AtmoDistDataset;
use crate::tasks::atmodist::AtmodistTask;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;
use wrt_autograd::Var;
use wrt_tensor::Tensor;

const FORMAT: &str = "wrt-analogue-index";
const VERSION: u32 = 1;

/// Where an index came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IndexMeta {
    pub format: String,
    pub version: u32,
    pub checkpoint: PathBuf,
    pub data: PathBuf,
    /// Hours between consecutive steps (for timestamps without a `time` dataset).
    pub frequency_hours: Option<f64>,
    pub variables: Vec<String>,
    /// The network's hyperparameters (`AtmodistConfig`).
    pub model: serde_json::Value,
}

pub struct AnalogueIndex {
    /// `[n, dim]`, row-major, one row per library state.
    pub embeddings: Vec<f32>,
    pub dim: usize,
    /// Time step of each row in the library file.
    pub steps: Vec<i64>,
    /// Seconds since 1970-01-01 UTC of each row (the file's `time` dataset), if it has one.
    pub times: Option<Vec<i64>>,
    pub meta: IndexMeta,
}

/// How long embedding took.
#[derive(Clone, Copy, Debug)]
pub struct BuildStats {
    pub states: usize,
    pub seconds: f64,
}

impl BuildStats {
    pub fn states_per_second(&self) -> f64 {
        self.states as f64 / self.seconds.max(1e-9)
    }
}

/// Embeddings `[steps.len(), D]` of the given time steps of `ds` (normalised as in training), `batch` states
/// per forward, the encoder in eval mode; `progress(done)` after every batch.
pub fn embed_steps(task: &AtmodistTask, ds: &AtmoDistDataset, steps: &[usize], batch: usize, mut progress: impl FnMut(usize)) -> Result<(Vec<f32>, usize)> {
    wrt_nn::ModuleExt::eval(task);
    let _ng = wrt_autograd::NoGradGuard::new();
    let mut out = Vec::new();
    let mut dim = 0;
    for (i, chunk) in steps.chunks(batch.max(1)).enumerate() {
        let states = chunk.iter().map(|&s| ds.state(s)).collect::<Result<Vec<Tensor>>>()?;
        let x = Var::constant(Tensor::stack(&states, 0)?);
        let e = task.model.embed(&x)?.value().contiguous()?;
        dim = e.shape()[1];
        out.extend(e.to_vec::<f32>()?);
        progress((i * batch.max(1) + chunk.len()).min(steps.len()));
    }
    Ok((out, dim))
}

impl AnalogueIndex {
    /// Embed every time step of `ds` with the encoder of `task` (trained from `checkpoint`).
    pub fn build(task: &AtmodistTask, checkpoint: &Path, ds: &AtmoDistDataset, batch: usize, progress: impl FnMut(usize)) -> Result<(AnalogueIndex, BuildStats)> {
        let t0 = Instant::now();
        let steps: Vec<usize> = (0..ds.steps()).collect();
        let (embeddings, dim) = embed_steps(task, ds, &steps, batch, progress)?;
        let stats = BuildStats { states: steps.len(), seconds: t0.elapsed().as_secs_f64() };
        let meta = IndexMeta {
            format: FORMAT.into(),
            version: VERSION,
            checkpoint: checkpoint.to_path_buf(),
            data: ds.path().to_path_buf(),
            frequency_hours: ds.frequency_hours(),
            variables: ds.variables().to_vec(),
            model: serde_json::to_value(task.model.config()).unwrap_or_default(),
        };
        let times = ds.times()?;
        Ok((AnalogueIndex { embeddings, dim, steps: steps.iter().map(|&s| s as i64).collect(), times, meta }, stats))
    }

    pub fn len(&self) -> usize {
        self.steps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// The row of library step `step`, if indexed.
    pub fn row_of(&self, step: i64) -> Option<usize> {
        // rows are every step in order, so the row is the step; search for indexes built otherwise
        match self.steps.get(step as usize) {
            Some(&s) if s == step => Some(step as usize),
            _ => self.steps.iter().position(|&s| s == step),
        }
    }

    /// Write atomically (temp file + rename).
    pub fn save(&self, path: &Path) -> Result<()> {
        let n = self.len();
        let mut tensors = vec![
            ("embeddings".to_string(), Tensor::from_vec(self.embeddings.clone(), &[n, self.dim])?),
            ("step".to_string(), Tensor::from_vec(self.steps.clone(), &[n])?),
        ];
        if let Some(t) = &self.times {
            tensors.push(("time".to_string(), Tensor::from_vec(t.clone(), &[n])?));
        }
        let json = serde_json::to_string(&self.meta).map_err(|e| Error::data(e.to_string()))?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        wrt_tensor::io::save(path, &tensors, Some(HashMap::from([("wrt_analogue_index".to_string(), json)]))).map_err(|e| Error::io(path, e))
    }

    /// Read an index; anything else (a checkpoint, a truncated file) is an error naming the file.
    pub fn load(path: &Path) -> Result<AnalogueIndex> {
        let bad = |m: String| Error::data(format!("{}: {m}", path.display()));
        if !path.exists() {
            return Err(bad("no such analogue index (write one with `wrt-train analogues build`)".into()));
        }
        let (t, md) = wrt_tensor::io::load_with_metadata(path).map_err(|e| bad(format!("not a readable safetensors file: {e}")))?;
        let json = md.get("wrt_analogue_index").ok_or_else(|| bad("a safetensors file without analogue-index metadata (not written by `wrt-train analogues build`)".into()))?;
        let meta: IndexMeta = serde_json::from_str(json).map_err(|e| bad(format!("index metadata does not parse: {e}")))?;
        if meta.format != FORMAT || meta.version > VERSION {
            return Err(bad(format!("format {} version {} (this wrt reads {FORMAT} up to version {VERSION})", meta.format, meta.version)));
        }
        let get = |k: &str| t.get(k).ok_or_else(|| bad(format!("no '{k}' tensor")));
        let e = get("embeddings")?;
        if e.rank() != 2 {
            return Err(bad(format!("'embeddings' has shape {:?}, expected [N, D]", e.shape())));
        }
        let (n, dim) = (e.shape()[0], e.shape()[1]);
        let vec_of = |k: &str| -> Result<Vec<i64>> {
            let v = get(k)?;
            if v.shape() != [n] {
                return Err(bad(format!("'{k}' has shape {:?}, expected [{n}] (one per embedding)", v.shape())));
            }
            Ok(v.to_dtype(wrt_tensor::DType::I64)?.contiguous()?.to_vec::<i64>()?)
        };
        let steps = vec_of("step")?;
        let times = if t.contains_key("time") { Some(vec_of("time")?) } else { None };
        let embeddings = e.to_dtype(wrt_tensor::DType::F32)?.contiguous()?.to_vec::<f32>()?;
        Ok(AnalogueIndex { embeddings, dim, steps, times, meta })
    }
}
