//! What each rule kind says about a window or a notice: spike and dip verdicts, the alerts of
//! risky messages and new clusters.

use super::*;

/// The alert of one high-risk message: firing for the rule's window of event time.
pub(super) fn risk_alert(rule: &RuleConfig, m: &RiskyMessage) -> (BTreeMap<String, String>, Evaluation, String) {
    let mut subject = vec![
        ("risk", m.risk.as_str()),
        ("category", m.category.as_str()),
        ("channel", m.channel.as_str()),
        ("message_id", m.id.as_str()),
    ];
    if let Some(c) = &m.campaign {
        subject.push(("campaign", c.as_str()));
    }
    let labels = AlertEngine::labels(rule, subject);
    let sentiment = m.sentiment_milli as f64 / 1000.0;
    let mut keywords = crate::enrich::terms::terms(&m.text);
    let mut seen = std::collections::HashSet::new();
    keywords.retain(|k| seen.insert(k.clone()));
    keywords.truncate(5);
    let eval = Evaluation {
        window_start_ms: m.ts_ms,
        window_end_ms: m.ts_ms + rule.window.as_ms(),
        anomalous: true,
        value: sentiment,
        baseline: Baseline::default(),
        explanation: Explanation {
            keywords,
            samples: vec![m.text.clone()],
            sample_ids: vec![m.id.clone()],
            cluster_id: None,
            count: 1,
            sentiment_mean: sentiment,
            negative_share: if m.negative { 1.0 } else { 0.0 },
            drivers: Vec::new(),
        },
    };
    let excerpt: String = m.text.chars().take(80).collect();
    let summary = format!("High-risk message ({}) in {} via {}: {excerpt}", m.risk, m.category, m.channel);
    (labels, eval, summary)
}

/// The alert of a new cluster: fires once, resolves when the rule's window has passed.
pub(super) fn new_cluster_alert(rule: &RuleConfig, c: &NewCluster) -> (BTreeMap<String, String>, Evaluation, String) {
    let id = cluster_name(c.id);
    let mut subject = vec![("cluster", id.as_str()), ("scope", c.scope.name())];
    if let Scope::Category(category) = &c.scope {
        subject.push(("category", category.as_str()));
    }
    let labels = AlertEngine::labels(rule, subject);
    let eval = Evaluation {
        window_start_ms: c.first_seen_ms,
        window_end_ms: c.ts_ms + rule.window.as_ms(),
        anomalous: true,
        value: c.size as f64,
        baseline: Baseline { threshold: rule.min_count as f64, ..Default::default() },
        explanation: Explanation {
            keywords: c.keywords.clone(),
            samples: c.samples.clone(),
            sample_ids: c.sample_ids.clone(),
            cluster_id: Some(id.clone()),
            count: c.size as i64,
            sentiment_mean: c.sentiment_mean,
            negative_share: c.negative_share,
            drivers: Vec::new(),
        },
    };
    let nearest = match c.nearest_established {
        Some((other, cos)) => format!("nearest known cluster {} at cosine {cos:.2}", cluster_name(other)),
        None => "no cluster was established before".into(),
    };
    let summary = format!(
        "New kind of feedback ({} scope): cluster {id} reached {} messages within {} — {}; {nearest}",
        c.scope.name(),
        c.size,
        rule.window,
        if c.keywords.is_empty() { "no keywords yet".to_string() } else { c.keywords.join(", ") },
    );
    (labels, eval, summary)
}

/// A rule's verdict on one window.
#[derive(Debug, PartialEq)]
pub struct Verdict {
    pub anomalous: bool,
    pub value: f64,
    pub baseline: Baseline,
    /// The value lies below the forecast of a rule watching drops (`down` or `both`).
    pub drop: bool,
}

/// Whether `rule` watches `series`: its key's dimension, and a value in `only` when set.
pub(super) fn watches(rule: &RuleConfig, series: &Series) -> bool {
    rule.watch().is_some_and(|w| {
        series.key == w.key && w.only.as_ref().is_none_or(|only| only.iter().any(|v| *v == series.value))
    })
}

