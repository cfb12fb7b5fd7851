//! YAML text -> `Node` tree with the line of every key and value.
//!
//! serde_yaml forgets positions once a value is built, so the tree is built here from yaml-rust2's event
//! stream, which carries a marker per event. The builder is iterative (an explicit stack, never recursion)
//! and bounded (nesting depth, node count, so alias bombs and `[[[[...` cannot exhaust memory or the stack).
//! Anchors/aliases and `<<` merge keys are supported, since multi-model configs often share blocks that way.

use super::node::{resolve_plain, Entry, Kind, Node, Origin};
use crate::{Error, Result};
use std::collections::HashMap;
use std::sync::Arc;
use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::TScalarStyle;

/// Deeper than any config needs; keeps every later (recursive) pass far from the stack limit.
const MAX_DEPTH: usize = 64;
/// Nodes per document, counting alias copies (a "billion laughs" file stops here).
const MAX_NODES: usize = 200_000;

fn syntax(file: &Arc<str>, line: Option<usize>, msg: impl Into<String>) -> Error {
    Error::ConfigKey { file: file.to_string(), line, key: "(YAML syntax)".into(), msg: msg.into() }
}

enum Frame {
    Seq { items: Vec<Node>, origin: Origin, anchor: usize },
    Map { entries: Vec<Entry>, pending: Option<(String, Origin)>, origin: Origin, anchor: usize, merges: Vec<Node> },
}

/// Parse one YAML document. An empty document gives an empty mapping.
pub fn parse(text: &str, file: &Arc<str>) -> Result<Node> {
    // yaml-rust2's parser is believed panic-free on any input (its `unwrap`s guard internal invariants), but a
    // config loader must never take the process down on a user's file, so a panic there becomes an error.
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| parse_inner(text, file))) {
        Ok(r) => r,
        Err(_) => Err(syntax(file, None, "the YAML parser failed on this file (internal error); please report it")),
    }
}

fn parse_inner(text: &str, file: &Arc<str>) -> Result<Node> {
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, Node> = HashMap::new();
    let mut root: Option<Node> = None;
    let mut documents = 0usize;
    let mut count = 0usize;
    loop {
        let (event, mark) = parser.next_token().map_err(|e| syntax(file, Some(e.marker().line().max(1)), e.info().to_string()))?;
        let origin = Origin::file(file, mark.line().max(1));
        let done: Option<(Node, usize)> = match event {
            Event::StreamEnd => break,
            Event::StreamStart | Event::Nothing | Event::DocumentEnd => None,
            Event::DocumentStart => {
                documents += 1;
                if documents > 1 {
                    return Err(syntax(file, Some(mark.line().max(1)), "a config file holds one YAML document; found a second (`---`)"));
                }
                None
            }
            Event::Scalar(value, style, anchor, tag) => {
                let kind = match (&tag, style) {
                    (Some(t), _) if t.suffix == "str" => Kind::Str(value),
                    (_, TScalarStyle::Plain) => resolve_plain(&value),
                    _ => Kind::Str(value),
                };
                Some((Node::new(kind, origin), anchor))
            }
            Event::Alias(id) => {
                let node = anchors
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| syntax(file, Some(mark.line().max(1)), "alias to an anchor that is not defined (yet)"))?;
                count += count_nodes(&node);
                Some((Node { origin, ..node }, 0))
            }
            Event::SequenceStart(anchor, _) => {
                in_key_position(&stack, file, &origin)?;
                stack.push(Frame::Seq { items: Vec::new(), origin, anchor });
                None
            }
            Event::MappingStart(anchor, _) => {
                in_key_position(&stack, file, &origin)?;
                stack.push(Frame::Map { entries: Vec::new(), pending: None, origin, anchor, merges: Vec::new() });
                None
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some(Frame::Seq { items, origin, anchor }) => Some((Node::new(Kind::Seq(items), origin), anchor)),
                Some(Frame::Map { mut entries, origin, anchor, merges, .. }) => {
                    apply_merges(&mut entries, merges, file)?;
                    Some((Node::new(Kind::Map(entries), origin), anchor))
                }
                None => return Err(syntax(file, Some(mark.line().max(1)), "unbalanced end of a collection")),
            },
        };
        if stack.len() > MAX_DEPTH {
            return Err(syntax(file, Some(mark.line().max(1)), format!("nested more than {MAX_DEPTH} levels deep")));
        }
        let Some((node, anchor)) = done else { continue };
        count += 1;
        if count > MAX_NODES {
            return Err(syntax(file, Some(mark.line().max(1)), format!("more than {MAX_NODES} values (alias expansion included)")));
        }
        if anchor > 0 {
            anchors.insert(anchor, node.clone());
        }
        match stack.last_mut() {
            None => root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, pending, merges, .. }) => match pending.take() {
                None => {
                    let key = match &node.kind {
                        Kind::Str(s) => s.clone(),
                        Kind::Int(i) => i.to_string(),
                        Kind::Float(x) => x.to_string(),
                        Kind::Bool(b) => b.to_string(),
                        Kind::Null => "null".to_string(),
                        Kind::Seq(_) | Kind::Map(_) => {
                            return Err(syntax(file, Some(line_of(&node.origin)), "a mapping key must be a plain name, not a list or mapping"))
                        }
                    };
                    if key != "<<" {
                        if let Some(first) = entries.iter().find(|e| e.key == key) {
                            return Err(Error::ConfigKey {
                                file: file.to_string(),
                                line: Some(line_of(&node.origin)),
                                key: key.clone(),
                                msg: format!("duplicate key (first written at line {})", line_of(&first.key_origin)),
                            });
                        }
                    }
                    *pending = Some((key, node.origin));
                }
                Some((key, key_origin)) if key == "<<" => {
                    let _ = key_origin;
                    merges.push(node);
                }
                Some((key, key_origin)) => entries.push(Entry { key, key_origin, value: node }),
            },
        }
    }
    Ok(root.unwrap_or_else(|| Node::map(Origin::file(file, 1))))
}

