//! Unit tests of the detector's state: verdicts per rule kind, restore, the shape view.

use super::verdicts::spike;
use super::*;

fn rule(name: &str) -> RuleConfig {
    Config::embedded().rules.into_iter().find(|r| r.name == name).unwrap()
}

/// One-minute windows holding `history` (oldest first) and then `current`; the start of `current`.
fn series(history: &[i64], current: i64, yesterday: Option<i64>) -> (SeriesWindows, i64) {
    let mut w = SeriesWindows::default();
    let first = DAY_S - 60 * history.len() as i64;
    for (i, c) in history.iter().chain([&current]).enumerate() {
        w.aggs.insert(first + 60 * i as i64, Agg { count: *c, ..Default::default() });
    }
    w.first_start_s = Some(first);
    if let Some(y) = yesterday {
        w.aggs.insert(0, Agg { count: y, ..Default::default() });
        w.first_start_s = Some(0);
    }
    (w, DAY_S)
}

fn judge_spike(r: &RuleConfig, history: &[i64], current: i64, yesterday: Option<i64>) -> Verdict {
    let (w, start) = series(history, current, yesterday);
    spike(r, &SpikeModel::from_rule(r, true).unwrap(), &w, start, 60, None, &mut Scratch::default())
}

#[test]
fn spike_uses_a_robust_baseline() {
    let r = rule("category_spike");
    let history = [10, 12, 9, 11, 10, 10, 300, 11, 9, 10];
    let v = judge_spike(&r, &history, 40, None);
    assert_eq!(v.baseline.mean, 10.0, "median ignores the old outlier");
    assert!(v.anomalous, "{v:?}");
    assert!(!judge_spike(&r, &history, 19, None).anomalous, "min_count");
    assert!(!judge_spike(&r, &history[..3], 40, None).anomalous, "min_history");
    let v = judge_spike(&r, &history, 40, Some(35));
    assert!(!v.anomalous, "yesterday had nearly as many: {v:?}");
    assert_eq!(v.baseline.same_window_yesterday, Some(35));
}

#[test]
fn a_drop_is_gated_by_its_forecast_and_by_yesterday() {
    let mut r = RuleConfig { min_count: 15, ..rule("category_spike") };
    let s = spike_of(&mut r);
    (s.direction, s.watch.sensitivity, s.yesterday_factor) = (Direction::Down, 3.0, Some(2.0));
    let history = [20; 30];
    let v = judge_spike(&r, &history, 2, None);
    assert!(v.anomalous, "2 where 20 were expected, though under min_count: {v:?}");
    assert_eq!(v.baseline.threshold, round3(20.0 - 3.0 * 20f64.sqrt()));
    assert!(!judge_spike(&r, &[10; 30], 0, None).anomalous, "a forecast of 10 is under min_count 15");
    assert!(judge_spike(&r, &history, 2, Some(20)).anomalous);
    let v = judge_spike(&r, &history, 2, Some(3));
    assert!(!v.anomalous, "yesterday's window was as quiet: {v:?}");
    assert_eq!(v.baseline.threshold, 1.5, "below yesterday / factor");
}

#[test]
fn mean_std_matches_the_peer_rule() {
    let mut r = RuleConfig { min_count: 1, ..rule("category_spike") };
    let s = spike_of(&mut r);
    (s.baseline, s.watch.sensitivity, s.yesterday_factor) = (crate::config::BaselineMethod::MeanStd, 3.0, None);
    // mean 10, population σ = 1: threshold 13
    let history = [9, 11, 9, 11, 9, 11, 9, 11, 9, 11];
    let v = judge_spike(&r, &history, 13, None);
    assert_eq!((v.baseline.mean, v.baseline.std, v.baseline.threshold), (10.0, 1.0, 13.0));
    assert!(!v.anomalous, "13 is not above mean + 3σ");
    assert!(judge_spike(&r, &history, 14, None).anomalous);
}

/// The category spike rule as a rarity rule firing at 0.9, on every count.
fn rarity_rule() -> RuleConfig {
    let mut r = RuleConfig { min_count: 1, ..rule("category_spike") };
    let s = spike_of(&mut r);
    s.score = SpikeScore::Rarity { threshold: 0.9, memory: 8000, shape_windows: None };
    s.yesterday_factor = None;
    r
}

/// The spike options of a spike rule, to vary in a test.
fn spike_of(r: &mut RuleConfig) -> &mut SpikeRule {
    r.spike_mut().expect("a spike rule")
}

fn dip_of(r: &RuleConfig) -> &DipRule {
    match &r.kind {
        RuleKind::SentimentDip(d) => d,
        _ => panic!("not a sentiment_dip rule"),
    }
}

fn min_history(r: &RuleConfig) -> usize {
    r.watch().unwrap().min_history
}

