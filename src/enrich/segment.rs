//! Chinese word segmentation for keywords: jieba's dictionary algorithm (no HMM) over jieba's
//! word list, searched where it lies in the binary.
//!
//! jieba-rs builds a hash trie of its 349 k words at load: 33 MB, a third of the process at
//! full replay speed, to segment the few texts an alert or a cluster label needs. Here the word
//! list stays a sorted text (`dictionary.txt`, made by `scripts/build_dictionary.sh`) and its
//! search index is built at compile time (`dictionary_index.rs`); both are compiled into the
//! binary, so nothing is built or allocated at run time and only the pages lookups touch become
//! resident. Words starting at a character are found by binary search, one per character they
//! extend by; the route through them is jieba's: the path of greatest summed log frequency,
//! longer words winning ties. The test against jieba-rs on the same word list holds the two to
//! the same tokens.

use super::dictionary_index::{build_index, word_key};
use crate::clean::is_cjk;
use std::borrow::Cow;
use std::cmp::Ordering;
use std::sync::OnceLock;

/// jieba 0.42.1's dictionary (MIT): `word frequency` per line, sorted bytewise, words unique.
pub static JIEBA_WORDS: &str = include_str!("dictionary.txt");

/// The index build.rs made of [`JIEBA_WORDS`].
static JIEBA_INDEX: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/dictionary.index"));

/// The embedded dictionary.
pub fn dictionary() -> &'static Dictionary<'static> {
    static DICTIONARY: OnceLock<Dictionary<'static>> = OnceLock::new();
    DICTIONARY.get_or_init(|| Dictionary::with_index(JIEBA_WORDS, Cow::Borrowed(JIEBA_INDEX)))
}

/// A sorted word list with frequencies, and its index (layout in `dictionary_index.rs`).
pub struct Dictionary<'a> {
    text: &'a str,
    index: Cow<'a, [u8]>,
    words: usize,
    firsts: usize,
    log_total: f64,
}

/// Where the index's arrays start, for `words` words.
struct Layout {
    keys: usize,
    lines: usize,
    frequencies: usize,
    lengths: usize,
    firsts: usize,
}

impl Layout {
    fn of(words: usize) -> Layout {
        let keys = 16;
        let lines = keys + 8 * words;
        let frequencies = lines + 4 * (words + 1);
        let lengths = frequencies + 4 * words;
        Layout { keys, lines, frequencies, lengths, firsts: lengths + words }
    }
}

impl<'a> Dictionary<'a> {
    /// Indexes `text` (see `build_index` for the format); an error names the first bad line.
    pub fn parse(text: &'a str) -> Result<Self, String> {
        Ok(Self::with_index(text, Cow::Owned(build_index(text)?)))
    }

    fn with_index(text: &'a str, index: Cow<'a, [u8]>) -> Self {
        let words = u32::from_le_bytes(index[0..4].try_into().expect("4 bytes")) as usize;
        let firsts = u32::from_le_bytes(index[4..8].try_into().expect("4 bytes")) as usize;
        let total = u64::from_le_bytes(index[8..16].try_into().expect("8 bytes"));
        assert_eq!(index.len(), Layout::of(words).firsts + 12 * firsts, "an index of this layout");
        Dictionary { text, index, words, firsts, log_total: (total as f64).ln() }
    }

    pub fn len(&self) -> usize {
        self.words
    }

    pub fn is_empty(&self) -> bool {
        self.words == 0
    }

    fn u32_at(&self, at: usize) -> u32 {
        u32::from_le_bytes(self.index[at..at + 4].try_into().expect("4 bytes"))
    }

    fn key(&self, i: usize) -> u64 {
        let at = Layout::of(self.words).keys + 8 * i;
        u64::from_le_bytes(self.index[at..at + 8].try_into().expect("8 bytes"))
    }

    fn word_len(&self, i: usize) -> usize {
        self.index[Layout::of(self.words).lengths + i] as usize
    }

