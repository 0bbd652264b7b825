//! The dashboard's live picture, aggregated on the server: the browser receives per-window
//! points, alerts and cluster summaries, never events, so the page costs the same at 100 events/s
//! as at 100 k.
//!
//! Two chart panels follow the alert rules that watch them: campaign sentiment follows the first
//! `sentiment_dip` rule on campaigns, category volume the first `spike` rule on categories. Each
//! point carries the rule's own baseline and threshold for that window as the detector judged it
//! (its `WindowJudgement` stream), so the band drawn is the line an alert had to cross.
//!
//! Window points are coalesced and published every [`PUBLISH_EVERY`]; alerts go out at once.

use super::clusters::ClusterBoard;
use crate::alerts::{Alert, AlertStatus};
use crate::config::{Config, Dimension, RuleConfig, RuleKind, RuleTag, SentimentMetric};
use crate::dataflow::clusters::{ClusterSummary, ClusterUpdate};
use crate::dataflow::detect::{SeriesWindows, WindowJudgement};
use crate::records::ticket::TicketAgg;
use crate::records::window::{Agg, WindowKey};
use crate::sinks::{AlertSink, ClusterSink, JudgementSink, KpiSink, WindowSink};
use crate::telemetry::Metrics;
use crate::util::round3;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

/// How often changed windows, clusters and the status line are sent to browsers.
pub const PUBLISH_EVERY: Duration = Duration::from_millis(250);
/// Windows a chart shows.
pub const SHOWN_WINDOWS: usize = 60;
/// Series kept per panel; the least recently updated go first.
const MAX_SERIES: usize = 48;
/// Alerts the feed remembers for a browser that connects later.
const RECENT_ALERTS: usize = 100;
/// Clusters listed as largest and as newest.
const CLUSTERS_SHOWN: usize = 8;
/// Windows of a cluster's size sparkline.
const SPARK_WINDOWS: usize = 24;

/// A chart panel: which series it shows, at which window size, judged by which rule.
struct Panel {
    name: &'static str,
    dim: Dimension,
    size_s: u32,
    metric: Metric,
    /// The name of the rule whose judgements draw the band.
    rule: Option<String>,
    series: HashMap<String, SeriesWindows>,
    /// Per series, window start → (baseline, threshold) as the detector last judged it.
    bands: HashMap<String, BTreeMap<i64, (f64, f64)>>,
    last_update: HashMap<String, u64>,
    dirty: BTreeSet<(String, i64)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Metric {
    Count,
    NegativeShare,
    Mean,
}

impl Panel {
    fn new(name: &'static str, dim: Dimension, size_s: u32, metric: Metric, rule: Option<&RuleConfig>) -> Self {
        Panel {
            name,
            dim,
            size_s,
            metric,
            rule: rule.map(|r| r.name.clone()),
            series: HashMap::new(),
            bands: HashMap::new(),
            last_update: HashMap::new(),
            dirty: BTreeSet::new(),
        }
    }

    /// The panels of a configuration: campaign sentiment and category volume, each following
    /// the first rule that watches that dimension (the chart then has no band without one), and
    /// business lines' messages an hour (the windows day-over-day rules sum; no band: such a
    /// rule judges a day so far, not an hour).
    fn of(config: &Config) -> Vec<Panel> {
        let smallest = config.windows.iter().map(|w| w.size.as_secs()).min().unwrap_or(60);
        let rule_on = |kind: RuleTag, dim: Dimension| {
            config
                .rules
                .iter()
                .find(|r| r.tag() == kind && r.watch().is_some_and(|w| w.key.is(dim) && w.only.is_none()))
        };
        let size = |r: Option<&RuleConfig>| r.map_or(smallest, |r| r.window.as_secs());
        let dip = rule_on(RuleTag::SentimentDip, Dimension::Campaign);
        let metric = match dip.map(|r| &r.kind) {
            Some(RuleKind::SentimentDip(d)) if d.metric == SentimentMetric::Mean => Metric::Mean,
            _ => Metric::NegativeShare,
        };
        let spike = rule_on(RuleTag::Spike, Dimension::Category);
        let business_rule =
            config.rules.iter().find(|r| r.day_over_day().is_some_and(|d| d.watch.key.is(Dimension::Business)));
        let hour = config.windows.iter().map(|w| w.size.as_secs()).find(|s| *s == 3600);
        let mut panels = vec![
            Panel::new("sentiment", Dimension::Campaign, size(dip), metric, dip),
            Panel::new("volume", Dimension::Category, size(spike), Metric::Count, spike),
        ];
        if let Some(hour) = hour {
            panels.push(Panel::new("business", Dimension::Business, hour, Metric::Count, business_rule));
        }
        panels
    }

