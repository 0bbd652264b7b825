//! How well the PII masker finds personal data as people write it, and how many clean reviews
//! it changes: generated variants of every kind put into real reviews of
//! `../shared/eval-data/online_shopping_10_cats` (`feedpulse::eval::pii`).
//!
//! `cargo bench --bench pii_recall -- [PER_KIND=200] [SEED=1]`

use feedpulse::clean::pii::PiiMasker;
use feedpulse::config::PiiConfig;
use std::path::Path;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let per_kind: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(200);
    let seed: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1);
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/eval-data/online_shopping_10_cats/online_shopping_10_cats.csv");
    let rows = match feedpulse::eval::new_clusters::read_labelled(&file) {
        Ok(rows) => rows,
        Err(e) => {
            eprintln!("{e}: this bench needs ../shared/eval-data");
            return;
        }
    };
    let texts: Vec<String> = rows.into_iter().map(|(text, _)| text).collect();
    let masker = PiiMasker::new(PiiConfig::default());
    let started = std::time::Instant::now();
    let report = feedpulse::eval::pii::measure(&masker, &texts, per_kind, seed);
    println!("{} variants per kind in real reviews (seed {seed}):", per_kind);
    for (token, (found, n, misses)) in &report.per_kind {
        println!("  {token:10} recall {:.3} ({found}/{n})", *found as f64 / *n as f64);
        for miss in misses {
            println!("      missed: {miss}");
        }
    }
    println!(
        "clean reviews changed: {} of {} ({:.3} %)",
        report.clean_changed,
        report.clean_texts,
        100.0 * report.changed_share()
    );
    for (before, after) in &report.clean_changed_examples {
        println!("      {before}\n    → {after}");
    }
    println!("{:.1} s", started.elapsed().as_secs_f64());
}
