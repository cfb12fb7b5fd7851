//! A long-format CSV table as most TFT users hold their data (one row per series and time step, as
//! pytorch-forecasting's `TimeSeriesDataSet` reads a DataFrame): the columns are named by the config
//! (`data.time_idx`, `data.group_ids`, `data.target`, `data.static_categoricals`, `data.static_reals`,
//! `data.time_varying_known_reals`, `data.time_varying_unknown_reals`) and every window of
//! `max_encoder_length + max_prediction_length` consecutive steps of a series is one sample, with the
//! fields of the multi-horizon HDF5 layout (`static`, `static_cat`, `encoder_known`, `encoder_observed`,
//! `encoder_target`, `decoder_known`, `target`), so the same model and task read either.
//!
//! The table is read into memory. Time steps of a series must be consecutive integers (a gap is an error
//! naming the series and the steps); static columns must be constant within a series; categorical values
//! are any text, numbered in sorted order. Reals are standardised per column over all rows (statics over
//! the series) unless normalisation is off; the target's mean and std map forecasts back.

use super::{check_index, ChannelStats, FieldInfo, Normalize, Sample};
use crate::{Error, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use wrt_tensor::Tensor;

/// The config's names of the table's columns (pytorch-forecasting's `TimeSeriesDataSet` arguments).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CsvColumns {
    pub time_idx: Option<String>,
    pub group_ids: Vec<String>,
    pub target: Option<String>,
    pub static_categoricals: Vec<String>,
    pub static_reals: Vec<String>,
    pub known_reals: Vec<String>,
    pub unknown_reals: Vec<String>,
    pub encoder_length: Option<usize>,
    pub prediction_length: Option<usize>,
}

/// One series: its static values and its rows of known, observed and target values in time order.
struct Series {
    name: String,
    statics: Vec<f32>,
    cats: Vec<i64>,
    known: Vec<f32>,
    observed: Vec<f32>,
    target: Vec<f32>,
}

pub struct CsvSeriesDataset {
    path: PathBuf,
    cols: CsvColumns,
    series: Vec<Series>,
    /// (series, first step) of every window.
    windows: Vec<(usize, usize)>,
    te: usize,
    td: usize,
    categoricals: Vec<(String, usize)>,
    target_stats: Option<ChannelStats>,
}

fn err(path: &Path, msg: impl std::fmt::Display) -> Error {
    Error::data(format!("{}: {msg}", path.display()))
}

/// Split one CSV line into fields (double quotes group a field; `""` inside quotes is a quote).
fn fields(line: &str) -> Vec<String> {
    let (mut out, mut cur, mut quoted, mut chars) = (Vec::new(), String::new(), false, line.chars().peekable());
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter().map(|f| f.trim().to_string()).collect()
}

/// Standardise `v` laid out as rows of `width` columns in place; returns (mean, std) per column.
fn standardise(v: &mut [f32], width: usize) -> Vec<(f64, f64)> {
    let n = if width == 0 { 0 } else { v.len() / width };
    (0..width)
        .map(|j| {
            let mean = (0..n).map(|r| v[r * width + j] as f64).sum::<f64>() / n.max(1) as f64;
            let var = (0..n).map(|r| (v[r * width + j] as f64 - mean).powi(2)).sum::<f64>() / n.max(1) as f64;
            let std = if var > 0.0 { var.sqrt() } else { 1.0 };
            for r in 0..n {
                v[r * width + j] = ((v[r * width + j] as f64 - mean) / std) as f32;
            }
            (mean, std)
        })
        .collect()
}

impl CsvSeriesDataset {
    pub fn open(path: &Path, cols: &CsvColumns, normalize: Normalize) -> Result<CsvSeriesDataset> {
        let need = |v: &Option<String>, key: &'static str| v.clone().ok_or_else(|| Error::config(key, format!("reading the CSV table {} needs the column name", path.display())));
        let time_col = need(&cols.time_idx, "data.time_idx")?;
        let target_col = need(&cols.target, "data.target")?;
        let te = cols.encoder_length.ok_or_else(|| Error::config("data.max_encoder_length", "reading a CSV table needs the encoder length"))?;
        let td = cols.prediction_length.ok_or_else(|| Error::config("data.max_prediction_length", "reading a CSV table needs the prediction length"))?;
        if cols.known_reals.is_empty() {
            return Err(Error::config("data.time_varying_known_reals", "the TFT's decoder needs at least one known real (a calendar feature, or the time index itself)"));
        }
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
        let (_, head) = lines.next().ok_or_else(|| err(path, "empty file (expected a header row)"))?;
        let header = fields(head);
        let col = |name: &String, key: &'static str| -> Result<usize> {
            header.iter().position(|h| h == name).ok_or_else(|| Error::config(key, format!("column '{name}' is not in {} (columns: {})", path.display(), header.join(", "))))
        };
        let list = |names: &[String], key: &'static str| -> Result<Vec<usize>> { names.iter().map(|n| col(n, key)).collect() };
        let (t_i, y_i) = (col(&time_col, "data.time_idx")?, col(&target_col, "data.target")?);
        let g_i = list(&cols.group_ids, "data.group_ids")?;
        let (sc_i, sr_i) = (list(&cols.static_categoricals, "data.static_categoricals")?, list(&cols.static_reals, "data.static_reals")?);
        let (k_i, u_i) = (list(&cols.known_reals, "data.time_varying_known_reals")?, list(&cols.unknown_reals, "data.time_varying_unknown_reals")?);

