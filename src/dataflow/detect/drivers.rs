//! Attribution: which values of the other dimensions (and of configured `meta` fields) drove an
//! anomalous window. The detector keeps, per series it owns, ingest's breakdowns slice by slice
//! for the baseline span plus the longest window, and reads them only when a window is
//! anomalous: a normal window costs the bookkeeping of its breakdown, nothing more.
//!
//! A facet is a driver when its share of the window departs from its usual share (the baseline
//! span before the window) by at least [`MIN_SHIFT`], and a departure that large would be rarer
//! than `significance` if the window's messages were drawn with the usual share (a Chernoff
//! bound on the binomial tail: a small window cannot name noise, and an unchanged share is never
//! named). Drivers are ranked by the messages they explain: the window's count of the facet
//! minus what its usual share predicts (for a drop, the reverse).

use crate::alerts::Driver;
use crate::config::AttributionConfig;
use crate::records::notice::{Breakdown, Facet, FacetDimension};
use crate::records::window::Series;
use crate::util::interner::Interner;
use std::collections::{BTreeMap, HashMap};

/// The least change of share (of the window's messages) worth naming, whatever the volume: at
/// a firehose's volume every small drift is significant, and reads as noise.
pub const MIN_SHIFT: f64 = 0.05;

/// Slices older than the longest window are merged into buckets this long: a baseline of hours
/// needs no minute detail, and a series then keeps about a fifth as many.
const COARSE_S: i64 = 900;

/// One slice's messages and facet counts (by facet id, sorted).
#[derive(Default)]
struct Slice {
    total: u64,
    counts: Vec<(u32, u64)>,
}

impl Slice {
    /// Adds `n` messages of facet `id`; whether the facet is new to the slice.
    fn count(&mut self, id: u32, n: u64) -> bool {
        match self.counts.binary_search_by_key(&id, |(f, _)| *f) {
            Ok(i) => {
                self.counts[i].1 += n;
                false
            }
            Err(i) => {
                self.counts.insert(i, (id, n));
                true
            }
        }
    }
}

pub struct Attribution {
    slices: HashMap<Series, BTreeMap<i64, Slice>>,
    facets: Interner<Facet>,
    /// Seconds of baseline before a window, of slices kept behind the clock, and of slices
    /// kept as they came (the rest are merged into buckets of `COARSE_S`).
    baseline_s: i64,
    keep_s: i64,
    fine_s: i64,
    config: AttributionConfig,
}

impl Attribution {
    /// `longest_window_s`: the longest window a driver may be asked for (capped at a day).
    pub fn new(config: &AttributionConfig, longest_window_s: i64) -> Self {
        let baseline_s = config.baseline.as_ms() / 1000;
        let longest = longest_window_s.min(86_400);
        Attribution {
            slices: HashMap::new(),
            facets: Interner::default(),
            baseline_s,
            keep_s: baseline_s + longest,
            // A window judged now started at most its length (and a little lateness) ago.
            fine_s: longest + 120,
            config: config.clone(),
        }
    }

    pub fn add(&mut self, b: Breakdown) {
        let slice = self.slices.entry(b.series).or_default().entry(b.slice_s).or_default();
        if slice.counts.is_empty() {
            slice.counts.reserve_exact(b.facets.len());
        }
        slice.total += b.total;
        for (facet, n) in b.facets {
            let id = self.facets.intern(&facet);
            if slice.count(id, n) {
                self.facets.hold(id);
            }
        }
    }

    /// Forgets the slices that no window judged at `clock_ms` or later can need, and merges
    /// those only a baseline reads into buckets.
    pub fn forget(&mut self, clock_ms: i64) {
        let clock_s = clock_ms.div_euclid(1000);
        let oldest = clock_s - self.keep_s;
        let coarse_before = (clock_s - self.fine_s).div_euclid(COARSE_S) * COARSE_S;
        let facets = &mut self.facets;
        self.slices.retain(|_, slices| {
            while let Some(entry) = slices.first_entry().filter(|e| *e.key() < oldest) {
                for (id, _) in entry.remove().counts {
                    facets.release(id);
                }
            }
            let loose: Vec<i64> = slices
                .range(..coarse_before)
                .map(|(start, _)| *start)
                .filter(|s| s.rem_euclid(COARSE_S) != 0)
                .collect();
            for start in loose {
                let slice = slices.remove(&start).expect("listed");
                merge(facets, slices.entry(start.div_euclid(COARSE_S) * COARSE_S).or_default(), slice);
            }
            !slices.is_empty()
        });
    }

