//! The tables of `alerts/*.toml` as written: rules and webhooks (docs/alerting.md).

use super::{HumanDuration, Key, KeySpec};
use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

/// A rule's `kind` as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleTag {
    Spike,
    SentimentDip,
    /// One alert per message that matched a `[[risk]]` rule.
    HighRisk,
    /// One alert per cluster that appears where no established cluster is.
    NewCluster,
    /// Today against the same local day one period earlier (日环比, week over week).
    DayOverDay,
    /// A conversation handed to a person: made by the `[[escalation]]` tables, not written.
    Handoff,
    /// A ticket KPI of each closed window against a fixed bound (`p90(first_response)`).
    Threshold,
    /// A ticket past an SLA deadline: made by `[[tickets.sla]]`, not written.
    SlaBreach,
    /// A severe miss of a `[[qa]]` sheet in a closed conversation: made by the sheets.
    QaViolation,
}

impl RuleTag {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Spike => "spike",
            Self::SentimentDip => "sentiment_dip",
            Self::HighRisk => "high_risk",
            Self::NewCluster => "new_cluster",
            Self::DayOverDay => "day_over_day",
            Self::Handoff => "handoff",
            Self::Threshold => "threshold",
            Self::SlaBreach => "sla_breach",
            Self::QaViolation => "qa_violation",
        }
    }

    /// Kinds that judge a windowed series (and so need `key` and `sensitivity`).
    pub fn is_windowed(self) -> bool {
        matches!(self, Self::Spike | Self::SentimentDip)
    }

    /// Kinds that watch the series of a key.
    pub fn has_key(self) -> bool {
        self.is_windowed() || matches!(self, Self::DayOverDay | Self::Threshold)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BaselineMethod {
    /// Median, and 1.4826·MAD as the spread (robust to a few outliers in the history).
    MedianMad,
    /// Median, and the larger of 1.4826·MAD and 1.2533·mean absolute deviation (a series with
    /// frequent excursions is not surprised by one more).
    MedianMeanDev,
    MeanStd,
}

/// Which side of the baseline a spike rule watches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    #[default]
    Up,
    Down,
    Both,
}

/// What a spike rule forecasts a window's count from (see `dataflow::spike::judge`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Predictor {
    /// The median (or mean) of the trailing windows.
    Level,
    /// The same window a day earlier, plus the typical day-over-day change.
    Daily,
    /// The same window a week earlier, plus the typical week-over-week change.
    Weekly,
    /// The previous window, plus the typical window-to-window change.
    Step,
}

/// `metric` as written: a sentiment or count [`Metric`], or a ticket KPI's text.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum MetricField {
    Known(Metric),
    Kpi(String),
}

/// What a spike rule thresholds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScoreKind {
    /// The surprise z itself: fires when z reaches `sensitivity`.
    #[default]
    Surprise,
    /// How rare z is among the key's last `rarity_memory` windows: fires at `threshold`.
    Rarity,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SentimentMetric {
    NegativeShare,
    Mean,
}

/// What a rule's `metric` names as written: sentiment_dip rules take the sentiment metrics,
/// day_over_day rules also `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    Count,
    NegativeShare,
    Mean,
}

/// Which stretch of today a day-over-day rule compares.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compare {
    /// Today since local midnight against the earlier day up to the same clock time, judged
    /// as the day fills (rises) and as each hour closes (drops).
    #[default]
    SoFar,
    /// The whole local day, judged when it closes.
    FullDay,
}

