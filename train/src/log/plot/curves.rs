//! Line plots of a run's metrics: `loss.png` (every loss series: train per step and per epoch, val),
//! `lr.png` (every learning-rate series the LR monitor logged) and one PNG per other metric, grouping its
//! train/val/test variants (`train_acc`, `val_acc` -> `acc.png`). The x axis is the global step, which
//! every row of metrics.csv carries.

use super::encode::{draw_err, rgb_to_png};
use super::font::{ensure_font, FAMILY};
use super::MetricsHistory;
use crate::{Error, Result};
use plotters::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const WIDTH: u32 = 800;
pub const HEIGHT: u32 = 500;

/// matplotlib's tab10, so the colours look familiar.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Columns that are not metrics to plot: the axes themselves and Lightning's hparams placeholder.
const SKIP: [&str; 3] = ["epoch", "step", "hp_metric"];

fn is_lr(key: &str) -> bool {
    key == "lr" || ["lr-", "lr_", "lr/"].iter().any(|p| key.starts_with(p))
}

/// The metric a key measures, without its stage prefix or Lightning's `_step`/`_epoch` suffix.
fn base_name(key: &str) -> &str {
    let mut k = key;
    for p in ["train_", "val_", "test_", "train/", "val/", "test/"] {
        if let Some(rest) = k.strip_prefix(p) {
            k = rest;
            break;
        }
    }
    for s in ["_step", "_epoch"] {
        if let Some(rest) = k.strip_suffix(s) {
            k = rest;
            break;
        }
    }
    k
}

/// A file stem from a metric name (anything but letters, digits, `-`, `_`, `.` becomes `_`).
fn file_stem(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect()
}

/// Which keys go into which file: `loss`, `lr`, then one group per other metric.
pub fn groups(history: &MetricsHistory) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for key in history.keys().filter(|k| !SKIP.contains(k)) {
        let group = if is_lr(key) {
            "lr".to_string()
        } else if base_name(key) == "loss" {
            "loss".to_string()
        } else {
            file_stem(base_name(key))
        };
        out.entry(group).or_default().push(key.to_string());
    }
    out
}

/// Write the curve PNGs of `history` into `out_dir` (created if missing); returns the files written.
pub fn curves(history: &MetricsHistory, out_dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out_dir).map_err(|e| Error::io(out_dir, e))?;
    let mut written = Vec::new();
    for (group, keys) in groups(history) {
        let series: Vec<(&str, &[(u64, f64)])> =
            keys.iter().filter_map(|k| history.series(k).map(|s| (k.as_str(), s))).collect();
        let y_desc = match group.as_str() {
            "lr" => "learning rate",
            g => g,
        };
        let Some(png) = line_plot(&group, y_desc, &series)? else { continue };
        let path = out_dir.join(format!("{group}.png"));
        std::fs::write(&path, png).map_err(|e| Error::io(&path, e))?;
        written.push(path);
    }
    Ok(written)
}

/// Plot the curves of a finished run from its `metrics.csv` (what `wrt-train` does on demand).
pub fn from_csv(metrics_csv: &Path, out_dir: &Path) -> Result<Vec<PathBuf>> {
    curves(&MetricsHistory::from_csv(metrics_csv)?, out_dir)
}

/// Tick labels that stay short for losses (2.3456) and learning rates (3.00e-4) alike.
fn tick(v: &f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if (1e-2..1e4).contains(&a) {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        format!("{v:.2e}")
    }
}

/// The range of the finite values, padded so a flat line is not drawn on the frame.
fn padded(lo: f64, hi: f64, min_pad: f64) -> (f64, f64) {
    let span = hi - lo;
    let pad = if span > 0.0 { span * 0.05 } else { (lo.abs() * 0.1).max(min_pad) };
    (lo - pad, hi + pad)
}

/// One line plot, or None when no series has a finite point.
pub fn line_plot(title: &str, y_desc: &str, series: &[(&str, &[(u64, f64)])]) -> Result<Option<Vec<u8>>> {
    ensure_font()?;
    let finite: Vec<(&str, Vec<(f64, f64)>)> = series
        .iter()
        .map(|(name, pts)| (*name, pts.iter().filter(|(_, v)| v.is_finite()).map(|&(s, v)| (s as f64, v)).collect::<Vec<_>>()))
        .filter(|(_, pts)| !pts.is_empty())
        .collect();
    let all = finite.iter().flat_map(|(_, p)| p.iter());
    let (x0, x1, y0, y1) = all.fold((f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY), |a, &(x, y)| {
        (a.0.min(x), a.1.max(x), a.2.min(y), a.3.max(y))
    });
    if finite.is_empty() {
        return Ok(None);
    }
    let (x0, x1) = if x1 > x0 { (x0, x1) } else { (x0 - 1.0, x1 + 1.0) };
    let (y0, y1) = padded(y0, y1, 1e-3);

    let mut rgb = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    let e = draw_err(title);
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(&e)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FAMILY, 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(75)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(&e)?;
        chart
            .configure_mesh()
            .x_desc("step")
            .y_desc(y_desc)
            .label_style((FAMILY, 13))
            .axis_desc_style((FAMILY, 15))
            .x_label_formatter(&|v| format!("{}", v.round() as i64))
            .y_label_formatter(&tick)
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(&e)?;
        for (i, (name, pts)) in finite.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            chart
                .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))
                .map_err(&e)?
                .label(*name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
            // Sparse series (one point per epoch) get markers so a single point is still visible.
            if pts.len() <= 60 {
                chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled()))).map_err(&e)?;
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(180, 180, 180))
            .label_font((FAMILY, 13))
            .draw()
            .map_err(&e)?;
        root.present().map_err(&e)?;
    }
    rgb_to_png(&rgb, WIDTH, HEIGHT).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grouping() {
        let mut h = MetricsHistory::new();
        let m = |k: &str| (k.to_string(), 1.0);
        h.push(0, &[m("train_loss_step"), m("train_loss_epoch"), m("val_loss"), m("lr-AdamW"), m("lr-AdamW/pg1")]);
        h.push(0, &[m("train_acc"), m("val_acc"), m("val_f1/macro"), m("epoch"), m("hp_metric")]);
        let g = groups(&h);
        assert_eq!(g["loss"], ["train_loss_epoch", "train_loss_step", "val_loss"]);
        assert_eq!(g["lr"], ["lr-AdamW", "lr-AdamW/pg1"]);
        assert_eq!(g["acc"], ["train_acc", "val_acc"]);
        assert_eq!(g["f1_macro"], ["val_f1/macro"]);
        assert_eq!(g.len(), 4);
    }

    #[test]
    fn ticks() {
        assert_eq!(tick(&2.5), "2.5");
        assert_eq!(tick(&0.0003), "3.00e-4");
        assert_eq!(tick(&0.0), "0");
    }
}
