//! Multi-horizon series (TFT): `static` [N, S], `known` [N, L, K] (inputs known in advance, e.g. calendar
//! features), `observed` [N, L, O] (inputs only known in the past), `target` [N, L], all float, with file
//! attributes `encoder_length` and `decoder_length` (Te + Td = L; one may be omitted). Samples:
//! `static` [S], `encoder_known` [Te, K], `encoder_observed` [Te, O], `encoder_target` [Te] (the past of the
//! target, an encoder input), `decoder_known` [Td, K] and `target` [Td] (what to forecast), all f32.
//! Static, known and observed features are normalised per feature; the target with one mean and std over
//! the whole dataset (`TftDataset::target_stats` inverts predictions to the original units).
//!
//! Optional: `static_cat` [N, C] integer class indices (sample field `static_cat` [C], I64), with attribute
//! `static_cat_cardinality` (classes per column; default: the column's maximum + 1); and the variables'
//! names as string-list attributes `static_names`, `known_names`, `observed_names`, `static_cat_names` and
//! the string `target_name` (defaults `static_0`, `known_0`, ..., `target`), which name the TFT's
//! variable-selection weights and its parameters (`prescalers.<name>`).

use super::{read_float, Norm, OpenOptions};
use crate::data::h5::{ElemKind, H5Array, H5File};
use crate::data::{check_index, ChannelStats, FieldInfo, Sample};
use crate::{Error, Result};
use std::path::Path;
use wrt_tensor::DType;

/// The variables' names (file attributes, or `static_0`, ... by default).
#[derive(Clone, Debug, PartialEq)]
pub struct TftNames {
    pub statics: Vec<String>,
    pub known: Vec<String>,
    pub observed: Vec<String>,
    pub target: String,
    /// Static categoricals: (name, number of classes).
    pub categoricals: Vec<(String, usize)>,
}

pub struct TftDataset {
    file: H5File,
    statics: H5Array,
    static_cat: Option<H5Array>,
    names: TftNames,
    known: H5Array,
    observed: H5Array,
    target: H5Array,
    encoder_length: usize,
    decoder_length: usize,
    norm: Norm,
}

impl TftDataset {
    pub fn open(path: &Path, opts: &OpenOptions) -> Result<TftDataset> {
        let file = H5File::open(path)?;
        if !file.has("static") && file.has("series") {
            return Err(Error::data(format!(
                "{}: holds 'series' (windows of one multivariate series, the seed's TFT), not the multi-horizon layout (static, known, observed, target): use model.variant: seed, or data kind tft_series",
                path.display()
            )));
        }
        let statics = file.array("static", ElemKind::Float, &["N", "S"])?;
        let known = file.array("known", ElemKind::Float, &["N", "L", "K"])?;
        let observed = file.array("observed", ElemKind::Float, &["N", "L", "O"])?;
        let target = file.array("target", ElemKind::Float, &["N", "L"])?;
        for a in [&known, &observed, &target] {
            statics.same_dim(0, a, 0, "the number of series N")?;
        }
        for a in [&observed, &target] {
            known.same_dim(1, a, 1, "the series length L")?;
        }
        let l = target.shape()[1];
        let (te, td) = match (file.attr_usize("encoder_length")?, file.attr_usize("decoder_length")?) {
            (Some(e), Some(d)) => (e, d),
            (Some(e), None) => (e, l.saturating_sub(e)),
            (None, Some(d)) => (l.saturating_sub(d), d),
            (None, None) => {
                return Err(Error::data(format!("{}: missing attributes 'encoder_length' and 'decoder_length' (expected two whole numbers summing to L = {l})", path.display())))
            }
        };
        if te == 0 || td == 0 || te.checked_add(td) != Some(l) {
            return Err(Error::data(format!(
                "{}: attributes encoder_length = {te} and decoder_length = {td} must both be positive and sum to the series length L = {l}",
                path.display()
            )));
        }
        let static_cat = file.optional_array("static_cat", ElemKind::Int, &["N", "C"])?;
        if let Some(c) = &static_cat {
            statics.same_dim(0, c, 0, "the number of series N")?;
        }
        let names = read_names(&file, &statics, &known, &observed, static_cat.as_ref())?;
        let norm = Norm::prepare(&file, opts, &[(&statics, 1, 1, None), (&known, 2, 1, None), (&observed, 2, 1, None), (&target, 2, 0, None)])?;
        Ok(TftDataset { file, statics, static_cat, names, known, observed, target, encoder_length: te, decoder_length: td, norm })
    }

    pub fn names(&self) -> &TftNames {
        &self.names
    }

    pub fn encoder_length(&self) -> usize {
        self.encoder_length
    }
    pub fn decoder_length(&self) -> usize {
        self.decoder_length
    }
    /// (S, K, O): numbers of static, known and observed features.
    pub fn feature_counts(&self) -> (usize, usize, usize) {
        (self.statics.shape()[1], self.known.shape()[2], self.observed.shape()[2])
    }
    /// The target's statistics (one channel) and mode: `ChannelStats::invert` maps forecasts back.
    pub fn target_stats(&self) -> Option<(&ChannelStats, crate::data::Normalize)> {
        self.norm.stats().and_then(|s| s.datasets.get("target")).map(|c| (c, self.norm.mode()))
    }
    pub fn stats(&self) -> Option<&crate::data::NormStats> {
        self.norm.stats()
    }
}

impl crate::data::Dataset for TftDataset {
    fn len(&self) -> usize {
        self.statics.shape()[0]
    }

