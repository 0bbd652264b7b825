//! `[[scope]]` (business lines and campaigns as configuration), `[[aggregate]]` (combined keys
//! kept without a rule) and `[calendar]` (the zone local days follow) of `dataflows/*.toml`.

use super::key::{Dimension, Key, KeySpec};
use crate::util::calendar::Calendar;
use serde::Deserialize;
use std::collections::BTreeMap;

/// One scope as written: the value `name` a message gets in `dimension` when every matcher
/// given holds and, if a text matcher is given, one of them does.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeConfig {
    pub name: String,
    /// `business` or `campaign` (text, so that a wrong one is reported with the file's other
    /// problems instead of hiding them).
    pub dimension: String,
    /// The message's channel is one of these.
    #[serde(default)]
    pub channels: Vec<String>,
    /// Each of these `meta` fields has this value (strings, or numbers and booleans as written).
    #[serde(default)]
    pub meta: BTreeMap<String, toml::Value>,
    /// Text matchers: a keyword (case-insensitive), a regex, or an example whose embedding is at
    /// least `example_threshold` from the message's.
    #[serde(default)]
    pub keywords: Vec<String>,
    #[serde(default)]
    pub regex: Vec<String>,
    #[serde(default)]
    pub examples: Vec<String>,
    /// Default: `[enrich] example_threshold`.
    pub example_threshold: Option<f64>,
    /// Active range of event time, RFC 3339 with an offset (`2026-11-01T00:00:00+08:00`).
    pub from: Option<String>,
    pub until: Option<String>,
}

impl ScopeConfig {
    /// The dimension the scope sets (validated to be business or campaign).
    pub fn dimension(&self) -> Dimension {
        match self.dimension.as_str() {
            "campaign" => Dimension::Campaign,
            _ => Dimension::Business,
        }
    }

    pub fn has_text_matcher(&self) -> bool {
        !self.keywords.is_empty() || !self.regex.is_empty() || !self.examples.is_empty()
    }

    /// The `meta` matchers with their values as text (`812`, `true`), as JSON writes them.
    pub fn meta_matchers(&self) -> Vec<(String, String)> {
        let text = |v: &toml::Value| match v {
            toml::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        self.meta.iter().map(|(k, v)| (k.clone(), text(v))).collect()
    }

    /// `from` and `until` in epoch ms (validated when the configuration was loaded).
    pub fn active_range(&self) -> (Option<i64>, Option<i64>) {
        let ms = |t: &Option<String>| t.as_deref().and_then(|t| parse_instant(t).ok());
        (ms(&self.from), ms(&self.until))
    }
}

fn parse_instant(text: &str) -> Result<i64, String> {
    text.parse::<jiff::Timestamp>()
        .map(|t| t.as_millisecond())
        .map_err(|e| format!("`{text}` is not an RFC 3339 time with an offset ({e})"))
}

pub(super) fn check_scope(s: &ScopeConfig, earlier: &[ScopeConfig], problem: &mut dyn FnMut(String)) {
    if s.name.trim().is_empty() {
        problem("name is empty".into());
    }
    if !matches!(s.dimension.as_str(), "business" | "campaign") {
        problem(format!("dimension must be business or campaign, not `{}`", s.dimension));
    }
    if earlier.iter().any(|o| o.name == s.name && o.dimension == s.dimension) {
        problem(format!("{} scope `{}` is defined twice", s.dimension.as_str(), s.name));
    }
    let any_matcher = s.has_text_matcher() || !s.channels.is_empty() || !s.meta.is_empty();
    if !any_matcher && s.from.is_none() && s.until.is_none() {
        problem("has no matcher (channels, meta, keywords, regex, examples, from or until)".into());
    }
    for (field, value) in &s.meta {
        if matches!(value, toml::Value::Array(_) | toml::Value::Table(_) | toml::Value::Datetime(_)) {
            problem(format!("meta.{field} must be a string, number or boolean"));
        }
    }
    for pattern in &s.regex {
        if let Err(e) = regex::Regex::new(pattern) {
            problem(format!("bad regex `{pattern}`: {e}"));
        }
    }
    if s.keywords.iter().chain(&s.examples).any(|k| k.trim().is_empty()) {
        problem("empty keyword or example".into());
    }
    if let Some(t) = s.example_threshold {
        if !(t > 0.0 && t <= 1.0) {
            problem("example_threshold must lie in (0, 1]".into());
        }
        if s.examples.is_empty() {
            problem("example_threshold without examples".into());
        }
    }
    let range: Vec<Option<i64>> = [&s.from, &s.until]
        .into_iter()
        .map(|t| match t.as_deref().map(parse_instant) {
            Some(Err(e)) => {
                problem(e);
                None
            }
            Some(Ok(ms)) => Some(ms),
            None => None,
        })
        .collect();
    if let [Some(from), Some(until)] = range[..] {
        if from >= until {
            problem("`from` must lie before `until`".into());
        }
    }
}

/// `[[aggregate]] keys = ["business", "category"]`: a combined key whose windows are kept (and
/// written to Redis) though no rule judges them.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AggregateFile {
    pub keys: KeySpec,
    /// The window sizes kept for it (default: every dataflow window). A key no rule judges
    /// needs only what its readers read: `["1h"]` for daily reports.
    pub windows: Option<Vec<super::HumanDuration>>,
}

