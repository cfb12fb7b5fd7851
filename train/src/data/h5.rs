//! HDF5 reading through the `hdf5` crate (hdf5-metno over the system libhdf5): open a file as h5py wrote it,
//! check each dataset a layout needs (present, rank, element kind, a size the file can really hold) with an
//! error naming the file, the dataset, what was expected and what was found, then read hyperslabs (one
//! sample, or a run of samples) without loading the rest of the file.
//!
//! All HDF5 calls go through the crate's global lock, so reads from several loader workers serialise inside
//! libhdf5; decoding, normalisation and batching still run in parallel around them.

use crate::{Error, Result};
use hdf5::types::{FloatSize, TypeDescriptor, VarLenAscii, VarLenUnicode};
use hdf5::{Hyperslab, Selection, SliceOrIndex};
use std::path::{Path, PathBuf};
use wrt_tensor::{storage::CpuStorage, Tensor};

/// What a layout accepts for a dataset: any float (read as f32), any integer (read as i64), or a boolean
/// (h5py's bool enum, or an integer where non-zero is true; read as Bool).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElemKind {
    Float,
    Int,
    Bool,
}

impl std::fmt::Display for ElemKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ElemKind::Float => "a float dtype (float16/32/64)",
            ElemKind::Int => "an integer dtype",
            ElemKind::Bool => "bool (or an integer 0/1)",
        })
    }
}

/// The stored element type, as numpy names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stored {
    Float(usize),
    Int(usize),
    UInt(usize),
    Bool,
    Other,
}

impl Stored {
    fn of(ds: &hdf5::Dataset) -> (Stored, String) {
        match ds.dtype().and_then(|t| t.to_descriptor()) {
            Ok(d) => (Stored::from_descriptor(&d), type_name(&d)),
            Err(_) => (Stored::Other, "an unsupported HDF5 type".to_string()),
        }
    }
    fn from_descriptor(d: &TypeDescriptor) -> Stored {
        match d {
            TypeDescriptor::Float(s) => Stored::Float(float_bytes(*s)),
            TypeDescriptor::Integer(s) => Stored::Int(*s as usize),
            TypeDescriptor::Unsigned(s) => Stored::UInt(*s as usize),
            TypeDescriptor::Boolean => Stored::Bool,
            _ => Stored::Other,
        }
    }
    fn fits(self, kind: ElemKind) -> bool {
        match kind {
            ElemKind::Float => matches!(self, Stored::Float(_)),
            ElemKind::Int => matches!(self, Stored::Int(_) | Stored::UInt(_)),
            ElemKind::Bool => matches!(self, Stored::Bool | Stored::Int(_) | Stored::UInt(_)),
        }
    }
}

fn float_bytes(s: FloatSize) -> usize {
    match s {
        FloatSize::U2 => 2,
        FloatSize::U4 => 4,
        FloatSize::U8 => 8,
    }
}

/// A numpy-style name for an HDF5 type (`float32`, `int64`, `bool`, `str`, ...).
pub(crate) fn type_name(d: &TypeDescriptor) -> String {
    match d {
        TypeDescriptor::Float(s) => format!("float{}", 8 * float_bytes(*s)),
        TypeDescriptor::Integer(s) => format!("int{}", 8 * *s as usize),
        TypeDescriptor::Unsigned(s) => format!("uint{}", 8 * *s as usize),
        TypeDescriptor::Boolean => "bool".into(),
        TypeDescriptor::Enum(e) => format!("enum({} members)", e.members.len()),
        TypeDescriptor::Compound(c) => format!("compound({} fields)", c.fields.len()),
        TypeDescriptor::FixedArray(t, n) => format!("{}[{n}]", type_name(t)),
        TypeDescriptor::FixedAscii(n) | TypeDescriptor::FixedUnicode(n) => format!("fixed-length string ({n} bytes)"),
        TypeDescriptor::VarLenArray(t) => format!("variable-length array of {}", type_name(t)),
        TypeDescriptor::VarLenAscii | TypeDescriptor::VarLenUnicode => "str".into(),
        TypeDescriptor::Reference(_) => "reference".into(),
    }
}