    fn get(&self, index: usize, _epoch: u64) -> Result<Sample> {
        check_index(&format!("{} (tft)", self.file.path().display()), index, self.len())?;
        let (te, td) = (self.encoder_length, self.decoder_length);
        let (_, k, o) = self.feature_counts();
        let known = read_float(&self.known, &self.norm, index, 1, &[te + td, k])?;
        let observed = read_float(&self.observed, &self.norm, index, 1, &[te + td, o])?;
        let target = read_float(&self.target, &self.norm, index, 1, &[te + td])?;
        let mut out: Sample = vec![
            ("static".into(), read_float(&self.statics, &self.norm, index, 1, &self.statics.shape()[1..])?),
            ("encoder_known".into(), known.narrow(0, 0, te)?.contiguous()?),
            ("encoder_observed".into(), observed.narrow(0, 0, te)?.contiguous()?),
            ("encoder_target".into(), target.narrow(0, 0, te)?.contiguous()?),
            ("decoder_known".into(), known.narrow(0, te, td)?.contiguous()?),
            ("target".into(), target.narrow(0, te, td)?.contiguous()?),
        ];
        if let Some(c) = &self.static_cat {
            let (start, count) = c.rows(index, 1);
            out.push(("static_cat".into(), crate::data::tensor(c.read_i64(&start, &count)?, &c.shape()[1..])?));
        }
        Ok(out)
    }

    fn fields(&self) -> Vec<FieldInfo> {
        let (s, k, o) = self.feature_counts();
        multi_horizon_fields([s, k, o], self.encoder_length, self.decoder_length, self.static_cat.as_ref().map(|c| c.shape()[1]))
    }
}


/// A names attribute of `n` strings, or `{prefix}_{i}`.
fn names_attr(file: &H5File, attr: &str, prefix: &str, n: usize) -> Result<Vec<String>> {
    match file.attr_strings(attr)? {
        Some(v) if v.len() == n => Ok(v),
        Some(v) => Err(Error::data(format!("{}: attribute '{attr}' lists {} names for {n} columns", file.path().display(), v.len()))),
        None => Ok((0..n).map(|i| format!("{prefix}_{i}")).collect()),
    }
}

fn read_names(file: &H5File, statics: &H5Array, known: &H5Array, observed: &H5Array, cat: Option<&H5Array>) -> Result<TftNames> {
    let statics = names_attr(file, "static_names", "static", statics.shape()[1])?;
    let known = names_attr(file, "known_names", "known", known.shape()[2])?;
    let observed = names_attr(file, "observed_names", "observed", observed.shape()[2])?;
    let target = file.attr_string("target_name")?.unwrap_or_else(|| "target".into());
    let categoricals = match cat {
        None => Vec::new(),
        Some(c) => {
            let n = c.shape()[1];
            let names = names_attr(file, "static_cat_names", "static_cat", n)?;
            let card: Vec<usize> = match file.attr_f64s("static_cat_cardinality")? {
                Some(v) if v.len() == n => v.iter().map(|&x| x as usize).collect(),
                Some(v) => return Err(Error::data(format!("{}: attribute 'static_cat_cardinality' has {} values for {n} columns", file.path().display(), v.len()))),
                None => {
                    let all = c.read_all()?.to_dtype(DType::I64)?.to_vec::<i64>()?;
                    (0..n).map(|j| all.iter().skip(j).step_by(n).copied().max().unwrap_or(0).max(0) as usize + 1).collect()
                }
            };
            let all = c.read_all()?.to_dtype(DType::I64)?.to_vec::<i64>()?;
            for (i, v) in all.iter().enumerate() {
                if *v < 0 || *v as usize >= card[i % n] {
                    return Err(Error::data(format!(
                        "{}: static_cat[{}, {}] = {v} is outside the {} classes of '{}'",
                        file.path().display(),
                        i / n,
                        i % n,
                        card[i % n],
                        names[i % n]
                    )));
                }
            }
            names.into_iter().zip(card).collect()
        }
    };
    let mut all: Vec<&String> = statics.iter().chain(&known).chain(&observed).chain(categoricals.iter().map(|(n, _)| n)).collect();
    all.push(&target);
    let mut seen = std::collections::BTreeSet::new();
    if let Some(d) = all.iter().find(|n| !seen.insert(n.as_str())) {
        return Err(Error::data(format!("{}: variable name '{d}' appears twice in the names attributes", file.path().display())));
    }
    Ok(TftNames { statics, known, observed, target, categoricals })
}

/// The sample fields of the multi-horizon layout (also what the CSV reader yields): `[S, K, O]` static,
/// known and observed widths, encoder and decoder lengths, and the static categoricals' count if any.
pub(crate) fn multi_horizon_fields([s, k, o]: [usize; 3], te: usize, td: usize, cats: Option<usize>) -> Vec<FieldInfo> {
    let mut f = vec![
        FieldInfo::new("static", &[s], DType::F32),
        FieldInfo::new("encoder_known", &[te, k], DType::F32),
        FieldInfo::new("encoder_observed", &[te, o], DType::F32),
        FieldInfo::new("encoder_target", &[te], DType::F32),
        FieldInfo::new("decoder_known", &[td, k], DType::F32),
        FieldInfo::new("target", &[td], DType::F32),
    ];
    if let Some(c) = cats {
        f.push(FieldInfo::new("static_cat", &[c], DType::I64));
    }
    f
}
