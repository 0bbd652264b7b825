//! Feedback from a Redis stream (`fp:feedback`), read with a consumer group.
//!
//! Entries are not acknowledged here. Their ids go to an [`AckLedger`] under the number of the
//! feed batch that carried them; the Redis sink acknowledges them (XACK) in the same MULTI/EXEC
//! that writes the window aggregates of the ticks that absorbed that batch (its checkpoint).
//! Redis therefore always holds aggregates that count exactly the acknowledged entries, and
//! after a crash (`kill -9`) a restart continues from those aggregates and re-reads exactly the
//! entries that were not in them: its own pending entries first (from id 0), or another
//! consumer's through XAUTOCLAIM after `claim_idle`.
//!
//! An entry is either one field `json` holding an event object, or the event's fields
//! themselves (`XADD fp:feedback * text "…" channel app ts 1767225600000`).

use super::acks::AckLedger;
use super::resp::{cmd, Connection, Reply};
use crate::admit::Admission;
use crate::config::RedisConfig;
use crate::feed::FeedSender;
use crate::sinks::Fanout;
use crate::telemetry::events::{InternalEvent, SinkFailed};
use crate::telemetry::{Metrics, SourceKind};
use crate::util::backoff::Backoff;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Entries read per XREADGROUP / XAUTOCLAIM.
const READ_COUNT: &str = "1000";
/// How long one XREADGROUP blocks waiting for new entries.
const BLOCK_MS: &str = "200";

pub struct RedisSource {
    pub config: RedisConfig,
    pub feed: FeedSender,
    pub admission: Arc<Admission>,
    pub metrics: Arc<Metrics>,
    pub outputs: Fanout,
    /// Where the ids of entries handed on wait for the checkpoint that acknowledges them.
    pub acks: AckLedger,
    /// Set when the process stops.
    pub stopping: Arc<AtomicBool>,
}

/// A stream entry: its id and its field/value pairs.
type Entry = (Vec<u8>, Vec<(Vec<u8>, Vec<u8>)>);

impl RedisSource {
    pub fn spawn(self) -> std::thread::JoinHandle<()> {
        std::thread::Builder::new().name("redis-source".into()).spawn(move || self.run()).expect("spawn redis source")
    }

    fn run(self) {
        let consumer = self.config.consumer_name();
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        while !self.stopping.load(Ordering::Relaxed) {
            match self.session(&consumer) {
                Ok(()) => return,
                Err(e) => {
                    let error = format!("connection lost, retrying: {e}");
                    self.metrics.redis_failed(format!("redis source: {e}"));
                    SinkFailed { sink: "redis_source", kind: super::failure_kind(&e, "io"), error: &error }
                        .emit(&self.metrics);
                    backoff.wait();
                }
            }
        }
    }

    /// One connection's life: set up the group, re-read own pending entries, then read new
    /// ones, claiming stale entries of other consumers now and then.
    fn session(&self, consumer: &str) -> std::io::Result<()> {
        let mut conn = super::connect(&self.config, Duration::from_secs(2))?;
        self.metrics.redis_answered();
        let stream = self.config.stream_key();
        let group = &self.config.group;
        match conn.call(cmd(["XGROUP", "CREATE", &stream, group, "0", "MKSTREAM"]))? {
            Reply::Error(e) if !e.starts_with("BUSYGROUP") => {
                return Err(std::io::Error::other(format!("XGROUP CREATE {stream} {group}: {e}")));
            }
            _ => {}
        }
        // Unacknowledged entries of an earlier connection (or process) are pending on this
        // consumer and are read again from id 0; those still waiting in the ledger are skipped.
        // Where to read our own pending entries from (`None` once all were read).
        let mut own_pending: Option<Vec<u8>> = Some(b"0".to_vec());
        let mut last_claim = Instant::now() - Duration::from_secs(3600);
        let claim_every = Duration::from_millis((self.config.claim_idle.as_ms() as u64 / 2).clamp(100, 10_000));
        loop {
            // What was handed on is acknowledged by the dataflow's final checkpoint.
            if self.stopping.load(Ordering::Relaxed) {
                return Ok(());
            }
            let read_group = |conn: &mut Connection, from: &[u8], block: bool| -> std::io::Result<Vec<Entry>> {
                let mut command = cmd(["XREADGROUP", "GROUP", group, consumer, "COUNT", READ_COUNT]);
                if block {
                    command.extend(cmd(["BLOCK", BLOCK_MS]));
                }
                command.extend(cmd(["STREAMS".as_bytes(), stream.as_bytes(), from]));
                Ok(stream_entries(&conn.call(command)?))
            };
            let entries = if let Some(from) = own_pending.take() {
                let entries = read_group(&mut conn, &from, false)?;
                // A full page: more of our own pending entries follow the last one read.
                if entries.len() == READ_COUNT.parse::<usize>().unwrap_or(0) {
                    own_pending = entries.last().map(|(id, _)| id.clone());
                }
                entries
            } else if last_claim.elapsed() >= claim_every {
                last_claim = Instant::now();
                let idle = self.config.claim_idle.as_ms().to_string();
                let reply =
                    conn.call(cmd(["XAUTOCLAIM", &stream, group, consumer, &idle, "0-0", "COUNT", READ_COUNT]))?;
                // [next-id, [entries…], [deleted ids…]]
                reply.as_array().and_then(|parts| parts.get(1)).map(entries_of).unwrap_or_default()
            } else {
                read_group(&mut conn, b">", true)?
            };
            if !entries.is_empty() {
                self.absorb(entries);
            }
        }
    }

