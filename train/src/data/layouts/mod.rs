//! The five HDF5 layouts of design.md, one dataset type each. Opening checks every dataset the layout needs
//! (rank, dtype, shared dimensions) and reads the attributes; `get` reads one sample through hyperslabs and
//! normalises its float fields per channel. Field names and shapes are listed in docs/data.md.

mod atmodist;
mod pangu;
mod satformer;
mod sitsformer;
mod tft;
mod tft_windows;

pub use atmodist::{parse_hours, AtmoDistDataset, AtmoDistOptions};
pub use pangu::{PanguDataset, PanguOptions};
pub use satformer::SatformerDataset;
pub use sitsformer::SitsformerDataset;
pub(crate) use tft::multi_horizon_fields;
pub use tft::{TftDataset, TftNames};
pub use tft_windows::TftWindowsDataset;

use super::h5::{H5Array, H5File};
use super::norm::{NormStats, Normalize, StatSpec};
use super::Dataset;
use crate::{Error, Result};
use std::path::PathBuf;
use std::sync::Arc;

/// Which layout a file follows (the `--kind` of `wrt-train data synth`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Satformer,
    AtmoDist,
    Sitsformer,
    Pangu,
    Tft,
    /// Sliding windows of multivariate series (the seed's TFT).
    TftSeries,
}

impl Kind {
    pub const ALL: [Kind; 6] = [Kind::Satformer, Kind::AtmoDist, Kind::Sitsformer, Kind::Pangu, Kind::Tft, Kind::TftSeries];

    pub fn parse(s: &str) -> Result<Kind> {
        match s.to_ascii_lowercase().replace(['-', '_'], "").as_str() {
            "satformer" => Ok(Kind::Satformer),
            "atmodist" => Ok(Kind::AtmoDist),
            "sitsformer" | "sits" => Ok(Kind::Sitsformer),
            "pangu" | "panguweather" => Ok(Kind::Pangu),
            "tft" => Ok(Kind::Tft),
            "tftseries" | "tftwindows" | "series" => Ok(Kind::TftSeries),
            _ => Err(Error::data(format!("unknown data kind '{s}': expected one of satformer, atmodist, sitsformer, pangu, tft, tft_series"))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Satformer => "satformer",
            Kind::AtmoDist => "atmodist",
            Kind::Sitsformer => "sitsformer",
            Kind::Pangu => "pangu",
            Kind::Tft => "tft",
            Kind::TftSeries => "tft_series",
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Options common to every layout, plus the per-layout ones.
#[derive(Clone, Debug)]
pub struct OpenOptions {
    /// How float fields are scaled (default: per-channel standardisation).
    pub normalize: Normalize,
    /// Where the statistics live (default: `<data file>.stats.json`).
    pub stats_path: Option<PathBuf>,
    /// Seed of on-the-fly sampling (AtmoDist's pairs).
    pub seed: u64,
    pub atmodist: AtmoDistOptions,
    pub pangu: PanguOptions,
    /// Steps per window of the `tft_series` layout (default 100).
    pub window: Option<usize>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions { normalize: Normalize::Standard, stats_path: None, seed: 0, atmodist: AtmoDistOptions::default(), pangu: PanguOptions::default(), window: None }
    }
}

/// Open `path` as a dataset of layout `kind`.
pub fn open(kind: Kind, path: impl AsRef<std::path::Path>, opts: &OpenOptions) -> Result<Arc<dyn Dataset>> {
    let path = path.as_ref();
    Ok(match kind {
        Kind::Satformer => Arc::new(SatformerDataset::open(path, opts)?),
        Kind::AtmoDist => Arc::new(AtmoDistDataset::open(path, opts)?),
        Kind::Sitsformer => Arc::new(SitsformerDataset::open(path, opts)?),
        Kind::Pangu => Arc::new(PanguDataset::open(path, opts)?),
        Kind::Tft => Arc::new(TftDataset::open(path, opts)?),
        Kind::TftSeries => Arc::new(TftWindowsDataset::open(path, opts)?),
    })
}

/// Normalisation of a layout's float datasets: the statistics (None when `Normalize::None`) and the mode.
pub(crate) struct Norm {
    mode: Normalize,
    stats: Option<NormStats>,
}

impl Norm {
    /// `arrays`: (dataset, first channel axis, number of channel axes, optional mask dataset).
    pub(crate) fn prepare(file: &H5File, opts: &OpenOptions, arrays: &[(&H5Array, usize, usize, Option<&H5Array>)]) -> Result<Norm> {
        if opts.normalize == Normalize::None {
            return Ok(Norm { mode: Normalize::None, stats: None });
        }
        let specs: Vec<StatSpec> = arrays
            .iter()
            .map(|(a, axis, n, _)| StatSpec { name: a.name().to_string(), channel_axis: *axis, channel_axes: *n })
            .collect();
        let with: Vec<(&StatSpec, &H5Array, Option<&H5Array>)> = specs.iter().zip(arrays).map(|(s, (a, _, _, m))| (s, *a, *m)).collect();
        let stats = NormStats::load_or_compute(file, &with, opts.stats_path.as_deref())?;
        Ok(Norm { mode: opts.normalize, stats: Some(stats) })
    }

    /// Normalise values of dataset `name` in place (a sample or several, laid out as the dataset after its
    /// leading dims).
    pub(crate) fn apply(&self, name: &str, values: &mut [f32]) -> Result<()> {
        if let Some(s) = &self.stats {
            s.get(name)?.apply(values, self.mode);
        }
        Ok(())
    }

    pub(crate) fn stats(&self) -> Option<&NormStats> {
        self.stats.as_ref()
    }

    pub(crate) fn mode(&self) -> Normalize {
        self.mode
    }
}

/// Read rows [first, first+rows) of a float dataset, normalised, as an f32 tensor shaped `shape`.
pub(crate) fn read_float(arr: &H5Array, norm: &Norm, first: usize, rows: usize, shape: &[usize]) -> Result<wrt_tensor::Tensor> {
    let (start, count) = arr.rows(first, rows);
    let mut v = arr.read_f32(&start, &count)?;
    norm.apply(arr.name(), &mut v)?;
    super::tensor(v, shape)
}
