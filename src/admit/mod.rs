//! Admission: the stateless per-message path from raw bytes to an [`Event`] —
//! decode → validate → clean + mask → enrich. Anything that fails becomes a [`DeadLetter`].

pub mod decode;

use crate::clean::Cleaner;
use crate::config::Config;
use crate::config::TicketStatus;
use crate::config::OTHER;
use crate::enrich::risk::RiskRules;
use crate::enrich::scope::ScopeMatcher;
use crate::enrich::{Enricher, Models};
use crate::event::{DeadLetter, DeadReason, Embedding, Event, Role, SmolStr, TicketEvent, TurnInfo};
use crate::telemetry::Metrics;
use decode::{decode_str_into, utf8, DecodeError, RawEvent};
use std::borrow::Cow;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

/// One record's outcome: an event for the dataflow, or a dead letter with its reason.
pub type Admitted = Result<Event, DeadLetter>;

/// What a batch of records became: the accepted events in input order, and the index of each
/// rejected record with its dead letter. Events are built straight into their vector (they are
/// a few hundred bytes, and the replay path moves millions of them).
#[derive(Debug, Default)]
pub struct AdmittedBatch {
    pub events: Vec<Event>,
    pub dead: Vec<(usize, DeadLetter)>,
}

impl AdmittedBatch {
    /// Every record's outcome in input order.
    pub fn into_results(self) -> Vec<Admitted> {
        let mut results = Vec::with_capacity(self.events.len() + self.dead.len());
        let mut events = self.events.into_iter();
        for (index, dead) in self.dead {
            results.extend(events.by_ref().take(index - results.len()).map(Ok));
            results.push(Err(dead));
        }
        results.extend(events.map(Ok));
        results
    }
}

pub struct Admission {
    /// What a configuration reload replaces; a batch works with one version throughout.
    rules: std::sync::RwLock<Arc<Rules>>,
    /// The loaded models (`None`: `--no-enrich`), kept to build the enricher of a new taxonomy.
    models: Option<Arc<Models>>,
    /// Keep each message's embedding for the clusterer (`[cluster]` configured).
    clustering: bool,
    /// Analysts' label corrections, replayed onto the enricher of a reloaded taxonomy.
    corrections: std::sync::Mutex<Vec<(String, String)>>,
    /// The masked texts of the latest messages by id, for analysts' label corrections.
    recent: std::sync::Mutex<RecentTexts>,
    /// Where enrichment latency is recorded.
    metrics: Option<Arc<Metrics>>,
}

/// The configured part of admission: cleaning and masking, the taxonomy, risk rules, how far
/// ahead `ts` may be.
struct Rules {
    cleaner: Cleaner,
    enricher: Option<Enricher>,
    risks: RiskRules,
    scopes: ScopeMatcher,
    max_future_ms: i64,
}

impl Rules {
    fn new(config: &Config, models: Option<&Arc<Models>>) -> Self {
        Rules {
            cleaner: Cleaner::new(config),
            enricher: models.filter(|_| config.enrich.enabled).map(|m| Enricher::new(config, m.clone())),
            risks: RiskRules::new(&config.risks),
            scopes: ScopeMatcher::new(
                &config.scopes,
                config.enrich.example_threshold,
                models.filter(|_| config.enrich.enabled).map(|m| &m.embedder),
            ),
            max_future_ms: config.ingest.max_future.as_ms(),
        }
    }
}

/// Messages kept for label corrections (a correction names a message by id).
pub const RECENT_TEXTS: usize = 50_000;

#[derive(Default)]
struct RecentTexts {
    by_id: foldhash::HashMap<String, String>,
    order: std::collections::VecDeque<String>,
}

impl RecentTexts {
    fn insert(&mut self, id: &str, text: &str) {
        // Enough of a long text to embed it as an example; bounds the store's memory.
        let text = text.char_indices().nth(512).map_or(text, |(i, _)| &text[..i]);
        if self.by_id.insert(id.to_owned(), text.to_owned()).is_none() {
            self.order.push_back(id.to_owned());
            if self.order.len() > RECENT_TEXTS {
                if let Some(old) = self.order.pop_front() {
                    self.by_id.remove(&old);
                }
            }
        }
    }
}