#[test]
fn a_rarity_rule_remembers_each_window_once() {
    let r = rarity_rule();
    let model = SpikeModel::from_rule(&r, true).unwrap();
    let history: Vec<i64> = (0..40).map(|i| 10 + (i % 3)).collect();
    let (w, start) = series(&history, 30, None);
    let mut memory = SpikeMemory { rarity: RarityMemory::new(100), recorded_through: w.first_start_s.unwrap() - 60 };
    let mut scratch = Scratch::default();
    remember_until(&mut memory, &model, &w, start, 60, 100, &mut scratch);
    // The first min_history windows have no judgement yet; each later one is remembered.
    assert_eq!(memory.rarity.len(), 40 - min_history(&r));
    remember_until(&mut memory, &model, &w, start, 60, 100, &mut scratch);
    assert_eq!(memory.rarity.len(), 40 - min_history(&r), "no window twice");
    let v = spike(&r, &model, &w, start, 60, Some(&memory.rarity), &mut scratch);
    assert!(v.anomalous, "30 after a history of 10-12 is rarer than anything remembered: {v:?}");
    let v = spike(&r, &model, &w, start - 60, 60, Some(&memory.rarity), &mut scratch);
    assert!(!v.anomalous, "{v:?}");
}

/// Spikes of 20 at minutes 0 and 3 of every ten, nothing between; then one at minute 5.
/// Every spike is as far above the level as any other, so only the shape view sees the
/// break in the pattern.
#[test]
fn a_shape_view_fires_on_a_broken_pattern() {
    let mut r = rarity_rule();
    let shape = |r: &mut RuleConfig, windows: Option<usize>| {
        let s = spike_of(r);
        s.watch.sensitivity = 2.0;
        s.score = SpikeScore::Rarity { threshold: 0.9, memory: 100, shape_windows: windows };
    };
    shape(&mut r, None);
    let history: Vec<i64> = (0..405).map(|i| if i % 10 == 0 || i % 10 == 3 { 20 } else { 0 }).collect();
    let (w, start) = series(&history, 20, None);
    let verdict = |r: &RuleConfig| {
        let model = SpikeModel::from_rule(r, true).unwrap();
        let mut memory =
            SpikeMemory { rarity: RarityMemory::new(100), recorded_through: w.first_start_s.unwrap() - 60 };
        let mut scratch = Scratch::default();
        remember_until(&mut memory, &model, &w, start, 60, 100, &mut scratch);
        let now = spike(r, &model, &w, start, 60, Some(&memory.rarity), &mut scratch);
        // The regular spike at minute 400 (judged with what was remembered by 405).
        let regular = spike(r, &model, &w, start - 5 * 60, 60, Some(&memory.rarity), &mut scratch);
        (now, regular)
    };
    let (now, regular) = verdict(&r);
    assert!(!now.anomalous, "by size alone the spike is like every other: {now:?}");
    assert!(!regular.anomalous, "{regular:?}");
    shape(&mut r, Some(6));
    let (now, regular) = verdict(&r);
    assert!(now.anomalous, "no six minutes before ended like these: {now:?}");
    assert!(now.baseline.shape_rarity.is_some_and(|s| s >= 0.9), "{now:?}");
    assert!(!regular.anomalous, "the pattern itself is no news: {regular:?}");
    assert_eq!(regular.baseline.shape_rarity, None);
}

#[test]
fn sentiment_dip_needs_a_significant_shift() {
    let r = rule("campaign_sentiment_dip");
    let history: Vec<Agg> = (0..6).map(|_| Agg { count: 100, neg: 30, ..Default::default() }).collect();
    let v = sentiment_dip(&r, dip_of(&r), Agg { count: 40, neg: 28, ..Default::default() }, &history);
    assert!(v.anomalous, "{v:?}");
    assert_eq!(v.baseline.mean, 0.3);
    let judge = |agg: Agg| sentiment_dip(&r, dip_of(&r), agg, &history);
    assert!(!judge(Agg { count: 40, neg: 16, ..Default::default() }).anomalous);
    assert!(!judge(Agg { count: 10, neg: 10, ..Default::default() }).anomalous, "min_count");
}

/// Feeds a detector message by message (one every 6 s): `per_minute(series, minute)`
/// messages of each series a minute. Returns (second, status, window start) of its alerts.
fn stream(
    detector: &mut DetectorState,
    minutes: i64,
    per_minute: impl Fn(&str, i64) -> i64,
) -> Vec<(i64, crate::alerts::AlertStatus, String)> {
    let mut out = Vec::new();
    for second in (0..minutes * 60).step_by(6) {
        let (minute, slot) = (second / 60, (second % 60) / 6);
        let mut items = Vec::new();
        for name in ["payment", "login"] {
            let rate = per_minute(name, minute);
            // `rate` messages spread over the minute's ten slots.
            let (before, now) = (slot * rate / 10, (slot + 1) * rate / 10);
            if now == before {
                continue;
            }
            let key = WindowKey {
                series: Series::new(crate::config::Dimension::Category, name),
                size_s: 60,
                start_s: minute * 60,
            };
            if before > 0 {
                items.push(DetectIn::Window(key.clone(), Agg { count: before, ..Default::default() }, -1));
            }
            items.push(DetectIn::Window(key, Agg { count: now, ..Default::default() }, 1));
        }
        items.push(DetectIn::Clock(second * 1000));
        for alert in detector.process_tick(items) {
            out.push((second, alert.status, alert.window.start.to_string()));
        }
    }
    out
}

