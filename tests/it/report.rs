//! Digests end to end through `feedpulse report`: the golden stream's daily digest byte for byte,
//! and a generated fortnight in which one product line's complaints triple in week two, which
//! the weekly digest ranks first.

use feedpulse::util::SplitMix;
use serde_json::{json, Value};
use std::process::Command;

fn report(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_feedpulse")).arg("report").args(args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Regenerate with `UPDATE_GOLDEN=1 cargo test --test it report` after an intended change.
#[test]
fn the_golden_streams_daily_digest_is_as_recorded() {
    let digest = report(&["--input", "tests/golden/spike_dip.ndjson", "--every", "1d"]);
    let path = "tests/golden/spike_dip.digest.md";
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(path, &digest).unwrap();
    }
    assert_eq!(digest, std::fs::read_to_string(path).unwrap(), "output differs from {path}");
    assert!(digest.contains("- category_spike: fired 1"), "{digest}");
}

/// 2026-03-02 00:00 UTC, a Monday.
const MONDAY_MS: i64 = 1_772_409_600_000;

/// Two weeks of five product lines at steady Poisson rates; `heater` triples in week two.
fn fortnight(seed: u64) -> String {
    let mut rng = SplitMix::new(seed);
    let lines = [("heater", 4.0), ("phone", 6.0), ("fruit", 5.0), ("hotel", 3.0), ("books", 2.0)];
    let mut out = Vec::new();
    for hour in 0..14 * 24i64 {
        for (line, per_hour) in lines {
            let rate = if line == "heater" && hour >= 7 * 24 { per_hour * 3.0 } else { per_hour };
            for _ in 0..rng.poisson(rate) {
                let ts = MONDAY_MS + hour * 3_600_000 + (rng.unit() * 3_600_000.0) as i64;
                let r = json!({"id": format!("f{}", out.len()), "ts": ts, "channel": "app", "category": line,
                               "sentiment": -0.4, "text": "质量太差了"});
                out.push((ts, r.to_string()));
            }
        }
    }
    out.sort();
    out.into_iter().map(|(_, l)| l + "\n").collect()
}

#[test]
fn a_line_that_triples_in_week_two_tops_that_weeks_digest() {
    for seed in 1..=3 {
        let dir = std::env::temp_dir().join(format!("fp-report-{}-{seed}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let input = dir.join("input.ndjson");
        std::fs::write(&input, fortnight(seed)).unwrap();
        let out_dir = dir.join("digests");
        let text = report(&[
            "--input",
            input.to_str().unwrap(),
            "--every",
            "1w",
            "--json",
            "--no-enrich",
            "--batch",
            "4096",
            "--out-dir",
            out_dir.to_str().unwrap(),
        ]);
        let weeks: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(weeks.len(), 2, "seed {seed}: {text}");
        assert_eq!(weeks[1]["start"], "2026-03-09T00:00:00.000Z", "weeks start on Monday");
        let top = &weeks[1]["categories"][0];
        assert_eq!(top["name"], "heater", "seed {seed}: {}", weeks[1]["categories"]);
        let (count, previous) = (top["count"].as_f64().unwrap(), top["previous"].as_f64().unwrap());
        assert!((2.5..3.5).contains(&(count / previous)), "about three times: {count} vs {previous}");
        assert!(out_dir.join("2026-03-09.md").exists() && out_dir.join("2026-03-09.json").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