/// One alert rule as written in `alerts/*.toml`: every option of every kind, checked together
/// by `validate` (so that all problems are reported at once) and then turned into a
/// [`RuleConfig`].
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RuleFile {
    pub name: String,
    pub kind: RuleTag,
    pub alertname: Option<String>,
    /// The series a windowed rule watches: one dimension or a combined key (`["business",
    /// "category"]`); not used by high_risk/new_cluster.
    pub key: Option<KeySpec>,
    /// spike/sentiment_dip: a dataflow window size. high_risk: how long a message's alert stays
    /// firing. new_cluster: the span in which a cluster must reach `min_count` messages.
    /// day_over_day: the hour roll-up (`1h`, the default).
    pub window: Option<HumanDuration>,
    #[serde(default = "default_history")]
    pub history: usize,
    #[serde(default = "default_min_history")]
    pub min_history: usize,
    pub baseline: Option<BaselineMethod>,
    #[serde(default)]
    pub direction: Direction,
    #[serde(default = "default_predictors")]
    pub predictors: Vec<Predictor>,
    #[serde(default)]
    pub score: ScoreKind,
    /// Rarity score at which the rule fires (`score = "rarity"` only).
    pub threshold: Option<f64>,
    #[serde(default = "default_rarity_memory")]
    pub rarity_memory: usize,
    /// Rarity rules: the windows of the shape view (`dataflow::spike::discord`), which also
    /// ranks how unlike its past the latest stretch of this many windows is. None: off.
    pub shape_windows: Option<usize>,
    /// sentiment_dip/day_over_day: a [`Metric`]; threshold: a KPI (`p90(first_response)`).
    pub metric: Option<MetricField>,
    /// threshold: fires above (or below) this value (durations in seconds).
    pub above: Option<f64>,
    pub below: Option<f64>,
    /// threshold: how long the KPI must stay past the bound (whole windows).
    #[serde(rename = "for")]
    pub for_: Option<HumanDuration>,
    /// day_over_day: `so_far` (default) or `full_day`.
    pub compare: Option<Compare>,
    /// day_over_day: `1d` (day over day, the default) or `7d` (week over week).
    pub period: Option<HumanDuration>,
    /// day_over_day: the zone of its days (default: `[calendar] timezone`).
    pub timezone: Option<String>,
    /// day_over_day: the relative change that fires (`0.5`: +50 %; negative watches drops; for
    /// `metric = "mean"` the change of the mean sentiment itself).
    pub min_change: Option<f64>,
    /// day_over_day: the largest p-value of the change that still fires (default 0.01).
    pub significance: Option<f64>,
    #[serde(default)]
    pub sensitivity: f64,
    #[serde(default)]
    pub min_delta: f64,
    #[serde(default = "default_min_count")]
    pub min_count: u64,
    pub yesterday_factor: Option<f64>,
    /// Spike rules: judge each series on the shortest dataflow window (from the rule's own up)
    /// whose forecast reaches this many messages, so a quiet series is judged on an hour where a
    /// busy one is judged on a minute. None: the rule's window only.
    pub min_expected: Option<f64>,
    /// Spike rules with `min_expected`: the sustained-rise test's false-alarm budget, one false
    /// alarm per quiet series in this much event time on average (default 90 days).
    pub rise_false_alarm_every: Option<HumanDuration>,
    #[serde(default)]
    pub cooldown: HumanDuration,
    pub severity: String,
    /// Only these key values are watched (all when absent).
    pub only: Option<Vec<String>>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// How urgent an alert is (its `severity` label).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Critical,
    Warning,
    Info,
}

impl Severity {
    pub const ALL: [Severity; 3] = [Self::Critical, Self::Warning, Self::Info];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Critical => "critical",
            Self::Warning => "warning",
            Self::Info => "info",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// One validated alert rule: what every kind shares, and its kind with the options only it has.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleConfig {
    pub name: String,
    /// The `alertname` label (default: the kind's own, e.g. `FeedbackSpike`).
    pub alertname: Option<String>,
    pub severity: Severity,
    /// spike/sentiment_dip: a dataflow window size. high_risk: how long a message's alert stays
    /// firing. new_cluster: the span in which a cluster must reach `min_count` messages.
    pub window: HumanDuration,
    pub min_count: u64,
    pub cooldown: HumanDuration,
    pub labels: BTreeMap<String, String>,
    pub kind: RuleKind,
}

#[derive(Clone, Debug, PartialEq)]
pub enum RuleKind {
    Spike(SpikeRule),
    SentimentDip(DipRule),
    /// One alert per message that matched a `[[risk]]` rule (`only`: these risk rules).
    HighRisk {
        only: Option<Vec<String>>,
    },
    /// One alert per cluster that appears where no established cluster is.
    NewCluster,
    DayOverDay(DodRule),
    /// One alert per conversation that an `[[escalation]]` matches while no agent has joined.
    Handoff(Vec<super::Escalation>),
    /// A ticket KPI against a fixed bound for `for` of consecutive windows.
    Threshold(super::ThresholdRule),
    /// One alert per ticket and SLA whose deadline passed unanswered.
    SlaBreach,
    /// One alert per severe `[[qa]]` violation of a closed conversation.
    QaViolation,
}

