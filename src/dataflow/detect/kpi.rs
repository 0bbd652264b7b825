//! Ticket KPIs in the detector: `threshold` rules judged on each closed KPI window (firing after
//! `for` consecutive windows past their bound, resolving on the first window back inside it),
//! and the `sla_breach` alerts of the ticket operator's SLA notices.

use crate::alerts::engine::{AlertEngine, Evaluation};
use crate::alerts::{fingerprint, Alert, Baseline, Explanation};
use crate::config::TicketStatus;
use crate::config::{RuleConfig, ThresholdRule};
use crate::records::ticket::{SlaNotice, TicketAgg};
use crate::records::window::{Series, WindowKey};
use crate::util::calendar::Calendar;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The most closed windows one rule judges in one tick (a long silence repeats one verdict).
const MAX_WINDOWS_PER_TICK: i64 = 1_440;

/// The KPI windows worker 0 mirrors, and where each threshold rule stands.
#[derive(Default)]
pub struct KpiState {
    windows: HashMap<(Series, u32), BTreeMap<i64, TicketAgg>>,
    /// Consecutive closed windows past the bound, per (rule, series).
    streaks: HashMap<(String, Series), usize>,
    /// The end (ms) of the last window each rule has judged.
    judged_through: HashMap<String, i64>,
    /// Each series' latest window start at each size: a series stays judged (a count of 0 is a
    /// value) for [`KNOWN_FOR_S`] after its last window, though its judged windows are pruned.
    known: HashMap<(Series, u32), i64>,
}

/// How long a series that went quiet is still judged.
const KNOWN_FOR_S: i64 = 86_400;

impl KpiState {
    /// A KPI totals output: the window's KPIs became (+1) or stopped being (-1) `agg`.
    pub fn record(&mut self, key: WindowKey, agg: TicketAgg, diff: isize) {
        match self.known.get_mut(&(key.series.clone(), key.size_s)) {
            Some(latest) => *latest = (*latest).max(key.start_s),
            None => {
                self.known.insert((key.series.clone(), key.size_s), key.start_s);
            }
        }
        let windows = self.windows.entry((key.series, key.size_s)).or_default();
        if diff > 0 {
            windows.insert(key.start_s, agg);
        } else if windows.get(&key.start_s) == Some(&agg) {
            windows.remove(&key.start_s);
        }
    }

    /// Forgets the windows every threshold rule of their size has judged, and the sizes no
    /// threshold rule judges: closed windows are judged once.
    pub fn prune(&mut self, rules: &[RuleConfig]) {
        let mut through: HashMap<u32, i64> = HashMap::new();
        for r in rules.iter().filter(|r| matches!(r.kind, crate::config::RuleKind::Threshold(_))) {
            let judged = self.judged_through.get(&r.name).copied().unwrap_or(i64::MIN);
            let size = r.window.as_secs();
            through.insert(size, through.get(&size).map_or(judged, |t| (*t).min(judged)));
        }
        self.windows.retain(|(_, size), windows| match through.get(size) {
            None => false,
            Some(t) => {
                windows.retain(|start, _| (start + *size as i64) * 1000 > *t);
                !windows.is_empty()
            }
        });
    }

    /// The KPIs of a window (`None`: no ticket touched it).
    pub fn get(&self, series: &Series, size_s: u32, start_s: i64) -> Option<&TicketAgg> {
        self.windows.get(&(series.clone(), size_s))?.get(&start_s)
    }

    /// Takes every window of the threshold rules' sizes that had closed by `clock_ms` as judged
    /// (a restart's restored KPI windows: the previous run judged them, and its alerts are
    /// restored). Their streaks start again.
    pub fn judged_until(&mut self, rules: &[RuleConfig], calendar: &Calendar, clock_ms: i64, lateness_ms: i64) {
        for rule in rules.iter().filter(|r| matches!(r.kind, crate::config::RuleKind::Threshold(_))) {
            let closed_end_ms =
                calendar.window_start(clock_ms.saturating_sub(lateness_ms), rule.window.as_secs()) * 1000;
            self.judged_through.insert(rule.name.clone(), closed_end_ms);
        }
    }

