//! `wrt-train data inspect FILE.h5`: a listing of what an HDF5 file holds (groups, datasets with shape,
//! dtype, layout, chunking, filters and sizes, and the attributes of the file and of each dataset), enough
//! to see whether it follows one of the layouts of docs/data.md.

use super::h5::{attr_numbers, attr_texts, human_bytes, type_name, H5File};
use crate::Result;
use hdf5::dataset::Layout;
use hdf5::filters::Filter;
use std::fmt::Write;
use std::path::Path;

/// Deeper nesting or more members than this is not listed (a corrupt file could claim millions).
const MAX_DEPTH: usize = 8;
const MAX_MEMBERS: usize = 200;

/// List the contents of an HDF5 file.
pub fn inspect(path: impl AsRef<Path>) -> Result<String> {
    let path = path.as_ref();
    let f = H5File::open(path)?;
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let mut out = format!("{} ({})\n", path.display(), human_bytes(size));
    let root: &hdf5::Group = f.inner();
    attrs(&mut out, root, "  ");
    group(&mut out, root, "/", 0);
    Ok(out)
}

fn group(out: &mut String, g: &hdf5::Group, prefix: &str, depth: usize) {
    let names = g.member_names().unwrap_or_default();
    let indent = "  ".repeat(depth + 1);
    for (k, name) in names.iter().enumerate() {
        if k == MAX_MEMBERS {
            let _ = writeln!(out, "{indent}... {} more members not listed", names.len() - k);
            break;
        }
        if let Ok(ds) = g.dataset(name) {
            dataset(out, &ds, &format!("{prefix}{name}"), &indent);
        } else if let Ok(sub) = g.group(name) {
            let _ = writeln!(out, "{indent}{prefix}{name}/ (group)");
            attrs(out, &sub, &format!("{indent}  "));
            if depth + 1 < MAX_DEPTH {
                group(out, &sub, &format!("{prefix}{name}/"), depth + 1);
            }
        } else {
            let _ = writeln!(out, "{indent}{prefix}{name}: (not a dataset or group: a dangling link or a named type)");
        }
    }
}

fn dataset(out: &mut String, ds: &hdf5::Dataset, name: &str, indent: &str) {
    let dtype = ds.dtype().and_then(|t| t.to_descriptor()).map(|d| type_name(&d)).unwrap_or_else(|_| "an unsupported type".into());
    let shape = ds.space().map(|s| s.shape()).unwrap_or_default();
    let layout = match ds.layout() {
        Layout::Chunked => match ds.chunk() {
            Some(c) => format!("chunks {c:?}"),
            None => "chunked".into(),
        },
        Layout::Contiguous => "contiguous".into(),
        Layout::Compact => "compact".into(),
        Layout::Virtual => "virtual".into(),
    };
    let filters: Vec<String> = ds.filters().iter().map(filter_name).collect();
    let filters = if filters.is_empty() { String::new() } else { format!(", {}", filters.join(" + ")) };
    let elem = ds.dtype().map(|t| t.size()).unwrap_or(0) as u64;
    let raw = shape.iter().fold(elem, |a, &d| a.saturating_mul(d as u64));
    let stored = ds.storage_size();
    let _ = writeln!(out, "{indent}{name}: {dtype} {shape:?}, {layout}{filters}; {} raw, {} stored", human_bytes(raw), human_bytes(stored));
    attrs(out, ds, &format!("{indent}  "));
}

fn filter_name(f: &Filter) -> String {
    match f {
        Filter::Deflate(l) => format!("gzip({l})"),
        Filter::Shuffle => "shuffle".into(),
        Filter::Fletcher32 => "fletcher32".into(),
        Filter::SZip(_, _) => "szip".into(),
        Filter::NBit => "nbit".into(),
        Filter::ScaleOffset(_) => "scaleoffset".into(),
        Filter::User(id, _) => format!("filter #{id}"),
    }
}

fn attrs(out: &mut String, loc: &hdf5::Location, indent: &str) {
    let mut names = loc.attr_names().unwrap_or_default();
    names.sort();
    for name in names.iter().take(MAX_MEMBERS) {
        let _ = writeln!(out, "{indent}@{name} = {}", attr_value(loc, name));
    }
}

fn attr_value(loc: &hdf5::Location, name: &str) -> String {
    let Ok(a) = loc.attr(name) else { return "(unreadable)".into() };
    let Ok(desc) = a.dtype().and_then(|t| t.to_descriptor()) else { return "(unsupported type)".into() };
    let shape = a.shape();
    let n: usize = shape.iter().product();
    let show = |v: Vec<String>| {
        let more = if n > v.len() { format!(", ... ({n} values)") } else { String::new() };
        if shape.is_empty() {
            v.into_iter().next().unwrap_or_default()
        } else {
            format!("[{}{more}]", v.join(", "))
        }
    };
    if let Ok(v) = attr_numbers(&a) {
        return format!("{} {}", type_name(&desc), show(v.iter().take(8).map(|x| format!("{x}")).collect()));
    }
    if let Ok(v) = attr_texts(&a) {
        return format!("str {}", show(v.into_iter().take(8).map(|s| format!("{s:?}")).collect()));
    }
    format!("{} {shape:?}", type_name(&desc))
}
