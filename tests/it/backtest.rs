//! `feedpulse backtest`: history through the live rules (`--input`) and NAB series through the
//! spike detector (`--nab`). The nab-dev test reads ../shared/eval-data/nab-dev and skips, saying
//! so, only when that folder is absent (a clone outside the feedpulse workspace).

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn feedpulse(args: &[&str]) -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_feedpulse")).args(args).output().unwrap();
    let (stdout, stderr) = (String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap());
    assert!(out.status.success(), "feedpulse {args:?} failed: {stderr}");
    (stdout, stderr)
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fp-backtest-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Every data row has its result row: same timestamp, same value, a score in [0, 1], and the
/// diagnostic surprise and discord (empty, or a non-negative number). Returns scores and surprises.
fn assert_rows_match(data: &Path, result: &Path) -> (Vec<f64>, Vec<Option<f64>>) {
    let data = std::fs::read_to_string(data).unwrap();
    let result = std::fs::read_to_string(result).unwrap_or_else(|e| panic!("{}: {e}", result.display()));
    let mut result_lines = result.lines();
    assert_eq!(result_lines.next(), Some("timestamp,value,anomaly_score,surprise,discord"));
    let mut scores = Vec::new();
    let mut surprises = Vec::new();
    let optional = |field: &str| (!field.is_empty()).then(|| field.parse::<f64>().unwrap());
    let mut data_lines = data.lines().skip(1);
    for (i, (d, r)) in data_lines.by_ref().zip(result_lines.by_ref()).enumerate() {
        let (ts, value) = d.split_once(',').unwrap();
        let fields: Vec<&str> = r.split(',').collect();
        assert_eq!((fields[0], fields[1]), (ts, value), "row {}", i + 2);
        let score: f64 = fields[2].parse().unwrap();
        assert!((0.0..=1.0).contains(&score), "row {}: score {score}", i + 2);
        let (surprise, discord) = (optional(fields[3]), optional(fields[4]));
        assert!(surprise.is_none_or(|z| z >= 0.0) && discord.is_none_or(|d| d >= 0.0), "row {}: {r}", i + 2);
        scores.push(score);
        surprises.push(surprise);
    }
    assert!(data_lines.next().is_none() && result_lines.next().is_none(), "row counts differ");
    (scores, surprises)
}

