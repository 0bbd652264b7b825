//! Cleaning: normalisation, drop rules, PII masking and truncation. Runs before anything is
//! stored, logged or sent, so every later stage sees masked text only.

pub mod pii;

use crate::config::Config;
use crate::event::DeadReason;
use pii::PiiMasker;
use regex::RegexSet;
use std::borrow::Cow;

pub struct Cleaner {
    normalise_whitespace: bool,
    drop: RegexSet,
    masker: PiiMasker,
    max_chars: usize,
}

/// Cleaned text and whether it was truncated.
#[derive(Debug, PartialEq)]
pub struct Cleaned {
    pub text: String,
    pub truncated: bool,
}

impl Cleaner {
    pub fn new(config: &Config) -> Self {
        Cleaner {
            normalise_whitespace: config.clean.normalise_whitespace,
            drop: RegexSet::new(&config.clean.drop_if_match).expect("validated at load"),
            masker: PiiMasker::new(config.pii.clone()),
            max_chars: config.ingest.max_text_chars,
        }
    }

    /// Masks personal data only (for payloads that are not messages, such as dead letters).
    pub fn mask_pii<'a>(&self, text: &'a str) -> Cow<'a, str> {
        self.masker.mask(text)
    }

    pub fn clean(&self, text: &str) -> Result<Cleaned, (DeadReason, String)> {
        let normalised = if self.normalise_whitespace { normalise(text) } else { Cow::Borrowed(text.trim()) };
        if normalised.is_empty() {
            return Err((DeadReason::EmptyText, "text is empty after cleaning".into()));
        }
        if !self.drop.is_empty() && self.drop.is_match(&normalised) {
            let which = self.drop.matches(&normalised).into_iter().next().unwrap_or(0);
            return Err((DeadReason::DroppedByRule, format!("matched clean.drop_if_match[{which}]")));
        }
        let masked = self.masker.mask(&normalised);
        // A text of at most max_chars bytes has at most max_chars characters: no scan needed.
        let cut = if masked.len() <= self.max_chars { None } else { masked.char_indices().nth(self.max_chars) };
        match cut {
            Some((cut, _)) => Ok(Cleaned { text: masked[..cut].to_owned(), truncated: true }),
            None => Ok(Cleaned { text: masked.into_owned(), truncated: false }),
        }
    }
}

/// Trims, folds runs of whitespace (including the ideographic space) into one ASCII space and
/// removes control characters. Most texts are already clean and are returned borrowed.
fn normalise(text: &str) -> Cow<'_, str> {
    if is_normal(text.as_bytes()) {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(normalise_slow(text))
    }
}

/// Whether `normalise` would leave the text as it is, in one pass over the bytes: no control
/// character, no whitespace but single ASCII spaces between other characters. Non-ASCII
/// whitespace and controls (U+0080–U+00A0, U+1680, U+2000–U+200A, U+2028/9, U+202F, U+205F,
/// U+3000) are recognised by their UTF-8 bytes, so Chinese text is never decoded to chars.
fn is_normal(bytes: &[u8]) -> bool {
    let n = bytes.len();
    let next2 = |i: usize| bytes.get(i + 1..i + 3);
    let normal_at = |i: usize| match bytes[i] {
        b' ' => i > 0 && i + 1 < n && bytes[i + 1] != b' ',
        0..=0x1f | 0x7f => false,
        0xC2 => !matches!(bytes.get(i + 1), Some(0x80..=0xA0)),
        0xE1 => next2(i) != Some(&[0x9A, 0x80]),
        0xE2 => !matches!(next2(i), Some([0x80, 0x80..=0x8A | 0xA8 | 0xA9 | 0xAF] | [0x81, 0x9F])),
        0xE3 => next2(i) != Some(&[0x80, 0x80]),
        _ => true,
    };
    // Sixteen bytes at a time: only the bytes that may start a space or a control (0x00-0x20,
    // 0x7F, 0xC2, 0xE1-0xE3) are looked at one by one.
    #[cfg(target_arch = "x86_64")]
    for (at, v) in crate::bytescan::blocks(bytes) {
        use crate::bytescan::{equal, in_range};
        let mut suspects = in_range(v, 0, 0x20) | equal(v, 0x7f) | equal(v, 0xC2) | in_range(v, 0xE1, 0xE3);
        while suspects != 0 {
            if !normal_at(at + suspects.trailing_zeros() as usize) {
                return false;
            }
            suspects &= suspects - 1;
        }
    }
    (crate::bytescan::after_blocks(n)..n).all(normal_at)
}

fn normalise_slow(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    for c in text.chars() {
        if c.is_whitespace() {
            pending_space = !out.is_empty();
        } else if !c.is_control() {
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            out.push(c);
        }
    }
    out
}

/// A Chinese character (CJK unified ideographs, extension A, compatibility ideographs).
pub fn is_cjk(c: char) -> bool {
    matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}' | '\u{F900}'..='\u{FAFF}')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The byte test agrees with `char::is_whitespace` / `is_control` on every code point.
    #[test]
    fn the_byte_test_knows_every_space_and_control() {
        for c in (0..=0x10FFFF).filter_map(char::from_u32).filter(|&c| c != ' ') {
            let text = format!("a{c}b");
            assert_eq!(is_normal(text.as_bytes()), !(c.is_whitespace() || c.is_control()), "U+{:04X}", c as u32);
        }
        // The same inside longer texts, at every place in a sixteen-byte block and across one.
        let (before, after) = ("付款失败了。App", "崩溃 of the app");
        for c in (0..=0x10FFFF).filter_map(char::from_u32).filter(|&c| c != ' ').step_by(7) {
            for pad in 0..17 {
                let text = format!("{}{before}{c}{after}", "x".repeat(pad));
                let expect = !(c.is_whitespace() || c.is_control());
                assert_eq!(is_normal(text.as_bytes()), expect, "U+{:04X} after {pad}", c as u32);
            }
        }
        for c in [' ', '\u{3000}', '\u{2028}', '\u{85}', '\t'] {
            for pad in 0..33 {
                let doubled = format!("{}a{c}{c}b{}", "y".repeat(pad), "z".repeat(20));
                assert!(!is_normal(doubled.as_bytes()), "{c:?} twice after {pad}");
            }
        }
        assert!(is_normal("a b".as_bytes()));
        assert!(!is_normal(" a".as_bytes()) && !is_normal("a ".as_bytes()) && !is_normal("a  b".as_bytes()));
    }

    #[test]
    fn normalises_masks_and_truncates() {
        let mut config = Config::embedded();
        config.ingest.max_text_chars = 8;
        config.clean.drop_if_match = vec!["^测试".into()];
        let cleaner = Cleaner::new(&config);
        assert_eq!(cleaner.clean("  支付\u{3000}\u{3000}失败\t\n ").unwrap().text, "支付 失败");
        assert_eq!(cleaner.clean("支付\u{3000}失败").unwrap().text, "支付 失败");
        assert_eq!(cleaner.clean("a  b").unwrap().text, "a b");
        assert_eq!(cleaner.clean("a\u{0}b").unwrap().text, "ab");
        assert_eq!(cleaner.clean("已经 ok 的").unwrap().text, "已经 ok 的");
        let long = cleaner.clean("电话13812345678一直没人接听").unwrap();
        assert_eq!(long, Cleaned { text: "电话<PHONE>".chars().take(8).collect(), truncated: true });
        assert_eq!(cleaner.clean(" \u{0007} ").unwrap_err().0, DeadReason::EmptyText);
        assert_eq!(cleaner.clean("测试消息").unwrap_err().0, DeadReason::DroppedByRule);
    }
}
