//! Alerts, dead letters and rolling window aggregates to Redis, under the key schema in the
//! README (§ Redis). The dataflow only enqueues commands; one thread writes them in pipelines,
//! reconnecting with backoff. A full queue drops and counts, never blocking the dataflow.

use super::resp::{cmd, Command, Connection, Reply};
use super::{AlertSink, ClusterSink, DeadLetterSink, WindowSink};
use crate::alerts::Alert;
use crate::config::{Config, RedisConfig};
use crate::dataflow::clusters::{ClusterSnapshot, ClusterUpdate};
use crate::dataflow::windows::{Agg, WindowKey};
use crate::event::DeadLetter;
use crate::telemetry::Metrics;
use std::collections::{BTreeSet, HashMap};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Commands written in one pipeline at most.
const PIPELINE: usize = 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

enum Job {
    Write(Vec<Command>),
    /// Answered once everything queued before it has been written (or given up on).
    Flush(std::sync::mpsc::Sender<()>),
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
    /// TTL of cluster keys: the clusters' idle expiry (a day without clustering).
    cluster_ttl_s: i64,
    queue: SyncSender<Job>,
    metrics: Arc<Metrics>,
}

impl RedisSink {
    /// Starts the writer thread. Connection failures are retried in the background.
    pub fn start(config: &Config, redis: &RedisConfig, metrics: Arc<Metrics>) -> Arc<RedisSink> {
        let (queue, jobs) = sync_channel(redis.queue);
        let url = redis.host_port().to_string();
        let writer_metrics = metrics.clone();
        std::thread::Builder::new()
            .name("redis-sink".into())
            .spawn(move || write_loop(&url, jobs, &writer_metrics))
            .expect("spawn the redis writer");
        Arc::new(RedisSink {
            prefix: redis.prefix.clone(),
            stream_maxlen: redis.stream_maxlen.to_string(),
            alert_state_ttl_s: (redis.alert_state_ttl.as_ms() / 1000).max(1).to_string(),
            retention_s: config
                .windows
                .iter()
                .map(|w| ((w.size.as_ms() / 1000) as u32, (w.retention.as_ms() / 1000).max(1)))
                .collect(),
            sentiment_window_s: config.windows.iter().map(|w| (w.size.as_ms() / 1000) as u32).max().unwrap_or(60),
            written: Mutex::new(HashMap::new()),
            latest_sentiment: Mutex::new(HashMap::new()),
            cluster_ttl_s: config.cluster.as_ref().map_or(86_400, |c| (c.idle_expiry.as_ms() / 1000).max(1)),
            queue,
            metrics,
        })
    }

    /// Waits (up to 10 s) until everything queued so far has been written or given up on.
    pub fn drain(&self) {
        let (done, wait) = std::sync::mpsc::channel();
        if self.queue.send(Job::Flush(done)).is_ok() {
            let _ = wait.recv_timeout(Duration::from_secs(10));
        }
    }

    fn send(&self, commands: Vec<Command>) {
        match self.queue.try_send(Job::Write(commands)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => self.metrics.sink_error("redis", "queue_full"),
            Err(TrySendError::Disconnected(_)) => self.metrics.sink_error("redis", "stopped"),
        }
    }

    pub fn key(&self, rest: &str) -> String {
        format!("{}{rest}", self.prefix)
    }

    /// `{prefix}agg:{window}:{dimension}:{value}` for a window key.
    pub fn aggregate_key(&self, key: &WindowKey) -> String {
        format!("{}agg:{}:{}:{}", self.prefix, window_name(key.size_s), key.series.dim.as_str(), key.series.value)
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
        let rule = alert.labels.get("rule").cloned().unwrap_or_default();
        self.send(vec![
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
                &alert.starts_at,
                "ends_at",
                alert.ends_at.as_deref().unwrap_or(""),
                "alert",
                &json,
            ]),
            cmd(["EXPIRE", &state, &self.alert_state_ttl_s]),
        ]);
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

