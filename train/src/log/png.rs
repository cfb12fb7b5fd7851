//! Reading a PNG's IHDR chunk (size and colour type) without decoding it: TensorBoard's image summary
//! carries height, width and channel count beside the PNG bytes, and the plot tests check that what we
//! wrote is a well-formed PNG of the intended size.

use crate::{Error, Result};

/// The 8-byte signature every PNG starts with.
pub const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PngInfo {
    pub width: u32,
    pub height: u32,
    pub bit_depth: u8,
    /// 0 grey, 2 RGB, 3 palette, 4 grey + alpha, 6 RGBA (PNG spec, table 11.1).
    pub color_type: u8,
}

impl PngInfo {
    /// Channels as TensorBoard's `Summary.Image.colorspace` counts them (1 grey, 2 grey+alpha, 3 RGB,
    /// 4 RGBA); a palette image decodes to RGB.
    pub fn channels(&self) -> u32 {
        match self.color_type {
            0 => 1,
            4 => 2,
            6 => 4,
            _ => 3,
        }
    }
}

/// Parse the signature and the IHDR chunk (which the spec requires to come first), checking its CRC.
pub fn png_info(bytes: &[u8]) -> Result<PngInfo> {
    let bad = |msg: &str| Error::Log(format!("not a PNG image: {msg}"));
    if bytes.len() < 33 || bytes[..8] != PNG_SIGNATURE {
        return Err(bad("missing the PNG signature or too short"));
    }
    let len = u32::from_be_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if len != 13 || &bytes[12..16] != b"IHDR" {
        return Err(bad("the first chunk is not a 13-byte IHDR"));
    }
    let stored = u32::from_be_bytes(bytes[29..33].try_into().expect("4 bytes"));
    if crc32(&bytes[12..29]) != stored {
        return Err(bad("IHDR CRC mismatch"));
    }
    let d = &bytes[16..29];
    let info = PngInfo {
        width: u32::from_be_bytes(d[0..4].try_into().expect("4 bytes")),
        height: u32::from_be_bytes(d[4..8].try_into().expect("4 bytes")),
        bit_depth: d[8],
        color_type: d[9],
    };
    if info.width == 0 || info.height == 0 || !matches!(info.color_type, 0 | 2 | 3 | 4 | 6) {
        return Err(bad(&format!("IHDR says {}x{} colour type {}", info.width, info.height, info.color_type)));
    }
    Ok(info)
}

/// The CRC-32 (ISO-HDLC, polynomial 0xEDB88320) PNG chunks carry; bitwise, chunks here are 17 bytes.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 1x1 opaque red RGBA PNG as Pillow writes it (`Image.new('RGBA', (1, 1), (255, 0, 0, 255))`).
    const ONE_PIXEL: [u8; 70] = [
        0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00,
        0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4, 0x89, 0x00, 0x00, 0x00,
        0x0D, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0xF8, 0xCF, 0xC0, 0xF0, 0x1F, 0x00, 0x05, 0x00, 0x01, 0xFF,
        0x89, 0x99, 0x3D, 0x1D, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
    ];

    #[test]
    fn crc32_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn reads_ihdr() {
        let info = png_info(&ONE_PIXEL).unwrap();
        assert_eq!(info, PngInfo { width: 1, height: 1, bit_depth: 8, color_type: 6 });
        assert_eq!(info.channels(), 4);
    }

    #[test]
    fn rejects_non_png() {
        assert!(png_info(b"GIF89a").is_err());
        let mut bad = ONE_PIXEL;
        bad[20] = 7; // width changed, CRC now wrong
        assert!(png_info(&bad).unwrap_err().to_string().contains("CRC"));
    }
}
