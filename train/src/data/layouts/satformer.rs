//! Precipitation bins (SaTformer): `x` [N, T, C, H, W] float, `y` [N] integer bin index, optional file
//! attribute `bin_edges` [num_classes + 1]. Samples: `x` [T, C, H, W] f32 (normalised per channel C) and
//! `y` [] i64.

use super::{read_float, Norm, OpenOptions};
use crate::data::h5::{ElemKind, H5Array, H5File};
use crate::data::{check_index, FieldInfo, Sample};
use crate::{Error, Result};
use std::path::Path;
use wrt_tensor::{DType, Tensor};

pub struct SatformerDataset {
    file: H5File,
    x: H5Array,
    labels: Vec<i64>,
    bin_edges: Option<Vec<f64>>,
    num_classes: usize,
    norm: Norm,
}

impl SatformerDataset {
    pub fn open(path: &Path, opts: &OpenOptions) -> Result<SatformerDataset> {
        let file = H5File::open(path)?;
        let x = file.array("x", ElemKind::Float, &["N", "T", "C", "H", "W"])?;
        let y = file.array("y", ElemKind::Int, &["N"])?;
        x.same_dim(0, &y, 0, "the number of samples N")?;
        let labels = y.read_i64(&[0], y.shape())?;
        let bin_edges = file.attr_f64s("bin_edges")?;
        let num_classes = match &bin_edges {
            Some(e) if e.len() >= 2 => e.len() - 1,
            Some(e) => return Err(Error::data(format!("{}: attribute 'bin_edges' needs at least 2 edges, found {}", path.display(), e.len()))),
            None => labels.iter().max().map_or(0, |&m| (m.max(-1) + 1) as usize),
        };
        if let Some((i, &bad)) = labels.iter().enumerate().find(|(_, &l)| l < 0 || l as u64 >= num_classes as u64) {
            return Err(Error::data(format!(
                "{}: dataset 'y': label {bad} at index {i} is outside the {num_classes} bins [0, {num_classes})",
                path.display()
            )));
        }
        let norm = Norm::prepare(&file, opts, &[(&x, 2, 1, None)])?;
        Ok(SatformerDataset { file, x, labels, bin_edges, num_classes, norm })
    }

    /// Number of precipitation bins: `len(bin_edges) - 1`, else `max(y) + 1`.
    pub fn num_classes(&self) -> usize {
        self.num_classes
    }
    pub fn bin_edges(&self) -> Option<&[f64]> {
        self.bin_edges.as_deref()
    }
    pub fn labels(&self) -> &[i64] {
        &self.labels
    }
    pub fn path(&self) -> &Path {
        self.file.path()
    }
    pub fn stats(&self) -> Option<&crate::data::NormStats> {
        self.norm.stats()
    }
}

impl crate::data::Dataset for SatformerDataset {
    fn len(&self) -> usize {
        self.labels.len()
    }

    fn get(&self, index: usize, _epoch: u64) -> Result<Sample> {
        check_index(&format!("{} (satformer)", self.file.path().display()), index, self.labels.len())?;
        let x = read_float(&self.x, &self.norm, index, 1, &self.x.shape()[1..])?;
        Ok(vec![("x".into(), x), ("y".into(), Tensor::scalar(self.labels[index]))])
    }

    fn fields(&self) -> Vec<FieldInfo> {
        vec![FieldInfo::new("x", &self.x.shape()[1..], DType::F32), FieldInfo::new("y", &[], DType::I64)]
    }
}
