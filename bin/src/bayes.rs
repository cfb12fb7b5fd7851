//! `wrt-train sweep --method bayes`: Bayesian optimisation of a logged metric over the sweep's parameters.
//! Each parameter maps to one coordinate of the unit cube (ranges linearly, `log:` ranges in log space,
//! lists by index), a Gaussian process with a squared-exponential kernel models the standardised
//! scores, and the next trial maximises expected improvement over random and near-best candidates. The
//! first `init` trials are random (the same draws as `--random`). Everything is seeded.

use crate::sweep::{self, Domain, Param, Trial};

/// Kernel length scale in unit-cube coordinates, and the noise added to the diagonal (standardised
/// scores): a trial re-run gives a slightly different score, and the Cholesky stays well conditioned.
const LENGTH: f64 = 0.2;
const NOISE: f64 = 1e-4;
const CANDIDATES: usize = 2048;

pub struct Bayes {
    params: Vec<Param>,
    rng: sweep::Rng,
    init: usize,
    maximize: bool,
    /// Unit-cube points of the trials handed out, and the scores observed for them (None: failed).
    xs: Vec<Vec<f64>>,
    ys: Vec<Option<f64>>,
}

impl Bayes {
    pub fn new(params: Vec<Param>, seed: u64, init: usize, maximize: bool) -> Bayes {
        Bayes { params, rng: sweep::Rng(seed), init: init.max(1), maximize, xs: Vec::new(), ys: Vec::new() }
    }

    /// The next trial to run.
    pub fn suggest(&mut self) -> Trial {
        let d = self.params.len();
        let seen: Vec<(Vec<f64>, f64)> = self.xs.iter().zip(&self.ys).filter_map(|(x, y)| Some((x.clone(), (*y)?))).collect();
        let u = if seen.len() < self.init.max(2) {
            (0..d).map(|_| self.rng.unit()).collect()
        } else {
            self.best_candidate(&seen)
        };
        self.xs.push(u.clone());
        self.ys.push(None);
        self.params.iter().zip(&u).map(|(p, &x)| (p.key.clone(), value_at(&p.domain, x))).collect()
    }

    /// The score of the last suggested trial (None: it failed or logged no metric).
    pub fn observe(&mut self, y: Option<f64>) {
        if let Some(last) = self.ys.last_mut() {
            *last = y.filter(|v| v.is_finite()).map(|v| if self.maximize { v } else { -v });
        }
    }

    fn best_candidate(&mut self, seen: &[(Vec<f64>, f64)]) -> Vec<f64> {
        let d = self.params.len();
        let ys: Vec<f64> = seen.iter().map(|s| s.1).collect();
        let mean = ys.iter().sum::<f64>() / ys.len() as f64;
        let sd = (ys.iter().map(|y| (y - mean).powi(2)).sum::<f64>() / ys.len() as f64).sqrt().max(1e-12);
        let z: Vec<f64> = ys.iter().map(|y| (y - mean) / sd).collect();
        let xs: Vec<&[f64]> = seen.iter().map(|s| s.0.as_slice()).collect();
        let Some(gp) = Gp::fit(&xs, &z) else { return (0..d).map(|_| self.rng.unit()).collect() };
        let best = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let at_best = seen[z.iter().position(|&v| v == best).unwrap_or(0)].0.clone();
        let mut top = (f64::NEG_INFINITY, at_best.clone());
        for i in 0..CANDIDATES {
            // three in four anywhere, one in four near the best point so far
            let c: Vec<f64> = if i % 4 == 3 {
                at_best.iter().map(|&x| (x + 0.1 * (self.rng.unit() - 0.5)).clamp(0.0, 1.0)).collect()
            } else {
                (0..d).map(|_| self.rng.unit()).collect()
            };
            let ei = gp.expected_improvement(&c, best);
            if ei > top.0 {
                top = (ei, c);
            }
        }
        top.1
    }
}

