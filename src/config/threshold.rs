//! `kind = "threshold"` rules: a ticket KPI of each closed window against a fixed bound, firing
//! after `for` of consecutive windows past it (as Prometheus's `for`).

use super::{Dimension, Key};
use super::{SlaKind, Span, TicketStatus};
use std::fmt;

/// What a threshold rule reads from a KPI window.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum KpiMetric {
    /// Transitions of a status (`count(resolved)`; plain `count` is `count(opened)`).
    Count(Counted),
    /// `ratio(resolved, opened)`: one count over another (no value when the second is 0).
    Ratio(Counted, Counted),
    /// `p90(first_response)`: a quantile of a duration, in seconds.
    Quantile(f64, Span),
    /// `mean(handling)`: the mean of a duration, in seconds.
    Mean(Span),
    /// `mean(qa_score)`: the mean transcript QA score (0–100) of the conversations scored.
    QaMean,
}

/// What a count counts: transitions of a status, or SLA breaches (`breach(first_response)`,
/// or `breach` for all kinds).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Counted {
    Status(TicketStatus),
    Breaches(Option<SlaKind>),
    /// Conversations scored by a `[[qa]]` sheet (`qa_scored`), their violations (`qa_violations`).
    QaScored,
    QaViolations,
}

impl Counted {
    fn parse(text: &str) -> Result<Counted, String> {
        let text = text.trim();
        match text {
            "qa_scored" => return Ok(Counted::QaScored),
            "qa_violations" => return Ok(Counted::QaViolations),
            _ => {}
        }
        if text == "breach" || text == "breaches" {
            return Ok(Counted::Breaches(None));
        }
        if let Some(inner) = text.strip_prefix("breach(").and_then(|t| t.strip_suffix(')')) {
            let kind = SlaKind::ALL.into_iter().find(|k| k.as_str() == inner.trim());
            return kind
                .map(|k| Counted::Breaches(Some(k)))
                .ok_or_else(|| format!("`{inner}` is not an SLA (first_response, takeover, resolution)"));
        }
        TicketStatus::parse(text).map(Counted::Status).ok_or_else(|| {
            format!("`{text}` is not a status (opened, assigned, first_response, handed_off, resolved, reopened) or breach(…)")
        })
    }
}

impl fmt::Display for Counted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Counted::Status(s) => f.write_str(s.as_str()),
            Counted::Breaches(None) => f.write_str("breach"),
            Counted::Breaches(Some(k)) => write!(f, "breach({})", k.as_str()),
            Counted::QaScored => f.write_str("qa_scored"),
            Counted::QaViolations => f.write_str("qa_violations"),
        }
    }
}

impl KpiMetric {
    /// `count`, `count(resolved)`, `ratio(resolved, opened)`, `p50|p90|p95|p99(span)`, `mean(span)`.
    pub fn parse(text: &str) -> Result<KpiMetric, String> {
        let text = text.trim();
        if text == "count" {
            return Ok(KpiMetric::Count(Counted::Status(TicketStatus::Opened)));
        }
        let (name, inner) = text
            .strip_suffix(')')
            .and_then(|t| t.split_once('('))
            .ok_or_else(|| format!("`{text}` is not a KPI (count, count(…), ratio(…, …), p90(…), mean(…))"))?;
        let span = || {
            Span::parse(inner.trim())
                .ok_or_else(|| format!("`{inner}` is not a duration (first_response, takeover, handling, resolution)"))
        };
        match name.trim() {
            "count" => Ok(KpiMetric::Count(Counted::parse(inner)?)),
            "ratio" => {
                let (a, b) = inner.split_once(',').ok_or("ratio(…) takes two counts: ratio(resolved, opened)")?;
                Ok(KpiMetric::Ratio(Counted::parse(a)?, Counted::parse(b)?))
            }
            "mean" if inner.trim() == "qa_score" => Ok(KpiMetric::QaMean),
            "mean" => Ok(KpiMetric::Mean(span()?)),
            q => {
                let p: f64 = q
                    .strip_prefix('p')
                    .and_then(|p| p.parse().ok())
                    .filter(|p: &f64| *p > 0.0 && *p < 100.0)
                    .ok_or_else(|| format!("`{q}` is not count, ratio, mean or a quantile p1 … p99.9"))?;
                Ok(KpiMetric::Quantile(p / 100.0, span()?))
            }
        }
    }

    /// Whether a window without any ticket has a value (0): counts do, the others do not.
    pub fn counts(&self) -> bool {
        matches!(self, KpiMetric::Count(_))
    }

    /// Whether the value is a duration in seconds.
    pub fn is_duration(&self) -> bool {
        matches!(self, KpiMetric::Quantile(..) | KpiMetric::Mean(_))
    }
}

impl fmt::Display for KpiMetric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KpiMetric::Count(c) => write!(f, "count({c})"),
            KpiMetric::Ratio(a, b) => write!(f, "ratio({a}, {b})"),
            KpiMetric::Quantile(q, s) => write!(f, "p{}({})", q * 100.0, s.as_str()),
            KpiMetric::Mean(s) => write!(f, "mean({})", s.as_str()),
            KpiMetric::QaMean => f.write_str("mean(qa_score)"),
        }
    }
}

/// A validated threshold rule.
#[derive(Clone, Debug, PartialEq)]
pub struct ThresholdRule {
    /// `overall`, `agent` or `business`.
    pub key: Key,
    pub only: Option<Vec<String>>,
    pub metric: KpiMetric,
    pub above: Option<f64>,
    pub below: Option<f64>,
    /// Consecutive closed windows past the bound before it fires (`for` ÷ window, at least 1).
    pub for_windows: usize,
}

