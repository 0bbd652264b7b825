//! High-risk messages: the `[[risk]]` rules of the dataflow configuration (legal threats,
//! regulators, self-harm, fraud, data leaks, a strongly negative message about money …).
//! Rules need no model: keyword and regex rules apply with `--no-enrich` too.

use super::keywords::KeywordSets;
use crate::config::RiskConfig;
use regex::Regex;

struct Rule {
    name: String,
    has_text_condition: bool,
    regexes: Vec<Regex>,
    /// Whether every match of every regex starts with a pair of characters the pair filter
    /// holds, so that a text the filter rejects needs no regex search either.
    regexes_filtered: bool,
    categories: Vec<String>,
    sentiment_below_milli: Option<i32>,
}

pub struct RiskRules {
    rules: Vec<Rule>,
    /// Each rule's keywords; the pair filter also holds the literals the regexes start with.
    keywords: KeywordSets,
}

impl RiskRules {
    pub fn new(configs: &[RiskConfig]) -> Self {
        // The literals every match of a regex starts with, for the pair filter.
        let mut regex_starts = Vec::new();
        let rules = configs
            .iter()
            .map(|r| {
                let starts: Option<Vec<Vec<String>>> = r.regex.iter().map(|p| match_starts(p)).collect();
                let regexes_filtered = starts.is_some();
                regex_starts.extend(starts.into_iter().flatten().flatten());
                Rule {
                    name: r.name.clone(),
                    has_text_condition: !r.keywords.is_empty() || !r.regex.is_empty(),
                    // Validated when the configuration was loaded.
                    regexes: r.regex.iter().filter_map(|p| Regex::new(p).ok()).collect(),
                    regexes_filtered,
                    categories: r.categories.clone(),
                    sentiment_below_milli: r.sentiment_below.map(|s| (s * 1000.0).round() as i32),
                }
            })
            .collect();
        let keywords = KeywordSets::new(configs.iter().map(|r| r.keywords.as_slice()), &regex_starts);
        RiskRules { rules, keywords }
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The first rule (in configuration order) the message satisfies.
    pub fn classify(&self, text: &str, category: &str, sentiment_milli: i32) -> Option<&str> {
        if self.rules.is_empty() {
            return None;
        }
        // Most messages contain no keyword at all; the pair filter tells, and the automaton's
        // scan (which rules' keywords occur) runs only on the others.
        let may_match = self.keywords.may_match(text);
        let keyword_hit = if may_match { self.keywords.scan(text) } else { Vec::new() };
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
                    && (!rule.has_text_condition
                        || keyword_hit
                        || ((may_match || !rule.regexes_filtered) && rule.regexes.iter().any(|r| r.is_match(text))))
            })
            .map(|(_, rule)| rule.name.as_str())
    }
}

/// The literals every match of `pattern` starts with, each at least two characters long, or
/// `None` when no such finite set exists (the regex must then run on every text). For
/// `(?i)\bsue\b` these are the case variants of `sue`, Unicode's `ſ` (long s) among them.
fn match_starts(pattern: &str) -> Option<Vec<String>> {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    let hir = regex_syntax::Parser::new().parse(pattern).ok()?;
    let seq = Extractor::new().kind(ExtractKind::Prefix).extract(&hir);
    let literals = seq.literals()?;
    literals
        .iter()
        .map(|l| {
            let text = std::str::from_utf8(l.as_bytes()).ok()?;
            (text.chars().count() >= 2).then(|| text.to_string())
        })
        .collect()
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
    fn regexes_run_only_where_the_pair_filter_lets_them() {
        let starts = match_starts(r"(?i)\bsue\b").expect("a finite set");
        assert!(starts.contains(&"sue".to_string()) && starts.contains(&"SuE".to_string()), "{starts:?}");
        assert!(starts.iter().any(|s| s.starts_with('ſ')), "Unicode case folding: {starts:?}");
        assert_eq!(match_starts(r"\d+元"), None, "too many starts");
        assert_eq!(match_starts(r"(?i)a\w"), None, "a one-character start");
        assert_eq!(match_starts("x|yz"), None);
        // With and without the filter, the same rule fires on every text.
        let configs = vec![
            RiskConfig {
                name: "words".into(),
                keywords: vec!["律师".into()],
                regex: vec![r"(?i)\bsue\b".into(), r"(?i)court\s+date".into()],
                categories: vec![],
                sentiment_below: None,
            },
            RiskConfig {
                name: "money".into(),
                keywords: vec![],
                regex: vec![r"\d{4,}元".into()],
                categories: vec![],
                sentiment_below: None,
            },
        ];
        let rules = RiskRules::new(&configs);
        assert!(rules.rules[0].regexes_filtered && !rules.rules[1].regexes_filtered);
        let mut unfiltered = RiskRules::new(&configs);
        unfiltered.keywords.drop_filter();
        let pieces =
            ["we will ", "SUE", "ſue", "sue", "issue", "Court  Date", "court", "律师", "退了 ", "12345元", "，", "x"];
        let mut rng = crate::util::SplitMix::new(9);
        let (mut fired, mut skipped) = (0, 0);
        for _ in 0..20_000 {
            let text: String = (0..rng.below(6)).map(|_| *rng.pick::<&str>(&pieces)).collect();
            let with = rules.classify(&text, "other", 0);
            assert_eq!(with, unfiltered.classify(&text, "other", 0), "{text}");
            fired += with.is_some() as usize;
            skipped += !rules.keywords.may_match(&text) as usize;
        }
        assert!(fired > 5000 && skipped > 1000, "{fired} fired, {skipped} skipped every search");
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
