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
    assert!(digest.contains("- payment: 付款 · 失败; drivers: cluster c-9"), "what the spike said: {digest}");
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

fn feedpulse(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_feedpulse")).args(args).output().unwrap();
    assert!(out.status.success(), "feedpulse {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Every file of `released` has a byte-equal twin in `reference`; returns their names, sorted.
fn released_equal(released: &std::path::Path, reference: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(released).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    for name in &names {
        let (a, b) = (std::fs::read(released.join(name)).unwrap(), std::fs::read(reference.join(name)));
        assert_eq!(Some(a), b.ok(), "{name} differs from `feedpulse report`'s");
    }
    names
}

/// A config directory whose alert files end with `tables`, and the fortnight of `seed` in `dir`.
fn scheduled_setup(tag: &str, dir: &std::path::Path, tables: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let input = dir.join("input.ndjson");
    std::fs::write(&input, fortnight(4)).unwrap();
    let config = crate::support::config_dir(tag, |flow| flow);
    let alerts = config.join("alerts/default.toml");
    std::fs::write(&alerts, std::fs::read_to_string(&alerts).unwrap() + tables).unwrap();
    (config, input)
}

/// `[[report]]` tables on a replay release, in event time, exactly the digests `feedpulse report`
/// prints for the same history: every released day and week byte for byte, the period still
/// open at the end of the stream not at all, and a weekly digest only once its Monday 09:00 has
/// passed in the stream.
#[test]
fn scheduled_reports_on_a_replay_are_the_report_commands_digests() {
    let dir = std::env::temp_dir().join(format!("fp-scheduled-{}", std::process::id()));
    let (daily, weekly) = (dir.join("daily"), dir.join("weekly"));
    let tables = format!(
        "\n[[report]]\nname = \"daily\"\nevery = \"1d\"\ndir = \"{}\"\n\n[[report]]\nname = \"weekly\"\nevery = \"1w\"\nat = \"Mon 09:00\"\ndir = \"{}\"\n",
        daily.display(),
        weekly.display()
    );
    let (config, input) = scheduled_setup("scheduled-reports", &dir, &tables);
    let common = ["--no-enrich", "--batch", "512"];
    let path = input.to_str().unwrap();
    feedpulse(
        &[
            &["replay", path, "--config", config.to_str().unwrap(), "--alerts-out"][..],
            &[dir.join("alerts.ndjson").to_str().unwrap()][..],
            &common[..],
        ]
        .concat(),
    );
    let (all_days, all_weeks) = (dir.join("all-days"), dir.join("all-weeks"));
    for (every, out) in [("1d", &all_days), ("1w", &all_weeks)] {
        report(&[&["--input", path, "--every", every, "--out-dir", out.to_str().unwrap()][..], &common[..]].concat());
    }
    let days = released_equal(&daily, &all_days);
    assert_eq!(days.len(), 2 * 13, "13 days released, the 14th still open: {days:?}");
    assert_eq!(days[0], "2026-03-02.json");
    assert!(!daily.join("2026-03-15.md").exists());
    let weeks = released_equal(&weekly, &all_weeks);
    assert_eq!(
        weeks,
        ["2026-03-02.json", "2026-03-02.md"],
        "week two is released on 2026-03-16 09:00, after the stream"
    );
    std::fs::remove_dir_all(&config).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The same released days reach the Redis stream `fp:reports` and a webhook, each the day's
/// Markdown and JSON as the files hold them.
#[cfg(feature = "e2e")]
#[test]
fn scheduled_reports_reach_redis_and_webhooks() {
    let redis = crate::support::RedisServer::start();
    let (url, log) = crate::webhook_e2e::receiver(0);
    let dir = std::env::temp_dir().join(format!("fp-scheduled-out-{}", std::process::id()));
    let daily = dir.join("daily");
    let tables = format!(
        "\n[[webhook]]\nname = \"digests\"\nurl = \"{url}\"\nmatch = {{ rule = \"no such rule\" }}\n\n[[report]]\nname = \"daily\"\nevery = \"1d\"\nredis = true\nwebhooks = [\"digests\"]\ndir = \"{}\"\n",
        daily.display()
    );
    let (config, input) = scheduled_setup("scheduled-outputs", &dir, &tables);
    let alerts_out = dir.join("alerts.ndjson");
    feedpulse(&[
        "replay",
        input.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        "--redis",
        &redis.address(),
        "--alerts-out",
        alerts_out.to_str().unwrap(),
        "--no-enrich",
        "--batch",
        "512",
    ]);
    let file = |date: &str, ext: &str| std::fs::read_to_string(daily.join(format!("{date}.{ext}"))).unwrap();
    let mut c = redis.connect().unwrap();
    let entries = c.call(feedpulse::redis::resp::cmd(["XRANGE", "fp:reports", "-", "+"])).unwrap();
    let entries = entries.as_array().unwrap();
    assert_eq!(entries.len(), 13, "one entry per released day");
    for entry in entries {
        let fields: Vec<&str> =
            entry.as_array().unwrap()[1].as_array().unwrap().iter().map(|f| f.as_str().unwrap()).collect();
        let field = |name: &str| fields[fields.iter().position(|f| *f == name).unwrap() + 1];
        assert_eq!(field("report"), "daily");
        assert_eq!(field("markdown"), file(field("date"), "md"));
        assert_eq!(field("digest"), file(field("date"), "json"));
    }
    let posts = log.lock().unwrap();
    assert_eq!(posts.len(), 13, "digests only: the receiver matches no alert");
    for (_, request) in posts.iter() {
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        let date = body["date"].as_str().unwrap();
        assert_eq!(
            (body["report"].as_str(), body["markdown"].as_str()),
            (Some("daily"), Some(file(date, "md").as_str()))
        );
        assert_eq!(body["digest"], serde_json::from_str::<Value>(&file(date, "json")).unwrap());
    }
    std::fs::remove_dir_all(&config).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
