//! Window totals: the additions ingest and the clusterer make to each window, summed per window
//! and retracted when the window expires (`window end + retention` of event time; a window of a
//! day or longer ends at the calendar's next local midnight).
//!
//! The output is what differential's `count_total` gives: per tick, each changed window's old
//! total `-1` and its new total `+1`. It is computed here, not by `count_total`, because the
//! retraction needs each window's total too: with `count_total` every window was kept twice,
//! once in the arrangement and once in a ledger of what to retract, at about 150 bytes a window
//! between them (docs/notes/2026-12-07-window-totals.md). Here a window is one entry of a few
//! dozen bytes: windows are held by (size, start), each with its series as small interned ids
//! ([`Interner`]), so a series' name is stored once however many windows it has.

use super::detect::DetectIn;
use super::tick::{Tick, TickBuffer};
use crate::records::window::{Agg, Series, WindowKey};
use crate::util::calendar::Calendar;
use crate::util::interner::Interner;
use differential_dataflow::difference::{IsZero, Semigroup};
use differential_dataflow::hashable::Hashable;
use differential_dataflow::{AsCollection, VecCollection};
use std::collections::{BTreeMap, HashMap};
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::vec::{Broadcast, Map};
use timely::dataflow::operators::{Concat, Exchange, Operator};
use timely::dataflow::StreamVec;

type Fold = foldhash::fast::FixedState;

/// A window of one size: (size in seconds, start in epoch seconds).
type Window = (u32, i64);

/// What decides when a window expires.
#[derive(Clone, Debug, Default)]
pub struct TotalsParams {
    /// (size in seconds, retention in ms) per configured window.
    pub windows: Vec<(u32, i64)>,
    pub calendar: Calendar,
}

impl TotalsParams {
    /// The retention of windows of `size_s`; the longest configured for a size no longer
    /// configured (a window a previous run saved).
    fn retention_ms(&self, size_s: u32) -> i64 {
        let configured = self.windows.iter().find(|w| w.0 == size_s);
        configured.or(self.windows.iter().max_by_key(|w| w.1)).map_or(0, |w| w.1)
    }
}

/// What a window total may be: a difference that adds up exactly ([`Agg`] for messages,
/// `TicketAgg` for ticket KPIs).
pub trait Total: Semigroup + IsZero + Clone + PartialEq + 'static {}
impl<D: Semigroup + IsZero + Clone + PartialEq + 'static> Total for D {}

/// The current total of every live window.
pub struct WindowTotals<D = Agg> {
    /// Each live window's totals by series id. A total that sums to zero is removed.
    windows: HashMap<Window, HashMap<u32, D, Fold>, Fold>,
    /// Live windows by the event time (ms) at which they expire.
    expiry: BTreeMap<i64, Vec<Window>>,
    series: Interner<Series>,
    params: TotalsParams,
}

impl<D: Total> WindowTotals<D> {
    pub fn new(params: TotalsParams) -> Self {
        WindowTotals { windows: HashMap::default(), expiry: BTreeMap::new(), series: Interner::default(), params }
    }

