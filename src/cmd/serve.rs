//! `feedpulse run` and `feedpulse demo`: the live pipeline with the HTTP API.

use super::demo::*;
use super::pipeline::*;
use crate::admit::Admission;
use crate::config::reload::{ReloadTargets, Reloader};
use crate::dataflow::detect::LiveRules;
use crate::dataflow::restore::Restored;
use crate::dataflow::Startup;
use crate::feed::FeedSender;
use crate::redis::source::RedisSource;
use crate::server::access::Access;
use crate::server::board::Dashboard;
use crate::server::clusters::ClusterBoard;
use crate::server::{self, AppState, DurableStore};
use crate::sinks::ndjson::NdjsonAlerts;
use crate::sinks::sse::AlertHub;
use crate::sinks::AlertSink;
use crate::sources::wal::{self, Wal};
use crate::telemetry::Metrics;
use anyhow::Context;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct ServeOptions {
    pub listen: SocketAddr,
    /// When the address is taken, fall back to any free port (the demo) instead of failing.
    pub listen_fallback: bool,
    pub alerts_out: Option<PathBuf>,
    pub alerts_stdout: bool,
    pub dead_letters: Option<PathBuf>,
    pub demo: Option<DemoOptions>,
    /// Who may call what; open when no tokens are configured.
    pub access: Arc<Access>,
}

/// The server's read models take the clusters, windows, judgements and ticket KPIs they show.
fn read_models(outputs: &mut crate::sinks::Fanout, clusters: &ClusterBoard, dashboard: &Dashboard) {
    outputs.clusters.push(Arc::new(clusters.clone()));
    outputs.clusters.push(Arc::new(dashboard.clone()));
    outputs.windows.push(Arc::new(dashboard.clone()));
    outputs.judgements.push(Arc::new(dashboard.clone()));
    outputs.kpis.push(Arc::new(dashboard.clone()));
}

/// `feedpulse run` and `feedpulse demo`: the live pipeline with the HTTP API.
pub fn serve(pipeline: PipelineOptions, options: ServeOptions) -> anyhow::Result<()> {
    let (durable, wal_left) = durable_ingest(&pipeline)?;
    let metrics = Arc::new(Metrics::default());
    let hub = AlertHub::default();
    let mut alert_sinks = local_alert_sinks(&hub, &options)?;
    let admission = Arc::new(Admission::new(&pipeline.config, pipeline.models.as_ref()).timed(metrics.clone()));
    let models = admission.enrichment();
    let clusters = ClusterBoard::default();
    let dashboard = Dashboard::start(&pipeline.config, clusters.clone(), metrics.clone(), &models);
    alert_sinks.push(Arc::new(dashboard.clone()));
    let RunOutputs { sinks: mut outputs, redis: redis_sink, reporter: reports } =
        fanout(alert_sinks, options.dead_letters.as_ref(), &pipeline.config, &metrics)?;
    read_models(&mut outputs, &clusters, &dashboard);
    let (feed_tx, feed) = FeedSender::channel(1024);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let (listener, terminations) = runtime.block_on(listen(&options))?;
    let addr = listener.local_addr()?;
    let mut config = pipeline.config.clone();
    config.public_url = format!("http://{addr}");

    // Flipped when the server starts shutting down: open SSE streams end, so graceful shutdown
    // does not wait forever for clients that never disconnect.
    let (closing_tx, closing_rx) = tokio::sync::watch::channel(false);
    let live_rules = LiveRules::new(&config.rules);
    let reloader = Arc::new(reloader(&pipeline, &config, &admission, &live_rules, &metrics));
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
        ingest_slots: Arc::new(tokio::sync::Semaphore::new(config.ingest.max_concurrent_requests)),
        ready: AtomicBool::new(false),
        closing: closing_rx,
        models: models.clone(),
        durable,
        reports,
    });
    let app = server::router(state.clone(), options.access.clone());

    let (workers, cluster) = (pipeline.workers, pipeline.cluster.clone());
    let (df_config, df_metrics, df_outputs) = (config.clone(), metrics.clone(), outputs.clone());
    // The demo replays its own day; `run` continues where the last run against this Redis left.
    let restore = match (&redis_sink, options.demo.is_some()) {
        (Some(sink), false) => restored_state(&config, sink, state.reports.as_ref()),
        _ => Restored { clusters: restored_clusters(&config), ..Default::default() },
    };
    for alert in restore.alerts.iter() {
        outputs.adopt(alert);
    }
    let startup = Startup { restore, rules: live_rules.clone(), spent: None };
    let dataflow_thread = std::thread::Builder::new()
        .name("fp-dataflow".into())
        .spawn(move || crate::topology::run(&df_config, df_metrics, df_outputs, feed, workers, cluster, startup))?;
    replay_wal(&state, &wal_left, &feed_tx)?;
    state.ready.store(true, Ordering::Relaxed);
    say!("feedpulse listening on http://{addr}  (POST /v1/events · GET /v1/alerts · GET /v1/alerts/stream · GET /metrics)");
    say!("enrichment: {models}");
    say!("dashboard: http://{addr}/");

    let shutdown = Arc::new(tokio::sync::Notify::new());
    // Set when the server stops (Ctrl-C, SIGTERM), so an unfinished demo stops feeding too.
    let stopping = Arc::new(AtomicBool::new(false));
    let demo_thread = options.demo.as_ref().map(|demo| {
        let feeding = DemoFeed { feed: feed_tx.clone(), admission: admission.clone(), metrics: metrics.clone() };
        spawn_demo(demo, feeding, outputs.clone(), shutdown.clone(), stopping.clone(), addr)
    });
    let redis_source = config.redis.as_ref().filter(|r| r.consume).map(|redis| {
        let acks = redis_sink.as_ref().expect("redis is configured").acks();
        spawn_redis_source(redis, &feed_tx, &admission, &metrics, &outputs, acks, &stopping)
    });
    drop(feed_tx);
    let started = Instant::now();
    let served = runtime.block_on(serve_http(listener, app, reloader, shutdown.clone(), closing_tx, terminations));
    if let Err(e) = served {
        anyhow::bail!("HTTP server failed: {e}");
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
    let stats = dataflow_thread.join().map_err(|_| anyhow::anyhow!("dataflow thread panicked"))??;
    print_summary(&metrics, started.elapsed().as_secs_f64(), stats.ticks);
    Ok(())
}

