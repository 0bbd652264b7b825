//! Day-over-day rules (日环比): a local day so far — or, with `compare = "full_day"`, the whole
//! day once it closed — against the same stretch one period earlier, summed from the series'
//! hour windows. A change fires when it reaches `min_change` *and* is unlikely by chance
//! (`significance`), so 2 → 4 messages is not "+100 %".
//!
//! A day so far is looked at on every tick that adds to it, hundreds of times a day: a
//! fixed-sample p-value checked that often crosses 0.01 by chance (the first version did, on
//! a generated stream without any change). The p-values here stay valid however often they are
//! read (mixture sequential tests, Ville's inequality): for counts, the conditional test of two
//! Poisson rates — today's share of both days' messages against ½ — mixed over a uniform prior;
//! for the negative share and the mean, a normal mixture whose scale is the rule's own
//! `min_change`.

use super::{DetectorState, SeriesWindows};
use crate::alerts::engine::Evaluation;
use crate::alerts::{Alert, Baseline};
use crate::config::{Compare, DodRule, Metric, RuleConfig};
use crate::records::window::{Agg, Series};
use crate::util::round3;
use std::collections::BTreeSet;

const HOUR_S: u32 = 3600;
const HOUR_MS: i64 = 3_600_000;

/// An aggregate summed over hours, the earlier day's last hour prorated.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Totals {
    pub count: f64,
    pub neg: f64,
    /// Sum and sum of squares of sentiment (in sentiment units).
    pub sum: f64,
    pub sq: f64,
}

impl Totals {
    fn add(&mut self, agg: &Agg, weight: f64) {
        self.count += agg.count as f64 * weight;
        self.neg += agg.neg as f64 * weight;
        self.sum += agg.sent_sum as f64 / 1e3 * weight;
        self.sq += agg.sent_sq as f64 / 1e6 * weight;
    }

    fn mean(&self) -> f64 {
        if self.count > 0.0 {
            self.sum / self.count
        } else {
            0.0
        }
    }

    fn variance(&self) -> f64 {
        if self.count > 0.0 {
            (self.sq / self.count - self.mean().powi(2)).max(0.0)
        } else {
            0.0
        }
    }

    fn share(&self) -> f64 {
        if self.count > 0.0 {
            self.neg / self.count
        } else {
            0.0
        }
    }
}

/// The hour windows of `windows` in `[from_ms, to_ms)`. The hour holding `to_ms` counts in full
/// when `partial_is_all` (today: its messages so far are all there is), else by the share of it
/// before `to_ms` (the earlier day, up to the same clock time).
pub(crate) fn sum_hours(windows: &SeriesWindows, from_ms: i64, to_ms: i64, partial_is_all: bool) -> Totals {
    let mut totals = Totals::default();
    let from_s = from_ms.div_euclid(HOUR_MS) * 3600;
    for (&start_s, agg) in windows.aggs.range(from_s..) {
        let (start_ms, end_ms) = (start_s * 1000, start_s * 1000 + HOUR_MS);
        if start_ms >= to_ms {
            break;
        }
        let weight = if end_ms <= to_ms || partial_is_all { 1.0 } else { (to_ms - start_ms) as f64 / HOUR_MS as f64 };
        totals.add(agg, weight);
    }
    totals
}

/// The local day (its midnight, epoch s) a judgement as of `as_of_ms` is about. A full day is
/// judged at the midnight that closes it, and so is a drop's last hour: both belong to the day
/// before the instant they are judged at.
fn judged_day(dod: &DodRule, as_of_ms: i64) -> i64 {
    let as_of_s = as_of_ms.div_euclid(1000);
    let before = dod.compare == Compare::FullDay || dod.min_change < 0.0;
    dod.calendar.day_start(if before { as_of_s - 1 } else { as_of_s })
}

