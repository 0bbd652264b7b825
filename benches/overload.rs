//! Overload: HTTP ingest offered twice what the pipeline sustains, for a minute.
//!
//!   cargo bench --bench overload -- [SECONDS]      (default 60)
//!
//! Starts `redis-server` (loopback, a free port, no persistence) and the release `feedpulse run
//! --redis` with text enrichment on (the models, fetched once into the cache): the sentence
//! encoder bounds what two cores sustain, which is the overload a real deployment meets. Events
//! carry their category upstream (`ovl0`…`ovl9`) so the counts can be checked.
//!
//! 1. **Sustainable rate**: 15 s of batches of 50 posted back to back by four senders; the
//!    accepted messages per second are `S`.
//! 2. **Overload**: `SECONDS` at `2 × S` messages/s offered by 32 senders, in batches of 50
//!    spread evenly.
//!    Counted: accepted (`202`, by category), refused (`503`, each checked for `Retry-After`),
//!    other answers. feedpulse's resident memory is sampled every second (`/proc`). Every five
//!    seconds a probe category gets a burst after quiet history, posted again after `Retry-After`
//!    until accepted; the time from its acceptance to its alert on SSE is the alert latency of
//!    accepted events under overload.
//! 3. **Oracle**: once the pipeline has caught up, each category's `fp:agg:1h` hash in Redis must
//!    count exactly the messages acknowledged with `202`.