        // rows per series, in file order first
        struct Row {
            line: usize,
            t: i64,
            vals: Vec<String>,
        }
        let mut groups: BTreeMap<Vec<String>, Vec<Row>> = BTreeMap::new();
        for (ln, line) in lines {
            let vals = fields(line);
            if vals.len() != header.len() {
                return Err(err(path, format!("line {}: {} fields, the header has {}", ln + 1, vals.len(), header.len())));
            }
            let t: i64 = vals[t_i].parse::<f64>().ok().filter(|x| x.fract() == 0.0).map(|x| x as i64).ok_or_else(|| err(path, format!("line {}: {time_col} = '{}' is not an integer", ln + 1, vals[t_i])))?;
            groups.entry(g_i.iter().map(|&i| vals[i].clone()).collect()).or_default().push(Row { line: ln + 1, t, vals });
        }
        // categorical codes: sorted distinct values per column
        let mut classes: Vec<Vec<String>> = vec![Vec::new(); sc_i.len()];
        for rows in groups.values() {
            for r in rows {
                for (c, &i) in sc_i.iter().enumerate() {
                    classes[c].push(r.vals[i].clone());
                }
            }
        }
        for c in &mut classes {
            c.sort();
            c.dedup();
        }
        let num = |r: &Row, i: usize| -> Result<f32> { r.vals[i].parse::<f32>().map_err(|_| err(path, format!("line {}: {} = '{}' is not a number", r.line, header[i], r.vals[i]))) };
        let mut series = Vec::new();
        for (key, mut rows) in groups {
            let name = if key.is_empty() { "series".to_string() } else { key.join("/") };
            rows.sort_by_key(|r| r.t);
            for w in rows.windows(2) {
                if w[1].t != w[0].t + 1 {
                    return Err(err(path, format!("series {name}: {time_col} jumps from {} to {} (lines {} and {}); time steps must be consecutive", w[0].t, w[1].t, w[0].line, w[1].line)));
                }
            }
            let first = &rows[0];
            for r in &rows[1..] {
                if let Some(&i) = sc_i.iter().chain(&sr_i).find(|&&i| r.vals[i] != first.vals[i]) {
                    return Err(err(path, format!("series {name}: static column {} changes from '{}' to '{}' (line {})", header[i], first.vals[i], r.vals[i], r.line)));
                }
            }
            let statics = sr_i.iter().map(|&i| num(first, i)).collect::<Result<Vec<_>>>()?;
            let cats = sc_i.iter().zip(&classes).map(|(&i, cl)| cl.binary_search(&first.vals[i]).map(|p| p as i64).unwrap_or(0)).collect();
            let (mut known, mut observed, mut target) = (Vec::new(), Vec::new(), Vec::new());
            for r in &rows {
                for &i in &k_i {
                    known.push(num(r, i)?);
                }
                for &i in &u_i {
                    observed.push(num(r, i)?);
                }
                target.push(num(r, y_i)?);
            }
            series.push(Series { name, statics, cats, known, observed, target });
        }
        let l = te + td;
        let windows: Vec<(usize, usize)> = series.iter().enumerate().flat_map(|(s, x)| (0..=(x.target.len().saturating_sub(l))).filter(move |_| x.target.len() >= l).map(move |t| (s, t))).collect();
        if windows.is_empty() {
            let longest = series.iter().map(|s| s.target.len()).max().unwrap_or(0);
            return Err(err(path, format!("no series has the {l} steps a window needs (max_encoder_length {te} + max_prediction_length {td}); the longest has {longest}")));
        }
        let mut ds = CsvSeriesDataset {
            path: path.to_path_buf(),
            cols: cols.clone(),
            series,
            windows,
            te,
            td,
            categoricals: cols.static_categoricals.iter().cloned().zip(classes.iter().map(Vec::len)).collect(),
            target_stats: None,
        };
        if normalize != Normalize::None {
            ds.standardise()?;
        }
        Ok(ds)
    }

    /// Standardise every real column (statics over the series, the rest over all rows); keep the target's
    /// statistics for `target_stats`.
    fn standardise(&mut self) -> Result<()> {
        let gather = |f: &dyn Fn(&Series) -> &Vec<f32>| -> Vec<f32> { self.series.iter().flat_map(|s| f(s).iter().copied()).collect() };
        let (mut st, mut kn, mut ob, mut tg) = (gather(&|s| &s.statics), gather(&|s| &s.known), gather(&|s| &s.observed), gather(&|s| &s.target));
        standardise(&mut st, self.cols.static_reals.len());
        standardise(&mut kn, self.cols.known_reals.len());
        standardise(&mut ob, self.cols.unknown_reals.len());
        let (mean, std) = standardise(&mut tg, 1)[0];
        let (mut a, mut b, mut c, mut d) = (0, 0, 0, 0);
        for s in &mut self.series {
            for (dst, src, off) in [(&mut s.statics, &st, &mut a), (&mut s.known, &kn, &mut b), (&mut s.observed, &ob, &mut c), (&mut s.target, &tg, &mut d)] {
                let n = dst.len();
                dst.copy_from_slice(&src[*off..*off + n]);
                *off += n;
            }
        }
        let n = tg.len() as u64;
        let (lo, hi) = tg.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |acc, &v| (acc.0.min(v as f64 * std + mean), acc.1.max(v as f64 * std + mean)));
        self.target_stats = Some(ChannelStats { channel_axis: 1, channel_axes: 0, shape: vec![tg.len()], count: vec![n], mean: vec![mean], std: vec![std], min: vec![lo], max: vec![hi] });
        Ok(())
    }

    pub fn encoder_length(&self) -> usize {
        self.te
    }
    pub fn decoder_length(&self) -> usize {
        self.td
    }
    pub fn columns(&self) -> &CsvColumns {
        &self.cols
    }
    /// Static categoricals: (column, number of classes).
    pub fn categoricals(&self) -> &[(String, usize)] {
        &self.categoricals
    }
    /// The target's statistics (None without normalisation): `ChannelStats::invert` maps forecasts back.
    pub fn target_stats(&self) -> Option<(&ChannelStats, Normalize)> {
        self.target_stats.as_ref().map(|s| (s, Normalize::Standard))
    }
    /// The series and first step of window `i` (for naming predictions).
    pub fn window(&self, i: usize) -> Option<(&str, usize)> {
        self.windows.get(i).map(|&(s, t)| (self.series[s].name.as_str(), t))
    }
}

