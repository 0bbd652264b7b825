//! `GET /metrics` as Prometheus reads it: after real traffic (enriched events, a bad record),
//! the exposition passes `promtool check metrics` (Debian's `prometheus` package, installed by
//! the test command) and carries the families operators alert on.

use crate::support;

use std::io::Write;
use std::process::{Command, Stdio};

#[test]
fn metrics_pass_promtool_and_carry_ingest_dead_letters_lag_and_model_latency() {
    let fp = support::Feedpulse::start(&["run", "--listen", "127.0.0.1:0"]);
    let http = reqwest::blocking::Client::new();
    let now = support::now_ms();
    let body = [
        serde_json::json!({"id": "m1", "ts": now, "channel": "app", "text": "付款失败，钱却扣了两次"}).to_string(),
        serde_json::json!({"id": "m2", "ts": now, "channel": "app", "text": "The app crashes on start"}).to_string(),
        r#"{"id": "m3"}"#.to_string(),
    ]
    .join("\n");
    let status = http.post(fp.url("/v1/events")).body(body).send().unwrap().status();
    assert_eq!(status, 400, "one record is bad; the others are accepted");
    let mut text = String::new();
    support::wait_for("both events counted", std::time::Duration::from_secs(10), || {
        text = http.get(fp.url("/metrics")).send().unwrap().text().unwrap();
        text.lines().any(|l| l == "feedpulse_events_accepted_total 2")
    });

    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package `prometheus`; scripts/test.sh installs it)");
    promtool.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = promtool.wait_with_output().unwrap();
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && report.trim().is_empty(), "promtool: {report}\n{text}");

    for line in [
        "feedpulse_events_received_total{source=\"http\"} 3",
        "feedpulse_dead_letters_total{reason=\"missing_text\"} 1",
        "feedpulse_enriched_messages_total 2",
        "# TYPE feedpulse_enrich_batch_duration_seconds histogram",
        "feedpulse_enrich_batch_duration_seconds_count 1",
        "# TYPE feedpulse_dataflow_lag_ticks gauge",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
    }
    fp.stop();
}
