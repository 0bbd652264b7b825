//! The HTTP API (axum): ingest, alerts (JSON and SSE), clusters, metrics, health, and the
//! dashboard (`dashboard.rs`).

pub mod access;
pub mod board;
pub mod clusters;
mod dashboard;
pub mod desk;
mod error;

pub use error::ApiError;

use crate::admit::Admission;
use crate::event::{DeadLetter, DeadReason};
use crate::sinks::sse::AlertHub;
use crate::sinks::Fanout;
use crate::telemetry::{Metrics, SourceKind};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{header, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use clusters::ClusterBoard;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::Serialize;
use serde_json::value::RawValue;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::mpsc::TrySendError;
use std::sync::Arc;
use tokio_stream::wrappers::{BroadcastStream, WatchStream};
use tokio_stream::StreamExt;

/// Everything the handlers share.
pub struct AppState {
    pub admission: Arc<Admission>,
    /// Into the dataflow; bounded, so a full queue answers 503 instead of growing.
    pub feed: crate::feed::FeedSender,
    pub hub: AlertHub,
    pub clusters: ClusterBoard,
    pub dashboard: board::Dashboard,
    pub reloader: Arc<crate::config::reload::Reloader>,
    pub metrics: Arc<Metrics>,
    pub outputs: Fanout,
    pub max_body_bytes: usize,
    /// One permit per `POST /v1/events` being served (`[ingest] max_concurrent_requests`).
    pub ingest_slots: Arc<tokio::sync::Semaphore>,
    pub ready: AtomicBool,
    /// What enriches messages, for `/readyz` (e.g. `builtin-lexicon`).
    pub models: String,
    /// `[ingest] durable`: where accepted records are stored before `202`.
    pub durable: Option<DurableStore>,
    /// The `[[report]]` schedules' released digests (`GET /v1/reports`); `None` without reports.
    pub reports: Option<Arc<crate::report::Reporter>>,
    /// Becomes true when the server shuts down; SSE streams end then.
    pub closing: tokio::sync::watch::Receiver<bool>,
}

/// Where durable HTTP ingest stores accepted records before it answers `202`
/// (docs/deployment.md § Durability of HTTP ingest).
pub enum DurableStore {
    /// The Redis stream the consumer group reads, which counts them from there.
    Redis(Box<crate::redis::append::StreamAppender>),
    /// The local write-ahead log; the records are counted here as well.
    Wal(crate::sources::wal::Wal),
}

pub fn router(state: Arc<AppState>, access: Arc<access::Access>) -> Router {
    Router::new()
        // The handler applies `max_body_bytes` itself (`read_body`); axum's own 2 MiB default would
        // otherwise cut in first.
        .route("/v1/events", post(post_events).layer(DefaultBodyLimit::disable()))
        .route("/v1/feedback/{id}/label", post(post_label))
        .route("/v1/reload", post(reload))
        .route("/v1/alerts", get(get_alerts))
        .route("/v1/alerts/stream", get(alert_stream))
        .route("/v1/clusters", get(get_clusters))
        .route("/v1/reports", get(get_reports))
        .route("/v1/clusters/{id}", get(get_cluster))
        .route("/", get(dashboard::page))
        .route("/dashboard.js", get(dashboard::script))
        .route("/dashboard.css", get(dashboard::style))
        .route("/v1/dashboard/stream", get(dashboard::stream))
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .layer(axum::middleware::from_fn_with_state(access, access::guard))
        .with_state(state)
}

#[derive(serde::Deserialize)]
struct LabelRequest {
    category: String,
}

/// `POST /v1/feedback/{id}/label` with `{"category": "…"}`: an analyst's correction. The
/// message's (masked) text becomes an example of the category, effective for the next message.
async fn post_label(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let request: LabelRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("body must be {{\"category\": \"…\"}}: {e}")))?;
    let admission = state.admission.clone();
    let category = request.category.clone();
    let (id, examples) = tokio::task::spawn_blocking(move || admission.label(&id, &category).map(|n| (id, n)))
        .await
        .map_err(|e| ApiError::internal("label", e))??;
    Ok(Json(serde_json::json!({ "id": id, "category": request.category, "examples": examples })))
}

