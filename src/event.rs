//! The data contract between stages: an accepted, cleaned, enriched feedback message, and the
//! dead letter that replaces one that could not be accepted.

use serde::{Deserialize, Serialize};
pub use smol_str::SmolStr;

/// Sentiment is kept in fixed point (thousandths) so window sums add exactly in the dataflow.
pub type SentimentMilli = i32;

/// A feedback message after decode, clean, mask and enrich. Text is already masked.
///
/// Ids and labels are [`SmolStr`]: they are short, so they live inside the event instead of in
/// an allocation of their own, which the replay path would otherwise make and free (on another
/// thread) four times per message.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: SmolStr,
    /// Event time, epoch milliseconds.
    pub ts_ms: i64,
    pub channel: SmolStr,
    pub campaign: Option<SmolStr>,
    pub business: Option<SmolStr>,
    pub category: SmolStr,
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
    /// Where the message sits in a conversation (`conversation`, `role`, …); `None` for
    /// feedback outside one. Boxed: most messages have none, and it costs them a pointer.
    pub turn: Option<Box<TurnInfo>>,
    /// A ticket lifecycle event (`type: ticket`): no text, no feedback; it reaches the ticket
    /// KPIs alone. Boxed for the same reason as `turn`.
    pub ticket: Option<Box<TicketEvent>>,
}

/// Who wrote a conversation turn. Only customers' turns are feedback (windows, clusters,
/// risk alerts); agents' and bots' turns go to the conversation state alone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    #[default]
    Customer,
    Agent,
    Bot,
}

impl Role {
    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "customer" => Some(Role::Customer),
            "agent" => Some(Role::Agent),
            "bot" => Some(Role::Bot),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Agent => "agent",
            Role::Bot => "bot",
        }
    }
}

/// A message's place in a conversation, as the input gave it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TurnInfo {
    pub conversation: SmolStr,
    pub role: Role,
    /// The customer's id (`user`), as given.
    pub user: Option<SmolStr>,
    /// The agent who wrote an agent turn (or who took the conversation).
    pub agent: Option<SmolStr>,
    /// The turn's number in its conversation: orders turns of the same millisecond.
    pub seq: Option<i64>,
    /// A `type: end` record: the conversation is over (no text).
    pub end: bool,
}

/// One accepted ticket lifecycle event.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketEvent {
    pub ticket: SmolStr,
    pub id: SmolStr,
    pub ts_ms: i64,
    /// `seq` as given (0 when absent): orders events of the same millisecond.
    pub seq: i64,
    pub status: Option<crate::config::TicketStatus>,
    pub agent: Option<SmolStr>,
    /// The agent's team: `meta[team_field]` (`[conversation] team_field`, `team`).
    pub team: Option<SmolStr>,
    pub business: Option<SmolStr>,
}

impl TicketEvent {
    /// Where the event sits among its ticket's events.
    pub fn order(&self) -> (i64, i64, &str) {
        (self.ts_ms, self.seq, &self.id)
    }

    pub fn status(&self) -> crate::config::TicketStatus {
        self.status.unwrap_or(crate::config::TicketStatus::Opened)
    }
}

/// A record's `meta` object, parsed.
pub type Meta = serde_json::Map<String, serde_json::Value>;

impl Event {
    /// The event's `meta` object, when it has one.
    pub fn meta_object(&self) -> Option<Meta> {
        self.meta.as_deref().and_then(|m| serde_json::from_str::<Meta>(m).ok())
    }
}

/// A non-empty text field of `meta` (a tier, a team).
pub fn meta_text(meta: Option<&Meta>, name: &str) -> Option<SmolStr> {
    match meta?.get(name)? {
        serde_json::Value::String(s) if !s.is_empty() => Some(SmolStr::from(s.as_str())),
        _ => None,
    }
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
    dot_q(a, b) as f32 / (EMBEDDING_SCALE * EMBEDDING_SCALE)
}

/// |sum| ≤ 2²⁴ for unit vectors (Cauchy–Schwarz), far inside i32.
#[inline]
fn dot_q(a: &[i16], b: &[i16]) -> i32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above; the answer is cached).
            return unsafe { dot_q_avx2(a, b) };
        }
    }
    dot_q_portable(a, b)
}

/// Chunks of 16 with an i32 lane each: compiles to packed multiply-adds (SSE2 `pmaddwd`).
fn dot_q_portable(a: &[i16], b: &[i16]) -> i32 {
    let mut lanes = [0i32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail: i32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| *x as i32 * *y as i32).sum();
    for (x, y) in ca.zip(cb) {
        for (lane, (p, q)) in lanes.iter_mut().zip(x.iter().zip(y)) {
            *lane += *p as i32 * *q as i32;
        }
    }
    lanes.iter().sum::<i32>() + tail
}

/// The clusterer's hot loop: 16 multiply-adds per instruction (`vpmaddwd`), twice SSE2's.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dot_q_avx2(a: &[i16], b: &[i16]) -> i32 {
    use std::arch::x86_64::*;
    let n = a.len().min(b.len());
    let mut acc = _mm256_setzero_si256();
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: i + 16 <= n, so both 32-byte loads are inside the slices.
        let (x, y) = unsafe {
            (
                _mm256_loadu_si256(a.as_ptr().add(i) as *const __m256i),
                _mm256_loadu_si256(b.as_ptr().add(i) as *const __m256i),
            )
        };
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(x, y));
        i += 16;
    }
    let mut lanes = [0i32; 8];
    // SAFETY: `lanes` is 32 bytes.
    unsafe { _mm256_storeu_si256(lanes.as_mut_ptr() as *mut __m256i, acc) };
    lanes.iter().sum::<i32>() + a[i..n].iter().zip(&b[i..n]).map(|(x, y)| *x as i32 * *y as i32).sum::<i32>()
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
    /// An HTTP body over `ingest.max_body_bytes`; the body is neither read nor kept.
    BodyTooLarge,
}

impl DeadReason {
    pub const ALL: [DeadReason; 10] = [
        Self::MalformedJson,
        Self::InvalidUtf8,
        Self::NotAnObject,
        Self::MissingText,
        Self::EmptyText,
        Self::BadField,
        Self::TsInFuture,
        Self::TooLate,
        Self::DroppedByRule,
        Self::BodyTooLarge,
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
            Self::BodyTooLarge => "body_too_large",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantized_cosine_matches_the_float_one() {
        let v: Vec<f32> = (0..515).map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0).collect();
        let w: Vec<f32> = (0..515).map(|i| ((i * 53 % 97) as f32 - 48.0) / 48.0).collect();
        let unit = |x: &[f32]| {
            let n = x.iter().map(|a| a * a).sum::<f32>().sqrt();
            x.iter().map(|a| a / n).collect::<Vec<f32>>()
        };
        let (v, w) = (unit(&v), unit(&w));
        let exact: f32 = v.iter().zip(&w).map(|(a, b)| a * b).sum();
        let (qv, qw) = (Embedding::quantize(&v), Embedding::quantize(&w));
        assert!((cosine_q(&qv.0, &qw.0) - exact).abs() < 1e-3);
        assert_eq!(dot_q(&qv.0, &qw.0), dot_q_portable(&qv.0, &qw.0), "the SIMD path adds exactly");
        assert!((cosine_q(&qv.0, &qv.0) - 1.0).abs() < 1e-3);
    }
}
