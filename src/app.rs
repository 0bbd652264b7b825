//! The commands: wiring sources, the dataflow, sinks and the HTTP server together.

use crate::admit::{Admission, Admitted};
use crate::alerts::{Alert, AlertStatus};
use crate::config::{Config, ConfigSource};
use crate::dataflow::detect::LiveRules;
use crate::dataflow::restore::Restored;
use crate::dataflow::{self, RunStats, Startup};
use crate::enrich::Models;
use crate::feed::{Feed, FeedSender};
use crate::redis::sink::RedisSink;
use crate::redis::source::RedisSource;
use crate::server::{self, AppState};
use crate::sinks::alertmanager::AlertmanagerSink;
use crate::sinks::clusters::ClusterBoard;
use crate::sinks::dashboard::Dashboard;
use crate::sinks::deadletter::DeadLetters;
use crate::sinks::ndjson::NdjsonAlerts;
use crate::sinks::sse::AlertHub;
use crate::sinks::webhook::WebhookSink;
use crate::sinks::{AlertSink, Fanout};
use crate::sources::lines::{self, LineSourceOptions};
use crate::telemetry::{Metrics, SourceKind};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Prints a line to stdout, ignoring a closed pipe (`feedpulse run | head` must not panic).
macro_rules! say {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// Options every pipeline-running command shares.
pub struct PipelineOptions {
    pub config: Config,
    /// Where `config` came from: what a reload (`POST /v1/reload`, SIGHUP) reads again.
    pub source: ConfigSource,
    /// What enriches messages; `None` is `--no-enrich`.
    pub models: Option<Arc<Models>>,
    pub workers: usize,
    /// timely cluster arguments (`-n`, `-p`, `-h`), empty for a single process.
    pub cluster: Vec<String>,
}

fn dead_letter_sink(metrics: &Arc<Metrics>, path: Option<&PathBuf>) -> Result<DeadLetters, String> {
    let out: Option<Box<dyn std::io::Write + Send>> = match path {
        Some(p) => Some(Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).map_err(|e| format!("cannot create dead-letter file {}: {e}", p.display()))?,
        ))),
        None => None,
    };
    Ok(DeadLetters::new(metrics.clone(), out))
}

/// Where `replay` sends alerts.
pub enum AlertOutput {
    Stdout,
    File(PathBuf),
    Sink(Arc<dyn AlertSink>),
}

pub struct ReplayOptions {
    pub alerts: AlertOutput,
    pub dead_letters: Option<PathBuf>,
    pub batch_lines: usize,
    pub parse_threads: usize,
    pub progress: bool,
}

pub struct ReplayReport {
    pub stats: RunStats,
    pub metrics: Arc<Metrics>,
}

/// `feedpulse replay`: processes `input` as fast as possible; alerts go to stdout or a file.
pub fn replay(
    pipeline: &PipelineOptions,
    input: Box<dyn Read + Send>,
    kind: SourceKind,
    options: ReplayOptions,
) -> Result<ReplayReport, String> {
    let metrics = Arc::new(Metrics::default());
    let alerts: Arc<dyn AlertSink> = match options.alerts {
        AlertOutput::File(p) => {
            Arc::new(NdjsonAlerts::file(&p, false).map_err(|e| format!("cannot create {}: {e}", p.display()))?)
        }
        AlertOutput::Stdout => Arc::new(NdjsonAlerts::stdout(false)),
        AlertOutput::Sink(sink) => sink,
    };
    let (outputs, _) = fanout(vec![alerts], options.dead_letters.as_ref(), &pipeline.config, &metrics)?;
    let admission = Arc::new(Admission::new(&pipeline.config, pipeline.models.as_ref()).timed(metrics.clone()));
    let (rx, spent) = lines::spawn(
        input,
        LineSourceOptions {
            batch_lines: options.batch_lines.max(1),
            parse_threads: options.parse_threads,
            progress: options.progress,
            kind,
        },
        admission,
        metrics.clone(),
        outputs.clone(),
    );
    let stats = crate::topology::run(
        &pipeline.config,
        metrics.clone(),
        outputs,
        Feed::Batches(rx),
        pipeline.workers,
        pipeline.cluster.clone(),
        Startup {
            restore: Restored { clusters: restored_clusters(&pipeline.config), ..Default::default() },
            rules: LiveRules::new(&pipeline.config.rules),
            spent: Some(spent),
        },
    )
    .map_err(|e| e.to_string())?;
    Ok(ReplayReport { stats, metrics })
}

