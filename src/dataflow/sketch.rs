//! Angle sketches that prune the clusterer's centroid scan.
//!
//! A sketch is the sign bits of a vector after a fixed random rotation (three rounds of random
//! sign flips and a fast Walsh–Hadamard transform, O(n log n)): each bit says on which side of
//! one of n orthogonal random hyperplanes the vector lies. Two unit vectors at angle θ land on
//! different sides of a random hyperplane with probability θ/π, so the Hamming distance of their
//! sketches estimates the angle (Charikar's SimHash). With 512 bits the estimate's standard
//! deviation is about 3.6°.
//!
//! The clusterer only needs centroids whose cosine to a message reaches a threshold. A centroid
//! whose sketch is more than [`Sketcher::cutoff`] bits away — the threshold's expected distance
//! plus five standard deviations — is skipped without its exact dot product; a centroid exactly
//! at the threshold is skipped with probability below 10⁻⁶, one further inside even less. So the
//! index is exact in practice and the cost of a scan is eight XOR-and-popcounts per centroid
//! instead of 512 multiply-adds.

use crate::util::SplitMix;

/// Bits of a sketch: at least this many, more for longer vectors (the next power of two).
const MIN_BITS: usize = 512;
const ROUNDS: usize = 3;
/// Standard deviations of slack above the threshold's expected distance.
const SLACK_SIGMAS: f64 = 5.0;

pub struct Sketcher {
    /// The rotation's length: a power of two, at least the vector's length.
    len: usize,
    /// ±1 per coordinate per round.
    signs: Vec<f32>,
}

impl Sketcher {
    /// A sketcher for vectors of `dim` values. The rotation comes from a fixed seed: the same
    /// vector always has the same sketch, across runs and restarts.
    pub fn new(dim: usize) -> Self {
        let len = dim.max(MIN_BITS).next_power_of_two();
        let mut rng = SplitMix::new(0x5eed_0fc1);
        let signs = (0..ROUNDS * len).map(|_| if rng.next_u64() & 1 == 0 { 1.0 } else { -1.0 }).collect();
        Sketcher { len, signs }
    }

    /// `u64` words per sketch.
    pub fn words(&self) -> usize {
        self.len / 64
    }

    /// The sketch of `v` (any scale; only directions matter), `words()` long.
    pub fn sketch(&self, v: &[i16]) -> Vec<u64> {
        let mut x = vec![0.0f32; self.len];
        x.iter_mut().zip(v).for_each(|(x, &v)| *x = v as f32);
        for signs in self.signs.chunks_exact(self.len) {
            x.iter_mut().zip(signs).for_each(|(x, s)| *x *= s);
            hadamard(&mut x);
        }
        x.chunks_exact(64)
            .map(|bits| bits.iter().enumerate().fold(0u64, |w, (i, &b)| w | (((b < 0.0) as u64) << i)))
            .collect()
    }

    /// The largest Hamming distance at which a centroid may still reach cosine `min_cos`.
    pub fn cutoff(&self, min_cos: f32) -> u32 {
        let bits = self.len as f64;
        let p = (min_cos.clamp(-1.0, 1.0) as f64).acos() / std::f64::consts::PI;
        let cut = bits * p + SLACK_SIGMAS * (bits * p * (1.0 - p)).sqrt();
        cut.ceil().min(bits) as u32
    }
}

/// Hamming distance of two sketches.
#[inline]
pub fn distance(a: &[u64], b: &[u64]) -> u32 {
    a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum()
}

/// Calls `f` with the position and distance of every sketch in `sketches` (consecutive,
/// `query.len()` words each) within `cutoff` bits of `query`.
#[inline]
pub fn scan(sketches: &[u64], query: &[u64], cutoff: u32, f: impl FnMut(usize, u32)) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("popcnt") {
            // SAFETY: the CPU has POPCNT (checked just above; the answer is cached).
            return unsafe { scan_popcnt(sketches, query, cutoff, f) };
        }
    }
    scan_portable(sketches, query, cutoff, f)
}

#[inline(always)]
fn scan_portable(sketches: &[u64], query: &[u64], cutoff: u32, mut f: impl FnMut(usize, u32)) {
    // The usual 512-bit sketch as a fixed-size array: the loop unrolls into eight
    // XOR-and-popcounts per centroid.
    if let Ok(q) = <&[u64; 8]>::try_from(query) {
        let (chunks, _) = sketches.as_chunks::<8>();
        for (i, s) in chunks.iter().enumerate() {
            let d = distance(s, q);
            if d <= cutoff {
                f(i, d);
            }
        }
        return;
    }
    for (i, s) in sketches.chunks_exact(query.len()).enumerate() {
        let d = distance(s, query);
        if d <= cutoff {
            f(i, d);
        }
    }
}

