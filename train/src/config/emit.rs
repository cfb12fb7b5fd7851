//! The canonical tree as YAML: block mappings in schema order, flow lists, strings double-quoted (JSON
//! string syntax is valid YAML), floats written so they read back as floats. `config::load` of the output
//! gives the same run back (tested).

use super::node::{resolve_plain, Kind, Node};

pub fn to_yaml(root: &Node) -> String {
    let mut out = String::new();
    write_map_body(root, 0, &mut out);
    out
}

fn write_map_body(node: &Node, indent: usize, out: &mut String) {
    let Kind::Map(entries) = &node.kind else { return };
    for e in entries {
        out.push_str(&" ".repeat(indent));
        out.push_str(&key(&e.key));
        match &e.value.kind {
            Kind::Map(inner) if !inner.is_empty() => {
                out.push_str(":\n");
                write_map_body(&e.value, indent + 2, out);
            }
            _ => {
                out.push_str(": ");
                out.push_str(&flow(&e.value));
                out.push('\n');
            }
        }
    }
}

fn key(k: &str) -> String {
    if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') && !k.starts_with('-') {
        k.to_string()
    } else {
        quote(k)
    }
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// A string plain when it cannot be read as anything else (`sgd`, `T->S`, `experiments/x`), else quoted.
fn string(s: &str) -> String {
    let first_ok = s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '/');
    let all_ok = s.chars().all(|c| c.is_ascii_alphanumeric() || "_-./^>".contains(c));
    if first_ok && all_ok && resolve_plain(s) == Kind::Str(s.to_string()) {
        s.to_string()
    } else {
        quote(s)
    }
}

/// One value on one line.
fn flow(n: &Node) -> String {
    match &n.kind {
        Kind::Null => "null".into(),
        Kind::Bool(b) => b.to_string(),
        Kind::Int(i) => i.to_string(),
        Kind::Float(x) => float(*x),
        Kind::Str(s) => string(s),
        Kind::Seq(items) => format!("[{}]", items.iter().map(flow).collect::<Vec<_>>().join(", ")),
        Kind::Map(entries) => {
            format!("{{{}}}", entries.iter().map(|e| format!("{}: {}", quote(&e.key), flow(&e.value))).collect::<Vec<_>>().join(", "))
        }
    }
}

/// Shortest round-tripping form that YAML reads as a float (`1.0`, not `1`; `1e-5`).
fn float(x: f64) -> String {
    if x.is_nan() {
        return ".nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { ".inf".into() } else { "-.inf".into() };
    }
    let s = format!("{x:?}");
    if s.contains(['.', 'e', 'E']) {
        s
    } else {
        format!("{s}.0")
    }
}

#[cfg(test)]
mod tests {
    use super::super::node::Origin;
    use super::super::yaml;
    use super::*;
    use std::sync::Arc;

    #[test]
    fn round_trips_through_the_parser() {
        let j = serde_json::json!({"a": {"b": 1, "c": 1e-5, "d": 2.0, "e": "ST^2", "f": "T->S", "g": ["x", 1, 0.5], "h": null,
            "i": "123", "j": "a: b # c", "k": {}, "l": "true", "m": "experiments/x", "n": "1e-5", "o": "satformer-{epoch}"}, "w": {"tags": ["x"], "nested": {"x": [ {"y": 1} ]}}});
        let n = Node::from_json(&j, &Origin::Default);
        let text = to_yaml(&n);
        let back = yaml::parse(&text, &Arc::from("x.yaml")).unwrap();
        assert_eq!(back.to_json(), j, "{text}");
    }
}
