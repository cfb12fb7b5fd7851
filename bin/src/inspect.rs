//! `wrt-train inspect FILE`: what a safetensors file (a wrt checkpoint or any other) holds, read from its
//! header only (8-byte little-endian length + JSON), so a multi-GB file answers at once. wrt checkpoints keep
//! a JSON document under the `wrt` key of `__metadata__` (hyperparameters, epoch, step, metrics); it is
//! printed first and in full. The header is checked (lengths, offsets inside the file, sizes matching
//! dtype x shape) so a truncated or corrupt file gives an error naming what is wrong.

use serde_json::{Map, Value};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Headers larger than this are not plausible (safetensors itself caps them at 100 MB).
const MAX_HEADER: u64 = 100_000_000;

#[derive(Clone, Debug, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    pub dtype: String,
    pub shape: Vec<u64>,
    pub numel: u64,
    pub offsets: (u64, u64),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    pub path: PathBuf,
    pub file_size: u64,
    /// In file order (by data offset), which is the order they were saved in.
    pub tensors: Vec<TensorInfo>,
    /// `__metadata__` (string values), with `wrt` parsed as JSON when it is JSON.
    pub metadata: Map<String, Value>,
}

impl Summary {
    pub fn total_numel(&self) -> u64 {
        self.tensors.iter().map(|t| t.numel).sum()
    }
}

fn dtype_size(dtype: &str) -> Option<u64> {
    Some(match dtype {
        "BOOL" | "U8" | "I8" | "F8_E4M3" | "F8_E5M2" => 1,
        "F16" | "BF16" | "I16" | "U16" => 2,
        "F32" | "I32" | "U32" => 4,
        "F64" | "I64" | "U64" => 8,
        _ => return None,
    })
}

fn bad(path: &Path, msg: impl Into<String>) -> wrt_train::Error {
    wrt_train::Error::checkpoint(path, msg)
}

/// Read and check the header of one safetensors file.
pub fn read_summary(path: &Path) -> Result<Summary, wrt_train::Error> {
    let mut f = std::fs::File::open(path).map_err(|e| wrt_train::Error::io(path, e))?;
    let file_size = f.metadata().map_err(|e| wrt_train::Error::io(path, e))?.len();
    let mut len8 = [0u8; 8];
    f.read_exact(&mut len8).map_err(|_| bad(path, format!("only {file_size} bytes: too short for a safetensors header")))?;
    let n = u64::from_le_bytes(len8);
    if n > MAX_HEADER || n > file_size - 8 {
        return Err(bad(path, format!("header length {n} does not fit a {file_size}-byte file (not safetensors, or truncated)")));
    }
    let mut header = vec![0u8; n as usize];
    f.read_exact(&mut header).map_err(|e| wrt_train::Error::io(path, e))?;
    let json: Value = serde_json::from_slice(&header).map_err(|e| bad(path, format!("header is not valid JSON: {e}")))?;
    let Value::Object(entries) = json else { return Err(bad(path, "header is not a JSON object")) };
    let data_len = file_size - 8 - n;
    let mut tensors = Vec::new();
    let mut metadata = Map::new();
    for (name, v) in entries {
        if name == "__metadata__" {
            let Value::Object(m) = v else { return Err(bad(path, "__metadata__ is not an object")) };
            for (k, val) in m {
                let parsed = match (&val, k.as_str()) {
                    (Value::String(s), "wrt") => serde_json::from_str(s).unwrap_or(val.clone()),
                    _ => val,
                };
                metadata.insert(k, parsed);
            }
            continue;
        }
        let field = |k: &str| v.get(k).ok_or_else(|| bad(path, format!("tensor `{name}`: no `{k}`")));
        let dtype = field("dtype")?.as_str().ok_or_else(|| bad(path, format!("tensor `{name}`: dtype is not a string")))?.to_string();
        let shape: Vec<u64> = field("shape")?
            .as_array()
            .and_then(|a| a.iter().map(Value::as_u64).collect())
            .ok_or_else(|| bad(path, format!("tensor `{name}`: shape is not a list of sizes")))?;
        let offs: Vec<u64> = field("data_offsets")?
            .as_array()
            .and_then(|a| a.iter().map(Value::as_u64).collect())
            .filter(|o: &Vec<u64>| o.len() == 2)
            .ok_or_else(|| bad(path, format!("tensor `{name}`: data_offsets is not [begin, end]")))?;
        let (a, b) = (offs[0], offs[1]);
        if a > b || b > data_len {
            return Err(bad(path, format!("tensor `{name}`: bytes {a}..{b} lie outside the {data_len} data bytes (truncated file?)")));
        }
        let numel = shape.iter().try_fold(1u64, |p, d| p.checked_mul(*d)).ok_or_else(|| bad(path, format!("tensor `{name}`: shape {shape:?} overflows")))?;
        if let Some(sz) = dtype_size(&dtype) {
            if numel.checked_mul(sz) != Some(b - a) {
                return Err(bad(path, format!("tensor `{name}`: {dtype} {shape:?} needs {} bytes, the file gives {}", numel.saturating_mul(sz), b - a)));
            }
        }
        tensors.push(TensorInfo { name, dtype, shape, numel, offsets: (a, b) });
    }
    tensors.sort_by_key(|t| (t.offsets, t.name.clone()));
    Ok(Summary { path: path.to_path_buf(), file_size, tensors, metadata })
}

