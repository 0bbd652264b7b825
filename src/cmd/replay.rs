//! `feedpulse replay`: a file or stdin through the dataflow as fast as possible.

use super::pipeline::*;
use crate::admit::Admission;
use crate::dataflow::detect::LiveRules;
use crate::dataflow::restore::Restored;
use crate::dataflow::{RunStats, Startup};
use crate::feed::Feed;
use crate::sinks::ndjson::NdjsonAlerts;
use crate::sinks::{AlertSink, Fanout};
use crate::sources::lines::{self, LineSourceOptions};
use crate::telemetry::{Metrics, SourceKind};
use anyhow::Context;
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

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
    /// Sinks added to the run's own (`report`'s hourly roll-ups of windows and KPIs).
    pub extra: Fanout,
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
) -> anyhow::Result<ReplayReport> {
    let metrics = Arc::new(Metrics::default());
    let alerts: Arc<dyn AlertSink> = match options.alerts {
        AlertOutput::File(p) => {
            Arc::new(NdjsonAlerts::file(&p, false).with_context(|| format!("cannot create {}", p.display()))?)
        }
        AlertOutput::Stdout => Arc::new(NdjsonAlerts::stdout(false)),
        AlertOutput::Sink(sink) => sink,
    };
    let mut outputs = fanout(vec![alerts], options.dead_letters.as_ref(), &pipeline.config, &metrics)?.sinks;
    outputs.windows.extend(options.extra.windows);
    outputs.kpis.extend(options.extra.kpis);
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
    )?;
    Ok(ReplayReport { stats, metrics })
}

/// The reader of an `--input` argument: a file, or stdin for `-`.
pub fn open_input(input: &str) -> anyhow::Result<(Box<dyn Read + Send>, SourceKind)> {
    if input == "-" {
        return Ok((Box::new(std::io::stdin()), SourceKind::Stdin));
    }
    let file = std::fs::File::open(input).with_context(|| format!("opening {input}"))?;
    Ok((Box::new(file), SourceKind::File))
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
    let failures = m.summarizer_failure_breakdown();
    if m.summaries_taken() > 0 || !failures.is_empty() {
        outbound.push_str(&format!("\nsummaries {}  summarizer failures [{failures}]", m.summaries_taken()));
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

/// `feedpulse replay`.
#[derive(clap::Args)]
pub struct ReplayArgs {
    /// Input file, or `-` for standard input.
    pub input: String,
    /// Write alerts here instead of stdout.
    #[arg(long)]
    pub alerts_out: Option<PathBuf>,
    /// Write dead letters (bad records with their reason) here as NDJSON.
    #[arg(long)]
    pub dead_letters: Option<PathBuf>,
    /// Print throughput, tick latency and peak memory to stderr at the end.
    #[arg(long)]
    pub stats: bool,
    /// Records per processing tick. 1 makes every record its own tick (alerts then fire on
    /// exactly the crossing record); larger batches are faster.
    #[arg(long, default_value_t = 4096)]
    pub batch: usize,
    /// Threads decoding and enriching records (default: available cores).
    #[arg(long)]
    pub parse_threads: Option<usize>,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

impl ReplayArgs {
    pub fn run(self) -> anyhow::Result<()> {
        let (reader, kind) = open_input(&self.input)?;
        let threads =
            self.parse_threads.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2));
        let options = ReplayOptions {
            alerts: self.alerts_out.map_or(AlertOutput::Stdout, AlertOutput::File),
            dead_letters: self.dead_letters,
            batch_lines: self.batch,
            parse_threads: threads,
            progress: self.stats,
            extra: Fanout::default(),
        };
        let report = replay(&self.pipeline.into_options()?, reader, kind, options)?;
        if self.stats {
            eprintln!("{}", replay_stats_text(&report));
        }
        Ok(())
    }
}
