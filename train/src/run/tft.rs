//! The TFT's part of a run: its task from the data's variables, the baselines it must beat (seasonal naive
//! for the canonical model's horizons, persistence for the seed's next step), and rebuilding it from a
//! checkpoint.

use super::{checkpoint_run, seed_of, Splits};
use crate::config::RunConfig;
use crate::data::{self, Dataset};
use crate::metrics::{Forecast, Metric};
use crate::tasks::tft::{is_canonical, TftTask, TftVariables, Unscale};
use crate::tasks::RunLength;
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::path::Path;
use wrt_tensor::{DType, Tensor};

/// How a TFT run's data is laid out: the canonical model reads the multi-horizon layout, the seed's
/// windows of a multivariate series.
pub(super) fn layout(cfg: &RunConfig) -> data::Kind {
    if is_canonical(&cfg.model.hparams) {
        data::Kind::Tft
    } else {
        data::Kind::TftSeries
    }
}

/// The data's variables, the target's de-normalisation (canonical) or the window's width (seed).
pub(super) fn describe(cfg: &RunConfig, path: &Path) -> Result<(Option<TftVariables>, Option<usize>, Unscale)> {
    let opts = super::open_options(cfg);
    if is_csv(path) {
        let ds = open_csv(cfg, path)?;
        let c = ds.columns();
        let vars = TftVariables {
            statics: c.static_reals.clone(),
            known: c.known_reals.clone(),
            observed: c.unknown_reals.clone(),
            target: c.target.clone().unwrap_or_default(),
            categoricals: ds.categoricals().to_vec(),
        };
        return Ok((Some(vars), None, Unscale(ds.target_stats().map(|(s, m)| (s.clone(), m)))));
    }
    if is_canonical(&cfg.model.hparams) {
        let ds = data::TftDataset::open(path, &opts)?;
        let n = ds.names();
        let vars = TftVariables { statics: n.statics.clone(), known: n.known.clone(), observed: n.observed.clone(), target: n.target.clone(), categoricals: n.categoricals.clone() };
        Ok((Some(vars), None, Unscale(ds.target_stats().map(|(s, m)| (s.clone(), m)))))
    } else {
        let ds = data::TftWindowsDataset::open(path, &opts)?;
        Ok((None, Some(ds.features()), Unscale(None)))
    }
}

/// A `.csv` data file: a long-format table (canonical TFT only).
pub(super) fn is_csv(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"))
}

/// The CSV table of a run, read with the config's column names.
pub(super) fn open_csv(cfg: &RunConfig, path: &Path) -> Result<data::CsvSeriesDataset> {
    if !is_canonical(&cfg.model.hparams) {
        return Err(Error::config("model.variant", format!("{} is a long-format table, which the canonical TFT reads (model.variant: canonical); the seed's model reads windows of an HDF5 'series'", path.display())));
    }
    let norm = if cfg.data.normalize { data::Normalize::Standard } else { data::Normalize::None };
    data::CsvSeriesDataset::open(path, &cfg.data.columns, norm)
}

pub(super) fn task(cfg: &RunConfig, splits: &Splits, len: RunLength) -> Result<(TftTask, Unscale)> {
    let (vars, features, unscale) = describe(cfg, &splits.path)?;
    Ok((TftTask::new(cfg, len, seed_of(cfg), vars.as_ref(), features, unscale.clone())?, unscale))
}

/// A TFT task with the weights of checkpoint `path`, rebuilt from its saved network hyperparameters.
pub(super) fn from_checkpoint(cfg: &RunConfig, path: &Path, data_file: &Path) -> Result<TftTask> {
    let (_, _, unscale) = describe(cfg, data_file)?;
    crate::trainer::load_from_checkpoint(path, |hp| {
        let run = checkpoint_run(cfg, hp, path, "tft")?;
        TftTask::from_hparams(&run, hp, path, unscale.clone())
    })
}

fn field(sample: &data::Sample, name: &str) -> Result<Vec<f32>> {
    Ok(super::sample_field(sample, name)?.to_dtype(DType::F32)?.contiguous()?.to_vec::<f32>()?)
}

