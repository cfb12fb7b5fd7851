//! Forecast plots as pytorch-forecasting draws them for a TFT: one series' history, truth, median forecast
//! and quantile bands (with the attention over the history on a second axis), and the interpretation
//! figures: variable importances as horizontal bars (in %, largest on top) and attention over time.

use super::curves::{HEIGHT, WIDTH};
use super::encode::{draw_err, rgb_to_png};
use super::font::{ensure_font, FAMILY};
use crate::{Error, Result};
use plotters::prelude::*;

const BLUE: RGBColor = RGBColor(31, 119, 180);
const ORANGE: RGBColor = RGBColor(255, 127, 14);
const GREY: RGBColor = RGBColor(90, 90, 90);

fn range(vals: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = vals.filter(|v| v.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |a, v| (a.0.min(v), a.1.max(v)));
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = if hi > lo { (hi - lo) * 0.06 } else { lo.abs().max(1.0) * 0.1 };
    (lo - pad, hi + pad)
}

/// One series' forecast. `history` at times -Te..-1, `truth` and `median` at 0..Td-1; `bands` (outermost
/// first): `(label, lower, upper)` per decoder step; `attention` (optional) over the Te history steps.
pub struct ForecastPlot<'a> {
    pub title: &'a str,
    pub history: &'a [f64],
    pub truth: &'a [f64],
    pub median: &'a [f64],
    pub bands: &'a [(String, Vec<f64>, Vec<f64>)],
    pub attention: Option<&'a [f64]>,
}

pub fn forecast_png(p: &ForecastPlot<'_>) -> Result<Vec<u8>> {
    let (te, td) = (p.history.len() as f64, p.truth.len() as f64);
    if p.median.len() != p.truth.len() || p.bands.iter().any(|(_, l, u)| l.len() != p.truth.len() || u.len() != p.truth.len()) {
        return Err(Error::Log(format!("forecast plot {}: the median and bands need one value per decoder step ({})", p.title, p.truth.len())));
    }
    ensure_font()?;
    let all = p.history.iter().chain(p.truth).chain(p.median).chain(p.bands.iter().flat_map(|(_, l, u)| l.iter().chain(u))).copied();
    let (y0, y1) = range(all);
    let mut rgb = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    let e = draw_err(p.title);
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(&e)?;
        let chart = ChartBuilder::on(&root)
            .caption(p.title, (FAMILY, 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .right_y_label_area_size(if p.attention.is_some() { 60 } else { 0 })
            .build_cartesian_2d(-te - 0.5..td - 0.5, y0..y1)
            .map_err(&e)?;
        let attn_max = p.attention.map_or(1.0, |a| a.iter().copied().fold(0.0f64, f64::max).max(1e-9) * 1.1);
        let mut chart = chart.set_secondary_coord(-te - 0.5..td - 0.5, 0.0..attn_max);
        chart
            .configure_mesh()
            .x_desc("time index (0 = first forecast step)")
            .y_desc("target")
            .x_label_formatter(&|v| format!("{}", v.round() as i64))
            .label_style((FAMILY, 13))
            .axis_desc_style((FAMILY, 15))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(&e)?;
        if let Some(a) = p.attention {
            chart.configure_secondary_axes().y_desc("attention").label_style((FAMILY, 12)).axis_desc_style((FAMILY, 14)).draw().map_err(&e)?;
            let pts: Vec<(f64, f64)> = a.iter().enumerate().map(|(i, &v)| (i as f64 - te, v)).collect();
            chart
                .draw_secondary_series(LineSeries::new(pts, GREY.mix(0.5).stroke_width(2)))
                .map_err(&e)?
                .label("attention")
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], GREY.mix(0.5).stroke_width(2)));
        }
        // bands: outermost lightest
        for (i, (label, lo, hi)) in p.bands.iter().enumerate() {
            let alpha = 0.15 + 0.15 * i as f64;
            let mut poly: Vec<(f64, f64)> = lo.iter().enumerate().map(|(t, &v)| (t as f64, v)).collect();
            poly.extend(hi.iter().enumerate().rev().map(|(t, &v)| (t as f64, v)));
            chart
                .draw_series(std::iter::once(Polygon::new(poly, ORANGE.mix(alpha).filled())))
                .map_err(&e)?
                .label(label.clone())
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 20, y + 5)], ORANGE.mix(alpha).filled()));
        }
        let obs: Vec<(f64, f64)> = p.history.iter().enumerate().map(|(i, &v)| (i as f64 - te, v)).chain(p.truth.iter().enumerate().map(|(t, &v)| (t as f64, v))).collect();
        chart
            .draw_series(LineSeries::new(obs, BLUE.stroke_width(2)))
            .map_err(&e)?
            .label("observed")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE.stroke_width(2)));
        let med: Vec<(f64, f64)> = p.median.iter().enumerate().map(|(t, &v)| (t as f64, v)).collect();
        chart.draw_series(med.iter().map(|&pt| Circle::new(pt, 3, ORANGE.filled()))).map_err(&e)?;
        chart
            .draw_series(LineSeries::new(med, ORANGE.stroke_width(2)))
            .map_err(&e)?
            .label("predicted (median)")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], ORANGE.stroke_width(2)));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(180, 180, 180))
            .label_font((FAMILY, 13))
            .draw()
            .map_err(&e)?;
        root.present().map_err(&e)?;
    }
    rgb_to_png(&rgb, WIDTH, HEIGHT)
}

