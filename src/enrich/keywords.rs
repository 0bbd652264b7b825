//! Which of several sets of keywords occur in a text (risk rules, scopes): one Aho-Corasick
//! automaton over every set's keywords, case-insensitive for ASCII, behind a filter on the
//! keywords' first two characters that spares most texts the automaton.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

pub(super) struct KeywordSets {
    automaton: AhoCorasick,
    /// keyword pattern index → set index
    owner: Vec<usize>,
    sets: usize,
    /// Whether a text may contain a keyword (`None`: some keyword is a single character).
    filter: Option<PairFilter>,
}

impl KeywordSets {
    /// `sets[i]`: the keywords of set i. `also_filtered`: literals besides the keywords the
    /// filter must let through (where the risk rules' regexes start).
    pub(super) fn new<'a>(sets: impl IntoIterator<Item = &'a [String]>, also_filtered: &[String]) -> Self {
        let (mut patterns, mut owner) = (Vec::new(), Vec::new());
        let mut count = 0;
        for (i, keywords) in sets.into_iter().enumerate() {
            for k in keywords {
                patterns.push(k.to_lowercase());
                owner.push(i);
            }
            count = i + 1;
        }
        // A full DFA: a few dozen keywords make a small one, and every message is searched.
        let automaton = AhoCorasickBuilder::new()
            .kind(Some(aho_corasick::AhoCorasickKind::DFA))
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(&patterns)
            .expect("keyword automaton");
        let filter = PairFilter::new(patterns.iter().chain(also_filtered));
        KeywordSets { automaton, owner, sets: count, filter }
    }

    /// False when no keyword (nor any literal of `also_filtered`) can occur in `text`.
    pub(super) fn may_match(&self, text: &str) -> bool {
        self.filter.as_ref().is_none_or(|f| f.may_match(text))
    }

    /// Every text goes to the automaton (tests compare with and without the filter).
    #[cfg(test)]
    pub(super) fn drop_filter(&mut self) {
        self.filter = None;
    }

    /// Which sets have a keyword in `text` (overlapping matches, so every set is seen).
    pub(super) fn scan(&self, text: &str) -> Vec<bool> {
        let mut hit = vec![false; self.sets];
        for m in self.automaton.find_overlapping_iter(text) {
            hit[self.owner[m.pattern().as_usize()]] = true;
        }
        hit
    }
}

/// A necessary condition for a keyword to occur in a text: the pair of its first two
/// characters occurs (ASCII letters folded, as the automaton folds them). Pairs are hashed into
/// a 64 Ki-bit table; nearly every message has no such pair and skips the automaton, which
/// costs about 100 ns per message even when nothing matches.
struct PairFilter {
    bits: Vec<u64>,
}

impl PairFilter {
    const BITS: u32 = 16;

    fn new<'a>(keywords: impl IntoIterator<Item = &'a String>) -> Option<Self> {
        let mut bits = vec![0u64; (1 << Self::BITS) / 64];
        for k in keywords {
            let mut chars = k.chars();
            let (Some(a), Some(b)) = (chars.next(), chars.next()) else { return None };
            let slot = Self::slot(a, b);
            bits[slot / 64] |= 1 << (slot % 64);
        }
        Some(PairFilter { bits })
    }

    fn slot(a: char, b: char) -> usize {
        let h = (a.to_ascii_lowercase() as u32).wrapping_mul(0x9E37_79B1) ^ b.to_ascii_lowercase() as u32;
        (h.wrapping_mul(0x85EB_CA6B) >> (32 - Self::BITS)) as usize
    }

    fn may_match(&self, text: &str) -> bool {
        let mut chars = text.chars();
        let Some(mut a) = chars.next() else { return false };
        chars.any(|b| {
            let slot = Self::slot(a, b);
            a = b;
            self.bits[slot / 64] & (1 << (slot % 64)) != 0
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    /// The pair filter never hides a keyword: with and without it, the same texts match.
    #[test]
    fn the_pair_filter_never_hides_a_keyword() {
        let risks = Config::embedded().risks;
        let sets = KeywordSets::new(risks.iter().map(|r| r.keywords.as_slice()), &[]);
        let keywords: Vec<String> = risks.iter().flat_map(|r| r.keywords.clone()).collect();
        let filler = ["付款失败", "Hello ", "退款", "，", "ＡＢ", "x", "😀", "不", "想"];
        let mut rng = crate::util::SplitMix::new(5);
        let (mut matched, mut filtered) = (0, 0);
        for _ in 0..20_000 {
            let mut text = String::new();
            for _ in 0..rng.below(8) {
                text.push_str(rng.pick::<&str>(&filler));
            }
            if rng.below(3) == 0 {
                let k = rng.pick(&keywords);
                text.push_str(&if rng.below(2) == 0 { k.to_uppercase() } else { k.clone() });
                text.push_str(rng.pick::<&str>(&filler));
            }
            let filter = sets.filter.as_ref().expect("no one-character keyword");
            let truth = sets.scan(&text).contains(&true);
            assert!(!truth || filter.may_match(&text), "{text}");
            matched += truth as usize;
            filtered += !filter.may_match(&text) as usize;
        }
        assert!(matched > 5000 && filtered > 10_000, "{matched} matched, {filtered} skipped the automaton");
        assert!(PairFilter::new(&["x".to_string()]).is_none(), "one-character keywords turn it off");
    }
}
