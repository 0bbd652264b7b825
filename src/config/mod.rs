//! Configuration: `dataflows/*.toml` (sources, cleaning, windows, taxonomy) and `alerts/*.toml`
//! (rules). Built-in defaults are embedded so `feedpulse demo` needs no files. Loading validates
//! everything up front and reports every error at once, each with `file:line`.

mod duration;
mod escalation;
pub mod key;
mod qa;
pub mod reload;
mod report;
mod rule_checks;
mod rules;
mod schema;
mod scope;
mod summarizer;
pub mod threshold;
mod tickets;
mod validate;

pub use rules::*;
pub use schema::*;

pub use duration::{parse_duration, DurationError, HumanDuration};
pub use escalation::{handoff_rule, Escalation, RiskMatch, HANDOFF_RULE};
pub use key::{Dimension, Key, KeyError, KeySpec};
pub use qa::{qa_rule, Check, Forbidden, QaSheet, QA_RULE};
pub use report::{ReportConfig, ReportSchedule};
pub use scope::ScopeConfig;
pub use summarizer::{SummarizerConfig, DEFAULT_PROMPT, DEFAULT_SCHEMA};
pub use threshold::{KpiMetric, ThresholdRule};
pub use tickets::{sla_rule, SlaConfig, SlaKind, Span, TicketStatus, TicketsConfig, SLA_RULE};

use std::fmt;
use std::path::Path;

pub const DEFAULT_DATAFLOW: &str = include_str!("../../dataflows/default.toml");
/// The category of a message no rule or classifier placed.
pub const OTHER: &str = "other";
pub const DEFAULT_ALERTS: &str = include_str!("../../alerts/default.toml");

/// The combined keys `rules` judge, sorted, each once.
fn judged_combined_keys(rules: &[RuleConfig]) -> Vec<Key> {
    let mut keys: Vec<Key> =
        rules.iter().filter_map(|r| r.watch()).map(|w| w.key).filter(|k| k.is_combined()).collect();
    keys.sort();
    keys.dedup();
    keys
}

/// The validated configuration everything else reads.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub ingest: IngestConfig,
    pub windows: Vec<WindowConfig>,
    pub clean: CleanConfig,
    pub pii: PiiConfig,
    pub enrich: EnrichConfig,
    pub categories: Vec<CategoryConfig>,
    pub risks: Vec<RiskConfig>,
    /// Business lines and campaigns, in the order written (the first match per dimension wins).
    pub scopes: Vec<ScopeConfig>,
    /// The combined keys whose windows are kept: those some rule judges or an `[[aggregate]]`
    /// names. Single dimensions are always kept.
    pub combined_keys: Vec<Key>,
    /// The window sizes (s) kept for combined keys only an `[[aggregate]]` names and limits; the
    /// others keep every window.
    pub aggregate_windows: Vec<(Key, Vec<u32>)>,
    /// The zone whose midnight starts windows of a day or longer (`[calendar]`, UTC by default).
    pub calendar: crate::util::calendar::Calendar,
    /// What spike and dip alerts name as their drivers.
    pub attribution: AttributionConfig,
    /// How conversations are followed (`[conversation]`).
    pub conversation: ConversationConfig,
    /// How ticket lifecycles become KPI windows and SLA breaches (`[tickets]`).
    pub tickets: TicketsConfig,
    /// `[[qa]]` score sheets of conversations' agent turns (in `alerts/`; a restart applies them).
    pub qa: Vec<QaSheet>,
    /// `None`: no clustering.
    pub cluster: Option<ClusterConfig>,
    pub rules: Vec<RuleConfig>,
    /// Base URL used in alerts' `generator_url`.
    pub public_url: String,
    pub redis: Option<RedisConfig>,
    pub alertmanager: Option<AlertmanagerConfig>,
    pub webhooks: Vec<WebhookConfig>,
    /// `[summarizer]`: LLM summaries of firing alerts; `None`: off.
    pub summarizer: Option<SummarizerConfig>,
    /// `[[report]]`: scheduled digests.
    pub reports: Vec<ReportSchedule>,
}

/// Where a configuration comes from, so that a reload reads it the same way the start did: a
/// directory (or the embedded defaults), rule files replacing its `alerts/`, and the
/// command-line overrides of the Redis and Alertmanager addresses.
#[derive(Clone, Debug, Default)]
pub struct ConfigSource {
    pub dir: Option<std::path::PathBuf>,
    pub rules: Vec<std::path::PathBuf>,
    pub redis_url: Option<String>,
    pub alertmanager_url: Option<String>,
    /// The zone of the embedded dataflow's days (`None`: UTC); files in `dir` name their own.
    pub embedded_timezone: Option<&'static str>,
}

