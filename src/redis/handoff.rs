//! `fp:handoff`: each hand-off alert's state changes, apart from `fp:alerts`, for the routing
//! services that read them with a consumer group of their own (docs/redis.md).

use super::resp::{cmd, Command};
use crate::alerts::Alert;
use crate::config::RuleTag;

/// The `XADD` of a hand-off's state change; `None` for other alerts.
pub fn entry(stream: &str, maxlen: &str, alert: &Alert, json: &str) -> Option<Command> {
    if alert.rule != RuleTag::Handoff.as_str() {
        return None;
    }
    let label = |name: &str| alert.labels.get(name).map_or("", String::as_str);
    Some(cmd([
        "XADD",
        stream,
        "MAXLEN",
        "~",
        maxlen,
        "*",
        "conversation",
        label("conversation"),
        "status",
        alert.status.as_str(),
        "priority",
        label("priority"),
        "escalation",
        label("escalation"),
        "business",
        label("business"),
        "alert",
        json,
    ]))
}
