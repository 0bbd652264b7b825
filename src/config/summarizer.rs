//! `[summarizer]` in `alerts/*.toml`: an OpenAI-compatible chat-completions endpoint that writes
//! a short summary of each firing alert from its masked explanation (docs/alerting.md § LLM
//! summaries). Off unless the table is there.

use super::{HttpClientConfig, HumanDuration};
use serde::Deserialize;
use std::path::PathBuf;

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SummarizerConfig {
    /// The chat-completions URL (`…/v1/chat/completions`).
    pub endpoint: String,
    pub model: String,
    /// The system prompt; read again whenever it changes. Default: a built-in prompt.
    pub prompt_file: Option<PathBuf>,
    /// A JSON schema the answer must match (a subset: type, required, properties, items,
    /// minLength, maxLength, maxItems, enum). Default: `{summary, keywords}`.
    pub schema_file: Option<PathBuf>,
    /// Per request.
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
    /// Tries per alert: an HTTP failure, an answer that is not JSON, breaks the schema or names
    /// what its inputs do not, is tried again (with backoff) until this many.
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// Requests at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Alerts waiting for a summary; beyond this, new ones get none (counted).
    #[serde(default = "default_queue")]
    pub queue: usize,
    /// Only alerts of these rules (by name); empty: every alert.
    #[serde(default)]
    pub rules: Vec<String>,
    /// TLS and authentication towards the endpoint (`client = { bearer_token_env = "…" }`).
    #[serde(default)]
    pub client: HttpClientConfig,
}

fn default_timeout() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(20))
}
fn default_attempts() -> u32 {
    3
}
fn default_concurrency() -> usize {
    2
}
fn default_queue() -> usize {
    64
}

/// The system prompt without a `prompt_file`.
pub const DEFAULT_PROMPT: &str = "You summarise one alert of a customer-feedback monitor for the \
operators on call. The user message is the alert as JSON: its rule, labels, summary, window, \
keywords, masked sample messages and drivers (values whose share of the window departs from \
their usual share). Answer with one JSON object: {\"summary\": one or two sentences saying what \
customers complain about and what drove it, \"keywords\": up to five words taken from the \
input}. Use only numbers and words that appear in the input; do not guess causes it does not \
show. Answer in the language of the samples.";

/// The answer's schema without a `schema_file`.
pub const DEFAULT_SCHEMA: &str = r#"{"type": "object", "required": ["summary", "keywords"],
 "properties": {"summary": {"type": "string", "minLength": 1, "maxLength": 600},
                "keywords": {"type": "array", "maxItems": 8, "items": {"type": "string"}}}}"#;

/// Every problem with `s`, for `check-config`.
pub(super) fn check(s: &SummarizerConfig, problem: &mut dyn FnMut(String)) {
    if !super::is_http_url(&s.endpoint) {
        problem(format!("endpoint `{}` must start with http:// or https://", s.endpoint));
    }
    if s.model.trim().is_empty() {
        problem("model is empty".into());
    }
    if s.timeout.as_ms() < 100 {
        problem("timeout must be at least 100ms".into());
    }
    if !(1..=10).contains(&s.max_attempts) {
        problem(format!("max_attempts must lie in 1..=10, not {}", s.max_attempts));
    }
    if !(1..=16).contains(&s.concurrency) {
        problem(format!("concurrency must lie in 1..=16, not {}", s.concurrency));
    }
    if s.queue == 0 {
        problem("queue must be at least 1".into());
    }
    if let Some(path) = &s.prompt_file {
        if let Err(e) = std::fs::read_to_string(path) {
            problem(format!("prompt_file {}: {e}", path.display()));
        }
    }
    if let Err(e) = s.schema() {
        problem(e);
    }
}

impl SummarizerConfig {
    /// The answer's schema, from `schema_file` or the default.
    pub fn schema(&self) -> Result<serde_json::Value, String> {
        let text = match &self.schema_file {
            Some(path) => std::fs::read_to_string(path).map_err(|e| format!("schema_file {}: {e}", path.display()))?,
            None => DEFAULT_SCHEMA.to_string(),
        };
        let schema: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("schema_file is not JSON: {e}"))?;
        if schema.get("type").and_then(|t| t.as_str()) != Some("object") {
            return Err("the schema must describe an object (\"type\": \"object\")".into());
        }
        Ok(schema)
    }
}
