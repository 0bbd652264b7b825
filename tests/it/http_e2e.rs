//! End to end over loopback: the real binary, HTTP ingest, alerts over SSE, bad input.

use crate::support::{now_ms, Feedpulse};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio_stream::StreamExt;

fn event(id: String, ts: i64, category: &str, text: &str) -> Value {
    json!({"id": id, "ts": ts, "channel": "app", "category": category, "sentiment": -0.6, "text": text})
}

/// Reads SSE frames until one `alert` event satisfies `want`, or the timeout.
async fn next_alert(
    stream: &mut (impl tokio_stream::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
    buf: &mut String,
    timeout: Duration,
    want: impl Fn(&Value) -> bool,
) -> Option<Value> {
    let deadline = Instant::now() + timeout;
    loop {
        while let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            let is_alert = frame.lines().any(|l| l == "event: alert");
            let data: String =
                frame.lines().filter_map(|l| l.strip_prefix("data: ").or_else(|| l.strip_prefix("data:"))).collect();
            if is_alert {
                let alert: Value = serde_json::from_str(&data).unwrap();
                if want(&alert) {
                    return Some(alert);
                }
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.next()).await {
            Ok(Some(Ok(chunk))) => buf.push_str(std::str::from_utf8(&chunk).unwrap()),
            _ => return None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spike_posted_over_http_arrives_on_sse_with_its_explanation() {
    let fp = Feedpulse::start(&["run", "--listen", "127.0.0.1:0"]);
    let client = reqwest::Client::new();
    let sse = client.get(fp.url("/v1/alerts/stream")).send().await.unwrap();
    assert_eq!(sse.status(), 200);
    assert!(sse.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let mut stream = sse.bytes_stream();
    let mut buf = String::new();

    // Eight quiet minutes of history (5 payment messages a minute), then a burst now.
    let now = now_ms();
    let minute = now - now.rem_euclid(60_000);
    let mut history = String::new();
    for m in (1..=8).rev() {
        for i in 0..5 {
            let ev = event(format!("h{m}-{i}"), minute - m * 60_000 + i * 7_000, "payment", "支付页面转圈");
            history.push_str(&ev.to_string());
            history.push('\n');
        }
    }
    let r = client.post(fp.url("/v1/events")).body(history).send().await.unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(r.json::<Value>().await.unwrap()["accepted"], 40);

    let mut sent_at = None;
    for i in 0..30 {
        let ev = event(format!("s{i}"), minute + 100 + i, "payment", "付款失败，扣了钱，电话13812345678");
        let t = Instant::now();
        let r = client.post(fp.url("/v1/events")).json(&ev).send().await.unwrap();
        assert_eq!(r.status(), 202);
        if i == 19 {
            sent_at = Some(t); // the 20th message reaches min_count and crosses the threshold
        }
    }
    let alert =
        next_alert(&mut stream, &mut buf, Duration::from_secs(5), |a| a["status"] == "firing" && a["rule"] == "spike")
            .await
            .expect("a spike alert on the SSE stream");
    let latency = sent_at.unwrap().elapsed();
    assert_eq!(alert["labels"]["category"], "payment");
    assert_eq!(alert["labels"]["alertname"], "FeedbackSpike");
    assert_eq!(alert["severity"], "critical");
    assert!(alert["value"].as_f64().unwrap() >= 20.0);
    assert!(alert["value"].as_f64().unwrap() > alert["baseline"]["threshold"].as_f64().unwrap());
    assert_eq!(alert["baseline"]["mean"], 5.0);
    assert!(alert["window"]["start"].as_str().unwrap().ends_with(":00.000Z"));
    assert_eq!(alert["fingerprint"].as_str().unwrap().len(), 16);
    let samples = alert["explanation"]["samples"].as_array().unwrap();
    assert!(!samples.is_empty());
    for s in samples {
        let s = s.as_str().unwrap();
        assert!(s.contains("<PHONE>") && !s.contains("13812345678"), "samples are masked: {s}");
    }
    assert!(alert["generator_url"].as_str().unwrap().starts_with(&fp.base));
    assert!(latency < Duration::from_secs(1), "alert within a second of the crossing message: {latency:?}");

    let active: Value = client.get(fp.url("/v1/alerts")).send().await.unwrap().json().await.unwrap();
    assert!(active["alerts"].as_array().unwrap().iter().any(|a| a["fingerprint"] == alert["fingerprint"]));
    // Every posted event is absorbed within a few ticks.
    let mut metrics = String::new();
    for _ in 0..50 {
        metrics = client.get(fp.url("/metrics")).send().await.unwrap().text().await.unwrap();
        if metrics.contains("feedpulse_events_accepted_total 70\n") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(metrics.contains("feedpulse_events_accepted_total 70\n"), "{metrics}");
    assert!(metrics.contains("feedpulse_alerts_total{rule=\"category_spike\",status=\"firing\"} 1"));
    assert!(metrics.contains("feedpulse_sse_clients 1"));
    let ready: Value = client.get(fp.url("/readyz")).send().await.unwrap().json().await.unwrap();
    assert_eq!(ready["ready"], true);
    // SIGTERM with the SSE client still connected: the server ends the stream and exits.
    let lines = tokio::task::spawn_blocking(move || fp.stop()).await.unwrap();
    assert!(lines.iter().any(|l| l.contains("feedpulse stopped")), "clean shutdown summary: {lines:?}");
    let rest =
        tokio::time::timeout(Duration::from_secs(5), async { while let Some(Ok(_)) = stream.next().await {} }).await;
    assert!(rest.is_ok(), "the SSE stream ended with the server");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_reasons_and_is_counted() {
    let fp = Feedpulse::start(&["run", "--listen", "127.0.0.1:0"]);
    let client = reqwest::Client::new();
    let post = |body: Vec<u8>| client.post(fp.url("/v1/events")).body(body).send();

    // Malformed JSON, missing text, invalid UTF-8, a timestamp far in the future, and one good
    // record, as NDJSON: the good one is accepted, each bad one gets its reason.
    let mut body = Vec::new();
    body.extend_from_slice(b"{\"text\": \"broken\n");
    body.extend_from_slice(b"{\"id\": \"no-text\"}\n");
    body.extend_from_slice(b"{\"text\": \"\xff\xfe bad bytes\"}\n");
    body.extend_from_slice(
        format!("{{\"text\": \"from the future\", \"ts\": {}}}\n", now_ms() + 10 * 86_400_000).as_bytes(),
    );
    body.extend_from_slice("{\"id\": \"ok-1\", \"text\": \"闪退了\"}\n".as_bytes());
    let r = post(body).await.unwrap();
    assert_eq!(r.status(), 400);
    let reply: Value = r.json().await.unwrap();
    assert_eq!(reply["accepted"], 1);
    let reasons: Vec<(u64, String)> = reply["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["index"].as_u64().unwrap(), r["reason"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(
        reasons,
        vec![
            (0, "malformed_json".into()),
            (1, "missing_text".into()),
            (2, "invalid_utf8".into()),
            (3, "ts_in_future".into())
        ]
    );
    assert!(reply["rejected"][3]["detail"].as_str().unwrap().contains("ahead of the wall clock"));

    // A JSON array and a pretty-printed object are fine.
    let r = post(br#"[{"text": "a1"}, {"text": "a2", "ts": "2026-11-20T10:00:00Z"}]"#.to_vec()).await.unwrap();
    assert_eq!(r.status(), 202);
    let r = post(b"{\n  \"text\": \"pretty\"\n}\n".to_vec()).await.unwrap();
    assert_eq!(r.status(), 202);
    // Not an object, and an empty body.
    let r = post(b"[1, 2]".to_vec()).await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["rejected"][0]["reason"], "not_an_object");
    assert_eq!(post(Vec::new()).await.unwrap().status(), 400);
    // Over the 8 MiB default body limit, as declared by Content-Length: 413 with the reason,
    // before the body is sent. Raw HTTP, because a client still writing the body when the server
    // answers and closes may see a broken pipe instead of the answer (HTTP/1.1 without
    // `Expect: 100-continue`); this client sends the headers and waits.
    let reply = declare_body_and_wait(&fp.base, 9 * 1024 * 1024).await;
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    assert!(
        reply.ends_with(
            r#"{"error":"the body is 9437184 bytes, over ingest.max_body_bytes = 8388608","reason":"body_too_large"}"#
        ),
        "{reply}"
    );
    // The server keeps serving.
    let client = reqwest::Client::new();
    assert_eq!(client.get(fp.url("/healthz")).send().await.unwrap().status(), 200);

    let metrics = client.get(fp.url("/metrics")).send().await.unwrap().text().await.unwrap();
    for (reason, n) in [
        ("malformed_json", 1),
        ("missing_text", 1),
        ("invalid_utf8", 1),
        ("ts_in_future", 1),
        ("not_an_object", 2),
        ("body_too_large", 1),
    ] {
        let line = format!("feedpulse_dead_letters_total{{reason=\"{reason}\"}} {n}");
        assert!(metrics.contains(&line), "missing `{line}` in\n{metrics}");
    }
    fp.stop();
}

/// Sends a `POST /v1/events` head declaring `length` body bytes, sends no body, and returns the
/// whole reply.
async fn declare_body_and_wait(base: &str, length: usize) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = base.strip_prefix("http://").unwrap();
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let head = format!(
        "POST /v1/events HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-ndjson\r\n\
         Content-Length: {length}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut reply = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut reply))
        .await
        .expect("no reply to the declared length within 10 s")
        .unwrap();
    String::from_utf8(reply).unwrap()
}

/// Issue 32, overload: with `max_concurrent_requests = 1`, requests beyond the one being
/// admitted get `503` with `Retry-After` and `accepted: 0`; what was accepted is counted, and
/// nothing refused is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_ingest_beyond_the_limit_is_refused_with_retry_after() {
    let dir = crate::support::config_dir("overload", |flow| {
        let flow = flow.replacen("[ingest]\n", "[ingest]\nmax_concurrent_requests = 1\n", 1);
        assert!(flow.contains("max_concurrent_requests = 1"));
        flow
    });
    let fp = Feedpulse::start(&["run", "--listen", "127.0.0.1:0", "--config", dir.to_str().unwrap()]);
    let client = reqwest::Client::new();
    // Six requests of 1,500 messages at once: each takes the sentence encoder a while.
    let requests = (0..6).map(|r| {
        let body: String = (0..1500)
            .map(|i| format!("{}\n", json!({"id": format!("o{r}-{i}"), "text": format!("付款失败，扣了钱 {r} {i}")})))
            .collect();
        let (client, url) = (client.clone(), fp.url("/v1/events"));
        tokio::spawn(async move { client.post(url).body(body).send().await.unwrap() })
    });
    let (mut accepted, mut refused) = (0, 0);
    for request in requests.collect::<Vec<_>>() {
        let reply = request.await.unwrap();
        match reply.status().as_u16() {
            202 => accepted += reply.json::<Value>().await.unwrap()["accepted"].as_u64().unwrap(),
            503 => {
                assert_eq!(reply.headers()["retry-after"], "1");
                assert_eq!(reply.json::<Value>().await.unwrap()["accepted"], 0);
                refused += 1;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(refused >= 1 && accepted >= 1500, "accepted {accepted} messages, refused {refused} requests");
    // The dataflow counts what it absorbs, a moment after the 202.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let metrics = client.get(fp.url("/metrics")).send().await.unwrap().text().await.unwrap();
        let counted = metrics.contains(&format!("feedpulse_events_accepted_total {accepted}\n"));
        if counted {
            assert!(metrics.contains(&format!("feedpulse_ingest_rejected_busy_total {refused}\n")), "{metrics}");
            break;
        }
        assert!(Instant::now() < deadline, "accepted {accepted} never counted: {metrics}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    fp.stop();
    std::fs::remove_dir_all(&dir).unwrap();
}
