//! Image time series (SITS-Former): `sequences` [N, T, C, H, W] float, `mask` [N, T] bool (true = a valid
//! acquisition; optional, all valid when absent), `label` [N] integer class. Samples carry the names the
//! seed's training loop reads (`batch['sequence']`, `batch['mask']`, `batch['label']`): `sequence`
//! [T, C, H, W] f32, normalised per channel with statistics over valid frames only, padded frames set to 0;
//! `mask` [T] bool; `label` [] i64.

use super::{Norm, OpenOptions};
use crate::data::h5::{ElemKind, H5Array, H5File};
use crate::data::{check_index, tensor, FieldInfo, Sample};
use crate::{Error, Result};
use std::path::Path;
use wrt_tensor::{storage::CpuStorage, DType, Tensor};

pub struct SitsformerDataset {
    file: H5File,
    sequences: H5Array,
    mask: Option<H5Array>,
    labels: Vec<i64>,
    num_classes: usize,
    norm: Norm,
}

impl SitsformerDataset {
    pub fn open(path: &Path, opts: &OpenOptions) -> Result<SitsformerDataset> {
        let file = H5File::open(path)?;
        let sequences = file.array("sequences", ElemKind::Float, &["N", "T", "C", "H", "W"])?;
        let mask = file.optional_array("mask", ElemKind::Bool, &["N", "T"])?;
        let label = file.array("label", ElemKind::Int, &["N"])?;
        sequences.same_dim(0, &label, 0, "the number of samples N")?;
        if let Some(m) = &mask {
            sequences.same_dim(0, m, 0, "the number of samples N")?;
            sequences.same_dim(1, m, 1, "the number of time steps T")?;
        }
        let labels = label.read_i64(&[0], label.shape())?;
        if let Some((i, &bad)) = labels.iter().enumerate().find(|(_, &l)| l < 0) {
            return Err(Error::data(format!("{}: dataset 'label': negative class {bad} at index {i}", path.display())));
        }
        let num_classes = match file.attr_usize("num_classes")? {
            Some(k) => k,
            None => labels.iter().max().map_or(0, |&m| m as usize + 1),
        };
        if let Some((i, &bad)) = labels.iter().enumerate().find(|(_, &l)| l as u64 >= num_classes as u64) {
            return Err(Error::data(format!("{}: dataset 'label': class {bad} at index {i} is not below num_classes = {num_classes}", path.display())));
        }
        let norm = Norm::prepare(&file, opts, &[(&sequences, 2, 1, mask.as_ref())])?;
        Ok(SitsformerDataset { file, sequences, mask, labels, num_classes, norm })
    }

    pub fn num_classes(&self) -> usize {
        self.num_classes
    }
    pub fn labels(&self) -> &[i64] {
        &self.labels
    }
    pub fn stats(&self) -> Option<&crate::data::NormStats> {
        self.norm.stats()
    }
}

impl crate::data::Dataset for SitsformerDataset {
    fn len(&self) -> usize {
        self.labels.len()
    }

    fn get(&self, index: usize, _epoch: u64) -> Result<Sample> {
        check_index(&format!("{} (sitsformer)", self.file.path().display()), index, self.labels.len())?;
        let shape = &self.sequences.shape()[1..];
        let t = shape[0];
        let (start, count) = self.sequences.rows(index, 1);
        let mut v = self.sequences.read_f32(&start, &count)?;
        self.norm.apply("sequences", &mut v)?;
        let valid = match &self.mask {
            Some(m) => {
                let (s, c) = m.rows(index, 1);
                m.read_bool(&s, &c)?
            }
            None => vec![1u8; t],
        };
        // Padded frames carry no data: zero them so that whatever was stored there (often 0 before
        // normalisation, i.e. -mean/std after it) cannot leak into the model.
        let frame: usize = shape[1..].iter().product();
        for (ti, &ok) in valid.iter().enumerate() {
            if ok == 0 {
                v[ti * frame..(ti + 1) * frame].fill(0.0);
            }
        }
        Ok(vec![
            ("sequence".into(), tensor(v, shape)?),
            ("mask".into(), Tensor::from_cpu_storage(CpuStorage::Bool(valid), &[t])?),
            ("label".into(), Tensor::scalar(self.labels[index])),
        ])
    }

    fn class_label(&self, index: usize) -> Option<i64> {
        self.labels.get(index).copied()
    }

    fn fields(&self) -> Vec<FieldInfo> {
        let s = &self.sequences.shape()[1..];
        vec![FieldInfo::new("sequence", s, DType::F32), FieldInfo::new("mask", &s[..1], DType::Bool), FieldInfo::new("label", &[], DType::I64)]
    }
}
