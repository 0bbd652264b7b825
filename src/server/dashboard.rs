//! The live dashboard: one page, its script and style compiled into the binary (no CDN, no
//! build step), fed by one SSE stream of server-side aggregates (`sinks::dashboard`).

use super::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::IntoResponse;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio_stream::wrappers::{BroadcastStream, WatchStream};
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

/// Decrements the viewer gauge when a dashboard stream is dropped.
struct ViewerGuard(Arc<crate::telemetry::Metrics>);
impl Drop for ViewerGuard {
    fn drop(&mut self) {
        self.0.dashboard_clients.fetch_sub(1, Ordering::Relaxed);
    }
}

/// `GET /v1/dashboard/stream`: a `snapshot` event with everything shown, then `windows`,
/// `alert`, `clusters` and `status` events as they change. A browser that falls behind gets a
/// `lagged` event and reloads the snapshot by reconnecting.
pub(super) async fn stream(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    enum Item {
        Message(Result<Arc<str>, tokio_stream::wrappers::errors::BroadcastStreamRecvError>),
        Closing,
    }
    state.metrics.dashboard_clients.fetch_add(1, Ordering::Relaxed);
    let guard = ViewerGuard(state.metrics.clone());
    // Subscribe before the snapshot: what changes in between is sent twice, never lost.
    let updates = BroadcastStream::new(state.dashboard.subscribe()).map(Item::Message);
    let snapshot = state.dashboard.snapshot();
    let closing = WatchStream::new(state.closing.clone()).filter(|closing| *closing).map(|_| Item::Closing);
    let first =
        tokio_stream::once(Ok::<_, std::convert::Infallible>(SseEvent::default().event("snapshot").data(snapshot)));
    let rest = updates.merge(closing).take_while(|item| !matches!(item, Item::Closing)).map(move |item| {
        let _keep = &guard;
        Ok(match item {
            Item::Message(Ok(frame)) => {
                let (event, data) = frame.split_once('\n').unwrap_or(("message", &frame));
                SseEvent::default().event(event).data(data)
            }
            Item::Message(Err(tokio_stream::wrappers::errors::BroadcastStreamRecvError::Lagged(n))) => {
                SseEvent::default().event("lagged").data(format!("{{\"missed\":{n}}}"))
            }
            Item::Closing => unreachable!("take_while stops before the closing marker"),
        })
    });
    Sse::new(first.chain(rest)).keep_alive(KeepAlive::default())
}
