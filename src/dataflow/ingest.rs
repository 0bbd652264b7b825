//! The `Ingest` operator: turns admitted events into additions to windows.
//!
//! Per worker it drops duplicate ids, dead-letters events older than retention, assigns each
//! event to its windows in every dimension and folds the additions of one tick into one per
//! window. Totals, and each window's retraction at `window end + retention` of event time, are
//! [`super::totals`]'s: it hears this operator's event clock.

use super::breakdown::{AttributionParams, MetaValues, TickBreakdowns, NO_META};
use super::conversations::ConversationIn;
use super::detect::DetectIn;
use super::tick::Tick;
use super::tickets::TicketIn;
use crate::config::key::MAX_PARTS;
use crate::config::{Config, Dimension, Key};
use crate::event::Role;
use crate::event::TicketEvent;
use crate::event::{DeadLetter, DeadReason, Event, SmolStr};
use crate::records::conversation::Turn;
use crate::records::notice::{Breakdown, NewCluster, RiskyMessage, Sample};
use crate::records::window::{window_start, Agg, Series, WindowKey};
use crate::telemetry::Metrics;
use crate::util::calendar::Calendar;
use crate::util::interner::Interner;
use differential_dataflow::difference::Semigroup;
use differential_dataflow::AsCollection;
use differential_dataflow::VecCollection;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::StreamVec;
use timely::progress::operate::FrontierInterest;

/// Sample messages per series and tick handed to the detector for explanations.
pub const SAMPLES_PER_TICK: usize = 3;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum IngestOut {
    /// A change to one window's aggregate.
    Update(WindowKey, Agg),
    Sample(Sample),
    /// How a series' messages of one slice split over the other dimensions (for drivers).
    Breakdown(Breakdown),
    /// This worker's event-time clock: the largest `ts` it has accepted.
    Clock(i64),
    Dead(DeadLetter),
    /// An accepted event on its way to the clusterer (only when clustering is on).
    Accepted(Event),
    /// An accepted event that matched a `[[risk]]` rule.
    Risky(RiskyMessage),
    /// A cluster that just appeared where no established cluster is.
    NewCluster(NewCluster),
    /// An accepted message of a conversation, for the conversation operator.
    Turn(Turn),
    /// An accepted ticket lifecycle event, for the ticket operator.
    Ticket(TicketEvent),
}

/// The outputs of ingest, split by kind.
pub struct Ingested<'scope> {
    /// Window aggregate updates: collection of `WindowKey` with difference `Agg`.
    pub windows: VecCollection<'scope, Tick, WindowKey, Agg>,
    pub samples: StreamVec<'scope, Tick, (DetectIn, Tick)>,
    pub clock: StreamVec<'scope, Tick, (DetectIn, Tick)>,
    /// High-risk messages and new clusters: each becomes an alert of its own.
    pub notices: StreamVec<'scope, Tick, (DetectIn, Tick)>,
    pub dead: StreamVec<'scope, Tick, DeadLetter>,
    /// Conversation turns (not yet partitioned by conversation).
    pub turns: StreamVec<'scope, Tick, (ConversationIn, Tick)>,
    /// Ticket lifecycle events (not yet partitioned by ticket).
    pub tickets: StreamVec<'scope, Tick, (TicketIn, Tick)>,
}

type Fold = foldhash::fast::FixedState;

pub struct IngestParams {
    /// (size in seconds, retention in ms) per window.
    pub windows: Vec<(u32, i64)>,
    pub dedupe_window_ms: i64,
    pub negative_below_milli: i32,
    /// Hand accepted events with an embedding on to the clusterer.
    pub clustering: bool,
    /// The combined keys counted besides the single dimensions, each with the windows (bit i:
    /// `windows[i]`) it is kept at.
    pub combined_keys: Vec<(Key, u64)>,
    /// Where windows of a day or longer start.
    pub calendar: Calendar,
    /// What the breakdowns for alerts' drivers cover; `None`: none are made.
    pub attribution: Option<AttributionParams>,
    pub metrics: Arc<Metrics>,
    /// Where absorbed batches go to be freed (see [`Spent`]); `None` frees them here.
    pub spent: Option<crate::feed::Spent>,
    /// The `meta` fields that give a conversation's tier and an agent's team.
    pub tier_field: String,
    pub team_field: String,
}