#[derive(Serialize)]
struct Rejected {
    index: usize,
    reason: DeadReason,
    detail: String,
}

#[derive(Serialize)]
struct IngestReply {
    accepted: usize,
    rejected: Vec<Rejected>,
}

/// `POST /v1/events`: a JSON object, a JSON array of objects, or NDJSON. Good records are
/// accepted even when others are rejected; the reply lists each rejected record's index and
/// reason (status 400 when any was rejected, 202 otherwise). Ids make a resend idempotent.
async fn post_events(State(state): State<Arc<AppState>>, request: Request) -> Result<Response, ApiError> {
    // Refused without keeping the body: under overload, memory stays at this many bodies. The
    // body is still read (and dropped chunk by chunk) so the client gets the 503 rather than a
    // connection closed mid-upload.
    let Ok(slot) = state.ingest_slots.clone().try_acquire_owned() else {
        state.metrics.rejected_busy();
        let mut body = request.into_body();
        let mut left = state.max_body_bytes;
        while let Some(Ok(frame)) = body.frame().await {
            left = left.saturating_sub(frame.data_ref().map_or(0, |d| d.len()));
            if left == 0 {
                break;
            }
        }
        let error = ApiError::unavailable("too many ingest requests at once; retry later");
        return Err(error.with("accepted", 0).retry_after(1));
    };
    let body = match read_body(request, state.max_body_bytes).await {
        Ok(body) => body,
        Err(BodyError::TooLarge { declared }) => {
            let detail = match declared {
                Some(n) => format!("the body is {n} bytes, over ingest.max_body_bytes = {}", state.max_body_bytes),
                None => format!("the body is over ingest.max_body_bytes = {} bytes", state.max_body_bytes),
            };
            // Counted and dead-lettered like any bad input; the body itself was never read.
            state.metrics.received(SourceKind::Http, 1);
            state.outputs.dead_letter(&DeadLetter::new(DeadReason::BodyTooLarge, detail.clone(), b"", "http"));
            let error = ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, detail);
            return Err(error.with("reason", DeadReason::BodyTooLarge));
        }
        Err(BodyError::Unreadable(e)) => return Err(ApiError::bad_request(format!("the body could not be read: {e}"))),
    };
    // Admission is CPU work (the sentence encoder takes about a millisecond a message): it runs
    // on the blocking pool so it never stalls the async threads serving SSE and other requests.
    tokio::task::spawn_blocking(move || {
        let reply = ingest_body(&state, &body);
        drop(slot);
        reply
    })
    .await
    .map_err(|e| ApiError::internal("ingest", e))?
}

#[derive(Debug, PartialEq)]
enum BodyError {
    /// Over the limit: by its declared `Content-Length` (before any of it is read), or, when
    /// none is declared, once the bytes read pass the limit.
    TooLarge { declared: Option<u64> },
    /// The connection failed mid-body.
    Unreadable(String),
}

/// The request body, at most `limit` bytes. A declared length over the limit is refused before a
/// byte is read, so the client hears at once instead of uploading megabytes to be thrown away.
async fn read_body(request: Request, limit: usize) -> Result<Bytes, BodyError> {
    let declared = request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if let Some(declared) = declared.filter(|&n| n > limit as u64) {
        return Err(BodyError::TooLarge { declared: Some(declared) });
    }
    match Limited::new(request.into_body(), limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => Err(BodyError::TooLarge { declared: None }),
        Err(e) => Err(BodyError::Unreadable(e.to_string())),
    }
}