/// A drop rule judges a window once it has closed: a minute still filling is not a drop,
/// and a minute that closed with no message at all is the deepest drop there is.
#[test]
fn a_drop_is_judged_on_closed_windows_including_empty_ones() {
    use crate::alerts::AlertStatus::{Firing, Resolved};
    let mut config = Config::embedded();
    let mut drop = RuleConfig { name: "category_drop".into(), min_count: 5, ..rule("category_spike") };
    let s = spike_of(&mut drop);
    (s.direction, s.yesterday_factor, s.watch.sensitivity) = (Direction::Down, None, 3.0);
    config.rules = vec![drop];
    // Payment: 20 a minute, silent in minutes 30-34; login keeps the event clock moving.
    let mut detector = DetectorState::new(&config);
    let alerts = stream(&mut detector, 45, |name, m| if name == "payment" && (30..35).contains(&m) { 0 } else { 20 });
    let minute = |m: i64| crate::alerts::rfc3339(m * 60_000);
    assert_eq!(
        alerts,
        // It resolves as alerts do, a window plus the allowed lateness (5 s) after the last
        // anomalous window closed: at the first message from 36:05 on.
        [(31 * 60, Firing, minute(30)), (36 * 60 + 6, Resolved, minute(34))],
        "one alert, from the close of the first silent minute"
    );

    // Login alone never drops; a series under min_count a minute is not watched for drops.
    let mut detector = DetectorState::new(&config);
    let alerts = stream(&mut detector, 45, |name, m| match name {
        "payment" if (30..35).contains(&m) => 0,
        "payment" => 3,
        _ => 20,
    });
    assert_eq!(alerts, [], "a forecast of 3 is below min_count 5");

    // Both ways: a rise fires while its minute is still filling (34 is above 20 + 3 x 4.47
    // by the fifth slot), and the ordinary minutes' first messages are no drop.
    spike_of(&mut config.rules[0]).direction = Direction::Both;
    let mut detector = DetectorState::new(&config);
    let alerts = stream(&mut detector, 45, |name, m| if name == "payment" && m == 40 { 80 } else { 20 });
    assert_eq!(alerts, [(40 * 60 + 24, Firing, minute(40)), (42 * 60 + 6, Resolved, minute(40))]);
}

/// The payment series: ten quiet minutes, then a spike in the minute starting at 600 s.
fn payment_windows(spike: i64) -> Vec<(WindowKey, Agg)> {
    let payment = Series::new(crate::config::Dimension::Category, "payment");
    (0..11)
        .map(|m| {
            let count = if m == 10 { spike } else { 5 };
            (WindowKey { series: payment.clone(), size_s: 60, start_s: m * 60 }, Agg { count, ..Default::default() })
        })
        .collect()
}

/// What the totals hand the detector for `windows` (all new) at event time `clock_ms`.
fn tick(windows: &[(WindowKey, Agg)], clock_ms: i64) -> Vec<DetectIn> {
    let mut items: Vec<DetectIn> = windows.iter().map(|(k, a)| DetectIn::Window(k.clone(), *a, 1)).collect();
    items.push(DetectIn::Clock(clock_ms));
    items
}

#[test]
fn a_restored_state_neither_re_evaluates_its_windows_nor_re_fires_its_alerts() {
    let config = Config::embedded();
    let mut fresh = DetectorState::new(&config);
    let fired = fresh.process_tick(tick(&payment_windows(40), 630_000));
    assert_eq!(fired.iter().map(|a| a.rule_name()).collect::<Vec<_>>(), ["category_spike"]);

    // A restart from the same windows and that alert: the windows re-entering change nothing.
    let mut restored = DetectorState::new(&config);
    restored.restore(&payment_windows(40), &fired, |_| true, true);
    assert!(restored.process_tick(tick(&payment_windows(40), 630_000)).is_empty());
    // More of the spike after the restart: the alert is already firing, nothing is sent.
    let (key, old) = payment_windows(40).pop().unwrap();
    let grown = vec![
        DetectIn::Window(key.clone(), old, -1),
        DetectIn::Window(key.clone(), Agg { count: 45, ..old }, 1),
        DetectIn::Clock(640_000),
    ];
    assert!(restored.process_tick(grown.clone()).is_empty());
    assert_eq!(restored.active_alerts().len(), 1);

    // Without the alert state the same growth fires again: what the restore prevents.
    let mut forgetful = DetectorState::new(&config);
    forgetful.restore(&payment_windows(40), &[], |_| true, true);
    assert_eq!(forgetful.process_tick(grown).len(), 1);
    // And a worker that does not own the series takes neither its windows nor its alert.
    let mut other = DetectorState::new(&config);
    other.restore(&payment_windows(40), &fired, |_| false, false);
    assert!(other.windows.is_empty() && other.active_alerts().is_empty());
}