fn line_of(o: &Origin) -> usize {
    match o {
        Origin::File { line, .. } => *line,
        _ => 0,
    }
}

/// A collection may not start where a mapping expects its key (`? [a, b] : c`).
fn in_key_position(stack: &[Frame], file: &Arc<str>, origin: &Origin) -> Result<()> {
    if let Some(Frame::Map { pending: None, .. }) = stack.last() {
        return Err(syntax(file, Some(line_of(origin)), "a mapping key must be a plain name, not a list or mapping"));
    }
    Ok(())
}

/// `<<: *base` (or a list of them): the merged maps' keys are added unless the mapping sets them itself;
/// earlier maps in a list win over later ones (the YAML merge-key rule).
fn apply_merges(entries: &mut Vec<Entry>, merges: Vec<Node>, file: &Arc<str>) -> Result<()> {
    for m in merges {
        let sources = match m.kind {
            Kind::Map(_) => vec![m],
            Kind::Seq(items) => items,
            _ => return Err(syntax(file, Some(line_of(&m.origin)), "`<<` must merge a mapping or a list of mappings")),
        };
        for s in sources {
            let Kind::Map(src) = s.kind else {
                return Err(syntax(file, Some(line_of(&s.origin)), "`<<` must merge a mapping or a list of mappings"));
            };
            for e in src {
                if !entries.iter().any(|x| x.key == e.key) {
                    entries.push(e);
                }
            }
        }
    }
    Ok(())
}

fn count_nodes(n: &Node) -> usize {
    // Iterative, like the builder: aliased trees can be wide.
    let mut total = 0;
    let mut todo = vec![n];
    while let Some(n) = todo.pop() {
        total += 1;
        match &n.kind {
            Kind::Seq(items) => todo.extend(items.iter()),
            Kind::Map(entries) => todo.extend(entries.iter().map(|e| &e.value)),
            _ => {}
        }
        if total > MAX_NODES {
            break;
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Node> {
        parse(s, &Arc::from("t.yaml"))
    }

    #[test]
    fn keys_and_values_carry_lines() {
        let n = p("id: x\nmodel:\n  type: satformer\n  dim: 64\n").unwrap();
        let e = n.get("model").unwrap().get_entry("dim").unwrap();
        assert_eq!(e.key_origin, Origin::file(&Arc::from("t.yaml"), 4));
        assert_eq!(e.value.kind, Kind::Int(64));
    }

    #[test]
    fn duplicate_keys_name_both_lines() {
        let e = p("a: 1\nb: 2\na: 3\n").unwrap_err();
        match e {
            Error::ConfigKey { line, key, msg, .. } => {
                assert_eq!((line, key.as_str()), (Some(3), "a"));
                assert!(msg.contains("line 1"), "{msg}");
            }
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let n = p("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\nlist: [*b]\n").unwrap();
        assert_eq!(n.get("other").unwrap().to_json(), serde_json::json!({"y": 3, "x": 1}));
        assert_eq!(n.get("list").unwrap().to_json(), serde_json::json!([{"x": 1, "y": 2}]));
    }

    #[test]
    fn bombs_and_deep_nesting_are_errors() {
        let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let prev = format!("*a{}", i - 1);
            bomb += &format!("a{i}: &a{i} [{}]\n", vec![prev; 10].join(", "));
        }
        assert!(p(&bomb).is_err());
        assert!(p(&"[".repeat(100_000)).is_err());
        let deep: String = (0..200).map(|i| format!("{}k{i}:\n", " ".repeat(i))).collect();
        assert!(p(&deep).is_err());
    }

    #[test]
    fn syntax_errors_have_a_line_and_quoted_scalars_stay_strings() {
        match p("a: 1\nb: [1, 2\nc: 3\n").unwrap_err() {
            Error::ConfigKey { line: Some(l), .. } => assert!(l >= 2),
            e => panic!("{e:?}"),
        }
        assert_eq!(p("a: '1'").unwrap().get("a").unwrap().kind, Kind::Str("1".into()));
        assert_eq!(p("").unwrap().entries().map(|e| e.len()), Some(0));
        assert!(p("a: 1\n---\nb: 2\n").is_err());
    }
}
