//! Synthetic but learnable data in each layout of docs/data.md (`wrt-train data synth --kind K --out F.h5`),
//! so every model has a default dataset on which its loss visibly falls. Each label or target is a fixed,
//! smooth function of the inputs plus a little noise:
//! - satformer: frames whose per-channel spatial mean grows linearly in time; `y` is the 64-way bin of the
//!   next frame's intensity (extrapolate the trend, then bin it).
//! - atmodist: waves travelling at fixed phase speeds; the gap class is how far the phases moved.
//! - sitsformer: each class has its own spectral signature and seasonal phase; some series are padded.
//! - pangu: travelling waves with fixed wavevectors and speeds, so the next state is a linear function of
//!   the current one.
//! - tft: a seasonal series whose level, amplitude and region (a categorical) are static, whose season,
//!   trend and planned promotions are known ahead, and whose past (lagged) is observed.
//! - tft_series: F features, each a mix of four oscillators of different periods plus AR(1) noise, so the
//!   next step follows from the last ones.
//! Sample i draws from its own stream seeded by (seed, kind, i), so a file's content depends on (seed, n)
//! only. Files are written chunked and gzip-compressed, like h5py's, to a temporary name then renamed.

use super::layouts::Kind;
use super::rng::{derive_seed, Uniform, SYNTH};
use crate::{Error, Result};
use hdf5::types::VarLenUnicode;
use std::f64::consts::PI;
use std::path::Path;

/// Sizes of a synthetic file; 0 means the kind's default (listed per field).
#[derive(Clone, Debug)]
pub struct SynthOptions {
    /// Samples (satformer 256, sitsformer 256, tft 512 series) or time steps (atmodist 512, pangu 64).
    pub n: usize,
    pub seed: u64,
    /// Grid side H = W (32; pangu 40).
    pub size: usize,
    /// Frames per sample T (satformer 4, sitsformer 6) or encoder length (tft 24).
    pub frames: usize,
    /// Channels C (satformer 11, atmodist 5, sitsformer 13, pangu surface 5).
    pub channels: usize,
    /// Classes (satformer 64 bins, atmodist 8 gaps, sitsformer 10).
    pub classes: usize,
    /// gzip level 0-9; 0 writes chunked, uncompressed datasets.
    pub gzip: u8,
}

impl Default for SynthOptions {
    fn default() -> Self {
        SynthOptions { n: 0, seed: 0, size: 0, frames: 0, channels: 0, classes: 0, gzip: 4 }
    }
}

fn or(v: usize, default: usize) -> usize {
    if v == 0 {
        default
    } else {
        v
    }
}

/// Write a synthetic file of layout `kind` at `path` (replacing it).
pub fn write(kind: Kind, path: impl AsRef<Path>, opts: &SynthOptions) -> Result<()> {
    let path = path.as_ref();
    if opts.gzip > 9 {
        return Err(Error::data(format!("synth: gzip level {} is not in 0..=9", opts.gzip)));
    }
    write_h5(path, opts.gzip, |w| match kind {
        Kind::Satformer => satformer(w, opts),
        Kind::AtmoDist => atmodist(w, opts),
        Kind::Sitsformer => sitsformer(w, opts),
        Kind::Pangu => pangu(w, opts),
        Kind::Tft => tft(w, opts),
        Kind::TftSeries => tft_series(w, opts),
    })
}

/// Write an HDF5 file through `fill` atomically: to `<path>.tmp-<pid>`, closed, then renamed over `path`
/// (a failure removes the temporary file and leaves `path` as it was).
pub(crate) fn write_h5(path: &Path, gzip: u8, fill: impl FnOnce(&Writer) -> Result<()>) -> Result<()> {
    let tmp = {
        let mut s = path.as_os_str().to_owned();
        s.push(format!(".tmp-{}", std::process::id()));
        std::path::PathBuf::from(s)
    };
    hdf5::silence_errors(true);
    let result = (|| {
        let f = hdf5::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        fill(&Writer { f: &f, gzip, path: &tmp })?;
        f.close().map_err(|e| Error::io(&tmp, e))
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, format!("renaming {} into place: {e}", tmp.display())))
}

