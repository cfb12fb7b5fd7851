//! `.npy` arrays, memory-mapped with memmap2: the header (format versions 1, 2 and 3) is parsed and checked,
//! then rows are copied out of the mapping on demand, so a file larger than memory can feed a loader.
//! Accepted: little-endian (or one-byte) float32, float64, float16, int64, int32 (widened to int64), uint8
//! and bool, in C order. Fortran order, big-endian data, other dtypes, a malformed header or a data section
//! of the wrong length are errors naming the file.
//!
//! As with any memory map, the file must not be truncated or rewritten while it is open.

use crate::{Error, Result};
use half::f16;
use memmap2::Mmap;
use std::path::{Path, PathBuf};
use wrt_tensor::{storage::CpuStorage, DType, Tensor};

const MAGIC: &[u8] = b"\x93NUMPY";

/// How elements are stored in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stored {
    F32,
    F64,
    F16,
    I64,
    I32,
    U8,
    Bool,
}

impl Stored {
    fn parse(descr: &str) -> std::result::Result<Stored, String> {
        let (order, code) = descr.split_at(descr.len().min(1));
        let s = match code {
            "f4" => Stored::F32,
            "f8" => Stored::F64,
            "f2" => Stored::F16,
            "i8" => Stored::I64,
            "i4" => Stored::I32,
            "u1" => Stored::U8,
            "b1" => Stored::Bool,
            _ => return Err(format!("unsupported dtype '{descr}' (expected one of <f4 <f8 <f2 <i8 <i4 |u1 |b1)")),
        };
        let one_byte = matches!(s, Stored::U8 | Stored::Bool);
        match order {
            "<" => Ok(s),
            "|" if one_byte => Ok(s),
            ">" if !one_byte => Err(format!("big-endian dtype '{descr}' is not supported: convert with arr.astype(arr.dtype.newbyteorder('<'))")),
            _ => Err(format!("unsupported dtype '{descr}'")),
        }
    }
    fn size(self) -> usize {
        match self {
            Stored::F64 | Stored::I64 => 8,
            Stored::F32 | Stored::I32 => 4,
            Stored::F16 => 2,
            Stored::U8 | Stored::Bool => 1,
        }
    }
    fn dtype(self) -> DType {
        match self {
            Stored::F32 => DType::F32,
            Stored::F64 => DType::F64,
            Stored::F16 => DType::F16,
            Stored::I64 | Stored::I32 => DType::I64,
            Stored::U8 => DType::U8,
            Stored::Bool => DType::Bool,
        }
    }
}

/// A memory-mapped `.npy` array.
pub struct NpyArray {
    path: PathBuf,
    map: Mmap,
    offset: usize,
    shape: Vec<usize>,
    stored: Stored,
}

impl std::fmt::Debug for NpyArray {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NpyArray({} {:?} {})", self.path.display(), self.shape, self.dtype())
    }
}

