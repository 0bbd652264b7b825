//! Transcript QA end to end. A generated day of scripted conversations replayed through the
//! binary with the shipped `[[qa]]` sheet gives exactly the `qa_violation` alerts the scripts
//! call for (a missing empathy answer, a rude phrase; none for a good agent, an excepted phrase,
//! a mild miss or a conversation only a bot answered), each when its conversation closes (an
//! end record, or idle). Over HTTP with Redis, a closed low-emotion conversation reaches the
//! reviewers' consumer group on `fp:qa:sample`, and its score the agent's KPI window.

use serde_json::{json, Value};
use std::collections::BTreeSet;

const DAY: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const MIN: i64 = 60_000;

/// (seconds after the start, role, sentiment, text).
type Turn = (i64, &'static str, f64, &'static str);

/// (conversation, check, firing time).
type Expected = BTreeSet<(String, String, i64)>;

/// A script: turns as (seconds after its start, role, sentiment, text; role `end` ends it),
/// and the severe checks it must fail.
fn scripts() -> Vec<(Vec<Turn>, Vec<&'static str>)> {
    vec![
        (
            vec![
                (0, "customer", -0.2, "订单还没到"),
                (20, "agent", 0.3, "您好，我来帮您查"),
                (40, "customer", -0.8, "太慢了，气死了"),
                (60, "agent", 0.2, "非常抱歉，已为您加急"),
                (80, "agent", 0.3, "还有什么可以帮您？"),
                (90, "end", 0.0, ""),
            ],
            vec![],
        ),
        (
            vec![(0, "customer", -0.9, "扣了两次钱"), (30, "agent", 0.0, "您好，请提供订单号"), (60, "end", 0.0, "")],
            vec!["empathy"],
        ),
        (vec![(0, "customer", 0.1, "怎么退货"), (20, "agent", 0.0, "你好，爱买不买")], vec!["rude"]),
        (vec![(0, "customer", 0.1, "订单号在哪"), (20, "agent", 0.0, "我不知道您的订单号，请稍等")], vec![]),
        (vec![(0, "customer", -0.9, "垃圾"), (5, "bot", 0.0, "您好，请问有什么可以帮您")], vec![]),
    ]
}

fn day() -> (String, Expected) {
    let mut records = Vec::new();
    let mut expected = Expected::new();
    for round in 0..3 {
        for (k, (turns, fails)) in scripts().into_iter().enumerate() {
            let conversation = format!("qa-{round}-{k}");
            let start = DAY + (9 + round) * 60 * MIN + k as i64 * 5 * MIN;
            for (i, (after, role, sentiment, text)) in turns.iter().enumerate() {
                let ts = start + after * 1000;
                let r = match *role {
                    "end" => {
                        json!({"type": "end", "id": format!("{conversation}-end"), "ts": ts, "conversation": conversation})
                    }
                    _ => {
                        json!({"id": format!("{conversation}-{i}"), "ts": ts, "channel": "chat", "category": "delivery",
                        "conversation": conversation, "role": role, "sentiment": sentiment, "text": text,
                        "agent": if *role == "agent" { json!("a-7") } else { Value::Null }, "meta": {"team": "north"}})
                    }
                };
                records.push(r);
            }
            let last = start + turns.last().unwrap().0 * 1000;
            // Closed by its end record, else 30 minutes (`[conversation] idle`) after its last turn.
            let closed = if turns.last().unwrap().1 == "end" { last } else { last + 30 * MIN };
            for check in fails {
                expected.insert((conversation.clone(), check.to_string(), closed));
            }
        }
    }
    records.sort_by_key(|r| r["ts"].as_i64().unwrap());
    records.push(json!({"id": "late", "ts": DAY + 16 * 60 * MIN, "category": "other", "text": "ok", "sentiment": 0.0}));
    (records.iter().map(|r| r.to_string() + "\n").collect(), expected)
}