/// The verdict of one series as of `as_of_ms`: the evaluation the alert engine takes, or `None`
/// when either day holds too few messages to judge.
pub(crate) fn judge_day(
    rule: &RuleConfig,
    dod: &DodRule,
    windows: &SeriesWindows,
    as_of_ms: i64,
) -> Option<Evaluation> {
    let calendar = &dod.calendar;
    let full_day = dod.compare == Compare::FullDay;
    let rise = dod.min_change > 0.0;
    let day_start = judged_day(dod, as_of_ms);
    let earlier_start = calendar.day_start_after(day_start, -dod.period_days);
    let today = sum_hours(windows, day_start * 1000, as_of_ms, true);
    let earlier_end_ms = match full_day {
        true => calendar.window_end(earlier_start, 86_400) * 1000,
        false => earlier_start * 1000 + (as_of_ms - day_start * 1000),
    };
    let earlier = sum_hours(windows, earlier_start * 1000, earlier_end_ms, false);
    let min = rule.min_count as f64;
    if earlier.count < min || (rise && today.count < min) {
        return None;
    }
    let (value, before, change, p_value) = compare(dod.metric, &today, &earlier, dod.min_change.abs());
    let reached = if rise { change >= dod.min_change } else { change <= dod.min_change };
    let anomalous = reached && p_value <= dod.significance;
    let threshold = match dod.metric {
        Metric::Mean => before + dod.min_change,
        _ => before * (1.0 + dod.min_change),
    };
    let (window_start_ms, window_end_ms) = match dod.compare {
        Compare::FullDay => (day_start * 1000, calendar.window_end(day_start, 86_400) * 1000),
        // Rises: the hour filling now. Drops: judged as an hour closes, the hour that closed.
        Compare::SoFar if rise => {
            let hour = as_of_ms.div_euclid(HOUR_MS) * HOUR_MS;
            (hour, hour + HOUR_MS)
        }
        Compare::SoFar => (as_of_ms - HOUR_MS, as_of_ms),
    };
    Some(Evaluation {
        window_start_ms,
        window_end_ms,
        anomalous,
        value: round3(value),
        baseline: Baseline {
            mean: round3(before),
            std: 0.0,
            threshold: round3(threshold),
            windows: ((as_of_ms - day_start * 1000 + HOUR_MS - 1) / HOUR_MS) as usize,
            same_window_yesterday: None,
            change: Some(if change.is_finite() { round3(change) } else { change }),
            p_value: Some(p_value),
            ..Default::default()
        },
        explanation: Default::default(),
    })
}

/// (today's value, the earlier day's, the change, its one-sided p-value in the direction watched).
/// (today's value, the earlier day's, the change, its anytime-valid p-value). `scale`: the
/// rule's `min_change`, in size only; the direction is the caller's to check.
fn compare(metric: Metric, today: &Totals, earlier: &Totals, scale: f64) -> (f64, f64, f64, f64) {
    match metric {
        Metric::Count => {
            let (t, e) = (today.count.round() as u64, earlier.count.round() as u64);
            let change = if e > 0 { t as f64 / e as f64 - 1.0 } else { f64::INFINITY };
            (today.count, earlier.count, change, count_p_value(t, e))
        }
        Metric::NegativeShare => {
            let (p1, p0) = (today.share(), earlier.share());
            let change = if p0 > 0.0 {
                p1 / p0 - 1.0
            } else if p1 > 0.0 {
                f64::INFINITY
            } else {
                0.0
            };
            let pooled = (today.neg + earlier.neg) / (today.count + earlier.count);
            let se = (pooled * (1.0 - pooled) * (1.0 / today.count.max(1.0) + 1.0 / earlier.count.max(1.0))).sqrt();
            (p1, p0, change, normal_mixture_p_value(p1 - p0, se, scale * p0.max(pooled)))
        }
        Metric::Mean => {
            let (m1, m0) = (today.mean(), earlier.mean());
            let se = (today.variance() / today.count.max(1.0) + earlier.variance() / earlier.count.max(1.0)).sqrt();
            (m1, m0, m1 - m0, normal_mixture_p_value(m1 - m0, se, scale))
        }
    }
}

