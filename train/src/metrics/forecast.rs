//! Forecast metrics for TFT: the quantile (pinball) loss as pytorch-forecasting's `QuantileLoss` metric
//! reports it, and point-forecast errors (MAE, MSE, RMSE, SMAPE as pytorch-forecasting defines them, R²
//! as the seed's `val_r2` = scikit-learn `r2_score` over the flattened values).
//!
//! Inputs: point mode ([`Forecast::point`]): `preds` and `target` of one shape (e.g. `[B, O]` for the
//! seed's model, `[B, T]` for a horizon). Quantile mode ([`Forecast::quantiles`]): `preds` `[.., Q]` and
//! `target` `[..]`, the point forecast being the column of quantile 0.5 (or the one nearest 0.5: pytorch-
//! forecasting's `to_prediction`). Any float dtypes. [`Forecast::update_with_lengths`] masks padded decoder
//! steps of `target` `[B, T]`: step t of series b counts only when t < lengths[b].
//!
//! Over the n valid elements (y target, ŷ point forecast, ŷ_q quantile forecasts, e = y - ŷ_q):
//! * `quantile_loss` = Σ_elements Σ_q 2·max(q·e, (q - 1)·e) / (Q·n). pytorch-forecasting (≥ 0.10) scales the
//!   pinball loss by 2 (so q = 0.5 gives the absolute error) and its metric divides each element's losses
//!   by Q before averaging over the valid steps: the mean over all [.., Q] entries. (The paper sums over
//!   quantiles without the 2; `wrt_nn::loss::quantile_loss` is the unscaled training loss.)
//! * `mae` = Σ|y - ŷ|/n, `mse` = Σ(y - ŷ)²/n, `rmse` = sqrt(mse) (pytorch-forecasting's "sqrt-mean": the
//!   root of the pooled mean, not a mean of per-batch roots), `smape` = Σ 2|ŷ - y| / (|ŷ| + |y| + 1e-8) / n.
//! * `p{100q}_risk` per quantile (`p50_risk`, `p90_risk`, ...): the paper's q-risk 2·Σ ℓ_q / Σ|y| (in the
//!   units of the data: compute it on de-normalised values).
//! * `r2` = 1 - Σ(y - ŷ)² / Σ(y - ȳ)² with ȳ the mean of all valid targets (kept with Welford's update, so
//!   it streams); 1 for a perfect forecast of a constant target and 0 for an imperfect one, as
//!   scikit-learn's `force_finite`.

use super::input::{err, values};
use super::state::{f64_json, f64s_json, StateReader};
use super::Metric;
use crate::Result;
use serde_json::{json, Value};
use wrt_tensor::Tensor;

const KIND: &str = "forecast";

#[derive(Clone, Debug, Default, PartialEq)]
struct Sums {
    n: u64,
    pinball: f64,
    /// Σ ℓ_q per quantile, and Σ|y|: the q-risks.
    per_quantile: Vec<f64>,
    abs_target: f64,
    abs: f64,
    sq: f64,
    smape: f64,
    /// Welford running mean and sum of squared deviations of the targets.
    mean: f64,
    m2: f64,
}

/// Quantile loss and point-forecast errors over an epoch.
#[derive(Clone, Debug)]
pub struct Forecast {
    quantiles: Option<Vec<f64>>,
    point_index: usize,
    sums: Sums,
}

impl Forecast {
    /// Point forecasts: `preds` has the target's shape. Reports `mae`, `mse`, `rmse`, `smape`, `r2`.
    pub fn point() -> Forecast {
        Forecast { quantiles: None, point_index: 0, sums: Sums::default() }
    }

    /// Quantile forecasts `[.., Q]` for these quantiles (each in [0, 1]; TFT's default is
    /// 0.02, 0.1, 0.25, 0.5, 0.75, 0.9, 0.98). Reports `quantile_loss` and the point metrics of the median.
    pub fn quantiles(quantiles: &[f64]) -> Result<Forecast> {
        if quantiles.is_empty() {
            return Err(err(KIND, "needs at least one quantile"));
        }
        if let Some(q) = quantiles.iter().find(|q| !(0.0..=1.0).contains(*q)) {
            return Err(err(KIND, format!("quantile {q} is outside [0, 1]")));
        }
        // The first quantile nearest 0.5 (exactly 0.5 when present), as pytorch-forecasting picks it.
        let mut point_index = 0;
        for (i, q) in quantiles.iter().enumerate() {
            if (q - 0.5).abs() < (quantiles[point_index] - 0.5).abs() {
                point_index = i;
            }
        }
        Ok(Forecast { quantiles: Some(quantiles.to_vec()), point_index, sums: Sums { per_quantile: vec![0.0; quantiles.len()], ..Sums::default() } })
    }

