//! Configuration: `dataflows/*.toml` (sources, cleaning, windows, taxonomy) and `alerts/*.toml`
//! (rules). Built-in defaults are embedded so `feedpulse demo` needs no files. Loading validates
//! everything up front and reports every error at once, each with `file:line`.

mod duration;
pub mod reload;

pub use duration::{parse_duration, HumanDuration};

use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use toml::Spanned;

pub const DEFAULT_DATAFLOW: &str = include_str!("../../dataflows/default.toml");
/// The category of a message no rule or classifier placed.
pub const OTHER: &str = "other";
pub const DEFAULT_ALERTS: &str = include_str!("../../alerts/default.toml");

/// The dimensions a window count is kept for. `Overall` has the single value `all`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    Category,
    Channel,
    Campaign,
    Overall,
    /// Established embedding clusters (`c-17`): a known issue getting worse is a cluster spike.
    Cluster,
}

impl Dimension {
    pub const ALL: [Dimension; 5] = [Self::Category, Self::Channel, Self::Campaign, Self::Overall, Self::Cluster];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Category => "category",
            Self::Channel => "channel",
            Self::Campaign => "campaign",
            Self::Overall => "overall",
            Self::Cluster => "cluster",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == text)
    }
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    pub max_body_bytes: usize,
    pub max_text_chars: usize,
    pub max_future: HumanDuration,
    pub dedupe_window: HumanDuration,
    pub tick: HumanDuration,
    pub allowed_lateness: HumanDuration,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowConfig {
    pub size: HumanDuration,
    pub retention: HumanDuration,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CleanConfig {
    #[serde(default = "yes")]
    pub normalise_whitespace: bool,
    #[serde(default)]
    pub drop_if_match: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PiiConfig {
    #[serde(default = "yes")]
    pub phone: bool,
    #[serde(default = "yes")]
    pub id_number: bool,
    #[serde(default = "yes")]
    pub bank_card: bool,
    #[serde(default = "yes")]
    pub email: bool,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrichConfig {
    #[serde(default = "yes")]
    pub enabled: bool,
    pub negative_below: f64,
    /// A message no keyword rule matches takes the category the examples' classifier picks when
    /// its embedding is at least this cosine from one of that category's examples; otherwise
    /// `other`.
    #[serde(default = "default_example_threshold")]
    pub example_threshold: f64,
}

fn default_example_threshold() -> f64 {
    0.5
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryConfig {
    pub name: String,
    #[serde(default)]
    pub keywords: Vec<String>,
    #[serde(default)]
    pub examples: Vec<String>,
}

/// `[[risk]]`: what makes a single message high-risk. Every condition given must hold: the text
/// matches one of `keywords`/`regex` (when either is given), the category is one of
/// `categories` (when given), the sentiment is below `sentiment_below` (when given).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskConfig {
    pub name: String,
    #[serde(default)]
    pub keywords: Vec<String>,
    #[serde(default)]
    pub regex: Vec<String>,
    #[serde(default)]
    pub categories: Vec<String>,
    pub sentiment_below: Option<f64>,
}

/// `[cluster]`: online clustering of message embeddings (docs/clusters.md). Absent: off.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// A message joins its nearest cluster when their cosine is at least this; else it starts one.
    pub similarity: f64,
    /// Two clusters of one space whose centroids come this close become one (the older id stays).
    pub merge_similarity: f64,
    /// A cluster that reaches the new-cluster size is new only if its centroid's cosine to every
    /// established cluster is below this.
    pub novelty: f64,
    /// Clusters that reach the new-cluster size this soon after the first message are the
    /// starting picture: established without an alert.
    pub warmup: HumanDuration,
    /// A cluster no message joined for this long is dropped.
    pub idle_expiry: HumanDuration,
    /// Live clusters kept per space; beyond it the least recently joined small one is dropped.
    pub max_clusters: usize,
    /// Also cluster within each category (besides the global space across categories).
    #[serde(default = "yes")]
    pub per_category: bool,
    /// Messages the whitening of embeddings is fitted on before clustering starts; 0: cosines
    /// of the raw embeddings (the thresholds above are then raw cosines too).
    #[serde(default)]
    pub whitening_sample: usize,
}

fn yes() -> bool {
    true
}

/// `[redis]`: where feedpulse reads feedback from and writes alerts, dead letters and rolling
/// aggregates to (docs/redis.md). Absent: no Redis.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// `host:port` (a `redis://` prefix is accepted).
    pub url: String,
    /// Prefix of every key feedpulse writes or reads.
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// Approximate cap on the alert and dead-letter streams (`XADD … MAXLEN ~`).
    #[serde(default = "default_stream_maxlen")]
    pub stream_maxlen: u64,
    /// How long an alert's state hash outlives its last change.
    #[serde(default = "default_alert_state_ttl")]
    pub alert_state_ttl: HumanDuration,
    /// Writes waiting for Redis; beyond this they are dropped and counted, never blocking the dataflow.
    #[serde(default = "default_redis_queue")]
    pub queue: usize,
    /// Read feedback from the stream `{prefix}{stream}` with a consumer group (`run` only).
    #[serde(default)]
    pub consume: bool,
    #[serde(default = "default_stream")]
    pub stream: String,
    #[serde(default = "default_group")]
    pub group: String,
    /// This process's consumer name; give each process sharing the group its own. Default
    /// `feedpulse-{hostname}`, stable across restarts so a restarted process re-reads what it
    /// had not acknowledged.
    pub consumer: Option<String>,
    /// Entries another consumer has held unacknowledged this long are claimed (XAUTOCLAIM).
    #[serde(default = "default_claim_idle")]
    pub claim_idle: HumanDuration,
}

impl RedisConfig {
    pub fn at(url: &str) -> Self {
        RedisConfig {
            url: url.to_string(),
            prefix: default_prefix(),
            stream_maxlen: default_stream_maxlen(),
            alert_state_ttl: default_alert_state_ttl(),
            queue: default_redis_queue(),
            consume: false,
            stream: default_stream(),
            group: default_group(),
            consumer: None,
            claim_idle: default_claim_idle(),
        }
    }

    /// `host:port` of `url` (without a `redis://` prefix or a `/db` suffix).
    pub fn host_port(&self) -> &str {
        self.url.trim_start_matches("redis://").split('/').next().unwrap_or_default()
    }

    pub fn consumer_name(&self) -> String {
        self.consumer.clone().unwrap_or_else(|| {
            let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
            format!("feedpulse-{}", host.trim())
        })
    }
}

/// `[alertmanager]`: where alerts are pushed (Alertmanager API v2). Absent: not pushed.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerConfig {
    /// Base URL, e.g. `http://127.0.0.1:9093`.
    pub url: String,
    /// How often firing alerts are sent again (Alertmanager resolves alerts not re-sent).
    #[serde(default = "default_resend")]
    pub resend: HumanDuration,
}

