//! Alert lifecycle. The detector hands in one [`Evaluation`] per evaluated window; the engine
//! decides what becomes a notification:
//!
//! - an anomalous window of an idle rule/series **fires** (once; later anomalous windows only
//!   move the alert's window and value forward);
//! - a firing alert **resolves** when a whole window after its last anomalous one has closed
//!   without crossing (flap damping: a spike that spans window boundaries stays one alert), or
//!   at once when late data re-evaluates its only anomalous window as normal;
//! - after resolving, the rule/series is in **cooldown** for the rule's cooldown (event time).
//!
//! Per-message and per-cluster alerts (`high_risk`, `new_cluster`) are [`notify`]: they fire
//! once and resolve when the rule's window has passed in event time, so a receiver that
//! re-sends firing alerts (Alertmanager) stops.
//!
//! [`notify`]: AlertEngine::notify
//!
//! All times are event time, so replay, backtest and live give the same alerts for the same
//! input and tick boundaries.

use super::{fingerprint, Alert, AlertStatus, Baseline, Explanation, Timestamp, WindowSpan};
use crate::config::{RuleConfig, RuleKind, Severity, SpikeScore};
use crate::records::window::Series;
use std::collections::{BTreeMap, HashMap};

/// The detector's verdict on one window of one series under one rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    pub window_start_ms: i64,
    pub window_end_ms: i64,
    pub anomalous: bool,
    pub value: f64,
    pub baseline: Baseline,
    pub explanation: Explanation,
}

/// The end of a held alert's window: never reached by the clock.
const HELD: i64 = i64::MAX / 4;

struct Active {
    alert: Alert,
    /// End of the latest anomalous window.
    last_anomalous_end_ms: i64,
    window_ms: i64,
}

#[derive(Default)]
pub struct AlertEngine {
    public_url: String,
    active: HashMap<String, Active>,
    cooldown_until: HashMap<String, i64>,
    suppressed: u64,
}

impl AlertEngine {
    pub fn new(public_url: &str) -> Self {
        AlertEngine { public_url: public_url.trim_end_matches('/').to_owned(), ..Default::default() }
    }

    /// Labels of an alert: `alertname`, the rule name, the window size, the rule's own labels
    /// and what the alert is about (`subject`: the key of a series, a message, a cluster).
    pub fn labels<'a>(
        rule: &RuleConfig,
        subject: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> BTreeMap<String, String> {
        let mut labels = rule.labels.clone();
        let default_name = match rule.kind {
            RuleKind::Spike(_) => "FeedbackSpike",
            RuleKind::SentimentDip(_) => "FeedbackSentimentDip",
            RuleKind::HighRisk { .. } => "FeedbackHighRisk",
            RuleKind::NewCluster => "FeedbackNewCluster",
            RuleKind::DayOverDay(_) => "FeedbackDayOverDay",
            RuleKind::Handoff(_) => "FeedbackHandoff",
            RuleKind::Threshold(_) => "TicketKpiThreshold",
            RuleKind::SlaBreach => "TicketSlaBreach",
            RuleKind::QaViolation => "ConversationQaViolation",
        };
        labels.insert("alertname".into(), rule.alertname.clone().unwrap_or_else(|| default_name.into()));
        labels.insert("rule".into(), rule.name.clone());
        for (k, v) in subject {
            labels.insert(k.into(), v.into());
        }
        labels.insert("window".into(), rule.window.to_string());
        labels.insert("severity".into(), rule.severity.as_str().into());
        labels
    }

    /// A one-off alert (a high-risk message, a new cluster): fires unless the same alert is
    /// firing or cooling down, and resolves once the clock passes `eval.window_end_ms`.
    pub fn notify(
        &mut self,
        rule: &RuleConfig,
        labels: BTreeMap<String, String>,
        eval: Evaluation,
        clock_ms: i64,
        summary: String,
    ) -> Option<Alert> {
        let fp = fingerprint(&rule.name, &labels);
        if self.active.contains_key(&fp) {
            return None;
        }
        if self.cooldown_until.get(&fp).is_some_and(|until| clock_ms < *until) {
            self.suppressed += 1;
            return None;
        }
        let alert = self.firing(rule, fp.clone(), labels, &eval, clock_ms, summary);
        self.active
            .insert(fp, Active { alert: alert.clone(), last_anomalous_end_ms: eval.window_end_ms, window_ms: 0 });
        Some(alert)
    }

