//! What every pipeline-running command shares: its options, its sinks, what it restores.

use crate::config::{Config, ConfigSource};
use crate::dataflow::restore::Restored;
use crate::dataflow::{self};
use crate::enrich::Models;
use crate::redis::sink::RedisSink;
use crate::report::{DigestFiles, Reporter};
use crate::sinks::alertmanager::AlertmanagerSink;
use crate::sinks::deadletter::DeadLetters;
use crate::sinks::webhook::WebhookSink;
use crate::sinks::{AlertSink, DigestSink, Fanout};
use crate::telemetry::Metrics;
use anyhow::Context;
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

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

pub(crate) fn dead_letter_sink(metrics: &Arc<Metrics>, path: Option<&PathBuf>) -> anyhow::Result<DeadLetters> {
    let out: Option<Box<dyn std::io::Write + Send>> = match path {
        Some(p) => Some(Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot create dead-letter file {}", p.display()))?,
        ))),
        None => None,
    };
    Ok(DeadLetters::new(metrics.clone(), out))
}

/// Every output of a run: the given alert sinks, the dead-letter output (counted, and written
/// to `dead_letters` when given), and the outbound sinks the configuration names: Redis
/// (alerts, dead letters, window aggregates), Alertmanager, webhooks and the `[[report]]`
/// schedules with their receivers. The Redis sink is also returned: a live pipeline restores
/// from it and its Redis source acknowledges through it; and the reporter, whose released
/// digests the dashboard shows.
pub(crate) fn fanout(
    alerts: Vec<Arc<dyn AlertSink>>,
    dead_letters: Option<&PathBuf>,
    config: &Config,
    metrics: &Arc<Metrics>,
) -> anyhow::Result<RunOutputs> {
    let mut outputs =
        Fanout { alerts, dead_letters: vec![Arc::new(dead_letter_sink(metrics, dead_letters)?)], ..Default::default() };
    let redis_sink = config.redis.as_ref().map(|redis| RedisSink::start(config, redis, metrics.clone()));
    if let Some(sink) = &redis_sink {
        outputs.alerts.push(sink.clone());
        outputs.dead_letters.push(sink.clone());
        outputs.windows.push(sink.clone());
        outputs.clusters.push(sink.clone());
        outputs.kpis.push(sink.clone());
        outputs.qa.push(sink.clone());
    }
    if let Some(am) = &config.alertmanager {
        outputs.alerts.push(AlertmanagerSink::start(&am.url, am.resend.0, &am.client, metrics.clone())?);
    }
    let mut hooks = Vec::new();
    for hook in &config.webhooks {
        let sink = WebhookSink::start(hook, metrics.clone())?;
        hooks.push((hook.name.clone(), sink.clone()));
        outputs.alerts.push(sink);
    }
    let reporter = reporter(config, redis_sink.as_ref(), &hooks)?;
    if let Some(reporter) = &reporter {
        outputs.alerts.push(reporter.clone());
        outputs.windows.push(reporter.clone());
        outputs.kpis.push(reporter.clone());
    }
    // In front of every other alert sink: each alert passes at once, its summary follows.
    if let Some(summarizer) = &config.summarizer {
        let inner = std::mem::take(&mut outputs.alerts);
        outputs.alerts.push(crate::sinks::summarizer::SummarizerSink::start(summarizer, inner, metrics.clone())?);
    }
    Ok(RunOutputs { sinks: outputs, redis: redis_sink, reporter })
}

/// What [`fanout`] starts.
pub(crate) struct RunOutputs {
    pub sinks: Fanout,
    pub redis: Option<Arc<RedisSink>>,
    pub reporter: Option<Arc<Reporter>>,
}

/// The `[[report]]` schedules, each with the receivers it names; `None` without reports.
fn reporter(
    config: &Config,
    redis: Option<&Arc<RedisSink>>,
    hooks: &[(String, Arc<WebhookSink>)],
) -> anyhow::Result<Option<Arc<Reporter>>> {
    if config.reports.is_empty() {
        return Ok(None);
    }
    let mut reports = Vec::new();
    for schedule in &config.reports {
        let r = &schedule.config;
        let mut receivers: Vec<Arc<dyn DigestSink>> = Vec::new();
        if let Some(dir) = &r.dir {
            let files = DigestFiles::new(dir.clone())
                .with_context(|| format!("report `{}`: cannot create {}", r.name, dir.display()))?;
            receivers.push(files);
        }
        if r.redis {
            let Some(redis) = redis else {
                anyhow::bail!("report `{}` sets redis = true, but no Redis is configured ([redis] or --redis)", r.name)
            };
            receivers.push(redis.clone());
        }
        for name in &r.webhooks {
            let (_, hook) = hooks.iter().find(|(n, _)| n == name).expect("validated: the webhook exists");
            receivers.push(hook.clone());
        }
        reports.push((schedule.clone(), receivers));
    }
    let log: Option<Arc<dyn crate::report::ReleaseLog>> =
        redis.map(|r| r.clone() as Arc<dyn crate::report::ReleaseLog>);
    Ok(Some(Reporter::new(reports, log)))
}

