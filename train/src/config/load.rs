//! From files and flags to runs: read a config file (single-model, or multi-model with a `models:` list) or
//! every `*.yaml` of a directory, layer defaults < the model type's seed defaults < the file's shared
//! settings < the entry's overrides < command-line flags, validate, and build one `RunConfig` per run.

use super::models;
use super::node::{merge, Entry, Kind, Node, Origin};
use super::run::RunConfig;
use super::suggest::did_you_mean;
use super::validate::{key_error, normalize, validate};
use super::yaml;
use crate::{Error, Result};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One command-line setting: the canonical dotted path it sets and the text typed after the flag.
#[derive(Clone, Debug, PartialEq)]
pub struct Override {
    /// `training.max_epochs`, `model.dim`, `data.path`, `run_name`, ...
    pub path: String,
    pub value: String,
    /// The flag as typed, for error messages (`--max_epochs`).
    pub flag: String,
}

impl Override {
    pub fn new(path: impl Into<String>, value: impl Into<String>, flag: impl Into<String>) -> Override {
        Override { path: path.into(), value: value.into(), flag: flag.into() }
    }
    /// `--set KEY=VALUE` (KEY a dotted config path, e.g. `model.depth=4`).
    pub fn parse_set(s: &str) -> Result<Override> {
        match s.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok(Override::new(k.trim(), v, format!("--set {s}"))),
            _ => Err(Error::ConfigKey {
                file: "command line".into(),
                line: None,
                key: "--set".into(),
                msg: format!("expected KEY=VALUE (e.g. `training.max_epochs=5`), found `{s}`"),
            }),
        }
    }
}

/// What the command line says about where runs come from.
#[derive(Clone, Debug, Default)]
pub struct CliInput {
    /// `--config FILE`
    pub config: Option<PathBuf>,
    /// `--config-dir DIR`: every `*.yaml`/`*.yml` in it, sorted by name, each a separate run (or runs).
    pub config_dir: Option<PathBuf>,
    /// Flag values, applied to every run, last one wins.
    pub overrides: Vec<Override>,
    /// Keep only the runs with these ids (`--only`); empty keeps all.
    pub only: Vec<String>,
}

/// The library entry the CLI calls: every run the command line describes, validated, in order.
pub fn from_cli_and_files(input: &CliInput) -> Result<Vec<RunConfig>> {
    let mut pending = Vec::new();
    match (&input.config, &input.config_dir) {
        (Some(_), Some(_)) => {
            return Err(Error::ConfigKey {
                file: "command line".into(),
                line: None,
                key: "--config".into(),
                msg: "give either --config FILE or --config-dir DIR, not both".into(),
            })
        }
        (Some(file), None) => pending.extend(read_file(file)?),
        (None, Some(dir)) => {
            for file in yaml_files(dir)? {
                pending.extend(read_file(&file)?);
            }
        }
        (None, None) => pending.push(Pending { tree: Node::map(Origin::Default), source: None, id_origin: Origin::Default }),
    }
    check_unique_ids(&pending)?;
    if !input.only.is_empty() {
        for want in &input.only {
            if !pending.iter().any(|p| run_id(&p.tree).as_deref() == Some(want.as_str())) {
                let ids: Vec<String> = pending.iter().filter_map(|p| run_id(&p.tree)).collect();
                return Err(Error::ConfigKey {
                    file: "command line".into(),
                    line: None,
                    key: "--only".into(),
                    msg: format!("no run with id `{want}`{}; runs: {}", did_you_mean(want, ids.iter().map(String::as_str)), ids.join(", ")),
                });
            }
        }
        pending.retain(|p| run_id(&p.tree).is_some_and(|id| input.only.contains(&id)));
    }
    let flags = flags_tree(&input.overrides)?;
    let many = pending.len() > 1;
    let mut runs = Vec::with_capacity(pending.len());
    for p in pending {
        runs.push(build_run(p, &flags, many)?);
    }
    check_unique_dirs(&runs)?;
    Ok(runs)
}

/// Runs of one file, with no flags (a saved `config.yaml` loads this way).
pub fn load_file(path: &Path) -> Result<Vec<RunConfig>> {
    from_cli_and_files(&CliInput { config: Some(path.to_path_buf()), ..Default::default() })
}

/// Runs of YAML text named `name` (for messages; its stem is the default id), with flag overrides.
pub fn load_str(text: &str, name: &str, overrides: &[Override]) -> Result<Vec<RunConfig>> {
    let pending = parse_runs(text, name, None)?;
    check_unique_ids(&pending)?;
    let flags = flags_tree(overrides)?;
    let many = pending.len() > 1;
    let runs = pending.into_iter().map(|p| build_run(p, &flags, many)).collect::<Result<Vec<_>>>()?;
    check_unique_dirs(&runs)?;
    Ok(runs)
}

