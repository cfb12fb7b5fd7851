//! Metrics of gridded forecasts (Pangu), per variable (channel) and pooled, with WeatherBench's
//! definitions.
//!
//! Inputs: `preds` and `target` of one shape `[B, C.., H, W]`, any float dtype: batch, channel dims (all
//! dims between the batch and the last two, flattened in row-major order, so `[B, Cu, Z, H, W]` gives
//! Cu·Z channels: one per variable and level), latitude rows H, longitude columns W.
//!
//! With w_i = cos(lat_i) / mean_i cos(lat_i) (latitudes in degrees, one per row), per channel:
//! * `rmse_{ch}` = sqrt(mean (f - o)²), `mae_{ch}` = mean |f - o| over every sample and grid point;
//! * `wrmse_{ch}` = sqrt(mean_{samples} mean_{i,j} w_i (f - o)²): WeatherBench 2's RMSE, the square root
//!   taken after averaging over forecasts (WeatherBench 1 averaged per-forecast RMSEs instead);
//! * `acc_{ch}`: per forecast, with anomalies f' = f - clim and o' = o - clim against the given
//!   climatology, ACC = Σ w f'o' / sqrt(Σ w f'² · Σ w o'²) over the grid, averaged over forecasts
//!   (uncentred, as WeatherBench 1 and 2; w = 1 without latitudes). A forecast whose anomalies are all
//!   zero gives NaN, as there.
//! Pooled over channels: `rmse`, `mae`, `wrmse` over all elements, `acc` the mean of the channel ACCs.
//! `wrmse*` need latitudes and `acc*` a climatology; without them those keys are left out (the SuperDARN
//! Pangu grid is polar, where latitude weighting does not apply).

use super::input::{err, values};
use super::state::{f64_json, f64s_json, u64s_json, StateReader};
use super::Metric;
use crate::Result;
use serde_json::{json, Value};
use wrt_tensor::Tensor;

const KIND: &str = "gridded";

/// Per-channel sums over the epoch.
#[derive(Clone, Debug, Default, PartialEq)]
struct Sums {
    n: u64,
    sq: f64,
    abs: f64,
    wsq: f64,
    acc: f64,
    forecasts: u64,
}

/// RMSE, MAE, latitude-weighted RMSE and ACC of gridded forecasts over an epoch.
#[derive(Clone, Debug)]
pub struct Gridded {
    channels: Vec<String>,
    per_channel: bool,
    /// (latitudes in degrees, normalised weights), one per grid row.
    lat: Option<(Vec<f64>, Vec<f64>)>,
    /// Climatology `[C, H, W]` (row-major) and the grid (H, W) it was given for.
    clim: Option<(Vec<f64>, usize, usize)>,
    sums: Vec<Sums>,
}

impl Gridded {
    /// Unweighted RMSE and MAE for the named channels (their count fixes C).
    pub fn new(channel_names: Vec<String>) -> Result<Gridded> {
        if channel_names.is_empty() {
            return Err(err(KIND, "needs at least one channel name"));
        }
        Ok(Gridded { sums: vec![Sums::default(); channel_names.len()], channels: channel_names, per_channel: true, lat: None, clim: None })
    }

    /// Latitudes of the grid rows in degrees: adds `wrmse` and weights the ACC.
    pub fn with_latitudes(mut self, lat_deg: &[f64]) -> Result<Gridded> {
        if lat_deg.is_empty() || lat_deg.iter().any(|l| !(l.abs() <= 90.0)) {
            return Err(err(KIND, format!("latitudes must be degrees in [-90, 90], got {} values", lat_deg.len())));
        }
        let cos: Vec<f64> = lat_deg.iter().map(|l| l.to_radians().cos()).collect();
        let mean = cos.iter().sum::<f64>() / cos.len() as f64;
        if !(mean > 0.0) {
            return Err(err(KIND, "latitude weights cos(lat) average to 0 (all rows at the poles)"));
        }
        self.lat = Some((lat_deg.to_vec(), cos.iter().map(|c| c / mean).collect()));
        Ok(self)
    }

    /// The climatology the ACC's anomalies are taken against: `[C.., H, W]` with the channel dims of the
    /// inputs (or their product), any float dtype.
    pub fn with_climatology(mut self, clim: &Tensor) -> Result<Gridded> {
        let s = clim.shape();
        if s.len() < 3 || s[..s.len() - 2].iter().product::<usize>() != self.channels.len() {
            return Err(err(KIND, format!("climatology must be [C.., H, W] with {} channels, got {s:?}", self.channels.len())));
        }
        let (h, w) = (s[s.len() - 2], s[s.len() - 1]);
        self.clim = Some((values(KIND, "climatology", clim)?, h, w));
        Ok(self)
    }

    /// Report only the pooled values (no `*_{ch}` keys).
    pub fn pooled_only(mut self) -> Gridded {
        self.per_channel = false;
        self
    }

    pub fn channel_names(&self) -> &[String] {
        &self.channels
    }

