//! `feedpulse backtest --input`: what the alert rules would have done on history, replayed
//! through the same dataflow and rules as live.

use crate::alerts::{Alert, AlertStatus};
use crate::cmd::pipeline::PipelineArgs;
use crate::cmd::pipeline::PipelineOptions;
use crate::cmd::replay::{self as app, AlertOutput, ReplayOptions};
use crate::sinks::{AlertSink, Fanout};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Keeps every alert state change in arrival order.
#[derive(Default)]
struct Collected(Mutex<Vec<Alert>>);

impl AlertSink for Collected {
    fn deliver(&self, alert: &Alert) {
        self.0.lock().expect("collected alerts").push(alert.clone());
    }
}

#[derive(Debug, Serialize)]
pub struct RuleSummary {
    pub rule: String,
    pub fired: usize,
    pub resolved: usize,
    /// Firings per day of event time covered by the input.
    pub alerts_per_day: f64,
}

#[derive(Debug, Serialize)]
pub struct HistoryReport {
    pub records: u64,
    pub accepted: u64,
    pub dead_letters: u64,
    /// First and last accepted event time (RFC 3339), and the days between them.
    pub start: Option<String>,
    pub end: Option<String>,
    pub days: f64,
    /// Every alert state change (firing, resolved) in the order the rules produced them.
    pub alerts: Vec<Alert>,
    pub rules: Vec<RuleSummary>,
}

/// Replays `input` (NDJSON, `-` for stdin) through the dataflow and the configured rules,
/// `batch` records per processing tick (1: alerts fire on exactly the crossing record, as live);
/// `extra` sinks are given every window aggregate and KPI window as it changes.
pub fn history(pipeline: &PipelineOptions, input: &str, batch: usize, extra: Fanout) -> anyhow::Result<HistoryReport> {
    let (reader, kind) = app::open_input(input)?;
    let collected = Arc::new(Collected::default());
    let options = ReplayOptions {
        alerts: AlertOutput::Sink(collected.clone()),
        dead_letters: None,
        batch_lines: batch.max(1),
        parse_threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
        progress: false,
        extra,
    };
    let report = app::replay(pipeline, reader, kind, options)?;
    let alerts = std::mem::take(&mut *collected.0.lock().expect("collected alerts"));
    let metrics = &report.metrics;
    let span = metrics.event_span();
    // A day at least, so that a short sample does not extrapolate into hundreds a day.
    let days = span.map_or(0.0, |(a, b)| (b - a) as f64 / 86_400_000.0);
    let per_day_base = days.max(1.0);
    let rules = pipeline
        .config
        .rules
        .iter()
        .map(|r| {
            let mine = alerts.iter().filter(|a| a.rule_name() == r.name);
            let fired = mine.clone().filter(|a| a.status == AlertStatus::Firing).count();
            let resolved = mine.filter(|a| a.status == AlertStatus::Resolved).count();
            RuleSummary { rule: r.name.clone(), fired, resolved, alerts_per_day: round2(fired as f64 / per_day_base) }
        })
        .collect();
    Ok(HistoryReport {
        records: metrics.received_total(),
        accepted: metrics.accepted_total(),
        dead_letters: metrics.dead_total(),
        start: span.map(|s| crate::alerts::rfc3339(s.0)),
        end: span.map(|s| crate::alerts::rfc3339(s.1)),
        days: round2(days),
        alerts,
        rules,
    })
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Labels that name the key (category=payment), without the rule's bookkeeping labels.
fn key_of(alert: &Alert) -> String {
    let bookkeeping = ["alertname", "rule", "window", "severity"];
    let parts: Vec<String> = alert
        .labels
        .iter()
        .filter(|(k, _)| !bookkeeping.contains(&k.as_str()))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    parts.join(",")
}

/// The report as a table for people.
pub fn render_table(report: &HistoryReport) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} records, {} accepted, {} dead letters; event time {} … {} ({} days)\n",
        report.records,
        report.accepted,
        report.dead_letters,
        report.start.as_deref().unwrap_or("-"),
        report.end.as_deref().unwrap_or("-"),
        report.days
    );
    let _ = writeln!(
        out,
        "{:<24} {:<8} {:<22} {:<28} {:<24} {:>8} {:>9} {:>9}",
        "at (event time)", "status", "rule", "key", "window start", "value", "baseline", "threshold"
    );
    for a in &report.alerts {
        let at = match a.status {
            AlertStatus::Firing => &a.starts_at,
            AlertStatus::Resolved => a.ends_at.as_ref().unwrap_or(&a.starts_at),
        };
        let _ = writeln!(
            out,
            "{:<24} {:<8} {:<22} {:<28} {:<24} {:>8} {:>9} {:>9}",
            at,
            a.status.as_str(),
            a.rule_name(),
            key_of(a),
            a.window.start,
            a.value,
            a.baseline.mean,
            a.baseline.threshold
        );
    }
    let _ = writeln!(out, "\n{:<22} {:>6} {:>9} {:>11}", "rule", "fired", "resolved", "alerts/day");
    for r in &report.rules {
        let _ = writeln!(out, "{:<22} {:>6} {:>9} {:>11.2}", r.rule, r.fired, r.resolved, r.alerts_per_day);
    }
    out
}

