//! The `wrt-train` command line as a library (the binary is `main.rs`; tests call these functions).
//!
//! `main_with_args` parses with clap (`cli.rs`), turns run flags into config overrides and calls
//! `wrt_train::config::from_cli_and_files`, then hands each `RunConfig` to `run.rs`. `sweep` and `train
//! --max-parallel N` start child processes of this binary (`children.rs`).

pub mod analogues;
pub mod children;
pub mod cli;
pub mod error;
pub mod flags;
pub mod inspect;
pub mod run;
pub mod slurm;
pub mod sweep;

use clap::ArgMatches;
use error::CliError;
use std::path::{Path, PathBuf};
use wrt_train::config::{self, RunConfig};

/// Run the CLI on `args` (program name first); returns the process exit code.
pub fn main_with_args(args: Vec<String>) -> i32 {
    match dispatch(args) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{}", e.report());
            e.exit_code()
        }
    }
}

fn dispatch(args: Vec<String>) -> Result<(), CliError> {
    let raw = args.clone();
    let (args, wandb_overrides, wandb_notes) = cli::strip_wandb(args);
    let m = match cli::command().try_get_matches_from(args) {
        Ok(m) => m,
        Err(e) if matches!(e.kind(), clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion) => {
            print!("{e}");
            return Ok(());
        }
        Err(e) => return Err(CliError::Usage(e.render().to_string())),
    };
    for n in &wandb_notes {
        eprintln!("note: {n}");
    }
    match m.subcommand() {
        Some((cmd @ ("train" | "validate" | "evaluate" | "predict"), sub)) => run_command(cmd, sub, wandb_overrides, &raw),
        Some(("config", sub)) => config_command(sub, wandb_overrides),
        Some(("inspect", sub)) => inspect_command(sub),
        Some(("data", sub)) => data_command(sub),
        Some(("sweep", sub)) => sweep_command(sub),
        Some(("slurm", sub)) => slurm_command(sub),
        Some(("analogues", sub)) => analogues::run(sub),
        _ => Err(CliError::Usage("error: unknown subcommand (see wrt-train --help)".into())),
    }
}

/// Runs described by a run subcommand's arguments.
pub fn runs_from(m: &ArgMatches, extra: Vec<config::Override>) -> Result<(Vec<RunConfig>, cli::RunArgs), CliError> {
    let ra = cli::run_args_from(m, extra).map_err(CliError::Config)?;
    let runs = config::from_cli_and_files(&ra.input).map_err(CliError::Config)?;
    Ok((runs, ra))
}

fn run_command(cmd: &str, m: &ArgMatches, extra: Vec<config::Override>, raw: &[String]) -> Result<(), CliError> {
    let (runs, ra) = runs_from(m, extra)?;
    for r in &runs {
        for n in &r.notes {
            eprintln!("note: {}: {n}", r.run_name);
        }
    }
    if runs.len() > 1 && ra.max_parallel > 1 {
        return run_parallel(cmd, &runs, &ra, raw);
    }
    // one run after another; a failing run is reported and the next one starts
    let mut outcomes: Vec<(String, Option<String>)> = Vec::new();
    for r in &runs {
        if runs.len() > 1 {
            eprintln!("== {cmd} {} ({}) ==", r.run_name, r.model.type_name);
        }
        let res = match cmd {
            "train" => run::run_train(r),
            "validate" => run::run_validate(r),
            "evaluate" => run::run_evaluate(r),
            _ => run::run_predict(r),
        };
        match res {
            Err(e) if runs.len() == 1 => return Err(e),
            Err(e) => {
                let report = e.report();
                eprintln!("{report}");
                outcomes.push((r.run_name.clone(), Some(report.lines().next().unwrap_or_default().to_string())));
            }
            Ok(()) => outcomes.push((r.run_name.clone(), None)),
        }
    }
    if runs.len() > 1 {
        eprintln!("\n{cmd}: {} runs", runs.len());
        for (name, why) in &outcomes {
            match why {
                None => eprintln!("  {name}: ok"),
                Some(w) => eprintln!("  {name}: FAILED: {w}"),
            }
        }
    }
    let failed: Vec<&str> = outcomes.iter().filter(|o| o.1.is_some()).map(|o| o.0.as_str()).collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(CliError::Failed(format!("{} of {} runs failed: {}", failed.len(), runs.len(), failed.join(", "))))
    }
}

