//! Per-record cost of admission on one thread: decode, clean and mask, risk rules, the event
//! built (what each replay decoding thread does per line, with `--no-enrich`). The stream is
//! the peers' workload from `../shared/tools/gen_workload.py`:
//!
//! `python3 ../shared/tools/gen_workload.py 200000 /tmp/ev_200k.ndjson`
//! `cargo bench --bench admit_throughput -- /tmp/ev_200k.ndjson`
//!
//! Whole-process numbers come from `benches/replay_throughput.sh`; this one isolates the
//! decoding threads' share, which machine noise hides there.

use feedpulse::admit::Admission;
use feedpulse::config::Config;
use std::time::Instant;

const BATCH: usize = 1024;

fn main() {
    let Some(path) = std::env::args().skip(1).find(|a| !a.starts_with("--")) else {
        eprintln!("usage: cargo bench --bench admit_throughput -- FILE.ndjson");
        return;
    };
    let content = std::fs::read_to_string(&path).expect("readable NDJSON");
    let lines: Vec<&str> = content.lines().collect();
    let admission = Admission::new(&Config::embedded(), None);
    let now = chrono::Utc::now().timestamp_millis();
    let mut best = f64::INFINITY;
    let mut runs = Vec::new();
    for _ in 0..7 {
        let started = Instant::now();
        let mut accepted = 0;
        for batch in lines.chunks(BATCH) {
            accepted += admission.admit_text_batch(batch, now, "bench").events.len();
        }
        let ns = started.elapsed().as_nanos() as f64 / lines.len() as f64;
        assert_eq!(accepted, lines.len(), "every record of the workload is admitted");
        best = best.min(ns);
        runs.push(format!("{ns:.0}"));
    }
    println!(
        "{} records in batches of {BATCH}: {best:.0} ns per record at best (runs: {})",
        lines.len(),
        runs.join(", ")
    );
}
