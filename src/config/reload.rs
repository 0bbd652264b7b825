//! Applies configuration changes to a running pipeline (`POST /v1/reload`, SIGHUP): the source
//! is read and validated again; an invalid configuration, or one that changes what only a
//! restart can change, is rejected whole and the running one kept. Otherwise the admission
//! rules (cleaning, masking, taxonomy, risk, scopes) and the alert rules are handed to whoever applies
//! them; the dataflow's windows, clusters and alert states stay.

use super::{Config, ConfigSource, RuleConfig};
use std::sync::Mutex;

/// Why a reload was refused.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The new configuration has errors (each with file and line).
    #[error("the new configuration is invalid:\n  {}", .0.join("\n  "))]
    Invalid(Vec<String>),
    /// It changes sections a running pipeline cannot change.
    #[error("{} can only change with a restart", .0.join(", "))]
    NeedsRestart(Vec<&'static str>),
}

/// Applies new alert rules.
pub type ApplyRules = Box<dyn Fn(&[RuleConfig]) + Send + Sync>;

/// What a reload hands its changes to.
pub struct ReloadTargets {
    /// New admission settings (cleaning, PII masking, taxonomy, risk rules, scopes, `max_future`).
    pub admission: Box<dyn Fn(&Config) + Send + Sync>,
    /// New alert rules.
    pub rules: ApplyRules,
    /// Every attempt's outcome (applied or refused), for the metrics.
    pub outcome: Box<dyn Fn(bool) + Send + Sync>,
}

pub struct Reloader {
    source: ConfigSource,
    current: Mutex<Config>,
    targets: ReloadTargets,
}

impl Reloader {
    /// A reloader of `source`, whose running configuration is `current`.
    pub fn new(source: ConfigSource, current: Config, targets: ReloadTargets) -> Self {
        Reloader { source, current: Mutex::new(current), targets }
    }

    /// Reloads; answers with the sections that changed (empty: nothing did).
    pub fn reload(&self) -> Result<Vec<&'static str>, ReloadError> {
        let outcome = self.try_reload();
        (self.targets.outcome)(outcome.is_ok());
        outcome
    }

    fn try_reload(&self) -> Result<Vec<&'static str>, ReloadError> {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        let mut next = self
            .source
            .load()
            .map_err(|errors| ReloadError::Invalid(errors.0.iter().map(|e| e.to_string()).collect()))?;
        next.public_url = current.public_url.clone();
        let restart = current.restart_only_changes(&next);
        if !restart.is_empty() {
            return Err(ReloadError::NeedsRestart(restart));
        }
        let mut changed = Vec::new();
        let admission = |c: &Config| {
            (
                c.clean.clone(),
                c.pii.clone(),
                c.categories.clone(),
                c.risks.clone(),
                c.scopes.clone(),
                c.ingest.max_future,
            )
        };
        if admission(&current) != admission(&next) {
            (self.targets.admission)(&next);
            changed.push("admission (cleaning, PII masking, taxonomy, risk rules, scopes)");
        }
        if current.rules != next.rules {
            (self.targets.rules)(&next.rules);
            changed.push("alert rules");
        }
        *current = next;
        Ok(changed)
    }
}
