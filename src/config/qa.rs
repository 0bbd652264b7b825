//! `[[qa]]` score sheets in `alerts/*.toml`: what a conversation's agent turns are checked for
//! when the conversation closes (docs/conversations.md § Transcript QA); and the
//! `qa_violation` rule the sheets make.

use super::schema::Problem;
use super::{HumanDuration, RuleConfig, RuleKind};
use serde::Deserialize;

/// The rule the sheets make, and the name its alerts carry.
pub const QA_RULE: &str = "qa_violation";

/// One `[[qa]]` as written.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QaSheet {
    pub name: String,
    /// The businesses it scores (all when absent); a conversation is scored by the first sheet
    /// that covers it.
    pub business: Option<Vec<String>>,
    pub greeting: Option<Check>,
    pub closing: Option<Check>,
    pub empathy: Option<Check>,
    #[serde(default)]
    pub forbidden: Vec<Forbidden>,
    /// Share of the scored conversations sampled into Redis `fp:qa:sample`, low-emotion ones
    /// first (`dataflow::qa::ReviewSampler`).
    #[serde(default = "default_sample")]
    pub sample: f64,
    /// A conversation whose customer's lowest sentiment is below this is low-emotion: sampled
    /// before the others.
    #[serde(default = "default_sample_below")]
    pub sample_below: f64,
}

fn default_sample() -> f64 {
    0.1
}
fn default_sample_below() -> f64 {
    -0.5
}

/// A phrase check: greeting (within the first `within` agent turns), closing (in the last agent
/// turn), empathy (in an agent turn right after a customer turn below `below`).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    pub phrases: Vec<String>,
    #[serde(default = "default_within")]
    pub within: u32,
    #[serde(default = "default_below")]
    pub below: f64,
    /// Points a miss costs (of 100).
    #[serde(default = "default_weight")]
    pub weight: u32,
    /// A miss raises a `qa_violation` alert.
    #[serde(default)]
    pub severe: bool,
}

fn default_within() -> u32 {
    2
}
fn default_below() -> f64 {
    -0.5
}
fn default_weight() -> u32 {
    10
}

/// Phrases (and regexes) an agent must not say, with exceptions.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Forbidden {
    pub name: String,
    #[serde(default)]
    pub phrases: Vec<String>,
    #[serde(default)]
    pub regex: Vec<String>,
    /// A hit inside one of these phrases does not count (`不知道您` is not `不知道`).
    #[serde(default)]
    pub except: Vec<String>,
    #[serde(default = "default_forbidden_weight")]
    pub weight: u32,
    #[serde(default = "default_severe")]
    pub severe: bool,
}

fn default_forbidden_weight() -> u32 {
    30
}
fn default_severe() -> bool {
    true
}

impl QaSheet {
    /// Every problem of the sheet.
    pub(super) fn check(&self, problem: Problem) {
        if self.name.trim().is_empty() {
            problem("name is empty".into());
        }
        if self.greeting.is_none() && self.closing.is_none() && self.empathy.is_none() && self.forbidden.is_empty() {
            problem("needs at least one of greeting, closing, empathy, [[qa.forbidden]]".into());
        }
        for (what, check) in [("greeting", &self.greeting), ("closing", &self.closing), ("empathy", &self.empathy)] {
            let Some(c) = check else { continue };
            if c.phrases.iter().all(|p| p.trim().is_empty()) {
                problem(format!("{what}: phrases is empty"));
            }
            if c.weight > 100 {
                problem(format!("{what}: weight {} is more than 100 points", c.weight));
            }
        }
        if self.greeting.as_ref().is_some_and(|g| g.within == 0) {
            problem("greeting: within must be at least 1 agent turn".into());
        }
        if self.empathy.as_ref().is_some_and(|e| !(-1.0..=1.0).contains(&e.below)) {
            problem("empathy: below must lie in [-1, 1]".into());
        }
        for (i, f) in self.forbidden.iter().enumerate() {
            if self.forbidden[..i].iter().any(|o| o.name == f.name) {
                problem(format!("forbidden `{}`: name used twice", f.name));
            }
            if f.phrases.is_empty() && f.regex.is_empty() {
                problem(format!("forbidden `{}`: needs phrases or regex", f.name));
            }
            for r in &f.regex {
                if let Err(e) = regex::Regex::new(r) {
                    problem(format!("forbidden `{}`: bad regex `{r}`: {e}", f.name));
                }
            }
        }
        if !(0.0..=1.0).contains(&self.sample) {
            problem(format!("sample must lie in [0, 1], not {}", self.sample));
        }
        if self.business.as_ref().is_some_and(Vec::is_empty) {
            problem("business is an empty list".into());
        }
    }

    /// Whether the sheet scores a conversation of `business`.
    pub fn covers(&self, business: Option<&str>) -> bool {
        match (&self.business, business) {
            (None, _) => true,
            (Some(list), Some(b)) => list.iter().any(|x| x == b),
            (Some(_), None) => false,
        }
    }
}

/// The `qa_violation` rule of configured sheets: one alert per severe violation of a closed
/// conversation, firing for `window`.
pub fn qa_rule() -> RuleConfig {
    RuleConfig::made(QA_RULE, HumanDuration(std::time::Duration::from_secs(600)), RuleKind::QaViolation)
}
