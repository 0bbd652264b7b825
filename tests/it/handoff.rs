//! Hand-offs end to end. A generated day of scripted conversations replayed through the real
//! binary gives exactly the hand-offs the scripts call for (which escalation, when it fires,
//! when and why it resolves), and none for the conversations that should not escalate; over
//! HTTP with Redis, a routing service's consumer group on `fp:handoff` reads the hand-off and
//! its resolution.

use serde_json::{json, Value};
use std::collections::BTreeSet;

const DAY: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const MIN: i64 = 60_000;

/// A scripted conversation: its turns as (minutes after its start, role, sentiment, text,
/// meta), and the hand-off it must raise: (turn that fires it, priority, escalation, how it
/// resolves: Some(turn) an agent's, None the conversation's expiry).
struct Script {
    turns: Vec<(i64, &'static str, f64, &'static str, Value)>,
    handoff: Option<(usize, &'static str, &'static str, Option<usize>)>,
}

fn scripts() -> Vec<Script> {
    let none = || Value::Null;
    vec![
        // Two clearly negative customer turns, a bot between them: P2, until the agent comes.
        Script {
            turns: vec![
                (0, "customer", -0.1, "我的订单一直没有发货", none()),
                (1, "bot", 0.2, "请提供订单号", none()),
                (2, "customer", -0.8, "等了一周还没发货，太差了", none()),
                (3, "customer", -0.7, "你们到底管不管", none()),
                (6, "agent", 0.3, "非常抱歉，我来处理", none()),
            ],
            handoff: Some((3, "P2", "upset_customer", Some(4))),
        },
        // Unhappy but never clearly negative twice in a row: no hand-off.
        Script {
            turns: vec![
                (0, "customer", -0.6, "退款怎么还没到", none()),
                (1, "customer", 0.1, "好的我再等等", none()),
                (2, "customer", -0.6, "还是没到", none()),
                (3, "agent", 0.2, "已经为您加急", none()),
            ],
            handoff: None,
        },
        // A VIP below -0.3: P1 at once; nobody comes, so it lasts until the conversation expires.
        Script {
            turns: vec![(0, "customer", -0.4, "会员权益怎么没了", json!({"tier": "vip"}))],
            handoff: Some((0, "P1", "vip_unhappy", None)),
        },
        // An agent is already there: negative turns are the agent's to handle.
        Script {
            turns: vec![
                (0, "agent", 0.3, "您好，请问有什么可以帮您", none()),
                (1, "customer", -0.9, "扣了两次钱", none()),
                (2, "customer", -0.9, "赶紧退", none()),
            ],
            handoff: None,
        },
        // A legal threat outranks the streak that follows: P1, resolved by the agent.
        Script {
            turns: vec![
                (0, "customer", -0.2, "再不退款我就去法院起诉", none()),
                (1, "customer", -0.9, "听到没有", none()),
                (2, "customer", -0.9, "人呢", none()),
                (4, "agent", 0.1, "您好，我来处理", none()),
            ],
            handoff: Some((0, "P1", "risk_in_conversation", Some(3))),
        },
    ]
}

/// The day: each script played four times, an hour apart, conversations interleaved; then a
/// quiet customer message an hour after the last, which moves the clock past every expiry.
/// A hand-off's state change: (conversation, status, when, priority, escalation).
type Change = (String, String, i64, String, String);