    fn check(&self, preds: &Tensor, target: &Tensor) -> Result<(usize, usize, usize)> {
        let (ps, ts) = (preds.shape(), target.shape());
        if ps != ts {
            return Err(err(KIND, format!("preds {ps:?} and target {ts:?} must have the same shape [B, C.., H, W]")));
        }
        let c = self.channels.len();
        if ps.len() < 4 || ps[1..ps.len() - 2].iter().product::<usize>() != c {
            return Err(err(KIND, format!("preds and target must be [B, C.., H, W] with {c} channels, got {ps:?}")));
        }
        if !preds.dtype().is_float() || !target.dtype().is_float() {
            return Err(err(KIND, format!("preds and target must be float tensors, got {} and {}", preds.dtype(), target.dtype())));
        }
        let (h, w) = (ps[ps.len() - 2], ps[ps.len() - 1]);
        if let Some((lat, _)) = &self.lat {
            if lat.len() != h {
                return Err(err(KIND, format!("{} latitudes given but the grid {ps:?} has {h} rows", lat.len())));
            }
        }
        if let Some((_, ch, cw)) = &self.clim {
            if (*ch, *cw) != (h, w) {
                return Err(err(KIND, format!("climatology grid is {ch}x{cw} but preds {ps:?} are {h}x{w}")));
            }
        }
        Ok((ps[0], h, w))
    }

    fn config_json(&self) -> Value {
        json!({
            "channels": self.channels,
            "per_channel": self.per_channel,
            "lat": self.lat.as_ref().map(|(l, _)| f64s_json(l)),
            "clim": self.clim.as_ref().map(|(c, h, w)| json!({"shape": [h, w], "sum": f64_json(c.iter().sum())})),
        })
    }
}

impl Metric for Gridded {
    fn name(&self) -> &str {
        KIND
    }

    fn update(&mut self, preds: &Tensor, target: &Tensor) -> Result<()> {
        let (b, h, w) = self.check(preds, target)?;
        let (f, o) = (values(KIND, "preds", preds)?, values(KIND, "target", target)?);
        let (c, hw) = (self.channels.len(), h * w);
        // Field borrows, not closures over self, so `self.sums` can be borrowed mutably alongside.
        let lat_w = self.lat.as_ref().map(|(_, wt)| wt.as_slice());
        let clim = self.clim.as_ref().map(|(cl, _, _)| cl.as_slice());
        for s in 0..b {
            for ch in 0..c {
                let base = (s * c + ch) * hw;
                let sums = &mut self.sums[ch];
                let (mut fo, mut ff, mut oo) = (0.0, 0.0, 0.0);
                for i in 0..h {
                    let wi = lat_w.map_or(1.0, |wt| wt[i]);
                    for j in 0..w {
                        let (fv, ov) = (f[base + i * w + j], o[base + i * w + j]);
                        let d = fv - ov;
                        sums.sq += d * d;
                        sums.abs += d.abs();
                        sums.wsq += wi * d * d;
                        if let Some(clim) = clim {
                            let cv = clim[ch * hw + i * w + j];
                            let (fa, oa) = (fv - cv, ov - cv);
                            fo += wi * fa * oa;
                            ff += wi * fa * fa;
                            oo += wi * oa * oa;
                        }
                    }
                }
                sums.n += hw as u64;
                if clim.is_some() {
                    sums.acc += fo / (ff * oo).sqrt();
                    sums.forecasts += 1;
                }
            }
        }
        Ok(())
    }

    fn compute(&self) -> Result<Vec<(String, f64)>> {
        let n: u64 = self.sums.iter().map(|s| s.n).sum();
        if n == 0 {
            return Ok(Vec::new());
        }
        let pooled = |f: fn(&Sums) -> f64| self.sums.iter().map(f).sum::<f64>() / n as f64;
        let mut out = vec![("rmse".to_string(), pooled(|s| s.sq).sqrt()), ("mae".to_string(), pooled(|s| s.abs))];
        if self.lat.is_some() {
            out.push(("wrmse".to_string(), pooled(|s| s.wsq).sqrt()));
        }
        let accs: Vec<f64> = self.sums.iter().map(|s| s.acc / s.forecasts as f64).collect();
        if self.clim.is_some() {
            out.push(("acc".to_string(), accs.iter().sum::<f64>() / accs.len() as f64));
        }
        if self.per_channel {
            for (name, (s, acc)) in self.channels.iter().zip(self.sums.iter().zip(&accs)) {
                let m = s.n as f64;
                out.push((format!("rmse_{name}"), (s.sq / m).sqrt()));
                out.push((format!("mae_{name}"), s.abs / m));
                if self.lat.is_some() {
                    out.push((format!("wrmse_{name}"), (s.wsq / m).sqrt()));
                }
                if self.clim.is_some() {
                    out.push((format!("acc_{name}"), *acc));
                }
            }
        }
        Ok(out)
    }

    fn reset(&mut self) {
        self.sums.iter_mut().for_each(|s| *s = Sums::default());
    }

