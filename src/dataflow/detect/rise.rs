//! Sustained rises on quiet series (issue 31, docs/alerting.md § Quiet streams). A series too
//! quiet for the rule's own window is judged on a longer one (`min_expected`), where a tumbling
//! window only fills slowly: a support stream of eight messages an hour that triples shows 24
//! in its hour, which five Poisson spreads do not call a rise until the hour is nearly over.
//! A Poisson CUSUM over the rule's own windows accumulates the evidence minute by minute: each
//! window adds `x·ln ρ − (ρ − 1)·λ` nats (the log-likelihood ratio of a rate ρ times the
//! forecast λ against λ), floored at zero, and fires at a threshold set by a false-alarm rate
//! per series instead of a count. It is recomputed from the windows at each judgement, so late
//! data, replay and live agree, and nothing but the windows is kept.

use super::*;
use crate::alerts::{Rise, Timestamp};

/// The rise the test is designed for: the forecast rate tripled ("a few an hour, tripled").
pub(super) const RATIO: f64 = 3.0;
/// Past days whose windows around the same time of day forecast the rate (a quiet series' daily
/// rhythm: the trailing windows alone would call every busy afternoon a rise).
const DAYS_BACK: i64 = 7;
/// The CUSUM starts this many judged windows before the judged one (the current included):
/// far enough back for a rise that began before the window did.
const JUDGED_WINDOWS_SCANNED: i64 = 4;

/// The threshold (nats) whose average run length on a series at rate `lambda` per step is
/// `steps` (Siegmund's approximation, exact for the log-likelihood-ratio increments up to the
/// overshoot: ARL ≈ (e^h − h − 1) / KL, KL = λ(ρ − 1 − ln ρ) the drift per step).
pub(super) fn threshold(lambda: f64, steps: f64) -> f64 {
    let kl = lambda * (RATIO - 1.0 - RATIO.ln());
    let target = steps * kl;
    // h = ln(target + h + 1) has one positive fixed point; iterating from below converges.
    let mut h = (target + 1.0).ln().max(0.0);
    for _ in 0..50 {
        let next = (target + h + 1.0).ln();
        if (next - h).abs() < 1e-9 {
            break;
        }
        h = next;
    }
    h.max(RATIO.ln())
}

/// Where a CUSUM run over `counts` (per step, oldest first, at `lambda` per step) first reaches
/// `h` at or after step `from`: (first step of the run, crossing step, evidence there). After a
/// crossing the sum is held at `h`, so a rise that goes on keeps crossing and one that ends falls
/// below at its first quiet step instead of draining a long excess.
pub(super) fn first_crossing(counts: &[f64], lambda: f64, h: f64, from: usize) -> Option<(usize, usize, f64)> {
    let (up, drift) = (RATIO.ln(), (RATIO - 1.0) * lambda);
    let (mut sum, mut run_start) = (0.0_f64, 0);
    for (i, &x) in counts.iter().enumerate() {
        let next = sum + x * up - drift;
        if next <= 0.0 {
            sum = 0.0;
            run_start = i + 1;
            continue;
        }
        if next >= h && i >= from {
            return Some((run_start, i, next));
        }
        sum = next.min(h);
    }
    None
}

