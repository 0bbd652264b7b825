//! Digests of a period — a local day or a week from Monday — built in event time from hourly
//! roll-ups and the alerts of the period, so a replay of history gives the same digest as live
//! would: the categories that rose most against the period before, the alerts by rule with how
//! long they fired, new kinds of complaint, messages that needed a person, and each campaign's
//! negative share against the period before. `feedpulse report` prints them for history.

use crate::alerts::{Alert, AlertStatus};
use crate::config::Dimension;
use crate::records::ticket::{KpiFigures, TicketAgg};
use crate::records::window::{Agg, Series, WindowKey};
use crate::sinks::{KpiSink, WindowSink};
use crate::util::calendar::Calendar;
use differential_dataflow::difference::Semigroup;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Mutex;

mod schedule;
pub use schedule::{DigestFiles, ReleaseFile, ReleaseLog, Reporter};

/// The latest aggregate of every hour of every single-dimension series, as the dataflow gave it,
/// by hour: a period's totals read only its own hours. Ticket KPIs the same way, from the
/// hourly KPI windows (`[tickets] windows` must hold `1h` for a digest's service-desk section).
#[derive(Default)]
pub struct Rollups {
    windows: Mutex<BTreeMap<i64, BTreeMap<Series, Agg>>>,
    kpis: Mutex<BTreeMap<i64, BTreeMap<Series, TicketAgg>>>,
}

impl WindowSink for Rollups {
    fn window(&self, key: &WindowKey, agg: &Agg) {
        if key.size_s == 3600 && !key.series.key.is_combined() {
            self.windows.lock().unwrap().entry(key.start_s).or_default().insert(key.series.clone(), *agg);
        }
    }
}

impl KpiSink for Rollups {
    fn kpi(&self, key: &WindowKey, kpis: &TicketAgg) {
        if key.size_s == 3600 {
            self.kpis.lock().unwrap().entry(key.start_s).or_default().insert(key.series.clone(), kpis.clone());
        }
    }
}

/// Sums each series' values over the hours starting in `[from_s, to_s)`, keyed by `key`.
fn sum_hours<D: Semigroup + Default, K: Ord>(
    hours: &BTreeMap<i64, BTreeMap<Series, D>>,
    from_s: i64,
    to_s: i64,
    key: impl Fn(&Series) -> Option<K>,
) -> BTreeMap<K, D> {
    let mut totals: BTreeMap<K, D> = BTreeMap::new();
    for (series, value) in hours.range(from_s..to_s).flat_map(|(_, hour)| hour) {
        if let Some(k) = key(series) {
            totals.entry(k).or_default().plus_equals(value);
        }
    }
    totals
}

impl Rollups {
    /// The sum of each series of `dimension` over the hours starting in `[from_s, to_s)`.
    fn totals(&self, dimension: Dimension, from_s: i64, to_s: i64) -> BTreeMap<String, Agg> {
        let hours = self.windows.lock().unwrap();
        sum_hours(&hours, from_s, to_s, |s| s.is(dimension).then(|| s.value.to_string()))
    }

    /// The KPIs of every ticket series over the hours starting in `[from_s, to_s)`.
    fn kpi_totals(&self, from_s: i64, to_s: i64) -> BTreeMap<Series, TicketAgg> {
        sum_hours(&self.kpis.lock().unwrap(), from_s, to_s, |s| Some(s.clone()))
    }

    /// Forgets the hours before `from_s`.
    pub fn forget_before(&self, from_s: i64) {
        let mut hours = self.windows.lock().unwrap();
        *hours = hours.split_off(&from_s);
        let mut kpis = self.kpis.lock().unwrap();
        *kpis = kpis.split_off(&from_s);
    }

    /// The first and last hour held.
    pub fn span(&self) -> Option<(i64, i64)> {
        let hours = self.windows.lock().unwrap();
        Some((*hours.first_key_value()?.0, *hours.last_key_value()?.0))
    }
}