impl ConfigSource {
    pub fn load(&self) -> Result<Config, ConfigErrors> {
        let mut config = Config::load_in(self.dir.as_deref(), &self.rules, self.embedded_timezone)?;
        if let Some(url) = &self.alertmanager_url {
            match &mut config.alertmanager {
                Some(am) => am.url = url.clone(),
                None => config.alertmanager = Some(AlertmanagerConfig::at(url)),
            }
        }
        if let Some(url) = &self.redis_url {
            match &mut config.redis {
                Some(redis) => redis.url = url.clone(),
                None => config.redis = Some(RedisConfig::at(url)),
            }
            if let Some(Err(message)) = config.redis.as_ref().map(RedisConfig::endpoint) {
                return Err(ConfigErrors(vec![ConfigError { file: "--redis".into(), line: 0, message }]));
            }
        }
        Ok(config)
    }
}

/// One configuration problem, located in its file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

/// Every problem found in a configuration, reported together.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration ({} problem{}):\n{}", .0.len(), if .0.len() == 1 { "" } else { "s" },
        .0.iter().map(|e| format!("  {e}")).collect::<Vec<_>>().join("\n"))]
pub struct ConfigErrors(pub Vec<ConfigError>);

/// A configuration source: a name for messages and its TOML text.
pub struct Source {
    pub name: String,
    pub text: String,
}

fn read_source(path: &Path, errors: &mut Vec<ConfigError>) -> Option<Source> {
    match std::fs::read_to_string(path) {
        Ok(text) => Some(Source { name: path.display().to_string(), text }),
        Err(e) => {
            errors.push(ConfigError { file: path.display().to_string(), line: 0, message: e.to_string() });
            None
        }
    }
}

/// Every `*.toml` of a folder, in name order.
fn read_toml_dir(folder: &Path, errors: &mut Vec<ConfigError>) -> Vec<Source> {
    let mut paths: Vec<_> = match std::fs::read_dir(folder) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect(),
        Err(e) => {
            errors.push(ConfigError { file: folder.display().to_string(), line: 0, message: e.to_string() });
            return Vec::new();
        }
    };
    paths.sort();
    paths.iter().filter_map(|p| read_source(p, errors)).collect()
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

impl Config {
    /// The configuration embedded in the binary.
    pub fn embedded() -> Config {
        Self::load(None, &[]).expect("the embedded default configuration is valid")
    }

    /// The embedded dataflow with these alert rules instead of the default ones.
    pub fn embedded_with_rules(rules: Source) -> Result<Config, ConfigErrors> {
        let flow = Source { name: "dataflows/default.toml (embedded)".into(), text: DEFAULT_DATAFLOW.into() };
        Self::from_sources(vec![flow], vec![rules])
    }

    /// Loads `DIR/dataflows/*.toml` and `DIR/alerts/*.toml` (or, when DIR itself is a
    /// `dataflows/` folder, its sibling `alerts/`). Files are read in name order.
    pub fn load_dir(dir: &Path) -> Result<Config, ConfigErrors> {
        Self::load(Some(dir), &[])
    }

    /// The configuration a command runs with: the dataflow files of `dir` (the embedded ones
    /// without it), and the alert rules of `rules` when given, else those of `dir` (or embedded).
    pub fn load(dir: Option<&Path>, rules: &[std::path::PathBuf]) -> Result<Config, ConfigErrors> {
        Self::load_in(dir, rules, None)
    }

