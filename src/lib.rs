//! feedpulse: a live customer-feedback stream processor on timely / differential dataflow.
//!
//! The modules follow the path of one message (docs/architecture.md): `sources` → `admit` (decode, `clean`,
//! `enrich`) → `dataflow` (ingest, windows, detect) → `alerts` → `sinks`, with `server` for the
//! HTTP API and `config` for everything configurable.

pub mod admit;
pub mod alerts;
pub mod backtest;
pub mod bytescan;
pub mod clean;
pub mod cmd;
pub mod config;
pub mod dataflow;
pub mod demo;
pub mod enrich;
pub mod eval;
pub mod event;
pub mod feed;
pub mod records;
pub mod redis;
pub mod report;
pub mod server;
pub mod sinks;
pub mod sources;
pub mod telemetry;
pub mod topology;
pub mod util;