    /// An alert held firing until [`settle`](Self::settle)d, under a fingerprint of the
    /// caller's (a hand-off's is its conversation, whatever its priority), at `severity`.
    /// `build` gives its labels, evaluation and summary, and is called only when the alert is
    /// new: `None` when it is firing already (and holds it again: a restored one had a deadline).
    pub fn hold(
        &mut self,
        rule: &RuleConfig,
        fp: String,
        severity: Severity,
        clock_ms: i64,
        build: impl FnOnce() -> (BTreeMap<String, String>, Evaluation, String),
    ) -> Option<Alert> {
        if let Some(active) = self.active.get_mut(&fp) {
            active.last_anomalous_end_ms = HELD;
            return None;
        }
        let (labels, eval, summary) = build();
        let mut alert = self.firing(rule, fp.clone(), labels, &eval, clock_ms, summary);
        alert.severity = severity;
        self.active.insert(fp, Active { alert: alert.clone(), last_anomalous_end_ms: HELD, window_ms: 0 });
        Some(alert)
    }

    /// Resolves the alert `fp` now, if it is firing.
    pub fn settle(&mut self, fp: &str, rule: &RuleConfig, clock_ms: i64) -> Option<Alert> {
        self.active.contains_key(fp).then(|| self.resolve(fp, rule, clock_ms))
    }

    fn firing(
        &self,
        rule: &RuleConfig,
        fp: String,
        labels: BTreeMap<String, String>,
        eval: &Evaluation,
        clock_ms: i64,
        summary: String,
    ) -> Alert {
        Alert {
            generator_url: format!("{}/#alert={fp}", self.public_url),
            llm_summary: None,
            fingerprint: fp,
            status: AlertStatus::Firing,
            rule: rule.kind_name().into(),
            severity: rule.severity,
            labels,
            starts_at: Timestamp(clock_ms),
            ends_at: None,
            window: span(eval),
            value: eval.value,
            summary,
            baseline: eval.baseline.clone(),
            explanation: eval.explanation.clone(),
        }
    }

    /// Feeds one evaluation; returns the alert when its state changed.
    pub fn observe(&mut self, rule: &RuleConfig, series: &Series, eval: Evaluation, clock_ms: i64) -> Option<Alert> {
        // The usual case, a normal window while nothing fires, changes nothing: skip building
        // labels and a fingerprint for it.
        if !eval.anomalous && self.active.is_empty() {
            return None;
        }
        let labels = Self::labels(rule, series.parts().into_iter().map(|(d, v)| (d.as_str(), v)));
        let fp = fingerprint(&rule.name, &labels);
        if let Some(active) = self.active.get_mut(&fp) {
            if eval.anomalous {
                if eval.window_end_ms >= active.last_anomalous_end_ms {
                    active.last_anomalous_end_ms = eval.window_end_ms;
                    active.alert.window = span(&eval);
                    active.window_ms = eval.window_end_ms - eval.window_start_ms;
                    active.alert.value = eval.value;
                    active.alert.baseline = eval.baseline;
                    active.alert.explanation = eval.explanation;
                    let window = active.alert.window.clone();
                    active.alert.summary = summary(rule, series, active.alert.value, &active.alert.baseline, &window)
                        + &drivers_note(&active.alert.explanation.drivers);
                }
                return None;
            }
            // Late data took back the only anomalous window: resolve now.
            if eval.window_end_ms == active.last_anomalous_end_ms
                && active.alert.window.start == Timestamp(eval.window_start_ms)
            {
                return Some(self.resolve(&fp, rule, clock_ms));
            }
            return None;
        }
        if !eval.anomalous {
            return None;
        }
        if self.cooldown_until.get(&fp).is_some_and(|until| clock_ms < *until) {
            self.suppressed += 1;
            return None;
        }
        let text =
            summary(rule, series, eval.value, &eval.baseline, &span(&eval)) + &drivers_note(&eval.explanation.drivers);
        let alert = self.firing(rule, fp.clone(), labels, &eval, clock_ms, text);
        self.active.insert(
            fp,
            Active {
                alert: alert.clone(),
                last_anomalous_end_ms: eval.window_end_ms,
                window_ms: eval.window_end_ms - eval.window_start_ms,
            },
        );
        Some(alert)
    }

