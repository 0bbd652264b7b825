//! Tickets: the lifecycle events ingest hands on, and the service KPIs folded from them into
//! windows. A window's KPIs are one difference value ([`TicketAgg`]): transition counts, SLA
//! breaches, and a log-scale histogram per duration, all exact under addition and negation, so
//! the window totals keep them as they keep message counts and a late event is a retraction
//! plus an addition.

use crate::event::SmolStr;
use differential_dataflow::difference::{Abelian, IsZero, Monoid, Semigroup};
use serde::{Deserialize, Serialize};

use crate::config::threshold::Counted;
use crate::config::KpiMetric;
use crate::config::{SlaKind, Span, TicketStatus};

/// Bucket 0 holds durations under [`BUCKET_BASE_MS`]; bucket `b ≥ 1` holds
/// `[BASE·2^((b-1)/4), BASE·2^(b/4))`: four buckets an octave, so a quantile read from the
/// buckets is within 19 % of the true one (9 % with the interpolation), from 0.1 s to a month.
pub const BUCKET_BASE_MS: f64 = 100.0;
const BUCKETS_PER_OCTAVE: f64 = 4.0;
/// The last bucket holds everything longer (≈ 31 days and up).
pub const LAST_BUCKET: u8 = 100;

/// The bucket of a duration.
pub fn bucket_of(ms: i64) -> u8 {
    if (ms as f64) < BUCKET_BASE_MS {
        return 0;
    }
    let b = ((ms as f64 / BUCKET_BASE_MS).log2() * BUCKETS_PER_OCTAVE).floor() as i64 + 1;
    b.clamp(1, LAST_BUCKET as i64) as u8
}

/// The lower and upper bound (ms) of a bucket.
pub fn bucket_bounds(b: u8) -> (f64, f64) {
    match b {
        0 => (0.0, BUCKET_BASE_MS),
        _ => (
            BUCKET_BASE_MS * 2f64.powf((b as f64 - 1.0) / BUCKETS_PER_OCTAVE),
            BUCKET_BASE_MS * 2f64.powf(b as f64 / BUCKETS_PER_OCTAVE),
        ),
    }
}

/// Durations on fixed log-scale buckets: the count and exact sum, and the nonzero buckets in
/// order. Sparse: a window's durations nearly always fall into a handful of buckets.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Histogram {
    pub count: i64,
    pub sum_ms: i64,
    pub buckets: Vec<(u8, i64)>,
}

impl Histogram {
    pub fn of(ms: i64) -> Histogram {
        Histogram { count: 1, sum_ms: ms, buckets: vec![(bucket_of(ms), 1)] }
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0 && self.sum_ms == 0 && self.buckets.is_empty()
    }

    pub fn mean_ms(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum_ms as f64 / self.count as f64)
    }

    /// The `q`-quantile (0 < q ≤ 1) read from the buckets: the bucket where the cumulative
    /// count reaches `q · count`, interpolated geometrically inside it.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        if self.count <= 0 {
            return None;
        }
        let rank = (q * self.count as f64).max(1.0);
        let mut below = 0.0;
        for &(b, n) in &self.buckets {
            let n = n as f64;
            if n > 0.0 && below + n >= rank {
                let (lo, hi) = bucket_bounds(b);
                let within = (rank - below) / n;
                return Some(match b {
                    0 => hi * within,
                    LAST_BUCKET => lo,
                    _ => lo * (hi / lo).powf(within),
                });
            }
            below += n;
        }
        self.buckets.last().map(|(b, _)| bucket_bounds(*b).1)
    }

    /// Adds `sign` (±1) times one duration.
    fn add_one(&mut self, ms: i64, sign: i64) {
        self.count += sign;
        self.sum_ms += sign * ms;
        let b = bucket_of(ms);
        match self.buckets.binary_search_by_key(&b, |(x, _)| *x) {
            Ok(i) => {
                self.buckets[i].1 += sign;
                if self.buckets[i].1 == 0 {
                    self.buckets.remove(i);
                }
            }
            Err(i) => self.buckets.insert(i, (b, sign)),
        }
    }

    fn add(&mut self, rhs: &Histogram, sign: i64) {
        self.count += sign * rhs.count;
        self.sum_ms += sign * rhs.sum_ms;
        if rhs.buckets.is_empty() {
            return;
        }
        let mut merged = Vec::with_capacity(self.buckets.len() + rhs.buckets.len());
        let (mut a, mut b) = (self.buckets.iter().peekable(), rhs.buckets.iter().peekable());
        loop {
            let next = match (a.peek(), b.peek()) {
                (Some(x), Some(y)) if x.0 == y.0 => {
                    let sum = (x.0, x.1 + sign * y.1);
                    a.next();
                    b.next();
                    sum
                }
                (Some(x), Some(y)) if x.0 < y.0 => *a.next().expect("peeked"),
                (Some(_), Some(y)) | (None, Some(y)) => {
                    let y = (y.0, sign * y.1);
                    b.next();
                    y
                }
                (Some(_), None) => *a.next().expect("peeked"),
                (None, None) => break,
            };
            if next.1 != 0 {
                merged.push(next);
            }
        }
        self.buckets = merged;
    }
}

