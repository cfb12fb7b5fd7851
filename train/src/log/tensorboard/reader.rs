//! A small reader for the event files we write: TFRecord framing with both CRCs checked, then the `Event`
//! fields this module's writer uses. It exists so that tests (which cannot run Python) and `wrt-train`
//! can verify a run directory; the real check against TensorBoard is tools/tensorboard/readback.py.

use super::proto::{fields, Wire};
use super::record::unframe;
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub wall_time: f64,
    pub step: i64,
    pub what: EventKind,
}

#[derive(Clone, Debug, PartialEq)]
pub enum EventKind {
    FileVersion(String),
    Summary(Vec<SummaryValue>),
    /// `SessionLog` with its status (1 = START, which purges later steps of earlier files).
    SessionLog(u64),
    /// A field this reader does not interpret (graph, tagged run metadata, ...).
    Other,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SummaryValue {
    pub tag: String,
    /// `metadata.plugin_data`: plugin name and content, when present.
    pub plugin: Option<(String, Vec<u8>)>,
    pub value: ValueKind,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ValueKind {
    Simple(f32),
    Image { height: u32, width: u32, colorspace: u32, png: Vec<u8> },
    /// A string tensor's `string_val` elements (what text summaries hold).
    Strings(Vec<Vec<u8>>),
    /// No value (the hparams summaries carry only metadata).
    None,
}

fn bad(what: &str, msg: &str) -> Error {
    Error::Log(format!("{what}: {msg}"))
}

fn decode_plugin(metadata: &[u8], what: &str) -> Result<Option<(String, Vec<u8>)>> {
    for (f, w) in fields(metadata, what)? {
        if let (1, Wire::Len(pd)) = (f, w) {
            let (mut name, mut content) = (String::new(), Vec::new());
            for (f, w) in fields(pd, what)? {
                match (f, w) {
                    (1, w) => name = w.as_str().ok_or_else(|| bad(what, "plugin_name is not UTF-8"))?.to_string(),
                    (2, Wire::Len(b)) => content = b.to_vec(),
                    _ => {}
                }
            }
            return Ok(Some((name, content)));
        }
    }
    Ok(None)
}

fn decode_value(buf: &[u8], what: &str) -> Result<SummaryValue> {
    let mut v = SummaryValue { tag: String::new(), plugin: None, value: ValueKind::None };
    for (f, w) in fields(buf, what)? {
        match (f, w) {
            (1, w) => v.tag = w.as_str().ok_or_else(|| bad(what, "tag is not UTF-8"))?.to_string(),
            (2, Wire::Fixed32(b)) => v.value = ValueKind::Simple(f32::from_bits(b)),
            (4, Wire::Len(img)) => {
                let (mut height, mut width, mut colorspace, mut png) = (0, 0, 0, Vec::new());
                for (f, w) in fields(img, what)? {
                    match (f, w) {
                        (1, Wire::Varint(x)) => height = x as u32,
                        (2, Wire::Varint(x)) => width = x as u32,
                        (3, Wire::Varint(x)) => colorspace = x as u32,
                        (4, Wire::Len(b)) => png = b.to_vec(),
                        _ => {}
                    }
                }
                v.value = ValueKind::Image { height, width, colorspace, png };
            }
            (8, Wire::Len(t)) => {
                let strings = fields(t, what)?.into_iter().filter(|(f, _)| *f == 8).filter_map(|(_, w)| w.as_bytes());
                v.value = ValueKind::Strings(strings.map(<[u8]>::to_vec).collect());
            }
            (9, Wire::Len(md)) => v.plugin = decode_plugin(md, what)?,
            _ => {}
        }
    }
    Ok(v)
}

/// Decode one serialized `Event`.
pub fn decode_event(buf: &[u8], what: &str) -> Result<Event> {
    let mut e = Event { wall_time: 0.0, step: 0, what: EventKind::Other };
    for (f, w) in fields(buf, what)? {
        match (f, w) {
            (1, Wire::Fixed64(b)) => e.wall_time = f64::from_bits(b),
            (2, Wire::Varint(s)) => e.step = s as i64,
            (3, w) => e.what = EventKind::FileVersion(w.as_str().ok_or_else(|| bad(what, "file_version is not UTF-8"))?.into()),
            (5, Wire::Len(s)) => {
                let values = fields(s, what)?.into_iter().filter(|(f, _)| *f == 1);
                let values = values.map(|(_, w)| decode_value(w.as_bytes().unwrap_or(&[]), what));
                e.what = EventKind::Summary(values.collect::<Result<_>>()?);
            }
            (7, Wire::Len(s)) => {
                let status = fields(s, what)?.iter().find(|(f, _)| *f == 1).and_then(|(_, w)| w.as_u64());
                e.what = EventKind::SessionLog(status.unwrap_or(0));
            }
            _ => {}
        }
    }
    Ok(e)
}

/// Read every event of one file, checking the framing and CRCs.
pub fn read_event_file(path: &Path) -> Result<Vec<Event>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let what = path.display().to_string();
    unframe(&bytes, &what)?.into_iter().map(|rec| decode_event(rec, &what)).collect()
}

/// The `events.out.tfevents.*` files of a directory, in name order (the order TensorBoard reads them: the
/// name starts with the creation time).
pub fn event_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        let is_events = path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("events.out.tfevents."));
        if is_events && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Scalars by tag, `(step, value)` in file order, over all event files of `dir`, with TensorBoard's purge
/// rule applied: a `SessionLog START` at step s drops the points with step >= s read before it.
pub fn read_scalars(dir: &Path) -> Result<BTreeMap<String, Vec<(i64, f32)>>> {
    let mut out: BTreeMap<String, Vec<(i64, f32)>> = BTreeMap::new();
    for file in event_files(dir)? {
        for e in read_event_file(&file)? {
            match e.what {
                EventKind::SessionLog(1) => out.values_mut().for_each(|pts| pts.retain(|&(s, _)| s < e.step)),
                EventKind::Summary(values) => {
                    for v in values {
                        if let ValueKind::Simple(x) = v.value {
                            out.entry(v.tag).or_default().push((e.step, x));
                        }
                    }
                }
                _ => {}
            }
        }
    }
    Ok(out)
}
