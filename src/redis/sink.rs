//! Alerts, dead letters and rolling window aggregates to Redis, under the key schema in the
//! README (§ Redis). The dataflow only hands things over; one thread writes them in pipelines,
//! reconnecting with backoff. A full queue drops and counts, never blocking the dataflow.
//!
//! Window aggregates are written at checkpoints (see [`WindowSink::checkpoint`]): the latest
//! value of every window changed since the last one, in one MULTI/EXEC with the XACK of the
//! stream entries they count. The hashes are therefore a consistent state to restart from
//! ([`RedisSink::load_saved`]), and a checkpoint that cannot be written is put back whole for
//! the next one rather than lost.

use super::acks::{xack, AckLedger};
use super::daily::{Daily, HOUR_S};
use super::keyspace::{glob_escape, scan};
use super::resp::{cmd, Command, Connection, Reply};
use crate::alerts::Alert;
use crate::config::{Config, Dimension, Key, RedisConfig};
use crate::dataflow::clusters::{ClusterSnapshot, ClusterUpdate};
use crate::event::{DeadLetter, TicketEvent};
use crate::records::conversation::Turn;
use crate::records::window::{Agg, Series, WindowKey};
use crate::sinks::outbox::{Envelope, Outbox, Refused};
use crate::sinks::{AlertSink, ClusterSink, DeadLetterSink, WindowSink};
use crate::telemetry::events::{InternalEvent, SinkFailed, SinkShed};
use crate::telemetry::Metrics;
use crate::util::backoff::Backoff;
use std::collections::{BTreeSet, HashMap};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod load;

/// Commands written in one pipeline at most.
const PIPELINE: usize = 1024;
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

enum Job {
    Write(Vec<Command>),
    Checkpoint(Box<Checkpoint>),
}

/// One checkpoint's transaction, and what it carries in case it has to be put back.
struct Checkpoint {
    commands: Vec<Command>,
    windows: Vec<(WindowKey, Agg, u64)>,
    acks: Vec<Vec<u8>>,
    logged: Logged,
    generation: u64,
}

/// What a checkpoint appends to the logs a restart folds again (`state_log`): the ticket events
/// and conversation turns accepted since the last one, in order.
#[derive(Default)]
struct Logged {
    tickets: Vec<TicketEvent>,
    turns: Vec<Turn>,
}

impl Logged {
    fn is_empty(&self) -> bool {
        self.tickets.is_empty() && self.turns.is_empty()
    }
}

/// What the next checkpoint writes; shared with the writer, which puts back a failed one.
#[derive(Default)]
struct Dirty {
    /// The latest aggregate of every window changed since the last checkpoint, with a sequence
    /// number so that putting back an older value never replaces a newer one.
    windows: Mutex<DirtyWindows>,
    acks: AckLedger,
    logged: Mutex<Logged>,
    /// The latest event clock given, saved with every checkpoint (`{prefix}clock`).
    clock: std::sync::atomic::AtomicI64,
    /// Bumped when a checkpoint fails. A checkpoint cut before that is put back unwritten too:
    /// its window values include the failed one's entries, whose XACK has not been written.
    generation: std::sync::atomic::AtomicU64,
}

/// The last sequence number given, and each dirty window's aggregate and sequence number.
type DirtyWindows = (u64, HashMap<WindowKey, (Agg, u64)>);

impl Dirty {
    fn give(&self, key: &WindowKey, agg: &Agg) {
        let mut dirty = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        dirty.0 += 1;
        let seq = dirty.0;
        dirty.1.insert(key.clone(), (*agg, seq));
    }

    fn take(&self) -> Vec<(WindowKey, Agg, u64)> {
        let mut dirty = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::take(&mut dirty.1).into_iter().map(|(k, (a, seq))| (k, a, seq)).collect()
    }

    fn put_back(&self, checkpoint: Checkpoint) {
        let mut dirty = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        for (key, agg, seq) in checkpoint.windows {
            let slot = dirty.1.entry(key).or_insert((agg, seq));
            if slot.1 < seq {
                *slot = (agg, seq);
            }
        }
        self.acks.put_back(checkpoint.acks);
        // Put back ahead of what came since, so the logs keep their order.
        let mut logged = self.logged.lock().unwrap_or_else(|e| e.into_inner());
        logged.tickets.splice(0..0, checkpoint.logged.tickets);
        logged.turns.splice(0..0, checkpoint.logged.turns);
    }

    fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }
}

pub struct RedisSink {
    prefix: String,
    stream_maxlen: String,
    alert_state_ttl_s: String,
    /// Retention (s) of each window size, for the aggregate hashes' TTLs and trimming.
    retention_s: HashMap<u32, i64>,
    /// The window size whose latest window `{prefix}sentiment:{campaign}` shows (the largest).
    sentiment_window_s: u32,
    /// Per aggregate hash: window starts written and not yet trimmed.
    written: Mutex<HashMap<String, BTreeSet<i64>>>,
    /// Per campaign: the latest window start shown in its sentiment hash.
    latest_sentiment: Mutex<HashMap<String, i64>>,
    /// The local days of `{prefix}daily:…`: each series' hour windows by local day, summed into
    /// the day's hash whenever one of its hours changes.
    daily: Mutex<Daily>,
    /// TTL of cluster keys: the clusters' idle expiry (a day without clustering).
    cluster_ttl_s: i64,
    /// Window size (s) by its name in keys (`1m` → 60).
    window_sizes: HashMap<String, u32>,
    /// `XACK` target: the consumed stream and its group.
    stream: String,
    group: String,
    dirty: Arc<Dirty>,
    /// How long the ticket log keeps an entry: the longer of `[tickets] idle` and the KPI
    /// windows' retention.
    ticket_log_keep_ms: i64,
    /// How long the turn log keeps an entry: `[conversation] idle`.
    turn_log_keep_ms: i64,
    outbox: Outbox<Job>,
    metrics: Arc<Metrics>,
}

/// What a previous run left in Redis to continue from.
#[derive(Debug, Default)]
pub struct SavedState {
    pub windows: Vec<(WindowKey, Agg)>,
    /// The last state of every alert still kept (firing, or resolved and cooling down).
    pub alerts: Vec<Alert>,
    /// The ticket log and the turn log, oldest first.
    pub tickets: Vec<TicketEvent>,
    pub turns: Vec<Turn>,
    /// The event clock the last checkpoint saved.
    pub clock_ms: Option<i64>,
}

impl RedisSink {
    /// Starts the writer thread. Connection failures are retried in the background.
    pub fn start(config: &Config, redis: &RedisConfig, metrics: Arc<Metrics>) -> Arc<RedisSink> {
        let redis_config = redis.clone();
        let (writer_metrics, dirty) = (metrics.clone(), Arc::new(Dirty::default()));
        let writer_dirty = dirty.clone();
        let outbox = Outbox::start("redis-sink".into(), "redis", redis.queue, metrics.clone(), move |jobs| {
            write_loop(&redis_config, jobs, &writer_dirty, &writer_metrics)
        })
        .expect("spawn the redis writer");
        Arc::new(RedisSink {
            prefix: redis.prefix.clone(),
            stream_maxlen: redis.stream_maxlen.to_string(),
            alert_state_ttl_s: (redis.alert_state_ttl.as_ms() / 1000).max(1).to_string(),
            retention_s: config
                .windows
                .iter()
                .map(|w| (w.size.as_secs(), (w.retention.as_ms() / 1000).max(1)))
                .collect(),
            // The window the campaign sentiment rule judges; without one, the longest.
            sentiment_window_s: config
                .rules
                .iter()
                .find(|r| {
                    matches!(r.kind, crate::config::RuleKind::SentimentDip(_))
                        && r.watch().is_some_and(|w| w.key.is(Dimension::Campaign))
                })
                .map(|r| r.window.as_secs())
                .or_else(|| config.windows.iter().map(|w| w.size.as_secs()).max())
                .unwrap_or(60),
            written: Mutex::new(HashMap::new()),
            latest_sentiment: Mutex::new(HashMap::new()),
            daily: Mutex::new(Daily::new(config.calendar.clone())),
            cluster_ttl_s: config.cluster.as_ref().map_or(86_400, |c| (c.idle_expiry.as_ms() / 1000).max(1)),
            window_sizes: config
                .windows
                .iter()
                .map(|w| {
                    let size_s = w.size.as_secs();
                    (window_name(size_s), size_s)
                })
                .collect(),
            stream: redis.stream_key(),
            group: redis.group.clone(),
            dirty,
            ticket_log_keep_ms: config
                .windows
                .iter()
                .map(|w| w.retention.as_ms())
                .fold(config.tickets.idle.as_ms(), i64::max),
            turn_log_keep_ms: config.conversation.idle.as_ms(),
            outbox,
            metrics,
        })
    }