/// The reloader: a new configuration goes to admission and the live rules.
fn reloader(
    pipeline: &PipelineOptions,
    config: &crate::config::Config,
    admission: &Arc<Admission>,
    rules: &LiveRules,
    metrics: &Arc<Metrics>,
) -> Reloader {
    let (admission, rules, metrics) = (admission.clone(), rules.clone(), metrics.clone());
    Reloader::new(
        pipeline.source.clone(),
        config.clone(),
        ReloadTargets {
            admission: Box::new(move |next| admission.reconfigure(next)),
            rules: Box::new(move |next| rules.publish(next)),
            outcome: Box::new(move |ok| metrics.config_reload(ok)),
        },
    )
}

/// Where the demo's day goes in: admission, the feed, the metrics.
struct DemoFeed {
    feed: FeedSender,
    admission: Arc<Admission>,
    metrics: Arc<Metrics>,
}

/// Plays the demo's day on its own thread; stops the server after it with `exit_when_done`.
fn spawn_demo(
    demo: &DemoOptions,
    into: DemoFeed,
    outputs: crate::sinks::Fanout,
    shutdown: Arc<tokio::sync::Notify>,
    stopping: Arc<AtomicBool>,
    addr: SocketAddr,
) -> std::thread::JoinHandle<()> {
    let demo = demo.clone();
    let exit_when_done = demo.exit_when_done;
    std::thread::spawn(move || {
        play_demo(&demo, &into.feed, &into.admission, &into.metrics, &outputs, &stopping);
        if exit_when_done {
            // Let the last ticks complete before stopping.
            std::thread::sleep(Duration::from_millis(300));
            shutdown.notify_one();
        } else if !stopping.load(Ordering::Relaxed) {
            say!("demo: the day is replayed; the dashboard stays up at http://{addr}/ until Ctrl-C");
        }
    })
}