/// A day-over-day rule: a local day so far (or whole) against the same stretch one period
/// earlier, summed from the hour windows.
#[derive(Clone, Debug, PartialEq)]
pub struct DodRule {
    /// The key and values watched (`history`, `min_history` and `sensitivity` do not apply).
    pub watch: Watch,
    pub metric: Metric,
    pub compare: Compare,
    pub period_days: i64,
    pub calendar: crate::util::calendar::Calendar,
    pub min_change: f64,
    pub significance: f64,
}

/// The hour roll-up a day-over-day rule sums.
pub const DOD_WINDOW: HumanDuration = HumanDuration(std::time::Duration::from_secs(3600));
pub const DOD_SIGNIFICANCE: f64 = 0.01;

/// The series a windowed rule judges, and against how much of its past.
#[derive(Clone, Debug, PartialEq)]
pub struct Watch {
    pub key: Key,
    /// Only these key values are watched (all when absent).
    pub only: Option<Vec<String>>,
    pub history: usize,
    pub min_history: usize,
    pub sensitivity: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SpikeRule {
    pub watch: Watch,
    pub baseline: BaselineMethod,
    pub direction: Direction,
    pub predictors: Vec<Predictor>,
    pub score: SpikeScore,
    pub yesterday_factor: Option<f64>,
    /// Judge each series on the shortest window (the rule's or a longer dataflow window) whose
    /// forecast reaches this many messages; `None`: the rule's window only.
    pub min_expected: Option<f64>,
    /// With `min_expected`: on a series a longer window judges, the sustained-rise test fires
    /// about once in this many seconds of an ordinary stream (`dataflow/detect/rise.rs`).
    pub rise_false_alarm_every_s: f64,
}

/// A quarter: a desk watching thirty quiet series sees about one false sustained rise in three
/// days.
pub const DEFAULT_RISE_FALSE_ALARM_EVERY_S: f64 = 90.0 * 86_400.0;

/// What a spike rule thresholds.
#[derive(Clone, Debug, PartialEq)]
pub enum SpikeScore {
    /// The surprise z itself: fires when z reaches `sensitivity`.
    Surprise,
    /// How rare z is among the key's last `memory` windows: fires at `threshold`. With
    /// `shape_windows`, the shape view (`dataflow::spike::discord`) also ranks how unlike its
    /// past the latest stretch of that many windows is.
    Rarity { threshold: f64, memory: usize, shape_windows: Option<usize> },
}

#[derive(Clone, Debug, PartialEq)]
pub struct DipRule {
    pub watch: Watch,
    pub metric: SentimentMetric,
    pub min_delta: f64,
}

impl RuleConfig {
    /// A rule that tables make rather than a `[[rule]]` (hand-offs, SLA breaches, QA
    /// violations): warning severity unless its alerts say otherwise, no cooldown, no labels.
    pub fn made(name: &str, window: HumanDuration, kind: RuleKind) -> RuleConfig {
        RuleConfig {
            name: name.into(),
            alertname: None,
            severity: Severity::Warning,
            window,
            min_count: 1,
            cooldown: HumanDuration::default(),
            labels: BTreeMap::new(),
            kind,
        }
    }

    /// The kind's name as written (`spike`, `sentiment_dip`, `high_risk`, `new_cluster`).
    pub fn kind_name(&self) -> &'static str {
        self.tag().as_str()
    }

    pub fn tag(&self) -> RuleTag {
        match self.kind {
            RuleKind::Spike(_) => RuleTag::Spike,
            RuleKind::SentimentDip(_) => RuleTag::SentimentDip,
            RuleKind::HighRisk { .. } => RuleTag::HighRisk,
            RuleKind::NewCluster => RuleTag::NewCluster,
            RuleKind::DayOverDay(_) => RuleTag::DayOverDay,
            RuleKind::Handoff(_) => RuleTag::Handoff,
            RuleKind::Threshold(_) => RuleTag::Threshold,
            RuleKind::SlaBreach => RuleTag::SlaBreach,
            RuleKind::QaViolation => RuleTag::QaViolation,
        }
    }

    /// The watched series of a spike, sentiment_dip or day_over_day rule.
    pub fn watch(&self) -> Option<&Watch> {
        match &self.kind {
            RuleKind::Spike(s) => Some(&s.watch),
            RuleKind::SentimentDip(d) => Some(&d.watch),
            RuleKind::DayOverDay(d) => Some(&d.watch),
            RuleKind::HighRisk { .. }
            | RuleKind::NewCluster
            | RuleKind::Handoff(_)
            | RuleKind::Threshold(_)
            | RuleKind::SlaBreach
            | RuleKind::QaViolation => None,
        }
    }