/// Horizontal bars of `values` (normalised to % of their sum), largest on top, as
/// `plot_interpretation`'s variable-importance figures.
pub fn importance_png(title: &str, names: &[String], values: &[f64]) -> Result<Vec<u8>> {
    if names.len() != values.len() || names.is_empty() {
        return Err(Error::Log(format!("importance plot {title}: {} names for {} values", names.len(), values.len())));
    }
    ensure_font()?;
    let total: f64 = values.iter().sum::<f64>().max(1e-12);
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let pct: Vec<f64> = order.iter().map(|&i| 100.0 * values[i] / total).collect();
    let max = pct.iter().copied().fold(0.0, f64::max).max(1.0) * 1.1;
    let height = (120 + 28 * names.len() as u32).max(240);
    let mut rgb = vec![0u8; (WIDTH * height * 3) as usize];
    let e = draw_err(title);
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(&e)?;
        let label_w = names.iter().map(|n| n.len()).max().unwrap_or(4) as u32 * 8 + 20;
        let n = names.len();
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FAMILY, 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(label_w)
            .build_cartesian_2d(0.0..max, (0..n.saturating_sub(1)).into_segmented())
            .map_err(&e)?;
        let labels: Vec<String> = order.iter().map(|&i| names[i].clone()).collect();
        chart
            .configure_mesh()
            .disable_y_mesh()
            .x_desc("importance in %")
            .y_labels(n)
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
                _ => String::new(),
            })
            .label_style((FAMILY, 13))
            .axis_desc_style((FAMILY, 15))
            .draw()
            .map_err(&e)?;
        chart
            .draw_series(pct.iter().enumerate().map(|(i, &v)| {
                let mut bar = Rectangle::new([(0.0, SegmentValue::Exact(i)), (v, SegmentValue::Exact(i + 1))], BLUE.filled());
                bar.set_margin(4, 4, 0, 0);
                bar
            }))
            .map_err(&e)?;
        root.present().map_err(&e)?;
    }
    rgb_to_png(&rgb, WIDTH, height)
}

/// Attention (mean over series and heads) of the first forecast step over the encoder's time steps
/// -Te..-1, as `plot_interpretation`'s attention figure.
pub fn attention_png(title: &str, attention: &[f64]) -> Result<Vec<u8>> {
    ensure_font()?;
    let te = attention.len() as f64;
    let (_, y1) = range(attention.iter().copied().chain([0.0]));
    let mut rgb = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    let e = draw_err(title);
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(&e)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FAMILY, 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(-te - 0.5..-0.5, 0.0..y1)
            .map_err(&e)?;
        chart
            .configure_mesh()
            .x_desc("time index")
            .y_desc("attention")
            .x_label_formatter(&|v| format!("{}", v.round() as i64))
            .label_style((FAMILY, 13))
            .axis_desc_style((FAMILY, 15))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(&e)?;
        let pts: Vec<(f64, f64)> = attention.iter().enumerate().map(|(i, &v)| (i as f64 - te, v)).collect();
        chart.draw_series(LineSeries::new(pts.clone(), BLUE.stroke_width(2))).map_err(&e)?;
        chart.draw_series(pts.into_iter().map(|p| Circle::new(p, 3, BLUE.filled()))).map_err(&e)?;
        root.present().map_err(&e)?;
    }
    rgb_to_png(&rgb, WIDTH, HEIGHT)
}
