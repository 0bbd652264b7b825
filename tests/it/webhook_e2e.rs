//! Webhooks, end to end: `feedpulse replay` of the golden stream with three `[[webhook]]`
//! receivers, each a plain HTTP server on loopback started by this test.
//! - `all` (no matchers, HMAC secret): the receiver answers 503 twice, then 200. Every golden
//!   alert arrives, in order, as the alert's JSON object, each with a valid signature.
//! - `critical` (`match = { severity = "critical" }`): only the payment spike's two changes.
//! - `down` (nobody listens, `max_attempts = 2`): the failures are counted and reported, and the
//!   run still finishes.

use crate::support;

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::{Arc, Mutex};

/// One request as the receiver saw it.
#[derive(Clone, Debug)]
pub(crate) struct Request {
    pub(crate) signature: Option<String>,
    pub(crate) authorization: Option<String>,
    pub(crate) content_type: String,
    pub(crate) body: Vec<u8>,
}

/// What a receiver answered (status) to each request, in arrival order.
pub(crate) type Log = Arc<Mutex<Vec<(u16, Request)>>>;

/// An HTTP/1.1 receiver that answers `503` to its first `failures` requests, then `200`.
pub(crate) fn receiver(failures: usize) -> (String, Log) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let seen: Log = Default::default();
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut headers = Vec::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                headers.push(line.trim_end().to_string());
            }
            let header = |name: &str| {
                headers.iter().find_map(|h| {
                    let (k, v) = h.split_once(':')?;
                    k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
                })
            };
            let length: usize = header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let request = Request {
                signature: header("x-feedpulse-signature"),
                authorization: header("authorization"),
                content_type: header("content-type").unwrap_or_default(),
                body,
            };
            let mut log = log.lock().unwrap();
            let status = if log.len() < failures { 503 } else { 200 };
            log.push((status, request));
            let reason = if status == 200 { "OK" } else { "Service Unavailable" };
            let mut stream = stream;
            let _ = write!(stream, "HTTP/1.1 {status} {reason}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    (url, seen)
}

#[test]
fn webhooks_receive_matching_alerts_signed_and_retried() {
    let (all_url, all) = receiver(2);
    let (critical_url, critical) = receiver(0);
    let down_url = format!("http://127.0.0.1:{}/hook", support::free_port());
    let dir = std::env::temp_dir().join(format!("fp-webhook-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rules = dir.join("rules.toml");
    let default_rules = std::fs::read_to_string("alerts/default.toml").unwrap();
    std::fs::write(
        &rules,
        format!(
            "{default_rules}\n\
             [[webhook]]\nname = \"all\"\nurl = \"{all_url}\"\nsecret_env = \"FP_TEST_WEBHOOK_SECRET\"\n\
             client = {{ basic_user = \"fp\", basic_password_env = \"FP_TEST_WEBHOOK_PASSWORD\" }}\n\n\
             [[webhook]]\nname = \"critical\"\nurl = \"{critical_url}\"\nmatch = {{ severity = \"critical\" }}\n\
             client = {{ bearer_token_env = \"FP_TEST_WEBHOOK_TOKEN\" }}\n\n\
             [[webhook]]\nname = \"down\"\nurl = \"{down_url}\"\nmax_attempts = 2\ntimeout = \"1s\"\n"
        ),
    )
    .unwrap();
    let alerts_out = dir.join("alerts.ndjson");
    let output = Command::new(env!("CARGO_BIN_EXE_feedpulse"))
        .args(["replay", "tests/golden/spike_dip.ndjson", "--batch", "1", "--stats", "--rules"])
        .arg(&rules)
        .arg("--alerts-out")
        .arg(&alerts_out)
        .env("FP_TEST_WEBHOOK_SECRET", "s3cret")
        .env("FP_TEST_WEBHOOK_PASSWORD", "pw")
        .env("FP_TEST_WEBHOOK_TOKEN", "tok")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let golden: Vec<Value> =
        std::fs::read_to_string(&alerts_out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(golden.len(), 4, "the golden stream's alerts");

    // `all`: two refused attempts, then every alert in order, signed.
    let all = all.lock().unwrap().clone();
    assert_eq!(all.iter().filter(|(s, _)| *s == 503).count(), 2);
    let delivered: Vec<&Request> = all.iter().filter(|(s, _)| *s == 200).map(|(_, r)| r).collect();
    let bodies: Vec<Value> = delivered.iter().map(|r| serde_json::from_slice(&r.body).unwrap()).collect();
    assert_eq!(bodies, golden, "the alert objects, in order, after the retries");
    for r in &delivered {
        assert_eq!(r.content_type, "application/json");
        let expected = feedpulse::sinks::webhook::signature(b"s3cret", &r.body);
        assert_eq!(r.signature.as_deref(), Some(expected.as_str()));
    }
    // Basic authentication on every attempt: base64("fp:pw").
    assert!(all.iter().all(|(_, r)| r.authorization.as_deref() == Some("Basic ZnA6cHc=")), "{all:?}");
    // The first (refused) attempt carried the same body as the delivered one.
    assert_eq!(all[0].1.body, delivered[0].body);

    // `critical`: the payment spike fired and resolved, nothing of the warning-level dip.
    let critical = critical.lock().unwrap().clone();
    let rules_seen: Vec<(String, String)> = critical
        .iter()
        .map(|(_, r)| serde_json::from_slice::<Value>(&r.body).unwrap())
        .map(|a| (a["labels"]["rule"].as_str().unwrap().to_string(), a["status"].as_str().unwrap().to_string()))
        .collect();
    let expected = [("category_spike", "firing"), ("category_spike", "resolved")];
    assert_eq!(rules_seen, expected.map(|(a, b)| (a.to_string(), b.to_string())));
    assert!(critical.iter().all(|(_, r)| r.signature.is_none()), "no secret, no signature");
    assert!(critical.iter().all(|(_, r)| r.authorization.as_deref() == Some("Bearer tok")), "{critical:?}");

    // `down`: 4 alerts × 2 attempts fail and are counted, the 4 alerts dropped; `all` delivered 4
    // and `critical` 2.
    assert!(stderr.contains("webhook deliveries 6"), "{stderr}");
    assert!(stderr.contains("webhook/dropped 4") && stderr.contains("webhook/post 10"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}