impl IngestParams {
    pub fn from_config(config: &Config, metrics: Arc<Metrics>) -> Self {
        IngestParams {
            windows: config.windows.iter().map(|w| (w.size.as_secs(), w.retention.as_ms())).collect(),
            dedupe_window_ms: config.ingest.dedupe_window.as_ms(),
            negative_below_milli: (config.enrich.negative_below * 1000.0).round() as i32,
            clustering: config.cluster.is_some(),
            combined_keys: config
                .combined_keys
                .iter()
                .map(|key| {
                    let kept = config.aggregate_windows.iter().find(|(k, _)| k == key).map(|(_, sizes)| sizes);
                    let mask = config.windows.iter().enumerate().fold(0u64, |mask, (i, w)| {
                        let keep = kept.is_none_or(|sizes| sizes.contains(&w.size.as_secs()));
                        mask | (keep as u64) << i
                    });
                    (*key, mask)
                })
                .collect(),
            calendar: config.calendar.clone(),
            attribution: (config.attribution.max_drivers > 0).then(|| AttributionParams {
                combined_keys: config.judged_combined_keys(),
                meta: config.attribution.meta.clone(),
            }),
            metrics,
            spent: None,
            tier_field: config.conversation.tier_field.clone(),
            team_field: config.conversation.team_field.clone(),
        }
    }
}

/// The state of one worker's ingest.
pub struct IngestState {
    params: IngestParams,
    clock: i64,
    /// Ids seen in the current and the previous dedupe generation.
    seen: [HashSet<u64, Fold>; 2],
    generation_started: i64,
    min_retention_ms: i64,
    /// The largest duration (s) that every window size is a multiple of.
    slice_s: u32,
    groups_last_tick: usize,
}

/// The labels of a group of events, and its slice of event time.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Labels<'a> {
    category: &'a str,
    channel: &'a str,
    campaign: Option<&'a str>,
    business: Option<&'a str>,
    /// The `[attribution] meta` fields' values, as the tick's number of their tuple (`None`:
    /// none; hashed with every message, so the usual case costs one discriminant).
    meta: Option<u32>,
    slice: i64,
}

impl<'a> Labels<'a> {
    /// The values of `key`'s dimensions (unused slots empty); `None` when one is missing.
    fn parts(&self, key: Key) -> Option<[&'a str; MAX_PARTS]> {
        let mut parts = [""; MAX_PARTS];
        for (slot, d) in parts.iter_mut().zip(key.dims()) {
            *slot = match d {
                Dimension::Category => self.category,
                Dimension::Channel => self.channel,
                Dimension::Campaign => self.campaign?,
                Dimension::Business => self.business?,
                Dimension::Overall => "all",
                Dimension::Cluster | Dimension::Agent | Dimension::Team => return None,
            };
        }
        Some(parts)
    }

    fn dimensions(&self) -> [(Dimension, Option<&'a str>); 4] {
        [
            (Dimension::Category, Some(self.category)),
            (Dimension::Channel, Some(self.channel)),
            (Dimension::Campaign, self.campaign),
            (Dimension::Business, self.business),
        ]
    }
}

/// The events of one tick with the same labels in the same slice of event time.
struct Group {
    /// Index of the first event.
    first: usize,
    agg: Agg,
    latest: Latest,
}

/// The `SAMPLES_PER_TICK` largest event indexes offered, in ascending order. An array, not a
/// vector: a tick makes hundreds of groups, and a series merges the latest of each of its
/// groups without sorting them all.
#[derive(Clone, Copy, Default)]
struct Latest {
    items: [usize; SAMPLES_PER_TICK],
    kept: usize,
}

impl Latest {
    fn offer(&mut self, index: usize) {
        let mut at = self.kept;
        if self.kept == SAMPLES_PER_TICK {
            if index <= self.items[0] {
                return;
            }
            // Drop the smallest; `index` goes in after the ones below it.
            at = SAMPLES_PER_TICK - 1;
            while at > 0 && self.items[at] > index {
                at -= 1;
            }
            self.items.copy_within(1..=at, 0);
        } else {
            while at > 0 && self.items[at - 1] > index {
                self.items[at] = self.items[at - 1];
                at -= 1;
            }
            self.kept += 1;
        }
        self.items[at] = index;
    }

