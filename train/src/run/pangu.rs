//! Pangu's part of a run: its task (latitudes from the data when it has them), the persistence baseline at
//! every lead of the rollout, and rebuilding it from a checkpoint.

use super::{checkpoint_run, open_options, seed_of, Splits, EVAL_LENGTH};
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
    PanguTask::new(cfg, len, seed_of(cfg), latitudes(cfg, &splits.path)?)
}

pub(super) fn from_checkpoint(cfg: &RunConfig, path: &Path, data_file: &Path) -> Result<PanguTask> {
    let lat = latitudes(cfg, data_file)?;
    crate::trainer::load_from_checkpoint(path, |hp| PanguTask::new(&checkpoint_run(cfg, hp, path, "pangu")?, EVAL_LENGTH, 0, lat.clone()))
}

fn field(s: &data::Sample, name: &str) -> Result<Tensor> {
    s.iter().find(|(n, _)| n == name).map(|(_, t)| t.clone()).ok_or_else(|| Error::data(format!("sample without '{name}'")))
}

/// Persistence on the validation split: the forecast at every lead is the input state. Scored as the model:
/// the Gridded metrics at lead 1 (`val_rmse`, ...) and `val_mse_lead{k}` for the rollout's leads.
pub(super) fn persistence(splits: &Splits, time_step: usize, lat: Option<&[f64]>) -> Result<BTreeMap<String, f64>> {
    let Some(val) = &splits.val else { return Ok(BTreeMap::new()) };
    let names: Vec<String> = (0..wrt_models::pangu::CHANNELS).map(|c| format!("ch{c}")).collect();
    let mut m = Gridded::new(names)?;
    if let Some(l) = lat {
        m = m.with_latitudes(l)?;
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
