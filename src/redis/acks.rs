//! Acknowledgement of stream entries only after the aggregates that count them are written: the
//! ledger the source fills and the sink's checkpoint empties, in the same MULTI/EXEC as the
//! aggregates (docs/redis.md § Durability).

use super::resp::{cmd, Command};
use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};

/// Stream entry ids by the feed batch that carried them, from the moment the source hands them
/// on until a checkpoint has written the aggregates that count them (and acknowledged them in
/// the same transaction). Dead-lettered entries wait under the last batch sent before them.
#[derive(Clone, Default)]
pub struct AckLedger(Arc<Mutex<VecDeque<BatchIds>>>);

/// A feed batch's number and the entry ids it carried.
type BatchIds = (u64, Vec<Vec<u8>>);

impl AckLedger {
    pub fn record(&self, batch: u64, ids: Vec<Vec<u8>>) {
        if !ids.is_empty() {
            self.lock().push_back((batch, ids));
        }
    }

    /// Takes the ids of every batch up to `absorbed_through`.
    pub fn take_through(&self, absorbed_through: u64) -> Vec<Vec<u8>> {
        let mut ledger = self.lock();
        let mut ids = Vec::new();
        while ledger.front().is_some_and(|(batch, _)| *batch <= absorbed_through) {
            ids.extend(ledger.pop_front().expect("checked").1);
        }
        ids
    }

    /// Puts back ids whose checkpoint could not be written; the next checkpoint takes them.
    pub fn put_back(&self, ids: Vec<Vec<u8>>) {
        if !ids.is_empty() {
            self.lock().push_front((0, ids));
        }
    }

    /// The ids still waiting (a re-delivery of one of them is not admitted twice).
    pub fn waiting(&self) -> HashSet<Vec<u8>> {
        self.lock().iter().flat_map(|(_, ids)| ids.iter().cloned()).collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<BatchIds>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// `XACK stream group id…`.
pub fn xack(stream: &str, group: &str, ids: &[Vec<u8>]) -> Command {
    let mut command = cmd(["XACK", stream, group]);
    command.extend(ids.iter().cloned());
    command
}