/// Dataset and attribute writing in h5py's style.
pub(crate) struct Writer<'a> {
    f: &'a hdf5::File,
    gzip: u8,
    path: &'a Path,
}

impl Writer<'_> {
    fn err(&self, what: &str, e: impl std::fmt::Display) -> Error {
        Error::io(self.path, format!("writing {what}: {e}"))
    }

    pub(crate) fn array<T: hdf5::H5Type>(&self, name: &str, data: &[T], shape: &[usize]) -> Result<()> {
        let view = ndarray::ArrayViewD::from_shape(ndarray::IxDyn(shape), data).map_err(|e| self.err(name, e))?;
        // About 1 MiB per chunk, whole samples along dim 0 (what h5py's auto-chunking aims at).
        let row: usize = shape.iter().skip(1).product::<usize>().max(1) * std::mem::size_of::<T>();
        let mut chunk = shape.to_vec();
        if let Some(c0) = chunk.first_mut() {
            *c0 = (*c0).min((1 << 20) / row).max(1);
        }
        let b = self.f.new_dataset_builder().with_data(view).chunk(chunk);
        let b = if self.gzip > 0 { b.deflate(self.gzip) } else { b };
        b.create(name).map(|_| ()).map_err(|e| self.err(name, e))
    }

    pub(crate) fn attr_f64s(&self, name: &str, v: &[f64]) -> Result<()> {
        let view = ndarray::ArrayView1::from(v);
        self.f.new_attr_builder().with_data(view).create(name).map(|_| ()).map_err(|e| self.err(name, e))
    }

    fn attr_i64(&self, name: &str, v: i64) -> Result<()> {
        let a = self.f.new_attr::<i64>().create(name).map_err(|e| self.err(name, e))?;
        a.write_scalar(&v).map_err(|e| self.err(name, e))
    }

    fn attr_str(&self, name: &str, v: &str) -> Result<()> {
        let s: VarLenUnicode = v.parse().map_err(|e| self.err(name, e))?;
        let a = self.f.new_attr::<VarLenUnicode>().create(name).map_err(|e| self.err(name, e))?;
        a.write_scalar(&s).map_err(|e| self.err(name, e))
    }

    fn attr_strs(&self, name: &str, v: &[String]) -> Result<()> {
        let s: Vec<VarLenUnicode> = v.iter().map(|x| x.parse()).collect::<std::result::Result<_, _>>().map_err(|e| self.err(name, e))?;
        let a = self.f.new_attr::<VarLenUnicode>().shape([s.len()]).create(name).map_err(|e| self.err(name, e))?;
        a.write_raw(&s).map_err(|e| self.err(name, e))
    }
}

fn stream(opts: &SynthOptions, kind: u64, i: usize) -> Uniform {
    Uniform::new(derive_seed(opts.seed, &[SYNTH, kind, i as u64]))
}

/// A travelling plane wave on an S x S periodic grid: wavevector (kx, ky), angular speed w per step.
#[derive(Clone, Copy)]
struct Wave {
    kx: f64,
    ky: f64,
    w: f64,
    phase: f64,
}

impl Wave {
    fn random(u: &mut Uniform, w: f64) -> Wave {
        let (mut kx, mut ky) = (0.0, 0.0);
        while kx == 0.0 && ky == 0.0 {
            kx = u.below(5) as f64 - 2.0;
            ky = u.below(5) as f64 - 2.0;
        }
        Wave { kx, ky, w, phase: u.next_f64() * 2.0 * PI }
    }
    fn at(&self, x: usize, y: usize, s: usize, t: f64) -> f64 {
        (2.0 * PI * (self.kx * x as f64 + self.ky * y as f64) / s as f64 - self.w * t + self.phase).sin()
    }
}

