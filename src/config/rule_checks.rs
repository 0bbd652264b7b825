//! The checks of spike and sentiment_dip rules as written (apart from `validate`, which
//! merges files and checks what every rule shares).

use super::rules::{Direction, Metric, Predictor, RuleFile, ScoreKind};
use super::schema::Problem;

pub(super) fn check_spike_rule(r: &RuleFile, problem: Problem) {
    if r.baseline.is_none() {
        problem("spike rules need `baseline` (median_mad, median_mean_dev or mean_std)".into());
    }
    if r.metric.is_some() {
        problem("`metric` applies to sentiment_dip rules only".into());
    }
    if r.yesterday_factor.is_some_and(|f| f.is_nan() || f <= 0.0) {
        problem("yesterday_factor must be > 0".into());
    }
    if r.predictors.is_empty() {
        problem("`predictors` needs at least one of level, daily, weekly, step".into());
    }
    let whole_days = 86_400_000 % r.window().as_ms().max(1) == 0;
    if !whole_days && r.predictors.iter().any(|p| matches!(p, Predictor::Daily | Predictor::Weekly)) {
        problem(format!("daily/weekly predictors need a window that divides a day, not {}", r.window()));
    }
    match (r.score, r.threshold) {
        (ScoreKind::Rarity, Some(t)) if !(t > 0.0 && t < 1.0) => {
            problem("threshold must lie strictly between 0 and 1".into())
        }
        (ScoreKind::Rarity, None) => problem("score = \"rarity\" needs a `threshold`".into()),
        (ScoreKind::Surprise, Some(_)) => {
            problem("`threshold` applies to score = \"rarity\"; surprise rules fire at `sensitivity`".into())
        }
        _ => {}
    }
    if let Some(every) = r.rise_false_alarm_every {
        if r.min_expected.is_none() {
            problem(
                "rise_false_alarm_every applies with min_expected (the sustained-rise test runs on the longer windows)"
                    .into(),
            );
        }
        if every.as_ms() < 3_600_000 {
            problem(format!("rise_false_alarm_every must be at least 1h, not {every}"));
        }
    }
    if let Some(m) = r.min_expected {
        if !(m.is_finite() && m > 0.0) {
            problem("min_expected must be > 0".into());
        }
        if r.direction != Direction::Up || r.score != ScoreKind::Surprise {
            problem("min_expected applies to direction = \"up\" with score = \"surprise\": a drop or a rarity rank is judged on one window size".into());
        }
    }
    if r.rarity_memory < r.min_history {
        problem("rarity_memory must be at least min_history".into());
    }
    match r.shape_windows {
        Some(_) if r.score != ScoreKind::Rarity => problem(
            "`shape_windows` applies to score = \"rarity\": a shape's discord is ranked against its past".into(),
        ),
        Some(w) if w < 2 || 2 * w > r.rarity_memory => problem(format!(
            "shape_windows must be at least 2 and at most half of rarity_memory ({}), not {w}",
            r.rarity_memory
        )),
        _ => {}
    }
}

/// The options of a spike's forecast set on a day-over-day or threshold rule, which has none.
pub(super) fn refuse_spike_options(r: &RuleFile, problem: Problem) {
    if r.baseline.is_some()
        || r.threshold.is_some()
        || r.yesterday_factor.is_some()
        || r.min_expected.is_some()
        || r.rise_false_alarm_every.is_some()
    {
        problem(
            "`baseline`/`threshold`/`yesterday_factor`/`min_expected`/`rise_false_alarm_every` apply to spike rules only"
                .into(),
        );
    }
}

pub(super) fn check_dip_rule(r: &RuleFile, problem: Problem) {
    if r.known_metric().is_none() {
        problem("sentiment_dip rules need `metric` (negative_share or mean)".into());
    }
    if r.known_metric() == Some(Metric::Count) {
        problem("sentiment_dip rules watch negative_share or mean; a count is a spike rule's".into());
    }
    if r.baseline.is_some()
        || r.yesterday_factor.is_some()
        || r.threshold.is_some()
        || r.shape_windows.is_some()
        || r.min_expected.is_some()
        || r.rise_false_alarm_every.is_some()
    {
        problem(
            "`baseline`/`yesterday_factor`/`threshold`/`shape_windows`/`min_expected`/`rise_false_alarm_every` apply to spike rules only".into(),
        );
    }
    if !(0.0..=2.0).contains(&r.min_delta) {
        problem("min_delta must lie in [0, 2]".into());
    }
}
