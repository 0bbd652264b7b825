//! Clusterer throughput: assignments per second on one core with thousands of live clusters.
//!
//! `cargo bench --bench cluster_throughput` — two kinds of input:
//! - synthetic 512-d unit embeddings: messages drawn around fixed centres (cosine ≈ 0.8 to their
//!   centre) mixed with unrelated noise, which starts a cluster of its own each time, so the
//!   number of live clusters grows to the cap. Isotropic noise is the angle sketches' best case.
//! - real embeddings, when `../shared/eval-data` and the models are present: the short reviews
//!   (≤ 40 characters) of online_shopping_10_cats in a fixed shuffled order, embedded by the
//!   sentence encoder first (not timed). Real sentence embeddings crowd into a cone (the median
//!   cosine of unrelated texts is well above 0), so more centroids survive the sketch filter.
//!
//! The real reviews are also run whitened (docs/clusters.md, `whitening_sample`).
//!
//! Texts are the demo's feedback (synthetic) or the reviews themselves, so stored texts are
//! segmented as in the pipeline. The first third of each stream fills the scope; the rest is
//! timed. Prints a Markdown table.

use feedpulse::dataflow::clusters::{ClusterParams, ClusterState, Member};
use feedpulse::dataflow::whitening::Whitening;
use feedpulse::enrich::encoder::DIM;
use feedpulse::enrich::{models, Embedder, Models};
use feedpulse::event::Embedding;
use feedpulse::util::SplitMix;
use std::time::Instant;

fn unit(v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.into_iter().map(|x| x / n).collect()
}

fn random_unit(rng: &mut SplitMix) -> Vec<f32> {
    unit((0..DIM).map(|_| rng.gaussian() as f32).collect())
}

/// Feeds `messages` (with `texts[i % texts.len()]`) through a global scope capped at `cap`;
/// returns the timed assignments per second and the live clusters at the end.
/// `whitened`: the embeddings are whitened (fitted on the first 2,000 messages, within the fill),
/// with a similarity that keeps the scope at its cap on these reviews as raw 0.62 does (at the
/// whitened 0.45 of docs/clusters.md they form a few dozen broad clusters, which says
/// nothing about a scan of thousands).
fn throughput(messages: &[Embedding], texts: &[String], cap: usize, whitened: bool) -> (f64, usize) {
    let (similarity, merge_similarity, novelty) = if whitened { (0.6, 0.8, 0.6) } else { (0.62, 0.85, 0.6) };
    let params = ClusterParams {
        similarity,
        merge_similarity,
        novelty,
        min_size: 8,
        window_ms: 1_800_000,
        warmup_ms: 0,
        idle_expiry_ms: 86_400_000,
        max_clusters: cap,
        per_category: false,
        alerts: true,
        whitening_sample: if whitened { 2_000 } else { 0 },
    };
    let mut state = ClusterState::new(params, DIM);
    let n = messages.len();
    let ids: Vec<String> = (0..n).map(|i| format!("m{i}")).collect();
    let mut changes = Vec::new();
    let (mut held, mut ready) = (Vec::new(), Vec::new());
    let mut feed = |state: &mut ClusterState, range: std::ops::Range<usize>| {
        for i in range {
            state.admit((i, &messages[i]), |(i, e)| (&e.0, *i as i64 * 10), &mut held, &mut ready);
            for (i, embedding) in ready.drain(..) {
                let m = Member {
                    id: &ids[i],
                    ts_ms: i as i64 * 10,
                    category: "other",
                    channel: "app",
                    sentiment_milli: 0,
                    negative: false,
                    text: &texts[i % texts.len()],
                    embedding: &embedding.0,
                };
                changes.clear();
                state.absorb(&m, &mut changes);
            }
        }
    };
    feed(&mut state, 0..n / 3);
    let started = Instant::now();
    feed(&mut state, n / 3..n);
    ((n - n / 3) as f64 / started.elapsed().as_secs_f64(), state.len())
}

