//! The timely / differential dataflow: ingest → window aggregates (`count_total` over the
//! `Agg` difference) → detect → alerts, and the drivers that feed it.
//!
//! Time is a processing tick (`Tick`); the event-time window is part of the data key. In replay
//! each input batch is one tick, so results depend only on the input and the batch size; live,
//! the tick is the wall clock divided by `ingest.tick`.

pub mod clusters;
pub mod detect;
pub mod ingest;
pub mod sketch;
pub mod spike;
pub mod whitening;
pub mod windows;

use crate::alerts::Alert;
use crate::config::Config;
use crate::event::{DeadLetter, Event};
use crate::sinks::Fanout;
use crate::telemetry::Metrics;
use detect::DetectIn;
use differential_dataflow::operators::CountTotal;
use differential_dataflow::{AsCollection, VecCollection};
use ingest::{IngestOut, IngestParams};
use std::collections::VecDeque;
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SendError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::operators::vec::{Broadcast, Map};
use timely::dataflow::operators::{Concat, Exchange, Input, Inspect, Probe};
use timely::dataflow::{InputHandle, ProbeHandle, Scope, StreamVec};
use windows::{Agg, WindowKey};

pub type Tick = u64;

/// The dataflow's input: batches of admitted events.
pub type EventInput = InputHandle<Tick, CapacityContainerBuilder<Vec<Event>>>;

/// The outputs of ingest, split by kind.
pub struct Ingested<'scope> {
    /// Window aggregate updates: collection of `WindowKey` with difference `Agg`.
    pub windows: VecCollection<'scope, Tick, WindowKey, Agg>,
    pub samples: StreamVec<'scope, Tick, (DetectIn, Tick)>,
    pub clock: StreamVec<'scope, Tick, (DetectIn, Tick)>,
    /// High-risk messages and new clusters: each becomes an alert of its own.
    pub notices: StreamVec<'scope, Tick, (DetectIn, Tick)>,
    pub dead: StreamVec<'scope, Tick, DeadLetter>,
}

pub fn ingest_streams<'scope>(events: StreamVec<'scope, Tick, Event>, params: IngestParams) -> Ingested<'scope> {
    ingest::ingest(events, params, Arc::default()).0
}

impl<'scope> Ingested<'scope> {
    /// Joins the clusterer's outputs (cluster-size windows, their samples, new-cluster
    /// notices) to the streams of their kinds. A few items per tick: copies are cheap here.
    fn with_clusters(self, clustered: StreamVec<'scope, Tick, (IngestOut, Tick)>) -> Self {
        let windows = clustered
            .clone()
            .flat_map(|(o, t)| match o {
                IngestOut::Update(key, agg) => Some((key, t, agg)),
                _ => None,
            })
            .as_collection();
        let samples = clustered.clone().flat_map(|(o, t)| match o {
            IngestOut::Sample(s) => Some((DetectIn::Sample(s), t)),
            _ => None,
        });
        let notices = clustered.flat_map(|(o, t)| match o {
            IngestOut::NewCluster(c) => Some((DetectIn::NewCluster(c), t)),
            _ => None,
        });
        Ingested {
            windows: self.windows.concat(windows),
            samples: self.samples.concat(samples),
            notices: self.notices.concat(notices),
            ..self
        }
    }
}

/// Current aggregate of every live window, as (`(key, aggregate)`, +1/-1) changes.
pub fn window_aggregates<'scope>(
    windows: VecCollection<'scope, Tick, WindowKey, Agg>,
) -> VecCollection<'scope, Tick, (WindowKey, Agg), isize> {
    windows.count_total_core::<isize>()
}

/// What a pipeline starts from besides its configuration: what a previous run saved, and the
/// alert rules, which a reload may replace while it runs.
#[derive(Clone)]
pub struct Startup {
    pub restore: Restored,
    pub rules: detect::LiveRules,
    /// Where ingest hands the batches it has absorbed (the replay source's way back).
    pub spent: Option<ingest::Spent>,
}

/// The state a previous run left (in Redis) for this one to continue from.
#[derive(Clone, Default)]
pub struct Restored {
    pub clusters: Option<clusters::ClusterSnapshot>,
    /// Window aggregates: they re-enter the collection at the first tick and seed the
    /// detectors' baselines, without being evaluated again.
    pub windows: Arc<Vec<(WindowKey, Agg)>>,
    /// Alert states (firing, or resolved and cooling down), so nothing re-fires.
    pub alerts: Arc<Vec<Alert>>,
}