/// `[calendar] timezone = "Asia/Shanghai"`: windows of a day or longer start at its midnight.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CalendarFile {
    pub timezone: String,
}

/// A combined key as an aggregate table names it, or the reason it is not one.
pub(super) fn aggregate_key(a: &AggregateFile) -> Result<Key, String> {
    let key = a.keys.key().map_err(|e| e.to_string())?;
    if !key.is_combined() {
        return Err(format!("keys = \"{key}\" is kept anyway; [[aggregate]] names combined keys (a list of 2 or 3)"));
    }
    Ok(key)
}

pub(super) fn calendar(c: &CalendarFile) -> Result<Calendar, String> {
    Calendar::named(&c.timezone)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(toml_text: &str) -> ScopeConfig {
        toml::from_str(toml_text).unwrap()
    }

    fn problems(s: &ScopeConfig, earlier: &[ScopeConfig]) -> Vec<String> {
        let mut found = Vec::new();
        check_scope(s, earlier, &mut |m| found.push(m));
        found
    }

    #[test]
    fn scopes_need_a_matcher_a_known_dimension_and_ordered_times() {
        let bare = scope("name = \"live\"\ndimension = \"business\"");
        assert_eq!(
            problems(&bare, &[]),
            vec!["has no matcher (channels, meta, keywords, regex, examples, from or until)"]
        );
        let wrong = scope("name = \"x\"\ndimension = \"category\"\nkeywords = [\"a\"]");
        assert!(problems(&wrong, &[])[0].contains("business or campaign"));
        let times = scope(
            "name = \"d11\"\ndimension = \"campaign\"\nfrom = \"2026-11-12T00:00:00+08:00\"\nuntil = \"2026-11-01T00:00:00+08:00\"",
        );
        assert_eq!(problems(&times, &[]), vec!["`from` must lie before `until`"]);
        let bad_time = scope("name = \"d11\"\ndimension = \"campaign\"\nfrom = \"yesterday\"");
        assert!(problems(&bad_time, &[])[0].contains("RFC 3339"));
        let ok = scope("name = \"live\"\ndimension = \"business\"\nkeywords = [\"直播\"]\nregex = [\"(\"]");
        assert!(problems(&ok, &[])[0].contains("bad regex"));
        let good = scope("name = \"live\"\ndimension = \"business\"\nkeywords = [\"直播\"]");
        assert!(problems(&good, &[]).is_empty());
        assert!(problems(&good, std::slice::from_ref(&good))[0].contains("defined twice"));
        let ranged = scope("name = \"d11\"\ndimension = \"campaign\"\nfrom = \"2026-11-01T00:00:00+08:00\"");
        assert_eq!(ranged.active_range(), (Some(1_793_462_400_000), None));
    }

    #[test]
    fn aggregates_name_combined_keys_only() {
        let with_windows: AggregateFile =
            toml::from_str("keys = [\"business\", \"category\"]\nwindows = [\"1h\"]").unwrap();
        assert_eq!(with_windows.windows.unwrap()[0].as_secs(), 3600);
        let single: AggregateFile = toml::from_str("keys = \"business\"").unwrap();
        assert!(aggregate_key(&single).unwrap_err().contains("combined keys"));
        let pair: AggregateFile = toml::from_str("keys = [\"campaign\", \"category\"]").unwrap();
        assert_eq!(aggregate_key(&pair).unwrap().name(), "campaign|category");
        let bad: AggregateFile = toml::from_str("keys = [\"campaign\", \"region\"]").unwrap();
        assert!(aggregate_key(&bad).unwrap_err().contains("unknown dimension `region`"));
    }
}
