//! Encoding the `tensorboard.Event` messages we write (field numbers from tensorboard/compat/proto/
//! event.proto and summary.proto):
//!
//! ```text
//! Event        { double wall_time = 1; int64 step = 2; oneof what { string file_version = 3;
//!                Summary summary = 5; SessionLog session_log = 7; } }
//! SessionLog   { SessionStatus status = 1; }                      START = 1
//! Summary      { repeated Value value = 1; }
//! Value        { string tag = 1; SummaryMetadata metadata = 9; oneof value { float simple_value = 2;
//!                Image image = 4; TensorProto tensor = 8; } }
//! Image        { int32 height = 1; int32 width = 2; int32 colorspace = 3; bytes encoded_image_string = 4; }
//! SummaryMetadata { PluginData plugin_data = 1; }   PluginData { string plugin_name = 1; bytes content = 2; }
//! TensorProto  { DataType dtype = 1; TensorShapeProto tensor_shape = 2; repeated bytes string_val = 8; }
//! TensorShapeProto { repeated Dim dim = 2; }   Dim { int64 size = 1; }
//! ```
//!
//! Each builder writes exactly what `torch.utils.tensorboard` writes for the same call (proto3 drops plain
//! fields equal to zero; `oneof` members are always written).

use super::proto::Msg;
use crate::log::png::PngInfo;

/// `DT_STRING` in tensorflow's types.proto.
const DT_STRING: u64 = 7;

fn header(wall_time: f64, step: i64) -> Msg {
    let mut m = Msg::new();
    if wall_time != 0.0 {
        m.double(1, wall_time);
    }
    if step != 0 {
        m.int64(2, step);
    }
    m
}

/// The first record of every event file: `Event{wall_time, file_version: "brain.Event:2"}`.
pub fn file_version(wall_time: f64) -> Vec<u8> {
    let mut m = header(wall_time, 0);
    m.string(3, "brain.Event:2");
    m.into_bytes()
}

/// An event carrying one `Summary` with the given values.
pub fn summary(wall_time: f64, step: i64, values: &[Msg]) -> Vec<u8> {
    let mut s = Msg::new();
    for v in values {
        s.message(1, v);
    }
    let mut m = header(wall_time, step);
    m.message(5, &s);
    m.into_bytes()
}

/// `SessionLog{status: START}` at `step`: TensorBoard's EventAccumulator then discards the events of earlier
/// files with a step >= `step` (what `SummaryWriter(purge_step=..)` writes on resume).
pub fn session_start(wall_time: f64, step: i64) -> Vec<u8> {
    let mut log = Msg::new();
    log.varint(1, 1);
    let mut m = header(wall_time, step);
    m.message(7, &log);
    m.into_bytes()
}

/// `Summary.Value{tag, simple_value}` (torch's `add_scalar` without `new_style`).
pub fn scalar(tag: &str, value: f32) -> Msg {
    let mut v = Msg::new();
    v.string(1, tag).float(2, value);
    v
}

/// `Summary.Value{tag, image: Image{height, width, colorspace, encoded_image_string}}`.
pub fn image(tag: &str, info: &PngInfo, png: &[u8]) -> Msg {
    let mut img = Msg::new();
    img.varint(1, info.height as u64).varint(2, info.width as u64).varint(3, info.channels() as u64).bytes(4, png);
    let mut v = Msg::new();
    v.string(1, tag).message(4, &img);
    v
}

fn plugin_metadata(plugin_name: &str, content: &[u8]) -> Msg {
    let mut pd = Msg::new();
    pd.string(1, plugin_name);
    if !content.is_empty() {
        pd.bytes(2, content);
    }
    let mut md = Msg::new();
    md.message(1, &pd);
    md
}

/// A value that carries only plugin metadata (how the hparams plugin stores its three summaries).
pub fn plugin(tag: &str, plugin_name: &str, content: &[u8]) -> Msg {
    let mut v = Msg::new();
    v.string(1, tag).message(9, &plugin_metadata(plugin_name, content));
    v
}

/// torch's `summary.text`: tag `{tag}/text_summary`, text plugin metadata (its `TextPluginData(version=0)`
/// serializes to nothing) and a rank-1 string tensor of one element.
pub fn text(tag: &str, text: &str) -> Msg {
    let mut dim = Msg::new();
    dim.varint(1, 1);
    let mut shape = Msg::new();
    shape.message(2, &dim);
    let mut tensor = Msg::new();
    tensor.varint(1, DT_STRING).message(2, &shape).bytes(8, text.as_bytes());
    let mut v = Msg::new();
    v.string(1, &format!("{tag}/text_summary")).message(8, &tensor).message(9, &plugin_metadata("text", &[]));
    v
}
