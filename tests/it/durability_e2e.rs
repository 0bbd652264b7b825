//! `kill -9` of `feedpulse run` while it consumes a Redis stream, then a restart: every entry is
//! counted exactly once (the aggregates in Redis equal those of an uninterrupted replay of the
//! same input, field by field), and the alert that fired before the crash is not fired again —
//! neither in the `fp:alerts` stream nor in a real Alertmanager, which keeps its `startsAt`.

use crate::support;

use crate::support::{pairs, Alertmanager, Feedpulse, RedisServer};
use feedpulse::redis::resp::{cmd, Connection, Reply};
use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The payment spike's alert fires at this event time (see `tests/golden/spike_dip.alerts.ndjson`).
const SPIKE_FIRES_MS: i64 = 1_767_227_436_403;
/// The input ends here, while the spike is still firing (its window closes at 00:31:00).
const END_MS: i64 = 1_767_227_490_000;

fn call(c: &mut Connection, args: &[&str]) -> Reply {
    c.call(cmd(args)).unwrap()
}

fn text(r: &Reply) -> String {
    r.as_str().map(String::from).or_else(|| r.as_int().map(|i| i.to_string())).unwrap_or_default()
}

/// Every `fp:agg:*` hash with its fields: the whole rolling-aggregate state.
fn aggregates(c: &mut Connection) -> BTreeMap<String, BTreeMap<String, String>> {
    let keys = call(c, &["KEYS", "fp:agg:*"]);
    let keys: Vec<String> = keys.as_array().unwrap().iter().map(text).collect();
    keys.into_iter().map(|k| (k.clone(), pairs(&call(c, &["HGETALL", &k])))).collect()
}

/// (fingerprint, status, startsAt) of every entry in `fp:alerts`.
fn alert_log(c: &mut Connection) -> Vec<(String, String, String)> {
    let entries = call(c, &["XRANGE", "fp:alerts", "-", "+"]);
    entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let fields = pairs(&e.as_array().unwrap()[1]);
            let alert: serde_json::Value = serde_json::from_str(&fields["alert"]).unwrap();
            (fields["fingerprint"].clone(), fields["status"].clone(), alert["starts_at"].as_str().unwrap().to_owned())
        })
        .collect()
}

fn pending(c: &mut Connection) -> i64 {
    let reply = call(c, &["XPENDING", "fp:feedback", "feedpulse"]);
    reply.as_array().and_then(|p| p.first()).and_then(Reply::as_int).unwrap_or(-1)
}

/// The group has read every entry of the stream and acknowledged all of them.
fn consumed(c: &mut Connection) -> bool {
    let groups = call(c, &["XINFO", "GROUPS", "fp:feedback"]);
    let Some(group) = groups.as_array().and_then(|g| g.first()).map(pairs) else { return false };
    let last = call(c, &["XREVRANGE", "fp:feedback", "+", "-", "COUNT", "1"]);
    let last_id = last.as_array().and_then(|e| e.first()).and_then(|e| e.as_array()).map(|e| text(&e[0]));
    Some(group["last-delivered-id"].clone()) == last_id && group["pending"] == "0"
}

fn xadd(c: &mut Connection, lines: &[String]) {
    let commands: Vec<_> = lines.iter().map(|l| cmd(["XADD", "fp:feedback", "*", "json", l])).collect();
    c.pipeline(&commands).unwrap();
}

/// `input` replayed once, uninterrupted, into a fresh Redis: the server and its aggregates.
fn replayed(input: &[String]) -> (RedisServer, BTreeMap<String, BTreeMap<String, String>>) {
    let redis = RedisServer::start();
    let mut replay = Command::new(env!("CARGO_BIN_EXE_feedpulse"))
        .args(["replay", "-", "--no-enrich", "--redis", &redis.address()])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    replay.stdin.take().unwrap().write_all(input.join("\n").as_bytes()).unwrap();
    assert!(replay.wait().unwrap().success());
    let aggregates = aggregates(&mut redis.connect().unwrap());
    (redis, aggregates)
}

fn start(redis: &RedisServer, am: &Alertmanager) -> Feedpulse {
    Feedpulse::start(&[
        "run",
        "--listen",
        "127.0.0.1:0",
        "--no-enrich",
        "--redis",
        &redis.address(),
        "--consume-redis",
        "--alertmanager",
        &am.url,
    ])
}