impl super::Dataset for CsvSeriesDataset {
    fn len(&self) -> usize {
        self.windows.len()
    }

    fn get(&self, index: usize, _epoch: u64) -> Result<Sample> {
        check_index(&format!("{} (tft csv)", self.path.display()), index, self.windows.len())?;
        let (si, t0) = self.windows[index];
        let s = &self.series[si];
        let (te, td) = (self.te, self.td);
        let (k, o) = (self.cols.known_reals.len(), self.cols.unknown_reals.len());
        let rows = |v: &[f32], w: usize, from: usize, n: usize, shape: &[usize]| -> Result<Tensor> { Ok(Tensor::from_vec(v[(t0 + from) * w..(t0 + from + n) * w].to_vec(), shape)?) };
        let mut out: Sample = vec![
            ("static".into(), Tensor::from_vec(s.statics.clone(), &[s.statics.len()])?),
            ("encoder_known".into(), rows(&s.known, k, 0, te, &[te, k])?),
            ("encoder_observed".into(), rows(&s.observed, o, 0, te, &[te, o])?),
            ("encoder_target".into(), rows(&s.target, 1, 0, te, &[te])?),
            ("decoder_known".into(), rows(&s.known, k, te, td, &[td, k])?),
            ("target".into(), rows(&s.target, 1, te, td, &[td])?),
        ];
        if !s.cats.is_empty() {
            out.push(("static_cat".into(), Tensor::from_vec(s.cats.clone(), &[s.cats.len()])?));
        }
        Ok(out)
    }