/// The clusters a previous run left in Redis, so ids stay stable across a restart. Without
/// Redis, or when it cannot be read (said on stderr), clustering starts afresh.
pub(crate) fn restored_clusters(config: &Config) -> Option<dataflow::clusters::ClusterSnapshot> {
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
/// previous run left in Redis, and where its reports were released through (told to
/// `reporter`). When Redis cannot be read the run starts afresh and says so.
pub(crate) fn restored_state(config: &Config, sink: &RedisSink, reporter: Option<&Arc<Reporter>>) -> Restored {
    let Some(redis) = &config.redis else { return Restored::default() };
    if let Some(reporter) = reporter {
        match sink.load_report_releases(redis, &reporter.names()) {
            Ok(released) => reporter.continue_after(&released),
            Err(e) => eprintln!("reports: the periods released before could not be read, so they may be again: {e}"),
        }
    }
    let clusters = restored_clusters(config);
    match sink.load_saved(redis) {
        Ok(saved) => {
            if !saved.windows.is_empty()
                || !saved.alerts.is_empty()
                || !saved.tickets.is_empty()
                || !saved.turns.is_empty()
            {
                let firing = saved.alerts.iter().filter(|a| a.status == crate::alerts::AlertStatus::Firing).count();
                say!(
                    "continuing from redis: {} window aggregates, {} alert states ({firing} firing), {} ticket events, {} conversation turns",
                    saved.windows.len(),
                    saved.alerts.len(),
                    saved.tickets.len(),
                    saved.turns.len()
                );
            }
            Restored {
                clusters,
                windows: Arc::new(saved.windows),
                alerts: Arc::new(saved.alerts),
                tickets: Arc::new(saved.tickets),
                turns: Arc::new(saved.turns),
                clock: saved.clock_ms,
            }
        }
        Err(e) => {
            eprintln!("starting afresh, the state saved in redis could not be read: {e}");
            Restored { clusters, ..Default::default() }
        }
    }
}

/// The options every pipeline command shares: configuration, models, outputs, workers.
#[derive(Args)]
pub struct PipelineArgs {
    /// Configuration directory (`dataflows/*.toml`, `alerts/*.toml`); the embedded defaults otherwise.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Alert rules file(s) to use instead of the configuration's `alerts/`.
    #[arg(long)]
    pub rules: Vec<PathBuf>,
    /// Skip text enrichment: events without `category`/`sentiment` count as `other`/0.
    #[arg(long)]
    pub no_enrich: bool,
    /// Where model files are cached (fetched there on first use).
    /// [default: $FEEDPULSE_MODELS, else ~/.cache/feedpulse/models]
    #[arg(long)]
    pub models: Option<PathBuf>,
    /// Enrich with the built-in fallback (hashed n-grams, lexicon) without fetching models.
    #[arg(long, conflicts_with = "no_enrich")]
    pub fallback_models: bool,
    /// Redis `host:port` for alerts, dead letters and rolling aggregates (overrides `[redis] url`).
    #[arg(long)]
    pub redis: Option<String>,
    /// Alertmanager base URL to push alerts to (overrides `[alertmanager] url`).
    #[arg(long)]
    pub alertmanager: Option<String>,
    /// Timely worker threads in this process.
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// Timely cluster arguments after `--`, e.g. `-- -n 2 -p 0 -h hosts.txt`.
    #[arg(last = true)]
    pub cluster: Vec<String>,
}

impl PipelineArgs {
    pub fn into_options(self) -> anyhow::Result<PipelineOptions> {
        self.into_options_in(None)
    }

    /// [`PipelineArgs::into_options`], the embedded dataflow's days in `timezone` (the demo's).
    pub fn into_options_in(self, timezone: Option<&'static str>) -> anyhow::Result<PipelineOptions> {
        let source = ConfigSource {
            dir: self.config.clone(),
            rules: self.rules.clone(),
            redis_url: self.redis.clone(),
            alertmanager_url: self.alertmanager.clone(),
            embedded_timezone: timezone,
        };
        let config = source.load().map_err(|e| anyhow::anyhow!("{e}"))?;
        if self.workers == 0 {
            anyhow::bail!("--workers must be at least 1");
        }
        let models = if self.no_enrich || !config.enrich.enabled {
            None
        } else if self.fallback_models {
            Some(Arc::new(Models::fallback("--fallback-models")))
        } else {
            let dir = self.models.unwrap_or_else(crate::enrich::models::default_dir);
            Some(Arc::new(Models::prepare(&dir, &mut |m| eprintln!("{m}"))))
        };
        Ok(PipelineOptions { config, source, models, workers: self.workers, cluster: self.cluster })
    }
}
