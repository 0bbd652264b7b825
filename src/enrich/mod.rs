//! Enrichment: category and sentiment for messages that arrive without them.
//!
//! This is the built-in, model-free enricher: taxonomy keywords for the category and a small
//! Chinese/English lexicon with negation for sentiment. Upstream values on the event always win.

mod archive;
pub mod encoder;
mod lexicon;
pub mod models;
mod npy;
pub mod sentencepiece;

use crate::config::Config;
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

pub const OTHER: &str = "other";

pub struct Enricher {
    categories: Vec<String>,
    keywords: AhoCorasick,
    /// keyword pattern index → category index
    keyword_category: Vec<usize>,
    sentiment: lexicon::LexiconSentiment,
}

impl Enricher {
    pub fn new(config: &Config) -> Self {
        let mut patterns = Vec::new();
        let mut keyword_category = Vec::new();
        for (i, c) in config.categories.iter().enumerate() {
            for k in &c.keywords {
                patterns.push(k.to_lowercase());
                keyword_category.push(i);
            }
        }
        let keywords = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostLongest)
            .build(&patterns)
            .expect("keyword automaton");
        Enricher {
            categories: config.categories.iter().map(|c| c.name.clone()).collect(),
            keywords,
            keyword_category,
            sentiment: lexicon::LexiconSentiment::new(),
        }
    }

    /// The category with the most keyword hits (ties: the one defined first), or `other`.
    pub fn categorise(&self, text: &str) -> &str {
        let mut hits = vec![0u32; self.categories.len()];
        for m in self.keywords.find_iter(text) {
            hits[self.keyword_category[m.pattern().as_usize()]] += 1;
        }
        let best = hits.iter().enumerate().max_by_key(|(i, h)| (**h, std::cmp::Reverse(*i)));
        match best {
            Some((i, h)) if *h > 0 => &self.categories[i],
            _ => OTHER,
        }
    }

    /// Sentiment in [-1, 1].
    pub fn sentiment(&self, text: &str) -> f64 {
        self.sentiment.score(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_pick_the_category() {
        let e = Enricher::new(&Config::embedded());
        assert_eq!(e.categorise("付款一直失败，扣了钱订单却没成功"), "payment");
        assert_eq!(e.categorise("打开App就闪退"), "crash");
        assert_eq!(e.categorise("The app CRASHES on start"), "crash");
        assert_eq!(e.categorise("申请退款七天了还没到账"), "refund");
        assert_eq!(e.categorise("今天天气不错"), "other");
    }

    #[test]
    fn sentiment_sign_follows_the_text() {
        let e = Enricher::new(&Config::embedded());
        assert!(e.sentiment("太失望了，非常生气") < -0.3);
        assert!(e.sentiment("客服很耐心，问题解决了，谢谢") > 0.3);
        assert!(e.sentiment("This is terrible, worst app ever") < -0.3);
        assert!(e.sentiment("great update, love it") > 0.3);
        assert!(e.sentiment("不好用") < 0.0, "negation flips a positive word");
        assert_eq!(e.sentiment("今天是周一"), 0.0);
    }
}