fn ingest_body(state: &AppState, body: &[u8]) -> Result<Response, ApiError> {
    let records = match split_records(body) {
        Ok(r) => r,
        Err(dead) => {
            let dead = state.admission.masked(dead);
            state.metrics.received(SourceKind::Http, 1);
            state.outputs.dead_letter(&dead);
            let reply = IngestReply {
                accepted: 0,
                rejected: vec![Rejected { index: 0, reason: dead.reason, detail: dead.detail }],
            };
            return Ok((StatusCode::BAD_REQUEST, Json(reply)).into_response());
        }
    };
    if records.is_empty() {
        return Err(ApiError::bad_request("the body holds no records"));
    }
    state.metrics.received(SourceKind::Http, records.len() as u64);
    let now = chrono::Utc::now().timestamp_millis();
    // Durable ingest only needs to know which records are good: the consumer group that reads
    // them back admits (and enriches) them in full.
    let admitted = match state.durable {
        Some(DurableStore::Redis(_)) => state.admission.validate_batch(&records, now, "http"),
        _ => state.admission.admit_batch(&records, now, "http"),
    };
    let mut rejected = Vec::with_capacity(admitted.dead.len());
    for (index, dead) in admitted.dead {
        state.outputs.dead_letter(&dead);
        rejected.push(Rejected { index, reason: dead.reason, detail: dead.detail });
    }
    let events = admitted.events;
    let accepted = events.len();
    // The accepted records as sent: what durable ingest stores.
    let kept = || {
        let refused: std::collections::HashSet<usize> = rejected.iter().map(|r| r.index).collect();
        records.iter().enumerate().filter(|(i, _)| !refused.contains(i)).map(|(_, r)| *r).collect::<Vec<&[u8]>>()
    };
    if let (Some(DurableStore::Redis(appender)), false) = (&state.durable, events.is_empty()) {
        // Into the stream the consumer group reads, which counts them.
        if let Err(e) = appender.append(&kept()) {
            state.metrics.rejected_busy();
            let error = ApiError::unavailable(format!("could not store the records durably in redis: {e}"));
            return Err(error.with("accepted", 0).retry_after(1));
        }
    } else if !events.is_empty() {
        let newest_ms = events.iter().map(|e| e.ts_ms).max().unwrap_or(i64::MIN);
        match state.feed.try_send(events) {
            Ok(_) => {}
            Err(TrySendError::Full(_)) => {
                state.metrics.rejected_busy();
                let error = ApiError::unavailable("the dataflow queue is full; retry later");
                return Err(error.with("accepted", 0).retry_after(1));
            }
            Err(TrySendError::Disconnected(_)) => return Err(ApiError::unavailable("the dataflow has stopped")),
        }
        // Logged after the queue took them: a full queue then leaves nothing in the log that
        // was not counted. A failed write is the rare case of counted but not durable.
        if let Some(DurableStore::Wal(wal)) = &state.durable {
            if let Err(e) = wal.append(&kept(), newest_ms) {
                state.metrics.rejected_busy();
                let error = ApiError::unavailable(format!(
                    "the records are counted but could not be written to the write-ahead log ({e}): \
                     resend them with their ids, which count once"
                ));
                return Err(error.with("accepted", 0).retry_after(1));
            }
        }
    }
    let status = if rejected.is_empty() { StatusCode::ACCEPTED } else { StatusCode::BAD_REQUEST };
    Ok((status, Json(IngestReply { accepted, rejected })).into_response())
}

