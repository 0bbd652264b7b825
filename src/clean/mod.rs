//! Cleaning: normalisation, drop rules, PII masking and truncation. Runs before anything is
//! stored, logged or sent, so every later stage sees masked text only.

pub mod pii;

use crate::config::Config;
use crate::event::DeadReason;
use pii::PiiMasker;
use regex::RegexSet;

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

    pub fn clean(&self, text: &str) -> Result<Cleaned, (DeadReason, String)> {
        let normalised = if self.normalise_whitespace { normalise(text) } else { text.trim().to_owned() };
        if normalised.is_empty() {
            return Err((DeadReason::EmptyText, "text is empty after cleaning".into()));
        }
        if self.drop.is_match(&normalised) {
            let which = self.drop.matches(&normalised).into_iter().next().unwrap_or(0);
            return Err((DeadReason::DroppedByRule, format!("matched clean.drop_if_match[{which}]")));
        }
        let masked = self.masker.mask(&normalised).into_owned();
        match masked.char_indices().nth(self.max_chars) {
            Some((cut, _)) => Ok(Cleaned { text: masked[..cut].to_owned(), truncated: true }),
            None => Ok(Cleaned { text: masked, truncated: false }),
        }
    }
}

/// Trims, folds runs of whitespace (including the ideographic space) into one ASCII space and
/// removes control characters.
fn normalise(text: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_masks_and_truncates() {
        let mut config = Config::embedded();
        config.ingest.max_text_chars = 8;
        config.clean.drop_if_match = vec!["^测试".into()];
        let cleaner = Cleaner::new(&config);
        assert_eq!(cleaner.clean("  支付\u{3000}\u{3000}失败\t\n ").unwrap().text, "支付 失败");
        let long = cleaner.clean("电话13812345678一直没人接听").unwrap();
        assert_eq!(long, Cleaned { text: "电话<PHONE>".chars().take(8).collect(), truncated: true });
        assert_eq!(cleaner.clean(" \u{0007} ").unwrap_err().0, DeadReason::EmptyText);
        assert_eq!(cleaner.clean("测试消息").unwrap_err().0, DeadReason::DroppedByRule);
    }
}
