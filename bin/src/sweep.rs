//! `wrt-train sweep`: trials over any flag or config key. A grid is the cartesian product of the listed
//! values (first key varies slowest); a random search draws N trials from lists (uniformly) and ranges
//! (`lo:hi` uniform, integer when both ends are; `log:lo:hi` log-uniform), seeded. Each trial becomes the
//! arguments of one `wrt-train train` child process.

use crate::error::CliError;

#[derive(Clone, Debug, PartialEq)]
pub enum Domain {
    List(Vec<String>),
    Uniform { lo: f64, hi: f64, int: bool },
    LogUniform { lo: f64, hi: f64 },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    /// A flag name (`lr`, `max_epochs`) or a dotted config key (`model.depth`).
    pub key: String,
    pub domain: Domain,
}

/// One trial: (key, value) in the order the parameters were given.
pub type Trial = Vec<(String, String)>;

fn usage(msg: String) -> CliError {
    CliError::Usage(format!("error: {msg}"))
}

/// `KEY=v1,v2,...`, `KEY=lo:hi`, `KEY=log:lo:hi`.
pub fn parse_param(s: &str) -> Result<Param, CliError> {
    let Some((key, spec)) = s.split_once('=') else {
        return Err(usage(format!("--grid `{s}`: expected KEY=VALUES (lr=1e-3,1e-4 or lr=log:1e-5:1e-2)")));
    };
    let key = key.trim().trim_start_matches("--").to_string();
    if key.is_empty() || spec.is_empty() {
        return Err(usage(format!("--grid `{s}`: expected KEY=VALUES")));
    }
    let num = |t: &str| t.trim().parse::<f64>().ok().filter(|x| x.is_finite());
    if let Some(r) = spec.strip_prefix("log:") {
        let parts: Vec<&str> = r.split(':').collect();
        return match (parts.len(), parts.first().and_then(|p| num(p)), parts.get(1).and_then(|p| num(p))) {
            (2, Some(lo), Some(hi)) if lo > 0.0 && hi > lo => Ok(Param { key, domain: Domain::LogUniform { lo, hi } }),
            _ => Err(usage(format!("--grid `{s}`: log ranges are log:LO:HI with 0 < LO < HI"))),
        };
    }
    let parts: Vec<&str> = spec.split(':').collect();
    if parts.len() == 2 && !spec.contains(',') {
        if let (Some(lo), Some(hi)) = (num(parts[0]), num(parts[1])) {
            if hi <= lo {
                return Err(usage(format!("--grid `{s}`: range LO:HI needs LO < HI")));
            }
            let int = parts.iter().all(|p| p.trim().parse::<i64>().is_ok());
            return Ok(Param { key, domain: Domain::Uniform { lo, hi, int } });
        }
    }
    let values: Vec<String> = spec.split(',').map(|v| v.trim().to_string()).collect();
    if values.iter().any(String::is_empty) {
        return Err(usage(format!("--grid `{s}`: empty value in the list")));
    }
    Ok(Param { key, domain: Domain::List(values) })
}

/// Every combination of the lists (first parameter slowest). Ranges need `--random`.
pub fn grid(params: &[Param]) -> Result<Vec<Trial>, CliError> {
    let mut trials: Vec<Trial> = vec![Vec::new()];
    for p in params {
        let Domain::List(values) = &p.domain else {
            return Err(usage(format!("--grid {}: a range can only be sampled; add --random N", p.key)));
        };
        trials = trials.into_iter().flat_map(|t| values.iter().map(move |v| { let mut t = t.clone(); t.push((p.key.clone(), v.clone())); t })).collect();
    }
    if trials.len() > 10_000 {
        return Err(usage(format!("the grid has {} trials; use --random N to sample it", trials.len())));
    }
    Ok(trials)
}

/// SplitMix64, seeded by --seed: reproducible trial draws without the tensor RNG.
pub(crate) struct Rng(pub(crate) u64);
impl Rng {
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A number short enough for a run name and exact enough for a hyperparameter (5 significant digits).
pub(crate) fn fmt_float(x: f64) -> String {
    let s = format!("{x:.4e}");
    // 1.0000e-4 -> 1e-4; YAML and Rust both read either form.
    match s.split_once('e') {
        Some((m, e)) => format!("{}e{e}", m.trim_end_matches('0').trim_end_matches('.')),
        None => s,
    }
}

/// `n` trials drawn independently.
pub fn random(params: &[Param], n: u32, seed: u64) -> Vec<Trial> {
    let mut rng = Rng(seed);
    (0..n)
        .map(|_| {
            params
                .iter()
                .map(|p| {
                    let v = match &p.domain {
                        Domain::List(values) => values[(rng.next_u64() % values.len() as u64) as usize].clone(),
                        Domain::Uniform { lo, hi, int: true } => {
                            let span = (hi - lo) as u64 + 1;
                            (*lo as i64 + (rng.next_u64() % span) as i64).to_string()
                        }
                        Domain::Uniform { lo, hi, int: false } => fmt_float(lo + (hi - lo) * rng.unit()),
                        Domain::LogUniform { lo, hi } => fmt_float((lo.ln() + (hi.ln() - lo.ln()) * rng.unit()).exp()),
                    };
                    (p.key.clone(), v)
                })
                .collect()
        })
        .collect()
}

/// The train arguments of a trial: a dotted key goes through `--set key=value`, a flag name as `--flag value`.
pub fn trial_args(trial: &Trial) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in trial {
        if k.contains('.') {
            out.push("--set".into());
            out.push(format!("{k}={v}"));
        } else {
            out.push(format!("--{k}"));
            out.push(v.clone());
        }
    }
    out
}

/// `key=value` pairs for display and the summary.
pub fn describe(trial: &Trial) -> String {
    trial.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_lists_and_ranges() {
        assert_eq!(parse_param("lr=1e-3,1e-4").unwrap().domain, Domain::List(vec!["1e-3".into(), "1e-4".into()]));
        assert_eq!(parse_param("depth=2:8").unwrap().domain, Domain::Uniform { lo: 2.0, hi: 8.0, int: true });
        assert_eq!(parse_param("lr=log:1e-5:1e-2").unwrap().domain, Domain::LogUniform { lo: 1e-5, hi: 1e-2 });
        assert_eq!(parse_param("attn=T->S,ST^2").unwrap().domain, Domain::List(vec!["T->S".into(), "ST^2".into()]));
        for bad in ["lr", "=1", "lr=", "lr=log:0:1", "lr=3:1", "lr=1,,2"] {
            assert!(parse_param(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn float_format_reads_back() {
        for x in [1e-4, 0.000123456, 3.0, 12345.678] {
            let s = fmt_float(x);
            let back: f64 = s.parse().unwrap();
            assert!((back - x).abs() <= x.abs() * 1e-4, "{x} -> {s}");
        }
        assert_eq!(fmt_float(1e-4), "1e-4");
    }
}