/// The alert sinks of this process: the SSE hub, the console (demo) or stdout, a file.
fn local_alert_sinks(hub: &AlertHub, options: &ServeOptions) -> anyhow::Result<Vec<Arc<dyn AlertSink>>> {
    let mut alert_sinks: Vec<Arc<dyn AlertSink>> = vec![Arc::new(hub.clone())];
    if let Some(demo) = &options.demo {
        alert_sinks.push(Arc::new(ConsoleAlerts(demo.calendar.clone())));
    } else if options.alerts_stdout {
        alert_sinks.push(Arc::new(NdjsonAlerts::stdout(true)));
    }
    if let Some(p) = &options.alerts_out {
        alert_sinks
            .push(Arc::new(NdjsonAlerts::file(p, true).with_context(|| format!("cannot create {}", p.display()))?));
    }
    Ok(alert_sinks)
}

/// The HTTP listener; the demo falls back to a free port when its address is taken.
async fn bind(options: &ServeOptions) -> anyhow::Result<tokio::net::TcpListener> {
    match tokio::net::TcpListener::bind(options.listen).await {
        Ok(l) => Ok(l),
        Err(e) if options.listen_fallback => {
            let any = SocketAddr::new(options.listen.ip(), 0);
            eprintln!("{} is taken ({e}); using a free port instead", options.listen);
            tokio::net::TcpListener::bind(any).await.with_context(|| format!("cannot listen on {any}"))
        }
        Err(e) => Err(anyhow::anyhow!("cannot listen on {}: {e}", options.listen)),
    }
}

/// Reads feedback from the configured Redis stream with a consumer group.
fn spawn_redis_source(
    redis: &crate::config::RedisConfig,
    feed: &FeedSender,
    admission: &Arc<Admission>,
    metrics: &Arc<Metrics>,
    outputs: &crate::sinks::Fanout,
    acks: crate::redis::acks::AckLedger,
    stopping: &Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    say!(
        "reading feedback from redis stream {}{} (group {}, consumer {})",
        redis.prefix,
        redis.stream,
        redis.group,
        redis.consumer_name()
    );
    RedisSource {
        config: redis.clone(),
        feed: feed.clone(),
        admission: admission.clone(),
        metrics: metrics.clone(),
        outputs: outputs.clone(),
        acks,
        stopping: stopping.clone(),
    }
    .spawn()
}

/// What the run did, printed when it stops.
fn print_summary(metrics: &Metrics, elapsed: f64, ticks: u64) {
    say!(
        "\nfeedpulse stopped after {elapsed:.1} s: {} records received, {} accepted, {} duplicates, {} dead letters{}, {} ticks",
        metrics.received_total(),
        metrics.accepted_total(),
        metrics.duplicates_total(),
        metrics.dead_total(),
        metrics.dead_letter_breakdown(),
        ticks
    );
    for (rule, (fired, resolved)) in metrics.alert_counts() {
        say!("  {rule}: {fired} fired, {resolved} resolved");
    }
}

/// Serves HTTP until Ctrl-C, SIGTERM or `shutdown`; then tells open streams to close.
async fn serve_http(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    reloader: Arc<Reloader>,
    shutdown: Arc<tokio::sync::Notify>,
    closing: tokio::sync::watch::Sender<bool>,
    terminations: Terminations,
) -> std::io::Result<()> {
    tokio::spawn(reload_on_hangup(reloader));
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            tokio::select! {
                _ = shutdown.notified() => {}
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate(terminations) => {}
            }
            let _ = closing.send(true);
        })
        .await
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

/// Binds the HTTP listener, and listens for SIGTERM from now on: one that arrives while the
/// dataflow and the consumer start ends the run cleanly instead of killing it (the HTTP server
/// only polls it once it serves).
async fn listen(options: &ServeOptions) -> anyhow::Result<(tokio::net::TcpListener, Terminations)> {
    Ok((bind(options).await?, terminations()))
}

/// SIGTERM, listened for from its creation (inside the runtime); `None` where it cannot be.
#[cfg(unix)]
type Terminations = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Terminations = Option<()>;

#[cfg(unix)]
fn terminations() -> Terminations {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok()
}

#[cfg(not(unix))]
fn terminations() -> Terminations {
    None
}

