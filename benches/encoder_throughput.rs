//! Sentence-encoder and enrichment throughput.
//!
//! `cargo bench --bench encoder_throughput` — loads the models from the cache (fetching them on
//! first use), then embeds the demo's feedback texts (short Chinese and English complaints,
//! 6–30 characters) and, when `../shared/eval-data` is present, ChnSentiCorp test reviews
//! (long), one thread and then one per core, and times the sentiment model alone on given
//! embeddings. Prints a Markdown table.

use feedpulse::config::Config;
use feedpulse::enrich::encoder::DIM;
use feedpulse::enrich::{models, Embedder, Enricher, Models};
use std::sync::Arc;
use std::time::Instant;

fn per_second(n: usize, f: impl FnOnce()) -> f64 {
    let started = Instant::now();
    f();
    n as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let dir = models::default_dir();
    let loading = Instant::now();
    let models = Arc::new(Models::prepare(&dir, &mut |m| eprintln!("{m}")));
    let load_s = loading.elapsed().as_secs_f64();
    assert!(!models.is_fallback(), "models unavailable: {}", models.describe());
    let Embedder::Encoder(encoder) = &models.embedder else { unreachable!() };
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());

    let short: Vec<String> = feedpulse::demo::sample_texts().into_iter().cycle().take(20_000).collect();
    let mut sets = vec![("demo feedback, 6–30 chars", short)];
    let eval = std::path::Path::new("../shared/eval-data/chnsenticorp/test.csv");
    if let Ok(body) = std::fs::read_to_string(eval) {
        let rows = feedpulse::eval::sentiment::csv_rows(&body).expect("ChnSentiCorp reads as CSV");
        sets.push(("ChnSentiCorp test reviews", rows.into_iter().skip(1).filter_map(|r| r.get(1).cloned()).collect()));
    } else {
        eprintln!("../shared/eval-data is absent: short texts only");
    }

    println!("model load: {load_s:.2} s (from {})\n", dir.display());
    println!("| texts | n | mean chars | 1 thread, sentences/s | {threads} threads, sentences/s |");
    println!("|---|---:|---:|---:|---:|");
    for (name, texts) in &sets {
        let chars = texts.iter().map(|t| t.chars().count()).sum::<usize>() as f64 / texts.len() as f64;
        let one = per_second(texts.len(), || {
            for chunk in texts.chunks(256) {
                std::hint::black_box(encoder.encode(chunk));
            }
        });
        let all = per_second(texts.len(), || {
            std::thread::scope(|s| {
                for part in texts.chunks(texts.len().div_ceil(threads)) {
                    s.spawn(move || {
                        for chunk in part.chunks(256) {
                            std::hint::black_box(encoder.encode(chunk));
                        }
                    });
                }
            })
        });
        println!("| {name} | {} | {chars:.0} | {one:.0} | {all:.0} |", texts.len());
    }

    let enricher = Enricher::new(&Config::embedded(), models.clone());
    let texts = &sets[0].1;
    let embeddings = encoder.encode(&texts[..2000]);
    let sentiment = models.sentiment.as_ref().unwrap();
    let lexicon_free = per_second(2000 * 50, || {
        for _ in 0..50 {
            for (t, e) in texts[..2000].iter().zip(embeddings.chunks_exact(DIM)) {
                std::hint::black_box(sentiment.score(t, e, enricher.lexicon()));
            }
        }
    });
    println!(
        "\nsentiment model on given embeddings (n-gram NB + head + lexicon), 1 thread: {lexicon_free:.0} messages/s"
    );
}
