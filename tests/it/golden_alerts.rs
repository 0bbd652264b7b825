//! Golden tests: a small fixed stream (tests/golden/spike_dip.ndjson: 40 minutes of payment,
//! crash and double11 feedback with a payment spike at 00:30, a double11 sentiment dip from
//! 00:32 and four bad records; all inside the clusterer's warm-up, so no new clusters) must give exactly the checked-in alerts and dead letters.
//! Regenerate with `UPDATE_GOLDEN=1 cargo test --features e2e --test it golden_alerts` after an intended change.

use std::path::Path;
use std::process::Command;

fn replay(extra: &[&str], tag: &str) -> (String, String) {
    let dir = std::env::temp_dir().join(format!("fp-golden-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (alerts, dead) = (dir.join("alerts.ndjson"), dir.join("dead.ndjson"));
    let status = Command::new(env!("CARGO_BIN_EXE_feedpulse"))
        .args(["replay", "tests/golden/spike_dip.ndjson", "--alerts-out"])
        .arg(&alerts)
        .arg("--dead-letters")
        .arg(&dead)
        .args(extra)
        .status()
        .unwrap();
    assert!(status.success());
    let out = (std::fs::read_to_string(&alerts).unwrap(), std::fs::read_to_string(&dead).unwrap());
    std::fs::remove_dir_all(&dir).unwrap();
    out
}

fn check(actual: &str, golden: &str) {
    let path = Path::new("tests/golden").join(golden);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap();
    assert_eq!(actual, expected, "output differs from {}", path.display());
}

#[test]
fn alerts_and_dead_letters_match_the_golden_files() {
    let (alerts, dead) = replay(&["--batch", "1"], "b1");
    check(&alerts, "spike_dip.alerts.ndjson");
    check(&dead, "spike_dip.dead.ndjson");

    // What the golden file pins, spelled out: the spike fires on the first message that
    // crosses the threshold, inside the still-open 00:30 window, and resolves later.
    let parsed: Vec<serde_json::Value> = alerts.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let spike = parsed.iter().find(|a| a["rule"] == "spike").expect("spike fires");
    assert_eq!(spike["status"], "firing");
    assert_eq!(spike["labels"]["category"], "payment");
    assert_eq!(spike["window"]["start"], "2026-01-01T00:30:00.000Z");
    assert_eq!(spike["window"]["end"], "2026-01-01T00:31:00.000Z");
    let (value, threshold) = (spike["value"].as_f64().unwrap(), spike["baseline"]["threshold"].as_f64().unwrap());
    assert!(value > threshold && value - 1.0 <= threshold, "fires on the crossing message: {value} vs {threshold}");
    assert!(spike["starts_at"].as_str().unwrap() < spike["window"]["end"].as_str().unwrap());
    let dip = parsed.iter().find(|a| a["rule"] == "sentiment_dip" && a["status"] == "firing").expect("dip fires");
    assert_eq!(dip["labels"]["campaign"], "double11");
    assert!(dip["starts_at"].as_str().unwrap() < dip["window"]["end"].as_str().unwrap(), "while the window is open");
    assert_eq!(parsed.iter().filter(|a| a["status"] == "resolved").count(), 2);
    let reasons: Vec<String> =
        dead.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["reason"].to_string()).collect();
    assert_eq!(reasons, ["\"missing_text\"", "\"malformed_json\"", "\"ts_in_future\""]);
}

#[test]
fn more_workers_give_the_same_alerts() {
    let (one, _) = replay(&["--batch", "1"], "w1");
    let (two, _) = replay(&["--batch", "1", "--workers", "2"], "w2");
    let sorted = |s: &str| {
        let mut v: Vec<String> = s.lines().map(str::to_owned).collect();
        v.sort();
        v
    };
    assert_eq!(sorted(&one), sorted(&two));
}
