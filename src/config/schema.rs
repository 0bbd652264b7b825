//! The tables of `dataflows/*.toml` as written (docs/configuration.md).

use super::HumanDuration;
use serde::Deserialize;
use toml::Spanned;

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    /// `POST /v1/events` answers `202` only once the accepted records are stored durably: in
    /// the Redis stream the consumer group reads (`[redis] consume = true`), or without Redis in
    /// the write-ahead log `wal`; otherwise once they are in the dataflow's queue in memory.
    #[serde(default)]
    pub durable: bool,
    /// The write-ahead log's directory, for durable ingest without Redis.
    #[serde(default)]
    pub wal: Option<std::path::PathBuf>,
    /// `POST /v1/events` requests admitted at once; more get `503` + `Retry-After` (bounds the
    /// memory held by bodies and admission under overload: this many × `max_body_bytes`).
    #[serde(default = "default_max_concurrent_requests")]
    pub max_concurrent_requests: usize,
    pub max_body_bytes: usize,
    pub max_text_chars: usize,
    pub max_future: HumanDuration,
    pub dedupe_window: HumanDuration,
    pub tick: HumanDuration,
    pub allowed_lateness: HumanDuration,
}

fn default_max_concurrent_requests() -> usize {
    8
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
    /// WeChat, QQ and Alipay ids after their cue words (微信号, QQ, 支付宝), and `wxid_…`.
    #[serde(default = "yes")]
    pub im_id: bool,
    /// Names after 收件人, 收货人, 联系人, 姓名, "my name is" (a common surname first).
    #[serde(default = "yes")]
    pub name: bool,
    /// Street addresses after 地址, 住址, 收货地址, 家住 (up to the last 号, 室, 路, …).
    #[serde(default = "yes")]
    pub address: bool,
}

impl Default for PiiConfig {
    fn default() -> Self {
        PiiConfig { phone: true, id_number: true, bank_card: true, email: true, im_id: true, name: true, address: true }
    }
}

/// `[attribution]`: what spike and dip alerts name as their drivers (docs/alerting.md § Drivers).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributionConfig {
    /// How much event time before an anomalous window its facets' usual shares come from.
    #[serde(default = "default_attribution_baseline")]
    pub baseline: HumanDuration,
    /// `meta` fields attributed besides the dimensions (e.g. `app_version`, `region`); at most 4.
    #[serde(default)]
    pub meta: Vec<String>,
    /// The most drivers an alert names; 0 turns attribution off, and with it the per-slice
    /// breakdowns ingest otherwise counts for every judged series.
    #[serde(default = "default_max_drivers")]
    pub max_drivers: usize,
    /// A facet is named only when a share this far from its usual one would be rarer than this
    /// (a Chernoff bound on the binomial tail).
    #[serde(default = "default_attribution_significance")]
    pub significance: f64,
}

/// `[conversation]`: how conversations are followed (docs/conversations.md).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConversationConfig {
    /// A conversation without a turn for this much event time is over: its state is forgotten
    /// and its hand-off, if one is open, resolved.
    #[serde(default = "default_conversation_idle")]
    pub idle: HumanDuration,
    /// A customer turn below this sentiment counts towards the negative streak.
    #[serde(default = "default_conversation_negative_below")]
    pub negative_below: f64,
    /// A customer turn repeats the one before when their embeddings are at least this close.
    #[serde(default = "default_repeat_similarity")]
    pub repeat_similarity: f64,
    /// The `meta` field that gives a conversation's tier (`vip`, …).
    #[serde(default = "default_tier_field")]
    pub tier_field: String,
    /// Turns kept per conversation to put late ones in order.
    #[serde(default = "default_max_turns")]
    pub max_turns: usize,
    /// The `meta` field of an agent's turn that gives the agent's team (transcript QA scores).
    #[serde(default = "default_team_field")]
    pub team_field: String,
}

impl Default for ConversationConfig {
    fn default() -> Self {
        ConversationConfig {
            idle: default_conversation_idle(),
            negative_below: default_conversation_negative_below(),
            repeat_similarity: default_repeat_similarity(),
            tier_field: default_tier_field(),
            max_turns: default_max_turns(),
            team_field: default_team_field(),
        }
    }
}