/// The anytime-valid p-value of `t` messages today against `e` the earlier day under equal
/// rates: today's share of the `n = t + e` is Binomial(n, ½) under the null; the alternative
/// mixes the share over a uniform prior, whose likelihood ratio is B(t+1, e+1) · 2ⁿ. Its
/// inverse is a p-value at every n at once. 2 → 4 gives 1; 50 → 100, 0.002.
pub(crate) fn count_p_value(t: u64, e: u64) -> f64 {
    let n = (t + e) as f64;
    let ln_beta = ln_gamma(t as f64 + 1.0) + ln_gamma(e as f64 + 1.0) - ln_gamma(n + 2.0);
    (-(ln_beta + n * std::f64::consts::LN_2)).exp().min(1.0)
}

/// The anytime-valid p-value of an estimated difference `d` with standard error `se`, mixed
/// over a normal prior of scale `tau` (the smallest change the rule cares about): the inverse
/// of √(V/(V+τ²))·exp(τ²d²/(2V(V+τ²))) with V = se². 1 when there is no spread to judge by.
pub(crate) fn normal_mixture_p_value(d: f64, se: f64, tau: f64) -> f64 {
    let (v, t2) = (se * se, tau * tau);
    if v.is_nan() || v <= 0.0 || t2 <= 0.0 {
        return 1.0;
    }
    let ln_ratio = 0.5 * (v / (v + t2)).ln() + t2 * d * d / (2.0 * v * (v + t2));
    (-ln_ratio).exp().min(1.0)
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7, nine terms: about 15 significant digits).
fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let t = x + 7.5;
    let series = G[1..].iter().enumerate().fold(G[0], |acc, (i, g)| acc + g / (x + i as f64 + 1.0));
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + series.ln()
}

impl DetectorState {
    /// Judges the day-over-day rules this tick calls for and returns the alert changes: rises
    /// of a day so far as its hours fill (the series this tick touched), drops as an hour
    /// closes, whole days as the midnight that ends them passes (every series watched).
    pub(super) fn judge_days(&mut self, touched: &BTreeSet<(Series, u32, i64)>, previous_clock: i64) -> Vec<Alert> {
        let mut alerts = Vec::new();
        let clock = self.clock_ms;
        if clock == i64::MIN {
            return alerts;
        }
        for rule_index in 0..self.rules.len() {
            let rule = &self.rules[rule_index];
            let Some(dod) = rule.day_over_day() else { continue };
            let watched = |series: &Series| super::verdicts::watches(rule, series);
            let mut due: BTreeSet<(i64, Series)> = BTreeSet::new();
            let closing = |boundary_ms: i64| previous_clock != i64::MIN && boundary_ms > previous_clock;
            let every_series = |as_of: i64, due: &mut BTreeSet<(i64, Series)>| {
                let keys = self.windows.keys().filter(|(series, size)| *size == HOUR_S && watched(series));
                due.extend(keys.map(|(series, _)| (as_of, series.clone())));
            };
            match dod.compare {
                Compare::SoFar if dod.min_change > 0.0 => {
                    let today_ms = dod.calendar.day_start(clock.div_euclid(1000)) * 1000;
                    let filled = touched
                        .iter()
                        .filter(|(s, size, start)| *size == HOUR_S && *start * 1000 >= today_ms && watched(s));
                    due.extend(filled.map(|(series, _, _)| (clock, series.clone())));
                }
                Compare::SoFar => {
                    let hour_end = clock.div_euclid(HOUR_MS) * HOUR_MS;
                    if closing(hour_end) {
                        every_series(hour_end, &mut due);
                    }
                }
                Compare::FullDay => {
                    let midnight = dod.calendar.day_start(clock.div_euclid(1000)) * 1000;
                    if closing(midnight) {
                        every_series(midnight, &mut due);
                    }
                }
            }
            for (as_of, series) in due {
                alerts.extend(self.engine.advance_clock(as_of, self.lateness_ms, &self.rules));
                let (rule, dod) =
                    (&self.rules[rule_index], self.rules[rule_index].day_over_day().expect("a day_over_day rule"));
                let Some(windows) = self.windows.get(&(series.clone(), HOUR_S)) else { continue };
                let Some(mut eval) = judge_day(rule, dod, windows, as_of) else { continue };
                if eval.anomalous {
                    let day_start_ms = judged_day(dod, as_of) * 1000;
                    eval.explanation =
                        self.explanation(rule, &series, day_start_ms, as_of, today_of(windows, day_start_ms, as_of));
                }
                if let Some(alert) = self.engine.observe(&self.rules[rule_index], &series, eval, as_of) {
                    alerts.push(alert);
                }
            }
        }
        alerts
    }
}