    /// Takes over an alert's state from a previous run: a firing one stays firing (and does not
    /// fire again), a resolved one cools down from when it resolved.
    pub fn adopt(&mut self, alert: Alert, rule: &RuleConfig) {
        match alert.status {
            AlertStatus::Firing => {
                let last_anomalous_end_ms = alert.window.end.ms();
                let window_ms =
                    if rule.watch().is_some() { alert.window.end.ms() - alert.window.start.ms() } else { 0 };
                self.active.insert(alert.fingerprint.clone(), Active { alert, last_anomalous_end_ms, window_ms });
            }
            AlertStatus::Resolved => {
                if let Some(ended) = alert.ends_at {
                    self.cooldown_until.insert(alert.fingerprint, ended.ms() + rule.cooldown.as_ms());
                }
            }
        }
    }

    /// Resolves alerts whose following window closed quietly. `lateness_ms` is how long after a
    /// window's end late data is still waited for.
    pub fn advance_clock(&mut self, clock_ms: i64, lateness_ms: i64, rules: &[RuleConfig]) -> Vec<Alert> {
        let due: Vec<String> = self
            .active
            .iter()
            .filter(|(_, a)| clock_ms >= a.last_anomalous_end_ms + a.window_ms + lateness_ms)
            .map(|(fp, _)| fp.clone())
            .collect();
        let mut out = Vec::new();
        for fp in due {
            let rule_name = self.active[&fp].alert.rule_name().to_owned();
            if let Some(rule) = rules.iter().find(|r| r.name == rule_name) {
                out.push(self.resolve(&fp, rule, clock_ms));
            }
        }
        out.sort_by(|a, b| a.fingerprint.cmp(&b.fingerprint));
        out
    }

    /// Resolves, at `clock_ms`, the active alerts of rules not in `rules` (removed by a reload).
    pub fn resolve_orphans(&mut self, rules: &[RuleConfig], clock_ms: i64) -> Vec<Alert> {
        let orphans: Vec<String> = self
            .active
            .iter()
            .filter(|(_, a)| !rules.iter().any(|r| r.name == a.alert.rule_name()))
            .map(|(fp, _)| fp.clone())
            .collect();
        orphans
            .into_iter()
            .map(|fp| {
                let mut alert = self.active.remove(&fp).expect("an active alert").alert;
                alert.status = AlertStatus::Resolved;
                alert.ends_at = Some(Timestamp(clock_ms.max(0)));
                alert
            })
            .collect()
    }

    fn resolve(&mut self, fp: &str, rule: &RuleConfig, clock_ms: i64) -> Alert {
        let mut alert = self.active.remove(fp).expect("resolving an active alert").alert;
        alert.status = AlertStatus::Resolved;
        alert.ends_at = Some(Timestamp(clock_ms));
        self.cooldown_until.insert(fp.to_owned(), clock_ms + rule.cooldown.as_ms());
        alert
    }

    pub fn active(&self) -> impl Iterator<Item = &Alert> {
        self.active.values().map(|a| &a.alert)
    }

    /// Anomalies not notified because their rule/series was cooling down.
    pub fn suppressed(&self) -> u64 {
        self.suppressed
    }
}

fn span(eval: &Evaluation) -> WindowSpan {
    WindowSpan { start: Timestamp(eval.window_start_ms), end: Timestamp(eval.window_end_ms) }
}

/// What a summary says of its drivers: `; drivers: channel weibo 72% (usually 10%), …`.
fn drivers_note(drivers: &[super::Driver]) -> String {
    match drivers {
        [] => String::new(),
        _ => format!("; drivers: {}", drivers.iter().map(super::Driver::describe).collect::<Vec<_>>().join(", ")),
    }
}