/// A period's digest.
#[derive(Clone, Debug, Serialize)]
pub struct Digest {
    /// Local start and end (RFC 3339 of the instants) and the zone.
    pub start: String,
    pub end: String,
    pub timezone: String,
    pub messages: i64,
    pub previous_messages: i64,
    /// Categories by their rise against the previous period (messages), largest first.
    pub categories: Vec<Change>,
    /// Business lines the same way (`[[scope]]` lines; empty without them).
    pub business_lines: Vec<Change>,
    /// Established clusters the same way (a cluster's hours count once it is established).
    pub clusters: Vec<Change>,
    pub alerts: Vec<RuleLine>,
    pub new_clusters: Vec<Note>,
    pub high_risk: Vec<Note>,
    pub campaigns: Vec<Campaign>,
    /// Ticket KPIs and transcript QA, when the period or the one before has any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub desk: Option<Desk>,
}

/// A digest's service-desk section: each ticket series' KPIs over the period, beside the
/// period before.
#[derive(Clone, Debug, Serialize)]
pub struct Desk {
    /// Overall, then each business line, then each team.
    pub series: Vec<DeskLine>,
    /// Agents with SLA breaches or QA violations in the period: most breaches first, then the
    /// lowest QA score (at most ten).
    pub agents: Vec<DeskLine>,
}

#[derive(Clone, Debug, Serialize)]
pub struct DeskLine {
    /// `all`, `business shop`, `team t-2`, `agent agent-023`.
    pub series: String,
    pub now: KpiFigures,
    pub previous: KpiFigures,
}

/// The service-desk section of `[start_s, end_s)` against the period from `previous_s`.
fn desk(rollups: &Rollups, start_s: i64, end_s: i64, previous_s: i64) -> Option<Desk> {
    let now = rollups.kpi_totals(start_s, end_s);
    let before = rollups.kpi_totals(previous_s, start_s);
    let line = |series: &Series| DeskLine {
        series: match series.is(Dimension::Overall) {
            true => series.value.to_string(),
            false => format!("{} {}", series.key.name(), series.value),
        },
        now: now.get(series).map(KpiFigures::from).unwrap_or_default(),
        previous: before.get(series).map(KpiFigures::from).unwrap_or_default(),
    };
    let mut named: Vec<&Series> = now.keys().chain(before.keys()).collect();
    named.sort_by_key(|s| (!s.is(Dimension::Overall), !s.is(Dimension::Business), s.key.name(), s.value.clone()));
    named.dedup();
    let series: Vec<DeskLine> = named.iter().filter(|s| !s.is(Dimension::Agent)).map(|s| line(s)).collect();
    let mut agents: Vec<DeskLine> = now
        .keys()
        .filter(|s| s.is(Dimension::Agent))
        .map(line)
        .filter(|l| l.now.breaches > 0 || l.now.qa_violations > 0)
        .collect();
    let lowest_score = |l: &DeskLine| l.now.qa_mean.map_or(i64::MAX, |m| (m * 10.0) as i64);
    agents.sort_by_key(|l| (-l.now.breaches, lowest_score(l), l.series.clone()));
    agents.truncate(TOP);
    (!series.is_empty() || !agents.is_empty()).then_some(Desk { series, agents })
}

#[derive(Clone, Debug, Serialize)]
pub struct Change {
    pub name: String,
    pub count: i64,
    pub previous: i64,
    /// What the period's alerts on this series said: their keywords (at most five, first
    /// said first) and their drivers (`channel weibo 72% (usually 10%)`, at most three).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub drivers: Vec<String>,
}

