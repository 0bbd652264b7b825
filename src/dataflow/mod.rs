//! The timely / differential dataflow: ingest → window totals (the collection of window keys
//! with the `Agg` difference, summed and expired by [`totals`]) → detect → alerts, and the
//! drivers that feed it.
//!
//! Time is a processing tick (`Tick`); the event-time window is part of the data key. In replay
//! each input batch is one tick, so results depend only on the input and the batch size; live,
//! the tick is the wall clock divided by `ingest.tick`.

pub mod breakdown;
pub mod clusters;
pub mod conversations;
pub mod detect;
mod drive;
pub mod ingest;
pub mod qa;
pub mod restore;
pub mod sketch;
pub mod spike;
pub mod tick;
pub mod tickets;
pub mod totals;
pub mod whitening;

use crate::alerts::Alert;
use crate::config::Config;
use crate::event::{DeadLetter, Event};
use crate::feed::{Feed, Spent};
use crate::records::conversation::{ConversationChange, QaVerdict as ConversationVerdict};
use crate::records::ticket::TicketAgg;
use crate::records::window::{Agg, WindowKey};
use crate::telemetry::Metrics;
use clusters::ClusterUpdate;
use detect::DetectIn;
use differential_dataflow::{AsCollection, VecCollection};
use ingest::Ingested;
use ingest::{IngestOut, IngestParams};
use restore::Restored;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tick::Tick;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::operators::vec::{Broadcast, Map, Partition};
use timely::dataflow::operators::{Concat, Exchange, Input, ToStream};
use timely::dataflow::{InputHandle, ProbeHandle, Scope, StreamVec};

/// The dataflow's input: batches of admitted events.
pub type EventInput = InputHandle<Tick, CapacityContainerBuilder<Vec<Event>>>;

pub fn ingest_streams<'scope>(events: StreamVec<'scope, Tick, Event>, params: IngestParams) -> Ingested<'scope> {
    ingest::ingest(events, params, Arc::default()).0
}

impl<'scope> Ingested<'scope> {
    /// Joins the clusterer's outputs (cluster-size windows, their samples, new-cluster
    /// notices) to the streams of their kinds, and returns its published changes apart. A few
    /// items per tick: copies are cheap here.
    fn with_clusters(
        self,
        clustered: StreamVec<'scope, Tick, (clusters::ClusterOut, Tick)>,
    ) -> (Self, StreamVec<'scope, Tick, ClusterUpdate>) {
        use clusters::ClusterOut;
        let windows = clustered
            .clone()
            .flat_map(|(o, t)| match o {
                ClusterOut::Ingest(IngestOut::Update(key, agg)) => Some((key, t, agg)),
                _ => None,
            })
            .as_collection();
        let samples = clustered.clone().flat_map(|(o, t)| match o {
            ClusterOut::Ingest(IngestOut::Sample(s)) => Some((DetectIn::Sample(s), t)),
            ClusterOut::Ingest(IngestOut::Breakdown(b)) => Some((DetectIn::Breakdown(b), t)),
            _ => None,
        });
        let notices = clustered.clone().flat_map(|(o, t)| match o {
            ClusterOut::Ingest(IngestOut::NewCluster(c)) => Some((DetectIn::NewCluster(c), t)),
            _ => None,
        });
        let published = clustered.flat_map(|(o, _)| match o {
            ClusterOut::Published(update) => Some(update),
            _ => None,
        });
        let ingested = Ingested {
            windows: self.windows.concat(windows),
            samples: self.samples.concat(samples),
            notices: self.notices.concat(notices),
            ..self
        };
        (ingested, published)
    }
}

/// Current aggregate of every live window, as (`(key, aggregate)`, +1/-1) changes: the
/// additions ingest (and the clusterer) made, summed, each window retracted when ingest's event
/// clock passes its expiry.
pub fn window_aggregates<'scope>(
    ingested: &Ingested<'scope>,
    params: totals::TotalsParams,
) -> VecCollection<'scope, Tick, (WindowKey, Agg), isize> {
    totals::window_totals(ingested.windows.clone(), ingested.clock.clone(), params)
}