    /// Adds `agg` to its window's total; returns the total before and after (`None`: zero).
    pub fn add(&mut self, key: &WindowKey, agg: &D) -> (Option<D>, Option<D>) {
        let window = (key.size_s, key.start_s);
        let totals = match self.windows.get_mut(&window) {
            Some(totals) => totals,
            None => {
                let retention = self.params.retention_ms(key.size_s);
                let expires = self.params.calendar.window_end(key.start_s, key.size_s) * 1000 + retention;
                self.expiry.entry(expires).or_default().push(window);
                self.windows.entry(window).or_default()
            }
        };
        let id = self.series.intern(&key.series);
        match totals.entry(id) {
            std::collections::hash_map::Entry::Occupied(mut e) => {
                let old = e.get().clone();
                e.get_mut().plus_equals(agg);
                if e.get().is_zero() {
                    e.remove();
                    self.series.release(id);
                    return (Some(old), None);
                }
                (Some(old), Some(e.get().clone()))
            }
            std::collections::hash_map::Entry::Vacant(_) if agg.is_zero() => {
                self.series.forget_if_unheld(id);
                (None, None)
            }
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(agg.clone());
                self.series.hold(id);
                (None, Some(agg.clone()))
            }
        }
    }

    /// Removes every window whose expiry `clock_ms` has passed, giving each of its totals.
    pub fn expire(&mut self, clock_ms: i64, mut out: impl FnMut(WindowKey, D)) {
        while let Some(entry) = self.expiry.first_entry() {
            if *entry.key() > clock_ms {
                break;
            }
            for window @ (size_s, start_s) in entry.remove() {
                let Some(totals) = self.windows.remove(&window) else { continue };
                // In series order, so an expiry comes out the same on every run.
                let mut totals: Vec<(Series, D)> = totals
                    .into_iter()
                    .map(|(id, total)| {
                        let series = self.series.get(id).clone();
                        self.series.release(id);
                        (series, total)
                    })
                    .collect();
                totals.sort_unstable_by(|a, b| a.0.cmp(&b.0));
                for (series, total) in totals {
                    out(WindowKey { series, size_s, start_s }, total);
                }
            }
        }
    }

    /// One tick: `additions` (in any order, a window any number of times) and the event clock
    /// after them. Gives each change as count_total does: the old total `-1`, the new one `+1`,
    /// window by window in key order, then the totals of expired windows `-1`.
    pub fn tick(
        &mut self,
        mut additions: Vec<(WindowKey, D)>,
        clock_ms: i64,
        mut out: impl FnMut(WindowKey, D, isize),
    ) {
        additions.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut changes: Vec<(WindowKey, Option<D>, Option<D>)> = Vec::new();
        let mut additions = additions.into_iter().peekable();
        while let Some((key, mut agg)) = additions.next() {
            while let Some((_, more)) = additions.next_if(|(next, _)| *next == key) {
                agg.plus_equals(&more);
            }
            let (old, new) = self.add(&key, &agg);
            if old != new {
                changes.push((key, old, new));
            }
        }
        let mut expired: Vec<(WindowKey, D)> = Vec::new();
        self.expire(clock_ms, |key, total| expired.push((key, total)));
        // A window changed this tick and expired at its end leaves with its old total alone.
        let mut expired_now: Vec<(WindowKey, D)> = Vec::new();
        for (key, total) in expired {
            match changes.binary_search_by(|(k, _, _)| k.cmp(&key)) {
                Ok(i) => changes[i].2 = None,
                Err(_) => expired_now.push((key, total)),
            }
        }
        for (key, old, new) in changes {
            if let Some(old) = old {
                out(key.clone(), old, -1);
            }
            if let Some(new) = new {
                out(key, new, 1);
            }
        }
        for (key, total) in expired_now {
            out(key, total, -1);
        }
    }

    /// (series, window) totals held.
    pub fn len(&self) -> usize {
        self.windows.values().map(HashMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.windows.values().all(HashMap::is_empty)
    }

    /// Distinct series named by the live windows.
    pub fn series(&self) -> usize {
        self.series.len()
    }
}

enum TotalsIn<D> {
    Add(WindowKey, D),
    Clock(i64),
}

