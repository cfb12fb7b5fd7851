//! A confusion matrix as a labelled heatmap, as sklearn's `ConfusionMatrixDisplay` draws it: true label
//! down the rows, predicted label across the columns, a Blues colour scale on the raw counts, each cell's
//! count written in it (white on dark cells), and a colour bar. Laid out in pixels rather than through a
//! chart so that every class gets a label at its cell's centre whatever the class count.

use super::encode::{draw_err, rgb_to_png};
use super::font::{ensure_font, FAMILY};
use crate::{Error, Result};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// matplotlib's "Blues" at 0, 0.5 and 1.
const BLUES: [(f64, [f64; 3]); 3] = [(0.0, [247.0, 251.0, 255.0]), (0.5, [107.0, 174.0, 214.0]), (1.0, [8.0, 48.0, 107.0])];

fn blues(t: f64) -> RGBColor {
    let t = t.clamp(0.0, 1.0);
    let (a, b) = if t <= 0.5 { (BLUES[0], BLUES[1]) } else { (BLUES[1], BLUES[2]) };
    let u = (t - a.0) / (b.0 - a.0);
    let c = |i: usize| (a.1[i] + (b.1[i] - a.1[i]) * u).round() as u8;
    RGBColor(c(0), c(1), c(2))
}

/// PNG bytes of the confusion matrix `counts[true][predicted]` with the given class names and title.
pub fn confusion_matrix_png(counts: &[Vec<u64>], class_names: &[String], title: &str) -> Result<Vec<u8>> {
    let n = counts.len();
    if n == 0 || class_names.len() != n || counts.iter().any(|r| r.len() != n) {
        let shape: Vec<usize> = counts.iter().map(Vec::len).collect();
        return Err(Error::Log(format!(
            "confusion matrix: expected an n x n matrix with n = {} class names (n >= 1), found rows of lengths {shape:?}",
            class_names.len()
        )));
    }
    ensure_font()?;
    let max = counts.iter().flatten().copied().max().unwrap_or(0).max(1);
    let cell: u32 = (560 / n as u32).clamp(14, 64);
    let grid = cell * n as u32;

    // Label sizes decide the margins; measure with the real font (ab_glyph) on a scratch area.
    let label = (FAMILY, 13).into_font();
    let text_w = |s: &str| -> u32 {
        let mut scratch = [0u8; 3];
        let area = BitMapBackend::with_buffer(&mut scratch, (1, 1)).into_drawing_area();
        area.estimate_text_size(s, &TextStyle::from(label.clone())).map(|(w, _)| w).unwrap_or(8 * s.chars().count() as u32)
    };
    let name_w = class_names.iter().map(|s| text_w(s)).max().unwrap_or(0);
    // Column names go vertical when any is wider than its cell.
    let vertical = name_w + 4 > cell;
    let max_w = text_w(&max.to_string());
    let (top, left) = (50u32, 40 + name_w + 8);
    let bottom = 45 + if vertical { name_w + 8 } else { 20 };
    let bar_x = left + grid + 20;
    let right = 20 + 16 + 8 + max_w + 20;
    let (width, height) = (bar_x + right - 20, top + grid + bottom);
    let (width, height) = (width.max(320), height.max(240));

    let mut rgb = vec![0u8; (width * height * 3) as usize];
    let e = draw_err("confusion matrix");
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(&e)?;
        let centered = |size: f64| TextStyle::from((FAMILY, size).into_font()).pos(Pos::new(HPos::Center, VPos::Center));
        root.draw_text(title, &centered(18.0), ((left + grid / 2) as i32, 22)).map_err(&e)?;

        let count_size = (cell as f64 * 0.32).min(14.0);
        for (i, row) in counts.iter().enumerate() {
            for (j, &c) in row.iter().enumerate() {
                let (x, y) = ((left + j as u32 * cell) as i32, (top + i as u32 * cell) as i32);
                let t = c as f64 / max as f64;
                root.draw(&Rectangle::new([(x, y), (x + cell as i32, y + cell as i32)], blues(t).filled())).map_err(&e)?;
                let s = c.to_string();
                // Counts only where they fit; a 50-class matrix is read from its colours.
                if cell >= 22 && text_w(&s) as f64 * count_size / 13.0 + 4.0 <= cell as f64 {
                    let color = if t > 0.5 { WHITE } else { BLACK };
                    let style = centered(count_size).color(&color);
                    root.draw_text(&s, &style, (x + cell as i32 / 2, y + cell as i32 / 2)).map_err(&e)?;
                }
            }
        }
        let frame = [(left as i32, top as i32), ((left + grid) as i32, (top + grid) as i32)];
        root.draw(&Rectangle::new(frame, BLACK.stroke_width(1))).map_err(&e)?;

        // Row (true) labels right-aligned left of the grid, column (predicted) labels under it.
        let right_mid = TextStyle::from(label.clone()).pos(Pos::new(HPos::Right, VPos::Center));
        for (i, name) in class_names.iter().enumerate() {
            let c = (i as u32 * cell + cell / 2) as i32;
            root.draw_text(name, &right_mid, (left as i32 - 6, top as i32 + c)).map_err(&e)?;
            if vertical {
                // Rotated text is anchored at its top-left before rotation: start below the grid, read upwards.
                let style = TextStyle::from(label.clone()).transform(FontTransform::Rotate270);
                let w = text_w(name) as i32;
                root.draw_text(name, &style, (left as i32 + c - 7, (top + grid) as i32 + 6 + w)).map_err(&e)?;
            } else {
                root.draw_text(name, &centered(13.0), (left as i32 + c, (top + grid) as i32 + 12)).map_err(&e)?;
            }
        }
        let desc = centered(15.0);
        root.draw_text("Predicted label", &desc, ((left + grid / 2) as i32, (height - 18) as i32)).map_err(&e)?;
        let ylab = TextStyle::from((FAMILY, 15).into_font()).transform(FontTransform::Rotate270);
        let ylab_w = text_w("True label") as i32;
        root.draw_text("True label", &ylab, (10, (top + grid / 2) as i32 + ylab_w / 2)).map_err(&e)?;

        // Colour bar: 0 at the bottom, the largest count at the top.
        for k in 0..grid {
            let t = 1.0 - k as f64 / (grid.max(2) - 1) as f64;
            let y = (top + k) as i32;
            root.draw(&Rectangle::new([(bar_x as i32, y), (bar_x as i32 + 16, y + 1)], blues(t).filled())).map_err(&e)?;
        }
        let bar = [(bar_x as i32, top as i32), (bar_x as i32 + 16, (top + grid) as i32)];
        root.draw(&Rectangle::new(bar, BLACK.stroke_width(1))).map_err(&e)?;
        let left_mid = TextStyle::from(label.clone()).pos(Pos::new(HPos::Left, VPos::Center));
        root.draw_text(&max.to_string(), &left_mid, (bar_x as i32 + 22, top as i32 + 6)).map_err(&e)?;
        root.draw_text("0", &left_mid, (bar_x as i32 + 22, (top + grid) as i32 - 6)).map_err(&e)?;
        root.present().map_err(&e)?;
    }
    rgb_to_png(&rgb, width, height)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_scale_ends() {
        assert_eq!(blues(0.0), RGBColor(247, 251, 255));
        assert_eq!(blues(1.0), RGBColor(8, 48, 107));
        assert_eq!(blues(0.5), RGBColor(107, 174, 214));
    }

    #[test]
    fn rejects_bad_shapes() {
        let names: Vec<String> = vec!["a".into(), "b".into()];
        assert!(confusion_matrix_png(&[vec![1, 2]], &names, "t").is_err());
        assert!(confusion_matrix_png(&[vec![1, 2], vec![3]], &names, "t").is_err());
        assert!(confusion_matrix_png(&[], &[], "t").is_err());
    }
}
