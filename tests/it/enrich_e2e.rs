//! Enrichment with the real models (fetched into the cache on first use): the library's
//! enricher, and the `feedpulse enrich` command end to end.

use crate::support;

use feedpulse::config::Config;
use feedpulse::enrich::{models, Enricher, Models};
use feedpulse::redis::resp::cmd;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;

fn models() -> Arc<Models> {
    let m = Models::prepare(&models::default_dir(), &mut |m| eprintln!("{m}"));
    assert!(!m.is_fallback(), "{}", m.describe());
    Arc::new(m)
}

#[test]
fn categories_fall_back_from_rules_to_examples_and_sentiment_reads_both_languages() {
    let enricher = Enricher::new(&Config::embedded(), models());
    let texts = [
        "付款失败，钱却扣了两次",                    // keyword rule: payment
        "结账时交易总是不成功",                      // no keyword; nearest example is payment
        "The checkout declined my card twice",       // no keyword; English example of payment
        "物流一个星期了还没送到，太慢了",            // keyword rule: delivery
        "今天天气不错，出去走走",                    // nothing close: other
        "Terrible service, I want my money back",    // negative, English
        "Thanks, the support team fixed it quickly", // positive, English
        "客服态度很好，很快就解决了",                // positive, Chinese
        "太失望了，再也不会买了",                    // negative, Chinese
    ];
    let e = enricher.enrich(&texts);
    assert_eq!((e[0].category.as_str(), e[0].category_score), ("payment", 1.0));
    assert_eq!(e[1].category, "payment", "score {}", e[1].category_score);
    assert!(e[1].category_score < 1.0 && e[1].category_score >= 0.5);
    assert_eq!(e[2].category, "payment", "score {}", e[2].category_score);
    assert_eq!(e[3].category, "delivery");
    assert_eq!((e[4].category.as_str(), e[4].category_score), ("other", 0.0));
    for (i, sign) in [(5, -1.0), (6, 1.0), (7, 1.0), (8, -1.0), (0, -1.0), (3, -1.0)] {
        assert!(e[i].sentiment * sign > 0.2, "{:?}: {}", texts[i], e[i].sentiment);
    }
    assert!(e.iter().all(|x| x.embedding.len() == 512 && (-1.0..=1.0).contains(&x.sentiment)));
}

