//! Explanation helpers: keywords from sample texts and one-line summaries.

use crate::clean::is_cjk;
use std::collections::HashMap;

const STOP_WORDS: &[&str] = &[
    "the", "and", "for", "you", "your", "this", "that", "with", "was", "are", "have", "has", "not", "but", "from",
    "app", "its", "it's", "can", "can't", "just", "again", "they", "what", "when", "why", "how", "all",
];

/// Chinese characters that make poor keywords on their own or at a bigram's edge.
const CJK_STOP: &str = "的了我是在就都也还又很太吗呢吧啊就和与你他她它们这那个一不没有到说要会让给被把";

/// Longest Chinese n-gram considered: long enough for a short phrase (优惠券根本用).
const MAX_GRAM: usize = 6;

/// The `k` most telling terms across `texts`: Chinese character n-grams (2–6 characters) and
/// English words of three or more letters, ranked by how many texts contain them. Terms in fewer
/// than two texts are left out when there are several texts, so a keyword says what the
/// messages share; an n-gram inside a longer one found in as many texts is dropped (so
/// `优惠券` wins over `优惠` and `惠券`).
pub fn keywords<'a>(texts: impl IntoIterator<Item = &'a str>, k: usize) -> Vec<String> {
    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut n_texts = 0;
    for text in texts {
        n_texts += 1;
        let mut terms: Vec<String> = Vec::new();
        let chars: Vec<char> = text.chars().collect();
        for n in 2..=MAX_GRAM {
            for gram in chars.windows(n) {
                let edges_ok = !CJK_STOP.contains(gram[0]) && !CJK_STOP.contains(gram[n - 1]);
                if edges_ok && gram.iter().all(|c| is_cjk(*c)) {
                    terms.push(gram.iter().collect());
                }
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
    let kept: Vec<(String, usize)> = counts.iter().filter(|(_, c)| **c >= min).map(|(t, c)| (t.clone(), *c)).collect();
    let mut ranked: Vec<(String, usize)> = kept
        .iter()
        .filter(|(t, c)| {
            !kept.iter().any(|(longer, lc)| lc >= c && longer.len() > t.len() && longer.contains(t.as_str()))
        })
        .cloned()
        .collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| b.0.len().cmp(&a.0.len())).then_with(|| a.0.cmp(&b.0)));
    // Overlapping n-grams with the same count are pieces of one phrase: keep the best-ranked.
    let mut chosen: Vec<(String, usize)> = Vec::new();
    for (term, count) in ranked {
        if !chosen.iter().any(|(c, n)| *n == count && overlaps(c, &term)) {
            chosen.push((term, count));
        }
        if chosen.len() == k {
            break;
        }
    }
    chosen.into_iter().map(|(t, _)| t).collect()
}

/// Whether `a` and `b` overlap by two or more characters (one's end is the other's start).
fn overlaps(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let joined = |x: &[char], y: &[char]| (2..=x.len().min(y.len())).any(|k| x[x.len() - k..] == y[..k]);
    joined(&a, &b) || joined(&b, &a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_terms_rank_first() {
        let texts = ["付款一直失败，扣了钱", "付款失败了", "微信付款失败 payment failed", "payment page hangs"];
        let k = keywords(texts, 3);
        assert_eq!(k, vec!["付款", "失败", "付款失败"]);
        let k = keywords(["双11优惠券用不了", "优惠券根本用不了，太坑了", "这个优惠券"], 2);
        assert_eq!(k, vec!["优惠券"], "n-grams ending in a particle (用不了) are not keywords");
        assert!(keywords(["完全不同", "另一句话"], 3).is_empty());
        // A repeated phrase yields one keyword, not its overlapping pieces.
        let same = [
            "优惠券根本用不了",
            "优惠券根本用不了",
            "双十一满减规则太坑人，体验很差",
            "双十一满减规则太坑人，体验很差",
        ];
        assert_eq!(keywords(same, 4), vec!["优惠券根本用", "减规则太坑人", "体验很差"]);
    }
}
