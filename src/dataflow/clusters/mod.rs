//! Online clusters of message embeddings (docs/clusters.md): micro-clusters with a centroid, a count,
//! first/last seen and a few stored member texts. Each message joins its nearest cluster when
//! the cosine reaches `similarity`, else it starts one. Clusters of one scope whose centroids
//! come within `merge_similarity` merge (the older id stays); clusters idle for `idle_expiry`
//! are dropped, and a scope never holds more than `max_clusters`.
//!
//! Two scopes see every message: the global one across categories (it catches issues the
//! taxonomy does not know) and, with `per_category`, the message's category.
//!
//! A cluster is *established* once it reaches the new-cluster rule's size within its window.
//! Then it is either part of the starting picture (during `warmup`), an old issue that recurs
//! slowly (more than half as many members again arrived before the window), a variant of an
//! established cluster (its centroid within `novelty` of one), or **new**: the one moment a
//! `new_cluster` alert fires. Established clusters count in `cluster` windows, so a known issue
//! that grows is a cluster spike, not a new cluster.
//!
//! Ids are a counter (`c-1`, `c-2`, …): a cluster keeps its id as it grows and across a restart
//! from a [`ClusterSnapshot`].
//!
//! Cosines are taken between *whitened* embeddings ([`Whitening`]) when `whitening_sample` is
//! set: the clusterer holds its first messages until it has that many (or its warm-up has
//! passed), fits the whitening on them and then clusters them, so every cluster lives in one
//! space and the thresholds mean one thing.
//!
//! Finding a message's cluster scans the scope's centroids; angle sketches
//! ([`super::sketch`]) skip the centroids that cannot reach the threshold, so only a few get an
//! exact dot product.

mod index;
mod model;
mod publish;
mod snapshot;
mod state;
mod texts;

pub use model::{unit_quantized, Cluster, ClusterChange, ClusterParams, ClusterSnapshot, ClusterSummary, Member};
pub use publish::ClusterUpdate;
pub use state::ClusterState;

use crate::records::notice::cluster_name;
use publish::Publisher;
use std::collections::BTreeMap;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;

/// Explanation samples per cluster and tick handed to the detector.
const SAMPLES_PER_TICK: usize = 3;

/// What the clusterer emits: what it adds to the window and detector streams, and its
/// published changes (at most once a second, see [`Publisher`]).
#[derive(Clone, Debug)]
pub enum ClusterOut {
    Ingest(super::ingest::IngestOut),
    Published(ClusterUpdate),
}

/// Builds the clusterer. It runs on worker 0 (clustering compares each message with every
/// cluster, so it cannot be split by key); each tick's events are taken in (ts, id) order, so
/// the result does not depend on how many workers fed it.
pub fn cluster<'scope>(
    accepted: timely::dataflow::StreamVec<'scope, super::tick::Tick, (crate::event::Event, super::tick::Tick)>,
    params: ClusterParams,
    windows: Vec<(u32, i64)>,
    calendar: crate::util::calendar::Calendar,
    negative_below_milli: i32,
    restore: Option<ClusterSnapshot>,
) -> timely::dataflow::StreamVec<'scope, super::tick::Tick, (ClusterOut, super::tick::Tick)> {
    use super::ingest::IngestOut;

    let dim = crate::enrich::encoder::DIM;
    // Only worker 0 receives messages. The others must not publish their empty picture (it
    // would overwrite the snapshot in Redis), nor hold a copy of the restored one.
    let clusterer = timely::dataflow::Scope::index(&accepted.scope()) == 0;
    let restore = if clusterer { restore } else { None };
    accepted.unary_frontier(
        Exchange::new(|_: &(crate::event::Event, super::tick::Tick)| 0u64),
        "Cluster",
        move |initial, _| {
            let mut state = match restore {
                Some(snapshot) => ClusterState::restore(params, dim, snapshot),
                None => ClusterState::new(params, dim),
            };
            let mut publisher = Publisher::new();
            // Publishing is paced by the wall clock, not by data: a capability kept at the input
            // frontier (so it holds nothing back) to publish with, dropped after the last update.
            let mut publish_capability = clusterer.then_some(initial);
            let mut pending = super::tick::TickBuffer::default();
            let mut changes = Vec::new();
            // Messages held until the whitening is fitted, and a capability to release them with
            // should the input end first (kept at the input frontier, so it holds nothing back).
            let mut held: Vec<crate::event::Event> = Vec::new();
            let mut held_capability: Option<timely::dataflow::operators::Capability<super::tick::Tick>> = None;
            move |(input, frontier), output| {
                input.for_each(|capability, data| {
                    for (event, time) in data.drain(..) {
                        pending.stash(time, event, || capability.delayed(&time, 0));
                    }
                });
                let mut ready_ticks = Vec::new();
                while let Some((capability, tick, mut events)) = pending.pop_ready(|t| !frontier.less_equal(t)) {
                    events.sort_by(|a, b| (a.ts_ms, &a.id).cmp(&(b.ts_ms, &b.id)));
                    let mut ready = Vec::with_capacity(events.len());
                    for ev in events {
                        state.admit(ev, |e| (&e.embedding.0, e.ts_ms), &mut held, &mut ready);
                    }
                    if held.is_empty() {
                        held_capability = None;
                    } else if held_capability.is_none() {
                        held_capability = Some(capability.clone());
                    }
                    ready_ticks.push((capability, tick, ready));
                }
                if let Some(capability) = held_capability.as_mut() {
                    match frontier.frontier().iter().min() {
                        Some(t) => capability.downgrade(t),
                        None => {
                            let mut ready = Vec::new();
                            state.release_held(&mut held, &mut ready);
                            ready_ticks.push((capability.clone(), *capability.time(), ready));
                        }
                    }
                }
                if frontier.is_empty() {
                    held_capability = None;
                }
                for (capability, tick, events) in ready_ticks {
                    let mut session = output.session(&capability);
                    let mut out = |o: IngestOut| session.give((ClusterOut::Ingest(o), tick));
                    absorb_tick(
                        &mut state,
                        &mut publisher,
                        (&windows, &calendar),
                        negative_below_milli,
                        &events,
                        &mut changes,
                        &mut out,
                    );
                }
                // Also when no data came: the frontier moves every tick, so the last changes are
                // published within a second even when the stream pauses.
                if let Some(capability) = publish_capability.as_mut() {
                    if let Some(t) = frontier.frontier().iter().min() {
                        capability.downgrade(t);
                    }
                    let update = publisher.publish(&state, frontier.is_empty());
                    if let Some(update) = update {
                        output.session(&*capability).give((ClusterOut::Published(update), *capability.time()));
                    }
                }
                if frontier.is_empty() {
                    publish_capability = None;
                }
            }
        },
    )
}

