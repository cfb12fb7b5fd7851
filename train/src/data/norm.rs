//! Per-channel normalisation statistics: count, mean, standard deviation (population, ddof = 0, as
//! `np.std`), min and max in f64, computed in one streamed pass over the file (blocks of samples merged with
//! Chan et al.'s parallel update, stable for long files), stored once in a JSON sidecar next to the data
//! file (`<file>.stats.json`, or a path the caller chooses), reused while the data file is unchanged and
//! applied on read. Which axes are "channels" comes from the layout (e.g. C of `x` [N,T,C,H,W]; the (C, Z)
//! pairs of Pangu's `upper`, so every pressure level of every variable gets its own statistics).

use super::h5::{H5Array, H5File};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// How a layout's float fields are scaled on read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Normalize {
    /// Values as stored.
    None,
    /// (x - mean) / std per channel (std 0 is treated as 1).
    #[default]
    Standard,
    /// (x - min) / (max - min) per channel (SaTformer's preprocessing; a constant channel maps to 0).
    MinMax,
}

impl Normalize {
    pub fn parse(s: &str) -> Result<Normalize> {
        match s.to_ascii_lowercase().as_str() {
            "none" | "off" => Ok(Normalize::None),
            "standard" | "zscore" | "std" => Ok(Normalize::Standard),
            "minmax" | "min-max" | "min_max" => Ok(Normalize::MinMax),
            _ => Err(Error::data(format!("unknown normalisation '{s}': expected none, standard or minmax"))),
        }
    }
}

/// Statistics of one dataset, one entry per channel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChannelStats {
    /// First axis of the dataset that indexes channels, and how many consecutive axes do.
    pub channel_axis: usize,
    pub channel_axes: usize,
    /// The dataset's shape when the statistics were computed.
    pub shape: Vec<usize>,
    pub count: Vec<u64>,
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
    pub min: Vec<f64>,
    pub max: Vec<f64>,
}

impl ChannelStats {
    pub fn channels(&self) -> usize {
        self.mean.len()
    }

    /// Per-channel (scale, shift) so that normalised = x * scale + shift.
    fn affine(&self, mode: Normalize) -> Vec<(f32, f32)> {
        (0..self.channels())
            .map(|c| match mode {
                Normalize::None => (1.0, 0.0),
                Normalize::Standard => {
                    let s = if self.std[c] > 0.0 && self.std[c].is_finite() { self.std[c] } else { 1.0 };
                    ((1.0 / s) as f32, (-self.mean[c] / s) as f32)
                }
                Normalize::MinMax => {
                    let r = self.max[c] - self.min[c];
                    let r = if r > 0.0 && r.is_finite() { r } else { 1.0 };
                    ((1.0 / r) as f32, (-self.min[c] / r) as f32)
                }
            })
            .collect()
    }

    /// Normalise the values of one or more samples laid out like the dataset without its leading dims up
    /// to the channel axes: `inner` is the element count after the channel axes.
    pub fn apply(&self, values: &mut [f32], mode: Normalize) {
        if mode == Normalize::None {
            return;
        }
        let inner: usize = self.shape[self.channel_axis + self.channel_axes..].iter().product();
        let ab = self.affine(mode);
        let c_n = ab.len();
        if c_n == 0 {
            return;
        }
        for (block, chunk) in values.chunks_mut(inner.max(1)).enumerate() {
            let (a, b) = ab[block % c_n];
            for v in chunk {
                *v = *v * a + b;
            }
        }
    }

    /// Undo `apply` (for predictions in physical units, e.g. a TFT forecast).
    pub fn invert(&self, values: &mut [f32], mode: Normalize) {
        if mode == Normalize::None {
            return;
        }
        let inner: usize = self.shape[self.channel_axis + self.channel_axes..].iter().product();
        let ab = self.affine(mode);
        let c_n = ab.len();
        if c_n == 0 {
            return;
        }
        for (block, chunk) in values.chunks_mut(inner.max(1)).enumerate() {
            let (a, b) = ab[block % c_n];
            for v in chunk {
                *v = (*v - b) / a;
            }
        }
    }
}

/// What to compute for one dataset of a layout.
#[derive(Clone, Debug)]
pub(crate) struct StatSpec {
    pub name: String,
    pub channel_axis: usize,
    pub channel_axes: usize,
}

/// Statistics of a file: one `ChannelStats` per dataset, plus the identity of the data file they describe.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NormStats {
    pub format: String,
    pub version: u32,
    pub data_file: String,
    pub data_bytes: u64,
    pub data_mtime: u64,
    pub datasets: BTreeMap<String, ChannelStats>,
}

const FORMAT: &str = "wrt-norm-stats";
const VERSION: u32 = 1;
/// Samples per block of the streamed pass: bounded memory whatever the file size.
const BLOCK_BYTES: usize = 64 << 20;

fn identity(path: &Path) -> Result<(u64, u64)> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    let mtime = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map(|d| d.as_secs()).unwrap_or(0);
    Ok((meta.len(), mtime))
}