/// The arguments of this process after the subcommand, without `--max-parallel` and `--gpus` (the parent
/// decides those per child).
fn args_without(args: &[String], drop: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let name = a.split('=').next().unwrap_or("").replace('_', "-");
        if drop.iter().any(|d| name == format!("--{d}")) {
            if !a.contains('=') {
                it.next();
            }
            continue;
        }
        out.push(a.clone());
    }
    out
}

/// `train --max-parallel N` over several runs: one child per run (`--only ID`), GPUs dealt round-robin.
fn run_parallel(cmd: &str, runs: &[RunConfig], ra: &cli::RunArgs, argv: &[String]) -> Result<(), CliError> {
    let exe = std::env::current_exe().map_err(|e| CliError::Failed(format!("cannot find this executable: {e}")))?;
    let pos = argv.iter().position(|a| a == cmd).map(|p| p + 1).unwrap_or(argv.len());
    let base = args_without(&argv[pos..], &["max-parallel", "gpus", "only"]);
    let gpus: Vec<String> = ra.gpus.as_deref().map(|g| g.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()).unwrap_or_default();
    let jobs: Vec<children::Job> = runs
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut args = vec![cmd.to_string()];
            args.extend(base.iter().cloned());
            args.extend(["--only".into(), r.id.clone()]);
            if !gpus.is_empty() {
                args.extend(["--gpus".into(), gpus[i % gpus.len()].clone()]);
            }
            children::Job { name: r.run_name.clone(), args, log: Some(r.run_dir.join(format!("{cmd}.log"))) }
        })
        .collect();
    eprintln!("{cmd}: {} runs, {} at a time; logs in each run directory ({cmd}.log)", jobs.len(), ra.max_parallel);
    let outcomes = children::run_jobs(&exe, &jobs, ra.max_parallel as usize, |o| eprintln!("  {} {}", o.name, status_text(o)));
    let failed: Vec<&str> = outcomes.iter().filter(|o| !o.ok()).map(|o| o.name.as_str()).collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(CliError::Failed(format!("{} of {} runs failed: {}", failed.len(), outcomes.len(), failed.join(", "))))
    }
}

fn status_text(o: &children::Outcome) -> String {
    match &o.status {
        Ok(0) => format!("done ({:.1} s)", o.seconds),
        Ok(c) => format!("FAILED with exit code {c} ({:.1} s){}", o.seconds, o.log.as_ref().map(|l| format!(", see {}", l.display())).unwrap_or_default()),
        Err(e) => format!("FAILED: {e}"),
    }
}

fn config_command(m: &ArgMatches, extra: Vec<config::Override>) -> Result<(), CliError> {
    if m.get_flag("schema") {
        print!("{}", config::schema::markdown());
        return Ok(());
    }
    let (runs, _) = runs_from(m, extra)?;
    for (i, r) in runs.iter().enumerate() {
        if i > 0 {
            println!("---");
        }
        print!("{}", r.effective_yaml());
        for n in &r.notes {
            eprintln!("note: {}: {n}", r.run_name);
        }
    }
    Ok(())
}

fn inspect_command(m: &ArgMatches) -> Result<(), CliError> {
    let path = PathBuf::from(m.get_one::<String>("file").map(String::as_str).unwrap_or_default());
    let json = m.get_flag("json");
    let mut reports = Vec::new();
    for f in inspect::files(&path).map_err(CliError::Runtime)? {
        let s = inspect::read_summary(&f).map_err(CliError::Runtime)?;
        if json {
            reports.push(inspect::to_json(&s));
        } else {
            print!("{}", inspect::render(&s));
        }
    }
    if json {
        let v = if reports.len() == 1 { reports.remove(0) } else { serde_json::Value::Array(reports) };
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    }
    Ok(())
}

fn data_command(m: &ArgMatches) -> Result<(), CliError> {
    use wrt_train::data;
    match m.subcommand() {
        Some(("synth", sub)) => {
            let kind_text = sub.get_one::<String>("kind").map(String::as_str).unwrap_or_default();
            let kind = data::Kind::parse(kind_text).map_err(|e| {
                let names = data::Kind::ALL.map(|k| k.name());
                CliError::Usage(format!("error: --kind: {e}{}", config::suggest::did_you_mean(kind_text, names)))
            })?;
            let out = PathBuf::from(sub.get_one::<String>("out").map(String::as_str).unwrap_or_default());
            let n = |k: &str| sub.get_one::<u64>(k).map(|v| *v as usize).unwrap_or(0);
            let opts = data::synth::SynthOptions {
                n: n("samples"),
                seed: sub.get_one::<u64>("seed").copied().unwrap_or(0),
                size: n("size"),
                frames: n("frames"),
                channels: n("channels"),
                classes: n("classes"),
                gzip: sub.get_one::<u8>("gzip").copied().unwrap_or(4),
            };
            data::synth::write(kind, &out, &opts).map_err(CliError::Runtime)?;
            eprintln!("wrote {} ({} layout)", out.display(), kind.name());
            Ok(())
        }
        Some(("inspect", sub)) => {
            let file = sub.get_one::<String>("file").map(String::as_str).unwrap_or_default();
            print!("{}", data::inspect(file).map_err(CliError::Runtime)?);
            Ok(())
        }
        _ => Err(CliError::Usage("error: `wrt-train data` needs a subcommand: synth or inspect".into())),
    }
}

