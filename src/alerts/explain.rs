//! Explanation helpers: keywords from sample texts and one-line summaries.

use std::collections::HashMap;

const STOP_WORDS: &[&str] = &[
    "the", "and", "for", "you", "your", "this", "that", "with", "was", "are", "have", "has", "not", "but", "from",
    "app", "its", "it's", "can", "can't", "just", "again", "they", "what", "when", "why", "how", "all",
];

/// Chinese characters that make poor keywords on their own or at a bigram's edge.
const CJK_STOP: &str = "的了我是在就都也还又很太吗呢吧啊就和与你他她它们这那个一不没有到说要会让给被把";

fn is_cjk(c: char) -> bool {
    ('\u{4e00}'..='\u{9fff}').contains(&c)
}

/// The `k` most frequent terms across `texts` (each text counted once per term): Chinese
/// character bigrams and English words of three or more letters. Terms in fewer than two texts
/// are left out when there are several texts, so a keyword says what the messages share.
pub fn keywords<'a>(texts: impl IntoIterator<Item = &'a str>, k: usize) -> Vec<String> {
    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut n_texts = 0;
    for text in texts {
        n_texts += 1;
        let mut terms: Vec<String> = Vec::new();
        let chars: Vec<char> = text.chars().collect();
        for pair in chars.windows(2) {
            if pair.iter().all(|c| is_cjk(*c) && !CJK_STOP.contains(*c)) {
                terms.push(pair.iter().collect());
            }
        }
        for word in text.split(|c: char| !c.is_ascii_alphanumeric() && c != '\'') {
            let w = word.to_ascii_lowercase();
            if w.len() >= 3 && w.chars().all(|c| c.is_ascii_alphabetic()) && !STOP_WORDS.contains(&w.as_str()) {
                terms.push(w);
            }
        }
        terms.sort();
        terms.dedup();
        for t in terms {
            *counts.entry(t).or_default() += 1;
        }
    }
    let min = if n_texts >= 2 { 2 } else { 1 };
    let mut ranked: Vec<(String, usize)> = counts.into_iter().filter(|(_, c)| *c >= min).collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    ranked.into_iter().take(k).map(|(t, _)| t).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_terms_rank_first() {
        let texts = ["付款一直失败，扣了钱", "付款失败了", "微信付款失败 payment failed", "payment page hangs"];
        let k = keywords(texts, 3);
        assert_eq!(k, vec!["付款", "失败", "payment"]);
        assert!(keywords(["完全不同", "另一句话"], 3).is_empty());
    }
}