    fn indexes(&self) -> &[usize] {
        &self.items[..self.kept]
    }
}

fn id_hash(id: &str) -> u64 {
    let mut h = foldhash::quality::FixedState::with_seed(7).build_hasher();
    h.write(id.as_bytes());
    h.finish()
}

impl IngestState {
    pub fn new(params: IngestParams) -> Self {
        let min_retention_ms = params.windows.iter().map(|w| w.1).min().unwrap_or(i64::MAX);
        let slice_s = super::breakdown::slice_s(&params.windows);
        IngestState {
            params,
            clock: i64::MIN,
            seen: Default::default(),
            generation_started: i64::MIN,
            min_retention_ms,
            slice_s,
            groups_last_tick: 0,
        }
    }

    /// Absorbs the events of one tick, giving every output to `out`.
    pub fn absorb(&mut self, events: &mut [Event], mut out: impl FnMut(IngestOut)) {
        // The attributed meta fields' values of the tick's messages, each distinct tuple once.
        let mut metas: Interner<MetaValues> = Interner::default();
        // First, events with the same labels in the same slice of event time (the largest one
        // every window size is a multiple of) fold into one group: one hash lookup per event.
        // The per-series and per-window work then runs once per group.
        // Sized like the last tick's, which the next one nearly always resembles.
        let mut group_index: HashMap<Labels<'_>, usize, Fold> =
            HashMap::with_capacity_and_hasher(self.groups_last_tick, Fold::default());
        let mut groups: Vec<Group> = Vec::with_capacity(self.groups_last_tick);
        let old_clock = self.clock;
        let mut accepted = 0;
        // Accepted events that leave on their own (risky ones, and all of them for the
        // clusterer), picked while each event is at hand: a second pass over every event of
        // the tick would fetch each from memory again.
        let mut passed_on: Vec<usize> = Vec::new();
        let mut span = (i64::MAX, i64::MIN);
        for (index, ev) in events.iter().enumerate() {
            if self.clock != i64::MIN && ev.ts_ms < self.clock - self.min_retention_ms {
                out(IngestOut::Dead(self.too_late(ev)));
                continue;
            }
            if !self.first_sighting(&ev.id, ev.ts_ms) {
                self.params.metrics.duplicate();
                continue;
            }
            accepted += 1;
            if ev.risk.is_some() || self.for_clusterer(ev) || ev.turn.is_some() || ev.ticket.is_some() {
                passed_on.push(index);
            }
            span = (span.0.min(ev.ts_ms), span.1.max(ev.ts_ms));
            self.clock = self.clock.max(ev.ts_ms);
            // Agents' and bots' turns are not feedback: they reach conversations alone; ticket
            // events reach the ticket KPIs alone.
            if ev.turn.as_ref().is_some_and(|t| t.role != Role::Customer) || ev.ticket.is_some() {
                continue;
            }
            let agg = Agg::of_message(ev.sentiment_milli, ev.sentiment_milli < self.params.negative_below_milli);
            let slice = window_start(ev.ts_ms, self.slice_s);
            let meta = match (&self.params.attribution, ev.meta.as_deref()) {
                (Some(a), Some(m)) => a.meta_values(m).map(|v| metas.intern(&v)),
                _ => None,
            };
            let key = Labels {
                category: &ev.category,
                channel: &ev.channel,
                campaign: ev.campaign.as_deref(),
                business: ev.business.as_deref(),
                meta,
                slice,
            };
            let g = *group_index.entry(key).or_insert_with(|| {
                groups.push(Group { first: index, agg: Agg::default(), latest: Latest::default() });
                groups.len() - 1
            });
            let group = &mut groups[g];
            group.agg.plus_equals(&agg);
            group.latest.offer(index);
        }
        self.params.metrics.accepted(accepted, span);
        self.groups_last_tick = groups.len();

        let mut breakdowns = TickBreakdowns::default();
        let (series, samples, folded) = self.fold_series(group_index, &groups, &metas, &mut breakdowns);
        breakdowns.emit(&series, |b| out(IngestOut::Breakdown(b)));
        let mut folded: Vec<((u32, u8, i64), Agg)> = folded.into_iter().collect();
        folded.sort_unstable_by_key(|(k, _)| *k);
        for ((si, wi, start_s), agg) in folded {
            let size_s = self.params.windows[wi as usize].0;
            let key = WindowKey { series: series[si as usize].clone(), size_s, start_s };
            out(IngestOut::Update(key, agg));
        }
        emit_samples(events, &series, &samples, &mut out);
        self.pass_on(events, &passed_on, &mut out);
        if self.clock > old_clock {
            out(IngestOut::Clock(self.clock));
        }
    }

