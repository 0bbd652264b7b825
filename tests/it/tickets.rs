//! Tickets end to end. A generated day of scripted tickets replayed through the real binary
//! with the shipped configuration gives exactly the SLA breaches and KPI threshold alerts the
//! scripts call for: late first responses, a slow takeover, a breach taken back by a late
//! in-time answer, and a business whose handling slows for half an hour; none for the tickets
//! served in time. Over HTTP with Redis, the KPI windows reach `fp:kpi:*` and the breach
//! reaches `fp:alerts`; ticket events read from the Redis consumer group reach them too.

use serde_json::{json, Value};
use std::collections::BTreeSet;

const DAY: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const MIN: i64 = 60_000;
const S: i64 = 1_000;

/// (rule, subject label, status, time): one alert state change.
type Change = (String, String, String, i64);

/// One ticket's events: (ms after it opens, status, agent).
fn ticket(records: &mut Vec<Value>, id: &str, business: &str, opened: i64, steps: &[(i64, &str, Option<&str>)]) {
    for (i, (after, status, agent)) in steps.iter().enumerate() {
        let mut r = json!({"type": "ticket", "id": format!("{id}-{i}"), "ticket": id, "status": status,
            "business": business, "ts": opened + after, "seq": i});
        if let Some(a) = agent {
            r["agent"] = json!(a);
        }
        records.push(r);
    }
}

fn day() -> (String, BTreeSet<Change>) {
    let mut records = Vec::new();
    let mut expected = BTreeSet::new();
    let breach = |expected: &mut BTreeSet<Change>, id: &str, sla: &str, fired: i64, resolved: i64| {
        let subject = format!("{id}/{sla}");
        expected.insert(("sla_breach".into(), subject.clone(), "firing".into(), fired));
        expected.insert(("sla_breach".into(), subject, "resolved".into(), resolved));
    };
    // Served in time, all morning: answered in 20 s, handled in a minute.
    for round in 0..18 {
        for k in 0..3 {
            let opened = DAY + 9 * 60 * MIN + round * 10 * MIN + k * 97 * S;
            let agent = Some(["a-1", "a-2"][(k % 2) as usize]);
            let steps = [(0, "opened", None), (5 * S, "assigned", agent), (20 * S, "first_response", agent)];
            ticket(&mut records, &format!("ok-{round}-{k}"), ["shop", "live"][(k % 2) as usize], opened, &steps);
            let resolved = json!({"type": "ticket", "id": format!("ok-{round}-{k}-r"), "ticket": format!("ok-{round}-{k}"),
                "status": "resolved", "agent": agent, "ts": opened + 80 * S, "seq": 9});
            records.push(resolved);
        }
    }
    // First responses after 90 s (the desk's SLA is 60 s), by nobody in particular.
    for (id, at) in [("late-1", DAY + (9 * 60 + 35) * MIN), ("late-2", DAY + (11 * 60 + 5) * MIN)] {
        let steps = [(0, "opened", None), (90 * S, "first_response", None), (120 * S, "resolved", None)];
        ticket(&mut records, id, "live", at, &steps);
        breach(&mut expected, id, "first_response", at + 60 * S, at + 90 * S);
    }
    // Handed off by the bot at 10 s; a person takes it at 70 s (the SLA is 30 s).
    let at = DAY + (10 * 60 + 15) * MIN;
    let steps = [
        (0, "opened", None),
        (3 * S, "first_response", None),
        (10 * S, "handed_off", None),
        (70 * S, "assigned", Some("a-2")),
        (100 * S, "resolved", Some("a-2")),
    ];
    ticket(&mut records, "slow-takeover", "shop", at, &steps);
    breach(&mut expected, "slow-takeover", "takeover", at + 40 * S, at + 70 * S);
    // Answered at 20 s, but that event arrives five minutes late: the breach the clock saw at
    // 60 s is taken back when it comes (and resolved then), before the ticket is resolved.
    let late_at = DAY + (10 * 60 + 45) * MIN;
    ticket(&mut records, "late-news", "shop", late_at, &[(0, "opened", None), (6 * MIN, "resolved", None)]);
    // The card desk slows from 11:00: a ticket every 2 minutes, handled for 200 s. Its 5-minute
    // windows from 11:00 average above 120 s; the second closes at 11:10 and fires; the first
    // window without a resolution (11:35–11:40) resolves it.
    for i in 0..15 {
        let opened = DAY + 11 * 60 * MIN + i * 2 * MIN;
        let steps = [
            (0, "opened", None),
            (5 * S, "assigned", Some("c-1")),
            (20 * S, "first_response", Some("c-1")),
            (220 * S, "resolved", Some("c-1")),
        ];
        ticket(&mut records, &format!("card-{i}"), "card", opened, &steps);
    }
    expected.insert(("slow_handling".into(), "card".into(), "firing".into(), DAY + (11 * 60 + 10) * MIN));
    expected.insert(("slow_handling".into(), "card".into(), "resolved".into(), DAY + (11 * 60 + 40) * MIN));
    records.sort_by_key(|r| r["ts"].as_i64().unwrap());
    // The late answer goes in after the first record five minutes on; its breach resolves then.
    let after = records.iter().position(|r| r["ts"].as_i64().unwrap() >= late_at + 5 * MIN).unwrap();
    let clock = records[after]["ts"].as_i64().unwrap();
    let late = json!({"type": "ticket", "id": "late-news-fr", "ticket": "late-news", "status": "first_response",
        "business": "shop", "ts": late_at + 20 * S, "seq": 1});
    records.insert(after + 1, late);
    breach(&mut expected, "late-news", "first_response", late_at + 60 * S, clock);
    records.push(json!({"id": "end", "ts": DAY + 13 * 60 * MIN, "category": "other", "text": "ok", "sentiment": 0.0}));
    (records.iter().map(|r| r.to_string() + "\n").collect(), expected)
}