/// One thing a ticket adds to its KPIs: a transition, a duration, or a breach. What the ticket
/// operator folds and diffs; it becomes a [`TicketAgg`] only inside a window's total.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Part {
    Transition(TicketStatus),
    /// A duration in ms.
    Span(Span, i64),
    Breach(SlaKind),
    /// A conversation scored by transcript QA: its score and its violations.
    Qa(i64, i64),
}

/// The KPIs of one window of one series (`agent`, `business` or `overall`): transitions by
/// status, SLA breaches by kind, and a histogram of each [`Span`]. The window totals sum these
/// exactly; a window whose values all cancel is gone.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TicketAgg {
    /// Transitions, indexed by [`TicketStatus`].
    pub transitions: [i64; 6],
    /// SLA breaches, indexed by [`SlaKind`].
    pub breaches: [i64; 3],
    /// Durations, indexed by [`Span`].
    pub spans: [Histogram; 4],
    /// Transcript QA: conversations scored, the sum of their scores, their violations.
    pub qa: [i64; 3],
}

impl TicketAgg {
    pub fn of_transition(status: TicketStatus) -> TicketAgg {
        let mut agg = TicketAgg::default();
        agg.transitions[status.index()] = 1;
        agg
    }

    pub fn of_span(span: Span, ms: i64) -> TicketAgg {
        let mut agg = TicketAgg::default();
        agg.spans[span.index()] = Histogram::of(ms);
        agg
    }

    pub fn of_breach(kind: SlaKind) -> TicketAgg {
        let mut agg = TicketAgg::default();
        agg.breaches[kind.index()] = 1;
        agg
    }

    /// Adds `sign` (±1) times one part, without building a value for it.
    pub fn add_part(&mut self, part: Part, sign: i64) {
        match part {
            Part::Transition(s) => self.transitions[s.index()] += sign,
            Part::Breach(k) => self.breaches[k.index()] += sign,
            Part::Span(s, ms) => self.spans[s.index()].add_one(ms, sign),
            Part::Qa(score, violations) => {
                for (total, n) in self.qa.iter_mut().zip([1, score, violations]) {
                    *total += sign * n;
                }
            }
        }
    }

    pub fn transitions(&self, status: TicketStatus) -> i64 {
        self.transitions[status.index()]
    }

    pub fn breaches(&self, kind: SlaKind) -> i64 {
        self.breaches[kind.index()]
    }

    pub fn span(&self, span: Span) -> &Histogram {
        &self.spans[span.index()]
    }

    /// What a count counts in these KPIs.
    pub fn counted(&self, c: Counted) -> i64 {
        match c {
            Counted::Status(s) => self.transitions(s),
            Counted::Breaches(Some(k)) => self.breaches(k),
            Counted::Breaches(None) => SlaKind::ALL.iter().map(|k| self.breaches(*k)).sum(),
            Counted::QaScored => self.qa[0],
            Counted::QaViolations => self.qa[2],
        }
    }