    /// Each series the tick's groups add to, with its latest events, and the groups' aggregates
    /// folded into one per (series, window size, window start). Series are numbered in the order
    /// the tick first touches them (groups are in order of their first event).
    #[allow(clippy::type_complexity)]
    fn fold_series<'a>(
        &self,
        group_index: HashMap<Labels<'a>, usize, Fold>,
        groups: &[Group],
        metas: &'a Interner<MetaValues>,
        breakdowns: &mut TickBreakdowns<'a>,
    ) -> (Vec<Series>, Vec<Latest>, HashMap<(u32, u8, i64), Agg, Fold>) {
        let mut keys: Vec<_> = group_index.into_iter().collect();
        keys.sort_unstable_by_key(|(_, g)| groups[*g].first);
        // Single keys are looked up by their one value, combined ones by all their parts: a
        // lookup runs for every key of every group, and comparing unused parts is not free.
        let mut single_index: HashMap<(Key, &str), u32, Fold> = HashMap::default();
        let mut combined_index: HashMap<(Key, [&str; MAX_PARTS]), u32, Fold> = HashMap::default();
        let mut series: Vec<Series> = Vec::new();
        let mut samples: Vec<Latest> = Vec::new();
        let mut folded: HashMap<(u32, u8, i64), Agg, Fold> = HashMap::default();
        let keys_counted = Dimension::COUNTED.map(|d| (Key::from(d), u64::MAX));
        let mut starts: Vec<i64> = Vec::with_capacity(self.params.windows.len());
        for (labels, g) in keys {
            let group = &groups[g];
            // Every event of the group lies in the same window of each size.
            starts.clear();
            starts.extend(
                self.params
                    .windows
                    .iter()
                    .map(|&(size_s, _)| self.params.calendar.window_start(labels.slice * 1000, size_s)),
            );
            let attribution = self.params.attribution.as_ref();
            let group_facets = attribution.map(|_| {
                let meta = labels.meta.map_or(NO_META, |i| metas.get(i));
                breakdowns.group(labels.dimensions(), meta)
            });
            for &(key, kept) in keys_counted.iter().chain(&self.params.combined_keys) {
                let Some(parts) = labels.parts(key) else { continue };
                let mut new_series = |value: SmolStr| {
                    series.push(Series::new(key, value));
                    samples.push(Latest::default());
                    (series.len() - 1) as u32
                };
                let si = match key.single() {
                    Some(_) => *single_index.entry((key, parts[0])).or_insert_with(|| new_series(parts[0].into())),
                    None => *combined_index
                        .entry((key, parts))
                        .or_insert_with(|| new_series(Key::join(parts.into_iter().take(key.dims().count())).into())),
                };
                for (wi, &start_s) in starts.iter().enumerate().filter(|(wi, _)| kept & (1 << wi) != 0) {
                    folded.entry((si, wi as u8, start_s)).or_default().plus_equals(&group.agg);
                }
                for &i in group.latest.indexes() {
                    samples[si as usize].offer(i);
                }
                if let (Some(facets), true) = (group_facets, attribution.is_some_and(|a| a.covers(key))) {
                    breakdowns.add(si, labels.slice, group.agg.count as u64, key, facets);
                }
            }
        }
        (series, samples, folded)
    }

    /// The dead letter of an event older than the retention behind the event clock.
    fn too_late(&self, ev: &Event) -> DeadLetter {
        DeadLetter {
            reason: DeadReason::TooLate,
            detail: format!("ts {} is older than the retention behind the event clock {}", ev.ts_ms, self.clock),
            raw: serde_json::to_string(&Event { embedding: Default::default(), ..ev.clone() }).unwrap_or_default(),
            source: "dataflow".into(),
        }
    }