/// Largest deflate ratio is about 1032:1, so a gzip-compressed dataset cannot hold more than ~1032 times the
/// file's bytes; this bound (with headroom for small files and unwritten fill-value chunks) turns a corrupt
/// shape into an error instead of an attempt to allocate terabytes.
const MAX_EXPANSION: u64 = 1100;
const SMALL_FILE_HEADROOM: u64 = 16 << 20;
/// One sample (a row along dim 0) larger than this is surely a corrupt or misread shape.
const MAX_ROW_BYTES: u64 = 4 << 30;
/// Chunk cache per open dataset: h5py's auto-chunking often makes chunks of several samples, and a larger
/// cache lets consecutive sample reads reuse a decompressed chunk (libhdf5's default is 1 MiB).
const CHUNK_CACHE_BYTES: usize = 32 << 20;

/// An open HDF5 file.
pub struct H5File {
    path: PathBuf,
    file: hdf5::File,
    file_len: u64,
}

impl std::fmt::Debug for H5File {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "H5File({})", self.path.display())
    }
}

impl H5File {
    /// Open read-only. A missing file is `Error::Io`; a file libhdf5 cannot read is `Error::Data`.
    pub fn open(path: impl AsRef<Path>) -> Result<H5File> {
        let path = path.as_ref();
        let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
        if !meta.is_file() {
            return Err(Error::io(path, "not a regular file"));
        }
        // libhdf5 prints its error stack to stderr by default; our errors carry the message instead.
        hdf5::silence_errors(true);
        let file = hdf5::File::with_options()
            .with_fapl(|p| p.chunk_cache(1021, CHUNK_CACHE_BYTES, 0.75))
            .open(path)
            .map_err(|e| Error::data(format!("{}: cannot be read as an HDF5 file: {e}", path.display())))?;
        Ok(H5File { path: path.to_path_buf(), file, file_len: meta.len() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn inner(&self) -> &hdf5::File {
        &self.file
    }

    /// Names of the top-level members (datasets and groups), sorted.
    pub fn names(&self) -> Vec<String> {
        let mut v = self.file.member_names().unwrap_or_default();
        v.sort();
        v
    }

    /// Whether a top-level dataset called `name` exists.
    pub fn has(&self, name: &str) -> bool {
        !name.contains('/') && self.file.link_exists(name) && self.file.dataset(name).is_ok()
    }

    /// Open dataset `name`, checking it against a layout: `dims` names each dimension (its length is the
    /// rank) and `kind` the element type. The error names the file, the dataset, the expectation and what
    /// the file holds.
    pub fn array(&self, name: &str, kind: ElemKind, dims: &[&str]) -> Result<H5Array> {
        let where_ = format!("{}: dataset '{name}'", self.path.display());
        let expected = format!("[{}]", dims.join(", "));
        if !self.has(name) {
            return Err(Error::data(format!(
                "{}: missing dataset '{name}' (expected {expected} of {kind}); the file has: {}",
                self.path.display(),
                list_or_nothing(&self.names())
            )));
        }
        let ds = self.file.dataset(name).map_err(|e| Error::data(format!("{where_}: cannot be opened: {e}")))?;
        let shape = ds.space().map(|s| s.shape()).map_err(|e| Error::data(format!("{where_}: unreadable dataspace: {e}")))?;
        if shape.len() != dims.len() {
            return Err(Error::data(format!(
                "{where_}: expected rank {} {expected}, found rank {} with shape {shape:?}",
                dims.len(),
                shape.len()
            )));
        }
        let (stored, stored_name) = Stored::of(&ds);
        if !stored.fits(kind) {
            return Err(Error::data(format!("{where_}: expected {kind}, found {stored_name}")));
        }
        let mem_bytes: u64 = match kind {
            ElemKind::Float => 4,
            ElemKind::Int => 8,
            ElemKind::Bool => 1,
        };
        let elems = shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d as u64));
        let row = shape.iter().skip(1).try_fold(1u64, |a, &d| a.checked_mul(d as u64));
        let bound = self.file_len.saturating_mul(MAX_EXPANSION).saturating_add(SMALL_FILE_HEADROOM);
        match (elems.and_then(|e| e.checked_mul(mem_bytes)), row.and_then(|r| r.checked_mul(mem_bytes))) {
            (Some(total), Some(row)) if total <= bound && row <= MAX_ROW_BYTES => {}
            _ => {
                return Err(Error::data(format!(
                    "{where_}: shape {shape:?} is larger than a {} byte file can hold (corrupt file or dataspace?)",
                    self.file_len
                )))
            }
        }
        check_storage(&ds, &shape, bound).map_err(|msg| Error::data(format!("{where_}: {msg} (corrupt file?)")))?;
        Ok(H5Array { file: self.path.display().to_string(), name: name.to_string(), ds, shape, stored, stored_name, kind })
    }

    /// The rank of dataset `name`, when it exists and its dataspace can be read (layouts that accept two
    /// ranks pick their dims with it; `array` then checks the rest).
    pub fn rank(&self, name: &str) -> Option<usize> {
        if !self.has(name) {
            return None;
        }
        self.file.dataset(name).ok()?.space().ok().map(|s| s.shape().len())
    }

    /// Like `array`, but `Ok(None)` when the dataset does not exist.
    pub fn optional_array(&self, name: &str, kind: ElemKind, dims: &[&str]) -> Result<Option<H5Array>> {
        if self.has(name) {
            self.array(name, kind, dims).map(Some)
        } else {
            Ok(None)
        }
    }

    fn attr(&self, name: &str) -> Option<hdf5::Attribute> {
        if self.file.attr_names().map(|n| n.iter().any(|a| a == name)).unwrap_or(false) {
            self.file.attr(name).ok()
        } else {
            None
        }
    }

    /// A numeric file attribute (scalar or 1-d) as f64 values; `Ok(None)` when absent.
    pub fn attr_f64s(&self, name: &str) -> Result<Option<Vec<f64>>> {
        let Some(a) = self.attr(name) else { return Ok(None) };
        attr_numbers(&a).map(Some).map_err(|found| Error::data(format!("{}: attribute '{name}': expected numbers, found {found}", self.path.display())))
    }

    /// A numeric scalar attribute that must be a whole number (a length, a count); `Ok(None)` when absent.
    pub fn attr_usize(&self, name: &str) -> Result<Option<usize>> {
        let Some(v) = self.attr_f64s(name)? else { return Ok(None) };
        match v.as_slice() {
            [x] if *x >= 0.0 && x.fract() == 0.0 && *x < 1e15 => Ok(Some(*x as usize)),
            _ => Err(Error::data(format!("{}: attribute '{name}': expected one non-negative whole number, found {v:?}", self.path.display()))),
        }
    }

    /// A string attribute (h5py writes Python `str` as variable-length UTF-8; bytes as fixed-length ASCII);
    /// `Ok(None)` when absent.
    pub fn attr_string(&self, name: &str) -> Result<Option<String>> {
        match self.attr_strings(name)? {
            Some(mut v) if v.len() == 1 && self.attr(name).is_some_and(|a| a.shape().is_empty()) => Ok(Some(v.remove(0))),
            Some(v) => Err(Error::data(format!("{}: attribute '{name}': expected one string, found {} strings", self.path.display(), v.len()))),
            None => Ok(None),
        }
    }

    /// A list-of-strings attribute (h5py writes a Python list of `str` as a 1-d array), or a single string
    /// as a list of one; `Ok(None)` when absent.
    pub fn attr_strings(&self, name: &str) -> Result<Option<Vec<String>>> {
        let Some(a) = self.attr(name) else { return Ok(None) };
        attr_texts(&a).map(Some).map_err(|found| Error::data(format!("{}: attribute '{name}': expected text, found {found}", self.path.display())))
    }

    /// Names of the file's attributes, sorted.
    pub fn attr_names(&self) -> Vec<String> {
        let mut v = self.file.attr_names().unwrap_or_default();
        v.sort();
        v
    }
}

fn list_or_nothing(names: &[String]) -> String {
    if names.is_empty() {
        "nothing".into()
    } else {
        names.join(", ")
    }
}

/// The storage description must agree with the shape before libhdf5 reads data through it: libhdf5 1.10
/// trusts a chunk shape or a compact/contiguous size from the file and copies out of bounds when a corrupt
/// one disagrees (found by tests/data_fuzz.rs: a chunk dim of 4194307 on an axis of length 3 crashes
/// H5Dread in a memcpy). `bound` is the largest byte count the file could hold.
fn check_storage(ds: &hdf5::Dataset, shape: &[usize], bound: u64) -> std::result::Result<(), String> {
    use hdf5::dataset::Layout;
    let elem = ds.dtype().map(|t| t.size() as u64).map_err(|e| format!("unreadable datatype: {e}"))?;
    let logical = shape.iter().fold(elem, |a, &d| a.saturating_mul(d as u64));
    let maxdims = ds.space().map(|s| s.maxdims()).map_err(|e| format!("unreadable dataspace: {e}"))?;
    match ds.layout() {
        Layout::Chunked => {
            let chunk = ds.chunk().ok_or("chunked layout without chunk dimensions")?;
            if chunk.len() != shape.len() {
                return Err(format!("chunk shape {chunk:?} has another rank than the shape {shape:?}"));
            }
            for (k, (&c, m)) in chunk.iter().zip(&maxdims).enumerate() {
                // HDF5 refuses to create a chunk larger than a fixed-size dimension, so one here is damage.
                if c == 0 || m.is_some_and(|m| c > m.max(1)) {
                    return Err(format!("chunk shape {chunk:?} does not fit dimension {k} of the shape {shape:?}"));
                }
            }
            let bytes = chunk.iter().fold(elem, |a, &d| a.saturating_mul(d as u64));
            if bytes >= 1 << 32 || bytes > bound {
                return Err(format!("chunk shape {chunk:?} makes {bytes}-byte chunks (HDF5's limit is 4 GiB)"));
            }
        }
        Layout::Compact | Layout::Contiguous => {
            let stored = ds.storage_size();
            if stored != 0 && stored != logical {
                return Err(format!("{stored} bytes are stored for a shape {shape:?} of {logical} bytes"));
            }
        }
        Layout::Virtual => {}
    }
    Ok(())
}

/// A numeric attribute (scalar or 1-d, at most 2^24 values) as f64; the error describes what was found.
pub(crate) fn attr_numbers(a: &hdf5::Attribute) -> std::result::Result<Vec<f64>, String> {
    let desc = a.dtype().and_then(|t| t.to_descriptor()).map_err(|e| e.to_string())?;
    if !matches!(desc, TypeDescriptor::Float(_) | TypeDescriptor::Integer(_) | TypeDescriptor::Unsigned(_)) {
        return Err(type_name(&desc));
    }
    let shape = a.shape();
    if shape.len() > 1 || shape.iter().product::<usize>() > (1 << 24) {
        return Err(format!("an array of shape {shape:?}"));
    }
    let v = if shape.is_empty() { a.read_scalar::<f64>().map(|x| vec![x]) } else { a.read_raw::<f64>() };
    v.map_err(|e| e.to_string())
}

/// A text attribute (scalar or 1-d; variable-length or fixed-length, ASCII or UTF-8) as Strings. Bytes are
/// decoded lossily: a corrupt attribute must not produce invalid UTF-8 `str`s.
pub(crate) fn attr_texts(a: &hdf5::Attribute) -> std::result::Result<Vec<String>, String> {
    let desc = a.dtype().and_then(|t| t.to_descriptor()).map_err(|e| e.to_string())?;
    let shape = a.shape();
    let n: usize = shape.iter().product();
    if shape.len() > 1 || n > (1 << 20) || n == 0 {
        return Err(format!("{} of shape {shape:?}", type_name(&desc)));
    }
    let text = |b: &[u8]| String::from_utf8_lossy(b).trim_end_matches('\0').to_string();
    match desc {
        TypeDescriptor::VarLenUnicode => {
            let v = if shape.is_empty() { a.read_scalar::<VarLenUnicode>().map(|x| vec![x]) } else { a.read_raw::<VarLenUnicode>() };
            Ok(v.map_err(|e| e.to_string())?.iter().map(|s| text(s.as_bytes())).collect())
        }
        TypeDescriptor::VarLenAscii => {
            let v = if shape.is_empty() { a.read_scalar::<VarLenAscii>().map(|x| vec![x]) } else { a.read_raw::<VarLenAscii>() };
            Ok(v.map_err(|e| e.to_string())?.iter().map(|s| text(s.as_bytes())).collect())
        }
        TypeDescriptor::FixedAscii(len) | TypeDescriptor::FixedUnicode(len) if len <= 4096 => {
            let v = a.read_raw::<hdf5::types::FixedAscii<4096>>().map_err(|e| e.to_string())?;
            Ok(v.iter().map(|s| text(s.as_bytes())).collect())
        }
        d => Err(type_name(&d)),
    }
}

/// A checked dataset, read by hyperslab.
pub struct H5Array {
    file: String,
    name: String,
    ds: hdf5::Dataset,
    shape: Vec<usize>,
    stored: Stored,
    stored_name: String,
    kind: ElemKind,
}

impl std::fmt::Debug for H5Array {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "H5Array({}:{} {:?} {})", self.file, self.name, self.shape, self.stored_name)
    }
}

