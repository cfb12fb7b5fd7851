//! The `wrt-train` command line as a library (the binary is `main.rs`; tests call these functions).
//!
//! `main_with_args` parses with clap (`cli.rs`), turns run flags into config overrides and calls
//! `wrt_train::config::from_cli_and_files`, then hands each `RunConfig` to `run.rs`. `sweep` and `train
//! --max-parallel N` start child processes of this binary (`children.rs`).

pub mod analogues;
pub mod bayes;
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

/// The `train` child of one sweep trial, validated (a typo in trial 7 should not surface an hour in), and
/// the trial's run directory.
struct TrialSetup<'a> {
    train_args: &'a [String],
    prefix: &'a str,
    width: usize,
    gpus: &'a [String],
    log_dir: &'a Path,
    logs: bool,
}

impl TrialSetup<'_> {
    fn job(&self, i: usize, t: &sweep::Trial) -> Result<(children::Job, PathBuf), CliError> {
        let name = format!("{}-{i:0w$}", self.prefix, w = self.width);
        let mut args = self.train_args.to_vec();
        args.extend(sweep::trial_args(t));
        args.extend(["--run_name".into(), name.clone()]);
        if !self.gpus.is_empty() {
            args.extend(["--gpus".into(), self.gpus[i % self.gpus.len()].clone()]);
        }
        let ra = cli::parse_train_args(&args).map_err(|e| CliError::Usage(format!("trial {name} ({}): {}", sweep::describe(t), e.report())))?;
        let runs = config::from_cli_and_files(&ra.input).map_err(|e| CliError::Usage(format!("error: trial {name} ({}): {e}", sweep::describe(t))))?;
        let run_dir = runs.first().map(|r| r.run_dir.clone()).unwrap_or_default();
        // Trials must not share a checkpoint directory (SaTformer's seed default is `checkpoints`): unless the
        // user chose one, each trial keeps its checkpoints in its own run directory.
        let chosen = self.train_args.iter().any(|a| a.replace('-', "_").starts_with("__checkpoint_dir"));
        if !chosen && !runs.is_empty() {
            args.extend(["--checkpoint_dir".into(), run_dir.join("checkpoints").display().to_string()]);
        }
        let mut full = vec!["train".to_string()];
        full.extend(args);
        let log = self.logs.then(|| self.log_dir.join(format!("{name}.log")));
        Ok((children::Job { name, args: full, log }, run_dir))
    }
}

fn sweep_command(m: &ArgMatches) -> Result<(), CliError> {
    let train_args: Vec<String> = m.get_many::<String>("train_args").map(|v| v.cloned().collect()).unwrap_or_default();
    let params = m.get_many::<String>("grid").map(|v| v.map(|s| sweep::parse_param(s)).collect::<Result<Vec<_>, _>>()).transpose()?.unwrap_or_default();
    if params.is_empty() {
        return Err(CliError::Usage("error: `sweep` needs at least one --grid KEY=VALUES".into()));
    }
    let seed = m.get_one::<u64>("seed").copied().unwrap_or(0);
    let method = m.get_one::<String>("method").map(String::as_str).unwrap_or(if m.contains_id("random") { "random" } else { "grid" });
    let prefix = m.get_one::<String>("name").cloned().unwrap_or_else(|| "sweep".into());
    let log_dir = m.get_one::<String>("log-dir").map(PathBuf::from).unwrap_or_else(|| Path::new("experiments/sweeps").join(&prefix));
    let max_parallel = m.get_one::<u32>("max-parallel").copied().unwrap_or(1) as usize;
    let gpus: Vec<String> = m.get_one::<String>("gpus").map(|g| g.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()).unwrap_or_default();
    let exe = std::env::current_exe().map_err(|e| CliError::Failed(format!("cannot find this executable: {e}")))?;
    if method == "bayes" {
        return bayes_sweep(m, params, seed, &train_args, &prefix, &log_dir, &gpus, &exe);
    }
    let trials = match (method, m.get_one::<u32>("random")) {
        ("random", Some(n)) => sweep::random(&params, *n, seed),
        ("random", None) => return Err(CliError::Usage("error: --method random needs --random N (the number of trials)".into())),
        _ => sweep::grid(&params)?,
    };
    let setup = TrialSetup { train_args: &train_args, prefix: &prefix, width: trials.len().to_string().len().max(2), gpus: &gpus, log_dir: &log_dir, logs: max_parallel > 1 };
    let mut jobs = Vec::with_capacity(trials.len());
    for (i, t) in trials.iter().enumerate() {
        jobs.push((t.clone(), setup.job(i, t)?.0));
    }
    if m.get_flag("dry-run") {
        for (_, j) in &jobs {
            println!("wrt-train {}", j.args.iter().map(|a| slurm::shell_quote(a)).collect::<Vec<_>>().join(" "));
        }
        return Ok(());
    }
    eprintln!("sweep: {} trials, {} at a time", jobs.len(), max_parallel);
    let only_jobs: Vec<children::Job> = jobs.iter().map(|(_, j)| j.clone()).collect();
    let outcomes = children::run_jobs(&exe, &only_jobs, max_parallel, |o| eprintln!("  {} {}", o.name, status_text(o)));
    let trials: Vec<sweep::Trial> = jobs.iter().map(|(t, _)| t.clone()).collect();
    finish_sweep(&trials, &outcomes, &[], &log_dir)
}