    /// The drivers of `series`' window `[start_s, end_s)`; `drop`: the window is anomalously low.
    pub fn drivers(&self, series: &Series, start_s: i64, end_s: i64, drop: bool) -> Vec<Driver> {
        let Some(slices) = self.slices.get(series) else { return Vec::new() };
        let sum = |from: i64, to: i64| {
            let mut total = 0;
            let mut counts: HashMap<u32, u64> = HashMap::new();
            for slice in slices.range(from..to).map(|(_, s)| s) {
                total += slice.total;
                for &(id, n) in &slice.counts {
                    *counts.entry(id).or_default() += n;
                }
            }
            (total, counts)
        };
        let (n, current) = sum(start_s, end_s);
        let (m, usual) = sum(start_s - self.baseline_s, start_s);
        let ranked = rank(&current, n, &usual, m, drop, self.config.significance);
        ranked
            .into_iter()
            .take(self.config.max_drivers)
            .map(|(id, count, share, usual_share)| {
                let facet = self.facets.get(id);
                let dimension = match facet.dimension {
                    FacetDimension::Dimension(d) => d.as_str().to_string(),
                    FacetDimension::Meta(i) => self.config.meta.get(i as usize).cloned().unwrap_or_default(),
                };
                Driver {
                    dimension,
                    value: facet.value.to_string(),
                    count,
                    share: crate::util::round3(share),
                    usual_share: crate::util::round3(usual_share),
                }
            })
            .collect()
    }

    /// Slices held (for tests of bounded state).
    pub fn slices(&self) -> usize {
        self.slices.values().map(BTreeMap::len).sum()
    }
}

/// Adds `from` to `into`; a facet both hold is then held once.
fn merge(facets: &mut Interner<Facet>, into: &mut Slice, from: Slice) {
    into.total += from.total;
    for (id, n) in from.counts {
        if !into.count(id, n) {
            facets.release(id);
        }
    }
}

/// The facets whose share of a window of `n` messages (`current` counts) departs significantly
/// from their share of `m` baseline messages (`usual`), as (facet, count, share, usual share),
/// the most messages explained first. Rises only, or with `drop` only falls.
pub fn rank<K: Copy + Ord + std::hash::Hash>(
    current: &HashMap<K, u64>,
    n: u64,
    usual: &HashMap<K, u64>,
    m: u64,
    drop: bool,
    significance: f64,
) -> Vec<(K, u64, f64, f64)> {
    if n == 0 || m == 0 {
        return Vec::new();
    }
    let mut keys: Vec<K> = current.keys().chain(usual.keys()).copied().collect();
    keys.sort_unstable();
    keys.dedup();
    let mut ranked: Vec<(f64, K, u64, f64, f64)> = Vec::new();
    for key in keys {
        let k = current.get(&key).copied().unwrap_or(0);
        let mk = usual.get(&key).copied().unwrap_or(0);
        let share = k as f64 / n as f64;
        let usual_share = mk as f64 / m as f64;
        // Smoothed, so a value never seen before has a small usual share, not none.
        let p0 = (mk as f64 + 0.5) / (m as f64 + 1.0);
        let shift = if drop { p0 - share } else { share - p0 };
        if shift < MIN_SHIFT || tail_bound(share, p0, n) >= significance {
            continue;
        }
        ranked.push((shift * n as f64, key, k, share, usual_share));
    }
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    ranked.into_iter().map(|(_, key, k, share, usual)| (key, k, share, usual)).collect()
}