impl NormStats {
    /// The default place: `<data file>.stats.json` beside it.
    pub fn sidecar_path(data: &Path) -> PathBuf {
        let mut s = data.as_os_str().to_owned();
        s.push(".stats.json");
        PathBuf::from(s)
    }

    pub fn get(&self, dataset: &str) -> Result<&ChannelStats> {
        self.datasets.get(dataset).ok_or_else(|| Error::data(format!("normalisation statistics for {} have no entry for dataset '{dataset}'", self.data_file)))
    }

    pub fn load(path: &Path) -> Result<NormStats> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let s: NormStats = serde_json::from_str(&text).map_err(|e| Error::data(format!("{}: not a statistics file: {e}", path.display())))?;
        if s.format != FORMAT || s.version != VERSION {
            return Err(Error::data(format!("{}: format '{}' version {} is not {FORMAT} version {VERSION}", path.display(), s.format, s.version)));
        }
        for (name, c) in &s.datasets {
            let n = c.mean.len();
            let ok = [c.std.len(), c.min.len(), c.max.len(), c.count.len()].iter().all(|&l| l == n)
                && c.channel_axis + c.channel_axes <= c.shape.len()
                && c.shape[c.channel_axis..c.channel_axis + c.channel_axes].iter().product::<usize>() == n;
            if !ok {
                return Err(Error::data(format!("{}: entry '{name}' is inconsistent (channel counts or shape)", path.display())));
            }
        }
        Ok(s)
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(|e| Error::data(format!("serialising statistics: {e}")))?;
        wrt_tensor::io::write_atomic(path, text.as_bytes()).map_err(|e| Error::io(path, e))
    }

    /// Whether these statistics describe `file` as it is now for every spec.
    fn matches(&self, file: &H5File, specs: &[StatSpec]) -> bool {
        let Ok((bytes, mtime)) = identity(file.path()) else { return false };
        self.data_bytes == bytes
            && self.data_mtime == mtime
            && specs.iter().all(|s| {
                self.datasets.get(&s.name).is_some_and(|c| {
                    c.channel_axis == s.channel_axis && c.channel_axes == s.channel_axes && file.has(&s.name)
                })
            })
    }

    /// Stream over the datasets once and compute their statistics. A dataset may come with a mask [N, T]
    /// (true = valid) whose false entries are left out (SITS-Former's padding); each mask entry covers the
    /// elements after axis 1.
    pub(crate) fn compute(file: &H5File, arrays: &[(&StatSpec, &H5Array, Option<&H5Array>)]) -> Result<NormStats> {
        let (data_bytes, data_mtime) = identity(file.path())?;
        let mut datasets = BTreeMap::new();
        for (spec, arr, mask) in arrays {
            datasets.insert(spec.name.clone(), channel_stats(spec, arr, *mask)?);
        }
        let data_file = file.path().file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        Ok(NormStats { format: FORMAT.into(), version: VERSION, data_file, data_bytes, data_mtime, datasets })
    }

    /// Load the statistics at `stats_path` (default: the sidecar) if they still describe the file, else
    /// compute and store them. A location that cannot be written (a read-only data directory) only costs a
    /// recomputation next time, so it is a warning on stderr, not an error.
    pub(crate) fn load_or_compute(file: &H5File, arrays: &[(&StatSpec, &H5Array, Option<&H5Array>)], stats_path: Option<&Path>) -> Result<NormStats> {
        let path = stats_path.map(Path::to_path_buf).unwrap_or_else(|| NormStats::sidecar_path(file.path()));
        let specs: Vec<StatSpec> = arrays.iter().map(|(s, _, _)| (*s).clone()).collect();
        if path.exists() {
            if let Ok(s) = NormStats::load(&path) {
                let shapes_ok = arrays.iter().all(|(sp, a, _)| s.datasets.get(&sp.name).is_some_and(|c| c.shape == a.shape()));
                if s.matches(file, &specs) && shapes_ok {
                    return Ok(s);
                }
            }
        }
        let s = NormStats::compute(file, arrays)?;
        if let Err(e) = s.save(&path) {
            eprintln!("wrt: warning: could not store normalisation statistics ({e}); they will be computed again next time");
        }
        Ok(s)
    }
}

/// Running (count, mean, M2, min, max) of one channel, merged blockwise (Chan, Golub, LeVeque 1979).
#[derive(Clone, Copy)]
struct Acc {
    n: u64,
    mean: f64,
    m2: f64,
    min: f64,
    max: f64,
}

impl Acc {
    fn new() -> Acc {
        Acc { n: 0, mean: 0.0, m2: 0.0, min: f64::INFINITY, max: f64::NEG_INFINITY }
    }
    fn merge(&mut self, n: u64, mean: f64, m2: f64, min: f64, max: f64) {
        if n == 0 {
            return;
        }
        let tot = self.n + n;
        let d = mean - self.mean;
        self.mean += d * n as f64 / tot as f64;
        self.m2 += m2 + d * d * self.n as f64 * n as f64 / tot as f64;
        self.n = tot;
        self.min = self.min.min(min);
        self.max = self.max.max(max);
    }
}

