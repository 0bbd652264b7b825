//! Server-Sent Events hub and the set of active alerts behind `GET /v1/alerts`.

use super::AlertSink;
use crate::alerts::{Alert, AlertStatus};
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use tokio::sync::broadcast;

/// Capacity of the broadcast buffer: a client that falls this far behind is told it lagged.
const SSE_BUFFER: usize = 4096;

#[derive(Clone)]
pub struct AlertHub {
    tx: broadcast::Sender<Arc<str>>,
    active: Arc<RwLock<BTreeMap<String, Alert>>>,
}

impl Default for AlertHub {
    fn default() -> Self {
        AlertHub { tx: broadcast::channel(SSE_BUFFER).0, active: Default::default() }
    }
}

impl AlertHub {
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<str>> {
        self.tx.subscribe()
    }

    /// Currently firing alerts, newest first.
    pub fn active(&self) -> Vec<Alert> {
        let mut v: Vec<Alert> = self.active.read().unwrap().values().cloned().collect();
        v.sort_by(|a, b| b.starts_at.cmp(&a.starts_at).then_with(|| a.fingerprint.cmp(&b.fingerprint)));
        v
    }
}

impl AlertSink for AlertHub {
    fn deliver(&self, alert: &Alert) {
        {
            let mut active = self.active.write().unwrap();
            match alert.status {
                AlertStatus::Firing => active.insert(alert.fingerprint.clone(), alert.clone()),
                AlertStatus::Resolved => active.remove(&alert.fingerprint),
            };
        }
        let json: Arc<str> = serde_json::to_string(alert).expect("alerts serialise").into();
        // No subscribers is fine: nobody is watching.
        let _ = self.tx.send(json);
    }
}
