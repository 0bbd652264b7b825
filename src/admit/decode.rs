//! Decoding one input record (docs/architecture.md) into a [`RawEvent`], with a precise reason on failure.
//!
//! Known fields are read with a hand-written map visitor, borrowing strings from the input where
//! JSON escapes allow: this is the hottest code on the replay path, and a `#[serde(flatten)]`
//! catch-all for unknown fields would buffer every record.

use crate::bytescan;
use crate::event::DeadReason;
use chrono::DateTime;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use std::borrow::Cow;
use std::fmt;

/// A decoded but not yet cleaned input record.
#[derive(Debug, Default, PartialEq)]
pub struct RawEvent<'a> {
    pub id: Option<Cow<'a, str>>,
    pub ts_ms: Option<i64>,
    pub channel: Option<Cow<'a, str>>,
    pub text: Option<Cow<'a, str>>,
    pub business: Option<Cow<'a, str>>,
    pub campaign: Option<Cow<'a, str>>,
    pub category: Option<Cow<'a, str>>,
    pub sentiment: Option<f64>,
    pub meta: Option<Box<serde_json::Map<String, serde_json::Value>>>,
    pub conversation: Option<Cow<'a, str>>,
    pub role: Option<Cow<'a, str>>,
    pub user: Option<Cow<'a, str>>,
    pub agent: Option<Cow<'a, str>>,
    pub seq: Option<i64>,
    /// `type`: `message` (the default) or `ticket`.
    pub kind: Option<Cow<'a, str>>,
    pub ticket: Option<Cow<'a, str>>,
    pub status: Option<Cow<'a, str>>,
}

/// A decode failure: the reason class and a human-readable detail.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeError {
    pub reason: DeadReason,
    pub detail: String,
}

impl DecodeError {
    fn new(reason: DeadReason, detail: impl Into<String>) -> Self {
        DecodeError { reason, detail: detail.into() }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason.as_str(), self.detail)
    }
}

/// Decodes one JSON object. `line` must be a single record (no trailing data but whitespace).
pub fn decode(line: &[u8]) -> Result<RawEvent<'_>, DecodeError> {
    let mut raw = RawEvent::default();
    decode_str_into(utf8(line)?, &mut raw)?;
    Ok(raw)
}

/// `bytes` as text: SIMD validation for the records that pass; std's validator only to say
/// where one fails.
pub fn utf8(bytes: &[u8]) -> Result<&str, DecodeError> {
    match simdutf8::basic::from_utf8(bytes) {
        Ok(text) => Ok(text),
        Err(_) => std::str::from_utf8(bytes).map_err(|e| {
            DecodeError::new(DeadReason::InvalidUtf8, format!("invalid UTF-8 at byte {}", e.valid_up_to()))
        }),
    }
}

/// [`decode`] for a record already known to be text (a line of a block validated whole), into
/// `slot`, which it overwrites: the admission loop decodes every record of a batch into one
/// slot, since moving a record of this size out through the calls cost more than decoding its
/// numbers.
pub fn decode_str_into<'a>(text: &'a str, slot: &mut RawEvent<'a>) -> Result<(), DecodeError> {
    let trimmed = text.trim_start();
    if !trimmed.starts_with('{') {
        return Err(if trimmed.starts_with(['[', '"']) || trimmed.starts_with(|c: char| c.is_ascii_digit()) {
            DecodeError::new(DeadReason::NotAnObject, "each record must be a JSON object")
        } else {
            DecodeError::new(DeadReason::MalformedJson, "expected a JSON object")
        });
    }
    *slot = RawEvent::default();
    if decode_flat_into(text, slot).is_none() {
        *slot = decode_general(text)?;
    }
    Ok(())
}

/// Any JSON object, by serde_json; the errors of every bad record are worded here.
fn decode_general(text: &str) -> Result<RawEvent<'_>, DecodeError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let raw = RawEvent::deserialize(&mut de).map_err(|e| classify(e, text))?;
    de.end().map_err(|e| DecodeError::new(DeadReason::MalformedJson, e.to_string()))?;
    Ok(raw)
}

/// [`decode_flat_into`] into a new record (the tests compare it with the general decoder).
#[cfg(test)]
fn decode_flat(text: &str) -> Option<RawEvent<'_>> {
    let mut ev = RawEvent::default();
    decode_flat_into(text, &mut ev)?;
    Some(ev)
}

