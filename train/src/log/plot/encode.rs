//! Plots are drawn into an RGB buffer and encoded here, so the same bytes can go to a file or into a
//! TensorBoard image summary.

use crate::{Error, Result};

/// PNG bytes of an 8-bit RGB image `width` x `height` stored row-major in `rgb`.
pub fn rgb_to_png(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>> {
    if rgb.len() != width as usize * height as usize * 3 {
        return Err(Error::Log(format!("png: {} bytes for a {width}x{height} RGB image", rgb.len())));
    }
    let err = |e: png::EncodingError| Error::Log(format!("png encoding: {e}"));
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, width, height);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        // Plots are mostly flat colour: the best deflate level with per-row filter choice makes them 2-4x
        // smaller than the defaults for a few milliseconds.
        enc.set_compression(png::Compression::Best);
        enc.set_adaptive_filter(png::AdaptiveFilterType::Adaptive);
        let mut writer = enc.write_header().map_err(err)?;
        writer.write_image_data(rgb).map_err(err)?;
        writer.finish().map_err(err)?;
    }
    Ok(out)
}

/// Map a plotters drawing error into ours, naming the plot.
pub fn draw_err<E: std::fmt::Display>(what: &str) -> impl Fn(E) -> Error + '_ {
    move |e| Error::Log(format!("plot {what}: {e}"))
}
