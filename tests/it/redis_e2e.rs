//! The real binary against a real `redis-server` on a private loopback port: alerts, alert
//! state, dead letters and rolling aggregates land under the documented keys (docs/redis.md),
//! aggregates equal a recomputation from the input, TTLs bound memory, and no personal data
//! reaches Redis.

use crate::support;

use crate::support::{pairs, RedisServer};
use feedpulse::redis::resp::{cmd, Connection, Reply};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

fn replay(input: &str, extra: &[&str]) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_feedpulse"))
        .args(["replay", "-", "--batch", "1"])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    assert!(child.wait().unwrap().success());
}

fn call(c: &mut Connection, args: &[&str]) -> Reply {
    c.call(cmd(args)).unwrap()
}

fn stream(c: &mut Connection, key: &str) -> Vec<BTreeMap<String, String>> {
    let reply = call(c, &["XRANGE", key, "-", "+"]);
    reply.as_array().unwrap().iter().map(|entry| pairs(&entry.as_array().unwrap()[1])).collect()
}

#[test]
fn alerts_dead_letters_and_aggregates_land_in_redis() {
    let redis = RedisServer::start();
    let golden = std::fs::read_to_string("tests/golden/spike_dip.ndjson").unwrap();
    // Personal data in a good record and in a bad one: neither may reach Redis unmasked.
    let pii = "{\"id\":\"pii1\",\"ts\":1767225700000,\"category\":\"payment\",\"text\":\"付款失败 call 13812345678 or zhang.san@example.com\"}\n\
               {\"text\": \"card 4111111111111111, phone 13987654321\"\n";
    // A business from upstream and one a default scope names (直播 → live).
    let business =
        "{\"id\":\"b1\",\"ts\":1767225800000,\"category\":\"refund\",\"business\":\"ads\",\"text\":\"退款慢\"}\n\
                    {\"id\":\"b2\",\"ts\":1767225900000,\"category\":\"payment\",\"text\":\"直播间打赏付款失败\"}\n";
    let input = format!("{golden}{pii}{business}");
    replay(&input, &["--redis", &redis.address()]);
    let mut c = redis.connect().unwrap();

    // Alerts: one stream entry per state change, in order, carrying the alert object.
    let golden_alerts: Vec<Value> = std::fs::read_to_string("tests/golden/spike_dip.alerts.ndjson")
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let entries = stream(&mut c, "fp:alerts");
    let streamed: Vec<Value> = entries.iter().map(|e| serde_json::from_str(&e["alert"]).unwrap()).collect();
    let key = |a: &Value| (a["fingerprint"].clone(), a["status"].clone(), a["window"]["start"].clone());
    assert_eq!(streamed.iter().map(key).collect::<Vec<_>>(), golden_alerts.iter().map(key).collect::<Vec<_>>());
    for (entry, alert) in entries.iter().zip(&streamed) {
        assert_eq!(entry["status"], alert["status"].as_str().unwrap());
        assert_eq!(entry["fingerprint"], alert["fingerprint"].as_str().unwrap());
    }

    // Alert state: the latest status per fingerprint, with a TTL.
    for alert in &golden_alerts {
        let fingerprint = alert["fingerprint"].as_str().unwrap();
        let last = golden_alerts.iter().rev().find(|a| a["fingerprint"] == fingerprint).unwrap();
        let state = pairs(&call(&mut c, &["HGETALL", &format!("fp:alert:{fingerprint}")]));
        assert_eq!(state["status"], last["status"].as_str().unwrap());
        assert_eq!(state["rule"], last["labels"]["rule"].as_str().unwrap());
        let ttl = call(&mut c, &["TTL", &format!("fp:alert:{fingerprint}")]).as_int().unwrap();
        assert!(ttl > 6 * 86_400 && ttl <= 7 * 86_400, "alert state TTL {ttl}");
    }

    // Dead letters: the golden file's three and the PII one, with masked payloads.
    let dead = stream(&mut c, "fp:deadletter");
    let reasons: Vec<&str> = dead.iter().map(|d| d["reason"].as_str()).collect();
    assert_eq!(reasons, ["missing_text", "malformed_json", "ts_in_future", "malformed_json"]);

    // Aggregates: every (window, dimension, value) hash equals a from-scratch count of the input.
    let mut expected: BTreeMap<String, BTreeMap<i64, i64>> = BTreeMap::new();
    let mut seen = std::collections::HashSet::new();
    for line in input.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else { continue };
        let (Some(ts), Some(_)) = (v["ts"].as_i64(), v["text"].as_str()) else { continue };
        if ts > 1_900_000_000_000 || !seen.insert(v["id"].as_str().unwrap_or(line).to_string()) {
            continue;
        }
        for (size, name) in [(60, "1m"), (300, "5m"), (900, "15m"), (3600, "1h")] {
            let start = ts.div_euclid(1000 * size) * size;
            let mut keys = vec![format!("fp:agg:{name}:overall:all")];
            keys.push(format!("fp:agg:{name}:category:{}", v["category"].as_str().unwrap_or("other")));
            keys.push(format!("fp:agg:{name}:channel:{}", v["channel"].as_str().unwrap_or("unknown")));
            if let Some(campaign) = v["campaign"].as_str() {
                keys.push(format!("fp:agg:{name}:campaign:{campaign}"));
            }
            let text = v["text"].as_str().unwrap_or_default();
            let business = v["business"].as_str().or(text.contains("直播").then_some("live"));
            if let Some(business) = business {
                let category = v["category"].as_str().unwrap_or("other");
                keys.push(format!("fp:agg:{name}:business:{business}"));
                if name == "1h" {
                    // The default [[aggregate]] keeps business × category at hours only.
                    keys.push(format!("fp:agg:{name}:business|category:{business}|{category}"));
                }
            }
            for k in keys {
                *expected.entry(k).or_default().entry(start).or_default() += 1;
            }
        }
    }
    let keys = call(&mut c, &["KEYS", "fp:agg:*"]);
    let mut actual_keys: Vec<String> =
        keys.as_array().unwrap().iter().map(|k| k.as_str().unwrap().to_string()).collect();
    actual_keys.sort();
    // Established clusters count in windows too (their members are a subset of the messages);
    // the other keys equal the recomputation exactly.
    let (cluster_keys, actual_keys): (Vec<String>, Vec<String>) =
        actual_keys.into_iter().partition(|k| k.contains(":cluster:"));
    assert_eq!(actual_keys, expected.keys().cloned().collect::<Vec<_>>());
    assert!(!cluster_keys.is_empty(), "the golden stream's repeated complaints form clusters");
    let overall = pairs(&call(&mut c, &["HGETALL", "fp:agg:1m:overall:all"]));
    for key in cluster_keys.iter().filter(|k| k.starts_with("fp:agg:1m:")) {
        for (start, value) in pairs(&call(&mut c, &["HGETALL", key])) {
            let count = |v: &str| v.split(',').next().unwrap().parse::<i64>().unwrap();
            assert!(count(&value) <= count(&overall[&start]), "{key} {start}: {value} vs overall {}", overall[&start]);
        }
    }
    for (key, windows) in &expected {
        let stored = pairs(&call(&mut c, &["HGETALL", key]));
        let counts: BTreeMap<i64, i64> = stored
            .iter()
            .map(|(start, value)| (start.parse().unwrap(), value.split(',').next().unwrap().parse().unwrap()))
            .collect();
        assert_eq!(&counts, windows, "{key}");
        let ttl = call(&mut c, &["TTL", key]).as_int().unwrap();
        // Retention past the window's end: 26 h, and 8 days for the hours.
        let (retention, size) = if key.starts_with("fp:agg:1h:") { (8 * 86_400, 3600) } else { (26 * 3600, 900) };
        assert!(ttl > retention - 60 && ttl <= retention + size, "{key}: TTL {ttl}");
    }
    // Local days (UTC by default) sum the hours: 2026-01-01 holds the hour from 00:00.
    let day = pairs(&call(&mut c, &["HGETALL", "fp:daily:2026-01-01:overall:all"]));
    let hour_count = &expected["fp:agg:1h:overall:all"][&1_767_225_600];
    assert_eq!((day["count"].parse::<i64>().unwrap(), day["timezone"].as_str()), (*hour_count, "UTC"));
    let live = pairs(&call(&mut c, &["HGETALL", "fp:daily:2026-01-01:business|category:live|payment"]));
    assert_eq!(live["count"], "1", "{live:?}");
    let payment = pairs(&call(&mut c, &["HGETALL", "fp:agg:1m:category:payment"]));
    let spike_window = &payment["1767227400"];
    assert_eq!(spike_window.split(',').count(), 4, "count,neg_count,sentiment_sum,sentiment_sq_sum: {spike_window}");

    // Campaign sentiment: the latest 5m window of double11.
    let sentiment = pairs(&call(&mut c, &["HGETALL", "fp:sentiment:double11"]));
    assert_eq!((sentiment["window"].as_str(), sentiment["window_start"].as_str()), ("5m", "1767227700"));
    let share: f64 = sentiment["negative_share"].parse().unwrap();
    assert!((0.0..=1.0).contains(&share));

    // No personal data anywhere in Redis.
    let everything = dump(&mut c);
    for secret in ["13812345678", "zhang.san@example.com", "4111111111111111", "13987654321"] {
        assert!(!everything.contains(secret), "{secret} reached Redis");
    }
    assert!(everything.contains("<PHONE>"), "the masked dead letter is there");
}

