//! The dashboard, end to end, in a real browser: `feedpulse demo` serves it, Debian's headless
//! Chromium opens it, and the test reads the page's DOM. Charts must fill with windows (with the
//! rule's baseline band), the demo's payment spike must appear in the alert feed within a second
//! of being fired (the page stamps when it drew each alert; the test stamps when the same alert
//! reached its own `/v1/alerts/stream`), clusters must be listed, and clicking the new-cluster
//! alert must open its cluster, and the alert's `generatorURL` must open the page on that alert.
//! A screenshot is saved as the test's artifact
//! (`$CARGO_TARGET_TMPDIR/dashboard.png`).

use crate::support::chromium;

use crate::support::{now_ms, Feedpulse};
use chromium::Chromium;
use serde_json::Value;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Firing alerts seen on `/v1/alerts/stream`: fingerprint → (alert, wall-clock ms received).
type Seen = Arc<Mutex<HashMap<String, (Value, i64)>>>;

fn follow_alerts(url: String) -> Seen {
    let seen: Seen = Default::default();
    let out = seen.clone();
    let client = reqwest::blocking::Client::builder().timeout(None).build().unwrap();
    let response = client.get(url).send().expect("alert stream");
    std::thread::spawn(move || {
        for line in BufReader::new(response).lines().map_while(Result::ok) {
            let Some(data) = line.strip_prefix("data:") else { continue };
            let received = now_ms();
            let alert: Value = serde_json::from_str(data.trim()).unwrap();
            if alert["status"] == "firing" {
                let fp = alert["fingerprint"].as_str().unwrap().to_string();
                out.lock().unwrap().entry(fp).or_insert((alert, received));
            }
        }
    });
    seen
}