fn sweep_command(m: &ArgMatches) -> Result<(), CliError> {
    let train_args: Vec<String> = m.get_many::<String>("train_args").map(|v| v.cloned().collect()).unwrap_or_default();
    let params = m.get_many::<String>("grid").map(|v| v.map(|s| sweep::parse_param(s)).collect::<Result<Vec<_>, _>>()).transpose()?.unwrap_or_default();
    if params.is_empty() {
        return Err(CliError::Usage("error: `sweep` needs at least one --grid KEY=VALUES".into()));
    }
    let trials = match m.get_one::<u32>("random") {
        Some(n) => sweep::random(&params, *n, m.get_one::<u64>("seed").copied().unwrap_or(0)),
        None => sweep::grid(&params)?,
    };
    let prefix = m.get_one::<String>("name").cloned().unwrap_or_else(|| "sweep".into());
    let log_dir = m.get_one::<String>("log-dir").map(PathBuf::from).unwrap_or_else(|| Path::new("experiments/sweeps").join(&prefix));
    let max_parallel = m.get_one::<u32>("max-parallel").copied().unwrap_or(1) as usize;
    let gpus: Vec<String> = m.get_one::<String>("gpus").map(|g| g.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()).unwrap_or_default();
    let width = trials.len().to_string().len().max(2);
    let mut jobs = Vec::with_capacity(trials.len());
    for (i, t) in trials.iter().enumerate() {
        let name = format!("{prefix}-{i:0width$}");
        let mut args = train_args.clone();
        args.extend(sweep::trial_args(t));
        args.extend(["--run_name".into(), name.clone()]);
        if !gpus.is_empty() {
            args.extend(["--gpus".into(), gpus[i % gpus.len()].clone()]);
        }
        // Validate every trial before starting any: a typo in trial 7 should not surface an hour in.
        let ra = cli::parse_train_args(&args).map_err(|e| CliError::Usage(format!("trial {name} ({}): {}", sweep::describe(t), e.report())))?;
        let runs = config::from_cli_and_files(&ra.input).map_err(|e| CliError::Usage(format!("error: trial {name} ({}): {e}", sweep::describe(t))))?;
        // Trials must not share a checkpoint directory (SaTformer's seed default is `checkpoints`): unless the
        // user chose one, each trial keeps its checkpoints in its own run directory.
        let chosen = train_args.iter().any(|a| a.replace('-', "_").starts_with("__checkpoint_dir"));
        if let (false, Some(r)) = (chosen, runs.first()) {
            args.extend(["--checkpoint_dir".into(), r.run_dir.join("checkpoints").display().to_string()]);
        }
        let mut full = vec!["train".to_string()];
        full.extend(args);
        let log = (max_parallel > 1).then(|| log_dir.join(format!("{name}.log")));
        jobs.push((t.clone(), children::Job { name, args: full, log }));
    }
    if m.get_flag("dry-run") {
        for (_, j) in &jobs {
            println!("wrt-train {}", j.args.iter().map(|a| slurm::shell_quote(a)).collect::<Vec<_>>().join(" "));
        }
        return Ok(());
    }
    let exe = std::env::current_exe().map_err(|e| CliError::Failed(format!("cannot find this executable: {e}")))?;
    eprintln!("sweep: {} trials, {} at a time", jobs.len(), max_parallel);
    let only_jobs: Vec<children::Job> = jobs.iter().map(|(_, j)| j.clone()).collect();
    let outcomes = children::run_jobs(&exe, &only_jobs, max_parallel, |o| eprintln!("  {} {}", o.name, status_text(o)));
    let summary = sweep_summary(&jobs.iter().map(|(t, _)| t.clone()).collect::<Vec<_>>(), &outcomes);
    println!("{summary}");
    std::fs::create_dir_all(&log_dir).ok();
    let csv = log_dir.join("summary.csv");
    let mut text = String::from("run_name,params,exit_code,seconds\n");
    for ((t, _), o) in jobs.iter().zip(&outcomes) {
        let code = match &o.status {
            Ok(c) => c.to_string(),
            Err(_) => "error".into(),
        };
        text += &format!("{},\"{}\",{code},{:.1}\n", o.name, sweep::describe(t).replace('"', "\"\""), o.seconds);
    }
    if let Err(e) = std::fs::write(&csv, text) {
        eprintln!("warning: cannot write {}: {e}", csv.display());
    } else {
        eprintln!("summary written to {}", csv.display());
    }
    let failed = outcomes.iter().filter(|o| !o.ok()).count();
    if failed == 0 {
        Ok(())
    } else {
        Err(CliError::Failed(format!("{failed} of {} trials failed", outcomes.len())))
    }
}