    fn word(&self, i: usize) -> &'a [u8] {
        let start = self.u32_at(Layout::of(self.words).lines + 4 * i) as usize;
        &self.text.as_bytes()[start..start + self.word_len(i)]
    }

    fn frequency(&self, i: usize) -> u32 {
        self.u32_at(Layout::of(self.words).frequencies + 4 * i)
    }

    /// The words starting with `c`: a range of lines.
    fn starting_with(&self, c: char) -> Option<(usize, usize)> {
        let at = Layout::of(self.words).firsts;
        let entry = |j: usize| at + 12 * j;
        let j = partition(0, self.firsts, |j| self.u32_at(entry(j)) < c as u32);
        (j < self.firsts && self.u32_at(entry(j)) == c as u32)
            .then(|| (self.u32_at(entry(j) + 4) as usize, self.u32_at(entry(j) + 8) as usize))
    }

    /// Orders word `i` against `prefix`, whose key is `prefix_key`.
    fn compare(&self, i: usize, prefix: &[u8], prefix_key: u64) -> Ordering {
        match self.key(i).cmp(&prefix_key) {
            Ordering::Equal if self.word_len(i) > 8 || prefix.len() > 8 => self.word(i).cmp(prefix),
            Ordering::Equal => self.word_len(i).cmp(&prefix.len()),
            unequal => unequal,
        }
    }

    /// Calls `found(end, ln(frequency))` for every word that `chars[pos..]` starts with, shortest
    /// first; `chars` are the byte offsets of a run's characters within `run`, plus its end.
    fn words_at(&self, run: &str, chars: &[usize], pos: usize, mut found: impl FnMut(usize, f64)) {
        let first = run[chars[pos]..].chars().next().expect("a character at every offset");
        let Some((mut from, hi)) = self.starting_with(first) else { return };
        for end in pos + 1..chars.len() {
            let prefix = &run.as_bytes()[chars[pos]..chars[end]];
            let prefix_key = word_key(prefix);
            // Words with a longer prefix sort after the ones with this prefix: search on from here.
            from = partition(from, hi, |i| self.compare(i, prefix, prefix_key) == Ordering::Less);
            if from == hi {
                return;
            }
            let next = if self.compare(from, prefix, prefix_key) == Ordering::Equal {
                found(end, (self.frequency(from) as f64).ln());
                from + 1
            } else {
                from
            };
            let extends = next < hi
                && if prefix.len() <= 8 {
                    self.key(next) & !u64::MAX.checked_shr(8 * prefix.len() as u32).unwrap_or(0) == prefix_key
                } else {
                    self.word(next).starts_with(prefix)
                };
            if !extends {
                return;
            }
        }
    }

    /// The words of `text`, in order, as jieba's `cut(text, false)` gives them: runs of Chinese,
    /// ASCII letters, digits and `+#&._%-` are segmented along the most probable route (ASCII
    /// letters and digits the route leaves single are joined back into one word); every other
    /// character is a word of its own (`\r\n` one word).
    pub fn cut<'t>(&self, text: &'t str) -> Vec<&'t str> {
        let mut words = Vec::new();
        let mut chars = Vec::new();
        let mut route = Vec::new();
        let mut rest = text;
        while let Some(first) = rest.chars().next() {
            let segmentable = is_segmentable(first);
            let len = rest.find(|c| is_segmentable(c) != segmentable).unwrap_or(rest.len());
            let (run, tail) = rest.split_at(len);
            rest = tail;
            if segmentable {
                self.cut_run(run, &mut chars, &mut route, &mut words);
            } else {
                let mut iter = run.char_indices().peekable();
                while let Some((i, c)) = iter.next() {
                    let end = if c == '\r' && iter.peek().is_some_and(|&(_, n)| n == '\n') {
                        iter.next();
                        i + 2
                    } else {
                        i + c.len_utf8()
                    };
                    words.push(&run[i..end]);
                }
            }
        }
        words
    }

    fn cut_run<'t>(&self, run: &'t str, chars: &mut Vec<usize>, route: &mut Vec<Step>, words: &mut Vec<&'t str>) {
        chars.clear();
        chars.extend(run.char_indices().map(|(i, _)| i));
        chars.push(run.len());
        let n = chars.len() - 1;
        route.clear();
        route.resize(n + 1, Step { log_prob: 0.0, end: n });
        for pos in (0..n).rev() {
            let mut best: Option<Step> = None;
            self.words_at(run, chars, pos, |end, log_freq| {
                let log_prob = log_freq - self.log_total + route[end].log_prob;
                if best.is_none_or(|b| log_prob > b.log_prob || (log_prob == b.log_prob && end > b.end)) {
                    best = Some(Step { log_prob, end });
                }
            });
            // A character no word starts with is a word of frequency 1.
            route[pos] = best.unwrap_or(Step { log_prob: -self.log_total + route[pos + 1].log_prob, end: pos + 1 });
        }
        let mut pos = 0;
        let mut joined: Option<usize> = None;
        while pos < n {
            let end = route[pos].end;
            let single_alphanumeric = end == pos + 1 && run.as_bytes()[chars[pos]].is_ascii_alphanumeric();
            if single_alphanumeric {
                joined.get_or_insert(pos);
            } else {
                if let Some(start) = joined.take() {
                    words.push(&run[chars[start]..chars[pos]]);
                }
                words.push(&run[chars[pos]..chars[end]]);
            }
            pos = end;
        }
        if let Some(start) = joined {
            words.push(&run[chars[start]..]);
        }
    }
}

