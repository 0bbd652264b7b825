//! `feedpulse eval similarity FILE`: how well the sentence encoder's cosine separates pairs
//! with the same meaning from pairs without, on a TSV of `id, sentence 1, sentence 2, 0/1`
//! (ATEC customer-service question pairs in `../shared/eval-data`). It prints the cosine that
//! best separates them: the evidence behind `[cluster] similarity` for Chinese.

use super::new_clusters::embed_all;
use crate::dataflow::whitening::Whitening;
use crate::enrich::Embedder;
use crate::event::cosine_q;
use crate::util::error::{bail_invalid, Context, Result};
use serde::Serialize;
use std::path::Path;

#[derive(Debug, Serialize)]
pub struct Report {
    pub pairs: usize,
    /// Sentences the whitening was fitted on; 0: raw cosines.
    pub whitened_on: usize,
    pub same_meaning: usize,
    pub mean_cosine_same: f64,
    pub mean_cosine_different: f64,
    /// Probability that a same-meaning pair scores above a different-meaning one.
    pub auc: f64,
    pub best_f1_threshold: f64,
    pub best_f1: f64,
    /// Share of same-meaning pairs at or above a threshold, and of different pairs below it.
    pub at_thresholds: Vec<(f64, f64, f64)>,
}

pub fn read_pairs(path: &Path, limit: Option<usize>) -> Result<Vec<(String, String, bool)>> {
    let body = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut pairs = Vec::new();
    for (i, line) in body.lines().enumerate() {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 4 {
            bail_invalid!("{}:{}: expected 4 tab-separated fields", path.display(), i + 1);
        }
        let clean = |s: &str| s.trim().trim_start_matches('\u{feff}').to_owned();
        pairs.push((clean(f[1]), clean(f[2]), f[3].trim() == "1"));
        if limit.is_some_and(|l| pairs.len() >= l) {
            break;
        }
    }
    Ok(pairs)
}

/// `whitening_sample` > 0: cosines of whitened embeddings, the whitening fitted on the file's
/// first sentences without their labels (unsupervised, as the clusterer fits it on its stream).
pub fn run(path: &Path, embedder: &Embedder, limit: Option<usize>, whitening_sample: usize) -> Result<Report> {
    let pairs = read_pairs(path, limit)?;
    let texts: Vec<&str> = pairs.iter().flat_map(|(a, b, _)| [a.as_str(), b.as_str()]).collect();
    let mut vectors = embed_all(embedder, &texts);
    let mut whitened_on = 0;
    if whitening_sample > 0 {
        let sample = vectors.iter().take(whitening_sample).map(|v| v.0.as_slice());
        if let Some(w) = Whitening::fit(crate::enrich::encoder::DIM, sample) {
            whitened_on = w.fitted_on;
            vectors = vectors.iter().map(|v| w.apply(&v.0)).collect();
        }
    }
    let scored: Vec<(f64, bool)> = pairs
        .iter()
        .enumerate()
        .map(|(i, p)| (cosine_q(&vectors[2 * i].0, &vectors[2 * i + 1].0) as f64, p.2))
        .collect();
    Ok(Report { whitened_on, ..score(&scored) })
}

fn score(scored: &[(f64, bool)]) -> Report {
    let positives: Vec<f64> = scored.iter().filter(|s| s.1).map(|s| s.0).collect();
    let negatives: Vec<f64> = scored.iter().filter(|s| !s.1).map(|s| s.0).collect();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    // AUC by ranks (ties count half).
    let mut all: Vec<(f64, bool)> = scored.to_vec();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (mut rank_sum, mut i) = (0.0, 0);
    while i < all.len() {
        let mut j = i;
        while j < all.len() && all[j].0 == all[i].0 {
            j += 1;
        }
        let average_rank = (i + j + 1) as f64 / 2.0;
        rank_sum += average_rank * all[i..j].iter().filter(|s| s.1).count() as f64;
        i = j;
    }
    let (p, n) = (positives.len() as f64, negatives.len() as f64);
    let auc = if p > 0.0 && n > 0.0 { (rank_sum - p * (p + 1.0) / 2.0) / (p * n) } else { 0.5 };
    let at = |t: f64| {
        let tp = positives.iter().filter(|&&c| c >= t).count() as f64;
        let tn = negatives.iter().filter(|&&c| c < t).count() as f64;
        (tp, tn)
    };
    let mut best = (0.0, 0.0);
    for step in 0..=100 {
        let t = step as f64 / 100.0;
        let (tp, tn) = at(t);
        let (fp, fn_) = (n - tn, p - tp);
        let f1 = if tp > 0.0 { 2.0 * tp / (2.0 * tp + fp + fn_) } else { 0.0 };
        if f1 > best.1 {
            best = (t, f1);
        }
    }
    let at_thresholds = (2..=18)
        .map(|step| step as f64 * 0.05)
        .map(|t| {
            let (tp, tn) = at(t);
            (t, tp / p.max(1.0), tn / n.max(1.0))
        })
        .collect();
    Report {
        pairs: scored.len(),
        whitened_on: 0,
        same_meaning: positives.len(),
        mean_cosine_same: mean(&positives),
        mean_cosine_different: mean(&negatives),
        auc,
        best_f1_threshold: best.0,
        best_f1: best.1,
        at_thresholds,
    }
}

/// The report as a table.
pub fn render(report: &Report) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let space = match report.whitened_on {
        0 => "raw cosines".to_string(),
        n => format!("whitened on {n} sentences"),
    };
    let _ = writeln!(
        out,
        "pairs {} (same meaning {})  {}  mean cosine same {:.3} / different {:.3}  AUC {:.3}",
        report.pairs, report.same_meaning, space, report.mean_cosine_same, report.mean_cosine_different, report.auc
    );
    let _ = writeln!(out, "best F1 {:.3} at cosine {:.2}", report.best_f1, report.best_f1_threshold);
    let _ = writeln!(out, "{:>9} {:>16} {:>21}", "cosine ≥", "same kept", "different kept apart");
    for (t, same, different) in &report.at_thresholds {
        let _ = writeln!(out, "{t:>9.2} {same:>16.3} {different:>21.3}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separable_scores_give_auc_one_and_a_threshold_between() {
        let r = score(&[(0.9, true), (0.8, true), (0.3, false), (0.4, false)]);
        assert_eq!(r.auc, 1.0);
        assert!(r.best_f1_threshold > 0.4 && r.best_f1_threshold <= 0.8, "{r:?}");
        assert_eq!(r.best_f1, 1.0);
        let r = score(&[(0.5, true), (0.5, false)]);
        assert_eq!(r.auc, 0.5, "ties count half");
    }
}