/// Absorbs one tick's messages, in order: the cluster windows they add to, a few samples per
/// cluster for explanations, and the new-cluster notices.
#[allow(clippy::too_many_arguments)]
fn absorb_tick(
    state: &mut ClusterState,
    publisher: &mut Publisher,
    (windows, calendar): (&[(u32, i64)], &crate::util::calendar::Calendar),
    negative_below_milli: i32,
    events: &[crate::event::Event],
    changes: &mut Vec<ClusterChange>,
    mut out: impl FnMut(super::ingest::IngestOut),
) {
    use super::ingest::IngestOut;
    use crate::config::Dimension;
    use crate::records::notice::{Breakdown, Facet, FacetDimension, Sample};
    use crate::records::window::{Agg, Series, WindowKey};
    let mut folded: BTreeMap<(u64, usize, i64), Agg> = BTreeMap::new();
    let mut samples: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    // The clusters each single-dimension series' messages joined, per slice: the cluster
    // facets of alerts' drivers (ingest counts the series' messages; clusters are only known here).
    let slice_s = super::breakdown::slice_s(windows);
    let mut joined: BTreeMap<(Series, i64), BTreeMap<u64, u64>> = BTreeMap::new();
    for (index, ev) in events.iter().enumerate() {
        let member = Member::of_event(ev, negative_below_milli);
        // A message joins a cluster in each scope it is clustered in; as a driver it names the
        // first (the global scope's), so one template is not named twice.
        let mut attributed = false;
        changes.clear();
        state.absorb(&member, changes);
        for change in changes.drain(..) {
            publisher.note(&change);
            match change {
                ClusterChange::Joined { cluster, counted: true } => {
                    let agg = Agg::of_message(ev.sentiment_milli, member.negative);
                    for (wi, &(size_s, _)) in windows.iter().enumerate() {
                        let start = calendar.window_start(ev.ts_ms, size_s);
                        differential_dataflow::difference::Semigroup::plus_equals(
                            folded.entry((cluster, wi, start)).or_default(),
                            &agg,
                        );
                    }
                    if !std::mem::replace(&mut attributed, true) {
                        let slice = crate::records::window::window_start(ev.ts_ms, slice_s);
                        for series in event_series(ev) {
                            *joined.entry((series, slice)).or_default().entry(cluster).or_default() += 1;
                        }
                    }
                    let kept = samples.entry(cluster).or_default();
                    if kept.len() == SAMPLES_PER_TICK {
                        kept.remove(0);
                    }
                    kept.push(index);
                }
                ClusterChange::New(new) => out(IngestOut::NewCluster(new)),
                _ => {}
            }
        }
    }
    for ((cluster, wi, start_s), agg) in folded {
        let size_s = windows[wi].0;
        let series = Series::new(Dimension::Cluster, cluster_name(cluster));
        out(IngestOut::Update(WindowKey { series, size_s, start_s }, agg));
    }
    for ((series, slice_s), clusters) in joined {
        let facets = clusters
            .into_iter()
            .map(|(c, n)| {
                (Facet { dimension: FacetDimension::Dimension(Dimension::Cluster), value: cluster_name(c).into() }, n)
            })
            .collect();
        out(IngestOut::Breakdown(Breakdown { series, slice_s, total: 0, facets }));
    }
    for (cluster, indexes) in samples {
        for i in indexes {
            let ev = &events[i];
            out(IngestOut::Sample(Sample {
                series: Series::new(Dimension::Cluster, cluster_name(cluster)),
                ts_ms: ev.ts_ms,
                id: ev.id.to_string(),
                text: ev.text.clone(),
                sentiment_milli: ev.sentiment_milli,
            }));
        }
    }
}

