//! Hot reload, end to end: `feedpulse run --config DIR` with a payment spike rule too strict to
//! fire (min_count 1000). A burst arrives and raises nothing. An invalid rules file is refused
//! (400, with file and line) and a changed window size needs a restart (409); both leave the
//! running configuration alone. Then the rule's min_count is lowered and SIGHUP sent: the next
//! message fires the spike, counting the burst that arrived before the reload (the window state
//! survived it). `POST /v1/reload` of the same files then changes nothing.

use crate::support::{now_ms, Feedpulse};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

const APPLIED_ONCE: &str = "feedpulse_config_reloads_total{result=\"applied\"} 1\n";

fn rules(min_count: u32, sensitivity: &str) -> String {
    format!(
        "[[rule]]\nname = \"category_spike\"\nkind = \"spike\"\nkey = \"category\"\nwindow = \"1m\"\nbaseline = \"median_mad\"\n\
         history = 10\nmin_history = 5\nsensitivity = {sensitivity}\nmin_count = {min_count}\nseverity = \"critical\"\n"
    )
}

fn event(id: String, ts: i64) -> String {
    json!({"id": id, "ts": ts, "channel": "app", "category": "payment", "sentiment": -0.6, "text": "付款失败"})
        .to_string()
}

fn post(client: &reqwest::blocking::Client, fp: &Feedpulse, body: String) {
    let r = client.post(fp.url("/v1/events")).body(body).send().unwrap();
    assert_eq!(r.status(), 202, "{}", r.text().unwrap());
}

fn reload(client: &reqwest::blocking::Client, fp: &Feedpulse) -> (u16, Value) {
    let r = client.post(fp.url("/v1/reload")).send().unwrap();
    (r.status().as_u16(), r.json().unwrap())
}

fn firing(client: &reqwest::blocking::Client, fp: &Feedpulse) -> Vec<Value> {
    let body: Value = client.get(fp.url("/v1/alerts")).send().unwrap().json().unwrap();
    body["alerts"].as_array().unwrap().clone()
}

#[test]
fn reload_changes_a_threshold_live_and_keeps_the_windows() {
    let dir = std::env::temp_dir().join(format!("fp-reload-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("dataflows")).unwrap();
    std::fs::create_dir_all(dir.join("alerts")).unwrap();
    let flow = std::fs::read_to_string("dataflows/default.toml").unwrap();
    std::fs::write(dir.join("dataflows/default.toml"), &flow).unwrap();
    let rules_file = dir.join("alerts/rules.toml");
    std::fs::write(&rules_file, rules(1000, "4.0")).unwrap();

    // The burst must fit in one minute: start it early in a minute.
    if now_ms().rem_euclid(60_000) > 30_000 {
        std::thread::sleep(Duration::from_millis((60_000 - now_ms().rem_euclid(60_000) + 200) as u64));
    }
    let fp = Feedpulse::start(&["run", "--no-enrich", "--config", dir.to_str().unwrap(), "--listen", "127.0.0.1:0"]);
    let client = reqwest::blocking::Client::new();
    let minute = now_ms() - now_ms().rem_euclid(60_000);
    let mut history = Vec::new();
    for m in 1..=8 {
        for i in 0..5 {
            history.push(event(format!("h{m}-{i}"), minute - m * 60_000 + i * 7_000));
        }
    }
    post(&client, &fp, history.join("\n"));
    let burst: Vec<String> = (0..30).map(|i| event(format!("b{i}"), minute + 100 + i)).collect();
    post(&client, &fp, burst.join("\n"));
    std::thread::sleep(Duration::from_millis(300));
    assert!(firing(&client, &fp).is_empty(), "min_count 1000: the burst raises nothing");

    // Refused: an invalid rule, then a dataflow change that needs a restart.
    std::fs::write(&rules_file, rules(20, "-1")).unwrap();
    let (status, body) = reload(&client, &fp);
    assert_eq!(status, 400, "{body}");
    let errors = body["errors"].as_array().unwrap();
    assert!(
        errors
            .iter()
            .any(|e| e.as_str().unwrap().contains("rules.toml:1:") && e.as_str().unwrap().contains("sensitivity")),
        "{body}"
    );
    std::fs::write(&rules_file, rules(20, "4.0")).unwrap();
    // (The KPI windows follow: they name the 5m window.)
    let resized =
        flow.replacen("size = \"5m\"", "size = \"10m\"", 1).replacen("[\"5m\", \"15m\"", "[\"10m\", \"15m\"", 1);
    std::fs::write(dir.join("dataflows/default.toml"), resized).unwrap();
    let (status, body) = reload(&client, &fp);
    assert_eq!(status, 409, "{body}");
    assert!(body["error"].as_str().unwrap().contains("[[window]]"), "{body}");
    post(&client, &fp, event("after-refusals".into(), minute + 200));
    std::thread::sleep(Duration::from_millis(300));
    assert!(firing(&client, &fp).is_empty(), "the refused reloads left min_count at 1000");

    // Applied by SIGHUP, together with a new business scope: the next message fires, counted
    // together with the earlier burst, and takes the new scope.
    let scoped = format!("{flow}\n[[scope]]\nname = \"pay\"\ndimension = \"business\"\nkeywords = [\"付款\"]\n");
    std::fs::write(dir.join("dataflows/default.toml"), scoped).unwrap();
    let status = std::process::Command::new("kill").args(["-HUP", &fp.child.id().to_string()]).status().unwrap();
    assert!(status.success());
    // Wait for the reload to be applied rather than for a fixed time (a busy CI machine).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !client.get(fp.url("/metrics")).send().unwrap().text().unwrap().contains(APPLIED_ONCE) {
        assert!(std::time::Instant::now() < deadline, "SIGHUP not applied within 10 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    post(&client, &fp, event("after-reload".into(), minute + 300));
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let alert = loop {
        if let Some(a) = firing(&client, &fp).into_iter().next() {
            break a;
        }
        assert!(std::time::Instant::now() < deadline, "no spike after the reload");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(alert["labels"]["category"], "payment");
    assert_eq!(alert["value"], 32.0, "30 burst + 1 + 1 messages: the window survived the reload");
    assert_eq!(alert["baseline"]["windows"], 8, "and so did its eight minutes of history");
    let metrics = client.get(fp.url("/metrics")).send().unwrap().text().unwrap();
    assert!(
        metrics.contains("feedpulse_scope_matches_total{dimension=\"business\",scope=\"pay\"} 1\n"),
        "the scope added by the reload names the message after it: {metrics}"
    );

    // Nothing left to change.
    let (status, body) = reload(&client, &fp);
    assert_eq!((status, body), (200, json!({ "applied": [] })));
    let metrics = client.get(fp.url("/metrics")).send().unwrap().text().unwrap();
    assert!(metrics.contains("feedpulse_config_reloads_total{result=\"applied\"} 2"), "{metrics}");
    assert!(metrics.contains("feedpulse_config_reloads_total{result=\"rejected\"} 2"), "{metrics}");
    fp.stop();
    std::fs::remove_dir_all(Path::new(&dir)).unwrap();
}