/// The season length m (1..Te/2) whose naive forecast `y[t - m]` fits the encoders of (up to 256) training
/// series best: the period the seasonal-naive baseline repeats.
fn season_length(ds: &dyn Dataset, train_idx: &[usize]) -> Result<usize> {
    let series: Vec<Vec<f32>> = train_idx.iter().take(256).map(|&i| field(&ds.get(i, 0)?, "encoder_target")).collect::<Result<_>>()?;
    let te = series.first().map_or(0, Vec::len);
    let err = |m: usize| -> f64 {
        let (mut s, mut n) = (0.0, 0usize);
        for y in &series {
            for t in m..te {
                s += (y[t] - y[t - m]).abs() as f64;
                n += 1;
            }
        }
        s / n.max(1) as f64
    };
    Ok((1..=(te / 2).max(1)).min_by(|&a, &b| err(a).total_cmp(&err(b))).unwrap_or(1))
}

/// Seasonal naive for the canonical TFT: decoder step k repeats the encoder's value one season (m steps)
/// earlier, `y[Te + k - m (k div m + 1)]`, every quantile the same; scored like the model in the data's
/// original units. Returns the metrics and the season length.
pub(super) fn seasonal_naive(splits: &Splits, unscale: &Unscale, quantiles: &[f64]) -> Result<(BTreeMap<String, f64>, usize)> {
    let m = season_length(splits.dataset.as_ref(), &splits.train_idx)?;
    let Some(val) = &splits.val else { return Ok((BTreeMap::new(), m)) };
    let mut metric = Forecast::quantiles(quantiles)?;
    let q = quantiles.len();
    for k in 0..val.num_samples() {
        let s = splits.dataset.get(val.sample_index(k)?, 0)?;
        let (hist, truth) = (field(&s, "encoder_target")?, field(&s, "target")?);
        let te = hist.len();
        let fc: Vec<f32> = (0..truth.len()).flat_map(|h| std::iter::repeat_n(hist[te + h - m * (h / m + 1)], q)).collect();
        let td = truth.len();
        metric.update(&unscale.apply(&Tensor::from_vec(fc, &[1, td, q])?)?, &unscale.apply(&Tensor::from_vec(truth, &[1, td])?)?)?;
    }
    Ok((metric.compute()?.into_iter().map(|(k, v)| (format!("val_{k}"), v)).collect(), m))
}

/// Persistence for the seed's TFT: the next step equals the window's last, scored like the model.
pub(super) fn persistence(splits: &Splits) -> Result<BTreeMap<String, f64>> {
    let Some(val) = &splits.val else { return Ok(BTreeMap::new()) };
    let mut metric = Forecast::point();
    for k in 0..val.num_samples() {
        let s = splits.dataset.get(val.sample_index(k)?, 0)?;
        let (x, y) = (field(&s, "x")?, field(&s, "y")?);
        let f = y.len();
        let last = x[x.len() - f..].to_vec();
        metric.update(&Tensor::from_vec(last, &[1, f])?, &Tensor::from_vec(y, &[1, f])?)?;
    }
    Ok(metric.compute()?.into_iter().map(|(k, v)| (format!("val_{k}"), v)).collect())
}

/// How many series `predict` draws (the first ones of the data file).
const PLOTTED_SERIES: usize = 6;

