//! The Redis connector: one RESP client (`resp`), the feedback source (a consumer group on a
//! stream), the sink (alerts, dead letters, rolling aggregates, cluster snapshots), the ledger
//! that acknowledges entries only after their aggregates are written (`acks`), and what a
//! restart reads back. Keys and their layout: docs/redis.md.

pub mod acks;
pub mod append;
mod daily;
mod handoff;
mod keyspace;
mod kpi;
mod qa;
mod reports;
pub mod resp;
pub mod sink;
pub mod source;
mod state_log;

/// A connection to the configured Redis (TLS, AUTH and SELECT as its url says).
pub fn connect(redis: &crate::config::RedisConfig, timeout: std::time::Duration) -> std::io::Result<resp::Connection> {
    let endpoint = redis.endpoint().map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    resp::Connection::open(&endpoint, timeout)
}

/// The error kind a Redis failure is counted under: `refused` when Redis answered but would not
/// let us in (wrong password, no ACL permission, a SELECT refused), else `otherwise`.
pub fn failure_kind(e: &std::io::Error, otherwise: &'static str) -> &'static str {
    if e.kind() == std::io::ErrorKind::PermissionDenied {
        "refused"
    } else {
        otherwise
    }
}
