//! The progress display: an indicatif bar per epoch (step, it/s, ETA, running loss and prog_bar metrics) on a
//! terminal; one plain summary line per epoch when stderr is not a terminal (CI logs, `> file`), so
//! redirected output stays readable and free of control characters.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::Instant;

pub struct Progress {
    enabled: bool,
    tty: bool,
    bar: Option<ProgressBar>,
    started: Instant,
    batches: u64,
}

impl Progress {
    pub fn new(enabled: bool) -> Progress {
        Progress { enabled, tty: std::io::stderr().is_terminal(), bar: None, started: Instant::now(), batches: 0 }
    }

    pub fn start_epoch(&mut self, epoch: u64, max_epochs: Option<u64>, total: u64, done: u64) {
        self.started = Instant::now();
        self.batches = 0;
        if !(self.enabled && self.tty) {
            return;
        }
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr_with_hz(8));
        let style = ProgressStyle::with_template("{prefix} {bar:30.cyan/blue} {pos}/{len} [{elapsed_precise}<{eta_precise}, {per_sec}] {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_prefix(match max_epochs {
            Some(m) => format!("Epoch {epoch}/{}", m.saturating_sub(1)),
            None => format!("Epoch {epoch}"),
        });
        bar.set_position(done);
        self.bar = Some(bar);
    }

    /// After each training batch: advance and show the prog_bar values.
    pub fn batch(&mut self, shown: &BTreeMap<String, f64>) {
        self.batches += 1;
        if let Some(bar) = &self.bar {
            bar.inc(1);
            bar.set_message(fmt_values(shown));
        }
    }

    /// End of an epoch: finish the bar (left on screen, as Lightning's) or print the plain line.
    pub fn end_epoch(&mut self, epoch: u64, shown: &BTreeMap<String, f64>) {
        let secs = self.started.elapsed().as_secs_f64();
        if let Some(bar) = self.bar.take() {
            bar.set_message(fmt_values(shown));
            bar.finish();
        } else if self.enabled {
            let rate = if secs > 0.0 { self.batches as f64 / secs } else { 0.0 };
            eprintln!("epoch {epoch}: {} batches in {secs:.1}s ({rate:.2} it/s)  {}", self.batches, fmt_values(shown));
        }
    }

    /// A message that does not break the bar.
    pub fn println(&self, msg: &str) {
        match &self.bar {
            Some(bar) => bar.println(msg),
            None if self.enabled => eprintln!("{msg}"),
            None => {}
        }
    }
}

fn fmt_values(v: &BTreeMap<String, f64>) -> String {
    v.iter().map(|(k, x)| format!("{k}={}", fmt_num(*x))).collect::<Vec<_>>().join(" ")
}

fn fmt_num(x: f64) -> String {
    if x != 0.0 && (x.abs() < 1e-3 || x.abs() >= 1e5) {
        format!("{x:.3e}")
    } else {
        format!("{x:.4}")
    }
}
