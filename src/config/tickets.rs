//! `[tickets]` and its `[[tickets.sla]]` tables: how ticket lifecycles become KPI windows and
//! SLA breaches (docs/tickets.md); and the `sla_breach` rule the SLAs make.

use super::schema::Problem;
use super::{HumanDuration, RuleConfig, RuleKind, Severity};
use serde::{Deserialize, Serialize};

/// Where a ticket went (`status` of a `type: ticket` record).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketStatus {
    Opened,
    Assigned,
    FirstResponse,
    HandedOff,
    Resolved,
    Reopened,
}

impl TicketStatus {
    pub const ALL: [TicketStatus; 6] =
        [Self::Opened, Self::Assigned, Self::FirstResponse, Self::HandedOff, Self::Resolved, Self::Reopened];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Opened => "opened",
            Self::Assigned => "assigned",
            Self::FirstResponse => "first_response",
            Self::HandedOff => "handed_off",
            Self::Resolved => "resolved",
            Self::Reopened => "reopened",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// The durations measured at a ticket's transitions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Span {
    /// Opened (or reopened) → the first `first_response`.
    FirstResponse,
    /// Handed off → the next `assigned`: how long a person took to take over.
    Takeover,
    /// First `assigned` of an episode (else its first response) → `resolved`.
    Handling,
    /// Opened (or reopened) → `resolved`.
    Resolution,
}

impl Span {
    pub const ALL: [Span; 4] = [Self::FirstResponse, Self::Takeover, Self::Handling, Self::Resolution];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::FirstResponse => "first_response",
            Self::Takeover => "takeover",
            Self::Handling => "handling",
            Self::Resolution => "resolution",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// The SLAs a ticket can breach: each a deadline after the moment its clock starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlaKind {
    /// Opened (or reopened) → first response (or resolved).
    FirstResponse,
    /// Handed off → assigned (or resolved).
    Takeover,
    /// Opened (or reopened) → resolved.
    Resolution,
}

impl SlaKind {
    pub const ALL: [SlaKind; 3] = [Self::FirstResponse, Self::Takeover, Self::Resolution];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::FirstResponse => "first_response",
            Self::Takeover => "takeover",
            Self::Resolution => "resolution",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// The rule the SLAs make, and the name its alerts carry.
pub const SLA_RULE: &str = "sla_breach";

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketsConfig {
    /// A ticket without an event for this much event time (and no SLA clock running) is
    /// forgotten; its windows stay.
    #[serde(default = "default_idle")]
    pub idle: HumanDuration,
    /// The window sizes KPIs are kept at: dataflow `[[window]]` sizes (empty: all of them).
    #[serde(default)]
    pub windows: Vec<HumanDuration>,
    /// Events kept per ticket to put late ones in order; older ones are folded into a base.
    #[serde(default = "default_max_events")]
    pub max_events: usize,
    /// A resolved ticket (no SLA clock running) is forgotten this long after its last event:
    /// an event later than that (a reopening) starts it afresh.
    #[serde(default = "default_keep_resolved")]
    pub keep_resolved: HumanDuration,
    /// Service-level deadlines; a ticket follows the first whose `business` covers it.
    #[serde(default)]
    pub sla: Vec<SlaConfig>,
}

impl TicketsConfig {
    /// The window sizes KPIs are kept at: `windows`, or every dataflow window (`all`).
    pub fn sizes(&self, all: impl IntoIterator<Item = HumanDuration>) -> Vec<HumanDuration> {
        match self.windows.is_empty() {
            true => all.into_iter().collect(),
            false => self.windows.clone(),
        }
    }
}

impl Default for TicketsConfig {
    fn default() -> Self {
        TicketsConfig {
            idle: default_idle(),
            windows: Vec::new(),
            max_events: default_max_events(),
            keep_resolved: default_keep_resolved(),
            sla: Vec::new(),
        }
    }
}

fn default_idle() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(7 * 86_400))
}
fn default_max_events() -> usize {
    256
}
fn default_keep_resolved() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(3600))
}

