//! The `Detect` operator: keeps each series' recent window aggregates (a mirror of the
//! window totals for the series this worker owns), evaluates the alert rules on the
//! windows a tick changed, and runs the alert engine. Evaluation happens when the frontier passes
//! a tick, so an alert leaves the dataflow one tick after the message that crossed the threshold.

use super::spike::{discord, judge, Newest, RarityMemory, Scratch, SpikeModel};
use super::tick::Tick;
use crate::alerts::engine::{AlertEngine, Evaluation};
use crate::alerts::{explain, Alert, Baseline, Explanation};
use crate::config::{Config, DipRule, Direction, RuleConfig, RuleKind, SentimentMetric, SpikeRule, SpikeScore};
use crate::records::conversation::{ConversationChange, QaVerdict};
use crate::records::notice::{cluster_name, Breakdown, NewCluster, RiskyMessage, Sample, Scope};
use crate::records::window::{Agg, Series, WindowKey};
use crate::util::round3;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::StreamVec;

mod day_over_day;
pub mod drivers;
pub mod handoff;
pub mod kpi;
mod qa;
mod rise;
mod sizes;
mod verdicts;
use sizes::spike_models;
pub(crate) use verdicts::verdict;
use verdicts::{new_cluster_alert, remember_until, risk_alert, watches};
pub use verdicts::{sentiment_dip, Verdict};

const DAY_S: i64 = 86_400;
/// Recent samples kept per series for explanations.
const SAMPLES_KEPT: usize = 32;
const SAMPLES_SHOWN: usize = 3;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum DetectIn {
    /// A window totals output: the window's aggregate became (+1) or stopped being (-1) `Agg`.
    Window(WindowKey, Agg, isize),
    Sample(Sample),
    /// How a series' messages of one slice split over the other dimensions.
    Breakdown(Breakdown),
    Clock(i64),
    Risk(RiskyMessage),
    NewCluster(NewCluster),
    /// A conversation's state changed, or it expired.
    Conversation(crate::records::conversation::ConversationChange),
    /// A ticket KPI window's totals became (+1) or stopped being (-1) these.
    Kpi(WindowKey, crate::records::ticket::TicketAgg, isize),
    /// A ticket breached an SLA, or the breach ended.
    Sla(crate::records::ticket::SlaNotice),
}

/// The windows of one series at one window size.
#[derive(Clone, Debug, Default)]
pub(crate) struct SeriesWindows {
    /// The first window ever seen: earlier windows are unknown, not zero.
    first_start_s: Option<i64>,
    aggs: BTreeMap<i64, Agg>,
}

impl SeriesWindows {
    /// A window's current aggregate (its latest `+1` from the totals).
    pub(crate) fn record(&mut self, start_s: i64, agg: Agg) {
        self.aggs.insert(start_s, agg);
        self.first_start_s = Some(self.first_start_s.map_or(start_s, |f| f.min(start_s)));
    }

    /// Forgets the windows before `start_s` (the earliest known window stays "known": older
    /// windows read as empty, which is what they were to the detector's trailing baseline).
    pub(crate) fn forget_before(&mut self, start_s: i64) {
        self.aggs = self.aggs.split_off(&start_s);
    }

    pub(crate) fn latest(&self) -> Option<(i64, Agg)> {
        self.aggs.last_key_value().map(|(s, a)| (*s, *a))
    }

    pub(crate) fn get(&self, start_s: i64) -> Option<Agg> {
        match self.first_start_s {
            Some(first) if start_s >= first => Some(self.aggs.get(&start_s).copied().unwrap_or_default()),
            _ => None,
        }
    }

    /// Aggregates of the `n` windows before `start_s` that are known (missing ones count as empty).
    fn history(&self, start_s: i64, size_s: i64, n: usize) -> Vec<Agg> {
        (1..=n as i64).filter_map(|k| self.get(start_s - k * size_s)).collect()
    }
}

/// A rarity rule's memory of one key's past surprises (and shapes).
struct SpikeMemory {
    rarity: RarityMemory,
    /// The last window whose surprise is remembered.
    recorded_through: i64,
}

/// The alert rules, replaceable while the dataflow runs (`POST /v1/reload`, SIGHUP). Every
/// Detect operator takes a new version before its next tick; the windows it holds are kept.
#[derive(Clone)]
pub struct LiveRules {
    version: Arc<AtomicU64>,
    rules: Arc<RwLock<Arc<Vec<RuleConfig>>>>,
}

