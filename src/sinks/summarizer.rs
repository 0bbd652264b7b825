//! LLM summaries of firing alerts (`[summarizer]`), as a sink in front of the others: every
//! alert passes straight through (a summary never delays one), and a firing alert seen for the
//! first time is queued for the chat-completions endpoint. When an answer passes the checks of
//! `alerts::summary` (JSON, the schema, faithful to its masked input) the alert's latest state is
//! delivered again with `llm_summary`, and later changes of the same alert carry it.
//!
//! `concurrency` threads send the requests; a failed try (HTTP error or timeout, an answer that
//! is not JSON, breaks the schema or names a number or keyword its input lacks) is tried again
//! with backoff up to `max_attempts`, each failure counted by reason. A full queue gives the
//! alert no summary (counted `queue_full`). `flush` waits for the requests in flight, so a replay
//! ends with its summaries.

use super::{AlertSink, StartError};
use crate::alerts::summary::{self, Rejected};
use crate::alerts::{Alert, AlertStatus};
use crate::config::{SummarizerConfig, DEFAULT_PROMPT};
use crate::telemetry::Metrics;
use crate::util::backoff::Backoff;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct SummarizerSink {
    queue: SyncSender<Job>,
    shared: Arc<Shared>,
    rules: Vec<String>,
    /// The longest a flush waits for the requests in flight.
    drain_within: Duration,
}

struct Job {
    fingerprint: String,
    input: String,
}

/// What the request threads and the sink share.
struct Shared {
    inner: Vec<Arc<dyn AlertSink>>,
    state: Mutex<State>,
    /// Alerts queued or being summarized.
    in_flight: AtomicUsize,
    metrics: Arc<Metrics>,
}

#[derive(Default)]
struct State {
    /// Fingerprints queued once (each alert is summarized at most once per firing).
    asked: HashSet<String>,
    /// The latest state of each alert asked about, until it resolves with its summary settled.
    latest: HashMap<String, Alert>,
    summaries: HashMap<String, String>,
}

/// How to reach the endpoint, for the request threads.
struct Endpoint {
    client: reqwest::blocking::Client,
    url: String,
    model: String,
    prompt: Prompt,
    schema: Value,
    max_attempts: u32,
}

impl SummarizerSink {
    /// Starts the request threads; `inner` are the sinks every alert goes on to.
    pub fn start(
        config: &SummarizerConfig,
        inner: Vec<Arc<dyn AlertSink>>,
        metrics: Arc<Metrics>,
    ) -> Result<Arc<Self>, StartError> {
        let fail = |detail: String| StartError::Setup { sink: "summarizer".into(), detail };
        let client = super::http_client::build("summarizer", config.timeout.0, &config.client)?;
        let schema = config.schema().map_err(fail)?;
        let (queue, jobs) = sync_channel::<Job>(config.queue);
        let jobs = Arc::new(Mutex::new(jobs));
        let shared = Arc::new(Shared { inner, state: Mutex::default(), in_flight: AtomicUsize::new(0), metrics });
        let endpoint = Arc::new(Endpoint {
            client,
            url: config.endpoint.clone(),
            model: config.model.clone(),
            prompt: Prompt::new(config.prompt_file.clone()),
            schema,
            max_attempts: config.max_attempts,
        });
        for i in 0..config.concurrency {
            let (jobs, shared, endpoint) = (jobs.clone(), shared.clone(), endpoint.clone());
            std::thread::Builder::new()
                .name(format!("fp-summarize-{i}"))
                .spawn(move || serve(&jobs, &shared, &endpoint))
                .map_err(|source| StartError::Thread { sink: "summarizer".into(), source })?;
        }
        // Every try of every queued alert, with the longest backoff between them.
        let tries = config.queue.div_ceil(config.concurrency) as u32 * config.max_attempts;
        let drain_within = (config.timeout.0 + Duration::from_secs(2)) * tries.min(20);
        Ok(Arc::new(SummarizerSink { queue, shared, rules: config.rules.clone(), drain_within }))
    }

    fn wanted(&self, alert: &Alert) -> bool {
        alert.status == AlertStatus::Firing
            && (self.rules.is_empty() || self.rules.iter().any(|r| r == alert.rule_name()))
    }
}

impl AlertSink for SummarizerSink {
    fn deliver(&self, alert: &Alert) {
        let mut alert = alert.clone();
        let ask = {
            // Held while the inner sinks take it: a summary's update and a newer state of the
            // same alert reach them in the order they were decided.
            let mut state = self.shared.state.lock().unwrap();
            alert.llm_summary = state.summaries.get(&alert.fingerprint).cloned();
            let ask = self.wanted(&alert) && state.asked.insert(alert.fingerprint.clone());
            let waiting = state.asked.contains(&alert.fingerprint) && alert.llm_summary.is_none();
            if alert.status == AlertStatus::Resolved && !waiting {
                state.forget(&alert.fingerprint);
            } else if waiting {
                state.latest.insert(alert.fingerprint.clone(), alert.clone());
            }
            for sink in &self.shared.inner {
                sink.deliver(&alert);
            }
            ask
        };
        if ask {
            self.shared.in_flight.fetch_add(1, SeqCst);
            let job = Job { fingerprint: alert.fingerprint.clone(), input: summary::input(&alert) };
            if let Err(TrySendError::Full(job) | TrySendError::Disconnected(job)) = self.queue.try_send(job) {
                self.shared.metrics.summarizer_failure("queue_full");
                self.shared.settle(&job.fingerprint, None);
            }
        }
    }

