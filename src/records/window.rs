//! Window keys and the aggregate difference type.
//!
//! A window count is the differential collection `WindowKey` with difference [`Agg`]: folding the
//! aggregate into the difference (instead of `reduce` over messages) lets `count_total` maintain
//! every window with one addition per update.

use crate::config::{Dimension, Key};
use crate::event::SmolStr;
use differential_dataflow::difference::{Abelian, IsZero, Monoid, Semigroup};
use serde::{Deserialize, Serialize};
use std::hash::{Hash, Hasher};

/// One time series: a key and one of its values (`category = payment`, or for a combined key
/// `business|category = live|payment`). The value is inline up to 23 bytes: window keys are
/// cloned into every arrangement and ledger entry.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Series {
    pub key: Key,
    pub value: SmolStr,
}

impl Series {
    pub fn new(key: impl Into<Key>, value: impl Into<SmolStr>) -> Self {
        Series { key: key.into(), value: value.into() }
    }

    /// Each dimension of the key with its value: the labels of an alert on this series.
    pub fn parts(&self) -> Vec<(Dimension, &str)> {
        self.key.parts(&self.value)
    }

    pub fn is(&self, d: Dimension) -> bool {
        self.key.is(d)
    }

    /// The series of `key` an alert's labels name (the inverse of [`Series::parts`]).
    pub fn from_labels(key: Key, labels: &std::collections::BTreeMap<String, String>) -> Option<Series> {
        let parts: Option<Vec<&str>> = key.dims().map(|d| labels.get(d.as_str()).map(String::as_str)).collect();
        let parts = parts?;
        Some(match parts[..] {
            [one] => Series::new(key, one),
            _ => Series::new(key, Key::join(parts)),
        })
    }
}

/// An event-time tumbling window of one series.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowKey {
    pub series: Series,
    /// Window size in seconds.
    pub size_s: u32,
    /// Window start, epoch seconds (a multiple of `size_s`).
    pub start_s: i64,
}

/// Hashes the series only. Differential routes updates by this hash, so every window of a series
/// lands on the same worker, where the detector needs them together (a baseline spans windows).
impl Hash for WindowKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.series.hash(state);
    }
}

/// Ordered by the integers first (key, size, start) and the value last: differential sorts and
/// merges window updates by key all the time, and most pairs it compares differ in a window's
/// start, which this settles without comparing the value's text.
impl Ord for WindowKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.series.key, self.size_s, self.start_s)
            .cmp(&(other.series.key, other.size_s, other.start_s))
            .then_with(|| self.series.value.cmp(&other.series.value))
    }
}

impl PartialOrd for WindowKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl WindowKey {
    pub fn end_s(&self) -> i64 {
        self.start_s + self.size_s as i64
    }
}

/// The start (epoch s) of the window of `size_s` seconds holding `ts_ms`.
pub fn window_start(ts_ms: i64, size_s: u32) -> i64 {
    ts_ms.div_euclid(1000).div_euclid(size_s as i64) * size_s as i64
}

/// Per-window aggregate, exact under addition: message count, negative count, and the sum and
/// sum of squares of sentiment in fixed point (thousandths; squares in millionths).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Agg {
    pub count: i64,
    pub neg: i64,
    pub sent_sum: i64,
    pub sent_sq: i64,
}

impl Agg {
    pub fn of_message(sentiment_milli: i32, negative: bool) -> Agg {
        let s = sentiment_milli as i64;
        Agg { count: 1, neg: negative as i64, sent_sum: s, sent_sq: s * s }
    }

    pub fn sentiment_mean(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sent_sum as f64 / 1000.0 / self.count as f64
        }
    }

    pub fn negative_share(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.neg as f64 / self.count as f64
        }
    }
}

impl IsZero for Agg {
    fn is_zero(&self) -> bool {
        *self == Agg::default()
    }
}

impl Semigroup for Agg {
    fn plus_equals(&mut self, rhs: &Self) {
        self.count += rhs.count;
        self.neg += rhs.neg;
        self.sent_sum += rhs.sent_sum;
        self.sent_sq += rhs.sent_sq;
    }
}

impl Monoid for Agg {
    fn zero() -> Self {
        Agg::default()
    }
}

impl Abelian for Agg {
    fn negate(&mut self) {
        self.count = -self.count;
        self.neg = -self.neg;
        self.sent_sum = -self.sent_sum;
        self.sent_sq = -self.sent_sq;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use differential_dataflow::hashable::Hashable;

    #[test]
    fn windows_of_one_series_route_together() {
        let s = Series::new(Dimension::Category, "payment");
        let a = WindowKey { series: s.clone(), size_s: 60, start_s: 0 };
        let b = WindowKey { series: s.clone(), size_s: 300, start_s: 600 };
        assert_eq!(a.hashed(), b.hashed());
        assert_eq!(a.hashed(), s.hashed(), "samples are routed by the series hash");
    }

    #[test]
    fn window_start_handles_negative_and_boundaries() {
        assert_eq!(window_start(59_999, 60), 0);
        assert_eq!(window_start(60_000, 60), 60);
        assert_eq!(window_start(-1, 60), -60);
    }

    #[test]
    fn agg_adds_and_negates_exactly() {
        let mut a = Agg::of_message(-400, true);
        a.plus_equals(&Agg::of_message(200, false));
        assert_eq!(a, Agg { count: 2, neg: 1, sent_sum: -200, sent_sq: 200_000 });
        let mut b = a;
        b.negate();
        a.plus_equals(&b);
        assert!(a.is_zero());
    }
}
