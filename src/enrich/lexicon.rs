//! Lexicon sentiment: counts positive and negative cue words (Chinese and English), flipping a
//! cue preceded by a negator, and maps the balance to [-1, 1].

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

const NEGATIVE: &[&str] = &[
    "失望",
    "生气",
    "愤怒",
    "垃圾",
    "差劲",
    "太差",
    "很差",
    "体验差",
    "体验很差",
    "坑",
    "骗",
    "骗子",
    "恶心",
    "无语",
    "崩溃",
    "闪退",
    "卡死",
    "卡顿",
    "失败",
    "扣了钱",
    "重复扣",
    "没到账",
    "投诉",
    "退款",
    "驳回",
    "封号",
    "被封",
    "不会再用",
    "卸载",
    "烂",
    "太慢",
    "难用",
    "破损",
    "涨价",
    "太贵",
    "没人",
    "打不通",
    "不回复",
    "没有回复",
    "麻烦",
    "离谱",
    "坑人",
    "欺诈",
    "黑屏",
    "错误",
    "异常",
    "无法",
    "不能",
    "关不掉",
    "一直",
    "第二次",
    "说法",
    "terrible",
    "awful",
    "worst",
    "bad",
    "broken",
    "crash",
    "crashes",
    "angry",
    "disappointed",
    "scam",
    "refund",
    "useless",
    "slow",
    "failed",
    "fails",
    "hate",
    "annoying",
    "charged twice",
    "never again",
];

const POSITIVE: &[&str] = &[
    "满意",
    "喜欢",
    "好用",
    "方便",
    "感谢",
    "谢谢",
    "不错",
    "很好",
    "非常好",
    "赞",
    "点赞",
    "优秀",
    "耐心",
    "解决了",
    "很快",
    "速度快",
    "流畅",
    "好评",
    "推荐",
    "开心",
    "棒",
    "给力",
    "good",
    "great",
    "love",
    "excellent",
    "thanks",
    "thank you",
    "fast",
    "smooth",
    "helpful",
    "awesome",
    "perfect",
    "nice",
];

const NEGATORS: &[&str] = &["不", "没", "没有", "别", "not ", "no ", "never ", "n't "];

pub struct LexiconSentiment {
    cues: AhoCorasick,
    /// pattern index → +1 / -1 / 0 (negator)
    polarity: Vec<i8>,
}

impl Default for LexiconSentiment {
    fn default() -> Self {
        Self::new()
    }
}

impl LexiconSentiment {
    pub fn new() -> Self {
        let mut patterns = Vec::new();
        let mut polarity = Vec::new();
        for (words, p) in [(NEGATIVE, -1i8), (POSITIVE, 1), (NEGATORS, 0)] {
            for w in words {
                patterns.push(*w);
                polarity.push(p);
            }
        }
        let cues = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostLongest)
            .build(&patterns)
            .expect("lexicon automaton");
        LexiconSentiment { cues, polarity }
    }

    pub fn score(&self, text: &str) -> f64 {
        let (mut pos, mut neg) = (0.0f64, 0.0f64);
        // Byte range right after the last negator in which a cue is flipped.
        let mut negated: Option<std::ops::RangeInclusive<usize>> = None;
        for m in self.cues.find_iter(text) {
            let p = self.polarity[m.pattern().as_usize()];
            if p == 0 {
                // A negator flips the next cue that starts right after it.
                negated = Some(m.end()..=m.end() + 3);
                continue;
            }
            let flipped = negated.as_ref().is_some_and(|r| r.contains(&m.start()));
            let p = if flipped { -p } else { p };
            if p > 0 {
                pos += 1.0;
            } else {
                neg += 1.0;
            }
        }
        if pos + neg == 0.0 {
            return 0.0;
        }
        // Balance shrunk towards 0 for messages with few cues.
        ((pos - neg) / (pos + neg + 0.5)).clamp(-1.0, 1.0)
    }
}
