//! Clusterer throughput: assignments per second on one core with thousands of live clusters.
//!
//! `cargo bench --bench cluster_throughput` — synthetic 512-d unit embeddings: messages drawn
//! around fixed centres (cosine ≈ 0.8 to their centre) mixed with unrelated noise, which starts
//! a cluster of its own each time, so the number of live clusters grows to the cap. Texts are the
//! demo's feedback, so stored texts are segmented as in the pipeline. Prints a Markdown table.

use feedpulse::dataflow::clusters::{ClusterChange, ClusterParams, ClusterState, Member};
use feedpulse::demo::SplitMix;
use feedpulse::enrich::encoder::DIM;
use feedpulse::event::Embedding;
use std::time::Instant;

fn gaussian(rng: &mut SplitMix) -> f32 {
    // Box–Muller.
    let (u, v) = (rng.unit().max(1e-12), rng.unit());
    ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
}

fn unit(v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.into_iter().map(|x| x / n).collect()
}

fn random_unit(rng: &mut SplitMix) -> Vec<f32> {
    unit((0..DIM).map(|_| gaussian(rng)).collect())
}

fn main() {
    let texts = feedpulse::demo::sample_texts();
    println!("| live clusters (cap) | messages | noise share | assignments/s (1 core) | clusters at end |");
    println!("|---:|---:|---:|---:|---:|");
    for (cap, noise_share) in [(1_000, 0.5), (4_000, 0.5), (4_000, 0.9)] {
        let mut rng = SplitMix::new(42);
        let centres: Vec<Vec<f32>> = (0..200).map(|_| random_unit(&mut rng)).collect();
        let n = 60_000;
        let messages: Vec<Embedding> = (0..n)
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
        let params = ClusterParams {
            similarity: 0.62,
            merge_similarity: 0.85,
            novelty: 0.6,
            min_size: 8,
            window_ms: 1_800_000,
            warmup_ms: 0,
            idle_expiry_ms: 86_400_000,
            max_clusters: cap,
            per_category: false,
            alerts: true,
        };
        let mut state = ClusterState::new(params, DIM);
        let ids: Vec<String> = (0..n).map(|i| format!("m{i}")).collect();
        let mut changes = Vec::new();
        let feed = |state: &mut ClusterState, range: std::ops::Range<usize>, changes: &mut Vec<ClusterChange>| {
            for i in range {
                let m = Member {
                    id: &ids[i],
                    ts_ms: i as i64 * 10,
                    category: "other",
                    channel: "app",
                    sentiment_milli: 0,
                    negative: false,
                    text: &texts[i % texts.len()],
                    embedding: &messages[i].0,
                };
                changes.clear();
                state.absorb(&m, changes);
            }
        };
        // Fill to the cap first, then time.
        feed(&mut state, 0..n / 3, &mut changes);
        let started = Instant::now();
        feed(&mut state, n / 3..n, &mut changes);
        let per_s = (n - n / 3) as f64 / started.elapsed().as_secs_f64();
        println!("| {cap} | {} | {noise_share} | {per_s:.0} | {} |", n - n / 3, state.len());
    }
}