#[test]
fn enrich_command_adds_fields_masks_text_and_reports_bad_lines() {
    let input = [
        r#"{"id":"a","ts":1767225600000,"channel":"app","text":"付款失败扣了两次钱，电话13812345678"}"#,
        r#"{"id":"b","text":"great update, love the new player"}"#,
        r#"{"id":"c","text":"打开就闪退","category":"ux","sentiment":0.5}"#,
        r#"{"id":"d","text":"#,
        r#"{"id":"e"}"#,
    ]
    .join("\n");
    let mut child = Command::new(env!("CARGO_BIN_EXE_feedpulse"))
        .args(["enrich", "-", "--embeddings"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let records: Vec<serde_json::Value> = out
        .stdout
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert_eq!(records.len(), 3, "{stderr}");
    assert!(stderr.contains("malformed_json") && stderr.contains("missing_text"), "{stderr}");
    assert!(stderr.contains("enriched 3 events, 2 dead letters"), "{stderr}");

    let a = &records[0];
    assert_eq!(a["text"], "付款失败扣了两次钱，电话<PHONE>");
    assert_eq!((a["category"].as_str(), a["category_score"].as_f64()), (Some("payment"), Some(1.0)));
    assert!(a["sentiment"].as_f64().unwrap() < -0.2);
    assert_eq!(a["embedding"].as_array().unwrap().len(), 512);
    assert!(records[1]["sentiment"].as_f64().unwrap() > 0.2);
    // Upstream values win and are not scored again.
    assert_eq!(records[2]["category"], "ux");
    assert_eq!(records[2]["sentiment"], 0.5);
    assert!(records[2].get("category_score").is_none());
    assert!(!String::from_utf8_lossy(&out.stdout).contains("13812345678"));
}

/// The count in the 1-minute aggregate of `category` (summed over windows), read from Redis.
fn category_count(redis: &support::RedisServer, category: &str) -> i64 {
    let mut c = redis.connect().unwrap();
    let reply = c.call(cmd(["HVALS", &format!("fp:agg:1m:category:{category}")])).unwrap();
    let values = reply.as_array().unwrap_or_default();
    values.iter().filter_map(|v| v.as_str()?.split(',').next()?.parse::<i64>().ok()).sum()
}

#[test]
fn an_analysts_label_teaches_the_category_without_a_restart() {
    let redis = support::RedisServer::start();
    let fp = support::Feedpulse::start(&["run", "--listen", "127.0.0.1:0", "--redis", &redis.address()]);
    let http = reqwest::blocking::Client::new();
    let post = |body: String| http.post(fp.url("/v1/events")).body(body).send().unwrap().status().as_u16();
    let now = support::now_ms();
    let event = |id: &str, text: &str| serde_json::json!({"id": id, "ts": now, "text": text}).to_string();

    // No keyword and no example is near: `other`.
    assert_eq!(post(event("n1", "推送通知一天发几十条")), 202);
    support::wait_for("n1 counted as other", std::time::Duration::from_secs(10), || {
        category_count(&redis, "other") == 1
    });
    assert_eq!(category_count(&redis, "ads"), 0);

    // Refusals say why.
    let label = |id: &str, body: &str| {
        let r = http.post(fp.url(&format!("/v1/feedback/{id}/label"))).body(body.to_owned()).send().unwrap();
        (r.status().as_u16(), r.json::<serde_json::Value>().unwrap())
    };
    let (status, reply) = label("n1", r#"{"category": "spam"}"#);
    assert_eq!(status, 400);
    assert!(reply["error"].as_str().unwrap().contains("ads"), "{reply}");
    assert_eq!(label("nope", r#"{"category": "ads"}"#).0, 404);
    assert_eq!(label("n1", "not json").0, 400);

    // The analyst files n1 under ads: a paraphrase is ads from now on, an unrelated text is not.
    let (status, reply) = label("n1", r#"{"category": "ads"}"#);
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["examples"], 5, "four taxonomy examples plus the correction");
    assert_eq!(post(event("n2", "每天推送几十条通知，太烦了")), 202);
    assert_eq!(post(event("n3", "小区门禁卡无法使用")), 202);
    support::wait_for("n2 counted as ads", std::time::Duration::from_secs(10), || category_count(&redis, "ads") == 1);
    support::wait_for("n3 counted as other", std::time::Duration::from_secs(10), || {
        category_count(&redis, "other") == 2
    });
    fp.stop();
}

/// `feedpulse eval sentiment|categories FILE --json` on the small labelled files in
/// `tests/fixtures`: one JSON object with n, accuracy, macro-F1 and per-label scores.
fn eval_json(args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_feedpulse")).arg("eval").args(args).arg("--json").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn eval_commands_score_labelled_files() {
    let sentiment = eval_json(&["sentiment", "tests/fixtures/sentiment.csv"]);
    assert_eq!(sentiment["n"], 6);
    assert_eq!(sentiment["accuracy"], 1.0, "{sentiment}");
    assert_eq!(sentiment["per_label"]["negative"]["support"], 3);
    assert_eq!(sentiment["macro_f1"], 1.0);

    let categories = eval_json(&["categories", "tests/fixtures/categories.csv"]);
    assert_eq!(categories["n"], 6);
    assert_eq!(categories["accuracy"], 1.0, "{categories}");
    assert!(categories["per_label"].get("other").is_some());

    // Prototypes from a labelled file: its labels are the categories, the taxonomy is unused.
    let intents = eval_json(&[
        "categories",
        "tests/fixtures/intents_test.csv",
        "--prototypes",
        "tests/fixtures/intents_train.csv",
    ]);
    assert_eq!(intents["n"], 4);
    assert!(intents["accuracy"].as_f64().unwrap() >= 0.75, "{intents}");
    let labels: Vec<&String> = intents["per_label"].as_object().unwrap().keys().collect();
    assert_eq!(labels, ["card_arrival", "passcode_forgotten", "top_up"]);
}
