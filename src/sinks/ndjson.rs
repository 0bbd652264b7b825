//! NDJSON writer for alerts (stdout or a file), one JSON object per line.

use super::AlertSink;
use crate::alerts::Alert;
use std::io::Write;
use std::sync::Mutex;

pub struct NdjsonAlerts {
    out: Mutex<Box<dyn Write + Send>>,
    /// Flush after every alert (live use), or only at the end (replay).
    eager: bool,
}

impl NdjsonAlerts {
    pub fn new(out: Box<dyn Write + Send>, eager: bool) -> Self {
        NdjsonAlerts { out: Mutex::new(out), eager }
    }

    pub fn stdout(eager: bool) -> Self {
        Self::new(Box::new(std::io::stdout()), eager)
    }

    pub fn file(path: &std::path::Path, eager: bool) -> std::io::Result<Self> {
        Ok(Self::new(Box::new(std::io::BufWriter::new(std::fs::File::create(path)?)), eager))
    }
}

impl AlertSink for NdjsonAlerts {
    fn deliver(&self, alert: &Alert) {
        let mut out = self.out.lock().unwrap();
        let line = serde_json::to_string(alert).expect("alerts serialise");
        if let Err(e) = writeln!(out, "{line}").and_then(|_| if self.eager { out.flush() } else { Ok(()) }) {
            tracing::warn!(error = %e, "could not write alert");
        }
    }

    fn flush(&self) {
        let _ = self.out.lock().unwrap().flush();
    }
}