    fn state(&self) -> Value {
        let col = |f: fn(&Sums) -> f64| f64s_json(&self.sums.iter().map(f).collect::<Vec<_>>());
        json!({
            "kind": KIND,
            "config": self.config_json(),
            "n": u64s_json(&self.sums.iter().map(|s| s.n).collect::<Vec<_>>()),
            "forecasts": u64s_json(&self.sums.iter().map(|s| s.forecasts).collect::<Vec<_>>()),
            "sq": col(|s| s.sq),
            "abs": col(|s| s.abs),
            "wsq": col(|s| s.wsq),
            "acc": col(|s| s.acc),
        })
    }

    fn load_state(&mut self, state: &Value) -> Result<()> {
        let r = StateReader::new(KIND, state)?;
        r.expect_config(&self.config_json())?;
        let c = self.channels.len();
        let (n, forecasts) = (r.u64s("n", c)?, r.u64s("forecasts", c)?);
        let (sq, abs, wsq, acc) = (r.f64s("sq", c)?, r.f64s("abs", c)?, r.f64s("wsq", c)?, r.f64s("acc", c)?);
        for (i, s) in self.sums.iter_mut().enumerate() {
            *s = Sums { n: n[i], sq: sq[i], abs: abs[i], wsq: wsq[i], acc: acc[i], forecasts: forecasts[i] };
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::tests::{assert_same, feed_split, resume_split};
    use wrt_tensor::{DType, Generator};

    fn metric() -> Gridded {
        let clim = Tensor::from_vec((0..2 * 4 * 3).map(|i| i as f32 * 0.1).collect::<Vec<_>>(), &[2, 4, 3]).unwrap();
        Gridded::new(vec!["u".into(), "v".into()])
            .unwrap()
            .with_latitudes(&[-60.0, -20.0, 20.0, 60.0])
            .unwrap()
            .with_climatology(&clim)
            .unwrap()
    }

    #[test]
    fn hand_checked_values() {
        // One channel, 2x1 grid at latitudes 0 and 60: cos = 1, 0.5 -> weights 4/3, 2/3.
        let mut m = Gridded::new(vec!["t".into()]).unwrap().with_latitudes(&[0.0, 60.0]).unwrap();
        let f = Tensor::from_vec(vec![1.0f64, 3.0], &[1, 1, 2, 1]).unwrap();
        let o = Tensor::from_vec(vec![0.0f64, 1.0], &[1, 1, 2, 1]).unwrap();
        m.update(&f, &o).unwrap();
        let out: std::collections::BTreeMap<_, _> = m.compute().unwrap().into_iter().collect();
        assert!((out["rmse"] - 2.5f64.sqrt()).abs() < 1e-15);
        assert_eq!(out["mae"], 1.5);
        let w0 = 1.0 / 0.75; // cos(0) / mean(1, 0.5)
        let w1 = (60f64.to_radians().cos()) / 0.75;
        assert!((out["wrmse_t"] - ((w0 * 1.0 + w1 * 4.0) / 2.0).sqrt()).abs() < 1e-15);
        assert!(!out.contains_key("acc"));
    }

    #[test]
    fn acc_of_a_perfect_and_an_opposite_forecast() {
        let clim = Tensor::zeros(&[1, 2, 2], DType::F32).unwrap();
        let mut m = Gridded::new(vec!["z".into()]).unwrap().with_climatology(&clim).unwrap();
        let o = Tensor::from_vec(vec![1.0f32, -2.0, 3.0, 0.5, 1.0, -2.0, 3.0, 0.5], &[2, 1, 2, 2]).unwrap();
        let f = Tensor::from_vec(vec![1.0f32, -2.0, 3.0, 0.5, -1.0, 2.0, -3.0, -0.5], &[2, 1, 2, 2]).unwrap();
        m.update(&f, &o).unwrap();
        let out: std::collections::BTreeMap<_, _> = m.compute().unwrap().into_iter().collect();
        assert_eq!(out["acc"], 0.0); // (1 + -1) / 2
    }

    #[test]
    fn batches_resume_and_errors() {
        let mut g = Generator::new(3);
        let f = g.normal(&[5, 2, 4, 3], 0.0, 1.0, DType::F32).unwrap();
        let o = g.normal(&[5, 2, 4, 3], 0.0, 1.0, DType::F32).unwrap();
        assert_same(&feed_split(metric(), &f, &o, &[5]), &feed_split(metric(), &f, &o, &[2, 1, 2]));
        resume_split(metric, &f, &o, &[1, 4]);
        let bad = g.normal(&[5, 2, 4, 2], 0.0, 1.0, DType::F32).unwrap();
        let e = metric().update(&bad, &bad).unwrap_err().to_string();
        assert!(e.contains("gridded") && e.contains("[5, 2, 4, 2]"), "{e}");
        let e = metric().update(&f, &bad).unwrap_err().to_string();
        assert!(e.contains("[5, 2, 4, 3]") && e.contains("[5, 2, 4, 2]"), "{e}");
        let three = g.normal(&[5, 3, 4, 3], 0.0, 1.0, DType::F32).unwrap();
        assert!(metric().update(&three, &three).unwrap_err().to_string().contains("2 channels"));
    }
}