    fn record(&mut self, series: &str, start_s: i64, agg: Agg, seq: u64) {
        if !self.series.contains_key(series) && self.series.len() >= MAX_SERIES {
            if let Some(stale) = self.last_update.iter().min_by_key(|(_, s)| **s).map(|(k, _)| k.clone()) {
                self.series.remove(&stale);
                self.bands.remove(&stale);
                self.last_update.remove(&stale);
                self.dirty.retain(|(s, _)| *s != stale);
            }
        }
        let windows = self.series.entry(series.to_owned()).or_default();
        windows.record(start_s, agg);
        let latest = windows.latest().map_or(start_s, |(s, _)| s);
        let shown_from = latest - SHOWN_WINDOWS as i64 * self.size_s as i64;
        windows.forget_before(shown_from);
        if let Some(bands) = self.bands.get_mut(series) {
            bands.retain(|s, _| *s >= shown_from);
        }
        self.last_update.insert(series.to_owned(), seq);
        self.dirty.insert((series.to_owned(), start_s));
    }

    /// The detector judged a window of a shown series: its band is redrawn.
    fn judged(&mut self, j: &WindowJudgement) {
        let series = j.series.value.as_str();
        let Some(band) = j.band else { return };
        // The window's own point may come after its judgement (two streams): keep the band
        // unless the window is already off the chart.
        let latest = self.series.get(series).and_then(|w| w.latest()).map(|(s, _)| s);
        if latest.is_some_and(|latest| j.start_s < latest - SHOWN_WINDOWS as i64 * self.size_s as i64) {
            return;
        }
        if self.bands.len() >= 2 * MAX_SERIES && !self.bands.contains_key(series) {
            let charted = &self.series;
            self.bands.retain(|s, _| charted.contains_key(s));
        }
        self.bands.entry(series.to_owned()).or_default().insert(j.start_s, band);
        self.dirty.insert((series.to_owned(), j.start_s));
    }

    fn point(&self, series: &str, start_s: i64) -> Option<Point> {
        let windows = self.series.get(series)?;
        let agg = windows.get(start_s)?;
        let value = match self.metric {
            Metric::Count => agg.count as f64,
            Metric::NegativeShare => agg.negative_share(),
            Metric::Mean => agg.sentiment_mean(),
        };
        let band = self.bands.get(series).and_then(|b| b.get(&start_s));
        Some(Point {
            s: start_s,
            n: agg.count,
            v: round3(value),
            m: round3(agg.sentiment_mean()),
            b: band.map(|b| round3(b.0)),
            t: band.map(|b| round3(b.1)),
        })
    }

    /// Every point of the shown windows of every series (for a browser that just connected).
    fn all_points(&self) -> Vec<SeriesPoints> {
        let mut out: Vec<SeriesPoints> = self
            .series
            .iter()
            .filter_map(|(name, windows)| {
                let (latest, _) = windows.latest()?;
                let from = latest - (SHOWN_WINDOWS as i64 - 1) * self.size_s as i64;
                let points = (0..SHOWN_WINDOWS as i64)
                    .map(|k| from + k * self.size_s as i64)
                    .filter(|s| windows.get(*s).is_some_and(|a| a.count > 0))
                    .filter_map(|s| self.point(name, s))
                    .collect();
                Some(SeriesPoints { series: name.clone(), points })
            })
            .collect();
        out.sort_by(|a, b| a.series.cmp(&b.series));
        out
    }

