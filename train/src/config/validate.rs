//! Seed spellings -> canonical places (`normalize`), then every key checked against the schema and every
//! value coerced to its canonical form (`validate`). Errors name the file and line (or the flag) where the
//! offending key or value was written, and suggest the closest valid key.

use super::models::{self, ModelSpec};
use super::node::{resolve_plain, Entry, Kind, Node, Origin};
use super::schema::{self, Key, Ty, ALIASES, MODEL_COMMON, ROOT, SECTIONS};
use super::suggest::{closest, did_you_mean};
use crate::{Error, Result};

pub(crate) fn key_error(origin: &Origin, key: impl Into<String>, msg: impl Into<String>) -> Error {
    let (file, line) = origin.locate();
    Error::ConfigKey { file, line, key: key.into(), msg: msg.into() }
}

fn path(section: &str, key: &str) -> String {
    if section.is_empty() {
        key.to_string()
    } else {
        format!("{section}.{key}")
    }
}

fn describe(o: &Origin) -> String {
    match o {
        Origin::File { line, .. } => format!("line {line}"),
        o => o.to_string(),
    }
}

/// A flag's text (`--set training.early_stopping=false` arrives as a string) read as YAML reads it, so that
/// `true`/`false` switch a section that also takes a mapping.
fn flag_bool(v: &mut Node) {
    if let Kind::Str(s) = &v.kind {
        if let k @ Kind::Bool(_) = super::node::resolve_plain(s) {
            v.kind = k;
        }
    }
}

/// Rewrite one source tree (a file, one `models:` entry, or the flags) into canonical keys: the aliases of
/// `schema::ALIASES`, `training.early_stopping: true|{...}` into the `early_stopping:` section, and empty
/// sections (`data:` with nothing under it) dropped so they do not wipe defaults when merged.
pub fn normalize(root: &mut Node) -> Result<()> {
    let Some(entries) = root.entries_mut() else { return Ok(()) };
    entries.retain(|e| !(SECTIONS.contains(&e.key.as_str()) && e.key != "wandb" && e.value.is_null()));
    // `early_stopping: true` at the top level or under `training:` (the AtmoDist spelling).
    if let Some(mut e) = root.take("early_stopping") {
        flag_bool(&mut e.value);
        match e.value.kind {
            Kind::Bool(_) => {
                let mut m = Node::map(e.value.origin.clone());
                m.set("enabled", e.key_origin.clone(), e.value);
                root.set("early_stopping", e.key_origin, m);
            }
            _ => root.set("early_stopping", e.key_origin, e.value),
        }
    }
    let training_es = match root.get("training").map(|t| &t.kind) {
        Some(Kind::Map(_)) => root.section_mut("training", &Origin::Default).and_then(|t| t.take("early_stopping")),
        _ => None,
    };
    if let Some(mut e) = training_es {
        flag_bool(&mut e.value);
        match e.value.kind {
            Kind::Null => {}
            Kind::Bool(_) => relocate_entry(root, "training", e, "early_stopping.enabled")?,
            Kind::Map(inner) => {
                let explicit_enabled = inner.iter().any(|x| x.key == "enabled");
                for x in inner {
                    let to = format!("early_stopping.{}", x.key);
                    relocate_entry(root, "training.early_stopping", x, &to)?;
                }
                if !explicit_enabled {
                    let on = Entry { key: "enabled".into(), key_origin: e.key_origin.clone(), value: Node::new(Kind::Bool(true), e.value.origin) };
                    relocate_entry(root, "training.early_stopping", on, "early_stopping.enabled")?;
                }
            }
            _ => {
                return Err(key_error(&e.value.origin, "training.early_stopping", format!("expected true/false or a mapping, found {}", e.value.type_name())))
            }
        }
    }
    for a in ALIASES {
        let entry = if a.section.is_empty() {
            root.take(a.name)
        } else {
            match root.get(a.section).map(|s| &s.kind) {
                Some(Kind::Map(_)) => root.section_mut(a.section, &Origin::Default).and_then(|s| s.take(a.name)),
                _ => None,
            }
        };
        if let Some(e) = entry {
            relocate_entry(root, a.section, e, a.to)?;
        }
    }
    Ok(())
}

