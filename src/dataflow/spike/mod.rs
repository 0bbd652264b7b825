//! The spike detector's arithmetic, shared by the live `Detect` operator and `backtest`.
//!
//! One function, [`surprise`], judges a value against the trailing history of its own series and
//! answers with a z-like surprise; [`score`] maps it into [0, 1] (0.5 exactly at the rule's
//! sensitivity). Live alerts fire when the score reaches 0.5; backtests report the score itself
//! so that thresholds can be swept. Rarity rules rank the surprise against the series' past ones
//! ([`RarityMemory`]) and may add the shape view ([`discord`]): how unlike every earlier stretch
//! the latest stretch of windows is, ranked the same way.

use crate::config::{BaselineMethod, Direction, Predictor, RuleConfig, SpikeScore};

mod rarity;
use rarity::median_in_place;
pub use rarity::{fire_at, score, Rarity, RarityMemory, SeriesScorer};

/// How one series' value is judged. Built from a spike rule.
#[derive(Clone, Debug, PartialEq)]
pub struct SpikeModel {
    pub baseline: BaselineMethod,
    /// The surprise at which a value is anomalous (score 0.5 under `ScoreKind::Surprise`).
    pub sensitivity: f64,
    pub direction: Direction,
    pub predictors: Vec<Predictor>,
    /// Residuals (windows) a predictor needs before it is trusted.
    pub history: usize,
    pub min_history: usize,
    /// Windows per day, for the daily and weekly predictors.
    pub windows_per_day: Option<usize>,
    /// Values are event counts: their spread is at least Poisson (√expected) and at least 1.
    pub counts: bool,
    /// Windows in the shape view ([`discord`]); 0: no shape view.
    pub shape_windows: usize,
    /// Windows back the shape view looks for a stretch like the latest.
    pub shape_memory: usize,
}

impl SpikeModel {
    /// The model of a spike rule (`None` for the other kinds).
    pub fn from_rule(rule: &RuleConfig, counts: bool) -> Option<Self> {
        Self::for_window(rule, rule.window.as_secs(), counts)
    }

    /// The model of a spike rule judging windows of `size_s` seconds (see `min_expected`).
    pub fn for_window(rule: &RuleConfig, size_s: u32, counts: bool) -> Option<Self> {
        let spike = rule.spike()?;
        let window_s = (size_s as usize).max(1);
        let (shape_windows, shape_memory) = match spike.score {
            SpikeScore::Rarity { memory, shape_windows, .. } => (shape_windows.unwrap_or(0), memory),
            SpikeScore::Surprise => (0, 0),
        };
        Some(SpikeModel {
            baseline: spike.baseline,
            sensitivity: spike.watch.sensitivity,
            direction: spike.direction,
            predictors: spike.predictors.clone(),
            history: spike.watch.history,
            min_history: spike.watch.min_history,
            windows_per_day: (86_400 % window_s == 0).then_some(86_400 / window_s),
            counts,
            shape_windows,
            shape_memory,
        })
    }

    /// How many windows back `judge` may look.
    pub fn reach(&self) -> usize {
        let lag = self.predictors.iter().filter_map(|p| self.lag(*p)).max().unwrap_or(0);
        // The seasonal references look one window beyond their lag.
        let predictors = self.history + lag + (lag >= 2) as usize;
        let shape = if self.shape_windows > 0 { self.shape_memory + self.shape_windows - 1 } else { 0 };
        predictors.max(shape)
    }

    fn lag(&self, predictor: Predictor) -> Option<usize> {
        match predictor {
            Predictor::Level => Some(0),
            Predictor::Step => Some(1),
            Predictor::Daily => self.windows_per_day,
            Predictor::Weekly => self.windows_per_day.map(|d| 7 * d),
        }
    }
}

/// A value's distance from what its best predictor expected, in units of that predictor's spread.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Judgement {
    /// Positive in the watched direction(s), 0 when the value sits on the other side.
    pub z: f64,
    pub predictor: Predictor,
    /// The value the predictor expected.
    pub expected: f64,
    pub spread: f64,
    /// Residuals the spread was estimated from.
    pub windows: usize,
}