#[test]
fn a_generated_day_of_tickets_gives_exactly_the_scripted_breaches_and_kpi_alerts() {
    let (input, expected) = day();
    let alerts = crate::support::replay_alerts(&input);
    let desk: BTreeSet<Change> = alerts
        .iter()
        .filter(|a| ["sla_breach", "threshold"].contains(&a["rule"].as_str().unwrap()))
        .map(|a| {
            let ms = crate::support::changed_at(a);
            let label = |k: &str| a["labels"][k].as_str().unwrap_or_default().to_string();
            let subject = match a["rule"].as_str() {
                Some("sla_breach") => format!("{}/{}", label("ticket"), label("sla")),
                _ => label("business"),
            };
            (label("rule"), subject, a["status"].as_str().unwrap().to_string(), ms)
        })
        .collect();
    assert_eq!(desk, expected);
    let slow = alerts.iter().find(|a| a["labels"]["rule"] == "slow_handling").unwrap();
    assert_eq!(
        slow["value"].as_f64().map(f64::round),
        Some(215.0),
        "mean handling: 200 s after the 5 s assignment, +15 s"
    );
    assert!(slow["summary"].as_str().unwrap().contains("mean(handling) 215.0 s above 120 s"), "{}", slow["summary"]);
}

#[cfg(feature = "e2e")]
#[test]
fn ticket_kpis_and_breaches_reach_redis_over_http() {
    use crate::support::{self, RedisServer};
    use feedpulse::redis::resp::cmd;
    let redis = RedisServer::start();
    let mut c = redis.connect().unwrap();
    let fp = support::Feedpulse::start(&["run", "--listen", "127.0.0.1:0", "--redis", &redis.address(), "--no-enrich"]);
    let now = support::now_ms();
    let opened = now - 5 * MIN;
    let post = |records: Vec<Value>| fp.post_events(&records);
    let event = |i: i64, status: &str, at: i64| {
        json!({"type": "ticket", "id": format!("k{i}"), "ticket": "T-http", "status": status, "agent": "a-9",
               "business": "shop", "ts": at})
    };
    // Opened five minutes ago, answered after four: the clock (moved by the answer) is past the
    // 60 s deadline.
    assert_eq!(post(vec![event(0, "opened", opened), event(1, "first_response", opened + 4 * MIN)]).status(), 202);
    let bad = post(vec![json!({"type": "ticket", "ticket": "T-x", "status": "closed"})]);
    assert_eq!(bad.status().as_u16(), 400);
    let reply: Value = bad.json().unwrap();
    assert_eq!(reply["rejected"][0]["reason"], "bad_field", "{reply}");
    let window = (opened + 4 * MIN) / 1000 / 300 * 300;
    let hash = "fp:kpi:5m:agent:a-9";
    let mut kpis = Value::Null;
    support::wait_for("the agent's KPI window in fp:kpi", std::time::Duration::from_secs(20), || {
        let reply = c.call(cmd(["HGET", hash, &window.to_string()])).unwrap();
        match reply.as_str() {
            Some(text) => {
                kpis = serde_json::from_str(text).unwrap();
                true
            }
            None => false,
        }
    });
    assert_eq!(kpis["first_response"]["count"], 1);
    assert_eq!(kpis["first_response"]["mean_s"], 240.0);
    let mut breach = None;
    support::wait_for("the breach in fp:alerts", std::time::Duration::from_secs(20), || {
        let reply = c.call(cmd(["XRANGE", "fp:alerts", "-", "+"])).unwrap();
        let entries = reply.as_array().map(<[_]>::to_vec).unwrap_or_default();
        breach = entries.iter().map(|e| support::pairs(&e.as_array().unwrap()[1])).find(|f| f["rule"] == "sla_breach");
        breach.is_some()
    });
    let alert: Value = serde_json::from_str(&breach.unwrap()["alert"]).unwrap();
    assert_eq!(
        (alert["labels"]["ticket"].as_str(), alert["labels"]["sla"].as_str()),
        (Some("T-http"), Some("first_response"))
    );
    // The dead letter's write is queued apart from the alerts': wait for it too.
    let mut dead = Default::default();
    support::wait_for("the dead letter in fp:deadletter", std::time::Duration::from_secs(20), || {
        let reply = c.call(cmd(["XRANGE", "fp:deadletter", "-", "+"])).unwrap();
        let first = reply.as_array().and_then(|entries| entries.first().cloned());
        first.is_some_and(|e| {
            dead = support::pairs(&e.as_array().unwrap()[1]);
            true
        })
    });
    assert_eq!(dead["reason"], "bad_field");
    assert!(dead["detail"].contains("`closed` is not one of"), "{}", dead["detail"]);
    fp.stop();
}

