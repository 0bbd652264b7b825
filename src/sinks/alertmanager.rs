//! Alerts to Prometheus Alertmanager (`POST /api/v2/alerts`), following its producer
//! conventions: stable labels with `alertname`, `summary`/`description` annotations,
//! `startsAt`, `generatorURL`; firing alerts are re-sent every `resend` with `endsAt` four
//! intervals ahead (so Alertmanager resolves them by itself if feedpulse disappears), and a
//! resolved alert is sent once more with its real `endsAt`. Failed posts are retried with
//! backoff; the dataflow only hands alerts to a queue.

use super::outbox::{Envelope, Outbox};
use super::{AlertSink, StartError};
use crate::alerts::{Alert, AlertStatus};
use crate::config::HttpClientConfig;
use crate::telemetry::events::{InternalEvent, SinkFailed};
use crate::telemetry::Metrics;
use crate::util::backoff::Backoff;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Alert changes waiting for the poster thread, which drains them into its per-fingerprint
/// state at once (even while Alertmanager is away): the bound is only reached by a burst.
const QUEUE: usize = 10_000;

/// One alert as Alertmanager's API v2 takes it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PostableAlert {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub starts_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<String>,
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
}

impl PostableAlert {
    pub fn of(alert: &Alert) -> Self {
        let mut annotations = BTreeMap::new();
        annotations.insert("summary".to_string(), alert.summary.clone());
        let e = &alert.explanation;
        let mut description = format!(
            "value {} vs baseline {} (threshold {}) in window {} – {}",
            alert.value, alert.baseline.mean, alert.baseline.threshold, alert.window.start, alert.window.end
        );
        if !e.keywords.is_empty() {
            description.push_str(&format!("; keywords: {}", e.keywords.join(", ")));
        }
        if !e.samples.is_empty() {
            description.push_str(&format!("; e.g. {}", e.samples.join(" | ")));
        }
        annotations.insert("description".to_string(), description);
        if !e.drivers.is_empty() {
            let drivers: Vec<String> = e.drivers.iter().map(crate::alerts::Driver::describe).collect();
            annotations.insert("drivers".to_string(), drivers.join("; "));
        }
        annotations.insert("fingerprint".to_string(), alert.fingerprint.clone());
        if let Some(text) = &alert.llm_summary {
            annotations.insert("llm_summary".to_string(), text.clone());
        }
        PostableAlert {
            labels: alert.labels.clone(),
            annotations,
            starts_at: alert.starts_at.to_string(),
            ends_at: alert.ends_at.map(|t| t.to_string()),
            generator_url: alert.generator_url.clone(),
        }
    }
}

enum Message {
    Alert(Box<Alert>),
    /// Firing since before a restart: re-sent with the others, not posted as news.
    Adopt(Box<Alert>),
}

pub struct AlertmanagerSink {
    outbox: Outbox<Message>,
}

impl AlertmanagerSink {
    /// `url`: Alertmanager's base URL (`http://127.0.0.1:9093`). `resend`: how often firing
    /// alerts are sent again.
    pub fn start(
        url: &str,
        resend: Duration,
        client: &HttpClientConfig,
        metrics: Arc<Metrics>,
    ) -> Result<Arc<AlertmanagerSink>, StartError> {
        let sink = || "alertmanager".to_owned();
        let client = super::http_client::build(&sink(), Duration::from_secs(5), client)?;
        let endpoint = format!("{}/api/v2/alerts", url.trim_end_matches('/'));
        let poster_metrics = metrics.clone();
        let outbox = Outbox::start("alertmanager".into(), "alertmanager", QUEUE, metrics, move |alerts| {
            post_loop(&client, &endpoint, resend, alerts, &poster_metrics)
        })
        .map_err(|source| StartError::Thread { sink: sink(), source })?;
        Ok(Arc::new(AlertmanagerSink { outbox }))
    }
}

impl AlertSink for AlertmanagerSink {
    fn deliver(&self, alert: &Alert) {
        self.outbox.push(Message::Alert(Box::new(alert.clone())));
    }

    fn adopt(&self, alert: &Alert) {
        if alert.status == AlertStatus::Firing {
            self.outbox.push(Message::Adopt(Box::new(alert.clone())));
        }
    }

    fn flush(&self) {
        self.outbox.flush(Duration::from_secs(10));
    }
}