    /// Like `update`, for `target` `[B, T]` with `lengths[b]` valid decoder steps in series b.
    pub fn update_with_lengths(&mut self, preds: &Tensor, target: &Tensor, lengths: &[usize]) -> Result<()> {
        let ts = target.shape();
        if ts.len() != 2 || ts[0] != lengths.len() {
            return Err(err(KIND, format!("lengths need target [B, T] with B = {} (the number of lengths), got {ts:?}", lengths.len())));
        }
        if let Some(l) = lengths.iter().find(|&&l| l > ts[1]) {
            return Err(err(KIND, format!("length {l} exceeds the {} decoder steps of target {ts:?}", ts[1])));
        }
        let t = ts[1];
        self.accumulate(preds, target, |i| i % t < lengths[i / t])
    }

    fn accumulate(&mut self, preds: &Tensor, target: &Tensor, valid: impl Fn(usize) -> bool) -> Result<()> {
        let (ps, ts) = (preds.shape(), target.shape());
        let q = self.quantiles.as_ref().map_or(1, |q| q.len());
        let ok = match &self.quantiles {
            None => ps == ts,
            Some(_) => ps.len() == ts.len() + 1 && ps[..ts.len()] == *ts && ps[ts.len()] == q,
        };
        if !ok {
            let want = if self.quantiles.is_some() { format!("target's shape + [{q}] quantiles") } else { "the target's shape".into() };
            return Err(err(KIND, format!("preds {ps:?} must have {want}; target is {ts:?}")));
        }
        if !preds.dtype().is_float() || !target.dtype().is_float() {
            return Err(err(KIND, format!("preds and target must be float tensors, got {} and {}", preds.dtype(), target.dtype())));
        }
        let (p, y) = (values(KIND, "preds", preds)?, values(KIND, "target", target)?);
        let s = &mut self.sums;
        for (i, &yv) in y.iter().enumerate() {
            if !valid(i) {
                continue;
            }
            let row = &p[i * q..(i + 1) * q];
            if let Some(qs) = &self.quantiles {
                for ((&pq, &qv), acc) in row.iter().zip(qs).zip(&mut s.per_quantile) {
                    let e = yv - pq;
                    let l = (qv * e).max((qv - 1.0) * e);
                    s.pinball += l;
                    *acc += l;
                }
            }
            s.abs_target += yv.abs();
            let pv = row[self.point_index];
            let d = pv - yv;
            s.abs += d.abs();
            s.sq += d * d;
            s.smape += 2.0 * d.abs() / (pv.abs() + yv.abs() + 1e-8);
            s.n += 1;
            let delta = yv - s.mean;
            s.mean += delta / s.n as f64;
            s.m2 += delta * (yv - s.mean);
        }
        Ok(())
    }

    fn config_json(&self) -> Value {
        json!({"quantiles": self.quantiles.as_ref().map(|q| f64s_json(q))})
    }
}

/// `p50_risk` for q = 0.5, `p2_risk` for 0.02, `p97.5_risk` for 0.975.
fn risk_name(q: f64) -> String {
    let pct = (q * 1000.0).round() / 10.0;
    if pct.fract() == 0.0 {
        format!("p{}_risk", pct as i64)
    } else {
        format!("p{pct}_risk")
    }
}

impl Metric for Forecast {
    fn name(&self) -> &str {
        KIND
    }

    fn update(&mut self, preds: &Tensor, target: &Tensor) -> Result<()> {
        self.accumulate(preds, target, |_| true)
    }

    fn compute(&self) -> Result<Vec<(String, f64)>> {
        let s = &self.sums;
        if s.n == 0 {
            return Ok(Vec::new());
        }
        let n = s.n as f64;
        let mut out = Vec::new();
        if let Some(q) = &self.quantiles {
            out.push(("quantile_loss".to_string(), 2.0 * s.pinball / (q.len() as f64 * n)));
            if s.abs_target > 0.0 {
                for (qv, l) in q.iter().zip(&s.per_quantile) {
                    out.push((risk_name(*qv), 2.0 * l / s.abs_target));
                }
            }
        }
        let r2 = if s.m2 == 0.0 {
            if s.sq == 0.0 {
                1.0
            } else {
                0.0
            }
        } else {
            1.0 - s.sq / s.m2
        };
        out.extend([
            ("mae".to_string(), s.abs / n),
            ("mse".to_string(), s.sq / n),
            ("rmse".to_string(), (s.sq / n).sqrt()),
            ("smape".to_string(), s.smape / n),
            ("r2".to_string(), r2),
        ]);
        Ok(out)
    }

    fn reset(&mut self) {
        self.sums = Sums { per_quantile: vec![0.0; self.quantiles.as_ref().map_or(0, Vec::len)], ..Sums::default() };
    }