/// The alert's one-line summary; `span` is the window judged (a `min_expected` rule's may be
/// longer than its own).
fn summary(rule: &RuleConfig, series: &Series, value: f64, baseline: &Baseline, span: &WindowSpan) -> String {
    let key = format!("{} {}", series.key, series.value);
    let window =
        crate::config::HumanDuration(std::time::Duration::from_millis((span.end.ms() - span.start.ms()).max(0) as u64));
    match &rule.kind {
        RuleKind::Spike(_) if baseline.rise.is_some() => {
            let rise = baseline.rise.as_ref().expect("checked");
            format!(
                "{key}: a sustained rise, {} messages since {} where {:.1} were expected (evidence {:.1} nats for {}× the rate, threshold {:.1}; {value:.0} in the {} window)",
                rise.count, rise.since, rise.expected, rise.evidence, rise.ratio, rise.threshold, window
            )
        }
        RuleKind::Spike(spike) => {
            let ratio = if baseline.mean > 0.0 {
                format!("{:.1}× the baseline {:.1}", value / baseline.mean, baseline.mean)
            } else {
                format!("baseline {:.1}", baseline.mean)
            };
            let shape = match (baseline.shape_rarity, &spike.score) {
                (Some(rarity), SpikeScore::Rarity { shape_windows: Some(n), .. }) => format!(
                    "; the last {n} windows' pattern is unlike {:.2}% of this series' past ones",
                    rarity * 100.0
                ),
                _ => String::new(),
            };
            format!(
                "{key}: {value:.0} messages in a {} window, {ratio} (threshold {:.1}){shape}",
                window, baseline.threshold
            )
        }
        RuleKind::HighRisk { .. }
        | RuleKind::NewCluster
        | RuleKind::Handoff(_)
        | RuleKind::Threshold(_)
        | RuleKind::SlaBreach
        | RuleKind::QaViolation => {
            format!("{key}: {value:.0} in a {} window", window)
        }
        RuleKind::DayOverDay(dod) => day_over_day_summary(dod, &key, value, baseline, span),
        RuleKind::SentimentDip(dip) => match dip.metric {
            crate::config::SentimentMetric::Mean => format!(
                "{key}: mean sentiment {value:.2} in a {} window vs baseline {:.2} (threshold {:.2})",
                window, baseline.mean, baseline.threshold
            ),
            _ => format!(
                "{key}: {:.0}% negative in a {} window vs baseline {:.0}% (threshold {:.0}%)",
                value * 100.0,
                window,
                baseline.mean * 100.0,
                baseline.threshold * 100.0
            ),
        },
    }
}