/// The end-of-sweep table.
pub fn sweep_summary(trials: &[sweep::Trial], outcomes: &[children::Outcome]) -> String {
    let w = outcomes.iter().map(|o| o.name.len()).max().unwrap_or(8).max(8);
    let mut s = format!("{:<w$}  {:<8}  {:>8}  params\n", "run", "status", "seconds");
    for (t, o) in trials.iter().zip(outcomes) {
        let st = match &o.status {
            Ok(0) => "ok".to_string(),
            Ok(c) => format!("exit {c}"),
            Err(_) => "error".into(),
        };
        s += &format!("{:<w$}  {:<8}  {:>8.1}  {}\n", o.name, st, o.seconds, sweep::describe(t));
    }
    let ok = outcomes.iter().filter(|o| o.ok()).count();
    s += &format!("{ok} of {} trials succeeded", outcomes.len());
    s
}

fn slurm_command(m: &ArgMatches) -> Result<(), CliError> {
    let train_args: Vec<String> = m.get_many::<String>("train_args").map(|v| v.cloned().collect()).unwrap_or_default();
    let ra = cli::parse_train_args(&train_args)?;
    let runs = config::from_cli_and_files(&ra.input).map_err(CliError::Config)?;
    let gres = match (m.get_one::<String>("gres"), m.get_one::<u32>("gpus_per_node")) {
        (Some(g), _) => Some(g.clone()),
        (None, Some(0)) => None,
        (None, Some(n)) => Some(format!("gpu:{n}")),
        (None, None) => Some(format!("gpu:{}", ra.gpus.as_deref().map(|g| g.split(',').filter(|s| !s.trim().is_empty()).count().max(1)).unwrap_or(1))),
    };
    let job_name = m.get_one::<String>("job_name").cloned().unwrap_or_else(|| if runs.len() == 1 { runs[0].run_name.clone() } else { "wrt-train".into() });
    let opts = slurm::SlurmOpts {
        job_name,
        nodes: m.get_one::<u32>("nodes").copied().unwrap_or(1),
        ntasks_per_node: m.get_one::<u32>("ntasks_per_node").copied().unwrap_or(1),
        gres,
        cpus_per_task: m.get_one::<u32>("cpus_per_task").copied(),
        mem: m.get_one::<String>("mem").cloned(),
        time: m.get_one::<String>("time").cloned().unwrap_or_else(|| "24:00:00".into()),
        partition: m.get_one::<String>("partition").cloned(),
        account: m.get_one::<String>("account").cloned(),
        log: m.get_one::<String>("log").cloned().unwrap_or_else(|| "slurm-%j.out".into()),
        extra: m.get_many::<String>("sbatch").map(|v| v.cloned().collect()).unwrap_or_default(),
        setup: m.get_many::<String>("setup").map(|v| v.cloned().collect()).unwrap_or_default(),
    };
    let exe = std::env::current_exe().map_err(|e| CliError::Failed(format!("cannot find this executable: {e}")))?;
    let cwd = std::env::current_dir().map_err(|e| CliError::Failed(format!("cannot read the working directory: {e}")))?;
    let mut command = vec![exe.display().to_string(), "train".to_string()];
    command.extend(train_args);
    let text = slurm::script(&opts, &cwd.display().to_string(), &command)?;
    match m.get_one::<String>("out").map(String::as_str) {
        None | Some("-") => print!("{text}"),
        Some(file) => {
            std::fs::write(file, &text).map_err(|e| CliError::Runtime(wrt_train::Error::io(file, e)))?;
            eprintln!("wrote {file} (submit with: sbatch {file})");
        }
    }
    Ok(())
}