fn day() -> (String, BTreeSet<Change>) {
    let mut records = Vec::new();
    let mut expected = BTreeSet::new();
    for round in 0..4 {
        for (k, script) in scripts().iter().enumerate() {
            let conversation = format!("cv-{round}-{k}");
            let start = DAY + (9 + round) * 60 * MIN + k as i64 * 7_000;
            let at = |i: usize| start + script.turns[i].0 * MIN;
            for (i, (minute, role, sentiment, text, meta)) in script.turns.iter().enumerate() {
                let mut r = json!({"id": format!("{conversation}-{i}"), "ts": start + minute * MIN, "channel": "chat",
                    "category": "delivery", "conversation": conversation, "role": role, "sentiment": sentiment,
                    "text": text, "user": format!("u-{round}-{k}")});
                if !meta.is_null() {
                    r["meta"] = meta.clone();
                }
                if *role == "agent" {
                    r["agent"] = json!("a-7");
                }
                records.push(r);
            }
            if let Some((fires, priority, escalation, resolves)) = script.handoff {
                let fired = (conversation.clone(), "firing".to_string(), at(fires), priority.into(), escalation.into());
                expected.insert(fired);
                // Expiry: 30 minutes of event time after the conversation's last turn.
                let end = resolves.map_or(at(script.turns.len() - 1) + 30 * MIN, at);
                expected.insert((conversation, "resolved".into(), end, priority.into(), escalation.into()));
            }
        }
    }
    records.sort_by_key(|r| r["ts"].as_i64().unwrap());
    records.push(json!({"id": "late", "ts": DAY + 16 * 60 * MIN, "category": "other", "text": "ok", "sentiment": 0.0}));
    let input = records.iter().map(|r| r.to_string() + "\n").collect();
    (input, expected)
}

#[test]
fn a_generated_day_hands_off_exactly_the_scripted_conversations() {
    let (input, expected) = day();
    let alerts = crate::support::replay_alerts(&input);
    let handoffs: BTreeSet<Change> = alerts
        .iter()
        .filter(|a| a["rule"] == "handoff")
        .map(|a| {
            let ms = crate::support::changed_at(a);
            let label = |k: &str| a["labels"][k].as_str().unwrap().to_string();
            (
                label("conversation"),
                a["status"].as_str().unwrap().to_string(),
                ms,
                label("priority"),
                label("escalation"),
            )
        })
        .collect();
    assert_eq!(handoffs, expected);
    assert_eq!(expected.len(), 4 * 3 * 2, "three hand-offs in each of four rounds, fired and resolved");
    // A hand-off carries who to hand to and what was said, masked.
    let vip = alerts.iter().find(|a| a["labels"]["escalation"] == "vip_unhappy").unwrap();
    assert_eq!((vip["severity"].as_str(), vip["labels"]["tier"].as_str()), (Some("critical"), Some("vip")));
    assert_eq!(vip["explanation"]["samples"][0], "customer: 会员权益怎么没了");
    // Agents' turns are not feedback: the day's counted messages are the customers' alone.
    let agents = input.lines().filter(|l| l.contains("\"role\":\"agent\"")).count();
    assert!(agents > 0);
}

#[cfg(feature = "e2e")]
#[test]
fn handoffs_reach_a_routing_consumer_group_over_http() {
    use crate::support::{self, RedisServer};
    use feedpulse::redis::resp::cmd;
    let redis = RedisServer::start();
    let mut c = redis.connect().unwrap();
    c.call(cmd(["XGROUP", "CREATE", "fp:handoff", "routing", "0", "MKSTREAM"])).unwrap();
    let fp = support::Feedpulse::start(&["run", "--listen", "127.0.0.1:0", "--redis", &redis.address(), "--no-enrich"]);
    let now = support::now_ms();
    let post = |records: Vec<Value>| assert_eq!(fp.post_events(&records).status().as_u16(), 202);
    let turn = |i: i64, role: &str, sentiment: f64, text: &str| {
        json!({"id": format!("h{i}"), "ts": now + i * 1000, "conversation": "cv-http", "role": role,
               "sentiment": sentiment, "category": "refund", "text": text, "business": "shop"})
    };
    post(vec![turn(0, "customer", -0.8, "退款被拒了，电话 13812345678"), turn(1, "customer", -0.9, "太过分了")]);
    let mut read = |want: &str| -> std::collections::BTreeMap<String, String> {
        let mut found = None;
        support::wait_for(&format!("a {want} hand-off in fp:handoff"), std::time::Duration::from_secs(20), || {
            let reply = c
                .call(cmd(["XREADGROUP", "GROUP", "routing", "r1", "COUNT", "1", "STREAMS", "fp:handoff", ">"]))
                .unwrap();
            let Some(streams) = reply.as_array() else { return false };
            let entry = &streams[0].as_array().unwrap()[1].as_array().unwrap()[0].as_array().unwrap()[1];
            found = Some(support::pairs(entry));
            true
        });
        let fields = found.unwrap();
        assert_eq!(fields["status"], want);
        fields
    };
    let fired = read("firing");
    assert_eq!((fired["conversation"].as_str(), fired["priority"].as_str()), ("cv-http", "P2"));
    assert_eq!((fired["escalation"].as_str(), fired["business"].as_str()), ("upset_customer", "shop"));
    assert!(!fired["alert"].contains("13812345678"), "the turns are masked: {}", fired["alert"]);
    post(vec![turn(2, "agent", 0.2, "您好，我来处理")]);
    let resolved = read("resolved");
    assert_eq!(resolved["conversation"], "cv-http");
    fp.stop();
}

