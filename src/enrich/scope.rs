//! Business lines and campaigns as configuration: each `[[scope]]` names the value a message
//! gets in its dimension when its matchers hold (docs/configuration.md § Scopes). Evaluated in
//! admission after cleaning and enrichment; an upstream value wins. As in the taxonomy, rules
//! come first: the first scope of the dimension (in configuration order) whose keyword or regex
//! matches, or that has no text matcher, wins; only when none does, the scope with the most
//! similar example (at least its `example_threshold`) does. A message like the examples of
//! several lines goes to the nearest, not to whichever was written first.

use super::encoder::DIM;
use super::keywords::KeywordSets;
use super::Embedder;
use crate::config::{Dimension, ScopeConfig};
use crate::event::{Event, SmolStr};
use regex::Regex;

struct Scope {
    name: SmolStr,
    dimension: Dimension,
    channels: Vec<String>,
    meta: Vec<(String, String)>,
    has_text_matcher: bool,
    regexes: Vec<Regex>,
    /// Indexes of this scope's examples in `ScopeMatcher::examples` (rows of `DIM`).
    examples: std::ops::Range<usize>,
    example_threshold: f32,
    from_ms: Option<i64>,
    until_ms: Option<i64>,
}

pub struct ScopeMatcher {
    scopes: Vec<Scope>,
    /// Each scope's keywords.
    keywords: KeywordSets,
    /// The examples' unit embeddings, `DIM` values each.
    examples: Vec<f32>,
    needs_meta: bool,
}

impl ScopeMatcher {
    /// `embedder`: what embeds the examples (`None` without models: example matchers never hold).
    pub fn new(configs: &[ScopeConfig], default_threshold: f64, embedder: Option<&Embedder>) -> Self {
        let mut example_texts: Vec<&str> = Vec::new();
        let scopes = configs
            .iter()
            .map(|s| {
                let first_example = example_texts.len();
                if embedder.is_some() {
                    example_texts.extend(s.examples.iter().map(String::as_str));
                }
                let (from_ms, until_ms) = s.active_range();
                Scope {
                    name: SmolStr::new(&s.name),
                    dimension: s.dimension(),
                    channels: s.channels.clone(),
                    meta: s.meta_matchers(),
                    has_text_matcher: s.has_text_matcher(),
                    // Validated when the configuration was loaded.
                    regexes: s.regex.iter().filter_map(|p| Regex::new(p).ok()).collect(),
                    examples: first_example..example_texts.len(),
                    example_threshold: s.example_threshold.unwrap_or(default_threshold) as f32,
                    from_ms,
                    until_ms,
                }
            })
            .collect::<Vec<_>>();
        let keywords = KeywordSets::new(configs.iter().map(|s| s.keywords.as_slice()), &[]);
        let examples = match embedder {
            Some(e) if !example_texts.is_empty() => e.embed(&example_texts),
            _ => Vec::new(),
        };
        let needs_meta = scopes.iter().any(|s| !s.meta.is_empty());
        ScopeMatcher { scopes, keywords, examples, needs_meta }
    }

    pub fn is_empty(&self) -> bool {
        self.scopes.is_empty()
    }

    /// How many scopes there are: the indexes [`ScopeMatcher::apply`] reports lie below it.
    pub fn len(&self) -> usize {
        self.scopes.len()
    }

    /// Whether some scope matches by example, so every message needs its embedding.
    pub fn needs_embedding(&self) -> bool {
        !self.examples.is_empty()
    }

    /// The scopes' `(dimension, name)`, indexed like the indexes [`ScopeMatcher::apply`] reports.
    pub fn names(&self) -> Vec<(&'static str, String)> {
        self.scopes.iter().map(|s| (s.dimension.as_str(), s.name.to_string())).collect()
    }

