//! Sliding windows of multivariate series (the seed's TFT: 100 steps of 32 features -> the next step):
//! `series` [T, F] (one series) or [N, T, F] (N series of one length), float, optional string-list
//! attribute `feature_names` [F]. With window W (`data.window`), sample i is window t = i mod (T - W) of
//! series i div (T - W): `x` [W, F] = steps t..t+W and `y` [F] = step t+W, both f32 and normalised per
//! feature F.

use super::{Norm, OpenOptions};
use crate::data::h5::{ElemKind, H5Array, H5File};
use crate::data::{check_index, FieldInfo, Sample};
use crate::{Error, Result};
use std::path::Path;
use wrt_tensor::DType;

pub struct TftWindowsDataset {
    file: H5File,
    series: H5Array,
    /// Series in the file, steps per series, features.
    n: usize,
    steps: usize,
    features: usize,
    window: usize,
    norm: Norm,
    names: Vec<String>,
}

impl TftWindowsDataset {
    pub fn open(path: &Path, opts: &OpenOptions) -> Result<TftWindowsDataset> {
        let file = H5File::open(path)?;
        let dims: &[&str] = if file.rank("series") == Some(2) { &["T", "F"] } else { &["N", "T", "F"] };
        let series = file.array("series", ElemKind::Float, dims)?;
        let s = series.shape().to_vec();
        let (n, steps, features) = if s.len() == 2 { (1, s[0], s[1]) } else { (s[0], s[1], s[2]) };
        let window = opts.window.unwrap_or(100);
        if window == 0 || window >= steps {
            return Err(Error::data(format!(
                "{}: a window of {window} steps needs series longer than that, 'series' has {steps} steps (set data.window below {steps})",
                path.display()
            )));
        }
        let names = match file.attr_strings("feature_names")? {
            Some(v) if v.len() == features => v,
            Some(v) => return Err(Error::data(format!("{}: attribute 'feature_names' lists {} names for {features} features", path.display(), v.len()))),
            None => (0..features).map(|i| format!("feature_{i}")).collect(),
        };
        let norm = Norm::prepare(&file, opts, &[(&series, s.len() - 1, 1, None)])?;
        Ok(TftWindowsDataset { file, series, n, steps, features, window, norm, names })
    }

    pub fn features(&self) -> usize {
        self.features
    }
    pub fn window(&self) -> usize {
        self.window
    }
    pub fn feature_names(&self) -> &[String] {
        &self.names
    }
    fn per_series(&self) -> usize {
        self.steps - self.window
    }
}

impl crate::data::Dataset for TftWindowsDataset {
    fn len(&self) -> usize {
        self.n * self.per_series()
    }

    fn get(&self, index: usize, _epoch: u64) -> Result<Sample> {
        check_index(&format!("{} (tft windows)", self.file.path().display()), index, self.len())?;
        let (s, t) = (index / self.per_series(), index % self.per_series());
        let (w, f) = (self.window, self.features);
        let (start, count) = if self.series.shape().len() == 2 { (vec![t, 0], vec![w + 1, f]) } else { (vec![s, t, 0], vec![1, w + 1, f]) };
        let mut v = self.series.read_f32(&start, &count)?;
        self.norm.apply(self.series.name(), &mut v)?;
        let all = crate::data::tensor(v, &[w + 1, f])?;
        Ok(vec![("x".into(), all.narrow(0, 0, w)?.contiguous()?), ("y".into(), all.select(0, w)?.contiguous()?)])
    }

    fn fields(&self) -> Vec<FieldInfo> {
        vec![FieldInfo::new("x", &[self.window, self.features], DType::F32), FieldInfo::new("y", &[self.features], DType::F32)]
    }
}

