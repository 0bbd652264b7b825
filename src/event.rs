//! The data contract between stages: an accepted, cleaned, enriched feedback message, and the
//! dead letter that replaces one that could not be accepted.

use serde::{Deserialize, Serialize};

/// Sentiment is kept in fixed point (thousandths) so window sums add exactly in the dataflow.
pub type SentimentMilli = i32;

/// A feedback message after decode, clean, mask and enrich. Text is already masked.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: String,
    /// Event time, epoch milliseconds.
    pub ts_ms: i64,
    pub channel: String,
    pub campaign: Option<String>,
    pub business: Option<String>,
    pub category: String,
    pub sentiment_milli: SentimentMilli,
    pub text: String,
    pub truncated: bool,
    /// The first `[[risk]]` rule the message matched (`None`: no risk).
    pub risk: Option<String>,
    /// The sentence embedding (empty without text enrichment or when the category and sentiment
    /// came from upstream and clustering is off).
    pub embedding: Embedding,
    /// `meta` of the input plus any unknown top-level fields, as compact JSON object text.
    /// Text rather than a `serde_json::Value`, because events cross process boundaries in
    /// timely's bincode, which cannot decode self-describing values.
    pub meta: Option<String>,
}

/// A unit sentence embedding in fixed point (components × 2¹²). Dot products of two are exact
/// integer sums, vectorise well, and a 512-d vector is 1 KiB instead of 2.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Embedding(pub Vec<i16>);

/// One unit of a quantized component.
pub const EMBEDDING_SCALE: f32 = 4096.0;

impl Embedding {
    pub fn quantize(unit: &[f32]) -> Self {
        Embedding(unit.iter().map(|x| (x * EMBEDDING_SCALE).round().clamp(-32767.0, 32767.0) as i16).collect())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn to_f32(&self) -> Vec<f32> {
        self.0.iter().map(|&x| x as f32 / EMBEDDING_SCALE).collect()
    }
}

/// The cosine of two quantized unit vectors of equal length.
#[inline]
pub fn cosine_q(a: &[i16], b: &[i16]) -> f32 {
    // Chunks of 16 with an i32 lane each: compiles to packed multiply-adds. |sum| ≤ 2²⁴ for unit
    // vectors (Cauchy–Schwarz), far inside i32.
    let mut lanes = [0i32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail: i32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| *x as i32 * *y as i32).sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..16 {
            lanes[i] += x[i] as i32 * y[i] as i32;
        }
    }
    (lanes.iter().sum::<i32>() + tail) as f32 / (EMBEDDING_SCALE * EMBEDDING_SCALE)
}

/// Why a record was not accepted. Stable snake_case names: they label metrics and dead letters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadReason {
    MalformedJson,
    InvalidUtf8,
    NotAnObject,
    MissingText,
    EmptyText,
    BadField,
    TsInFuture,
    TooLate,
    DroppedByRule,
}

impl DeadReason {
    pub const ALL: [DeadReason; 9] = [
        Self::MalformedJson,
        Self::InvalidUtf8,
        Self::NotAnObject,
        Self::MissingText,
        Self::EmptyText,
        Self::BadField,
        Self::TsInFuture,
        Self::TooLate,
        Self::DroppedByRule,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::MalformedJson => "malformed_json",
            Self::InvalidUtf8 => "invalid_utf8",
            Self::NotAnObject => "not_an_object",
            Self::MissingText => "missing_text",
            Self::EmptyText => "empty_text",
            Self::BadField => "bad_field",
            Self::TsInFuture => "ts_in_future",
            Self::TooLate => "too_late",
            Self::DroppedByRule => "dropped_by_rule",
        }
    }
}

/// A record that did not make it into the dataflow, with its reason and the raw payload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub reason: DeadReason,
    pub detail: String,
    /// The raw record (lossily decoded, capped at 4 KiB) so an operator can fix and resend it.
    pub raw: String,
    pub source: String,
}

impl DeadLetter {
    pub fn new(reason: DeadReason, detail: impl Into<String>, raw: &[u8], source: &'static str) -> Self {
        let cap = raw.len().min(4096);
        DeadLetter {
            reason,
            detail: detail.into(),
            raw: String::from_utf8_lossy(&raw[..cap]).into_owned(),
            source: source.to_owned(),
        }
    }
}
