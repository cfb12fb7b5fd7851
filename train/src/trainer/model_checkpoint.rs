//! ModelCheckpoint: which checkpoints to keep (top-k by a monitored metric, `last`) and what to call them
//! (Lightning's filename templates). The trainer asks `plan` what to write and `commit` records it.

use super::config::{CheckpointConfig, MonitorMode};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The best-k table and the paths written, saved in every checkpoint so a resumed run keeps ranking.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CheckpointState {
    /// (path, score) of the kept checkpoints.
    pub best_k: Vec<(String, f64)>,
    pub best_model_path: Option<String>,
    pub best_model_score: Option<f64>,
    pub last_model_path: Option<String>,
    /// The latest file written when there is no monitor (kept one at a time).
    pub latest: Vec<String>,
}

pub struct ModelCheckpoint {
    pub cfg: CheckpointConfig,
    pub dir: PathBuf,
    pub state: CheckpointState,
}

/// What to do at one checkpointing event.
pub struct SavePlan {
    /// Write the checkpoint here (None: this event does not make the top k).
    pub path: Option<PathBuf>,
    /// Remove these older files after writing.
    pub remove: Vec<PathBuf>,
    pub last: Option<PathBuf>,
}

impl ModelCheckpoint {
    pub fn new(cfg: CheckpointConfig, default_dir: &Path) -> ModelCheckpoint {
        let dir = cfg.dirpath.as_ref().map(PathBuf::from).unwrap_or_else(|| default_dir.to_path_buf());
        ModelCheckpoint { cfg, dir, state: CheckpointState::default() }
    }

    /// Decide the files for an event at `epoch`/`step` with the current `metrics`.
    pub fn plan(&self, epoch: u64, step: u64, metrics: &BTreeMap<String, f64>) -> Result<SavePlan> {
        let last = self.cfg.save_last.then(|| self.dir.join("last.ckpt"));
        let mut plan = SavePlan { path: None, remove: Vec::new(), last };
        if self.cfg.save_top_k == 0 {
            return Ok(plan);
        }
        let name = format_name(self.cfg.filename.as_deref(), epoch, step, metrics)?;
        let path = self.dir.join(format!("{name}.ckpt"));
        let Some(monitor) = &self.cfg.monitor else {
            // no monitor: keep the newest file only (Lightning's default save_top_k=1)
            plan.remove = self.state.latest.iter().map(PathBuf::from).filter(|p| *p != path).collect();
            plan.path = Some(path);
            return Ok(plan);
        };
        let Some(&score) = metrics.get(monitor) else {
            return Err(Error::checkpoint(
                &self.dir,
                format!("ModelCheckpoint(monitor='{monitor}') found no such logged metric; logged: {}", keys(metrics)),
            ));
        };
        if score.is_nan() {
            return Ok(plan);
        }
        let k = self.cfg.save_top_k;
        if k < 0 || (self.state.best_k.len() as i64) < k {
            plan.path = Some(path);
            return Ok(plan);
        }
        let worst = self.worst();
        if let Some((wp, ws)) = worst {
            if self.cfg.mode.better(score, ws) {
                plan.path = Some(path.clone());
                if Path::new(&wp) != path {
                    plan.remove.push(PathBuf::from(wp));
                }
            }
        }
        Ok(plan)
    }

    /// Record that `plan` was carried out with this `score`.
    pub fn commit(&mut self, plan: &SavePlan, score: Option<f64>) {
        if let Some(p) = &plan.path {
            let ps = p.display().to_string();
            let removed: Vec<String> = plan.remove.iter().map(|r| r.display().to_string()).collect();
            match (self.cfg.monitor.is_some(), score) {
                (true, Some(s)) => {
                    self.state.best_k.retain(|(q, _)| q != &ps && !removed.contains(q));
                    self.state.best_k.push((ps.clone(), s));
                    let mode = self.cfg.mode;
                    let (bp, bs) = self.state.best_k.iter().cloned().reduce(|a, b| if mode.better(b.1, a.1) { b } else { a }).unwrap();
                    self.state.best_model_path = Some(bp);
                    self.state.best_model_score = Some(bs);
                }
                _ => {
                    self.state.latest = vec![ps.clone()];
                    self.state.best_model_path = Some(ps);
                }
            }
        }
        if let Some(l) = &plan.last {
            self.state.last_model_path = Some(l.display().to_string());
        }
    }