/// Every live window's total, as (`(key, total)`, +1/-1) changes, from the additions to windows
/// and the event clock. Additions go to the worker that owns their series (the hash differential
/// routes `WindowKey`s by, which the detector relies on); every worker hears every clock.
pub fn window_totals<'scope, D: Total + timely::ExchangeData>(
    additions: VecCollection<'scope, Tick, WindowKey, D>,
    clock: StreamVec<'scope, Tick, (DetectIn, Tick)>,
    params: TotalsParams,
) -> VecCollection<'scope, Tick, (WindowKey, D), isize> {
    let additions = additions
        .inner
        .exchange(|(key, _, _): &(WindowKey, Tick, D)| key.hashed())
        .map(|(key, t, agg)| (TotalsIn::Add(key, agg), t));
    let clock = clock.broadcast().flat_map(|(item, t)| match item {
        DetectIn::Clock(ms) => Some((TotalsIn::Clock(ms), t)),
        _ => None,
    });
    additions
        .concat(clock)
        .unary_frontier(Pipeline, "WindowTotals", move |_, _| {
            let mut totals = WindowTotals::<D>::new(params);
            let mut clock_ms = i64::MIN;
            let mut pending = TickBuffer::default();
            move |(input, frontier), output| {
                input.for_each(|capability, data| {
                    for (item, time) in data.drain(..) {
                        pending.stash(time, item, || capability.delayed(&time, 0));
                    }
                });
                while let Some((capability, tick, items)) = pending.pop_ready(|t| !frontier.less_equal(t)) {
                    let mut additions = Vec::with_capacity(items.len());
                    for item in items {
                        match item {
                            TotalsIn::Add(key, agg) => additions.push((key, agg)),
                            TotalsIn::Clock(ms) => clock_ms = clock_ms.max(ms),
                        }
                    }
                    let mut session = output.session(&capability);
                    totals.tick(additions, clock_ms, |key, total, diff| session.give(((key, total), tick, diff)));
                }
            }
        })
        .as_collection()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Dimension;

    fn key(value: &str, size_s: u32, start_s: i64) -> WindowKey {
        WindowKey { series: Series::new(Dimension::Category, value), size_s, start_s }
    }

    fn minute_totals(retention_ms: i64) -> WindowTotals {
        WindowTotals::new(TotalsParams { windows: vec![(60, retention_ms)], calendar: Calendar::default() })
    }

    fn tick(
        totals: &mut WindowTotals,
        additions: Vec<(WindowKey, Agg)>,
        clock_ms: i64,
    ) -> Vec<(WindowKey, Agg, isize)> {
        let mut out = Vec::new();
        totals.tick(additions, clock_ms, |k, a, d| out.push((k, a, d)));
        out
    }

    fn sum(aggs: &[Agg]) -> Agg {
        aggs.iter().fold(Agg::default(), |mut total, a| {
            total.plus_equals(a);
            total
        })
    }

    #[test]
    fn a_tick_gives_each_changed_window_its_old_and_new_total() {
        let mut totals = minute_totals(1_000);
        let (one, two) = (Agg::of_message(-500, true), Agg::of_message(300, false));
        let first =
            tick(&mut totals, vec![(key("pay", 60, 0), one), (key("login", 60, 0), two), (key("pay", 60, 0), two)], 0);
        assert_eq!(first, vec![(key("login", 60, 0), two, 1), (key("pay", 60, 0), sum(&[one, two]), 1)]);
        let second = tick(&mut totals, vec![(key("pay", 60, 0), one)], 1);
        assert_eq!(
            second,
            vec![(key("pay", 60, 0), sum(&[one, two]), -1), (key("pay", 60, 0), sum(&[one, two, one]), 1)]
        );
        assert_eq!((totals.len(), totals.series()), (2, 2));
    }

    #[test]
    fn windows_expire_with_their_totals_and_their_series_are_forgotten() {
        let mut totals = minute_totals(1_000);
        let one = Agg::of_message(100, false);
        tick(&mut totals, vec![(key("pay", 60, 0), one), (key("login", 60, 0), one), (key("pay", 60, 60), one)], 0);
        // The first minute ends at 60 s and is kept one second more.
        assert!(tick(&mut totals, vec![], 60_999).is_empty());
        let expired = tick(&mut totals, vec![], 61_000);
        assert_eq!(expired, vec![(key("login", 60, 0), one, -1), (key("pay", 60, 0), one, -1)]);
        assert_eq!((totals.len(), totals.series()), (1, 1), "login is forgotten with its last window");
        tick(&mut totals, vec![], i64::MAX);
        assert!(totals.is_empty());
        assert_eq!(totals.series(), 0);
    }

    #[test]
    fn a_window_changed_in_the_tick_it_expires_leaves_with_its_old_total() {
        let mut totals = minute_totals(0);
        let one = Agg::of_message(100, false);
        tick(&mut totals, vec![(key("pay", 60, 0), one)], 0);
        let out = tick(&mut totals, vec![(key("pay", 60, 0), one)], 60_000);
        assert_eq!(out, vec![(key("pay", 60, 0), one, -1)]);
        assert!(totals.is_empty());
    }

    #[test]
    fn a_total_that_sums_to_zero_is_no_window() {
        let mut totals = minute_totals(1_000);
        let one = Agg::of_message(100, false);
        let mut minus = one;
        differential_dataflow::difference::Abelian::negate(&mut minus);
        assert!(tick(&mut totals, vec![(key("pay", 60, 0), one), (key("pay", 60, 0), minus)], 0).is_empty());
        tick(&mut totals, vec![(key("pay", 60, 0), one)], 0);
        assert_eq!(tick(&mut totals, vec![(key("pay", 60, 0), minus)], 0), vec![(key("pay", 60, 0), one, -1)]);
        assert!(totals.is_empty());
        assert_eq!(totals.series(), 0);
    }

    #[test]
    fn a_forgotten_series_id_goes_to_the_next_new_one() {
        let mut totals = minute_totals(0);
        let one = Agg::of_message(0, false);
        tick(&mut totals, vec![(key("a", 60, 0), one)], 0);
        assert_eq!(tick(&mut totals, vec![], 60_000), vec![(key("a", 60, 0), one, -1)]);
        tick(&mut totals, vec![(key("b", 60, 60), one)], 60_000);
        assert_eq!(totals.series.capacity(), 1, "the id of `a` went to `b`");
        assert_eq!(tick(&mut totals, vec![], 120_000), vec![(key("b", 60, 60), one, -1)]);
    }
}