impl H5Array {
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The stored dtype, numpy-style (`float32`, `int64`, `bool` ...).
    pub fn stored_dtype(&self) -> &str {
        &self.stored_name
    }
    pub fn kind(&self) -> ElemKind {
        self.kind
    }

    /// Check that `dim` of this dataset has the same length as `other_dim` of `other` (e.g. the sample count
    /// N of `x` and `y`); the error names both datasets.
    pub fn same_dim(&self, dim: usize, other: &H5Array, other_dim: usize, what: &str) -> Result<()> {
        let (a, b) = (self.shape[dim], other.shape[other_dim]);
        if a != b {
            return Err(Error::data(format!(
                "{}: datasets '{}' and '{}' disagree on {what}: '{}' has {a} (dim {dim} of {:?}) but '{}' has {b} (dim {other_dim} of {:?})",
                self.file, self.name, other.name, self.name, self.shape, other.name, other.shape
            )));
        }
        Ok(())
    }

    /// Require `dim` to have length `n` (e.g. `lat` [H] matching the grid).
    pub fn expect_dim(&self, dim: usize, n: usize, what: &str) -> Result<()> {
        if self.shape[dim] != n {
            return Err(Error::data(format!(
                "{}: dataset '{}': expected {what} = {n} along dim {dim}, found {} (shape {:?})",
                self.file, self.name, self.shape[dim], self.shape
            )));
        }
        Ok(())
    }

