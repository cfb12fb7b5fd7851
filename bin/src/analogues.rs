//! `wrt-train analogues build|query`: AtmoDist's weather-analogue search on the command line. `build` embeds
//! every state of a library file with a checkpoint's encoder and writes the index; `query` finds the k
//! nearest library states (or windows) of query steps, from the library itself or from another file.

use crate::error::CliError;
use clap::{Arg, ArgMatches, Command};
use std::path::{Path, PathBuf};
use wrt_train::analogues::{self, AnalogueIndex, Distance, QueryOptions};
use wrt_train::data::{AtmoDistDataset, Normalize, OpenOptions};

pub fn command() -> Command {
    let path = |name: &'static str, help: &'static str| Arg::new(name).long(name).value_name("FILE").help(help);
    Command::new("analogues")
        .about("Weather-analogue search with a trained AtmoDist encoder: build an index, query it")
        .subcommand_required(true)
        .subcommand(
            Command::new("build")
                .about("Embed every state of a library file (AtmoDist layout) and write the index (safetensors)")
                .arg(path("checkpoint", "Trained AtmoDist checkpoint (.ckpt, or a PyTorch state_dict as safetensors)").required(true))
                .arg(path("data-path", "Library data file (HDF5, AtmoDist layout: fields [T, C, H, W], optional time [T])").required(true))
                .arg(path("index", "Index file to write").required(true))
                .arg(Arg::new("variables").long("variables").value_name("LIST").help("Variables to read, comma-separated (default: those the checkpoint was trained on)"))
                .arg(Arg::new("batch-size").long("batch-size").value_name("N").value_parser(clap::value_parser!(u64).range(1..)).help("States per forward (default 256)")),
        )
        .subcommand(
            Command::new("query")
                .about("The k nearest analogues of query steps (CSV: query_step, query_time, rank, step, time, distance)")
                .arg(path("index", "Index written by `analogues build`").required(true))
                .arg(Arg::new("steps").long("steps").value_name("LIST").required(true).help("Query steps: 10,20,30-40 (ranges inclusive) or `all`"))
                .arg(path("query-data", "Take the query states from this file instead of the library (embedded with the index's checkpoint)"))
                .arg(path("checkpoint", "Checkpoint to embed --query-data with (default: the one the index was built with)"))
                .arg(Arg::new("k").short('k').long("k").value_name("N").value_parser(clap::value_parser!(u64).range(1..)).help("Analogues per query (default 10)"))
                .arg(Arg::new("metric").long("metric").value_name("l2|cosine").help("Distance: l2 (squared Euclidean, default) or cosine"))
                .arg(Arg::new("window").long("window").value_name("W").value_parser(clap::value_parser!(u64).range(1..)).help("Compare windows of W consecutive states (mean distance; default 1)"))
                .arg(Arg::new("min-separation").long("min-separation").value_name("STEPS").value_parser(clap::value_parser!(u64)).help("Library queries: skip candidates fewer than STEPS steps from the query (default 0: the query finds itself)"))
                .arg(Arg::new("output").long("output").short('o').value_name("FILE.csv").help("Write every analogue as CSV (default: print a table)")),
        )
}

pub fn run(m: &ArgMatches) -> Result<(), CliError> {
    match m.subcommand() {
        Some(("build", sub)) => build(sub),
        Some(("query", sub)) => query(sub),
        _ => Err(CliError::Usage("error: `wrt-train analogues` needs a subcommand: build or query".into())),
    }
}

fn path_arg(m: &ArgMatches, name: &str) -> Option<PathBuf> {
    m.get_one::<String>(name).map(PathBuf::from)
}

/// The library (or query) file as AtmoDist data, read as in training: the same variables, standardised
/// (per-variable statistics of this file) unless the model was trained on raw values.
fn open_data(path: &Path, variables: Vec<String>, normalize: bool) -> Result<AtmoDistDataset, CliError> {
    let mut o = OpenOptions { normalize: if normalize { Normalize::Standard } else { Normalize::None }, ..Default::default() };
    o.atmodist.variables = variables;
    AtmoDistDataset::open(path, &o).map_err(CliError::Runtime)
}

fn load_task(checkpoint: &Path) -> Result<wrt_train::tasks::atmodist::AtmodistTask, CliError> {
    let cfg = wrt_train::config::load_str("model:\n  type: atmodist\n", "analogues", &[]).map_err(CliError::Config)?.remove(0);
    wrt_train::run::atmodist_from_checkpoint(&cfg, checkpoint).map_err(CliError::Runtime)
}

fn build(m: &ArgMatches) -> Result<(), CliError> {
    let (ckpt, data, out) = (path_arg(m, "checkpoint").unwrap_or_default(), path_arg(m, "data-path").unwrap_or_default(), path_arg(m, "index").unwrap_or_default());
    let batch = m.get_one::<u64>("batch-size").copied().unwrap_or(256) as usize;
    let task = load_task(&ckpt)?;
    let (trained_vars, normalize) = task.data_settings();
    let variables = m.get_one::<String>("variables").map(|v| v.split(',').map(|s| s.trim().to_string()).collect()).unwrap_or(trained_vars);
    let ds = open_data(&data, variables, normalize)?;
    let bar = indicatif::ProgressBar::new(ds.steps() as u64);
    bar.set_style(indicatif::ProgressStyle::with_template("embedding {pos}/{len} states [{elapsed_precise}] {per_sec}").unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()));
    let (index, stats) = AnalogueIndex::build(&task, &ckpt, &ds, batch, |done| bar.set_position(done as u64)).map_err(CliError::Runtime)?;
    bar.finish_and_clear();
    index.save(&out).map_err(CliError::Runtime)?;
    eprintln!(
        "indexed {} states of {} ({}-d embeddings) in {:.2} s ({:.0} states/s) -> {}",
        stats.states,
        data.display(),
        index.dim,
        stats.seconds,
        stats.states_per_second(),
        out.display()
    );
    Ok(())
}

