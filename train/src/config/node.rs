//! The config tree: YAML values that remember where they came from (file and line, a command-line flag, or
//! a default), so that every error after merging still names the place the user wrote the value.

use std::fmt;
use std::sync::Arc;

/// Where a value or key was written.
#[derive(Clone, Debug, PartialEq)]
pub enum Origin {
    /// Built-in default (global, or the model type's seed defaults).
    Default,
    /// A config file and 1-based line.
    File { file: Arc<str>, line: usize },
    /// A command-line flag as the user typed it (`--max_epochs`).
    Flag(String),
}

impl Origin {
    pub fn file(file: &Arc<str>, line: usize) -> Origin {
        Origin::File { file: file.clone(), line }
    }
    /// The `file` and `line` parts of an `Error::ConfigKey`.
    pub fn locate(&self) -> (String, Option<usize>) {
        match self {
            Origin::Default => ("built-in defaults".into(), None),
            Origin::File { file, line } => (file.to_string(), Some(*line)),
            Origin::Flag(f) => (format!("command line ({f})"), None),
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => write!(f, "built-in defaults"),
            Origin::File { file, line } => write!(f, "{file}:{line}"),
            Origin::Flag(fl) => write!(f, "command line ({fl})"),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Keys in the order written; unique (the parser rejects duplicates).
    Map(Vec<Entry>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub key: String,
    /// Where the key itself was written (the line an "unknown key" error names).
    pub key_origin: Origin,
    pub value: Node,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub kind: Kind,
    pub origin: Origin,
}

impl Node {
    pub fn new(kind: Kind, origin: Origin) -> Node {
        Node { kind, origin }
    }
    pub fn map(origin: Origin) -> Node {
        Node::new(Kind::Map(Vec::new()), origin)
    }
    pub fn is_null(&self) -> bool {
        matches!(self.kind, Kind::Null)
    }
    pub fn entries(&self) -> Option<&[Entry]> {
        match &self.kind {
            Kind::Map(e) => Some(e),
            _ => None,
        }
    }
    pub fn entries_mut(&mut self) -> Option<&mut Vec<Entry>> {
        match &mut self.kind {
            Kind::Map(e) => Some(e),
            _ => None,
        }
    }
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entries()?.iter().find(|e| e.key == key).map(|e| &e.value)
    }
    pub fn get_entry(&self, key: &str) -> Option<&Entry> {
        self.entries()?.iter().find(|e| e.key == key)
    }
    /// The value at a dotted path (`training.max_epochs`).
    pub fn get_path(&self, path: &str) -> Option<&Node> {
        path.split('.').try_fold(self, |n, k| n.get(k))
    }
    /// Remove and return a key of a map.
    pub fn take(&mut self, key: &str) -> Option<Entry> {
        let entries = self.entries_mut()?;
        let i = entries.iter().position(|e| e.key == key)?;
        Some(entries.remove(i))
    }
    /// Set `key` in a map (replacing the value, keeping the position if present).
    pub fn set(&mut self, key: &str, key_origin: Origin, value: Node) {
        if let Some(entries) = self.entries_mut() {
            match entries.iter_mut().find(|e| e.key == key) {
                Some(e) => {
                    e.value = value;
                    e.key_origin = key_origin;
                }
                None => entries.push(Entry { key: key.to_string(), key_origin, value }),
            }
        }
    }
    /// The map at `section`, created (empty, with `origin`) if missing. None when it exists but is not a map.
    pub fn section_mut(&mut self, section: &str, origin: &Origin) -> Option<&mut Node> {
        let entries = self.entries_mut()?;
        let i = match entries.iter().position(|e| e.key == section) {
            Some(i) => i,
            None => {
                entries.push(Entry { key: section.into(), key_origin: origin.clone(), value: Node::map(origin.clone()) });
                entries.len() - 1
            }
        };
        let v = &mut entries[i].value;
        if v.is_null() {
            *v = Node::map(v.origin.clone());
        }
        matches!(v.kind, Kind::Map(_)).then_some(v)
    }
    /// A short description of the value's type for "expected X, found Y" messages.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            Kind::Null => "null",
            Kind::Bool(_) => "a boolean",
            Kind::Int(_) => "an integer",
            Kind::Float(_) => "a number",
            Kind::Str(_) => "a string",
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a mapping",
        }
    }
    /// The value as JSON (for the typed structs and the saved effective config). NaN and infinities cannot
    /// occur here: validation rejects non-finite numbers.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.kind {
            Kind::Null => J::Null,
            Kind::Bool(b) => J::Bool(*b),
            Kind::Int(i) => J::from(*i),
            Kind::Float(x) => serde_json::Number::from_f64(*x).map(J::Number).unwrap_or(J::Null),
            Kind::Str(s) => J::String(s.clone()),
            Kind::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Kind::Map(entries) => J::Object(entries.iter().map(|e| (e.key.clone(), e.value.to_json())).collect()),
        }
    }
    /// A JSON value as a node, every part with `origin` (used for defaults written as JSON).
    pub fn from_json(v: &serde_json::Value, origin: &Origin) -> Node {
        use serde_json::Value as J;
        let kind = match v {
            J::Null => Kind::Null,
            J::Bool(b) => Kind::Bool(*b),
            J::Number(n) => match n.as_i64() {
                Some(i) => Kind::Int(i),
                None => Kind::Float(n.as_f64().unwrap_or(0.0)),
            },
            J::String(s) => Kind::Str(s.clone()),
            J::Array(a) => Kind::Seq(a.iter().map(|x| Node::from_json(x, origin)).collect()),
            J::Object(o) => Kind::Map(
                o.iter()
                    .map(|(k, x)| Entry { key: k.clone(), key_origin: origin.clone(), value: Node::from_json(x, origin) })
                    .collect(),
            ),
        };
        Node::new(kind, origin.clone())
    }
}