/// Every key and value in the database, as text.
fn dump(c: &mut Connection) -> String {
    let mut out = String::new();
    let keys = call(c, &["KEYS", "*"]);
    for key in keys.as_array().unwrap() {
        let key = key.as_str().unwrap();
        let kind = call(c, &["TYPE", key]);
        let value = match kind.as_str().unwrap() {
            "hash" => call(c, &["HGETALL", key]),
            "stream" => call(c, &["XRANGE", key, "-", "+"]),
            "string" => call(c, &["GET", key]),
            "zset" => call(c, &["ZRANGE", key, "0", "-1", "WITHSCORES"]),
            other => panic!("unexpected key type {other} for {key}"),
        };
        out.push_str(key);
        out.push_str(&format!("{value:?}"));
    }
    // Debug-formatted bulk strings are byte lists: decode them too.
    let mut text = out.clone();
    for chunk in out.split("Bulk(Some([").skip(1) {
        let bytes: Vec<u8> = chunk.split("]))").next().unwrap().split(", ").filter_map(|b| b.parse().ok()).collect();
        text.push_str(&String::from_utf8_lossy(&bytes));
    }
    text
}

#[test]
fn expired_windows_leave_the_aggregate_hashes() {
    let redis = RedisServer::start();
    // The default dataflow with a 3-minute retention for 1-minute windows.
    let dir = support::config_dir("redis-retention", |flow| {
        let edited = flow.replacen("size = \"1m\"\nretention = \"26h\"", "size = \"1m\"\nretention = \"3m\"", 1);
        assert!(edited.contains("retention = \"3m\""));
        edited
    });
    let golden = std::fs::read_to_string("tests/golden/spike_dip.ndjson").unwrap();
    replay(&golden, &["--redis", &redis.address(), "--config", dir.to_str().unwrap()]);
    let mut c = redis.connect().unwrap();
    let fields = call(&mut c, &["HKEYS", "fp:agg:1m:overall:all"]);
    let mut starts: Vec<i64> =
        fields.as_array().unwrap().iter().map(|f| f.as_str().unwrap().parse().unwrap()).collect();
    starts.sort();
    // 40 minutes of data; only the windows within 3 minutes of the newest remain.
    assert!(!starts.is_empty() && starts.len() <= 4, "{starts:?}");
    assert!(starts[0] >= starts[starts.len() - 1] - 180, "{starts:?}");
    let ttl = call(&mut c, &["TTL", "fp:agg:1m:overall:all"]).as_int().unwrap();
    assert!(ttl > 0 && ttl <= 240, "TTL {ttl}");
    std::fs::remove_dir_all(&dir).unwrap();
}