#[test]
fn kill_9_mid_stream_loses_nothing_and_pages_once() {
    let golden = std::fs::read_to_string("tests/golden/spike_dip.ndjson").unwrap();
    let ts = |l: &str| serde_json::from_str::<serde_json::Value>(l).ok().and_then(|v| v["ts"].as_i64()).unwrap_or(0);
    // File order (not sorted by time), with two bad lines (dead letters) among them.
    let input: Vec<String> = golden.lines().filter(|l| ts(l) < END_MS).map(String::from).collect();
    let (until_spike, rest): (Vec<String>, Vec<String>) = input.iter().cloned().partition(|l| ts(l) <= SPIKE_FIRES_MS);

    let (redis, am) = (RedisServer::start(), Alertmanager::start());
    let mut c = redis.connect().unwrap();
    let mut fp = start(&redis, &am);
    xadd(&mut c, &until_spike);
    support::wait_for("the payment spike fired", Duration::from_secs(20), || {
        alert_log(&mut c).iter().any(|(_, status, _)| status == "firing")
    });
    let fired = alert_log(&mut c);
    support::wait_for("the spike in Alertmanager", Duration::from_secs(20), || {
        am.alerts().iter().any(|a| a["labels"]["rule"] == "category_spike")
    });

    // Feed the rest in small chunks and kill -9 as soon as entries are read but not yet
    // acknowledged: the crash lands between reading and the checkpoint that counts them.
    let mut chunks = rest.chunks(10);
    let mut killed = false;
    for chunk in chunks.by_ref() {
        xadd(&mut c, chunk);
        let deadline = Instant::now() + Duration::from_millis(50);
        while Instant::now() < deadline {
            if pending(&mut c) > 0 {
                fp.child.kill().unwrap();
                fp.child.wait().unwrap();
                killed = true;
                break;
            }
        }
        if killed {
            break;
        }
    }
    assert!(killed, "never caught entries read and not yet acknowledged");
    let pending_at_crash = pending(&mut c);
    assert!(pending_at_crash > 0, "the crash left entries pending");
    for chunk in chunks {
        xadd(&mut c, chunk);
    }

    let fp = start(&redis, &am);
    support::wait_for("every entry read and acknowledged after the restart", Duration::from_secs(30), || {
        consumed(&mut c)
    });
    let crashed = aggregates(&mut c);
    let log = alert_log(&mut c);
    let metrics = reqwest::blocking::get(fp.url("/metrics")).unwrap().text().unwrap();
    let banner = fp.banner.clone();
    fp.stop();
    assert!(
        banner.iter().any(|l| l.starts_with("continuing from redis:") && l.contains("(1 firing)")),
        "the restart says what it continues from: {banner:?}"
    );

    // Exactly once: the same aggregates as one uninterrupted replay of the same input.
    let (reference_redis, reference) = replayed(&input);
    assert!(reference.contains_key("fp:agg:1m:category:payment"), "{reference:?}");
    assert_eq!(crashed, reference, "aggregates after kill -9 and restart differ from a clean replay");

    // Paged once: the alert log has one firing entry per fingerprint, the one from before the
    // crash, and Alertmanager still holds it with its original start.
    assert_eq!(fired.len(), 1, "{fired:?}");
    let (fingerprint, _, starts_at) = &fired[0];
    let firing: Vec<_> = log.iter().filter(|(_, status, _)| status == "firing").collect();
    assert_eq!(firing, vec![&fired[0]], "nothing fired again after the restart: {log:?}");
    let in_am: Vec<_> = am.alerts().into_iter().filter(|a| a["labels"]["rule"] == "category_spike").collect();
    assert_eq!(in_am.len(), 1, "{in_am:?}");
    assert_eq!(in_am[0]["annotations"]["fingerprint"], fingerprint.as_str());
    let am_start = chrono::DateTime::parse_from_rfc3339(in_am[0]["startsAt"].as_str().unwrap()).unwrap();
    assert_eq!(am_start, chrono::DateTime::parse_from_rfc3339(starts_at).unwrap());
    // The bad lines were dead-lettered once each, before the crash, and not read again after.
    let dead = |c: &mut Connection| call(c, &["XLEN", "fp:deadletter"]).as_int();
    assert_eq!(dead(&mut c), dead(&mut reference_redis.connect().unwrap()));
    assert_eq!(dead(&mut c), Some(2));
    for reason in ["malformed_json", "missing_text"] {
        assert!(metrics.contains(&format!("feedpulse_dead_letters_total{{reason=\"{reason}\"}} 0")), "{metrics}");
    }
}

/// The golden stream's good records up to `END_MS` (a body with a bad record answers 400 for
/// it and 202s nothing else).
fn good_records() -> Vec<String> {
    let golden = std::fs::read_to_string("tests/golden/spike_dip.ndjson").unwrap();
    let ts = |l: &str| serde_json::from_str::<serde_json::Value>(l).ok().and_then(|v| v["ts"].as_i64());
    golden.lines().filter(|l| ts(l).is_some_and(|t| t < END_MS) && l.contains("\"text\"")).map(String::from).collect()
}

/// Posts `records` in batches of 25, each answered `202`, and kills the process with `kill -9` at
/// once after the last (most of the last batches cannot have been counted yet): the records
/// acknowledged.
fn post_then_kill(mut fp: Feedpulse, records: &[String]) -> Vec<String> {
    let client = reqwest::blocking::Client::new();
    let mut acknowledged = Vec::new();
    for chunk in records.chunks(25) {
        let reply = client.post(fp.url("/v1/events")).body(chunk.join("\n")).send().unwrap();
        assert_eq!(reply.status(), 202, "{}", reply.text().unwrap());
        acknowledged.extend_from_slice(chunk);
    }
    fp.child.kill().unwrap();
    fp.child.wait().unwrap();
    acknowledged
}