    /// Judges every window of `rule`'s size that closed (`lateness_ms` after its end) by
    /// `clock_ms`, window by window, every watched series in order.
    #[allow(clippy::too_many_arguments)]
    pub fn judge(
        &mut self,
        engine: &mut AlertEngine,
        rule: &RuleConfig,
        t: &ThresholdRule,
        calendar: &Calendar,
        clock_ms: i64,
        lateness_ms: i64,
    ) -> Vec<Alert> {
        let size_s = rule.window.as_secs();
        if clock_ms == i64::MIN || size_s == 0 {
            return Vec::new();
        }
        // The end of the latest closed window: the start of the one the clock is in.
        let closed_end_ms = calendar.window_start(clock_ms.saturating_sub(lateness_ms), size_s) * 1000;
        // Most ticks close no window: settle that before gathering the series.
        let judged =
            self.judged_through.get(&rule.name).map(|through| calendar.window_end(*through / 1000, size_s) * 1000);
        if judged.is_some_and(|first_end_ms| first_end_ms > closed_end_ms) {
            return Vec::new();
        }
        let watched = |s: &Series| s.key == t.key && t.only.as_ref().is_none_or(|o| o.iter().any(|v| *v == s.value));
        let horizon_s = closed_end_ms / 1000 - KNOWN_FOR_S;
        self.known.retain(|_, latest| *latest >= horizon_s);
        let series: BTreeSet<Series> = self
            .known
            .keys()
            .filter(|(s, size)| *size == size_s && watched(s))
            .map(|(s, _)| s.clone())
            .chain(self.streaks.keys().filter(|(r, _)| *r == rule.name).map(|(_, s)| s.clone()))
            .collect();
        let first_end_ms = match judged {
            Some(first_end_ms) => first_end_ms,
            None => {
                let earliest = series.iter().filter_map(|s| self.windows.get(&(s.clone(), size_s))?.keys().next());
                match earliest.min() {
                    Some(start) => calendar.window_end(*start, size_s) * 1000,
                    None => return Vec::new(),
                }
            }
        };
        if first_end_ms > closed_end_ms {
            return Vec::new();
        }
        self.judged_through.insert(rule.name.clone(), closed_end_ms);
        let mut ends = Vec::new();
        let mut end_s = closed_end_ms / 1000;
        while end_s * 1000 >= first_end_ms && (ends.len() as i64) < MAX_WINDOWS_PER_TICK {
            ends.push(end_s);
            end_s = calendar.window_after(end_s, size_s, -1);
        }
        ends.reverse();
        let mut alerts = Vec::new();
        for end_s in ends {
            let start_s = calendar.window_after(end_s, size_s, -1);
            for s in &series {
                let agg = self.get(s, size_s, start_s).cloned();
                let value = match &agg {
                    Some(agg) => agg.metric(&t.metric),
                    None if t.metric.counts() => Some(0.0),
                    None => None,
                };
                let streak = self.streaks.entry((rule.name.clone(), s.clone())).or_default();
                let labels = AlertEngine::labels(rule, s.parts().into_iter().map(|(d, v)| (d.as_str(), v)));
                let fp = fingerprint(&rule.name, &labels);
                match value.filter(|v| t.crossed(*v)) {
                    Some(v) => {
                        *streak += 1;
                        if *streak >= t.for_windows {
                            let n = *streak;
                            let eval = evaluation(t, start_s, end_s, v, n, agg.as_ref());
                            let summary = threshold_summary(rule, t, s, v, n);
                            alerts
                                .extend(engine.hold(rule, fp, rule.severity, end_s * 1000, || (labels, eval, summary)));
                        }
                    }
                    None => {
                        *streak = 0;
                        alerts.extend(engine.settle(&fp, rule, end_s * 1000));
                    }
                }
            }
        }
        self.streaks.retain(|_, n| *n > 0);
        alerts
    }
}

fn evaluation(
    t: &ThresholdRule,
    start_s: i64,
    end_s: i64,
    value: f64,
    n: usize,
    agg: Option<&TicketAgg>,
) -> Evaluation {
    Evaluation {
        window_start_ms: start_s * 1000,
        window_end_ms: end_s * 1000,
        anomalous: true,
        value,
        baseline: Baseline { threshold: t.bound(), windows: n, ..Default::default() },
        explanation: Explanation {
            count: agg.map_or(0, |a| a.transitions(TicketStatus::Opened)),
            ..Default::default()
        },
    }
}