    /// Where the Redis source leaves the ids of what it hands on, for checkpoints to acknowledge.
    pub fn acks(&self) -> AckLedger {
        self.dirty.acks.clone()
    }

    /// Waits (up to 10 s) until everything queued so far has been written or given up on.
    pub fn drain(&self) {
        self.outbox.flush(Duration::from_secs(10));
    }

    pub(super) fn send(&self, commands: Vec<Command>) {
        self.outbox.push(Job::Write(commands));
    }

    /// `MAXLEN ~` of the streams it writes.
    pub(super) fn stream_maxlen(&self) -> &str {
        &self.stream_maxlen
    }

    pub fn key(&self, rest: &str) -> String {
        format!("{}{rest}", self.prefix)
    }

    /// `{prefix}agg:{window}:{key}:{value}` for a window key (`fp:agg:1h:business|category:live|payment`).
    pub fn aggregate_key(&self, key: &WindowKey) -> String {
        format!("{}agg:{}:{}:{}", self.prefix, window_name(key.size_s), key.series.key, key.series.value)
    }
}

/// `60` → `1m`, `300` → `5m`, `3600` → `1h`: the names the configuration uses.
pub fn window_name(size_s: u32) -> String {
    crate::config::HumanDuration(Duration::from_secs(size_s as u64)).to_string()
}

impl AlertSink for RedisSink {
    fn deliver(&self, alert: &Alert) {
        let json = serde_json::to_string(alert).expect("alerts serialise");
        let state = self.key(&format!("alert:{}", alert.fingerprint));
        let rule = alert.rule_name().to_owned();
        let mut commands: Vec<Command> =
            super::handoff::entry(&self.key("handoff"), &self.stream_maxlen, alert, &json).into_iter().collect();
        commands.extend([
            cmd([
                "XADD",
                &self.key("alerts"),
                "MAXLEN",
                "~",
                &self.stream_maxlen,
                "*",
                "fingerprint",
                &alert.fingerprint,
                "status",
                alert.status.as_str(),
                "rule",
                &rule,
                "alert",
                &json,
            ]),
            cmd([
                "HSET",
                &state,
                "status",
                alert.status.as_str(),
                "rule",
                &rule,
                "starts_at",
                &alert.starts_at.to_string(),
                "ends_at",
                &alert.ends_at.map_or(String::new(), |t| t.to_string()),
                "alert",
                &json,
            ]),
            cmd(["EXPIRE", &state, &self.alert_state_ttl_s]),
        ]);
        self.send(commands);
    }

    fn flush(&self) {
        self.drain();
    }
}

impl DeadLetterSink for RedisSink {
    fn deliver(&self, dead: &DeadLetter) {
        let reason =
            serde_json::to_value(dead.reason).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
        self.send(vec![cmd([
            "XADD",
            &self.key("deadletter"),
            "MAXLEN",
            "~",
            &self.stream_maxlen,
            "*",
            "reason",
            &reason,
            "detail",
            &dead.detail,
            "source",
            &dead.source,
            "raw",
            &dead.raw,
        ])]);
    }

    fn flush(&self) {
        self.drain();
    }
}

impl RedisSink {
    /// The commands writing one window's aggregate: its hash field, the hash's TTL, the fields
    /// of windows past retention, and for a campaign's latest large window its sentiment hash.
    fn window_commands(&self, key: &WindowKey, agg: &Agg, commands: &mut Vec<Command>) {
        let hash = self.aggregate_key(key);
        let retention = self.retention_of(key.size_s);
        commands.push(cmd(["HSET", &hash, &key.start_s.to_string(), &aggregate_value(agg)]));
        commands.push(cmd(["EXPIRE", &hash, &(retention + key.size_s as i64).to_string()]));
        // Fields of windows past their retention go, so a busy hash stays bounded too.
        let expired = self.note_written(&hash, key.start_s, retention);
        if !expired.is_empty() {
            let mut hdel = cmd(["HDEL", &hash]);
            hdel.extend(expired.iter().map(|s| s.to_string().into_bytes()));
            commands.push(hdel);
        }
        if key.size_s == HOUR_S {
            commands.extend(self.daily.lock().expect("daily sums").commands(&self.prefix, key, agg, retention));
        }
        if self.note_sentiment_window(key) {
            let hash = self.key(&format!("sentiment:{}", key.series.value));
            commands.push(cmd([
                "HSET",
                &hash,
                "window",
                &window_name(key.size_s),
                "window_start",
                &key.start_s.to_string(),
                "count",
                &agg.count.to_string(),
                "mean",
                &format!("{:.3}", agg.sentiment_mean()),
                "negative_share",
                &format!("{:.3}", agg.negative_share()),
            ]));
            commands.push(cmd(["EXPIRE", &hash, &retention.to_string()]));
        }
    }