/// Builds the whole pipeline in `scope`; returns the input handle and a probe on its outputs.
pub fn build<'scope>(
    scope: Scope<'scope, Tick>,
    config: &Config,
    metrics: Arc<Metrics>,
    outputs: Fanout,
    startup: Startup,
) -> (EventInput, ProbeHandle<Tick>) {
    let (input, events) = scope.new_input::<Vec<Event>>();
    let params = IngestParams { spent: startup.spent.clone(), ..IngestParams::from_config(config, metrics.clone()) };
    let (windows, negative_below_milli) = (params.windows.clone(), params.negative_below_milli);
    let (mut ingested, accepted) = ingest::ingest(events, params, startup.restore.windows.clone());
    if let Some(cluster_params) = clusters::ClusterParams::from_config(config) {
        let clustered = clusters::cluster(
            accepted,
            cluster_params,
            windows,
            negative_below_milli,
            startup.restore.clusters.clone(),
            outputs.clone(),
        );
        ingested = ingested.with_clusters(clustered);
    }
    let aggregates = window_aggregates(ingested.windows);
    let probe = ProbeHandle::new();
    if !outputs.windows.is_empty() {
        let window_out = outputs.clone();
        aggregates
            .inner
            .clone()
            .inspect(move |((key, agg), _, diff)| {
                if *diff > 0 {
                    window_out.window(key, agg);
                }
            })
            .probe_with(&probe);
    }
    let windows_in = aggregates.inner.map(|((key, agg), t, diff)| (DetectIn::Window(key, agg, diff), t));
    // Samples go to the worker that owns their series (the same hash as `WindowKey`).
    let samples = ingested.samples.exchange(|(item, _): &(DetectIn, Tick)| match item {
        DetectIn::Sample(s) => differential_dataflow::hashable::Hashable::hashed(&s.series),
        _ => 0,
    });
    // Per-message and per-cluster notices are all judged on worker 0, so each one-off alert
    // has one owner (whose alert engine a restart restores it to).
    let notices = ingested.notices.exchange(|_| 0);
    let detector_in = windows_in.concat(samples).concat(notices).concat(ingested.clock.broadcast());
    let alerts = detect::detect(detector_in, config, startup.rules, &startup.restore);
    let dead_out = outputs.clone();
    ingested.dead.inspect(move |d| dead_out.dead_letter(d)).probe_with(&probe);
    alerts
        .inspect(move |a: &Alert| {
            metrics.alert(a.labels.get("rule").map(String::as_str).unwrap_or(""), a.status.as_str());
            outputs.alert(a);
        })
        .probe_with(&probe);
    (input, probe)
}

/// Records grouped by the tick they carry in their data, each group released once the frontier
/// has passed it, oldest first. Differential output may carry times later than the capability
/// of the message it travels in, so operators downstream of it group by the record's own time.
pub struct TickBuffer<T> {
    pending: std::collections::BTreeMap<Tick, (timely::dataflow::operators::Capability<Tick>, Vec<T>)>,
}

impl<T> Default for TickBuffer<T> {
    fn default() -> Self {
        TickBuffer { pending: Default::default() }
    }
}

impl<T> TickBuffer<T> {
    /// Keeps `item` for `time`; `delayed` makes the capability for `time` (called once per tick).
    pub fn stash(
        &mut self,
        time: Tick,
        item: T,
        delayed: impl FnOnce() -> timely::dataflow::operators::Capability<Tick>,
    ) {
        self.pending.entry(time).or_insert_with(|| (delayed(), Vec::new())).1.push(item);
    }

    /// The oldest tick for which `passed` holds, with its capability and items.
    pub fn pop_ready(
        &mut self,
        passed: impl Fn(&Tick) -> bool,
    ) -> Option<(timely::dataflow::operators::Capability<Tick>, Tick, Vec<T>)> {
        let entry = self.pending.first_entry()?;
        if !passed(entry.key()) {
            return None;
        }
        let tick = *entry.key();
        let (capability, items) = entry.remove();
        Some((capability, tick, items))
    }
}