/// Put `e` (found in `from`) at the canonical dotted path `to`; two spellings of one key in the same source
/// is an error (which one should win is not obvious).
fn relocate_entry(root: &mut Node, from: &str, e: Entry, to: &str) -> Result<()> {
    let written = path(from, &e.key);
    let (section, key) = match to.split_once('.') {
        Some((s, k)) => (s, k),
        None => ("", to),
    };
    let target = if section.is_empty() {
        Some(root)
    } else {
        root.section_mut(section, &e.key_origin)
    };
    let Some(target) = target else {
        return Err(key_error(&e.key_origin, written, format!("belongs in `{to}`, but `{section}` is not a mapping")));
    };
    if let Some(existing) = target.get_entry(key) {
        return Err(key_error(
            &e.key_origin,
            written.clone(),
            format!("`{written}` and `{to}` ({}) set the same thing; keep one", describe(&existing.key_origin)),
        ));
    }
    target.set(key, e.key_origin, e.value);
    Ok(())
}

/// Check the merged tree of one run against the schema of its model type and return the canonical tree:
/// every key present (defaults filled), in schema order, values in canonical form.
pub fn validate(root: &Node, spec: &'static ModelSpec) -> Result<Node> {
    let Some(entries) = root.entries() else {
        return Err(key_error(&root.origin, "(top level)", format!("expected a mapping of keys, found {}", root.type_name())));
    };
    for e in entries {
        let k = e.key.as_str();
        if ROOT.iter().any(|r| r.name == k) || SECTIONS.contains(&k) {
            continue;
        }
        if k == "models" {
            return Err(key_error(&e.key_origin, "models", "a `models:` list is only allowed at the top of a config file, not inside an entry"));
        }
        return Err(unknown_key(e, "", spec));
    }
    let mut out = Node::map(root.origin.clone());
    for key in ROOT {
        let v = checked(root.get_entry(key.name), key, "")?;
        out.set(key.name, Origin::Default, v);
    }
    out.set("model", Origin::Default, validate_model(root.get("model"), spec)?);
    for (name, keys) in [
        ("training", schema::TRAINING),
        ("data", schema::DATA),
        ("checkpoint", schema::CHECKPOINT),
        ("early_stopping", schema::EARLY_STOPPING),
    ] {
        let v = validate_section(name, root.get(name), keys, &[], spec)?;
        out.set(name, Origin::Default, v);
    }
    let wandb = root.get("wandb").cloned().unwrap_or_else(|| Node::new(Kind::Null, Origin::Default));
    out.set("wandb", Origin::Default, wandb);
    cross_checks(&out)?;
    Ok(out)
}

fn validate_model(node: Option<&Node>, spec: &'static ModelSpec) -> Result<Node> {
    // `type`, then the model's hyperparameters, then optimizer/scheduler/loss: the saved config reads top-down.
    let mut out = validate_section("model", node, spec.keys, MODEL_COMMON, spec)?;
    if let Some(entries) = out.entries_mut() {
        let ty = Node::new(Kind::Str(spec.name.into()), Origin::Default);
        entries.insert(0, Entry { key: "type".into(), key_origin: Origin::Default, value: ty });
    }
    let hparams = serde_json::Map::from_iter(spec.keys.iter().filter_map(|k| out.get(k.name).map(|v| (k.name.to_string(), v.to_json()))));
    if let Err((key, msg)) = (spec.check)(&hparams) {
        let origin = node.and_then(|n| n.get(key)).map(|v| v.origin.clone()).unwrap_or(Origin::Default);
        return Err(key_error(&origin, format!("model.{key}"), msg));
    }
    Ok(out)
}

fn validate_section(name: &str, node: Option<&Node>, keys: &'static [Key], extra: &'static [Key], spec: &'static ModelSpec) -> Result<Node> {
    let empty = Node::map(Origin::Default);
    let node = match node {
        None => &empty,
        Some(n) if n.is_null() => &empty,
        Some(n) => n,
    };
    let Some(entries) = node.entries() else {
        return Err(key_error(&node.origin, name, format!("expected a mapping of keys, found {}", node.type_name())));
    };
    let known = |k: &str| keys.iter().chain(extra).any(|x| x.name == k);
    for e in entries {
        if !known(&e.key) && !(name == "model" && e.key == "type") {
            return Err(unknown_key(e, name, spec));
        }
    }
    let mut out = Node::map(node.origin.clone());
    for key in keys.iter().chain(extra) {
        if name == "model" && key.name == "type" {
            continue;
        }
        let v = checked(node.get_entry(key.name), key, name)?;
        out.set(key.name, Origin::Default, v);
    }
    Ok(out)
}

