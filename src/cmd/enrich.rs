//! `feedpulse enrich`: NDJSON events in, the same events out with what enrichment adds. Each
//! line goes through the live admission path (decode, validate, clean, mask), so the output is
//! what the dataflow would see; lines it rejects go to stderr as dead letters.

use crate::admit::Admission;
use crate::cmd::pipeline::PipelineArgs;
use crate::cmd::pipeline::PipelineOptions;
use crate::enrich::Enricher;
use anyhow::{bail, Result};
use serde_json::{json, Value};
use std::io::{BufRead, Write};

pub struct Report {
    pub enriched: usize,
    pub dead: usize,
}

/// Lines embedded together: batching is what makes the encoder fast.
const BATCH: usize = 64;

pub fn run(options: &PipelineOptions, input: impl BufRead, mut out: impl Write, embeddings: bool) -> Result<Report> {
    let Some(models) = options.models.clone() else { bail!("enrich needs enrichment on (drop --no-enrich)") };
    // Admission without an enricher: upstream fields are kept, the rest is added here in batches.
    let admission = Admission::new(&options.config, None);
    let enricher = Enricher::new(&options.config, models);
    let mut report = Report { enriched: 0, dead: 0 };
    let mut pending: Vec<(Value, bool, bool)> = Vec::new();
    let mut texts: Vec<String> = Vec::new();
    let flush = |pending: &mut Vec<(Value, bool, bool)>, texts: &mut Vec<String>, out: &mut dyn Write| -> Result<()> {
        for ((mut record, has_category, has_sentiment), e) in pending.drain(..).zip(enricher.enrich(texts)) {
            if !has_category {
                record["category"] = json!(e.category);
                record["category_score"] = json!(e.category_score);
            }
            if !has_sentiment {
                record["sentiment"] = json!((e.sentiment * 1000.0).round() / 1000.0);
            }
            if embeddings {
                record["embedding"] = json!(e.embedding);
            }
            serde_json::to_writer(&mut *out, &record)?;
            out.write_all(b"\n")?;
        }
        texts.clear();
        Ok(())
    };
    let now = chrono::Utc::now().timestamp_millis();
    for line in input.split(b'\n') {
        let line = line?;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match admission.admit(&line, now, "enrich") {
            Ok(event) => {
                let mut record =
                    json!({ "id": event.id, "ts": event.ts_ms, "channel": event.channel, "text": event.text });
                for (key, value) in [("campaign", &event.campaign), ("business", &event.business)] {
                    if let Some(v) = value {
                        record[key] = json!(v);
                    }
                }
                // Which fields came from upstream, as admission reads them: a category must be
                // a non-empty string, a sentiment non-null. (Admission has already validated the
                // line, so it parses.)
                let upstream: Value = serde_json::from_slice(&line)?;
                let has_category = upstream.get("category").and_then(Value::as_str).is_some_and(|c| !c.is_empty());
                let has_sentiment = upstream.get("sentiment").is_some_and(|v| !v.is_null());
                if has_category {
                    record["category"] = json!(event.category);
                }
                if has_sentiment {
                    record["sentiment"] = json!(event.sentiment_milli as f64 / 1000.0);
                }
                if let Some(meta) = &event.meta {
                    record["meta"] = serde_json::from_str(meta)?;
                }
                texts.push(event.text);
                pending.push((record, has_category, has_sentiment));
                report.enriched += 1;
            }
            Err(dead) => {
                eprintln!("{}", serde_json::to_string(&dead)?);
                report.dead += 1;
            }
        }
        if pending.len() >= BATCH {
            flush(&mut pending, &mut texts, &mut out)?;
        }
    }
    flush(&mut pending, &mut texts, &mut out)?;
    out.flush()?;
    Ok(report)
}

/// `feedpulse enrich`.
#[derive(clap::Args)]
pub struct EnrichArgs {
    /// Input file, or `-` for standard input.
    #[arg(default_value = "-")]
    pub input: String,
    #[arg(long)]
    pub embeddings: bool,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

impl EnrichArgs {
    pub fn run(self) -> Result<()> {
        use anyhow::Context;
        let options = self.pipeline.into_options()?;
        let input = &self.input;
        let reader: Box<dyn BufRead> = if input == "-" {
            Box::new(std::io::stdin().lock())
        } else {
            Box::new(std::io::BufReader::new(std::fs::File::open(input).with_context(|| format!("opening {input}"))?))
        };
        let report = run(&options, reader, std::io::stdout().lock(), self.embeddings)?;
        eprintln!("enriched {} events, {} dead letters", report.enriched, report.dead);
        Ok(())
    }
}
