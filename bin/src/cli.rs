//! The `wrt-train` command line (clap builder API): subcommands, the seed-spelled run flags from
//! `flags.rs`, `-`/`_` twins for every long flag, and turning the parsed arguments into the config
//! library's `CliInput`.

use crate::flags::{self, Takes};
use clap::{Arg, ArgAction, ArgMatches, Command};
use std::path::PathBuf;
use wrt_train::config::{CliInput, Override};

const ABOUT: &str = "Train, validate and run the SaTformer, AtmoDist, SITS-Former, Pangu and TFT models (PyTorch Lightning-style).";

/// The whole command tree.
pub fn command() -> Command {
    let cmd = Command::new("wrt-train")
        .version(env!("CARGO_PKG_VERSION"))
        .about(ABOUT)
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommand(run_command("train", "Train one run, or every run of a multi-model config / config dir"))
        .subcommand(run_command("validate", "Evaluate a checkpoint (--ckpt_path) on the validation split"))
        .subcommand(run_command("evaluate", "A classifier checkpoint's accuracy, kappa, F1, per-class report and confusion matrix on the validation split"))
        .subcommand(
            run_command("predict", "Write predictions of a checkpoint (--ckpt_path) to HDF5 or CSV")
                .arg(Arg::new("output").long("output").short('o').value_name("FILE").help("Predictions file (.h5 or .csv)")),
        )
        .subcommand(
            Command::new("data")
                .about("Synthetic datasets and data-file inspection")
                .subcommand_required(true)
                .subcommand(
                    Command::new("synth")
                        .about("Write a synthetic but learnable dataset in a model's HDF5 layout")
                        .arg(Arg::new("kind").long("kind").required(true).value_name("MODEL").help("satformer, atmodist, sitsformer, pangu or tft"))
                        .arg(Arg::new("out").long("out").short('o').required(true).value_name("FILE.h5").help("Output file"))
                        .arg(Arg::new("seed").long("seed").value_name("N").value_parser(clap::value_parser!(u64)).help("Random seed"))
                        .arg(Arg::new("samples").long("samples").value_name("N").value_parser(clap::value_parser!(u64)).help("Samples (time steps for atmodist/pangu); default per kind"))
                        .arg(Arg::new("size").long("size").value_name("N").value_parser(clap::value_parser!(u64)).help("Grid side H = W (default 32; pangu 40)"))
                        .arg(Arg::new("frames").long("frames").value_name("N").value_parser(clap::value_parser!(u64)).help("Frames per sample T (satformer 4, sitsformer 6) or TFT encoder length (24)"))
                        .arg(Arg::new("channels").long("channels").value_name("N").value_parser(clap::value_parser!(u64)).help("Channels (satformer 11, atmodist 5, sitsformer 13, pangu 5)"))
                        .arg(Arg::new("classes").long("classes").value_name("N").value_parser(clap::value_parser!(u64)).help("Classes (satformer 64 bins, atmodist 8 gaps, sitsformer 10)"))
                        .arg(Arg::new("gzip").long("gzip").value_name("LEVEL").value_parser(clap::value_parser!(u8).range(0..=9)).help("gzip level 0-9 (default 4)")),
                )
                .subcommand(
                    Command::new("inspect")
                        .about("List a data file's datasets, shapes, dtypes and attributes")
                        .arg(Arg::new("file").required(true).value_name("FILE")),
                ),
        )
        .subcommand(
            Command::new("inspect")
                .about("Show a checkpoint or safetensors file: tensors, dtypes, shapes, parameter count, hyperparameters, metrics")
                .arg(Arg::new("file").required(true).value_name("FILE").help("A .safetensors/.ckpt file or a checkpoint directory"))
                .arg(Arg::new("json").long("json").action(ArgAction::SetTrue).help("Print JSON instead of text")),
        )
        .subcommand(sweep_command())
        .subcommand(slurm_command())
        .subcommand(crate::analogues::command())
        .subcommand(
            run_args(Command::new("config").about("Print the effective configuration of each run (defaults < config < flags) without running"))
                .arg(Arg::new("schema").long("schema").action(ArgAction::SetTrue).help("Print the table of every config key (Markdown)")),
        );
    with_twins(cmd)
}

