//! `wrt-train slurm`: an sbatch script that runs one `wrt-train train ...` (nodes, tasks, GPUs, time,
//! partition, account), like the Pangu project's `SlurmRun(config, time, partition, nodes, ntasks_per_node,
//! gres)`. The train arguments are validated before the script is written. Multi-node launch arrives with
//! distributed training; until then `--nodes` above 1 is refused rather than starting N independent copies.

use crate::error::CliError;

#[derive(Clone, Debug, Default)]
pub struct SlurmOpts {
    pub job_name: String,
    pub nodes: u32,
    pub ntasks_per_node: u32,
    /// `gpu:N` or anything sbatch's --gres takes; None = no GPUs requested.
    pub gres: Option<String>,
    pub cpus_per_task: Option<u32>,
    pub mem: Option<String>,
    pub time: String,
    pub partition: Option<String>,
    pub account: Option<String>,
    /// sbatch --output pattern.
    pub log: String,
    /// Extra `#SBATCH` options (`--qos=high`).
    pub extra: Vec<String>,
    /// Shell lines before the run (`module load cuda`).
    pub setup: Vec<String>,
}

fn usage(msg: String) -> CliError {
    CliError::Usage(format!("error: {msg}"))
}

/// sbatch's time formats: `M`, `M:S`, `H:M:S`, `D-H`, `D-H:M`, `D-H:M:S`.
pub fn valid_time(t: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.len() <= 4 && s.bytes().all(|b| b.is_ascii_digit());
    let (days, rest) = match t.split_once('-') {
        Some((d, r)) => (Some(d), r),
        None => (None, t),
    };
    if days.is_some_and(|d| !digits(d)) {
        return false;
    }
    let parts: Vec<&str> = rest.split(':').collect();
    parts.len() <= 3 && parts.iter().all(|p| digits(p))
}

/// Quote one word for a POSIX shell (only when needed).
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./=:,@%+".contains(&b)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The script text. `command` is the full command line (executable first).
pub fn script(o: &SlurmOpts, workdir: &str, command: &[String]) -> Result<String, CliError> {
    if o.nodes != 1 {
        return Err(usage(format!(
            "--nodes {}: multi-node runs arrive with distributed training; use --nodes 1 (all GPUs of one node)",
            o.nodes
        )));
    }
    if !valid_time(&o.time) {
        return Err(usage(format!("--time `{}`: expected minutes, HH:MM:SS or D-HH:MM:SS", o.time)));
    }
    let clean = |what: &str, v: &str| -> Result<(), CliError> {
        if v.contains(['\n', '\r']) {
            return Err(usage(format!("--{what}: no line breaks allowed")));
        }
        Ok(())
    };
    let mut s = String::from("#!/bin/bash\n");
    let mut sb = |line: String| s.push_str(&format!("#SBATCH {line}\n"));
    clean("job_name", &o.job_name)?;
    sb(format!("--job-name={}", shell_quote(&o.job_name)));
    sb(format!("--nodes={}", o.nodes));
    sb(format!("--ntasks-per-node={}", o.ntasks_per_node));
    if let Some(g) = &o.gres {
        clean("gres", g)?;
        sb(format!("--gres={g}"));
    }
    if let Some(c) = o.cpus_per_task {
        sb(format!("--cpus-per-task={c}"));
    }
    if let Some(m) = &o.mem {
        clean("mem", m)?;
        sb(format!("--mem={m}"));
    }
    sb(format!("--time={}", o.time));
    if let Some(p) = &o.partition {
        clean("partition", p)?;
        sb(format!("--partition={p}"));
    }
    if let Some(a) = &o.account {
        clean("account", a)?;
        sb(format!("--account={a}"));
    }
    clean("log", &o.log)?;
    sb(format!("--output={}", o.log));
    for e in &o.extra {
        clean("sbatch", e)?;
        sb(e.clone());
    }
    s.push_str("\nset -euo pipefail\n");
    s.push_str(&format!("cd {}\n", shell_quote(workdir)));
    for l in &o.setup {
        clean("setup", l)?;
        s.push_str(l);
        s.push('\n');
    }
    let cmd = command.iter().map(|w| shell_quote(w)).collect::<Vec<_>>().join(" ");
    s.push_str(&format!("srun {cmd}\n"));
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        for ok in ["30", "30:00", "24:00:00", "1-12", "1-12:00", "2-00:00:00"] {
            assert!(valid_time(ok), "{ok}");
        }
        for bad in ["", "abc", "1:2:3:4", "-1", "1-", "12h"] {
            assert!(!valid_time(bad), "{bad}");
        }
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("--max_epochs"), "--max_epochs");
        assert_eq!(shell_quote("T->S"), "'T->S'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
