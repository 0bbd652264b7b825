//! How rare a surprise is for its own series, and the per-series scorer backtests use.

use super::*;
use std::collections::VecDeque;

/// smaller. A global threshold on rarity means "about one window in N" on every series,
/// whatever its noise, which a threshold on z cannot promise for heavy-tailed series.
#[derive(Clone, Debug)]
pub struct Rarity {
    capacity: usize,
    /// Remembered surprises (as ln(1+z)), oldest first, and the same sorted.
    order: VecDeque<f64>,
    sorted: Vec<f64>,
}

/// ln(1+z) of an infinite surprise: above anything finite a series will produce.
const INFINITE_SURPRISE: f64 = 1e3;

impl Rarity {
    pub fn new(capacity: usize) -> Self {
        Rarity { capacity: capacity.max(1), order: VecDeque::new(), sorted: Vec::new() }
    }

    fn key(z: f64) -> f64 {
        if z.is_finite() {
            z.ln_1p()
        } else {
            INFINITE_SURPRISE
        }
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// In [0, 1): 1 − (remembered surprises at least as large + 1) / (remembered + 1); 0 for no surprise.
    pub fn score(&self, z: f64) -> f64 {
        if z <= 0.0 {
            return 0.0;
        }
        let key = Self::key(z);
        let at_least = self.sorted.len() - self.sorted.partition_point(|v| *v < key);
        1.0 - (at_least as f64 + 1.0) / (self.sorted.len() as f64 + 1.0)
    }

    /// The surprise a value must exceed for its score to reach `threshold`, if any can.
    pub fn z_to_exceed(&self, threshold: f64) -> Option<f64> {
        let n = self.sorted.len();
        // score(z) >= t  ⇔  at_least + 1 <= (1 − t)(n + 1); the epsilon absorbs rounding.
        let allowed = ((1.0 - threshold) * (n as f64 + 1.0) - 1.0 + 1e-9).floor();
        if allowed < 0.0 {
            return None;
        }
        // allowed < n, as threshold > 0
        let key = self.sorted[n - allowed as usize - 1];
        Some(if key >= INFINITE_SURPRISE { f64::INFINITY } else { key.exp_m1() })
    }

    pub fn record(&mut self, z: f64) {
        let key = Self::key(z.max(0.0));
        self.order.push_back(key);
        let at = self.sorted.partition_point(|v| *v < key);
        self.sorted.insert(at, key);
        if self.order.len() > self.capacity {
            let old = self.order.pop_front().expect("non-empty");
            let at = self.sorted.partition_point(|v| *v < old);
            self.sorted.remove(at);
        }
    }
}

/// The score at which a spike rule fires live: a rarity rule at its `threshold` (required by
/// the configuration; without one it never fires), a surprise rule at its sensitivity, where
/// [`score`] is 0.5.
pub fn fire_at(rule: &RuleConfig) -> f64 {
    match rule.spike().map(|s| &s.score) {
        Some(SpikeScore::Rarity { threshold, .. }) => *threshold,
        _ => 0.5,
    }
}

/// Maps a surprise into [0, 1): 0.5 exactly at `sensitivity`, monotone, never saturating, so
/// that a backtest can rank any two values.
pub fn score(z: f64, sensitivity: f64) -> f64 {
    if z.is_infinite() {
        return 1.0;
    }
    if z <= 0.0 {
        return 0.0;
    }
    z / (z + sensitivity)
}

/// What a rarity rule remembers of one series: the surprises of its past windows and, with a
/// shape view, their discords, each ranked against its own kind.
#[derive(Clone, Debug)]
pub struct RarityMemory {
    surprises: Rarity,
    shapes: Rarity,
}

impl RarityMemory {
    pub fn new(capacity: usize) -> Self {
        RarityMemory { surprises: Rarity::new(capacity), shapes: Rarity::new(capacity) }
    }

    /// Windows whose surprise is remembered.
    pub fn len(&self) -> usize {
        self.surprises.len()
    }

    pub fn is_empty(&self) -> bool {
        self.surprises.is_empty()
    }

    pub fn record(&mut self, z: f64, discord: Option<f64>) {
        self.surprises.record(z);
        if let Some(d) = discord {
            self.shapes.record(d);
        }
    }

    /// A window's score: the rarer of its surprise `z` and its shape's `discord`, scaled down
    /// while `z` is under `sensitivity` (a value within a few spreads of its forecast is no
    /// anomaly however long the series has been calm, and however new the pattern around it).
    pub fn score(&self, z: f64, discord: Option<f64>, sensitivity: f64) -> f64 {
        let shape = discord.map_or(0.0, |d| self.shapes.score(d));
        self.surprises.score(z).max(shape) * (z / sensitivity).min(1.0)
    }

    /// The surprise at which the surprise alone scores `threshold`, if any can.
    pub fn z_to_exceed(&self, threshold: f64) -> Option<f64> {
        self.surprises.z_to_exceed(threshold)
    }