    fn take_dirty(&mut self) -> Vec<SeriesPoints> {
        let mut out: Vec<SeriesPoints> = Vec::new();
        for (series, start_s) in std::mem::take(&mut self.dirty) {
            let Some(point) = self.point(&series, start_s) else { continue };
            match out.last_mut() {
                Some(last) if last.series == series => last.points.push(point),
                _ => out.push(SeriesPoints { series, points: vec![point] }),
            }
        }
        out
    }

    fn describe(&self) -> PanelInfo {
        PanelInfo {
            name: self.name,
            dimension: self.dim.as_str(),
            window_s: self.size_s,
            metric: self.metric,
            rule: self.rule.clone(),
        }
    }
}

/// One window of one series as the chart draws it: `v` the value (count, negative share or
/// mean sentiment), `n` the message count, `m` the mean sentiment, `b`/`t` the rule's baseline
/// and threshold.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Point {
    pub s: i64,
    pub n: i64,
    pub v: f64,
    pub m: f64,
    pub b: Option<f64>,
    pub t: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SeriesPoints {
    pub series: String,
    pub points: Vec<Point>,
}

#[derive(Serialize)]
struct PanelInfo {
    name: &'static str,
    dimension: &'static str,
    window_s: u32,
    metric: Metric,
    rule: Option<String>,
}

#[derive(Serialize)]
struct PanelPoints<'a> {
    panel: &'a str,
    series: Vec<SeriesPoints>,
}

/// The status line: throughput, lag, dead letters, models, event-time clock.
#[derive(Clone, Debug, Serialize)]
pub struct Status {
    pub events_per_s: f64,
    pub accepted: u64,
    pub dead_letters: u64,
    pub lag_ticks: i64,
    pub models: String,
    /// Newest event time seen (RFC 3339), when any event arrived.
    pub event_time: Option<String>,
    pub viewers: i64,
}

#[derive(Serialize)]
struct ClusterLists {
    largest: Vec<ClusterSummary>,
    newest: Vec<ClusterSummary>,
    /// Message count per window of each listed cluster, oldest first.
    sparklines: HashMap<String, Vec<(i64, i64)>>,
}

struct Board {
    panels: Vec<Panel>,
    recent_alerts: VecDeque<Alert>,
    /// Cluster id → (window start, count) of its smallest-window series.
    sparklines: HashMap<String, VecDeque<(i64, i64)>>,
    spark_size_s: u32,
    clusters_changed: bool,
    seq: u64,
    /// The service-desk panel's ticket KPIs.
    desk: super::desk::Desk,
}

/// The dashboard sink. Cheap to clone; the publisher thread stops when the last clone is gone.
#[derive(Clone)]
pub struct Dashboard {
    board: Arc<Mutex<Board>>,
    parts: Arc<Parts>,
}

impl Dashboard {
    /// Starts the dashboard's publisher thread.
    pub fn start(config: &Config, clusters: ClusterBoard, metrics: Arc<Metrics>, models: &str) -> Dashboard {
        let spark_size_s = config
            .rules
            .iter()
            .find(|r| r.watch().is_some_and(|w| w.key.is(Dimension::Cluster)))
            .map(|r| r.window.as_secs())
            .or_else(|| config.windows.iter().map(|w| w.size.as_secs()).min())
            .unwrap_or(300);
        let board = Board {
            panels: Panel::of(config),
            recent_alerts: VecDeque::new(),
            sparklines: HashMap::new(),
            spark_size_s,
            clusters_changed: false,
            seq: 0,
            desk: super::desk::Desk::new(config),
        };
        let dashboard = Dashboard {
            board: Arc::new(Mutex::new(board)),
            parts: Arc::new(Parts {
                clusters,
                metrics,
                models: models.into(),
                timezone: config.calendar.name().into(),
                tx: broadcast::channel(256).0,
            }),
        };
        let weak = Arc::downgrade(&dashboard.board);
        let publisher = dashboard.parts.clone();
        std::thread::Builder::new()
            .name("fp-dashboard".into())
            .spawn(move || publish_loop(weak, publisher))
            .expect("spawn the dashboard publisher");
        dashboard
    }