fn wait_for_alert(seen: &Seen, what: impl Fn(&Value) -> bool, timeout: Duration) -> (Value, i64) {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(hit) = seen.lock().unwrap().values().find(|(a, _)| what(a)) {
            return hit.clone();
        }
        assert!(std::time::Instant::now() < deadline, "the alert did not fire");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn dashboard_shows_windows_alerts_and_clusters_live() {
    let _slot = crate::support::real_time_slot();
    let fp = Feedpulse::start(&["demo", "--speed", "1440", "--listen", "127.0.0.1:0"]);
    let seen = follow_alerts(fp.url("/v1/alerts/stream"));
    let mut page = Chromium::open(&fp.url("/"), 1400, 1000);

    // The page connects and fills its charts from the snapshot and the window updates.
    page.wait_for("document.querySelector('#status.live') !== null", Duration::from_secs(20));
    page.wait_for(
        "[...document.querySelectorAll('#volume-charts .chart')].some(c => +c.dataset.points >= 10)",
        Duration::from_secs(30),
    );
    let volume_charts = page.eval("document.querySelectorAll('#volume-charts .chart').length");
    assert!(volume_charts.as_u64().unwrap() >= 5, "one chart per busy category: {volume_charts}");
    // Business lines the default scopes name (live streaming complaints) get hourly charts.
    page.wait_for(
        "document.querySelector('#business-charts .chart[data-series=\"live\"]') !== null",
        Duration::from_secs(30),
    );
    // Campaign sentiment carries the dip rule's baseline band once it has history.
    page.wait_for("document.querySelector('#sentiment-charts .chart path.band') !== null", Duration::from_secs(40));
    // … and its mean sentiment as a second line, both values in the title.
    let title = page.wait_for(
        "(c => c && c.querySelector('path.mean')?.getAttribute('d') && c.querySelector('.title').textContent)(document.querySelector('#sentiment-charts .chart'))",
        Duration::from_secs(5),
    );
    assert!(title.as_str().unwrap().contains("% · mean "), "negative share and mean: {title}");

    // A cluster is listed, and the emerging complaint raises a new-cluster alert whose
    // click-through opens the cluster it names.
    page.wait_for("document.querySelectorAll('#clusters-largest .cluster').length > 0", Duration::from_secs(40));
    let (new_cluster, _) = wait_for_alert(&seen, |a| a["rule"] == "new_cluster", Duration::from_secs(40));
    let cluster = new_cluster["explanation"]["cluster_id"].as_str().unwrap().to_string();
    let item = format!(
        "document.querySelector('li.alert[data-fingerprint=\"{}\"]')",
        new_cluster["fingerprint"].as_str().unwrap()
    );
    page.wait_for(&format!("{item} !== null"), Duration::from_secs(5));
    page.eval(&format!("{item}.click(), true"));
    let detail = page.wait_for(
        // "channels:" is only in the cluster's own record (GET /v1/clusters/{id}), not the alert.
        &format!("(d => !d.hidden && d.textContent.includes('{cluster}') && d.textContent.includes('channels:') && d.textContent)(document.getElementById('cluster-detail'))"),
        Duration::from_secs(5),
    );
    assert!(detail.as_str().unwrap().contains("礼物"), "the gift complaint's keywords: {detail}");

    // The payment spike: drawn in the feed within a second of reaching an SSE client.
    let (spike, received_ms) = wait_for_alert(
        &seen,
        |a| a["rule"] == "spike" && a["labels"]["category"] == "payment",
        Duration::from_secs(60),
    );
    let fingerprint = spike["fingerprint"].as_str().unwrap();
    let selector = format!("li.alert[data-fingerprint=\"{fingerprint}\"]");
    // When the firing alert was first drawn: the page's own record, which outlives the item
    // (a resolution replaces it; on a loaded machine that can happen before the next probe).
    let shown = page.wait_for(&format!("shownAt.get('{fingerprint}/firing')"), Duration::from_secs(5));
    let delay = shown.as_i64().unwrap() - received_ms;
    assert!(delay < 1000, "the spike reached the feed {delay} ms after it fired");
    let item =
        page.eval(&format!("(li => li.dataset.status + '|' + li.textContent)(document.querySelector('{selector}'))"));
    let (status, text) = item.as_str().unwrap().split_once('|').unwrap();
    assert!(text.contains(&status.to_uppercase()) && text.contains("category=payment"), "{status}: {text}");
    assert!(text.contains("vs baseline") && text.contains("threshold"), "the explanation is shown: {text}");
    assert!(!text.contains("13812345678"), "PII never reaches the page");
    // The payment chart marks the alerted window.
    page.wait_for(
        "document.querySelector('#volume-charts .chart[data-series=\"payment\"] rect.alerted') !== null",
        Duration::from_secs(5),
    );
    // Status line: throughput, lag, dead letters and models.
    let status = page.eval("document.getElementById('status-text').textContent");
    let status = status.as_str().unwrap();
    assert!(status.contains("events/s") && status.contains("lag") && status.contains("models:"), "{status}");

    // The service desk: every ticket series' latest KPI window (overall, the businesses, the
    // agents), and the day's SLA breaches among the alerts it lists while they wait.
    page.wait_for(
        "['overall=all', 'business=shop', 'business=live', 'agent=agent-007'].every(s => document.querySelector(`#kpi-rows tr[data-series=\"${s}\"]`))",
        Duration::from_secs(40),
    );
    let row = page.eval("document.querySelector('#kpi-rows tr[data-series=\"overall=all\"]').textContent");
    assert!(row.as_str().unwrap().starts_with("all tickets"), "{row}");
    let _ = wait_for_alert(&seen, |a| a["rule"] == "sla_breach", Duration::from_secs(40));
    page.wait_for("state.alerts.some(a => a.rule === 'sla_breach')", Duration::from_secs(5));
    let window = page.eval("document.getElementById('desk-window').textContent");
    assert_eq!(window.as_str(), Some("5 min windows"), "the slow_handling rule's window");

    // Let the sentiment dip happen too, for the screenshot.
    let _ = wait_for_alert(&seen, |a| a["rule"] == "sentiment_dip", Duration::from_secs(40));
    page.wait_for(
        "document.querySelector('#sentiment-charts .chart[data-series=\"double11\"] rect.alerted') !== null",
        Duration::from_secs(5),
    );
    let png = page.screenshot();
    // Alertmanager links back with `generatorURL` = `/#alert=<fingerprint>`: the page opens
    // with that alert marked and its window selected on its chart.
    let link = spike["generator_url"].as_str().unwrap().to_string();
    assert!(link.ends_with(&format!("/#alert={fingerprint}")), "{link}");
    page.eval(&format!("location.hash = '#alert={fingerprint}'; location.reload(), true"));
    page.wait_for(&format!("document.querySelector('{selector}.focused') !== null"), Duration::from_secs(10));
    page.wait_for(
        "document.querySelector('#volume-charts .chart.selected[data-series=\"payment\"]') !== null",
        Duration::from_secs(5),
    );
    assert_eq!(&png[1..4], b"PNG");
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    std::fs::write(&path, &png).unwrap();
    eprintln!("screenshot: {}", path.display());
    drop(page);
    fp.stop();
}

/// A `[[report]]` on a live run: events from yesterday noon, then one now, move the event clock
/// past today's midnight; yesterday's digest is released to its directory, `GET /v1/reports` and
/// the dashboard's Reports view.
#[test]
fn the_reports_view_shows_a_released_digest() {
    let dir = std::env::temp_dir().join(format!("fp-live-reports-{}", std::process::id()));
    let config = crate::support::config_dir("live-reports", |flow| flow);
    let alerts = config.join("alerts/default.toml");
    let table = format!("\n[[report]]\nname = \"daily\"\nevery = \"1d\"\ndir = \"{}\"\n", dir.display());
    std::fs::write(&alerts, std::fs::read_to_string(&alerts).unwrap() + &table).unwrap();
    let fp = Feedpulse::start(&["run", "--config", config.to_str().unwrap(), "--no-enrich", "--listen", "127.0.0.1:0"]);
    let now = now_ms();
    let today = now - now.rem_euclid(86_400_000);
    let yesterday_noon = today - 12 * 3_600_000;
    let mut body: String = (0..12)
        .map(|i| {
            let ts = yesterday_noon + i * 60_000;
            format!(
                "{{\"id\":\"y{i}\",\"ts\":{ts},\"channel\":\"app\",\"category\":\"payment\",\"text\":\"扣款两次\"}}\n"
            )
        })
        .collect();
    body +=
        &format!("{{\"id\":\"now\",\"ts\":{now},\"channel\":\"app\",\"category\":\"login\",\"text\":\"登录不了\"}}\n");
    let client = reqwest::blocking::Client::new();
    let posted =
        client.post(fp.url("/v1/events")).header("content-type", "application/x-ndjson").body(body).send().unwrap();
    assert_eq!(posted.status().as_u16(), 202, "{}", posted.text().unwrap());
    let date = chrono::DateTime::from_timestamp_millis(yesterday_noon).unwrap().format("%Y-%m-%d").to_string();
    let mut released = Value::Null;
    crate::support::wait_for("yesterday's digest", Duration::from_secs(20), || {
        released = client.get(fp.url("/v1/reports")).send().unwrap().json().unwrap();
        released.as_array().is_some_and(|a| !a.is_empty())
    });
    assert_eq!((released[0]["report"].as_str(), released[0]["date"].as_str()), (Some("daily"), Some(date.as_str())));
    assert_eq!(released[0]["digest"]["messages"], 12);
    let markdown = released[0]["markdown"].as_str().unwrap();
    assert!(markdown.contains("| payment | 12 | 0 | +12 |"), "{markdown}");
    assert_eq!(std::fs::read_to_string(dir.join(format!("{date}.md"))).unwrap(), markdown);

    let mut page = Chromium::open(&fp.url("/"), 1200, 900);
    let shown = page.wait_for(
        "document.getElementById('report-text').textContent.includes('| payment | 12 |') && document.getElementById('report-pick').value !== '' && document.getElementById('report-pick').selectedOptions[0].textContent",
        Duration::from_secs(20),
    );
    assert_eq!(shown, format!("daily · {date}"));
    fp.stop();
    std::fs::remove_dir_all(&config).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