#[test]
fn a_generated_day_raises_exactly_the_scripted_qa_violations() {
    let (input, expected) = day();
    let alerts = crate::support::replay_alerts(&input);
    let fired: Expected = alerts
        .iter()
        .filter(|a| a["rule"] == "qa_violation" && a["status"] == "firing")
        .map(|a| {
            let ms = crate::support::changed_at(a);
            let label = |k: &str| a["labels"][k].as_str().unwrap().to_string();
            (label("conversation"), label("check"), ms)
        })
        .collect();
    assert_eq!(fired, expected);
    assert_eq!(expected.len(), 6, "two violations in each of three rounds");
    let rude = alerts.iter().find(|a| a["labels"]["check"] == "rude").unwrap();
    assert_eq!((rude["labels"]["agent"].as_str(), rude["labels"]["team"].as_str()), (Some("a-7"), Some("north")));
    assert!(rude["summary"].as_str().unwrap().contains("said “爱买不买”"), "{}", rude["summary"]);
    assert_eq!(rude["value"], 60.0, "100 less 30 (rude) and 10 (no closing)");
}

#[cfg(feature = "e2e")]
#[test]
fn a_low_emotion_conversation_reaches_the_reviewers_sample_over_http() {
    use crate::support::{self, RedisServer};
    use feedpulse::redis::resp::cmd;
    let redis = RedisServer::start();
    let mut c = redis.connect().unwrap();
    c.call(cmd(["XGROUP", "CREATE", "fp:qa:sample", "reviewers", "0", "MKSTREAM"])).unwrap();
    let fp = support::Feedpulse::start(&["run", "--listen", "127.0.0.1:0", "--redis", &redis.address(), "--no-enrich"]);
    let now = support::now_ms();
    let turn = |i: i64, role: &str, sentiment: f64, text: &str| {
        json!({"id": format!("q{i}"), "ts": now - 60_000 + i * 1000, "conversation": "cv-qa", "role": role,
               "sentiment": sentiment, "category": "refund", "text": text, "agent": "a-3", "meta": {"team": "south"}})
    };
    let end = json!({"type": "end", "conversation": "cv-qa", "ts": now - 50_000});
    let records = [turn(0, "customer", -0.9, "还不退款？"), turn(1, "agent", 0.0, "您好，抱歉，马上处理"), end];
    assert_eq!(fp.post_events(&records).status().as_u16(), 202);
    let mut found = None;
    support::wait_for("a sampled conversation in fp:qa:sample", std::time::Duration::from_secs(20), || {
        let reply = c
            .call(cmd(["XREADGROUP", "GROUP", "reviewers", "r1", "COUNT", "1", "STREAMS", "fp:qa:sample", ">"]))
            .unwrap();
        let Some(streams) = reply.as_array() else { return false };
        found = Some(support::pairs(&streams[0].as_array().unwrap()[1].as_array().unwrap()[0].as_array().unwrap()[1]));
        true
    });
    let fields = found.unwrap();
    assert_eq!(
        (fields["conversation"].as_str(), fields["agent"].as_str(), fields["team"].as_str()),
        ("cv-qa", "a-3", "south")
    );
    assert_eq!((fields["score"].as_str(), fields["violations"].as_str()), ("90", "closing"), "no closing: 10 points");
    let window = (now - 50_000) / 1000 / 300 * 300;
    let mut kpis = Value::Null;
    support::wait_for("the team's QA score in fp:kpi", std::time::Duration::from_secs(20), || {
        let reply = c.call(cmd(["HGET", "fp:kpi:5m:team:south", &window.to_string()])).unwrap();
        reply.as_str().is_some_and(|t| {
            kpis = serde_json::from_str(t).unwrap();
            true
        })
    });
    assert_eq!((kpis["qa"]["scored"].as_i64(), kpis["qa"]["mean_score"].as_f64()), (Some(1), Some(90.0)));
    fp.stop();
}
