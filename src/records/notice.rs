//! What the stages tell the detector besides window aggregates: sample messages that explain a
//! window, high-risk messages and new clusters (each of which becomes an alert of its own).

use super::window::Series;
use serde::{Deserialize, Serialize};

/// A (masked) message kept as an example of what a series' window contains.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Sample {
    pub series: Series,
    pub ts_ms: i64,
    pub id: String,
    pub text: String,
    pub sentiment_milli: i32,
}

/// A high-risk message, as its alert describes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RiskyMessage {
    pub risk: String,
    pub id: String,
    pub ts_ms: i64,
    pub category: String,
    pub channel: String,
    pub campaign: Option<String>,
    pub sentiment_milli: i32,
    pub negative: bool,
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Scope {
    Global,
    Category(String),
}

impl Scope {
    pub fn name(&self) -> &str {
        match self {
            Scope::Global => "global",
            Scope::Category(c) => c,
        }
    }
}

pub fn cluster_name(id: u64) -> String {
    format!("c-{id}")
}

/// A cluster that just became new: what its alert says.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewCluster {
    pub id: u64,
    pub scope: Scope,
    pub ts_ms: i64,
    pub first_seen_ms: i64,
    pub size: u64,
    pub keywords: Vec<String>,
    pub samples: Vec<String>,
    pub sample_ids: Vec<String>,
    pub sentiment_mean: f64,
    pub negative_share: f64,
    pub categories: Vec<String>,
    pub channels: Vec<String>,
    /// Cosine to the nearest established cluster (how new it is), if there is one.
    pub nearest_established: Option<(u64, f32)>,
}

/// A value of another dimension (or of a configured `meta` field) among a series' messages:
/// what an alert's attribution names as a driver.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Facet {
    pub dimension: FacetDimension,
    pub value: crate::event::SmolStr,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum FacetDimension {
    Dimension(crate::config::Dimension),
    /// The `i`-th field of `[attribution] meta`.
    Meta(u8),
}

/// How one series' messages in one slice of event time split over the other dimensions: the
/// slice's message count and each facet's. Several may arrive for one slice (ticks, workers);
/// they add up.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Breakdown {
    pub series: Series,
    /// Slice start, epoch seconds (slices as long as the largest duration every window size
    /// is a multiple of).
    pub slice_s: i64,
    pub total: u64,
    pub facets: Vec<(Facet, u64)>,
}
