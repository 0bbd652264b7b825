//! The alert object every sink receives (docs/alerting.md), and the engine that gives alerts their
//! lifecycle (firing → resolved, cooldown) and explanation.

pub mod engine;
pub mod explain;
pub mod summary;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    Firing,
    Resolved,
}

impl AlertStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Firing => "firing",
            Self::Resolved => "resolved",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WindowSpan {
    pub start: Timestamp,
    pub end: Timestamp,
}

/// A moment of event time in milliseconds since the epoch. Compared as a number; written (and
/// read back) as RFC 3339 with milliseconds, UTC, as the alert format has always carried it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn ms(self) -> i64 {
        self.0
    }

    /// Reads an RFC 3339 time (any offset).
    pub fn parse(text: &str) -> Result<Self, chrono::ParseError> {
        chrono::DateTime::parse_from_rfc3339(text).map(|t| Timestamp(t.timestamp_millis()))
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(&rfc3339(self.0))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&rfc3339(self.0))
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Timestamp::parse(&text).map_err(|e| serde::de::Error::custom(format!("`{text}` is not an RFC 3339 time: {e}")))
    }
}

/// What the current value was compared with.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// Centre of the trailing baseline: mean (mean_std), median (median_mad), pooled share/mean (sentiment).
    pub mean: f64,
    /// Spread used: σ, 1.4826·MAD (floored), or the standard error for sentiment rules.
    pub std: f64,
    /// The value the current window had to cross.
    pub threshold: f64,
    /// Trailing windows the baseline was computed from.
    pub windows: usize,
    /// Count of the same window 24 h earlier, when it is in state.
    pub same_window_yesterday: Option<i64>,
    /// Spike rules: the predictor whose forecast `mean` is (the one with the smallest spread).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predictor: Option<crate::config::Predictor>,
    /// Rarity rules with a shape view, when the window fired because the pattern of its last
    /// `shape_windows` windows is rare, not its size alone: that pattern's rarity (share of the
    /// series' remembered patterns nearer to a past one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape_rarity: Option<f64>,
    /// Day-over-day rules: the change against the earlier day (relative; for a mean sentiment
    /// the difference) and the p-value of a change at least this large by chance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p_value: Option<f64>,
    /// Spike rules judging a quiet series on a longer window (`min_expected`): the sustained
    /// rise that made it fire, when the window's count alone did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rise: Option<Rise>,
}

/// A sustained rise of a quiet series, found by a Poisson CUSUM over the rule's own windows
/// (docs/alerting.md § Quiet streams): since `since`, `count` messages arrived where `expected`
/// were forecast, and the evidence for a rate `ratio` times the forecast reached `threshold`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rise {
    pub since: Timestamp,
    pub count: i64,
    pub expected: f64,
    pub ratio: f64,
    /// The log-likelihood ratio of the run (nats) and the one it had to reach.
    pub evidence: f64,
    pub threshold: f64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    /// Most frequent terms (Chinese character bigrams, English words) in the window's samples.
    pub keywords: Vec<String>,
    /// Masked sample messages from the window.
    pub samples: Vec<String>,
    pub sample_ids: Vec<String>,
    pub cluster_id: Option<String>,
    pub count: i64,
    pub sentiment_mean: f64,
    pub negative_share: f64,
    /// Spike and dip alerts: the values of other dimensions (and `[attribution] meta` fields)
    /// whose share of the window departs most from their usual share, largest effect first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drivers: Vec<Driver>,
}

/// A value whose share of an anomalous window departs from its usual one: "72 % weibo
/// (usually 10 %)".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Driver {
    /// A dimension (`channel`, `campaign`, `business`, `category`) or a `meta` field's name.
    pub dimension: String,
    pub value: String,
    /// The window's messages with this value.
    pub count: u64,
    /// Their share of the window's messages.
    pub share: f64,
    /// Its share of the series' messages in the baseline before the window.
    pub usual_share: f64,
}

impl Driver {
    /// `weibo 72% (usually 10%)`
    pub fn describe(&self) -> String {
        format!(
            "{} {} {:.0}% (usually {:.0}%)",
            self.dimension,
            self.value,
            self.share * 100.0,
            self.usual_share * 100.0
        )
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub fingerprint: String,
    pub status: AlertStatus,
    /// The rule kind: `spike`, `sentiment_dip`, …
    pub rule: String,
    pub severity: crate::config::Severity,
    pub labels: BTreeMap<String, String>,
    pub starts_at: Timestamp,
    pub ends_at: Option<Timestamp>,
    pub window: WindowSpan,
    pub value: f64,
    pub baseline: Baseline,
    pub explanation: Explanation,
    pub summary: String,
    pub generator_url: String,
    /// `[summarizer]`: what a language model wrote of the alert (checked against its masked
    /// explanation), arriving later as an update of the same alert.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm_summary: Option<String>,
}

impl Alert {
    /// A firing payment spike, for tests.
    #[cfg(test)]
    pub fn example() -> Alert {
        let labels: BTreeMap<String, String> =
            [("alertname", "FeedbackSpike"), ("category", "payment"), ("rule", "category_spike")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        Alert {
            fingerprint: fingerprint("category_spike", &labels),
            status: AlertStatus::Firing,
            rule: "spike".into(),
            severity: crate::config::Severity::Critical,
            labels,
            starts_at: Timestamp(1_767_225_636_403),
            ends_at: None,
            window: WindowSpan { start: Timestamp(1_767_225_600_000), end: Timestamp(1_767_225_660_000) },
            value: 23.0,
            baseline: Baseline { mean: 8.0, threshold: 22.1, windows: 30, ..Default::default() },
            explanation: Explanation {
                keywords: vec!["付款".into(), "扣款".into()],
                samples: vec!["付款失败，钱扣了两次".into()],
                count: 23,
                ..Default::default()
            },
            summary: "category payment: 23 messages in a 1m window, 2.9× the baseline 8.0 (threshold 22.1)".into(),
            generator_url: String::new(),
            llm_summary: None,
        }
    }

    /// The name of the rule that raised it (its `rule` label).
    pub fn rule_name(&self) -> &str {
        self.labels.get("rule").map_or("", String::as_str)
    }
}

/// RFC 3339 with milliseconds, UTC.
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Stable across restarts and builds: FNV-1a over the rule name and the sorted labels.
pub fn fingerprint(rule_name: &str, labels: &BTreeMap<String, String>) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            h ^= *b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0100_0000_01b3);
    };
    feed(rule_name.as_bytes());
    for (k, v) in labels {
        feed(k.as_bytes());
        feed(v.as_bytes());
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_stable_and_label_sensitive() {
        let mut labels = BTreeMap::new();
        labels.insert("category".to_string(), "payment".to_string());
        let a = fingerprint("category_spike", &labels);
        assert_eq!(a, fingerprint("category_spike", &labels.clone()));
        assert_eq!(a.len(), 16);
        // Pinned: a restart (or a new build) must produce the same fingerprint.
        assert_eq!(a, "a0746e55bf2d55a1");
        labels.insert("category".to_string(), "refund".to_string());
        assert_ne!(a, fingerprint("category_spike", &labels));
    }

    #[test]
    fn rfc3339_has_millis_and_z() {
        assert_eq!(rfc3339(1_735_689_600_123), "2025-01-01T00:00:00.123Z");
    }
}
