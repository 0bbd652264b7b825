//! Internal events that both count and log. One [`Metrics`] per pipeline, shared by every stage
//! and rendered by `GET /metrics` in the Prometheus text format.

pub mod events;

use crate::event::{DeadLetter, DeadReason};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Instant;

/// Where events come from; labels `feedpulse_events_received_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceKind {
    File,
    Stdin,
    Http,
    Demo,
    Redis,
    /// The write-ahead log of durable HTTP ingest, replayed at start.
    Wal,
}

impl SourceKind {
    pub const ALL: [SourceKind; 6] = [Self::File, Self::Stdin, Self::Http, Self::Demo, Self::Redis, Self::Wal];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::File => "file",
            Self::Stdin => "stdin",
            Self::Http => "http",
            Self::Demo => "demo",
            Self::Redis => "redis",
            Self::Wal => "wal",
        }
    }
}

pub struct Metrics {
    started: Instant,
    received: [AtomicU64; SourceKind::ALL.len()],
    accepted: AtomicU64,
    duplicates: AtomicU64,
    dead: [AtomicU64; DeadReason::ALL.len()],
    alerts: Mutex<BTreeMap<(String, &'static str), u64>>,
    /// Failures of outbound sinks by (sink, kind): io, connect, command, queue_full, dropped.
    sink_errors: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    /// Messages each `[[scope]]` gave its value to, by (dimension, scope).
    scope_matches: Mutex<BTreeMap<(&'static str, String), u64>>,
    ticks_completed: AtomicU64,
    /// Ticks between the newest tick given to the dataflow and the oldest not yet complete.
    lag_ticks: AtomicI64,
    pub sse_clients: AtomicI64,
    /// Browsers connected to the dashboard stream.
    pub dashboard_clients: AtomicI64,
    ingest_rejected_busy: AtomicU64,
    webhook_deliveries: AtomicU64,
    /// Configuration reloads: [applied, rejected].
    reloads: [AtomicU64; 2],
    /// Event-time span of the accepted events (ms): what a backtest covered.
    first_event_ms: AtomicI64,
    last_event_ms: AtomicI64,
    /// Duration of enrichment batches (sentence encoder, sentiment, categories).
    enrich_batches: Histogram,
    enriched_messages: AtomicU64,
    /// Why Redis cannot be used now (unreachable, or refusing us), for `/readyz`; `None` while
    /// it answers or when none is configured.
    redis_problem: Mutex<Option<String>>,
    /// `[summarizer]`: requests sent, summaries taken, failures by reason, request latency.
    summarizer_requests: AtomicU64,
    summaries: AtomicU64,
    summarizer_failures: Mutex<BTreeMap<&'static str, u64>>,
    summarizer_latency: Histogram,
}

/// Upper bounds (seconds) of the enrichment-batch histogram: a one-message batch takes about a
/// millisecond, a 4096-line replay chunk a few seconds.
const ENRICH_BUCKETS: [f64; 12] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

/// Upper bounds (seconds) of the LLM-summary latency histogram: answers take seconds.
const SUMMARY_BUCKETS: [f64; 10] = [0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0];

/// A Prometheus histogram: cumulative counts per upper bound, a sum and a count.
struct Histogram {
    bounds: &'static [f64],
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::with_bounds(&ENRICH_BUCKETS)
    }
}

impl Histogram {
    fn with_bounds(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            buckets: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }

    fn observe(&self, seconds: f64) {
        if let Some(i) = self.bounds.iter().position(|b| seconds <= *b) {
            self.buckets[i].fetch_add(1, Relaxed);
        }
        self.count.fetch_add(1, Relaxed);
        self.sum_micros.fetch_add((seconds * 1e6) as u64, Relaxed);
    }

