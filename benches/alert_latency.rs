//! Live alert latency: from sending the crossing event over HTTP to receiving its alert on SSE,
//! while background traffic flows at a target rate.
//!
//!   cargo bench --bench alert_latency -- [RATE ...]      (default: 10000 100000 events/s)
//!
//! Starts the release `feedpulse run --no-enrich` on a free loopback port (the aggregation path:
//! the background events carry their category and sentiment; with enrichment on, the sentence
//! encoder, ~1,500 messages/s on two cores, would set the rate). Per rate, 60 probe categories
//! each get six quiet minutes of history (back-dated), then, spread over the run, a burst of 25
//! messages posted one request each; the 20th is the crossing message (min_count 20). Meanwhile
//! background events (10 categories, precomputed category/sentiment) are posted in batches every
//! 10 ms to hold the rate. Reports p50/p99/max latency and the background rate achieved.
//!
//! A dashboard client (`/v1/dashboard/stream`) listens too: the report gives the same latency
//! to the dashboard's alert feed, and what the dashboard stream carries per second (messages and
//! bytes), which must not grow with the event rate.

use serde_json::json;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_stream::StreamExt;

const PROBES: usize = 60;
const RUN: Duration = Duration::from_secs(20);

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

fn main() {
    let rates: Vec<u64> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let rates = if rates.is_empty() { vec![10_000, 100_000] } else { rates };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    println!(
        "machine: {} cores; `feedpulse run --no-enrich` with the default configuration, 1 worker",
        std::thread::available_parallelism().unwrap()
    );
    for rate in rates {
        runtime.block_on(measure(rate));
    }
}

/// The probe a frame's alert fires for (`"category":"probe17"` and firing), if any.
fn firing_probe(frame: &str) -> Option<usize> {
    let i = frame.find("\"category\":\"probe")?;
    let digits: String = frame[i + 17..].chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok().filter(|_| frame.contains("\"status\":\"firing\""))
}

/// Reads an SSE response on its own task, handing each frame (up to its blank line) to `on_frame`.
fn follow_sse(response: reqwest::Response, mut on_frame: impl FnMut(&str) + Send + 'static) {
    tokio::spawn(async move {
        let mut stream = response.bytes_stream();
        let mut buf = String::new();
        while let Some(Ok(chunk)) = stream.next().await {
            buf.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buf.find("\n\n") {
                let frame: String = buf.drain(..end + 2).collect();
                on_frame(&frame);
            }
        }
    });
}