/// The common record decoded without serde, about three times faster: a flat object of known
/// fields whose values are strings without escapes, numbers or null. Anything else (an escape,
/// a nested value, `meta`, an unknown field, any error) gives `None`, and the record takes
/// [`decode_general`], so both paths accept the same records with the same result
/// (serde_json's `float_roundtrip` makes its floats the correctly rounded ones `parse` gives).
/// `ev` must be empty; on `None` it holds whatever was read.
fn decode_flat_into<'a>(text: &'a str, ev: &mut RawEvent<'a>) -> Option<()> {
    let mut s = Scan { text, at: 0 };
    s.skip_ws();
    s.expect(b'{')?;
    s.skip_ws();
    if !s.eat(b'}') {
        loop {
            let key = s.key()?;
            s.skip_ws();
            s.expect(b':')?;
            s.skip_ws();
            match key {
                Key::Id => ev.id = s.text_value()?,
                Key::Channel => ev.channel = s.text_value()?,
                Key::Text => ev.text = s.text_value()?,
                Key::Business => ev.business = s.text_value()?,
                Key::Campaign => ev.campaign = s.text_value()?,
                Key::Category => ev.category = s.text_value()?,
                Key::Conversation => ev.conversation = s.text_value()?,
                Key::Role => ev.role = s.text_value()?,
                Key::User => ev.user = s.text_value()?,
                Key::Agent => ev.agent = s.text_value()?,
                Key::Type => ev.kind = s.text_value()?,
                Key::Ticket => ev.ticket = s.text_value()?,
                Key::Status => ev.status = s.text_value()?,
                Key::Seq => ev.seq = if s.eat_literal("null") { None } else { Some(s.integer()?) },
                Key::Ts => {
                    ev.ts_ms = if s.eat_literal("null") {
                        None
                    } else if s.peek() == Some(b'"') {
                        Some(DateTime::parse_from_rfc3339(s.plain_string()?).ok()?.timestamp_millis())
                    } else {
                        // Integers only; fractional milliseconds take the general path.
                        Some(s.integer()?)
                    };
                }
                Key::Sentiment => {
                    ev.sentiment = if s.eat_literal("null") {
                        None
                    } else {
                        let v = s.decimal()?;
                        (-1.0..=1.0).contains(&v).then_some(v)?;
                        Some(v)
                    };
                }
                Key::Ignored => s.skip_scalar()?,
            }
            s.skip_ws();
            if s.eat(b'}') {
                break;
            }
            s.expect(b',')?;
            s.skip_ws();
        }
    }
    s.skip_ws();
    (s.at == text.len()).then_some(())
}

/// The index of the first `"`, `\\` or control character (below 0x20). Sixteen bytes at a time
/// with SSE2, which every x86-64 CPU has; elsewhere eight at a time in a word (SWAR). The position
/// comes from the match mask itself, so a short string costs one block and no byte loop.
fn string_end(bytes: &[u8]) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    for (at, v) in bytescan::blocks(bytes) {
        let mask = bytescan::equal(v, b'"') | bytescan::equal(v, b'\\') | bytescan::in_range(v, 0, 0x1f);
        if mask != 0 {
            return Some(at + mask.trailing_zeros() as usize);
        }
    }
    let mut at = bytescan::after_blocks(bytes.len());
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    while let Some(word) = bytes.get(at..at + 8) {
        let v = u64::from_le_bytes(word.try_into().expect("eight bytes"));
        let zero_byte = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
        // A byte below 0x20 borrows in `v - 0x20…`; bytes ≥ 0x80 are excluded by `!v`. Borrows
        // only run upwards, so the lowest flagged byte is exact (higher ones may be false).
        let special = zero_byte(v ^ (ONES * b'"' as u64))
            | zero_byte(v ^ (ONES * b'\\' as u64))
            | (v.wrapping_sub(ONES * 0x20) & !v & HIGHS);
        if special != 0 {
            return Some(at + special.trailing_zeros() as usize / 8);
        }
        at += 8;
    }
    bytes[at..].iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20).map(|i| at + i)
}