impl LiveRules {
    pub fn new(rules: &[RuleConfig]) -> Self {
        LiveRules { version: Arc::new(AtomicU64::new(0)), rules: Arc::new(RwLock::new(Arc::new(rules.to_vec()))) }
    }

    pub fn publish(&self, rules: &[RuleConfig]) {
        *self.rules.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(rules.to_vec());
        self.version.fetch_add(1, Ordering::Release);
    }

    fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    fn current(&self) -> Arc<Vec<RuleConfig>> {
        self.rules.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// A judgement a tick calls for: as of when, which rule, which series, window start and size.
type Due = (i64, usize, Series, i64, u32);

pub struct DetectorState {
    rules: Vec<RuleConfig>,
    /// The dataflow's window sizes, shortest first, and how long (s) each is retained.
    sizes: Vec<u32>,
    retention_s: HashMap<u32, i64>,
    /// Where windows of a day or longer start (spike and dip rules on them need a zone without
    /// daylight saving, so windows of one size are equally long and `start ± k × size` holds).
    calendar: crate::util::calendar::Calendar,
    /// The spike models of each rule, indexed like `rules`: one per window size it judges (its
    /// own, and with `min_expected` every longer one), shortest first; empty for other kinds.
    models: Vec<Vec<(u32, SpikeModel)>>,
    spike_memory: HashMap<(usize, Series), SpikeMemory>,
    scratch: Scratch,
    lateness_ms: i64,
    windows: HashMap<(Series, u32), SeriesWindows>,
    samples: HashMap<Series, VecDeque<Sample>>,
    attribution: drivers::Attribution,
    clock_ms: i64,
    engine: AlertEngine,
    /// The window judgements of the current tick (see [`WindowJudgement`]).
    judged: Vec<WindowJudgement>,
    /// Ticket KPI windows and threshold rules' streaks (worker 0).
    kpis: kpi::KpiState,
}

/// A spike or sentiment-dip rule's judgement of one window, as the detector made it: the band
/// (baseline centre, threshold) is the line an alert has to cross, which the dashboard draws.
#[derive(Clone, Debug, PartialEq)]
pub struct WindowJudgement {
    pub rule: String,
    pub series: Series,
    pub size_s: u32,
    pub start_s: i64,
    pub value: f64,
    /// Once the rule has `min_history` windows and a finite threshold.
    pub band: Option<(f64, f64)>,
}

/// What the detector emits: alert state changes and its window judgements.
#[derive(Clone, Debug)]
pub enum Detected {
    Alert(Box<Alert>),
    Judgement(WindowJudgement),
}

impl DetectorState {
    pub fn new(config: &Config) -> Self {
        let mut sizes: Vec<u32> = config.windows.iter().map(|w| w.size.as_secs()).collect();
        sizes.sort_unstable();
        DetectorState {
            rules: config.rules.clone(),
            models: spike_models(&config.rules, &sizes),
            sizes,
            retention_s: config.windows.iter().map(|w| (w.size.as_secs(), w.retention.as_ms() / 1000)).collect(),
            calendar: config.calendar.clone(),
            spike_memory: HashMap::new(),
            scratch: Scratch::default(),
            lateness_ms: config.ingest.allowed_lateness.as_ms(),
            windows: HashMap::new(),
            samples: HashMap::new(),
            attribution: drivers::Attribution::new(
                &config.attribution,
                config.windows.iter().map(|w| w.size.as_secs() as i64).max().unwrap_or(0),
            ),
            clock_ms: i64::MIN,
            engine: AlertEngine::new(&config.public_url),
            judged: Vec::new(),
            kpis: kpi::KpiState::default(),
        }
    }

    /// Applies everything that arrived for one tick and returns the alert state changes.
    pub fn process_tick(&mut self, mut items: Vec<DetectIn>) -> Vec<Alert> {
        // Retractions before insertions, so a (-1 old, +1 new) pair leaves the new value.
        items.sort_by_key(|i| match i {
            DetectIn::Window(_, _, d) => *d,
            _ => 0,
        });
        let previous_clock = self.clock_ms;
        let mut touched: BTreeSet<(Series, u32, i64)> = BTreeSet::new();
        let mut risky: Vec<RiskyMessage> = Vec::new();
        let mut new_clusters: Vec<NewCluster> = Vec::new();
        let mut conversations = Vec::new();
        let mut slas = Vec::new();
        for item in items {
            match item {
                DetectIn::Window(key, agg, diff) => {
                    let entry = self.windows.entry((key.series.clone(), key.size_s)).or_default();
                    if diff > 0 {
                        // Equal to what is recorded: a restored window re-entering, no change.
                        if entry.aggs.get(&key.start_s) != Some(&agg) {
                            entry.record(key.start_s, agg);
                            touched.insert((key.series, key.size_s, key.start_s));
                        }
                    } else if entry.aggs.get(&key.start_s) == Some(&agg) {
                        entry.aggs.remove(&key.start_s);
                    }
                }
                DetectIn::Sample(sample) => {
                    let kept = self.samples.entry(sample.series.clone()).or_default();
                    if kept.len() == SAMPLES_KEPT {
                        kept.pop_front();
                    }
                    kept.push_back(sample);
                }
                DetectIn::Breakdown(b) => self.attribution.add(b),
                DetectIn::Clock(ms) => self.clock_ms = self.clock_ms.max(ms),
                DetectIn::Risk(m) => risky.push(m),
                DetectIn::NewCluster(c) => new_clusters.push(c),
                DetectIn::Conversation(c) => conversations.push(c),
                DetectIn::Kpi(key, agg, diff) => {
                    // Only threshold rules read KPI windows, and only at their own size.
                    let judged =
                        |r: &RuleConfig| matches!(r.kind, RuleKind::Threshold(_)) && r.window.as_secs() == key.size_s;
                    if self.rules.iter().any(judged) {
                        self.kpis.record(key, agg, diff);
                    }
                }
                DetectIn::Sla(n) => slas.push(n),
            }
        }

        // Which windows to evaluate: every changed window that was still open (or within the
        // allowed lateness) when this tick began, plus the current window of a series whose
        // earlier window changed (its baseline moved). Older windows are updated but alert no more.
        let due = self.due(&touched, previous_clock);
        let mut alerts = Vec::new();
        for (as_of, rule_index, series, start, size_s) in due {
            alerts.extend(self.engine.advance_clock(as_of, self.lateness_ms, &self.rules));
            let Some(eval) = self.evaluate(rule_index, &series, start, size_s, as_of) else { continue };
            let rule = &self.rules[rule_index];
            let b = &eval.baseline;
            self.judged.push(WindowJudgement {
                rule: rule.name.clone(),
                size_s,
                series: series.clone(),
                start_s: start,
                value: eval.value,
                band: rule
                    .watch()
                    .filter(|w| b.windows >= w.min_history && b.threshold.is_finite())
                    .map(|_| (b.mean, b.threshold)),
            });
            if let Some(alert) = self.engine.observe(&self.rules[rule_index], &series, eval, as_of) {
                alerts.push(alert);
            }
        }
        alerts.extend(self.judge_one_offs(risky, new_clusters, conversations, slas));
        self.kpis.prune(&self.rules);
        alerts.extend(self.judge_days(&touched, previous_clock));
        alerts.extend(self.engine.advance_clock(self.clock_ms, self.lateness_ms, &self.rules));
        self.attribution.forget(self.clock_ms);
        alerts
    }

    /// The alerts of a tick's one-off notices (risky messages, new clusters, conversations, SLA
    /// breaches) and of the KPI windows that closed.
    fn judge_one_offs(
        &mut self,
        mut risky: Vec<RiskyMessage>,
        mut new_clusters: Vec<NewCluster>,
        mut conversations: Vec<crate::records::conversation::ConversationChange>,
        mut slas: Vec<crate::records::ticket::SlaNotice>,
    ) -> Vec<Alert> {
        let mut alerts = Vec::new();
        // Messages and clusters in event-time order, so alerts come out in a stable order.
        risky.sort_by(|a, b| (a.ts_ms, &a.id).cmp(&(b.ts_ms, &b.id)));
        new_clusters.sort_by_key(|c| (c.ts_ms, c.id));
        conversations.sort_by(|a, b| (a.last_ms(), a.conversation()).cmp(&(b.last_ms(), b.conversation())));
        slas.sort_by(|a, b| (a.deadline_ms, &a.ticket, a.kind).cmp(&(b.deadline_ms, &b.ticket, b.kind)));
        for rule in &self.rules {
            match &rule.kind {
                RuleKind::HighRisk { only } => {
                    for m in risky.iter().filter(|m| only.as_ref().is_none_or(|o| o.contains(&m.risk))) {
                        let (labels, eval, summary) = risk_alert(rule, m);
                        alerts.extend(self.engine.notify(rule, labels, eval, m.ts_ms, summary));
                    }
                }
                RuleKind::NewCluster => {
                    for c in &new_clusters {
                        let (labels, eval, summary) = new_cluster_alert(rule, c);
                        alerts.extend(self.engine.notify(rule, labels, eval, c.ts_ms, summary));
                    }
                }
                RuleKind::Handoff(escalations) => {
                    alerts.extend(handoff::judge(&mut self.engine, rule, escalations, &conversations))
                }
                RuleKind::Spike(_) | RuleKind::SentimentDip(_) | RuleKind::DayOverDay(_) => {}
                RuleKind::Threshold(t) => alerts.extend(self.kpis.judge(
                    &mut self.engine,
                    rule,
                    t,
                    &self.calendar,
                    self.clock_ms,
                    self.lateness_ms,
                )),
                RuleKind::SlaBreach => alerts.extend(kpi::sla_alerts(&mut self.engine, rule, &slas, self.clock_ms)),
                RuleKind::QaViolation => {
                    let verdicts: Vec<&QaVerdict> = conversations
                        .iter()
                        .filter_map(|c| match c {
                            ConversationChange::Scored(v) => Some(v.as_ref()),
                            _ => None,
                        })
                        .collect();
                    alerts.extend(qa::qa_alerts(&mut self.engine, rule, &verdicts))
                }
            }
        }
        alerts
    }

    /// The (as-of, rule, series, window start, window size) judgements a tick calls for, in order.
    fn due(&self, touched: &BTreeSet<(Series, u32, i64)>, previous_clock: i64) -> BTreeSet<Due> {
        let horizon_ms = previous_clock.saturating_sub(self.lateness_ms);
        let mut due: BTreeSet<Due> = BTreeSet::new();
        for (rule_index, rule) in self.rules.iter().enumerate().filter(|(_, r)| r.day_over_day().is_none()) {
            let size_s = rule.window.as_secs();
            // `touched` is ordered by series: each series' window sizes come together, and its
            // judged size is worked out once for them all.
            let mut judged: Option<(&Series, u32)> = None;
            for (series, s, start) in touched {
                let end_ms = (*start + *s as i64) * 1000;
                if !watches(rule, series) || end_ms < horizon_ms {
                    continue;
                }
                let size = match judged {
                    Some((last, size)) if last == series => size,
                    _ => self.judged_size(rule_index, series),
                };
                judged = Some((series, size));
                if size != *s {
                    continue;
                }
                // Evaluated "as of" the earlier of the clock and the window's end: in a long
                // replay tick, a window that closed mid-tick is judged when it closed.
                due.insert((end_ms.min(self.clock_ms), rule_index, series.clone(), *start, *s));
                let current = self.calendar.window_start(self.clock_ms, *s);
                if *start < current {
                    due.insert((self.clock_ms, rule_index, series.clone(), current, *s));
                }
            }
            // A drop is judged when a window closes, whether or not a message reached it: a
            // series gone silent is the deepest drop. Closures since the last tick, at most
            // `history` of them (older ones of a long silence would only repeat the verdict).
            let drops = rule.spike().filter(|s| s.direction != Direction::Up);
            if let (Some(spike), true) = (drops, previous_clock != i64::MIN) {
                let size_ms = size_s as i64 * 1000;
                let last_end = self.calendar.window_start(self.clock_ms, size_s) * 1000;
                let first_end = self.calendar.window_start(previous_clock, size_s) * 1000 + size_ms;
                let first_end = first_end.max(last_end - (spike.watch.history as i64 - 1) * size_ms);
                // Ticks are milliseconds apart: most close no window, and need not visit the keys.
                if first_end <= last_end {
                    for (series, _) in self.windows.keys().filter(|(series, s)| *s == size_s && watches(rule, series)) {
                        for end_ms in (first_end..=last_end).step_by(size_ms as usize) {
                            due.insert((end_ms, rule_index, series.clone(), end_ms / 1000 - size_s as i64, size_s));
                        }
                    }
                }
            }
        }
        due
    }

    /// How long windows of `size` seconds are kept (0 for a size the dataflow has not).
    fn retention_s(&self, size: u32) -> i64 {
        self.retention_s.get(&size).copied().unwrap_or(0)
    }

    /// The window judgements made since the last call.
    pub fn take_judgements(&mut self) -> Vec<WindowJudgement> {
        std::mem::take(&mut self.judged)
    }

    /// A window's evaluation by one rule as of event time `as_of_ms` (the window is closed
    /// once that reaches its end). `None` when there is nothing to judge yet.
    fn evaluate(
        &mut self,
        rule_index: usize,
        series: &Series,
        start_s: i64,
        size: u32,
        as_of_ms: i64,
    ) -> Option<Evaluation> {
        let rule = &self.rules[rule_index];
        let size_s = size as i64;
        let windows = self.windows.get(&(series.clone(), size))?;
        let model = self.models[rule_index].iter().find(|(s, _)| *s == size).map(|(_, m)| m);
        let memory = match (model, rule.spike().map(|s| &s.score)) {
            (Some(model), Some(&SpikeScore::Rarity { memory: capacity, .. })) => {
                let memory = self.spike_memory.entry((rule_index, series.clone())).or_insert_with(|| SpikeMemory {
                    rarity: RarityMemory::new(capacity),
                    recorded_through: windows.first_start_s.unwrap_or(start_s) - size_s,
                });
                remember_until(memory, model, windows, start_s, size_s, capacity, &mut self.scratch);
                Some(&memory.rarity)
            }
            _ => None,
        };
        let current = windows.get(start_s)?;
        let mut verdict = verdict(rule, model, windows, start_s, size_s, memory, &mut self.scratch)?;
        if !verdict.anomalous && !verdict.drop {
            if let Some(rise) = self.sustained_rise(rule_index, series, start_s, size, as_of_ms) {
                verdict.anomalous = true;
                verdict.baseline.rise = Some(rise);
            }
        }
        let (start_ms, end_ms) = (start_s * 1000, (start_s + size_s) * 1000);
        // A window still filling holds a lower bound of its count: enough to see a rise, or
        // the end of a drop, but a drop itself is judged once the window has closed.
        if verdict.drop && end_ms > as_of_ms {
            return None;
        }
        // Keywords and samples are only read from anomalous evaluations: skip them otherwise.
        let explanation = match verdict.anomalous {
            true => Explanation {
                drivers: self.attribution.drivers(series, start_s, start_s + size_s, verdict.drop),
                ..self.explanation(rule, series, start_ms, end_ms, current)
            },
            false => Explanation {
                count: current.count,
                sentiment_mean: round3(current.sentiment_mean()),
                negative_share: round3(current.negative_share()),
                ..Default::default()
            },
        };
        Some(Evaluation {
            window_start_ms: start_ms,
            window_end_ms: end_ms,
            anomalous: verdict.anomalous,
            value: verdict.value,
            baseline: verdict.baseline,
            explanation,
        })
    }

    /// What an anomalous window of `series` in `[start_ms, end_ms)` holds: keywords and a few
    /// distinct samples (most negative first for sentiment rules), with `current`'s figures.
    fn explanation(&self, rule: &RuleConfig, series: &Series, start_ms: i64, end_ms: i64, current: Agg) -> Explanation {
        let in_window: Vec<&Sample> = self
            .samples
            .get(series)
            .map(|s| s.iter().filter(|x| x.ts_ms >= start_ms && x.ts_ms < end_ms).collect())
            .unwrap_or_default();
        let mut shown: Vec<&Sample> = in_window.iter().rev().copied().collect();
        if matches!(rule.kind, RuleKind::SentimentDip(_)) {
            shown.sort_by_key(|s| s.sentiment_milli);
        }
        // Identical texts (templated complaints, resends) say nothing new: show distinct ones.
        let mut seen = std::collections::HashSet::new();
        shown.retain(|s| seen.insert(s.text.as_str()));
        shown.truncate(SAMPLES_SHOWN);
        Explanation {
            keywords: explain::keywords(in_window.iter().map(|s| s.text.as_str()), 5),
            samples: shown.iter().map(|s| s.text.clone()).collect(),
            sample_ids: shown.iter().map(|s| s.id.clone()).collect(),
            cluster_id: None,
            count: current.count,
            sentiment_mean: round3(current.sentiment_mean()),
            negative_share: round3(current.negative_share()),
            drivers: Vec::new(),
        }
    }

    /// Replaces the rules. Window state stays; what rarity rules remember of past surprises is
    /// rebuilt from it. Alerts of a rule that no longer exists resolve now.
    pub fn set_rules(&mut self, rules: &[RuleConfig]) -> Vec<Alert> {
        self.rules = rules.to_vec();
        self.models = spike_models(rules, &self.sizes);
        self.spike_memory.clear();
        self.engine.resolve_orphans(&self.rules, self.clock_ms)
    }

    /// Continues from a previous run. Its windows of the series `owns` accepts become known
    /// history: a later totals output equal to one of them is no change, so nothing is
    /// evaluated (or fires) again. Its alerts keep their state with the worker that judges
    /// them: a series' owner, and worker 0 (`one_offs`) for per-message and per-cluster ones.
    pub fn restore(
        &mut self,
        windows: &[(WindowKey, Agg)],
        alerts: &[Alert],
        owns: impl Fn(&Series) -> bool,
        one_offs: bool,
    ) {
        for (key, agg) in windows.iter().filter(|(key, _)| owns(&key.series)) {
            self.windows.entry((key.series.clone(), key.size_s)).or_default().record(key.start_s, *agg);
        }
        for alert in alerts {
            let Some(rule) = self.rules.iter().find(|r| r.name == alert.rule_name()) else {
                continue;
            };
            let owned = match rule.watch() {
                None => one_offs,
                Some(w) => Series::from_labels(w.key, &alert.labels).is_some_and(|s| owns(&s)),
            };
            if owned {
                self.engine.adopt(alert.clone(), rule);
            }
        }
    }

    pub fn active_alerts(&self) -> Vec<Alert> {
        self.engine.active().cloned().collect()
    }
}

/// Builds the detector. Its input must already be partitioned by series (see `WindowKey`'s hash).
pub fn detect<'scope>(
    input: StreamVec<'scope, Tick, (DetectIn, Tick)>,
    config: &Config,
    live: LiveRules,
    restored_windows: Arc<Vec<(WindowKey, Agg)>>,
    restored_alerts: Arc<Vec<Alert>>,
    kpis_judged_until: Option<i64>,
) -> StreamVec<'scope, Tick, Detected> {
    let config = config.clone();
    let (windows, alerts) = (restored_windows, restored_alerts);
    let scope = input.scope();
    let (index, peers) = (timely::dataflow::Scope::index(&scope), timely::dataflow::Scope::peers(&scope));
    input.unary_frontier(Pipeline, "Detect", move |_capability, _info| {
        let mut state = DetectorState::new(&config);
        // The worker the totals send a series' windows to (timely exchanges by hash % peers).
        let owns =
            |series: &Series| differential_dataflow::hashable::Hashable::hashed(series) % peers as u64 == index as u64;
        state.restore(&windows, &alerts, owns, index == 0);
        if let (Some(ms), true) = (kpis_judged_until, index == 0) {
            state.kpis.judged_until(&state.rules, &state.calendar, ms, state.lateness_ms);
        }
        let mut version = 0;
        let mut pending = super::tick::TickBuffer::default();
        move |(input, frontier), output| {
            input.for_each(|capability, data| {
                for (item, time) in data.drain(..) {
                    pending.stash(time, item, || capability.delayed(&time, 0));
                }
            });
            while let Some((cap, _, items)) = pending.pop_ready(|t| !frontier.less_equal(t)) {
                let mut alerts = Vec::new();
                if live.version() != version {
                    version = live.version();
                    alerts = state.set_rules(&live.current());
                }
                alerts.extend(state.process_tick(items));
                let judged = state.take_judgements();
                if !alerts.is_empty() || !judged.is_empty() {
                    let detected = alerts.into_iter().map(|a| Detected::Alert(Box::new(a)));
                    output.session(&cap).give_iterator(detected.chain(judged.into_iter().map(Detected::Judgement)));
                }
            }
        }
    })
}

#[cfg(test)]
mod volume_tests;

#[cfg(test)]
mod tests;