#[cfg(unix)]
async fn terminate(terminations: Terminations) {
    match terminations {
        Some(mut s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}

#[cfg(not(unix))]
async fn terminate(_terminations: Terminations) {
    std::future::pending::<()>().await
}

/// What a previous run acknowledged into the write-ahead log is counted again before this run
/// is ready (durable ingest without Redis).
fn replay_wal(state: &AppState, left: &[PathBuf], feed: &FeedSender) -> anyhow::Result<()> {
    if let Some(DurableStore::Wal(wal)) = &state.durable {
        // The replay passes the same digest release times again: the reports remember their
        // releases beside the log, and skip those periods.
        if let Some(reports) = &state.reports {
            reports.remember_in(Arc::new(crate::report::ReleaseFile::open(wal.dir())));
        }
        let read = wal::replay(wal, left, feed, &state.admission, &state.metrics, &state.outputs)
            .context("replaying the write-ahead log")?;
        say!("write-ahead log: {read} records of {} segments replayed", left.len());
    }
    Ok(())
}

/// Where durable HTTP ingest stores accepted records (`[ingest] durable`), and the segments of
/// the write-ahead log a previous run left; an error when it is asked for with neither a
/// consumer group to read what it appends nor a log.
fn durable_ingest(pipeline: &PipelineOptions) -> anyhow::Result<(Option<DurableStore>, Vec<PathBuf>)> {
    let config = &pipeline.config;
    if !config.ingest.durable {
        return Ok((None, Vec::new()));
    }
    match (&config.redis, &config.ingest.wal) {
        (Some(redis), None) if redis.consume => {
            Ok((Some(DurableStore::Redis(Box::new(crate::redis::append::StreamAppender::new(redis)))), Vec::new()))
        }
        (None, Some(dir)) => {
            let (wal, left) = Wal::open(dir, config.max_retention_ms())
                .with_context(|| format!("opening the write-ahead log in {}", dir.display()))?;
            Ok((Some(DurableStore::Wal(wal)), left))
        }
        // The files are checked for this too; `--redis` on the command line comes after them.
        (Some(_), Some(_)) => anyhow::bail!(
            "[ingest] wal is for durable ingest without Redis; with Redis (here from --redis), durable ingest goes \
             through the stream the consumer group reads: remove one of them"
        ),
        _ => anyhow::bail!(
            "[ingest] durable = true needs the Redis stream the consumer group reads ([redis] consume = true \
             or --consume-redis), or without Redis a write-ahead log ([ingest] wal = \"DIR\")"
        ),
    }
}

/// `feedpulse run`.
#[derive(clap::Args)]
pub struct RunArgs {
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Bearer tokens with scopes, one `NAME SCOPES sha256:HEX` per line (also read from
    /// $FEEDPULSE_TOKENS); `feedpulse token` makes one. None: every endpoint is open.
    #[arg(long)]
    pub tokens: Option<PathBuf>,
    /// Listen on a non-loopback address without tokens (anyone who reaches the port may post
    /// events, relabel messages and reload the configuration).
    #[arg(long)]
    pub insecure: bool,
    /// Also write alerts as NDJSON to stdout.
    #[arg(long)]
    pub alerts_stdout: bool,
    /// Append alerts as NDJSON to this file.
    #[arg(long)]
    pub alerts_out: Option<PathBuf>,
    #[arg(long)]
    pub dead_letters: Option<PathBuf>,
    /// Also read feedback from the Redis stream `fp:feedback` with a consumer group
    /// (needs --redis or a [redis] table; same as `[redis] consume = true`).
    #[arg(long)]
    pub consume_redis: bool,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

impl RunArgs {
    pub fn run(self) -> anyhow::Result<()> {
        let access = Access::load(self.tokens.as_deref(), std::env::var("FEEDPULSE_TOKENS").ok().as_deref())?;
        if access.is_open() && !self.listen.ip().is_loopback() && !self.insecure {
            anyhow::bail!(
                "refusing to listen on {} without access tokens: give --tokens FILE (or $FEEDPULSE_TOKENS), \
                 or --insecure to serve every endpoint to anyone who reaches the port",
                self.listen
            );
        }
        let options = ServeOptions {
            access: Arc::new(access),
            listen: self.listen,
            listen_fallback: false,
            alerts_out: self.alerts_out,
            alerts_stdout: self.alerts_stdout,
            dead_letters: self.dead_letters,
            demo: None,
        };
        let mut pipeline = self.pipeline.into_options()?;
        if self.consume_redis {
            let Some(redis) = pipeline.config.redis.as_mut() else {
                anyhow::bail!("--consume-redis needs --redis HOST:PORT or a [redis] table");
            };
            redis.consume = true;
        }
        serve(pipeline, options)
    }
}