impl AlertmanagerConfig {
    pub fn at(url: &str) -> Self {
        AlertmanagerConfig { url: url.to_string(), resend: default_resend() }
    }
}

fn default_resend() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(60))
}

fn default_stream() -> String {
    "feedback".into()
}
fn default_group() -> String {
    "feedpulse".into()
}
fn default_claim_idle() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(30))
}

fn default_prefix() -> String {
    "fp:".into()
}
fn default_stream_maxlen() -> u64 {
    100_000
}
fn default_alert_state_ttl() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(7 * 86_400))
}
fn default_redis_queue() -> usize {
    100_000
}

/// One `dataflows/*.toml` file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DataflowFile {
    ingest: Option<Spanned<IngestConfig>>,
    #[serde(default)]
    window: Vec<Spanned<WindowConfig>>,
    clean: Option<CleanConfig>,
    pii: Option<PiiConfig>,
    enrich: Option<Spanned<EnrichConfig>>,
    #[serde(default)]
    category: Vec<Spanned<CategoryConfig>>,
    redis: Option<Spanned<RedisConfig>>,
    alertmanager: Option<Spanned<AlertmanagerConfig>>,
    cluster: Option<Spanned<ClusterConfig>>,
    #[serde(default)]
    risk: Vec<Spanned<RiskConfig>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    Spike,
    SentimentDip,
    /// One alert per message that matched a `[[risk]]` rule.
    HighRisk,
    /// One alert per cluster that appears where no established cluster is.
    NewCluster,
}