impl Node {
    /// The same tree with every origin set to `Default` (a validated tree no longer needs them, and two runs
    /// with equal values then compare equal whatever file they came from). Depth is bounded by the parser.
    pub fn without_origins(self) -> Node {
        let kind = match self.kind {
            Kind::Seq(items) => Kind::Seq(items.into_iter().map(Node::without_origins).collect()),
            Kind::Map(entries) => Kind::Map(
                entries.into_iter().map(|e| Entry { key: e.key, key_origin: Origin::Default, value: e.value.without_origins() }).collect(),
            ),
            k => k,
        };
        Node::new(kind, Origin::Default)
    }
}

/// Deep merge: maps merge key by key (recursively); anything else in `over` replaces `base`, including an
/// explicit `null` (so `scheduler: null` switches a default scheduler off). Order: `base`'s keys first.
pub fn merge(base: &mut Node, over: Node) {
    match (&mut base.kind, over.kind) {
        (Kind::Map(b), Kind::Map(o)) => {
            for e in o {
                match b.iter_mut().find(|x| x.key == e.key) {
                    Some(x) => {
                        x.key_origin = e.key_origin;
                        merge(&mut x.value, e.value);
                    }
                    None => b.push(e),
                }
            }
            base.origin = over.origin;
        }
        (_, kind) => {
            base.kind = kind;
            base.origin = over.origin;
        }
    }
}

/// Resolve a plain (unquoted) YAML scalar with the YAML 1.2 core schema, as PyYAML users expect for the
/// common cases: `~`/`null`/empty is null, `true`/`false` booleans, integers (also `0x..`, `0o..`), floats
/// (`1e-5` is a float here, unlike PyYAML's YAML 1.1 resolver), `.inf`/`.nan`; the rest is a string.
pub fn resolve_plain(s: &str) -> Kind {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Kind::Null,
        "true" | "True" | "TRUE" => return Kind::Bool(true),
        "false" | "False" | "FALSE" => return Kind::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Kind::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Kind::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Kind::Float(f64::NAN),
        _ => {}
    }
    let radix = |p: &str, r: u32| s.strip_prefix(p).and_then(|d| i64::from_str_radix(d, r).ok());
    if let Some(i) = radix("0x", 16).or_else(|| radix("0o", 8)) {
        return Kind::Int(i);
    }
    if let Ok(i) = s.strip_prefix('+').unwrap_or(s).parse::<i64>() {
        if !s.starts_with("+-") {
            return Kind::Int(i);
        }
    }
    // Rust's float syntax is a superset of YAML's for digits; requiring a digit and no letters other than
    // e/E keeps `inf`, `NaN`, `infinity` strings as they are in YAML.
    let floaty = s.bytes().any(|b| b.is_ascii_digit())
        && s.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    if floaty {
        if let Ok(x) = s.parse::<f64>() {
            return Kind::Float(x);
        }
    }
    Kind::Str(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_scalars_follow_the_core_schema() {
        assert_eq!(resolve_plain("1e-5"), Kind::Float(1e-5));
        assert_eq!(resolve_plain("10"), Kind::Int(10));
        assert_eq!(resolve_plain("+3"), Kind::Int(3));
        assert_eq!(resolve_plain("0x10"), Kind::Int(16));
        assert_eq!(resolve_plain("~"), Kind::Null);
        assert_eq!(resolve_plain("ST^2"), Kind::Str("ST^2".into()));
        assert_eq!(resolve_plain("3h"), Kind::Str("3h".into()));
        assert_eq!(resolve_plain("inf"), Kind::Str("inf".into()));
        assert_eq!(resolve_plain("16-mixed"), Kind::Str("16-mixed".into()));
        assert_eq!(resolve_plain("1.5"), Kind::Float(1.5));
        assert_eq!(resolve_plain("0,1"), Kind::Str("0,1".into()));
    }

    #[test]
    fn merge_replaces_scalars_and_merges_maps() {
        let o = Origin::Default;
        let mut a = Node::from_json(&serde_json::json!({"a": {"x": 1, "y": [1, 2]}, "b": 2}), &o);
        let b = Node::from_json(&serde_json::json!({"a": {"y": [3], "z": null}, "c": 3}), &o);
        merge(&mut a, b);
        assert_eq!(a.to_json(), serde_json::json!({"a": {"x": 1, "y": [3], "z": null}, "b": 2, "c": 3}));
    }
}