/// `predict`'s figures for the canonical TFT, next to the predictions file in `plots/`: `series_<index>.png`
/// for the first series (history, truth, median and the quantile bands, attention on a second axis), the
/// variable importances (`static_variables.png`, `encoder_variables.png`, `decoder_variables.png`: the
/// selection weights averaged over every series and step) and `attention.png` (the first forecast step's
/// attention over the encoder, averaged over series and heads). The seed's point forecaster has none.
pub(super) fn plots(task: &TftTask, loader: &data::DataLoader, predictions: &Path) -> Result<Vec<std::path::PathBuf>> {
    use crate::log::plot::{attention_png, forecast_png, importance_png, ForecastPlot};
    use crate::tasks::tft::TftNet;
    use crate::trainer::TrainModule;
    let TftNet::Canonical(model) = &task.net else { return Ok(Vec::new()) };
    let cfg = model.config();
    let dir = super::prediction_plots_dir(predictions);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    wrt_nn::ModuleExt::eval(task);
    let _ng = wrt_autograd::NoGradGuard::new();
    let q = cfg.quantiles.len();
    let (mut n, mut sw, mut ew, mut dw, mut attn) = (0usize, Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut written = Vec::new();
    let add = |acc: &mut Vec<f64>, v: &[f32], width: usize| {
        acc.resize(width, 0.0);
        for (i, x) in v.iter().enumerate() {
            acc[i % width] += *x as f64;
        }
    };
    for batch in loader.iter(0)? {
        let batch = batch?;
        let out: BTreeMap<String, Tensor> = task.predict_step(&batch)?.into_iter().collect();
        let get = |k: &str| -> Result<Vec<f32>> { Ok(out.get(k).ok_or_else(|| Error::state(format!("predict_step returned no '{k}'")))?.to_dtype(DType::F32)?.contiguous()?.to_vec::<f32>()?) };
        let b = batch.len();
        let a = out.get("attention").ok_or_else(|| Error::state("predict_step returned no 'attention'"))?;
        let (td, heads, t) = (a.shape()[1], a.shape()[2], a.shape()[3]);
        let te = t - td;
        add(&mut sw, &get("static_weights")?, cfg.static_variables().len().max(1));
        add(&mut ew, &get("encoder_weights")?, cfg.encoder_variables().len());
        add(&mut dw, &get("decoder_weights")?, cfg.known_reals.len());
        // first forecast step, encoder keys, mean over heads
        let av = a.to_dtype(DType::F32)?.contiguous()?.to_vec::<f32>()?;
        let first = |bi: usize| -> Vec<f64> { (0..te).map(|j| (0..heads).map(|h| av[((bi * td) * heads + h) * t + j] as f64).sum::<f64>() / heads as f64).collect() };
        attn.resize(te, 0.0);
        for bi in 0..b {
            for (acc, v) in attn.iter_mut().zip(first(bi)) {
                *acc += v;
            }
        }
        let pred = get("prediction")?;
        let truth = get("target")?;
        let hist = task.unscale.apply(batch.get("encoder_target")?)?.contiguous()?.to_vec::<f32>()?;
        for bi in 0..b {
            if n + bi >= PLOTTED_SERIES {
                break;
            }
            let p = |k: usize, qi: usize| pred[(bi * td + k) * q + qi] as f64;
            let median = (0..td).map(|k| p(k, task_point_index(&cfg.quantiles))).collect::<Vec<_>>();
            let bands: Vec<(String, Vec<f64>, Vec<f64>)> = (0..q / 2)
                .map(|i| (format!("{:.0}%-{:.0}%", cfg.quantiles[i] * 100.0, cfg.quantiles[q - 1 - i] * 100.0), (0..td).map(|k| p(k, i)).collect(), (0..td).map(|k| p(k, q - 1 - i)).collect()))
                .collect();
            let index = batch.indices[bi];
            let title = format!("series {index}");
            let history: Vec<f64> = hist[bi * te..(bi + 1) * te].iter().map(|&v| v as f64).collect();
            let truth: Vec<f64> = truth[bi * td..(bi + 1) * td].iter().map(|&v| v as f64).collect();
            let attention = first(bi);
            let png = forecast_png(&ForecastPlot { title: &title, history: &history, truth: &truth, median: &median, bands: &bands, attention: Some(&attention) })?;
            let path = dir.join(format!("series_{index}.png"));
            std::fs::write(&path, png).map_err(|e| Error::io(&path, e))?;
            written.push(path);
        }
        n += b;
    }
    // importances are shares, so sums over series and steps plot the same bars as means
    let mean = |v: &[f64], k: f64| -> Vec<f64> { v.iter().map(|x| x / k.max(1.0)).collect() };
    let mut figures: Vec<(&str, Vec<u8>)> = Vec::new();
    if !cfg.static_variables().is_empty() {
        figures.push(("static_variables", importance_png("Static variables importance", &cfg.static_variables(), &mean(&sw, n as f64))?));
    }
    figures.push(("encoder_variables", importance_png("Encoder variables importance", &cfg.encoder_variables(), &ew)?));
    figures.push(("decoder_variables", importance_png("Decoder variables importance", &cfg.known_reals, &dw)?));
    figures.push(("attention", attention_png("Attention of the first forecast step", &mean(&attn, n as f64))?));
    for (name, png) in figures {
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).map_err(|e| Error::io(&path, e))?;
        written.push(path);
    }
    Ok(written)
}

/// The column of the median forecast (the quantile nearest 0.5).
fn task_point_index(quantiles: &[f64]) -> usize {
    (0..quantiles.len()).min_by(|&a, &b| (quantiles[a] - 0.5).abs().total_cmp(&(quantiles[b] - 0.5).abs())).unwrap_or(0)
}
