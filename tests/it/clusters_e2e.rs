//! Clusters end to end, with the real models and a real `redis-server` on a private loopback
//! port: `feedpulse run` clusters posted feedback, serves the clusters at `/v1/clusters`,
//! writes them under the documented Redis keys, raises one new-cluster alert for a complaint
//! that appears after the warm-up (with its keywords and first members), and — stopped and
//! started again — continues from the snapshot in Redis: known complaints join the clusters
//! they joined before, under the same ids, and raise no new-cluster alert.
//! `eval new-clusters` runs on a small labelled fixture.

use crate::support::{config_dir, now_ms, wait_for, Feedpulse, RedisServer};
use feedpulse::redis::resp::cmd;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

const PREFIXES: &[&str] = &["", "我", "今天", "刚才", "昨天晚上", "这周"];

const DOUBLE_CHARGE: &[&str] = &["付款失败，钱却被扣了两次", "支付失败但是扣款了", "重复扣款，订单也没成功"];
const LATE_PARCEL: &[&str] = &["快递一周了还没送到", "包裹到现在还没有发货", "物流信息一直不更新"];
const GIFTS: &[&str] =
    &["给主播刷的礼物没显示，钱却被扣了", "直播间打赏扣了钱但礼物没到账", "送礼物扣了钱，主播那边根本没收到"];

/// `n` events of one kind, a second apart from `start_ms`, with ids `{tag}-{i}`.
fn events(tag: &str, texts: &[&str], start_ms: i64, n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let text = format!("{}{}", PREFIXES[i % PREFIXES.len()], texts[i % texts.len()]);
            json!({"id": format!("{tag}-{i}"), "ts": start_ms + 1000 * i as i64, "channel": "app", "text": text})
        })
        .collect()
}

fn interleave(a: Vec<Value>, b: Vec<Value>) -> Vec<Value> {
    let mut out: Vec<Value> = a.into_iter().zip(b).flat_map(|(x, y)| [x, y]).collect();
    out.sort_by_key(|e| e["ts"].as_i64());
    out
}

fn post(fp: &Feedpulse, events: &[Value]) {
    let r = reqwest::blocking::Client::new().post(fp.url("/v1/events")).json(events).send().unwrap();
    assert_eq!(r.status(), 202, "{}", r.text().unwrap());
}

fn get(fp: &Feedpulse, path: &str) -> Value {
    reqwest::blocking::get(fp.url(path)).unwrap().json().unwrap()
}

/// `fp:clusters` as id → size.
fn cluster_sizes(c: &mut feedpulse::redis::resp::Connection) -> BTreeMap<String, i64> {
    let reply = c.call(cmd(["ZRANGE", "fp:clusters", "0", "-1", "WITHSCORES"])).unwrap();
    let items = reply.as_array().unwrap_or_default();
    items.chunks(2).map(|p| (p[0].as_str().unwrap().to_string(), p[1].as_str().unwrap().parse().unwrap())).collect()
}

fn new_cluster_alerts(c: &mut feedpulse::redis::resp::Connection) -> Vec<Value> {
    let reply = c.call(cmd(["XRANGE", "fp:alerts", "-", "+"])).unwrap();
    let mut out = Vec::new();
    for entry in reply.as_array().unwrap_or_default() {
        let fields = entry.as_array().unwrap()[1].as_array().unwrap();
        for pair in fields.chunks(2) {
            if pair[0].as_str() == Some("alert") {
                let alert: Value = serde_json::from_str(pair[1].as_str().unwrap()).unwrap();
                if alert["rule"] == "new_cluster" && alert["status"] == "firing" {
                    out.push(alert);
                }
            }
        }
    }
    out
}

