//! The `feedpulse` command line.

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use feedpulse::app::{self, DemoOptions, PipelineOptions, ReplayOptions, ServeOptions};
use feedpulse::config::Config;
use feedpulse::telemetry::SourceKind;
use std::net::SocketAddr;
use std::path::PathBuf;

/// feedpulse watches customer feedback live and alerts within a second when something goes wrong:
/// volume spikes and sentiment dips per category, channel and campaign, computed incrementally
/// on timely / differential dataflow.
#[derive(Parser)]
#[command(
    name = "feedpulse",
    version,
    about,
    after_help = "Examples:\n  feedpulse demo                                   a day of sample feedback in a minute\n  feedpulse replay events.ndjson --stats           alerts as NDJSON on stdout, throughput on stderr\n  cat events.ndjson | feedpulse replay - --batch 1 every record its own tick\n  feedpulse run --listen 127.0.0.1:8080            HTTP ingest; curl -N localhost:8080/v1/alerts/stream\n  feedpulse check-config .                         validate dataflows/ and alerts/"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Replay a bundled day of sample feedback (with a payment spike and a sentiment dip) in
    /// compressed time, print alerts as they fire, and serve the HTTP API meanwhile.
    Demo {
        /// How much faster than real time the day is replayed (1440 = a day per minute).
        #[arg(long, default_value_t = 1440.0)]
        speed: f64,
        #[arg(long, default_value_t = 11)]
        seed: u64,
        /// HTTP address (a free port is used if it is taken).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        #[command(flatten)]
        pipeline: PipelineArgs,
    },
    /// Process an NDJSON file (or `-` for stdin) as fast as possible; alerts as NDJSON on stdout.
    Replay {
        /// Input file, or `-` for standard input.
        input: String,
        /// Write alerts here instead of stdout.
        #[arg(long)]
        alerts_out: Option<PathBuf>,
        /// Write dead letters (bad records with their reason) here as NDJSON.
        #[arg(long)]
        dead_letters: Option<PathBuf>,
        /// Print throughput, tick latency and peak memory to stderr at the end.
        #[arg(long)]
        stats: bool,
        /// Records per processing tick. 1 makes every record its own tick (alerts then fire on
        /// exactly the crossing record); larger batches are faster.
        #[arg(long, default_value_t = 4096)]
        batch: usize,
        /// Threads decoding and enriching records (default: available cores).
        #[arg(long)]
        parse_threads: Option<usize>,
        #[command(flatten)]
        pipeline: PipelineArgs,
    },
    /// Run the long-lived service: HTTP ingest, alerts over SSE (and stdout with --alerts-stdout).
    Run {
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Also write alerts as NDJSON to stdout.
        #[arg(long)]
        alerts_stdout: bool,
        /// Append alerts as NDJSON to this file.
        #[arg(long)]
        alerts_out: Option<PathBuf>,
        #[arg(long)]
        dead_letters: Option<PathBuf>,
        #[command(flatten)]
        pipeline: PipelineArgs,
    },
    /// Validate a configuration directory and report every problem at once.
    CheckConfig {
        /// A directory holding `dataflows/` and `alerts/` (or a `dataflows/` directory).
        dir: PathBuf,
    },
}

#[derive(Args)]
struct PipelineArgs {
    /// Configuration directory (`dataflows/*.toml`, `alerts/*.toml`); the embedded defaults otherwise.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Alert rules file(s) to use instead of the configuration's `alerts/`.
    #[arg(long)]
    rules: Vec<PathBuf>,
    /// Skip text enrichment: events without `category`/`sentiment` count as `other`/0.
    #[arg(long)]
    no_enrich: bool,
    /// Timely worker threads in this process.
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// Timely cluster arguments after `--`, e.g. `-- -n 2 -p 0 -h hosts.txt`.
    #[arg(last = true)]
    cluster: Vec<String>,
}

impl PipelineArgs {
    fn into_options(self) -> Result<PipelineOptions> {
        let config = Config::load(self.config.as_deref(), &self.rules).map_err(|e| anyhow::anyhow!("{e}"))?;
        if self.workers == 0 {
            bail!("--workers must be at least 1");
        }
        Ok(PipelineOptions { config, enrich: !self.no_enrich, workers: self.workers, cluster: self.cluster })
    }
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("FEEDPULSE_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Demo { speed, seed, listen, pipeline } => {
            if speed.is_nan() || speed <= 0.0 {
                bail!("--speed must be positive");
            }
            let options = ServeOptions {
                listen,
                listen_fallback: true,
                alerts_out: None,
                alerts_stdout: false,
                dead_letters: None,
                demo: Some(DemoOptions { speed, seed }),
            };
            app::serve(pipeline.into_options()?, options).map_err(anyhow::Error::msg)
        }
        Command::Replay { input, alerts_out, dead_letters, stats, batch, parse_threads, pipeline } => {
            let (reader, kind): (Box<dyn std::io::Read + Send>, _) = if input == "-" {
                (Box::new(std::io::stdin()), SourceKind::Stdin)
            } else {
                (Box::new(std::fs::File::open(&input).with_context(|| format!("opening {input}"))?), SourceKind::File)
            };
            let threads =
                parse_threads.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2));
            let options =
                ReplayOptions { alerts_out, dead_letters, batch_lines: batch, parse_threads: threads, progress: stats };
            let report = app::replay(&pipeline.into_options()?, reader, kind, options).map_err(anyhow::Error::msg)?;
            if stats {
                eprintln!("{}", app::replay_stats_text(&report));
            }
            Ok(())
        }
        Command::Run { listen, alerts_stdout, alerts_out, dead_letters, pipeline } => {
            let options =
                ServeOptions { listen, listen_fallback: false, alerts_out, alerts_stdout, dead_letters, demo: None };
            app::serve(pipeline.into_options()?, options).map_err(anyhow::Error::msg)
        }
        Command::CheckConfig { dir } => match Config::load_dir(&dir) {
            Ok(c) => {
                println!(
                    "{}: ok ({} windows, {} categories, {} rules)",
                    dir.display(),
                    c.windows.len(),
                    c.categories.len(),
                    c.rules.len()
                );
                Ok(())
            }
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(1);
            }
        },
    }
}
