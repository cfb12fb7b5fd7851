//! Time-gap pairs (AtmoDist): `fields` [T, C, H, W] float, one atmospheric state per time step, with file
//! attributes `variables` (names of the C channels), `frequency` (time between steps, e.g. "3h") and
//! `time_interval` (the largest gap in hours, e.g. 24). The number of classes is time_interval / frequency
//! (8 for 24 h at 3 h), unless `AtmoDistOptions::num_classes` says otherwise.
//!
//! Pairs are drawn on the fly: sample `index` of epoch `e` anchors at step a = index mod T and draws a gap of
//! r in {1..K} steps from a stream seeded by (seed, e, index); the pair is (a, a + r), or (a - r, a) when
//! a + r runs past the end. Sample: `x1`, `x2` [C, H, W] f32 (the earlier state first, normalised per
//! variable), `y` [] i64 = r - 1 (class 0 = one step, 3 h; class K-1 = K steps, 24 h), as in the seed's
//! `class = Δt/3h - 1`, and the two steps `t1`, `t2` [] i64. An optional `time` [T] int dataset gives each
//! step's time (seconds since 1970, for analogue search). `data.variables` selects channels by name; a
//! file without a `variables` attribute is read as holding exactly the configured variables, in order.

use super::{read_float, Norm, OpenOptions};
use crate::data::h5::{ElemKind, H5Array, H5File};
use crate::data::rng::{self, PAIRS};
use crate::data::{check_index, FieldInfo, Sample};
use crate::{Error, Result};
use std::path::Path;
use wrt_tensor::{DType, Tensor};

#[derive(Clone, Debug, Default)]
pub struct AtmoDistOptions {
    /// Number of gap classes K (gaps of 1..=K steps); default from the attributes, else 8 (the seed).
    pub num_classes: Option<usize>,
    /// Pairs per epoch; default T (one per anchor step).
    pub pairs_per_epoch: Option<usize>,
    /// The variables to read, by name, in this order (the config's `data.variables`); empty: all of them.
    pub variables: Vec<String>,
}

pub struct AtmoDistDataset {
    file: H5File,
    fields: H5Array,
    variables: Vec<String>,
    frequency_hours: Option<f64>,
    /// time_interval / frequency from the file's attributes, when it has both.
    file_classes: Option<usize>,
    num_classes: usize,
    len: usize,
    seed: u64,
    norm: Norm,
    /// Channel indices of the selected variables (None: all, in file order).
    select: Option<Tensor>,
}

/// Hours in a frequency such as "3h", "30min", "1d", or a bare number of hours.
pub fn parse_hours(s: &str) -> Option<f64> {
    let s = s.trim().to_ascii_lowercase();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let v: f64 = num.parse().ok()?;
    let scale = match unit.trim() {
        "" | "h" | "hr" | "hrs" | "hour" | "hours" => 1.0,
        "min" | "m" | "minutes" => 1.0 / 60.0,
        "d" | "day" | "days" => 24.0,
        _ => return None,
    };
    Some(v * scale).filter(|h| *h > 0.0 && h.is_finite())
}

impl AtmoDistDataset {
    pub fn open(path: &Path, opts: &OpenOptions) -> Result<AtmoDistDataset> {
        let file = H5File::open(path)?;
        let fields = file.array("fields", ElemKind::Float, &["T", "C", "H", "W"])?;
        let t = fields.shape()[0];
        let variables = file.attr_strings("variables")?.unwrap_or_default();
        if !variables.is_empty() && variables.len() != fields.shape()[1] {
            return Err(Error::data(format!(
                "{}: attribute 'variables' names {} variables ({}) but 'fields' has C = {} channels",
                path.display(),
                variables.len(),
                variables.join(", "),
                fields.shape()[1]
            )));
        }
        let bad_attr = |name: &str, v: &str| Error::data(format!("{}: attribute '{name}' = '{v}' is not a duration such as 3h, 30min or 1d", path.display()));
        let frequency_hours = match file.attr_string("frequency") {
            Ok(Some(f)) => Some(parse_hours(&f).ok_or_else(|| bad_attr("frequency", &f))?),
            Ok(None) => None,
            Err(_) => file.attr_f64s("frequency")?.and_then(|v| v.first().copied()),
        };
        let interval_hours = match file.attr_string("time_interval") {
            Ok(Some(s)) => Some(parse_hours(&s).ok_or_else(|| bad_attr("time_interval", &s))?),
            Ok(None) => None,
            Err(_) => file.attr_f64s("time_interval")?.and_then(|v| v.first().copied()),
        };
        let from_attrs = match (frequency_hours, interval_hours) {
            (Some(f), Some(i)) => {
                let k = i / f;
                if k < 1.0 || (k - k.round()).abs() > 1e-9 {
                    return Err(Error::data(format!(
                        "{}: time_interval {i} h is not a whole multiple (>= 1) of the frequency {f} h",
                        path.display()
                    )));
                }
                Some(k.round() as usize)
            }
            _ => None,
        };
        let num_classes = opts.atmodist.num_classes.or(from_attrs).unwrap_or(8);
        if num_classes == 0 || t <= num_classes {
            return Err(Error::data(format!(
                "{}: dataset 'fields': {num_classes} gap classes need more than {num_classes} time steps, found T = {t}",
                path.display()
            )));
        }
        let len = opts.atmodist.pairs_per_epoch.unwrap_or(t);
        let norm = Norm::prepare(&file, opts, &[(&fields, 1, 1, None)])?;
        let (variables, select) = select_variables(path, variables, fields.shape()[1], &opts.atmodist.variables)?;
        Ok(AtmoDistDataset { file, fields, variables, frequency_hours, file_classes: from_attrs, num_classes, len, seed: opts.seed, norm, select })
    }

