//! LLM summaries end to end: `feedpulse replay` of the golden stream with a `[summarizer]`
//! pointing at a loopback server that speaks the chat-completions API (no language model runs
//! here). The alerts go out as without it; the spike's summary follows as an update of the same
//! alert, after a malformed answer is tried again; failing, slow and unfaithful answers give no
//! summary and are counted.

use serde_json::{json, Value};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the fake endpoint answers, request by request.
#[derive(Clone)]
enum Reply {
    /// A chat completion whose message content is this text.
    Content(String),
    Status(u16),
    /// The content, after a pause longer than the client waits.
    Slow(Duration, String),
}

/// Serves `replies` in order (the last one again once they run out); returns its URL and the
/// request bodies it saw.
fn fake_endpoint(replies: Vec<Reply>) -> (String, Arc<Mutex<Vec<Value>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1/chat/completions", listener.local_addr().unwrap());
    let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
    let log = seen.clone();
    let replies = Arc::new(Mutex::new(VecDeque::from(replies)));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let (log, replies) = (log.clone(), replies.clone());
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap();
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                log.lock().unwrap().push(serde_json::from_slice(&body).unwrap());
                let reply = {
                    let mut r = replies.lock().unwrap();
                    if r.len() > 1 {
                        r.pop_front().unwrap()
                    } else {
                        r.front().unwrap().clone()
                    }
                };
                let completion = |content: &str| {
                    json!({"id": "x", "object": "chat.completion", "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}]})
                    .to_string()
                };
                let (status, body) = match reply {
                    Reply::Content(c) => (200, completion(&c)),
                    Reply::Status(s) => (s, "{\"error\": \"overloaded\"}".to_string()),
                    Reply::Slow(pause, c) => {
                        std::thread::sleep(pause);
                        (200, completion(&c))
                    }
                };
                let head = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes()).and_then(|_| stream.write_all(body.as_bytes()));
            });
        }
    });
    (url, seen)
}

/// Replays the golden stream with the default configuration plus `summarizer` (a TOML table);
/// returns the alert lines and the `--stats` text.
fn replay(tag: &str, summarizer: &str) -> (Vec<String>, String) {
    let dir: PathBuf = std::env::temp_dir().join(format!("fp-summarizer-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("dataflows")).unwrap();
    std::fs::create_dir_all(dir.join("alerts")).unwrap();
    std::fs::write(dir.join("dataflows/default.toml"), feedpulse::config::DEFAULT_DATAFLOW).unwrap();
    let alerts = format!("{}\n{summarizer}", feedpulse::config::DEFAULT_ALERTS);
    std::fs::write(dir.join("alerts/default.toml"), alerts).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_feedpulse"))
        .args(["replay", "tests/golden/spike_dip.ndjson", "--batch", "1", "--stats", "--config"])
        .arg(&dir)
        .arg("--alerts-out")
        .arg(dir.join("alerts.ndjson"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines = std::fs::read_to_string(dir.join("alerts.ndjson")).unwrap().lines().map(String::from).collect();
    let _ = std::fs::remove_dir_all(&dir);
    (lines, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn golden() -> Vec<String> {
    std::fs::read_to_string("tests/golden/spike_dip.alerts.ndjson").unwrap().lines().map(String::from).collect()
}

fn table(url: &str, extra: &str) -> String {
    format!("[summarizer]\nendpoint = \"{url}\"\nmodel = \"test-model\"\nrules = [\"category_spike\"]\n{extra}")
}

#[test]
fn a_spike_is_updated_with_its_summary_after_a_malformed_answer_is_tried_again() {
    let text = "付款失败的投诉突然增多，集中在一个新出现的问题上";
    let answer = json!({"summary": text, "keywords": []}).to_string();
    let (url, seen) = fake_endpoint(vec![Reply::Content("Payments look broken.".into()), Reply::Content(answer)]);
    let (lines, stats) = replay("ok", &table(&url, ""));
    let mut alerts: Vec<Value> = lines.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    let golden: Vec<Value> = golden().iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    // The update: the first line with a summary, the spike's latest state again.
    let at = alerts.iter().position(|a| a.get("llm_summary").is_some()).expect("a summary arrives");
    let update = alerts.remove(at);
    assert_eq!(update["llm_summary"], text);
    assert_eq!(update["fingerprint"], golden[0]["fingerprint"], "the spike");
    assert!(at > 0, "after the alert itself");
    // Every alert went out as without a summarizer, in order; the spike's later states carry
    // the summary.
    for (i, alert) in alerts.iter_mut().enumerate() {
        let carried = alert.as_object_mut().unwrap().remove("llm_summary");
        assert_eq!(carried.is_some(), i >= at && alert["fingerprint"] == update["fingerprint"], "{alert}");
    }
    assert_eq!(alerts, golden);
    assert!(stats.contains("summaries 1  summarizer failures [parse 1]"), "{stats}");
    let requests = seen.lock().unwrap();
    assert_eq!(requests.len(), 2, "the malformed answer was asked again");
    assert_eq!(requests[0]["model"], "test-model");
    assert!(requests[0]["messages"][0]["content"].as_str().unwrap().starts_with("You summarise one alert"));
    let input: Value = serde_json::from_str(requests[0]["messages"][1]["content"].as_str().unwrap()).unwrap();
    assert_eq!((input["rule"].as_str(), input["labels"]["category"].as_str()), (Some("spike"), Some("payment")));
    assert!(!input["samples"].as_array().unwrap().is_empty(), "the masked samples go along: {input}");
}

#[test]
fn failing_slow_and_unfaithful_answers_give_no_summary_and_delay_nothing() {
    let invented = json!({"summary": "12345 users could not pay", "keywords": []}).to_string();
    let replies = vec![
        Reply::Status(503),
        Reply::Content(invented),
        Reply::Slow(Duration::from_secs(3), json!({"summary": "late", "keywords": []}).to_string()),
    ];
    let (url, seen) = fake_endpoint(replies);
    let started = std::time::Instant::now();
    let (lines, stats) = replay("fail", &table(&url, "timeout = \"500ms\"\nmax_attempts = 3\n"));
    assert_eq!(lines, golden(), "the alerts, unchanged and without a summary");
    assert!(stats.contains("summaries 0  summarizer failures [gave_up 1, http 2, unfaithful 1]"), "{stats}");
    assert_eq!(seen.lock().unwrap().len(), 3);
    assert!(started.elapsed() < Duration::from_secs(30), "the run ends once the tries are spent");
}