/// The value of `key` (or its default) coerced to the key's type.
fn checked(entry: Option<&Entry>, key: &Key, section: &str) -> Result<Node> {
    let default;
    let v = match entry {
        Some(e) => &e.value,
        None => {
            default = default_node(key);
            &default
        }
    };
    coerce(v, &key.ty, key.nullable).map_err(|msg| key_error(&v.origin, path(section, key.name), msg))
}

/// A key's default as a node (defaults are JSON literals; a test checks each one parses and validates).
pub(crate) fn default_node(key: &Key) -> Node {
    let json = serde_json::from_str(key.default).unwrap_or(serde_json::Value::Null);
    Node::from_json(&json, &Origin::Default)
}

fn unknown_key(e: &Entry, section: &str, spec: &'static ModelSpec) -> Error {
    let here: Vec<&str> = match section {
        "" => ROOT.iter().map(|k| k.name).chain(SECTIONS.iter().copied()).collect(),
        "model" => MODEL_COMMON.iter().chain(spec.keys).map(|k| k.name).collect(),
        s => schema::section_keys(s).map(|ks| ks.iter().map(|k| k.name).collect()).unwrap_or_default(),
    };
    let at = if section.is_empty() { "at the top level".to_string() } else { format!("in `{section}:`") };
    let mut msg = format!("unknown key {at}");
    if let Some(c) = closest(&e.key, here.iter().copied()) {
        msg += &format!("; did you mean `{c}`?");
    } else if let Some(elsewhere) = key_elsewhere(&e.key, section) {
        msg += &format!("; `{}` is a key of `{}:` (did you mean `{}`?)", e.key, elsewhere, path(&elsewhere, &e.key));
    } else if section == "model" {
        let owners: Vec<&str> = models::MODELS.iter().filter(|m| m.keys.iter().any(|k| k.name == e.key)).map(|m| m.name).collect();
        if !owners.is_empty() {
            msg += &format!("; `{}` is a hyperparameter of {}, not of `{}`", e.key, owners.join(", "), spec.name);
        } else {
            msg += &format!(" for `type: {}` (valid: {})", spec.name, spec.keys.iter().map(|k| k.name).collect::<Vec<_>>().join(", "));
        }
    }
    key_error(&e.key_origin, path(section, &e.key), msg)
}

/// The section that has a key of exactly this name, if it is not `section`.
fn key_elsewhere(key: &str, section: &str) -> Option<String> {
    let fixed = ["", "training", "data", "checkpoint", "early_stopping"].into_iter().filter(|s| *s != section);
    for s in fixed {
        if schema::section_keys(s).is_some_and(|ks| ks.iter().any(|k| k.name == key)) {
            return Some(s.to_string());
        }
    }
    if section != "model" && MODEL_COMMON.iter().chain(models::MODELS.iter().flat_map(|m| m.keys)).any(|k| k.name == key) {
        return Some("model".into());
    }
    ALIASES.iter().find(|a| a.name == key && a.section != section).map(|a| a.to.split_once('.').map_or("", |(s, _)| s).to_string()).filter(|s| !s.is_empty())
}

