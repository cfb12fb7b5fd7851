//! The embedded font. plotters' `ab_glyph` backend draws text from fonts registered at run time, so the
//! plots need no system font libraries (fontconfig, freetype): DejaVu Sans is compiled into the binary and
//! registered once as plotters' "sans-serif" family, which is also its default for axis labels.

use crate::{Error, Result};
use plotters::style::{register_font, FontStyle};
use std::sync::OnceLock;

/// DejaVu Sans 2.37 (Bitstream Vera license, see train/assets/DejaVuSans-LICENSE.txt).
static DEJAVU_SANS: &[u8] = include_bytes!("../../../assets/DejaVuSans.ttf");

/// The family name plots use.
pub const FAMILY: &str = "sans-serif";

/// Register the font (once per process).
pub fn ensure_font() -> Result<()> {
    static DONE: OnceLock<bool> = OnceLock::new();
    let ok = *DONE.get_or_init(|| register_font(FAMILY, FontStyle::Normal, DEJAVU_SANS).is_ok());
    if ok { Ok(()) } else { Err(Error::Log("the embedded DejaVu Sans font could not be parsed".into())) }
}
