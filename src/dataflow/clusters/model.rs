//! The clusterer's records: its parameters, a message as it sees it, a cluster, what absorbing
//! a message changed, snapshots and the summaries the read side shows.

use crate::dataflow::whitening::Whitening;
use crate::event::{Embedding, EMBEDDING_SCALE};
use crate::records::notice::{NewCluster, Scope};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet, VecDeque};

/// Member texts stored per cluster (first ones, then a reservoir sample).
pub(super) const TEXTS_KEPT: usize = 16;
/// Ids of a cluster's first members (the new-cluster alert's `sample_ids`).
pub(super) const FIRST_IDS: usize = 10;
/// Distinct categories and channels tracked per cluster.
pub(super) const SPAN_KEPT: usize = 16;
/// Merged-away ids remembered, so a lookup by an old id finds the cluster it became.
pub(super) const MERGES_KEPT: usize = 10_000;

#[derive(Clone, Debug, PartialEq)]
pub struct ClusterParams {
    pub similarity: f32,
    pub merge_similarity: f32,
    pub novelty: f32,
    /// Members within `window_ms` that establish a cluster.
    pub min_size: usize,
    pub window_ms: i64,
    pub warmup_ms: i64,
    pub idle_expiry_ms: i64,
    pub max_clusters: usize,
    pub per_category: bool,
    /// Whether reaching `min_size` may raise a new-cluster alert (a `new_cluster` rule exists).
    pub alerts: bool,
    /// Messages the whitening is fitted on; 0: raw cosines.
    pub whitening_sample: usize,
}

impl ClusterParams {
    pub fn from_config(config: &crate::config::Config) -> Option<Self> {
        let c = config.cluster.as_ref()?;
        let rule = config.rules.iter().find(|r| r.kind == crate::config::RuleKind::NewCluster);
        Some(ClusterParams {
            similarity: c.similarity as f32,
            merge_similarity: c.merge_similarity as f32,
            novelty: c.novelty as f32,
            min_size: rule.map_or(8, |r| r.min_count as usize),
            window_ms: rule.map_or(30 * 60_000, |r| r.window.as_ms()),
            warmup_ms: c.warmup.as_ms(),
            idle_expiry_ms: c.idle_expiry.as_ms(),
            max_clusters: c.max_clusters,
            per_category: c.per_category,
            alerts: rule.is_some(),
            whitening_sample: c.whitening_sample,
        })
    }
}

/// One message as the clusterer sees it.
pub struct Member<'a> {
    pub id: &'a str,
    pub ts_ms: i64,
    pub category: &'a str,
    pub channel: &'a str,
    pub sentiment_milli: i32,
    /// Whether the sentiment counts as negative (`[enrich] negative_below`).
    pub negative: bool,
    pub text: &'a str,
    pub embedding: &'a [i16],
}

impl<'a> Member<'a> {
    /// An admitted event as the clusterer sees it; negative below `negative_below_milli`.
    pub fn of_event(ev: &'a crate::event::Event, negative_below_milli: i32) -> Self {
        Member {
            id: &ev.id,
            ts_ms: ev.ts_ms,
            category: &ev.category,
            channel: &ev.channel,
            sentiment_milli: ev.sentiment_milli,
            negative: ev.sentiment_milli < negative_below_milli,
            text: &ev.text,
            embedding: &ev.embedding.0,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(super) struct StoredText {
    pub(super) id: String,
    pub(super) text: String,
    /// Cosine to the centroid when the text joined.
    pub(super) similarity: f32,
    /// Its words, once its cluster has a second member (see [`ClusterState::segment_texts`]).
    pub(super) terms: Vec<String>,
    #[serde(default = "segmented")]
    pub(super) segmented: bool,
}

fn segmented() -> bool {
    true
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cluster {
    pub id: u64,
    pub scope: Scope,
    /// Sum of the members' unit embeddings: the centroid is its direction.
    pub(super) sum: Vec<f32>,
    pub count: u64,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    /// Event times of the latest members (at most the new-cluster size).
    pub(super) recent: VecDeque<i64>,
    pub first_ids: Vec<String>,
    /// Category scope: the global cluster each of the first members joined.
    #[serde(default)]
    pub(super) first_links: Vec<u64>,
    pub(super) texts: Vec<StoredText>,
    pub(super) sentiment_sum: i64,
    pub(super) negative: u64,
    pub(super) categories: BTreeMap<String, u64>,
    pub(super) channels: BTreeMap<String, u64>,
    pub established: bool,
    pub alerted: bool,
}

/// The direction of `sum`, as a quantised unit vector.
pub fn unit_quantized(sum: &[f32]) -> Embedding {
    let norm = sum.iter().map(|x| x * x).sum::<f32>().sqrt().max(f32::MIN_POSITIVE);
    Embedding(sum.iter().map(|x| (x / norm * EMBEDDING_SCALE).round() as i16).collect())
}

impl Cluster {
    pub(super) fn centroid(&self) -> Embedding {
        unit_quantized(&self.sum)
    }

    pub fn sentiment_mean(&self) -> f64 {
        self.sentiment_sum as f64 / 1000.0 / self.count.max(1) as f64
    }

    pub fn negative_share(&self) -> f64 {
        self.negative as f64 / self.count.max(1) as f64
    }

    /// Stored texts closest to the centroid, distinct, at most `k`.
    pub fn representatives(&self, k: usize) -> Vec<(String, String)> {
        let mut texts: Vec<&StoredText> = self.texts.iter().collect();
        texts.sort_by(|a, b| b.similarity.total_cmp(&a.similarity).then_with(|| a.id.cmp(&b.id)));
        let mut seen = HashSet::new();
        texts
            .into_iter()
            .filter(|t| seen.insert(t.text.as_str()))
            .take(k)
            .map(|t| (t.id.clone(), t.text.clone()))
            .collect()
    }

    pub(super) fn add_span(map: &mut BTreeMap<String, u64>, key: &str, n: u64) {
        if let Some(v) = map.get_mut(key) {
            *v += n;
        } else if map.len() < SPAN_KEPT {
            map.insert(key.to_owned(), n);
        }
    }
}

/// What absorbing a message changed.
#[derive(Clone, Debug, PartialEq)]
pub enum ClusterChange {
    /// The message joined (or started) `cluster`; `counted` when the cluster is established,
    /// so the message counts in its windows.
    Joined {
        cluster: u64,
        counted: bool,
    },
    New(NewCluster),
    Merged {
        from: u64,
        into: u64,
    },
    Dropped(u64),
}

/// Everything needed to continue after a restart with the same ids.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClusterSnapshot {
    pub next_id: u64,
    pub started_ms: Option<i64>,
    pub clock_ms: i64,
    pub clusters: Vec<Cluster>,
    /// The space the centroids live in; absent: raw embeddings.
    #[serde(default)]
    pub whitening: Option<Whitening>,
}

/// A cluster as `GET /v1/clusters`, the Redis sink and the dashboard show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClusterSummary {
    pub id: String,
    pub scope: String,
    pub size: u64,
    pub established: bool,
    pub alerted: bool,
    pub first_seen: String,
    pub last_seen: String,
    pub keywords: Vec<String>,
    pub samples: Vec<String>,
    pub sentiment_mean: f64,
    pub negative_share: f64,
    pub categories: BTreeMap<String, u64>,
    pub channels: BTreeMap<String, u64>,
}
