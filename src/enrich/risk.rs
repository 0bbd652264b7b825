//! High-risk messages: the `[[risk]]` rules of the dataflow configuration (legal threats,
//! regulators, self-harm, fraud, data leaks, a strongly negative message about money …).
//! Rules need no model: keyword and regex rules apply with `--no-enrich` too.

use crate::config::RiskConfig;
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex::Regex;

struct Rule {
    name: String,
    has_text_condition: bool,
    regexes: Vec<Regex>,
    categories: Vec<String>,
    sentiment_below_milli: Option<i32>,
}

pub struct RiskRules {
    rules: Vec<Rule>,
    keywords: AhoCorasick,
    /// keyword pattern index → rule index
    keyword_rule: Vec<usize>,
}

impl RiskRules {
    pub fn new(configs: &[RiskConfig]) -> Self {
        let mut patterns = Vec::new();
        let mut keyword_rule = Vec::new();
        let rules = configs
            .iter()
            .enumerate()
            .map(|(i, r)| {
                for k in &r.keywords {
                    patterns.push(k.to_lowercase());
                    keyword_rule.push(i);
                }
                Rule {
                    name: r.name.clone(),
                    has_text_condition: !r.keywords.is_empty() || !r.regex.is_empty(),
                    // Validated when the configuration was loaded.
                    regexes: r.regex.iter().filter_map(|p| Regex::new(p).ok()).collect(),
                    categories: r.categories.clone(),
                    sentiment_below_milli: r.sentiment_below.map(|s| (s * 1000.0).round() as i32),
                }
            })
            .collect();
        // A full DFA: a few dozen keywords make a small one, and every message is searched.
        let keywords = AhoCorasickBuilder::new()
            .kind(Some(aho_corasick::AhoCorasickKind::DFA))
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(&patterns)
            .expect("risk keyword automaton");
        RiskRules { rules, keywords, keyword_rule }
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The first rule (in configuration order) the message satisfies.
    pub fn classify(&self, text: &str, category: &str, sentiment_milli: i32) -> Option<&str> {
        if self.rules.is_empty() {
            return None;
        }
        // Most messages contain no keyword at all: one prefiltered search tells, and the
        // overlapping scan (which rules' keywords occur) runs only on those that do.
        let mut keyword_hit = Vec::new();
        if self.keywords.is_match(text) {
            keyword_hit = vec![false; self.rules.len()];
            for m in self.keywords.find_overlapping_iter(text) {
                keyword_hit[self.keyword_rule[m.pattern().as_usize()]] = true;
            }
        }
        self.rules
            .iter()
            .enumerate()
            .find(|(i, rule)| {
                let keyword_hit = keyword_hit.get(*i).copied().unwrap_or(false);
                let category_ok = rule.categories.is_empty() || rule.categories.iter().any(|c| c == category);
                let sentiment_ok = rule.sentiment_below_milli.is_none_or(|below| sentiment_milli < below);
                // The regexes last: they are the costly condition.
                category_ok
                    && sentiment_ok
                    && (!rule.has_text_condition || keyword_hit || rule.regexes.iter().any(|r| r.is_match(text)))
            })
            .map(|(_, rule)| rule.name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn default_rules_catch_threats_fraud_and_leaks() {
        let rules = RiskRules::new(&Config::embedded().risks);
        let risk = |text: &str, category: &str, sentiment: i32| rules.classify(text, category, sentiment);
        assert_eq!(risk("再不退款我就去法院起诉你们", "refund", -600), Some("legal_threat"));
        assert_eq!(risk("已经投诉到12315了", "other", -300), Some("regulator"));
        assert_eq!(risk("I will SUE you", "other", 0), Some("legal_threat"));
        assert_eq!(risk("活着没意思，不想活了", "other", -900), Some("self_harm"));
        assert_eq!(risk("我的卡被盗刷了三千块", "payment", -700), Some("fraud"));
        assert_eq!(risk("我的手机号被泄露了，天天接到骚扰电话", "other", -500), Some("data_leak"));
        assert_eq!(risk("界面不好看", "ux", -400), None);
    }

    #[test]
    fn every_condition_given_must_hold() {
        let configs = vec![RiskConfig {
            name: "vip_legal".into(),
            keywords: vec![],
            regex: vec![r"(?i)\blawyer\b".into()],
            categories: vec!["payment".into()],
            sentiment_below: Some(-0.5),
        }];
        let rules = RiskRules::new(&configs);
        assert_eq!(rules.classify("my lawyer will call", "payment", -600), Some("vip_legal"));
        assert_eq!(rules.classify("my lawyers will call", "payment", -600), None, "regex word boundary");
        assert_eq!(rules.classify("my lawyer will call", "ads", -600), None);
        assert_eq!(rules.classify("my lawyer will call", "payment", -100), None);
    }
}
