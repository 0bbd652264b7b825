//! Alerts to HTTP webhooks: each state change whose labels match the receiver's matchers is
//! POSTed as the alert's JSON object (docs/alerting.md), optionally signed with HMAC-SHA256.
//! Digests a `[[report]]` names the receiver for go the same way, unmatched.
//!
//! The dataflow only offers alerts to a bounded queue; a full queue drops the alert and counts it
//! (`feedpulse_sink_errors_total{sink="webhook",kind="queue_full"}`). One thread per receiver
//! delivers in order, retrying a failed post (connection error, timeout, 408, 429, 5xx) with
//! backoff from 0.5 s doubling to 30 s, up to `max_attempts`; then the alert is dropped and
//! counted (`kind="dropped"`). Other 4xx answers are the receiver refusing the payload: not
//! retried, counted (`kind="rejected"`).

use super::outbox::{Envelope, Outbox};
use super::{AlertSink, DigestSink, PublishedDigest, StartError};
use crate::alerts::Alert;
use crate::config::WebhookConfig;
use crate::telemetry::events::{InternalEvent, SinkFailed};
use crate::telemetry::Metrics;
use crate::util::backoff::Backoff;
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::Duration;

/// The header carrying `sha256=<hex HMAC-SHA256 of the body>` when a secret is configured.
pub const SIGNATURE_HEADER: &str = "X-Feedpulse-Signature";

pub struct WebhookSink {
    matchers: LabelMatchers,
    /// Bodies to post, in order.
    outbox: Outbox<Vec<u8>>,
}

/// A receiver's label matchers: every `match` label equal, every `match_re` regex matching the
/// whole value (a missing label reads as empty).
pub struct LabelMatchers {
    equal: Vec<(String, String)>,
    regex: Vec<(String, regex::Regex)>,
}

impl LabelMatchers {
    /// From a validated configuration (its regexes compile).
    pub fn of(config: &WebhookConfig) -> Result<Self, regex::Error> {
        let regex = config
            .match_re
            .iter()
            .map(|(k, re)| Ok((k.clone(), regex::Regex::new(&format!("^(?:{re})$"))?)))
            .collect::<Result<_, regex::Error>>()?;
        Ok(LabelMatchers { equal: config.match_eq.clone().into_iter().collect(), regex })
    }

    pub fn matches(&self, labels: &std::collections::BTreeMap<String, String>) -> bool {
        let value = |k: &String| labels.get(k).map(String::as_str).unwrap_or("");
        self.equal.iter().all(|(k, v)| value(k) == v) && self.regex.iter().all(|(k, re)| re.is_match(value(k)))
    }
}

/// `sha256=<hex>` of `body` under `key`: what a receiver recomputes to check the sender.
pub fn signature(key: &[u8], body: &[u8]) -> String {
    let tag = ring::hmac::sign(&ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key), body);
    format!("sha256={}", crate::util::encoding::hex(tag.as_ref()))
}

impl WebhookSink {
    pub fn start(config: &WebhookConfig, metrics: Arc<Metrics>) -> Result<Arc<WebhookSink>, StartError> {
        let sink = || format!("webhook `{}`", config.name);
        let client = super::http_client::build(&sink(), config.timeout.0, &config.client)?;
        let matchers = LabelMatchers::of(config).map_err(|source| StartError::Matcher { sink: sink(), source })?;
        let (worker_config, worker_metrics) = (config.clone(), metrics.clone());
        let outbox =
            Outbox::start(format!("webhook-{}", config.name), "webhook", config.queue, metrics, move |alerts| {
                deliver_loop(&client, &worker_config, alerts, &worker_metrics)
            })
            .map_err(|source| StartError::Thread { sink: sink(), source })?;
        Ok(Arc::new(WebhookSink { matchers, outbox }))
    }
}

impl AlertSink for WebhookSink {
    fn deliver(&self, alert: &Alert) {
        if !self.matchers.matches(&alert.labels) {
            return;
        }
        self.outbox.push(serde_json::to_vec(alert).expect("alerts serialise"));
    }

    /// Waits (at most the time the queue could take to drain once) for queued alerts to go out.
    fn flush(&self) {
        self.outbox.flush(Duration::from_secs(30));
    }
}

enum Outcome {
    Delivered,
    Retry(String),
    Rejected(String),
}

impl DigestSink for WebhookSink {
    fn digest(&self, digest: &PublishedDigest) {
        self.outbox.push(serde_json::to_vec(&digest.envelope()).expect("digests serialise"));
    }
}

fn deliver_loop(
    client: &reqwest::blocking::Client,
    config: &WebhookConfig,
    messages: Receiver<Envelope<Vec<u8>>>,
    metrics: &Metrics,
) {
    let secret = config.secret();
    for message in messages {
        let body = match message {
            Envelope::Item(body) => body,
            Envelope::Flush(done) => {
                let _ = done.send(());
                continue;
            }
        };
        let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
        for attempt in 1..=config.max_attempts {
            match post(client, config, secret.as_deref(), &body) {
                Outcome::Delivered => {
                    metrics.webhook_delivered();
                    break;
                }
                Outcome::Rejected(reason) => {
                    let error = format!("webhook `{}` refused the post, not retried: {reason}", config.name);
                    SinkFailed { sink: "webhook", kind: "rejected", error: &error }.emit(metrics);
                    break;
                }
                Outcome::Retry(reason) => {
                    let error = format!("webhook `{}` post failed (attempt {attempt}): {reason}", config.name);
                    SinkFailed { sink: "webhook", kind: "post", error: &error }.emit(metrics);
                    if attempt == config.max_attempts {
                        let error = format!("webhook `{}` failed {attempt} times; post dropped", config.name);
                        SinkFailed { sink: "webhook", kind: "dropped", error: &error }.emit(metrics);
                    } else {
                        backoff.wait();
                    }
                }
            }
        }
    }
}

fn post(client: &reqwest::blocking::Client, config: &WebhookConfig, secret: Option<&str>, body: &[u8]) -> Outcome {
    let mut request = client.post(&config.url).header("content-type", "application/json").body(body.to_vec());
    if let Some(key) = secret {
        request = request.header(SIGNATURE_HEADER, signature(key.as_bytes(), body));
    }
    match request.send() {
        Ok(r) if r.status().is_success() => Outcome::Delivered,
        Ok(r) => {
            let status = r.status();
            let reason = format!("{status}: {}", r.text().unwrap_or_default().chars().take(200).collect::<String>());
            if status.is_server_error() || status.as_u16() == 408 || status.as_u16() == 429 {
                Outcome::Retry(reason)
            } else {
                Outcome::Rejected(reason)
            }
        }
        Err(e) => Outcome::Retry(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn signature_is_rfc4231_hmac_sha256() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn matchers_need_every_label() {
        let config: WebhookConfig = toml::from_str(
            r#"
            name = "pay"
            url = "http://x"
            match = { severity = "critical" }
            match_re = { category = "pay.*|refund" }
            "#,
        )
        .unwrap();
        let config = LabelMatchers::of(&config).unwrap();
        let labels = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
        };
        assert!(config.matches(&labels(&[("severity", "critical"), ("category", "payment")])));
        assert!(config.matches(&labels(&[("severity", "critical"), ("category", "refund")])));
        assert!(!config.matches(&labels(&[("severity", "warning"), ("category", "payment")])));
        assert!(!config.matches(&labels(&[("severity", "critical"), ("category", "xrefund")])), "whole value");
        assert!(!config.matches(&labels(&[("severity", "critical")])), "a missing label is empty");
    }
}