/// The fields [`decode_flat_into`] knows.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Key {
    Id,
    Ts,
    Channel,
    Campaign,
    Business,
    Category,
    Sentiment,
    Text,
    Conversation,
    Role,
    User,
    Agent,
    Seq,
    Type,
    Ticket,
    Status,
    /// `lang`: accepted, not kept.
    Ignored,
}

/// A cursor over one record for [`decode_flat_into`]; every method gives `None` where the general
/// decoder must take over.
struct Scan<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Scan<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn eat(&mut self, byte: u8) -> bool {
        let hit = self.peek() == Some(byte);
        self.at += hit as usize;
        hit
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        self.eat(byte).then_some(())
    }

    /// Inlined, so that each comparison is with a literal the compiler knows: a load or two
    /// instead of a `memcmp` call.
    #[inline(always)]
    fn eat_literal(&mut self, literal: &str) -> bool {
        let hit = self.text.as_bytes()[self.at..].starts_with(literal.as_bytes());
        self.at += if hit { literal.len() } else { 0 };
        hit
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// A known field name, closing quote included: compared as literals, since a name that is
    /// not spelt exactly so (an unknown field, an escape) takes the general path anyway.
    fn key(&mut self) -> Option<Key> {
        let rest = &self.text.as_bytes()[self.at..];
        // The first letter picks the candidates (at most four).
        match rest.get(1)? {
            b'i' => self.eat_literal("\"id\"").then_some(Key::Id),
            b't' => self
                .eat_literal("\"ts\"")
                .then_some(Key::Ts)
                .or_else(|| self.eat_literal("\"text\"").then_some(Key::Text))
                .or_else(|| self.eat_literal("\"type\"").then_some(Key::Type))
                .or_else(|| self.eat_literal("\"ticket\"").then_some(Key::Ticket)),
            b'c' => self
                .eat_literal("\"channel\"")
                .then_some(Key::Channel)
                .or_else(|| self.eat_literal("\"campaign\"").then_some(Key::Campaign))
                .or_else(|| self.eat_literal("\"category\"").then_some(Key::Category))
                .or_else(|| self.eat_literal("\"conversation\"").then_some(Key::Conversation)),
            b's' => self
                .eat_literal("\"sentiment\"")
                .then_some(Key::Sentiment)
                .or_else(|| self.eat_literal("\"seq\"").then_some(Key::Seq))
                .or_else(|| self.eat_literal("\"status\"").then_some(Key::Status)),
            b'b' => self.eat_literal("\"business\"").then_some(Key::Business),
            b'r' => self.eat_literal("\"role\"").then_some(Key::Role),
            b'a' => self.eat_literal("\"agent\"").then_some(Key::Agent),
            b'u' => self.eat_literal("\"user\"").then_some(Key::User),
            b'l' => self.eat_literal("\"lang\"").then_some(Key::Ignored),
            _ => None,
        }
    }

    /// A string without escapes or control characters, borrowed.
    fn plain_string(&mut self) -> Option<&'a str> {
        self.expect(b'"')?;
        let rest = &self.text.as_bytes()[self.at..];
        let len = string_end(rest)?;
        if rest[len] != b'"' {
            return None;
        }
        let value = &self.text[self.at..self.at + len];
        self.at += len + 1;
        Some(value)
    }

    /// A string field's value: a plain string or null (ids given as numbers take the general path).
    fn text_value(&mut self) -> Option<Option<Cow<'a, str>>> {
        if self.eat_literal("null") {
            return Some(None);
        }
        Some(Some(Cow::Borrowed(self.plain_string()?)))
    }

    /// A number as JSON writes it: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
    fn number(&mut self) -> Option<&'a str> {
        let start = self.at;
        let digits = |s: &mut Self| {
            let from = s.at;
            while s.peek().is_some_and(|b| b.is_ascii_digit()) {
                s.at += 1;
            }
            s.at > from
        };
        self.eat(b'-');
        if !self.eat(b'0') && !digits(self) {
            return None;
        }
        if self.eat(b'.') && !digits(self) {
            return None;
        }
        if self.eat(b'e') || self.eat(b'E') {
            let _ = self.eat(b'+') || self.eat(b'-');
            if !digits(self) {
                return None;
            }
        }
        Some(&self.text[start..self.at])
    }

    /// An integer in one pass (`-?(0|[1-9][0-9]*)`, fitting i64); a fraction or an exponent
    /// gives `None`.
    fn integer(&mut self) -> Option<i64> {
        let negative = self.eat(b'-');
        let from = self.at;
        let mut value: i64 = 0;
        if !self.eat(b'0') {
            while let Some(d) = self.peek().filter(u8::is_ascii_digit) {
                value = value.checked_mul(10)?.checked_add((d - b'0') as i64)?;
                self.at += 1;
            }
            if self.at == from {
                return None;
            }
        }
        if matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        Some(if negative { -value } else { value })
    }

    /// A number as f64. Plain decimals of at most 15 digits are exact integers over an exact
    /// power of ten, so one division gives the correctly rounded value (Clinger's fast path),
    /// the same that `parse` gives; others are parsed by `parse`.
    fn decimal(&mut self) -> Option<f64> {
        const POW10: [f64; 16] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];
        let start = self.at;
        let negative = self.eat(b'-');
        let (mut mantissa, mut digits, mut fraction) = (0u64, 0usize, 0usize);
        let mut take_digits = |s: &mut Self, in_fraction: bool| {
            let from = s.at;
            while let Some(d) = s.peek().filter(u8::is_ascii_digit) {
                mantissa = mantissa.wrapping_mul(10).wrapping_add((d - b'0') as u64);
                digits += 1;
                fraction += in_fraction as usize;
                s.at += 1;
            }
            s.at > from
        };
        let leading_zero = self.peek() == Some(b'0');
        let whole = take_digits(self, false);
        let fast = whole
            && !(leading_zero && self.at - start - negative as usize > 1)
            && (!self.eat(b'.') || take_digits(self, true))
            && !matches!(self.peek(), Some(b'e' | b'E'))
            && digits <= 15;
        if fast {
            let value = mantissa as f64 / POW10[fraction];
            return Some(if negative { -value } else { value });
        }
        self.at = start;
        self.number()?.parse().ok()
    }

    fn skip_scalar(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.plain_string().map(drop),
            b'n' | b't' | b'f' => {
                (self.eat_literal("null") || self.eat_literal("true") || self.eat_literal("false")).then_some(())
            }
            _ => self.number().map(drop),
        }
    }
}