    /// The retention (s) of windows of `size_s` (a day for a size not configured).
    pub(super) fn retention_of(&self, size_s: u32) -> i64 {
        self.retention_s.get(&size_s).copied().unwrap_or(86_400)
    }

    /// Records a window of a campaign's sentiment hash size; true when it is (still) the latest,
    /// which `{prefix}sentiment:{campaign}` shows.
    fn note_sentiment_window(&self, key: &WindowKey) -> bool {
        if !key.series.is(Dimension::Campaign) || key.size_s != self.sentiment_window_s {
            return false;
        }
        let mut latest = self.latest_sentiment.lock().expect("latest sentiment");
        let shown = latest.entry(key.series.value.to_string()).or_insert(i64::MIN);
        let newest = key.start_s >= *shown;
        *shown = (*shown).max(key.start_s);
        newest
    }

    /// Records that `hash` holds the window at `start_s`; returns the starts now past retention.
    pub(super) fn note_written(&self, hash: &str, start_s: i64, retention_s: i64) -> Vec<i64> {
        let mut written = self.written.lock().expect("written windows");
        let starts = written.entry(hash.to_owned()).or_default();
        starts.insert(start_s);
        let newest = *starts.last().expect("just inserted");
        let keep = starts.split_off(&(newest - retention_s));
        std::mem::replace(starts, keep).into_iter().collect()
    }
}

impl WindowSink for RedisSink {
    fn window(&self, key: &WindowKey, agg: &Agg) {
        self.dirty.give(key, agg);
    }

    fn ticket(&self, event: &TicketEvent) {
        self.dirty.logged.lock().unwrap_or_else(|e| e.into_inner()).tickets.push(event.clone());
    }

    fn clock(&self, ms: i64) {
        self.dirty.clock.fetch_max(ms, std::sync::atomic::Ordering::AcqRel);
    }

    fn turn(&self, turn: &Turn) {
        self.dirty.logged.lock().unwrap_or_else(|e| e.into_inner()).turns.push(turn.clone());
    }

    fn checkpoint(&self, absorbed_through: u64) {
        let generation = self.dirty.generation();
        let windows = self.dirty.take();
        let acks = self.dirty.acks.take_through(absorbed_through);
        let logged = std::mem::take(&mut *self.dirty.logged.lock().unwrap_or_else(|e| e.into_inner()));
        if windows.is_empty() && acks.is_empty() && logged.is_empty() {
            return;
        }
        let mut commands = vec![cmd(["MULTI"])];
        for (key, agg, _) in &windows {
            self.window_commands(key, agg, &mut commands);
        }
        let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
        let clock = self.dirty.clock.load(std::sync::atomic::Ordering::Acquire);
        if clock > i64::MIN {
            commands.push(cmd(["SET", &self.key("clock"), &clock.to_string()]));
        }
        let (ticket_log, turn_log) = (self.key("tickets"), self.key("turns"));
        let now_ms = now_ms as i64;
        commands.extend(super::state_log::append(&ticket_log, &logged.tickets, self.ticket_log_keep_ms, now_ms));
        commands.extend(super::state_log::append(&turn_log, &logged.turns, self.turn_log_keep_ms, now_ms));
        if !acks.is_empty() {
            commands.push(xack(&self.stream, &self.group, &acks));
        }
        commands.push(cmd(["EXEC"]));
        let checkpoint = Checkpoint { commands, windows, acks, logged, generation };
        if let Err(Refused::Full(job) | Refused::Stopped(job)) =
            self.outbox.try_push(Job::Checkpoint(Box::new(checkpoint)))
        {
            // Nothing is lost: the next checkpoint writes these windows and acknowledgements.
            SinkShed { sink: "redis", kind: "checkpoint_deferred" }.emit(&self.metrics);
            if let Job::Checkpoint(c) = job {
                self.dirty.put_back(*c);
            }
        }
    }
}