#[cfg(feature = "e2e")]
#[test]
fn ticket_events_from_the_redis_consumer_group_reach_the_kpi_windows() {
    use crate::support::{self, RedisServer};
    use feedpulse::redis::resp::cmd;
    let redis = RedisServer::start();
    let mut c = redis.connect().unwrap();
    // Ten minutes into the previous hour: the whole lifecycle falls in one 1h window.
    let hour_ms = 60 * MIN;
    let at = support::now_ms() / hour_ms * hour_ms - hour_ms + 10 * MIN;
    for (i, status, after) in
        [(0, "opened", 0), (1, "assigned", 5 * S), (2, "first_response", 20 * S), (3, "resolved", 80 * S)]
    {
        let record = json!({"type": "ticket", "id": format!("r{i}"), "ticket": "T-redis", "status": status,
            "agent": "a-5", "business": "shop", "ts": at + after});
        c.call(cmd(["XADD", "fp:feedback", "*", "json", &record.to_string()])).unwrap();
    }
    let fp = support::Feedpulse::start(&[
        "run",
        "--listen",
        "127.0.0.1:0",
        "--redis",
        &redis.address(),
        "--consume-redis",
        "--no-enrich",
    ]);
    let field = (at / 1000 / 3600 * 3600).to_string();
    let mut kpis = Value::Null;
    support::wait_for("the business's hour in fp:kpi", std::time::Duration::from_secs(20), || {
        let reply = c.call(cmd(["HGET", "fp:kpi:1h:business:shop", &field])).unwrap();
        reply.as_str().is_some_and(|t| {
            kpis = serde_json::from_str(t).unwrap();
            kpis["resolved"] == 1
        })
    });
    assert_eq!((kpis["opened"].as_i64(), kpis["assigned"].as_i64()), (Some(1), Some(1)));
    assert_eq!(kpis["handling"]["mean_s"], 75.0, "from the assignment at 5 s to the resolution at 80 s");
    assert_eq!(kpis["first_response"]["mean_s"], 20.0);
    fp.stop();
}