#[test]
fn nab_results_match_the_data_row_by_row_and_rank_the_spike_first() {
    let dir = temp_dir("synthetic");
    let data = dir.join("data");
    std::fs::create_dir_all(data.join("synthetic")).unwrap();
    // Three weeks of 5-minute windows with a daily swing, deterministic noise and one spike.
    let mut csv = String::from("timestamp,value\n");
    let start = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap().and_hms_opt(0, 0, 0).unwrap();
    let n = 288 * 21;
    let spike_row = 288 * 18 + 100;
    for i in 0..n {
        let ts = start + chrono::Duration::minutes(5 * i as i64);
        let daily = 100.0 - 60.0 * (std::f64::consts::TAU * (i % 288) as f64 / 288.0).cos();
        let jitter = ((i * 7919) % 13) as f64 - 6.0;
        let value = if i == spike_row { daily * 3.0 } else { daily + jitter };
        csv.push_str(&format!("{},{}\n", ts.format("%Y-%m-%d %H:%M:%S"), value.round()));
    }
    std::fs::write(data.join("synthetic/daily_spike.csv"), csv).unwrap();
    let out = dir.join("results");
    let (_, stderr) = feedpulse(&["backtest", "--nab", data.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(stderr.contains(&format!("scored {n} rows in 1 files")), "{stderr}");
    let (scores, surprises) =
        assert_rows_match(&data.join("synthetic/daily_spike.csv"), &out.join("synthetic/daily_spike.csv"));
    let best = (0..n).max_by(|a, b| scores[*a].total_cmp(&scores[*b])).unwrap();
    assert_eq!(best, spike_row, "the spike has the highest score ({})", scores[spike_row]);
    assert!(surprises[0].is_none(), "the first row has no history to be judged against");
    let most_surprising = (0..n).max_by(|a, b| surprises[*a].unwrap_or(0.0).total_cmp(&surprises[*b].unwrap_or(0.0)));
    assert_eq!(most_surprising, Some(spike_row), "the surprise column explains the score");
    assert!(scores[spike_row] >= 0.998, "and crosses the rule's live threshold: {}", scores[spike_row]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn nab_dev_is_scored_file_by_file() {
    let nab = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/eval-data/nab-dev");
    if !nab.exists() {
        eprintln!("skipping: {} is absent (evaluation data lives outside the repository)", nab.display());
        return;
    }
    let dir = temp_dir("nab-dev");
    let data = nab.join("data");
    feedpulse(&["backtest", "--nab", data.to_str().unwrap(), "--out", dir.to_str().unwrap()]);
    let mut files = 0;
    for category in std::fs::read_dir(&data).unwrap() {
        let category = category.unwrap().path();
        for file in std::fs::read_dir(&category).unwrap() {
            let file = file.unwrap().path();
            let result = dir.join(category.file_name().unwrap()).join(file.file_name().unwrap());
            assert_rows_match(&file, &result);
            files += 1;
        }
    }
    assert_eq!(files, 23);
    // The scorer is part of the workspace's tools; the score guards against regressions.
    let scorer = nab.join("../../tools/nab_score.py");
    let scored = Command::new("python3")
        .arg(&scorer)
        .args(["--data", data.to_str().unwrap(), "--results", dir.to_str().unwrap(), "--quiet"])
        .arg("--windows")
        .arg(nab.join("labels/combined_windows.json"))
        .arg("--profiles")
        .arg(nab.join("config/profiles.json"))
        .arg("--json")
        .arg(dir.join("score.json"))
        .output()
        .expect("python3 runs nab_score.py");
    assert!(scored.status.success(), "{}", String::from_utf8_lossy(&scored.stderr));
    let report: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("score.json")).unwrap()).unwrap();
    let text = report.to_string();
    let standard = find_standard_score(&report).unwrap_or_else(|| panic!("no standard score in {text:.400}"));
    // The target (above 75 on the standard profile); the detector scores 77.39.
    assert!(standard > 75.0, "nab-dev standard score fell to {standard}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The normalised standard-profile score in nab_score.py's JSON.
fn find_standard_score(report: &Value) -> Option<f64> {
    let detector = report["detectors"].as_object()?.values().next()?;
    detector.pointer("/profiles/standard/normalised_score").and_then(Value::as_f64)
}

#[test]
fn input_backtest_reports_the_rules_alerts_and_a_summary() {
    let (json, _) = feedpulse(&["backtest", "--input", "tests/golden/spike_dip.ndjson", "--json"]);
    let report: Value = serde_json::from_str(&json).unwrap();
    let firing: Vec<(String, String)> = report["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["status"] == "firing")
        .map(|a| {
            (a["labels"]["rule"].as_str().unwrap().to_string(), a["window"]["start"].as_str().unwrap().to_string())
        })
        .collect();
    // The same alerts the golden replay pins (tests/golden/spike_dip.alerts.ndjson).
    let golden: Vec<(String, String)> = std::fs::read_to_string("tests/golden/spike_dip.alerts.ndjson")
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|a| a["status"] == "firing")
        .map(|a| {
            (a["labels"]["rule"].as_str().unwrap().to_string(), a["window"]["start"].as_str().unwrap().to_string())
        })
        .collect();
    assert_eq!(firing, golden);
    assert_eq!(report["dead_letters"], 3);
    assert_eq!(report["start"], "2026-01-01T00:00:00.116Z");
    // One record per tick by default, as live: the spike fires on the crossing message,
    // inside its window, exactly as in the golden replay.
    let spike = report["alerts"].as_array().unwrap().iter().find(|a| a["labels"]["rule"] == "category_spike").unwrap();
    assert!(spike["starts_at"].as_str().unwrap() < "2026-01-01T00:31:00.000Z", "{spike}");
    let rules = report["rules"].as_array().unwrap();
    assert_eq!(
        rules.len(),
        12,
        "every configured rule (nine, the escalations' handoff, the SLAs' sla_breach and the QA sheets' qa_violation) is summarised, alerts or not"
    );
    let spike = rules.iter().find(|r| r["rule"] == "category_spike").unwrap();
    assert_eq!((spike["fired"].as_u64(), spike["alerts_per_day"].as_f64()), (Some(1), Some(1.0)));

    let (table, _) = feedpulse(&["backtest", "--input", "tests/golden/spike_dip.ndjson"]);
    assert!(table.contains("category_spike") && table.contains("category=payment"), "{table}");
    assert!(table.lines().any(|l| l.starts_with("rule") && l.contains("alerts/day")), "{table}");
}

/// The live dataflow with a rarity rule's shape view: payment feedback at 2 a minute with
/// bursts of 20 at minutes 0 and 3 of every ten, then one burst at minute 405 out of step. Every
/// burst is as large as every other; only the pattern is new. Windows are judged while they
/// fill, so this also checks that a half-filled regular burst does not look like a new pattern.
#[test]
fn a_rarity_rule_with_a_shape_view_fires_once_on_a_break_in_the_pattern() {
    let dir = temp_dir("shape");
    let mut history = String::new();
    let start = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap();
    let mut n = 0;
    for minute in 0..420 {
        let count = if minute % 10 == 0 || minute % 10 == 3 || minute == 405 { 20 } else { 2 };
        for k in 0..count {
            let ts = start + chrono::Duration::seconds(60 * minute + 2 * k);
            history.push_str(&format!(
                "{{\"id\":\"e{n}\",\"ts\":\"{}\",\"text\":\"付款失败\",\"category\":\"payment\",\"sentiment\":-0.5}}\n",
                ts.format("%Y-%m-%dT%H:%M:%SZ")
            ));
            n += 1;
        }
    }
    let input = dir.join("history.ndjson");
    std::fs::write(&input, history).unwrap();
    let rule = |shape: &str| {
        format!(
            "[[rule]]\nname = \"pattern\"\nkind = \"spike\"\nkey = \"category\"\nwindow = \"1m\"\n\
             baseline = \"median_mad\"\nhistory = 30\nmin_history = 5\nscore = \"rarity\"\n\
             threshold = 0.99\nrarity_memory = 100\n{shape}sensitivity = 2.0\nmin_count = 1\n\
             cooldown = \"1m\"\nseverity = \"warning\"\n"
        )
    };
    let firing = |rules: String| -> Vec<Value> {
        let path = dir.join("rules.toml");
        std::fs::write(&path, rules).unwrap();
        let args = ["backtest", "--input", input.to_str().unwrap(), "--rules", path.to_str().unwrap()];
        let (stdout, _) = feedpulse(&[&args[..], &["--no-enrich", "--json"]].concat());
        let report: Value = serde_json::from_str(&stdout).unwrap();
        report["alerts"].as_array().unwrap().iter().filter(|a| a["status"] == "firing").cloned().collect()
    };
    assert!(firing(rule("")).is_empty(), "by size alone no burst stands out");
    let fired = firing(rule("shape_windows = 6\n"));
    assert_eq!(fired.len(), 1, "{fired:#?}");
    assert_eq!(fired[0]["window"]["start"], "2026-01-01T06:45:00.000Z");
    assert!(fired[0]["baseline"]["shape_rarity"].as_f64().is_some_and(|r| r >= 0.99), "{:#}", fired[0]);
    assert!(fired[0]["summary"].as_str().unwrap().contains("the last 6 windows' pattern is unlike"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A drop rule through the live dataflow: payment and login feedback at 10 a minute each for an
/// hour, payment silent from 00:40 to 00:45. The silent minutes hold no message of their own, so
/// the rule judges windows as they close; a minute still filling is no drop.
#[test]
fn a_drop_rule_fires_once_when_a_category_goes_silent() {
    let dir = temp_dir("drop");
    let mut history = String::new();
    let start = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap();
    for second in (0..3600).step_by(6) {
        let ts = (start + chrono::Duration::seconds(second)).format("%Y-%m-%dT%H:%M:%SZ");
        for category in ["payment", "login"] {
            if category == "payment" && (40 * 60..45 * 60).contains(&second) {
                continue;
            }
            history.push_str(&format!(
                "{{\"id\":\"{category}-{second}\",\"ts\":\"{ts}\",\"text\":\"反馈\",\"category\":\"{category}\"}}\n"
            ));
        }
    }
    let input = dir.join("history.ndjson");
    std::fs::write(&input, history).unwrap();
    let rules = dir.join("rules.toml");
    std::fs::write(
        &rules,
        "[[rule]]\nname = \"category_drop\"\nkind = \"spike\"\nkey = \"category\"\nwindow = \"1m\"\n\
         baseline = \"median_mad\"\nhistory = 30\nmin_history = 5\ndirection = \"down\"\n\
         sensitivity = 3.0\nmin_count = 5\ncooldown = \"10m\"\nseverity = \"warning\"\n",
    )
    .unwrap();
    let args = ["backtest", "--input", input.to_str().unwrap(), "--rules", rules.to_str().unwrap()];
    let (stdout, _) = feedpulse(&[&args[..], &["--no-enrich", "--json"]].concat());
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let alerts = report["alerts"].as_array().unwrap();
    let firing: Vec<&Value> = alerts.iter().filter(|a| a["status"] == "firing").collect();
    assert_eq!(firing.len(), 1, "{alerts:#?}");
    assert_eq!(firing[0]["labels"]["category"], "payment");
    assert_eq!(firing[0]["window"]["start"], "2026-01-01T00:40:00.000Z");
    assert_eq!(firing[0]["starts_at"], "2026-01-01T00:41:00.000Z", "judged as the minute closed");
    assert_eq!(firing[0]["value"], 0.0);
    let resolved: Vec<&Value> = alerts.iter().filter(|a| a["status"] == "resolved").collect();
    assert_eq!(resolved.len(), 1, "{alerts:#?}");
    std::fs::remove_dir_all(&dir).unwrap();
}