#[test]
fn clusters_are_served_stored_in_redis_and_keep_their_ids_across_a_restart() {
    let redis = RedisServer::start();
    let dir = config_dir("clusters", |flow| flow.replace("warmup = \"2h\"", "warmup = \"2m\""));
    let base = ["run", "--config", dir.to_str().unwrap(), "--redis", &redis.address(), "--listen", "127.0.0.1:0"];
    // Two workers in the first run: only the one that clusters may write the snapshot.
    let two_workers: Vec<&str> = base.iter().copied().chain(["--workers", "2"]).collect();
    let start = now_ms() - 3_600_000;

    // First run: two known complaints during the warm-up, then a new one ten minutes later.
    let fp = Feedpulse::start(&two_workers);
    post(&fp, &interleave(events("pay", DOUBLE_CHARGE, start, 60), events("parcel", LATE_PARCEL, start + 500, 60)));
    post(&fp, &events("gift", GIFTS, start + 600_000, 24));
    let mut listed = Value::Null;
    wait_for("three clusters on /v1/clusters", Duration::from_secs(30), || {
        listed = get(&fp, "/v1/clusters");
        listed["clusters"].as_array().is_some_and(|c| c.len() >= 3)
    });
    let first = &listed["clusters"][0];
    assert!(first["size"].as_u64().unwrap() >= 8 && first["established"] == true, "{first}");
    let id = first["id"].as_str().unwrap();
    assert_eq!(get(&fp, &format!("/v1/clusters/{id}"))["id"], id);
    let missing = reqwest::blocking::get(fp.url("/v1/clusters/c-999999")).unwrap();
    assert_eq!(missing.status(), 404);
    fp.stop();

    let mut c = redis.connect().unwrap();
    let alerts = new_cluster_alerts(&mut c);
    assert_eq!(alerts.len(), 1, "one alert, for the complaint that appeared after the warm-up: {alerts:?}");
    let alert = &alerts[0];
    let keywords: Vec<&str> =
        alert["explanation"]["keywords"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(keywords.iter().any(|k| k.contains("礼物")), "{keywords:?}");
    let ids = alert["explanation"]["sample_ids"].as_array().unwrap();
    assert!(ids.len() >= 8 && ids.iter().all(|i| i.as_str().unwrap().starts_with("gift-")), "{ids:?}");
    let gift_cluster = alert["labels"]["cluster"].as_str().unwrap().to_string();

    let before = cluster_sizes(&mut c);
    assert!(before.contains_key(&gift_cluster) && before.len() >= 3, "{before:?}");
    let hash = c.call(cmd(["HGETALL", &format!("fp:cluster:{gift_cluster}")])).unwrap();
    let fields: BTreeMap<String, String> = hash
        .as_array()
        .unwrap()
        .chunks(2)
        .map(|p| (p[0].as_str().unwrap().to_string(), p[1].as_str().unwrap_or_default().to_string()))
        .collect();
    for field in ["size", "scope", "first_seen", "last_seen", "keywords", "samples", "sentiment_mean"] {
        assert!(fields.contains_key(field), "fp:cluster:{gift_cluster} lacks {field}: {fields:?}");
    }
    let ttl = c.call(cmd(["TTL", &format!("fp:cluster:{gift_cluster}")])).unwrap().as_int().unwrap();
    assert!(ttl > 0, "cluster keys expire");
    let state = c.call(cmd(["GET", "fp:cluster-state"])).unwrap();
    let state: Value = serde_json::from_slice(state.as_bytes().expect("fp:cluster-state is set")).unwrap();
    let saved: Vec<String> =
        state["clusters"].as_array().unwrap().iter().map(|c| format!("c-{}", c["id"].as_u64().unwrap())).collect();
    assert!(
        saved.contains(&gift_cluster) && saved.len() >= 3,
        "the snapshot holds the established clusters: {saved:?}"
    );

    // Second run: the same complaints again, later. They join their old clusters.
    let fp = Feedpulse::start(&base);
    post(&fp, &events("pay2", DOUBLE_CHARGE, start + 1_200_000, 30));
    post(&fp, &events("gift2", GIFTS, start + 1_260_000, 12));
    fp.stop();
    let after = cluster_sizes(&mut c);
    let grown: Vec<&String> =
        after.keys().filter(|k| after[*k] > before.get(*k).copied().unwrap_or(i64::MAX)).collect();
    assert!(grown.contains(&&gift_cluster), "the gift complaint kept its cluster: {before:?} → {after:?}");
    assert!(
        after.keys().all(|k| before.contains_key(k)),
        "no new clusters for known complaints: {before:?} → {after:?}"
    );
    assert_eq!(new_cluster_alerts(&mut c).len(), 1, "and no second new-cluster alert");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `eval new-clusters --json` on `csv` (written to `file`), one label held out with `seed`, 70%
/// of the background first.
fn eval_new_clusters(file: &Path, csv: String, seed: u64) -> Value {
    std::fs::write(file, csv).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_feedpulse"))
        .args(["eval", "new-clusters", file.to_str().unwrap(), "--holdout", "1", "--seed", &seed.to_string()])
        .args(["--background-share", "0.7", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn eval_new_clusters_scores_a_small_fixture() {
    let dir = std::env::temp_dir().join(format!("fp-eval-nc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("fixture.csv");
    let mut csv = String::from("text,label\n");
    for (label, text) in [("pay", DOUBLE_CHARGE[0]), ("parcel", LATE_PARCEL[0]), ("gift", GIFTS[0])] {
        for i in 0..30 {
            csv.push_str(&format!("\"{}{text}\",{label}\n", PREFIXES[i % PREFIXES.len()]));
        }
    }
    let report = eval_new_clusters(&file, csv, 3);
    assert_eq!(report["n"], 90);
    assert_eq!(report["holdout_labels"].as_array().unwrap().len(), 1);
    // Three distinct complaints: the held-out one is found, nothing else fires.
    assert_eq!(report["detected"], 1, "{report}");
    assert_eq!(report["recall"], 1.0);
    assert_eq!(report["false_alerts"], 0, "{report}");
    assert!(report["median_delay_messages"].as_f64().unwrap() <= 12.0, "{report}");
    assert!(report["purity"].as_f64().unwrap() > 0.9 && report["nmi"].as_f64().unwrap() > 0.5, "{report}");
    assert_eq!(report["false_repeats"], 0, "{report}");
    // Distinct kinds: grouped by label, the held-out one is far from both known ones.
    assert_eq!(report["ceiling"]["recall_no_false"], 1.0, "{report}");
    assert!(report["ceiling"]["held_out"][0][1].as_f64().unwrap() < 0.8, "{report}");

    // A held-out label made of two unrelated complaints is found once and seen again as a second
    // new cluster: a false alert, counted as a repeat.
    let mut csv = String::from("text,label\n");
    for i in 0..30 {
        csv.push_str(&format!("\"{}{}\",pay\n", PREFIXES[i % PREFIXES.len()], DOUBLE_CHARGE[0]));
        let text = if i % 2 == 0 { GIFTS[0] } else { LATE_PARCEL[0] };
        csv.push_str(&format!("\"{}{text}\",mixed\n", PREFIXES[i % PREFIXES.len()]));
    }
    let report = eval_new_clusters(&file, csv, 1);
    assert_eq!(report["holdout_labels"], json!(["mixed"]), "seed 1 holds out `mixed`");
    assert_eq!(report["detected"], 1, "{report}");
    assert_eq!(report["false_alerts"], 1, "{report}");
    assert_eq!(report["false_repeats"], 1, "{report}");
    std::fs::remove_dir_all(&dir).unwrap();
}