/// The parameter value at unit coordinate `x` (the mapping `--random` draws through).
pub fn value_at(domain: &Domain, x: f64) -> String {
    match domain {
        Domain::List(values) => values[((x * values.len() as f64) as usize).min(values.len() - 1)].clone(),
        Domain::Uniform { lo, hi, int: true } => ((lo + (hi - lo + 1.0) * x).floor().min(*hi) as i64).to_string(),
        Domain::Uniform { lo, hi, int: false } => sweep::fmt_float(lo + (hi - lo) * x),
        Domain::LogUniform { lo, hi } => sweep::fmt_float((lo.ln() + (hi.ln() - lo.ln()) * x).exp()),
    }
}

fn kernel(a: &[f64], b: &[f64]) -> f64 {
    let d2: f64 = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum();
    (-d2 / (2.0 * LENGTH * LENGTH)).exp()
}

/// A zero-mean GP posterior on standardised scores: the points, the Cholesky factor of K + noise I, and
/// alpha = (K + noise I)^-1 z.
struct Gp<'a> {
    xs: Vec<&'a [f64]>,
    l: Vec<Vec<f64>>,
    alpha: Vec<f64>,
}

impl<'a> Gp<'a> {
    fn fit(xs: &[&'a [f64]], z: &[f64]) -> Option<Gp<'a>> {
        let n = xs.len();
        let mut l = vec![vec![0.0; n]; n];
        for i in 0..n {
            for j in 0..=i {
                let mut s = kernel(xs[i], xs[j]) + if i == j { NOISE } else { 0.0 };
                for k in 0..j {
                    s -= l[i][k] * l[j][k];
                }
                if i == j {
                    if s <= 0.0 {
                        return None;
                    }
                    l[i][i] = s.sqrt();
                } else {
                    l[i][j] = s / l[j][j];
                }
            }
        }
        let y = forward(&l, z);
        let alpha = backward(&l, &y);
        Some(Gp { xs: xs.to_vec(), l, alpha })
    }

    /// Posterior mean and standard deviation at `x`.
    fn predict(&self, x: &[f64]) -> (f64, f64) {
        let k: Vec<f64> = self.xs.iter().map(|p| kernel(p, x)).collect();
        let mean = k.iter().zip(&self.alpha).map(|(a, b)| a * b).sum();
        let v = forward(&self.l, &k);
        let var = (1.0 - v.iter().map(|x| x * x).sum::<f64>()).max(1e-12);
        (mean, var.sqrt())
    }

    /// E[max(f(x) - best, 0)] under the posterior.
    fn expected_improvement(&self, x: &[f64], best: f64) -> f64 {
        let (mu, sigma) = self.predict(x);
        let z = (mu - best) / sigma;
        (mu - best) * normal_cdf(z) + sigma * (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt()
    }
}

/// Solve L y = b (L lower triangular).
fn forward(l: &[Vec<f64>], b: &[f64]) -> Vec<f64> {
    let mut y = vec![0.0; b.len()];
    for i in 0..b.len() {
        let s: f64 = (0..i).map(|k| l[i][k] * y[k]).sum();
        y[i] = (b[i] - s) / l[i][i];
    }
    y
}

/// Solve L^T x = y.
fn backward(l: &[Vec<f64>], y: &[f64]) -> Vec<f64> {
    let n = y.len();
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        let s: f64 = (i + 1..n).map(|k| l[k][i] * x[k]).sum();
        x[i] = (y[i] - s) / l[i][i];
    }
    x
}

/// Standard normal CDF through erfc (W. J. Cody's rational approximation is overkill here: Abramowitz and
/// Stegun 7.1.26, absolute error below 1.5e-7, is plenty for ranking candidates).
fn normal_cdf(z: f64) -> f64 {
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.3275911 * x);
    let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
    let erfc = poly * (-x * x).exp();
    if z >= 0.0 {
        1.0 - 0.5 * erfc
    } else {
        0.5 * erfc
    }
}

/// The best value of column `metric` in a run's `metrics.csv` (the newest `lightning_logs/version_N`).
pub fn best_logged(run_dir: &std::path::Path, metric: &str, maximize: bool) -> Option<f64> {
    let root = run_dir.join("lightning_logs");
    let n = std::fs::read_dir(&root).ok()?.flatten().filter_map(|e| e.file_name().to_str()?.strip_prefix("version_")?.parse::<u32>().ok()).max()?;
    let text = std::fs::read_to_string(root.join(format!("version_{n}")).join("metrics.csv")).ok()?;
    let mut lines = text.lines();
    let col = lines.next()?.split(',').position(|c| c == metric)?;
    let vals = lines.filter_map(|l| l.split(',').nth(col)?.parse::<f64>().ok()).filter(|v| v.is_finite());
    if maximize {
        vals.reduce(f64::max)
    } else {
        vals.reduce(f64::min)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A noise-free score peaked at lr = 3e-3 on a log range, with a second, lower bump at 3e-5: 12 Bayesian
    /// trials (4 random first) find a better lr than the median of 12 random trials for every seed, and the
    /// main peak (score > 0.9) for most.
    #[test]
    fn beats_random_search_on_a_peaked_objective() {
        let score = |lr: f64| {
            let x = lr.log10();
            (-(x + 2.5).powi(2) / 0.08).exp() + 0.5 * (-(x + 4.5).powi(2) / 0.2).exp()
        };
        let params = vec![sweep::parse_param("lr=log:1e-6:1e-1").unwrap()];
        let mut found_peak = 0;
        for seed in 0..5 {
            let mut b = Bayes::new(params.clone(), seed, 4, true);
            let mut best_bayes = f64::NEG_INFINITY;
            for _ in 0..12 {
                let t = b.suggest();
                let y = score(t[0].1.parse().unwrap());
                best_bayes = best_bayes.max(y);
                b.observe(Some(y));
            }
            let mut random: Vec<f64> = sweep::random(&params, 12, seed + 100).iter().map(|t| score(t[0].1.parse().unwrap())).collect();
            random.sort_by(f64::total_cmp);
            let median = random[6];
            println!("seed {seed}: bayes best {best_bayes:.3}, random median {median:.3}, random best {:.3}", random[11]);
            assert!(best_bayes > median, "seed {seed}: bayes {best_bayes} vs random median {median}");
            found_peak += usize::from(best_bayes > 0.9);
        }
        assert!(found_peak >= 3, "the main peak in {found_peak} of 5 seeds");
    }

    #[test]
    fn gp_interpolates_and_cdf_is_sane() {
        let pts = [vec![0.1], vec![0.5], vec![0.9]];
        let xs: Vec<&[f64]> = pts.iter().map(|p| p.as_slice()).collect();
        let z = [1.0, -0.5, 0.25];
        let gp = Gp::fit(&xs, &z).unwrap();
        for (p, want) in pts.iter().zip(z) {
            let (m, s) = gp.predict(p);
            assert!((m - want).abs() < 1e-2 && s < 0.05, "{m} {s}");
        }
        assert!(gp.predict(&[0.3]).1 > gp.predict(&[0.5]).1);
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7 && (normal_cdf(1.96) - 0.975).abs() < 1e-3 && normal_cdf(-8.0) < 1e-9);
    }

    #[test]
    fn values_map_like_the_domains() {
        assert_eq!(value_at(&Domain::List(vec!["a".into(), "b".into()]), 0.99), "b");
        assert_eq!(value_at(&Domain::Uniform { lo: 2.0, hi: 4.0, int: true }, 0.999), "4");
        assert_eq!(value_at(&Domain::LogUniform { lo: 1e-4, hi: 1e-2 }, 0.5), "1e-3");
    }
}
