//! safetensors I/O: named tensors with PyTorch dtype names, plus the optional string metadata of the header.
//! Files are written to a temporary name and renamed, so a crash never leaves a half-written file behind.

use crate::storage::CpuStorage;
use crate::{DType, Error, Result, Tensor};
use half::{bf16, f16};
use safetensors::tensor::{Dtype as StDtype, SafeTensors, TensorView};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

fn io_err(path: &Path, msg: impl std::fmt::Display) -> Error {
    Error::Io { path: path.display().to_string(), msg: msg.to_string() }
}

fn to_st(d: DType) -> StDtype {
    match d {
        DType::F32 => StDtype::F32,
        DType::F64 => StDtype::F64,
        DType::F16 => StDtype::F16,
        DType::BF16 => StDtype::BF16,
        DType::I64 => StDtype::I64,
        DType::U8 => StDtype::U8,
        DType::Bool => StDtype::BOOL,
    }
}

fn from_bytes<T: bytemuck::Pod>(b: &[u8]) -> Vec<T> {
    // Copy through an aligned buffer: safetensors data is not guaranteed to be aligned for T.
    let mut v = vec![T::zeroed(); b.len() / std::mem::size_of::<T>()];
    bytemuck::cast_slice_mut::<T, u8>(&mut v).copy_from_slice(b);
    v
}

/// Decode one safetensors view into a tensor; an unsupported dtype is an error naming the tensor.
pub fn tensor_from_view(name: &str, v: &TensorView<'_>) -> Result<Tensor> {
    let b = v.data();
    let s = match v.dtype() {
        StDtype::F32 => CpuStorage::F32(from_bytes(b)),
        StDtype::F64 => CpuStorage::F64(from_bytes(b)),
        StDtype::F16 => CpuStorage::F16(from_bytes::<f16>(b)),
        StDtype::BF16 => CpuStorage::BF16(from_bytes::<bf16>(b)),
        StDtype::I64 => CpuStorage::I64(from_bytes(b)),
        StDtype::U8 => CpuStorage::U8(b.to_vec()),
        StDtype::BOOL => CpuStorage::Bool(b.to_vec()),
        StDtype::I32 => CpuStorage::I64(from_bytes::<i32>(b).into_iter().map(i64::from).collect()),
        other => {
            return Err(Error::InvalidArgument { op: "safetensors load", msg: format!("tensor '{name}' has dtype {other:?}, which wrt does not support") })
        }
    };
    Tensor::from_cpu_storage(s, v.shape())
}

/// Parse safetensors bytes into (name -> tensor) and the header metadata.
pub fn load_bytes(bytes: &[u8], path: &Path) -> Result<(BTreeMap<String, Tensor>, HashMap<String, String>)> {
    let (_, meta) = SafeTensors::read_metadata(bytes).map_err(|e| io_err(path, format!("not a valid safetensors file: {e}")))?;
    let st = SafeTensors::deserialize(bytes).map_err(|e| io_err(path, format!("not a valid safetensors file: {e}")))?;
    let mut out = BTreeMap::new();
    for (name, view) in st.tensors() {
        out.insert(name.clone(), tensor_from_view(&name, &view)?);
    }
    Ok((out, meta.metadata().clone().unwrap_or_default()))
}

/// Load every tensor of a safetensors file.
pub fn load(path: impl AsRef<Path>) -> Result<BTreeMap<String, Tensor>> {
    Ok(load_with_metadata(path)?.0)
}

/// Load every tensor and the header's `__metadata__` strings.
pub fn load_with_metadata(path: impl AsRef<Path>) -> Result<(BTreeMap<String, Tensor>, HashMap<String, String>)> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| io_err(path, e))?;
    load_bytes(&bytes, path)
}

/// Serialise named tensors (any layout; written contiguous) to safetensors bytes.
pub fn save_bytes(tensors: &[(String, Tensor)], metadata: Option<HashMap<String, String>>) -> Result<Vec<u8>> {
    let owned: Vec<(String, DType, Vec<usize>, CpuStorage)> =
        tensors.iter().map(|(n, t)| (n.clone(), t.dtype(), t.shape().to_vec(), t.cpu_storage_contig())).collect();
    let views: Vec<(String, TensorView<'_>)> = owned
        .iter()
        .map(|(n, d, s, st)| {
            TensorView::new(to_st(*d), s.clone(), st.as_bytes())
                .map(|v| (n.clone(), v))
                .map_err(|e| Error::InvalidArgument { op: "safetensors save", msg: format!("tensor '{n}': {e}") })
        })
        .collect::<Result<_>>()?;
    safetensors::serialize(views, &metadata).map_err(|e| Error::InvalidArgument { op: "safetensors save", msg: e.to_string() })
}

/// Write named tensors to `path` atomically (temp file in the same directory, fsync, rename).
pub fn save(path: impl AsRef<Path>, tensors: &[(String, Tensor)], metadata: Option<HashMap<String, String>>) -> Result<()> {
    let path = path.as_ref();
    let bytes = save_bytes(tensors, metadata)?;
    write_atomic(path, &bytes)
}

/// Write bytes to `path` via a temporary file and rename, so readers see the old or the new file, never half.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".{}.tmp-{}", path.file_name().map(|f| f.to_string_lossy()).unwrap_or_default(), std::process::id()));
    let mut f = std::fs::File::create(&tmp).map_err(|e| io_err(&tmp, e))?;
    f.write_all(bytes).and_then(|_| f.sync_all()).map_err(|e| io_err(&tmp, e))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| io_err(path, format!("renaming {} into place: {e}", tmp.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_all_dtypes_and_views() {
        let dir = std::env::temp_dir().join(format!("wrt-io-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("t.safetensors");
        let a = Tensor::from_vec((0..6).map(|v| v as f32).collect(), &[2, 3]).unwrap().t().unwrap();
        let b = Tensor::from_vec(vec![1i64, -2], &[2]).unwrap();
        let c = a.to_dtype(DType::BF16).unwrap();
        let d = Tensor::from_bools(&[true, false], &[2]).unwrap();
        let meta = HashMap::from([("k".to_string(), "v".to_string())]);
        save(&p, &[("a".into(), a.clone()), ("b".into(), b), ("c".into(), c), ("d".into(), d)], Some(meta)).unwrap();
        let (m, md) = load_with_metadata(&p).unwrap();
        assert_eq!(md["k"], "v");
        assert_eq!(m["a"].to_vec::<f32>().unwrap(), a.to_vec::<f32>().unwrap());
        assert_eq!(m["a"].shape(), &[3, 2]);
        assert_eq!(m["b"].to_vec::<i64>().unwrap(), vec![1, -2]);
        assert_eq!(m["c"].dtype(), DType::BF16);
        assert_eq!(m["d"].dtype(), DType::Bool);
        std::fs::write(&p, b"garbage").unwrap();
        let e = load(&p).unwrap_err();
        assert!(e.to_string().contains("t.safetensors"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
