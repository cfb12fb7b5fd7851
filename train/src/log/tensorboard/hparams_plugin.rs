//! The hparams plugin's three summaries, as `torch.utils.tensorboard.summary.hparams` writes them, and
//! their decoding for read-back tests. Layouts (tensorboard/plugins/hparams/plugin_data.proto, api.proto,
//! google/protobuf/struct.proto):
//!
//! ```text
//! HParamsPluginData { int32 version = 1; oneof data { Experiment experiment = 2;
//!                     SessionStartInfo session_start_info = 3; SessionEndInfo session_end_info = 4; } }
//! Experiment        { repeated HParamInfo hparam_infos = 4; repeated MetricInfo metric_infos = 5; }
//! HParamInfo        { string name = 1; DataType type = 4; }      STRING = 1, BOOL = 2, FLOAT64 = 3
//! MetricInfo        { MetricName name = 1; }   MetricName { string group = 1; string tag = 2; }
//! SessionStartInfo  { map<string, google.protobuf.Value> hparams = 1; }   (entry: key = 1, value = 2)
//! Value             { oneof kind { double number_value = 2; string string_value = 3; bool bool_value = 4; } }
//! SessionEndInfo    { Status status = 1; }                       STATUS_SUCCESS = 1
//! ```
//!
//! torch tests `isinstance(v, (int, float))` before `bool`, so a Python bool is stored as a number; the
//! caller's flattening (`log::hparams::flatten`) does the same.

use super::event;
use super::proto::{fields, Msg, Wire};
use crate::{Error, Result};

pub const PLUGIN_NAME: &str = "hparams";
pub const EXPERIMENT_TAG: &str = "_hparams_/experiment";
pub const SESSION_START_INFO_TAG: &str = "_hparams_/session_start_info";
pub const SESSION_END_INFO_TAG: &str = "_hparams_/session_end_info";

pub const DATA_TYPE_STRING: u64 = 1;
pub const DATA_TYPE_BOOL: u64 = 2;
pub const DATA_TYPE_FLOAT64: u64 = 3;
pub const STATUS_SUCCESS: u64 = 1;

/// One hyperparameter's value as the plugin stores it.
#[derive(Clone, Debug, PartialEq)]
pub enum HParamValue {
    Number(f64),
    Str(String),
    Bool(bool),
}

fn value_msg(v: &HParamValue) -> Msg {
    let mut m = Msg::new();
    match v {
        HParamValue::Number(x) => m.double(2, *x),
        HParamValue::Str(s) => m.string(3, s),
        HParamValue::Bool(b) => m.varint(4, *b as u64),
    };
    m
}

fn plugin_data(field: u32, data: &Msg) -> Vec<u8> {
    // version = PLUGIN_DATA_VERSION = 0 is proto3's default, so it is not written.
    let mut m = Msg::new();
    m.message(field, data);
    m.into_bytes()
}

/// `HParamsPluginData{experiment}`: the hparam names with their types and the metric tags.
pub fn experiment_content(hparams: &[(String, HParamValue)], metric_tags: &[String]) -> Vec<u8> {
    let mut exp = Msg::new();
    for (name, v) in hparams {
        let ty = match v {
            HParamValue::Number(_) => DATA_TYPE_FLOAT64,
            HParamValue::Str(_) => DATA_TYPE_STRING,
            HParamValue::Bool(_) => DATA_TYPE_BOOL,
        };
        let mut info = Msg::new();
        info.string(1, name).varint(4, ty);
        exp.message(4, &info);
    }
    for tag in metric_tags {
        let mut name = Msg::new();
        name.string(2, tag);
        let mut info = Msg::new();
        info.message(1, &name);
        exp.message(5, &info);
    }
    plugin_data(2, &exp)
}

/// `HParamsPluginData{session_start_info}`: the values. Map entries are written sorted by key, as protobuf's
/// deterministic serialization does.
pub fn session_start_content(hparams: &[(String, HParamValue)]) -> Vec<u8> {
    let mut sorted: Vec<&(String, HParamValue)> = hparams.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut ssi = Msg::new();
    for (k, v) in sorted {
        let mut entry = Msg::new();
        entry.string(1, k).message(2, &value_msg(v));
        ssi.message(1, &entry);
    }
    plugin_data(3, &ssi)
}

/// `HParamsPluginData{session_end_info: {status: STATUS_SUCCESS}}` (torch always writes success).
pub fn session_end_content() -> Vec<u8> {
    let mut sei = Msg::new();
    sei.varint(1, STATUS_SUCCESS);
    plugin_data(4, &sei)
}

/// The three `Summary.Value`s in the order Lightning writes them (experiment, session start, session end),
/// each to go in its own event.
pub fn summaries(hparams: &[(String, HParamValue)], metric_tags: &[String]) -> [Msg; 3] {
    [
        event::plugin(EXPERIMENT_TAG, PLUGIN_NAME, &experiment_content(hparams, metric_tags)),
        event::plugin(SESSION_START_INFO_TAG, PLUGIN_NAME, &session_start_content(hparams)),
        event::plugin(SESSION_END_INFO_TAG, PLUGIN_NAME, &session_end_content()),
    ]
}