/// The single-dimension series a message counts in.
fn event_series(ev: &crate::event::Event) -> impl Iterator<Item = crate::records::window::Series> + '_ {
    use crate::config::Dimension;
    use crate::records::window::Series;
    [
        Some(Series::new(Dimension::Category, ev.category.clone())),
        Some(Series::new(Dimension::Channel, ev.channel.clone())),
        ev.campaign.clone().map(|c| Series::new(Dimension::Campaign, c)),
        ev.business.clone().map(|b| Series::new(Dimension::Business, b)),
        Some(Series::new(Dimension::Overall, "all")),
    ]
    .into_iter()
    .flatten()
}

#[cfg(test)]
mod tests {
    use super::state::tests::params;
    use super::*;
    use crate::event::Embedding;

    /// The operator holds messages back while it fits, without holding back the frontier, and
    /// clusters them when the input ends before the sample is full: the same cluster windows as
    /// without whitening.
    #[test]
    fn the_operator_releases_held_messages_at_the_end_and_never_stalls_the_frontier() {
        use crate::dataflow::tick::Tick;
        use crate::event::Event;
        use timely::dataflow::operators::{Input, Inspect, Probe};
        let dim = crate::enrich::encoder::DIM;
        let run = |whitening_sample: usize| {
            // Messages counted in cluster windows, and in the cluster facets of the category's
            // breakdowns (the drivers of an alert on it).
            let counted = std::sync::Arc::new(std::sync::Mutex::new((0i64, 0u64)));
            let seen = counted.clone();
            let stalled = timely::execute_directly(move |worker| {
                let probe = timely::dataflow::ProbeHandle::new();
                let mut input = worker.dataflow::<Tick, _, _>(|scope| {
                    let (input, events) = scope.new_input::<Vec<(Event, Tick)>>();
                    let p = ClusterParams { whitening_sample, warmup_ms: 3_600_000, ..params() };
                    cluster(events, p, vec![(60, 600_000)], Default::default(), 0, None)
                        .inspect(move |(o, _)| {
                            use crate::dataflow::ingest::IngestOut;
                            match o {
                                ClusterOut::Ingest(IngestOut::Update(_, agg)) => seen.lock().unwrap().0 += agg.count,
                                ClusterOut::Ingest(IngestOut::Breakdown(b)) if b.series.value == "pay" => {
                                    seen.lock().unwrap().1 += b.facets.iter().map(|(_, n)| n).sum::<u64>();
                                }
                                _ => {}
                            }
                        })
                        .probe_with(&probe);
                    input
                });
                let mut stalled = false;
                for tick in 0..3u64 {
                    let mut batch: Vec<(Event, Tick)> = (0..4)
                        .map(|i| {
                            let mut v = vec![0.0f32; dim];
                            v[(i % 2) * 7] = 1.0;
                            let ts_ms = 1_000 * (4 * tick as i64 + i as i64);
                            let event = Event {
                                id: format!("e{tick}-{i}").into(),
                                ts_ms,
                                channel: "app".into(),
                                campaign: None,
                                business: None,
                                category: "pay".into(),
                                sentiment_milli: 0,
                                text: "扣款失败".into(),
                                truncated: false,
                                risk: None,
                                embedding: Embedding::quantize(&v),
                                meta: None,
                                turn: None,
                                ticket: None,
                            };
                            (event, tick)
                        })
                        .collect();
                    input.send_batch(&mut batch);
                    input.advance_to(tick + 1);
                    for _ in 0..100 {
                        worker.step();
                    }
                    stalled |= probe.less_than(input.time());
                }
                stalled
            });
            let (total, in_breakdowns) = *counted.lock().unwrap();
            assert_eq!(in_breakdowns, total as u64, "every counted message is a cluster facet of its category");
            (total, stalled)
        };
        let raw = run(0);
        assert_eq!(raw, (6, false), "two clusters of six, counted from the fourth message on");
        assert_eq!(run(1000), (raw.0, false));
    }
}