/// The files `inspect` looks at: the file itself, or every `*.safetensors`/`*.ckpt` of a directory.
pub fn files(path: &Path) -> Result<Vec<PathBuf>, wrt_train::Error> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    for e in std::fs::read_dir(path).map_err(|e| wrt_train::Error::io(path, e))? {
        let p = e.map_err(|e| wrt_train::Error::io(path, e))?.path();
        if matches!(p.extension().and_then(|e| e.to_str()), Some("safetensors" | "ckpt")) {
            out.push(p);
        }
    }
    out.sort();
    if out.is_empty() {
        return Err(bad(path, "no .safetensors or .ckpt files in this directory"));
    }
    Ok(out)
}

fn group_with_commas(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn human_bytes(n: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut x = n as f64;
    let mut u = 0;
    while x >= 1024.0 && u + 1 < units.len() {
        x /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{x:.1} {}", units[u])
    }
}

/// The text report.
pub fn render(s: &Summary) -> String {
    let mut out = format!("{} ({})\n", s.path.display(), human_bytes(s.file_size));
    if let Some(wrt) = s.metadata.get("wrt") {
        out += "checkpoint (wrt):\n";
        let get = |k: &str| wrt.get(k).filter(|v| !v.is_null());
        for (label, keys) in [("model", &["model", "model_name"][..]), ("epoch", &["epoch"]), ("step", &["global_step", "step"])] {
            if let Some(v) = keys.iter().find_map(|k| get(k)) {
                out += &format!("  {label}: {}\n", v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()));
            }
        }
        for (label, keys) in [("hyperparameters", &["hparams", "hyper_parameters", "hyperparameters"][..]), ("metrics", &["metrics", "monitored"])] {
            if let Some(v) = keys.iter().find_map(|k| get(k)) {
                out += &format!("  {label}:\n{}\n", indent(&pretty(v), 4));
            }
        }
        out += &format!("  full metadata:\n{}\n", indent(&pretty(wrt), 4));
    }
    let others: Vec<_> = s.metadata.iter().filter(|(k, _)| k.as_str() != "wrt").collect();
    if !others.is_empty() {
        out += "metadata:\n";
        for (k, v) in others {
            out += &format!("  {k}: {}\n", v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()));
        }
    }
    let w = s.tensors.iter().map(|t| t.name.len()).max().unwrap_or(4).max(4);
    out += &format!("tensors: {}, elements: {}\n", s.tensors.len(), group_with_commas(s.total_numel()));
    // Checkpoints hold more than weights (optimizer moments, ...): totals per top-level prefix.
    let mut groups: Vec<(String, u64, usize)> = Vec::new();
    for t in &s.tensors {
        let g = t.name.split('.').next().unwrap_or("").to_string();
        match groups.iter_mut().find(|x| x.0 == g) {
            Some(x) => {
                x.1 += t.numel;
                x.2 += 1;
            }
            None => groups.push((g, t.numel, 1)),
        }
    }
    if groups.len() > 1 && groups.len() <= 12 {
        for (g, n, c) in &groups {
            out += &format!("  {g}.*: {c} tensors, {} elements\n", group_with_commas(*n));
        }
    }
    out += &format!("  {:<w$}  {:<5}  shape\n", "name", "dtype");
    for t in &s.tensors {
        let shape = t.shape.iter().map(u64::to_string).collect::<Vec<_>>().join(", ");
        out += &format!("  {:<w$}  {:<5}  [{shape}]\n", t.name, t.dtype);
    }
    out
}

/// The JSON report (`--json`).
pub fn to_json(s: &Summary) -> Value {
    serde_json::json!({
        "path": s.path.display().to_string(),
        "file_size": s.file_size,
        "total_elements": s.total_numel(),
        "metadata": s.metadata,
        "tensors": s.tensors.iter().map(|t| serde_json::json!({"name": t.name, "dtype": t.dtype, "shape": t.shape})).collect::<Vec<_>>(),
    })
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

fn indent(s: &str, n: usize) -> String {
    s.lines().map(|l| format!("{}{l}", " ".repeat(n))).collect::<Vec<_>>().join("\n")
}