/// One run's source tree (shared settings merged with its entry), before defaults and flags.
struct Pending {
    tree: Node,
    source: Option<PathBuf>,
    id_origin: Origin,
}

fn run_id(tree: &Node) -> Option<String> {
    match &tree.get("id")?.kind {
        Kind::Str(s) => Some(s.clone()),
        Kind::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

fn yaml_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut files = Vec::new();
    for entry in rd {
        let p = entry.map_err(|e| Error::io(dir, e))?.path();
        if p.is_file() && matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
            files.push(p);
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(Error::ConfigKey { file: dir.display().to_string(), line: None, key: "--config-dir".into(), msg: "no *.yaml files in this directory".into() });
    }
    Ok(files)
}

fn read_file(path: &Path) -> Result<Vec<Pending>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let name = path.display().to_string();
    let text = String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..at].iter().filter(|b| **b == b'\n').count() + 1;
        Error::ConfigKey { file: name.clone(), line: Some(line), key: "(encoding)".into(), msg: "the file is not UTF-8 text".into() }
    })?;
    parse_runs(&text, &name, Some(path))
}

/// Parse a file into its runs: one, or one per `models:` entry.
fn parse_runs(text: &str, name: &str, source: Option<&Path>) -> Result<Vec<Pending>> {
    let file: Arc<str> = Arc::from(name);
    let mut root = yaml::parse(text, &file)?;
    if root.entries().is_none() {
        if root.is_null() {
            root = Node::map(root.origin.clone());
        } else {
            return Err(key_error(&root.origin, "(top level)", format!("a config file must be a mapping of keys, found {}", root.type_name())));
        }
    }
    let stem = Path::new(name).file_stem().and_then(|s| s.to_str()).unwrap_or("run").to_string();
    let source = source.map(Path::to_path_buf);
    let Some(models_entry) = root.take("models") else {
        normalize(&mut root)?;
        let id_origin = root.get_entry("id").map(|e| e.key_origin.clone()).unwrap_or(Origin::file(&file, 1));
        if root.get("id").is_none_or(Node::is_null) {
            root.set("id", Origin::Default, Node::new(Kind::Str(stem), Origin::Default));
        }
        return Ok(vec![Pending { tree: root, source, id_origin }]);
    };
    // Multi-model: shared settings + a list of entries, each with a unique id.
    let Kind::Seq(items) = models_entry.value.kind else {
        return Err(key_error(&models_entry.value.origin, "models", format!("expected a list of models, found {}", models_entry.value.type_name())));
    };
    if items.is_empty() {
        return Err(key_error(&models_entry.key_origin, "models", "the `models:` list is empty"));
    }
    let group = root.take("id").map(|e| e.value);
    normalize(&mut root)?;
    let mut out: Vec<Pending> = Vec::with_capacity(items.len());
    for (i, mut item) in items.into_iter().enumerate() {
        if item.entries().is_none() {
            return Err(key_error(&item.origin, format!("models[{i}]"), format!("expected a mapping (id, model, training, ...), found {}", item.type_name())));
        }
        let id_entry = item.get_entry("id").cloned();
        let id_origin = id_entry.as_ref().map(|e| e.key_origin.clone()).unwrap_or(item.origin.clone());
        match id_entry.as_ref().map(|e| &e.value.kind) {
            Some(Kind::Str(_) | Kind::Int(_)) => {}
            Some(_) => return Err(key_error(&id_origin, format!("models[{i}].id"), "expected a name")),
            None => return Err(key_error(&item.origin, format!("models[{i}].id"), "missing required key: each entry of `models:` needs a unique `id`")),
        }
        normalize(&mut item)?;
        let mut tree = root.clone();
        if let Some(g) = &group {
            tree.set("group", Origin::Default, g.clone());
        }
        merge(&mut tree, item);
        out.push(Pending { tree, source: source.clone(), id_origin });
    }
    Ok(out)
}

fn check_unique_ids(pending: &[Pending]) -> Result<()> {
    for (i, p) in pending.iter().enumerate() {
        let Some(id) = run_id(&p.tree) else { continue };
        if let Some(first) = pending[..i].iter().find(|q| run_id(&q.tree).as_deref() == Some(id.as_str())) {
            return Err(key_error(&p.id_origin, "id", format!("duplicate model id `{id}` (first used at {})", first.id_origin)));
        }
    }
    Ok(())
}

