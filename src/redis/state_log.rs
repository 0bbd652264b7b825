//! The logs a restarted run folds again: `{prefix}tickets` (ticket events) and `{prefix}turns`
//! (conversation turns). Each checkpoint appends what it covers in the same MULTI/EXEC as its
//! windows and acknowledgements, so a restart rebuilds tickets and conversations from exactly
//! what the acknowledged entries carried (docs/redis.md). Entries older than the state they
//! could rebuild (`[tickets] idle` or the KPI windows' retention; `[conversation] idle`) are
//! trimmed as the log is appended.

use super::resp::{cmd, Command, Connection, Reply};
use super::sink::RestoreError;
use serde::{de::DeserializeOwned, Serialize};

/// Entries read per XRANGE call when a restart reads the log back.
const PAGE: usize = 10_000;

/// The XADDs of `items` to the log at `key`, trimming (approximately) what was appended more
/// than `keep_ms` before `now_ms`.
pub(super) fn append<T: Serialize>(key: &str, items: &[T], keep_ms: i64, now_ms: i64) -> Vec<Command> {
    let min_id = format!("{}-0", (now_ms - keep_ms).max(0));
    items
        .iter()
        .map(|e| {
            let text = serde_json::to_string(e).expect("logged records serialise");
            cmd(["XADD", key, "MINID", "~", &min_id, "*", "event", &text])
        })
        .collect()
}

/// Every record in the log at `key`, oldest first. An entry that does not parse is skipped and
/// counted in a warning (a log written by another version, or by hand).
pub(super) fn load<T: DeserializeOwned>(connection: &mut Connection, key: &str) -> Result<Vec<T>, RestoreError> {
    let (mut events, mut start, mut unreadable) = (Vec::new(), "-".to_string(), 0);
    loop {
        let reply = connection
            .call(cmd(["XRANGE", key, &start, "+", "COUNT", &PAGE.to_string()]))
            .map_err(|source| RestoreError::Command { command: format!("XRANGE {key}"), source })?;
        let entries = reply.as_array().unwrap_or_default();
        for entry in entries {
            let parts = entry.as_array().unwrap_or_default();
            let fields = parts.get(1).and_then(Reply::as_array).unwrap_or_default();
            let text = fields.chunks(2).find(|p| p.first().and_then(Reply::as_bytes) == Some(b"event"));
            match text.and_then(|p| p.get(1)?.as_bytes()).map(serde_json::from_slice::<T>) {
                Some(Ok(event)) => events.push(event),
                _ => unreadable += 1,
            }
        }
        let last = entries.last().and_then(|e| e.as_array()?.first()?.as_bytes().map(|b| b.to_vec()));
        match (entries.len() == PAGE, last) {
            // An exclusive start continues after the last entry read (Redis 6.2 and later).
            (true, Some(id)) => start = format!("({}", String::from_utf8_lossy(&id)),
            _ => break,
        }
    }
    if unreadable > 0 {
        tracing::warn!(key, unreadable, "skipped log entries that do not parse");
    }
    Ok(events)
}