/// Issue 32: with `[ingest] durable = true` a `202` means the records are in the Redis stream;
/// `kill -9` right after the last `202` loses none of them: after a restart the aggregates
/// equal an uninterrupted replay of everything acknowledged.
#[test]
fn durable_http_ingest_loses_nothing_acknowledged_by_kill_9() {
    let input = good_records();
    let redis = RedisServer::start();
    let dir = support::config_dir("durable-http", |flow| {
        let flow = flow.replacen("[ingest]\n", "[ingest]\ndurable = true\n", 1);
        assert!(flow.contains("durable = true"));
        flow + &format!("\n[redis]\nurl = \"{}\"\nconsume = true\n", redis.address())
    });
    let args = ["run", "--listen", "127.0.0.1:0", "--no-enrich", "--config", dir.to_str().unwrap()];
    let acknowledged = post_then_kill(Feedpulse::start(&args), &input);
    let mut c = redis.connect().unwrap();
    assert_eq!(
        call(&mut c, &["XLEN", "fp:feedback"]).as_int(),
        Some(acknowledged.len() as i64),
        "every 202 is in the stream"
    );

    let fp = Feedpulse::start(&args);
    support::wait_for("every acknowledged record read and counted", Duration::from_secs(30), || consumed(&mut c));
    let restarted = aggregates(&mut c);
    fp.stop();
    let (_reference_redis, reference) = replayed(&acknowledged);
    assert!(reference.contains_key("fp:agg:1m:category:payment"));
    assert_eq!(restarted, reference, "what was acknowledged over HTTP is counted once after kill -9");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn durable_ingest_without_a_consumer_group_refuses_to_start() {
    let dir =
        support::config_dir("durable-no-redis", |flow| flow.replacen("[ingest]\n", "[ingest]\ndurable = true\n", 1));
    let out = Command::new(env!("CARGO_BIN_EXE_feedpulse"))
        .args(["run", "--listen", "127.0.0.1:0", "--no-enrich", "--config", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("durable = true needs"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The fingerprints of the alerts that fired in an alerts file.
fn fired(path: &std::path::Path) -> std::collections::BTreeSet<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let alerts = text.lines().filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok());
    alerts.filter(|a| a["status"] == "firing").map(|a| a["fingerprint"].as_str().unwrap().to_owned()).collect()
}

/// Durable ingest without Redis (`[ingest] wal`): `kill -9` right after the last `202`, and a
/// restart on the same log. Every acknowledged record is in the log, the restarted run reads each
/// one back before it is ready, and the alerts it raises from them are those of an uninterrupted
/// replay of the same records.
#[test]
fn durable_ingest_without_redis_loses_nothing_acknowledged_by_kill_9() {
    let input = good_records();
    let work = std::env::temp_dir().join(format!("fp-wal-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    let log = work.join("wal");
    let dir = support::config_dir("durable-wal", |flow| {
        let table = format!("[ingest]\ndurable = true\nwal = \"{}\"\n", log.display());
        flow.replacen("[ingest]\n", &table, 1)
    });
    let args = |alerts: &str| {
        let alerts = work.join(alerts).to_str().unwrap().to_owned();
        let config = dir.to_str().unwrap().to_owned();
        ["run", "--listen", "127.0.0.1:0", "--no-enrich", "--config", &config, "--alerts-out", &alerts]
            .map(String::from)
    };
    std::fs::create_dir_all(&work).unwrap();
    let first = args("first.ndjson");
    let acknowledged = post_then_kill(Feedpulse::start(&first.iter().map(String::as_str).collect::<Vec<_>>()), &input);
    let logged: usize = std::fs::read_dir(&log)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap().lines().count())
        .sum();
    assert_eq!(logged, acknowledged.len(), "every 202 is in the log, once");

    let second = args("second.ndjson");
    let fp = Feedpulse::start(&second.iter().map(String::as_str).collect::<Vec<_>>());
    let metrics = reqwest::blocking::get(fp.url("/metrics")).unwrap().text().unwrap();
    let read_back = format!("feedpulse_events_received_total{{source=\"wal\"}} {}\n", acknowledged.len());
    assert!(metrics.contains(&read_back), "read back before ready: {read_back}");
    let reference = work.join("reference.ndjson");
    let mut replay = Command::new(env!("CARGO_BIN_EXE_feedpulse"))
        .args(["replay", "-", "--no-enrich", "--alerts-out", reference.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    replay.stdin.take().unwrap().write_all(acknowledged.join("\n").as_bytes()).unwrap();
    assert!(replay.wait().unwrap().success());
    let expected = fired(&reference);
    assert!(!expected.is_empty(), "the payment spike fires in the acknowledged records");
    support::wait_for("the restarted run's alerts", Duration::from_secs(20), || {
        fired(&work.join("second.ndjson")) == expected
    });
    fp.stop();
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&work).unwrap();
}