    /// Hands on the accepted events that leave on their own: risky ones to the detector, all of
    /// them (moved out) to the clusterer.
    fn pass_on(&self, events: &mut [Event], passed_on: &[usize], out: &mut impl FnMut(IngestOut)) {
        for &i in passed_on {
            let ev = &mut events[i];
            if let Some(mut ticket) = ev.ticket.take() {
                ticket.team = crate::event::meta_text(ev.meta_object().as_ref(), &self.params.team_field);
                out(IngestOut::Ticket(*ticket));
                continue;
            }
            if let Some(turn) = self.turn_of(ev) {
                let customer = turn.role == Role::Customer;
                out(IngestOut::Turn(turn));
                if !customer {
                    continue;
                }
            }
            if let Some(risk) = &ev.risk {
                out(IngestOut::Risky(RiskyMessage {
                    risk: risk.clone(),
                    id: ev.id.to_string(),
                    ts_ms: ev.ts_ms,
                    category: ev.category.to_string(),
                    channel: ev.channel.to_string(),
                    campaign: ev.campaign.as_ref().map(|c| c.to_string()),
                    sentiment_milli: ev.sentiment_milli,
                    negative: ev.sentiment_milli < self.params.negative_below_milli,
                    text: ev.text.clone(),
                }));
            }
            if self.for_clusterer(ev) {
                out(IngestOut::Accepted(std::mem::take(ev)));
            }
        }
    }

    /// The conversation turn an event is, if it is one.
    fn turn_of(&self, ev: &Event) -> Option<Turn> {
        let info = ev.turn.as_deref()?;
        let customer = info.role == Role::Customer;
        let meta = ev.meta_object();
        let tier = crate::event::meta_text(meta.as_ref(), &self.params.tier_field);
        let team = if info.role == Role::Agent {
            crate::event::meta_text(meta.as_ref(), &self.params.team_field)
        } else {
            None
        };
        Some(Turn {
            conversation: info.conversation.clone(),
            id: ev.id.clone(),
            ts_ms: ev.ts_ms,
            seq: info.seq.unwrap_or(0),
            role: info.role,
            user: info.user.clone(),
            agent: info.agent.clone(),
            business: ev.business.clone(),
            sentiment_milli: ev.sentiment_milli,
            risk: if customer { ev.risk.clone() } else { None },
            tier,
            text: ev.text.clone(),
            embedding: if customer { ev.embedding.clone() } else { Default::default() },
            team,
            end: info.end,
        })
    }

    /// Whether an accepted event goes on to the clusterer.
    fn for_clusterer(&self, ev: &Event) -> bool {
        self.params.clustering && !ev.embedding.is_empty()
    }

    /// Records `id`; false when it was already seen within the dedupe window.
    fn first_sighting(&mut self, id: &str, ts_ms: i64) -> bool {
        let window = self.params.dedupe_window_ms;
        if self.generation_started == i64::MIN {
            self.generation_started = ts_ms;
        } else if self.clock.saturating_sub(self.generation_started) >= window {
            // Rotate: ids are remembered for between one and two dedupe windows of event time.
            self.seen.swap(0, 1);
            self.seen[0].clear();
            self.generation_started = self.clock;
        }
        let h = id_hash(id);
        if self.seen[1].contains(&h) {
            return false;
        }
        self.seen[0].insert(h)
    }
}