impl Judgement {
    /// The value at which the surprise reaches `z` in the watched direction: above the forecast
    /// for `up`, below it for `down`, and on the side `value` lies for `both`.
    pub fn value_at(&self, z: f64, direction: Direction, value: f64) -> f64 {
        let below = match direction {
            Direction::Up => false,
            Direction::Down => true,
            Direction::Both => value < self.expected,
        };
        if below {
            self.expected - z * self.spread
        } else {
            self.expected + z * self.spread
        }
    }
}

/// Judges the value of one window. `value_at(k)` is the series' value `k` windows before it
/// (`k = 0`: the window itself), `None` when unknown. Each predictor in the model forecasts the
/// window from the past (level: the median of the trailing windows; daily/weekly: the same window
/// a day/week earlier; step: the previous window) and is judged on its own residuals over the
/// trailing `history` windows; the predictor that has been most accurate (smallest spread) speaks.
/// A daily rhythm is then no surprise on a series that has one, and a flat series keeps the
/// plain level baseline.
pub fn judge(model: &SpikeModel, value_at: impl Fn(usize) -> Option<f64>, scratch: &mut Scratch) -> Option<Judgement> {
    value_at(0)?;
    let mut best: Option<Judgement> = None;
    for &predictor in &model.predictors {
        let Some(lag) = model.lag(predictor) else { continue };
        let judged = if lag < 2 {
            judge_with(model, predictor, lag, &value_at, Reference::Exact, scratch)
        } else {
            // A seasonal forecast reads the same window a day (week) ago through the median of
            // it and its two neighbours, so that a one-window outlier then is not echoed as an
            // anomaly now. The exact window speaks instead only where it halves the spread: a
            // profile that changes sharply from one window to the next, which the median blurs.
            let smooth = judge_with(model, predictor, lag, &value_at, Reference::Smoothed, scratch);
            let exact = judge_with(model, predictor, lag, &value_at, Reference::Exact, scratch);
            match (smooth, exact) {
                (Some(s), Some(e)) if e.spread < 0.5 * s.spread => Some(e),
                (Some(s), _) => Some(s),
                (None, e) => e,
            }
        };
        if let Some(judged) = judged {
            if best.is_none_or(|b| judged.spread < b.spread) {
                best = Some(judged);
            }
        }
    }
    best
}

/// The shape view: how unlike everything before it the latest stretch of `model.shape_windows`
/// windows is. The answer is the Euclidean distance from that stretch to the most alike stretch
/// of the same length that ends at least a stretch earlier and lies within the
/// `model.shape_memory` windows before it. A regular pattern (a spike every hundred windows, a
/// burst each night) repeats itself, so its latest stretch has a close twin; a break in the
/// pattern that no single window's size reveals (spikes arriving closer together, a familiar
/// value at an unfamiliar moment) has none. `None` without a shape view or before two
/// stretches' worth of windows are known. Costs `shape_memory × shape_windows` multiply-adds
/// (early abandoning of far stretches measured slower: the branch stops vectorisation).
pub fn discord(
    model: &SpikeModel,
    value_at: impl Fn(usize) -> Option<f64>,
    newest: Newest,
    scratch: &mut Scratch,
) -> Option<f64> {
    let w = model.shape_windows;
    if w == 0 {
        return None;
    }
    let recent = &mut scratch.recent;
    recent.clear();
    recent.extend((0..model.shape_memory + w).map_while(&value_at));
    if recent.len() < 2 * w {
        return None;
    }
    let latest = &recent[..w];
    let nearest = recent
        .windows(w)
        .skip(w)
        .map(|past| {
            let older: f64 = past[1..].iter().zip(&latest[1..]).map(|(a, b)| (a - b) * (a - b)).sum();
            let gap = match newest {
                Newest::Final => latest[0] - past[0],
                Newest::AtLeast => (latest[0] - past[0]).max(0.0),
            };
            older + gap * gap
        })
        .fold(f64::INFINITY, f64::min);
    Some(nearest.sqrt())
}

/// What the newest window's value is to the shape view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Newest {
    /// Final: a closed window, a backtest row.
    Final,
    /// The count so far of a window still open. It can only grow, so a stretch whose newest
    /// window holds more is not unlike it yet: a half-filled window must not look like a new
    /// pattern.
    AtLeast,
}