/// A flag's text as a YAML value: lists split on commas (`--gpus 0,1`, `--res_out_channels_list 16,32`),
/// scalars resolved as plain YAML (`--lr 1e-4` is a number), strings kept as typed for string keys.
fn from_flag(s: &str, ty: &Ty, origin: &Origin) -> Node {
    let listy = matches!(ty, Ty::List(_) | Ty::Loggers) || (matches!(ty, Ty::Devices) && (s.contains(',') || s.starts_with('[')));
    let kind = if listy {
        let inner = s.trim().trim_start_matches('[').trim_end_matches(']');
        if inner.trim().is_empty() {
            Kind::Seq(Vec::new())
        } else {
            Kind::Seq(inner.split(',').map(|p| Node::new(resolve_plain(p.trim()), origin.clone())).collect())
        }
    } else if matches!(ty, Ty::Str) && !matches!(s, "null" | "none" | "None") {
        Kind::Str(s.to_string())
    } else {
        match resolve_plain(s.trim()) {
            Kind::Str(t) if matches!(ty, Ty::Bool) => match t.to_ascii_lowercase().as_str() {
                "yes" | "on" | "y" => Kind::Bool(true),
                "no" | "off" | "n" => Kind::Bool(false),
                _ => Kind::Str(t),
            },
            k => k,
        }
    };
    Node::new(kind, origin.clone())
}

/// Coerce `v` to `ty`; the message says what was expected and what was found.
pub(crate) fn coerce(v: &Node, ty: &Ty, nullable: bool) -> std::result::Result<Node, String> {
    if let (Origin::Flag(_), Kind::Str(s)) = (&v.origin, &v.kind) {
        let parsed = from_flag(s, ty, &v.origin);
        if parsed.kind != v.kind {
            return coerce(&parsed, ty, nullable);
        }
    }
    let o = v.origin.clone();
    let node = |k: Kind| Ok(Node::new(k, o.clone()));
    let expected = || {
        let found = match &v.kind {
            Kind::Str(s) => format!("`{s}`"),
            Kind::Int(i) => i.to_string(),
            Kind::Float(x) => x.to_string(),
            Kind::Bool(b) => b.to_string(),
            _ => v.type_name().to_string(),
        };
        Err(format!("expected {}{}, found {found}", schema::ty_name(ty), if nullable { " or null" } else { "" }))
    };
    if v.is_null() && (nullable || matches!(ty, Ty::Loggers | Ty::Any)) {
        return match ty {
            Ty::Loggers => node(Kind::Seq(Vec::new())),
            _ => node(Kind::Null),
        };
    }
    if nullable && matches!(&v.kind, Kind::Str(s) if s.eq_ignore_ascii_case("none") && !matches!(ty, Ty::Str)) {
        return node(Kind::Null);
    }
    match (ty, &v.kind) {
        (Ty::Any, _) => Ok(v.clone()),
        (Ty::Bool, Kind::Bool(b)) => node(Kind::Bool(*b)),
        (Ty::Int { min }, Kind::Int(i)) if *i >= *min => node(Kind::Int(*i)),
        (Ty::Int { .. }, Kind::Int(_)) => expected(),
        (Ty::Float { min, max, open_min }, Kind::Int(_) | Kind::Float(_)) => {
            let x = match v.kind {
                Kind::Int(i) => i as f64,
                Kind::Float(x) => x,
                _ => unreachable!("matched above"),
            };
            let above = if *open_min { x > *min } else { x >= *min };
            if x.is_finite() && above && x <= *max {
                node(Kind::Float(x))
            } else {
                expected()
            }
        }
        (Ty::Str, Kind::Str(s)) => node(Kind::Str(s.clone())),
        // `id: 2024` or `frequency: 3` are meant as text.
        (Ty::Str, Kind::Int(i)) => node(Kind::Str(i.to_string())),
        (Ty::Str, Kind::Float(x)) if x.is_finite() => node(Kind::Str(x.to_string())),
        (Ty::Enum(choices), Kind::Str(_) | Kind::Int(_)) => {
            let text = match &v.kind {
                Kind::Str(s) => s.clone(),
                Kind::Int(i) => i.to_string(),
                _ => unreachable!("matched above"),
            };
            match schema::enum_canonical(choices, &text) {
                Some(c) => node(Kind::Str(c.into())),
                None => {
                    let names = choices.iter().flat_map(|c| schema::choice_names(c));
                    Err(format!("`{text}` is not one of {}{}", schema::enum_list(choices), did_you_mean(&text, names)))
                }
            }
        }
        (Ty::List(inner), Kind::Seq(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                out.push(coerce(item, inner, false).map_err(|m| format!("item {i}: {m}"))?);
            }
            node(Kind::Seq(out))
        }
        (Ty::List(inner), Kind::Str(_) | Kind::Int(_) | Kind::Float(_) | Kind::Bool(_)) => {
            node(Kind::Seq(vec![coerce(v, inner, false)?]))
        }
        (Ty::Batches, Kind::Int(i)) if *i >= 0 => node(Kind::Int(*i)),
        (Ty::Batches, Kind::Float(x)) if (0.0..=1.0).contains(x) => node(Kind::Float(*x)),
        (Ty::BoolOrCount, Kind::Bool(b)) => node(Kind::Int(i64::from(*b))),
        (Ty::BoolOrCount, Kind::Int(i)) if *i >= 0 => node(Kind::Int(*i)),
        (Ty::Devices, Kind::Str(s)) if s.eq_ignore_ascii_case("auto") => node(Kind::Str("auto".into())),
        (Ty::Devices, Kind::Int(i)) if *i >= 1 => node(Kind::Int(*i)),
        (Ty::Devices, Kind::Seq(_)) => match coerce(v, &schema::LIST_INT0, false) {
            Ok(n) => Ok(n),
            Err(m) => Err(format!("expected device ids ({m})")),
        },
        (Ty::Loggers, Kind::Bool(false)) => node(Kind::Seq(Vec::new())),
        (Ty::Loggers, Kind::Str(s)) if s.contains(',') => {
            let parts = s.split(',').map(|p| Node::new(Kind::Str(p.trim().into()), o.clone())).collect();
            coerce(&Node::new(Kind::Seq(parts), o.clone()), ty, nullable)
        }
        (Ty::Loggers, Kind::Str(_) | Kind::Seq(_)) => {
            const LOGGERS: Ty = Ty::List(&Ty::Enum(&["tensorboard|tb", "csv"]));
            let list = coerce(v, &LOGGERS, false)?;
            let Kind::Seq(items) = list.kind else { unreachable!("a list coerces to a list") };
            let mut uniq: Vec<Node> = Vec::new();
            for it in items {
                if !uniq.iter().any(|u| u.kind == it.kind) {
                    uniq.push(it);
                }
            }
            node(Kind::Seq(uniq))
        }
        _ => expected(),
    }
}

