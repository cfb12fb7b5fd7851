//! Forecast maps: for each row (a channel), the truth, the prediction (one colour scale for both: viridis over
//! the row's range) and their difference (a diverging blue-white-red scale, symmetric about 0), as the
//! Pangu project's users compare forecasts. Cells are painted as pixels (each grid cell a `scale` x `scale`
//! square), labels drawn with the embedded font.

use super::encode::{draw_err, rgb_to_png};
use super::font::{ensure_font, FAMILY};
use crate::{Error, Result};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// matplotlib's viridis at five stops.
const VIRIDIS: [[f64; 3]; 5] = [[68.0, 1.0, 84.0], [59.0, 82.0, 139.0], [33.0, 145.0, 140.0], [94.0, 201.0, 98.0], [253.0, 231.0, 37.0]];

fn ramp(stops: &[[f64; 3]], t: f64) -> [u8; 3] {
    let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.0 };
    let x = t * (stops.len() - 1) as f64;
    let i = (x.floor() as usize).min(stops.len() - 2);
    let u = x - i as f64;
    let c = |k: usize| (stops[i][k] + (stops[i + 1][k] - stops[i][k]) * u).round() as u8;
    [c(0), c(1), c(2)]
}

/// Blue (-1) -> white (0) -> red (+1).
fn diverging(t: f64) -> [u8; 3] {
    ramp(&[[33.0, 102.0, 172.0], [247.0, 247.0, 247.0], [178.0, 24.0, 43.0]], (t + 1.0) / 2.0)
}

/// One row: its label and the truth and prediction `[H * W]` (row-major).
pub struct MapRow<'a> {
    pub label: String,
    pub truth: &'a [f32],
    pub prediction: &'a [f32],
}

/// PNG of `rows` on an `h` x `w` grid under `title`.
pub fn forecast_maps_png(title: &str, h: usize, w: usize, rows: &[MapRow<'_>]) -> Result<Vec<u8>> {
    if rows.is_empty() || h == 0 || w == 0 || rows.iter().any(|r| r.truth.len() != h * w || r.prediction.len() != h * w) {
        return Err(Error::Log(format!("forecast maps {title}: every row needs truth and prediction of {h} x {w} values")));
    }
    ensure_font()?;
    let scale = (240 / h.max(w)).clamp(1, 8) as u32;
    let (pw, ph) = (w as u32 * scale, h as u32 * scale);
    let (left, top, gap, label_h) = (90u32, 50u32, 16u32, 22u32);
    let width = left + 3 * pw + 3 * gap;
    let height = top + rows.len() as u32 * (ph + label_h + gap);
    let mut rgb = vec![255u8; (width * height * 3) as usize];
    let mut put = |x: u32, y: u32, c: [u8; 3]| {
        let i = ((y * width + x) * 3) as usize;
        rgb[i..i + 3].copy_from_slice(&c);
    };
    let mut ranges = Vec::with_capacity(rows.len());
    for (r, row) in rows.iter().enumerate() {
        let finite = |v: &&f32| v.is_finite();
        let (lo, hi) = row.truth.iter().chain(row.prediction).filter(finite).fold((f64::INFINITY, f64::NEG_INFINITY), |a, &v| (a.0.min(v as f64), a.1.max(v as f64)));
        let span = if hi > lo { hi - lo } else { 1.0 };
        let err_max = row.truth.iter().zip(row.prediction).map(|(t, p)| (p - t).abs() as f64).filter(|v| v.is_finite()).fold(0.0, f64::max).max(1e-12);
        ranges.push((lo, hi, err_max));
        let y0 = top + r as u32 * (ph + label_h + gap) + label_h;
        for gy in 0..h {
            for gx in 0..w {
                let k = gy * w + gx;
                let (t, p) = (row.truth[k] as f64, row.prediction[k] as f64);
                let colours = [ramp(&VIRIDIS, (t - lo) / span), ramp(&VIRIDIS, (p - lo) / span), diverging((p - t) / err_max)];
                for (panel, c) in colours.iter().enumerate() {
                    let x0 = left + panel as u32 * (pw + gap);
                    for dy in 0..scale {
                        for dx in 0..scale {
                            put(x0 + gx as u32 * scale + dx, y0 + gy as u32 * scale + dy, *c);
                        }
                    }
                }
            }
        }
    }
    let e = draw_err(title);
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
        let centered = |size: f64| TextStyle::from((FAMILY, size).into_font()).pos(Pos::new(HPos::Center, VPos::Center));
        root.draw_text(title, &centered(18.0), ((width / 2) as i32, 20)).map_err(&e)?;
        for (r, (row, (lo, hi, err))) in rows.iter().zip(&ranges).enumerate() {
            let y = top + r as u32 * (ph + label_h + gap);
            let heads = [format!("truth [{lo:.3}, {hi:.3}]"), "prediction (same scale)".to_string(), format!("prediction - truth (±{err:.3})")];
            for (panel, text) in heads.iter().enumerate() {
                let x = left + panel as u32 * (pw + gap) + pw / 2;
                root.draw_text(text, &centered(12.0), (x as i32, (y + label_h / 2) as i32)).map_err(&e)?;
                let x0 = (left + panel as u32 * (pw + gap)) as i32;
                let frame = [(x0, (y + label_h) as i32), (x0 + pw as i32, (y + label_h + ph) as i32)];
                root.draw(&Rectangle::new(frame, BLACK.stroke_width(1))).map_err(&e)?;
            }
            let style = TextStyle::from((FAMILY, 14).into_font()).pos(Pos::new(HPos::Right, VPos::Center));
            root.draw_text(&row.label, &style, (left as i32 - 10, (y + label_h + ph / 2) as i32)).map_err(&e)?;
        }
        root.present().map_err(&e)?;
    }
    rgb_to_png(&rgb, width, height)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_and_shapes() {
        assert_eq!(ramp(&VIRIDIS, 0.0), [68, 1, 84]);
        assert_eq!(ramp(&VIRIDIS, 1.0), [253, 231, 37]);
        assert_eq!(diverging(0.0), [247, 247, 247]);
        let (t, p) = (vec![0.0f32; 12], vec![1.0f32; 12]);
        let png = forecast_maps_png("t", 3, 4, &[MapRow { label: "ch0".into(), truth: &t, prediction: &p }]).unwrap();
        assert_eq!(&png[1..4], b"PNG");
        assert!(forecast_maps_png("t", 3, 5, &[MapRow { label: "ch0".into(), truth: &t, prediction: &p }]).is_err());
    }
}