/// Closed conversations' QA verdicts: to the sinks, and as scores into the KPI windows.
#[allow(clippy::type_complexity)]
fn qa_verdicts<'scope>(
    changes: &StreamVec<'scope, Tick, (DetectIn, Tick)>,
    config: &Config,
) -> (StreamVec<'scope, Tick, ConversationVerdict>, StreamVec<'scope, Tick, (WindowKey, Tick, TicketAgg)>) {
    let scored = changes.clone().flat_map(|(change, t)| match change {
        DetectIn::Conversation(ConversationChange::Scored(v)) => Some((*v, t)),
        _ => None,
    });
    let (sizes, calendar) = (tickets::kpi_sizes(&config.tickets, &config.windows), config.calendar.clone());
    let qa_kpis = scored.clone().flat_map(move |(v, t)| {
        let additions = qa::kpi_additions(&v, &sizes, &calendar);
        additions.into_iter().map(move |(key, agg)| (key, t, agg))
    });
    (scored.map(|(v, _)| v), qa_kpis)
}

/// With Redis, the accepted ticket events and conversation turns, and the event clock, for the
/// window sinks, whose checkpoints save them (the restored events are not among them: they are
/// logged already).
#[allow(clippy::type_complexity)]
fn logged<'scope>(
    ingested: &Ingested<'scope>,
    config: &Config,
) -> (
    Option<StreamVec<'scope, Tick, crate::event::TicketEvent>>,
    Option<StreamVec<'scope, Tick, crate::records::conversation::Turn>>,
    Option<StreamVec<'scope, Tick, i64>>,
) {
    let Some(_) = &config.redis else { return (None, None, None) };
    let tickets = ingested.tickets.clone().flat_map(|(item, _)| match item {
        tickets::TicketIn::Event(e) => Some(*e),
        _ => None,
    });
    let turns = ingested.turns.clone().flat_map(|(item, _)| match item {
        conversations::ConversationIn::Turn(t) => Some(*t),
        _ => None,
    });
    let clock = ingested.clock.clone().flat_map(|(item, _)| match item {
        DetectIn::Clock(ms) => Some(ms),
        _ => None,
    });
    (Some(tickets), Some(turns), Some(clock))
}

/// `stream` with a previous run's logged records, each as `wrap` makes it: they enter on
/// worker 0 at the first tick, before any new record.
fn with_restored<'scope, R, T: Clone + 'static>(
    stream: &StreamVec<'scope, Tick, (T, Tick)>,
    records: &[R],
    wrap: impl Fn(&R) -> T,
) -> StreamVec<'scope, Tick, (T, Tick)> {
    let first = timely::dataflow::Scope::index(&stream.scope()) == 0;
    let restored: Vec<(T, Tick)> = match first {
        true => records.iter().map(|r| (wrap(r), 0)).collect(),
        false => Vec::new(),
    };
    stream.clone().concat(restored.to_stream(stream.scope()))
}

/// Each conversation's state changes, from the turns ingest handed on: turns go to the worker
/// their conversation hashes to, every worker's event clock to all (idle conversations expire
/// in event time).
fn follow_conversations<'scope>(
    ingested: &Ingested<'scope>,
    config: &Config,
    restored: &Restored,
) -> StreamVec<'scope, Tick, (DetectIn, Tick)> {
    use conversations::ConversationIn;
    let as_of = restored.clock_ms().unwrap_or(i64::MIN);
    let restored =
        with_restored(&ingested.turns, &restored.turns, |t| ConversationIn::Restored(Box::new(t.clone()), as_of));
    let turns = restored.exchange(|(item, _): &(ConversationIn, Tick)| match item {
        ConversationIn::Turn(t) | ConversationIn::Restored(t, _) => {
            differential_dataflow::hashable::Hashable::hashed(&t.conversation)
        }
        ConversationIn::Clock(_) => 0,
    });
    let clock = ingested.clock.clone().flat_map(|(item, t)| match item {
        DetectIn::Clock(ms) => Some((ConversationIn::Clock(ms), t)),
        _ => None,
    });
    let params = conversations::ConversationParams::from_config(&config.conversation).with_qa(&config.qa);
    conversations::conversations(turns.concat(clock.broadcast()), params)
        .map(|(change, t)| (DetectIn::Conversation(change), t))
}