impl WindowSink for RedisSink {
    fn window(&self, key: &WindowKey, agg: &Agg) {
        let hash = self.aggregate_key(key);
        let retention = self.retention_s.get(&key.size_s).copied().unwrap_or(86_400);
        let value = format!("{},{},{:.3}", agg.count, agg.neg, agg.sent_sum as f64 / 1000.0);
        let mut commands = vec![
            cmd(["HSET", &hash, &key.start_s.to_string(), &value]),
            cmd(["EXPIRE", &hash, &(retention + key.size_s as i64).to_string()]),
        ];
        // Fields of windows past their retention go, so a busy hash stays bounded too.
        let expired: Vec<i64> = {
            let mut written = self.written.lock().expect("written windows");
            let starts = written.entry(hash.clone()).or_default();
            starts.insert(key.start_s);
            let newest = *starts.last().expect("just inserted");
            let keep = starts.split_off(&(newest - retention));
            std::mem::replace(starts, keep).into_iter().collect()
        };
        if !expired.is_empty() {
            let mut hdel = cmd(["HDEL", &hash]);
            hdel.extend(expired.iter().map(|s| s.to_string().into_bytes()));
            commands.push(hdel);
        }
        if let (crate::config::Dimension::Campaign, true) = (key.series.dim, key.size_s == self.sentiment_window_s) {
            let mut latest = self.latest_sentiment.lock().expect("latest sentiment");
            let shown = latest.entry(key.series.value.clone()).or_insert(i64::MIN);
            if key.start_s >= *shown {
                *shown = key.start_s;
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
        self.send(commands);
    }
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

/// The cluster snapshot a previous run left in Redis, if any (`{prefix}cluster-state`).
pub fn load_cluster_snapshot(redis: &RedisConfig) -> Result<Option<ClusterSnapshot>, String> {
    let mut connection = Connection::open(redis.host_port(), CONNECT_TIMEOUT)
        .map_err(|e| format!("cannot connect to redis at {}: {e}", redis.host_port()))?;
    let key = format!("{}cluster-state", redis.prefix);
    let reply = connection.call(cmd(["GET", &key])).map_err(|e| format!("GET {key}: {e}"))?;
    match reply.as_bytes() {
        None => Ok(None),
        Some(bytes) => {
            serde_json::from_slice(bytes).map(Some).map_err(|e| format!("{key} is not a cluster snapshot: {e}"))
        }
    }
}

/// The writer thread: pipelines queued commands, reconnecting with backoff (100 ms doubling to
/// 5 s). A batch that fails is retried once on a fresh connection, then dropped and counted.
fn write_loop(url: &str, jobs: Receiver<Job>, metrics: &Metrics) {
    let mut connection: Option<Connection> = None;
    let mut backoff = Duration::from_millis(100);
    loop {
        let first = match jobs.recv_timeout(Duration::from_secs(1)) {
            Ok(job) => job,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let mut batch: Vec<Command> = Vec::new();
        let mut flushes = Vec::new();
        let mut next = Some(first);
        while let Some(job) = next {
            match job {
                Job::Write(commands) => batch.extend(commands),
                Job::Flush(done) => flushes.push(done),
            }
            next = if batch.len() < PIPELINE { jobs.try_recv().ok() } else { None };
        }
        let mut attempts = 0;
        while !batch.is_empty() {
            attempts += 1;
            if connection.is_none() {
                match Connection::open(url, CONNECT_TIMEOUT) {
                    Ok(c) => {
                        connection = Some(c);
                        backoff = Duration::from_millis(100);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, url, "cannot connect to redis; retrying");
                        metrics.sink_error("redis", "connect");
                        std::thread::sleep(backoff);
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                        // Keep the queue moving while Redis is away: give up on this batch
                        // after a few tries rather than stall every later write behind it.
                        if attempts >= 3 {
                            metrics.sink_error("redis", "dropped");
                            break;
                        }
                        continue;
                    }
                }
            }
            let conn = connection.as_mut().expect("connected above");
            match conn.pipeline(&batch) {
                Ok(replies) => {
                    for reply in replies {
                        if let Reply::Error(e) = reply {
                            tracing::warn!(error = %e, "redis rejected a write");
                            metrics.sink_error("redis", "command");
                        }
                    }
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "redis write failed; reconnecting");
                    metrics.sink_error("redis", "io");
                    connection = None;
                    if attempts >= 3 {
                        metrics.sink_error("redis", "dropped");
                        break;
                    }
                }
            }
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataflow::windows::Series;

    #[test]
    fn an_unreachable_redis_costs_counted_errors_not_a_stalled_dataflow() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let config = Config::embedded();
        let metrics = Arc::new(Metrics::default());
        let redis = RedisConfig { queue: 4, ..RedisConfig::at(&format!("127.0.0.1:{port}")) };
        let sink = RedisSink::start(&config, &redis, metrics.clone());
        let key = WindowKey { series: Series::new(crate::config::Dimension::Overall, "all"), size_s: 60, start_s: 0 };
        let started = std::time::Instant::now();
        for _ in 0..100 {
            sink.window(&key, &Agg { count: 1, ..Default::default() });
        }
        assert!(started.elapsed() < Duration::from_secs(1), "writes never wait for Redis");
        sink.drain();
        assert!(metrics.sink_errors_total("redis") > 0);
        assert_eq!(sink.aggregate_key(&key), "fp:agg:1m:overall:all");
    }
}