/// Keeps the latest state per fingerprint; posts changes at once, firing alerts again every
/// `resend`, and retries failures with backoff (1 s doubling to 60 s).
fn post_loop(
    client: &reqwest::blocking::Client,
    endpoint: &str,
    resend: Duration,
    messages: Receiver<Envelope<Message>>,
    metrics: &Metrics,
) {
    let mut firing: HashMap<String, Alert> = HashMap::new();
    // Changes not yet accepted by Alertmanager.
    let mut unsent: HashMap<String, Alert> = HashMap::new();
    let mut next_resend = Instant::now() + resend;
    let mut retry_at: Option<Instant> = None;
    let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
    loop {
        let wake = retry_at.map_or(next_resend, |r| r.min(next_resend));
        let mut flushes = Vec::new();
        let mut take = |message: Envelope<Message>| match message {
            Envelope::Item(Message::Alert(alert)) => {
                match alert.status {
                    AlertStatus::Firing => firing.insert(alert.fingerprint.clone(), (*alert).clone()),
                    AlertStatus::Resolved => firing.remove(&alert.fingerprint),
                };
                unsent.insert(alert.fingerprint.clone(), *alert);
            }
            Envelope::Item(Message::Adopt(alert)) => {
                firing.entry(alert.fingerprint.clone()).or_insert(*alert);
            }
            Envelope::Flush(done) => flushes.push(done),
        };
        match messages.recv_timeout(wake.saturating_duration_since(Instant::now())) {
            Ok(message) => {
                take(message);
                while let Ok(more) = messages.try_recv() {
                    take(more);
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                if !unsent.is_empty() {
                    let _ = post(client, endpoint, unsent.values(), resend);
                }
                return;
            }
        }
        let now = Instant::now();
        if now >= next_resend {
            next_resend = now + resend;
            for (fingerprint, alert) in &firing {
                unsent.entry(fingerprint.clone()).or_insert_with(|| alert.clone());
            }
        }
        let waiting = retry_at.is_some_and(|r| now < r) && flushes.is_empty();
        if !unsent.is_empty() && !waiting {
            match post(client, endpoint, unsent.values(), resend) {
                Ok(()) => {
                    unsent.clear();
                    retry_at = None;
                    backoff.reset();
                }
                Err(e) => {
                    let delay = backoff.next_delay();
                    let error = format!("post to {endpoint} failed, retrying in {delay:?}: {e}");
                    SinkFailed { sink: "alertmanager", kind: "post", error: &error }.emit(metrics);
                    retry_at = Some(now + delay);
                }
            }
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

fn post<'a>(
    client: &reqwest::blocking::Client,
    endpoint: &str,
    alerts: impl Iterator<Item = &'a Alert>,
    resend: Duration,
) -> Result<(), String> {
    let lease = chrono::Utc::now() + chrono::Duration::from_std(resend * 4).unwrap_or(chrono::Duration::hours(1));
    let body: Vec<PostableAlert> = alerts
        .map(|a| {
            let mut p = PostableAlert::of(a);
            if a.status == AlertStatus::Firing {
                p.ends_at = Some(lease.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
            }
            p
        })
        .collect();
    let response = client.post(endpoint).json(&body).send().map_err(|e| e.to_string())?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("{}: {}", response.status(), response.text().unwrap_or_default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::{Baseline, Explanation, WindowSpan};

    #[test]
    fn postable_alerts_follow_the_api() {
        let mut labels = BTreeMap::new();
        labels.insert("alertname".to_string(), "FeedbackSpike".to_string());
        labels.insert("category".to_string(), "payment".to_string());
        let alert = Alert {
            fingerprint: "abc".into(),
            status: AlertStatus::Resolved,
            rule: "spike".into(),
            severity: crate::config::Severity::Critical,
            labels,
            starts_at: crate::alerts::Timestamp::parse("2026-01-01T00:30:36.403Z").unwrap(),
            ends_at: Some(crate::alerts::Timestamp::parse("2026-01-01T00:33:00.000Z").unwrap()),
            window: WindowSpan {
                start: crate::alerts::Timestamp::parse("2026-01-01T00:30:00.000Z").unwrap(),
                end: crate::alerts::Timestamp::parse("2026-01-01T00:31:00.000Z").unwrap(),
            },
            value: 23.0,
            baseline: Baseline { mean: 8.0, threshold: 22.1, ..Default::default() },
            explanation: Explanation {
                keywords: vec!["付款失败".into()],
                samples: vec!["付款失败".into()],
                ..Default::default()
            },
            summary: "category payment: 23 messages".into(),
            generator_url: "http://127.0.0.1:8080/#alert=abc".into(),
            llm_summary: None,
        };
        let json = serde_json::to_value(PostableAlert::of(&alert)).unwrap();
        assert!(json["annotations"].get("llm_summary").is_none(), "no summarizer, no annotation");
        let summarized = Alert { llm_summary: Some("付款失败激增".into()), ..alert.clone() };
        let with = serde_json::to_value(PostableAlert::of(&summarized)).unwrap();
        assert_eq!(with["annotations"]["llm_summary"], "付款失败激增");
        assert_eq!(json["labels"]["alertname"], "FeedbackSpike");
        assert_eq!(json["startsAt"], "2026-01-01T00:30:36.403Z");
        assert_eq!(json["endsAt"], "2026-01-01T00:33:00.000Z");
        assert_eq!(json["generatorURL"], "http://127.0.0.1:8080/#alert=abc");
        assert_eq!(json["annotations"]["summary"], "category payment: 23 messages");
        let description = json["annotations"]["description"].as_str().unwrap();
        assert!(description.contains("value 23 vs baseline 8") && description.contains("付款失败"), "{description}");
    }
}