const T0: i64 = 1_767_225_600_000;

/// XADDs `n` events (ids `{tag}{i}`, 100 ms apart from `T0 + offset_ms`) in field form to the
/// feedback stream of key prefix `prefix`.
fn add_events(c: &mut Connection, prefix: &str, tag: &str, n: usize, offset_ms: i64) {
    let stream = format!("{prefix}feedback");
    let commands: Vec<_> = (0..n)
        .map(|i| {
            let ts = (T0 + offset_ms + 100 * i as i64).to_string();
            cmd([
                "XADD",
                &stream,
                "*",
                "id",
                &format!("{tag}{i}"),
                "ts",
                &ts,
                "category",
                "payment",
                "text",
                "付款失败",
            ])
        })
        .collect();
    for reply in c.pipeline(&commands).unwrap() {
        assert!(matches!(reply, Reply::Bulk(Some(_))), "{reply:?}");
    }
}

/// The group's pending count, or None before the group exists.
fn pending(c: &mut Connection, prefix: &str) -> Option<i64> {
    let reply = call(c, &["XPENDING", &format!("{prefix}feedback"), "feedpulse"]);
    reply.as_array().and_then(|parts| parts.first()).and_then(Reply::as_int)
}

fn overall_count(c: &mut Connection, prefix: &str) -> i64 {
    let stored = pairs(&call(c, &["HGETALL", &format!("{prefix}agg:5m:overall:all")]));
    stored.values().map(|v| v.split(',').next().unwrap().parse::<i64>().unwrap()).sum()
}