/// "business live: 420 messages today so far vs 160 yesterday at the same time (+162 %,
/// p < 0.001)". Counts are the earlier day's prorated to the same clock time.
fn day_over_day_summary(
    dod: &crate::config::DodRule,
    key: &str,
    value: f64,
    baseline: &Baseline,
    span: &WindowSpan,
) -> String {
    use crate::config::{Compare, Metric};
    let earlier = match dod.period_days {
        1 => "yesterday".to_string(),
        7 => "a week earlier".to_string(),
        n => format!("{n} days earlier"),
    };
    let (when, then) = match dod.compare {
        Compare::SoFar => ("today so far".to_string(), format!("{earlier} at the same time")),
        Compare::FullDay => (format!("on {}", dod.calendar.date_name(span.start.ms().div_euclid(1000))), earlier),
    };
    let (now, before) = match dod.metric {
        Metric::Count => (format!("{value:.0} messages"), format!("{:.0}", baseline.mean)),
        Metric::NegativeShare => (format!("{:.0}% negative", value * 100.0), format!("{:.0}%", baseline.mean * 100.0)),
        Metric::Mean => (format!("mean sentiment {value:.2}"), format!("{:.2}", baseline.mean)),
    };
    let change = match (dod.metric, baseline.change) {
        (_, None) => String::new(),
        (Metric::Mean, Some(c)) => format!("{c:+.2}, "),
        (_, Some(c)) if c.is_finite() => format!("{:+.0}%, ", c * 100.0),
        (_, Some(_)) => "from none, ".to_string(),
    };
    let p = match baseline.p_value {
        Some(p) if p < 0.001 => "p < 0.001".to_string(),
        Some(p) => format!("p = {p:.3}"),
        None => String::new(),
    };
    format!("{key}: {now} {when} vs {before} {then} ({change}{p})")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Dimension};

    fn rule() -> RuleConfig {
        Config::embedded().rules.into_iter().find(|r| r.name == "category_spike").unwrap()
    }

    fn eval(window_start_s: i64, anomalous: bool, value: f64) -> Evaluation {
        Evaluation {
            window_start_ms: window_start_s * 1000,
            window_end_ms: (window_start_s + 60) * 1000,
            anomalous,
            value,
            baseline: Baseline {
                mean: 10.0,
                std: 2.0,
                threshold: 20.0,
                windows: 30,
                same_window_yesterday: None,
                ..Default::default()
            },
            explanation: Explanation::default(),
        }
    }

    #[test]
    fn fires_once_moves_forward_resolves_after_a_quiet_window_then_cools_down() {
        let (r, s) = (rule(), Series::new(Dimension::Category, "payment"));
        let rules = vec![r.clone()];
        let mut e = AlertEngine::new("http://x");
        let fired = e.observe(&r, &s, eval(600, true, 50.0), 610_000).expect("fires");
        assert_eq!(fired.status, AlertStatus::Firing);
        assert_eq!(fired.labels["category"], "payment");
        assert_eq!(fired.generator_url, format!("http://x/#alert={}", fired.fingerprint));
        assert!(e.observe(&r, &s, eval(600, true, 60.0), 611_000).is_none(), "no repeat while firing");
        assert!(e.observe(&r, &s, eval(660, true, 70.0), 661_000).is_none(), "next window extends the alert");
        assert!(e.observe(&r, &s, eval(720, false, 5.0), 721_000).is_none());
        // Last anomalous window ends at 720 s; the next one ends at 780 s, plus 5 s lateness.
        assert!(e.advance_clock(784_000, 5_000, &rules).is_empty());
        let resolved = e.advance_clock(785_000, 5_000, &rules);
        assert_eq!(resolved.len(), 1);
        assert_eq!(resolved[0].status, AlertStatus::Resolved);
        assert_eq!(resolved[0].fingerprint, fired.fingerprint);
        assert_eq!(resolved[0].value, 70.0);
        assert_eq!(resolved[0].ends_at.map(|t| t.to_string()).as_deref(), Some("1970-01-01T00:13:05.000Z"));
        // Cooldown is 10 minutes of event time.
        assert!(e.observe(&r, &s, eval(840, true, 90.0), 841_000).is_none());
        assert_eq!(e.suppressed(), 1);
        assert!(e.observe(&r, &s, eval(1400, true, 90.0), 1_401_000).is_some());
    }

    #[test]
    fn a_summary_says_when_the_pattern_fired() {
        let (mut r, s) = (rule(), Series::new(Dimension::Category, "payment"));
        let e = eval(600, true, 15.0);
        let plain = summary(&r, &s, 15.0, &e.baseline, &span(&e));
        assert_eq!(plain, "category payment: 15 messages in a 1m window, 1.5× the baseline 10.0 (threshold 20.0)");
        r.spike_mut().unwrap().score = SpikeScore::Rarity { threshold: 0.9, memory: 100, shape_windows: Some(12) };
        let by_shape = Baseline { shape_rarity: Some(0.9995), ..eval(600, true, 15.0).baseline };
        assert_eq!(
            summary(&r, &s, 15.0, &by_shape, &span(&e)),
            format!("{plain}; the last 12 windows' pattern is unlike 99.95% of this series' past ones")
        );
    }

    #[test]
    fn one_off_alerts_fire_once_and_resolve_after_their_window() {
        let r = Config::embedded().rules.into_iter().find(|r| matches!(r.kind, RuleKind::HighRisk { .. })).unwrap();
        let rules = vec![r.clone()];
        let mut e = AlertEngine::new("http://x");
        let labels = AlertEngine::labels(&r, [("message_id", "m1"), ("risk", "fraud")]);
        let ten_minutes = Evaluation { window_start_ms: 0, window_end_ms: 600_000, ..eval(0, true, -0.9) };
        let fired = e.notify(&r, labels.clone(), ten_minutes.clone(), 0, "s".into()).expect("fires");
        assert_eq!(
            (fired.labels["alertname"].as_str(), fired.labels["message_id"].as_str()),
            ("FeedbackHighRisk", "m1")
        );
        assert!(e.notify(&r, labels, ten_minutes, 1, "s".into()).is_none(), "the same message alerts once");
        assert!(e.advance_clock(604_999, 5_000, &rules).is_empty());
        let resolved = e.advance_clock(605_000, 5_000, &rules);
        assert_eq!(resolved.len(), 1);
        assert_eq!(resolved[0].status, AlertStatus::Resolved);
    }

    #[test]
    fn late_data_can_resolve_the_only_anomalous_window() {
        let (r, s) = (rule(), Series::new(Dimension::Category, "payment"));
        let mut e = AlertEngine::new("http://x");
        e.observe(&r, &s, eval(600, true, 50.0), 610_000).unwrap();
        let resolved = e.observe(&r, &s, eval(600, false, 50.0), 611_000).expect("resolves");
        assert_eq!(resolved.status, AlertStatus::Resolved);
    }
}