/// Today's messages as one aggregate, for the explanation's count, mean and negative share.
fn today_of(windows: &SeriesWindows, from_ms: i64, to_ms: i64) -> Agg {
    let mut agg = Agg::default();
    for (_, a) in windows.aggs.range(from_ms.div_euclid(1000)..).take_while(|(s, _)| **s * 1000 < to_ms) {
        differential_dataflow::difference::Semigroup::plus_equals(&mut agg, a);
    }
    agg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anytime_p_values_match_their_closed_forms() {
        // B(5, 3) · 2⁶ = (4! 2! / 7!) · 64 = 0.6095…: 2 → 4 is no evidence at all.
        assert_eq!(count_p_value(4, 2), 1.0);
        assert!((count_p_value(100, 50) - 0.002_129_572_752).abs() < 1e-9);
        assert!((count_p_value(87, 58) - 0.531_735_031).abs() < 1e-6, "the chance rise a fixed-sample test fired on");
        assert!((ln_gamma(10.0) - 362_880f64.ln()).abs() < 1e-10 && ln_gamma(1.0).abs() < 1e-12);
        // Normal mixture: d = 2 se with τ = se gives √½ · e^{1}; its inverse.
        let p = normal_mixture_p_value(0.2, 0.1, 0.1);
        assert!((p - 1.0 / (0.5f64.sqrt() * 1f64.exp())).abs() < 1e-12, "{p}");
        assert_eq!(normal_mixture_p_value(0.2, 0.0, 0.1), 1.0);
    }

    fn windows(hours: &[(i64, i64, i64)]) -> SeriesWindows {
        let mut w = SeriesWindows::default();
        for &(start_s, count, neg) in hours {
            w.record(start_s, Agg { count, neg, sent_sum: -500 * neg, sent_sq: 250_000 * neg });
        }
        w
    }

    #[test]
    fn the_earlier_day_is_prorated_to_the_same_clock_time() {
        // Yesterday: 60 messages in each of hours 0..3; today 120 in hour 0 and 30 so far in hour 1.
        let w = windows(&[(0, 60, 0), (3600, 60, 0), (7200, 60, 0), (86_400, 120, 0), (90_000, 30, 0)]);
        let today = sum_hours(&w, 86_400_000, 86_400_000 + 5_400_000, true);
        let earlier = sum_hours(&w, 0, 5_400_000, false);
        assert_eq!((today.count, earlier.count), (150.0, 90.0));
    }

    fn rule(text: &str) -> RuleConfig {
        let source = crate::config::Source { name: "alerts/test.toml".into(), text: text.into() };
        let flow = crate::config::DEFAULT_DATAFLOW
            .replace("size = \"1h\"\nretention = \"26h\"", "size = \"1h\"\nretention = \"8d\"");
        let flow = crate::config::Source { name: "dataflows/test.toml".into(), text: flow };
        crate::config::Config::from_sources(vec![flow], vec![source]).unwrap().rules.remove(0)
    }

    #[test]
    fn a_full_day_is_judged_whole_and_a_week_compares_seven_days_back() {
        let day = 86_400;
        let hours = |day_index: i64, per_hour: i64| (0..24).map(move |h| (day_index * day + h * 3600, per_hour, 0));
        // Day 0 and day 6: 10 an hour; day 7: 20 an hour, and day 8 has begun.
        let all: Vec<(i64, i64, i64)> =
            hours(0, 10).chain(hours(6, 10)).chain(hours(7, 20)).chain([(8 * day, 5, 0)]).collect();
        let w = windows(&all);
        let full = rule("[[rule]]\nname = \"d\"\nkind = \"day_over_day\"\nkey = \"business\"\ncompare = \"full_day\"\nmin_change = 0.5\nmin_count = 50\nseverity = \"warning\"");
        // Judged at the midnight that ends day 7: the whole of it (480) against day 6 (240).
        let e = judge_day(&full, full.day_over_day().unwrap(), &w, 8 * day * 1000).unwrap();
        assert!(e.anomalous && e.value == 480.0 && e.baseline.mean == 240.0, "{e:?}");
        assert_eq!((e.window_start_ms, e.window_end_ms), (7 * day * 1000, 8 * day * 1000), "the day judged");
        let week = rule("[[rule]]\nname = \"w\"\nkind = \"day_over_day\"\nkey = \"business\"\ncompare = \"full_day\"\nperiod = \"7d\"\nmin_change = 0.5\nmin_count = 50\nseverity = \"warning\"");
        let e = judge_day(&week, week.day_over_day().unwrap(), &w, 8 * day * 1000).unwrap();
        assert_eq!((e.value, e.baseline.mean), (480.0, 240.0), "day 7 against day 0");
        // Day 6 against day 5, of which nothing is known: fewer than min_count, not judged.
        assert!(judge_day(&full, full.day_over_day().unwrap(), &w, 7 * day * 1000).is_none());
    }

    #[test]
    fn a_change_fires_when_large_and_significant_enough() {
        let r = rule("[[rule]]\nname = \"d\"\nkind = \"day_over_day\"\nkey = \"business\"\nmin_change = 0.5\nmin_count = 5\nseverity = \"warning\"");
        let dod = r.day_over_day().unwrap().clone();
        let day = 86_400;
        // 2 → 4 is +100 % but chance; 20 → 60 is +200 % and not.
        let small = windows(&[(0, 2, 0), (day, 4, 0)]);
        assert!(judge_day(&r, &dod, &small, (day + 3600) * 1000).is_none(), "fewer than min_count");
        let r3 = rule("[[rule]]\nname = \"d\"\nkind = \"day_over_day\"\nkey = \"business\"\nmin_change = 0.5\nmin_count = 1\nseverity = \"warning\"");
        let e = judge_day(&r3, r3.day_over_day().unwrap(), &small, (day + 3600) * 1000).unwrap();
        assert!(!e.anomalous && e.baseline.change == Some(1.0), "{e:?}");
        let big = windows(&[(0, 20, 0), (day, 60, 0)]);
        let e = judge_day(&r, &dod, &big, (day + 3600) * 1000).unwrap();
        assert!(e.anomalous && e.value == 60.0 && e.baseline.mean == 20.0 && e.baseline.threshold == 30.0, "{e:?}");
        assert!(e.baseline.p_value.unwrap() < 1e-3);
        // A drop rule does not see a rise.
        let down = rule("[[rule]]\nname = \"d\"\nkind = \"day_over_day\"\nkey = \"business\"\nmin_change = -0.5\nmin_count = 5\nseverity = \"warning\"");
        assert!(!judge_day(&down, down.day_over_day().unwrap(), &big, (day + 3600) * 1000).unwrap().anomalous);
        let fell = windows(&[(0, 60, 0), (day, 10, 0)]);
        assert!(judge_day(&down, down.day_over_day().unwrap(), &fell, (day + 3600) * 1000).unwrap().anomalous);
        // A drop judged as the day's last hour closes (at midnight) judges the whole day.
        let last_hour = windows(&[(0, 30, 0), (82_800, 30, 0), (day, 30, 0), (day + 82_800, 0, 0)]);
        let e = judge_day(&down, down.day_over_day().unwrap(), &last_hour, 2 * day * 1000).unwrap();
        assert_eq!((e.value, e.baseline.mean), (30.0, 60.0), "day 1 whole against day 0 whole: {e:?}");
        // Negative share: 10 % → 40 % of 100 messages.
        let share = rule("[[rule]]\nname = \"d\"\nkind = \"day_over_day\"\nkey = \"business\"\nmetric = \"negative_share\"\nmin_change = 1.0\nmin_count = 20\nseverity = \"warning\"");
        let w = windows(&[(0, 100, 10), (day, 100, 40)]);
        let e = judge_day(&share, share.day_over_day().unwrap(), &w, (day + 3599) * 1000).unwrap();
        assert!(e.anomalous && (e.value - 0.4).abs() < 1e-9 && e.baseline.change == Some(3.0), "{e:?}");
    }
}
