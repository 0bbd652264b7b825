//! Hostile input against the decoder, the HTTP body splitter, the configuration loader and the
//! PII masker (`feedpulse::eval::hostile`): every case must end as events, dead letters with
//! reasons or configuration errors, never a panic.
//!
//! `cargo bench --bench hostile_input -- [CASES=100000] [SEED=1]`

use feedpulse::eval::hostile::{corpus, run, Target};
use std::path::Path;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let cases: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let seed: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1);
    let (records, config) =
        corpus(Path::new(env!("CARGO_MANIFEST_DIR"))).expect("the repository's golden stream and config");
    // Panics are caught and counted; their messages would drown the table.
    std::panic::set_hook(Box::new(|_| {}));
    let mut failed = false;
    for target in Target::ALL {
        let started = std::time::Instant::now();
        let report = run(target, &records, &config, cases, seed);
        println!(
            "{:11} {} cases (seed {seed}): {} accepted, {} refused with a reason, {} failures, {:.1} s",
            target.name(),
            report.cases,
            report.accepted,
            report.refused,
            report.failures.len(),
            started.elapsed().as_secs_f64()
        );
        for failure in report.failures.iter().take(5) {
            println!("    {failure}");
        }
        failed |= !report.failures.is_empty();
    }
    if failed {
        std::process::exit(1);
    }
}