/// Why the saved state could not be read back from Redis.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("cannot connect to redis at {addr}: {source}")]
    Connect { addr: String, source: std::io::Error },
    #[error("{command}: {source}")]
    Command { command: String, source: std::io::Error },
    #[error("{0}")]
    Invalid(String),
}

/// A window aggregate as its hash field holds it: `count,neg_count,sentiment_sum,sentiment_sq_sum`
/// (sentiment to 3 decimals, its square to 6: exact, so a restart restores the same state).
pub fn aggregate_value(agg: &Agg) -> String {
    format!("{},{},{:.3},{:.6}", agg.count, agg.neg, agg.sent_sum as f64 / 1e3, agg.sent_sq as f64 / 1e6)
}

/// Reads [`aggregate_value`] back.
pub fn parse_aggregate(text: &str) -> Option<Agg> {
    let mut parts = text.split(',');
    let count = parts.next()?.parse().ok()?;
    let neg = parts.next()?.parse().ok()?;
    let sent_sum = (parts.next()?.parse::<f64>().ok()? * 1e3).round() as i64;
    let sent_sq = (parts.next()?.parse::<f64>().ok()? * 1e6).round() as i64;
    parts.next().is_none().then_some(Agg { count, neg, sent_sum, sent_sq })
}

/// `{prefix}clusters` (sorted set of established cluster ids by size), `{prefix}cluster:{id}`
/// (hash: size, scope, first/last seen, keywords, samples, sentiment mean, categories, channels;
/// TTL = the clusters' idle expiry) and `{prefix}cluster-state` (the JSON snapshot a restart
/// continues from, same TTL).
impl ClusterSink for RedisSink {
    fn clusters(&self, update: &ClusterUpdate) {
        let index = self.key("clusters");
        let ttl = self.cluster_ttl_s.to_string();
        let mut commands = Vec::new();
        for c in &update.summaries {
            let hash = self.key(&format!("cluster:{}", c.id));
            commands.push(cmd([
                "HSET",
                &hash,
                "size",
                &c.size.to_string(),
                "scope",
                &c.scope,
                "first_seen",
                &c.first_seen,
                "last_seen",
                &c.last_seen,
                "keywords",
                &json(&c.keywords),
                "samples",
                &json(&c.samples),
                "sentiment_mean",
                &format!("{:.3}", c.sentiment_mean),
                "categories",
                &json(&c.categories),
                "channels",
                &json(&c.channels),
                "alerted",
                if c.alerted { "1" } else { "0" },
            ]));
            commands.push(cmd(["EXPIRE", &hash, &ttl]));
            commands.push(cmd(["ZADD", &index, &c.size.to_string(), &c.id]));
        }
        for gone in update.merged.iter().map(|(from, _)| from).chain(&update.dropped) {
            commands.push(cmd(["ZREM", &index, gone]));
            commands.push(cmd(["DEL", &self.key(&format!("cluster:{gone}"))]));
        }
        if !commands.is_empty() {
            commands.push(cmd(["EXPIRE", &index, &ttl]));
        }
        if let Some(snapshot) = &update.snapshot {
            let text = serde_json::to_string(snapshot.as_ref()).expect("snapshots serialise");
            commands.push(cmd(["SET", &self.key("cluster-state"), &text, "EX", &ttl]));
        }
        if !commands.is_empty() {
            self.send(commands);
        }
    }
}

/// Compact JSON of a field value (keywords, samples, spans).
fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("plain values serialise")
}

impl RedisSink {}

/// The cluster snapshot a previous run left in Redis, if any (`{prefix}cluster-state`).
pub fn load_cluster_snapshot(redis: &RedisConfig) -> Result<Option<ClusterSnapshot>, RestoreError> {
    let mut connection = super::connect(redis, CONNECT_TIMEOUT)
        .map_err(|source| RestoreError::Connect { addr: redis.host_port(), source })?;
    let key = format!("{}cluster-state", redis.prefix);
    let reply = connection
        .call(cmd(["GET", &key]))
        .map_err(|source| RestoreError::Command { command: format!("GET {key}"), source })?;
    match reply.as_bytes() {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(bytes)
            .map(Some)
            .map_err(|e| RestoreError::Invalid(format!("{key} is not a cluster snapshot: {e}"))),
    }
}