/// Short online_shopping reviews, shuffled, embedded; `None` without the data or the models.
fn real_reviews(limit: usize) -> Option<(Vec<Embedding>, Vec<String>)> {
    let path = std::path::Path::new("../shared/eval-data/online_shopping_10_cats/online_shopping_10_cats.csv");
    let Ok(body) = std::fs::read_to_string(path) else {
        eprintln!("../shared/eval-data is absent: synthetic embeddings only");
        return None;
    };
    let models = Models::prepare(&models::default_dir(), &mut |m| eprintln!("{m}"));
    let Embedder::Encoder(encoder) = &models.embedder else {
        eprintln!("models unavailable: synthetic embeddings only");
        return None;
    };
    let mut texts: Vec<String> = feedpulse::eval::sentiment::csv_rows(&body)
        .expect("online_shopping_10_cats reads as CSV")
        .into_iter()
        .skip(1)
        .filter_map(|r| r.get(2).cloned())
        .filter(|t| !t.trim().is_empty() && t.chars().count() <= 40)
        .collect();
    let mut rng = SplitMix::new(7);
    for i in (1..texts.len()).rev() {
        texts.swap(i, rng.below(i + 1));
    }
    texts.truncate(limit);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let vectors: Vec<Vec<f32>> = std::thread::scope(|s| {
        let parts: Vec<_> = texts
            .chunks(texts.len().div_ceil(threads))
            .map(|part| s.spawn(move || part.chunks(256).flat_map(|c| encoder.encode(c)).collect::<Vec<f32>>()))
            .collect();
        parts.into_iter().map(|p| p.join().expect("encoder thread")).collect()
    });
    let messages = vectors.concat().chunks_exact(DIM).map(Embedding::quantize).collect();
    Some((messages, texts))
}

fn main() {
    let demo_texts = feedpulse::demo::sample_texts();
    println!("| embeddings | live clusters (cap) | timed messages | assignments/s (1 core) | clusters at end |");
    println!("|---|---:|---:|---:|---:|");
    for (cap, noise_share) in [(1_000, 0.5), (4_000, 0.5), (4_000, 0.9)] {
        let mut rng = SplitMix::new(42);
        let centres: Vec<Vec<f32>> = (0..200).map(|_| random_unit(&mut rng)).collect();
        let messages: Vec<Embedding> = (0..60_000)
            .map(|_| {
                if rng.unit() < noise_share {
                    Embedding::quantize(&random_unit(&mut rng))
                } else {
                    let c = &centres[rng.below(centres.len())];
                    let noise = random_unit(&mut rng);
                    Embedding::quantize(&unit(c.iter().zip(&noise).map(|(a, b)| a + 0.75 * b).collect()))
                }
            })
            .collect();
        let (per_s, live) = throughput(&messages, &demo_texts, cap, false);
        let name = format!("synthetic, {:.0}% one-off noise", noise_share * 100.0);
        println!("| {name} | {cap} | {} | {per_s:.0} | {live} |", messages.len() - messages.len() / 3);
    }
    if let Some((messages, texts)) = real_reviews(30_000) {
        for (cap, whitened) in [(1_000, false), (4_000, false), (4_000, true)] {
            let (per_s, live) = throughput(&messages, &texts, cap, whitened);
            let name = if whitened {
                "online_shopping_10_cats reviews ≤ 40 chars (real), whitened"
            } else {
                "online_shopping_10_cats reviews ≤ 40 chars (real)"
            };
            println!("| {name} | {cap} | {} | {per_s:.0} | {live} |", messages.len() - messages.len() / 3);
        }
        // The whitening's own share: fitting once, then one product per message.
        let started = Instant::now();
        let whitening = Whitening::fit(DIM, messages[..2_000].iter().map(|e| e.0.as_slice())).expect("fits");
        let fit_ms = started.elapsed().as_secs_f64() * 1e3;
        let started = Instant::now();
        let checksum: i64 = messages.iter().map(|m| whitening.apply(&m.0).0[0] as i64).sum();
        let per_message_us = started.elapsed().as_secs_f64() * 1e6 / messages.len() as f64;
        println!();
        println!(
            "whitening: fitted on 2,000 in {fit_ms:.0} ms; {per_message_us:.1} µs per message (checksum {checksum})"
        );
    }
}