/// Why a label correction was refused.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum LabelError {
    #[error("text enrichment is off (--no-enrich)")]
    EnrichmentOff,
    #[error("unknown category; the taxonomy has: {}", .0.join(", "))]
    UnknownCategory(Vec<String>),
    #[error("no recent message with this id (the latest {RECENT_TEXTS} messages are kept)")]
    UnknownMessage,
}

impl Admission {
    /// `models = None` is `--no-enrich`: events without category/sentiment get `other`/0.
    pub fn new(config: &Config, models: Option<&Arc<Models>>) -> Self {
        Admission {
            rules: std::sync::RwLock::new(Arc::new(Rules::new(config, models))),
            models: models.cloned(),
            clustering: config.cluster.is_some(),
            corrections: Default::default(),
            recent: Default::default(),
            metrics: None,
        }
    }

    fn rules(&self) -> Arc<Rules> {
        self.rules.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Applies a reloaded configuration's cleaning, masking, taxonomy and risk rules to every
    /// message admitted from now on. Analysts' corrections carry over to categories that still
    /// exist. (Whether enrichment and clustering are on cannot change without a restart.)
    pub fn reconfigure(&self, config: &Config) {
        let rules = Rules::new(config, self.models.as_ref());
        if let Some(enricher) = &rules.enricher {
            for (text, category) in self.corrections.lock().unwrap_or_else(|e| e.into_inner()).iter() {
                enricher.add_example(text, category);
            }
        }
        *self.rules.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(rules);
    }

    /// Records enrichment latency in `metrics` (`feedpulse_enrich_batch_duration_seconds`).
    pub fn timed(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// An analyst says message `id` belongs to `category`: its text becomes an example of that
    /// category for every message from now on. Returns the category's example count.
    pub fn label(&self, id: &str, category: &str) -> Result<usize, LabelError> {
        let rules = self.rules();
        let enricher = rules.enricher.as_ref().ok_or(LabelError::EnrichmentOff)?;
        if !enricher.has_category(category) {
            return Err(LabelError::UnknownCategory(enricher.category_names().to_vec()));
        }
        let text = self.recent.lock().unwrap_or_else(|e| e.into_inner()).by_id.get(id).cloned();
        let text = text.ok_or(LabelError::UnknownMessage)?;
        let examples = enricher.add_example(&text, category).ok_or(LabelError::UnknownCategory(Vec::new()))?;
        self.corrections.lock().unwrap_or_else(|e| e.into_inner()).push((text, category.to_owned()));
        Ok(examples)
    }

    /// What enriches messages, in words (`/readyz`, start-up line).
    pub fn enrichment(&self) -> String {
        match &self.rules().enricher {
            Some(e) => e.models().describe(),
            None => "none (--no-enrich)".into(),
        }
    }

    /// Admits one record. `now_ms` is the wall clock: it stamps events without `ts` and bounds
    /// how far in the future `ts` may lie.
    pub fn admit(&self, line: &[u8], now_ms: i64, source: &'static str) -> Result<Event, DeadLetter> {
        self.admit_batch(&[line], now_ms, source).into_results().pop().expect("one result per line")
    }

    /// Admits records together: text enrichment runs on the whole batch at once, which is
    /// several times faster than one message at a time.
    pub fn admit_batch(&self, lines: &[&[u8]], now_ms: i64, source: &'static str) -> AdmittedBatch {
        self.admit_decoded(lines.iter().map(|line| (*line, utf8(line))), lines.len(), now_ms, source)
    }

    /// [`Admission::admit_batch`] for lines already known to be valid UTF-8 (the line source
    /// validates a whole block at once, which is cheaper than line by line).
    pub fn admit_text_batch(&self, lines: &[&str], now_ms: i64, source: &'static str) -> AdmittedBatch {
        self.admit_decoded(lines.iter().map(|line| (line.as_bytes(), Ok(*line))), lines.len(), now_ms, source)
    }

    /// Decodes, cleans and checks records without enriching them, for a caller that only needs
    /// to know which records are good (durable ingest, whose records are admitted in full by
    /// the consumer group that reads them back): the events carry no model output.
    pub fn validate_batch(&self, lines: &[&[u8]], now_ms: i64, source: &'static str) -> AdmittedBatch {
        let texts = lines.iter().map(|line| (*line, utf8(line)));
        self.decode_batch(&self.rules(), texts, lines.len(), now_ms, source).0
    }

    /// Every record decoded and cleaned; with, per event that needs it, (its index, whether it
    /// needs a category, whether it needs a sentiment) for enrichment.
    fn decode_batch<'a>(
        &self,
        rules: &Rules,
        texts: impl Iterator<Item = (&'a [u8], Result<&'a str, DecodeError>)>,
        lines: usize,
        now_ms: i64,
        source: &'static str,
    ) -> (AdmittedBatch, Vec<(usize, bool, bool)>) {
        let mut batch = AdmittedBatch { events: Vec::with_capacity(lines), dead: Vec::new() };
        let mut to_enrich = Vec::new();
        // One slot for every record's decoded fields: records are decoded into it in place.
        let mut raw = RawEvent::default();
        for (index, (line, text)) in texts.enumerate() {
            let admitted = match text.and_then(|text| decode_str_into(text, &mut raw)) {
                Ok(()) => rules.admit_unenriched(&mut raw, line, now_ms, source, &mut batch.events),
                Err(e) => Err(DeadLetter::new(e.reason, e.detail, line, source)),
            };
            match admitted {
                Ok((category, sentiment)) => {
                    let embedding_wanted = self.clustering || rules.scopes.needs_embedding();
                    let message = batch.events.last().is_some_and(|e| e.ticket.is_none());
                    if category || sentiment || (message && embedding_wanted && rules.enricher.is_some()) {
                        to_enrich.push((batch.events.len() - 1, category, sentiment));
                    }
                }
                Err(dead) => batch.dead.push((index, rules.masked(dead))),
            }
        }
        (batch, to_enrich)
    }

    fn admit_decoded<'a>(
        &self,
        texts: impl Iterator<Item = (&'a [u8], Result<&'a str, DecodeError>)>,
        lines: usize,
        now_ms: i64,
        source: &'static str,
    ) -> AdmittedBatch {
        let rules = self.rules();
        let (mut batch, to_enrich) = self.decode_batch(&rules, texts, lines, now_ms, source);
        let events = &mut batch.events;
        // Scope matches of the batch, counted once into the metrics.
        let mut scope_hits = vec![0u64; rules.scopes.len()];
        let mut scoped = vec![false; if rules.scopes.is_empty() { 0 } else { events.len() }];
        if let (Some(enricher), false) = (&rules.enricher, to_enrich.is_empty()) {
            let texts: Vec<&str> = to_enrich.iter().map(|(i, _, _)| events[*i].text.as_str()).collect();
            let started = std::time::Instant::now();
            let enrichments = enricher.enrich(&texts);
            if let Some(metrics) = &self.metrics {
                metrics.enriched(texts.len(), started.elapsed().as_secs_f64());
            }
            for ((i, category, sentiment), e) in to_enrich.into_iter().zip(enrichments) {
                let event = &mut events[i];
                if category {
                    event.category = e.category.into();
                }
                if sentiment {
                    event.sentiment_milli = (e.sentiment * 1000.0).round() as i32;
                }
                if !scoped.is_empty() {
                    rules.scopes.apply(event, Some(&e.embedding), |s| scope_hits[s] += 1);
                    scoped[i] = true;
                }
                if self.clustering {
                    event.embedding = Embedding::quantize(&e.embedding);
                }
            }
        }
        for (event, _) in events.iter_mut().zip(&scoped).filter(|(e, done)| !**done && e.ticket.is_none()) {
            rules.scopes.apply(event, None, |s| scope_hits[s] += 1);
        }
        if let (Some(metrics), true) = (&self.metrics, scope_hits.iter().any(|n| *n > 0)) {
            metrics.scope_matched(&rules.scopes.names(), &scope_hits);
        }
        if !rules.risks.is_empty() {
            for event in events.iter_mut().filter(|e| e.ticket.is_none()) {
                event.risk =
                    rules.risks.classify(&event.text, &event.category, event.sentiment_milli).map(String::from);
            }
        }
        if rules.enricher.is_some() {
            let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
            for event in events.iter().filter(|e| e.ticket.is_none()) {
                recent.insert(&event.id, &event.text);
            }
        }
        batch
    }