fn satformer(w: &Writer, o: &SynthOptions) -> Result<()> {
    let (n, t, c, s, k) = (or(o.n, 256), or(o.frames, 4), or(o.channels, 11), or(o.size, 32), or(o.classes, 64));
    let mut x = Vec::with_capacity(n * t * c * s * s);
    let (mut y, mut yv) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for i in 0..n {
        let mut u = stream(o, 1, i);
        // Future intensity uniform on [0, 1); the frames lead up to it along a linear trend.
        let target = u.next_f64();
        let trend = (u.next_f64() * 2.0 - 1.0) * 0.05;
        let wave = Wave::random(&mut u, 0.3);
        for ti in 0..t {
            let intensity = target - (t - ti) as f64 * trend;
            for ci in 0..c {
                let gain = 0.5 + ci as f64 / c as f64;
                for py in 0..s {
                    for px in 0..s {
                        // Zero-mean texture: the spatial mean of a channel is intensity * gain (+ noise).
                        let v = intensity * gain * (1.0 + 0.5 * wave.at(px, py, s, ti as f64)) + 0.02 * u.normal();
                        x.push(v as f32);
                    }
                }
            }
        }
        y.push(((target * k as f64) as i64).min(k as i64 - 1));
        yv.push(target as f32);
    }
    w.array("x", &x, &[n, t, c, s, s])?;
    w.array("y", &y, &[n])?;
    w.array("y_value", &yv, &[n])?;
    let edges: Vec<f64> = (0..=k).map(|j| j as f64 / k as f64).collect();
    w.attr_f64s("bin_edges", &edges)?;
    w.attr_str("description", "wrt synthetic satformer data: y = bin of the next frame's mean intensity (linear trend)")
}

fn variable_names(c: usize) -> Vec<String> {
    let seed = ["d2m", "u", "v", "msl", "r"];
    if c == seed.len() {
        seed.iter().map(|s| s.to_string()).collect()
    } else {
        (0..c).map(|i| format!("var{i}")).collect()
    }
}

/// Travelling waves with the given angular speeds and random wavevectors and phases.
fn waves(o: &SynthOptions, kind: u64, speeds: &[f64]) -> Vec<Wave> {
    let mut u = stream(o, kind, usize::MAX - 1);
    speeds.iter().map(|&w| Wave::random(&mut u, w)).collect()
}

/// Time series [T, C, S, S] of the given waves (AtmoDist and Pangu): each channel mixes them with its own
/// amplitudes, offset and scale (drawn from the stream of `kind`); `noise` is added per value.
fn wave_series(o: &SynthOptions, kind: u64, waves: &[Wave], steps: usize, c: usize, s: usize, noise: f64) -> Vec<f32> {
    let mut u = stream(o, kind, usize::MAX);
    let amp: Vec<Vec<f64>> = (0..c).map(|_| waves.iter().map(|_| u.normal()).collect()).collect();
    let offset: Vec<f64> = (0..c).map(|ci| 10.0 * ci as f64 - 5.0).collect();
    let scale: Vec<f64> = (0..c).map(|ci| 1.0 + ci as f64).collect();
    let mut v = Vec::with_capacity(steps * c * s * s);
    for ti in 0..steps {
        let mut u = stream(o, kind, ti);
        for ci in 0..c {
            for py in 0..s {
                for px in 0..s {
                    let f: f64 = waves.iter().zip(&amp[ci]).map(|(wv, a)| a * wv.at(px, py, s, ti as f64)).sum();
                    v.push((offset[ci] + scale[ci] * (f + noise * u.normal())) as f32);
                }
            }
        }
    }
    v
}