/// How a pipeline is fed.
pub enum Feed {
    /// Replay: every batch is one tick, processed as fast as possible.
    Batches(Receiver<Vec<Event>>),
    /// Live: events arrive whenever; ticks follow the wall clock. Each checkpoint names the
    /// number of batches whose tick has completed (see [`FeedSender`]).
    Live(Receiver<Vec<Event>>),
}

/// The sending side of a live feed. Batches are numbered in the order the dataflow receives
/// them; a checkpoint ([`crate::sinks::WindowSink::checkpoint`]) names the last one absorbed
/// (its tick completed, every window and alert updated), so a source can have exactly those
/// acknowledged upstream.
#[derive(Clone)]
pub struct FeedSender {
    tx: SyncSender<Vec<Event>>,
    /// Batches sent so far; held while sending, so numbering follows the channel's order.
    sent: Arc<Mutex<u64>>,
}

impl FeedSender {
    /// A live feed holding at most `capacity` batches in flight.
    pub fn channel(capacity: usize) -> (FeedSender, Feed) {
        let (tx, rx) = sync_channel(capacity);
        (FeedSender { tx, sent: Arc::new(Mutex::new(0)) }, Feed::Live(rx))
    }

    /// Sends a batch, waiting while the feed is full; returns the batch's number (from 1).
    pub fn send(&self, batch: Vec<Event>) -> Result<u64, SendError<Vec<Event>>> {
        let mut sent = self.sent.lock().expect("feed numbering");
        self.tx.send(batch)?;
        *sent += 1;
        Ok(*sent)
    }

    /// Sends a batch like [`send`](Self::send), first calling `register` with the number it
    /// will have, so whatever waits for its absorption is in place before the dataflow can
    /// absorb it.
    pub fn send_with(&self, batch: Vec<Event>, register: impl FnOnce(u64)) -> Result<u64, SendError<Vec<Event>>> {
        let mut sent = self.sent.lock().expect("feed numbering");
        register(*sent + 1);
        self.tx.send(batch)?;
        *sent += 1;
        Ok(*sent)
    }

    /// How many batches have been sent.
    pub fn sent(&self) -> u64 {
        *self.sent.lock().expect("feed numbering")
    }

    /// Sends a batch unless the feed is full; returns the batch's number (from 1).
    pub fn try_send(&self, batch: Vec<Event>) -> Result<u64, TrySendError<Vec<Event>>> {
        let mut sent = self.sent.lock().expect("feed numbering");
        self.tx.try_send(batch)?;
        *sent += 1;
        Ok(*sent)
    }
}

/// Measurements of a finished run (leader worker).
#[derive(Debug, Default, Clone)]
pub struct RunStats {
    pub ticks: u64,
    pub events: u64,
    pub elapsed: Duration,
    /// Time from a batch entering the dataflow until the dataflow completed its tick.
    pub tick_latencies: Vec<Duration>,
}

/// Ticks allowed in flight before the feeder waits for the dataflow.
const MAX_TICKS_IN_FLIGHT: u64 = 16;

