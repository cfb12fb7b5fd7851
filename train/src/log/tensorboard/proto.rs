//! The sliver of protocol buffers that event files need, written by hand so that no protobuf crate or
//! generated code is involved: an encoder for the four wire types and a decoder that splits a message into
//! its fields. Message layouts (field numbers) live next to their use in `event.rs` and `hparams.rs`.
//!
//! proto3 omits a plain scalar field equal to its default but writes a member of a `oneof` whatever its
//! value; callers decide which applies, this module writes whatever it is asked to.

use crate::{Error, Result};

const VARINT: u32 = 0;
const FIXED64: u32 = 1;
const LEN: u32 = 2;
const FIXED32: u32 = 5;

/// Append `v` as a base-128 varint (low 7 bits first, high bit = more bytes follow).
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7F) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A message being encoded: fields are appended in call order (protobuf's own serializers write them in
/// field-number order; callers do the same so our bytes equal theirs).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Msg {
    buf: Vec<u8>,
}

impl Msg {
    pub fn new() -> Msg {
        Msg::default()
    }

    fn key(&mut self, field: u32, wire: u32) {
        put_varint(&mut self.buf, ((field as u64) << 3) | wire as u64);
    }

    /// uint32/uint64/int32/enum/bool field. Negative int32/int64 values go through `int64`.
    pub fn varint(&mut self, field: u32, v: u64) -> &mut Msg {
        self.key(field, VARINT);
        put_varint(&mut self.buf, v);
        self
    }

    /// int64 (and int32, which protobuf sign-extends to 10 bytes when negative).
    pub fn int64(&mut self, field: u32, v: i64) -> &mut Msg {
        self.varint(field, v as u64)
    }

    pub fn double(&mut self, field: u32, v: f64) -> &mut Msg {
        self.key(field, FIXED64);
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub fn float(&mut self, field: u32, v: f32) -> &mut Msg {
        self.key(field, FIXED32);
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub fn bytes(&mut self, field: u32, v: &[u8]) -> &mut Msg {
        self.key(field, LEN);
        put_varint(&mut self.buf, v.len() as u64);
        self.buf.extend_from_slice(v);
        self
    }

    pub fn string(&mut self, field: u32, v: &str) -> &mut Msg {
        self.bytes(field, v.as_bytes())
    }

    pub fn message(&mut self, field: u32, m: &Msg) -> &mut Msg {
        self.bytes(field, &m.buf)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

/// One decoded field value; length-delimited values borrow from the message.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Wire<'a> {
    Varint(u64),
    Fixed64(u64),
    Len(&'a [u8]),
    Fixed32(u32),
}

impl<'a> Wire<'a> {
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Wire::Varint(v) => Some(v),
            _ => None,
        }
    }
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Wire::Fixed64(v) => Some(f64::from_bits(v)),
            _ => None,
        }
    }
    pub fn as_f32(&self) -> Option<f32> {
        match *self {
            Wire::Fixed32(v) => Some(f32::from_bits(v)),
            _ => None,
        }
    }
    pub fn as_bytes(&self) -> Option<&'a [u8]> {
        match *self {
            Wire::Len(b) => Some(b),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&'a str> {
        self.as_bytes().and_then(|b| std::str::from_utf8(b).ok())
    }
}

fn get_varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos)?;
        *pos += 1;
        v |= ((b & 0x7F) as u64) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None // more than 10 bytes: not a varint
}

