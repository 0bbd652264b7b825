//! Internal events: what the process tells its operators about itself, logged and counted in
//! one call (Vector's `internal_events`), so a failure never shows in the log without its
//! counter in `/metrics`, or the other way round.

use super::Metrics;
use std::fmt::Display;

pub trait InternalEvent {
    fn emit(self, metrics: &Metrics);
}

/// A sink or source could not do something: counted in
/// `feedpulse_sink_errors_total{sink, kind}`, logged at warn with what went wrong.
pub struct SinkFailed<'a> {
    pub sink: &'static str,
    pub kind: &'static str,
    pub error: &'a dyn Display,
}

impl InternalEvent for SinkFailed<'_> {
    fn emit(self, metrics: &Metrics) {
        tracing::warn!(sink = self.sink, kind = self.kind, "{}", self.error);
        metrics.sink_error(self.sink, self.kind);
    }
}

/// Something was dropped or put off on purpose (a full queue, a checkpoint deferred to the
/// next one): counted like a failure, logged at debug only, since under load it happens once
/// per message and the counter already says how often.
pub struct SinkShed {
    pub sink: &'static str,
    pub kind: &'static str,
}

impl InternalEvent for SinkShed {
    fn emit(self, metrics: &Metrics) {
        tracing::debug!(sink = self.sink, kind = self.kind, "shed");
        metrics.sink_error(self.sink, self.kind);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_counted_where_metrics_show_it() {
        let metrics = Metrics::default();
        SinkFailed { sink: "redis", kind: "connect", error: &"refused" }.emit(&metrics);
        SinkShed { sink: "redis", kind: "queue_full" }.emit(&metrics);
        assert_eq!(metrics.sink_errors_total("redis"), 2);
        let text = metrics.render();
        assert!(text.contains("feedpulse_sink_errors_total{sink=\"redis\",kind=\"connect\"} 1"), "{text}");
    }
}