    fn state(&self) -> Value {
        let s = &self.sums;
        json!({
            "kind": KIND,
            "config": self.config_json(),
            "n": s.n,
            "pinball": f64_json(s.pinball),
            "per_quantile": f64s_json(&s.per_quantile),
            "abs_target": f64_json(s.abs_target),
            "abs": f64_json(s.abs),
            "sq": f64_json(s.sq),
            "smape": f64_json(s.smape),
            "mean": f64_json(s.mean),
            "m2": f64_json(s.m2),
        })
    }

    fn load_state(&mut self, state: &Value) -> Result<()> {
        let r = StateReader::new(KIND, state)?;
        r.expect_config(&self.config_json())?;
        self.sums = Sums {
            n: r.u64("n")?,
            pinball: r.f64("pinball")?,
            per_quantile: r.f64s("per_quantile", self.quantiles.as_ref().map_or(0, Vec::len))?,
            abs_target: r.f64("abs_target")?,
            abs: r.f64("abs")?,
            sq: r.f64("sq")?,
            smape: r.f64("smape")?,
            mean: r.f64("mean")?,
            m2: r.f64("m2")?,
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::tests::{assert_same, feed_split, resume_split};
    use wrt_tensor::{DType, Generator};

    const QS: [f64; 3] = [0.1, 0.5, 0.9];

    #[test]
    fn hand_checked_quantile_loss() {
        // y = 1, forecasts 0, 2, 3 for q = 0.1, 0.5, 0.9: pinball 0.1, 0.5, 0.2 -> 2 * 0.8 / 3.
        let mut m = Forecast::quantiles(&QS).unwrap();
        m.update(&Tensor::from_vec(vec![0.0f32, 2.0, 3.0], &[1, 3]).unwrap(), &Tensor::from_vec(vec![1.0f32], &[1]).unwrap()).unwrap();
        let out: std::collections::BTreeMap<_, _> = m.compute().unwrap().into_iter().collect();
        assert!((out["quantile_loss"] - 1.6 / 3.0).abs() < 1e-15);
        assert_eq!(out["mae"], 1.0); // median forecast 2
        assert_eq!(out["r2"], 0.0); // constant target, imperfect forecast
        // q-risk: 2 * pinball_q / |y|
        assert!((out["p10_risk"] - 0.2).abs() < 1e-15 && (out["p50_risk"] - 1.0).abs() < 1e-15 && (out["p90_risk"] - 0.4).abs() < 1e-15);
        assert_eq!(risk_name(0.02), "p2_risk");
        assert_eq!(risk_name(0.975), "p97.5_risk");
    }

    #[test]
    fn lengths_mask_padded_steps() {
        let mut m = Forecast::point();
        let p = Tensor::from_vec(vec![1.0f32, 100.0, 2.0, 3.0], &[2, 2]).unwrap();
        let y = Tensor::from_vec(vec![0.0f32, 0.0, 2.0, 0.0], &[2, 2]).unwrap();
        m.update_with_lengths(&p, &y, &[1, 2]).unwrap();
        let out: std::collections::BTreeMap<_, _> = m.compute().unwrap().into_iter().collect();
        assert_eq!(out["mae"], 4.0 / 3.0);
        assert!(m.update_with_lengths(&p, &y, &[3, 1]).unwrap_err().to_string().contains("exceeds"));
        assert!(m.update_with_lengths(&p, &y, &[1]).is_err());
    }

    #[test]
    fn nearest_quantile_is_the_point_forecast() {
        assert_eq!(Forecast::quantiles(&[0.1, 0.4, 0.6, 0.9]).unwrap().point_index, 1);
        assert_eq!(Forecast::quantiles(&[0.02, 0.1, 0.25, 0.5, 0.75, 0.9, 0.98]).unwrap().point_index, 3);
        assert!(Forecast::quantiles(&[1.5]).is_err());
    }

    #[test]
    fn batches_resume_and_errors() {
        let mut g = Generator::new(4);
        let p = g.normal(&[9, 4, 3], 0.0, 1.0, DType::F32).unwrap();
        let y = g.normal(&[9, 4], 0.0, 1.0, DType::F32).unwrap();
        let mk = || Forecast::quantiles(&QS).unwrap();
        assert_same(&feed_split(mk(), &p, &y, &[9]), &feed_split(mk(), &p, &y, &[4, 4, 1]));
        resume_split(mk, &p, &y, &[2, 7]);
        let e = mk().update(&y, &y).unwrap_err().to_string();
        assert!(e.contains("forecast") && e.contains("[9, 4]") && e.contains("[3] quantiles"), "{e}");
        let mut saved = mk().state();
        saved["config"] = json!({"quantiles": null});
        assert!(mk().load_state(&saved).unwrap_err().to_string().contains("config"));
    }
}
