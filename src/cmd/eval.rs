//! `feedpulse eval`: measure the models and the clusterer on labelled data, and print the report
//! (a table, or one JSON object with `--json`).

use crate::cmd::pipeline::{PipelineArgs, PipelineOptions};
use crate::enrich::{Enricher, Models};
use crate::eval::{classify, new_clusters, scopes, sentiment, similarity};
use anyhow::{bail, Result};
use clap::Subcommand;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Subcommand)]
pub enum EvalWhat {
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
        /// The orders to stream the set in: `7`, `1-6` or `1,3,5`. Several print each one's
        /// result and the mean and spread of every measure.
        #[arg(long, alias = "seed", default_value = "1")]
        seeds: String,
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
    /// How well `[[scope]]` matchers name a business line: online_shopping_10_cats' product
    /// categories as the lines, `cat` withheld; keywords, examples drawn from a development half,
    /// and both, scored on the other half per seed. With --replay-out, also writes a replay of
    /// days of its reviews (one line's negatives tripled on one day) and, with --config-out, the
    /// configuration its keyword scopes and day-over-day rules make (docs/notes).
    Scopes(ScopesArgs),
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

/// The models a measurement needs: enrichment must be on.
fn models(options: &PipelineOptions, what: &str) -> Result<Arc<Models>> {
    match options.models.clone() {
        Some(models) => Ok(models),
        None => bail!("eval {what} needs enrichment on"),
    }
}

impl EvalWhat {
    pub fn run(self) -> Result<()> {
        match self {
            EvalWhat::Sentiment { file: Some(file), json, pipeline, .. } => {
                let options = pipeline.into_options()?;
                let models = models(&options, "sentiment")?;
                let enricher = Enricher::new(&options.config, models.clone());
                let report = classify::sentiment(&classify::read(&file)?, &enricher)?;
                print_classification(&report, json, &format!("sentiment model: {}", models.describe()))
            }
            EvalWhat::Sentiment { file: None, data, json, pipeline } => sentiment_sets(&data, json, pipeline),
            EvalWhat::Categories { file, prototypes, threshold, json, pipeline } => {
                let options = pipeline.into_options()?;
                let models = models(&options, "categories")?;
                let rows = classify::read(&file)?;
                let examples = prototypes.as_deref().map(classify::read).transpose()?;
                let report =
                    classify::categories(&rows, &options.config, models.clone(), examples.as_deref(), threshold);
                let source = match &prototypes {
                    Some(p) => format!("prototypes: {} examples from {}", examples.map_or(0, |e| e.len()), p.display()),
                    None => "prototypes: the taxonomy's rules and examples".to_owned(),
                };
                print_classification(&report, json, &format!("{source}; embeddings: {}", models.describe()))
            }
            EvalWhat::NewClusters {
                file,
                holdout,
                seeds,
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
            } => {
                let options = pipeline.into_options()?;
                let models = models(&options, "new-clusters")?;
                let Some(mut params) = crate::dataflow::clusters::ClusterParams::from_config(&options.config) else {
                    bail!("the configuration has no [cluster] table")
                };
                params.similarity = similarity.unwrap_or(params.similarity);
                params.novelty = novelty.unwrap_or(params.novelty);
                params.merge_similarity = merge_similarity.unwrap_or(params.merge_similarity).max(params.similarity);
                params.min_size = min_size.unwrap_or(params.min_size);
                params.whitening_sample = whitening_sample.unwrap_or(params.whitening_sample);
                let Some(seeds) = new_clusters::parse_seeds(&seeds) else {
                    bail!("--seeds takes `7`, `1-6` or `1,3,5`, not `{seeds}`")
                };
                let mut reports = Vec::new();
                if !json {
                    println!("embeddings: {}", models.describe());
                }
                for &seed in &seeds {
                    let eval = new_clusters::Options { holdout, seed, background_share, interval_ms, limit };
                    let report = new_clusters::run(&file, &models.embedder, params.clone(), &eval)?;
                    if !json {
                        println!("--- seed {seed}");
                        print!("{}", new_clusters::render(&report, &params));
                    }
                    reports.push(report);
                }
                let summary = (seeds.len() > 1).then(|| new_clusters::Summary::of(&seeds, &reports));
                match (json, summary) {
                    (true, None) => println!("{}", serde_json::to_string(&reports[0])?),
                    (true, Some(summary)) => {
                        println!(
                            "{}",
                            serde_json::to_string(&serde_json::json!({ "summary": summary, "per_seed": reports }))?
                        )
                    }
                    (false, Some(summary)) => print!("=== over {} seeds\n{}", seeds.len(), summary.render()),
                    (false, None) => {}
                }
                Ok(())
            }
            EvalWhat::Scopes(args) => args.run(),
            EvalWhat::Similarity { file, limit, whitening_sample, json, pipeline } => {
                let options = pipeline.into_options()?;
                let models = models(&options, "similarity")?;
                let whitening_sample = whitening_sample
                    .or_else(|| options.config.cluster.as_ref().map(|c| c.whitening_sample))
                    .unwrap_or(0);
                let report = similarity::run(&file, &models.embedder, limit, whitening_sample)?;
                if json {
                    println!("{}", serde_json::to_string(&report)?);
                } else {
                    println!("embeddings: {}", models.describe());
                    print!("{}", similarity::render(&report));
                }
                Ok(())
            }
        }
    }
}

/// `eval sentiment` without a file: ChnSentiCorp's test split and online_shopping_10_cats.
fn sentiment_sets(data: &std::path::Path, json: bool, pipeline: PipelineArgs) -> Result<()> {
    let dir = pipeline.models.clone().unwrap_or_else(crate::enrich::models::default_dir);
    let options = pipeline.into_options()?;
    let models = models(&options, "sentiment")?;
    let enricher = Enricher::new(&options.config, models.clone());
    let scores = sentiment::run(data, &dir, &enricher)?;
    if json {
        println!("{}", serde_json::to_string(&scores)?);
        return Ok(());
    }
    println!("sentiment model: {}", models.describe());
    println!("{:<40} {:>7} {:>9} {:>9} {:>10} {:>10}", "set", "rows", "overlap", "accuracy", "neg recall", "msgs/s");
    for s in &scores {
        println!(
            "{:<40} {:>7} {:>9} {:>9.4} {:>10.4} {:>10.0}",
            s.set, s.rows, s.overlap_removed, s.accuracy, s.negative_recall, s.messages_per_s
        );
    }
    Ok(())
}

/// Prints an `eval sentiment FILE` / `eval categories` report: one JSON object, or a table.
fn print_classification(report: &classify::Report, json: bool, header: &str) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string(report)?);
    } else {
        println!("{header}");
        print!("{}", classify::render(report));
    }
    Ok(())
}

