//! The live dashboard: one page, its script and style compiled into the binary (no CDN, no
//! build step), fed by one SSE stream of server-side aggregates (`server::board`).

use super::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::IntoResponse;
use std::sync::Arc;
use tokio_stream::StreamExt;

const PAGE: &str = include_str!("assets/index.html");
const SCRIPT: &str = include_str!("assets/dashboard.js");
const STYLE: &str = include_str!("assets/dashboard.css");

pub(super) async fn page() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], PAGE)
}

pub(super) async fn script() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], SCRIPT)
}

pub(super) async fn style() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], STYLE)
}

/// `GET /v1/dashboard/stream`: a `snapshot` event with everything shown, then `windows`,
/// `alert`, `clusters` and `status` events as they change. A browser that falls behind gets a
/// `lagged` event and reloads the snapshot by reconnecting.
pub(super) async fn stream(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    // Subscribe before the snapshot: what changes in between is sent twice, never lost.
    let updates = super::live_events(
        &state,
        state.dashboard.subscribe(),
        |m| &m.dashboard_clients,
        |frame| {
            let (event, data) = frame.split_once('\n').unwrap_or(("message", frame));
            SseEvent::default().event(event).data(data)
        },
    );
    let snapshot = SseEvent::default().event("snapshot").data(state.dashboard.snapshot());
    let first = tokio_stream::once(Ok::<_, std::convert::Infallible>(snapshot));
    Sse::new(first.chain(updates)).keep_alive(KeepAlive::default())
}