impl ThresholdRule {
    /// Whether `value` is past the bound.
    pub fn crossed(&self, value: f64) -> bool {
        self.above.is_some_and(|a| value > a) || self.below.is_some_and(|b| value < b)
    }

    /// The bound crossed, for the alert's baseline threshold.
    pub fn bound(&self) -> f64 {
        self.above.or(self.below).unwrap_or(f64::NAN)
    }
}

/// Every problem of a threshold rule as written; `kpi_sizes`: the windows ticket KPIs are kept
/// at.
pub(super) fn check(r: &super::rules::RuleFile, kpi_sizes: &[super::HumanDuration], problem: super::schema::Problem) {
    match r.key.as_ref().map(super::KeySpec::key) {
        Some(Ok(key)) if !is_kpi_key(key) => {
            problem(format!("key {}: ticket KPIs are kept for overall, agent, team and business", key.name()))
        }
        _ => {}
    }
    match r.kpi_metric() {
        None => problem("threshold rules need `metric` (count, count(…), ratio(…, …), p90(…), mean(…))".into()),
        Some(Err(e)) => problem(format!("metric: {e}")),
        Some(Ok(_)) => {}
    }
    match (r.above, r.below) {
        (None, None) => problem("threshold rules need `above` or `below`".into()),
        (Some(a), Some(b)) if a <= b => problem(format!("above {a} ≤ below {b}: every value would fire")),
        (a, b) if a.into_iter().chain(b).any(|v| !v.is_finite()) => problem("above/below must be numbers".into()),
        _ => {}
    }
    let window = r.window();
    if !kpi_sizes.contains(&window) {
        let known: Vec<String> = kpi_sizes.iter().map(|s| s.to_string()).collect();
        problem(format!("window {window} is not a ticket KPI window (have {})", known.join(", ")));
    }
    if let Some(f) = r.for_ {
        if f.as_ms() % window.as_ms().max(1) != 0 {
            problem(format!("for = {f} is not a whole number of {window} windows"));
        }
    }
    super::rule_checks::refuse_spike_options(r, problem);
}

/// The keys a threshold rule may watch: the series ticket KPIs are kept for.
pub fn is_kpi_key(key: Key) -> bool {
    matches!(key.single(), Some(Dimension::Overall | Dimension::Agent | Dimension::Business | Dimension::Team))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_parse_as_written_and_read_windows() {
        let p90 = KpiMetric::parse("p90(first_response)").unwrap();
        assert_eq!(p90, KpiMetric::Quantile(0.9, Span::FirstResponse));
        assert_eq!(p90.to_string(), "p90(first_response)");
        assert_eq!(KpiMetric::parse("mean( handling )").unwrap(), KpiMetric::Mean(Span::Handling));
        let ratio = KpiMetric::parse("ratio(resolved, opened)").unwrap();
        assert_eq!(
            ratio,
            KpiMetric::Ratio(Counted::Status(TicketStatus::Resolved), Counted::Status(TicketStatus::Opened))
        );
        assert_eq!(KpiMetric::parse("count").unwrap().to_string(), "count(opened)");
        assert_eq!(KpiMetric::parse("count(breach(takeover))").unwrap().to_string(), "count(breach(takeover))");
        for bad in ["p90", "p0(handling)", "p90(lunch)", "ratio(resolved)", "count(closed)", "median(handling)"] {
            assert!(KpiMetric::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn threshold_rules_and_slas_are_checked_with_every_problem_at_once() {
        use super::super::{Config, Source, DEFAULT_ALERTS, DEFAULT_DATAFLOW};
        let flows = || vec![Source { name: "dataflows/d.toml".into(), text: DEFAULT_DATAFLOW.into() }];
        let bad = r#"
[[rule]]
name = "a"
kind = "threshold"
key = "category"
metric = "p90(lunch)"
window = "2m"
for = "90s"
severity = "warning"

[[rule]]
name = "b"
kind = "spike"
key = "agent"
baseline = "median_mad"
window = "1m"
sensitivity = 3
above = 5
severity = "warning"

[[rule]]
name = "c"
kind = "threshold"
key = "agent"
metric = "mean(handling)"
window = "5m"
severity = "info"
"#;
        let alerts = vec![Source { name: "alerts/t.toml".into(), text: bad.into() }];
        let errors = Config::from_sources(flows(), alerts).unwrap_err().0;
        let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
        let want = [
            "rule `a`: key category: ticket KPIs are kept for overall, agent, team and business",
            "rule `a`: metric: `lunch` is not a duration (first_response, takeover, handling, resolution)",
            "rule `a`: threshold rules need `above` or `below`",
            "rule `a`: window 2m is not a ticket KPI window (have 5m, 15m, 1h)",
            "rule `a`: for = 90s is not a whole number of 2m windows",
            "rule `b`: `above`, `below` and `for` apply to threshold rules only",
            "rule `b`: key agent: only threshold rules watch agents and teams (KPIs)",
            "rule `c`: threshold rules need `above` or `below`",
        ];
        for w in want {
            assert!(messages.contains(&w), "missing {w:?} in {messages:#?}");
        }
        assert_eq!(messages.len(), want.len(), "{messages:#?}");
        let defaults = vec![Source { name: "alerts/default.toml".into(), text: DEFAULT_ALERTS.into() }];
        let config = Config::from_sources(flows(), defaults).unwrap();
        let threshold = config.rules.iter().find_map(|r| match &r.kind {
            super::super::RuleKind::Threshold(t) => Some(t),
            _ => None,
        });
        assert!(threshold.is_some(), "the shipped rules include a threshold rule");
        assert!(config.rules.iter().any(|r| r.name == super::super::SLA_RULE), "and the SLAs' breach rule");
    }
}