/// `10,20,30-40` (ranges inclusive) or `all` (every step of `n`).
fn parse_steps(text: &str, n: usize) -> Result<Vec<usize>, CliError> {
    if text.trim() == "all" {
        return Ok((0..n).collect());
    }
    let bad = |p: &str| CliError::Usage(format!("error: --steps: '{p}' is not a step or a range a-b (steps 0..{n})"));
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a.trim().parse::<usize>().map_err(|_| bad(part))?, b.trim().parse::<usize>().map_err(|_| bad(part))?),
            None => {
                let v = part.parse::<usize>().map_err(|_| bad(part))?;
                (v, v)
            }
        };
        if a > b || b >= n {
            return Err(bad(part));
        }
        out.extend(a..=b);
    }
    if out.is_empty() {
        return Err(bad(text));
    }
    Ok(out)
}

fn query(m: &ArgMatches) -> Result<(), CliError> {
    let index_path = path_arg(m, "index").unwrap_or_default();
    let index = AnalogueIndex::load(&index_path).map_err(CliError::Runtime)?;
    let metric = m.get_one::<String>("metric").map(String::as_str).unwrap_or("l2");
    let distance: Distance = metric.parse().map_err(CliError::Config)?;
    let o = QueryOptions {
        k: m.get_one::<u64>("k").copied().unwrap_or(10) as usize,
        distance,
        window: m.get_one::<u64>("window").copied().unwrap_or(1) as usize,
        min_separation: m.get_one::<u64>("min-separation").copied().unwrap_or(0) as usize,
    };
    let steps_text = m.get_one::<String>("steps").map(String::as_str).unwrap_or_default();
    // each query step s stands for the window s..s+W-1
    let (queries, names, lib_steps) = match path_arg(m, "query-data") {
        None => {
            let n = index.len();
            let steps = parse_steps(steps_text, n.saturating_sub(o.window - 1))?;
            let mut q = Vec::with_capacity(steps.len() * o.window * index.dim);
            for &s in &steps {
                for t in 0..o.window {
                    let row = index.row_of((s + t) as i64).ok_or_else(|| CliError::Usage(format!("error: step {} is not in the index", s + t)))?;
                    q.extend_from_slice(&index.embeddings[row * index.dim..(row + 1) * index.dim]);
                }
            }
            let names: Vec<(i64, String)> = steps.iter().map(|&s| (s as i64, analogues::timestamp(&index, index.row_of(s as i64).unwrap_or(0)))).collect();
            let lib: Vec<i64> = steps.iter().map(|&s| s as i64).collect();
            (q, names, Some(lib))
        }
        Some(file) => {
            let ckpt = path_arg(m, "checkpoint").unwrap_or_else(|| index.meta.checkpoint.clone());
            let task = load_task(&ckpt)?;
            let ds = open_data(&file, index.meta.variables.clone(), task.data_settings().1)?;
            let steps = parse_steps(steps_text, ds.steps().saturating_sub(o.window - 1))?;
            let all: Vec<usize> = steps.iter().flat_map(|&s| s..s + o.window).collect();
            let (q, dim) = analogues::embed_steps(&task, &ds, &all, 256, |_| {}).map_err(CliError::Runtime)?;
            if dim != index.dim {
                return Err(CliError::Usage(format!("error: {} embeds to {dim} values but the index holds {}-d embeddings (another checkpoint?)", ckpt.display(), index.dim)));
            }
            let times = ds.times().map_err(CliError::Runtime)?;
            let names = steps.iter().map(|&s| (s as i64, times.as_ref().map_or(format!("step {s}"), |t| analogues::iso8601(t[s])))).collect();
            (q, names, None)
        }
    };
    let (found, stats) = analogues::query(&index, &queries, lib_steps.as_deref(), &o).map_err(CliError::Runtime)?;
    let mut csv = String::from("query_step,query_time,rank,step,time,distance\n");
    for (q, list) in found.iter().enumerate() {
        for a in list {
            csv += &format!("{},{},{},{},{},{}\n", names[q].0, names[q].1, a.rank, a.step, a.time, a.distance);
        }
    }
    match path_arg(m, "output") {
        Some(out) => wrt_tensor::io::write_atomic(&out, csv.as_bytes()).map_err(|e| CliError::Runtime(wrt_train::Error::io(&out, e)))?,
        None => {
            for (q, list) in found.iter().enumerate().take(20) {
                println!("query step {} ({}):", names[q].0, names[q].1);
                for a in list {
                    println!("  {:>3}. step {:>7}  {:<22} distance {:.6}", a.rank, a.step, a.time, a.distance);
                }
            }
            if found.len() > 20 {
                println!("... {} more queries (use --output FILE.csv for all)", found.len() - 20);
            }
        }
    }
    eprintln!(
        "{} queries x {} library states ({} distance, window {}) in {:.3} s: {:.0} queries/s, {:.2e} comparisons/s",
        stats.queries,
        stats.library,
        metric,
        o.window,
        stats.seconds,
        stats.queries_per_second(),
        stats.comparisons_per_second()
    );
    Ok(())
}