/// Records the surprise of every window before `start_s` not yet remembered (at most
/// `capacity` of them: older ones would be forgotten at once).
pub(super) fn remember_until(
    memory: &mut SpikeMemory,
    model: &SpikeModel,
    windows: &SeriesWindows,
    start_s: i64,
    size_s: i64,
    capacity: usize,
    scratch: &mut Scratch,
) {
    let from = (memory.recorded_through + size_s).max(start_s - capacity as i64 * size_s);
    for w in (from..start_s).step_by(size_s as usize) {
        let value_at = |k: usize| windows.get(w - k as i64 * size_s).map(|a| a.count as f64);
        if let Some(j) = judge(model, value_at, scratch) {
            let shape = discord(model, value_at, Newest::Final, scratch);
            memory.rarity.record(j.z, shape);
        }
    }
    memory.recorded_through = memory.recorded_through.max(start_s - size_s);
}

/// A spike or sentiment-dip rule's verdict on the window starting at `start_s` of one series
/// (`None` when that window is unknown). The detector and the dashboard's threshold band both
/// come from here. A rarity rule's threshold needs the series' remembered surprises; without
/// them the spike falls back to the rule's sensitivity.
pub(crate) fn verdict(
    rule: &RuleConfig,
    model: Option<&SpikeModel>,
    windows: &SeriesWindows,
    start_s: i64,
    size_s: i64,
    rarity: Option<&RarityMemory>,
    scratch: &mut Scratch,
) -> Option<Verdict> {
    let current = windows.get(start_s)?;
    match (&rule.kind, model) {
        (RuleKind::Spike(_), Some(model)) => Some(spike(rule, model, windows, start_s, size_s, rarity, scratch)),
        (RuleKind::SentimentDip(dip), _) => {
            Some(sentiment_dip(rule, dip, current, &windows.history(start_s, size_s, dip.watch.history)))
        }
        _ => None,
    }
}

/// Spike: the window's count judged by the rule's predictors against its own trailing windows
/// (`dataflow::spike`), gated by `min_count` and, when yesterday's window is known, by
/// `yesterday_factor`.
pub(super) fn spike(
    rule: &RuleConfig,
    model: &SpikeModel,
    windows: &SeriesWindows,
    start_s: i64,
    size_s: i64,
    rarity: Option<&RarityMemory>,
    scratch: &mut Scratch,
) -> Verdict {
    let current = windows.get(start_s).unwrap_or_default();
    let value = current.count as f64;
    let yesterday = windows.get(start_s - DAY_S).map(|a| a.count);
    let value_at = |k: usize| windows.get(start_s - k as i64 * size_s).map(|a| a.count as f64);
    let judged = judge(model, value_at, scratch);
    let Some(j) = judged else {
        return Verdict {
            anomalous: false,
            value,
            baseline: Baseline { same_window_yesterday: yesterday, ..Default::default() },
            drop: false,
        };
    };
    let mut shape = None;
    let (crossed, fire_at_z) = match (&spike_rule(rule).score, rarity) {
        (&SpikeScore::Rarity { threshold, .. }, Some(rarity)) => {
            let warm = rarity.len() >= spike_rule(rule).watch.min_history;
            let fire_at_z = rarity.z_to_exceed(threshold).filter(|_| warm).map(|z| z.max(model.sensitivity));
            let mut crossed = warm && rarity.score(j.z, None, model.sensitivity) >= threshold;
            // The shape view is read only where the surprise alone does not cross, and where it
            // could: a score is at most min(z / sensitivity, 1). It costs a scan of the memory.
            if !crossed && warm && j.z >= threshold * model.sensitivity {
                // The window may still be filling: its count so far is a lower bound.
                let d = discord(model, value_at, Newest::AtLeast, scratch);
                if rarity.score(j.z, d, model.sensitivity) >= threshold {
                    crossed = true;
                    shape = d.map(|d| rarity.shape_rarity(d));
                }
            }
            (crossed, fire_at_z)
        }
        // The peers' rule is "count > mean + 3σ": strictly above the sensitivity.
        _ => (j.z > model.sensitivity, Some(model.sensitivity)),
    };
    let mut threshold = fire_at_z.map_or(f64::INFINITY, |z| j.value_at(z, model.direction, value));
    let drop = model.direction != Direction::Up && value < j.expected;
    // A rise must reach min_count messages; a drop matters on a series that usually has them.
    // On a longer window chosen for a quiet series (`min_expected`), significance alone decides:
    // the floor was set for the rule's own window.
    let own_s = rule.window.as_ms() / 1000;
    let min_count = if size_s > own_s { 1 } else { rule.min_count };
    let mut anomalous =
        crossed && if drop { j.expected >= min_count as f64 } else { current.count as u64 >= min_count };
    if let (Some(factor), Some(y)) = (spike_rule(rule).yesterday_factor, yesterday) {
        if drop {
            threshold = threshold.min(y as f64 / factor);
            anomalous &= value < y as f64 / factor;
        } else {
            threshold = threshold.max(y as f64 * factor);
            anomalous &= value > y as f64 * factor;
        }
    }
    Verdict {
        anomalous,
        value,
        drop,
        baseline: Baseline {
            mean: round3(j.expected),
            std: round3(j.spread),
            threshold: round3(threshold),
            windows: j.windows,
            same_window_yesterday: yesterday,
            predictor: Some(j.predictor),
            shape_rarity: shape,
            ..Default::default()
        },
    }
}