    /// [`Config::load`], with the embedded dataflow's days in `timezone` (the demo's Beijing
    /// time) when no `dir` is given.
    pub fn load_in(
        dir: Option<&Path>,
        rules: &[std::path::PathBuf],
        timezone: Option<&str>,
    ) -> Result<Config, ConfigErrors> {
        let mut errors = Vec::new();
        let embedded = match timezone {
            Some(zone) => format!("{DEFAULT_DATAFLOW}\n[calendar]\ntimezone = \"{zone}\"\n"),
            None => DEFAULT_DATAFLOW.to_string(),
        };
        let (flow_sources, dir_alerts) = match dir {
            None => (vec![Source { name: "dataflows/default.toml".into(), text: embedded }], None),
            Some(dir) => {
                let (flows, alerts) = if dir.join("dataflows").is_dir() {
                    (dir.join("dataflows"), dir.join("alerts"))
                } else {
                    (dir.to_path_buf(), dir.parent().unwrap_or(dir).join("alerts"))
                };
                let sources = read_toml_dir(&flows, &mut errors);
                if sources.is_empty() && errors.is_empty() {
                    errors.push(ConfigError {
                        file: flows.display().to_string(),
                        line: 0,
                        message: "no .toml files found".into(),
                    });
                }
                (sources, Some(alerts))
            }
        };
        let alert_sources = if !rules.is_empty() {
            rules.iter().filter_map(|p| read_source(p, &mut errors)).collect()
        } else {
            match dir_alerts {
                Some(alerts) if alerts.is_dir() => read_toml_dir(&alerts, &mut errors),
                Some(_) => Vec::new(),
                None => vec![Source { name: "alerts/default.toml".into(), text: DEFAULT_ALERTS.into() }],
            }
        };
        match Self::from_sources(flow_sources, alert_sources) {
            Ok(config) if errors.is_empty() => Ok(config),
            Ok(_) => Err(ConfigErrors(errors)),
            Err(ConfigErrors(more)) => {
                errors.extend(more);
                Err(ConfigErrors(errors))
            }
        }
    }

