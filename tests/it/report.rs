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
    fortnight_lines(seed).into_iter().map(|(_, l)| l + "\n").collect()
}

/// The fortnight's lines by time, each with its time (ms).
fn fortnight_lines(seed: u64) -> Vec<(i64, String)> {
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
    out
}

/// The fortnight with a service desk: each day from 10:00 two tickets of the heater line,
/// answered after 30 s and resolved after five minutes.
fn fortnight_with_tickets(seed: u64) -> String {
    let mut lines = fortnight_lines(seed);
    for day in 0..14i64 {
        for k in 0..2i64 {
            let opened = MONDAY_MS + day * 86_400_000 + 2 * 3_600_000 + k * 600_000;
            let id = format!("t-{day}-{k}");
            for (status, at) in [("opened", 0), ("first_response", 30_000), ("resolved", 300_000)] {
                let r = json!({"type": "ticket", "id": format!("{id}-{status}"), "ticket": id, "status": status,
                               "agent": "agent-1", "business": "heater", "ts": opened + at});
                lines.push((opened + at, r.to_string()));
            }
        }
    }
    lines.sort();
    lines.into_iter().map(|(_, l)| l + "\n").collect()
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
    std::fs::write(&input, fortnight_with_tickets(4)).unwrap();
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
    // Each day's service desk: its two tickets beside the day before's (none before the first).
    let day_two = std::fs::read_to_string(daily.join("2026-03-03.md")).unwrap();
    assert!(day_two.contains("| all | 2 (2) | 2 (2) | 30 s (30 s) | 4.5 min (4.5 min) | 0 (0) | – (–) |"), "{day_two}");
    let day_one = std::fs::read_to_string(daily.join("2026-03-02.md")).unwrap();
    assert!(day_one.contains("| business heater | 2 (0) |"), "{day_one}");
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

/// online_shopping_10_cats over two weeks: 100 reviews a day per product line (the reviews that
/// name their product, so that the keyword scopes name every line), half negative, on the
/// `review` channel; in week two 热水器 gets 300 more negative reviews a day on `weibo`. The
/// weekly digest ranks 热水器 first among business lines, with keywords taken from its own
/// reviews and `weibo` as the driver, with its share. Reads ../shared/eval-data and skips,
/// saying so, only when it is absent.
#[test]
fn a_product_line_rising_on_one_channel_tops_the_weekly_digest_with_its_words_and_channel() {
    use feedpulse::eval::scopes;
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/eval-data");
    if !data.join("online_shopping_10_cats").exists() {
        eprintln!("skipping: {} is absent (evaluation data lives outside the repository)", data.display());
        return;
    }
    let dir = std::env::temp_dir().join(format!("fp-report-heater-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    scopes::write_config(&dir).unwrap();
    let spike = "\n[[rule]]\nname = \"line_spike\"\nkind = \"spike\"\nkey = \"business\"\nwindow = \"1h\"\n\
                 baseline = \"median_mad\"\nhistory = 48\nmin_history = 12\nsensitivity = 5.0\nmin_count = 10\n\
                 cooldown = \"6h\"\nseverity = \"warning\"\n";
    let rules = dir.join("alerts/rules.toml");
    std::fs::write(&rules, std::fs::read_to_string(&rules).unwrap() + spike).unwrap();
    let reviews = scopes::reviews(&data).unwrap();
    let names = |r: &&scopes::Review| {
        scopes::PRODUCT_KEYWORDS.iter().find(|(l, _)| *l == r.line).unwrap().1.iter().any(|k| r.text.contains(k))
    };
    let mut rng = SplitMix::new(7);
    let mut out: Vec<(i64, String)> = Vec::new();
    let mut surge_texts = Vec::new();
    for (line, _) in scopes::PRODUCT_KEYWORDS {
        let of_line: Vec<&scopes::Review> = reviews.iter().filter(|r| r.line == *line).filter(names).collect();
        let (neg, pos): (Vec<&scopes::Review>, Vec<&scopes::Review>) = of_line.iter().partition(|r| !r.positive);
        for day in 0..14 {
            let surge = if *line == "热水器" && day >= 7 { 300 } else { 0 };
            for (pool, n, channel) in [(&neg, 50, "review"), (&pos, 50, "review"), (&neg, surge, "weibo")] {
                for _ in 0..n {
                    let r = pool[rng.below(pool.len())];
                    if channel == "weibo" {
                        surge_texts.push(r.text.clone());
                    }
                    let ts = MONDAY_MS + day * 86_400_000 + (rng.unit() * 86_400_000.0) as i64;
                    let record = json!({"id": format!("r{}", out.len()), "ts": ts, "channel": channel,
                        "sentiment": if r.positive { 0.6 } else { -0.6 }, "text": r.text});
                    out.push((ts, record.to_string()));
                }
            }
        }
    }
    out.sort();
    let input = dir.join("input.ndjson");
    std::fs::write(&input, out.into_iter().map(|(_, l)| l + "\n").collect::<String>()).unwrap();
    let text = report(&[
        "--input",
        input.to_str().unwrap(),
        "--config",
        dir.to_str().unwrap(),
        "--every",
        "1w",
        "--json",
        "--no-enrich",
        "--batch",
        "256",
    ]);
    let weeks: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(weeks.len(), 2, "{text}");
    let top = &weeks[1]["business_lines"][0];
    assert_eq!(top["name"], "热水器", "{}", weeks[1]["business_lines"]);
    let (count, previous) = (top["count"].as_f64().unwrap(), top["previous"].as_f64().unwrap());
    assert!((3.5..4.5).contains(&(count / previous)), "about four times: {count} vs {previous}");
    let keywords: Vec<&str> = top["keywords"].as_array().unwrap().iter().map(|k| k.as_str().unwrap()).collect();
    assert!(!keywords.is_empty(), "{top}");
    for k in &keywords {
        let share = surge_texts.iter().filter(|t| t.contains(k)).count() as f64 / surge_texts.len() as f64;
        assert!(share >= 0.02, "keyword {k} is in {:.1}% of the surge's reviews: {keywords:?}", share * 100.0);
    }
    eprintln!("week two, top line: {top}");
    let drivers = top["drivers"].as_array().unwrap();
    assert!(
        drivers.iter().any(|d| d.as_str().unwrap().starts_with("channel weibo ")),
        "the surge's channel drives it: {drivers:?}"
    );
    let others: Vec<&Value> = weeks[1]["business_lines"].as_array().unwrap()[1..].iter().collect();
    assert!(others.iter().all(|o| o["drivers"].as_array().is_none()), "no other line is explained: {others:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The demo's day (seed 11, as `feedpulse demo` plays it) digested with the built-in fallback
/// models (no model files: its clusters are not the demo's), byte for byte, and the weekly
/// digests of the generated fortnight (seed 1). The demo's digest must show its payment spike
/// with what it said, the gift complaint as a new kind and its campaign. Regenerate with `UPDATE_GOLDEN=1 cargo test --test it report` after an intended
/// change, and say why in the commit.
#[test]
fn the_demo_days_and_the_fortnights_digests_are_as_recorded() {
    let dir = std::env::temp_dir().join(format!("fp-report-golden-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (demo, weeks) = (dir.join("demo.ndjson"), dir.join("fortnight.ndjson"));
    // 2026-01-01 00:00 UTC, the embedded [calendar]'s midnight. The demo also sends a record
    // dated days ahead, which the live server refuses (`max_future`) but a replay would take as
    // the clock, making the rest of the day too late: only the day's own records are replayed.
    let start_ms = 1_767_225_600_000;
    let in_day = |line: &String| {
        let ts = serde_json::from_str::<Value>(line).ok().and_then(|v| v["ts"].as_i64());
        ts.is_none_or(|ts| (start_ms..start_ms + 86_400_000).contains(&ts))
    };
    let day: String =
        feedpulse::demo::generate(start_ms, 11).into_iter().map(|(_, l)| l).filter(in_day).map(|l| l + "\n").collect();
    std::fs::write(&demo, day).unwrap();
    std::fs::write(&weeks, fortnight(1)).unwrap();
    let runs = [
        (&demo, "1d", "--fallback-models", "tests/golden/demo_day.digest.md"),
        (&weeks, "1w", "--no-enrich", "tests/golden/fortnight.digest.md"),
    ];
    for (input, every, models, path) in runs {
        let digest = report(&["--input", input.to_str().unwrap(), "--every", every, models, "--batch", "64"]);
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(path, &digest).unwrap();
        }
        assert_eq!(digest, std::fs::read_to_string(path).unwrap(), "output differs from {path}");
    }
    let demo_digest = std::fs::read_to_string("tests/golden/demo_day.digest.md").unwrap();
    for needle in ["category_spike: fired", "- payment: ", "gift", "double11"] {
        assert!(demo_digest.contains(needle), "{needle}: {demo_digest}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `run` with a daily `[[report]]` and Redis: yesterday's digest is released once; a restart
/// against the same Redis restores yesterday's windows but does not release it again.
#[cfg(feature = "e2e")]
#[test]
fn a_restart_from_redis_does_not_release_a_digest_again() {
    use crate::support::{now_ms, Feedpulse, RedisServer};
    use std::time::Duration;
    let redis = RedisServer::start();
    let dir = std::env::temp_dir().join(format!("fp-restart-reports-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = dir.join("daily");
    let table = format!("\n[[report]]\nname = \"daily\"\nevery = \"1d\"\nredis = true\ndir = \"{}\"\n", out.display());
    let (config, _) = scheduled_setup("restart-reports", &dir, &table);
    let args = ["run", "--config", config.to_str().unwrap(), "--no-enrich", "--listen", "127.0.0.1:0", "--redis"];
    let start = |extra: &str| {
        let fp = Feedpulse::start(&[&args[..], &[redis.address().as_str()]].concat());
        let now = now_ms();
        let yesterday_noon = now - now.rem_euclid(86_400_000) - 12 * 3_600_000;
        let mut body: String = (0..12)
            .map(|i| {
                let ts = yesterday_noon + i * 60_000;
                format!("{{\"id\":\"y{i}\",\"ts\":{ts},\"channel\":\"app\",\"category\":\"payment\",\"text\":\"扣款两次\"}}\n")
            })
            .collect();
        body += &format!(
            "{{\"id\":\"now{extra}\",\"ts\":{now},\"channel\":\"app\",\"category\":\"login\",\"text\":\"登录不了\"}}\n"
        );
        let client = reqwest::blocking::Client::new();
        let posted = client.post(fp.url("/v1/events")).body(body).send().unwrap();
        assert_eq!(posted.status().as_u16(), 202);
        fp
    };
    let mut c = redis.connect().unwrap();
    let mut entries = || {
        let reply = c.call(feedpulse::redis::resp::cmd(["XLEN", "fp:reports"])).unwrap();
        reply.as_int().unwrap()
    };
    let first = start("a");
    crate::support::wait_for("yesterday's digest in fp:reports", Duration::from_secs(20), || entries() == 1);
    first.stop();
    let files = || std::fs::read_dir(&out).unwrap().count();
    assert_eq!(files(), 2, "one .md and one .json");
    // The same events again (a restart forgets which ids it saw, so they count twice: a known
    // gap of ingest) and one more now: the clock passes the release time again, and a few
    // checkpoints later nothing has been released.
    let second = start("b");
    std::thread::sleep(Duration::from_secs(3));
    let reports: Value = reqwest::blocking::get(second.url("/v1/reports")).unwrap().json().unwrap();
    assert_eq!(reports, json!([]), "nothing released by the second run");
    second.stop();
    assert_eq!((entries(), files()), (1, 2), "released once, across the restart");
    std::fs::remove_dir_all(&config).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