    fn fields(&self) -> Vec<FieldInfo> {
        let c = &self.cols;
        let cats = (!self.categoricals.is_empty()).then_some(self.categoricals.len());
        super::layouts::multi_horizon_fields([c.static_reals.len(), c.known_reals.len(), c.unknown_reals.len()], self.te, self.td, cats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Dataset;
    use wrt_tensor::DType;

    fn write(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("wrt-csv-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("t.csv");
        std::fs::write(&p, text).unwrap();
        p
    }

    fn cols() -> CsvColumns {
        CsvColumns {
            time_idx: Some("t".into()),
            group_ids: vec!["shop".into()],
            target: Some("sales".into()),
            static_categoricals: vec!["region".into()],
            static_reals: vec!["size".into()],
            known_reals: vec!["promo".into()],
            unknown_reals: vec!["temp".into()],
            encoder_length: Some(2),
            prediction_length: Some(1),
        }
    }

    #[test]
    fn windows_of_each_series_in_time_order() {
        // shop b's rows are out of order and come first; "north" < "south"
        let p = write("ok", "shop,t,region,size,promo,temp,sales\nb,11,\"north\",2,0,5,7\nb,10,north,2,1,4,6\nb,12,north,2,0,6,8\na,0,south,1,0,1,1\na,1,south,1,1,2,2\na,2,south,1,0,3,3\na,3,south,1,1,4,4\n");
        let d = CsvSeriesDataset::open(&p, &cols(), Normalize::None).unwrap();
        // a: 4 steps -> 2 windows; b: 3 steps -> 1
        assert_eq!(d.len(), 3);
        assert_eq!(d.categoricals(), &[("region".to_string(), 2)]);
        let f = |s: &Sample, k: &str| s.iter().find(|(n, _)| n == k).unwrap().1.to_dtype(DType::F64).unwrap().to_vec::<f64>().unwrap();
        let s = d.get(1, 0).unwrap();
        assert_eq!(f(&s, "encoder_target"), vec![2.0, 3.0]);
        assert_eq!(f(&s, "target"), vec![4.0]);
        assert_eq!(f(&s, "decoder_known"), vec![1.0]);
        assert_eq!(f(&s, "static_cat"), vec![1.0]); // south
        let s = d.get(2, 0).unwrap();
        assert_eq!((f(&s, "encoder_target"), f(&s, "encoder_observed"), f(&s, "static")), (vec![6.0, 7.0], vec![4.0, 5.0], vec![2.0]));
        assert_eq!(d.window(2), Some(("b", 0)));
        for ((n, t), fi) in s.iter().zip(d.fields()) {
            assert_eq!((n.as_str(), t.shape()), (fi.name.as_str(), fi.shape.as_slice()));
        }
        // standardised: the target's statistics map back
        let z = CsvSeriesDataset::open(&p, &cols(), Normalize::Standard).unwrap();
        let (st, mode) = z.target_stats().unwrap();
        let mut v = f(&z.get(1, 0).unwrap(), "target").iter().map(|&x| x as f32).collect::<Vec<_>>();
        st.invert(&mut v, mode);
        assert!((v[0] - 4.0).abs() < 1e-5, "{v:?}");
    }

    #[test]
    fn bad_tables_name_the_problem() {
        let e = |text: &str, c: CsvColumns| CsvSeriesDataset::open(&write("bad", text), &c, Normalize::None).err().unwrap().to_string();
        let head = "shop,t,region,size,promo,temp,sales\n";
        assert!(e(&format!("{head}a,0,s,1,0,1,1\na,2,s,1,0,1,1\na,3,s,1,0,1,1\n"), cols()).contains("jumps from 0 to 2"));
        assert!(e(&format!("{head}a,0,s,1,0,1,1\na,1,s,2,0,1,1\na,2,s,1,0,1,1\n"), cols()).contains("static column size changes"));
        assert!(e(&format!("{head}a,0,s,1,0,x,1\na,1,s,1,0,1,1\na,2,s,1,0,1,1\n"), cols()).contains("temp = 'x' is not a number"));
        assert!(e(&format!("{head}a,0,s,1,0,1,1\na,1,s,1,0,1,1\n"), cols()).contains("no series has the 3 steps a window needs"));
        assert!(e(&format!("{head}a,0,s,1,0,1,1\n"), cols()).contains("the longest has 1"));
        let mut c = cols();
        c.target = Some("revenue".into());
        let msg = e(&format!("{head}a,0,s,1,0,1,1\n"), c);
        assert!(msg.contains("column 'revenue' is not in") && msg.contains("sales"), "{msg}");
        let mut c = cols();
        c.encoder_length = None;
        assert!(e(head, c).contains("max_encoder_length"));
    }
}