/// `feedpulse eval scopes` (see [`EvalWhat::Scopes`]).
#[derive(clap::Args)]
pub struct ScopesArgs {
    #[arg(long, default_value = "../shared/eval-data")]
    data: PathBuf,
    #[arg(long, default_value = "1-3")]
    seeds: String,
    /// Reviews per line drawn before the split (half development, half test).
    #[arg(long, default_value_t = 600)]
    per_line: usize,
    /// Examples per line, drawn from the development half.
    #[arg(long, default_value_t = 5)]
    examples: usize,
    #[arg(long)]
    replay_out: Option<PathBuf>,
    #[arg(long, requires = "replay_out")]
    config_out: Option<PathBuf>,
    /// The line whose negative reviews triple on the third day of the replay.
    #[arg(long, default_value = "水果")]
    surge_line: String,
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    pipeline: PipelineArgs,
}

impl ScopesArgs {
    fn run(self) -> Result<()> {
        let ScopesArgs { data, seeds, per_line, examples, replay_out, config_out, surge_line, json, pipeline } = self;
        let options = pipeline.into_options()?;
        let models = models(&options, "scopes")?;
        let Some(seeds) = new_clusters::parse_seeds(&seeds) else {
            bail!("--seeds takes `7`, `1-6` or `1,3,5`, not `{seeds}`")
        };
        let reviews = scopes::reviews(&data)?;
        let threshold = options.config.enrich.example_threshold;
        let mut scores = Vec::new();
        for &seed in &seeds {
            let (dev, test) = scopes::split(&reviews, per_line, seed);
            for matchers in ["keywords", "examples", "keywords+examples"] {
                let mut rng = crate::util::SplitMix::new(seed ^ 0x5c0e);
                let scopes = scopes::product_scopes(matchers, &dev, examples, &mut rng);
                scores.push(scopes::score(matchers, seed, &scopes, &test, &models.embedder, threshold));
            }
        }
        if json {
            println!("{}", serde_json::to_string(&scores)?);
        } else {
            println!("embeddings: {}; {} test reviews per line and seed", models.describe(), per_line - per_line / 2);
            print!("{}", scopes::render(&scores));
        }
        if let Some(path) = replay_out {
            let lines = scopes::surge_replay(&reviews, 4, 400, &surge_line, 2, 1_767_225_600_000, 1);
            std::fs::write(&path, lines.join("\n") + "\n")?;
            if let Some(dir) = config_out {
                scopes::write_config(&dir)?;
            }
        }
        Ok(())
    }
}