impl RuleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Spike => "spike",
            Self::SentimentDip => "sentiment_dip",
            Self::HighRisk => "high_risk",
            Self::NewCluster => "new_cluster",
        }
    }

    /// Kinds that judge a windowed series (and so need `key` and `sensitivity`).
    pub fn is_windowed(self) -> bool {
        matches!(self, Self::Spike | Self::SentimentDip)
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

/// One alert rule as written in `alerts/*.toml`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    pub name: String,
    pub kind: RuleKind,
    pub alertname: Option<String>,
    /// The series a spike or sentiment_dip rule watches; not used by high_risk/new_cluster.
    pub key: Option<Dimension>,
    /// spike/sentiment_dip: a dataflow window size. high_risk: how long a message's alert stays
    /// firing. new_cluster: the span in which a cluster must reach `min_count` messages.
    pub window: HumanDuration,
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
    pub metric: Option<SentimentMetric>,
    #[serde(default)]
    pub sensitivity: f64,
    #[serde(default)]
    pub min_delta: f64,
    pub min_count: u64,
    pub yesterday_factor: Option<f64>,
    #[serde(default)]
    pub cooldown: HumanDuration,
    pub severity: String,
    /// Only these key values are watched (all when absent).
    pub only: Option<Vec<String>>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
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
struct AlertsFile {
    #[serde(default)]
    rule: Vec<Spanned<RuleConfig>>,
    #[serde(default)]
    webhook: Vec<Spanned<WebhookConfig>>,
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
}

/// What an outbound HTTP receiver's `url` must look like.
fn is_http_url(url: &str) -> bool {
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
    /// `None`: no clustering.
    pub cluster: Option<ClusterConfig>,
    pub rules: Vec<RuleConfig>,
    /// Base URL used in alerts' `generator_url`.
    pub public_url: String,
    pub redis: Option<RedisConfig>,
    pub alertmanager: Option<AlertmanagerConfig>,
    pub webhooks: Vec<WebhookConfig>,
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
}

impl ConfigSource {
    pub fn load(&self) -> Result<Config, ConfigErrors> {
        let mut config = Config::load(self.dir.as_deref(), &self.rules)?;
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
        let mut errors = Vec::new();
        let (flow_sources, dir_alerts) = match dir {
            None => (vec![Source { name: "dataflows/default.toml".into(), text: DEFAULT_DATAFLOW.into() }], None),
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

    /// Merges and validates dataflow and alert files. Single-valued tables (`[ingest]` …) may be
    /// given once; lists (`[[window]]`, `[[category]]`, `[[rule]]`) are concatenated.
    pub fn from_sources(flows: Vec<Source>, alerts: Vec<Source>) -> Result<Config, ConfigErrors> {
        let mut errors = Vec::new();
        let mut err = |file: &str, line: usize, message: String| {
            errors.push(ConfigError { file: file.to_string(), line, message });
        };
        let mut ingest: Option<(String, IngestConfig)> = None;
        let mut windows = Vec::new();
        let mut clean = None;
        let mut pii = None;
        let mut enrich: Option<EnrichConfig> = None;
        let mut redis: Option<RedisConfig> = None;
        let mut alertmanager: Option<AlertmanagerConfig> = None;
        let mut categories: Vec<(String, usize, CategoryConfig)> = Vec::new();
        let mut risks: Vec<(String, usize, RiskConfig)> = Vec::new();
        let mut cluster: Option<ClusterConfig> = None;

        for source in &flows {
            let file: DataflowFile = match toml::from_str(&source.text) {
                Ok(f) => f,
                Err(e) => {
                    let line = e.span().map(|s| line_of(&source.text, s.start)).unwrap_or(0);
                    err(&source.name, line, e.message().to_string());
                    continue;
                }
            };
            if let Some(spanned) = file.ingest {
                let line = line_of(&source.text, spanned.span().start);
                let value = spanned.into_inner();
                if value.tick.0.is_zero() || value.tick.0.as_millis() > 1000 {
                    err(&source.name, line, "ingest.tick must be between 1ms and 1s".into());
                }
                if value.max_body_bytes < 1024 {
                    err(&source.name, line, "ingest.max_body_bytes must be at least 1024".into());
                }
                if value.max_text_chars == 0 {
                    err(&source.name, line, "ingest.max_text_chars must be at least 1".into());
                }
                if let Some((other, _)) = &ingest {
                    err(&source.name, line, format!("[ingest] already given in {other}"));
                }
                ingest = Some((source.name.clone(), value));
            }
            for spanned in file.window {
                let line = line_of(&source.text, spanned.span().start);
                let w = spanned.into_inner();
                if w.size.0.as_millis() < 1000 || w.size.0.as_millis() % 1000 != 0 {
                    err(&source.name, line, format!("window size {} must be a whole number of seconds", w.size));
                } else if 86_400_000 % w.size.0.as_millis() != 0 {
                    err(&source.name, line, format!("window size {} must divide a day evenly", w.size));
                }
                if w.retention < w.size {
                    err(
                        &source.name,
                        line,
                        format!("window retention {} is shorter than its size {}", w.retention, w.size),
                    );
                }
                windows.push((source.name.clone(), line, w));
            }
            if let Some(c) = file.clean {
                for pattern in &c.drop_if_match {
                    if let Err(e) = regex::Regex::new(pattern) {
                        err(&source.name, 0, format!("clean.drop_if_match: bad regex `{pattern}`: {e}"));
                    }
                }
                clean = Some(c);
            }
            if let Some(p) = file.pii {
                pii = Some(p);
            }
            if let Some(spanned) = file.redis {
                let line = line_of(&source.text, spanned.span().start);
                let r = spanned.into_inner();
                if r.host_port().rsplit_once(':').is_none_or(|(h, p)| h.is_empty() || p.parse::<u16>().is_err()) {
                    err(&source.name, line, format!("redis.url `{}` must be host:port", r.url));
                }
                if r.queue == 0 || r.stream_maxlen == 0 {
                    err(&source.name, line, "redis.queue and redis.stream_maxlen must be at least 1".into());
                }
                if redis.is_some() {
                    err(&source.name, line, "[redis] is defined twice".into());
                }
                redis = Some(r);
            }
            if let Some(spanned) = file.alertmanager {
                let line = line_of(&source.text, spanned.span().start);
                let a = spanned.into_inner();
                if !is_http_url(&a.url) {
                    err(
                        &source.name,
                        line,
                        format!("alertmanager.url `{}` must start with http:// or https://", a.url),
                    );
                }
                if a.resend.as_ms() < 1000 {
                    err(&source.name, line, "alertmanager.resend must be at least 1s".into());
                }
                if alertmanager.is_some() {
                    err(&source.name, line, "[alertmanager] is defined twice".into());
                }
                alertmanager = Some(a);
            }
            if let Some(spanned) = file.enrich {
                let line = line_of(&source.text, spanned.span().start);
                let e = spanned.into_inner();
                if !(-1.0..=1.0).contains(&e.negative_below) {
                    err(&source.name, line, "enrich.negative_below must lie in [-1, 1]".into());
                }
                enrich = Some(e);
            }
            if let Some(spanned) = file.cluster {
                let line = line_of(&source.text, spanned.span().start);
                let c = spanned.into_inner();
                for (name, value) in
                    [("similarity", c.similarity), ("merge_similarity", c.merge_similarity), ("novelty", c.novelty)]
                {
                    if !(value > 0.0 && value < 1.0) {
                        err(&source.name, line, format!("cluster.{name} must lie strictly between 0 and 1"));
                    }
                }
                if c.merge_similarity < c.similarity {
                    err(&source.name, line, "cluster.merge_similarity must be at least cluster.similarity".into());
                }
                if c.max_clusters < 2 {
                    err(&source.name, line, "cluster.max_clusters must be at least 2".into());
                }
                if c.idle_expiry.as_ms() < 1000 {
                    err(&source.name, line, "cluster.idle_expiry must be at least 1s".into());
                }
                if c.whitening_sample == 1 {
                    err(
                        &source.name,
                        line,
                        "cluster.whitening_sample must be 0 (off) or at least 2: one message has no covariance".into(),
                    );
                }
                if cluster.is_some() {
                    err(&source.name, line, "[cluster] is defined twice".into());
                }
                cluster = Some(c);
            }
            for spanned in file.risk {
                let line = line_of(&source.text, spanned.span().start);
                let r = spanned.into_inner();
                let mut problem = |m: String| err(&source.name, line, format!("risk `{}`: {m}", r.name));
                if r.name.trim().is_empty() {
                    problem("name is empty".into());
                }
                if risks.iter().any(|(_, _, o)| o.name == r.name) {
                    problem("name used twice".into());
                }
                if r.keywords.is_empty() && r.regex.is_empty() && r.categories.is_empty() && r.sentiment_below.is_none()
                {
                    problem("needs at least one of keywords, regex, categories, sentiment_below".into());
                }
                for pattern in &r.regex {
                    if let Err(e) = regex::Regex::new(pattern) {
                        problem(format!("bad regex `{pattern}`: {e}"));
                    }
                }
                if r.sentiment_below.is_some_and(|s| !(-1.0..=1.0).contains(&s)) {
                    problem("sentiment_below must lie in [-1, 1]".into());
                }
                if r.keywords.iter().any(|k| k.trim().is_empty()) {
                    problem("empty keyword".into());
                }
                risks.push((source.name.clone(), line, r));
            }
            for spanned in file.category {
                let line = line_of(&source.text, spanned.span().start);
                let c = spanned.into_inner();
                if c.name.trim().is_empty() {
                    err(&source.name, line, "category name is empty".into());
                }
                if let Some((file, other, _)) = categories.iter().find(|(_, _, o)| o.name == c.name) {
                    err(&source.name, line, format!("category `{}` already defined at {file}:{other}", c.name));
                }
                categories.push((source.name.clone(), line, c));
            }
        }

        let mut sizes = std::collections::BTreeSet::new();
        for (file, line, w) in &windows {
            if !sizes.insert(w.size) {
                err(file, *line, format!("window size {} given twice", w.size));
            }
        }
        if windows.is_empty() && !flows.is_empty() {
            err(&flows[0].name, 0, "no [[window]] defined".into());
        }

        let mut rules: Vec<RuleConfig> = Vec::new();
        let mut webhooks: Vec<WebhookConfig> = Vec::new();
        for source in &alerts {
            let file: AlertsFile = match toml::from_str(&source.text) {
                Ok(f) => f,
                Err(e) => {
                    let line = e.span().map(|s| line_of(&source.text, s.start)).unwrap_or(0);
                    err(&source.name, line, e.message().to_string());
                    continue;
                }
            };
            for spanned in file.webhook {
                let line = line_of(&source.text, spanned.span().start);
                let w = spanned.into_inner();
                let mut problem = |m: String| err(&source.name, line, format!("webhook `{}`: {m}", w.name));
                if webhooks.iter().any(|o| o.name == w.name) {
                    problem("name used twice".into());
                }
                if !is_http_url(&w.url) {
                    problem(format!("url `{}` must start with http:// or https://", w.url));
                }
                for (label, re) in &w.match_re {
                    if let Err(e) = regex::Regex::new(&format!("^(?:{re})$")) {
                        problem(format!("match_re.{label}: {e}"));
                    }
                }
                if let Some(var) = &w.secret_env {
                    if std::env::var(var).map_or(true, |v| v.is_empty()) {
                        problem(format!("secret_env `{var}` is not set in the environment"));
                    }
                }
                if w.queue == 0 || w.max_attempts == 0 {
                    problem("queue and max_attempts must be at least 1".into());
                }
                if w.timeout.as_ms() < 100 {
                    problem("timeout must be at least 100ms".into());
                }
                webhooks.push(w);
            }
            for spanned in file.rule {
                let line = line_of(&source.text, spanned.span().start);
                let r = spanned.into_inner();
                let mut problem = |m: String| err(&source.name, line, format!("rule `{}`: {m}", r.name));
                if rules.iter().any(|o| o.name == r.name) {
                    problem("name used twice".into());
                }
                if r.kind.is_windowed() {
                    if !sizes.contains(&r.window) && !windows.is_empty() {
                        let known: Vec<_> = sizes.iter().map(|s| s.to_string()).collect();
                        problem(format!("window {} is not a dataflow window (have {})", r.window, known.join(", ")));
                    }
                    if r.sensitivity.is_nan() || r.sensitivity <= 0.0 {
                        problem("sensitivity must be > 0".into());
                    }
                    if r.key.is_none() {
                        problem("needs `key` (category, channel, campaign, overall or cluster)".into());
                    }
                } else {
                    if r.key.is_some() || r.baseline.is_some() || r.metric.is_some() || r.threshold.is_some() {
                        problem(format!(
                            "`key`, `baseline`, `metric` and `threshold` do not apply to {} rules",
                            r.kind.as_str()
                        ));
                    }
                    if r.window.as_ms() < 1000 {
                        problem("window must be at least 1s".into());
                    }
                }
                if r.min_count == 0 {
                    problem("min_count must be at least 1".into());
                }
                if r.history == 0 || r.min_history == 0 || r.min_history > r.history {
                    problem("need 1 <= min_history <= history".into());
                }
                match r.kind {
                    RuleKind::HighRisk => {
                        if let Some(only) = &r.only {
                            for name in only {
                                if !risks.iter().any(|(_, _, k)| &k.name == name) {
                                    problem(format!("`only` names risk `{name}`, which no [[risk]] defines"));
                                }
                            }
                        }
                    }
                    RuleKind::NewCluster => {
                        if cluster.is_none() {
                            problem("new_cluster rules need a [cluster] table in the dataflow configuration".into());
                        }
                        if rules.iter().any(|o| o.kind == RuleKind::NewCluster) {
                            problem("only one new_cluster rule may be defined".into());
                        }
                        if r.min_count < 2 {
                            problem("min_count of a new_cluster rule must be at least 2".into());
                        }
                    }
                    RuleKind::Spike => {
                        if r.baseline.is_none() {
                            problem("spike rules need `baseline` (median_mad, median_mean_dev or mean_std)".into());
                        }
                        if r.metric.is_some() {
                            problem("`metric` applies to sentiment_dip rules only".into());
                        }
                        if r.yesterday_factor.is_some_and(|f| f.is_nan() || f <= 0.0) {
                            problem("yesterday_factor must be > 0".into());
                        }
                        if r.predictors.is_empty() {
                            problem("`predictors` needs at least one of level, daily, weekly, step".into());
                        }
                        let whole_days = 86_400_000 % r.window.as_ms().max(1) == 0;
                        if !whole_days && r.predictors.iter().any(|p| matches!(p, Predictor::Daily | Predictor::Weekly))
                        {
                            problem(format!(
                                "daily/weekly predictors need a window that divides a day, not {}",
                                r.window
                            ));
                        }
                        match (r.score, r.threshold) {
                            (ScoreKind::Rarity, Some(t)) if !(t > 0.0 && t < 1.0) => {
                                problem("threshold must lie strictly between 0 and 1".into())
                            }
                            (ScoreKind::Rarity, None) => problem("score = \"rarity\" needs a `threshold`".into()),
                            (ScoreKind::Surprise, Some(_)) => problem(
                                "`threshold` applies to score = \"rarity\"; surprise rules fire at `sensitivity`"
                                    .into(),
                            ),
                            _ => {}
                        }
                        if r.rarity_memory < r.min_history {
                            problem("rarity_memory must be at least min_history".into());
                        }
                        match r.shape_windows {
                            Some(_) if r.score != ScoreKind::Rarity => problem(
                                "`shape_windows` applies to score = \"rarity\": a shape's discord is ranked against its past"
                                    .into(),
                            ),
                            Some(w) if w < 2 || 2 * w > r.rarity_memory => problem(format!(
                                "shape_windows must be at least 2 and at most half of rarity_memory ({}), not {w}",
                                r.rarity_memory
                            )),
                            _ => {}
                        }
                    }
                    RuleKind::SentimentDip => {
                        if r.metric.is_none() {
                            problem("sentiment_dip rules need `metric` (negative_share or mean)".into());
                        }
                        if r.baseline.is_some()
                            || r.yesterday_factor.is_some()
                            || r.threshold.is_some()
                            || r.shape_windows.is_some()
                        {
                            problem(
                                "`baseline`/`yesterday_factor`/`threshold`/`shape_windows` apply to spike rules only"
                                    .into(),
                            );
                        }
                        if !(0.0..=2.0).contains(&r.min_delta) {
                            problem("min_delta must lie in [0, 2]".into());
                        }
                    }
                }
                if !["critical", "warning", "info"].contains(&r.severity.as_str()) {
                    problem(format!("severity `{}` must be critical, warning or info", r.severity));
                }
                rules.push(r);
            }
        }

        for (file, line, r) in &risks {
            for c in &r.categories {
                if c != OTHER && !categories.iter().any(|(_, _, k)| &k.name == c) {
                    err(file, *line, format!("risk `{}`: category `{c}` is not in the taxonomy", r.name));
                }
            }
        }
        let first = flows.first().map(|s| s.name.as_str()).unwrap_or("dataflows");
        if ingest.is_none() {
            err(first, 0, "missing [ingest] table".into());
        }
        if enrich.is_none() {
            err(first, 0, "missing [enrich] table".into());
        }
        if !errors.is_empty() {
            return Err(ConfigErrors(errors));
        }
        let mut windows: Vec<WindowConfig> = windows.into_iter().map(|(_, _, w)| w).collect();
        windows.sort_by_key(|w| w.size);
        Ok(Config {
            ingest: ingest.unwrap().1,
            windows,
            clean: clean.unwrap_or_default(),
            pii: pii.unwrap_or(PiiConfig { phone: true, id_number: true, bank_card: true, email: true }),
            enrich: enrich.unwrap(),
            categories: categories.into_iter().map(|(_, _, c)| c).collect(),
            risks: risks.into_iter().map(|(_, _, r)| r).collect(),
            cluster: cluster.filter(|c| c.enabled),
            rules,
            public_url: "http://127.0.0.1:8080".into(),
            redis,
            alertmanager,
            webhooks,
        })
    }

    /// The sections that differ from `other` and that only a restart can change: the shape of
    /// the dataflow (windows, ingest, enrichment, clustering) and the outbound connections.
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
        check("[ingest] (other than max_future)", ingest(self) == ingest(other));
        check("[enrich]", self.enrich == other.enrich);
        check("[cluster]", self.cluster == other.cluster);
        check("[redis]", self.redis == other.redis);
        check("[alertmanager]", self.alertmanager == other.alertmanager);
        check("[[webhook]]", self.webhooks == other.webhooks);
        changed
    }

    /// The longest retention of any window: events older than this behind the clock are too late.
    pub fn max_retention_ms(&self) -> i64 {
        self.windows.iter().map(|w| w.retention.as_ms()).max().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_defaults_are_valid() {
        let c = Config::embedded();
        assert_eq!(c.windows.len(), 2);
        assert_eq!(c.windows[0].size.as_ms(), 60_000);
        assert!(c.rules.iter().any(|r| r.kind == RuleKind::Spike));
        assert!(c.rules.iter().any(|r| r.kind == RuleKind::SentimentDip));
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
        let errors = Config::from_sources(
            vec![Source { name: "f.toml".into(), text: flows }],
            vec![Source { name: "a.toml".into(), text: alerts.into() }],
        )
        .unwrap_err()
        .0;
        let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert!(text.iter().any(|t| t.starts_with("f.toml:") && t.contains("divide a day")), "{text:?}");
        for needle in ["window 2m", "sensitivity", "min_count", "baseline", "severity `loud`"] {
            assert!(text.iter().any(|t| t.starts_with("a.toml:2:") && t.contains(needle)), "{needle}: {text:?}");
        }
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
        let errors = Config::from_sources(
            vec![Source { name: "f.toml".into(), text: flows }],
            vec![Source { name: "a.toml".into(), text: alerts.into() }],
        )
        .unwrap_err()
        .0;
        let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
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
