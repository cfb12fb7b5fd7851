//! EarlyStopping with Lightning's rule: after each validation, the monitored value improves when it beats the
//! best by more than `min_delta`; `patience` checks in a row without improvement stop training.

use super::config::{EarlyStoppingConfig, MonitorMode};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EarlyStoppingState {
    pub best: f64,
    pub wait: u64,
    pub stopped_epoch: Option<u64>,
}

pub struct EarlyStopping {
    pub cfg: EarlyStoppingConfig,
    pub state: EarlyStoppingState,
}

impl EarlyStopping {
    pub fn new(cfg: EarlyStoppingConfig) -> EarlyStopping {
        let best = match cfg.mode {
            MonitorMode::Min => f64::INFINITY,
            MonitorMode::Max => f64::NEG_INFINITY,
        };
        EarlyStopping { cfg, state: EarlyStoppingState { best, wait: 0, stopped_epoch: None } }
    }

    /// Check after a validation; returns why training should stop, if it should.
    pub fn check(&mut self, epoch: u64, metrics: &BTreeMap<String, f64>) -> Result<Option<String>> {
        let name = &self.cfg.monitor;
        let Some(&v) = metrics.get(name) else {
            let logged = metrics.keys().cloned().collect::<Vec<_>>().join(", ");
            return Err(Error::ConfigKey {
                file: "early_stopping".into(),
                line: None,
                key: "monitor".into(),
                msg: format!("EarlyStopping(monitor='{name}') found no such logged metric; logged: {logged}"),
            });
        };
        if self.cfg.check_finite && !v.is_finite() {
            self.state.stopped_epoch = Some(epoch);
            return Ok(Some(format!("monitored metric {name} = {v} is not finite")));
        }
        let d = self.cfg.min_delta.abs();
        let improved = match self.cfg.mode {
            MonitorMode::Min => v + d < self.state.best,
            MonitorMode::Max => v - d > self.state.best,
        };
        if improved {
            self.state.best = v;
            self.state.wait = 0;
            return Ok(None);
        }
        self.state.wait += 1;
        if self.state.wait >= self.cfg.patience {
            self.state.stopped_epoch = Some(epoch);
            return Ok(Some(format!(
                "{name} did not improve by more than {d} for {} validation checks; best {}",
                self.state.wait, self.state.best
            )));
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stops_after_patience_checks_without_improvement() {
        let mut es = EarlyStopping::new(EarlyStoppingConfig { patience: 2, min_delta: 0.1, ..Default::default() });
        let m = |v: f64| BTreeMap::from([("val_loss".to_string(), v)]);
        assert!(es.check(0, &m(1.0)).unwrap().is_none());
        assert!(es.check(1, &m(0.95)).unwrap().is_none()); // not by more than 0.1: wait 1
        assert!(es.check(2, &m(0.85)).unwrap().is_none()); // improvement: wait 0, best 0.85
        assert!(es.check(3, &m(0.80)).unwrap().is_none());
        assert!(es.check(4, &m(0.80)).unwrap().is_some());
        assert_eq!(es.state.stopped_epoch, Some(4));
        let mut es = EarlyStopping::new(EarlyStoppingConfig::default());
        assert!(es.check(0, &m(f64::NAN)).unwrap().is_some());
        assert!(es.check(0, &BTreeMap::new()).is_err());
    }
}