impl DetectorState {
    /// The sustained rise of `series` within the judged window `[start_s, start_s + size)` as of
    /// `as_of_ms`, for a spike rule judging it on a longer window than its own. `None` when the
    /// rule does not judge it so, the history is too short, or the evidence stays under the
    /// threshold.
    pub(super) fn sustained_rise(
        &self,
        rule_index: usize,
        series: &Series,
        start_s: i64,
        size: u32,
        as_of_ms: i64,
    ) -> Option<Rise> {
        let rule = &self.rules[rule_index];
        let spike = rule.spike().filter(|s| s.min_expected.is_some() && s.direction == Direction::Up)?;
        let own = rule.window.as_secs();
        let (size_s, own_s) = (size as i64, own as i64);
        if size <= own {
            return None;
        }
        let judged = self.windows.get(&(series.clone(), size))?;
        // The rate's estimate is a mean, not the median the tumbling test centres on: the median
        // of small counts rounds the rate down (two an hour often reads as one), and a CUSUM on
        // too low a rate fires on ordinary noise. A past burst raises the mean for a while,
        // which errs on the side of silence.
        let recent = judged.history(start_s, size_s, spike.watch.history);
        if recent.len() < spike.watch.min_history {
            return None;
        }
        let trailing = recent.iter().map(|a| a.count as f64).sum::<f64>() / recent.len() as f64;
        // Windows around the same time on earlier days, those still retained.
        let kept_from_s = self.clock_ms.div_euclid(1000) - self.retention_s(size);
        let mut daily = Vec::new();
        for d in 1..=DAYS_BACK {
            for k in -1..=1 {
                let w = start_s - d * DAY_S + k * size_s;
                if w + size_s > kept_from_s && w + size_s <= start_s {
                    daily.extend(judged.get(w).map(|a| a.count as f64));
                }
            }
        }
        // Without a day behind it, a series' daily rhythm cannot be told from a rise: the
        // tumbling test alone judges its first day.
        if daily.is_empty() {
            return None;
        }
        let seasonal = daily.iter().sum::<f64>() / daily.len() as f64;
        let lambda = trailing.max(seasonal).max(0.5) * own_s as f64 / size_s as f64;

        let own_windows = self.windows.get(&(series.clone(), own))?;
        let first_s = own_windows.first_start_s?;
        let scanned_from = (start_s - (JUDGED_WINDOWS_SCANNED - 1) * size_s)
            .max(first_s)
            .max(self.clock_ms.div_euclid(1000) - self.retention_s(own));
        let last_s = (start_s + size_s - own_s).min(self.calendar.window_start(as_of_ms, own));
        let from = (start_s - scanned_from).max(0) / own_s;
        let counts: Vec<f64> = (scanned_from..=last_s)
            .step_by(own as usize)
            .map(|w| own_windows.get(w).map_or(0.0, |a| a.count as f64))
            .collect();
        // On a series without any rise, one false alarm per rule's budget on average.
        let h = threshold(lambda, spike.rise_false_alarm_every_s / own_s as f64);
        let (run_start, crossed, evidence) = first_crossing(&counts, lambda, h, from as usize)?;
        Some(Rise {
            since: Timestamp((scanned_from + run_start as i64 * own_s) * 1000),
            count: counts[run_start..=crossed].iter().sum::<f64>() as i64,
            expected: round3(lambda * (crossed + 1 - run_start) as f64),
            ratio: RATIO,
            evidence: round3(evidence),
            threshold: round3(h),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_threshold_meets_siegmunds_run_length_and_grows_with_the_rate() {
        for lambda in [0.01, 8.0 / 60.0, 1.0] {
            let steps = crate::config::DEFAULT_RISE_FALSE_ALARM_EVERY_S / 60.0;
            let h = threshold(lambda, steps);
            let kl = lambda * (RATIO - 1.0 - RATIO.ln());
            let arl = (h.exp() - h - 1.0) / kl;
            assert!((arl / steps - 1.0).abs() < 1e-6, "λ {lambda}: h {h} gives {arl} steps, not {steps}");
        }
        // Eight an hour, one false alarm a quarter: about 9.7 nats, twelve messages in ten minutes.
        let h = threshold(8.0 / 60.0, crate::config::DEFAULT_RISE_FALSE_ALARM_EVERY_S / 60.0);
        assert!((9.5..10.0).contains(&h), "{h}");
        assert!(12.0 * RATIO.ln() - 10.0 * 2.0 * 8.0 / 60.0 > h && 11.0 * RATIO.ln() - 10.0 * 2.0 * 8.0 / 60.0 < h);
        assert!(threshold(1.0, 43_200.0) > threshold(0.1, 43_200.0));
    }

    #[test]
    fn a_run_is_found_where_the_evidence_crosses_and_starts_after_the_last_zero() {
        let lambda = 0.1;
        // Quiet, then four messages a step: the run starts at the first busy step.
        let mut counts = vec![0.0; 10];
        counts.extend([4.0, 4.0, 4.0]);
        let h = 8.0;
        let (start, crossed, evidence) = first_crossing(&counts, lambda, h, 0).expect("crosses");
        assert_eq!((start, crossed), (10, 11));
        assert!((evidence - 2.0 * (4.0 * RATIO.ln() - 2.0 * lambda)).abs() < 1e-9);
        // A crossing before `from` does not count, but the held sum keeps crossing after it.
        assert_eq!(first_crossing(&counts, lambda, h, 12).map(|c| c.1), Some(12));
        // Nothing but the forecast's own rate: no crossing.
        assert_eq!(first_crossing(&[0.0, 1.0, 0.0, 0.0, 1.0, 0.0], lambda, h, 0), None);
    }

    #[test]
    fn after_a_rise_ends_the_held_sum_falls_below_at_the_first_quiet_step() {
        let lambda = 0.1;
        let mut counts = vec![5.0; 10];
        counts.extend([0.0; 3]);
        assert_eq!(first_crossing(&counts, lambda, 6.0, 10), None);
    }
}