/// Builds the ingest operator. Events are exchanged by id so each id is deduplicated by exactly
/// one worker; outputs carry their tick so downstream stages can build collections from them.
///
/// Each kind of output leaves on its own port, so an item is moved once, into the stream that
/// consumes it (a partition after the operator would move every item three more times, and a
/// copy of the whole stream for the clusterer would clone every sample text).
///
/// `restored` windows (a previous run's aggregates) enter on worker 0 at the first tick, as
/// additions like any other.
pub fn ingest<'scope>(
    events: StreamVec<'scope, Tick, Event>,
    params: IngestParams,
    restored: Arc<Vec<(WindowKey, Agg)>>,
) -> (Ingested<'scope>, StreamVec<'scope, Tick, (Event, Tick)>) {
    let scope = events.scope();
    let restorer = timely::dataflow::Scope::index(&scope) == 0 && !restored.is_empty();
    let mut builder = OperatorBuilder::new("Ingest".to_owned(), scope);
    let mut input = builder.new_input(events, Exchange::new(|e: &Event| id_hash(&e.id)));
    builder.set_notify_for(0, FrontierInterest::Never);
    let (windows_out, windows) = builder.new_output();
    let (samples_out, samples) = builder.new_output();
    let (clock_out, clock) = builder.new_output();
    let (notices_out, notices) = builder.new_output();
    let (dead_out, dead) = builder.new_output();
    let (accepted_out, accepted) = builder.new_output();
    let (turns_out, turns) = builder.new_output();
    let (tickets_out, tickets) = builder.new_output();
    let mut windows_out = OutputBuilder::<_, CapacityContainerBuilder<Vec<(WindowKey, Tick, Agg)>>>::from(windows_out);
    let mut samples_out = OutputBuilder::<_, CapacityContainerBuilder<Vec<(DetectIn, Tick)>>>::from(samples_out);
    let mut clock_out = OutputBuilder::<_, CapacityContainerBuilder<Vec<(DetectIn, Tick)>>>::from(clock_out);
    let mut notices_out = OutputBuilder::<_, CapacityContainerBuilder<Vec<(DetectIn, Tick)>>>::from(notices_out);
    let mut dead_out = OutputBuilder::<_, CapacityContainerBuilder<Vec<DeadLetter>>>::from(dead_out);
    let mut accepted_out = OutputBuilder::<_, CapacityContainerBuilder<Vec<(Event, Tick)>>>::from(accepted_out);
    let mut turns_out = OutputBuilder::<_, CapacityContainerBuilder<Vec<(ConversationIn, Tick)>>>::from(turns_out);
    let mut tickets_out = OutputBuilder::<_, CapacityContainerBuilder<Vec<(TicketIn, Tick)>>>::from(tickets_out);
    builder.build(move |mut capabilities| {
        let mut state = IngestState::new(params);
        // Restored windows leave on the first port; the other ports' capabilities go at once.
        capabilities.truncate(1);
        let mut restore = restorer.then(|| (capabilities.pop().expect("one output capability"), restored));
        move |_frontiers| {
            let mut windows_out = windows_out.activate();
            if let Some((capability, restored)) = restore.take() {
                let tick = *capability.time();
                let mut session = windows_out.session(&capability);
                for (key, agg) in restored.iter() {
                    session.give((key.clone(), tick, *agg));
                }
            }
            let mut samples_out = samples_out.activate();
            let mut clock_out = clock_out.activate();
            let mut notices_out = notices_out.activate();
            let mut dead_out = dead_out.activate();
            let mut accepted_out = accepted_out.activate();
            let mut turns_out = turns_out.activate();
            let mut tickets_out = tickets_out.activate();
            input.for_each(|capability, data| {
                let Some(&tick) = capability.least() else {
                    return;
                };
                let mut windows = windows_out.session(&capability);
                let mut samples = samples_out.session(&capability);
                let mut clock = clock_out.session(&capability);
                let mut notices = notices_out.session(&capability);
                let mut dead = dead_out.session(&capability);
                let mut accepted = accepted_out.session(&capability);
                let mut turns = turns_out.session(&capability);
                let mut tickets = tickets_out.session(&capability);
                state.absorb(data.as_mut_slice(), |o| match o {
                    IngestOut::Update(key, agg) => windows.give((key, tick, agg)),
                    IngestOut::Sample(s) => samples.give((DetectIn::Sample(s), tick)),
                    IngestOut::Breakdown(b) => samples.give((DetectIn::Breakdown(b), tick)),
                    IngestOut::Clock(ms) => clock.give((DetectIn::Clock(ms), tick)),
                    IngestOut::Risky(m) => notices.give((DetectIn::Risk(m), tick)),
                    IngestOut::NewCluster(c) => notices.give((DetectIn::NewCluster(c), tick)),
                    IngestOut::Dead(d) => dead.give(d),
                    IngestOut::Accepted(e) => accepted.give((e, tick)),
                    IngestOut::Turn(t) => turns.give((ConversationIn::Turn(Box::new(t)), tick)),
                    IngestOut::Ticket(t) => tickets.give((TicketIn::Event(Box::new(t)), tick)),
                });
                match &state.params.spent {
                    Some(spent) => spent.give(std::mem::take(data)),
                    None => data.clear(),
                }
            });
        }
    });
    (Ingested { windows: windows.as_collection(), samples, clock, notices, dead, turns, tickets }, accepted)
}

