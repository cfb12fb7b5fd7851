//! `.npy` files written by numpy (tools/data/gen_h5_fixtures.py) read back through the memory map: format
//! versions 1 to 3, every supported dtype, rows and whole arrays; unsupported files refused with an error.

mod data_common;

use data_common::*;
use wrt_tensor::DType;
use wrt_train::data::NpyArray;

#[test]
fn every_dtype_and_version_reads_back() {
    for v in [1, 2, 3] {
        let a = NpyArray::open(fixture(&format!("f32_v{v}.npy"))).unwrap();
        assert_eq!((a.shape(), a.dtype(), a.len()), (&[3usize, 4][..], DType::F32, 3));
        assert_eq!(a.to_tensor().unwrap().to_vec::<f32>().unwrap(), ramp(12, 0.25, -3.0));
        assert_eq!(a.read_row(1).unwrap().to_vec::<f32>().unwrap(), &ramp(12, 0.25, -3.0)[4..8]);
        let rows = a.read_rows(1, 2).unwrap();
        assert_eq!(rows.shape(), &[2, 4]);
        assert!(a.read_rows(2, 2).is_err());
    }
    let a = NpyArray::open(fixture("f64_v1.npy")).unwrap();
    assert_eq!(a.to_tensor().unwrap().to_vec::<f64>().unwrap(), ramp(6, 0.25, -3.0).iter().map(|&x| x as f64).collect::<Vec<_>>());
    let a = NpyArray::open(fixture("f16_v1.npy")).unwrap();
    assert_eq!(a.dtype(), DType::F16);
    assert_eq!(a.to_tensor().unwrap().to_dtype(DType::F32).unwrap().to_vec::<f32>().unwrap(), vec![-3.0, -2.75, -2.5, -2.25]);
    let a = NpyArray::open(fixture("i64_v1.npy")).unwrap();
    assert_eq!(a.read_row(1).unwrap().to_vec::<i64>().unwrap(), vec![0, 1, 2]);
    let a = NpyArray::open(fixture("u8_v1.npy")).unwrap();
    assert_eq!(a.to_tensor().unwrap().to_vec::<u8>().unwrap(), vec![0, 1, 2, 3, 4]);
    let a = NpyArray::open(fixture("bool_v1.npy")).unwrap();
    assert_eq!(a.dtype(), DType::Bool);
    assert_eq!(a.to_tensor().unwrap().to_vec::<u8>().unwrap(), vec![1, 0, 1, 1]);
    let a = NpyArray::open(fixture("scalar_v1.npy")).unwrap();
    assert_eq!((a.shape().len(), a.to_tensor().unwrap().item::<f32>().unwrap()), (0, 2.5));
    assert!(a.read_row(0).is_err());
}

#[test]
fn unsupported_or_broken_files_are_errors() {
    let e = NpyArray::open(fixture("f32_fortran.npy")).unwrap_err().to_string();
    assert!(e.contains("f32_fortran.npy") && e.contains("Fortran-order"), "{e}");
    let e = NpyArray::open(fixture("f32_big_endian.npy")).unwrap_err().to_string();
    assert!(e.contains("big-endian"), "{e}");
    let dir = tmpdir("npy-bad");
    let good = std::fs::read(fixture("f32_v1.npy")).unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("short.npy", good[..good.len() - 4].to_vec(), "needs 48 data bytes, the file holds 44"),
        ("long.npy", [good.clone(), vec![0; 4]].concat(), "the file holds 52"),
        ("magic.npy", [b"XNUMPY".to_vec(), good[6..].to_vec()].concat(), "magic"),
        ("version.npy", [good[..6].to_vec(), vec![9, 0], good[8..].to_vec()].concat(), "format version 9.0"),
        ("tiny.npy", good[..8].to_vec(), "too short"),
        ("hlen.npy", [good[..8].to_vec(), vec![0xff, 0xff], good[10..].to_vec()].concat(), "runs past the end"),
    ];
    for (name, bytes, want) in cases {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        let e = NpyArray::open(&p).unwrap_err().to_string();
        assert!(e.contains(name) && e.contains(want), "{name}: {e}");
    }
    assert!(matches!(NpyArray::open(dir.join("absent.npy")).unwrap_err(), wrt_train::Error::Io { .. }));
}