/// One `[[tickets.sla]]`: deadlines after a ticket opens (or reopens) and after a hand-off.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaConfig {
    pub name: String,
    /// The businesses it covers (all when absent).
    pub business: Option<Vec<String>>,
    /// Opened → first response (or resolved).
    pub first_response: Option<HumanDuration>,
    /// Handed off → assigned to a person (or resolved).
    pub takeover: Option<HumanDuration>,
    /// Opened → resolved.
    pub resolution: Option<HumanDuration>,
    /// The severity of its `sla_breach` alerts.
    #[serde(default = "default_severity")]
    pub severity: String,
}

fn default_severity() -> String {
    "warning".into()
}

impl SlaConfig {
    pub fn severity(&self) -> Severity {
        Severity::parse(&self.severity).unwrap_or(Severity::Warning)
    }
}

/// Every problem of `[tickets]`; `sizes` are the dataflow's window sizes.
pub(super) fn check_tickets(t: &TicketsConfig, sizes: &[HumanDuration], problem: Problem) {
    if !(60_000..=90 * 86_400_000).contains(&t.idle.as_ms()) {
        problem(format!("idle must lie between 1m and 90d, not {}", t.idle));
    }
    if t.keep_resolved.as_ms() < 1_000 || t.keep_resolved > t.idle {
        problem(format!("keep_resolved must lie between 1s and idle ({}), not {}", t.idle, t.keep_resolved));
    }
    if !(4..=100_000).contains(&t.max_events) {
        problem(format!("max_events must lie between 4 and 100000, not {}", t.max_events));
    }
    for w in &t.windows {
        if !sizes.contains(w) {
            let known: Vec<String> = sizes.iter().map(|s| s.to_string()).collect();
            problem(format!("windows: {w} is not a dataflow window (have {})", known.join(", ")));
        }
    }
    for (i, s) in t.sla.iter().enumerate() {
        let mut say = |m: String| problem(format!("sla `{}`: {m}", s.name));
        if s.name.trim().is_empty() {
            say("name is empty".into());
        }
        if t.sla[..i].iter().any(|o| o.name == s.name) {
            say("name used twice".into());
        }
        let deadlines = [s.first_response, s.takeover, s.resolution];
        if deadlines.iter().all(Option::is_none) {
            say("needs at least one of first_response, takeover, resolution".into());
        }
        for d in deadlines.into_iter().flatten() {
            if d.as_ms() < 1_000 || d.as_ms() > 90 * 86_400_000 {
                say(format!("deadline {d} must lie between 1s and 90d"));
            }
        }
        if s.business.as_ref().is_some_and(Vec::is_empty) {
            say("business is an empty list".into());
        }
        if Severity::parse(&s.severity).is_none() {
            say(format!("severity `{}` must be critical, warning or info", s.severity));
        }
    }
}

/// The `sla_breach` rule of configured SLAs; its window is `[tickets] idle` (how long a
/// restarted run keeps a breach it restored without hearing of its ticket).
pub fn sla_rule(idle: HumanDuration) -> RuleConfig {
    RuleConfig::made(SLA_RULE, idle, RuleKind::SlaBreach)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_of_the_table_is_reported() {
        let t: TicketsConfig = toml::from_str(
            "idle = \"10s\"\nwindows = [\"2m\"]\n[[sla]]\nname = \"a\"\n[[sla]]\nname = \"a\"\nfirst_response = \"0s\"\nseverity = \"loud\"\nbusiness = []",
        )
        .unwrap();
        let mut problems = Vec::new();
        check_tickets(&t, &[HumanDuration(std::time::Duration::from_secs(60))], &mut |m| problems.push(m));
        assert_eq!(problems.len(), 8, "{problems:?}");
        assert!(problems[0].contains("idle") && problems[1].contains("keep_resolved must lie between 1s and idle"));
        assert!(problems[2].contains("2m is not a dataflow window") && problems[3].contains("needs at least one"));
        assert!(problems[4].contains("used twice"));
        let ok: TicketsConfig = toml::from_str("[[sla]]\nname = \"desk\"\ntakeover = \"30s\"").unwrap();
        let mut none = Vec::new();
        check_tickets(&ok, &[], &mut |m| none.push(m));
        assert!(none.is_empty(), "{none:?}");
        assert_eq!(ok.sla[0].severity(), Severity::Warning);
    }
}