/// Peak resident set size of this process in bytes (Linux), if known.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Percentile (0..=100) of a list of durations.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

pub fn replay_stats_text(report: &ReplayReport) -> String {
    let s = &report.stats;
    let m = &report.metrics;
    let mut lat = s.tick_latencies.clone();
    lat.sort();
    let secs = s.elapsed.as_secs_f64().max(1e-9);
    let mut outbound = String::new();
    if m.webhook_deliveries_total() > 0 {
        outbound.push_str(&format!("\nwebhook deliveries {}", m.webhook_deliveries_total()));
    }
    let errors = m.sink_error_breakdown();
    if !errors.is_empty() {
        outbound.push_str(&format!("\nsink errors {errors}"));
    }
    format!(
        "records {}  accepted {}  duplicates {}  dead letters {}{}\n\
         elapsed {:.3} s  throughput {:.0} records/s  ticks {}\n\
         tick latency p50 {:.3} ms  p99 {:.3} ms  max {:.3} ms\n\
         peak RSS {:.1} MB{outbound}",
        m.received_total(),
        m.accepted_total(),
        m.duplicates_total(),
        m.dead_total(),
        m.dead_letter_breakdown(),
        secs,
        m.received_total() as f64 / secs,
        s.ticks,
        percentile(&lat, 50.0).as_secs_f64() * 1e3,
        percentile(&lat, 99.0).as_secs_f64() * 1e3,
        lat.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        peak_rss_bytes().unwrap_or(0) as f64 / 1e6,
    )
}

pub struct ServeOptions {
    pub listen: SocketAddr,
    /// When the address is taken, fall back to any free port (the demo) instead of failing.
    pub listen_fallback: bool,
    pub alerts_out: Option<PathBuf>,
    pub alerts_stdout: bool,
    pub dead_letters: Option<PathBuf>,
    pub demo: Option<DemoOptions>,
}

pub struct DemoOptions {
    pub speed: f64,
    pub seed: u64,
    /// Stop when the day is replayed instead of keeping the dashboard up until Ctrl-C.
    pub exit_when_done: bool,
}

/// Prints alerts for people (the demo), marking whether the window was still open.
struct ConsoleAlerts;

impl AlertSink for ConsoleAlerts {
    fn deliver(&self, a: &Alert) {
        let key: Vec<String> = ["cluster", "risk", "category", "channel", "campaign", "overall"]
            .iter()
            .filter_map(|k| a.labels.get(*k).map(|v| format!("{k}={v}")))
            .collect();
        let hhmmss = |s: &str| s.get(11..19).unwrap_or(s).to_string();
        match a.status {
            AlertStatus::Firing => {
                let open = if a.starts_at < a.window.end { "window still open" } else { "after window close" };
                say!(
                    "[{}] FIRING   {:<13} {:<22} window {}–{} ({open})\n           {}",
                    hhmmss(&a.starts_at),
                    a.rule,
                    key.join(","),
                    hhmmss(&a.window.start),
                    hhmmss(&a.window.end),
                    a.summary
                );
                if !a.explanation.keywords.is_empty() {
                    say!("           keywords: {}", a.explanation.keywords.join(" · "));
                }
                for s in &a.explanation.samples {
                    say!("           e.g. “{s}”");
                }
            }
            AlertStatus::Resolved => say!(
                "[{}] RESOLVED {:<13} {:<22} last anomalous window {}–{}",
                hhmmss(a.ends_at.as_deref().unwrap_or("")),
                a.rule,
                key.join(","),
                hhmmss(&a.window.start),
                hhmmss(&a.window.end)
            ),
        }
    }
}