    /// A threshold rule's metric of these KPIs; `None` when they have none (no durations, a
    /// zero divisor). Durations in seconds.
    pub fn metric(&self, m: &KpiMetric) -> Option<f64> {
        match m {
            KpiMetric::Count(c) => Some(self.counted(*c) as f64),
            KpiMetric::Ratio(a, b) => {
                let d = self.counted(*b);
                (d > 0).then(|| self.counted(*a) as f64 / d as f64)
            }
            KpiMetric::Quantile(q, s) => self.span(*s).quantile_ms(*q).map(|ms| ms / 1000.0),
            KpiMetric::Mean(s) => self.span(*s).mean_ms().map(|ms| ms / 1000.0),
            KpiMetric::QaMean => (self.qa[0] > 0).then(|| self.qa[1] as f64 / self.qa[0] as f64),
        }
    }
}

impl IsZero for TicketAgg {
    fn is_zero(&self) -> bool {
        self.transitions.iter().chain(&self.breaches).chain(&self.qa).all(|n| *n == 0)
            && self.spans.iter().all(Histogram::is_empty)
    }
}

impl Semigroup for TicketAgg {
    fn plus_equals(&mut self, rhs: &Self) {
        for (a, b) in self.transitions.iter_mut().zip(&rhs.transitions) {
            *a += b;
        }
        for (a, b) in self.breaches.iter_mut().zip(&rhs.breaches).chain(self.qa.iter_mut().zip(&rhs.qa)) {
            *a += b;
        }
        for (a, b) in self.spans.iter_mut().zip(&rhs.spans) {
            a.add(b, 1);
        }
    }
}

impl Monoid for TicketAgg {
    fn zero() -> Self {
        TicketAgg::default()
    }
}

impl Abelian for TicketAgg {
    fn negate(&mut self) {
        for n in self.transitions.iter_mut().chain(self.breaches.iter_mut()).chain(self.qa.iter_mut()) {
            *n = -*n;
        }
        for h in &mut self.spans {
            let mut negated = Histogram::default();
            negated.add(h, -1);
            *h = negated;
        }
    }
}

/// A duration (ms) as people read it in a KPI: seconds, to a tenth.
pub fn seconds(ms: Option<f64>) -> Option<f64> {
    ms.map(|ms| (ms / 100.0).round() / 10.0)
}

/// The KPIs of a window (or of a period's windows summed) as figures a person reads: counts,
/// duration quantiles and means in seconds, the transcript QA mean score. What the dashboard's
/// service-desk panel and a digest's service-desk section show.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct KpiFigures {
    /// Episodes begun: tickets opened or reopened.
    pub opened: i64,
    pub resolved: i64,
    pub handed_off: i64,
    pub breaches: i64,
    pub first_response_p90_s: Option<f64>,
    pub takeover_p90_s: Option<f64>,
    pub handling_mean_s: Option<f64>,
    pub resolution_p90_s: Option<f64>,
    /// Conversations scored by transcript QA, their mean score (0–100), their violations.
    pub qa_scored: i64,
    pub qa_mean: Option<f64>,
    pub qa_violations: i64,
}

impl From<&TicketAgg> for KpiFigures {
    fn from(k: &TicketAgg) -> KpiFigures {
        KpiFigures {
            opened: k.transitions(TicketStatus::Opened) + k.transitions(TicketStatus::Reopened),
            resolved: k.transitions(TicketStatus::Resolved),
            handed_off: k.transitions(TicketStatus::HandedOff),
            breaches: k.counted(Counted::Breaches(None)),
            first_response_p90_s: seconds(k.span(Span::FirstResponse).quantile_ms(0.9)),
            takeover_p90_s: seconds(k.span(Span::Takeover).quantile_ms(0.9)),
            handling_mean_s: seconds(k.span(Span::Handling).mean_ms()),
            resolution_p90_s: seconds(k.span(Span::Resolution).quantile_ms(0.9)),
            qa_scored: k.qa[0],
            qa_mean: k.metric(&KpiMetric::QaMean).map(|m| (m * 10.0).round() / 10.0),
            qa_violations: k.qa[2],
        }
    }
}