/// Field-level errors are wrapped with the field's name, which hides serde_json's own error
/// category; a failed record is therefore re-checked for plain JSON syntax (only on failure).
fn classify(e: serde_json::Error, text: &str) -> DecodeError {
    match serde_json::from_str::<IgnoredAny>(text) {
        Err(syntax) => DecodeError::new(DeadReason::MalformedJson, syntax.to_string()),
        Ok(_) => DecodeError::new(DeadReason::BadField, e.to_string()),
    }
}

/// A string field that may also be given as a number (ids often are) or null.
struct Text<'a>(Option<Cow<'a, str>>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Owned(v.to_owned()))))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Owned(v))))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Text(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Text(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// `ts`: RFC 3339 string or epoch milliseconds (integer or float), or null.
struct Timestamp(Option<i64>);

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Timestamp;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an RFC 3339 string or epoch milliseconds")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                DateTime::parse_from_rfc3339(v)
                    .map(|t| Timestamp(Some(t.timestamp_millis())))
                    .map_err(|e| E::custom(format!("field `ts`: `{v}` is not RFC 3339 ({e})")))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                i64::try_from(v).map(|v| Timestamp(Some(v))).map_err(|_| E::custom("field `ts`: out of range"))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Timestamp(Some(v)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                if v.is_finite() && v.abs() < 9.0e15 {
                    Ok(Timestamp(Some(v as i64)))
                } else {
                    Err(E::custom("field `ts`: out of range"))
                }
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Timestamp(None))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for RawEvent<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawEvent<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a feedback object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut ev = RawEvent::default();
                let mut extra: Option<serde_json::Map<String, serde_json::Value>> = None;
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    let field = |name: &str, e: A::Error| de::Error::custom(format!("field `{name}`: {e}"));
                    match key.as_ref() {
                        "id" => ev.id = map.next_value::<Text>().map_err(|e| field("id", e))?.0,
                        "ts" => ev.ts_ms = map.next_value::<Timestamp>()?.0,
                        "channel" => ev.channel = map.next_value::<Text>().map_err(|e| field("channel", e))?.0,
                        "text" => ev.text = map.next_value::<Text>().map_err(|e| field("text", e))?.0,
                        "business" => ev.business = map.next_value::<Text>().map_err(|e| field("business", e))?.0,
                        "campaign" => ev.campaign = map.next_value::<Text>().map_err(|e| field("campaign", e))?.0,
                        "category" => ev.category = map.next_value::<Text>().map_err(|e| field("category", e))?.0,
                        "sentiment" => {
                            let s: Option<f64> = map.next_value().map_err(|e| field("sentiment", e))?;
                            if let Some(v) = s {
                                if !(-1.0..=1.0).contains(&v) {
                                    return Err(de::Error::custom(format!(
                                        "field `sentiment`: {v} is outside [-1, 1]"
                                    )));
                                }
                            }
                            ev.sentiment = s;
                        }
                        "meta" => {
                            let value: serde_json::Value = map.next_value()?;
                            match value {
                                serde_json::Value::Object(m) => extra.get_or_insert_with(Default::default).extend(m),
                                serde_json::Value::Null => {}
                                _ => return Err(de::Error::custom("field `meta`: must be an object")),
                            }
                        }
                        "conversation" => {
                            ev.conversation = map.next_value::<Text>().map_err(|e| field("conversation", e))?.0
                        }
                        "role" => ev.role = map.next_value::<Text>().map_err(|e| field("role", e))?.0,
                        "user" => ev.user = map.next_value::<Text>().map_err(|e| field("user", e))?.0,
                        "agent" => ev.agent = map.next_value::<Text>().map_err(|e| field("agent", e))?.0,
                        "seq" => ev.seq = map.next_value().map_err(|e| field("seq", e))?,
                        "type" => ev.kind = map.next_value::<Text>().map_err(|e| field("type", e))?.0,
                        "ticket" => ev.ticket = map.next_value::<Text>().map_err(|e| field("ticket", e))?.0,
                        "status" => ev.status = map.next_value::<Text>().map_err(|e| field("status", e))?.0,
                        // Known fields the slice does not use: skipped without allocating.
                        "lang" => {
                            map.next_value::<IgnoredAny>()?;
                        }
                        other => {
                            let value: serde_json::Value = map.next_value()?;
                            extra.get_or_insert_with(Default::default).insert(other.to_owned(), value);
                        }
                    }
                }
                ev.meta = extra.map(Box::new);
                Ok(ev)
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_design_example() {
        let line = r#"{"id": "fb-1", "ts": "2026-11-20T10:00:00Z", "channel": "app", "text": "刚更新就闪退，钱也扣了",
 "business": "ads", "campaign": "double11", "user": "u-93", "lang": "zh",
 "category": null, "sentiment": null, "meta": {"app_version": "12.3"}, "stars": 1}"#;
        let ev = decode(line.as_bytes()).unwrap();
        assert_eq!(ev.id.as_deref(), Some("fb-1"));
        assert_eq!(ev.ts_ms, Some(1_795_168_800_000));
        assert_eq!(ev.text.as_deref(), Some("刚更新就闪退，钱也扣了"));
        assert_eq!(ev.category, None);
        let meta = ev.meta.unwrap();
        assert_eq!(meta["app_version"], "12.3");
        assert_eq!(meta["stars"], 1);
    }

    #[test]
    fn decodes_the_benchmark_shape() {
        let line = r#"{"id":"e000000001","ts":1735689600123,"channel":"app","campaign":null,"category":"payment","sentiment":-0.4,"text":"支付失败"}"#;
        let ev = decode(line.as_bytes()).unwrap();
        assert_eq!(ev.ts_ms, Some(1_735_689_600_123));
        assert_eq!(ev.campaign, None);
        assert_eq!(ev.sentiment, Some(-0.4));
        assert!(matches!(ev.text, Some(Cow::Borrowed(_))), "plain strings are borrowed");
    }

    /// The fast path must accept only what the general decoder accepts, with the same result;
    /// records it declines must still decode. Checked on hand-picked shapes and on random
    /// mutations of them (bytes deleted, duplicated or replaced by JSON punctuation).
    #[test]
    fn the_flat_decoder_agrees_with_the_general_one() {
        let shapes: &[&str] = &[
            r#"{"id":"e000000001","ts":1735689600123,"channel":"app","campaign":null,"category":"payment","sentiment":-0.4,"text":"支付失败"}"#,
            r#" { "id" : "a" , "ts" : "2026-11-20T10:00:00+08:00" , "text" : "x y" , "sentiment" : 1 } "#,
            r#"{"text":"ok","sentiment":-0,"ts":-5,"user":"u-1","lang":"zh","business":"ads"}"#,
            r#"{"text":"t","sentiment":0.1e-1,"ts":1e3,"id":7}"#,
            r#"{"text":"t","sentiment":1.0000001}"#,
            r#"{"text":"t","ts":1.5,"lang":true,"user":false}"#,
            r#"{"text":"t","conversation":"c-1","role":"agent","agent":"a-7","seq":3,"user":"u-1"}"#,
            r#"{"text":"t","conversation":7,"role":null,"seq":-2}"#,
            r#"{"type":"ticket","ticket":"T-9","status":"assigned","agent":"a-1","ts":12}"#,
            r#"{"type":"ticket","ticket":42,"status":null}"#,
            r#"{"text":"a\"b","id":"x"}"#,
            r#"{"text":"t","meta":{"k":1},"stars":2}"#,
            r#"{"text":"t","text":"u","ts":null,"sentiment":null,"category":""}"#,
            r#"{}"#,
            r#"{"text":"t","ts":01}"#,
            r#"{"text":"t","sentiment":-.5}"#,
            r#"{"text":"t","ts":99999999999999999999}"#,
            "{\"text\":\"tab\tinside\"}",
        ];
        let mut rng = crate::util::SplitMix::new(11);
        let mut checked = (0, 0);
        for shape in shapes {
            let mut lines = vec![shape.as_bytes().to_vec()];
            for _ in 0..1500 {
                let mut line = shape.as_bytes().to_vec();
                for _ in 0..1 + rng.below(2) {
                    let at = rng.below(line.len());
                    match rng.below(3) {
                        0 => drop(line.remove(at)),
                        1 => line.insert(at, line[at]),
                        _ => line[at] = *rng.pick(b"{}[]\":,0-.e\\ n"),
                    }
                }
                lines.push(line);
            }
            for line in lines {
                let Ok(text) = std::str::from_utf8(&line) else { continue };
                let general = decode_general(text);
                match decode_flat(text) {
                    Some(flat) => {
                        assert_eq!(Ok(&flat), general.as_ref(), "{text}");
                        checked.0 += 1;
                    }
                    None => checked.1 += 1,
                }
            }
        }
        assert!(checked.0 > 500 && checked.1 > 5000, "both paths exercised: {checked:?}");
    }

    /// The one-pass number readers give exactly what `parse` gives, and stop where it stops.
    #[test]
    fn numbers_read_in_one_pass_match_parse() {
        let read = |text: &str| {
            let (mut a, mut b) = (Scan { text, at: 0 }, Scan { text, at: 0 });
            let fast = a.decimal().map(f64::to_bits);
            let slow = b.number().and_then(|n| n.parse::<f64>().ok()).map(f64::to_bits);
            assert_eq!((fast, a.at), (slow, b.at), "{text}");
        };
        let fixed = ["-0.393", "0.5", "1", "-1", "0", "-0", "-0.0", "0.1", "0.3", "2.675", "0.123456789012345"];
        let odd = ["0.12345678901234567", "1e-3", "1.5E2", "012", "-", ".5", "1.", "9007199254740993", "-x"];
        for text in fixed.iter().chain(&odd) {
            read(text);
            read(&format!("{text},"));
        }
        let mut rng = crate::util::SplitMix::new(3);
        for _ in 0..200_000 {
            let digits = 1 + rng.below(18);
            let first = char::from(b'1' + rng.below(9) as u8);
            let mut text: String =
                std::iter::once(first).chain((1..digits).map(|_| char::from(b'0' + rng.below(10) as u8))).collect();
            if rng.below(2) == 0 {
                text.insert(1 + rng.below(digits), '.');
            }
            if rng.below(3) == 0 {
                text.insert(0, '-');
            }
            read(text.trim_end_matches('.'));
        }
        let integer = |text: &str| Scan { text, at: 0 }.integer();
        assert_eq!(integer("1735689600123"), Some(1_735_689_600_123));
        assert_eq!(integer("-42,"), Some(-42));
        assert_eq!(
            (integer("1.5"), integer("1e3"), integer("99999999999999999999"), integer("-")),
            (None, None, None, None)
        );
        assert_eq!(integer("0"), Some(0));
    }

    #[test]
    fn string_ends_are_found_in_any_position() {
        for special in [b'"', b'\\', 0u8, 0x1f] {
            for len in 0..40 {
                for at in 0..=len {
                    let mut bytes: Vec<u8> = (0..len).map(|i| [b'a', 0xe4, 0xbd, 0x20, 0x7f, 0xff][i % 6]).collect();
                    let expect = (at < len).then(|| {
                        bytes[at] = special;
                        at
                    });
                    assert_eq!(string_end(&bytes), expect, "{special} at {at} of {len}");
                    // A later special (of any kind) must not hide or move the first one.
                    for later in (at + 1..len).step_by(3) {
                        let mut twice = bytes.clone();
                        twice[later] = [b'"', b'\\', 0x01][later % 3];
                        assert_eq!(string_end(&twice), expect, "{special} at {at}, another at {later} of {len}");
                    }
                }
            }
        }
    }

    #[test]
    fn every_known_field_name_is_read_by_the_flat_decoder() {
        let line = r#"{"lang": "zh", "user": "u1", "business": "pay", "sentiment": 0.5, "category": "c", "campaign": "k", "channel": "app", "text": "t", "ts": 5, "id": "x", "conversation": "cv", "role": "bot", "agent": "a", "seq": 4}"#;
        let raw = decode_flat(line).expect("flat");
        let ticket = decode_flat(r#"{"type": "ticket", "ticket": "T-1", "status": "opened"}"#).expect("flat");
        assert_eq!(
            (ticket.kind.as_deref(), ticket.ticket.as_deref(), ticket.status.as_deref()),
            (Some("ticket"), Some("T-1"), Some("opened"))
        );
        assert_eq!((raw.conversation.as_deref(), raw.role.as_deref()), (Some("cv"), Some("bot")));
        assert_eq!((raw.user.as_deref(), raw.agent.as_deref(), raw.seq), (Some("u1"), Some("a"), Some(4)));
        assert_eq!((raw.id.as_deref(), raw.ts_ms, raw.text.as_deref()), (Some("x"), Some(5), Some("t")));
        assert_eq!((raw.channel.as_deref(), raw.campaign.as_deref()), (Some("app"), Some("k")));
        assert_eq!(
            (raw.category.as_deref(), raw.business.as_deref(), raw.sentiment),
            (Some("c"), Some("pay"), Some(0.5))
        );
        for unknown in [r#"{"idx": "a"}"#, r#"{"t": 1}"#, r#"{"": 1}"#, r#"{"zed": 1}"#, r#"{"tex": "a"}"#] {
            assert!(decode_flat(unknown).is_none(), "{unknown}");
        }
    }

    #[test]
    fn the_benchmark_shape_takes_the_flat_path() {
        let line = r#"{"id": "e1", "ts": 1735689600123, "channel": "app", "campaign": null, "category": "payment", "sentiment": -0.393, "text": "这周微信支付显示异常"}"#;
        assert!(decode_flat(line).is_some());
        assert!(decode_flat(r#"{"text": "a\nb"}"#).is_none(), "escapes take the general path");
    }

    #[test]
    fn reasons_are_precise() {
        let reason = |s: &[u8]| decode(s).unwrap_err().reason;
        assert_eq!(reason(b"{\"text\": \"a\""), DeadReason::MalformedJson);
        assert_eq!(reason(b"hello"), DeadReason::MalformedJson);
        assert_eq!(reason(b"[1,2]"), DeadReason::NotAnObject);
        assert_eq!(reason(b"{\"text\": \"\xff\xfe\"}"), DeadReason::InvalidUtf8);
        assert_eq!(reason(br#"{"text": "a", "sentiment": 3}"#), DeadReason::BadField);
        assert_eq!(reason(br#"{"text": "a", "ts": "yesterday"}"#), DeadReason::BadField);
        assert_eq!(reason(br#"{"text": "a"} {"text": "b"}"#), DeadReason::MalformedJson);
        assert_eq!(reason(br#"{"id": "x", "text": "brok"#), DeadReason::MalformedJson);
        let e = decode(br#"{"text": "a", "sentiment": "bad"}"#).unwrap_err();
        assert!(e.detail.contains("sentiment"), "{e}");
    }
}