/// Every output of a run: the given alert sinks, the dead-letter output (counted, and written
/// to `dead_letters` when given), and the outbound sinks the configuration names: Redis
/// (alerts, dead letters, window aggregates), Alertmanager and webhooks. The Redis sink is also
/// returned: a live pipeline restores from it and its Redis source acknowledges through it.
fn fanout(
    alerts: Vec<Arc<dyn AlertSink>>,
    dead_letters: Option<&PathBuf>,
    config: &Config,
    metrics: &Arc<Metrics>,
) -> Result<(Fanout, Option<Arc<RedisSink>>), String> {
    let mut outputs =
        Fanout { alerts, dead_letters: vec![Arc::new(dead_letter_sink(metrics, dead_letters)?)], ..Default::default() };
    let redis_sink = config.redis.as_ref().map(|redis| RedisSink::start(config, redis, metrics.clone()));
    if let Some(sink) = &redis_sink {
        outputs.alerts.push(sink.clone());
        outputs.dead_letters.push(sink.clone());
        outputs.windows.push(sink.clone());
        outputs.clusters.push(sink.clone());
    }
    if let Some(am) = &config.alertmanager {
        outputs.alerts.push(AlertmanagerSink::start(&am.url, am.resend.0, metrics.clone())?);
    }
    for hook in &config.webhooks {
        outputs.alerts.push(WebhookSink::start(hook, metrics.clone())?);
    }
    Ok((outputs, redis_sink))
}

/// Applies configuration changes to a running pipeline (`POST /v1/reload`, SIGHUP): the source
/// is read and validated again; an invalid configuration, or one that changes what only a
/// restart can change, is rejected whole and the running one kept. Otherwise the admission
/// rules (cleaning, masking, taxonomy, risk) and the alert rules are replaced; the dataflow's
/// windows, clusters and alert states stay.
pub struct Reloader {
    source: ConfigSource,
    current: std::sync::Mutex<Config>,
    admission: Arc<Admission>,
    rules: LiveRules,
    metrics: Arc<Metrics>,
}

/// Why a reload was refused.
#[derive(Debug)]
pub enum ReloadError {
    /// The new configuration has errors (each with file and line).
    Invalid(Vec<String>),
    /// It changes sections a running pipeline cannot change.
    NeedsRestart(Vec<&'static str>),
}

impl std::fmt::Display for ReloadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Invalid(errors) => write!(f, "the new configuration is invalid:\n  {}", errors.join("\n  ")),
            Self::NeedsRestart(sections) => write!(f, "{} can only change with a restart", sections.join(", ")),
        }
    }
}

impl Reloader {
    /// Reloads; answers with the sections that changed (empty: nothing did).
    pub fn reload(&self) -> Result<Vec<&'static str>, ReloadError> {
        let outcome = self.try_reload();
        self.metrics.config_reload(outcome.is_ok());
        outcome
    }

    fn try_reload(&self) -> Result<Vec<&'static str>, ReloadError> {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        let mut next = self
            .source
            .load()
            .map_err(|errors| ReloadError::Invalid(errors.0.iter().map(|e| e.to_string()).collect()))?;
        next.public_url = current.public_url.clone();
        let restart = current.restart_only_changes(&next);
        if !restart.is_empty() {
            return Err(ReloadError::NeedsRestart(restart));
        }
        let mut changed = Vec::new();
        if (&current.clean, &current.pii, &current.categories, &current.risks, &current.ingest.max_future)
            != (&next.clean, &next.pii, &next.categories, &next.risks, &next.ingest.max_future)
        {
            self.admission.reconfigure(&next);
            changed.push("admission (cleaning, PII masking, taxonomy, risk rules)");
        }
        if current.rules != next.rules {
            self.rules.publish(&next.rules);
            changed.push("alert rules");
        }
        *current = next;
        Ok(changed)
    }
}

/// The clusters a previous run left in Redis, so ids stay stable across a restart. Without
/// Redis, or when it cannot be read (said on stderr), clustering starts afresh.
fn restored_clusters(config: &Config) -> Option<dataflow::clusters::ClusterSnapshot> {
    let (redis, _) = (config.redis.as_ref()?, config.cluster.as_ref()?);
    match crate::redis::sink::load_cluster_snapshot(redis) {
        Ok(Some(snapshot)) => {
            say!("clusters: continuing from {} clusters saved in redis", snapshot.clusters.len());
            Some(snapshot)
        }
        Ok(None) => None,
        Err(e) => {
            eprintln!("clusters: starting afresh, the saved state could not be read: {e}");
            None
        }
    }
}