/// Checks that span keys of the canonical tree.
fn cross_checks(t: &Node) -> Result<()> {
    let at = |p: &str| t.get_path(p);
    let origin = |p: &str| at(p).map(|n| n.origin.clone()).unwrap_or(Origin::Default);
    if let Some(Kind::Seq(b)) = at("model.betas").map(|n| &n.kind) {
        let ok = b.len() == 2 && b.iter().all(|x| matches!(x.kind, Kind::Float(v) if (0.0..1.0).contains(&v)));
        if !ok {
            return Err(key_error(&origin("model.betas"), "model.betas", "expected two numbers in [0, 1), e.g. [0.9, 0.999]"));
        }
    }
    let sched = at("model.scheduler").and_then(|n| if let Kind::Str(s) = &n.kind { Some(s.as_str()) } else { None });
    if sched == Some("multistep") && matches!(at("model.milestones").map(|n| &n.kind), Some(Kind::Seq(m)) if m.is_empty()) {
        return Err(key_error(&origin("model.scheduler"), "model.milestones", "`scheduler: multistep` needs `milestones: [..]`"));
    }
    let sgd = matches!(at("model.optimizer").map(|n| &n.kind), Some(Kind::Str(s)) if s == "sgd");
    let nesterov = matches!(at("model.nesterov").map(|n| &n.kind), Some(Kind::Bool(true)));
    let momentum = matches!(at("model.momentum").map(|n| &n.kind), Some(Kind::Float(m)) if *m > 0.0);
    if sgd && nesterov && !momentum {
        return Err(key_error(&origin("model.nesterov"), "model.nesterov", "Nesterov momentum needs `momentum` > 0"));
    }
    let top_k = match at("checkpoint.save_top_k").map(|n| &n.kind) {
        Some(Kind::Int(k)) => *k,
        _ => 1,
    };
    if at("checkpoint.monitor").is_some_and(Node::is_null) && !(-1..=1).contains(&top_k) {
        return Err(key_error(&origin("checkpoint.save_top_k"), "checkpoint.save_top_k", "keeping the best k > 1 needs `checkpoint.monitor`"));
    }
    Ok(())
}
