//! The Redis connector: one RESP client (`resp`), the feedback source (a consumer group on a
//! stream), the sink (alerts, dead letters, rolling aggregates, cluster snapshots), the ledger
//! that acknowledges entries only after their aggregates are written (`acks`), and what a
//! restart reads back. Keys and their layout: docs/redis.md.

pub mod acks;
pub mod resp;
pub mod sink;
pub mod source;