/// What `feedpulse run` continues from: the window aggregates, alert states and clusters a
/// previous run left in Redis. When Redis cannot be read the run starts afresh and says so.
fn restored_state(config: &Config, sink: &RedisSink) -> Restored {
    let Some(redis) = &config.redis else { return Restored::default() };
    let clusters = restored_clusters(config);
    match sink.load_saved(redis) {
        Ok(saved) => {
            if !saved.windows.is_empty() || !saved.alerts.is_empty() {
                let firing = saved.alerts.iter().filter(|a| a.status == crate::alerts::AlertStatus::Firing).count();
                say!(
                    "continuing from redis: {} window aggregates, {} alert states ({firing} firing)",
                    saved.windows.len(),
                    saved.alerts.len()
                );
            }
            Restored { clusters, windows: Arc::new(saved.windows), alerts: Arc::new(saved.alerts) }
        }
        Err(e) => {
            eprintln!("starting afresh, the state saved in redis could not be read: {e}");
            Restored { clusters, ..Default::default() }
        }
    }
}

/// `feedpulse run` and `feedpulse demo`: the live pipeline with the HTTP API.
pub fn serve(pipeline: PipelineOptions, options: ServeOptions) -> Result<(), String> {
    let metrics = Arc::new(Metrics::default());
    let hub = AlertHub::default();
    let mut alert_sinks: Vec<Arc<dyn AlertSink>> = vec![Arc::new(hub.clone())];
    if options.demo.is_some() {
        alert_sinks.push(Arc::new(ConsoleAlerts));
    } else if options.alerts_stdout {
        alert_sinks.push(Arc::new(NdjsonAlerts::stdout(true)));
    }
    if let Some(p) = &options.alerts_out {
        alert_sinks
            .push(Arc::new(NdjsonAlerts::file(p, true).map_err(|e| format!("cannot create {}: {e}", p.display()))?));
    }
    let admission = Arc::new(Admission::new(&pipeline.config, pipeline.models.as_ref()).timed(metrics.clone()));
    let models = admission.enrichment();
    let clusters = ClusterBoard::default();
    let dashboard = Dashboard::start(&pipeline.config, clusters.clone(), metrics.clone(), &models);
    alert_sinks.push(Arc::new(dashboard.clone()));
    let (mut outputs, redis_sink) = fanout(alert_sinks, options.dead_letters.as_ref(), &pipeline.config, &metrics)?;
    outputs.clusters.push(Arc::new(clusters.clone()));
    outputs.clusters.push(Arc::new(dashboard.clone()));
    outputs.windows.push(Arc::new(dashboard.clone()));
    outputs.judgements.push(Arc::new(dashboard.clone()));
    let (feed_tx, feed) = FeedSender::channel(1024);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let listener = runtime.block_on(async {
        match tokio::net::TcpListener::bind(options.listen).await {
            Ok(l) => Ok(l),
            Err(e) if options.listen_fallback => {
                let any = SocketAddr::new(options.listen.ip(), 0);
                eprintln!("{} is taken ({e}); using a free port instead", options.listen);
                tokio::net::TcpListener::bind(any).await.map_err(|e| format!("cannot listen on {any}: {e}"))
            }
            Err(e) => Err(format!("cannot listen on {}: {e}", options.listen)),
        }
    })?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let mut config = pipeline.config.clone();
    config.public_url = format!("http://{addr}");

    // Flipped when the server starts shutting down: open SSE streams end, so graceful shutdown
    // does not wait forever for clients that never disconnect.
    let (closing_tx, closing_rx) = tokio::sync::watch::channel(false);
    let live_rules = LiveRules::new(&config.rules);
    let reloader = Arc::new(Reloader {
        source: pipeline.source.clone(),
        current: std::sync::Mutex::new(config.clone()),
        admission: admission.clone(),
        rules: live_rules.clone(),
        metrics: metrics.clone(),
    });
    let state = Arc::new(AppState {
        admission: admission.clone(),
        feed: feed_tx.clone(),
        hub,
        clusters,
        dashboard,
        reloader: reloader.clone(),
        metrics: metrics.clone(),
        outputs: outputs.clone(),
        max_body_bytes: config.ingest.max_body_bytes,
        ready: AtomicBool::new(false),
        closing: closing_rx,
        models: models.clone(),
    });
    let app = server::router(state.clone());

    let (workers, cluster) = (pipeline.workers, pipeline.cluster.clone());
    let (df_config, df_metrics, df_outputs) = (config.clone(), metrics.clone(), outputs.clone());
    // The demo replays its own day; `run` continues where the last run against this Redis left.
    let restore = match (&redis_sink, options.demo.is_some()) {
        (Some(sink), false) => restored_state(&config, sink),
        _ => Restored { clusters: restored_clusters(&config), ..Default::default() },
    };
    for alert in restore.alerts.iter() {
        outputs.adopt(alert);
    }
    let startup = Startup { restore, rules: live_rules.clone(), spent: None };
    let dataflow_thread = std::thread::Builder::new()
        .name("fp-dataflow".into())
        .spawn(move || crate::topology::run(&df_config, df_metrics, df_outputs, feed, workers, cluster, startup))
        .map_err(|e| e.to_string())?;
    state.ready.store(true, Ordering::Relaxed);
    say!("feedpulse listening on http://{addr}  (POST /v1/events · GET /v1/alerts · GET /v1/alerts/stream · GET /metrics)");
    say!("enrichment: {models}");
    say!("dashboard: http://{addr}/");

    let shutdown = Arc::new(tokio::sync::Notify::new());
    // Set when the server stops (Ctrl-C, SIGTERM), so an unfinished demo stops feeding too.
    let stopping = Arc::new(AtomicBool::new(false));
    let demo_thread = options.demo.as_ref().map(|demo| {
        let (tx, admission, metrics, outputs, shutdown, stopping) =
            (feed_tx.clone(), admission.clone(), metrics.clone(), outputs.clone(), shutdown.clone(), stopping.clone());
        let (speed, seed, exit_when_done) = (demo.speed, demo.seed, demo.exit_when_done);
        std::thread::spawn(move || {
            play_demo(speed, seed, &tx, &admission, &metrics, &outputs, &stopping);
            if exit_when_done {
                // Let the last ticks complete before stopping.
                std::thread::sleep(Duration::from_millis(300));
                shutdown.notify_one();
            } else if !stopping.load(Ordering::Relaxed) {
                say!("demo: the day is replayed; the dashboard stays up at http://{addr}/ until Ctrl-C");
            }
        })
    });
    let redis_source = config.redis.as_ref().filter(|r| r.consume).map(|redis| {
        say!(
            "reading feedback from redis stream {}{} (group {}, consumer {})",
            redis.prefix,
            redis.stream,
            redis.group,
            redis.consumer_name()
        );
        RedisSource {
            config: redis.clone(),
            feed: feed_tx.clone(),
            admission: admission.clone(),
            metrics: metrics.clone(),
            outputs: outputs.clone(),
            acks: redis_sink.as_ref().expect("redis is configured").acks(),
            stopping: stopping.clone(),
        }
        .spawn()
    });
    drop(feed_tx);
    let started = Instant::now();
    let served = runtime.block_on(async {
        tokio::spawn(reload_on_hangup(reloader));
        let stop = shutdown.clone();
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                tokio::select! {
                    _ = stop.notified() => {}
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate() => {}
                }
                let _ = closing_tx.send(true);
            })
            .await
    });
    if let Err(e) = served {
        return Err(format!("HTTP server failed: {e}"));
    }
    stopping.store(true, Ordering::Relaxed);
    drop(state);
    drop(runtime);
    if let Some(t) = demo_thread {
        let _ = t.join();
    }
    // The source stops reading; the dataflow's final checkpoint acknowledges what it absorbed.
    if let Some(t) = redis_source {
        let _ = t.join();
    }
    let stats =
        dataflow_thread.join().map_err(|_| "dataflow thread panicked".to_string())?.map_err(|e| e.to_string())?;
    let elapsed = started.elapsed().as_secs_f64();
    say!(
        "\nfeedpulse stopped after {elapsed:.1} s: {} records received, {} accepted, {} duplicates, {} dead letters{}, {} ticks",
        metrics.received_total(),
        metrics.accepted_total(),
        metrics.duplicates_total(),
        metrics.dead_total(),
        metrics.dead_letter_breakdown(),
        stats.ticks
    );
    for (rule, (fired, resolved)) in metrics.alert_counts() {
        say!("  {rule}: {fired} fired, {resolved} resolved");
    }
    Ok(())
}

