//! The terms of a text that can serve as keywords: Chinese words by jieba's segmentation, English
//! words lower-cased; stop words, single characters and numbers left out. Alert explanations
//! and cluster labels both rank these.

use super::segment::dictionary;
use crate::clean::is_cjk;

/// Function words and fillers that say nothing about what a complaint is about.
#[rustfmt::skip]
const STOP_WORDS: &[&str] = &[
    // English
    "the", "and", "for", "you", "your", "this", "that", "with", "was", "are", "have", "has", "not", "but", "from",
    "app", "its", "it's", "can", "can't", "just", "again", "they", "what", "when", "why", "how", "all", "does",
    "did", "will", "would", "could", "should", "there", "their", "been", "were", "which", "who", "any", "about",
    "get", "got", "still", "yet", "into", "out", "too", "very", "some", "don't", "i'm", "i've", "way", "need",
    "want", "please", "help", "able", "now", "one", "there's", "know", "much", "here", "also", "after",
    // Chinese
    "我们", "你们", "他们", "一个", "没有", "什么", "怎么", "就是", "还是", "已经", "可以", "现在", "这个", "那个",
    "不是", "真的", "为什么", "还有", "一直", "因为", "所以", "但是", "如果", "自己", "时候", "一下", "这样",
    "那么", "然后", "而且", "不能", "不会", "知道", "觉得", "感觉", "东西", "结果", "根本", "怎么办", "到底",
    "这么", "一次", "一点", "非常", "特别", "有点", "真是", "简直", "居然", "刚才", "刚刚", "昨天", "昨天晚上",
    "晚上", "今天", "这周", "上周", "最近", "希望", "麻烦", "尽快", "请问", "那边", "这边", "不了",
];

/// The keyword candidates of `text`, in order of appearance (with repeats).
pub fn terms(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for token in dictionary().cut(text) {
        let chars = token.chars().count();
        if token.chars().all(is_cjk) {
            if chars >= 2 && !STOP_WORDS.contains(&token) {
                out.push(token.to_owned());
            }
        } else if token.len() >= 3 && token.chars().all(|c| c.is_ascii_alphabetic() || c == '\'') {
            let word = token.to_ascii_lowercase();
            if !STOP_WORDS.contains(&word.as_str()) {
                out.push(word);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_words_and_english_words_without_stop_words() {
        assert_eq!(terms("付款一直失败，重复扣款了"), vec!["付款", "失败", "重复", "扣款"]);
        assert_eq!(terms("The payment FAILED twice, I can't log in"), vec!["payment", "failed", "twice", "log"]);
        assert!(terms("的了吗 123 a").is_empty());
    }
}
