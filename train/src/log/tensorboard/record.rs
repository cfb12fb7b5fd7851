//! TFRecord framing, the container of TensorBoard event files: each record is
//! `u64 length (LE) | u32 masked CRC-32C of those 8 bytes | payload | u32 masked CRC-32C of the payload`.

use super::crc32c::masked_crc32c;
use crate::{Error, Result};

/// Append one framed record holding `payload` to `out`.
pub fn frame(out: &mut Vec<u8>, payload: &[u8]) {
    let len = (payload.len() as u64).to_le_bytes();
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc32c(&len).to_le_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(&masked_crc32c(payload).to_le_bytes());
}

/// Split a whole event file into its payloads, checking both CRCs of every record. `what` names the file in
/// errors. A truncated last record (a writer killed mid-write) is an error too: TensorBoard stops reading
/// there, and a test that reads our own files should notice it.
pub fn unframe<'a>(bytes: &'a [u8], what: &str) -> Result<Vec<&'a [u8]>> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < bytes.len() {
        let bad = |msg: String| Error::Log(format!("{what}: record at byte {pos}: {msg}"));
        let header = bytes.get(pos..pos + 12).ok_or_else(|| bad(format!("truncated header ({} bytes left)", bytes.len() - pos)))?;
        let len_bytes = &header[..8];
        let stored = u32::from_le_bytes(header[8..12].try_into().expect("4-byte slice"));
        if masked_crc32c(len_bytes) != stored {
            return Err(bad("length CRC mismatch".into()));
        }
        let len = u64::from_le_bytes(len_bytes.try_into().expect("8-byte slice"));
        let start = pos + 12;
        let end = usize::try_from(len).ok().and_then(|l| start.checked_add(l)).filter(|&e| e + 4 <= bytes.len());
        let end = end.ok_or_else(|| bad(format!("payload of {len} bytes runs past the end of the file")))?;
        let payload = &bytes[start..end];
        let stored = u32::from_le_bytes(bytes[end..end + 4].try_into().expect("4-byte slice"));
        if masked_crc32c(payload) != stored {
            return Err(bad("payload CRC mismatch".into()));
        }
        out.push(payload);
        pos = end + 4;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corruption() {
        let mut buf = Vec::new();
        frame(&mut buf, b"hello");
        frame(&mut buf, b"");
        assert_eq!(buf.len(), (12 + 5 + 4) + (12 + 4));
        let recs = unframe(&buf, "t").unwrap();
        assert_eq!(recs, vec![&b"hello"[..], &b""[..]]);

        let mut bad = buf.clone();
        bad[13] ^= 1; // inside the first payload
        assert!(unframe(&bad, "t").unwrap_err().to_string().contains("payload CRC"));
        let mut bad = buf.clone();
        bad[0] = 6; // the length
        assert!(unframe(&bad, "t").unwrap_err().to_string().contains("length CRC"));
        assert!(unframe(&buf[..buf.len() - 1], "t").is_err());
        assert!(unframe(&buf[..5], "t").unwrap_err().to_string().contains("truncated header"));
    }

    #[test]
    fn known_bytes() {
        // The header of a 5-byte record: length 5 LE, then masked_crc32c(b"\x05\0\0\0\0\0\0\0") LE, as
        // tensorboard's RecordWriter writes it (value computed with the Python stub).
        let mut buf = Vec::new();
        frame(&mut buf, b"hello");
        assert_eq!(&buf[..8], &[5, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(u32::from_le_bytes(buf[8..12].try_into().unwrap()), LEN5_MASKED);
        assert_eq!(u32::from_le_bytes(buf[17..21].try_into().unwrap()), HELLO_MASKED);
    }
    const LEN5_MASKED: u32 = 0x3E04_B2EA;
    const HELLO_MASKED: u32 = 0x191C_1FBB;
}