/// What one `HParamsPluginData` holds, decoded.
#[derive(Clone, Debug, PartialEq)]
pub enum HParamsData {
    /// hparam names with their `DataType`, and metric tags.
    Experiment { hparams: Vec<(String, u64)>, metrics: Vec<String> },
    SessionStart { hparams: Vec<(String, HParamValue)> },
    SessionEnd { status: u64 },
}

fn bad(msg: impl std::fmt::Display) -> Error {
    Error::Log(format!("hparams plugin data: {msg}"))
}

fn string_field(buf: &[u8], field: u32, what: &str) -> Result<String> {
    let mut out = String::new();
    for (f, w) in fields(buf, what)? {
        if f == field {
            out = w.as_str().ok_or_else(|| bad(format!("{what}: field {field} is not a UTF-8 string")))?.to_string();
        }
    }
    Ok(out)
}

fn decode_value(buf: &[u8]) -> Result<HParamValue> {
    let mut out = None;
    for (f, w) in fields(buf, "google.protobuf.Value")? {
        out = match (f, w) {
            (2, Wire::Fixed64(b)) => Some(HParamValue::Number(f64::from_bits(b))),
            (3, w) => Some(HParamValue::Str(w.as_str().ok_or_else(|| bad("string_value is not UTF-8"))?.to_string())),
            (4, Wire::Varint(b)) => Some(HParamValue::Bool(b != 0)),
            _ => out,
        };
    }
    out.ok_or_else(|| bad("a Value with none of number_value, string_value, bool_value"))
}

/// Decode the `content` of a hparams plugin summary.
pub fn decode(content: &[u8]) -> Result<HParamsData> {
    let mut out = None;
    for (f, w) in fields(content, "HParamsPluginData")? {
        let Some(body) = w.as_bytes() else { continue };
        match f {
            2 => {
                let (mut hparams, mut metrics) = (Vec::new(), Vec::new());
                for (f, w) in fields(body, "Experiment")? {
                    let Some(b) = w.as_bytes() else { continue };
                    if f == 4 {
                        let name = string_field(b, 1, "HParamInfo")?;
                        let ty = fields(b, "HParamInfo")?.iter().find(|(f, _)| *f == 4).and_then(|(_, w)| w.as_u64());
                        hparams.push((name, ty.unwrap_or(0)));
                    } else if f == 5 {
                        let name = fields(b, "MetricInfo")?.into_iter().find(|(f, _)| *f == 1).and_then(|(_, w)| w.as_bytes());
                        metrics.push(string_field(name.unwrap_or(&[]), 2, "MetricName")?);
                    }
                }
                out = Some(HParamsData::Experiment { hparams, metrics });
            }
            3 => {
                let mut hparams = Vec::new();
                for (f, w) in fields(body, "SessionStartInfo")? {
                    if let (1, Some(entry)) = (f, w.as_bytes()) {
                        let (mut key, mut value) = (String::new(), None);
                        for (f, w) in fields(entry, "hparams map entry")? {
                            match f {
                                1 => key = w.as_str().ok_or_else(|| bad("hparam name is not UTF-8"))?.to_string(),
                                2 => value = Some(decode_value(w.as_bytes().unwrap_or(&[]))?),
                                _ => {}
                            }
                        }
                        hparams.push((key.clone(), value.ok_or_else(|| bad(format!("hparam {key} has no value")))?));
                    }
                }
                out = Some(HParamsData::SessionStart { hparams });
            }
            4 => {
                let status = fields(body, "SessionEndInfo")?.iter().find(|(f, _)| *f == 1).and_then(|(_, w)| w.as_u64());
                out = Some(HParamsData::SessionEnd { status: status.unwrap_or(0) });
            }
            _ => {}
        }
    }
    out.ok_or_else(|| bad("none of experiment, session_start_info, session_end_info is set"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<(String, HParamValue)> {
        vec![("lr".into(), HParamValue::Number(0.001)), ("model".into(), HParamValue::Str("tft".into()))]
    }

    #[test]
    fn decode_inverts_encode() {
        let hp = sample();
        let exp = decode(&experiment_content(&hp, &["hp_metric".into()])).unwrap();
        assert_eq!(
            exp,
            HParamsData::Experiment {
                hparams: vec![("lr".into(), DATA_TYPE_FLOAT64), ("model".into(), DATA_TYPE_STRING)],
                metrics: vec!["hp_metric".into()]
            }
        );
        assert_eq!(decode(&session_start_content(&hp)).unwrap(), HParamsData::SessionStart { hparams: hp });
        assert_eq!(decode(&session_end_content()).unwrap(), HParamsData::SessionEnd { status: STATUS_SUCCESS });
        assert!(decode(&[]).is_err());
    }

    #[test]
    fn session_end_known_bytes() {
        // HParamsPluginData(session_end_info=SessionEndInfo(status=STATUS_SUCCESS)).SerializeToString()
        assert_eq!(session_end_content(), vec![0x22, 0x02, 0x08, 0x01]);
    }
}