    pub fn day_over_day(&self) -> Option<&DodRule> {
        match &self.kind {
            RuleKind::DayOverDay(d) => Some(d),
            _ => None,
        }
    }

    pub fn spike(&self) -> Option<&SpikeRule> {
        match &self.kind {
            RuleKind::Spike(s) => Some(s),
            _ => None,
        }
    }

    pub fn spike_mut(&mut self) -> Option<&mut SpikeRule> {
        match &mut self.kind {
            RuleKind::Spike(s) => Some(s),
            _ => None,
        }
    }
}

impl RuleFile {
    /// `metric` as a sentiment or count metric (`None` also for a KPI).
    pub(super) fn known_metric(&self) -> Option<Metric> {
        match &self.metric {
            Some(MetricField::Known(m)) => Some(*m),
            _ => None,
        }
    }

    /// `metric` read as a ticket KPI.
    pub(super) fn kpi_metric(&self) -> Option<Result<super::KpiMetric, String>> {
        match &self.metric {
            None => None,
            Some(MetricField::Known(Metric::Count)) => Some(super::KpiMetric::parse("count")),
            Some(MetricField::Known(m)) => Some(Err(format!("`{m:?}` is not a ticket KPI").to_lowercase())),
            Some(MetricField::Kpi(text)) => Some(super::KpiMetric::parse(text)),
        }
    }

    /// A threshold rule's `for` in whole windows (at least one).
    pub(super) fn for_windows(&self) -> usize {
        let window = self.window().as_ms().max(1);
        self.for_.map_or(1, |f| (f.as_ms() / window).max(1) as usize)
    }

    /// The typed rule. Only called on a rule `validate` found no problem with, so the options
    /// its kind needs are there.
    /// The rule's window: as written, or a day-over-day rule's hour roll-up.
    pub(super) fn window(&self) -> HumanDuration {
        match (self.window, self.kind) {
            (Some(w), _) => w,
            (None, RuleTag::DayOverDay) => DOD_WINDOW,
            (None, _) => HumanDuration(std::time::Duration::ZERO),
        }
    }

    /// The zone a day-over-day rule's days follow: its own, else the dataflow's.
    pub(super) fn calendar(
        &self,
        dataflow: &crate::util::calendar::Calendar,
    ) -> Result<crate::util::calendar::Calendar, String> {
        match &self.timezone {
            Some(zone) => crate::util::calendar::Calendar::named(zone),
            None => Ok(dataflow.clone()),
        }
    }

