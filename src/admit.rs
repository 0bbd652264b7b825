//! Admission: the stateless per-message path from raw bytes to an [`Event`] —
//! decode → validate → clean + mask → enrich. Anything that fails becomes a [`DeadLetter`].

use crate::clean::Cleaner;
use crate::config::Config;
use crate::enrich::{Enricher, OTHER};
use crate::event::{DeadLetter, DeadReason, Event};
use crate::sources::decode::{decode, RawEvent};
use std::hash::{BuildHasher, Hasher};

pub struct Admission {
    cleaner: Cleaner,
    enricher: Option<Enricher>,
    max_future_ms: i64,
}

impl Admission {
    /// `enrich = false` is `--no-enrich`: events without category/sentiment get `other`/0.
    pub fn new(config: &Config, enrich: bool) -> Self {
        Admission {
            cleaner: Cleaner::new(config),
            enricher: (enrich && config.enrich.enabled).then(|| Enricher::new(config)),
            max_future_ms: config.ingest.max_future.as_ms(),
        }
    }

    pub fn enriching(&self) -> bool {
        self.enricher.is_some()
    }

    /// Admits one record. `now_ms` is the wall clock: it stamps events without `ts` and bounds
    /// how far in the future `ts` may lie.
    pub fn admit(&self, line: &[u8], now_ms: i64, source: &'static str) -> Result<Event, DeadLetter> {
        let raw = decode(line).map_err(|e| self.masked(DeadLetter::new(e.reason, e.detail, line, source)))?;
        self.admit_raw(raw, line, now_ms, source)
    }

    /// A dead letter's payload with personal data masked: dead letters are stored and sent too.
    pub fn masked(&self, mut dead: DeadLetter) -> DeadLetter {
        if let std::borrow::Cow::Owned(masked) = self.cleaner.mask_pii(&dead.raw) {
            dead.raw = masked;
        }
        dead
    }

    pub fn admit_raw(
        &self,
        raw: RawEvent<'_>,
        line: &[u8],
        now_ms: i64,
        source: &'static str,
    ) -> Result<Event, DeadLetter> {
        let dead = |reason, detail: String| self.masked(DeadLetter::new(reason, detail, line, source));
        let Some(text) = raw.text else {
            return Err(dead(DeadReason::MissingText, "field `text` is required".into()));
        };
        let ts_ms = raw.ts_ms.unwrap_or(now_ms);
        if ts_ms > now_ms + self.max_future_ms {
            return Err(dead(
                DeadReason::TsInFuture,
                format!("ts {} is more than {} ms ahead of the wall clock", ts_ms, self.max_future_ms),
            ));
        }
        let cleaned = self.cleaner.clean(&text).map_err(|(reason, detail)| dead(reason, detail))?;
        let channel = raw.channel.map(|c| c.into_owned()).unwrap_or_else(|| "unknown".to_owned());
        let category = match (raw.category, &self.enricher) {
            (Some(c), _) if !c.is_empty() => c.into_owned(),
            (_, Some(e)) => e.categorise(&cleaned.text).to_owned(),
            _ => OTHER.to_owned(),
        };
        let sentiment = match (raw.sentiment, &self.enricher) {
            (Some(s), _) => s,
            (None, Some(e)) => e.sentiment(&cleaned.text),
            (None, None) => 0.0,
        };
        let id = match raw.id {
            Some(id) if !id.is_empty() => id.into_owned(),
            _ => content_id(ts_ms, &channel, &cleaned.text),
        };
        Ok(Event {
            id,
            ts_ms,
            channel,
            campaign: raw.campaign.filter(|c| !c.is_empty()).map(|c| c.into_owned()),
            business: raw.business.filter(|c| !c.is_empty()).map(|c| c.into_owned()),
            category,
            sentiment_milli: (sentiment * 1000.0).round() as i32,
            text: cleaned.text,
            truncated: cleaned.truncated,
            meta: raw.meta.map(|m| serde_json::Value::Object(*m).to_string()),
        })
    }
}

/// A stable id for events that come without one: the same content always gets the same id, so
/// a resent message is recognised as a duplicate.
pub fn content_id(ts_ms: i64, channel: &str, text: &str) -> String {
    let mut h = foldhash::quality::FixedState::with_seed(0x6665_6564).build_hasher();
    h.write_i64(ts_ms);
    h.write(channel.as_bytes());
    h.write_u8(0);
    h.write(text.as_bytes());
    format!("h-{:016x}", h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn admits_and_enriches() {
        let a = Admission::new(&Config::embedded(), true);
        let ev = a
            .admit("{\"text\": \"付款失败 扣了钱 电话13812345678\", \"ts\": 1700000000000}".as_bytes(), NOW, "test")
            .unwrap();
        assert_eq!(ev.category, "payment");
        assert!(ev.sentiment_milli < 0);
        assert_eq!(ev.text, "付款失败 扣了钱 电话<PHONE>");
        assert_eq!(ev.channel, "unknown");
        assert!(ev.id.starts_with("h-"));
        let again = a
            .admit("{\"text\": \"付款失败 扣了钱 电话13812345678\", \"ts\": 1700000000000}".as_bytes(), NOW, "test")
            .unwrap();
        assert_eq!(ev.id, again.id, "content ids are stable");
    }

    #[test]
    fn upstream_fields_win_and_no_enrich_defaults() {
        let a = Admission::new(&Config::embedded(), false);
        let ev = a.admit(br#"{"id":"x","text":"abc","category":"refund","sentiment":0.5}"#, NOW, "test").unwrap();
        assert_eq!((ev.category.as_str(), ev.sentiment_milli, ev.ts_ms), ("refund", 500, NOW));
        let ev = a.admit(r#"{"id":"y","text":"付款失败"}"#.as_bytes(), NOW, "test").unwrap();
        assert_eq!((ev.category.as_str(), ev.sentiment_milli), ("other", 0));
    }

    #[test]
    fn bad_records_become_dead_letters_with_reasons() {
        let a = Admission::new(&Config::embedded(), true);
        let reason = |line: &[u8]| a.admit(line, NOW, "test").unwrap_err().reason;
        assert_eq!(reason(br#"{"id": 1}"#), DeadReason::MissingText);
        assert_eq!(reason(br#"{"text": "   "}"#), DeadReason::EmptyText);
        assert_eq!(reason(br#"{"text": "a", "ts": 4102444800000}"#), DeadReason::TsInFuture);
        assert_eq!(reason(b"{oops"), DeadReason::MalformedJson);
        let dl = a.admit(b"{oops", NOW, "test").unwrap_err();
        assert_eq!(dl.raw, "{oops");
        assert_eq!(dl.source, "test");
    }

    #[test]
    fn dead_letters_carry_masked_payloads() {
        let a = Admission::new(&Config::embedded(), true);
        let broken = "{\"text\": \"call me on 13812345678 or a@b.cn\"".as_bytes();
        let dl = a.admit(broken, NOW, "test").unwrap_err();
        assert_eq!(dl.reason, DeadReason::MalformedJson);
        assert!(!dl.raw.contains("13812345678") && !dl.raw.contains("a@b.cn"), "{}", dl.raw);
        assert!(dl.raw.contains("<PHONE>") && dl.raw.contains("<EMAIL>"), "{}", dl.raw);
        let future = "{\"text\": \"13812345678\", \"ts\": 4102444800000}".as_bytes();
        assert!(!a.admit(future, NOW, "test").unwrap_err().raw.contains("13812345678"));
    }
}