/// SIGHUP reloads the configuration (as `POST /v1/reload` does) and says what happened.
#[cfg(unix)]
async fn reload_on_hangup(reloader: Arc<Reloader>) {
    let Ok(mut hangups) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else { return };
    while hangups.recv().await.is_some() {
        let reloader = reloader.clone();
        match tokio::task::spawn_blocking(move || reloader.reload()).await {
            Ok(Ok(changed)) if changed.is_empty() => eprintln!("SIGHUP: configuration reloaded, nothing changed"),
            Ok(Ok(changed)) => eprintln!("SIGHUP: configuration reloaded: {} applied", changed.join(", ")),
            Ok(Err(e)) => eprintln!("SIGHUP: reload rejected, the running configuration stays: {e}"),
            Err(e) => eprintln!("SIGHUP: reload failed: {e}"),
        }
    }
}

#[cfg(not(unix))]
async fn reload_on_hangup(_reloader: Arc<Reloader>) {}

#[cfg(unix)]
async fn terminate() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut s) => {
            s.recv().await;
        }
        Err(_) => std::future::pending().await,
    }
}

#[cfg(not(unix))]
async fn terminate() {
    std::future::pending::<()>().await
}

/// Replays the demo day in compressed time: event time advances `speed` times faster than the
/// wall clock. Records go through the same admission as HTTP input.
fn play_demo(
    speed: f64,
    seed: u64,
    tx: &FeedSender,
    admission: &Admission,
    metrics: &Metrics,
    outputs: &Fanout,
    stopping: &AtomicBool,
) {
    let day_start = crate::demo::yesterday_midnight_ms();
    let records = crate::demo::generate(day_start, seed);
    say!(
        "demo: replaying {} records of {} at {speed}× (a day in {:.0} s)",
        records.len(),
        crate::alerts::rfc3339(day_start).get(..10).unwrap_or(""),
        86_400.0 / speed
    );
    // Admission (the sentence encoder above all) runs ahead of the clock on every core, in
    // batches of CHUNK records; the player below only waits for a chunk when it falls due.
    const CHUNK: usize = 128;
    let chunks: Vec<&[(i64, String)]> = records.chunks(CHUNK).collect();
    let slots: Vec<std::sync::Mutex<Option<Vec<Admitted>>>> =
        chunks.iter().map(|_| std::sync::Mutex::new(None)).collect();
    let next_chunk = std::sync::atomic::AtomicUsize::new(0);
    let quit = AtomicBool::new(false);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).max(2);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let i = next_chunk.fetch_add(1, Ordering::Relaxed);
                if i >= chunks.len() || stopping.load(Ordering::Relaxed) || quit.load(Ordering::Relaxed) {
                    return;
                }
                let lines: Vec<&[u8]> = chunks[i].iter().map(|(_, l)| l.as_bytes()).collect();
                let admitted =
                    admission.admit_batch(&lines, chrono::Utc::now().timestamp_millis(), "demo").into_results();
                *slots[i].lock().unwrap() = Some(admitted);
            });
        }
        let started = Instant::now();
        let mut admitted = Vec::new().into_iter();
        let mut next = 0;
        while next < records.len() && !stopping.load(Ordering::Relaxed) {
            let due_ms = day_start + (started.elapsed().as_secs_f64() * 1000.0 * speed) as i64;
            let mut batch = Vec::new();
            while next < records.len() && records[next].0 <= due_ms {
                if next % CHUNK == 0 {
                    admitted = loop {
                        if let Some(chunk) = slots[next / CHUNK].lock().unwrap().take() {
                            break chunk.into_iter();
                        }
                        std::thread::sleep(Duration::from_millis(1));
                    };
                }
                metrics.received(SourceKind::Demo, 1);
                match admitted.next().expect("one result per record") {
                    Ok(ev) => batch.push(ev),
                    Err(dead) => outputs.dead_letter(&dead),
                }
                next += 1;
            }
            if !batch.is_empty() && tx.send(batch).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        quit.store(true, Ordering::Relaxed);
    });
}