/// How a predictor with a lag reads the window `lag` back.
#[derive(Clone, Copy)]
enum Reference {
    Exact,
    /// The median of that window and its two neighbours.
    Smoothed,
}

fn judge_with(
    model: &SpikeModel,
    predictor: Predictor,
    lag: usize,
    value_at: &impl Fn(usize) -> Option<f64>,
    reference: Reference,
    scratch: &mut Scratch,
) -> Option<Judgement> {
    let reference_at = |at: usize| -> Option<f64> {
        let centre = value_at(at)?;
        let Reference::Smoothed = reference else { return Some(centre) };
        match (value_at(at - 1), value_at(at + 1)) {
            (Some(a), Some(b)) => Some(centre.max(a.min(b)).min(a.max(b))),
            _ => Some(centre),
        }
    };
    let residual = |k: usize| -> Option<f64> {
        let x = value_at(k)?;
        if lag == 0 {
            Some(x)
        } else {
            Some(x - reference_at(k + lag)?)
        }
    };
    scratch.history.clear();
    scratch.history.extend((1..=model.history).filter_map(residual));
    if scratch.history.len() < model.min_history {
        return None;
    }
    let now = residual(0)?;
    let reference = if lag == 0 { 0.0 } else { reference_at(lag).unwrap_or(0.0) };
    let (centre, spread) = centre_and_spread(model.baseline, &scratch.history, &mut scratch.work);
    let expected = reference + centre;
    // Not under mean_std: that is the peers' textbook rule, kept exact.
    let spread = if model.counts && model.baseline != BaselineMethod::MeanStd {
        spread.max(expected.max(0.0).sqrt()).max(1.0)
    } else {
        spread
    };
    Some(Judgement {
        z: surprise(model.direction, now - centre, spread),
        predictor,
        expected,
        spread,
        windows: scratch.history.len(),
    })
}

/// Reusable buffers for `judge`.
#[derive(Default)]
pub struct Scratch {
    history: Vec<f64>,
    work: Vec<f64>,
    /// The latest windows, newest first, for [`discord`].
    recent: Vec<f64>,
}

fn centre_and_spread(baseline: BaselineMethod, history: &[f64], work: &mut Vec<f64>) -> (f64, f64) {
    let n = history.len() as f64;
    match baseline {
        BaselineMethod::MeanStd => {
            let mean = history.iter().sum::<f64>() / n;
            let var = history.iter().map(|c| (c - mean).powi(2)).sum::<f64>() / n;
            (mean, var.sqrt())
        }
        BaselineMethod::MedianMad | BaselineMethod::MedianMeanDev => {
            work.clear();
            work.extend_from_slice(history);
            let median = median_in_place(work);
            let mut abs_dev_sum = 0.0;
            for x in work.iter_mut() {
                *x = (*x - median).abs();
                abs_dev_sum += *x;
            }
            let mad = 1.4826 * median_in_place(work);
            let mean_dev = 1.2533 * abs_dev_sum / n;
            let spread = match baseline {
                // A mostly flat history has MAD 0; its mean absolute deviation still sees how far
                // the rare excursions went, so one more of them is not infinitely surprising.
                BaselineMethod::MedianMad if mad > 0.0 => mad,
                BaselineMethod::MedianMad => mean_dev,
                // The larger of the two: MAD ignores excursions up to half the history, the mean
                // deviation remembers them, so a series that often jumps is not surprised by a jump.
                _ => mad.max(mean_dev),
            };
            (median, spread)
        }
    }
}