    fn selection(&self, start: &[usize], count: &[usize]) -> Result<Selection> {
        let ok = start.len() == self.shape.len()
            && count.len() == self.shape.len()
            && start.iter().zip(count).zip(&self.shape).all(|((&s, &c), &n)| s.checked_add(c).is_some_and(|e| e <= n));
        if !ok {
            return Err(Error::data(format!(
                "{}: dataset '{}': selection start {start:?} count {count:?} is outside its shape {:?}",
                self.file, self.name, self.shape
            )));
        }
        let slices: Vec<SliceOrIndex> =
            start.iter().zip(count).map(|(&start, &count)| SliceOrIndex::SliceCount { start, step: 1, count, block: 1 }).collect();
        Ok(Selection::from(Hyperslab::from(slices)))
    }

    fn read<T: hdf5::H5Type>(&self, start: &[usize], count: &[usize]) -> Result<Vec<T>> {
        let n: usize = count.iter().product();
        if n == 0 {
            return Ok(Vec::new());
        }
        let sel = self.selection(start, count)?;
        let arr = self
            .ds
            .read_slice::<T, _, ndarray::IxDyn>(sel)
            .map_err(|e| Error::data(format!("{}: dataset '{}': read of start {start:?} count {count:?} failed: {e}", self.file, self.name)))?;
        let (v, offset) = arr.into_raw_vec_and_offset();
        if v.len() != n || offset.unwrap_or(0) != 0 {
            return Err(Error::data(format!("{}: dataset '{}': read returned {} values, expected {n}", self.file, self.name, v.len())));
        }
        Ok(v)
    }

