//! `[[escalation]]` in `alerts/*.toml`: when a conversation is handed to a person. Together the
//! tables make the `handoff` rule: one alert per conversation, at the highest priority whose
//! conditions all hold while no agent has joined (docs/conversations.md).

use super::{HumanDuration, RuleConfig, RuleKind, Severity};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The rule the escalations make, and the name its alerts carry.
pub const HANDOFF_RULE: &str = "handoff";

/// `risk = true` (any `[[risk]]` rule) or the names of some.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum RiskMatch {
    Any(bool),
    Named(Vec<String>),
}

/// One `[[escalation]]` as written and validated.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Escalation {
    pub name: String,
    /// `P1` (most urgent) to `P5`: of the escalations that match, the most urgent names the
    /// hand-off.
    pub priority: String,
    /// `critical`, `warning` or `info`; by default P1 is critical, P2 a warning, the rest info.
    pub severity: Option<String>,
    /// At least this many customer turns in a row below `[conversation] negative_below`.
    pub negative_streak: Option<u32>,
    /// The latest customer turn's sentiment is below this.
    pub sentiment_below: Option<f64>,
    /// The customer repeated a turn at least this many times.
    pub repeats: Option<u32>,
    /// A customer turn matched a `[[risk]]` rule (`true`), or one of these.
    pub risk: Option<RiskMatch>,
    /// The conversation's tier is one of these.
    pub tier: Option<Vec<String>>,
    /// The conversation's business line is one of these.
    pub business: Option<Vec<String>>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

impl Escalation {
    /// 1 for P1 … 5 for P5 (validated).
    pub fn rank(&self) -> u8 {
        self.priority[1..].parse().unwrap_or(u8::MAX)
    }

    pub fn severity(&self) -> Severity {
        match self.severity.as_deref().and_then(Severity::parse) {
            Some(s) => s,
            None if self.rank() == 1 => Severity::Critical,
            None if self.rank() == 2 => Severity::Warning,
            None => Severity::Info,
        }
    }

    /// Every problem with the table; `risks`: the `[[risk]]` names the dataflow defines.
    pub fn check(&self, risks: &[String]) -> Vec<String> {
        let mut problems = Vec::new();
        if self.name.trim().is_empty() {
            problems.push("name is empty".into());
        }
        let rank_ok = self.priority.len() == 2
            && self.priority.starts_with('P')
            && matches!(self.priority.as_bytes()[1], b'1'..=b'5');
        if !rank_ok {
            problems.push(format!("priority must be one of P1 … P5, not `{}`", self.priority));
        }
        if let Some(s) = self.severity.as_deref().filter(|s| Severity::parse(s).is_none()) {
            problems.push(format!("severity `{s}` must be critical, warning or info"));
        }
        let conditions = [
            self.negative_streak.is_some(),
            self.sentiment_below.is_some(),
            self.repeats.is_some(),
            self.risk.is_some(),
            self.tier.is_some(),
            self.business.is_some(),
        ];
        if !conditions.contains(&true) {
            problems.push(
                "needs at least one condition (negative_streak, sentiment_below, repeats, risk, tier, business)".into(),
            );
        }
        if self.negative_streak == Some(0) || self.repeats == Some(0) {
            problems.push("negative_streak and repeats must be at least 1".into());
        }
        if self.sentiment_below.is_some_and(|s| !(-1.0..=1.0).contains(&s)) {
            problems.push("sentiment_below must lie in [-1, 1]".into());
        }
        match &self.risk {
            Some(RiskMatch::Any(false)) => problems.push("risk = false matches nothing; leave it out".into()),
            Some(RiskMatch::Named(names)) => {
                for name in names.iter().filter(|n| !risks.contains(n)) {
                    problems.push(format!("risk names `{name}`, which no [[risk]] defines"));
                }
            }
            _ => {}
        }
        for (what, list) in [("tier", &self.tier), ("business", &self.business)] {
            if list.as_ref().is_some_and(|l| l.is_empty()) {
                problems.push(format!("{what} is an empty list"));
            }
        }
        problems
    }
}

/// The `handoff` rule of validated escalations; `idle` is `[conversation] idle` (how long a
/// restarted run keeps a hand-off it restored without hearing of its conversation).
pub fn handoff_rule(escalations: Vec<Escalation>, idle: HumanDuration) -> RuleConfig {
    RuleConfig::made(HANDOFF_RULE, idle, RuleKind::Handoff(escalations))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Escalation {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn every_problem_of_a_table_is_reported() {
        let e = parse("name = \"x\"\npriority = \"P9\"\nseverity = \"loud\"\nrisk = [\"fraud\", \"nope\"]\ntier = []");
        let problems = e.check(&["fraud".into()]);
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[0].contains("P1 … P5") && problems[2].contains("`nope`") && problems[3].contains("tier"));
        let none = parse("name = \"y\"\npriority = \"P1\"");
        assert!(none.check(&[])[0].contains("at least one condition"));
        let ok = parse("name = \"z\"\npriority = \"P3\"\nrisk = true\nrepeats = 2");
        assert!(ok.check(&[]).is_empty());
        assert_eq!((ok.rank(), ok.severity()), (3, Severity::Info));
        assert!(toml::from_str::<Escalation>("name = \"w\"\npriority = \"P1\"\nunknown = 1").is_err());
    }
}