    /// How rare `discord` is among the remembered ones.
    pub fn shape_rarity(&self, discord: f64) -> f64 {
        self.shapes.score(discord)
    }
}

/// The median of `xs`, reordering it.
pub(super) fn median_in_place(xs: &mut [f64]) -> f64 {
    let n = xs.len();
    if n == 0 {
        return 0.0;
    }
    let (lower, mid, _) = xs.select_nth_unstable_by(n / 2, |a, b| a.total_cmp(b));
    let mid = *mid;
    if n % 2 == 1 {
        mid
    } else {
        let below = lower.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (below + mid) / 2.0
    }
}

/// One series scored window by window with bounded memory: how `backtest --nab` runs a spike
/// rule over a series given as a plain list of per-window values.
pub struct SeriesScorer {
    model: SpikeModel,
    /// Decide `model.counts` from the data: counts while every value so far is a non-negative integer.
    auto_counts: bool,
    memory: Option<RarityMemory>,
    /// The last `model.reach() + 1` values, newest first.
    values: VecDeque<f64>,
    /// Raw scores of the last `quiet` windows.
    recent: VecDeque<f64>,
    quiet: usize,
    /// The score at which the rule fires live.
    fire_at: f64,
    /// Windows since a score counted in full and reached `fire_at`.
    since_fired: usize,
    /// The last window's surprise and shape discord, for `backtest --nab`'s diagnostic columns.
    last: (Option<f64>, Option<f64>),
    scratch: Scratch,
}

/// What a suppressed window's score is multiplied by (see `SeriesScorer::push`).
const REPEAT_DAMPING: f64 = 0.1;

impl SeriesScorer {
    /// A spike rule's scorer. `counts`: whether values are event counts; `None` decides from
    /// the data.
    pub fn new(rule: &RuleConfig, counts: Option<bool>) -> Self {
        Self::with_clock(rule, counts, None)
    }

    /// As `new`, for a series whose rows are `step_ms` apart rather than one rule window: the
    /// daily and weekly predictors look back a day and a week of the series' own rows. History,
    /// rarity memory and cooldown stay counted in rows.
    pub fn with_clock(rule: &RuleConfig, counts: Option<bool>, step_ms: Option<i64>) -> Self {
        let mut model = SpikeModel::from_rule(rule, counts.unwrap_or(true)).expect("a spike rule");
        if let Some(step) = step_ms.filter(|s| *s > 0) {
            model.windows_per_day = (86_400_000 % step == 0).then(|| (86_400_000 / step) as usize);
        }
        SeriesScorer {
            model,
            auto_counts: counts.is_none(),
            memory: match rule.spike().map(|s| &s.score) {
                Some(SpikeScore::Rarity { memory, .. }) => Some(RarityMemory::new(*memory)),
                _ => None,
            },
            values: VecDeque::new(),
            recent: VecDeque::new(),
            quiet: (rule.cooldown.as_ms() / rule.window.as_ms().max(1)) as usize,
            fire_at: fire_at(rule),
            since_fired: usize::MAX,
            last: (None, None),
            scratch: Scratch::default(),
        }
    }

    /// The last pushed window's surprise (when judged) and shape discord (when the rule has a
    /// shape view and enough windows are known).
    pub fn last_judged(&self) -> (Option<f64>, Option<f64>) {
        self.last
    }

    /// Scores the next window's value using only the windows before it, in [0, 1].
    ///
    /// The score counts in full only when it is the highest of the last `quiet` windows (the
    /// rule's cooldown in windows), and not within `quiet` windows of one that fired: like the
    /// live alert engine, which notifies once per anomaly and then cools down, an anomaly that
    /// is already being reported is no news until it gets worse, and once the rule has fired
    /// it is no news again until the cooldown has passed.
    pub fn push(&mut self, value: f64) -> f64 {
        if self.auto_counts && !(value >= 0.0 && value.fract() == 0.0) {
            self.model.counts = false;
        }
        self.values.push_front(value);
        let values = &self.values;
        let value_at = |k: usize| values.get(k).copied().filter(|v| !v.is_nan());
        let judged = judge(&self.model, value_at, &mut self.scratch);
        self.last = (judged.map(|j| j.z), None);
        let raw = match (&mut self.memory, judged) {
            (_, None) => 0.0,
            (None, Some(j)) => score(j.z, self.model.sensitivity),
            (Some(memory), Some(j)) => {
                let discord = discord(&self.model, value_at, Newest::Final, &mut self.scratch);
                self.last.1 = discord;
                let raw = if memory.len() >= self.model.min_history {
                    memory.score(j.z, discord, self.model.sensitivity)
                } else {
                    0.0
                };
                memory.record(j.z, discord);
                raw
            }
        };
        let before = self.recent.iter().copied().fold(0.0, f64::max);
        self.recent.push_back(raw);
        if self.recent.len() > self.quiet {
            self.recent.pop_front();
        }
        self.values.truncate(self.model.reach() + 1);
        self.since_fired = self.since_fired.saturating_add(1);
        if raw > before && self.since_fired > self.quiet {
            if raw >= self.fire_at {
                self.since_fired = 0;
            }
            raw
        } else {
            raw * REPEAT_DAMPING
        }
    }
}
