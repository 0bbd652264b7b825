//! Where alerts and dead letters go. Every sink implements one small trait; the dataflow sees a
//! [`Fanout`] of them and never waits on a slow one (network sinks queue and drop with a count).

pub mod deadletter;
pub mod ndjson;
pub mod sse;

use crate::alerts::Alert;
use crate::event::DeadLetter;
use std::sync::Arc;

pub trait AlertSink: Send + Sync {
    fn deliver(&self, alert: &Alert);
    /// Called when the pipeline ends, so buffered sinks can write out.
    fn flush(&self) {}
}

pub trait DeadLetterSink: Send + Sync {
    fn deliver(&self, dead: &DeadLetter);
    fn flush(&self) {}
}

/// Sends every alert to each sink in turn.
#[derive(Clone, Default)]
pub struct Fanout {
    pub alerts: Vec<Arc<dyn AlertSink>>,
    pub dead_letters: Vec<Arc<dyn DeadLetterSink>>,
}

impl Fanout {
    pub fn alert(&self, alert: &Alert) {
        for s in &self.alerts {
            s.deliver(alert);
        }
    }
    pub fn dead_letter(&self, dead: &DeadLetter) {
        for s in &self.dead_letters {
            s.deliver(dead);
        }
    }
    pub fn flush(&self) {
        self.alerts.iter().for_each(|s| s.flush());
        self.dead_letters.iter().for_each(|s| s.flush());
    }
}
