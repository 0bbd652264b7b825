//! Reading keys back at start: every key of a pattern, without blocking a large keyspace.

use super::resp::{cmd, Connection, Reply};
use super::sink::RestoreError;

/// Every key matching `pattern` (SCAN, so a large keyspace is not blocked).
pub(super) fn scan(connection: &mut Connection, pattern: &str) -> Result<Vec<String>, RestoreError> {
    let (mut cursor, mut keys) = ("0".to_string(), Vec::new());
    loop {
        let reply = connection
            .call(cmd(["SCAN", &cursor, "MATCH", pattern, "COUNT", "1000"]))
            .map_err(|source| RestoreError::Command { command: format!("SCAN {pattern}"), source })?;
        let parts = reply
            .as_array()
            .ok_or_else(|| RestoreError::Invalid(format!("SCAN {pattern}: unexpected reply {reply:?}")))?;
        cursor = parts
            .first()
            .and_then(Reply::as_bytes)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .unwrap_or_default();
        for key in parts.get(1).and_then(Reply::as_array).unwrap_or_default() {
            if let Some(k) = key.as_bytes() {
                keys.push(String::from_utf8_lossy(k).into_owned());
            }
        }
        if cursor == "0" || cursor.is_empty() {
            break;
        }
    }
    keys.sort();
    keys.dedup();
    Ok(keys)
}

/// `text` as a literal inside a SCAN MATCH pattern.
pub(super) fn glob_escape(text: &str) -> String {
    text.chars().fold(String::new(), |mut out, c| {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
        out
    })
}