fn default_conversation_idle() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(30 * 60))
}
fn default_conversation_negative_below() -> f64 {
    -0.5
}
fn default_repeat_similarity() -> f64 {
    0.9
}
fn default_tier_field() -> String {
    "tier".into()
}
fn default_team_field() -> String {
    "team".into()
}
fn default_max_turns() -> usize {
    64
}

impl Default for AttributionConfig {
    fn default() -> Self {
        AttributionConfig {
            baseline: default_attribution_baseline(),
            meta: Vec::new(),
            max_drivers: default_max_drivers(),
            significance: default_attribution_significance(),
        }
    }
}

fn default_attribution_baseline() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(6 * 3600))
}
fn default_max_drivers() -> usize {
    3
}
fn default_attribution_significance() -> f64 {
    0.001
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

/// A Redis server as [`RedisConfig::endpoint`] reads it.
#[derive(Clone, PartialEq)]
pub struct RedisEndpoint {
    /// `host:port`; empty behind Sentinel until a sentinel names the master.
    pub address: String,
    /// Sentinels to ask for the master `master` (`redis+sentinel://`); empty otherwise.
    pub sentinels: Vec<String>,
    pub master: String,
    /// Cluster nodes to ask which node serves `slot` (`redis+cluster://`); empty otherwise.
    pub cluster: Vec<String>,
    /// The hash slot of `[redis] prefix`'s hash tag: every key feedpulse uses lies in it.
    pub slot: u16,
    /// The host alone: the name a TLS certificate must carry.
    pub host: String,
    pub tls: bool,
    pub username: Option<String>,
    pub password: Option<String>,
    pub db: u32,
    pub ca_file: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for RedisEndpoint {
    /// Never the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.tls { "rediss" } else { "redis" };
        let user = match (&self.username, &self.password) {
            (Some(u), _) => format!("{u}:***@"),
            (None, Some(_)) => ":***@".into(),
            _ => String::new(),
        };
        if !self.cluster.is_empty() {
            write!(f, "redis+cluster://{user}{} (slot {})", self.cluster.join(","), self.slot)
        } else if self.sentinels.is_empty() {
            write!(f, "{scheme}://{user}{}/{}", self.address, self.db)
        } else {
            write!(f, "redis+sentinel://{user}{}/{}/{}", self.sentinels.join(","), self.master, self.db)
        }
    }
}

/// `[redis]`: where feedpulse reads feedback from and writes alerts, dead letters and rolling
/// aggregates to (docs/redis.md). Absent: no Redis.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// `host:port`, or `redis://[user[:password]@]host:port[/db]`; `rediss://…` for TLS;
    /// `redis+sentinel://h1:p1,h2:p2/MASTER[/db]`; `redis+cluster://h1:p1,h2:p2` (with a hash
    /// tag in `prefix`).
    pub url: String,
    /// Environment variable holding the password (instead of one in `url`).
    pub password_env: Option<String>,
    /// PEM file of CA certificates trusted for `rediss://` besides the system store and the
    /// bundled web roots.
    pub ca_file: Option<std::path::PathBuf>,
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
            password_env: None,
            ca_file: None,
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

    /// The key of the feedback stream the consumer group reads (`{prefix}{stream}`).
    pub fn stream_key(&self) -> String {
        format!("{}{}", self.prefix, self.stream)
    }

    /// Where `url` points, for messages: `host:port`, or the sentinels; never a password.
    pub fn host_port(&self) -> String {
        match self.endpoint() {
            Ok(e) if !e.cluster.is_empty() => e.cluster.join(","),
            Ok(e) if e.sentinels.is_empty() => e.address,
            Ok(e) => e.sentinels.join(","),
            Err(_) => self.url.rsplit('@').next().unwrap_or_default().to_owned(),
        }
    }

    /// Where and how to connect: `url` read, the password from `password_env` if it names one.
    pub fn endpoint(&self) -> Result<RedisEndpoint, String> {
        let url = self.url.as_str();
        let (tls, sentinel, cluster, rest) = if let Some(rest) = url.strip_prefix("rediss://") {
            (true, false, false, rest)
        } else if let Some(rest) = url.strip_prefix("redis://") {
            (false, false, false, rest)
        } else if let Some(rest) = url.strip_prefix("redis+sentinel://") {
            (false, true, false, rest)
        } else if let Some(rest) = url.strip_prefix("redis+cluster://") {
            (false, false, true, rest)
        } else if url.contains("://") {
            return Err(format!(
                "redis url `{url}`: the scheme must be redis://, rediss://, redis+sentinel:// or redis+cluster://"
            ));
        } else {
            (false, false, false, url)
        };
        let (credentials, rest) = match rest.rsplit_once('@') {
            Some((c, r)) => (Some(c), r),
            None => (None, rest),
        };
        // Sentinel: `h1:p1,h2:p2/master[/db]`; otherwise `host:port[/db]`.
        let (hosts, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (master, db) = match (sentinel, path.split_once('/')) {
            (true, Some((m, db))) => (m, db),
            (true, None) => (path, ""),
            (false, _) => ("", path),
        };
        let db: u32 = match db {
            "" => 0,
            db => db.parse().map_err(|_| format!("redis url: the database `/{db}` is not a number"))?,
        };
        if sentinel && master.is_empty() {
            return Err(format!("redis url `{url}`: redis+sentinel:// needs the master's name after the sentinels"));
        }
        let host_port =
            |a: &str| a.rsplit_once(':').filter(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok()).is_some();
        let addresses: Vec<&str> = hosts.split(',').collect();
        if addresses.iter().any(|a| !host_port(a)) || (!sentinel && !cluster && addresses.len() != 1) {
            return Err(format!("redis url `{url}` needs host:port"));
        }
        let slot = match cluster {
            false => 0,
            true if db != 0 => return Err(format!("redis url `{url}`: a cluster has only database 0")),
            true => slot_of(hash_tag(&self.prefix).ok_or_else(|| {
                format!(
                    "redis+cluster:// needs a hash tag in `[redis] prefix` (e.g. prefix = \"{{fp}}:\", not `{}`): \
                     every key feedpulse uses must lie in one slot, so that its transactions stay on one node",
                    self.prefix
                )
            })?),
        };
        let (address, sentinels) = if sentinel {
            (String::new(), addresses.iter().map(|a| a.to_string()).collect())
        } else {
            (addresses[0].to_owned(), Vec::new())
        };
        let cluster = if cluster { addresses.iter().map(|a| a.to_string()).collect() } else { Vec::new() };
        let host = address.rsplit_once(':').map_or("", |(h, _)| h).to_owned();
        let (mut username, mut password) = (None, None);
        if let Some(c) = credentials {
            let (user, pass) = c.split_once(':').map_or((c, None), |(u, p)| (u, Some(p)));
            username = (!user.is_empty()).then(|| user.to_owned());
            password = pass.map(str::to_owned);
        }
        if let Some(var) = &self.password_env {
            if password.is_some() {
                return Err("redis: give the password in `url` or `password_env`, not both".into());
            }
            password = Some(std::env::var(var).map_err(|_| format!("redis: environment variable {var} is not set"))?);
        }
        if username.is_some() && password.is_none() {
            return Err("redis: a user in `url` needs a password (in `url` or `password_env`)".into());
        }
        if self.ca_file.is_some() && !tls {
            return Err("redis: `ca_file` is for rediss:// urls".into());
        }
        Ok(RedisEndpoint {
            host: host.trim_start_matches('[').trim_end_matches(']').to_owned(),
            address,
            sentinels,
            master: master.to_owned(),
            cluster,
            slot,
            tls,
            username,
            password,
            db,
            ca_file: self.ca_file.clone(),
        })
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
    /// TLS and authentication towards it (`[alertmanager.client]`).
    #[serde(default)]
    pub client: HttpClientConfig,
}

impl AlertmanagerConfig {
    pub fn at(url: &str) -> Self {
        AlertmanagerConfig { url: url.to_string(), resend: default_resend(), client: HttpClientConfig::default() }
    }
}

/// How an outbound HTTP sink (Alertmanager, a webhook) trusts its server and proves who it is.
/// The system's certificate store and the bundled web roots are always trusted; secrets come
/// from environment variables, never from a file in the configuration.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpClientConfig {
    /// PEM file of further CA certificates to trust (a company CA).
    pub ca_file: Option<std::path::PathBuf>,
    /// PEM certificate (chain) presented to the server, for mutual TLS; needs `client_key`.
    pub client_cert: Option<std::path::PathBuf>,
    /// PEM private key of `client_cert`.
    pub client_key: Option<std::path::PathBuf>,
    /// Environment variable holding a bearer token (`Authorization: Bearer …`).
    pub bearer_token_env: Option<String>,
    /// User name for HTTP basic authentication; the password comes from `basic_password_env`.
    pub basic_user: Option<String>,
    pub basic_password_env: Option<String>,
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
pub(super) struct DataflowFile {
    pub(super) ingest: Option<Spanned<IngestConfig>>,
    #[serde(default)]
    pub(super) window: Vec<Spanned<WindowConfig>>,
    pub(super) clean: Option<CleanConfig>,
    pub(super) pii: Option<PiiConfig>,
    pub(super) enrich: Option<Spanned<EnrichConfig>>,
    #[serde(default)]
    pub(super) category: Vec<Spanned<CategoryConfig>>,
    pub(super) redis: Option<Spanned<RedisConfig>>,
    pub(super) alertmanager: Option<Spanned<AlertmanagerConfig>>,
    pub(super) cluster: Option<Spanned<ClusterConfig>>,
    #[serde(default)]
    pub(super) risk: Vec<Spanned<RiskConfig>>,
    #[serde(default)]
    pub(super) scope: Vec<Spanned<super::ScopeConfig>>,
    #[serde(default)]
    pub(super) aggregate: Vec<Spanned<super::scope::AggregateFile>>,
    pub(super) calendar: Option<Spanned<super::scope::CalendarFile>>,
    pub(super) attribution: Option<Spanned<AttributionConfig>>,
    pub(super) conversation: Option<Spanned<ConversationConfig>>,
    pub(super) tickets: Option<Spanned<super::TicketsConfig>>,
}

/// A table's problems, reported at the table's line.
pub(super) type Problem<'a> = &'a mut dyn FnMut(String);

pub(super) fn check_conversation(c: &ConversationConfig, problem: Problem) {
    if !(1_000..=7 * 86_400_000).contains(&c.idle.as_ms()) {
        problem(format!("idle must lie between 1s and 7d, not {}", c.idle));
    }
    if !(-1.0..=1.0).contains(&c.negative_below) {
        problem(format!("negative_below must lie in [-1, 1], not {}", c.negative_below));
    }
    if !(0.0..=1.0).contains(&c.repeat_similarity) {
        problem(format!("repeat_similarity must lie in [0, 1], not {}", c.repeat_similarity));
    }
    if c.tier_field.trim().is_empty() || c.team_field.trim().is_empty() {
        problem("tier_field and team_field must not be empty".into());
    }
    if !(2..=10_000).contains(&c.max_turns) {
        problem(format!("max_turns must lie between 2 and 10000, not {}", c.max_turns));
    }
}

pub(super) fn check_attribution(a: &AttributionConfig, problem: Problem) {
    let baseline = a.baseline.as_ms();
    if !(60_000..=7 * 86_400_000).contains(&baseline) {
        problem(format!("baseline must lie between 1m and 7d, not {}", a.baseline));
    }
    if a.meta.len() > 4 {
        problem(format!("meta names {} fields; at most 4 are attributed", a.meta.len()));
    }
    for (i, field) in a.meta.iter().enumerate() {
        if field.trim().is_empty() {
            problem("meta has an empty field name".into());
        } else if a.meta[..i].contains(field) {
            problem(format!("meta names `{field}` twice"));
        }
    }
    if a.max_drivers > 10 {
        problem(format!("max_drivers must lie in 0..=10 (0: no drivers), not {}", a.max_drivers));
    }
    if !(a.significance > 0.0 && a.significance <= 0.1) {
        problem(format!("significance must lie in (0, 0.1], not {}", a.significance));
    }
}

/// The part of a key Redis Cluster hashes: between its first `{` and the next `}`, when that is
/// not empty (the cluster specification's hash tags).
pub fn hash_tag(key: &str) -> Option<&str> {
    let open = key.find('{')?;
    let close = key[open + 1..].find('}')?;
    (close > 0).then(|| &key[open + 1..open + 1 + close])
}

/// The cluster hash slot of `key` (CRC16/XMODEM modulo 16384).
pub fn slot_of(key: &str) -> u16 {
    let mut crc: u16 = 0;
    for byte in key.bytes() {
        crc ^= (byte as u16) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 { (crc << 1) ^ 0x1021 } else { crc << 1 };
        }
    }
    crc % 16384
}

#[cfg(test)]
mod redis_url_tests {
    use super::*;

    fn endpoint(url: &str) -> Result<RedisEndpoint, String> {
        RedisConfig::at(url).endpoint()
    }

    #[test]
    fn redis_urls_carry_credentials_databases_tls_and_sentinels() {
        let plain = endpoint("127.0.0.1:6379").unwrap();
        assert_eq!(
            (plain.address.as_str(), plain.tls, plain.db, plain.password.as_deref()),
            ("127.0.0.1:6379", false, 0, None)
        );
        let full = endpoint("rediss://feedpulse:p@ss@redis.internal:6380/2").unwrap();
        assert_eq!(full.address, "redis.internal:6380");
        assert_eq!((full.host.as_str(), full.tls, full.db), ("redis.internal", true, 2));
        assert_eq!((full.username.as_deref(), full.password.as_deref()), (Some("feedpulse"), Some("p@ss")));
        assert!(!format!("{full:?}").contains("p@ss"), "Debug never shows the password");
        let sentinel = endpoint("redis+sentinel://:pw@10.0.0.1:26379,10.0.0.2:26379/mymaster/1").unwrap();
        assert_eq!(sentinel.sentinels, ["10.0.0.1:26379", "10.0.0.2:26379"]);
        assert_eq!((sentinel.master.as_str(), sentinel.db, sentinel.password.as_deref()), ("mymaster", 1, Some("pw")));
        for bad in
            ["http://x:1", "redis://x", "redis://x:1/zero", "redis+sentinel://x:1", "redis://u@x:1", "redis://a:1,b:2"]
        {
            assert!(endpoint(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_cluster_url_needs_a_hash_tag_in_the_prefix_and_names_its_slot() {
        let mut config = RedisConfig::at("redis+cluster://:pw@10.0.0.1:7000,10.0.0.2:7000");
        let err = config.endpoint().unwrap_err();
        assert!(err.contains("hash tag") && err.contains("{fp}:"), "{err}");
        config.prefix = "{fp}:".into();
        let cluster = config.endpoint().unwrap();
        assert_eq!(cluster.cluster, ["10.0.0.1:7000", "10.0.0.2:7000"]);
        assert_eq!((cluster.slot, cluster.password.as_deref()), (slot_of("fp"), Some("pw")));
        assert!(!format!("{cluster:?}").contains("pw"));
        config.url = "redis+cluster://10.0.0.1:7000/3".into();
        assert!(config.endpoint().unwrap_err().contains("database 0"));
        // The specification's examples: CRC16 of "123456789" is 0x31C3, and a key's tag decides.
        assert_eq!(slot_of("123456789"), 0x31C3);
        assert_eq!(hash_tag("{user1000}.following"), Some("user1000"));
        assert_eq!((hash_tag("foo{}{bar}"), hash_tag("foo{{bar}}zap")), (None, Some("{bar")));
        // `CLUSTER KEYSLOT` of redis-server 7.0: somekey 11058, {user1000}.following 3443.
        assert_eq!((slot_of("somekey"), slot_of("user1000")), (11058, 3443));
    }
}