/// `agent a-7: p90(first_response) 95.0 s above 60 for 5 consecutive 1m windows`
fn threshold_summary(rule: &RuleConfig, t: &ThresholdRule, s: &Series, value: f64, n: usize) -> String {
    let unit = if t.metric.is_duration() { " s" } else { "" };
    let side = match (t.above, t.below) {
        (Some(a), _) if value > a => format!("above {a}{unit}"),
        (_, Some(b)) => format!("below {b}{unit}"),
        _ => String::new(),
    };
    format!("{} {}: {} {value:.1}{unit} {side} for {n} consecutive {} windows", s.key, s.value, t.metric, rule.window)
}

/// The alert of one ticket and SLA: the ticket and the SLA alone, so one breach is one alert.
pub fn sla_fingerprint(rule: &RuleConfig, n: &SlaNotice) -> String {
    let labels =
        BTreeMap::from([("ticket".to_owned(), n.ticket.to_string()), ("sla".to_owned(), n.kind.as_str().into())]);
    fingerprint(&rule.name, &labels)
}

/// Applies a tick's SLA notices (in deadline order) to the `sla_breach` alerts: a breach fires
/// at its deadline and stays firing until the awaited transition (or the ticket is forgotten);
/// a late event showing the transition was in time resolves it.
pub fn sla_alerts(engine: &mut AlertEngine, rule: &RuleConfig, notices: &[SlaNotice], clock_ms: i64) -> Vec<Alert> {
    let mut out = Vec::new();
    for n in notices {
        let fp = sla_fingerprint(rule, n);
        match n.answered_ms {
            Some(at) if at <= n.deadline_ms => out.extend(engine.settle(&fp, rule, clock_ms.max(n.deadline_ms))),
            answered => {
                out.extend(engine.hold(rule, fp.clone(), n.severity, n.deadline_ms, || sla_alert(rule, n)));
                if let Some(at) = answered {
                    out.extend(engine.settle(&fp, rule, at));
                }
            }
        }
    }
    out
}