/// Each ticket's KPI additions summed into windows, and its SLA notices: events go to the
/// worker their ticket hashes to, every worker's event clock to all. Returns every live KPI
/// window as (`(key, KPIs)`, +1/-1) changes, and the SLA notices for the detector.
#[allow(clippy::type_complexity)]
fn follow_tickets<'scope>(
    ingested: &Ingested<'scope>,
    config: &Config,
    qa: StreamVec<'scope, Tick, (WindowKey, Tick, TicketAgg)>,
    restored: &Restored,
) -> (VecCollection<'scope, Tick, (WindowKey, TicketAgg), isize>, StreamVec<'scope, Tick, (DetectIn, Tick)>) {
    use tickets::{TicketIn, TicketOut};
    let as_of = restored.clock_ms().unwrap_or(i64::MIN);
    let restored =
        with_restored(&ingested.tickets, &restored.tickets, |e| TicketIn::Restored(Box::new(e.clone()), as_of));
    let events = restored.exchange(|(item, _): &(TicketIn, Tick)| match item {
        TicketIn::Event(e) | TicketIn::Restored(e, _) => differential_dataflow::hashable::Hashable::hashed(&e.ticket),
        TicketIn::Clock(_) => 0,
    });
    let clock = ingested.clock.clone().flat_map(|(item, t)| match item {
        DetectIn::Clock(ms) => Some((TicketIn::Clock(ms), t)),
        _ => None,
    });
    let params = tickets::TicketParams::from_config(&config.tickets, &config.calendar, &config.windows);
    // Split, not cloned: the KPI additions are most of the output and only the totals read them.
    let mut parts = tickets::tickets(events.concat(clock.broadcast()), params)
        .partition(2, |(o, t)| (matches!(o, TicketOut::Sla(_)) as u64, (o, t)));
    let notices = parts.pop().expect("two parts").flat_map(|(o, t)| match o {
        TicketOut::Sla(n) => Some((DetectIn::Sla(n), t)),
        TicketOut::Kpi(..) => None,
    });
    let additions = parts
        .pop()
        .expect("two parts")
        .flat_map(|(o, t)| match o {
            TicketOut::Kpi(key, agg) => Some((key, t, agg)),
            TicketOut::Sla(_) => None,
        })
        .concat(qa)
        .as_collection();
    let sizes: Vec<u32> = tickets::kpi_sizes(&config.tickets, &config.windows);
    let windows = config.windows.iter().filter(|w| sizes.contains(&w.size.as_secs()));
    let params = totals::TotalsParams {
        windows: windows.map(|w| (w.size.as_secs(), w.retention.as_ms())).collect(),
        calendar: config.calendar.clone(),
    };
    (totals::window_totals(additions, ingested.clock.clone(), params), notices)
}

/// What a pipeline starts from besides its configuration: what a previous run saved, and the
/// alert rules, which a reload may replace while it runs.
#[derive(Clone)]
pub struct Startup {
    pub restore: Restored,
    pub rules: detect::LiveRules,
    /// Where ingest hands the batches it has absorbed (the replay source's way back).
    pub spent: Option<Spent>,
}

/// What the pipeline computes, as streams: the topology (`crate::topology`) attaches the
/// sinks to them; tests capture them.
pub struct Outputs<'scope> {
    /// Alert state changes (firing, resolved).
    pub alerts: StreamVec<'scope, Tick, Alert>,
    pub dead_letters: StreamVec<'scope, Tick, DeadLetter>,
    /// Every live window's aggregate, as (`(key, aggregate)`, +1/-1) changes.
    pub windows: VecCollection<'scope, Tick, (WindowKey, Agg), isize>,
    /// The clusterer's published changes, at most once a second (empty without clustering).
    pub clusters: StreamVec<'scope, Tick, ClusterUpdate>,
    /// The detector's judgement of every window it evaluated (value, baseline, threshold).
    pub judgements: StreamVec<'scope, Tick, detect::WindowJudgement>,
    /// Every live ticket KPI window, as (`(key, KPIs)`, +1/-1) changes.
    pub kpis: VecCollection<'scope, Tick, (WindowKey, TicketAgg), isize>,
    /// Closed conversations' transcript QA verdicts.
    pub qa: StreamVec<'scope, Tick, ConversationVerdict>,
    /// Every accepted ticket event and conversation turn, for a durable sink to log (with Redis
    /// only).
    pub ticket_events: Option<StreamVec<'scope, Tick, crate::event::TicketEvent>>,
    pub turns: Option<StreamVec<'scope, Tick, crate::records::conversation::Turn>>,
    /// Each worker's event clock as it moves, for a durable sink to save (with Redis only).
    pub clock: Option<StreamVec<'scope, Tick, i64>>,
}