/// `--method bayes`: `--trials N` one after another, each chosen from the scores of the ones before.
#[allow(clippy::too_many_arguments)]
fn bayes_sweep(
    m: &ArgMatches,
    params: Vec<sweep::Param>,
    seed: u64,
    train_args: &[String],
    prefix: &str,
    log_dir: &Path,
    gpus: &[String],
    exe: &Path,
) -> Result<(), CliError> {
    let n = m.get_one::<u32>("trials").copied().ok_or_else(|| CliError::Usage("error: --method bayes needs --trials N".into()))? as usize;
    let metric = m.get_one::<String>("metric").cloned().unwrap_or_else(|| "val_loss".into());
    let maximize = match m.get_one::<String>("goal").map(String::as_str) {
        Some("maximize") => true,
        Some("minimize") => false,
        Some(g) => return Err(CliError::Usage(format!("error: --goal {g}: expected maximize or minimize"))),
        // wandb's sweep config names a goal; without one, losses and errors go down, scores up
        None => !wrt_train::metrics::lower_is_better(&metric),
    };
    let init = m.get_one::<u32>("init").copied().unwrap_or(((n / 3).max(2)) as u32) as usize;
    if m.get_flag("dry-run") {
        return Err(CliError::Usage("error: --dry-run cannot show a Bayesian sweep: each trial depends on the scores of the ones before".into()));
    }
    let setup = TrialSetup { train_args, prefix, width: n.to_string().len().max(2), gpus, log_dir, logs: true };
    let mut b = bayes::Bayes::new(params, seed, init, maximize);
    let (mut trials, mut outcomes, mut scores) = (Vec::new(), Vec::new(), Vec::new());
    eprintln!("sweep: {n} trials, Bayesian ({} {metric}; the first {init} random), one at a time", if maximize { "maximize" } else { "minimize" });
    for i in 0..n {
        let t = b.suggest();
        let (job, run_dir) = setup.job(i, &t)?;
        let o = children::run_jobs(exe, std::slice::from_ref(&job), 1, |_| {}).remove(0);
        let score = if o.ok() { bayes::best_logged(&run_dir, &metric, maximize) } else { None };
        b.observe(score);
        let shown = score.map_or_else(|| format!("no {metric}"), |v| format!("{metric} {v:.6}"));
        eprintln!("  {} {} {}: {shown}", o.name, status_text(&o), sweep::describe(&t));
        trials.push(t);
        outcomes.push(o);
        scores.push(score);
    }
    let best = scores.iter().enumerate().filter_map(|(i, s)| Some((i, (*s)?))).reduce(|a, c| if (c.1 > a.1) == maximize && c.1 != a.1 { c } else { a });
    if let Some((i, v)) = best {
        eprintln!("best: {} ({}) {metric} {v:.6}", outcomes[i].name, sweep::describe(&trials[i]));
    }
    finish_sweep(&trials, &outcomes, &scores, log_dir)
}

/// The summary table and `summary.csv` (with each trial's score when there is one); an error if any failed.
fn finish_sweep(trials: &[sweep::Trial], outcomes: &[children::Outcome], scores: &[Option<f64>], log_dir: &Path) -> Result<(), CliError> {
    println!("{}", sweep_summary(trials, outcomes));
    std::fs::create_dir_all(log_dir).ok();
    let csv = log_dir.join("summary.csv");
    let mut text = String::from("run_name,params,exit_code,seconds,score\n");
    for (i, (t, o)) in trials.iter().zip(outcomes).enumerate() {
        let code = match &o.status {
            Ok(c) => c.to_string(),
            Err(_) => "error".into(),
        };
        let score = scores.get(i).copied().flatten().map(|v| v.to_string()).unwrap_or_default();
        text += &format!("{},\"{}\",{code},{:.1},{score}\n", o.name, sweep::describe(t).replace('"', "\"\""), o.seconds);
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
