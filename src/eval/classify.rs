//! `feedpulse eval sentiment FILE` and `feedpulse eval categories FILE`: the enricher's labels
//! against a labelled file (CSV with `text` and `label` columns, or NDJSON), scored as accuracy,
//! macro-F1, per-label precision/recall/F1 and the most frequent confusions.

use crate::config::{CategoryConfig, Config};
use crate::enrich::{Enricher, Models};
use crate::util::error::{bail_invalid, Result};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

#[derive(Debug, Serialize, PartialEq)]
pub struct LabelScore {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Rows with this true label.
    pub support: usize,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Report {
    pub n: usize,
    pub accuracy: f64,
    /// Mean F1 over the true labels.
    pub macro_f1: f64,
    pub per_label: BTreeMap<String, LabelScore>,
    /// The most frequent (true, predicted, count) mistakes.
    pub confusions: Vec<(String, String, usize)>,
    pub messages_per_s: f64,
}

/// Scores `predicted` against `truth` (same order).
pub fn score(truth: &[String], predicted: &[String], messages_per_s: f64) -> Report {
    let mut true_count: HashMap<&str, usize> = HashMap::new();
    let mut predicted_count: HashMap<&str, usize> = HashMap::new();
    let mut hits: HashMap<&str, usize> = HashMap::new();
    let mut mistakes: HashMap<(&str, &str), usize> = HashMap::new();
    for (t, p) in truth.iter().zip(predicted) {
        *true_count.entry(t).or_default() += 1;
        *predicted_count.entry(p).or_default() += 1;
        if t == p {
            *hits.entry(t).or_default() += 1;
        } else {
            *mistakes.entry((t, p)).or_default() += 1;
        }
    }
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let per_label: BTreeMap<String, LabelScore> = true_count
        .iter()
        .map(|(&label, &support)| {
            let hit = hits.get(label).copied().unwrap_or(0);
            let precision = ratio(hit, predicted_count.get(label).copied().unwrap_or(0));
            let recall = ratio(hit, support);
            let f1 = if precision + recall == 0.0 { 0.0 } else { 2.0 * precision * recall / (precision + recall) };
            (label.to_owned(), LabelScore { precision, recall, f1, support })
        })
        .collect();
    let mut confusions: Vec<(String, String, usize)> =
        mistakes.into_iter().map(|((t, p), n)| (t.to_owned(), p.to_owned(), n)).collect();
    confusions.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| (&a.0, &a.1).cmp(&(&b.0, &b.1))));
    confusions.truncate(10);
    Report {
        n: truth.len(),
        accuracy: ratio(hits.values().sum(), truth.len()),
        macro_f1: per_label.values().map(|s| s.f1).sum::<f64>() / per_label.len().max(1) as f64,
        per_label,
        confusions,
        messages_per_s,
    }
}

/// A sentiment label as `negative` or `positive` (`0`/`1` and the words are accepted).
pub fn sentiment_label(label: &str) -> Option<&'static str> {
    match label.trim().to_lowercase().as_str() {
        "0" | "negative" | "neg" => Some("negative"),
        "1" | "positive" | "pos" => Some("positive"),
        _ => None,
    }
}

/// Labels `texts` with `label_of` over batches of enrichment, timing it.
fn predict(
    enricher: &Enricher,
    texts: &[&str],
    label_of: impl Fn(&crate::enrich::Enrichment) -> String,
) -> (Vec<String>, f64) {
    let started = std::time::Instant::now();
    let mut predicted = Vec::with_capacity(texts.len());
    for chunk in texts.chunks(256) {
        predicted.extend(enricher.enrich(chunk).iter().map(&label_of));
    }
    let rate = texts.len() as f64 / started.elapsed().as_secs_f64().max(1e-9);
    (predicted, rate)
}

/// Sentiment of every row (negative below 0) against its label.
pub fn sentiment(rows: &[(String, String)], enricher: &Enricher) -> Result<Report> {
    let mut truth = Vec::with_capacity(rows.len());
    for (i, (_, label)) in rows.iter().enumerate() {
        match sentiment_label(label) {
            Some(l) => truth.push(l.to_owned()),
            None => bail_invalid!("row {}: sentiment label {label:?} is not 0/1 or negative/positive", i + 1),
        }
    }
    let texts: Vec<&str> = rows.iter().map(|(t, _)| t.as_str()).collect();
    Ok(sentiment_of(&texts, &truth, enricher))
}

/// Sentiment of `texts` (negative below 0) against `truth` (`negative`/`positive`).
pub fn sentiment_of(texts: &[&str], truth: &[String], enricher: &Enricher) -> Report {
    let (predicted, rate) =
        predict(enricher, texts, |e| if e.sentiment < 0.0 { "negative" } else { "positive" }.to_owned());
    score(truth, &predicted, rate)
}