    pub(super) fn into_rule(self, dataflow_calendar: &crate::util::calendar::Calendar) -> RuleConfig {
        let window = self.window();
        let watch = || Watch {
            key: self.key.as_ref().and_then(|k| k.key().ok()).expect("validated: windowed rules have a key"),
            only: self.only.clone(),
            history: self.history,
            min_history: self.min_history,
            sensitivity: self.sensitivity,
        };
        let kind = match self.kind {
            RuleTag::Spike => RuleKind::Spike(SpikeRule {
                watch: watch(),
                baseline: self.baseline.expect("validated: spike rules have a baseline"),
                direction: self.direction,
                predictors: self.predictors.clone(),
                score: match self.score {
                    ScoreKind::Surprise => SpikeScore::Surprise,
                    ScoreKind::Rarity => SpikeScore::Rarity {
                        threshold: self.threshold.expect("validated: rarity rules have a threshold"),
                        memory: self.rarity_memory,
                        shape_windows: self.shape_windows,
                    },
                },
                yesterday_factor: self.yesterday_factor,
                min_expected: self.min_expected,
                rise_false_alarm_every_s: self
                    .rise_false_alarm_every
                    .map_or(DEFAULT_RISE_FALSE_ALARM_EVERY_S, |d| d.as_ms() as f64 / 1000.0),
            }),
            RuleTag::SentimentDip => RuleKind::SentimentDip(DipRule {
                watch: watch(),
                metric: match self.known_metric() {
                    Some(Metric::Mean) => SentimentMetric::Mean,
                    _ => SentimentMetric::NegativeShare,
                },
                min_delta: self.min_delta,
            }),
            RuleTag::DayOverDay => RuleKind::DayOverDay(DodRule {
                watch: watch(),
                metric: self.known_metric().unwrap_or(Metric::Count),
                compare: self.compare.unwrap_or_default(),
                period_days: self.period.map_or(1, |p| p.as_secs() as i64 / 86_400),
                calendar: self.calendar(dataflow_calendar).expect("validated time zone"),
                min_change: self.min_change.expect("validated: day_over_day rules have a min_change"),
                significance: self.significance.unwrap_or(DOD_SIGNIFICANCE),
            }),
            RuleTag::HighRisk => RuleKind::HighRisk { only: self.only.clone() },
            RuleTag::NewCluster => RuleKind::NewCluster,
            RuleTag::Threshold => RuleKind::Threshold(super::ThresholdRule {
                key: self.key.as_ref().and_then(|k| k.key().ok()).expect("validated: threshold rules have a key"),
                only: self.only.clone(),
                metric: self.kpi_metric().and_then(Result::ok).expect("validated: threshold rules have a KPI"),
                above: self.above,
                below: self.below,
                for_windows: self.for_windows(),
            }),
            RuleTag::Handoff | RuleTag::SlaBreach | RuleTag::QaViolation => {
                unreachable!("validated: no [[rule]] has kind {}", self.kind.as_str())
            }
        };
        RuleConfig {
            name: self.name,
            alertname: self.alertname,
            severity: Severity::parse(&self.severity).expect("validated severity"),
            window,
            min_count: self.min_count,
            cooldown: self.cooldown,
            labels: self.labels,
            kind,
        }
    }
}

fn default_min_count() -> u64 {
    1
}
fn default_history() -> usize {
    30
}
fn default_predictors() -> Vec<Predictor> {
    vec![Predictor::Level]
}
fn default_rarity_memory() -> usize {
    8000
}
fn default_min_history() -> usize {
    5
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AlertsFile {
    #[serde(default)]
    pub(super) rule: Vec<Spanned<RuleFile>>,
    #[serde(default)]
    pub(super) webhook: Vec<Spanned<WebhookConfig>>,
    pub(super) summarizer: Option<Spanned<super::SummarizerConfig>>,
    #[serde(default)]
    pub(super) report: Vec<Spanned<super::ReportConfig>>,
    #[serde(default)]
    pub(super) escalation: Vec<Spanned<super::Escalation>>,
    #[serde(default)]
    pub(super) qa: Vec<Spanned<super::QaSheet>>,
}

/// `[[webhook]]` in `alerts/*.toml`: every alert state change whose labels match, POSTed as the
/// alert's JSON object.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub name: String,
    pub url: String,
    /// Label matchers, all of which must hold: `match` equal values, `match_re` whole-value
    /// regular expressions. None: every alert.
    #[serde(default, rename = "match")]
    pub match_eq: BTreeMap<String, String>,
    #[serde(default)]
    pub match_re: BTreeMap<String, String>,
    /// Environment variable holding the HMAC-SHA256 key; the signature goes in the
    /// `X-Feedpulse-Signature: sha256=<hex>` header. The key itself never sits in a file.
    pub secret_env: Option<String>,
    /// Alerts waiting for delivery; beyond this, new ones are dropped and counted.
    #[serde(default = "default_webhook_queue")]
    pub queue: usize,
    /// Attempts per alert (the first try and its retries, with backoff from 0.5 s doubling to 30 s).
    #[serde(default = "default_webhook_attempts")]
    pub max_attempts: u32,
    #[serde(default = "default_webhook_timeout")]
    pub timeout: HumanDuration,
    /// TLS and authentication towards the receiver (`client = { ca_file = "…", … }`).
    #[serde(default)]
    pub client: super::HttpClientConfig,
}

/// What an outbound HTTP receiver's `url` must look like.
pub(super) fn is_http_url(url: &str) -> bool {
    url.starts_with("http://") || url.starts_with("https://")
}

fn default_webhook_queue() -> usize {
    1000
}
fn default_webhook_attempts() -> u32 {
    8
}
fn default_webhook_timeout() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(5))
}

impl WebhookConfig {
    /// The signing key, read from `secret_env`.
    pub fn secret(&self) -> Option<String> {
        std::env::var(self.secret_env.as_ref()?).ok()
    }
}