/// Fills each change's keywords and drivers from the firing `alerts` whose `dimension` label
/// names it. Alerts are the only record of a period's text that is exact in event time.
fn explain(changes: &mut [Change], dimension: Dimension, alerts: &[&Alert]) {
    for change in changes.iter_mut() {
        let about = alerts.iter().filter(|a| a.labels.get(dimension.as_str()) == Some(&change.name));
        for alert in about {
            for k in &alert.explanation.keywords {
                if change.keywords.len() < 5 && !change.keywords.contains(k) {
                    change.keywords.push(k.clone());
                }
            }
            for d in alert.explanation.drivers.iter().map(|d| d.describe()) {
                if change.drivers.len() < 3 && !change.drivers.contains(&d) {
                    change.drivers.push(d);
                }
            }
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct RuleLine {
    pub rule: String,
    pub fired: usize,
    /// Minutes firing within the period (an alert still firing at its end counts to the end).
    pub firing_minutes: i64,
}

/// One alert's line: when, what, and its summary (and LLM summary, when there is one).
#[derive(Clone, Debug, Serialize)]
pub struct Note {
    pub at: String,
    pub summary: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Campaign {
    pub name: String,
    pub count: i64,
    pub negative_share: f64,
    pub previous_negative_share: Option<f64>,
}

/// How many categories a digest lists.
const TOP: usize = 10;

/// The digest of `[start_s, end_s)` against the period of the same length before it.
pub fn digest(
    rollups: &Rollups,
    alerts: &[Alert],
    start_s: i64,
    end_s: i64,
    previous_s: i64,
    calendar: &Calendar,
) -> Digest {
    let now = rollups.totals(Dimension::Category, start_s, end_s);
    let before = rollups.totals(Dimension::Category, previous_s, start_s);
    let count = |m: &BTreeMap<String, Agg>| m.values().map(|a| a.count).sum::<i64>();
    let rise = |dimension| {
        by_rise(&rollups.totals(dimension, start_s, end_s), &rollups.totals(dimension, previous_s, start_s))
    };
    let (mut categories, mut business_lines, mut clusters) =
        (by_rise(&now, &before), rise(Dimension::Business), rise(Dimension::Cluster));

    let (start_ms, end_ms) = (start_s * 1000, end_s * 1000);
    let firing: Vec<&Alert> = alerts
        .iter()
        .filter(|a| a.status == AlertStatus::Firing && (start_ms..end_ms).contains(&a.starts_at.ms()))
        .collect();
    let mut rules: BTreeMap<String, RuleLine> = BTreeMap::new();
    for alert in firing.iter().copied() {
        let ends = alerts
            .iter()
            .find(|r| {
                r.fingerprint == alert.fingerprint
                    && r.status == AlertStatus::Resolved
                    && r.starts_at == alert.starts_at
            })
            .and_then(|r| r.ends_at.map(|t| t.ms()))
            .unwrap_or(end_ms)
            .min(end_ms);
        let line = rules.entry(alert.rule_name().to_string()).or_insert_with(|| RuleLine {
            rule: alert.rule_name().to_string(),
            fired: 0,
            firing_minutes: 0,
        });
        line.fired += 1;
        line.firing_minutes += (ends - alert.starts_at.ms()).max(0) / 60_000;
    }
    let note = |a: &Alert| Note {
        at: crate::alerts::rfc3339(a.starts_at.ms()),
        summary: match &a.llm_summary {
            Some(llm) => format!("{} — {llm}", a.summary),
            None => a.summary.clone(),
        },
    };
    let of_kind = |kind: &str| firing.iter().filter(|a| a.rule == kind).map(|a| note(a)).collect::<Vec<_>>();
    explain(&mut categories, Dimension::Category, &firing);
    explain(&mut business_lines, Dimension::Business, &firing);
    explain(&mut clusters, Dimension::Cluster, &firing);

    let campaigns_now = rollups.totals(Dimension::Campaign, start_s, end_s);
    let campaigns_before = rollups.totals(Dimension::Campaign, previous_s, start_s);
    let campaigns = campaigns_now
        .iter()
        .map(|(name, agg)| Campaign {
            name: name.clone(),
            count: agg.count,
            negative_share: crate::util::round3(agg.negative_share()),
            previous_negative_share: campaigns_before
                .get(name)
                .filter(|a| a.count > 0)
                .map(|a| crate::util::round3(a.negative_share())),
        })
        .collect();
    Digest {
        start: crate::alerts::rfc3339(start_ms),
        end: crate::alerts::rfc3339(end_ms),
        timezone: calendar.name().to_string(),
        messages: count(&now),
        previous_messages: count(&before),
        categories,
        business_lines,
        clusters,
        alerts: rules.into_values().collect(),
        new_clusters: of_kind("new_cluster"),
        high_risk: of_kind("high_risk"),
        campaigns,
        desk: desk(rollups, start_s, end_s, previous_s),
    }
}

/// The digest of the period starting at `start_s` as its receivers get it: Markdown, and JSON
/// as `feedpulse report --json` prints it, named by the period's first local date.
pub fn publish(report: &str, d: &Digest, start_s: i64, calendar: &Calendar) -> crate::sinks::PublishedDigest {
    crate::sinks::PublishedDigest {
        report: report.to_string(),
        date: calendar.date_name(start_s),
        markdown: markdown(d),
        json: serde_json::to_string(d).expect("digests serialise"),
    }
}

/// The `TOP` series of `now` with the largest rise against `before`.
fn by_rise(now: &BTreeMap<String, Agg>, before: &BTreeMap<String, Agg>) -> Vec<Change> {
    let mut changes: Vec<Change> = now
        .iter()
        .map(|(name, agg)| Change {
            name: name.clone(),
            count: agg.count,
            previous: before.get(name).map_or(0, |a| a.count),
            keywords: Vec::new(),
            drivers: Vec::new(),
        })
        .collect();
    changes.sort_by(|a, b| (b.count - b.previous).cmp(&(a.count - a.previous)).then(a.name.cmp(&b.name)));
    changes.truncate(TOP);
    changes
}

/// The periods of `every` (`1d` or `1w`) covering `[first_s, last_s]`, as (start, end, start of
/// the period before).
pub fn periods(every_days: i64, first_s: i64, last_s: i64, calendar: &Calendar) -> Vec<(i64, i64, i64)> {
    let start_of = |ts: i64| if every_days == 7 { calendar.week_start(ts) } else { calendar.day_start(ts) };
    let mut out = Vec::new();
    let mut start = start_of(first_s);
    while start <= last_s {
        let end = calendar.day_start_after(start, every_days);
        out.push((start, end, calendar.day_start_after(start, -every_days)));
        start = end;
    }
    out
}

/// Below a table: what the alerts said of each listed series that has alerts.
fn said(changes: &[Change]) -> String {
    let mut s = String::new();
    for c in changes.iter().filter(|c| !c.keywords.is_empty() || !c.drivers.is_empty()) {
        s += &format!("\n- {}: {}", c.name, c.keywords.join(" · "));
        if !c.drivers.is_empty() {
            s += &format!("; drivers: {}", c.drivers.join(", "));
        }
    }
    if !s.is_empty() {
        s += "\n";
    }
    s
}

/// The digest as Markdown.
pub fn markdown(d: &Digest) -> String {
    let mut s = format!("# Digest {} – {} ({})\n\n", d.start, d.end, d.timezone);
    s += &format!(
        "{} messages (previous period {}).\n\n## Categories, by their rise\n\n",
        d.messages, d.previous_messages
    );
    s += "| category | messages | previous | change |\n|---|---:|---:|---:|\n";
    for c in &d.categories {
        s += &format!("| {} | {} | {} | {:+} |\n", c.name, c.count, c.previous, c.count - c.previous);
    }
    s += &said(&d.categories);
    for (title, column, changes) in
        [("Business lines", "line", &d.business_lines), ("Clusters", "cluster", &d.clusters)]
    {
        if changes.is_empty() {
            continue;
        }
        s += &format!(
            "\n## {title}, by their rise\n\n| {column} | messages | previous | change |\n|---|---:|---:|---:|\n"
        );
        for c in changes {
            s += &format!("| {} | {} | {} | {:+} |\n", c.name, c.count, c.previous, c.count - c.previous);
        }
        s += &said(changes);
    }
    s += "\n## Alerts by rule\n\n";
    if d.alerts.is_empty() {
        s += "None.\n";
    }
    for r in &d.alerts {
        s += &format!("- {}: fired {}, {} min firing\n", r.rule, r.fired, r.firing_minutes);
    }
    for (title, notes) in [("New kinds of complaint", &d.new_clusters), ("High-risk messages", &d.high_risk)] {
        s += &format!("\n## {title}\n\n");
        if notes.is_empty() {
            s += "None.\n";
        }
        for n in notes {
            s += &format!("- {} {}\n", n.at, n.summary);
        }
    }
    s += "\n## Campaigns\n\n";
    if d.campaigns.is_empty() {
        s += "None.\n";
    }
    for c in &d.campaigns {
        let before = c.previous_negative_share.map_or("–".to_string(), |p| format!("{:.0}%", p * 100.0));
        s += &format!(
            "- {}: {} messages, {:.0}% negative (previous period {before})\n",
            c.name,
            c.count,
            c.negative_share * 100.0
        );
    }
    if let Some(desk) = &d.desk {
        s += &desk_markdown(desk);
    }
    s
}

/// A duration in seconds as a digest writes it.
fn duration(s: Option<f64>) -> String {
    match s {
        None => "–".to_string(),
        Some(s) if s < 120.0 => format!("{s:.0} s"),
        Some(s) if s < 7200.0 => format!("{:.1} min", s / 60.0),
        Some(s) => format!("{:.1} h", s / 3600.0),
    }
}

fn desk_markdown(desk: &Desk) -> String {
    let score = |m: Option<f64>| m.map_or("–".to_string(), |m| format!("{m:.1}"));
    let mut s = "\n## Service desk\n\nEach figure: this period (the period before).\n\n".to_string();
    s += "| series | opened | resolved | first response p90 | handling mean | SLA breaches | QA score |\n";
    s += "|---|---:|---:|---:|---:|---:|---:|\n";
    for l in &desk.series {
        let (n, p) = (&l.now, &l.previous);
        s += &format!(
            "| {} | {} ({}) | {} ({}) | {} ({}) | {} ({}) | {} ({}) | {} ({}) |\n",
            l.series,
            n.opened,
            p.opened,
            n.resolved,
            p.resolved,
            duration(n.first_response_p90_s),
            duration(p.first_response_p90_s),
            duration(n.handling_mean_s),
            duration(p.handling_mean_s),
            n.breaches,
            p.breaches,
            score(n.qa_mean),
            score(p.qa_mean),
        );
    }
    if !desk.agents.is_empty() {
        s += "\nAgents with SLA breaches or QA violations:\n\n";
    }
    let count = |n: i64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    for l in &desk.agents {
        let n = &l.now;
        s += &format!(
            "- {}: {} (previous period {})",
            l.series,
            count(n.breaches, "SLA breach", "SLA breaches"),
            l.previous.breaches
        );
        if n.qa_scored > 0 {
            s += &format!(
                ", QA score {} over {}, {}",
                score(n.qa_mean),
                count(n.qa_scored, "conversation", "conversations"),
                count(n.qa_violations, "violation", "violations")
            );
        }
        s += "\n";
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hour(rollups: &Rollups, dimension: Dimension, value: &str, start_s: i64, count: i64, negative: i64) {
        let mut agg = Agg::default();
        for i in 0..count {
            differential_dataflow::difference::Semigroup::plus_equals(&mut agg, &Agg::of_message(-100, i < negative));
        }
        rollups.window(&WindowKey { series: Series::new(dimension, value), size_s: 3600, start_s }, &agg);
    }

    #[test]
    fn a_day_ranks_categories_by_their_rise_and_counts_firing_time() {
        let calendar = Calendar::named("Asia/Shanghai").unwrap();
        let day = calendar.day_start(1_767_225_600); // 2026-01-01 local
        let rollups = Rollups::default();
        for h in 0..24 {
            hour(&rollups, Dimension::Category, "payment", day - 86_400 + h * 3600, 10, 2);
            hour(&rollups, Dimension::Category, "payment", day + h * 3600, 12, 2);
            hour(&rollups, Dimension::Category, "login", day - 86_400 + h * 3600, 5, 0);
            hour(&rollups, Dimension::Category, "login", day + h * 3600, 15, 0);
            hour(&rollups, Dimension::Campaign, "double11", day + h * 3600, 10, 5);
            hour(&rollups, Dimension::Cluster, "c-7", day + h * 3600, 3, 3);
        }
        // A five-minute window's later update replaces its hour's earlier one.
        hour(&rollups, Dimension::Category, "login", day, 16, 0);
        let mut alert = Alert::example();
        alert.starts_at = crate::alerts::Timestamp((day + 3600) * 1000);
        let mut resolved = alert.clone();
        resolved.status = AlertStatus::Resolved;
        resolved.ends_at = Some(crate::alerts::Timestamp((day + 3600 + 1800) * 1000));
        let d = digest(&rollups, &[alert, resolved], day, day + 86_400, day - 86_400, &calendar);
        let ranked: Vec<(&str, i64, i64)> =
            d.categories.iter().map(|c| (c.name.as_str(), c.count, c.previous)).collect();
        assert_eq!(ranked, [("login", 361, 120), ("payment", 288, 240)]);
        assert_eq!((d.alerts.len(), d.alerts[0].fired, d.alerts[0].firing_minutes), (1, 1, 30));
        assert_eq!((d.clusters[0].name.as_str(), d.clusters[0].count, d.clusters[0].previous), ("c-7", 72, 0));
        assert_eq!(
            (d.campaigns[0].count, d.campaigns[0].negative_share, d.campaigns[0].previous_negative_share),
            (240, 0.5, None)
        );
        let text = markdown(&d);
        assert!(text.contains("| login | 361 | 120 | +241 |"), "{text}");
        assert!(text.contains("- category_spike: fired 1, 30 min firing"), "{text}");
    }

    #[test]
    fn the_service_desk_section_sums_each_series_hours_against_the_period_before() {
        // (Quantiles are read from the histogram buckets: the p90 of 20, 20, 90 s reads 97 s.)
        use crate::config::{SlaKind, Span, TicketStatus};
        use crate::records::ticket::Part;
        let calendar = Calendar::named("Asia/Shanghai").unwrap();
        let day = calendar.day_start(1_767_225_600);
        let rollups = Rollups::default();
        let kpi = |dimension: Dimension, value: &str, start_s: i64, parts: &[Part]| {
            let mut k = TicketAgg::default();
            for p in parts {
                k.add_part(*p, 1);
            }
            rollups.kpi(&WindowKey { series: Series::new(dimension, value), size_s: 3600, start_s }, &k);
        };
        let opened = Part::Transition(TicketStatus::Opened);
        let fr = |s: i64| Part::Span(Span::FirstResponse, s * 1000);
        let breach = Part::Breach(SlaKind::FirstResponse);
        // Yesterday: 2 tickets answered in 20 s. Today: 3, one of them late, in two hours.
        kpi(Dimension::Overall, "all", day - 7200, &[opened, opened, fr(20), fr(20)]);
        kpi(Dimension::Overall, "all", day + 3600, &[opened, fr(20), fr(20)]);
        kpi(Dimension::Overall, "all", day + 7200, &[opened, fr(90), breach]);
        kpi(Dimension::Business, "shop", day + 7200, &[opened, fr(90), breach]);
        kpi(Dimension::Agent, "a-1", day + 7200, &[fr(90), breach, Part::Qa(60, 2)]);
        kpi(Dimension::Agent, "a-2", day + 3600, &[fr(20), Part::Qa(90, 1)]);
        kpi(Dimension::Agent, "a-3", day + 3600, &[fr(20), Part::Qa(100, 0)]);
        // A later update of an hour replaces its earlier one; a 15-minute window is not read.
        kpi(Dimension::Overall, "all", day + 3600, &[opened, opened, fr(20), fr(20)]);
        rollups.kpi(&WindowKey { series: Series::new(Dimension::Overall, "all"), size_s: 900, start_s: day }, &{
            let mut k = TicketAgg::default();
            k.add_part(opened, 1);
            k
        });
        let d = digest(&rollups, &[], day, day + 86_400, day - 86_400, &calendar);
        let desk = d.desk.as_ref().expect("a desk section");
        let series: Vec<(&str, i64, i64, i64)> =
            desk.series.iter().map(|l| (l.series.as_str(), l.now.opened, l.previous.opened, l.now.breaches)).collect();
        assert_eq!(series, [("all", 3, 2, 1), ("business shop", 1, 0, 1)]);
        let agents: Vec<&str> = desk.agents.iter().map(|l| l.series.as_str()).collect();
        assert_eq!(
            agents,
            ["agent a-1", "agent a-2"],
            "breaches first, then the lowest score; a clean agent is not listed"
        );
        let text = markdown(&d);
        assert!(text.contains("| all | 3 (2) | 0 (0) | 97 s (21 s) | – (–) | 1 (0) | – (–) |"), "{text}");
        assert!(
            text.contains(
                "- agent a-1: 1 SLA breach (previous period 0), QA score 60.0 over 1 conversation, 2 violations"
            ),
            "{text}"
        );
        // A digest of a stream without tickets has no such section.
        let quiet = digest(&Rollups::default(), &[], day, day + 86_400, day - 86_400, &calendar);
        assert!(quiet.desk.is_none() && !markdown(&quiet).contains("Service desk"));
        assert!(!serde_json::to_string(&quiet).unwrap().contains("desk"));
    }

    #[test]
    fn weeks_start_on_local_mondays() {
        let calendar = Calendar::named("Asia/Shanghai").unwrap();
        // 2026-01-01 was a Thursday; its week began Monday 2025-12-29 00:00 +08:00.
        let periods = periods(7, 1_767_225_600, 1_767_225_600 + 5 * 86_400, &calendar);
        assert_eq!(calendar.date_name(periods[0].0), "2025-12-29");
        assert_eq!(periods.len(), 2);
        assert_eq!(periods[0].1 - periods[0].0, 7 * 86_400);
        assert_eq!(periods[1].2, periods[0].0, "the period before the second is the first");
    }
}
