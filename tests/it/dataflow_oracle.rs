//! Oracle tests of the window dataflow: random streams with late, out-of-order and duplicate
//! events are fed tick by tick; after every tick the incrementally maintained window aggregates
//! must equal a from-scratch recomputation over everything accepted so far (minus expired windows).
//! The streams cross local midnight in Asia/Shanghai, which a day window must start at, and
//! count two combined keys besides the single dimensions.

use differential_dataflow::difference::Semigroup;
use feedpulse::config::{Dimension, Key};
use feedpulse::dataflow::ingest::IngestParams;
use feedpulse::dataflow::tick::Tick;
use feedpulse::dataflow::totals::TotalsParams;
use feedpulse::dataflow::{ingest_streams, window_aggregates};
use feedpulse::event::Event;
use feedpulse::records::window::{window_start, Agg, Series, WindowKey};
use feedpulse::util::calendar::Calendar;
use feedpulse::util::SplitMix;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashSet};
use std::rc::Rc;
use timely::dataflow::operators::{Input, Inspect, Probe};
use timely::dataflow::ProbeHandle;

const WINDOWS: [(u32, i64); 3] = [(60, 180_000), (300, 600_000), (86_400, 600_000)];
/// Beijing time, which has kept +08:00 since 1991.
const OFFSET_S: i64 = 8 * 3600;
const DEDUPE_MS: i64 = 120_000;
const NEG_BELOW: i32 = -200;

fn random_ticks(seed: u64, ticks: usize) -> Vec<Vec<Event>> {
    let mut rng = SplitMix::new(seed);
    // 2023-11-14 23:30 in Beijing: the streams run past local midnight.
    let mut clock = 1_699_975_800_000i64;
    let mut next_id = 0;
    let mut recent: Vec<(String, i64)> = Vec::new();
    let categories = ["pay", "crash", "login"];
    let channels = ["app", "web"];
    (0..ticks)
        .map(|_| {
            let n = rng.below(12);
            (0..n)
                .map(|_| {
                    clock += rng.below(9_000) as i64;
                    let ts = match rng.below(10) {
                        // very late: older than some retentions (dead-lettered or expired windows)
                        0 => clock - 200_000 - rng.below(500_000) as i64,
                        // out of order by up to 20 s
                        1..=3 => clock - rng.below(20_000) as i64,
                        _ => clock,
                    };
                    // Re-send a recent id: a duplicate within the dedupe window.
                    let id = match recent.last() {
                        Some((id, at)) if rng.below(8) == 0 && clock - at < DEDUPE_MS / 2 => id.clone(),
                        _ => {
                            next_id += 1;
                            format!("e{next_id}")
                        }
                    };
                    recent.push((id.clone(), ts.max(clock)));
                    Event {
                        id: id.into(),
                        ts_ms: ts,
                        channel: channels[rng.below(2)].into(),
                        campaign: if rng.below(3) == 0 { Some("c1".into()) } else { None },
                        business: [None, Some("live".into()), Some("shop".into())][rng.below(3)].clone(),
                        category: categories[rng.below(3)].into(),
                        sentiment_milli: rng.below(2001) as i32 - 1000,
                        text: "t".into(),
                        truncated: false,
                        ..Default::default()
                    }
                })
                .collect()
        })
        .collect()
}

/// Recomputes the expected window state from scratch after each tick.
struct Oracle {
    clock: i64,
    seen: HashSet<String>,
    accepted: Vec<Event>,
}

impl Oracle {
    fn offer(&mut self, ev: &Event) {
        let min_retention = WINDOWS.iter().map(|w| w.1).min().unwrap();
        if self.clock != i64::MIN && ev.ts_ms < self.clock - min_retention {
            return; // too late: dead-lettered
        }
        if !self.seen.insert(ev.id.to_string()) {
            return; // duplicate
        }
        self.clock = self.clock.max(ev.ts_ms);
        self.accepted.push(ev.clone());
    }