/// Each series' latest events of the tick, as explanation samples.
fn emit_samples(events: &[Event], series: &[Series], samples: &[Latest], out: &mut impl FnMut(IngestOut)) {
    for (si, latest) in samples.iter().enumerate() {
        // The series' latest events are the latest among its groups' latest.
        for &i in latest.indexes() {
            let ev = &events[i];
            out(IngestOut::Sample(Sample {
                series: series[si].clone(),
                ts_ms: ev.ts_ms,
                id: ev.id.to_string(),
                text: ev.text.clone(),
                sentiment_milli: ev.sentiment_milli,
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str, ts_ms: i64, category: &str, sentiment_milli: i32) -> Event {
        Event {
            id: id.into(),
            ts_ms,
            channel: "app".into(),
            campaign: None,
            business: None,
            category: category.into(),
            sentiment_milli,
            text: format!("text {id}"),
            truncated: false,
            risk: None,
            embedding: Default::default(),
            meta: None,
            turn: None,
            ticket: None,
        }
    }

    fn params() -> IngestParams {
        IngestParams {
            windows: vec![(60, 120_000)],
            dedupe_window_ms: 60_000,
            negative_below_milli: -200,
            clustering: false,
            combined_keys: Vec::new(),
            calendar: Calendar::utc(),
            attribution: None,
            metrics: Arc::default(),
            spent: None,
            tier_field: "tier".into(),
            team_field: "team".into(),
        }
    }

    fn updates(state: &mut IngestState, mut events: Vec<Event>) -> Vec<IngestOut> {
        let mut out = Vec::new();
        state.absorb(&mut events, |o| out.push(o));
        out.retain(|o| matches!(o, IngestOut::Update(..) | IngestOut::Dead(..)));
        out.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
        out
    }

    #[test]
    fn latest_keeps_the_largest_indexes_in_order() {
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        for round in 0..2000 {
            let n = round % 12;
            let offered: Vec<usize> = (0..n)
                .map(|_| {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    (rng % 1000) as usize
                })
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            let mut latest = Latest::default();
            for &i in &offered {
                latest.offer(i);
            }
            let mut sorted = offered.clone();
            sorted.sort_unstable();
            assert_eq!(latest.indexes(), &sorted[sorted.len().saturating_sub(SAMPLES_PER_TICK)..], "{offered:?}");
        }
    }

    #[test]
    fn folds_one_tick_into_one_update_per_window() {
        let mut s = IngestState::new(params());
        let out = updates(&mut s, vec![event("a", 1_000, "pay", -500), event("b", 2_000, "pay", 100)]);
        let pay = out.iter().find_map(|o| match o {
            IngestOut::Update(k, a) if k.series == Series::new(Dimension::Category, "pay") => Some(*a),
            _ => None,
        });
        assert_eq!(pay, Some(Agg { count: 2, neg: 1, sent_sum: -400, sent_sq: 260_000 }));
        // category, channel, overall (no campaign) × one window size
        assert_eq!(out.len(), 3);
    }

    #[test]
    fn agents_turns_reach_conversations_only() {
        use crate::event::TurnInfo;
        let mut s = IngestState::new(params());
        let info = |role| Some(Box::new(TurnInfo { conversation: "cv".into(), role, ..Default::default() }));
        let customer = Event {
            turn: info(Role::Customer),
            meta: Some(r#"{"tier":"vip"}"#.into()),
            ..event("a", 1_000, "pay", -500)
        };
        let agent = Event { turn: info(Role::Agent), risk: Some("fraud".into()), ..event("b", 2_000, "pay", 100) };
        let mut out = Vec::new();
        s.absorb(&mut [customer, agent], |o| out.push(o));
        let counted: i64 = out.iter().map(|o| if let IngestOut::Update(_, a) = o { a.count } else { 0 }).sum();
        assert_eq!(counted, 3, "the customer's turn, in category, channel and overall");
        let turns: Vec<(Role, Option<&str>, Option<&str>)> = out
            .iter()
            .filter_map(|o| match o {
                IngestOut::Turn(t) => Some((t.role, t.tier.as_deref(), t.risk.as_deref())),
                _ => None,
            })
            .collect();
        assert_eq!(turns, [(Role::Customer, Some("vip"), None), (Role::Agent, None, None)]);
        assert!(!out.iter().any(|o| matches!(o, IngestOut::Risky(_))), "an agent's words are no risk alert");
    }

    /// With a way back, the operator returns each absorbed batch whole, in order, and never
    /// waits on it: a batch that finds the way back full is freed where it is.
    #[test]
    fn absorbed_batches_go_back_when_there_is_room() {
        use timely::dataflow::operators::{Input, Probe};
        let (tx, rx) = std::sync::mpsc::sync_channel(2);
        timely::execute_directly(move |worker| {
            let probe = timely::dataflow::ProbeHandle::new();
            let mut input = worker.dataflow::<Tick, _, _>(|scope| {
                let (input, events) = scope.new_input::<Vec<Event>>();
                let params = IngestParams { spent: Some(crate::feed::Spent(tx)), ..params() };
                ingest(events, params, Arc::default()).0.windows.inner.probe_with(&probe);
                input
            });
            for (tick, ids) in [["a", "b"], ["c", "d"], ["e", "f"]].iter().enumerate() {
                let mut batch: Vec<Event> =
                    ids.iter().enumerate().map(|(i, id)| event(id, 1_000 * (tick + i) as i64, "pay", 0)).collect();
                input.send_batch(&mut batch);
                input.advance_to(tick as Tick + 1);
                while probe.less_than(input.time()) {
                    worker.step();
                }
            }
        });
        let back: Vec<Vec<String>> = rx.try_iter().map(|b| b.iter().map(|e| e.id.to_string()).collect()).collect();
        assert_eq!(back, [["a", "b"], ["c", "d"]], "the third found the way back full");
    }

    /// Events of one series spread over groups (other channels, other minutes): its samples are
    /// still its latest events of the tick, and windows of every size add up.
    #[test]
    fn samples_are_the_latest_of_each_series_across_groups() {
        let mut p = params();
        p.windows = vec![(60, 600_000), (300, 600_000)];
        let mut s = IngestState::new(p);
        let mut events: Vec<Event> = (0..12)
            .map(|i| {
                let mut e = event(&format!("e{i}"), 1_000 + 70_000 * (i % 3), "pay", 0);
                e.channel = ["app", "web"][(i / 3 % 2) as usize].into();
                e
            })
            .collect();
        events[10].category = "ads".into();
        let mut out = Vec::new();
        s.absorb(&mut events, |o| out.push(o));
        let sample_ids = |dim: Dimension, value: &str| -> Vec<String> {
            let series = Series::new(dim, value);
            out.iter()
                .filter_map(|o| match o {
                    IngestOut::Sample(x) if x.series == series => Some(x.id.clone()),
                    _ => None,
                })
                .collect()
        };
        assert_eq!(sample_ids(Dimension::Category, "pay"), ["e8", "e9", "e11"]);
        assert_eq!(sample_ids(Dimension::Overall, "all"), ["e9", "e10", "e11"]);
        assert_eq!(sample_ids(Dimension::Channel, "app"), ["e6", "e7", "e8"]);
        let five_minutes: i64 = out
            .iter()
            .filter_map(|o| match o {
                IngestOut::Update(k, a) if k.series == Series::new(Dimension::Overall, "all") && k.size_s == 300 => {
                    Some(a.count)
                }
                _ => None,
            })
            .sum();
        assert_eq!(five_minutes, 12);
    }

    #[test]
    fn drops_duplicates_and_dead_letters_events_older_than_retention() {
        let mut s = IngestState::new(params());
        updates(&mut s, vec![event("a", 1_000, "pay", 0)]);
        assert!(updates(&mut s, vec![event("a", 1_000, "pay", 0)]).is_empty(), "duplicate id is dropped");
        let out = updates(&mut s, vec![event("z", 180_000, "pay", 0)]);
        let added = out.iter().filter(|o| matches!(o, IngestOut::Update(_, a) if a.count == 1)).count();
        assert_eq!((added, out.len()), (3, 3), "an addition to each series' window, no retraction");
        let out = updates(&mut s, vec![event("late", 10_000, "pay", 0)]);
        assert!(matches!(&out[..], [IngestOut::Dead(d)] if d.reason == DeadReason::TooLate), "{out:?}");
    }
}