    fn worst(&self) -> Option<(String, f64)> {
        let mode = self.cfg.mode;
        self.state.best_k.iter().cloned().reduce(|a, b| if mode.better(a.1, b.1) { b } else { a })
    }

    pub fn mode(&self) -> MonitorMode {
        self.cfg.mode
    }
}

fn keys(m: &BTreeMap<String, f64>) -> String {
    if m.is_empty() {
        "none".into()
    } else {
        m.keys().cloned().collect::<Vec<_>>().join(", ")
    }
}

/// Lightning's `format_checkpoint_name`: `{name}` or `{name:spec}` becomes `name=value` (the name is not
/// repeated when the template already writes `name=` before the brace, so `epoch={epoch}` and `{epoch}`
/// both give `epoch=3`). `epoch` and `step` are integers; metrics are f64 formatted by `spec` (`.4f`,
/// `.2e`, `03d`) or, without one, like Python's `repr` of a float. No template: `epoch={epoch}-step={step}`.
pub fn format_name(template: Option<&str>, epoch: u64, step: u64, metrics: &BTreeMap<String, f64>) -> Result<String> {
    let t = template.unwrap_or("{epoch}-{step}");
    let mut out = String::new();
    let mut rest = t;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}').ok_or_else(|| bad_template(t, "a '{' without its '}'"))? + open;
        let field = &rest[open + 1..close];
        let (name, spec) = match field.split_once(':') {
            Some((n, s)) => (n.trim(), Some(s)),
            None => (field.trim(), None),
        };
        let value = match name {
            "epoch" => Value::Int(epoch as i64),
            "step" => Value::Int(step as i64),
            _ => Value::Float(*metrics.get(name).ok_or_else(|| {
                bad_template(t, &format!("'{{{name}}}' is not a logged metric (logged: {}; also epoch, step)", keys(metrics)))
            })?),
        };
        if !out.ends_with(&format!("{name}=")) {
            out.push_str(name);
            out.push('=');
        }
        out.push_str(&value.format(spec).map_err(|m| bad_template(t, &m))?);
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn bad_template(t: &str, msg: &str) -> Error {
    Error::ConfigKey { file: "checkpoint".into(), line: None, key: format!("filename '{t}'"), msg: msg.into() }
}

enum Value {
    Int(i64),
    Float(f64),
}

impl Value {
    /// A small subset of Python's format mini-language: `[0][width][.prec](d|f|e|g)`.
    fn format(&self, spec: Option<&str>) -> std::result::Result<String, String> {
        let Some(spec) = spec.filter(|s| !s.is_empty()) else {
            return Ok(match self {
                Value::Int(i) => i.to_string(),
                Value::Float(f) => python_repr(*f),
            });
        };
        let (body, kind) = spec.split_at(spec.len() - 1);
        let zero = body.starts_with('0');
        let (width, prec) = match body.split_once('.') {
            Some((w, p)) => (w, Some(p.parse::<usize>().map_err(|_| format!("bad precision in '{spec}'"))?)),
            None => (body, None),
        };
        let width: usize = if width.is_empty() { 0 } else { width.parse().map_err(|_| format!("bad width in '{spec}'"))? };
        let x = match self {
            Value::Int(i) => *i as f64,
            Value::Float(f) => *f,
        };
        let s = match kind {
            "d" => match self {
                Value::Int(i) => i.to_string(),
                Value::Float(_) => return Err(format!("'{spec}': 'd' needs an integer")),
            },
            "f" => format!("{:.*}", prec.unwrap_or(6), x),
            "e" => python_exp(x, prec.unwrap_or(6)),
            "g" => python_repr(x),
            _ => return Err(format!("unsupported format '{spec}' (use d, f, e or g)")),
        };
        Ok(if s.len() >= width {
            s
        } else if zero {
            let (sign, digits) = if let Some(d) = s.strip_prefix('-') { ("-", d) } else { ("", s.as_str()) };
            format!("{sign}{}{digits}", "0".repeat(width - s.len()))
        } else {
            format!("{}{s}", " ".repeat(width - s.len()))
        })
    }
}