    /// Messages published from now on (subscribe before taking the snapshot: a point that
    /// arrives in between is then sent twice, never lost).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<str>> {
        self.parts.tx.subscribe()
    }

    /// Everything a browser that just connected needs, as one JSON object.
    pub fn snapshot(&self) -> String {
        let parts = &self.parts;
        let mut board = self.board.lock().unwrap_or_else(|e| e.into_inner());
        let board = &mut *board;
        let panels: Vec<PanelInfo> = board.panels.iter().map(Panel::describe).collect();
        let series: Vec<PanelPoints> =
            board.panels.iter().map(|p| PanelPoints { panel: p.name, series: p.all_points() }).collect();
        let alerts: Vec<&Alert> = board.recent_alerts.iter().collect();
        serde_json::json!({
            "panels": panels,
            "windows": series,
            "alerts": alerts,
            "clusters": parts.cluster_lists(&board.sparklines),
            "desk": board.desk.view(),
            "status": parts.status(0.0),
            "timezone": &*parts.timezone,
        })
        .to_string()
    }
}

/// What the dashboard shares with its publisher thread besides the board (which the thread
/// holds weakly, so it does not keep the board alive).
struct Parts {
    clusters: ClusterBoard,
    metrics: Arc<Metrics>,
    models: Arc<str>,
    /// The zone the page shows times in: the dataflow's calendar, whose days the windows follow.
    timezone: Arc<str>,
    tx: broadcast::Sender<Arc<str>>,
}

impl Parts {
    fn send(&self, event: &'static str, data: String) {
        // The SSE handler needs the event name: frames are "event\ndata".
        let _ = self.tx.send(format!("{event}\n{data}").into());
    }

    fn status(&self, events_per_s: f64) -> Status {
        Status {
            events_per_s: (events_per_s * 10.0).round() / 10.0,
            accepted: self.metrics.accepted_total(),
            dead_letters: self.metrics.dead_total(),
            lag_ticks: self.metrics.lag_ticks(),
            models: self.models.to_string(),
            event_time: self.metrics.event_span().map(|(_, last)| crate::alerts::rfc3339(last)),
            viewers: self.metrics.dashboard_clients.load(std::sync::atomic::Ordering::Relaxed),
        }
    }

    fn cluster_lists(&self, sparklines: &HashMap<String, VecDeque<(i64, i64)>>) -> ClusterLists {
        // Global clusters see every message; a category cluster mostly repeats one of them.
        // Category clusters are listed only where no global scope runs.
        let mut all = self.clusters.list();
        if all.iter().any(|c| c.scope == "global") {
            all.retain(|c| c.scope == "global");
        }
        let largest: Vec<ClusterSummary> = all.iter().take(CLUSTERS_SHOWN).cloned().collect();
        let mut newest = all;
        newest.sort_by(|a, b| b.first_seen.cmp(&a.first_seen).then_with(|| a.id.cmp(&b.id)));
        newest.truncate(CLUSTERS_SHOWN);
        let sparklines = largest
            .iter()
            .chain(&newest)
            .filter_map(|c| Some((c.id.clone(), sparklines.get(&c.id)?.iter().copied().collect())))
            .collect();
        ClusterLists { largest, newest, sparklines }
    }
}

fn publish_loop(board: Weak<Mutex<Board>>, parts: Arc<Parts>) {
    let mut last_accepted = parts.metrics.accepted_total();
    let mut last_status = Instant::now();
    loop {
        std::thread::sleep(PUBLISH_EVERY);
        let Some(board) = board.upgrade() else { return };
        if parts.tx.receiver_count() == 0 {
            // Nobody watches: drop the pending work instead of building messages for no one.
            let mut b = board.lock().unwrap_or_else(|e| e.into_inner());
            b.panels.iter_mut().for_each(|p| p.dirty.clear());
            b.clusters_changed = false;
            b.desk.changed = false;
            continue;
        }
        let (windows, clusters, desk) = {
            let mut b = board.lock().unwrap_or_else(|e| e.into_inner());
            let b = &mut *b;
            let windows: Vec<String> = b
                .panels
                .iter_mut()
                .filter_map(|p| {
                    let series = p.take_dirty();
                    (!series.is_empty())
                        .then(|| serde_json::to_string(&PanelPoints { panel: p.name, series }).expect("serialises"))
                })
                .collect();
            let clusters = std::mem::take(&mut b.clusters_changed)
                .then(|| serde_json::to_string(&parts.cluster_lists(&b.sparklines)).expect("serialises"));
            let desk =
                std::mem::take(&mut b.desk.changed).then(|| serde_json::to_string(&b.desk.view()).expect("serialises"));
            (windows, clusters, desk)
        };
        drop(board);
        for w in windows {
            parts.send("windows", w);
        }
        if let Some(c) = clusters {
            parts.send("clusters", c);
        }
        if let Some(d) = desk {
            parts.send("desk", d);
        }
        if last_status.elapsed() >= Duration::from_secs(1) {
            let accepted = parts.metrics.accepted_total();
            let rate = (accepted - last_accepted) as f64 / last_status.elapsed().as_secs_f64();
            (last_accepted, last_status) = (accepted, Instant::now());
            parts.send("status", serde_json::to_string(&parts.status(rate)).expect("serialises"));
        }
    }
}

