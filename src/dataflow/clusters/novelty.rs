//! The novelty threshold, calibrated from the stream (docs/clusters.md § Calibrated novelty).
//!
//! Whether a cluster that just reached the new-cluster size is a new kind of complaint depends
//! on how far apart kinds lie in this encoder's space for this stream: English banking intents
//! crowd at cosines of 0.8–0.9, unrelated Chinese reviews at 0.3. So the clusterer watches the
//! clusters it establishes as known (the warm-up's, slowly recurring ones, variants) and keeps,
//! per scope, the cosine from each to its nearest established neighbour. A new cluster is new
//! when it lies farther out than all but `quantile` of those known ones: a rate, the same on
//! every stream, instead of a cosine fitted to one.

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Known clusters' nearest-neighbour cosines remembered per scope (the latest ones).
const MEMORY: usize = 2000;
/// Below this many observations the scope borrows the global scope's scale, then the
/// configured fallback.
pub const MIN_OBSERVED: usize = 20;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NoveltyScale {
    observed: VecDeque<f32>,
}

impl NoveltyScale {
    /// A known cluster was established at this cosine to its nearest established neighbour.
    pub fn observe(&mut self, cos: f32) {
        if self.observed.len() == MEMORY {
            self.observed.pop_front();
        }
        self.observed.push_back(cos);
    }

    /// The cosine below which a cluster is farther out than all but `quantile` of the known
    /// ones; `None` before [`MIN_OBSERVED`] observations.
    pub fn threshold(&self, quantile: f64) -> Option<f32> {
        if self.observed.len() < MIN_OBSERVED {
            return None;
        }
        let mut sorted: Vec<f32> = self.observed.iter().copied().collect();
        sorted.sort_by(f32::total_cmp);
        let at = ((sorted.len() - 1) as f64 * quantile.clamp(0.0, 1.0)).round() as usize;
        Some(sorted[at])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_threshold_is_a_quantile_of_the_known_clusters_and_waits_for_enough_of_them() {
        let mut scale = NoveltyScale::default();
        for i in 0..MIN_OBSERVED - 1 {
            scale.observe(0.80 + i as f32 * 0.001);
        }
        assert_eq!(scale.threshold(0.05), None);
        scale.observe(0.9);
        assert_eq!(scale.threshold(0.0), Some(0.80));
        assert_eq!(scale.threshold(1.0), Some(0.9));
        // Tight topics and diffuse topics calibrate to different cosines.
        let mut diffuse = NoveltyScale::default();
        for i in 0..100 {
            diffuse.observe(0.3 + (i % 10) as f32 * 0.02);
        }
        let mut tight = NoveltyScale::default();
        for i in 0..100 {
            tight.observe(0.85 + (i % 10) as f32 * 0.01);
        }
        assert!(diffuse.threshold(0.05).unwrap() < 0.35 && tight.threshold(0.05).unwrap() > 0.84);
    }
}
