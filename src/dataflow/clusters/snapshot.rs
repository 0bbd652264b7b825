//! Restarting with the same clusters: what a snapshot keeps and how a clusterer resumes from it.

use super::model::*;
use super::state::{ClusterState, Space};

impl ClusterState {
    /// Continues from `snapshot`. Its clusters are kept only when they live in the space the
    /// parameters ask for (whitened or raw); otherwise the clusterer starts afresh (ids go on
    /// from the snapshot's, so an old id never names a new cluster).
    pub fn restore(params: ClusterParams, dim: usize, snapshot: ClusterSnapshot) -> Self {
        let whiten = params.whitening_sample > 0;
        let mut state = Self::new(params, dim);
        state.next_id = snapshot.next_id;
        match snapshot.whitening {
            Some(w) if whiten && w.dim() == dim => state.space = Space::Whitened(w),
            None if !whiten => {}
            _ => {
                if !snapshot.clusters.is_empty() {
                    tracing::warn!(
                        clusters = snapshot.clusters.len(),
                        "the saved clusters were formed with whitening {} and this configuration has it {}: starting the clusters afresh",
                        if whiten { "off" } else { "on" },
                        if whiten { "on" } else { "off" }
                    );
                }
                state.next_id = state.next_id.max(snapshot.clusters.iter().map(|c| c.id + 1).max().unwrap_or(1));
                return state;
            }
        }
        state.started_ms = snapshot.started_ms;
        state.clock_ms = snapshot.clock_ms;
        for cluster in snapshot.clusters {
            if cluster.sum.len() != dim {
                continue;
            }
            let centroid = cluster.centroid();
            let sketch = state.sketcher.sketch(&centroid.0);
            state.index.entry(cluster.scope.clone()).or_default().push(cluster.id, &centroid.0, &sketch);
            for t in &cluster.texts {
                state.count_terms(&t.terms, 1);
            }
            state.next_id = state.next_id.max(cluster.id + 1);
            state.clusters.insert(cluster.id, cluster);
        }
        state
    }

    pub fn snapshot(&self) -> ClusterSnapshot {
        let mut clusters: Vec<Cluster> = self.clusters.values().cloned().collect();
        clusters.sort_by_key(|c| c.id);
        let whitening = match &self.space {
            Space::Whitened(w) => Some(w.clone()),
            _ => None,
        };
        ClusterSnapshot {
            next_id: self.next_id,
            started_ms: self.started_ms,
            clock_ms: self.clock_ms,
            clusters,
            whitening,
        }
    }

    /// The established clusters: what a restart needs (the others are a few messages each).
    pub fn snapshot_established(&self) -> ClusterSnapshot {
        let mut snapshot = self.snapshot();
        snapshot.clusters.retain(|c| c.established);
        snapshot
    }
}