/// Cuts a request body into records. A body-level problem (an unparseable JSON array) is one
/// dead letter for the whole body.
pub fn split_records(body: &[u8]) -> Result<Vec<&[u8]>, DeadLetter> {
    let start = body.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(body.len());
    match body.get(start) {
        None => Ok(Vec::new()),
        Some(b'[') => {
            let items: Vec<&RawValue> = serde_json::from_slice(body).map_err(|e| {
                let reason = if std::str::from_utf8(body).is_err() {
                    DeadReason::InvalidUtf8
                } else {
                    DeadReason::MalformedJson
                };
                DeadLetter::new(reason, format!("body is not a JSON array of records: {e}"), body, "http")
            })?;
            Ok(items.into_iter().map(|r| r.get().as_bytes()).collect())
        }
        Some(b'{') if serde_json::from_slice::<&RawValue>(body).is_ok() => Ok(vec![&body[start..]]),
        _ => Ok(body
            .split(|b| *b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
            .collect()),
    }
}

/// `POST /v1/reload`: reads the configuration again and applies it live (see `config::reload`).
/// `200 {"applied": [...]}`; `400 {"errors": [...]}` when it is invalid; `409` when it changes
/// what needs a restart. On refusal the running configuration stays.
async fn reload(State(state): State<Arc<AppState>>) -> Result<Json<serde_json::Value>, ApiError> {
    let reloader = state.reloader.clone();
    let applied =
        tokio::task::spawn_blocking(move || reloader.reload()).await.map_err(|e| ApiError::internal("reload", e))??;
    Ok(Json(serde_json::json!({ "applied": applied })))
}

async fn get_alerts(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "alerts": state.hub.active() }))
}

#[derive(serde::Deserialize)]
struct ClusterQuery {
    limit: Option<usize>,
}

/// `GET /v1/reports`: the digests the `[[report]]` schedules released (the last 20), newest
/// first, each as `{"report", "date", "markdown", "digest"}`; `[]` without reports.
async fn get_reports(State(state): State<Arc<AppState>>) -> Response {
    let digests = state.reports.as_ref().map(|r| r.recent()).unwrap_or_default();
    Json(digests.iter().rev().map(|d| d.envelope()).collect::<Vec<_>>()).into_response()
}

/// `GET /v1/clusters?limit=N`: established clusters, largest first (100 unless `limit` says).
async fn get_clusters(
    State(state): State<Arc<AppState>>,
    axum::extract::Query(q): axum::extract::Query<ClusterQuery>,
) -> Json<serde_json::Value> {
    let all = state.clusters.list();
    let total = all.len();
    let shown: Vec<_> = all.into_iter().take(q.limit.unwrap_or(100)).collect();
    Json(serde_json::json!({ "total": total, "clusters": shown }))
}

