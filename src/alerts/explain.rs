//! Explanation helpers: keywords from sample texts and one-line summaries.

use crate::enrich::terms::terms;
use std::collections::{HashMap, HashSet};

/// The `k` most telling terms across `texts` (Chinese words by segmentation, English words; see
/// `enrich::terms`), ranked by how many texts contain them, longer terms first on ties. Terms in
/// fewer than two texts are left out when there are several texts, so a keyword says what the
/// messages share.
pub fn keywords<'a>(texts: impl IntoIterator<Item = &'a str>, k: usize) -> Vec<String> {
    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut n_texts = 0;
    for text in texts {
        n_texts += 1;
        let distinct: HashSet<String> = terms(text).into_iter().collect();
        for t in distinct {
            *counts.entry(t).or_default() += 1;
        }
    }
    let min = if n_texts >= 2 { 2 } else { 1 };
    let mut ranked: Vec<(String, usize)> = counts.into_iter().filter(|(_, c)| *c >= min).collect();
    ranked.sort_by(|a, b| {
        b.1.cmp(&a.1).then_with(|| b.0.chars().count().cmp(&a.0.chars().count())).then_with(|| a.0.cmp(&b.0))
    });
    ranked.into_iter().take(k).map(|(t, _)| t).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_terms_rank_first() {
        let texts = ["付款一直失败，扣了钱", "付款失败了", "微信付款失败 payment failed", "payment page hangs"];
        assert_eq!(keywords(texts, 3), vec!["付款", "失败", "payment"]);
        let k = keywords(["双11优惠券用不了", "优惠券根本用不了，太坑了", "这个优惠券"], 2);
        assert_eq!(k, vec!["优惠券"], "words, not n-grams ending in a particle");
        assert!(keywords(["完全不同", "另一句话"], 3).is_empty());
    }
}
