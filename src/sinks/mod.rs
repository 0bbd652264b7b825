//! Where alerts and dead letters go. Every sink implements one small trait; the dataflow sees a
//! [`Fanout`] of them and never waits on a slow one (network sinks queue and drop with a count).

pub mod alertmanager;
pub mod deadletter;
pub mod http_client;
pub mod ndjson;
pub mod outbox;
pub mod sse;
pub mod summarizer;
pub mod webhook;

/// Why a network sink could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{sink}: cannot build the HTTP client: {source}")]
    Client { sink: String, source: reqwest::Error },
    #[error("{sink}: bad label matcher: {source}")]
    Matcher { sink: String, source: regex::Error },
    #[error("{sink}: cannot start its thread: {source}")]
    Thread { sink: String, source: std::io::Error },
    #[error("{sink}: {detail}")]
    Setup { sink: String, detail: String },
}

use crate::alerts::Alert;
use crate::dataflow::clusters::ClusterUpdate;
use crate::dataflow::detect::WindowJudgement;
use crate::event::DeadLetter;
use crate::records::conversation::QaVerdict;
use crate::records::ticket::TicketAgg;
use crate::records::window::{Agg, WindowKey};
use std::sync::Arc;

pub trait AlertSink: Send + Sync {
    fn deliver(&self, alert: &Alert);
    /// An alert that was firing before a restart and still is: a sink that keeps firing alerts
    /// alive (Alertmanager's re-sends) takes it over without notifying anew.
    fn adopt(&self, _alert: &Alert) {}
    /// Called when the pipeline ends, so buffered sinks can write out.
    fn flush(&self) {}
}

pub trait DeadLetterSink: Send + Sync {
    fn deliver(&self, dead: &DeadLetter);
    fn flush(&self) {}
}

/// Receives every window aggregate as it changes (the rolling aggregates services read).
pub trait WindowSink: Send + Sync {
    fn window(&self, key: &WindowKey, agg: &Agg);
    /// The windows given so far are exactly the effect of the feed's batches up to
    /// `absorbed_through` (and of nothing later): a durable sink writes them out together with
    /// the acknowledgement of those batches.
    fn checkpoint(&self, _absorbed_through: u64) {}
    /// An accepted ticket event: a durable sink logs it with its checkpoint, so a restart can
    /// fold the tickets again ([`crate::dataflow::restore::Restored::tickets`]).
    fn ticket(&self, _event: &crate::event::TicketEvent) {}
    /// An accepted conversation turn: logged the same way, so a restart continues the
    /// conversations ([`crate::dataflow::restore::Restored::turns`]).
    fn turn(&self, _turn: &crate::records::conversation::Turn) {}
    /// The event clock moved to `ms`: a durable sink saves it with its checkpoint, so a restart
    /// knows what the previous run had judged by ([`crate::dataflow::restore::Restored::clock`]).
    fn clock(&self, _ms: i64) {}
}

/// Receives every ticket KPI window as it changes (Redis `fp:kpi:*`, the dashboard's panel).
pub trait KpiSink: Send + Sync {
    fn kpi(&self, key: &WindowKey, kpis: &TicketAgg);
}

/// Receives each closed conversation's transcript QA verdict (Redis `fp:qa:sample`).
pub trait QaSink: Send + Sync {
    fn scored(&self, verdict: &QaVerdict);
}

/// Receives the clusterer's published changes (established clusters, merges, snapshots).
pub trait ClusterSink: Send + Sync {
    fn clusters(&self, update: &ClusterUpdate);
}

/// A released digest as its receivers get it (`src/report/schedule.rs` builds them).
#[derive(Clone, Debug)]
pub struct PublishedDigest {
    /// The `[[report]]` table's name.
    pub report: String,
    /// The local date the period starts on (`2026-01-05`), which names its files.
    pub date: String,
    pub markdown: String,
    /// The digest as JSON text, as `feedpulse report --json` prints it.
    pub json: String,
}

impl PublishedDigest {
    /// `{"report", "date", "markdown", "digest"}`: what webhooks and the dashboard receive.
    pub fn envelope(&self) -> Envelope<'_> {
        Envelope {
            report: &self.report,
            date: &self.date,
            markdown: &self.markdown,
            digest: serde_json::from_str(&self.json).expect("the digest's JSON was written by serde_json"),
        }
    }
}

/// A digest as webhooks and `GET /v1/reports` carry it; `digest` is the JSON text as written.
#[derive(serde::Serialize)]
pub struct Envelope<'a> {
    report: &'a str,
    date: &'a str,
    markdown: &'a str,
    digest: &'a serde_json::value::RawValue,
}

/// Receives each scheduled digest a report names it for.
pub trait DigestSink: Send + Sync {
    fn digest(&self, digest: &PublishedDigest);
}

/// Receives the detector's judgement of each window it evaluates (the dashboard's bands).
pub trait JudgementSink: Send + Sync {
    fn judged(&self, judgement: &WindowJudgement);
}

/// Sends every alert to each sink in turn.
#[derive(Clone, Default)]
pub struct Fanout {
    pub alerts: Vec<Arc<dyn AlertSink>>,
    pub dead_letters: Vec<Arc<dyn DeadLetterSink>>,
    pub windows: Vec<Arc<dyn WindowSink>>,
    pub clusters: Vec<Arc<dyn ClusterSink>>,
    pub judgements: Vec<Arc<dyn JudgementSink>>,
    pub kpis: Vec<Arc<dyn KpiSink>>,
    pub qa: Vec<Arc<dyn QaSink>>,
}

impl Fanout {
    pub fn alert(&self, alert: &Alert) {
        for s in &self.alerts {
            s.deliver(alert);
        }
    }
    pub fn dead_letter(&self, dead: &DeadLetter) {
        for s in &self.dead_letters {
            s.deliver(dead);
        }
    }
    pub fn window(&self, key: &WindowKey, agg: &Agg) {
        for s in &self.windows {
            s.window(key, agg);
        }
    }
    pub fn ticket(&self, event: &crate::event::TicketEvent) {
        for s in &self.windows {
            s.ticket(event);
        }
    }
    pub fn clock(&self, ms: i64) {
        for s in &self.windows {
            s.clock(ms);
        }
    }
    pub fn turn(&self, turn: &crate::records::conversation::Turn) {
        for s in &self.windows {
            s.turn(turn);
        }
    }
    pub fn kpi(&self, key: &WindowKey, kpis: &TicketAgg) {
        for s in &self.kpis {
            s.kpi(key, kpis);
        }
    }
    pub fn scored(&self, verdict: &QaVerdict) {
        for s in &self.qa {
            s.scored(verdict);
        }
    }
    pub fn checkpoint(&self, absorbed_through: u64) {
        for s in &self.windows {
            s.checkpoint(absorbed_through);
        }
    }
    pub fn adopt(&self, alert: &Alert) {
        for s in &self.alerts {
            s.adopt(alert);
        }
    }
    pub fn clusters(&self, update: &ClusterUpdate) {
        for s in &self.clusters {
            s.clusters(update);
        }
    }
    pub fn judged(&self, judgement: &WindowJudgement) {
        for s in &self.judgements {
            s.judged(judgement);
        }
    }
    pub fn flush(&self) {
        self.alerts.iter().for_each(|s| s.flush());
        self.dead_letters.iter().for_each(|s| s.flush());
    }
}