    /// A dead letter's payload with personal data masked: dead letters are stored and sent too.
    pub fn masked(&self, dead: DeadLetter) -> DeadLetter {
        self.rules().masked(dead)
    }
}

impl Rules {
    fn masked(&self, mut dead: DeadLetter) -> DeadLetter {
        if let std::borrow::Cow::Owned(masked) = self.cleaner.mask_pii(&dead.raw) {
            dead.raw = masked;
        }
        dead
    }

    /// Validated, cleaned and masked, with upstream category and sentiment (`other` and 0 where
    /// absent), pushed onto `events`; and whether the enricher should fill in the category and
    /// the sentiment. The dead letter is not masked yet.
    fn admit_unenriched(
        &self,
        raw: &mut RawEvent<'_>,
        line: &[u8],
        now_ms: i64,
        source: &'static str,
        events: &mut Vec<Event>,
    ) -> Result<(bool, bool), DeadLetter> {
        let dead = |reason, detail: String| DeadLetter::new(reason, detail, line, source);
        match raw.kind.take().as_deref() {
            None | Some("message") => keep_ticket_fields_in_meta(raw),
            Some("ticket") => {
                let event = self.ticket_event(raw, now_ms).map_err(|(reason, detail)| dead(reason, detail))?;
                events.push(event);
                return Ok((false, false));
            }
            Some("end") => {
                let mut turn = turn_info(raw).map_err(|detail| dead(DeadReason::BadField, detail))?;
                let Some(info) = turn.as_mut() else {
                    return Err(dead(DeadReason::BadField, "an end record needs field `conversation`".into()));
                };
                (info.role, info.end) = (Role::Bot, true);
                let ts_ms = raw.ts_ms.unwrap_or(now_ms).min(now_ms + self.max_future_ms);
                let id = raw.id.take().map_or_else(|| format!("end-{}", info.conversation).into(), small_str);
                let (channel, category) = (SmolStr::new_static("chat"), SmolStr::new_static(OTHER));
                events.push(Event { id, ts_ms, channel, category, turn, ..Default::default() });
                return Ok((false, false));
            }
            Some(other) => {
                return Err(dead(
                    DeadReason::BadField,
                    format!("field `type`: `{other}` is not one of message, ticket, end"),
                ))
            }
        }
        let Some(text) = raw.text.take() else {
            return Err(dead(DeadReason::MissingText, "field `text` is required".into()));
        };
        let ts_ms = raw.ts_ms.unwrap_or(now_ms);
        if ts_ms > now_ms + self.max_future_ms {
            return Err(dead(
                DeadReason::TsInFuture,
                format!("ts {} is more than {} ms ahead of the wall clock", ts_ms, self.max_future_ms),
            ));
        }
        let turn = turn_info(raw).map_err(|detail| dead(DeadReason::BadField, detail))?;
        let cleaned = self.cleaner.clean(&text).map_err(|(reason, detail)| dead(reason, detail))?;
        let channel = raw.channel.take().map_or_else(|| SmolStr::new_static("unknown"), small_str);
        let upstream_category = label(raw.category.take());
        let enriching = self.enricher.is_some();
        let (needs_category, needs_sentiment) =
            (enriching && upstream_category.is_none(), enriching && raw.sentiment.is_none());
        let id = match raw.id.take() {
            Some(id) if !id.is_empty() => small_str(id),
            _ => content_id(ts_ms, &channel, &cleaned.text).into(),
        };
        events.push(Event {
            id,
            ts_ms,
            channel,
            campaign: label(raw.campaign.take()),
            business: label(raw.business.take()),
            category: upstream_category.unwrap_or_else(|| SmolStr::new_static(OTHER)),
            sentiment_milli: (raw.sentiment.unwrap_or(0.0) * 1000.0).round() as i32,
            text: cleaned.text,
            truncated: cleaned.truncated,
            risk: None,
            embedding: Embedding::default(),
            meta: raw.meta.take().map(|m| serde_json::Value::Object(*m).to_string()),
            turn,
            ticket: None,
        });
        Ok((needs_category, needs_sentiment))
    }