/// Runs the pipeline on `workers` threads of this process, or as a timely cluster when
/// `cluster_args` (timely's `-n/-p/-h`) are given. Worker 0 of each process reads the feed;
/// ingest exchanges events by id, so any number of workers gives the same results.
pub fn run(
    config: &Config,
    metrics: Arc<Metrics>,
    outputs: Fanout,
    feed: Feed,
    workers: usize,
    cluster_args: Vec<String>,
    startup: Startup,
) -> Result<RunStats, String> {
    let timely_config = if cluster_args.is_empty() {
        timely::Config::process(workers.max(1))
    } else {
        let mut args = vec!["-w".to_string(), workers.max(1).to_string()];
        args.extend(cluster_args);
        timely::Config::from_args(args.into_iter())?
    };
    let feed = Arc::new(Mutex::new(Some(feed)));
    let config = config.clone();
    let tick_ms = config.ingest.tick.as_ms().max(1) as u64;
    let final_outputs = outputs.clone();
    let guards = timely::execute(timely_config, move |worker| {
        let (mut input, probe) = worker
            .dataflow::<Tick, _, _>(|scope| build(scope, &config, metrics.clone(), outputs.clone(), startup.clone()));
        let checkpoints = outputs.clone();
        let is_leader = worker.index() % workers.max(1) == 0;
        let feed = if is_leader { feed.lock().unwrap().take() } else { None };
        let mut stats = RunStats::default();
        let started = Instant::now();
        match feed {
            None => drop(input),
            Some(Feed::Batches(rx)) => {
                let mut in_flight: VecDeque<InFlight> = VecDeque::new();
                for (sent, mut batch) in (1_u64..).zip(rx) {
                    let tick = *input.time();
                    stats.events += batch.len() as u64;
                    input.send_batch(&mut batch);
                    input.advance_to(tick + 1);
                    in_flight.push_back(InFlight { tick, sent: Instant::now(), last_batch: sent });
                    worker.step();
                    while probe.less_than(&(tick + 1).saturating_sub(MAX_TICKS_IN_FLIGHT)) {
                        worker.step();
                    }
                    if let Some(last) = record_completed(&probe, &mut in_flight, &mut stats, &metrics) {
                        checkpoints.checkpoint(last);
                    }
                }
                let end = *input.time();
                drop(input);
                while probe.less_than(&end) {
                    worker.step();
                }
                if let Some(last) = record_completed(&probe, &mut in_flight, &mut stats, &metrics) {
                    checkpoints.checkpoint(last);
                }
            }
            Some(Feed::Live(rx)) => {
                let now_tick = || (chrono::Utc::now().timestamp_millis() as u64) / tick_ms;
                input.advance_to(now_tick());
                let mut in_flight: VecDeque<InFlight> = VecDeque::new();
                let mut received: u64 = 0;
                // Batches whose tick has completed.
                let mut absorbed: u64 = 0;
                let mut pending_tick = false;
                loop {
                    let until_next = tick_ms - (chrono::Utc::now().timestamp_millis() as u64 % tick_ms);
                    match rx.recv_timeout(Duration::from_millis(until_next)) {
                        Ok(mut batch) => {
                            stats.events += batch.len() as u64;
                            input.send_batch(&mut batch);
                            pending_tick = true;
                            received += 1;
                        }
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                    let now = now_tick();
                    if now > *input.time() {
                        if pending_tick {
                            let tick = *input.time();
                            in_flight.push_back(InFlight { tick, sent: Instant::now(), last_batch: received });
                            pending_tick = false;
                        }
                        input.advance_to(now);
                    }
                    // Complete every closed tick before waiting for more input.
                    while probe.less_than(input.time()) {
                        worker.step();
                    }
                    if let Some(last) = record_completed(&probe, &mut in_flight, &mut stats, &metrics) {
                        absorbed = last;
                    }
                    // A clean cut: every closed tick is complete and the open one has produced
                    // no window yet (`count_total` waits for its frontier). Dead-lettered
                    // entries are acknowledged here even when no tick had events.
                    checkpoints.checkpoint(absorbed);
                }
                let end = *input.time() + 1;
                drop(input);
                while probe.less_than(&end) {
                    worker.step();
                }
                record_completed(&probe, &mut in_flight, &mut stats, &metrics);
                checkpoints.checkpoint(received);
            }
        }
        // Every output has been produced once the probe's frontier is empty. Waiting for the
        // dataflow itself to be torn down could hang on arrangement maintenance work.
        while !probe.done() {
            worker.step_or_park(None);
        }
        stats.elapsed = started.elapsed();
        stats
    })?;
    let mut results = guards.join().into_iter().collect::<Result<Vec<_>, _>>()?;
    final_outputs.flush();
    Ok(results.swap_remove(0))
}

/// A tick given to the dataflow and not yet complete.
struct InFlight {
    tick: Tick,
    sent: Instant,
    /// The number of the last feed batch in this tick (see [`FeedSender`]).
    last_batch: u64,
}

/// Records the ticks the probe has passed; returns the last batch number among them.
fn record_completed(
    probe: &ProbeHandle<Tick>,
    in_flight: &mut VecDeque<InFlight>,
    stats: &mut RunStats,
    metrics: &Metrics,
) -> Option<u64> {
    let mut last_batch = None;
    while let Some(front) = in_flight.front() {
        if probe.less_equal(&front.tick) {
            break;
        }
        stats.tick_latencies.push(front.sent.elapsed());
        stats.ticks += 1;
        let lag = in_flight.back().map(|b| b.tick as i64 - front.tick as i64).unwrap_or(0);
        metrics.tick_completed(lag.max(0));
        last_batch = Some(front.last_batch);
        in_flight.pop_front();
    }
    last_batch
}