impl NpyArray {
    pub fn open(path: impl AsRef<Path>) -> Result<NpyArray> {
        let path = path.as_ref();
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        let bad = |msg: String| Error::data(format!("{}: not a readable .npy file: {msg}", path.display()));
        if len < 12 {
            return Err(bad(format!("{len} bytes is too short for a header")));
        }
        // SAFETY: the map is read-only; a concurrent truncation of the file by another process is the
        // caller's responsibility (documented above), as with every memory-mapped file.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
        let (offset, header) = parse_preamble(&map).map_err(bad)?;
        let (descr, fortran, shape) = parse_header(&header).map_err(bad)?;
        if fortran {
            return Err(bad("Fortran-order arrays are not supported: save with np.ascontiguousarray(arr)".into()));
        }
        let stored = Stored::parse(&descr).map_err(bad)?;
        let need = shape.iter().try_fold(stored.size() as u64, |a, &d| a.checked_mul(d as u64)).ok_or_else(|| bad(format!("shape {shape:?} overflows")))?;
        let have = len - offset as u64;
        if need != have {
            return Err(bad(format!("shape {shape:?} of {descr} needs {need} data bytes, the file holds {have} (truncated or not an .npy?)")));
        }
        Ok(NpyArray { path: path.to_path_buf(), map, offset, shape, stored })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }
    /// The tensor dtype rows come out as (int32 files widen to I64).
    pub fn dtype(&self) -> DType {
        self.stored.dtype()
    }
    /// Length of dim 0 (1 for a 0-d array).
    pub fn len(&self) -> usize {
        self.shape.first().copied().unwrap_or(1)
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `rows` entries along dim 0 from `first`, as a tensor [rows, ...].
    pub fn read_rows(&self, first: usize, rows: usize) -> Result<Tensor> {
        if self.shape.is_empty() {
            return Err(Error::data(format!("{}: a 0-d array has no rows; use to_tensor", self.path.display())));
        }
        if first.checked_add(rows).is_none_or(|e| e > self.shape[0]) {
            return Err(Error::data(format!("{}: rows {first}..{} are outside dim 0 of shape {:?}", self.path.display(), first.saturating_add(rows), self.shape)));
        }
        let row: usize = self.shape[1..].iter().product();
        let mut shape = self.shape.clone();
        shape[0] = rows;
        self.decode(first * row, rows * row, &shape)
    }

    /// Entry `i` along dim 0, shaped `shape[1..]`.
    pub fn read_row(&self, i: usize) -> Result<Tensor> {
        Ok(self.read_rows(i, 1)?.reshape_to(&self.shape[1..])?)
    }

    /// The whole array.
    pub fn to_tensor(&self) -> Result<Tensor> {
        let n: usize = self.shape.iter().product();
        self.decode(0, n, &self.shape)
    }

    fn decode(&self, first_elem: usize, n: usize, shape: &[usize]) -> Result<Tensor> {
        let size = self.stored.size();
        let start = self.offset + first_elem * size;
        let bytes = &self.map[start..start + n * size];
        let s = match self.stored {
            Stored::F32 => CpuStorage::F32(bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()),
            Stored::F64 => CpuStorage::F64(bytes.chunks_exact(8).map(|b| f64::from_le_bytes(b8(b))).collect()),
            Stored::F16 => CpuStorage::F16(bytes.chunks_exact(2).map(|b| f16::from_bits(u16::from_le_bytes([b[0], b[1]]))).collect()),
            Stored::I64 => CpuStorage::I64(bytes.chunks_exact(8).map(|b| i64::from_le_bytes(b8(b))).collect()),
            Stored::I32 => CpuStorage::I64(bytes.chunks_exact(4).map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64).collect()),
            Stored::U8 => CpuStorage::U8(bytes.to_vec()),
            // numpy writes 0/1, but any other byte is read as true rather than kept as an invalid bool.
            Stored::Bool => CpuStorage::Bool(bytes.iter().map(|&b| u8::from(b != 0)).collect()),
        };
        Ok(Tensor::from_cpu_storage(s, shape)?)
    }
}

fn b8(b: &[u8]) -> [u8; 8] {
    [b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]
}

/// Magic, version, header length: returns (offset of the data, header text).
fn parse_preamble(b: &[u8]) -> std::result::Result<(usize, String), String> {
    if &b[..6] != MAGIC {
        return Err("missing the \\x93NUMPY magic".into());
    }
    let (major, minor) = (b[6], b[7]);
    let (hlen, start) = match major {
        1 => (u16::from_le_bytes([b[8], b[9]]) as usize, 10usize),
        2 | 3 => (u32::from_le_bytes([b[8], b[9], b[10], b[11]]) as usize, 12),
        _ => return Err(format!("format version {major}.{minor} is not supported (expected 1.0, 2.0 or 3.0)")),
    };
    let end = start.checked_add(hlen).filter(|&e| e <= b.len()).ok_or_else(|| format!("header length {hlen} runs past the end of the file"))?;
    let raw = &b[start..end];
    // Version 1 and 2 headers are latin-1 (ASCII in practice), version 3 is UTF-8.
    let text = match major {
        3 => std::str::from_utf8(raw).map_err(|_| "header is not valid UTF-8".to_string())?.to_string(),
        _ => {
            if !raw.is_ascii() {
                return Err("header is not ASCII".into());
            }
            String::from_utf8_lossy(raw).into_owned()
        }
    };
    Ok((end, text))
}