    fn state(&self) -> BTreeMap<WindowKey, Agg> {
        let mut state: BTreeMap<WindowKey, Agg> = BTreeMap::new();
        for ev in &self.accepted {
            let agg = Agg::of_message(ev.sentiment_milli, ev.sentiment_milli < NEG_BELOW);
            let business_category = ev.business.as_ref().map(|b| format!("{b}|{}", ev.category));
            let campaign_channel = ev.campaign.as_ref().map(|c| format!("{c}|{}", ev.channel));
            let values = [
                (Key::from(Dimension::Category), Some(ev.category.to_string())),
                (Key::from(Dimension::Channel), Some(ev.channel.to_string())),
                (Key::from(Dimension::Campaign), ev.campaign.as_ref().map(|c| c.to_string())),
                (Key::from(Dimension::Business), ev.business.as_ref().map(|b| b.to_string())),
                (Key::from(Dimension::Overall), Some("all".to_string())),
                (business_category_key(), business_category),
                (campaign_channel_key(), campaign_channel),
            ];
            for (dim, value) in values {
                let Some(value) = value else { continue };
                for (size_s, retention) in WINDOWS {
                    if dim == campaign_channel_key() && size_s != 60 {
                        continue;
                    }
                    let start_s = match size_s {
                        86_400 => (ev.ts_ms / 1000 + OFFSET_S).div_euclid(86_400) * 86_400 - OFFSET_S,
                        _ => window_start(ev.ts_ms, size_s),
                    };
                    if (start_s + size_s as i64) * 1000 + retention <= self.clock {
                        continue; // expired
                    }
                    let key = WindowKey { series: Series::new(dim, value.as_str()), size_s, start_s };
                    state.entry(key).or_default().plus_equals(&agg);
                }
            }
        }
        state
    }
}

fn business_category_key() -> Key {
    Key::combined(&[Dimension::Business, Dimension::Category]).unwrap()
}

fn campaign_channel_key() -> Key {
    Key::combined(&[Dimension::Campaign, Dimension::Channel]).unwrap()
}

fn check_seed(seed: u64) {
    let ticks = random_ticks(seed, 120);
    let mismatch = timely::execute_directly(move |worker| {
        let observed: Rc<RefCell<BTreeMap<(WindowKey, Agg), isize>>> = Rc::default();
        let sink = observed.clone();
        let probe = ProbeHandle::new();
        let mut input = worker.dataflow::<Tick, _, _>(|scope| {
            let (input, events) = scope.new_input::<Vec<Event>>();
            let params = IngestParams {
                windows: WINDOWS.to_vec(),
                dedupe_window_ms: DEDUPE_MS,
                negative_below_milli: NEG_BELOW,
                clustering: false,
                // campaign × channel kept at the first window size (1m) only.
                combined_keys: vec![(business_category_key(), u64::MAX), (campaign_channel_key(), 1)],
                calendar: Calendar::named("Asia/Shanghai").unwrap(),
                attribution: None,
                metrics: Default::default(),
                spent: None,
                tier_field: "tier".into(),
                team_field: "team".into(),
            };
            let totals = TotalsParams { windows: params.windows.clone(), calendar: params.calendar.clone() };
            let ingested = ingest_streams(events, params);
            window_aggregates(&ingested, totals)
                .inner
                .inspect(move |(kv, _t, diff)| {
                    let mut map = sink.borrow_mut();
                    *map.entry(kv.clone()).or_default() += diff;
                })
                .probe_with(&probe);
            input
        });
        let mut oracle = Oracle { clock: i64::MIN, seen: HashSet::new(), accepted: Vec::new() };
        let mut checked = 0;
        let mut days = std::collections::BTreeSet::new();
        for (tick, batch) in ticks.into_iter().enumerate() {
            for ev in &batch {
                oracle.offer(ev);
            }
            input.send_batch(&mut batch.clone());
            input.advance_to(tick as Tick + 1);
            while probe.less_than(input.time()) {
                worker.step();
            }
            let incremental: BTreeMap<WindowKey, Agg> = observed
                .borrow()
                .iter()
                .filter(|(_, n)| **n != 0)
                .map(|((k, a), n)| {
                    assert_eq!(*n, 1, "each window has exactly one current aggregate");
                    (k.clone(), *a)
                })
                .collect();
            let expected = oracle.state();
            if incremental != expected {
                return Some(format!("seed {seed}, tick {tick}: incremental {incremental:?}\n expected {expected:?}"));
            }
            checked += expected.len();
            days.extend(expected.keys().filter(|k| k.size_s == 86_400).map(|k| k.start_s));
        }
        assert!(checked > 1000, "the streams exercise many windows ({checked})");
        assert!(days.len() == 2, "the streams cross local midnight: {days:?}");
        None
    });
    if let Some(m) = mismatch {
        panic!("{m}");
    }
}

#[test]
fn incremental_windows_equal_recomputation_at_every_tick() {
    for seed in 1..=8 {
        check_seed(seed);
    }
}