fn sla_alert(rule: &RuleConfig, n: &SlaNotice) -> (BTreeMap<String, String>, Evaluation, String) {
    let mut subject = vec![("ticket", n.ticket.as_str()), ("sla", n.kind.as_str()), ("policy", n.policy.as_str())];
    if let Some(a) = &n.agent {
        subject.push(("agent", a));
    }
    if let Some(b) = &n.business {
        subject.push(("business", b));
    }
    let mut labels = AlertEngine::labels(rule, subject);
    labels.insert("severity".into(), n.severity.as_str().into());
    let limit_s = (n.deadline_ms - n.started_ms) as f64 / 1000.0;
    let eval = Evaluation {
        window_start_ms: n.started_ms,
        window_end_ms: n.deadline_ms,
        anomalous: true,
        value: limit_s,
        baseline: Baseline { threshold: limit_s, ..Default::default() },
        explanation: Explanation::default(),
    };
    let who = n.agent.as_deref().map(|a| format!(" (agent {a})")).unwrap_or_default();
    let summary = format!(
        "ticket {}{who}: no {} within the {} SLA of {limit_s:.0} s",
        n.ticket,
        match n.kind {
            crate::config::SlaKind::FirstResponse => "first response",
            crate::config::SlaKind::Takeover => "takeover by a person",
            crate::config::SlaKind::Resolution => "resolution",
        },
        n.policy
    );
    (labels, eval, summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::AlertStatus;
    use crate::config::{Dimension, HumanDuration, KpiMetric, RuleKind, Severity, SlaKind, Span};
    use differential_dataflow::difference::Semigroup;

    const T0_S: i64 = 1_800_000_000 / 60 * 60;

    fn rule(for_windows: usize) -> RuleConfig {
        RuleConfig {
            name: "slow_first_response".into(),
            alertname: None,
            severity: Severity::Warning,
            window: HumanDuration(std::time::Duration::from_secs(60)),
            min_count: 1,
            cooldown: HumanDuration::default(),
            labels: Default::default(),
            kind: RuleKind::Threshold(ThresholdRule {
                key: Dimension::Agent.into(),
                only: None,
                metric: KpiMetric::parse("p90(first_response)").unwrap(),
                above: Some(60.0),
                below: None,
                for_windows,
            }),
        }
    }

    /// Minute `m`'s KPIs for agent a-1: first responses of `seconds` each.
    fn minute(state: &mut KpiState, m: i64, seconds: &[i64]) {
        let mut agg = TicketAgg::default();
        for s in seconds {
            agg.plus_equals(&TicketAgg::of_span(Span::FirstResponse, s * 1000));
        }
        let key = WindowKey { series: Series::new(Dimension::Agent, "a-1"), size_s: 60, start_s: T0_S + m * 60 };
        state.record(key, agg, 1);
    }

    fn judge(state: &mut KpiState, engine: &mut AlertEngine, rule: &RuleConfig, clock_s: i64) -> Vec<Alert> {
        let RuleKind::Threshold(t) = &rule.kind else { unreachable!() };
        state.judge(engine, rule, t, &Calendar::default(), clock_s * 1000, 0)
    }

    #[test]
    fn fires_after_for_consecutive_windows_and_resolves_on_the_first_one_back() {
        let (mut state, mut engine, rule) = (KpiState::default(), AlertEngine::new(""), rule(3));
        for (m, seconds) in [(0, vec![10]), (1, vec![20, 95, 100]), (2, vec![80]), (3, vec![70]), (4, vec![10])] {
            minute(&mut state, m, &seconds);
        }
        // Minutes 1, 2 and 3 are slow (minute 1's p90 is in its slowest response): the third fires.
        assert!(judge(&mut state, &mut engine, &rule, T0_S + 180).is_empty(), "two slow windows are not enough");
        let fired = judge(&mut state, &mut engine, &rule, T0_S + 240);
        assert_eq!(fired.len(), 1);
        let a = &fired[0];
        assert_eq!(
            (a.status, a.labels["agent"].as_str(), a.window.end.ms()),
            (AlertStatus::Firing, "a-1", (T0_S + 240) * 1000)
        );
        assert!(
            a.summary.contains("p90(first_response)") && a.summary.contains("above 60 s for 3 consecutive 1m windows"),
            "{}",
            a.summary
        );
        let resolved = judge(&mut state, &mut engine, &rule, T0_S + 300);
        assert_eq!(resolved.len(), 1);
        assert_eq!(
            (resolved[0].status, resolved[0].ends_at.unwrap().ms()),
            (AlertStatus::Resolved, (T0_S + 300) * 1000)
        );
    }

    #[test]
    fn a_window_without_durations_breaks_the_streak() {
        let (mut state, mut engine, rule) = (KpiState::default(), AlertEngine::new(""), rule(2));
        minute(&mut state, 0, &[90]);
        minute(&mut state, 2, &[90]);
        minute(&mut state, 3, &[90]);
        assert!(judge(&mut state, &mut engine, &rule, T0_S + 180).is_empty(), "minute 1 had no response: no value");
        assert_eq!(judge(&mut state, &mut engine, &rule, T0_S + 240).len(), 1, "minutes 2 and 3");
    }

    #[test]
    fn a_breach_fires_at_its_deadline_and_resolves_when_answered_or_taken_back() {
        let mut engine = AlertEngine::new("");
        let rule = crate::config::sla_rule(HumanDuration(std::time::Duration::from_secs(3600)));
        let notice = |ticket: &str, answered_ms| SlaNotice {
            ticket: ticket.into(),
            kind: SlaKind::Takeover,
            policy: "desk".into(),
            severity: Severity::Critical,
            started_ms: 1_000,
            deadline_ms: 31_000,
            agent: None,
            business: Some("loan".into()),
            answered_ms,
        };
        let fired = sla_alerts(&mut engine, &rule, &[notice("T1", None)], 31_000);
        assert_eq!(fired.len(), 1);
        assert_eq!((fired[0].severity, fired[0].starts_at.ms()), (Severity::Critical, 31_000));
        assert_eq!(fired[0].labels["severity"], "critical");
        assert!(
            fired[0].summary.contains("no takeover by a person within the desk SLA of 30 s"),
            "{}",
            fired[0].summary
        );
        let answered = sla_alerts(&mut engine, &rule, &[notice("T1", Some(50_000))], 50_000);
        assert_eq!((answered[0].status, answered[0].ends_at.unwrap().ms()), (AlertStatus::Resolved, 50_000));
        // Breached and answered within one tick: the alert fires and resolves.
        assert_eq!(sla_alerts(&mut engine, &rule, &[notice("T2", Some(40_000))], 40_000).len(), 2);
        // A late in-time answer takes a breach back.
        sla_alerts(&mut engine, &rule, &[notice("T3", None)], 31_000);
        let back = sla_alerts(&mut engine, &rule, &[notice("T3", Some(20_000))], 45_000);
        assert_eq!((back.len(), back[0].status), (1, AlertStatus::Resolved));
    }
}