/// Split an encoded message into `(field number, value)` pairs in wire order. `what` names the message in
/// errors (malformed key, truncated value, unsupported group wire types).
pub fn fields<'a>(buf: &'a [u8], what: &str) -> Result<Vec<(u32, Wire<'a>)>> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < buf.len() {
        let at = pos;
        let bad = |msg: &str| Error::Log(format!("{what}: malformed protobuf at byte {at}: {msg}"));
        let key = get_varint(buf, &mut pos).ok_or_else(|| bad("bad field key"))?;
        let field = u32::try_from(key >> 3).map_err(|_| bad("field number out of range"))?;
        let take = |pos: &mut usize, n: usize| -> Result<&'a [u8]> {
            let end = pos.checked_add(n).filter(|&e| e <= buf.len()).ok_or_else(|| bad("value runs past the end"))?;
            let s = &buf[*pos..end];
            *pos = end;
            Ok(s)
        };
        let value = match (key & 7) as u32 {
            VARINT => Wire::Varint(get_varint(buf, &mut pos).ok_or_else(|| bad("bad varint"))?),
            FIXED64 => Wire::Fixed64(u64::from_le_bytes(take(&mut pos, 8)?.try_into().expect("8 bytes"))),
            LEN => {
                let n = get_varint(buf, &mut pos).ok_or_else(|| bad("bad length"))?;
                Wire::Len(take(&mut pos, usize::try_from(n).map_err(|_| bad("length out of range"))?)?)
            }
            FIXED32 => Wire::Fixed32(u32::from_le_bytes(take(&mut pos, 4)?.try_into().expect("4 bytes"))),
            w => return Err(bad(&format!("unsupported wire type {w}"))),
        };
        if field == 0 {
            return Err(bad("field number 0"));
        }
        out.push((field, value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint_bytes(v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        put_varint(&mut out, v);
        out
    }

    #[test]
    fn varints_from_the_protobuf_docs() {
        // "Base 128 Varints" in the protobuf encoding guide: 1 -> 01, 150 -> 96 01.
        assert_eq!(varint_bytes(0), [0x00]);
        assert_eq!(varint_bytes(1), [0x01]);
        assert_eq!(varint_bytes(127), [0x7F]);
        assert_eq!(varint_bytes(128), [0x80, 0x01]);
        assert_eq!(varint_bytes(150), [0x96, 0x01]);
        assert_eq!(varint_bytes(300), [0xAC, 0x02]);
        assert_eq!(varint_bytes(u64::MAX), [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]);
        // int64 -1 is ten bytes (two's complement as u64).
        assert_eq!(Msg::new().int64(1, -1).as_bytes(), &[0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]);
    }

    #[test]
    fn fields_from_the_protobuf_docs() {
        // Test1 { a = 150 } -> 08 96 01; Test2 { b = "testing" } -> 12 07 74 65 73 74 69 6e 67;
        // Test3 { c = Test1 { a = 150 } } -> 1a 03 08 96 01.
        let mut t1 = Msg::new();
        t1.varint(1, 150);
        assert_eq!(t1.as_bytes(), &[0x08, 0x96, 0x01]);
        assert_eq!(Msg::new().string(2, "testing").as_bytes(), b"\x12\x07testing");
        assert_eq!(Msg::new().message(3, &t1).as_bytes(), &[0x1A, 0x03, 0x08, 0x96, 0x01]);
        // double 1.0 in field 1 (key 09), float 1.0 in field 2 (key 15).
        assert_eq!(Msg::new().double(1, 1.0).as_bytes(), &[0x09, 0, 0, 0, 0, 0, 0, 0xF0, 0x3F]);
        assert_eq!(Msg::new().float(2, 1.0).as_bytes(), &[0x15, 0, 0, 0x80, 0x3F]);
    }

    #[test]
    fn decode_round_trip_and_errors() {
        let mut inner = Msg::new();
        inner.varint(1, 150);
        let mut m = Msg::new();
        m.double(1, 2.5).int64(2, 7).string(3, "x").message(5, &inner).float(9, -1.5);
        let f = fields(m.as_bytes(), "t").unwrap();
        assert_eq!(f.len(), 5);
        assert_eq!(f[0], (1, Wire::Fixed64(2.5f64.to_bits())));
        assert_eq!(f[1].1.as_u64(), Some(7));
        assert_eq!(f[2].1.as_str(), Some("x"));
        assert_eq!(fields(f[3].1.as_bytes().unwrap(), "inner").unwrap(), vec![(1, Wire::Varint(150))]);
        assert_eq!(f[4].1.as_f32(), Some(-1.5));

        let bytes = m.as_bytes();
        assert!(fields(&bytes[..bytes.len() - 1], "t").unwrap_err().to_string().contains("runs past the end"));
        assert!(fields(&[0x0B], "t").unwrap_err().to_string().contains("wire type 3"));
        assert!(fields(&[0x08], "t").unwrap_err().to_string().contains("bad varint"));
        assert!(fields(&[0x00, 0x00], "t").unwrap_err().to_string().contains("field number 0"));
    }
}
