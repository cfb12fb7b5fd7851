//! Hyperparameters for loggers: Lightning's flattening for TensorBoard (`_flatten_dict` then
//! `_sanitize_params`) and `hparams.yaml`.

use super::pyfmt::json_str;
use super::tensorboard::HParamValue;
use crate::{Error, Result};
use serde_json::Value;
use std::path::Path;

pub const HPARAMS_FILE: &str = "hparams.yaml";

/// Flatten nested objects into `a/b` keys (a list whose items are all objects becomes `a/0/..`, `a/1/..`),
/// then keep numbers and strings, turn bools into numbers (torch's `hparams` checks `(int, float)` first and
/// Python's bool is an int) and anything else (lists, null) into Python's `str()` of it. Order is the
/// object's key order.
pub fn flatten(hparams: &Value) -> Result<Vec<(String, HParamValue)>> {
    let Value::Object(map) = hparams else {
        return Err(Error::Log(format!("hparams must be a JSON object, found {hparams}")));
    };
    let mut out = Vec::new();
    for (k, v) in map {
        flatten_into(k, v, &mut out);
    }
    Ok(out)
}

fn flatten_into(key: &str, v: &Value, out: &mut Vec<(String, HParamValue)>) {
    match v {
        Value::Object(m) => m.iter().for_each(|(k, v)| flatten_into(&format!("{key}/{k}"), v, out)),
        Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_object) => {
            items.iter().enumerate().for_each(|(i, item)| flatten_into(&format!("{key}/{i}"), item, out))
        }
        Value::Number(n) => out.push((key.to_string(), HParamValue::Number(n.as_f64().unwrap_or(f64::NAN)))),
        Value::Bool(b) => out.push((key.to_string(), HParamValue::Number(*b as u8 as f64))),
        Value::String(s) => out.push((key.to_string(), HParamValue::Str(s.clone()))),
        other => out.push((key.to_string(), HParamValue::Str(json_str(other)))),
    }
}

/// Rebuild `v` as YAML with every mapping's keys sorted (PyYAML's `yaml.dump` default, which Lightning's
/// `save_hparams_to_yaml` uses), whatever order the JSON map kept.
fn sorted_yaml(v: &Value) -> serde_yaml::Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let mut out = serde_yaml::Mapping::new();
            for k in keys {
                out.insert(serde_yaml::Value::String(k.clone()), sorted_yaml(&m[k]));
            }
            serde_yaml::Value::Mapping(out)
        }
        Value::Array(a) => serde_yaml::Value::Sequence(a.iter().map(sorted_yaml).collect()),
        Value::Null => serde_yaml::Value::Null,
        Value::Bool(b) => serde_yaml::Value::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => serde_yaml::Value::Number(i.into()),
            (_, Some(u)) => serde_yaml::Value::Number(u.into()),
            _ => serde_yaml::Value::Number(n.as_f64().unwrap_or(f64::NAN).into()),
        },
        Value::String(s) => serde_yaml::Value::String(s.clone()),
    }
}

/// serde_yaml writes `1e-8` and `1e20` (YAML 1.2 floats), which PyYAML, a YAML 1.1 reader, loads as
/// strings: its float pattern needs a `.` and a signed exponent. Rewrite such plain scalars the way PyYAML's
/// own representer writes floats (`repr(x)`, with `.0` inserted before the `e`: `1.0e-08`, `1.0e+20`), so
/// `yaml.safe_load` of hparams.yaml gives numbers back, as it does for Lightning's file.
fn pyyaml_floats(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for line in text.lines() {
        let fixed = line.rsplit_once(' ').and_then(|(head, token)| {
            let after_marker = head.ends_with(':') || head.trim_start().trim_start_matches("- ").is_empty() || head.ends_with('-');
            let sci = token.contains(['e', 'E']) && !token.contains(['\'', '"']);
            let x: f64 = token.parse().ok().filter(|x: &f64| x.is_finite() && after_marker && sci)?;
            let r = super::pyfmt::float_repr(x);
            let r = if r.contains('.') { r } else { r.replacen('e', ".0e", 1) };
            Some(format!("{head} {r}"))
        });
        out.push_str(fixed.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

/// Write `{dir}/hparams.yaml` (replacing it).
pub fn write_yaml(dir: &Path, hparams: &Value) -> Result<()> {
    let path = dir.join(HPARAMS_FILE);
    let text = serde_yaml::to_string(&sorted_yaml(hparams)).map_err(|e| Error::Log(format!("{}: {e}", path.display())))?;
    std::fs::write(&path, pyyaml_floats(&text)).map_err(|e| Error::io(&path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn yaml_floats_load_as_numbers_in_pyyaml() {
        let hp = json!({"eps": 1e-8, "big": 1e20, "lr": 0.001, "s": "1e-8", "list": [1e-8, 2], "n": {"wd": 1e-5}});
        let text = pyyaml_floats(&serde_yaml::to_string(&sorted_yaml(&hp)).unwrap());
        // PyYAML's yaml.dump of the same dict spells the floats this way.
        for want in ["big: 1.0e+20", "eps: 1.0e-08", "lr: 0.001", "- 1.0e-08", "s: '1e-8'"] {
            assert!(text.lines().any(|l| l.trim() == want), "{want:?} not in\n{text}");
        }
        let back: serde_json::Value = serde_yaml::from_str(&text).unwrap();
        assert_eq!(back, hp);
    }

    #[test]
    fn flatten_like_lightning() {
        let hp = json!({"model": {"dim": 64, "heads": [1, 2]}, "opt": [{"lr": 0.1}, {"lr": 0.2}],
                        "name": "tft", "amp": true, "extra": null, "empty": []});
        let flat = flatten(&hp).unwrap();
        let get = |k: &str| flat.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        assert_eq!(get("model/dim"), Some(HParamValue::Number(64.0)));
        assert_eq!(get("model/heads"), Some(HParamValue::Str("[1, 2]".into())));
        assert_eq!(get("opt/1/lr"), Some(HParamValue::Number(0.2)));
        assert_eq!(get("name"), Some(HParamValue::Str("tft".into())));
        assert_eq!(get("amp"), Some(HParamValue::Number(1.0)));
        assert_eq!(get("extra"), Some(HParamValue::Str("None".into())));
        assert_eq!(get("empty"), Some(HParamValue::Str("[]".into())));
        assert_eq!(flat.len(), 8);
        assert!(flatten(&json!([1])).is_err());
    }
}