fn atmodist(w: &Writer, o: &SynthOptions) -> Result<()> {
    let (t, c, s, k) = (or(o.n, 512), or(o.channels, 5), or(o.size, 32), or(o.classes, 8));
    // Phase speeds up to 2.4 / k rad per step: the largest gap moves a wave by less than pi, so the phase
    // difference between the two states names the gap without aliasing.
    let speeds: Vec<f64> = (0..4).map(|m| (1.0 + 0.4 * m as f64) * 0.2 * 8.0 / k as f64).collect();
    let fields = wave_series(o, 2, &waves(o, 2, &speeds), t, c, s, 0.05);
    w.array("fields", &fields, &[t, c, s, s])?;
    w.attr_strs("variables", &variable_names(c))?;
    w.attr_str("frequency", "3h")?;
    w.attr_i64("time_interval", 3 * k as i64)?;
    // 3-hourly timestamps from 2001-01-01T00:00Z (seconds since 1970), for analogue search output
    let time: Vec<i64> = (0..t as i64).map(|i| 978_307_200 + 3 * 3600 * i).collect();
    w.array("time", &time, &[t])?;
    w.attr_str("description", "wrt synthetic atmodist data: travelling waves; the gap is how far their phases moved")
}

fn sitsformer(w: &Writer, o: &SynthOptions) -> Result<()> {
    let (n, t, c, s, k) = (or(o.n, 256), or(o.frames, 6), or(o.channels, 13), or(o.size, 32), or(o.classes, 10));
    let mut seq = Vec::with_capacity(n * t * c * s * s);
    let (mut mask, mut label) = (Vec::with_capacity(n * t), Vec::with_capacity(n));
    for i in 0..n {
        let mut u = stream(o, 3, i);
        let class = u.below(k as u64) as usize;
        let season = 2.0 * PI * class as f64 / k as f64;
        let bright = 0.8 + 0.4 * u.next_f64();
        let valid = t.div_ceil(2) + u.below((t - t.div_ceil(2) + 1) as u64) as usize;
        let texture = Wave::random(&mut u, 0.0);
        for ti in 0..t {
            let ok = ti < valid;
            mask.push(ok);
            for ci in 0..c {
                let signature = 0.5 + 0.5 * (1.3 * class as f64 + 0.7 * ci as f64).sin();
                let level = bright * signature * (1.0 + 0.6 * (2.0 * PI * ti as f64 / t as f64 + season).sin());
                for py in 0..s {
                    for px in 0..s {
                        let v = if ok { level + 0.1 * texture.at(px, py, s, 0.0) + 0.05 * u.normal() } else { 0.0 };
                        seq.push(v as f32);
                    }
                }
            }
        }
        label.push(class as i64);
    }
    w.array("sequences", &seq, &[n, t, c, s, s])?;
    w.array("mask", &mask, &[n, t])?;
    w.array("label", &label, &[n])?;
    w.attr_i64("num_classes", k as i64)?;
    w.attr_str("description", "wrt synthetic sitsformer data: class = spectral signature and seasonal phase; padded frames are 0 and masked")
}

fn pangu(w: &Writer, o: &SynthOptions) -> Result<()> {
    let (t, cs, s) = (or(o.n, 64), or(o.channels, 5), or(o.size, 40));
    let (cu, z) = (2, 3);
    let speeds = [0.15, 0.25, 0.4];
    let waves = waves(o, 4, &speeds);
    let surface = wave_series(o, 4, &waves, t, cs, s, 0.01);
    // Upper air: the same waves (so the levels are coupled to the surface), mixed into Cu x Z channels.
    let upper = wave_series(o, 6, &waves, t, cu * z, s, 0.01);
    w.array("surface", &surface, &[t, cs, s, s])?;
    w.array("upper", &upper, &[t, cu, z, s, s])?;
    let lat: Vec<f32> = (0..s).map(|h| (90.0 - (h as f64 + 0.5) * 180.0 / s as f64) as f32).collect();
    w.array("lat", &lat, &[s])?;
    w.attr_str("description", "wrt synthetic pangu data: travelling waves, the next state is a linear function of the current one")
}