    /// A `type: ticket` record as an event with no text; an error (the dead letter's detail)
    /// without `ticket` or a known `status`, with conversation fields, or too far ahead.
    fn ticket_event(&self, raw: &mut RawEvent<'_>, now_ms: i64) -> Result<Event, (DeadReason, String)> {
        let bad = |detail: String| (DeadReason::BadField, detail);
        let ticket = label(raw.ticket.take()).ok_or_else(|| bad("a ticket event needs field `ticket`".into()))?;
        let status = match raw.status.take() {
            None => return Err(bad("a ticket event needs field `status`".into())),
            Some(s) => TicketStatus::parse(&s).ok_or_else(|| {
                bad(format!(
                    "field `status`: `{s}` is not one of opened, assigned, first_response, handed_off, resolved, reopened"
                ))
            })?,
        };
        if raw.conversation.is_some() || raw.role.is_some() {
            return Err(bad("fields `conversation` and `role` belong to messages, not ticket events".into()));
        }
        let ts_ms = raw.ts_ms.unwrap_or(now_ms);
        if ts_ms > now_ms + self.max_future_ms {
            let ahead = format!("ts {ts_ms} is more than {} ms ahead of the wall clock", self.max_future_ms);
            return Err((DeadReason::TsInFuture, ahead));
        }
        let id = match raw.id.take() {
            Some(id) if !id.is_empty() => small_str(id),
            _ => content_id(ts_ms, "ticket", &format!("{ticket}\u{0}{}", status.as_str())).into(),
        };
        let business = label(raw.business.take());
        let info = TicketEvent {
            ticket,
            id: id.clone(),
            ts_ms,
            seq: raw.seq.take().unwrap_or(0),
            status: Some(status),
            agent: label(raw.agent.take()),
            // From `meta` by ingest, which knows `[conversation] team_field`.
            team: None,
            business: business.clone(),
        };
        Ok(Event {
            id,
            ts_ms,
            channel: SmolStr::new_static("ticket"),
            business,
            category: SmolStr::new_static(OTHER),
            meta: raw.meta.take().map(|m| serde_json::Value::Object(*m).to_string()),
            ticket: Some(Box::new(info)),
            ..Default::default()
        })
    }
}