use serde_json::json;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BATCH: u64 = 50;
const CATEGORIES: u64 = 10;

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Kills the child (by its PID: only what this bench started) when dropped.
struct Started(Child);

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn rss_mb(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

/// What the senders saw.
#[derive(Default)]
struct Tally {
    accepted: [AtomicU64; CATEGORIES as usize],
    refused: AtomicU64,
    refused_without_retry_after: AtomicU64,
    other: AtomicU64,
}

impl Tally {
    fn accepted_total(&self) -> u64 {
        self.accepted.iter().map(|a| a.load(Relaxed)).sum()
    }
}

/// One batch of `BATCH` messages, all of category `ovl{c}`, with fresh ids.
fn batch(seq: &AtomicU64, c: u64) -> String {
    let ts = now_ms();
    let mut body = String::with_capacity(BATCH as usize * 160);
    for _ in 0..BATCH {
        let n = seq.fetch_add(1, Relaxed);
        body.push_str(
            &json!({"id": format!("o{n}"), "ts": ts, "channel": "app", "category": format!("ovl{c}"),
                    "sentiment": -0.3, "text": format!("第{n}条：付款页面一直转圈，订单没有生成")})
            .to_string(),
        );
        body.push('\n');
    }
    body
}

fn post(client: &reqwest::blocking::Client, url: &str, body: String, c: u64, tally: &Tally) -> bool {
    match client.post(url).body(body).send() {
        Ok(r) if r.status().as_u16() == 202 => {
            tally.accepted[c as usize].fetch_add(BATCH, Relaxed);
            true
        }
        Ok(r) if r.status().as_u16() == 503 => {
            tally.refused.fetch_add(BATCH, Relaxed);
            if r.headers().get("retry-after").is_none() {
                tally.refused_without_retry_after.fetch_add(1, Relaxed);
            }
            false
        }
        _ => {
            tally.other.fetch_add(BATCH, Relaxed);
            false
        }
    }
}

fn main() {
    let seconds: u64 = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(60);
    let redis_port = free_port();
    let _redis = Started(
        Command::new("redis-server")
            .args(["--port", &redis_port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server (Debian package redis-server)"),
    );
    std::thread::sleep(Duration::from_millis(300));
    let mut feedpulse = Command::new(env!("CARGO_BIN_EXE_feedpulse"))
        .args(["run", "--listen", "127.0.0.1:0", "--redis", &format!("127.0.0.1:{redis_port}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start feedpulse");
    let pid = feedpulse.id();
    let mut lines = BufReader::new(feedpulse.stdout.take().unwrap()).lines();
    let base = loop {
        let line = lines.next().expect("address line").unwrap();
        if let Some(rest) = line.strip_prefix("feedpulse listening on ") {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    let _feedpulse = Started(feedpulse);
    std::thread::spawn(move || for _ in lines.by_ref() {});
    let url = format!("{base}/v1/events");
    let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let seq = Arc::new(AtomicU64::new(0));
    println!(
        "machine: {} cores; `feedpulse run --redis` with enrichment, 1 worker",
        std::thread::available_parallelism().unwrap()
    );

    // 1. Sustainable rate.
    let warm = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let senders: Vec<_> = (0..4)
        .map(|i| {
            let (client, url, seq, tally, stop) =
                (client.clone(), url.clone(), seq.clone(), warm.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut c = i;
                while !stop.load(Relaxed) {
                    post(&client, &url, batch(&seq, c % CATEGORIES), c % CATEGORIES, &tally);
                    c += 1;
                }
            })
        })
        .collect();
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(15));
    stop.store(true, Relaxed);
    senders.into_iter().for_each(|s| s.join().unwrap());
    let sustainable = warm.accepted_total() as f64 / started.elapsed().as_secs_f64();
    println!(
        "sustainable: {sustainable:.0} messages/s accepted with four senders back to back ({} refused)",
        warm.refused.load(Relaxed)
    );

    // 2. Overload at twice that, with probes.
    let offered = 2.0 * sustainable;
    let tally = Arc::new(Tally::default());
    let peak_rss = Arc::new(Mutex::new(0f64));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (stop, peak) = (stop.clone(), peak_rss.clone());
        std::thread::spawn(move || {
            while !stop.load(Relaxed) {
                let mut p = peak.lock().unwrap();
                *p = p.max(rss_mb(pid, "VmRSS:"));
                drop(p);
                std::thread::sleep(Duration::from_secs(1));
            }
        })
    };
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let prober = {
        let (client, base, stop, latencies) = (client.clone(), base.clone(), stop.clone(), latencies.clone());
        std::thread::spawn(move || probe_alerts(&client, &base, &stop, &latencies))
    };
    // Open loop: enough senders that a slow answer does not slow what is offered.
    const SENDERS: u32 = 32;
    let interval = Duration::from_secs_f64(BATCH as f64 / offered);
    let senders: Vec<_> = (0..SENDERS)
        .map(|i| {
            let (client, url, seq, tally, stop) =
                (client.clone(), url.clone(), seq.clone(), tally.clone(), stop.clone());
            std::thread::spawn(move || {
                // Each sender offers its share of the rate on its own schedule.
                let mut next = Instant::now() + interval * i;
                let mut c = i as u64;
                while !stop.load(Relaxed) {
                    let now = Instant::now();
                    if next > now {
                        std::thread::sleep(next - now);
                    }
                    next += interval * SENDERS;
                    post(&client, &url, batch(&seq, c % CATEGORIES), c % CATEGORIES, &tally);
                    c += 1;
                }
            })
        })
        .collect();
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(seconds));
    stop.store(true, Relaxed);
    senders.into_iter().for_each(|s| s.join().unwrap());
    prober.join().unwrap();
    sampler.join().unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    let (accepted, refused) = (tally.accepted_total(), tally.refused.load(Relaxed));
    println!(
        "overload: offered {offered:.0}/s for {elapsed:.0} s; accepted {accepted} ({:.0}/s), refused {refused} with 503 \
         ({} without Retry-After), other answers {}",
        accepted as f64 / elapsed,
        tally.refused_without_retry_after.load(Relaxed),
        tally.other.load(Relaxed)
    );
    let mut lat = latencies.lock().unwrap().clone();
    lat.sort();
    let pct = |p: f64| lat.get(((lat.len().max(1) - 1) as f64 * p).round() as usize).copied().unwrap_or_default();
    println!(
        "alert latency of accepted probes: {} probes, p50 {:?}, max {:?}",
        lat.len(),
        pct(0.5),
        lat.last().copied().unwrap_or_default()
    );
    println!(
        "feedpulse memory: peak RSS sampled {:.0} MB, high-water mark {:.0} MB",
        *peak_rss.lock().unwrap(),
        rss_mb(pid, "VmHWM:")
    );

    // 3. Oracle: every acknowledged message is counted, once.
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let counted: Vec<u64> =
            (0..CATEGORIES).map(|c| redis_count(redis_port, &format!("fp:agg:1h:category:ovl{c}"))).collect();
        let expected: Vec<u64> =
            tally.accepted.iter().zip(&warm.accepted).map(|(a, w)| a.load(Relaxed) + w.load(Relaxed)).collect();
        if counted == expected {
            let all: u64 = expected.iter().sum();
            println!("oracle: every category's fp:agg:1h counts exactly its acknowledged messages ({all} in all, both phases)");
            break;
        }
        if Instant::now() > deadline {
            println!("oracle FAILED: counted {counted:?}, acknowledged {expected:?}");
            std::process::exit(1);
        }
        std::thread::sleep(Duration::from_secs(2));
    }
}

/// The sum of a `fp:agg` hash's counts, read with feedpulse's own Redis client.
fn redis_count(port: u16, key: &str) -> u64 {
    let config = feedpulse::config::RedisConfig::at(&format!("127.0.0.1:{port}"));
    let mut redis = feedpulse::redis::connect(&config, Duration::from_secs(5)).expect("redis");
    let reply = redis.call(feedpulse::redis::resp::cmd(["HGETALL", key])).expect("HGETALL");
    let fields = reply.as_array().unwrap_or_default();
    fields.iter().skip(1).step_by(2).filter_map(|v| v.as_str()?.split(',').next()?.parse::<u64>().ok()).sum()
}

/// Every five seconds a fresh probe category gets six quiet minutes of history and then a burst
/// of 25; each post is repeated after its `Retry-After` until accepted. Records the time from
/// the burst's acceptance to its alert on SSE.
fn probe_alerts(client: &reqwest::blocking::Client, base: &str, stop: &AtomicBool, latencies: &Mutex<Vec<Duration>>) {
    let mut sse = client.get(format!("{base}/v1/alerts/stream")).timeout(Duration::from_secs(3600)).send().unwrap();
    let fired: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let seen = fired.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        let mut text = String::new();
        while let Ok(n) = sse.read(&mut buf) {
            if n == 0 {
                return;
            }
            text.push_str(&String::from_utf8_lossy(&buf[..n]));
            while let Some(end) = text.find("\n\n") {
                let frame: String = text.drain(..end + 2).collect();
                if let Some(i) = frame.find("\"category\":\"probe") {
                    let name: String = frame[i + 12..].chars().take_while(|c| *c != '"').collect();
                    if frame.contains("\"status\":\"firing\"") {
                        seen.lock().unwrap().push((name, Instant::now()));
                    }
                }
            }
        }
    });
    let send = |body: String| loop {
        match client.post(format!("{base}/v1/events")).body(body.clone()).send() {
            Ok(r) if r.status().as_u16() == 202 => return Instant::now(),
            Ok(r) => {
                let wait = r.headers().get("retry-after").and_then(|v| v.to_str().ok()?.parse().ok()).unwrap_or(1);
                std::thread::sleep(Duration::from_secs(wait));
            }
            Err(_) => std::thread::sleep(Duration::from_secs(1)),
        }
    };
    let mut p = 0;
    while !stop.load(Relaxed) {
        std::thread::sleep(Duration::from_secs(5));
        let name = format!("probe{p}");
        let minute = now_ms() - now_ms().rem_euclid(60_000);
        let mut history = String::new();
        for m in 1..=6 {
            for i in 0..5 {
                let ev = json!({"id": format!("{name}-h{m}-{i}"), "ts": minute - m * 60_000 + i * 9_000, "channel": "app",
                                "category": name, "sentiment": -0.5, "text": "历史消息"});
                history.push_str(&ev.to_string());
                history.push('\n');
            }
        }
        send(history);
        let burst: String = (0..25)
            .map(|i| {
                json!({"id": format!("{name}-b{i}"), "ts": now_ms(), "channel": "app", "category": name,
                       "sentiment": -0.8, "text": "付款失败，钱扣了"})
                .to_string()
                    + "\n"
            })
            .collect();
        let accepted = send(burst);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some((_, at)) = fired.lock().unwrap().iter().find(|(n, _)| *n == name) {
                latencies.lock().unwrap().push(at.saturating_duration_since(accepted));
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        p += 1;
    }
}
