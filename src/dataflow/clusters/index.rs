//! The centroids of each scope, laid out for a fast scan.

use crate::dataflow::sketch::{self, Sketcher};
use crate::event::cosine_q;
use std::collections::HashMap;

/// The centroids of one scope and their angle sketches, contiguous for a fast scan.
#[derive(Default)]
pub(super) struct ScopeIndex {
    pub(super) ids: Vec<u64>,
    pub(super) centroids: Vec<i16>,
    /// `Sketcher::words()` per centroid.
    pub(super) sketches: Vec<u64>,
    /// id → position in `ids`
    pub(super) slots: HashMap<u64, usize>,
}

impl ScopeIndex {
    /// Slots whose centroid's cosine to `v` is at least `min_cos`, with that cosine. Centroids
    /// whose sketch is beyond `min_cos`'s cutoff from `sketch` are skipped unscored (see
    /// [`super::sketch`]: this misses a qualifying centroid with probability below 10⁻⁶).
    pub(super) fn within<'a>(
        &'a self,
        v: &'a [i16],
        sketch: &[u64],
        sketcher: &Sketcher,
        min_cos: f32,
    ) -> impl Iterator<Item = (usize, f32)> + 'a {
        let dim = v.len();
        let mut candidates = Vec::new();
        sketch::scan(&self.sketches, sketch, sketcher.cutoff(min_cos), |slot, _| candidates.push(slot));
        candidates
            .into_iter()
            .map(move |slot| (slot, cosine_q(&self.centroids[slot * dim..][..dim], v)))
            .filter(move |(_, cos)| *cos >= min_cos)
    }

    /// The slot of the centroid nearest to `v` among those at cosine `min_cos` or more, and
    /// that cosine. The candidate with the closest sketch is scored first; every better cosine
    /// found tightens the sketch cutoff to that cosine's, so a message that sits well inside a
    /// cluster scores few others.
    pub(super) fn nearest_within(
        &self,
        v: &[i16],
        sketch: &[u64],
        sketcher: &Sketcher,
        min_cos: f32,
    ) -> Option<(usize, f32)> {
        let dim = v.len();
        let mut candidates: Vec<(u32, usize)> = Vec::new();
        sketch::scan(&self.sketches, sketch, sketcher.cutoff(min_cos), |slot, d| candidates.push((d, slot)));
        let first = candidates.iter().enumerate().min_by_key(|(_, c)| **c).map(|(i, _)| i)?;
        candidates.swap(0, first);
        let mut best: Option<(usize, f32)> = None;
        let mut cut = u32::MAX;
        for (d, slot) in candidates {
            if d > cut {
                continue;
            }
            let cos = cosine_q(&self.centroids[slot * dim..][..dim], v);
            let better = match best {
                None => cos >= min_cos,
                Some((b, c)) => cos > c || (cos == c && slot < b),
            };
            if better {
                best = Some((slot, cos));
                cut = sketcher.cutoff(cos);
            }
        }
        best
    }

    pub(super) fn sketch(&self, slot: usize, words: usize) -> &[u64] {
        &self.sketches[slot * words..(slot + 1) * words]
    }

    pub(super) fn position(&self, id: u64) -> Option<usize> {
        self.slots.get(&id).copied()
    }

    pub(super) fn set(&mut self, slot: usize, centroid: &[i16], sketch: &[u64]) {
        let (dim, words) = (centroid.len(), sketch.len());
        self.centroids[slot * dim..(slot + 1) * dim].copy_from_slice(centroid);
        self.sketches[slot * words..(slot + 1) * words].copy_from_slice(sketch);
    }

    pub(super) fn push(&mut self, id: u64, centroid: &[i16], sketch: &[u64]) {
        self.slots.insert(id, self.ids.len());
        self.ids.push(id);
        self.centroids.extend_from_slice(centroid);
        self.sketches.extend_from_slice(sketch);
    }

    pub(super) fn remove(&mut self, id: u64, dim: usize, words: usize) {
        if let Some(slot) = self.slots.remove(&id) {
            let last = self.ids.len() - 1;
            self.ids.swap(slot, last);
            self.ids.pop();
            if slot != last {
                self.slots.insert(self.ids[slot], slot);
                let (head, tail) = self.centroids.split_at_mut(last * dim);
                head[slot * dim..(slot + 1) * dim].copy_from_slice(&tail[..dim]);
                let (head, tail) = self.sketches.split_at_mut(last * words);
                head[slot * words..(slot + 1) * words].copy_from_slice(&tail[..words]);
            }
            self.centroids.truncate(last * dim);
            self.sketches.truncate(last * words);
        }
    }
}