/// A ticket missed an SLA (`breached`), or a late event shows it did not after all, or the
/// awaited transition came after the deadline (`met` false: the breach stands, the wait is over).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaNotice {
    pub ticket: SmolStr,
    pub kind: SlaKind,
    /// The `[[tickets.sla]]` that set the deadline, and its alerts' severity.
    pub policy: SmolStr,
    pub severity: crate::config::Severity,
    /// When the SLA's clock started (the episode's opening, or the hand-off).
    pub started_ms: i64,
    pub deadline_ms: i64,
    pub agent: Option<SmolStr>,
    pub business: Option<SmolStr>,
    /// `None`: breached and still waiting; `Some(ms)`: the awaited transition at `ms` (after the
    /// deadline it ends the wait, at or before it takes the breach back).
    pub answered_ms: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_a_quarter_octave_wide_from_a_tenth_of_a_second() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(99), 0);
        assert_eq!(bucket_of(100), 1);
        assert_eq!(bucket_of(200), 5, "one octave is four buckets");
        assert_eq!(bucket_of(i64::MAX), LAST_BUCKET);
        for ms in [150, 30_000, 95_000, 7_200_000] {
            let (lo, hi) = bucket_bounds(bucket_of(ms));
            assert!(lo <= ms as f64 && (ms as f64) < hi, "{ms} in [{lo}, {hi})");
        }
    }

    #[test]
    fn quantiles_from_buckets_are_close_and_means_exact() {
        let mut h = Histogram::default();
        let durations: Vec<i64> = (1..=100).map(|i| i * 1_000).collect();
        for d in &durations {
            h.add(&Histogram::of(*d), 1);
        }
        assert_eq!(h.mean_ms(), Some(50_500.0));
        for (q, exact) in [(0.5, 50_000.0), (0.9, 90_000.0), (0.99, 99_000.0)] {
            let got = h.quantile_ms(q).unwrap();
            assert!((got / exact - 1.0).abs() < 0.1, "p{q}: {got} vs {exact}");
        }
        assert_eq!(Histogram::default().quantile_ms(0.5), None);
    }

    #[test]
    fn aggregates_add_and_cancel_exactly() {
        let mut a = TicketAgg::of_span(Span::FirstResponse, 12_000);
        a.plus_equals(&TicketAgg::of_transition(TicketStatus::Opened));
        a.plus_equals(&TicketAgg::of_breach(SlaKind::FirstResponse));
        a.plus_equals(&TicketAgg::of_span(Span::FirstResponse, 40_000));
        assert_eq!(a.span(Span::FirstResponse).count, 2);
        assert_eq!(a.span(Span::FirstResponse).buckets.len(), 2);
        let mut minus = a.clone();
        minus.negate();
        let mut sum = a.clone();
        sum.plus_equals(&minus);
        assert!(sum.is_zero(), "{sum:?}");
        // Taking one duration back leaves exactly the other.
        let mut b = a.clone();
        let mut one = TicketAgg::of_span(Span::FirstResponse, 12_000);
        one.negate();
        b.plus_equals(&one);
        assert_eq!(b.span(Span::FirstResponse), &Histogram::of(40_000));
    }

    #[test]
    fn threshold_metrics_read_the_kpis() {
        let p90 = KpiMetric::parse("p90(first_response)").unwrap();
        let ratio = KpiMetric::parse("ratio(resolved, opened)").unwrap();
        let mut agg = TicketAgg::of_transition(TicketStatus::Opened);
        agg.plus_equals(&TicketAgg::of_transition(TicketStatus::Opened));
        agg.spans[1] = Histogram::of(30_000);
        assert_eq!(agg.metric(&KpiMetric::parse("count").unwrap()), Some(2.0));
        assert_eq!(agg.metric(&ratio), Some(0.0));
        assert_eq!(agg.metric(&KpiMetric::parse("mean(takeover)").unwrap()), Some(30.0));
        assert_eq!(agg.metric(&p90), None, "no first responses: no value");
        assert_eq!(agg.metric(&KpiMetric::parse("ratio(opened, resolved)").unwrap()), None);
    }
}