/// The same loop with `count_ones` as one instruction: the baseline x86-64 target has no
/// POPCNT, and its bit-twiddling fallback made the scan three times slower.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
unsafe fn scan_popcnt(sketches: &[u64], query: &[u64], cutoff: u32, f: impl FnMut(usize, u32)) {
    scan_portable(sketches, query, cutoff, f)
}

/// In-place unnormalised fast Walsh–Hadamard transform (`x.len()` a power of two).
fn hadamard(x: &mut [f32]) {
    let mut h = 1;
    while h < x.len() {
        for block in x.chunks_exact_mut(2 * h) {
            let (lo, hi) = block.split_at_mut(h);
            for (a, b) in lo.iter_mut().zip(hi.iter_mut()) {
                let (s, d) = (*a + *b, *a - *b);
                *a = s;
                *b = d;
            }
        }
        h *= 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{cosine_q, Embedding};

    fn unit(v: Vec<f32>) -> Vec<f32> {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / n).collect()
    }

    /// A pair of unit vectors with cosine `cos`.
    fn pair(rng: &mut SplitMix, dim: usize, cos: f32) -> (Embedding, Embedding) {
        let a = unit((0..dim).map(|_| rng.gaussian() as f32).collect());
        let r: Vec<f32> = (0..dim).map(|_| rng.gaussian() as f32).collect();
        let along: f32 = r.iter().zip(&a).map(|(x, y)| x * y).sum();
        let orth = unit(r.iter().zip(&a).map(|(x, y)| x - along * y).collect());
        let b: Vec<f32> = a.iter().zip(&orth).map(|(x, o)| cos * x + (1.0 - cos * cos).sqrt() * o).collect();
        (Embedding::quantize(&a), Embedding::quantize(&b))
    }

    #[test]
    fn the_hadamard_transform_is_an_unnormalised_rotation() {
        let mut x = vec![1.0, 2.0, 3.0, 4.0];
        hadamard(&mut x);
        assert_eq!(x, vec![10.0, -2.0, -4.0, 0.0]);
        hadamard(&mut x);
        assert_eq!(x, vec![4.0, 8.0, 12.0, 16.0], "H·H = n·I");
    }

    #[test]
    fn hamming_distance_estimates_the_angle() {
        let mut rng = SplitMix::new(7);
        let sketcher = Sketcher::new(512);
        assert_eq!(sketcher.words(), 8);
        for cos in [0.9f32, 0.62, 0.3, 0.0] {
            let distances: Vec<f64> = (0..300)
                .map(|_| {
                    let (a, b) = pair(&mut rng, 512, cos);
                    assert!((cosine_q(&a.0, &b.0) - cos).abs() < 0.01);
                    distance(&sketcher.sketch(&a.0), &sketcher.sketch(&b.0)) as f64
                })
                .collect();
            let mean = distances.iter().sum::<f64>() / distances.len() as f64;
            let expected = 512.0 * (cos as f64).acos() / std::f64::consts::PI;
            assert!((mean - expected).abs() < 3.0, "cos {cos}: mean distance {mean}, expected {expected}");
            let sd = (distances.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / distances.len() as f64).sqrt();
            let p = expected / 512.0;
            assert!(sd < 1.3 * (512.0 * p * (1.0 - p)).sqrt(), "cos {cos}: sd {sd} wider than a binomial's");
        }
    }

    #[test]
    fn the_cutoff_keeps_pairs_at_the_threshold_and_drops_unrelated_ones() {
        let mut rng = SplitMix::new(11);
        let sketcher = Sketcher::new(512);
        let cut = sketcher.cutoff(0.62);
        let (mut kept_at_threshold, mut kept_unrelated) = (0, 0);
        for _ in 0..2000 {
            let (a, b) = pair(&mut rng, 512, 0.62);
            kept_at_threshold += (distance(&sketcher.sketch(&a.0), &sketcher.sketch(&b.0)) <= cut) as usize;
            let (c, d) = pair(&mut rng, 512, 0.0);
            kept_unrelated += (distance(&sketcher.sketch(&c.0), &sketcher.sketch(&d.0)) <= cut) as usize;
        }
        assert_eq!(kept_at_threshold, 2000);
        assert_eq!(kept_unrelated, 0);
        assert_eq!(sketcher.cutoff(1.0), 0);
        assert_eq!(sketcher.cutoff(-1.0), 512);
    }

    #[test]
    fn short_vectors_are_padded_and_scale_does_not_matter() {
        let sketcher = Sketcher::new(32);
        assert_eq!(sketcher.words(), 8);
        let v: Vec<i16> = (0..32).map(|i| (i * 37 % 23) as i16 - 11).collect();
        let doubled: Vec<i16> = v.iter().map(|x| x * 2).collect();
        assert_eq!(sketcher.sketch(&v), sketcher.sketch(&doubled));
    }
}
