//! Which window sizes a spike rule judges: its own, and with `min_expected` the longer ones a
//! quiet series moves to (docs/alerting.md § Quiet streams).

use super::*;

/// Each rule's spike models, one per window size it judges (see [`DetectorState::models`]).
pub(super) fn spike_models(rules: &[RuleConfig], sizes: &[u32]) -> Vec<Vec<(u32, SpikeModel)>> {
    rules
        .iter()
        .map(|r| {
            let own = r.window.as_secs();
            let longer = r.spike().and_then(|s| s.min_expected).is_some();
            let mut judged: Vec<u32> = sizes.iter().copied().filter(|&s| s == own || (longer && s > own)).collect();
            if judged.is_empty() {
                judged.push(own);
            }
            judged.into_iter().filter_map(|s| Some((s, SpikeModel::for_window(r, s, true)?))).collect()
        })
        .collect()
}

impl DetectorState {
    /// The window size `rule` judges `series` on now: its own window, or for a `min_expected`
    /// rule the shortest window whose recent windows hold that many messages in the median
    /// (silent windows count as empty), else the longest one with `min_history` windows known,
    /// else its own.
    pub(super) fn judged_size(&self, rule_index: usize, series: &Series) -> u32 {
        let rule = &self.rules[rule_index];
        let own = rule.window.as_secs();
        let Some((spike, min_expected)) = rule.spike().and_then(|s| Some((s, s.min_expected?))) else {
            return own;
        };
        let mut fallback = None;
        for &(size, _) in &self.models[rule_index] {
            let Some(windows) = self.windows.get(&(series.clone(), size)) else { continue };
            let current = self.calendar.window_start(self.clock_ms, size);
            let mut counts: Vec<i64> =
                windows.history(current, size as i64, spike.watch.history).iter().map(|a| a.count).collect();
            if counts.len() < spike.watch.min_history {
                continue;
            }
            fallback = Some(size);
            counts.sort_unstable();
            if counts[counts.len() / 2] as f64 >= min_expected {
                return size;
            }
        }
        fallback.unwrap_or(own)
    }
}