fn preset_help() -> String {
    let names: Vec<String> = wrt_train::config::presets::PRESETS.iter().map(|p| format!("{}: {}", p.name, p.about)).collect();
    format!("Start from a named set of settings (your flags still win). {}", names.join(" "))
}

/// `train`/`validate`/`predict`: the run flags plus the config-driven form.
fn run_command(name: &'static str, about: &'static str) -> Command {
    let cmd = run_args(Command::new(name).about(about));
    if name == "train" {
        cmd
    } else {
        cmd.arg(Arg::new("ckpt_path").long("ckpt_path").visible_alias("checkpoint").value_name("FILE").help("Checkpoint to evaluate (default: the run's best)").help_heading("Checkpoints, logs and data"))
    }
}

/// The arguments that describe runs (also parsed from `sweep`/`slurm` trailing arguments).
pub fn run_args(cmd: Command) -> Command {
    let mut cmd = cmd
        .args_override_self(true)
        .allow_negative_numbers(true)
        .arg(Arg::new("config").long("config").value_name("FILE").conflicts_with("config-dir").help("Configuration file (YAML)"))
        .arg(Arg::new("config-dir").long("config-dir").value_name("DIR").help("Directory of configuration files, each run separately"))
        .arg(Arg::new("gpus").long("gpus").value_name("IDS").help("GPU ids, comma-separated (0,1)"))
        .arg(Arg::new("max-parallel").long("max-parallel").value_name("N").value_parser(clap::value_parser!(u32).range(1..)).help("Maximum number of runs at once (child processes)"))
        .arg(Arg::new("only").long("only").value_name("ID").action(ArgAction::Append).help("Run only these ids of a multi-model config (repeatable)"))
        .arg(Arg::new("preset").long("preset").value_name("NAME").help(preset_help()))
        .arg(Arg::new("set").long("set").value_name("KEY=VALUE").action(ArgAction::Append).help("Set any config key (training.max_epochs=5); repeatable"));
    for fl in flags::run_flags() {
        let arg = Arg::new(fl.name).long(fl.name).help(fl.help.clone()).help_heading(fl.group);
        let arg = match fl.takes {
            Takes::Value => arg.value_name("VALUE").allow_hyphen_values(fl.name == "max_steps"),
            Takes::Switch => arg.num_args(0..=1).value_name("BOOL").default_missing_value("true").require_equals(false),
        };
        cmd = cmd.arg(arg);
    }
    cmd
}

fn sweep_command() -> Command {
    Command::new("sweep")
        .about("Grid, random or Bayesian search over any flag or config key; each trial is a `wrt-train train` child process")
        .arg(Arg::new("method").long("method").value_name("grid|random|bayes").value_parser(["grid", "random", "bayes"]).help("Search method (default: random with --random N, else grid)"))
        .arg(Arg::new("trials").long("trials").value_name("N").value_parser(clap::value_parser!(u32).range(1..)).help("bayes: number of trials"))
        .arg(Arg::new("init").long("init").value_name("K").value_parser(clap::value_parser!(u32).range(1..)).help("bayes: random trials before the model guides (default N/3, at least 2)"))
        .arg(Arg::new("metric").long("metric").value_name("NAME").help("bayes: the logged metric to optimise, best value over the run (default val_loss)"))
        .arg(Arg::new("goal").long("goal").value_name("maximize|minimize").help("bayes: default minimize for losses and errors, maximize otherwise"))
        .arg(Arg::new("grid").long("grid").value_name("KEY=VALUES").action(ArgAction::Append).help("KEY=v1,v2 (a list), KEY=lo:hi or KEY=log:lo:hi (ranges, --random only). KEY: a flag (lr) or a config key (model.depth)"))
        .arg(Arg::new("random").long("random").value_name("N").value_parser(clap::value_parser!(u32).range(1..)).help("Sample N trials at random instead of the full grid"))
        .arg(Arg::new("seed").long("seed").value_name("S").value_parser(clap::value_parser!(u64)).help("Seed of the random search (not of the trials; pass --seed after -- for those)"))
        .arg(Arg::new("max-parallel").long("max-parallel").value_name("N").value_parser(clap::value_parser!(u32).range(1..)).help("Trials at once (default 1, sequential)"))
        .arg(Arg::new("gpus").long("gpus").value_name("IDS").help("Give trial i the GPU ids[i % n]"))
        .arg(Arg::new("name").long("name").value_name("PREFIX").help("Run-name prefix of the trials (default sweep)"))
        .arg(Arg::new("log-dir").long("log-dir").value_name("DIR").help("Trial logs and summary.csv (default experiments/sweeps/PREFIX)"))
        .arg(Arg::new("dry-run").long("dry-run").action(ArgAction::SetTrue).help("Print the trials' command lines and stop"))
        .arg(Arg::new("train_args").value_name("TRAIN ARGS").num_args(0..).last(true).allow_hyphen_values(true).help("`-- <train flags>` shared by every trial"))
}