/// Categories of every row against its label: by the configured taxonomy (rules, then the
/// examples' classifier, gated by `enrich.example_threshold`, else `other`), or, given
/// `prototypes` (labelled rows), by a classifier trained on those examples alone — the same
/// rule as live enrichment, with the labels of that file as the taxonomy and no keyword rules.
/// `threshold` overrides the example threshold (by default none with `prototypes`: the file's
/// labels are a closed set).
pub fn categories(
    rows: &[(String, String)],
    config: &Config,
    models: Arc<Models>,
    prototypes: Option<&[(String, String)]>,
    threshold: Option<f64>,
) -> Report {
    let mut config = config.clone();
    if let Some(examples) = prototypes {
        let mut by_label: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for (text, label) in examples {
            by_label.entry(label).or_default().push(text.clone());
        }
        config.categories = by_label
            .into_iter()
            .map(|(name, examples)| CategoryConfig { name: name.to_owned(), keywords: Vec::new(), examples })
            .collect();
        config.enrich.example_threshold = threshold.unwrap_or(-1.0);
    } else if let Some(t) = threshold {
        config.enrich.example_threshold = t;
    }
    let enricher = Enricher::new(&config, models);
    let texts: Vec<&str> = rows.iter().map(|(t, _)| t.as_str()).collect();
    let (predicted, rate) = predict(&enricher, &texts, |e| e.category.clone());
    let truth: Vec<String> = rows.iter().map(|(_, l)| l.clone()).collect();
    score(&truth, &predicted, rate)
}

/// Reads a labelled file (see [`super::new_clusters::read_labelled`]).
pub fn read(path: &Path) -> Result<Vec<(String, String)>> {
    let rows = super::new_clusters::read_labelled(path)?;
    if rows.is_empty() {
        bail_invalid!("{}: no labelled rows", path.display());
    }
    Ok(rows)
}

/// The report as text: totals, per-label scores, the top confusions.
pub fn render(report: &Report) -> String {
    let mut out = format!(
        "n {}  accuracy {:.4}  macro-F1 {:.4}  ({:.0} messages/s)\n{:<28} {:>9} {:>9} {:>9} {:>8}\n",
        report.n,
        report.accuracy,
        report.macro_f1,
        report.messages_per_s,
        "label",
        "precision",
        "recall",
        "f1",
        "support"
    );
    for (label, s) in &report.per_label {
        out.push_str(&format!("{label:<28} {:>9.3} {:>9.3} {:>9.3} {:>8}\n", s.precision, s.recall, s.f1, s.support));
    }
    if !report.confusions.is_empty() {
        out.push_str("most frequent confusions (true → predicted):\n");
        for (t, p, n) in &report.confusions {
            out.push_str(&format!("  {t} → {p}: {n}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn scores_accuracy_macro_f1_and_confusions() {
        let truth = strings(&["a", "a", "a", "b", "b", "c"]);
        let predicted = strings(&["a", "a", "b", "b", "b", "a"]);
        let r = score(&truth, &predicted, 0.0);
        assert_eq!(r.n, 6);
        assert!((r.accuracy - 4.0 / 6.0).abs() < 1e-12);
        // a: p 2/3 r 2/3 f1 2/3; b: p 2/3 r 1 f1 0.8; c: 0.
        assert!((r.per_label["a"].f1 - 2.0 / 3.0).abs() < 1e-12);
        assert!((r.per_label["b"].f1 - 0.8).abs() < 1e-12);
        assert_eq!(r.per_label["c"].f1, 0.0);
        assert!((r.macro_f1 - (2.0 / 3.0 + 0.8) / 3.0).abs() < 1e-12);
        assert_eq!(r.confusions, vec![("a".into(), "b".into(), 1), ("c".into(), "a".into(), 1)]);
    }

    #[test]
    fn sentiment_labels_accept_digits_and_words() {
        assert_eq!(sentiment_label("0"), Some("negative"));
        assert_eq!(sentiment_label(" Positive "), Some("positive"));
        assert_eq!(sentiment_label("2"), None);
    }

    #[test]
    fn prototypes_from_a_labelled_file_replace_the_taxonomy() {
        // The fallback embedder (hashed character n-grams) is enough to tell these apart.
        let models = Arc::new(Models::fallback("test"));
        let train = vec![
            ("my card has not arrived yet".to_string(), "card_arrival".to_string()),
            ("when will my new card arrive".to_string(), "card_arrival".to_string()),
            ("I want to top up my account".to_string(), "top_up".to_string()),
            ("how do I top up by bank transfer".to_string(), "top_up".to_string()),
        ];
        let test = vec![
            ("my card still has not arrived".to_string(), "card_arrival".to_string()),
            ("can I top up with a transfer".to_string(), "top_up".to_string()),
        ];
        let r = categories(&test, &Config::embedded(), models, Some(&train), None);
        assert_eq!(r.accuracy, 1.0, "{r:?}");
        assert_eq!(r.per_label.len(), 2);
    }
}
