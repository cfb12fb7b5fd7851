//! Metric state as JSON that resumes bit for bit. Counts are JSON integers (u64 is exact in serde_json);
//! f64 accumulators are strings holding Rust's shortest round-trip form (`"0.1"`, `"NaN"`, `"-inf"`),
//! because serde_json parses JSON numbers to the nearest f64 only with its `float_roundtrip` feature, and
//! JSON has no NaN or infinity at all.

use crate::{Error, Result};
use serde_json::{json, Map, Value};

pub(crate) fn f64_json(v: f64) -> Value {
    Value::String(format!("{v:?}"))
}

pub(crate) fn f64s_json(v: &[f64]) -> Value {
    Value::Array(v.iter().map(|x| f64_json(*x)).collect())
}

pub(crate) fn u64s_json(v: &[u64]) -> Value {
    json!(v)
}

/// Reads one metric's saved state: checks its kind, then hands out fields by name with errors that say
/// which metric, which field and what was found.
pub(crate) struct StateReader<'a> {
    metric: &'a str,
    obj: &'a Map<String, Value>,
}

impl<'a> StateReader<'a> {
    pub(crate) fn new(metric: &'a str, state: &'a Value) -> Result<StateReader<'a>> {
        let obj = state
            .as_object()
            .ok_or_else(|| Error::Metric(format!("{metric}: saved state must be a JSON object, found {}", short(state))))?;
        let r = StateReader { metric, obj };
        let kind = r.field("kind")?;
        if kind.as_str() != Some(metric) {
            return Err(r.err(format!("saved state is for metric {}, not {metric}", short(kind))));
        }
        Ok(r)
    }

    pub(crate) fn err(&self, msg: String) -> Error {
        Error::Metric(format!("{}: {msg}", self.metric))
    }

    pub(crate) fn field(&self, key: &str) -> Result<&'a Value> {
        self.obj.get(key).ok_or_else(|| self.err(format!("saved state has no field '{key}'")))
    }

    pub(crate) fn u64(&self, key: &str) -> Result<u64> {
        let v = self.field(key)?;
        v.as_u64().ok_or_else(|| self.err(format!("state field '{key}' must be a non-negative integer, found {}", short(v))))
    }

    pub(crate) fn f64(&self, key: &str) -> Result<f64> {
        parse_f64(self.field(key)?).ok_or_else(|| self.bad(key, "a float written as a string"))
    }

    pub(crate) fn u64s(&self, key: &str, len: usize) -> Result<Vec<u64>> {
        let v = self.array(key, len)?;
        v.iter().map(|x| x.as_u64().ok_or_else(|| self.bad(key, "an array of non-negative integers"))).collect()
    }

    pub(crate) fn f64s(&self, key: &str, len: usize) -> Result<Vec<f64>> {
        let v = self.array(key, len)?;
        v.iter().map(|x| parse_f64(x).ok_or_else(|| self.bad(key, "an array of floats written as strings"))).collect()
    }

    /// A u64 array whose length is not fixed by the config (a growing buffer).
    pub(crate) fn u64s_any(&self, key: &str) -> Result<Vec<u64>> {
        let v = self.field(key)?;
        let a = v.as_array().ok_or_else(|| self.bad(key, "an array"))?;
        a.iter().map(|x| x.as_u64().ok_or_else(|| self.bad(key, "an array of non-negative integers"))).collect()
    }

    /// The saved config must equal this metric's: resuming into a differently configured metric would
    /// silently mix two definitions.
    pub(crate) fn expect_config(&self, mine: &Value) -> Result<()> {
        let saved = self.field("config")?;
        if saved != mine {
            return Err(self.err(format!("saved state was made with config {saved}, this metric has {mine}")));
        }
        Ok(())
    }

    fn array(&self, key: &str, len: usize) -> Result<&'a Vec<Value>> {
        let v = self.field(key)?;
        let a = v.as_array().ok_or_else(|| self.bad(key, "an array"))?;
        if a.len() != len {
            return Err(self.err(format!("state field '{key}' has {} entries, expected {len}", a.len())));
        }
        Ok(a)
    }

    fn bad(&self, key: &str, expected: &str) -> Error {
        self.err(format!("state field '{key}' must be {expected}, found {}", short(self.obj.get(key).unwrap_or(&Value::Null))))
    }
}

fn parse_f64(v: &Value) -> Option<f64> {
    v.as_str()?.parse::<f64>().ok()
}

/// A JSON value cut to a readable length for an error message.
fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 80 {
        format!("{}...", s.chars().take(77).collect::<String>())
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f64_round_trips_exactly_including_non_finite() {
        let vals = [0.1, 1.0 / 3.0, -2.5e-300, 5e-324, f64::MAX, f64::INFINITY, f64::NEG_INFINITY, 0.0, -0.0];
        let text = serde_json::to_string(&json!({"kind": "t", "x": f64s_json(&vals)})).unwrap();
        let back: Value = serde_json::from_str(&text).unwrap();
        let r = StateReader::new("t", &back).unwrap();
        let got = r.f64s("x", vals.len()).unwrap();
        for (a, b) in vals.iter().zip(&got) {
            assert_eq!(a.to_bits(), b.to_bits());
        }
        let nan = f64_json(f64::NAN);
        assert!(parse_f64(&nan).unwrap().is_nan());
    }

    #[test]
    fn wrong_kind_and_missing_fields_are_named() {
        let v = json!({"kind": "other"});
        let e = StateReader::new("mine", &v).err().unwrap().to_string();
        assert!(e.contains("mine") && e.contains("other"), "{e}");
        let v = json!({"kind": "mine"});
        let r = StateReader::new("mine", &v).unwrap();
        let e = r.u64("n").unwrap_err().to_string();
        assert!(e.contains("'n'"), "{e}");
        assert!(StateReader::new("mine", &json!([1])).is_err());
    }
}