/// The writer thread: pipelines queued commands, reconnecting with backoff (100 ms doubling to
/// 5 s). A batch that fails is retried on a fresh connection, then dropped and counted; the
/// checkpoints in it are put back for the next one instead.
fn write_loop(redis: &RedisConfig, jobs: Receiver<Envelope<Job>>, dirty: &Dirty, metrics: &Metrics) {
    let url = redis.host_port();
    let mut connection: Option<Connection> = None;
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
    loop {
        let first = match jobs.recv_timeout(Duration::from_secs(1)) {
            Ok(job) => job,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let mut batch: Vec<Command> = Vec::new();
        let mut checkpoints: Vec<Checkpoint> = Vec::new();
        // Where in `batch` each checkpoint's EXEC is: its reply says whether it applied.
        let mut execs: Vec<usize> = Vec::new();
        let mut flushes = Vec::new();
        let mut next = Some(first);
        while let Some(job) = next {
            match job {
                Envelope::Item(Job::Write(commands)) => batch.extend(commands),
                Envelope::Item(Job::Checkpoint(checkpoint)) if checkpoint.generation < dirty.generation() => {
                    dirty.put_back(*checkpoint);
                }
                Envelope::Item(Job::Checkpoint(mut checkpoint)) => {
                    batch.append(&mut checkpoint.commands);
                    execs.push(batch.len() - 1);
                    checkpoints.push(*checkpoint);
                }
                Envelope::Flush(done) => flushes.push(done),
            }
            next = if batch.len() < PIPELINE { jobs.try_recv().ok() } else { None };
        }
        let mut written = false;
        let mut attempts = 0;
        while !batch.is_empty() {
            attempts += 1;
            if connection.is_none() {
                match super::connect(redis, CONNECT_TIMEOUT) {
                    Ok(c) => {
                        connection = Some(c);
                        metrics.redis_answered();
                        backoff.reset();
                    }
                    Err(e) => {
                        let error = format!("cannot connect to redis at {url}: {e}");
                        metrics.redis_failed(error.clone());
                        SinkFailed { sink: "redis", kind: super::failure_kind(&e, "connect"), error: &error }
                            .emit(metrics);
                        backoff.wait();
                        // Keep the queue moving while Redis is away: give up on this batch
                        // after a few tries rather than stall every later write behind it.
                        if attempts >= 3 {
                            let error = format!("{} commands dropped after {attempts} tries", batch.len());
                            SinkFailed { sink: "redis", kind: "dropped", error: &error }.emit(metrics);
                            break;
                        }
                        continue;
                    }
                }
            }
            let conn = connection.as_mut().expect("connected above");
            match conn.pipeline(&batch) {
                Ok(replies) => {
                    // A transaction's commands answer inside EXEC's reply.
                    let nested = replies.iter().filter_map(Reply::as_array).flatten();
                    for reply in replies.iter().chain(nested) {
                        if let Reply::Error(e) = reply {
                            let error = format!("redis rejected a write: {e}");
                            SinkFailed { sink: "redis", kind: "command", error: &error }.emit(metrics);
                        }
                    }
                    put_back_aborted(&replies, &execs, &mut checkpoints, dirty, metrics);
                    written = true;
                    break;
                }
                Err(e) => {
                    let error = format!("redis write failed, reconnecting: {e}");
                    SinkFailed { sink: "redis", kind: "io", error: &error }.emit(metrics);
                    connection = None;
                    if attempts >= 3 {
                        let error = format!("{} commands dropped after {attempts} tries", batch.len());
                        SinkFailed { sink: "redis", kind: "dropped", error: &error }.emit(metrics);
                        break;
                    }
                }
            }
        }
        if !written && !checkpoints.is_empty() {
            for checkpoint in checkpoints {
                dirty.put_back(checkpoint);
            }
            dirty.generation.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

/// An aborted transaction (-EXECABORT after -OOM or -NOAUTH, or a nil EXEC) wrote nothing: it
/// and every later checkpoint of the batch go back (put back keeps the newest value of each
/// window), so the next checkpoint writes the newest values and acknowledgements once more.
fn put_back_aborted(
    replies: &[Reply],
    execs: &[usize],
    checkpoints: &mut Vec<Checkpoint>,
    dirty: &Dirty,
    metrics: &Metrics,
) {
    let applied = |at: &usize| matches!(replies.get(*at), Some(Reply::Array(Some(_))));
    let Some(failed) = execs.iter().position(|at| !applied(at)) else { return };
    let error = format!(
        "a checkpoint transaction was not applied ({}); {} checkpoint(s) kept for the next",
        exec_reply(replies.get(execs[failed])),
        checkpoints.len() - failed
    );
    SinkFailed { sink: "redis", kind: "transaction", error: &error }.emit(metrics);
    for checkpoint in checkpoints.drain(failed..) {
        dirty.put_back(checkpoint);
    }
    dirty.generation.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
}

/// What an EXEC answered, for the log.
fn exec_reply(reply: Option<&Reply>) -> String {
    match reply {
        Some(Reply::Error(e)) => e.clone(),
        Some(Reply::Array(None)) => "nil".into(),
        Some(other) => format!("{other:?}"),
        None => "no reply".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(start_s: i64) -> WindowKey {
        WindowKey { series: Series::new(Dimension::Overall, "all"), size_s: 60, start_s }
    }

    #[test]
    fn an_unreachable_redis_costs_counted_errors_and_keeps_checkpoints_for_later() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let config = Config::embedded();
        let metrics = Arc::new(Metrics::default());
        let redis = RedisConfig { queue: 4, ..RedisConfig::at(&format!("127.0.0.1:{port}")) };
        let sink = RedisSink::start(&config, &redis, metrics.clone());
        sink.acks().record(1, vec![b"1-0".to_vec()]);
        let started = std::time::Instant::now();
        for count in 1..=100 {
            sink.window(&key(0), &Agg { count, ..Default::default() });
            sink.checkpoint(count as u64);
        }
        assert!(started.elapsed() < Duration::from_secs(1), "writes never wait for Redis");
        sink.drain();
        assert!(metrics.sink_errors_total("redis") > 0);
        assert_eq!(sink.aggregate_key(&key(0)), "fp:agg:1m:overall:all");
        // Nothing was written, so nothing is lost: the latest value and the id wait for the
        // next checkpoint.
        let pending = sink.dirty.take();
        assert_eq!(pending.iter().map(|(k, a, _)| (k.start_s, a.count)).collect::<Vec<_>>(), vec![(0, 100)]);
        assert_eq!(sink.dirty.acks.take_through(0), vec![b"1-0".to_vec()]);
    }

    #[test]
    fn a_put_back_checkpoint_never_replaces_a_newer_value() {
        let dirty = Dirty::default();
        dirty.give(&key(0), &Agg { count: 1, ..Default::default() });
        let old = Checkpoint {
            commands: Vec::new(),
            windows: dirty.take(),
            acks: vec![b"1-0".to_vec()],
            logged: Logged::default(),
            generation: 0,
        };
        dirty.give(&key(0), &Agg { count: 2, ..Default::default() });
        dirty.give(&key(60), &Agg { count: 7, ..Default::default() });
        dirty.acks.record(2, vec![b"2-0".to_vec()]);
        dirty.put_back(old);
        let mut windows: Vec<_> = dirty.take().into_iter().map(|(k, a, _)| (k.start_s, a.count)).collect();
        windows.sort();
        assert_eq!(windows, vec![(0, 2), (60, 7)]);
        // The put-back ids come first and are taken by any checkpoint.
        assert_eq!(dirty.acks.take_through(2), vec![b"1-0".to_vec(), b"2-0".to_vec()]);
    }

    #[test]
    fn aggregates_round_trip_through_their_hash_fields() {
        let agg = Agg { count: 3, neg: 2, sent_sum: -1_234, sent_sq: 1_000_001 };
        assert_eq!(aggregate_value(&agg), "3,2,-1.234,1.000001");
        assert_eq!(parse_aggregate(&aggregate_value(&agg)), Some(agg));
        assert_eq!(parse_aggregate("3,2,-1.234"), None, "the sum of squares is needed to restore");
        assert_eq!(parse_aggregate("3,2,x,1"), None);
    }

    #[test]
    fn scan_patterns_match_the_prefix_literally() {
        assert_eq!(glob_escape("fp:agg:"), "fp:agg:");
        assert_eq!(glob_escape("a*b?[c]"), "a\\*b\\?\\[c\\]");
    }
}