async fn measure(rate: u64) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_feedpulse"))
        .args(["run", "--no-enrich", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start feedpulse");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = loop {
        let line = lines.next().expect("address line").unwrap();
        if let Some(rest) = line.strip_prefix("feedpulse listening on ") {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines.by_ref() {});
    let client = reqwest::Client::new();

    // SSE listener: records when each probe's alert arrives.
    let received: Arc<std::sync::Mutex<Vec<Option<Instant>>>> = Arc::new(std::sync::Mutex::new(vec![None; PROBES]));
    let sse = client.get(format!("{base}/v1/alerts/stream")).send().await.unwrap();
    let rec = received.clone();
    follow_sse(sse, move |frame| {
        if let Some(p) = firing_probe(frame) {
            rec.lock().unwrap()[p].get_or_insert(Instant::now());
        }
    });

    // A dashboard viewer: probe alerts' arrival, and the stream's traffic by event type.
    let dashboard_received: Arc<std::sync::Mutex<Vec<Option<Instant>>>> =
        Arc::new(std::sync::Mutex::new(vec![None; PROBES]));
    let traffic: Arc<std::sync::Mutex<std::collections::BTreeMap<String, (u64, u64)>>> = Default::default();
    let dash = client.get(format!("{base}/v1/dashboard/stream")).send().await.unwrap();
    let (rec, counts) = (dashboard_received.clone(), traffic.clone());
    let traffic_from = Instant::now();
    follow_sse(dash, move |frame| {
        let event = frame.lines().find_map(|l| l.strip_prefix("event: ")).unwrap_or("comment").to_string();
        {
            let mut c = counts.lock().unwrap();
            let entry = c.entry(event.clone()).or_default();
            entry.0 += 1;
            entry.1 += frame.len() as u64;
        }
        if let Some(p) = firing_probe(frame).filter(|_| event == "alert") {
            rec.lock().unwrap()[p].get_or_insert(Instant::now());
        }
    });

    // History: six quiet minutes (5 messages a minute) per probe category.
    let now = now_ms();
    let minute = now - now.rem_euclid(60_000);
    let mut history = String::new();
    for p in 0..PROBES {
        for m in 1..=6 {
            for i in 0..5 {
                let ev = json!({"id": format!("h{p}-{m}-{i}"), "ts": minute - m * 60_000 + i * 9_000, "channel": "app",
                                "category": format!("probe{p}"), "sentiment": -0.5, "text": "history"});
                history.push_str(&ev.to_string());
                history.push('\n');
            }
        }
    }
    assert!(client.post(format!("{base}/v1/events")).body(history).send().await.unwrap().status().is_success());

    // Background traffic at `rate`.
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let background = {
        let (client, base, stop, sent, refused) =
            (client.clone(), base.clone(), stop.clone(), sent.clone(), refused.clone());
        tokio::spawn(async move {
            let per_tick = (rate / 100).max(1);
            let started = Instant::now();
            let mut seq = 0u64;
            let mut tick = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let ts = now_ms();
                let mut body = String::with_capacity(per_tick as usize * 140);
                for _ in 0..per_tick {
                    seq += 1;
                    body.push_str(&format!(
                        "{{\"id\":\"b{seq}\",\"ts\":{ts},\"channel\":\"app\",\"category\":\"bg{}\",\"sentiment\":-0.3,\"text\":\"后台消息 {seq}\"}}\n",
                        seq % 10
                    ));
                }
                let r = client.post(format!("{base}/v1/events")).body(body).send().await;
                match r {
                    Ok(r) if r.status().is_success() => sent.fetch_add(per_tick, Ordering::Relaxed),
                    _ => refused.fetch_add(per_tick, Ordering::Relaxed),
                };
                tick += 1;
                let due = started + Duration::from_millis(10 * tick);
                tokio::time::sleep_until(due.into()).await;
            }
            started.elapsed()
        })
    };

    // Probes, spread over the run.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let gap = (RUN - Duration::from_secs(2)) / PROBES as u32;
    let mut crossing_sent: Vec<Option<Instant>> = vec![None; PROBES];
    for (p, slot) in crossing_sent.iter_mut().enumerate() {
        for i in 0..25 {
            let ev = json!({"id": format!("p{p}-{i}"), "ts": now_ms(), "channel": "app", "category": format!("probe{p}"),
                            "sentiment": -0.8, "text": "付款失败"});
            let t = Instant::now();
            let r = client.post(format!("{base}/v1/events")).json(&ev).send().await.unwrap();
            assert!(r.status().is_success(), "probe refused: {}", r.status());
            if i == 19 {
                *slot = Some(t);
            }
        }
        tokio::time::sleep(gap).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    let elapsed = background.await.unwrap();
    let mut latencies: Vec<Duration> = Vec::new();
    let received = received.lock().unwrap().clone();
    for (sent_at, got) in crossing_sent.iter().zip(received.iter()) {
        if let (Some(s), Some(g)) = (sent_at, got) {
            latencies.push(g.saturating_duration_since(*s));
        }
    }
    latencies.sort();
    let pct = |p: f64| latencies[((p / 100.0) * (latencies.len() - 1) as f64).round() as usize].as_secs_f64() * 1e3;
    let achieved = sent.load(Ordering::Relaxed) as f64 / elapsed.as_secs_f64();
    if latencies.is_empty() {
        println!("rate {rate}/s: no probe alert received");
    } else {
        println!(
            "target {rate} events/s: achieved {achieved:.0}/s ({} refused)  alerts {}/{PROBES}  latency p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
            refused.load(Ordering::Relaxed),
            latencies.len(),
            pct(50.0),
            pct(99.0),
            pct(100.0)
        );
    }
    let mut on_dashboard: Vec<Duration> = crossing_sent
        .iter()
        .zip(dashboard_received.lock().unwrap().iter())
        .filter_map(|(s, g)| Some(g.as_ref()?.saturating_duration_since(*s.as_ref()?)))
        .collect();
    on_dashboard.sort();
    if let (Some(p99), Some(max)) =
        (on_dashboard.get(((on_dashboard.len().max(1) - 1) as f64 * 0.99).round() as usize), on_dashboard.last())
    {
        println!(
            "  dashboard feed: alerts {}/{PROBES}  latency p99 {:.2} ms  max {:.2} ms",
            on_dashboard.len(),
            p99.as_secs_f64() * 1e3,
            max.as_secs_f64() * 1e3
        );
    }
    let seconds = traffic_from.elapsed().as_secs_f64();
    let traffic = traffic.lock().unwrap();
    let (messages, bytes) = traffic.values().fold((0, 0), |(m, b), (m2, b2)| (m + m2, b + b2));
    let by_event: Vec<String> = traffic.iter().map(|(e, (m, _))| format!("{e} {m}")).collect();
    println!(
        "  dashboard stream: {:.1} messages/s, {:.1} KB/s over {seconds:.0} s ({})",
        messages as f64 / seconds,
        bytes as f64 / 1024.0 / seconds,
        by_event.join(", ")
    );
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let _ = child.wait();
}