fn slurm_command() -> Command {
    Command::new("slurm")
        .about("Write an sbatch script that runs `wrt-train train <args>`")
        .arg(Arg::new("out").long("out").short('o').value_name("FILE").help("Script file (default: stdout)"))
        .arg(Arg::new("job_name").long("job_name").value_name("NAME").help("Job name (default: the run name or wrt-train)"))
        .arg(Arg::new("nodes").long("nodes").value_name("N").value_parser(clap::value_parser!(u32).range(1..)).default_value("1").help("Nodes (1 until distributed training lands)"))
        .arg(Arg::new("ntasks_per_node").long("ntasks_per_node").value_name("N").value_parser(clap::value_parser!(u32).range(1..)).default_value("1").help("Tasks per node"))
        .arg(Arg::new("gpus_per_node").long("gpus_per_node").value_name("N").value_parser(clap::value_parser!(u32)).help("GPUs per node (default: the number of --gpus ids in the train args, else 1)"))
        .arg(Arg::new("gres").long("gres").value_name("GRES").conflicts_with("gpus_per_node").help("Generic resources as sbatch takes them (gpu:2)"))
        .arg(Arg::new("cpus_per_task").long("cpus_per_task").value_name("N").value_parser(clap::value_parser!(u32).range(1..)).help("CPUs per task"))
        .arg(Arg::new("mem").long("mem").value_name("SIZE").help("Memory per node (64G)"))
        .arg(Arg::new("time").long("time").value_name("TIME").default_value("24:00:00").help("Wall time: minutes, HH:MM:SS or D-HH:MM:SS"))
        .arg(Arg::new("partition").long("partition").value_name("NAME").help("Partition"))
        .arg(Arg::new("account").long("account").value_name("NAME").help("Account to charge"))
        .arg(Arg::new("log").long("log").value_name("PATTERN").default_value("slurm-%j.out").help("sbatch --output pattern"))
        .arg(Arg::new("sbatch").long("sbatch").value_name("OPTION").action(ArgAction::Append).help("Extra #SBATCH line, e.g. --sbatch=--qos=high (repeatable)"))
        .arg(Arg::new("setup").long("setup").value_name("LINE").action(ArgAction::Append).help("Shell line before the run, e.g. 'module load cuda' (repeatable)"))
        .arg(Arg::new("train_args").value_name("TRAIN ARGS").num_args(0..).last(true).allow_hyphen_values(true).help("`-- <train flags>` of the run"))
}

/// Give every long flag its `-`/`_` twin as a hidden alias, in every subcommand.
fn with_twins(cmd: Command) -> Command {
    cmd.mut_args(|a| match a.get_long().and_then(flags::twin) {
        Some(t) if a.get_long() != Some(t.as_str()) => a.alias(t),
        _ => a,
    })
    .mut_subcommands(with_twins)
}

