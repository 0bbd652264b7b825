//! Attaches delivery to what the dataflow computes: the dataflow (`crate::dataflow`) builds
//! streams of alerts, dead letters, window aggregates, cluster updates and window judgements;
//! here each stream is handed to its sinks, every delivery is put before the probe the feed
//! waits on, and the dataflow's checkpoints are acted on. The split follows Vector's
//! `src/topology` and Materialize's "build the collections, then `export_sink`".

use crate::config::Config;
use crate::dataflow::tick::Tick;
use crate::dataflow::{self, Outputs, RunError, RunStats, Startup};
use crate::feed::Feed;
use crate::sinks::Fanout;
use crate::telemetry::Metrics;
use std::sync::Arc;
use timely::dataflow::operators::{Inspect, Probe};
use timely::dataflow::ProbeHandle;

/// Hands each of the dataflow's output streams to its sinks. A stream's deliveries happen
/// before the probe passes its tick, so a checkpoint (which waits on the probe) covers them.
pub fn attach(outputs: Outputs<'_>, sinks: &Fanout, metrics: &Arc<Metrics>, probe: &ProbeHandle<Tick>) {
    let Outputs { alerts, dead_letters, windows, clusters, judgements, kpis, qa, ticket_events, turns, clock } =
        outputs;
    let (to, metrics) = (sinks.clone(), metrics.clone());
    alerts
        .inspect(move |a| {
            metrics.alert(a.rule_name(), a.status.as_str());
            to.alert(a);
        })
        .probe_with(probe);
    let to = sinks.clone();
    dead_letters.inspect(move |d| to.dead_letter(d)).probe_with(probe);
    if !sinks.windows.is_empty() {
        let to = sinks.clone();
        windows
            .inner
            .inspect(move |((key, agg), _, diff)| {
                if *diff > 0 {
                    to.window(key, agg);
                }
            })
            .probe_with(probe);
    }
    if let (Some(events), false) = (ticket_events, sinks.windows.is_empty()) {
        let to = sinks.clone();
        events.inspect(move |e| to.ticket(e)).probe_with(probe);
    }
    if let (Some(clock), false) = (clock, sinks.windows.is_empty()) {
        let to = sinks.clone();
        clock.inspect(move |ms| to.clock(*ms)).probe_with(probe);
    }
    if let (Some(turns), false) = (turns, sinks.windows.is_empty()) {
        let to = sinks.clone();
        turns.inspect(move |t| to.turn(t)).probe_with(probe);
    }
    if !sinks.kpis.is_empty() {
        let to = sinks.clone();
        kpis.inner
            .inspect(move |((key, kpis), _, diff)| {
                if *diff > 0 {
                    to.kpi(key, kpis);
                }
            })
            .probe_with(probe);
    }
    if !sinks.qa.is_empty() {
        let to = sinks.clone();
        qa.inspect(move |v| to.scored(v)).probe_with(probe);
    }
    if !sinks.clusters.is_empty() {
        let to = sinks.clone();
        clusters.inspect(move |update| to.clusters(update)).probe_with(probe);
    }
    if !sinks.judgements.is_empty() {
        let to = sinks.clone();
        judgements.inspect(move |j| to.judged(j)).probe_with(probe);
    }
}

/// Runs the pipeline with its outputs attached to `sinks`: each checkpoint the dataflow
/// reports goes to the window sinks (a durable one writes its windows out together with the
/// acknowledgement of exactly the batches they reflect), and buffered sinks are flushed at
/// the end.
pub fn run(
    config: &Config,
    metrics: Arc<Metrics>,
    sinks: Fanout,
    feed: Feed,
    workers: usize,
    cluster_args: Vec<String>,
    startup: Startup,
) -> Result<RunStats, RunError> {
    let (attached, checkpoints) = (sinks.clone(), sinks.clone());
    let attach_metrics = metrics.clone();
    let stats = dataflow::run(
        config,
        metrics,
        feed,
        workers,
        cluster_args,
        startup,
        move |outputs, probe| attach(outputs, &attached, &attach_metrics, probe),
        move |absorbed_through| checkpoints.checkpoint(absorbed_through),
    );
    sinks.flush();
    stats
}
