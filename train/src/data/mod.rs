//! Data: HDF5 files (written by h5py, chunked and compressed, read sample by sample through hyperslabs) and
//! memory-mapped `.npy` arrays; one dataset type per layout of design.md (SaTformer's precipitation bins,
//! AtmoDist's time-gap pairs, SITS-Former's image time series, Pangu's gridded forecast, TFT's multi-horizon
//! series); per-channel normalisation statistics computed once and kept in a JSON sidecar; a `DataLoader`
//! (seeded shuffle, batching, drop_last, train/val split, an order-preserving prefetch pool, resume at a
//! batch); synthetic but learnable generators writing each layout; and `inspect` for any HDF5 file.
//!
//! A sample is a list of named tensors; a `Batch` stacks them on a new dim 0. Everything random derives from
//! (seed, epoch, index) only, so batches never depend on the number of workers or on thread timing.
//! The user-facing description (layouts, field names, dtypes, the stats file) is docs/data.md.

pub mod augment;
mod batch;
mod h5;
mod inspect;
pub mod layouts;
mod loader;
mod norm;
mod npy;
mod rng;
mod csv_series;
pub mod synth;

pub use batch::{collate, Batch, Sample};
pub use csv_series::{CsvColumns, CsvSeriesDataset};
pub use h5::{ElemKind, H5Array, H5File};
pub use inspect::inspect;
pub use layouts::{
    open, parse_hours, AtmoDistDataset, AtmoDistOptions, Kind, OpenOptions, PanguDataset, PanguOptions, SatformerDataset,
    SitsformerDataset, TftDataset, TftNames, TftWindowsDataset,
};
pub use loader::{train_val_split, BatchIter, DataLoader, LoaderConfig};
pub use norm::{ChannelStats, NormStats, Normalize};
pub use npy::NpyArray;
pub use rng::derive_seed;

use crate::Result;
use wrt_tensor::{DType, Tensor};

/// A source of samples addressed by index. `epoch` lets a dataset that samples on the fly (AtmoDist's pairs)
/// draw different but reproducible samples each epoch: its randomness comes from (seed, epoch, index) only.
pub trait Dataset: Send + Sync {
    fn len(&self) -> usize;
    fn get(&self, index: usize, epoch: u64) -> Result<Sample>;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The fields of one sample: name, per-sample shape (without the batch dim) and dtype.
    fn fields(&self) -> Vec<FieldInfo>;
    /// The class label of sample `index` without reading the sample, for datasets that hold their labels
    /// in memory (class weights, baselines); None: read it from `get`.
    fn class_label(&self, index: usize) -> Option<i64> {
        let _ = index;
        None
    }
}

/// One field of a sample as a model sees it (the batch adds a leading dim).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldInfo {
    pub name: String,
    pub shape: Vec<usize>,
    pub dtype: DType,
}

impl FieldInfo {
    pub fn new(name: &str, shape: &[usize], dtype: DType) -> FieldInfo {
        FieldInfo { name: name.to_string(), shape: shape.to_vec(), dtype }
    }
}

/// Check that `index` is inside a dataset of `len` samples (the error names the dataset).
pub(crate) fn check_index(what: &str, index: usize, len: usize) -> Result<()> {
    if index >= len {
        return Err(crate::Error::data(format!("{what}: sample index {index} is out of range (the dataset has {len} samples)")));
    }
    Ok(())
}

/// A tensor from a Vec with a shape the caller computed (an internal invariant, hence `expect`-free Result).
pub(crate) fn tensor<T: wrt_tensor::WithDType>(v: Vec<T>, shape: &[usize]) -> Result<Tensor> {
    Ok(Tensor::from_vec(v, shape)?)
}