    fn samples(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut cumulative = 0;
        for (bound, n) in self.bounds.iter().zip(&self.buckets) {
            cumulative += n.load(Relaxed);
            out.push((format!("_bucket{{le=\"{bound}\"}}"), cumulative.to_string()));
        }
        // An observation counts its bucket before the total: read between the two, the total
        // would lag its buckets, and `+Inf` must never be below a finite bucket.
        let count = self.count.load(Relaxed).max(cumulative);
        out.push(("_bucket{le=\"+Inf\"}".into(), count.to_string()));
        out.push(("_sum".into(), format!("{:.6}", self.sum_micros.load(Relaxed) as f64 / 1e6)));
        out.push(("_count".into(), count.to_string()));
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            started: Instant::now(),
            received: Default::default(),
            accepted: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            dead: Default::default(),
            alerts: Mutex::new(BTreeMap::new()),
            sink_errors: Mutex::new(BTreeMap::new()),
            scope_matches: Mutex::new(BTreeMap::new()),
            ticks_completed: AtomicU64::new(0),
            lag_ticks: AtomicI64::new(0),
            sse_clients: AtomicI64::new(0),
            dashboard_clients: AtomicI64::new(0),
            first_event_ms: AtomicI64::new(i64::MAX),
            last_event_ms: AtomicI64::new(i64::MIN),
            ingest_rejected_busy: AtomicU64::new(0),
            webhook_deliveries: AtomicU64::new(0),
            reloads: Default::default(),
            enrich_batches: Histogram::default(),
            summarizer_requests: AtomicU64::new(0),
            summaries: AtomicU64::new(0),
            summarizer_failures: Mutex::default(),
            summarizer_latency: Histogram::with_bounds(&SUMMARY_BUCKETS),
            enriched_messages: AtomicU64::new(0),
            redis_problem: Mutex::new(None),
        }
    }
}

impl Metrics {
    /// Redis could not be reached or refused us (`why`); `/readyz` says not ready until it answers.
    pub fn redis_failed(&self, why: String) {
        *self.redis_problem.lock().unwrap_or_else(|e| e.into_inner()) = Some(why);
    }

