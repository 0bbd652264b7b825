//! The throttle on the clusterer's published changes.

use super::model::{ClusterChange, ClusterSnapshot, ClusterSummary};
use super::state::ClusterState;
use crate::records::notice::cluster_name;
use std::collections::HashSet;

/// What the clusterer tells the cluster sinks (board, Redis) at most once a second: the
/// established clusters that changed, ids merged away or dropped, and now and then a snapshot
/// to restart from.
#[derive(Clone, Debug, Default)]
pub struct ClusterUpdate {
    pub summaries: Vec<ClusterSummary>,
    /// (merged-away id, the id it became)
    pub merged: Vec<(String, String)>,
    pub dropped: Vec<String>,
    pub snapshot: Option<std::sync::Arc<ClusterSnapshot>>,
}

/// How often the clusterer publishes, and how often a snapshot goes with it (wall clock).
const PUBLISH_EVERY: std::time::Duration = std::time::Duration::from_secs(1);
const SNAPSHOT_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// The throttle on the clusterer's published changes: it gathers what changed and hands it on
/// at most once per [`PUBLISH_EVERY`] (wall clock), with a snapshot every [`SNAPSHOT_EVERY`].
pub(super) struct Publisher {
    changed: HashSet<u64>,
    merged: Vec<(u64, u64)>,
    dropped: Vec<u64>,
    published: HashSet<u64>,
    last: std::time::Instant,
    last_snapshot: std::time::Instant,
}

impl Publisher {
    pub(super) fn new() -> Self {
        let now = std::time::Instant::now();
        Publisher {
            changed: HashSet::new(),
            merged: Vec::new(),
            dropped: Vec::new(),
            published: HashSet::new(),
            last: now,
            last_snapshot: now,
        }
    }

    pub(super) fn note(&mut self, change: &ClusterChange) {
        match change {
            ClusterChange::Joined { cluster, counted: true } => {
                self.changed.insert(*cluster);
            }
            ClusterChange::New(n) => {
                self.changed.insert(n.id);
            }
            ClusterChange::Merged { from, into } => {
                self.changed.insert(*into);
                if self.published.contains(from) {
                    self.merged.push((*from, *into));
                }
            }
            ClusterChange::Dropped(id) => {
                if self.published.contains(id) {
                    self.dropped.push(*id);
                }
            }
            ClusterChange::Joined { .. } => {}
        }
    }

    /// The changes gathered since the last update, when one is due (`force`: now).
    pub(super) fn publish(&mut self, state: &ClusterState, force: bool) -> Option<ClusterUpdate> {
        if !force && self.last.elapsed() < PUBLISH_EVERY {
            return None;
        }
        self.last = std::time::Instant::now();
        let mut changed: Vec<u64> = self.changed.drain().collect();
        changed.sort_unstable();
        let summaries: Vec<ClusterSummary> = changed
            .into_iter()
            .filter(|id| state.clusters.get(id).is_some_and(|c| c.established))
            .filter_map(|id| {
                self.published.insert(id);
                state.summary(id)
            })
            .collect();
        let snapshot = (force || self.last_snapshot.elapsed() >= SNAPSHOT_EVERY).then(|| {
            self.last_snapshot = std::time::Instant::now();
            std::sync::Arc::new(state.snapshot_established())
        });
        let update = ClusterUpdate {
            summaries,
            merged: self.merged.drain(..).map(|(a, b)| (cluster_name(a), cluster_name(b))).collect(),
            dropped: self
                .dropped
                .drain(..)
                .map(|id| {
                    self.published.remove(&id);
                    cluster_name(id)
                })
                .collect(),
            snapshot,
        };
        Some(update)
    }
}