/// Arguments after the subcommand name with `--wandb_*`/`--no_wandb` taken out (W&B is not used: they are
/// accepted, recorded under `wandb:` and reported in the run's note). Returns the remaining arguments, the overrides
/// and the notes.
pub fn strip_wandb(args: Vec<String>) -> (Vec<String>, Vec<Override>, Vec<String>) {
    let mut rest = Vec::with_capacity(args.len());
    let mut overrides = Vec::new();
    let mut notes = Vec::new();
    let mut it = args.into_iter().peekable();
    while let Some(a) = it.next() {
        if a == "--" {
            rest.push(a);
            rest.extend(it.by_ref());
            break;
        }
        let body = a.strip_prefix("--").map(|b| b.replace('-', "_"));
        match body.as_deref() {
            Some("no_wandb") => notes.push("--no_wandb: W&B is never used; logs go to TensorBoard event files and metrics.csv".into()),
            Some(b) if b.starts_with("wandb_") => {
                let (key, value) = match b.split_once('=') {
                    Some((k, v)) => (k.to_string(), Some(v.to_string())),
                    None => (b.to_string(), if it.peek().is_some_and(|n| !n.starts_with("--")) { it.next() } else { None }),
                };
                let field = key.trim_start_matches("wandb_").to_string();
                let value = value.unwrap_or_else(|| "true".into());
                // The run's own note (config.rs) reports the `wandb:` settings, flags included.
                overrides.push(Override::new(format!("wandb.{field}"), value, format!("--{key}")));
            }
            _ => rest.push(a),
        }
    }
    (rest, overrides, notes)
}

/// What a run subcommand's arguments say, in the config library's terms, plus the CLI-only options.
#[derive(Clone, Debug, Default)]
pub struct RunArgs {
    pub input: CliInput,
    pub max_parallel: u32,
    pub gpus: Option<String>,
}

/// Turn parsed run arguments into a `CliInput`. Later flags win over earlier ones, flags over `--set`
/// only by position (both are applied in command-line order).
pub fn run_args_from(m: &ArgMatches, extra: Vec<Override>) -> Result<RunArgs, wrt_train::Error> {
    let mut ordered: Vec<(usize, Override)> = Vec::new();
    for fl in flags::run_flags() {
        if let (Some(vals), Some(idx)) = (m.get_many::<String>(fl.name), m.indices_of(fl.name)) {
            // args_override_self keeps the last occurrence only.
            if let (Some(v), Some(i)) = (vals.last(), idx.last()) {
                ordered.push((i, Override::new(fl.path.clone(), v.clone(), format!("--{}", fl.name))));
            }
        }
    }
    if let (Some(vals), Some(idx)) = (m.get_many::<String>("set"), m.indices_of("set")) {
        for (v, i) in vals.zip(idx) {
            ordered.push((i, Override::parse_set(v)?));
        }
    }
    let gpus = m.get_one::<String>("gpus").cloned();
    if let (Some(g), Some(i)) = (&gpus, m.index_of("gpus")) {
        for (path, value) in flags::gpus_overrides(g) {
            ordered.push((i, Override::new(path, value, "--gpus")));
        }
    }
    if let Some(c) = m.try_get_one::<String>("ckpt_path").ok().flatten() {
        ordered.push((m.index_of("ckpt_path").unwrap_or(0), Override::new("ckpt_path", c.clone(), "--ckpt_path")));
    }
    if let Some(o) = m.try_get_one::<String>("output").ok().flatten() {
        ordered.push((m.index_of("output").unwrap_or(0), Override::new("predict_output", o.clone(), "--output")));
    }
    ordered.sort_by_key(|(i, _)| *i);
    // a preset's settings count as flags typed before all others
    let mut overrides = match m.get_one::<String>("preset") {
        Some(p) => wrt_train::config::presets::overrides(p)?,
        None => Vec::new(),
    };
    overrides.extend(extra);
    overrides.extend(ordered.into_iter().map(|(_, o)| o));
    Ok(RunArgs {
        input: CliInput {
            config: m.get_one::<String>("config").map(PathBuf::from),
            config_dir: m.get_one::<String>("config-dir").map(PathBuf::from),
            overrides,
            only: m.get_many::<String>("only").map(|v| v.cloned().collect()).unwrap_or_default(),
        },
        max_parallel: m.get_one::<u32>("max-parallel").copied().unwrap_or(1),
        gpus,
    })
}

/// Parse a list of train arguments (as `sweep`/`slurm` receive them after `--`) into a `RunArgs`.
pub fn parse_train_args(args: &[String]) -> Result<RunArgs, crate::error::CliError> {
    let (rest, wandb, _notes) = strip_wandb(args.to_vec());
    let cmd = with_twins(run_args(Command::new("train").no_binary_name(true)));
    let m = cmd.try_get_matches_from(rest).map_err(|e| crate::error::CliError::Usage(e.render().to_string()))?;
    run_args_from(&m, wandb).map_err(crate::error::CliError::Config)
}