fn channel_stats(spec: &StatSpec, arr: &H5Array, mask: Option<&H5Array>) -> Result<ChannelStats> {
    let shape = arr.shape().to_vec();
    let (ca, cn) = (spec.channel_axis, spec.channel_axes);
    let channels: usize = shape[ca..ca + cn].iter().product();
    let inner: usize = shape[ca + cn..].iter().product();
    let n0 = shape.first().copied().unwrap_or(0);
    let row: usize = shape.iter().skip(1).product();
    // Elements covered by one mask entry [N, T]: everything after axis 1.
    let per_mask: usize = shape.iter().skip(2).product();
    let rows_per_block = (BLOCK_BYTES / 4 / row.max(1)).max(1);
    let mut acc = vec![Acc::new(); channels];
    let mut first = 0;
    while first < n0 {
        let rows = rows_per_block.min(n0 - first);
        let (start, count) = arr.rows(first, rows);
        let v = arr.read_f32(&start, &count)?;
        let valid = match mask {
            Some(m) => {
                let (s, c) = m.rows(first, rows);
                Some(m.read_bool(&s, &c)?)
            }
            None => None,
        };
        // Two passes over the block per channel: block mean first, then M2 about it.
        let mut sum = vec![0f64; channels];
        let mut cnt = vec![0u64; channels];
        let mut mn = vec![f64::INFINITY; channels];
        let mut mx = vec![f64::NEG_INFINITY; channels];
        let keep = |k: usize| valid.as_ref().is_none_or(|m| m[k / per_mask.max(1)] != 0);
        for (b, chunk) in v.chunks(inner.max(1)).enumerate() {
            if !keep(b * inner) {
                continue;
            }
            let c = b % channels;
            for &x in chunk {
                let x = x as f64;
                sum[c] += x;
                mn[c] = mn[c].min(x);
                mx[c] = mx[c].max(x);
            }
            cnt[c] += chunk.len() as u64;
        }
        let mean: Vec<f64> = (0..channels).map(|c| if cnt[c] > 0 { sum[c] / cnt[c] as f64 } else { 0.0 }).collect();
        let mut m2 = vec![0f64; channels];
        for (b, chunk) in v.chunks(inner.max(1)).enumerate() {
            if !keep(b * inner) {
                continue;
            }
            let c = b % channels;
            for &x in chunk {
                let d = x as f64 - mean[c];
                m2[c] += d * d;
            }
        }
        for c in 0..channels {
            acc[c].merge(cnt[c], mean[c], m2[c], mn[c], mx[c]);
        }
        first += rows;
    }
    let finite = |v: f64, d: f64| if v.is_finite() { v } else { d };
    Ok(ChannelStats {
        channel_axis: ca,
        channel_axes: cn,
        shape,
        count: acc.iter().map(|a| a.n).collect(),
        mean: acc.iter().map(|a| a.mean).collect(),
        std: acc.iter().map(|a| if a.n > 0 { (a.m2 / a.n as f64).sqrt() } else { 1.0 }).collect(),
        min: acc.iter().map(|a| finite(a.min, 0.0)).collect(),
        max: acc.iter().map(|a| finite(a.max, 0.0)).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chan_merge_equals_one_pass() {
        let xs: Vec<f64> = (0..1000).map(|i| ((i * 37) % 101) as f64 * 0.1 + 1e6).collect();
        let mut acc = Acc::new();
        for block in xs.chunks(77) {
            let n = block.len() as u64;
            let m = block.iter().sum::<f64>() / n as f64;
            let m2 = block.iter().map(|x| (x - m) * (x - m)).sum::<f64>();
            acc.merge(n, m, m2, block.iter().cloned().fold(f64::INFINITY, f64::min), block.iter().cloned().fold(f64::NEG_INFINITY, f64::max));
        }
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / xs.len() as f64;
        assert!((acc.mean - mean).abs() < 1e-9);
        assert!(((acc.m2 / acc.n as f64) - var).abs() < 1e-9 * var.max(1.0));
        assert_eq!(acc.min, 1e6);
    }

    #[test]
    fn apply_and_invert_round_trip_per_channel() {
        let c = ChannelStats {
            channel_axis: 1,
            channel_axes: 1,
            shape: vec![5, 2, 3],
            count: vec![15, 15],
            mean: vec![1.0, -2.0],
            std: vec![2.0, 0.0],
            min: vec![0.0, -4.0],
            max: vec![4.0, -4.0],
        };
        let orig = vec![1.0f32, 3.0, 5.0, -2.0, -2.0, 0.0];
        let mut v = orig.clone();
        c.apply(&mut v, Normalize::Standard);
        assert_eq!(v, vec![0.0, 1.0, 2.0, 0.0, 0.0, 2.0]); // std 0 -> divide by 1
        c.invert(&mut v, Normalize::Standard);
        assert_eq!(v, orig);
        let mut m = orig.clone();
        c.apply(&mut m, Normalize::MinMax);
        assert_eq!(m, vec![0.25, 0.75, 1.25, 2.0, 2.0, 4.0]); // constant channel: range 1
    }
}