fn surprise(direction: Direction, deviation: f64, spread: f64) -> f64 {
    let deviation = match direction {
        Direction::Up => deviation,
        Direction::Down => -deviation,
        Direction::Both => deviation.abs(),
    };
    if deviation <= 0.0 {
        0.0
    } else if spread > 0.0 {
        deviation / spread
    } else {
        // A perfectly constant history: any change is as surprising as anything can be.
        f64::INFINITY
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn model(direction: Direction) -> SpikeModel {
        SpikeModel {
            baseline: BaselineMethod::MedianMad,
            sensitivity: 5.0,
            direction,
            predictors: vec![Predictor::Level],
            history: 30,
            min_history: 3,
            windows_per_day: None,
            counts: false,
            shape_windows: 0,
            shape_memory: 0,
        }
    }

    fn judge_series(model: &SpikeModel, newest_first: &[f64]) -> Option<Judgement> {
        judge(model, |k| newest_first.get(k).copied(), &mut Scratch::default())
    }

    #[test]
    fn median_in_place_handles_odd_and_even_lengths() {
        assert_eq!(median_in_place(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median_in_place(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median_in_place(&mut []), 0.0);
    }

    #[test]
    fn direction_decides_which_side_is_surprising() {
        let series = [2.0, 10.0, 11.0, 9.0, 10.0, 10.0, 12.0, 8.0];
        assert_eq!(judge_series(&model(Direction::Up), &series).unwrap().z, 0.0);
        let down = judge_series(&model(Direction::Down), &series).unwrap();
        assert!(down.z > 5.0, "{down:?}");
        assert_eq!(down.expected, 10.0);
        assert_eq!(judge_series(&model(Direction::Both), &series).unwrap().z, down.z);
        assert_eq!(judge_series(&model(Direction::Up), &series[..3]), None, "min_history");
    }

    #[test]
    fn counts_are_at_least_poisson_noisy() {
        let mut series = vec![130.0];
        series.extend([100.0; 10]);
        let counts = SpikeModel { counts: true, ..model(Direction::Up) };
        let j = judge_series(&counts, &series).unwrap();
        assert_eq!((j.expected, j.spread, j.z), (100.0, 10.0, 3.0));
        assert_eq!(judge_series(&model(Direction::Up), &series).unwrap().z, f64::INFINITY);
    }

    #[test]
    fn the_most_accurate_predictor_speaks() {
        // A square daily rhythm (4 windows a day): 10 at night, 50 by day. The level baseline
        // finds every morning surprising; the daily predictor has learnt the rhythm.
        let day = [10.0, 10.0, 50.0, 50.0];
        let oldest_first: Vec<f64> = (0..40).map(|i| day[i % 4] + (i % 3) as f64).collect();
        let newest_first = |extra: f64| -> Vec<f64> {
            let mut s = oldest_first.clone();
            s.push(extra);
            s.reverse();
            s
        };
        let m = SpikeModel {
            predictors: vec![Predictor::Level, Predictor::Daily],
            windows_per_day: Some(4),
            ..model(Direction::Up)
        };
        // window 40 is a night window (40 % 4 == 0): expected about 10
        let normal = judge_series(&m, &newest_first(11.0)).unwrap();
        assert_eq!(normal.predictor, Predictor::Daily);
        assert!(normal.z < 1.0, "{normal:?}");
        let spike = judge_series(&m, &newest_first(45.0)).unwrap();
        assert!(spike.z > 5.0, "a daytime value at night is a spike for the daily predictor: {spike:?}");
        let level_only = judge_series(&model(Direction::Up), &newest_first(45.0)).unwrap();
        assert!(level_only.z < 5.0, "the level baseline has seen 50s: {level_only:?}");
    }

    #[test]
    fn rarity_ranks_against_remembered_surprises() {
        let mut r = Rarity::new(4);
        for z in [1.0, 2.0, 3.0, 4.0, 5.0] {
            r.record(z);
        }
        assert_eq!(r.len(), 4, "bounded: the oldest is forgotten");
        assert_eq!(r.score(0.0), 0.0);
        assert_eq!(r.score(10.0), 1.0 - 1.0 / 5.0);
        assert_eq!(r.score(3.5), 1.0 - 3.0 / 5.0);
        assert_eq!(r.score(4.0), 1.0 - 3.0 / 5.0);
        let z = r.z_to_exceed(0.6).unwrap();
        assert!((z - 4.0).abs() < 1e-9, "{z}");
        assert!(r.score(z + 1e-6) >= 0.6 && r.score(z) < 0.6);
        assert!((r.z_to_exceed(0.1).unwrap() - 2.0).abs() < 1e-9, "anything above the smallest memory");
        assert_eq!(r.z_to_exceed(0.9), None, "four memories cannot tell one in ten");
    }

    #[test]
    fn score_is_one_half_at_the_sensitivity() {
        assert_eq!(score(5.0, 5.0), 0.5);
        assert_eq!(score(0.0, 5.0), 0.0);
        assert_eq!(score(f64::INFINITY, 5.0), 1.0);
        assert!(score(50.0, 5.0) < score(51.0, 5.0));
    }

    fn nab_rule() -> RuleConfig {
        let text = include_str!("../../../benches/nab_rule.toml").to_string();
        let config = Config::embedded_with_rules(crate::config::Source { name: "nab_rule.toml".into(), text }).unwrap();
        config.rules[0].clone()
    }

    fn noise(i: usize) -> f64 {
        // deterministic, uniform in [-1, 1) (the SplitMix64 finaliser of i)
        let mut x = (i as u64).wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^= x >> 31;
        ((x >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }

    fn scores(series: &[f64]) -> Vec<f64> {
        scores_with(&nab_rule(), series)
    }

    fn scores_with(rule: &RuleConfig, series: &[f64]) -> Vec<f64> {
        let mut scorer = SeriesScorer::new(rule, None);
        series.iter().map(|v| scorer.push(*v)).collect()
    }

    const ALERT: f64 = 0.998;

    #[test]
    fn a_clear_spike_is_found_at_once() {
        let mut series: Vec<f64> = (0..3000).map(|i| 100.0 + 5.0 * gaussian(i)).collect();
        series[2500] = 160.0;
        let s = scores(&series);
        assert!(s[2500] >= ALERT, "{}", s[2500]);
        let before = (0..2500).filter(|i| s[*i] >= ALERT).count();
        assert!(before <= 2500 / 500, "noise alerted {before} times");
    }

    /// Once the rule has fired, a worse spike within its cooldown is the same incident (live,
    /// the firing alert only moves forward); after the cooldown a spike is news again.
    #[test]
    fn a_fired_anomaly_is_news_again_only_after_the_cooldown() {
        let rule = nab_rule();
        let cooldown = (rule.cooldown.as_ms() / rule.window.as_ms()) as usize;
        let mut series: Vec<f64> = (0..4000).map(|i| 100.0 + 5.0 * gaussian(i)).collect();
        series[2500] = 160.0;
        series[2500 + cooldown / 2] = 200.0;
        // Past the cooldown of the first and the quiet stretch after the second.
        let later = 2500 + cooldown / 2 + cooldown + 10;
        series[later] = 200.0;
        let s = scores_with(&rule, &series);
        assert!(s[2500] >= ALERT, "the first spike fires: {}", s[2500]);
        assert!(
            s[2500 + cooldown / 2] < ALERT,
            "a worse one within the cooldown is damped: {}",
            s[2500 + cooldown / 2]
        );
        assert!(s[later] >= ALERT, "after it, news again: {}", s[later]);
    }

    fn gaussian(i: usize) -> f64 {
        let (u, v) = ((noise(2 * i) + 1.0) / 2.0, (noise(2 * i + 1) + 1.0) / 2.0);
        (-2.0 * (1.0 - u).ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    fn discord_of(model: &SpikeModel, newest: Newest, oldest_first: &[f64]) -> Option<f64> {
        let newest_first: Vec<f64> = oldest_first.iter().rev().copied().collect();
        discord(model, |k| newest_first.get(k).copied(), newest, &mut Scratch::default())
    }

    #[test]
    fn discord_is_the_distance_to_the_nearest_earlier_stretch() {
        let m = SpikeModel { shape_windows: 3, shape_memory: 10, ..model(Direction::Both) };
        let closed = |oldest_first: &[f64]| discord_of(&m, Newest::Final, oldest_first);
        assert_eq!(closed(&[1.0, 2.0, 3.0, 0.0, 0.0, 0.0, 1.0, 2.0, 3.0]), Some(0.0), "a twin");
        assert_eq!(closed(&[1.0, 2.0, 3.0, 0.0, 0.0, 0.0, 1.0, 2.0, 5.0]), Some(2.0));
        // The stretches (2, 3, 3) and (3, 3, 3) overlap the latest one: only (1, 2, 3) is earlier.
        assert_eq!(closed(&[1.0, 2.0, 3.0, 3.0, 3.0, 3.0]), Some(5f64.sqrt()));
        assert_eq!(closed(&[1.0, 2.0, 3.0, 4.0, 5.0]), None, "fewer than two stretches");
        // A window still filling: 2 so far where its twin ended at 3 is no difference yet, 5 is.
        let open = |oldest_first: &[f64]| discord_of(&m, Newest::AtLeast, oldest_first);
        assert_eq!(open(&[1.0, 2.0, 3.0, 0.0, 0.0, 0.0, 1.0, 2.0, 2.0]), Some(0.0));
        assert_eq!(open(&[1.0, 2.0, 3.0, 0.0, 0.0, 0.0, 1.0, 2.0, 5.0]), Some(2.0));
        // The twin at the start is 11 windows before the latest stretch: beyond a memory of 10.
        let far = [1.0, 2.0, 3.0, 9.0, 9.0, 9.0, 9.0, 9.0, 9.0, 9.0, 9.0, 1.0, 2.0, 3.0];
        assert!(closed(&far).is_some_and(|d| d > 1.0));
        let longer = SpikeModel { shape_memory: 11, ..m.clone() };
        assert_eq!(discord_of(&longer, Newest::Final, &far), Some(0.0));
        assert_eq!(discord_of(&model(Direction::Both), Newest::Final, &far), None, "no shape view");
    }

    /// NAB's `art_increase_spike_density` in small: a spike of 20 at windows 0 and 6 of every
    /// hundred, then for once extra spikes at 5, 10 and 15. Each spike is as large as every other,
    /// so the surprise alone cannot tell them apart; the hour that holds the extra spikes has no
    /// like hour before it.
    #[test]
    fn a_denser_run_of_ordinary_spikes_is_found_by_its_shape() {
        let mut series: Vec<f64> = (0..4000).map(|i| if i % 100 == 0 || i % 100 == 6 { 20.0 } else { 0.0 }).collect();
        for extra in [2005, 2010, 2015] {
            series[extra] = 20.0;
        }
        let with_shape = scores(&series);
        let first = (0..4000).find(|i| with_shape[*i] >= ALERT);
        assert!(first.is_some_and(|i| (2005..2017).contains(&i)), "first alert at {first:?}");
        let mut plain = nab_rule();
        if let Some(SpikeScore::Rarity { shape_windows, .. }) = plain.spike_mut().map(|s| &mut s.score) {
            *shape_windows = None;
        }
        let without = scores_with(&plain, &series);
        let alerts = without.iter().filter(|s| **s >= ALERT).count();
        assert_eq!(alerts, 0, "the surprise alone finds nothing");
    }

    #[test]
    fn flat_noise_raises_nothing() {
        // Noise that never strays three spreads from its level: a rule asking for three
        // spreads stays silent however rare a value is.
        let bounded: Vec<f64> = (0..6000).map(|i| 50.0 + 3.0 * noise(i)).collect();
        let mut rule = nab_rule();
        rule.spike_mut().unwrap().watch.sensitivity = 3.0;
        let alerts = scores_with(&rule, &bounded).iter().filter(|s| **s >= ALERT).count();
        assert_eq!(alerts, 0, "{alerts} alerts on bounded noise");
        // Gaussian noise does stray: the rarity threshold (one window in 500) bounds how often
        // that is reported, and reporting only new maxima thins it further.
        let gauss: Vec<f64> = (0..6000).map(|i| 50.0 + 3.0 * gaussian(i)).collect();
        let alerts = scores(&gauss).iter().filter(|s| **s >= ALERT).count();
        assert!(alerts <= 6000 / 500, "{alerts} alerts on Gaussian noise");
    }

    /// A level shift (issue 31's calibration cases): it is reported at once, and once the
    /// forecast has moved to the new level the series is quiet again, not an alert per window.
    #[test]
    fn a_level_shift_fires_at_the_shift_and_then_settles() {
        let series: Vec<f64> = (0..6000).map(|i| if i < 3000 { 100.0 } else { 130.0 } + 5.0 * gaussian(i)).collect();
        let s = scores(&series);
        let alerts: Vec<usize> = (0..6000).filter(|i| s[*i] >= ALERT).collect();
        assert!(alerts.iter().any(|i| (3000..3005).contains(i)), "the shift is reported at once: {alerts:?}");
        assert!(alerts.iter().filter(|i| **i >= 3005).count() <= 2, "then it settles: {alerts:?}");
        assert!(alerts.iter().filter(|i| **i < 3000).count() <= 3000 / 500, "{alerts:?}");
    }

    /// A sparse count series, mostly zeros with a message now and then: a lone message is no
    /// anomaly, six in one window are.
    #[test]
    fn a_sparse_count_series_fires_on_a_burst_not_on_its_single_messages() {
        let mut series: Vec<f64> = (0..6000).map(|i| if noise(7 * i + 3) > 0.9 { 1.0 } else { 0.0 }).collect();
        let ones = series.iter().filter(|v| **v > 0.0).count();
        assert!(ones > 200, "a twentieth of the windows hold a message: {ones}");
        series[5000] = 6.0;
        let s = scores(&series);
        let alerts: Vec<usize> = (0..6000).filter(|i| s[*i] >= ALERT).collect();
        assert_eq!(alerts, [5000], "only the burst");
    }

    /// A series whose noise quadruples halfway: the change may be reported, but the rarity of a
    /// surprise is measured against the series' own recent surprises, so within a few days of
    /// windows it fires no more often than on the first half.
    #[test]
    fn a_series_whose_noise_grows_halfway_returns_to_its_nominal_rate() {
        let series: Vec<f64> = (0..12000).map(|i| 100.0 + if i < 6000 { 2.0 } else { 8.0 } * gaussian(i)).collect();
        let s = scores(&series);
        let late = (9000..12000).filter(|i| s[*i] >= ALERT).count();
        assert!(late <= 3000 / 500, "{late} alerts in the last 3000 windows");
    }

    #[test]
    fn yesterdays_outlier_is_not_echoed_today() {
        // A metric with a daily swing and little noise, so the same-time-yesterday forecast
        // speaks; one window on day 5 jumps far above it.
        let mut series: Vec<f64> = (0..288 * 7)
            .map(|i| {
                let phase = std::f64::consts::TAU * (i % 288) as f64 / 288.0;
                50.0 - 40.0 * phase.cos() + 0.5 * gaussian(i)
            })
            .collect();
        let outlier = 288 * 5 + 100;
        series[outlier] += 30.0;
        let s = scores(&series);
        assert!(s[outlier] >= ALERT, "the outlier fires: {}", s[outlier]);
        // A day later the same window is ordinary again; compared with the outlier itself it
        // would look like a drop of 30.
        let echo = outlier + 288;
        assert!(s[echo] < 0.9, "its echo a day later scored {}", s[echo]);
    }

    #[test]
    fn a_daily_pattern_does_not_alert_every_morning() {
        // 5-minute windows, 288 a day, for two weeks: counts swing from 20 at night to 200 by
        // day, with Poisson noise.
        let series: Vec<f64> = (0..288 * 14)
            .map(|i| {
                let phase = std::f64::consts::TAU * (i % 288) as f64 / 288.0;
                let base = 110.0 - 90.0 * phase.cos();
                (base + base.sqrt() * gaussian(i)).round().max(0.0)
            })
            .collect();
        let s = scores(&series);
        // The morning rise: from 06:00 to 10:00 every day after the first two.
        let mornings: Vec<usize> =
            (288 * 2..series.len()).filter(|i| (72..120).contains(&(i % 288)) && s[*i] >= ALERT).collect();
        // Noise makes a rare window now and then (the rule's one in 500); what must not happen
        // is the rise itself alerting day after day.
        let days: std::collections::BTreeSet<usize> = mornings.iter().map(|i| i / 288).collect();
        assert!(days.len() <= 12 / 4, "alerted on the mornings of days {days:?} (windows {mornings:?})");
        let alerts = s.iter().filter(|x| **x >= ALERT).count();
        assert!(alerts <= series.len() / 500, "{alerts} alerts on a clean daily pattern");
    }
}
