//! The run subcommands: hand a validated `RunConfig` to `wrt_train::run` and print what came of it (a
//! summary table, where the checkpoints, logs and plots went). Trainer errors go back as
//! `CliError::Runtime(e)` (exit code 1).

use crate::error::CliError;
use std::collections::BTreeMap;
use wrt_train::config::RunConfig;
use wrt_train::run::{self, TrainSummary};
use wrt_train::trainer::FitOutcome;

pub fn run_train(cfg: &RunConfig) -> Result<(), CliError> {
    let s = run::train_with(cfg, interrupt_hook()?).map_err(CliError::Runtime)?;
    eprint!("{}", render_summary(cfg, &s));
    Ok(())
}

pub fn run_validate(cfg: &RunConfig) -> Result<(), CliError> {
    let (ckpt, metrics) = run::validate(cfg).map_err(CliError::Runtime)?;
    println!("validation of {}", ckpt.display());
    for (k, v) in &metrics {
        println!("  {k:<12} {v:.6}");
    }
    Ok(())
}

pub fn run_evaluate(cfg: &RunConfig) -> Result<(), CliError> {
    let (ckpt, report) = run::evaluate(cfg).map_err(CliError::Runtime)?;
    println!("evaluation of {} on the validation split\n\n{report}", ckpt.display());
    Ok(())
}

pub fn run_predict(cfg: &RunConfig) -> Result<(), CliError> {
    let (ckpt, out, n) = run::predict(cfg).map_err(CliError::Runtime)?;
    println!("predictions of {} for {n} samples written to {}", ckpt.display(), out.display());
    let plots = run::prediction_plots_dir(&out);
    use wrt_train::config::ModelKind;
    if matches!(cfg.model.kind, ModelKind::Tft | ModelKind::Pangu) && plots.is_dir() {
        println!("forecast plots in {}", plots.display());
    }
    Ok(())
}

/// `WRT_INTERRUPT_AT_STEP=N`: behave as if Ctrl-C arrived during optimizer step N (save `last.ckpt`, exit
/// cleanly): for testing resume from a shell.
fn interrupt_hook() -> Result<Option<run::StopHook>, CliError> {
    let Ok(v) = std::env::var("WRT_INTERRUPT_AT_STEP") else { return Ok(None) };
    let n: u64 = v.trim().parse().map_err(|_| CliError::Usage(format!("error: WRT_INTERRUPT_AT_STEP must be a step number, found '{v}'")))?;
    Ok(Some(Box::new(move |s| (s == n).then_some(wrt_train::trainer::Stop::Interrupt))))
}

