//! Multi-horizon series (TFT): `static` [N, S], `known` [N, L, K] (inputs known in advance, e.g. calendar
//! features), `observed` [N, L, O] (inputs only known in the past), `target` [N, L], all float, with file
//! attributes `encoder_length` and `decoder_length` (Te + Td = L; one may be omitted). Samples:
//! `static` [S], `encoder_known` [Te, K], `encoder_observed` [Te, O], `encoder_target` [Te] (the past of the
//! target, an encoder input), `decoder_known` [Td, K] and `target` [Td] (what to forecast), all f32.
//! Static, known and observed features are normalised per feature; the target with one mean and std over
//! the whole dataset (`TftDataset::target_stats` inverts predictions to the original units).

use super::{read_float, Norm, OpenOptions};
use crate::data::h5::{ElemKind, H5Array, H5File};
use crate::data::{check_index, ChannelStats, FieldInfo, Sample};
use crate::{Error, Result};
use std::path::Path;
use wrt_tensor::DType;

pub struct TftDataset {
    file: H5File,
    statics: H5Array,
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
        let norm = Norm::prepare(&file, opts, &[(&statics, 1, 1, None), (&known, 2, 1, None), (&observed, 2, 1, None), (&target, 2, 0, None)])?;
        Ok(TftDataset { file, statics, known, observed, target, encoder_length: te, decoder_length: td, norm })
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
        Ok(vec![
            ("static".into(), read_float(&self.statics, &self.norm, index, 1, &self.statics.shape()[1..])?),
            ("encoder_known".into(), known.narrow(0, 0, te)?.contiguous()?),
            ("encoder_observed".into(), observed.narrow(0, 0, te)?.contiguous()?),
            ("encoder_target".into(), target.narrow(0, 0, te)?.contiguous()?),
            ("decoder_known".into(), known.narrow(0, te, td)?.contiguous()?),
            ("target".into(), target.narrow(0, te, td)?.contiguous()?),
        ])
    }

    fn fields(&self) -> Vec<FieldInfo> {
        let (te, td) = (self.encoder_length, self.decoder_length);
        let (s, k, o) = self.feature_counts();
        vec![
            FieldInfo::new("static", &[s], DType::F32),
            FieldInfo::new("encoder_known", &[te, k], DType::F32),
            FieldInfo::new("encoder_observed", &[te, o], DType::F32),
            FieldInfo::new("encoder_target", &[te], DType::F32),
            FieldInfo::new("decoder_known", &[td, k], DType::F32),
            FieldInfo::new("target", &[td], DType::F32),
        ]
    }
}