/// `feedpulse backtest`.
#[derive(clap::Args)]
pub struct BacktestArgs {
    /// NDJSON history (`-` for stdin): prints each alert and a per-rule summary.
    #[arg(long, required_unless_present = "nab", conflicts_with = "nab")]
    pub input: Option<String>,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Records per processing tick with `--input`. 1 (the default) fires each alert on the
    /// exact record that crossed, as live; larger batches are faster and judge a window
    /// that closed inside a batch as of its close.
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// A NAB data directory (`<category>/<file>.csv` with `timestamp,value`).
    #[arg(long, requires = "out")]
    pub nab: Option<PathBuf>,
    /// Where `--nab` writes `<category>/<file>.csv` with `timestamp,value,anomaly_score,surprise,discord`.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// With `--nab`: the spike rule to use (default: the first spike rule; without
    /// `--rules`, the embedded benches/nab_rule.toml).
    #[arg(long)]
    pub rule: Option<String>,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

impl BacktestArgs {
    pub fn run(self) -> anyhow::Result<()> {
        match (self.input, self.nab, self.out) {
            (_, Some(data), Some(out)) => nab(&data, &out, self.rule.as_deref(), self.pipeline),
            (Some(input), _, _) => {
                let report = history(&self.pipeline.into_options()?, &input, self.batch, Fanout::default())?;
                if self.json {
                    println!("{}", serde_json::to_string(&report)?);
                } else {
                    print!("{}", render_table(&report));
                }
                Ok(())
            }
            _ => anyhow::bail!("backtest needs --input FILE, or --nab DATA --out RESULTS"),
        }
    }
}

fn nab(data: &std::path::Path, out: &std::path::Path, rule: Option<&str>, args: PipelineArgs) -> anyhow::Result<()> {
    let config = if args.rules.is_empty() {
        let source =
            crate::config::Source { name: "benches/nab_rule.toml".into(), text: crate::backtest::NAB_RULE.into() };
        crate::config::Config::embedded_with_rules(source).map_err(|e| anyhow::anyhow!("{e}"))?
    } else {
        args.into_options()?.config
    };
    let spike_rules = config.rules.iter().filter(|r| r.spike().is_some());
    let chosen = match rule {
        Some(name) => spike_rules.clone().find(|r| r.name == name),
        None => spike_rules.clone().next(),
    };
    let Some(chosen) = chosen else {
        let names: Vec<&str> = spike_rules.map(|r| r.name.as_str()).collect();
        anyhow::bail!("no spike rule {} (have: {})", rule.unwrap_or(""), names.join(", "));
    };
    let started = std::time::Instant::now();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let report = crate::backtest::nab::run(data, out, chosen, threads)?;
    eprintln!(
        "rule {}: scored {} rows in {} files in {:.2} s; results in {}",
        chosen.name,
        report.rows,
        report.files,
        started.elapsed().as_secs_f64(),
        out.display()
    );
    Ok(())
}