impl WindowSink for Dashboard {
    fn window(&self, key: &WindowKey, agg: &Agg) {
        let mut b = self.board.lock().unwrap_or_else(|e| e.into_inner());
        let b = &mut *b;
        b.seq += 1;
        if key.series.is(Dimension::Cluster) && key.size_s == b.spark_size_s {
            let line = b.sparklines.entry(key.series.value.to_string()).or_default();
            match line.iter_mut().find(|(s, _)| *s == key.start_s) {
                Some(entry) => entry.1 = agg.count,
                None => {
                    line.push_back((key.start_s, agg.count));
                    line.make_contiguous().sort_unstable();
                    if line.len() > SPARK_WINDOWS {
                        line.pop_front();
                    }
                }
            }
            b.clusters_changed = true;
            return;
        }
        let seq = b.seq;
        for panel in b.panels.iter_mut().filter(|p| key.series.is(p.dim) && p.size_s == key.size_s) {
            panel.record(&key.series.value, key.start_s, *agg, seq);
        }
    }
}

impl KpiSink for Dashboard {
    fn kpi(&self, key: &WindowKey, kpis: &TicketAgg) {
        self.board.lock().unwrap_or_else(|e| e.into_inner()).desk.record(key, kpis);
    }
}

impl JudgementSink for Dashboard {
    fn judged(&self, judgement: &WindowJudgement) {
        let mut b = self.board.lock().unwrap_or_else(|e| e.into_inner());
        for panel in b.panels.iter_mut().filter(|p| p.rule.as_deref() == Some(judgement.rule.as_str())) {
            if judgement.series.is(panel.dim) && panel.size_s == judgement.size_s {
                panel.judged(judgement);
            }
        }
    }
}

impl ClusterSink for Dashboard {
    fn clusters(&self, update: &ClusterUpdate) {
        let mut b = self.board.lock().unwrap_or_else(|e| e.into_inner());
        for id in update.dropped.iter().chain(update.merged.iter().map(|(from, _)| from)) {
            b.sparklines.remove(id);
        }
        b.clusters_changed = true;
    }
}