/// A restart with Redis continues the conversations: the first run's checkpoint logs the turns
/// (`fp:turns`), the second folds them again, so a second clearly negative turn after the
/// restart makes the streak that hands the customer off. Without the log, the streak would start
/// again at one and nothing would be handed off.
#[cfg(feature = "e2e")]
#[test]
fn a_restart_with_redis_continues_the_conversations() {
    use crate::support::{self, RedisServer};
    use feedpulse::redis::resp::cmd;
    let redis = RedisServer::start();
    let mut c = redis.connect().unwrap();
    let args = ["run", "--listen", "127.0.0.1:0", "--redis", &redis.address(), "--no-enrich"];
    let now = support::now_ms();
    let post =
        |fp: &support::Feedpulse, records: Vec<Value>| assert_eq!(fp.post_events(&records).status().as_u16(), 202);
    let turn = |i: i64, sentiment: f64, text: &str| {
        json!({"id": format!("r{i}"), "ts": now + i * 1000, "conversation": "cv-restart", "role": "customer",
               "sentiment": sentiment, "category": "refund", "text": text, "business": "shop"})
    };
    let first = support::Feedpulse::start(&args);
    post(&first, vec![turn(0, -0.8, "退款被拒了")]);
    support::wait_for("the turn in fp:turns", std::time::Duration::from_secs(20), || {
        c.call(cmd(["XLEN", "fp:turns"])).unwrap().as_int() == Some(1)
    });
    first.stop();
    let handoffs =
        |c: &mut feedpulse::redis::resp::Connection| c.call(cmd(["XLEN", "fp:handoff"])).unwrap().as_int().unwrap_or(0);
    assert_eq!(handoffs(&mut c), 0, "one negative turn is no streak");

    let second = support::Feedpulse::start(&args);
    post(&second, vec![turn(1, -0.9, "太过分了")]);
    let mut fields = Default::default();
    support::wait_for("the hand-off in fp:handoff", std::time::Duration::from_secs(20), || {
        let reply = c.call(cmd(["XRANGE", "fp:handoff", "-", "+"])).unwrap();
        let entries = reply.as_array().map(<[_]>::to_vec).unwrap_or_default();
        entries.first().is_some_and(|e| {
            fields = support::pairs(&e.as_array().unwrap()[1]);
            true
        })
    });
    assert_eq!((fields["conversation"].as_str(), fields["status"].as_str()), ("cv-restart", "firing"));
    let alert: Value = serde_json::from_str(&fields["alert"]).unwrap();
    assert!(alert["summary"].as_str().unwrap().contains('2'), "a streak of two: {}", alert["summary"]);
    second.stop();
    assert_eq!(c.call(cmd(["XLEN", "fp:turns"])).unwrap().as_int(), Some(2), "each turn logged once");
}