    fn adopt(&self, alert: &Alert) {
        for sink in &self.shared.inner {
            sink.adopt(alert);
        }
    }

    fn flush(&self) {
        let deadline = Instant::now() + self.drain_within;
        while self.shared.in_flight.load(SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        for sink in &self.shared.inner {
            sink.flush();
        }
    }
}

impl State {
    fn forget(&mut self, fingerprint: &str) {
        self.asked.remove(fingerprint);
        self.latest.remove(fingerprint);
        self.summaries.remove(fingerprint);
    }
}

impl Shared {
    /// An alert's request is over: with a summary, its latest state goes out again carrying it.
    fn settle(&self, fingerprint: &str, summary: Option<String>) {
        let mut state = self.state.lock().unwrap();
        let update = {
            let latest = state.latest.remove(fingerprint);
            match (summary, latest) {
                (Some(text), Some(mut alert)) => {
                    if alert.status == AlertStatus::Resolved {
                        state.forget(fingerprint);
                    } else {
                        state.summaries.insert(fingerprint.to_owned(), text.clone());
                    }
                    alert.llm_summary = Some(text);
                    Some(alert)
                }
                (_, latest) => {
                    if latest.is_some_and(|a| a.status == AlertStatus::Resolved) {
                        state.forget(fingerprint);
                    }
                    None
                }
            }
        };
        if let Some(alert) = update {
            self.metrics.summary_taken();
            for sink in &self.inner {
                sink.deliver(&alert);
            }
        }
        drop(state);
        self.in_flight.fetch_sub(1, SeqCst);
    }
}

/// One request thread: takes queued alerts until the sink goes away.
fn serve(jobs: &Mutex<Receiver<Job>>, shared: &Shared, endpoint: &Endpoint) {
    loop {
        let job = match jobs.lock().unwrap().recv() {
            Ok(job) => job,
            Err(_) => return,
        };
        let summary = summarize(endpoint, &job.input, &shared.metrics);
        shared.settle(&job.fingerprint, summary);
    }
}

/// Asks until an answer passes or the attempts are spent.
fn summarize(endpoint: &Endpoint, input: &str, metrics: &Metrics) -> Option<String> {
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
    for attempt in 1..=endpoint.max_attempts {
        if attempt > 1 {
            backoff.wait();
        }
        let Some(prompt) = endpoint.prompt.current(metrics) else { continue };
        let started = Instant::now();
        let reply = ask(endpoint, &prompt, input);
        metrics.summarizer_request(started.elapsed().as_secs_f64());
        let content = match reply {
            Ok(content) => content,
            Err(_) => {
                metrics.summarizer_failure("http");
                continue;
            }
        };
        match summary::accept(&content, &endpoint.schema, input) {
            Ok(answer) => return Some(answer.summary),
            Err(rejected) => metrics.summarizer_failure(Rejected::reason(&rejected)),
        }
    }
    metrics.summarizer_failure("gave_up");
    None
}

/// One chat-completions request; the answer's message content.
fn ask(endpoint: &Endpoint, prompt: &str, input: &str) -> Result<String, String> {
    let body = json!({
        "model": endpoint.model,
        "temperature": 0,
        "response_format": {"type": "json_object"},
        "messages": [{"role": "system", "content": prompt}, {"role": "user", "content": input}],
    });
    let response = endpoint.client.post(&endpoint.url).json(&body).send().map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("status {}", response.status()));
    }
    let reply: Value = response.json().map_err(|e| e.to_string())?;
    reply["choices"][0]["message"]["content"].as_str().map(String::from).ok_or_else(|| "no message content".into())
}

/// The system prompt: the built-in one, or a file read again whenever it changes (a file that
/// cannot be read keeps the last good text, and is counted).
struct Prompt {
    file: Option<std::path::PathBuf>,
    last: Mutex<Option<(std::time::SystemTime, String)>>,
}

impl Prompt {
    fn new(file: Option<std::path::PathBuf>) -> Self {
        Prompt { file, last: Mutex::new(None) }
    }

    fn current(&self, metrics: &Metrics) -> Option<String> {
        let Some(path) = &self.file else { return Some(DEFAULT_PROMPT.to_string()) };
        let mut last = self.last.lock().unwrap();
        let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        match (&*last, modified) {
            (Some((at, text)), Some(now)) if *at == now => return Some(text.clone()),
            _ => {}
        }
        match (std::fs::read_to_string(path), modified) {
            (Ok(text), Some(now)) => {
                *last = Some((now, text.clone()));
                Some(text)
            }
            _ => {
                metrics.summarizer_failure("prompt");
                last.as_ref().map(|(_, text)| text.clone())
            }
        }
    }
}