/// Python's `repr(float)`: the shortest round-trip digits, with `.0` on integral values and exponent form
/// below 1e-4 or from 1e16.
fn python_repr(x: f64) -> String {
    if !x.is_finite() {
        return if x.is_nan() { "nan".into() } else if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let a = x.abs();
    if a != 0.0 && !(1e-4..1e16).contains(&a) {
        let s = format!("{x:e}");
        let (m, e) = s.split_once('e').unwrap();
        let e: i32 = e.parse().unwrap();
        return format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs());
    }
    let s = format!("{x}");
    if s.contains('.') {
        s
    } else {
        format!("{s}.0")
    }
}

/// Python's `format(x, '.Ne')`: mantissa with N decimals, exponent signed with at least two digits.
fn python_exp(x: f64, prec: usize) -> String {
    let s = format!("{:.*e}", prec, x);
    let (m, e) = s.split_once('e').unwrap();
    let e: i32 = e.parse().unwrap();
    format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn templates_format_like_lightning() {
        let mt = m(&[("val_loss", 0.53125), ("val_acc", 0.875)]);
        assert_eq!(format_name(None, 3, 120, &mt).unwrap(), "epoch=3-step=120");
        assert_eq!(format_name(Some("satformer-{epoch}-{val_loss}"), 3, 0, &mt).unwrap(), "satformer-epoch=3-val_loss=0.53125");
        assert_eq!(
            format_name(Some("tft-epoch={epoch}-val_loss={val_loss:.4f}"), 7, 0, &mt).unwrap(),
            "tft-epoch=7-val_loss=0.5312"
        );
        assert_eq!(format_name(Some("m-{epoch:02d}-{val_acc:.2e}"), 4, 0, &mt).unwrap(), "m-epoch=04-val_acc=8.75e-01");
        assert_eq!(format_name(Some("{val_loss}"), 0, 0, &m(&[("val_loss", 1.0)])).unwrap(), "val_loss=1.0");
        assert_eq!(format_name(Some("{val_loss}"), 0, 0, &m(&[("val_loss", 1e-5)])).unwrap(), "val_loss=1e-05");
        let e = format_name(Some("{val_los}"), 0, 0, &mt).unwrap_err().to_string();
        assert!(e.contains("val_los") && e.contains("val_loss"), "{e}");
        assert!(format_name(Some("{epoch"), 0, 0, &mt).is_err());
        assert!(format_name(Some("{val_loss:.2q}"), 0, 0, &mt).is_err());
    }

    #[test]
    fn top_k_keeps_the_best_and_removes_the_worst() {
        let cfg = CheckpointConfig { monitor: Some("val_loss".into()), save_top_k: 2, filename: Some("{epoch}".into()), ..Default::default() };
        let mut mc = ModelCheckpoint::new(cfg, Path::new("/tmp/ck"));
        let mut kept = Vec::new();
        for (epoch, loss) in [(0, 0.9), (1, 0.7), (2, 0.8), (3, 0.95), (4, 0.5)] {
            let plan = mc.plan(epoch, 0, &m(&[("val_loss", loss)])).unwrap();
            mc.commit(&plan, Some(loss));
            if let Some(p) = &plan.path {
                kept.push(p.file_name().unwrap().to_string_lossy().to_string());
            }
            kept.retain(|k| !plan.remove.iter().any(|r| r.file_name().unwrap().to_string_lossy() == *k));
        }
        assert_eq!(kept, vec!["epoch=1.ckpt", "epoch=4.ckpt"]);
        assert_eq!(mc.state.best_model_score, Some(0.5));
        assert!(mc.state.best_model_path.as_deref().unwrap().ends_with("epoch=4.ckpt"));
        let missing = mc.plan(5, 0, &m(&[("train_loss", 1.0)])).err().unwrap().to_string();
        assert!(missing.contains("val_loss") && missing.contains("train_loss"), "{missing}");
    }
}