    pub fn redis_answered(&self) {
        *self.redis_problem.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    pub fn redis_problem(&self) -> Option<String> {
        self.redis_problem.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn received(&self, source: SourceKind, n: u64) {
        self.received[source as usize].fetch_add(n, Relaxed);
    }
    /// `n` events accepted with event times within `span` (ms).
    pub fn accepted(&self, n: u64, span: (i64, i64)) {
        self.accepted.fetch_add(n, Relaxed);
        if n > 0 {
            self.first_event_ms.fetch_min(span.0, Relaxed);
            self.last_event_ms.fetch_max(span.1, Relaxed);
        }
    }
    /// First and last event time (ms) accepted, once any event was.
    pub fn event_span(&self) -> Option<(i64, i64)> {
        let (first, last) = (self.first_event_ms.load(Relaxed), self.last_event_ms.load(Relaxed));
        (first <= last).then_some((first, last))
    }
    pub fn duplicate(&self) {
        self.duplicates.fetch_add(1, Relaxed);
    }
    /// A dead letter: counted here, logged at debug level (the dead-letter sink keeps the record).
    pub fn dead_letter(&self, dl: &DeadLetter) {
        self.dead[dl.reason as usize].fetch_add(1, Relaxed);
        tracing::debug!(reason = dl.reason.as_str(), detail = %dl.detail, source = %dl.source, "dead letter");
    }
    /// Adds a batch's scope matches: `counts[i]` messages took scope `names[i]`.
    pub fn scope_matched(&self, names: &[(&'static str, String)], counts: &[u64]) {
        let mut matches = self.scope_matches.lock().unwrap_or_else(|e| e.into_inner());
        for ((dimension, name), n) in names.iter().zip(counts).filter(|(_, n)| **n > 0) {
            *matches.entry((dimension, name.clone())).or_default() += n;
        }
    }

    pub fn scope_matches(&self) -> BTreeMap<(&'static str, String), u64> {
        self.scope_matches.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn sink_error(&self, sink: &'static str, kind: &'static str) {
        *self.sink_errors.lock().unwrap().entry((sink, kind)).or_default() += 1;
    }

    pub fn sink_errors_total(&self, sink: &str) -> u64 {
        self.sink_errors.lock().unwrap().iter().filter(|((s, _), _)| *s == sink).map(|(_, n)| n).sum()
    }

    pub fn alert(&self, rule: &str, status: &'static str) {
        *self.alerts.lock().unwrap().entry((rule.to_owned(), status)).or_default() += 1;
    }
    pub fn tick_completed(&self, lag_ticks: i64) {
        self.ticks_completed.fetch_add(1, Relaxed);
        self.lag_ticks.store(lag_ticks, Relaxed);
    }
    /// One enrichment batch of `messages` took `seconds`.
    pub fn enriched(&self, messages: usize, seconds: f64) {
        self.enrich_batches.observe(seconds);
        self.enriched_messages.fetch_add(messages as u64, Relaxed);
    }

    pub fn config_reload(&self, applied: bool) {
        self.reloads[usize::from(!applied)].fetch_add(1, Relaxed);
    }

    /// A request to the summarizer's endpoint took `seconds` (answered or not).
    pub fn summarizer_request(&self, seconds: f64) {
        self.summarizer_requests.fetch_add(1, Relaxed);
        self.summarizer_latency.observe(seconds);
    }

    /// A summary was taken (and delivered).
    pub fn summary_taken(&self) {
        self.summaries.fetch_add(1, Relaxed);
    }

    /// A try or an alert got no summary: `http`, `parse`, `schema`, `unfaithful`, `queue_full`,
    /// `gave_up` (every attempt failed), `prompt` (the prompt file could not be read).
    pub fn summarizer_failure(&self, reason: &'static str) {
        *self.summarizer_failures.lock().unwrap().entry(reason).or_default() += 1;
    }

    /// `http 1, parse 2` (empty without failures).
    pub fn summarizer_failure_breakdown(&self) -> String {
        let failures = self.summarizer_failures.lock().unwrap();
        failures.iter().map(|(reason, n)| format!("{reason} {n}")).collect::<Vec<_>>().join(", ")
    }

    pub fn summaries_taken(&self) -> u64 {
        self.summaries.load(Relaxed)
    }

    pub fn webhook_delivered(&self) {
        self.webhook_deliveries.fetch_add(1, Relaxed);
    }

    pub fn rejected_busy(&self) {
        self.ingest_rejected_busy.fetch_add(1, Relaxed);
    }

    pub fn accepted_total(&self) -> u64 {
        self.accepted.load(Relaxed)
    }
    pub fn duplicates_total(&self) -> u64 {
        self.duplicates.load(Relaxed)
    }
    pub fn received_total(&self) -> u64 {
        self.received.iter().map(|c| c.load(Relaxed)).sum()
    }
    pub fn dead_total(&self) -> u64 {
        self.dead.iter().map(|c| c.load(Relaxed)).sum()
    }
    /// `" (reason n, …)"` for the reasons seen, or an empty string: for one-line summaries.
    pub fn dead_letter_breakdown(&self) -> String {
        let seen: Vec<String> = DeadReason::ALL
            .iter()
            .map(|r| (r, self.dead[*r as usize].load(Relaxed)))
            .filter(|(_, n)| *n > 0)
            .map(|(r, n)| format!("{} {n}", r.as_str()))
            .collect();
        if seen.is_empty() {
            String::new()
        } else {
            format!(" ({})", seen.join(", "))
        }
    }
    /// Outbound failures as `webhook/post 2, webhook/dropped 1` (empty when none).
    pub fn sink_error_breakdown(&self) -> String {
        let errors = self.sink_errors.lock().unwrap();
        errors.iter().map(|((sink, kind), n)| format!("{sink}/{kind} {n}")).collect::<Vec<_>>().join(", ")
    }

    /// Alerts webhook receivers accepted.
    pub fn webhook_deliveries_total(&self) -> u64 {
        self.webhook_deliveries.load(Relaxed)
    }

    /// (fired, resolved) alert counts per rule name.
    pub fn alert_counts(&self) -> BTreeMap<String, (u64, u64)> {
        let mut counts: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for ((rule, status), n) in self.alerts.lock().unwrap().iter() {
            let entry = counts.entry(rule.clone()).or_default();
            match *status {
                "firing" => entry.0 += n,
                _ => entry.1 += n,
            }
        }
        counts
    }
    pub fn lag_ticks(&self) -> i64 {
        self.lag_ticks.load(Relaxed)
    }

    /// The Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (name, kind, help, samples) in self.flow_families().into_iter().chain(self.runtime_families()) {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, value) in samples {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        }
        out
    }

    /// Records in, events accepted, dead letters, alerts and sink errors.
    fn flow_families(&self) -> Vec<Family> {
        let one = |v: String| vec![(String::new(), v)];
        let mut families = Vec::new();
        families.push((
            "feedpulse_events_received_total",
            "counter",
            "Records received, by source.",
            SourceKind::ALL
                .iter()
                .map(|s| {
                    (format!("{{source=\"{}\"}}", s.as_str()), self.received[*s as usize].load(Relaxed).to_string())
                })
                .collect(),
        ));
        families.push((
            "feedpulse_events_accepted_total",
            "counter",
            "Events admitted into the dataflow.",
            one(self.accepted.load(Relaxed).to_string()),
        ));
        families.push((
            "feedpulse_duplicates_dropped_total",
            "counter",
            "Events dropped because their id was already seen.",
            one(self.duplicates.load(Relaxed).to_string()),
        ));
        families.push((
            "feedpulse_dead_letters_total",
            "counter",
            "Records sent to the dead-letter output, by reason.",
            DeadReason::ALL
                .iter()
                .map(|r| (format!("{{reason=\"{}\"}}", r.as_str()), self.dead[*r as usize].load(Relaxed).to_string()))
                .collect(),
        ));
        let alerts = self
            .alerts
            .lock()
            .unwrap()
            .iter()
            .map(|((rule, status), n)| (format!("{{rule=\"{}\",status=\"{status}\"}}", escape(rule)), n.to_string()))
            .collect();
        families.push(("feedpulse_alerts_total", "counter", "Alert state changes, by rule and status.", alerts));
        let sink_errors = self
            .sink_errors
            .lock()
            .unwrap()
            .iter()
            .map(|((sink, kind), n)| (format!("{{sink=\"{sink}\",kind=\"{kind}\"}}"), n.to_string()))
            .collect();
        families.push((
            "feedpulse_sink_errors_total",
            "counter",
            "Failed or dropped sink writes, by sink and kind.",
            sink_errors,
        ));
        let scopes = self
            .scope_matches()
            .iter()
            .map(|((dimension, scope), n)| {
                (format!("{{dimension=\"{dimension}\",scope=\"{}\"}}", escape(scope)), n.to_string())
            })
            .collect();
        families.push((
            "feedpulse_scope_matches_total",
            "counter",
            "Messages a [[scope]] gave its business or campaign value to, by dimension and scope.",
            scopes,
        ));
        families
    }

    /// The dataflow, the clients, reloads, deliveries, the models and uptime.
    fn runtime_families(&self) -> Vec<Family> {
        let one = |v: String| vec![(String::new(), v)];
        let mut families = Vec::new();
        families.push((
            "feedpulse_dataflow_ticks_completed_total",
            "counter",
            "Processing ticks the dataflow has completed.",
            one(self.ticks_completed.load(Relaxed).to_string()),
        ));
        families.push((
            "feedpulse_dataflow_lag_ticks",
            "gauge",
            "Ticks given to the dataflow but not yet complete.",
            one(self.lag_ticks.load(Relaxed).to_string()),
        ));
        families.push((
            "feedpulse_sse_clients",
            "gauge",
            "Connected Server-Sent-Events clients.",
            one(self.sse_clients.load(Relaxed).to_string()),
        ));
        families.push((
            "feedpulse_dashboard_clients",
            "gauge",
            "Browsers connected to the dashboard stream.",
            one(self.dashboard_clients.load(Relaxed).to_string()),
        ));
        families.push((
            "feedpulse_config_reloads_total",
            "counter",
            "Configuration reloads (POST /v1/reload, SIGHUP), by result.",
            ["applied", "rejected"]
                .iter()
                .zip(&self.reloads)
                .map(|(r, n)| (format!("{{result=\"{r}\"}}"), n.load(Relaxed).to_string()))
                .collect(),
        ));
        families.push((
            "feedpulse_webhook_deliveries_total",
            "counter",
            "Alerts a webhook receiver accepted (2xx); failures are in feedpulse_sink_errors_total.",
            one(self.webhook_deliveries.load(Relaxed).to_string()),
        ));
        families.push((
            "feedpulse_ingest_rejected_busy_total",
            "counter",
            "HTTP ingest requests refused with 503: the dataflow queue was full, too many requests were being admitted at once, or durable ingest could not reach Redis.",
            one(self.ingest_rejected_busy.load(Relaxed).to_string()),
        ));
        families.push((
            "feedpulse_enriched_messages_total",
            "counter",
            "Messages enriched by the models (embedding, sentiment, category).",
            one(self.enriched_messages.load(Relaxed).to_string()),
        ));
        // The suffixes (_bucket, _sum, _count) follow the family name, so the labels column
        // carries them.
        families.push((
            "feedpulse_enrich_batch_duration_seconds",
            "histogram",
            "Model latency: wall time of each enrichment batch.",
            self.enrich_batches.samples(),
        ));
        families.push((
            "feedpulse_summarizer_requests_total",
            "counter",
            "Requests sent to the [summarizer] endpoint (each try).",
            one(self.summarizer_requests.load(Relaxed).to_string()),
        ));
        families.push((
            "feedpulse_summaries_total",
            "counter",
            "LLM summaries taken and delivered as an update of their alert.",
            one(self.summaries.load(Relaxed).to_string()),
        ));
        families.push((
            "feedpulse_summarizer_failures_total",
            "counter",
            "Summarizer tries and alerts without a summary, by reason (http, parse, schema, unfaithful, queue_full, gave_up, prompt).",
            self.summarizer_failures
                .lock()
                .unwrap()
                .iter()
                .map(|(reason, n)| (format!("{{reason=\"{reason}\"}}"), n.to_string()))
                .collect(),
        ));
        families.push((
            "feedpulse_summarizer_request_duration_seconds",
            "histogram",
            "Latency of requests to the [summarizer] endpoint.",
            self.summarizer_latency.samples(),
        ));
        families.push((
            "feedpulse_uptime_seconds",
            "gauge",
            "Seconds since the pipeline started.",
            one(format!("{:.3}", self.started.elapsed().as_secs_f64())),
        ));
        families
    }
}

/// One metric family: name, type, help, and its samples as (labels, value).
type Family = (&'static str, &'static str, &'static str, Vec<(String, String)>);

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_read_mid_observation_keeps_inf_at_least_every_bucket() {
        let h = Histogram::default();
        h.observe(0.002);
        // An observation caught between its bucket and the total.
        h.buckets[0].fetch_add(1, Relaxed);
        let samples = h.samples();
        let value = |name: &str| samples.iter().find(|(n, _)| n == name).map(|(_, v)| v.parse::<u64>().unwrap());
        assert_eq!(value("_bucket{le=\"5\"}"), Some(2));
        assert_eq!(value("_bucket{le=\"+Inf\"}"), Some(2));
        assert_eq!(value("_count"), Some(2));
    }

    #[test]
    fn renders_families_with_their_samples() {
        let m = Metrics::default();
        m.received(SourceKind::Http, 3);
        m.dead_letter(&DeadLetter::new(DeadReason::MissingText, "x", b"{}", "http"));
        m.alert("category_spike", "firing");
        m.sink_error("redis", "io");
        m.sink_error("redis", "io");
        let text = m.render();
        assert!(text.contains("feedpulse_sink_errors_total{sink=\"redis\",kind=\"io\"} 2\n"));
        assert_eq!(m.sink_errors_total("redis"), 2);
        assert!(text.contains(
            "# TYPE feedpulse_events_received_total counter\nfeedpulse_events_received_total{source=\"file\"} 0\n"
        ));
        assert!(text.contains("feedpulse_events_received_total{source=\"http\"} 3\n"));
        assert!(text.contains("feedpulse_dead_letters_total{reason=\"missing_text\"} 1\n"));
        assert!(text.contains("feedpulse_alerts_total{rule=\"category_spike\",status=\"firing\"} 1\n"));
        // Every sample line belongs to the family declared just before it.
        let mut current = "";
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                current = rest.split(' ').next().unwrap();
            } else if !line.starts_with('#') {
                assert!(line.starts_with(current), "{line} outside {current}");
            }
        }
    }

    #[test]
    fn enrichment_latency_is_a_cumulative_histogram() {
        let m = Metrics::default();
        m.enriched(3, 0.002);
        m.enriched(64, 0.3);
        let text = m.render();
        for line in [
            "# TYPE feedpulse_enrich_batch_duration_seconds histogram",
            "feedpulse_enrich_batch_duration_seconds_bucket{le=\"0.001\"} 0",
            "feedpulse_enrich_batch_duration_seconds_bucket{le=\"0.0025\"} 1",
            "feedpulse_enrich_batch_duration_seconds_bucket{le=\"0.5\"} 2",
            "feedpulse_enrich_batch_duration_seconds_bucket{le=\"+Inf\"} 2",
            "feedpulse_enrich_batch_duration_seconds_sum 0.302000",
            "feedpulse_enrich_batch_duration_seconds_count 2",
            "feedpulse_enriched_messages_total 67",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
    }
}