    pub fn num_classes(&self) -> usize {
        self.num_classes
    }
    pub fn variables(&self) -> &[String] {
        &self.variables
    }
    pub fn frequency_hours(&self) -> Option<f64> {
        self.frequency_hours
    }
    /// The gap classes the file's `time_interval` and `frequency` attributes imply, if it has both.
    pub fn file_classes(&self) -> Option<usize> {
        self.file_classes
    }
    /// Channels of a state (the selected variables).
    pub fn channels(&self) -> usize {
        self.select.as_ref().map_or(self.fields.shape()[1], |s| s.numel())
    }
    /// The file this dataset reads.
    pub fn path(&self) -> &Path {
        self.file.path()
    }
    /// The optional `time` dataset `[T]`: integer seconds since 1970-01-01 UTC of every step.
    pub fn times(&self) -> Result<Option<Vec<i64>>> {
        let t = self.steps();
        match self.file.optional_array("time", ElemKind::Int, &["T"])? {
            Some(a) => {
                a.expect_dim(0, t, "one time per step, T")?;
                Ok(Some(a.read_i64(&[0], &[t])?))
            }
            None => Ok(None),
        }
    }
    /// Number of time steps T.
    pub fn steps(&self) -> usize {
        self.fields.shape()[0]
    }
    pub fn stats(&self) -> Option<&crate::data::NormStats> {
        self.norm.stats()
    }

    /// The (earlier, later) time steps and the class of sample `index` in `epoch`.
    pub fn pair(&self, index: usize, epoch: u64) -> Result<(usize, usize, i64)> {
        let t = self.steps();
        let k = self.num_classes;
        let mut g = rng::generator(self.seed, &[PAIRS, epoch, index as u64]);
        let r = (g.randint(&[1], 1, k as i64 + 1)?.to_vec::<i64>()?[0]) as usize;
        let a = index % t;
        let (t1, t2) = if a + r < t {
            (a, a + r)
        } else if a >= r {
            (a - r, a)
        } else {
            // Only when T < 2K: no pair around the anchor, so draw the earlier step uniformly instead.
            let s = g.randint(&[1], 0, (t - r) as i64)?.to_vec::<i64>()?[0] as usize;
            (s, s + r)
        };
        Ok((t1, t2, r as i64 - 1))
    }

    /// One time step, normalised, [C, H, W]: the embedding input of analogue search.
    pub fn state(&self, step: usize) -> Result<Tensor> {
        check_index(&format!("{} (atmodist time steps)", self.file.path().display()), step, self.steps())?;
        let x = read_float(&self.fields, &self.norm, step, 1, &self.fields.shape()[1..])?;
        match &self.select {
            Some(idx) => Ok(x.index_select(0, idx)?),
            None => Ok(x),
        }
    }
}

impl crate::data::Dataset for AtmoDistDataset {
    fn len(&self) -> usize {
        self.len
    }

    fn get(&self, index: usize, epoch: u64) -> Result<Sample> {
        check_index(&format!("{} (atmodist pairs)", self.file.path().display()), index, self.len)?;
        let (t1, t2, class) = self.pair(index, epoch)?;
        Ok(vec![
            ("x1".into(), self.state(t1)?),
            ("x2".into(), self.state(t2)?),
            ("y".into(), Tensor::scalar(class)),
            ("t1".into(), Tensor::scalar(t1 as i64)),
            ("t2".into(), Tensor::scalar(t2 as i64)),
        ])
    }

    fn fields(&self) -> Vec<FieldInfo> {
        let fs = self.fields.shape();
        let s = &[self.channels(), fs[2], fs[3]];
        vec![
            FieldInfo::new("x1", s, DType::F32),
            FieldInfo::new("x2", s, DType::F32),
            FieldInfo::new("y", &[], DType::I64),
            FieldInfo::new("t1", &[], DType::I64),
            FieldInfo::new("t2", &[], DType::I64),
        ]
    }
}

/// The file's variable names and channel indices after `want` (empty: every variable, unchanged). Names
/// need the file's `variables` attribute; an unknown name is an error listing the known ones.
fn select_variables(path: &Path, file_vars: Vec<String>, channels: usize, want: &[String]) -> Result<(Vec<String>, Option<Tensor>)> {
    if want.is_empty() || want == file_vars.as_slice() {
        return Ok((file_vars, None));
    }
    if file_vars.is_empty() && want.len() == channels {
        // no names in the file: its channels are taken to be the configured variables, in order
        return Ok((want.to_vec(), None));
    }
    if file_vars.is_empty() {
        return Err(Error::data(format!(
            "{}: data.variables {want:?} selects by name, but the file has no 'variables' attribute naming its {channels} channels",
            path.display()
        )));
    }
    let idx = want
        .iter()
        .map(|v| {
            file_vars.iter().position(|f| f == v).map(|i| i as i64).ok_or_else(|| {
                Error::data(format!("{}: data.variables names '{v}', which the file does not have (it has {})", path.display(), file_vars.join(", ")))
            })
        })
        .collect::<Result<Vec<i64>>>()?;
    Ok((want.to_vec(), Some(Tensor::from_vec(idx, &[want.len()])?)))
}

#[cfg(test)]
mod tests {
    use super::parse_hours;

    #[test]
    fn durations() {
        assert_eq!(parse_hours("3h"), Some(3.0));
        assert_eq!(parse_hours("3H"), Some(3.0));
        assert_eq!(parse_hours("30min"), Some(0.5));
        assert_eq!(parse_hours("1d"), Some(24.0));
        assert_eq!(parse_hours("24"), Some(24.0));
        assert_eq!(parse_hours("0h"), None);
        assert_eq!(parse_hours("soon"), None);
    }
}