    /// Sets `business` and `campaign` of an event that came without them to the first scope of
    /// that dimension that matches; calls `matched` with the index of each scope that did.
    /// `embedding`: the message's unit embedding, when it was computed.
    pub fn apply(&self, event: &mut Event, embedding: Option<&[f32]>, mut matched: impl FnMut(usize)) {
        let open = |d: Dimension, e: &Event| match d {
            Dimension::Business => e.business.is_none(),
            _ => e.campaign.is_none(),
        };
        if self.scopes.is_empty() || !(open(Dimension::Business, event) || open(Dimension::Campaign, event)) {
            return;
        }
        let keyword_hit =
            if self.keywords.may_match(&event.text) { self.keywords.scan(&event.text) } else { Vec::new() };
        let meta: Option<serde_json::Map<String, serde_json::Value>> =
            if self.needs_meta { event.meta.as_deref().and_then(|m| serde_json::from_str(m).ok()) } else { None };
        for dimension in [Dimension::Business, Dimension::Campaign] {
            if !open(dimension, event) {
                continue;
            }
            let candidates = || {
                self.scopes
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| s.dimension == dimension && self.holds(s, event, meta.as_ref()))
            };
            let by_rule = candidates().find(|(i, s)| {
                !s.has_text_matcher
                    || keyword_hit.get(*i).copied().unwrap_or(false)
                    || s.regexes.iter().any(|r| r.is_match(&event.text))
            });
            let by_example = || {
                let scored = candidates().filter_map(|(i, s)| self.example_similarity(s, embedding).map(|c| (i, s, c)));
                scored
                    .filter(|(_, s, c)| *c >= s.example_threshold)
                    .max_by(|a, b| a.2.total_cmp(&b.2))
                    .map(|(i, s, _)| (i, s))
            };
            let found = by_rule.or_else(by_example);
            if let Some((i, s)) = found {
                match dimension {
                    Dimension::Business => event.business = Some(s.name.clone()),
                    _ => event.campaign = Some(s.name.clone()),
                }
                matched(i);
            }
        }
    }

    /// The matchers that are not about the text: channel, meta fields, active range.
    fn holds(&self, s: &Scope, event: &Event, meta: Option<&serde_json::Map<String, serde_json::Value>>) -> bool {
        let channel_ok = s.channels.is_empty() || s.channels.iter().any(|c| *c == event.channel);
        let meta_ok = s.meta.iter().all(|(k, want)| match meta.and_then(|m| m.get(k)) {
            Some(serde_json::Value::String(v)) => v == want,
            Some(serde_json::Value::Bool(b)) => want == if *b { "true" } else { "false" },
            Some(serde_json::Value::Number(n)) => n.as_f64().is_some_and(|n| want.parse::<f64>() == Ok(n)),
            _ => false,
        });
        let time_ok = s.from_ms.is_none_or(|f| event.ts_ms >= f) && s.until_ms.is_none_or(|u| event.ts_ms < u);
        channel_ok && meta_ok && time_ok
    }

    /// The cosine of the message to the scope's most similar example (`None`: the scope has
    /// no examples, or the message no embedding).
    fn example_similarity(&self, s: &Scope, embedding: Option<&[f32]>) -> Option<f32> {
        let v = embedding.filter(|v| v.len() == DIM)?;
        s.examples
            .clone()
            .map(|e| self.examples[e * DIM..(e + 1) * DIM].iter().zip(v).map(|(a, b)| a * b).sum::<f32>())
            .max_by(f32::total_cmp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(toml_text: &str) -> Vec<ScopeConfig> {
        #[derive(serde::Deserialize)]
        struct File {
            scope: Vec<ScopeConfig>,
        }
        toml::from_str::<File>(toml_text).unwrap().scope
    }

    fn event(text: &str, channel: &str, ts_ms: i64, meta: Option<&str>) -> Event {
        Event { text: text.into(), channel: channel.into(), ts_ms, meta: meta.map(String::from), ..Default::default() }
    }

    /// The business `m` names for `text` from the app, embedded by `embedder` when given.
    fn business_of(m: &ScopeMatcher, text: &str, embedder: Option<&Embedder>) -> Option<String> {
        let mut e = event(text, "app", 0, None);
        let embedding = embedder.map(|x| x.embed(&[text]));
        m.apply(&mut e, embedding.as_deref(), |_| {});
        e.business.map(|b| b.to_string())
    }

    const SCOPES: &str = r#"
        [[scope]]
        name = "live"
        dimension = "business"
        channels = ["app", "hotline"]
        keywords = ["直播", "主播", "Gift"]

        [[scope]]
        name = "kwai-live"
        dimension = "business"
        meta = { app = "kwai-live", build = 812 }

        [[scope]]
        name = "shop"
        dimension = "business"
        regex = ["订单\\d+"]

        [[scope]]
        name = "double11"
        dimension = "campaign"
        from = "2026-11-01T00:00:00+08:00"
        until = "2026-11-12T00:00:00+08:00"
    "#;

    #[test]
    fn every_matcher_given_must_hold_and_the_first_scope_wins() {
        let m = ScopeMatcher::new(&scopes(SCOPES), 0.5, None);
        let nov5 = 1_793_808_000_000; // 2026-11-05 00:00 +08:00
        let mut hits = Vec::new();
        let mut e = event("给主播刷的礼物没到账", "app", nov5, None);
        m.apply(&mut e, None, |i| hits.push(i));
        assert_eq!((e.business.as_deref(), e.campaign.as_deref()), (Some("live"), Some("double11")));
        assert_eq!(hits, vec![0, 3]);
        // A keyword on the wrong channel: the channel matcher fails; case-insensitive ASCII.
        let mut web = event("the GIFT never arrived", "web", 0, None);
        m.apply(&mut web, None, |_| {});
        assert_eq!((web.business, web.campaign), (None, None), "outside the campaign's range too");
        let mut gift = event("the GIFT never arrived", "hotline", 0, None);
        m.apply(&mut gift, None, |_| {});
        assert_eq!(gift.business.as_deref(), Some("live"));
        // Meta matchers compare strings and numbers as written.
        let mut meta = event("卡顿", "web", 0, Some(r#"{"app":"kwai-live","build":812}"#));
        m.apply(&mut meta, None, |_| {});
        assert_eq!(meta.business.as_deref(), Some("kwai-live"));
        let mut other_build = event("卡顿", "web", 0, Some(r#"{"app":"kwai-live","build":813}"#));
        m.apply(&mut other_build, None, |_| {});
        assert_eq!(other_build.business, None);
        let mut regex = event("订单123没发货", "web", 0, None);
        m.apply(&mut regex, None, |_| {});
        assert_eq!(regex.business.as_deref(), Some("shop"));
        // An upstream value wins.
        let mut upstream = event("直播卡了", "app", nov5, None);
        upstream.business = Some("ads".into());
        m.apply(&mut upstream, None, |_| {});
        assert_eq!(upstream.business.as_deref(), Some("ads"));
        // The range is half-open: `until` itself is outside.
        let mut at_until = event("x", "web", 1_794_412_800_000, None);
        m.apply(&mut at_until, None, |_| {});
        assert_eq!(at_until.campaign, None);
    }

    #[test]
    fn rules_win_in_order_and_otherwise_the_nearest_example_does() {
        let configs = scopes(
            r#"
            [[scope]]
            name = "shop"
            dimension = "business"
            examples = ["快递三天了还没发货"]
            example_threshold = 0.1

            [[scope]]
            name = "live"
            dimension = "business"
            examples = ["给主播刷的礼物没到账"]
            example_threshold = 0.1

            [[scope]]
            name = "refunds"
            dimension = "business"
            keywords = ["退款"]
        "#,
        );
        let embedder = Embedder::HashedNgrams;
        let m = ScopeMatcher::new(&configs, 0.5, Some(&embedder));
        let business = |text| business_of(&m, text, Some(&embedder));
        assert_eq!(
            business("给主播刷的礼物一直没到账").as_deref(),
            Some("live"),
            "the nearer example, though `shop` comes first"
        );
        assert_eq!(
            business("给主播刷的礼物没到账，要求退款").as_deref(),
            Some("refunds"),
            "a keyword rule wins over any example"
        );
    }

    #[test]
    fn examples_match_by_embedding_similarity() {
        let configs = scopes(
            r#"
            [[scope]]
            name = "live"
            dimension = "business"
            examples = ["给主播刷的礼物没到账"]
            example_threshold = 0.6
        "#,
        );
        let embedder = Embedder::HashedNgrams;
        let m = ScopeMatcher::new(&configs, 0.5, Some(&embedder));
        assert!(m.needs_embedding());
        assert_eq!(business_of(&m, "给主播刷的礼物一直没到账", Some(&embedder)).as_deref(), Some("live"));
        assert_eq!(business_of(&m, "快递三天了还没发货", Some(&embedder)), None);
        let no_embedding = business_of(&m, "给主播刷的礼物一直没到账", None);
        assert_eq!(no_embedding, None, "without an embedding an example cannot match");
    }
}