/// The spike options of a rule the caller knows is a spike rule.
fn spike_rule(rule: &RuleConfig) -> &SpikeRule {
    rule.spike().expect("a spike rule")
}

/// Sentiment dip: the window's negative share (or mean sentiment) against the pooled history.
pub fn sentiment_dip(rule: &RuleConfig, dip: &DipRule, current: Agg, history: &[Agg]) -> Verdict {
    let populated: Vec<&Agg> = history.iter().filter(|a| a.count > 0).collect();
    let pooled = populated.iter().fold(Agg::default(), |mut acc, a| {
        differential_dataflow::difference::Semigroup::plus_equals(&mut acc, *a);
        acc
    });
    let metric = dip.metric;
    let value = match metric {
        SentimentMetric::NegativeShare => current.negative_share(),
        SentimentMetric::Mean => current.sentiment_mean(),
    };
    if populated.len() < dip.watch.min_history || current.count == 0 {
        return Verdict {
            anomalous: false,
            value: round3(value),
            baseline: Baseline { windows: populated.len(), ..Default::default() },
            drop: false,
        };
    }
    let n = current.count as f64;
    let (centre, se, threshold, crossed) = match metric {
        SentimentMetric::NegativeShare => {
            let p0 = pooled.negative_share();
            let se = (p0 * (1.0 - p0) / n).sqrt();
            let threshold = p0 + dip.min_delta.max(dip.watch.sensitivity * se);
            (p0, se, threshold, value > threshold)
        }
        SentimentMetric::Mean => {
            let m0 = pooled.sentiment_mean();
            let var0 = (pooled.sent_sq as f64 / 1e6 / pooled.count as f64 - m0 * m0).max(0.0);
            let se = (var0 / n).sqrt();
            let threshold = m0 - dip.min_delta.max(dip.watch.sensitivity * se);
            (m0, se, threshold, value < threshold)
        }
    };
    Verdict {
        anomalous: crossed && current.count as u64 >= rule.min_count,
        drop: false,
        value: round3(value),
        baseline: Baseline {
            mean: round3(centre),
            std: round3(se),
            threshold: round3(threshold),
            windows: populated.len(),
            same_window_yesterday: None,
            ..Default::default()
        },
    }
}