/// The header dict `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }`: returns its three values.
fn parse_header(h: &str) -> std::result::Result<(String, bool, Vec<usize>), String> {
    let mut p = Parser { s: h.as_bytes(), i: 0 };
    p.ws();
    p.eat(b'{')?;
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    loop {
        p.ws();
        if p.peek() == Some(b'}') {
            p.i += 1;
            break;
        }
        let key = p.string()?;
        p.ws();
        p.eat(b':')?;
        p.ws();
        match key.as_str() {
            "descr" => descr = Some(p.string().map_err(|e| format!("'descr' must be a dtype string ({e}); structured dtypes are not supported"))?),
            "fortran_order" => fortran = Some(p.boolean()?),
            "shape" => shape = Some(p.tuple()?),
            other => return Err(format!("unexpected header key '{other}'")),
        }
        p.ws();
        match p.peek() {
            Some(b',') => p.i += 1,
            Some(b'}') => {}
            _ => return Err(format!("expected ',' or '}}' at byte {} of the header", p.i)),
        }
    }
    p.ws();
    if p.i != p.s.len() {
        return Err(format!("unexpected characters after the header dict at byte {}", p.i));
    }
    match (descr, fortran, shape) {
        (Some(d), Some(f), Some(s)) => Ok((d, f, s)),
        _ => Err("header lacks one of 'descr', 'fortran_order', 'shape'".into()),
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }
    fn eat(&mut self, c: u8) -> std::result::Result<(), String> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(format!("expected '{}' at byte {} of the header", c as char, self.i))
        }
    }
    fn string(&mut self) -> std::result::Result<String, String> {
        let q = self.peek().filter(|&c| c == b'\'' || c == b'"').ok_or_else(|| format!("expected a quoted string at byte {}", self.i))?;
        self.i += 1;
        let start = self.i;
        while let Some(c) = self.peek() {
            if c == q {
                let out = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
                self.i += 1;
                return Ok(out);
            }
            self.i += 1;
        }
        Err("unterminated string in the header".into())
    }
    fn boolean(&mut self) -> std::result::Result<bool, String> {
        for (word, v) in [(&b"True"[..], true), (&b"False"[..], false)] {
            if self.s[self.i..].starts_with(word) {
                self.i += word.len();
                return Ok(v);
            }
        }
        Err(format!("expected True or False at byte {}", self.i))
    }
    fn tuple(&mut self) -> std::result::Result<Vec<usize>, String> {
        self.eat(b'(')?;
        let mut out = Vec::new();
        loop {
            self.ws();
            match self.peek() {
                Some(b')') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(c) if c.is_ascii_digit() => {
                    let start = self.i;
                    while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                        self.i += 1;
                    }
                    let digits = std::str::from_utf8(&self.s[start..self.i]).map_err(|e| e.to_string())?;
                    out.push(digits.parse::<usize>().map_err(|_| format!("dimension '{digits}' is too large"))?);
                    if out.len() > 32 {
                        return Err("more than 32 dimensions".into());
                    }
                    self.ws();
                    if self.peek() == Some(b',') {
                        self.i += 1;
                    } else if self.peek() != Some(b')') {
                        return Err(format!("expected ',' or ')' in the shape at byte {}", self.i));
                    }
                }
                _ => return Err(format!("expected a dimension or ')' at byte {}", self.i)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_numpy_headers_and_rejects_bad_ones() {
        let (d, f, s) = parse_header("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }      \n").unwrap();
        assert_eq!((d.as_str(), f, s), ("<f4", false, vec![3, 4]));
        assert_eq!(parse_header("{'descr': '|b1', 'fortran_order': True, 'shape': (), }").unwrap().2, Vec::<usize>::new());
        assert_eq!(parse_header("{'descr': '<i8', 'fortran_order': False, 'shape': (7,), }").unwrap().2, vec![7]);
        for bad in [
            "",
            "{",
            "{'descr': '<f4'}",
            "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (3,), }",
            "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (3,), }",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (3, -1), }",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,), }",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), 'extra': 1}",
        ] {
            assert!(parse_header(bad).is_err(), "{bad}");
        }
        assert!(Stored::parse(">f4").is_err());
        assert!(Stored::parse("<c8").is_err());
        assert_eq!(Stored::parse("|u1").unwrap(), Stored::U8);
    }
}