/// Builds the whole pipeline in `scope`; returns its input handle and output streams.
pub fn build<'scope>(
    scope: Scope<'scope, Tick>,
    config: &Config,
    metrics: Arc<Metrics>,
    startup: Startup,
) -> (EventInput, Outputs<'scope>) {
    let (input, events) = scope.new_input::<Vec<Event>>();
    let params = IngestParams { spent: startup.spent.clone(), ..IngestParams::from_config(config, metrics) };
    let (windows, negative_below_milli) = (params.windows.clone(), params.negative_below_milli);
    let totals = totals::TotalsParams { windows: windows.clone(), calendar: config.calendar.clone() };
    let (mut ingested, accepted) = ingest::ingest(events, params, startup.restore.windows.clone());
    let mut cluster_updates = None;
    if let Some(cluster_params) = clusters::ClusterParams::from_config(config) {
        let clustered = clusters::cluster(
            accepted,
            cluster_params,
            windows,
            config.calendar.clone(),
            negative_below_milli,
            startup.restore.clusters.clone(),
        );
        let (joined, published) = ingested.with_clusters(clustered);
        ingested = joined;
        cluster_updates = Some(published);
    }
    let clusters = cluster_updates.unwrap_or_else(|| Vec::<ClusterUpdate>::new().to_stream(scope));
    let aggregates = window_aggregates(&ingested, totals);
    let conversation_changes = follow_conversations(&ingested, config, &startup.restore);
    let (qa, qa_kpis) = qa_verdicts(&conversation_changes, config);
    let (kpis, sla_notices) = follow_tickets(&ingested, config, qa_kpis, &startup.restore);
    let (ticket_events, turns, clock) = logged(&ingested, config);
    let kpis_in = kpis.inner.clone().map(|((key, agg), t, diff)| (DetectIn::Kpi(key, agg, diff), t));
    // The detector mirrors the windows (and keeps samples) of the keys it judges: every single
    // dimension, and the combined keys a rule watches. Combined keys only an `[[aggregate]]`
    // names are for readers of Redis, and skip it.
    let judged = config.judged_combined_keys();
    let is_judged = move |key: &crate::config::Key| !key.is_combined() || judged.contains(key);
    let judged_windows = is_judged.clone();
    let windows_in = aggregates.inner.clone().flat_map(move |((key, agg), t, diff)| {
        judged_windows(&key.series.key).then_some((DetectIn::Window(key, agg, diff), t))
    });
    let samples = ingested.samples.flat_map(move |(item, t)| match &item {
        DetectIn::Sample(s) if !is_judged(&s.series.key) => None,
        _ => Some((item, t)),
    });
    // Samples and breakdowns go to the worker that owns their series (the same hash as
    // `WindowKey`).
    let samples = samples.exchange(|(item, _): &(DetectIn, Tick)| match item {
        DetectIn::Sample(s) => differential_dataflow::hashable::Hashable::hashed(&s.series),
        DetectIn::Breakdown(b) => differential_dataflow::hashable::Hashable::hashed(&b.series),
        _ => 0,
    });
    // Per-message, per-cluster and per-conversation notices are all judged on worker 0, so
    // each one-off alert has one owner (whose alert engine a restart restores it to).
    // Ticket KPI windows are few (agents, businesses): judged on worker 0 too, which owns the
    // threshold rules' alerts.
    let notices = ingested.notices.concat(conversation_changes).concat(sla_notices).concat(kpis_in).exchange(|_| 0);
    let detector_in = windows_in.concat(samples).concat(notices).concat(ingested.clock.broadcast());
    let detected = detect::detect(
        detector_in,
        config,
        startup.rules,
        startup.restore.windows.clone(),
        startup.restore.alerts.clone(),
        // The previous run judged the KPI windows that had closed by its clock.
        startup.restore.tickets.first().and(startup.restore.clock_ms()),
    );
    let alerts = detected.clone().flat_map(|d| match d {
        detect::Detected::Alert(a) => Some(*a),
        detect::Detected::Judgement(_) => None,
    });
    let judgements = detected.flat_map(|d| match d {
        detect::Detected::Judgement(j) => Some(j),
        detect::Detected::Alert(_) => None,
    });
    let dead_letters = ingested.dead;
    (
        input,
        Outputs {
            alerts,
            dead_letters,
            windows: aggregates,
            clusters,
            judgements,
            kpis,
            qa,
            ticket_events,
            turns,
            clock,
        },
    )
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

/// Why a pipeline could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("timely cluster arguments: {0}")]
    Cluster(String),
    #[error("a dataflow worker failed: {0}")]
    Worker(String),
}

