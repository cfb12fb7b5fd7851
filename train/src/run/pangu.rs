//! Pangu's part of a run: its task (latitudes from the data when it has them), the persistence baseline at
//! every lead of the rollout, and rebuilding it from a checkpoint.

use super::{checkpoint_run, open_options, sample_field as field, seed_of, Splits, EVAL_LENGTH};
use crate::config::RunConfig;
use crate::data::{self, Dataset};
use crate::metrics::{Gridded, Metric};
use crate::tasks::pangu::{mse, PanguTask};
use crate::tasks::RunLength;
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::path::Path;
use wrt_tensor::Tensor;

/// Leads (in `time_step` units) the validation rollout is scored at: 1 to 3.
pub(super) const LEADS: usize = 3;

/// The data's latitudes (for weighted metrics), checking its channels against the model's five.
fn latitudes(cfg: &RunConfig, path: &Path) -> Result<Option<Vec<f64>>> {
    let ds = data::PanguDataset::open(path, &open_options(cfg))?;
    let c = ds.fields()[0].shape[0];
    if c != wrt_models::pangu::CHANNELS {
        return Err(Error::data(format!("{}: 'surface' has {c} channels; the SuperDARN Pangu maps {} (the convection-map channels)", path.display(), wrt_models::pangu::CHANNELS)));
    }
    Ok(ds.lat().map(|l| l.iter().map(|&v| v as f64).collect()))
}

pub(super) fn task(cfg: &RunConfig, splits: &Splits, len: RunLength) -> Result<PanguTask> {
    let mut t = PanguTask::new(cfg, len, seed_of(cfg), latitudes(cfg, &splits.path)?)?;
    t.climatology = Some(climatology(splits)?);
    Ok(t)
}

/// The mean input state `[C, H, W]` over the training split: the climatology the ACC's anomalies are taken
/// against (after standardisation this is near 0 on average, but not cell by cell).
pub(super) fn climatology(splits: &Splits) -> Result<Tensor> {
    let mut sum: Option<Tensor> = None;
    for &i in &splits.train_idx {
        let x = field(&splits.dataset.get(i, 0)?, "surface")?.to_dtype(wrt_tensor::DType::F64)?;
        sum = Some(match sum {
            Some(s) => s.add(&x)?,
            None => x,
        });
    }
    let n = splits.train_idx.len().max(1) as f64;
    let s = sum.ok_or_else(|| Error::data("no training samples for the climatology"))?;
    Ok(s.mul_scalar(1.0 / n)?.to_dtype(wrt_tensor::DType::F32)?)
}

pub(super) fn from_checkpoint(cfg: &RunConfig, path: &Path, data_file: &Path) -> Result<PanguTask> {
    let lat = latitudes(cfg, data_file)?;
    crate::trainer::load_from_checkpoint(path, |hp| PanguTask::new(&checkpoint_run(cfg, hp, path, "pangu")?, EVAL_LENGTH, 0, lat.clone()))
}

/// Persistence on the validation split: the forecast at every lead is the input state. Scored as the model:
/// the Gridded metrics at lead 1 (`val_rmse`, ...) and `val_mse_lead{k}` for the rollout's leads.
pub(super) fn persistence(splits: &Splits, task: &PanguTask) -> Result<BTreeMap<String, f64>> {
    let Some(val) = &splits.val else { return Ok(BTreeMap::new()) };
    let time_step = task.model.config().time_step;
    let names: Vec<String> = (0..wrt_models::pangu::CHANNELS).map(|c| format!("ch{c}")).collect();
    let mut m = Gridded::new(names)?;
    if let Some(l) = &task.lat {
        m = m.with_latitudes(l)?;
    }
    if let Some(c) = &task.climatology {
        m = m.with_climatology(c)?;
    }
    let (mut sums, mut n) = (vec![0.0; LEADS], 0usize);
    for k in 0..val.num_samples() {
        let s = splits.dataset.get(val.sample_index(k)?, 0)?;
        let (x, targets) = (field(&s, "surface")?.unsqueeze(0)?, field(&s, "target_surface")?);
        let leads = targets.shape()[0] / time_step;
        m.update(&x, &targets.select(0, time_step - 1)?.unsqueeze(0)?)?;
        for (lead, acc) in sums.iter_mut().enumerate().take(leads) {
            *acc += mse(&x, &targets.select(0, (lead + 1) * time_step - 1)?.unsqueeze(0)?)?;
        }
        n += 1;
    }
    let mut out: BTreeMap<String, f64> = m.compute()?.into_iter().map(|(k, v)| (format!("val_{k}"), v)).collect();
    for (lead, s) in sums.iter().enumerate().skip(1) {
        out.insert(format!("val_mse_lead{}", lead + 1), s / n.max(1) as f64);
    }
    out.insert("val_mse_lead1".into(), sums[0] / n.max(1) as f64);
    Ok(out)
}

/// How many samples `predict` draws maps for (the first ones of the data file).
const MAPPED_SAMPLES: usize = 3;

/// `predict`'s figures, in `plots/` beside the predictions file: `map_<index>_lead<k>.png` for the first
/// samples and every lead of the rollout their targets reach, each channel's truth, prediction and error
/// (in the file's standardised units).
pub(super) fn plots(task: &PanguTask, loader: &data::DataLoader, predictions: &Path) -> Result<Vec<std::path::PathBuf>> {
    use crate::log::plot::{forecast_maps_png, MapRow};
    let dir = super::prediction_plots_dir(predictions);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    wrt_nn::ModuleExt::eval(task);
    let _ng = wrt_autograd::NoGradGuard::new();
    let ts = task.model.config().time_step;
    let mut written = Vec::new();
    let mut done = 0;
    for batch in loader.iter(0)? {
        let batch = batch?;
        let targets = batch.get("target_surface")?;
        let leads = targets.shape()[1] / ts;
        let mut x = batch.get("surface")?.clone();
        let mut forecasts = Vec::with_capacity(leads);
        for _ in 0..leads {
            x = task.model.forward(&wrt_autograd::Var::constant(x))?.value().clone();
            forecasts.push(x.clone());
        }
        for bi in 0..batch.len().min(MAPPED_SAMPLES - done) {
            let index = batch.indices[bi];
            for (k, f) in forecasts.iter().enumerate() {
                let (p, t) = (f.select(0, bi)?.contiguous()?, targets.select(0, bi)?.select(0, (k + 1) * ts - 1)?.contiguous()?);
                let (c, h, w) = (p.shape()[0], p.shape()[1], p.shape()[2]);
                let (pv, tv) = (p.to_vec::<f32>()?, t.to_vec::<f32>()?);
                let rows: Vec<MapRow<'_>> = (0..c).map(|ch| MapRow { label: format!("ch{ch}"), truth: &tv[ch * h * w..(ch + 1) * h * w], prediction: &pv[ch * h * w..(ch + 1) * h * w] }).collect();
                let title = format!("sample {index}, lead {} ({} steps ahead)", k + 1, (k + 1) * ts);
                let path = dir.join(format!("map_{index}_lead{}.png", k + 1));
                std::fs::write(&path, forecast_maps_png(&title, h, w, &rows)?).map_err(|e| Error::io(&path, e))?;
                written.push(path);
            }
        }
        done += batch.len().min(MAPPED_SAMPLES - done);
        if done >= MAPPED_SAMPLES {
            break;
        }
    }
    Ok(written)
}
