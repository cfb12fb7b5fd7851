//! Running runs as child processes of this same binary (`std::env::current_exe()`), at most N at once:
//! `train --max-parallel N` over a multi-model config and `sweep --max-parallel N`. With one at a time
//! the child shares the terminal (progress bar); in parallel each writes to its own log file.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct Job {
    /// Run name, for messages and the summary.
    pub name: String,
    /// Arguments after the executable (`train ...`).
    pub args: Vec<String>,
    /// stdout+stderr go here (None: inherit the terminal).
    pub log: Option<PathBuf>,
}

#[derive(Clone, Debug)]
pub struct Outcome {
    pub name: String,
    /// Exit code, or why the child could not run / was killed.
    pub status: Result<i32, String>,
    pub seconds: f64,
    pub log: Option<PathBuf>,
}

impl Outcome {
    pub fn ok(&self) -> bool {
        matches!(self.status, Ok(0))
    }
}

fn spawn(exe: &Path, job: &Job) -> Result<Child, String> {
    let mut cmd = Command::new(exe);
    cmd.args(&job.args).stdin(Stdio::null());
    if let Some(log) = &job.log {
        if let Some(dir) = log.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let f = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let f2 = f.try_clone().map_err(|e| format!("{}: {e}", log.display()))?;
        cmd.stdout(f).stderr(f2);
    }
    cmd.spawn().map_err(|e| format!("cannot start {}: {e}", exe.display()))
}

/// Run every job, at most `max_parallel` at a time, in order; returns one outcome per job, in job order.
/// `on_done` is told of each outcome as it happens (progress lines).
pub fn run_jobs(exe: &Path, jobs: &[Job], max_parallel: usize, mut on_done: impl FnMut(&Outcome)) -> Vec<Outcome> {
    let max_parallel = max_parallel.max(1);
    let mut outcomes: Vec<Option<Outcome>> = vec![None; jobs.len()];
    let mut running: Vec<(usize, Child, Instant)> = Vec::new();
    let mut next = 0;
    while next < jobs.len() || !running.is_empty() {
        while running.len() < max_parallel && next < jobs.len() {
            let job = &jobs[next];
            match spawn(exe, job) {
                Ok(child) => running.push((next, child, Instant::now())),
                Err(e) => {
                    let o = Outcome { name: job.name.clone(), status: Err(e), seconds: 0.0, log: job.log.clone() };
                    on_done(&o);
                    outcomes[next] = Some(o);
                }
            }
            next += 1;
        }
        let mut i = 0;
        while i < running.len() {
            let status = match running[i].1.try_wait() {
                Ok(None) => {
                    i += 1;
                    continue;
                }
                Ok(Some(st)) => st.code().ok_or_else(|| "killed by a signal".to_string()),
                Err(e) => Err(e.to_string()),
            };
            let (idx, _, started) = running.remove(i);
            let o = Outcome { name: jobs[idx].name.clone(), status, seconds: started.elapsed().as_secs_f64(), log: jobs[idx].log.clone() };
            on_done(&o);
            outcomes[idx] = Some(o);
        }
        if !running.is_empty() {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    outcomes.into_iter().flatten().collect()
}