/// `ticket` and `status` on a message are not a ticket's: they stay in `meta`, as any field
/// feedpulse does not read.
fn keep_ticket_fields_in_meta(raw: &mut RawEvent<'_>) {
    for (name, value) in [("ticket", raw.ticket.take()), ("status", raw.status.take())] {
        if let Some(value) = value {
            raw.meta.get_or_insert_with(Default::default).insert(name.into(), value.into_owned().into());
        }
    }
}

/// A record's conversation fields as a [`TurnInfo`]: `None` without `conversation`; an error
/// (the dead letter's detail) for an unknown `role`, or for turn fields without a conversation.
fn turn_info(raw: &mut RawEvent<'_>) -> Result<Option<Box<TurnInfo>>, String> {
    let conversation = label(raw.conversation.take());
    let role = match raw.role.take() {
        None => None,
        Some(r) => {
            Some(Role::parse(&r).ok_or_else(|| format!("field `role`: `{r}` is not one of customer, agent, bot"))?)
        }
    };
    let (user, agent, seq) = (raw.user.take(), raw.agent.take(), raw.seq.take());
    let Some(conversation) = conversation else {
        if role.is_some() || agent.is_some() || seq.is_some() {
            return Err("fields `role`, `agent` and `seq` need a `conversation`".into());
        }
        return Ok(None);
    };
    Ok(Some(Box::new(TurnInfo {
        conversation,
        role: role.unwrap_or_default(),
        user: label(user),
        agent: label(agent),
        seq,
        end: false,
    })))
}