#[derive(Clone, Copy)]
struct Step {
    log_prob: f64,
    end: usize,
}

/// The first index in `lo..hi` where `before` turns false (`before` is true then false).
fn partition(lo: usize, hi: usize, before: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (lo, hi);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if before(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// jieba's `RE_HAN_DEFAULT` class: CJK ideographs (the BMP blocks and the supplementary
/// extensions), ASCII letters and digits, and `+#&._%-`.
fn is_segmentable(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(c, '+' | '#' | '&' | '.' | '_' | '%' | '-')
        || is_cjk(c)
        || matches!(c,
            '\u{20000}'..='\u{2A6DF}'
            | '\u{2A700}'..='\u{2B73F}'
            | '\u{2B740}'..='\u{2B81F}'
            | '\u{2B820}'..='\u{2CEAF}'
            | '\u{2CEB0}'..='\u{2EBEF}'
            | '\u{2F800}'..='\u{2FA1F}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_dictionary_is_sorted_unique_and_complete() {
        let dictionary = dictionary();
        assert_eq!(dictionary.len(), 349_045);
        assert!(build_index(JIEBA_WORDS).unwrap() == JIEBA_INDEX, "build.rs indexed this word list");
        let find = |w: &str| partition(0, dictionary.len(), |i| dictionary.word(i) < w.as_bytes());
        let line = find("清华大学");
        assert_eq!((dictionary.word(line), dictionary.frequency(line)), ("清华大学".as_bytes(), 922));
        assert_eq!(dictionary.word(find("扣款")), "扣款".as_bytes());
    }

    #[test]
    fn malformed_unsorted_and_repeated_lines_are_named() {
        assert!(Dictionary::parse("a 1\nb 2\n").is_ok());
        assert!(Dictionary::parse("a 1\nb 2").is_ok(), "no final newline");
        assert_eq!(Dictionary::parse("a 1\nb x\n").err().unwrap(), "line 2: `b x` is not `word frequency`");
        assert_eq!(Dictionary::parse("b 1\na 2\n").err().unwrap(), "line 2: `a` is out of order or repeated");
        assert_eq!(Dictionary::parse("a 1\na 2\n").err().unwrap(), "line 2: `a` is out of order or repeated");
        assert!(Dictionary::parse("a\n").is_err());
        assert!(Dictionary::parse(" 3\n").is_err());
    }

    #[test]
    fn jiebas_examples() {
        let cut = |t| dictionary().cut(t);
        assert_eq!(cut("我来到北京清华大学"), ["我", "来到", "北京", "清华大学"]);
        assert_eq!(cut("付款一直失败，重复扣款了"), ["付款", "一直", "失败", "，", "重复", "扣款", "了"]);
        // Letters and digits the route leaves single are one word; other characters stand alone.
        assert_eq!(cut("iPhone13 坏了!\r\n"), ["iPhone13", " ", "坏", "了", "!", "\r\n"]);
        assert_eq!(cut("4S店"), ["4S店"]);
        assert!(cut("").is_empty());
    }

    #[test]
    fn frequencies_decide_the_route() {
        // With 甲乙 common, 甲乙丙 splits after it; make 乙丙 common instead and the split moves.
        let joined = Dictionary::parse("丙 1\n乙 1\n甲 1\n甲乙 100\n").unwrap();
        assert_eq!(joined.cut("甲乙丙"), ["甲乙", "丙"]);
        let split = Dictionary::parse("丙 1\n乙 1\n乙丙 100\n甲 1\n").unwrap();
        assert_eq!(split.cut("甲乙丙"), ["甲", "乙丙"]);
    }

    #[test]
    fn words_longer_than_a_key_are_found_through_every_prefix_length() {
        // Prefixes of 1, 2, 5, 8 and 11 bytes: the key covers the first eight.
        let dictionary = Dictionary::parse("ab甲乙丙 100\nab甲乙丙丁戊 1000\n丙 1\n乙 1\n甲 1\n").unwrap();
        assert_eq!(dictionary.cut("ab甲乙丙"), ["ab甲乙丙"]);
        assert_eq!(dictionary.cut("ab甲乙丙丁戊"), ["ab甲乙丙丁戊"]);
        assert_eq!(dictionary.cut("ab甲乙"), ["ab", "甲", "乙"]);
    }
}