#[test]
fn a_consumer_group_feeds_the_dataflow_and_acknowledges_once_absorbed() {
    let redis = RedisServer::start();
    let mut c = redis.connect().unwrap();
    // Entries written before feedpulse starts are read too (the group starts at id 0).
    add_events(&mut c, "fp:", "early", 150, 0);
    call(&mut c, &["XADD", "fp:feedback", "*", "json", r#"{"id":"j1","ts":1767225600500,"text":"退款太慢"}"#]);
    call(&mut c, &["XADD", "fp:feedback", "*", "channel", "app"]);
    let fp =
        support::Feedpulse::start(&["run", "--listen", "127.0.0.1:0", "--redis", &redis.address(), "--consume-redis"]);
    support::wait_for("151 events counted and everything acknowledged", std::time::Duration::from_secs(20), || {
        overall_count(&mut c, "fp:") == 151 && pending(&mut c, "fp:") == Some(0)
    });
    let dead = stream(&mut c, "fp:deadletter");
    assert_eq!(dead.len(), 1);
    assert_eq!((dead[0]["reason"].as_str(), dead[0]["source"].as_str()), ("missing_text", "redis"));
    // Live entries keep flowing; a resent id is not counted twice.
    add_events(&mut c, "fp:", "live", 20, 60_000);
    add_events(&mut c, "fp:", "early", 5, 0);
    support::wait_for("171 events and nothing pending", std::time::Duration::from_secs(20), || {
        overall_count(&mut c, "fp:") == 171 && pending(&mut c, "fp:") == Some(0)
    });
    let groups = call(&mut c, &["XINFO", "GROUPS", "fp:feedback"]);
    let group = pairs(&groups.as_array().unwrap()[0]);
    assert_eq!((group["name"].as_str(), group["pending"].as_str()), ("feedpulse", "0"));
    fp.stop();
}

#[test]
fn entries_left_pending_by_a_dead_consumer_are_claimed() {
    let redis = RedisServer::start();
    let mut c = redis.connect().unwrap();
    call(&mut c, &["XGROUP", "CREATE", "fp:feedback", "feedpulse", "0", "MKSTREAM"]);
    add_events(&mut c, "fp:", "orphan", 40, 0);
    // A consumer reads them and dies before acknowledging.
    let read =
        call(&mut c, &["XREADGROUP", "GROUP", "feedpulse", "ghost", "COUNT", "100", "STREAMS", "fp:feedback", ">"]);
    assert_eq!(read.as_array().unwrap()[0].as_array().unwrap()[1].as_array().unwrap().len(), 40);
    assert_eq!(pending(&mut c, "fp:"), Some(40));
    let dir = support::config_dir("redis-claim", |flow| {
        flow + &format!(
            "\n[redis]\nurl = \"{}\"\nconsume = true\nconsumer = \"survivor\"\nclaim_idle = \"500ms\"\n",
            redis.address()
        )
    });
    let fp = support::Feedpulse::start(&["run", "--listen", "127.0.0.1:0", "--config", dir.to_str().unwrap()]);
    support::wait_for("the orphans claimed, counted and acknowledged", std::time::Duration::from_secs(20), || {
        overall_count(&mut c, "fp:") == 40 && pending(&mut c, "fp:") == Some(0)
    });
    fp.stop();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// XADDs `n` events without an `id` (so nothing dedupes a second delivery), 100 ms apart.
fn add_anonymous(tag: &str, n: usize) -> Vec<feedpulse::redis::resp::Command> {
    (0..n)
        .map(|i| {
            let ts = (T0 + 100 * i as i64).to_string();
            cmd(["XADD", "fp:feedback", "*", "ts", &ts, "category", "payment", "text", &format!("付款失败 {tag}")])
        })
        .collect()
}

/// Every `fp:agg:*` hash, sorted.
fn aggregates(c: &mut Connection) -> BTreeMap<String, BTreeMap<String, String>> {
    let keys = call(c, &["KEYS", "fp:agg:*"]);
    let keys: Vec<String> = keys.as_array().unwrap().iter().map(|k| k.as_str().unwrap().to_owned()).collect();
    keys.into_iter().map(|k| (k.clone(), pairs(&call(c, &["HGETALL", &k])))).collect()
}

/// Issue 32: a checkpoint transaction Redis aborts (a refused command queued, then -EXECABORT) wrote
/// nothing, so its windows and acknowledgements must be written later, not dropped: entries
/// without an id would otherwise be re-delivered and counted twice.
#[test]
fn an_aborted_checkpoint_is_written_again_once_redis_accepts_writes() {
    const N: usize = 200;
    let run = |refused_for: Option<std::time::Duration>| {
        let redis = RedisServer::start();
        let mut c = redis.connect().unwrap();
        call(&mut c, &["XGROUP", "CREATE", "fp:feedback", "feedpulse", "0", "MKSTREAM"]);
        let dir = support::config_dir("redis-execabort", |flow| {
            flow + &format!("\n[redis]\nurl = \"{}\"\nconsume = true\nclaim_idle = \"500ms\"\n", redis.address())
        });
        let fp = support::Feedpulse::start(&["run", "--listen", "127.0.0.1:0", "--config", dir.to_str().unwrap()]);
        if refused_for.is_some() {
            // Checkpoints write hashes: with HSET refused (-NOPERM when queued, then -EXECABORT)
            // every one aborts, while reads and the producer's XADDs go on. (`maxmemory 1`
            // refuses XREADGROUP too, so nothing would be read to checkpoint.)
            call(&mut c, &["ACL", "SETUSER", "default", "-hset"]);
        }
        for reply in c.pipeline(&add_anonymous("a", N)).unwrap() {
            assert!(!matches!(reply, Reply::Error(_)), "{reply:?}");
        }
        if let Some(pause) = refused_for {
            // Long enough for several refused checkpoints and re-deliveries of the pending entries.
            std::thread::sleep(pause);
            let metrics = reqwest::blocking::get(fp.url("/metrics")).unwrap().text().unwrap();
            let lines: Vec<&str> = metrics.lines().filter(|l| l.contains("redis") || l.contains("received")).collect();
            assert!(metrics.contains(r#"kind="transaction""#), "the aborted checkpoints are counted: {lines:#?}");
            call(&mut c, &["ACL", "SETUSER", "default", "+hset"]);
        }
        support::wait_for("every entry counted once and acknowledged", std::time::Duration::from_secs(20), || {
            overall_count(&mut c, "fp:") == N as i64 && pending(&mut c, "fp:") == Some(0)
        });
        // A little longer: a double count would show up as a later re-delivery.
        std::thread::sleep(std::time::Duration::from_millis(1500));
        assert_eq!((overall_count(&mut c, "fp:"), pending(&mut c, "fp:")), (N as i64, Some(0)));
        let stored = aggregates(&mut c);
        fp.stop();
        std::fs::remove_dir_all(&dir).unwrap();
        stored
    };
    let interrupted = run(Some(std::time::Duration::from_secs(3)));
    let uninterrupted = run(None);
    assert!(!uninterrupted.is_empty());
    assert_eq!(interrupted, uninterrupted);
}

fn readyz(fp: &support::Feedpulse) -> (u16, Value) {
    let reply = reqwest::blocking::get(fp.url("/readyz")).unwrap();
    (reply.status().as_u16(), reply.json().unwrap())
}

/// Issue 32: `redis://:password@host:port/db` authenticates and selects the database; a wrong
/// or missing password makes `/readyz` say not ready, with Redis's reason, and is counted.
#[test]
fn a_password_and_a_database_in_the_url_are_used_and_refusals_are_reported() {
    let port = support::free_port();
    let url = format!("redis://:s3cret@127.0.0.1:{port}/3");
    let redis = RedisServer::start_with(
        port,
        &["--port", &port.to_string(), "--requirepass", "s3cret"],
        feedpulse::config::RedisConfig::at(&url),
    );
    let golden = std::fs::read_to_string("tests/golden/spike_dip.ndjson").unwrap();
    replay(&golden, &["--redis", &url]);
    let mut c = redis.connect().unwrap();
    assert_eq!(stream(&mut c, "fp:alerts").len(), 4, "the golden alerts, in database 3");
    let mut db0 = feedpulse::redis::connect(
        &feedpulse::config::RedisConfig::at(&format!("redis://:s3cret@127.0.0.1:{port}")),
        std::time::Duration::from_secs(5),
    )
    .unwrap();
    assert_eq!(call(&mut db0, &["DBSIZE"]), Reply::Int(0), "nothing in database 0");

    for (given, expected) in
        [(format!("redis://:wrong@127.0.0.1:{port}"), "WRONGPASS"), (format!("127.0.0.1:{port}"), "NOAUTH")]
    {
        let fp = support::Feedpulse::start(&["run", "--listen", "127.0.0.1:0", "--redis", &given, "--consume-redis"]);
        support::wait_for("readyz to report the refusal", std::time::Duration::from_secs(20), || {
            let (status, body) = readyz(&fp);
            status == 503 && body["reason"].as_str().is_some_and(|r| r.contains(expected))
        });
        let metrics = reqwest::blocking::get(fp.url("/metrics")).unwrap().text().unwrap();
        assert!(metrics.contains(r#"kind="refused""#), "{metrics}");
        fp.stop();
    }
}

/// Issue 32: `rediss://` to a Redis whose certificate a private CA signed (`ca_file`).
#[test]
fn rediss_reaches_a_redis_behind_tls_with_a_private_ca() {
    let dir = std::env::temp_dir().join(format!("fp-redis-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    support::make_certificates(&dir);
    let path = |name: &str| dir.join(name).display().to_string();
    let port = support::free_port();
    let mut client = feedpulse::config::RedisConfig::at(&format!("rediss://127.0.0.1:{port}"));
    client.ca_file = Some(dir.join("ca.pem"));
    let redis = RedisServer::start_with(
        port,
        &[
            "--port",
            "0",
            "--tls-port",
            &port.to_string(),
            "--tls-cert-file",
            &path("server.pem"),
            "--tls-key-file",
            &path("server.key"),
            "--tls-ca-cert-file",
            &path("ca.pem"),
            "--tls-auth-clients",
            "no",
        ],
        client,
    );
    let config = support::config_dir("redis-tls", |flow| {
        flow + &format!("\n[redis]\nurl = \"rediss://127.0.0.1:{port}\"\nca_file = \"{}\"\n", path("ca.pem"))
    });
    let golden = std::fs::read_to_string("tests/golden/spike_dip.ndjson").unwrap();
    replay(&golden, &["--config", config.to_str().unwrap()]);
    let mut c = redis.connect().unwrap();
    assert_eq!(stream(&mut c, "fp:alerts").len(), 4, "the golden alerts, over TLS");
    // Without the CA the certificate is not trusted.
    let untrusted = feedpulse::config::RedisConfig::at(&format!("rediss://127.0.0.1:{port}"));
    assert!(feedpulse::redis::connect(&untrusted, std::time::Duration::from_secs(5)).is_err());
    std::fs::remove_dir_all(&config).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Issue 32: `redis+sentinel://` asks the sentinels (the first one down) for the master and
/// writes there.
#[test]
fn sentinel_names_the_master_feedpulse_writes_to() {
    let master = RedisServer::start();
    let dir = std::env::temp_dir().join(format!("fp-sentinel-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = support::free_port();
    let conf = dir.join("sentinel.conf");
    std::fs::write(
        &conf,
        format!(
            "port {port}\nbind 127.0.0.1\ndir {}\nsentinel monitor fpmaster 127.0.0.1 {} 1\nsentinel down-after-milliseconds fpmaster 5000\n",
            dir.display(),
            master.port
        ),
    )
    .unwrap();
    let mut sentinel = Command::new("redis-server").arg(&conf).arg("--sentinel").stdout(Stdio::null()).spawn().unwrap();
    let ask = feedpulse::config::RedisConfig::at(&format!("127.0.0.1:{port}"));
    support::wait_for("the sentinel to know its master", std::time::Duration::from_secs(20), || {
        feedpulse::redis::connect(&ask, std::time::Duration::from_secs(1))
            .and_then(|mut c| c.call(cmd(["SENTINEL", "get-master-addr-by-name", "fpmaster"])))
            .is_ok_and(|r| r.as_array().is_some())
    });
    let down = support::free_port();
    let url = format!("redis+sentinel://127.0.0.1:{down},127.0.0.1:{port}/fpmaster");
    let golden = std::fs::read_to_string("tests/golden/spike_dip.ndjson").unwrap();
    replay(&golden, &["--redis", &url]);
    let mut c = master.connect().unwrap();
    assert_eq!(stream(&mut c, "fp:alerts").len(), 4, "the golden alerts, in the master the sentinel named");
    let _ = sentinel.kill();
    let _ = sentinel.wait();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Three `redis-server --cluster-enabled` nodes, a third of the slots each, joined; with the
/// node serving slot `slot` first.
fn cluster(dir: &std::path::Path, slot: u16) -> Vec<RedisServer> {
    std::fs::create_dir_all(dir).unwrap();
    let mut nodes: Vec<RedisServer> = (0..3)
        .map(|_| {
            let port = support::free_port();
            let conf = dir.join(format!("nodes-{port}.conf"));
            let (p, conf) = (port.to_string(), conf.to_str().unwrap().to_owned());
            let args = ["--port", &p, "--cluster-enabled", "yes", "--cluster-config-file", &conf];
            RedisServer::start_with(port, &args, feedpulse::config::RedisConfig::at(&format!("127.0.0.1:{port}")))
        })
        .collect();
    let ranges = [(0, 5460), (5461, 10922), (10923, 16383)];
    for (node, (from, to)) in nodes.iter().zip(ranges) {
        let mut c = node.connect().unwrap();
        assert_eq!(
            call(&mut c, &["CLUSTER", "ADDSLOTSRANGE", &from.to_string(), &to.to_string()]).as_str(),
            Some("OK")
        );
    }
    let mut first = nodes[0].connect().unwrap();
    for node in &nodes[1..] {
        call(&mut first, &["CLUSTER", "MEET", "127.0.0.1", &node.port.to_string()]);
    }
    support::wait_for("the cluster to be ok on every node", std::time::Duration::from_secs(30), || {
        nodes.iter().all(|n| {
            let info = n.connect().and_then(|mut c| c.call(cmd(["CLUSTER", "INFO"])));
            info.ok().and_then(|r| r.as_str().map(|s| s.contains("cluster_state:ok"))).unwrap_or(false)
        })
    });
    let owner = ranges.iter().position(|(a, b)| (*a..=*b).contains(&slot)).unwrap();
    nodes.swap(0, owner);
    nodes
}

/// Issue 32: `redis+cluster://` with a hash-tagged `prefix`. Given only a node that does not
/// serve the prefix's slot, feedpulse finds the one that does and keeps every key there: the
/// replayed alerts and windows, and a consumer group whose acknowledgements share the windows'
/// transactions. A plain connection to the wrong node follows `MOVED`.
#[test]
fn a_cluster_keeps_every_key_on_the_node_serving_the_prefixs_slot() {
    let dir = std::env::temp_dir().join(format!("fp-cluster-{}", std::process::id()));
    let slot = feedpulse::config::slot_of("fp");
    let nodes = cluster(&dir, slot);
    let (owner, other) = (&nodes[0], &nodes[1]);
    let mut c = owner.connect().unwrap();
    assert_eq!(call(&mut c, &["CLUSTER", "KEYSLOT", "{fp}:agg"]).as_int(), Some(slot as i64), "the same slot function");
    let table = format!("\n[redis]\nurl = \"redis+cluster://127.0.0.1:{}\"\nprefix = \"{{fp}}:\"\n", other.port);
    let config = support::config_dir("redis-cluster", |flow| flow + &table);
    let golden = std::fs::read_to_string("tests/golden/spike_dip.ndjson").unwrap();
    replay(&golden, &["--config", config.to_str().unwrap()]);
    assert_eq!(stream(&mut c, "{fp}:alerts").len(), 4, "the golden alerts, on the slot's node");
    let windows = call(&mut c, &["KEYS", "{fp}:agg:*"]);
    assert!(windows.as_array().is_some_and(|k| !k.is_empty()), "{windows:?}");
    for node in &nodes[1..] {
        let mut n = node.connect().unwrap();
        assert_eq!(call(&mut n, &["DBSIZE"]).as_int(), Some(0), "nothing on a node outside the slot");
    }

    // The consumer group: entries counted once and acknowledged in the windows' transaction.
    add_events(&mut c, "{fp}:", "c", 50, 0);
    // The replay's windows are there already; a run restores them and adds the 50.
    let replayed = overall_count(&mut c, "{fp}:");
    let fp = support::Feedpulse::start(&[
        "run",
        "--listen",
        "127.0.0.1:0",
        "--config",
        config.to_str().unwrap(),
        "--consume-redis",
    ]);
    support::wait_for("50 more events counted and nothing pending", std::time::Duration::from_secs(30), || {
        overall_count(&mut c, "{fp}:") == replayed + 50 && pending(&mut c, "{fp}:") == Some(0)
    });
    fp.stop();

    // MOVED: a connection to the wrong node is sent on to the right one.
    let mut wrong = other.connect().unwrap();
    assert_eq!(call(&mut wrong, &["SET", "{fp}:moved", "1"]).as_str(), Some("OK"));
    assert_eq!(call(&mut c, &["GET", "{fp}:moved"]).as_str(), Some("1"));
    std::fs::remove_dir_all(&config).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
