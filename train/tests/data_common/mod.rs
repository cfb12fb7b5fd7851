//! Helpers shared by the data tests: fixture paths, per-test temporary directories, and a tiny HDF5 writer
//! for the files the error tests need (the layouts' good cases come from h5py-written fixtures).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/data").join(name)
}

/// A fresh, empty directory for one test (removed first if a previous run left it).
pub fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("wrt-data-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Element k of h5py's fixture ramps: k * scale + offset (see tools/data/gen_h5_fixtures.py).
pub fn ramp(n: usize, scale: f64, offset: f64) -> Vec<f32> {
    (0..n).map(|k| (k as f64 * scale + offset) as f32).collect()
}

pub enum Arr {
    F32(Vec<f32>, Vec<usize>),
    F64(Vec<f64>, Vec<usize>),
    I64(Vec<i64>, Vec<usize>),
    Bool(Vec<bool>, Vec<usize>),
}

pub fn f32s(shape: &[usize]) -> Arr {
    let n = shape.iter().product();
    Arr::F32(ramp(n, 0.5, -1.0), shape.to_vec())
}

pub fn i64s(v: &[i64]) -> Arr {
    Arr::I64(v.to_vec(), vec![v.len()])
}

/// Write datasets (chunked + gzip when non-empty) and numeric or string attributes.
pub fn write_h5(path: &Path, arrays: &[(&str, Arr)], attrs: &[(&str, &str)]) {
    let f = hdf5::File::create(path).unwrap();
    for (name, a) in arrays {
        fn put<T: hdf5::H5Type>(f: &hdf5::File, name: &str, v: &[T], shape: &[usize]) {
            let view = ndarray::ArrayViewD::from_shape(ndarray::IxDyn(shape), v).unwrap();
            let b = f.new_dataset_builder().with_data(view);
            if shape.iter().product::<usize>() > 0 && !shape.is_empty() {
                b.chunk(shape.to_vec()).deflate(3).create(name).unwrap();
            } else {
                b.create(name).unwrap();
            }
        }
        match a {
            Arr::F32(v, s) => put(&f, name, v, s),
            Arr::F64(v, s) => put(&f, name, v, s),
            Arr::I64(v, s) => put(&f, name, v, s),
            Arr::Bool(v, s) => put(&f, name, v, s),
        }
    }
    for (name, value) in attrs {
        if let Ok(x) = value.parse::<f64>() {
            f.new_attr::<f64>().create(*name).unwrap().write_scalar(&x).unwrap();
        } else {
            let s: hdf5::types::VarLenUnicode = value.parse().unwrap();
            f.new_attr::<hdf5::types::VarLenUnicode>().create(*name).unwrap().write_scalar(&s).unwrap();
        }
    }
}