impl AlertSink for Dashboard {
    /// Alerts go to browsers at once, not with the next batch of window points.
    fn deliver(&self, alert: &Alert) {
        {
            let mut b = self.board.lock().unwrap_or_else(|e| e.into_inner());
            if alert.status == AlertStatus::Resolved {
                // The feed shows an alert once, in its latest state.
                b.recent_alerts.retain(|a| a.fingerprint != alert.fingerprint);
            }
            b.recent_alerts.push_front(alert.clone());
            b.recent_alerts.truncate(RECENT_ALERTS);
        }
        self.parts.send("alert", serde_json::to_string(alert).expect("alerts serialise"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::window::Series;

    fn key(dim: Dimension, value: &str, size_s: u32, start_s: i64) -> WindowKey {
        WindowKey { series: Series::new(dim, value), size_s, start_s }
    }

    #[test]
    fn points_carry_the_detectors_own_band_and_only_changed_windows_are_sent() {
        use crate::dataflow::detect::{DetectIn, DetectorState};
        let config = Config::embedded();
        let dashboard = Dashboard::start(&config, ClusterBoard::default(), Arc::new(Metrics::default()), "test");
        let spike = config.rules.iter().find(|r| r.name == "category_spike").unwrap();
        let size = spike.window.as_secs();
        let base = 1_700_000_040 - 1_700_000_040 % size as i64;
        // Ten quiet windows of 10 messages, then one of 80; another dimension is not charted.
        let spike_start = base + 10 * size as i64;
        let mut windows: Vec<(WindowKey, Agg)> = (0..10)
            .map(|k| {
                (
                    key(Dimension::Category, "payment", size, base + k * size as i64),
                    Agg { count: 10, ..Default::default() },
                )
            })
            .collect();
        windows.push((key(Dimension::Category, "payment", size, spike_start), Agg { count: 80, ..Default::default() }));
        windows.push((key(Dimension::Channel, "app", size, spike_start), Agg { count: 5, ..Default::default() }));
        for (k, agg) in &windows {
            dashboard.window(k, agg);
        }
        // The detector judges the same windows; the dashboard draws what it judged.
        let mut detector = DetectorState::new(&config);
        let mut items: Vec<DetectIn> = windows.iter().map(|(k, a)| DetectIn::Window(k.clone(), *a, 1)).collect();
        items.push(DetectIn::Clock(spike_start * 1000 + 30_000));
        detector.process_tick(items);
        let judged = detector.take_judgements();
        let spike_judgement = judged
            .iter()
            .find(|j| j.rule == spike.name && j.start_s == spike_start && j.series.value == "payment")
            .expect("the spike window was judged");
        for j in &judged {
            dashboard.judged(j);
        }

        let mut b = dashboard.board.lock().unwrap();
        let volume = b.panels.iter_mut().find(|p| p.name == "volume").unwrap();
        assert_eq!(volume.size_s, size);
        let sent = volume.take_dirty();
        assert_eq!(sent.len(), 1, "one series: {sent:?}");
        let last = sent[0].points.last().unwrap();
        assert_eq!((last.s, last.n, last.v), (spike_start, 80, 80.0));
        // The detector's arithmetic: median 10, spread max(1.4826·MAD, √10) = √10, so the
        // threshold is 10 + 5·√10 ≈ 25.811 (no day of history, so no yesterday factor).
        let (b0, t0) = spike_judgement.band.expect("a band after min_history windows");
        assert_eq!(last.b, Some(round3(b0)));
        assert_eq!(last.t, Some(round3(t0)));
        assert_eq!(last.b, Some(10.0));
        assert_eq!(last.t, Some(round3(10.0 + spike.watch().unwrap().sensitivity * 10f64.sqrt())));
        let first = &sent[0].points[0];
        assert_eq!((first.b, first.t), (None, None), "no band before min_history windows");
        assert!(volume.take_dirty().is_empty(), "sent once");
    }

    #[test]
    fn resolved_alerts_replace_their_firing_entry() {
        let config = Config::embedded();
        let dashboard = Dashboard::start(&config, ClusterBoard::default(), Arc::new(Metrics::default()), "test");
        let mut rx = dashboard.subscribe();
        let mut alert = Alert {
            fingerprint: "f1".into(),
            status: AlertStatus::Firing,
            rule: "spike".into(),
            severity: crate::config::Severity::Critical,
            labels: Default::default(),
            starts_at: crate::alerts::Timestamp::parse("2026-11-23T14:02:00.000Z").unwrap(),
            ends_at: None,
            window: crate::alerts::WindowSpan {
                start: crate::alerts::Timestamp::parse("2026-11-23T14:02:00.000Z").unwrap(),
                end: crate::alerts::Timestamp::parse("2026-11-23T14:03:00.000Z").unwrap(),
            },
            value: 80.0,
            baseline: Default::default(),
            explanation: Default::default(),
            summary: "spike".into(),
            generator_url: String::new(),
            llm_summary: None,
        };
        dashboard.deliver(&alert);
        alert.status = AlertStatus::Resolved;
        dashboard.deliver(&alert);
        let b = dashboard.board.lock().unwrap();
        assert_eq!(b.recent_alerts.len(), 1);
        assert_eq!(b.recent_alerts[0].status, AlertStatus::Resolved);
        let first = rx.try_recv().unwrap();
        assert!(first.starts_with("alert\n{"), "{first}");
    }
}