/// `GET /v1/clusters/{id}`: one cluster; an id merged away answers with the cluster it became.
async fn get_cluster(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<crate::dataflow::clusters::ClusterSummary>, ApiError> {
    state.clusters.get(&id).map(Json).ok_or_else(|| {
        ApiError::not_found(format!(
            "no established cluster `{id}` (clusters idle past [cluster] idle_expiry are dropped)"
        ))
    })
}

/// Decrements a client gauge when its SSE stream is dropped.
struct ClientGuard(Arc<Metrics>, fn(&Metrics) -> &AtomicI64);
impl Drop for ClientGuard {
    fn drop(&mut self) {
        (self.1)(&self.0).fetch_sub(1, Ordering::Relaxed);
    }
}

/// A broadcast as SSE events until the server shuts down: each message through `event`, a
/// client that fell behind gets a `lagged` event, and `gauge` counts the connected clients.
fn live_events(
    state: &AppState,
    messages: tokio::sync::broadcast::Receiver<Arc<str>>,
    gauge: fn(&Metrics) -> &AtomicI64,
    event: fn(&str) -> SseEvent,
) -> impl tokio_stream::Stream<Item = Result<SseEvent, std::convert::Infallible>> {
    enum Item {
        Message(Result<Arc<str>, tokio_stream::wrappers::errors::BroadcastStreamRecvError>),
        Closing,
    }
    gauge(&state.metrics).fetch_add(1, Ordering::Relaxed);
    let guard = ClientGuard(state.metrics.clone(), gauge);
    let messages = BroadcastStream::new(messages).map(Item::Message);
    let closing = WatchStream::new(state.closing.clone()).filter(|closing| *closing).map(|_| Item::Closing);
    messages.merge(closing).take_while(|item| !matches!(item, Item::Closing)).map(move |item| {
        let _keep = &guard;
        Ok(match item {
            Item::Message(Ok(data)) => event(&data),
            Item::Message(Err(tokio_stream::wrappers::errors::BroadcastStreamRecvError::Lagged(n))) => {
                SseEvent::default().event("lagged").data(format!("{{\"missed\":{n}}}"))
            }
            Item::Closing => unreachable!("take_while stops before the closing marker"),
        })
    })
}

/// `GET /v1/alerts/stream`: every alert state change as an SSE `alert` event (JSON data).
/// The stream ends when the server shuts down.
async fn alert_stream(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let alerts = live_events(
        &state,
        state.hub.subscribe(),
        |m| &m.sse_clients,
        |json| SseEvent::default().event("alert").data(json),
    );
    Sse::new(alerts).keep_alive(KeepAlive::default())
}

async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], state.metrics.render())
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    let redis = state.metrics.redis_problem();
    let ready = state.ready.load(Ordering::Relaxed) && redis.is_none();
    let mut body = serde_json::json!({ "ready": ready, "models": state.models });
    if let Some(why) = redis {
        body["reason"] = why.into();
    }
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_objects_arrays_and_ndjson() {
        assert_eq!(
            split_records(b"{\n \"text\": \"a\"\n}\n").unwrap().len(),
            1,
            "a pretty-printed object is one record"
        );
        assert_eq!(
            split_records(br#"[{"text":"a"}, {"text":"b"}]"#).unwrap(),
            vec![&br#"{"text":"a"}"#[..], br#"{"text":"b"}"#]
        );
        assert_eq!(split_records(b"{\"text\":\"a\"}\r\n\n{\"text\":\"b\"}\n{bad").unwrap().len(), 3);
        assert_eq!(split_records(b"[{\"text\":").unwrap_err().reason, DeadReason::MalformedJson);
        assert!(split_records(b"  ").unwrap().is_empty());
    }

    async fn read(body: axum::body::Body, content_length: Option<usize>, limit: usize) -> Result<Bytes, BodyError> {
        let mut request = Request::new(body);
        if let Some(n) = content_length {
            request.headers_mut().insert(header::CONTENT_LENGTH, n.into());
        }
        let read = read_body(request, limit);
        tokio::time::timeout(std::time::Duration::from_secs(5), read).await.expect("read_body never finished")
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_refused_declared_or_not() {
        use axum::body::Body;
        assert_eq!(read(Body::from("x".repeat(1024)), Some(1024), 1024).await.unwrap().len(), 1024);
        assert_eq!(read(Body::from("x".repeat(1024)), None, 1024).await.unwrap().len(), 1024);

        // Declared too large: refused without reading, so a body that never arrives cannot stall it.
        let never = Body::from_stream(tokio_stream::pending::<Result<Bytes, std::io::Error>>());
        assert_eq!(read(never, Some(9 << 20), 8 << 20).await, Err(BodyError::TooLarge { declared: Some(9 << 20) }));

        // Not declared (chunked): cut off where it passes the limit.
        let chunks = (0..3).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b' '; 512])));
        let cut = read(Body::from_stream(tokio_stream::iter(chunks)), None, 1024).await;
        assert_eq!(cut, Err(BodyError::TooLarge { declared: None }));

        // A body that fails mid-read says why.
        let broken = [Ok(Bytes::from_static(b"{")), Err(std::io::Error::other("connection reset"))];
        let failed = read(Body::from_stream(tokio_stream::iter(broken)), None, 1024).await;
        assert!(matches!(&failed, Err(BodyError::Unreadable(e)) if e.contains("connection reset")), "{failed:?}");
    }
}