/// Chernoff bound on the chance that `n` draws with share `p` show a share at least as far
/// from it as `observed`: exp(−n · KL(observed ‖ p)).
fn tail_bound(observed: f64, p: f64, n: u64) -> f64 {
    let term = |a: f64, b: f64| if a <= 0.0 { 0.0 } else { a * (a / b).ln() };
    let kl = term(observed, p) + term(1.0 - observed, 1.0 - p);
    (-(n as f64) * kl).exp()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Dimension;

    fn counts(pairs: &[(u8, u64)]) -> HashMap<u8, u64> {
        pairs.iter().copied().collect()
    }

    #[test]
    fn a_share_that_is_its_usual_one_is_never_a_driver() {
        // 40 % / 60 % in the window as in the baseline, at any volume.
        for scale in [1, 10, 1000] {
            let current = counts(&[(0, 4 * scale), (1, 6 * scale)]);
            let usual = counts(&[(0, 40 * scale), (1, 60 * scale)]);
            assert!(rank(&current, 10 * scale, &usual, 100 * scale, false, 0.001).is_empty());
            assert!(rank(&current, 10 * scale, &usual, 100 * scale, true, 0.001).is_empty());
        }
    }

    #[test]
    fn a_small_window_does_not_name_noise() {
        // Five messages all on a channel that usually has 30 %: possible by chance (0.3⁵ ≈ 0.002).
        let ranked = rank(&counts(&[(0, 5)]), 5, &counts(&[(0, 300), (1, 700)]), 1000, false, 0.001);
        assert!(ranked.is_empty(), "{ranked:?}");
        // Forty of them is not.
        let ranked = rank(&counts(&[(0, 40)]), 40, &counts(&[(0, 300), (1, 700)]), 1000, false, 0.001);
        assert_eq!(ranked, vec![(0, 40, 1.0, 0.3)]);
    }

    #[test]
    fn drivers_are_ranked_by_the_messages_they_explain() {
        // Weibo rose from 10 % to 72 %, a new app version from 0 to 20 %.
        let current = counts(&[(0, 72), (1, 28), (2, 20)]);
        let usual = counts(&[(0, 100), (1, 900)]);
        let ranked = rank(&current, 100, &usual, 1000, false, 0.001);
        assert_eq!(ranked.iter().map(|r| r.0).collect::<Vec<_>>(), [0, 2]);
        assert_eq!((ranked[0].2, ranked[0].3), (0.72, 0.1));
        // In a drop, the value that went missing: fifty messages without it could be chance
        // (0.9⁵⁰ ≈ 0.005), a hundred hardly.
        assert!(rank(&counts(&[(1, 50)]), 50, &usual, 1000, true, 0.001).is_empty());
        let ranked = rank(&counts(&[(1, 100)]), 100, &usual, 1000, true, 0.001);
        assert_eq!(ranked.iter().map(|r| (r.0, r.1)).collect::<Vec<_>>(), [(0, 0)]);
    }

    fn breakdown(slice_s: i64, total: u64, facets: &[(&str, u64)]) -> Breakdown {
        Breakdown {
            series: Series::new(Dimension::Category, "payment"),
            slice_s,
            total,
            facets: facets
                .iter()
                .map(|(v, n)| {
                    (Facet { dimension: FacetDimension::Dimension(Dimension::Channel), value: (*v).into() }, *n)
                })
                .collect(),
        }
    }

    #[test]
    fn the_window_is_judged_against_the_baseline_before_it_and_old_slices_are_forgotten() {
        let config = AttributionConfig {
            baseline: crate::config::HumanDuration(std::time::Duration::from_secs(3600)),
            ..Default::default()
        };
        let mut a = Attribution::new(&config, 60);
        for minute in 0..60 {
            a.add(breakdown(minute * 60, 10, &[("app", 9), ("weibo", 1)]));
        }
        a.add(breakdown(3600, 50, &[("app", 10), ("weibo", 40)]));
        a.add(breakdown(3600, 10, &[("app", 2), ("weibo", 8)]));
        let series = Series::new(Dimension::Category, "payment");
        let drivers = a.drivers(&series, 3600, 3660, false);
        assert_eq!(drivers.len(), 1, "{drivers:?}");
        assert_eq!(
            (drivers[0].value.as_str(), drivers[0].count, drivers[0].share, drivers[0].usual_share),
            ("weibo", 48, 0.8, 0.1)
        );
        assert_eq!(drivers[0].describe(), "channel weibo 80% (usually 10%)");
        assert_eq!(a.slices(), 61);
        // Minutes older than the longest window and a little lateness (3 min here) are merged
        // into quarter hours: [0, 2700) becomes three buckets, the 15 minutes after stay, and so
        // does the window's. The drivers stay the same.
        a.forget(3_661_000);
        assert_eq!(a.slices(), 3 + 15 + 1);
        assert_eq!(a.drivers(&series, 3600, 3660, false), drivers);
        // An hour of baseline plus a minute of window is kept behind the clock: the first
        // bucket goes once the clock passes 1:01.
        a.forget(3_720_000);
        assert_eq!(a.slices(), 2 + 15 + 1);
        a.forget(4_620_000);
        assert_eq!(a.slices(), 2 + 1, "[1800, 2700) and [2700, 3600) are buckets now");
        a.forget(i64::MAX / 2);
        assert_eq!((a.slices(), a.facets.len()), (0, 0));
    }
}