fn check_unique_dirs(runs: &[RunConfig]) -> Result<()> {
    for (i, r) in runs.iter().enumerate() {
        if let Some(first) = runs[..i].iter().find(|q| q.run_dir == r.run_dir) {
            let from = |r: &RunConfig| r.source.as_ref().map(|s| s.display().to_string()).unwrap_or_else(|| "the command line".into());
            return Err(Error::ConfigKey {
                file: from(r),
                line: None,
                key: "run_name".into(),
                msg: format!("runs `{}` ({}) and `{}` would both write to {}; give them different ids or run names", first.id, from(first), r.id, r.run_dir.display()),
            });
        }
    }
    Ok(())
}

/// The flags as a tree of canonical paths (normalised, so `--set training.epochs=5` works too).
fn flags_tree(overrides: &[Override]) -> Result<Node> {
    let mut root = Node::map(Origin::Default);
    for o in overrides {
        let origin = Origin::Flag(o.flag.clone());
        let parts: Vec<&str> = o.path.split('.').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(key_error(&origin, o.path.clone(), "not a config key path (expected e.g. `training.max_epochs`)"));
        }
        let mut node = &mut root;
        for p in &parts[..parts.len() - 1] {
            match node.section_mut(p, &origin) {
                Some(n) => node = n,
                None => return Err(key_error(&origin, o.path.clone(), format!("`{p}` is not a section"))),
            }
        }
        node.set(parts[parts.len() - 1], origin.clone(), Node::new(Kind::Str(o.value.clone()), origin.clone()));
    }
    normalize(&mut root)?;
    Ok(root)
}

/// Defaults < model seed defaults < source < flags, then validate and build.
fn build_run(p: Pending, flags: &Node, many: bool) -> Result<RunConfig> {
    let mut flags = flags.clone();
    let id = run_id(&p.tree);
    // One `--run_name` for several runs: each gets `{run_name}-{id}` so their directories differ.
    if let (true, Some(id), Some(Kind::Str(name))) = (many, &id, flags.get("run_name").map(|n| n.kind.clone())) {
        if let Some(e) = flags.get_entry("run_name").cloned() {
            flags.set("run_name", e.key_origin, Node::new(Kind::Str(format!("{name}-{id}")), e.value.origin));
        }
    }
    let type_node = flags.get_path("model.type").or_else(|| p.tree.get_path("model.type")).cloned();
    let spec = match &type_node {
        None => {
            let (file, line) = match &p.source {
                Some(s) => (s.display().to_string(), None),
                None => ("command line".to_string(), None),
            };
            return Err(Error::ConfigKey {
                file,
                line,
                key: "model.type".into(),
                msg: format!("missing required key: set `model: {{type: ...}}` in the config or pass --model ({})", models::type_names().join(", ")),
            });
        }
        Some(n) => {
            let name = match &n.kind {
                Kind::Str(s) => s.clone(),
                _ => return Err(key_error(&n.origin, "model.type", format!("expected a model name, found {}", n.type_name()))),
            };
            models::find(&name).ok_or_else(|| {
                key_error(
                    &n.origin,
                    "model.type",
                    format!("unknown model type `{name}` (known: {}){}", models::type_names().join(", "), did_you_mean(&name, models::type_names())),
                )
            })?
        }
    };
    let mut tree = Node::map(Origin::Default);
    for (path, literal) in spec.defaults {
        let json = serde_json::from_str(literal).unwrap_or(serde_json::Value::Null);
        let (section, key) = path.split_once('.').unwrap_or(("", path));
        if let Some(s) = tree.section_mut(section, &Origin::Default) {
            s.set(key, Origin::Default, Node::from_json(&json, &Origin::Default));
        }
    }
    merge(&mut tree, p.tree);
    merge(&mut tree, flags);
    // No config file: the id is the run name, else the model type.
    if tree.get("id").is_none_or(Node::is_null) {
        let id = match tree.get("run_name").map(|n| &n.kind) {
            Some(Kind::Str(s)) => s.clone(),
            _ => spec.name.to_string(),
        };
        tree.set("id", Origin::Default, Node::new(Kind::Str(id), Origin::Default));
    }
    let canonical = validate(&tree, spec)?;
    let run = RunConfig::from_tree(canonical, p.source)?;
    check_names(&run, &tree)?;
    Ok(run)
}

/// Ids and run names become directory names: no path separators, no `..`.
fn check_names(run: &RunConfig, tree: &Node) -> Result<()> {
    for (key, value) in [("id", &run.id), ("run_name", &run.run_name)] {
        let bad = value.is_empty() || value == "." || value == ".." || value.contains(['/', '\\', '\0']);
        if bad {
            let origin = tree.get_entry(key).map(|e: &Entry| e.value.origin.clone()).unwrap_or(Origin::Default);
            return Err(key_error(&origin, key, format!("`{value}` cannot be a directory name (no `/`, `..` or empty names)")));
        }
    }
    Ok(())
}
