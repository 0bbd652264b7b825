//! The live picture of established clusters behind `GET /v1/clusters` and the dashboard.

use crate::dataflow::clusters::{ClusterSummary, ClusterUpdate};
use crate::sinks::ClusterSink;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

#[derive(Clone, Default)]
pub struct ClusterBoard {
    inner: Arc<RwLock<Board>>,
}

#[derive(Default)]
struct Board {
    clusters: BTreeMap<String, ClusterSummary>,
    merged_into: HashMap<String, String>,
}

impl ClusterBoard {
    /// Established clusters, largest first (ties: newest first).
    pub fn list(&self) -> Vec<ClusterSummary> {
        let board = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<ClusterSummary> = board.clusters.values().cloned().collect();
        v.sort_by(|a, b| {
            b.size.cmp(&a.size).then_with(|| b.first_seen.cmp(&a.first_seen)).then_with(|| a.id.cmp(&b.id))
        });
        v
    }

    /// A cluster by id; an id merged away finds the cluster it became.
    pub fn get(&self, id: &str) -> Option<ClusterSummary> {
        let board = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let mut id = id.to_owned();
        for _ in 0..64 {
            match board.merged_into.get(&id) {
                Some(into) => id = into.clone(),
                None => break,
            }
        }
        board.clusters.get(&id).cloned()
    }
}

impl ClusterSink for ClusterBoard {
    fn clusters(&self, update: &ClusterUpdate) {
        let mut board = self.inner.write().unwrap_or_else(|e| e.into_inner());
        for s in &update.summaries {
            board.clusters.insert(s.id.clone(), s.clone());
        }
        if board.merged_into.len() > 10_000 {
            // Old redirections go first; the ids they name are long gone.
            board.merged_into.clear();
        }
        for (from, into) in &update.merged {
            board.clusters.remove(from);
            board.merged_into.insert(from.clone(), into.clone());
        }
        for id in &update.dropped {
            board.clusters.remove(id);
        }
    }
}