/// The end-of-run report: outcome, a metrics table (first and last validation, best, the baseline), and
/// where things were written.
pub fn render_summary(cfg: &RunConfig, s: &TrainSummary) -> String {
    let mut o = String::new();
    let outcome = match &s.outcome {
        FitOutcome::Completed => "completed".to_string(),
        FitOutcome::EarlyStopped(r) => format!("stopped early ({r})"),
        FitOutcome::Interrupted(p) => format!("interrupted; resume with --resume_from {}", p.display()),
        FitOutcome::Killed => "killed".to_string(),
    };
    o += &format!(
        "\n{} ({}, {} parameters, {} training / {} validation samples): {outcome} after {:.1} s\n",
        cfg.run_name,
        cfg.model.type_name,
        s.parameters,
        s.train_samples,
        s.val_samples,
        s.seconds
    );
    if let Some(p) = &s.generated_data {
        o += &format!("  data generated at {} (synthetic)\n", p.display());
    }
    let first = s.validations.first();
    let last = s.validations.last();
    if let (Some(first), Some(last)) = (first, last) {
        let keys: Vec<&String> = last.keys().filter(|k| k.starts_with("val_")).collect();
        let w = keys.iter().map(|k| k.len()).max().unwrap_or(0).max(12);
        o += &format!("\n  {:<w$} {:>12} {:>12} {:>12} {:>12}\n", "metric", "first val", "last val", "best", "baseline");
        for k in keys {
            let lower_is_better = wrt_train::metrics::lower_is_better(k);
            let series = s.validations.iter().filter_map(|r| r.get(k.as_str()).copied());
            let best = if lower_is_better { series.fold(f64::INFINITY, f64::min) } else { series.fold(f64::NEG_INFINITY, f64::max) };
            o += &format!("  {:<w$} {:>12} {:>12} {:>12} {:>12}\n", k, num(first.get(k.as_str())), num(last.get(k.as_str())), num(Some(&best)), num(s.baseline.get(k.as_str())));
        }
        if !s.baseline.is_empty() {
            o += &format!("  (baseline: {})\n", s.baseline_name);
        }
        o += &verdict(first, last, &s.baseline, &s.baseline_name);
    }
    o += "\n";
    if let (Some((p, score)), Some(m)) = (&s.best, &s.monitor) {
        o += &format!("  best checkpoint  {} ({m} {score:.4})\n", p.display());
    }
    o += &format!("  checkpoints      {}/ (resume: --resume_from {}/last.ckpt)\n", s.checkpoint_dir.display(), s.checkpoint_dir.display());
    if let Some(d) = &s.log_dir {
        o += &format!("  logs             {}/ (metrics.csv; tensorboard --logdir {})\n", d.display(), d.display());
    }
    if !s.plots.is_empty() {
        let dir = s.plots[0].parent().map(|p| p.display().to_string()).unwrap_or_default();
        o += &format!("  plots            {dir}/ ({})\n", s.plots.iter().filter_map(|p| p.file_name()?.to_str()).collect::<Vec<_>>().join(", "));
    }
    o += &format!("  config           {}\n", cfg.run_dir.join("config.yaml").display());
    o
}

fn num(v: Option<&f64>) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:.4}"),
        _ => "-".into(),
    }
}

/// One line that says whether the model learned: val_loss down, the headline score against the baseline.
fn verdict(first: &BTreeMap<String, f64>, last: &BTreeMap<String, f64>, baseline: &BTreeMap<String, f64>, name: &str) -> String {
    let mut parts = Vec::new();
    if let (Some(a), Some(b)) = (first.get("val_loss"), last.get("val_loss")) {
        parts.push(format!("val_loss {a:.4} -> {b:.4} ({})", if b < a { "falling" } else { "NOT falling" }));
    }
    for key in ["val_csi", "val_accuracy", "val_acc"] {
        if let (Some(c), Some(base)) = (last.get(key), baseline.get(key)) {
            let short = name.split(':').next().unwrap_or(name);
            parts.push(format!("{key} {c:.4} vs {short} {base:.4} ({:.1}x)", if *base > 0.0 { c / base } else { f64::INFINITY }));
        }
    }
    // forecasts: an error below the baseline's (the TFT's P50/P90 risks against seasonal naive, the seed's
    // next-step RMSE against persistence)
    let short = name.split(':').next().unwrap_or(name);
    // rollouts (Pangu): RMSE at leads 1 and 3 from the logged mean squared errors
    for key in ["val_mse_lead1", "val_mse_lead3"] {
        if let (Some(c), Some(base)) = (last.get(key), baseline.get(key)) {
            let (c, base) = (c.sqrt(), base.sqrt());
            let lead = &key["val_mse_".len()..];
            parts.push(format!("RMSE {lead} {c:.4} vs {short} {base:.4} ({})", if c < base { "beats it" } else { "does NOT beat it" }));
        }
    }
    let risks = last.contains_key("val_p50_risk") || last.contains_key("val_mse_lead1");
    for key in ["val_p50_risk", "val_p90_risk", "val_rmse"] {
        if key == "val_rmse" && risks {
            continue;
        }
        if let (Some(c), Some(base)) = (last.get(key), baseline.get(key)) {
            parts.push(format!("{key} {c:.4} vs {short} {base:.4} ({})", if c < base { "beats it" } else { "does NOT beat it" }));
        }
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("\n  {}\n", parts.join("; "))
    }
}