    /// Admits entries: events go to the dataflow, bad entries to the dead letters (retrying
    /// cannot help them). Either way their ids wait in the ledger for a checkpoint.
    fn absorb(&self, entries: Vec<Entry>) {
        let waiting = self.acks.waiting();
        let entries: Vec<_> = entries.into_iter().filter(|(id, _)| !waiting.contains(id)).collect();
        if entries.is_empty() {
            return;
        }
        self.metrics.received(SourceKind::Redis, entries.len() as u64);
        let now = chrono::Utc::now().timestamp_millis();
        let records: Vec<String> = entries.iter().map(|(_, fields)| entry_json(fields)).collect();
        let lines: Vec<&[u8]> = records.iter().map(|r| r.as_bytes()).collect();
        let admitted = self.admission.admit_batch(&lines, now, "redis");
        let (mut event_ids, mut dead_ids) = (Vec::with_capacity(admitted.events.len()), Vec::new());
        let mut dead = admitted.dead.iter().peekable();
        for (index, (id, _)) in entries.into_iter().enumerate() {
            match dead.next_if(|(at, _)| *at == index) {
                Some((_, letter)) => {
                    self.outputs.dead_letter(letter);
                    dead_ids.push(id);
                }
                None => event_ids.push(id),
            }
        }
        let events = admitted.events;
        // Dead letters were queued to the sinks before their ids reach the ledger, so they are
        // written before the checkpoint that acknowledges them.
        self.acks.record(self.feed.sent(), dead_ids);
        if !events.is_empty() {
            // The ids are in the ledger before the dataflow can absorb the batch.
            if self.feed.send_with(events, |batch| self.acks.record(batch, event_ids)).is_err() {
                // The dataflow is gone (shutting down): the entries stay pending for next time.
                self.stopping.store(true, Ordering::Relaxed);
            }
        }
    }
}

/// The entries of an XREADGROUP reply: `[[stream, [[id, [field, value, …]], …]]]`.
fn stream_entries(reply: &Reply) -> Vec<Entry> {
    let Some(streams) = reply.as_array() else { return Vec::new() };
    streams.iter().filter_map(|s| s.as_array()?.get(1).map(entries_of)).flatten().collect()
}

/// `[[id, [field, value, …]], …]` (entries deleted meanwhile have a nil field list).
fn entries_of(list: &Reply) -> Vec<Entry> {
    let Some(items) = list.as_array() else { return Vec::new() };
    items
        .iter()
        .filter_map(|entry| {
            let parts = entry.as_array()?;
            let id = parts.first()?.as_bytes()?.to_vec();
            let fields = parts
                .get(1)
                .and_then(Reply::as_array)
                .map(|f| {
                    f.chunks(2)
                        .filter_map(|p| Some((p.first()?.as_bytes()?.to_vec(), p.get(1)?.as_bytes()?.to_vec())))
                        .collect()
                })
                .unwrap_or_default();
            Some((id, fields))
        })
        .collect()
}

/// The event JSON of an entry: its `json` field, or an object of its fields (`ts` and
/// `sentiment` as numbers when they parse as such).
fn entry_json(fields: &[(Vec<u8>, Vec<u8>)]) -> String {
    if let Some((_, json)) = fields.iter().find(|(k, _)| k == b"json") {
        return String::from_utf8_lossy(json).into_owned();
    }
    let mut object = serde_json::Map::new();
    for (key, value) in fields {
        let key = String::from_utf8_lossy(key).into_owned();
        let text = String::from_utf8_lossy(value).into_owned();
        let value = match key.as_str() {
            "ts" | "sentiment" => text.parse::<f64>().ok().and_then(|n| {
                if key == "ts" {
                    Some(serde_json::Value::from(n as i64))
                } else {
                    serde_json::Number::from_f64(n).map(serde_json::Value::Number)
                }
            }),
            _ => None,
        }
        .unwrap_or(serde_json::Value::String(text));
        object.insert(key, value);
    }
    if object.is_empty() {
        // Nothing to admit: let admission name the problem (missing text).
        return "{}".into();
    }
    serde_json::Value::Object(object).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Reply {
        Reply::Bulk(Some(s.as_bytes().to_vec()))
    }

    #[test]
    fn entries_become_event_json() {
        let fields = vec![
            (b"text".to_vec(), "付款失败".as_bytes().to_vec()),
            (b"ts".to_vec(), b"1767225600000".to_vec()),
            (b"sentiment".to_vec(), b"-0.5".to_vec()),
            (b"channel".to_vec(), b"app".to_vec()),
        ];
        let json: serde_json::Value = serde_json::from_str(&entry_json(&fields)).unwrap();
        assert_eq!(json["ts"], 1767225600000i64);
        assert_eq!(json["sentiment"], -0.5);
        assert_eq!(json["text"], "付款失败");
        let whole = vec![(b"json".to_vec(), br#"{"text":"a"}"#.to_vec())];
        assert_eq!(entry_json(&whole), r#"{"text":"a"}"#);
        assert_eq!(entry_json(&[]), "{}");
    }

    #[test]
    fn xreadgroup_replies_parse() {
        let entry = Reply::Array(Some(vec![bulk("1-0"), Reply::Array(Some(vec![bulk("text"), bulk("hi")]))]));
        let deleted = Reply::Array(Some(vec![bulk("2-0"), Reply::Array(None)]));
        let reply = Reply::Array(Some(vec![Reply::Array(Some(vec![
            bulk("fp:feedback"),
            Reply::Array(Some(vec![entry, deleted])),
        ]))]));
        let entries = stream_entries(&reply);
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0], (b"1-0".to_vec(), vec![(b"text".to_vec(), b"hi".to_vec())]));
        assert!(entries[1].1.is_empty());
        assert!(stream_entries(&Reply::Array(None)).is_empty(), "BLOCK timed out");
    }
}