    /// Float data as f32 (HDF5 converts float16/float64 on read).
    pub fn read_f32(&self, start: &[usize], count: &[usize]) -> Result<Vec<f32>> {
        self.read::<f32>(start, count)
    }

    /// Integer data as i64.
    pub fn read_i64(&self, start: &[usize], count: &[usize]) -> Result<Vec<i64>> {
        self.read::<i64>(start, count)
    }

    /// Boolean data as bytes 0/1 (h5py's bool enum, or integers where non-zero is true).
    pub fn read_bool(&self, start: &[usize], count: &[usize]) -> Result<Vec<u8>> {
        if self.stored == Stored::Bool {
            Ok(self.read::<bool>(start, count)?.into_iter().map(u8::from).collect())
        } else {
            Ok(self.read::<i64>(start, count)?.into_iter().map(|v| u8::from(v != 0)).collect())
        }
    }

    /// A hyperslab as a tensor of this array's kind (F32, I64 or Bool), shaped `count`.
    pub fn read_tensor(&self, start: &[usize], count: &[usize]) -> Result<Tensor> {
        let storage = match self.kind {
            ElemKind::Float => CpuStorage::F32(self.read_f32(start, count)?),
            ElemKind::Int => CpuStorage::I64(self.read_i64(start, count)?),
            ElemKind::Bool => CpuStorage::Bool(self.read_bool(start, count)?),
        };
        Ok(Tensor::from_cpu_storage(storage, count)?)
    }

    /// `rows` consecutive entries along dim 0 starting at `first`, shaped [rows, ...].
    pub fn rows(&self, first: usize, rows: usize) -> (Vec<usize>, Vec<usize>) {
        let mut start = vec![0; self.shape.len()];
        let mut count = self.shape.clone();
        if !start.is_empty() {
            start[0] = first;
            count[0] = rows;
        }
        (start, count)
    }

    /// Entry `i` along dim 0 as a tensor of shape `shape[1..]`.
    pub fn read_row(&self, i: usize) -> Result<Tensor> {
        if i >= self.shape.first().copied().unwrap_or(0) {
            return Err(Error::data(format!("{}: dataset '{}': index {i} is outside dim 0 of shape {:?}", self.file, self.name, self.shape)));
        }
        let (start, count) = self.rows(i, 1);
        Ok(self.read_tensor(&start, &count)?.reshape_to(&self.shape[1..])?)
    }

    /// The whole dataset (only for small ones: labels, a latitude vector) as a tensor.
    pub fn read_all(&self) -> Result<Tensor> {
        let start = vec![0; self.shape.len()];
        self.read_tensor(&start, &self.shape)
    }
}

/// Sizes in a human-readable form for messages.
pub(crate) fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