/// A restart with Redis continues the tickets it had open: the first run's checkpoint logs the
/// ticket events (`fp:tickets`); the second folds them again, so an answer after the restart is
/// timed from the opening before it, and a deadline that passes after the restart breaches.
/// Without the log, the answer would be an untimed transition and the deadline forgotten.
#[cfg(feature = "e2e")]
#[test]
fn a_restart_with_redis_continues_the_open_tickets() {
    use crate::support::{self, RedisServer};
    use feedpulse::redis::resp::cmd;
    let redis = RedisServer::start();
    let mut c = redis.connect().unwrap();
    let args = ["run", "--listen", "127.0.0.1:0", "--redis", &redis.address(), "--no-enrich"];
    let post = |fp: &support::Feedpulse, records: Vec<Value>| assert_eq!(fp.post_events(&records).status(), 202);
    // Ten seconds into a 5-minute window a quarter of an hour ago: everything below lies in it.
    let base = support::now_ms() / (5 * MIN) * (5 * MIN) - 15 * MIN + 10 * S;
    let event = |id: &str, ticket: &str, status: &str, at: i64| {
        json!({"type": "ticket", "id": id, "ticket": ticket, "status": status, "agent": "a-1",
               "business": "shop", "ts": base + at})
    };
    let log_length = |c: &mut feedpulse::redis::resp::Connection| c.call(cmd(["XLEN", "fp:tickets"])).unwrap().as_int();
    let first = support::Feedpulse::start(&args);
    // Both open when the first run stops: its clock (30 s) is before either 60 s deadline.
    post(&first, vec![event("e1", "T-a", "opened", 0), event("e2", "T-b", "opened", 30 * S)]);
    support::wait_for("both events in the ticket log", std::time::Duration::from_secs(20), || {
        log_length(&mut c) == Some(2)
    });
    first.stop();
    let clock = c.call(cmd(["GET", "fp:clock"])).unwrap();
    assert_eq!(clock.as_str(), Some((base + 30 * S).to_string().as_str()), "the checkpoint saves the event clock");

    let second = support::Feedpulse::start(&args);
    // T-a answered 40 s after it opened (in time); the resolution at 120 s moves the clock past
    // T-b's deadline at 90 s.
    post(&second, vec![event("e3", "T-a", "first_response", 40 * S), event("e4", "T-a", "resolved", 120 * S)]);
    let mut breaches = Vec::new();
    support::wait_for("T-b's breach in fp:alerts", std::time::Duration::from_secs(20), || {
        let reply = c.call(cmd(["XRANGE", "fp:alerts", "-", "+"])).unwrap();
        let entries = reply.as_array().map(<[_]>::to_vec).unwrap_or_default();
        breaches = entries
            .iter()
            .map(|e| support::pairs(&e.as_array().unwrap()[1]))
            .filter(|f| f["rule"] == "sla_breach")
            .map(|f| serde_json::from_str::<Value>(&f["alert"]).unwrap())
            .collect();
        !breaches.is_empty()
    });
    let tickets: Vec<&str> = breaches.iter().filter_map(|a| a["labels"]["ticket"].as_str()).collect();
    assert_eq!(tickets, ["T-b"], "T-a was answered in time");
    let field = ((base / 1000) / 300 * 300).to_string();
    let mut kpis = Value::Null;
    support::wait_for("T-a's first response in fp:kpi", std::time::Duration::from_secs(20), || {
        let reply = c.call(cmd(["HGET", "fp:kpi:5m:agent:a-1", &field])).unwrap();
        reply.as_str().is_some_and(|t| {
            kpis = serde_json::from_str(t).unwrap();
            kpis["resolved"] == 1
        })
    });
    assert_eq!(kpis["opened"], 2, "the restored openings count in the recomputed window");
    assert_eq!(
        (kpis["first_response"]["count"].as_i64(), kpis["first_response"]["mean_s"].as_f64()),
        (Some(1), Some(40.0))
    );
    assert_eq!(kpis["resolution"]["mean_s"], 120.0, "timed from the opening before the restart");
    second.stop();
    assert_eq!(log_length(&mut c), Some(4), "the restored events are not logged twice");
}