    /// The sections that differ from `other` and that only a restart can change: the shape of
    /// the dataflow (windows, ingest, enrichment, clustering, attribution, conversations,
    /// tickets and QA sheets) and the outbound connections.
    /// Everything else (cleaning, PII masking, taxonomy, risk rules, alert rules and
    /// `ingest.max_future`) a reload applies live.
    pub fn restart_only_changes(&self, other: &Config) -> Vec<&'static str> {
        let ingest = |c: &Config| IngestConfig { max_future: HumanDuration::default(), ..c.ingest.clone() };
        let mut changed = Vec::new();
        let mut check = |name: &'static str, same: bool| {
            if !same {
                changed.push(name);
            }
        };
        check("[[window]]", self.windows == other.windows);
        check("[calendar]", self.calendar == other.calendar);
        check("[attribution]", self.attribution == other.attribution);
        check("[conversation]", self.conversation == other.conversation);
        check("[tickets]", self.tickets == other.tickets);
        check("[[qa]]", self.qa == other.qa);
        check(
            "combined keys ([[aggregate]] and rules' keys)",
            (&self.combined_keys, &self.aggregate_windows) == (&other.combined_keys, &other.aggregate_windows),
        );
        check("the combined keys rules judge", self.judged_combined_keys() == other.judged_combined_keys());
        check("[ingest] (other than max_future)", ingest(self) == ingest(other));
        check("[enrich]", self.enrich == other.enrich);
        check("[cluster]", self.cluster == other.cluster);
        check("[redis]", self.redis == other.redis);
        check("[alertmanager]", self.alertmanager == other.alertmanager);
        check("[[webhook]]", self.webhooks == other.webhooks);
        check("[summarizer]", self.summarizer == other.summarizer);
        check("[[report]]", self.reports == other.reports);
        changed
    }

    /// The combined keys some rule judges (the others are kept for Redis only).
    pub fn judged_combined_keys(&self) -> Vec<Key> {
        judged_combined_keys(&self.rules)
    }

    /// The longest retention of any window: events older than this behind the clock are too late.
    pub fn max_retention_ms(&self) -> i64 {
        self.windows.iter().map(|w| w.retention.as_ms()).max().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every problem `f.toml` (dataflow) and `a.toml` (alerts) have together, as reported.
    fn problems(flows: String, alerts: &str) -> Vec<String> {
        let flows = vec![Source { name: "f.toml".into(), text: flows }];
        let alerts = vec![Source { name: "a.toml".into(), text: alerts.into() }];
        Config::from_sources(flows, alerts).unwrap_err().0.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn embedded_defaults_are_valid() {
        let c = Config::embedded();
        assert_eq!(c.windows.len(), 4);
        assert_eq!(c.windows[0].size.as_ms(), 60_000);
        assert!(c.rules.iter().any(|r| r.tag() == RuleTag::Spike));
        assert!(c.rules.iter().any(|r| r.tag() == RuleTag::SentimentDip));
        assert!(c.categories.iter().any(|c| c.name == "payment"));
    }

    #[test]
    fn every_error_is_reported_with_file_and_line() {
        let flows = DEFAULT_DATAFLOW.replace("size = \"5m\"", "size = \"7m\"");
        let alerts = r#"
[[rule]]
name = "a"
kind = "spike"
key = "category"
window = "2m"
sensitivity = -1
min_count = 0
cooldown = "1m"
severity = "loud"
"#;
        let text = problems(flows, alerts);
        assert!(text.iter().any(|t| t.starts_with("f.toml:") && t.contains("divide a day")), "{text:?}");
        for needle in ["window 2m", "sensitivity", "min_count", "baseline", "severity `loud`"] {
            assert!(text.iter().any(|t| t.starts_with("a.toml:2:") && t.contains(needle)), "{needle}: {text:?}");
        }
    }

    #[test]
    fn a_rise_budget_needs_min_expected_and_at_least_an_hour() {
        let alerts = r#"
[[rule]]
name = "a"
kind = "spike"
key = "category"
window = "1m"
baseline = "median_mad"
sensitivity = 5
rise_false_alarm_every = "10m"
severity = "warning"

[[rule]]
name = "b"
kind = "sentiment_dip"
key = "campaign"
window = "5m"
metric = "negative_share"
sensitivity = 3
rise_false_alarm_every = "30d"
severity = "warning"
"#;
        let text = problems(DEFAULT_DATAFLOW.to_string(), alerts);
        for needle in ["rise_false_alarm_every applies with min_expected", "at least 1h, not 10m"] {
            assert!(text.iter().any(|t| t.starts_with("a.toml:2:") && t.contains(needle)), "{needle}: {text:?}");
        }
        assert!(
            text.iter().any(|t| t.starts_with("a.toml:12:") && t.contains("`rise_false_alarm_every` apply to spike")),
            "{text:?}"
        );
    }

    #[test]
    fn scopes_keys_zones_and_day_over_day_rules_are_checked_together() {
        let flows = DEFAULT_DATAFLOW.to_string()
            + "\n[calendar]\ntimezone = \"Mars/Olympus\"\n\n[[scope]]\nname = \"x\"\ndimension = \"region\"\nkeywords = [\"a\"]\n\n[[scope]]\nname = \"y\"\ndimension = \"business\"\n\n[[aggregate]]\nkeys = [\"business\", \"cluster\"]\n\n[[aggregate]]\nkeys = [\"channel\", \"category\"]\nwindows = [\"2h\"]\n";
        let alerts = r#"
[[rule]]
name = "d"
kind = "day_over_day"
key = ["business", "region"]
min_change = 0.5
min_count = 5
period = "36h"
timezone = "Asia/Kolkata"
severity = "warning"

[[rule]]
name = "w"
kind = "day_over_day"
key = ["business", "category"]
period = "14d"
min_change = 0
min_count = 5
severity = "warning"
"#;
        let text = problems(flows, alerts);
        for needle in [
            "scope `x`: dimension must be business or campaign, not `region`",
            "scope `y`: has no matcher",
            "[[aggregate]]: a combined key",
            "unknown time zone `Mars/Olympus`",
            "[[aggregate]] channel|category: window 2h is not a dataflow window",
        ] {
            assert!(text.iter().any(|t| t.starts_with("f.toml:") && t.contains(needle)), "{needle}: {text:?}");
        }
        for needle in ["unknown dimension `region`", "whole number of days", "Asia/Kolkata"] {
            assert!(text.iter().any(|t| t.starts_with("a.toml:2:") && t.contains(needle)), "{needle}: {text:?}");
        }
        for needle in
            ["keeps 8d, but comparing with 14 day(s) earlier needs at least 15d", "min_change must be a non-zero"]
        {
            assert!(text.iter().any(|t| t.starts_with("a.toml:12:") && t.contains(needle)), "{needle}: {text:?}");
        }
        // Day windows in a zone with daylight saving are not all 24 hours: spike rules on them
        // are refused (a day_over_day rule judges such days).
        let berlin = DEFAULT_DATAFLOW.to_string()
            + "\n[calendar]\ntimezone = \"Europe/Berlin\"\n\n[[window]]\nsize = \"1d\"\nretention = \"10d\"\n";
        let daily = "[[rule]]\nname = \"d\"\nkind = \"spike\"\nkey = \"category\"\nwindow = \"1d\"\nbaseline = \"median_mad\"\nsensitivity = 3.0\nmin_count = 5\nseverity = \"warning\"\n";
        let errors = problems(berlin.clone(), daily);
        assert!(errors[0].contains("not all 24 hours long"), "{errors:?}");
        let shanghai = berlin.replace("Europe/Berlin", "Asia/Shanghai");
        assert!(Config::from_sources(
            vec![Source { name: "f.toml".into(), text: shanghai }],
            vec![Source { name: "a.toml".into(), text: daily.into() }]
        )
        .is_ok());
        // The defaults: a day-over-day rule on business, combined business|category windows.
        let c = Config::embedded();
        let dod = c.rules.iter().find_map(|r| r.day_over_day()).expect("a default day_over_day rule");
        assert_eq!((dod.period_days, dod.calendar.name()), (1, "UTC"));
        assert_eq!(c.combined_keys, vec![Key::parse("business|category").unwrap()]);
        assert!(c.scopes.iter().any(|s| s.name == "live"));
    }

    #[test]
    fn spike_scoring_options_are_checked_together() {
        let alerts = r#"
[[rule]]
name = "rare_without_threshold"
kind = "spike"
key = "category"
window = "1m"
baseline = "median_mean_dev"
score = "rarity"
predictors = []
sensitivity = 2.0
min_count = 1
cooldown = "1m"
severity = "info"

[[rule]]
name = "threshold_without_rarity"
kind = "spike"
key = "category"
window = "1m"
baseline = "median_mad"
threshold = 0.99
shape_windows = 12
sensitivity = 2.0
min_count = 1
cooldown = "1m"
severity = "info"

[[rule]]
name = "shape_longer_than_memory"
kind = "spike"
key = "category"
window = "1m"
baseline = "median_mad"
score = "rarity"
threshold = 0.99
rarity_memory = 10
shape_windows = 6
sensitivity = 2.0
min_count = 1
cooldown = "1m"
severity = "info"

[[rule]]
name = "fine"
kind = "spike"
key = "overall"
window = "5m"
baseline = "median_mad"
direction = "both"
predictors = ["level", "daily", "weekly", "step"]
score = "rarity"
threshold = 0.998
shape_windows = 12
sensitivity = 2.0
min_count = 1
cooldown = "1m"
severity = "info"
"#;
        let errors = Config::embedded_with_rules(Source { name: "a.toml".into(), text: alerts.into() }).unwrap_err().0;
        let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(text.len(), 5, "{text:?}");
        assert!(text.iter().any(|t| t.contains("rare_without_threshold") && t.contains("needs a `threshold`")));
        assert!(text.iter().any(|t| t.contains("rare_without_threshold") && t.contains("`predictors` needs")));
        assert!(text.iter().any(|t| t.contains("threshold_without_rarity") && t.contains("`threshold` applies to")));
        assert!(text
            .iter()
            .any(|t| t.contains("threshold_without_rarity") && t.contains("`shape_windows` applies to")));
        assert!(text
            .iter()
            .any(|t| t.contains("shape_longer_than_memory") && t.contains("at most half of rarity_memory")));
    }

    #[test]
    fn webhooks_are_validated() {
        let alerts = r#"
[[webhook]]
name = "ok"
url = "http://127.0.0.1:9000/hook"
match = { severity = "critical" }

[[webhook]]
name = "ok"
url = "ftp://x"
match_re = { category = "(" }
secret_env = "FEEDPULSE_TEST_UNSET_SECRET"
queue = 0
"#;
        let errors =
            Config::embedded_with_rules(Source { name: "hooks.toml".into(), text: alerts.into() }).unwrap_err().0;
        let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(text.len(), 5, "{text:?}");
        assert!(text.iter().all(|t| t.starts_with("hooks.toml:7:") && t.contains("webhook `ok`")), "{text:?}");
        for needle in ["name used twice", "must start with http://", "match_re.category", "is not set", "at least 1"] {
            assert!(text.iter().any(|t| t.contains(needle)), "{needle}: {text:?}");
        }
        let good = "[[webhook]]\nname = \"a\"\nurl = \"https://example.invalid/x\"\n";
        let config = Config::embedded_with_rules(Source { name: "a.toml".into(), text: good.into() }).unwrap();
        assert_eq!(config.webhooks.len(), 1);
        assert_eq!((config.webhooks[0].queue, config.webhooks[0].max_attempts), (1000, 8));
    }

    #[test]
    fn reports_are_validated_every_error_at_once() {
        let alerts = r#"
[[webhook]]
name = "ops"
url = "http://127.0.0.1:9/hook"

[[report]]
name = "weekly"
every = "1w"
at = "Sun 18:00"
webhooks = ["ops", "missing"]

[[report]]
name = "weekly"
every = "1m"
"#;
        let errors = Config::embedded_with_rules(Source { name: "r.toml".into(), text: alerts.into() }).unwrap_err().0;
        let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(text.len(), 4, "{text:?}");
        assert!(text[0].starts_with("r.toml:6: report `weekly`: webhooks names `missing`"), "{text:?}");
        for needle in ["r.toml:12: report `weekly`: name used twice", "every must be", "names no output"] {
            assert!(text.iter().any(|t| t.contains(needle)), "{needle}: {text:?}");
        }
        let good = "[[report]]\nname = \"daily\"\nevery = \"1d\"\nat = \"08:30\"\nredis = true\n";
        let config = Config::embedded_with_rules(Source { name: "a.toml".into(), text: good.into() }).unwrap();
        assert_eq!((config.reports[0].every_days, config.reports[0].release_s), (1, 8 * 3600 + 1800));
        assert!(Config::embedded().reports.is_empty(), "none by default");
    }

    #[test]
    fn the_summarizer_is_validated() {
        let alerts = r#"
[summarizer]
endpoint = "ftp://x"
model = ""
concurrency = 0
rules = ["nope"]
schema_file = "/nonexistent/schema.json"
"#;
        let errors =
            Config::embedded_with_rules(Source { name: "llm.toml".into(), text: alerts.into() }).unwrap_err().0;
        let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(text.len(), 5, "{text:?}");
        assert!(text.iter().all(|t| t.starts_with("llm.toml:2:") && t.contains("summarizer: ")), "{text:?}");
        for needle in
            ["must start with http://", "model is empty", "concurrency", "schema_file", "`nope`, which no rule is"]
        {
            assert!(text.iter().any(|t| t.contains(needle)), "{needle}: {text:?}");
        }
        let good = "[summarizer]\nendpoint = \"http://127.0.0.1:8000/v1/chat/completions\"\nmodel = \"m\"\n";
        let config = Config::embedded_with_rules(Source { name: "a.toml".into(), text: good.into() }).unwrap();
        let s = config.summarizer.expect("on");
        assert_eq!((s.timeout.as_ms(), s.max_attempts, s.concurrency, s.queue), (20_000, 3, 2, 64));
        assert!(Config::embedded().summarizer.is_none(), "off by default");
    }

    #[test]
    fn risk_cluster_and_one_off_rules_are_validated() {
        let flows = DEFAULT_DATAFLOW
            .replace("similarity = 0.62", "similarity = 1.5")
            .replace("whitening_sample = 0", "whitening_sample = 1")
            .replace(
            "# The category taxonomy.",
            "[[risk]]\nname = \"nothing\"\n\n[[risk]]\nname = \"bad\"\nregex = [\"(\"]\ncategories = [\"nope\"]\n\n# The category taxonomy.",
        );
        let alerts = r#"
[[rule]]
name = "risky"
kind = "high_risk"
key = "category"
window = "10m"
only = ["unknown_risk"]
min_count = 1
severity = "critical"

[[rule]]
name = "fresh"
kind = "new_cluster"
window = "30m"
min_count = 1
severity = "warning"
"#;
        let text = problems(flows, alerts);
        for needle in [
            "cluster.similarity must lie strictly between 0 and 1",
            "cluster.whitening_sample must be 0 (off) or at least 2",
            "risk `nothing`: needs at least one of",
            "risk `bad`: bad regex",
            "risk `bad`: category `nope` is not in the taxonomy",
            "rule `risky`: `key`, `baseline`, `metric` and `threshold` do not apply to high_risk rules",
            "rule `risky`: `only` names risk `unknown_risk`",
            "rule `fresh`: min_count of a new_cluster rule must be at least 2",
        ] {
            assert!(text.iter().any(|t| t.contains(needle)), "{needle}: {text:#?}");
        }
        let c = Config::embedded();
        assert!(c.cluster.is_some() && c.risks.iter().any(|r| r.name == "legal_threat"));
        assert!(c.rules.iter().any(|r| r.kind == RuleKind::NewCluster));
    }

    #[test]
    fn syntax_errors_point_at_their_line() {
        let errors = Config::from_sources(
            vec![Source { name: "x.toml".into(), text: "[ingest]\nmax_body_bytes = \"big\"\n".into() }],
            vec![],
        )
        .unwrap_err()
        .0;
        assert_eq!(errors[0].file, "x.toml");
        assert_eq!(errors[0].line, 2, "{errors:?}");
    }
}
