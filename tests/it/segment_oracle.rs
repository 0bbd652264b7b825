//! The keyword segmenter against jieba-rs, its reference, given the same word list: the same
//! tokens for random mixes of dictionary words, Chinese characters, ASCII, punctuation and line
//! ends, for the demo's messages and, when `../shared/eval-data` is present (it is in CI and in
//! this workspace; the test says so and uses the rest when it is not), for real hotel reviews
//! and customer-service questions.

use feedpulse::enrich::segment::{dictionary, JIEBA_WORDS};

fn reference() -> jieba_rs::Jieba {
    jieba_rs::Jieba::with_dict(&mut JIEBA_WORDS.as_bytes()).expect("jieba-rs reads the word list")
}

fn assert_same(jieba: &jieba_rs::Jieba, texts: &[String]) {
    for text in texts {
        let expected: Vec<&str> = jieba.cut(text, false).into_iter().map(|t| t.word).collect();
        assert_eq!(dictionary().cut(text), expected, "text: {text:?}");
    }
}

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n
    }
}

#[test]
fn random_texts_cut_like_jieba() {
    let jieba = reference();
    let words: Vec<&str> = JIEBA_WORDS.lines().map(|l| l.split(' ').next().unwrap()).collect();
    let pieces = [
        "，", "。", "！", " ", "\r\n", "\n", "\r", "+", "#", "&", ".", "_", "%", "-", "a", "Z", "7", "iPhone", "APP",
        "4s", "😡", "ｑ", "é", "\t", "的", "了", "吗",
    ];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut texts = Vec::new();
    for _ in 0..3000 {
        let mut text = String::new();
        for _ in 0..rng.below(30) {
            match rng.below(4) {
                0 | 1 => text.push_str(words[rng.below(words.len())]),
                2 => text.push(char::from_u32(0x4E00 + rng.below(0x51A6) as u32).unwrap()),
                _ => text.push_str(pieces[rng.below(pieces.len())]),
            }
        }
        texts.push(text);
    }
    assert_same(&jieba, &texts);
}

#[test]
fn demo_messages_cut_like_jieba() {
    let mut texts: Vec<String> = feedpulse::demo::generate(1_735_689_600_000, 7)
        .into_iter()
        // The demo stream holds a few malformed lines on purpose (the dead-letter output shows them).
        .filter_map(|(_, line)| {
            Some(serde_json::from_str::<serde_json::Value>(&line).ok()?["text"].as_str()?.to_owned())
        })
        .collect();
    texts.sort();
    texts.dedup();
    assert!(texts.len() > 500, "{} distinct demo texts", texts.len());
    assert_same(&reference(), &texts);
}

#[test]
fn real_reviews_and_questions_cut_like_jieba() {
    let eval = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/eval-data");
    if !eval.is_dir() {
        eprintln!("../shared/eval-data is absent: skipping the real-text comparison");
        return;
    }
    let mut texts = Vec::new();
    for file in ["chnsenticorp_htl_all/ChnSentiCorp_htl_all.csv", "atec_customer_service_pairs/atec_nlp_sim_train.tsv"]
    {
        let content = std::fs::read_to_string(eval.join(file)).expect(file);
        texts.extend(content.lines().take(4000).map(str::to_owned));
    }
    assert_same(&reference(), &texts);
}
