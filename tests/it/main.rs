//! The integration tests: one crate, so one link step for all of them.
//!
//! Modules without a feature gate need nothing but Rust: they run on a bare machine with plain
//! `cargo test` (those reading `../shared/eval-data` skip, saying so, where it is absent). The
//! ones behind the `e2e` feature start the real binary against real services or with the fetched
//! models: redis-server, prometheus-alertmanager, promtool, Chromium, Python with numpy. The
//! README's test command (`scripts/test.sh`) installs those and turns the feature on; CI runs it.
//! See `docs/testing.md`.

mod support;

mod backtest;
mod business_lines;
mod conversation_oracle;
mod dataflow_capture;
mod dataflow_oracle;
mod drivers;
mod handoff;
mod hostile_input;
mod pii_recall;
mod qa;
mod reload_e2e;
mod report;
mod segment_oracle;
mod summarizer_e2e;
mod ticket_oracle;
mod tickets;

#[cfg(feature = "e2e")]
mod access_e2e;
#[cfg(feature = "e2e")]
mod alertmanager_e2e;
#[cfg(feature = "e2e")]
mod cluster_e2e;
#[cfg(feature = "e2e")]
mod clusters_e2e;
#[cfg(feature = "e2e")]
mod dashboard_e2e;
#[cfg(feature = "e2e")]
mod demo_e2e;
#[cfg(feature = "e2e")]
mod durability_e2e;
#[cfg(feature = "e2e")]
mod encoder_reference;
#[cfg(feature = "e2e")]
mod enrich_e2e;
#[cfg(feature = "e2e")]
mod golden_alerts;
#[cfg(feature = "e2e")]
mod http_e2e;
#[cfg(feature = "e2e")]
mod metrics_e2e;
#[cfg(feature = "e2e")]
mod redis_e2e;
#[cfg(feature = "e2e")]
mod webhook_e2e;
