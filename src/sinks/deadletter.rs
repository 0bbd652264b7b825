//! The dead-letter output: an NDJSON file of `{reason, detail, source, raw}` records, plus the
//! per-reason counters in [`Metrics`].

use super::DeadLetterSink;
use crate::event::DeadLetter;
use crate::telemetry::Metrics;
use std::io::Write;
use std::sync::{Arc, Mutex};

/// Counts every dead letter and, when given a writer, records it.
pub struct DeadLetters {
    metrics: Arc<Metrics>,
    out: Option<Mutex<Box<dyn Write + Send>>>,
}

impl DeadLetters {
    pub fn new(metrics: Arc<Metrics>, out: Option<Box<dyn Write + Send>>) -> Self {
        DeadLetters { metrics, out: out.map(Mutex::new) }
    }
}

impl DeadLetterSink for DeadLetters {
    fn deliver(&self, dead: &DeadLetter) {
        self.metrics.dead_letter(dead);
        if let Some(out) = &self.out {
            let line = serde_json::to_string(dead).expect("dead letters serialise");
            let _ = writeln!(out.lock().unwrap(), "{line}");
        }
    }

    fn flush(&self) {
        if let Some(out) = &self.out {
            let _ = out.lock().unwrap().flush();
        }
    }
}
