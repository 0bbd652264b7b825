//! The records that travel between stages: window keys and aggregates (`window`), and the
//! notices the detector judges besides them (`notice`). One home for the types that ingest,
//! the clusterer, the detector, the alert engine and the sinks all speak.

pub mod conversation;
pub mod notice;
pub mod ticket;
pub mod window;