/// Runs the pipeline on `workers` threads of this process, or as a timely cluster when
/// `cluster_args` (timely's `-n/-p/-h`) are given. Worker 0 of each process reads the feed;
/// ingest exchanges events by id, so any number of workers gives the same results.
///
/// Every worker hands its [`Outputs`] to `attach` (with the probe that must see whatever it
/// attaches); the feeding worker reports each checkpoint to `on_checkpoint`: the number of the
/// last feed batch whose effects have all passed the probe (see [`FeedSender`]).
#[allow(clippy::too_many_arguments)]
pub fn run<A, C>(
    config: &Config,
    metrics: Arc<Metrics>,
    feed: Feed,
    workers: usize,
    cluster_args: Vec<String>,
    startup: Startup,
    attach: A,
    on_checkpoint: C,
) -> Result<RunStats, RunError>
where
    A: for<'s> Fn(Outputs<'s>, &ProbeHandle<Tick>) + Send + Sync + 'static,
    C: Fn(u64) + Send + Sync + 'static,
{
    let timely_config = if cluster_args.is_empty() {
        timely::Config::process(workers.max(1))
    } else {
        let mut args = vec!["-w".to_string(), workers.max(1).to_string()];
        args.extend(cluster_args);
        timely::Config::from_args(args.into_iter()).map_err(RunError::Cluster)?
    };
    let feed = Arc::new(Mutex::new(Some(feed)));
    let config = config.clone();
    let tick_ms = config.ingest.tick.as_ms().max(1) as u64;
    let guards = timely::execute(timely_config, move |worker| {
        let probe = ProbeHandle::new();
        let input = worker.dataflow::<Tick, _, _>(|scope| {
            let (input, outputs) = build(scope, &config, metrics.clone(), startup.clone());
            attach(outputs, &probe);
            input
        });
        let is_leader = worker.index() % workers.max(1) == 0;
        let feed = if is_leader { feed.lock().unwrap().take() } else { None };
        let mut stats = RunStats::default();
        let started = Instant::now();
        match feed {
            None => drop(input),
            Some(Feed::Batches(rx)) => drive::batches(worker, input, &probe, rx, &mut stats, &metrics, &on_checkpoint),
            Some(Feed::Live(rx)) => {
                drive::live(worker, input, &probe, rx, tick_ms, &mut stats, &metrics, &on_checkpoint)
            }
        }
        // Every output has been produced once the probe's frontier is empty. Waiting for the
        // dataflow itself to be torn down could hang on arrangement maintenance work.
        while !probe.done() {
            worker.step_or_park(None);
        }
        stats.elapsed = started.elapsed();
        stats
    })
    .map_err(RunError::Worker)?;
    let mut results = guards.join().into_iter().collect::<Result<Vec<_>, _>>().map_err(RunError::Worker)?;
    Ok(results.swap_remove(0))
}