fn tft(w: &Writer, o: &SynthOptions) -> Result<()> {
    let (n, te) = (or(o.n, 512), or(o.frames, 24));
    let td = (te / 4).max(1);
    let l = te + td;
    let period = 12.0;
    // a region shifts the level and scales the promotion effect: a static categorical that matters
    const REGION_LEVEL: [f64; 4] = [-1.0, -0.3, 0.4, 1.1];
    let (mut st, mut cat, mut known, mut observed, mut target) = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 0..n {
        let mut u = stream(o, 5, i);
        let level = u.normal();
        let amp = 0.5 + u.next_f64();
        let t0 = u.below(period as u64) as f64;
        let region = u.below(4) as usize;
        st.extend([level as f32, amp as f32]);
        cat.push(region as i64);
        let (mut ar, mut walk, mut prev) = (0.0, 0.0, level);
        for ti in 0..l {
            let ph = 2.0 * PI * (ti as f64 + t0) / period;
            let trend = (ti as f64 - l as f64 / 2.0) / l as f64;
            // a promotion is planned ahead (known in the future) and lifts the target
            let promo = if u.next_f64() < 0.15 { 1.0 } else { 0.0 };
            known.extend([ph.sin() as f32, ph.cos() as f32, trend as f32, promo as f32]);
            ar = 0.7 * ar + 0.1 * u.normal();
            walk += 0.1 * u.normal();
            let y = level + REGION_LEVEL[region] + amp * ph.sin() + 0.5 * trend + 0.8 * (1.0 + 0.25 * region as f64) * promo + ar;
            observed.extend([(prev + 0.05 * u.normal()) as f32, walk as f32]);
            target.push(y as f32);
            prev = y;
        }
    }
    w.array("static", &st, &[n, 2])?;
    w.array("static_cat", &cat, &[n, 1])?;
    w.array("known", &known, &[n, l, 4])?;
    w.array("observed", &observed, &[n, l, 2])?;
    w.array("target", &target, &[n, l])?;
    w.attr_i64("encoder_length", te as i64)?;
    w.attr_i64("decoder_length", td as i64)?;
    w.attr_strs("static_names", &["level".into(), "amplitude".into()])?;
    w.attr_strs("static_cat_names", &["region".into()])?;
    w.attr_f64s("static_cat_cardinality", &[4.0])?;
    w.attr_strs("known_names", &["season_sin".into(), "season_cos".into(), "trend".into(), "promotion".into()])?;
    w.attr_strs("observed_names", &["lagged_target".into(), "random_walk".into()])?;
    w.attr_str("target_name", "sales")?;
    w.attr_str(
        "description",
        "wrt synthetic tft data: static level, amplitude and region; season, trend and promotions known ahead; lagged target observed",
    )
}

/// One multivariate series [T, F] (T = n, default 4096; F = channels, default 32, the seed's input_size):
/// feature f mixes four oscillators (periods 7, 12, 24 and 50 steps) with its own weights, plus AR(1) noise.
fn tft_series(w: &Writer, o: &SynthOptions) -> Result<()> {
    let (t, f) = (or(o.n, 4096), or(o.channels, 32));
    const PERIODS: [f64; 4] = [7.0, 12.0, 24.0, 50.0];
    let mut u = stream(o, 6, usize::MAX);
    let mix: Vec<[f64; 4]> = (0..f).map(|_| [u.normal(), u.normal(), u.normal(), u.normal()]).collect();
    let phase: Vec<f64> = (0..4).map(|_| 2.0 * PI * u.next_f64()).collect();
    let mut ar = vec![0.0; f];
    let mut v = Vec::with_capacity(t * f);
    for ti in 0..t {
        let mut u = stream(o, 6, ti);
        let osc: Vec<f64> = PERIODS.iter().zip(&phase).map(|(p, ph)| (2.0 * PI * ti as f64 / p + ph).sin()).collect();
        for (fi, a) in ar.iter_mut().enumerate() {
            *a = 0.8 * *a + 0.1 * u.normal();
            let x: f64 = mix[fi].iter().zip(&osc).map(|(m, s)| m * s).sum::<f64>() + *a;
            v.push(x as f32);
        }
    }
    w.array("series", &v, &[t, f])?;
    let names: Vec<String> = (0..f).map(|i| format!("x{i}")).collect();
    w.attr_strs("feature_names", &names)?;
    w.attr_str("description", "wrt synthetic tft_series data: each feature mixes four oscillators plus AR(1) noise")
}