/// A label as given; empty is none.
fn label(value: Option<Cow<'_, str>>) -> Option<SmolStr> {
    value.filter(|v| !v.is_empty()).map(small_str)
}

/// Ids and labels are short: built inline here, with a copy the compiler can see, rather than
/// through `SmolStr::new`'s general path (an out-of-line call and a `memcpy` per string, four
/// strings per event).
fn small_str(text: Cow<'_, str>) -> SmolStr {
    if text.len() <= SmolStr::INLINE_CAP {
        SmolStr::new_inline(&text)
    } else {
        SmolStr::new(text)
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
    fn short_strings_inline_and_long_ones_not() {
        for len in [0, 1, 22, 23, 24, 100] {
            let text = "页x".repeat(len).chars().take(len).collect::<String>();
            let built = small_str(Cow::Borrowed(&text));
            assert_eq!(built, text);
            assert_eq!(built.is_heap_allocated(), text.len() > SmolStr::INLINE_CAP, "{len}");
        }
    }

    #[test]
    fn a_batch_keeps_each_record_in_its_place() {
        let a = Admission::new(&Config::embedded(), None);
        let lines: [&[u8]; 6] = [
            b"{oops",
            br#"{"id":"a","text":"one"}"#,
            br#"{"id":"b"}"#,
            br#"{"id":"c","text":"three"}"#,
            br#"{"id":"d","text":"four"}"#,
            b"[1]",
        ];
        let batch = a.admit_batch(&lines, NOW, "test");
        let ids: Vec<&str> = batch.events.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["a", "c", "d"]);
        let dead: Vec<(usize, DeadReason)> = batch.dead.iter().map(|(i, d)| (*i, d.reason)).collect();
        assert_eq!(dead, [(0, DeadReason::MalformedJson), (2, DeadReason::MissingText), (5, DeadReason::NotAnObject)]);
        let outcomes: Vec<String> = batch
            .into_results()
            .into_iter()
            .map(|r| r.map_or_else(|d| format!("{:?}", d.reason), |e| e.id.to_string()))
            .collect();
        assert_eq!(outcomes, ["MalformedJson", "a", "MissingText", "c", "d", "NotAnObject"]);
        assert!(AdmittedBatch::default().into_results().is_empty());
    }

    #[test]
    fn validation_finds_the_same_bad_records_without_running_the_models() {
        let a = Admission::new(&Config::embedded(), Some(&Arc::new(Models::fallback("test"))));
        let lines: [&[u8]; 3] = [b"{oops", r#"{"id":"a","text":"付款失败 扣了钱"}"#.as_bytes(), br#"{"id":"b"}"#];
        let (checked, admitted) = (a.validate_batch(&lines, NOW, "test"), a.admit_batch(&lines, NOW, "test"));
        let reasons = |b: &AdmittedBatch| b.dead.iter().map(|(i, d)| (*i, d.reason)).collect::<Vec<_>>();
        assert_eq!(reasons(&checked), reasons(&admitted));
        assert_eq!(checked.events.len(), 1);
        assert_eq!(admitted.events[0].category, "payment", "admission enriches");
        assert_ne!(checked.events[0].category, "payment", "validation does not");
        assert!(checked.events[0].embedding.0.is_empty());
    }

    #[test]
    fn admits_and_enriches() {
        let a = Admission::new(&Config::embedded(), Some(&Arc::new(Models::fallback("test"))));
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
        let a = Admission::new(&Config::embedded(), None);
        let ev = a.admit(br#"{"id":"x","text":"abc","category":"refund","sentiment":0.5}"#, NOW, "test").unwrap();
        assert_eq!((ev.category.as_str(), ev.sentiment_milli, ev.ts_ms), ("refund", 500, NOW));
        let ev = a.admit(r#"{"id":"y","text":"付款失败"}"#.as_bytes(), NOW, "test").unwrap();
        assert_eq!((ev.category.as_str(), ev.sentiment_milli), ("other", 0));
    }

    #[test]
    fn bad_records_become_dead_letters_with_reasons() {
        let a = Admission::new(&Config::embedded(), Some(&Arc::new(Models::fallback("test"))));
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
    fn ticket_events_need_no_text_and_bad_ones_say_why() {
        let a = Admission::new(&Config::embedded(), Some(&Arc::new(Models::fallback("test"))));
        let line = br#"{"type":"ticket","ticket":"T-7","status":"handed_off","agent":"a-1","business":"loan","ts":1700000000000,"seq":2}"#;
        let ev = a.admit(line, NOW, "test").unwrap();
        let t = ev.ticket.as_deref().expect("a ticket event");
        assert_eq!((t.ticket.as_str(), t.status(), t.seq), ("T-7", TicketStatus::HandedOff, 2));
        assert_eq!(
            (t.agent.as_deref(), t.business.as_deref(), t.ts_ms),
            (Some("a-1"), Some("loan"), 1_700_000_000_000)
        );
        assert!(ev.text.is_empty() && ev.embedding.is_empty() && ev.risk.is_none(), "never enriched");
        let with_meta =
            br#"{"type":"ticket","ticket":"T-8","status":"assigned","agent":"a-1","meta":{"team":"north"}}"#;
        let kept = a.admit(with_meta, NOW, "test").unwrap();
        assert_eq!(kept.meta.as_deref(), Some(r#"{"team":"north"}"#), "kept for ingest, which reads the team");
        assert_eq!(a.admit(line, NOW, "test").unwrap().id, ev.id, "content ids are stable");
        let dead = |line: &[u8]| {
            let d = a.admit(line, NOW, "test").unwrap_err();
            (d.reason, d.detail)
        };
        let (reason, detail) = dead(br#"{"type":"ticket","status":"opened"}"#);
        assert_eq!((reason, detail.as_str()), (DeadReason::BadField, "a ticket event needs field `ticket`"));
        assert!(dead(br#"{"type":"ticket","ticket":"T"}"#).1.contains("needs field `status`"));
        assert!(dead(br#"{"type":"ticket","ticket":"T","status":"closed"}"#).1.contains("`closed` is not one of"));
        assert!(dead(br#"{"type":"ticket","ticket":"T","status":"opened","role":"agent"}"#)
            .1
            .contains("belong to messages"));
        assert_eq!(
            dead(br#"{"type":"ticket","ticket":"T","status":"opened","ts":4102444800000}"#).0,
            DeadReason::TsInFuture
        );
        assert!(dead(br#"{"type":"call","text":"x"}"#).1.contains("`call` is not one of message, ticket"));
        let end = a.admit(br#"{"type":"end","conversation":"cv-9","ts":1700000000000}"#, NOW, "test").unwrap();
        let info = end.turn.as_deref().unwrap();
        assert!(info.end && info.role == Role::Bot && end.text.is_empty(), "{info:?}");
        assert!(dead(br#"{"type":"end"}"#).1.contains("needs field `conversation`"));
        // On a message, `ticket` and `status` are plain fields: kept in meta.
        let msg = a.admit(br#"{"text":"still waiting","ticket":"T-7","status":"vip"}"#, NOW, "test").unwrap();
        assert!(msg.ticket.is_none());
        assert_eq!(msg.meta.as_deref(), Some(r#"{"status":"vip","ticket":"T-7"}"#));
    }

    #[test]
    fn dead_letters_carry_masked_payloads() {
        let a = Admission::new(&Config::embedded(), Some(&Arc::new(Models::fallback("test"))));
        let broken = "{\"text\": \"call me on 13812345678 or a@b.cn\"".as_bytes();
        let dl = a.admit(broken, NOW, "test").unwrap_err();
        assert_eq!(dl.reason, DeadReason::MalformedJson);
        assert!(!dl.raw.contains("13812345678") && !dl.raw.contains("a@b.cn"), "{}", dl.raw);
        assert!(dl.raw.contains("<PHONE>") && dl.raw.contains("<EMAIL>"), "{}", dl.raw);
        let future = "{\"text\": \"13812345678\", \"ts\": 4102444800000}".as_bytes();
        assert!(!a.admit(future, NOW, "test").unwrap_err().raw.contains("13812345678"));
    }

    #[test]
    fn scopes_fill_business_and_campaign_count_in_metrics_and_reload() {
        let scope = |text: &str| toml::from_str::<crate::config::ScopeConfig>(text).unwrap();
        let mut config = Config::embedded();
        config.scopes = vec![scope("name = \"live\"\ndimension = \"business\"\nkeywords = [\"主播\"]")];
        let metrics = Arc::new(Metrics::default());
        let a = Admission::new(&config, Some(&Arc::new(Models::fallback("test")))).timed(metrics.clone());
        let lines: [&[u8]; 3] = [
            "{\"id\":\"m1\",\"text\":\"给主播刷的礼物没到账\"}".as_bytes(),
            "{\"id\":\"m2\",\"text\":\"主播不见了\",\"business\":\"ads\"}".as_bytes(),
            "{\"id\":\"m3\",\"text\":\"退款\"}".as_bytes(),
        ];
        let events = a.admit_batch(&lines, NOW, "test").events;
        let business: Vec<_> = events.iter().map(|e| e.business.as_deref()).collect();
        assert_eq!(business, vec![Some("live"), Some("ads"), None], "upstream wins; no match leaves it empty");
        assert_eq!(metrics.scope_matches().get(&("business", "live".to_string())), Some(&1));
        assert!(metrics.render().contains("feedpulse_scope_matches_total{dimension=\"business\",scope=\"live\"} 1\n"));
        // A reload adds a campaign scope; messages admitted from then on get it.
        config.scopes.push(scope("name = \"d11\"\ndimension = \"campaign\"\nkeywords = [\"退款\"]"));
        a.reconfigure(&config);
        let events = a.admit_batch(&lines[2..], NOW, "test").events;
        assert_eq!(events[0].campaign.as_deref(), Some("d11"));
    }

    #[test]
    fn labels_need_enrichment_a_known_category_and_a_recent_message() {
        let off = Admission::new(&Config::embedded(), None);
        assert_eq!(off.label("x", "ads"), Err(LabelError::EnrichmentOff));
        let a = Admission::new(&Config::embedded(), Some(&Arc::new(Models::fallback("test"))));
        a.admit(br#"{"id":"m1","text":"push notifications all day"}"#, NOW, "test").unwrap();
        assert!(
            matches!(a.label("m1", "nonsense"), Err(LabelError::UnknownCategory(names)) if names.contains(&"ads".to_string()))
        );
        assert_eq!(a.label("m2", "ads"), Err(LabelError::UnknownMessage));
        assert_eq!(a.label("m1", "ads"), Ok(5));
        assert_eq!(a.label("m1", "ads"), Ok(6), "each correction is one more example");
    }

    #[test]
    fn recent_texts_keep_the_latest_and_forget_the_oldest() {
        let mut r = RecentTexts::default();
        for i in 0..RECENT_TEXTS + 10 {
            r.insert(&format!("id{i}"), "t");
        }
        assert_eq!(r.by_id.len(), RECENT_TEXTS);
        assert!(!r.by_id.contains_key("id0") && r.by_id.contains_key(&format!("id{}", RECENT_TEXTS + 9)));
        r.insert("long", &"字".repeat(2000));
        assert_eq!(r.by_id["long"].chars().count(), 512);
    }
}
