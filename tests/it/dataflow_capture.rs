//! Capture tests of the whole pipeline (`dataflow::build`), as `dataflow_oracle` does for the
//! windows alone: the dataflow returns its streams, the test captures them and compares them
//! with a reference computed from scratch.
//! - Detect: the alerts and window judgements of the dataflow, with 1 and 3 workers, equal those
//!   of one `DetectorState` fed the window changes recomputed from scratch after every tick.
//! - Clusters: the published cluster updates, applied to the board the server reads, end as
//!   the established clusters of one `ClusterState` fed the same messages in (ts, id) order;
//!   the cluster windows and the new-cluster notices agree with that state's changes.

use feedpulse::alerts::Alert;
use feedpulse::config::{Config, Dimension};
use feedpulse::dataflow::clusters::{ClusterChange, ClusterParams, ClusterState, ClusterUpdate, Member};
use feedpulse::dataflow::detect::{DetectIn, DetectorState, LiveRules, WindowJudgement};
use feedpulse::dataflow::tick::Tick;
use feedpulse::dataflow::{build, Outputs, Startup};
use feedpulse::event::{Embedding, Event};
use feedpulse::records::notice::cluster_name;
use feedpulse::records::window::{window_start, Agg, Series, WindowKey};
use feedpulse::server::clusters::ClusterBoard;
use feedpulse::sinks::ClusterSink;
use feedpulse::util::SplitMix;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use timely::dataflow::operators::{Inspect, Probe};
use timely::dataflow::ProbeHandle;

/// What a run of the pipeline produced, in arrival order per worker.
#[derive(Default)]
struct Captured {
    alerts: Vec<Alert>,
    judgements: Vec<WindowJudgement>,
    clusters: Vec<ClusterUpdate>,
    /// Net window aggregates at the end.
    windows: BTreeMap<(WindowKey, Agg), isize>,
}

/// Runs `ticks` through the pipeline on `workers` threads; one batch per tick.
fn run_pipeline(config: &Config, ticks: &[Vec<Event>], workers: usize) -> Captured {
    let captured = Arc::new(Mutex::new(Captured::default()));
    let (config, ticks, sink) = (config.clone(), ticks.to_vec(), captured.clone());
    timely::execute(timely::Config::process(workers), move |worker| {
        let probe = ProbeHandle::new();
        let startup = Startup { restore: Default::default(), rules: LiveRules::new(&config.rules), spent: None };
        let mut input = worker.dataflow::<Tick, _, _>(|scope| {
            let (input, outputs) = build(scope, &config, Default::default(), startup);
            let Outputs {
                alerts,
                dead_letters,
                windows,
                clusters,
                judgements,
                kpis: _,
                qa: _,
                ticket_events: _,
                turns: _,
                clock: _,
            } = outputs;
            let to = sink.clone();
            alerts.inspect(move |a| to.lock().unwrap().alerts.push(a.clone())).probe_with(&probe);
            let to = sink.clone();
            judgements.inspect(move |j| to.lock().unwrap().judgements.push(j.clone())).probe_with(&probe);
            let to = sink.clone();
            clusters.inspect(move |u| to.lock().unwrap().clusters.push(u.clone())).probe_with(&probe);
            let to = sink.clone();
            windows
                .inner
                .inspect(move |(kv, _, diff)| *to.lock().unwrap().windows.entry(kv.clone()).or_default() += diff)
                .probe_with(&probe);
            dead_letters.inspect(|d| panic!("clean input, yet a dead letter: {d:?}")).probe_with(&probe);
            input
        });
        for (tick, batch) in ticks.iter().enumerate() {
            if worker.index() == 0 {
                input.send_batch(&mut batch.clone());
            }
            input.advance_to(tick as Tick + 1);
            while probe.less_than(input.time()) {
                worker.step();
            }
        }
        drop(input);
        while !probe.done() {
            worker.step();
        }
    })
    .expect("timely runs")
    .join();
    Arc::try_unwrap(captured).ok().expect("workers are done").into_inner().unwrap()
}

/// Clean ticks (in order, unique ids, so ingest accepts everything): steady traffic on three
/// categories and two channels, with a payment burst in minutes 40–41.
fn ticks(seed: u64, n: usize) -> Vec<Vec<Event>> {
    let mut rng = SplitMix::new(seed);
    let start = 1_700_000_000_000i64 - 1_700_000_000_000 % 60_000;
    let mut clock = start;
    let mut id = 0;
    (0..n)
        .map(|_| {
            let in_burst = (40 * 60_000..42 * 60_000).contains(&(clock - start));
            let count = if in_burst { 40 + rng.below(10) } else { 2 + rng.below(6) };
            (0..count)
                .map(|_| {
                    clock += if in_burst { 300 } else { 2_000 + rng.below(4_000) as i64 };
                    id += 1;
                    let category = if in_burst { "payment" } else { ["payment", "crash", "login"][rng.below(3)] };
                    Event {
                        id: format!("e{id}").into(),
                        ts_ms: clock,
                        channel: ["app", "web"][rng.below(2)].into(),
                        category: category.into(),
                        sentiment_milli: rng.below(2001) as i32 - 1000,
                        text: format!("{category} 反馈 {}", rng.below(5)),
                        ..Default::default()
                    }
                })
                .collect()
        })
        .collect()
}

/// The windows of everything accepted so far, recomputed from scratch (expired ones gone).
fn windows_from_scratch(config: &Config, accepted: &[Event], clock: i64) -> BTreeMap<WindowKey, Agg> {
    let negative_below = (config.enrich.negative_below * 1000.0).round() as i32;
    let mut state: BTreeMap<WindowKey, Agg> = BTreeMap::new();
    for ev in accepted {
        let agg = Agg::of_message(ev.sentiment_milli, ev.sentiment_milli < negative_below);
        let values = [
            (Dimension::Category, Some(ev.category.as_str())),
            (Dimension::Channel, Some(ev.channel.as_str())),
            (Dimension::Overall, Some("all")),
        ];
        for w in &config.windows {
            let (size_s, retention) = ((w.size.as_ms() / 1000) as u32, w.retention.as_ms());
            let start_s = window_start(ev.ts_ms, size_s);
            if (start_s + size_s as i64) * 1000 + retention <= clock {
                continue;
            }
            for (dim, value) in values {
                let Some(value) = value else { continue };
                let key = WindowKey { series: Series::new(dim, value), size_s, start_s };
                differential_dataflow::difference::Semigroup::plus_equals(state.entry(key).or_default(), &agg);
            }
        }
    }
    state
}

/// The detector's outputs over `ticks` when fed the from-scratch windows' changes directly.
fn detector_reference(config: &Config, ticks: &[Vec<Event>]) -> (Vec<Alert>, Vec<WindowJudgement>) {
    let mut detector = DetectorState::new(config);
    let (mut accepted, mut before, mut clock) = (Vec::new(), BTreeMap::new(), i64::MIN);
    let (mut alerts, mut judgements) = (Vec::new(), Vec::new());
    for batch in ticks {
        accepted.extend(batch.iter().cloned());
        clock = batch.iter().map(|e| e.ts_ms).fold(clock, i64::max);
        let after = windows_from_scratch(config, &accepted, clock);
        let mut items = Vec::new();
        for (key, agg) in &before {
            if after.get(key) != Some(agg) {
                items.push(DetectIn::Window(key.clone(), *agg, -1));
            }
        }
        for (key, agg) in &after {
            if before.get(key) != Some(agg) {
                items.push(DetectIn::Window(key.clone(), *agg, 1));
            }
        }
        if clock != i64::MIN {
            items.push(DetectIn::Clock(clock));
        }
        alerts.extend(detector.process_tick(items));
        judgements.extend(detector.take_judgements());
        before = after;
    }
    (alerts, judgements)
}

/// An alert without its explanation (the samples it shows come from a stream the reference
/// does not model) in a canonical order.
fn comparable(alerts: &[Alert]) -> Vec<String> {
    let mut v: Vec<String> = alerts
        .iter()
        .map(|a| {
            let mut a = a.clone();
            a.explanation = Default::default();
            a.summary.clear();
            serde_json::to_string(&a).unwrap()
        })
        .collect();
    v.sort();
    v
}

fn sorted(judgements: &[WindowJudgement]) -> Vec<String> {
    let mut v: Vec<String> = judgements.iter().map(|j| format!("{j:?}")).collect();
    v.sort();
    v
}

#[test]
fn the_dataflows_alerts_and_judgements_equal_the_detector_on_recomputed_windows() {
    let mut config = Config::embedded();
    config.cluster = None;
    for seed in 1..=3 {
        let ticks = ticks(seed, 160);
        let (alerts, judgements) = detector_reference(&config, &ticks);
        assert!(alerts.iter().any(|a| a.rule_name() == "category_spike"), "seed {seed}: the burst fires");
        assert!(judgements.len() > 500, "seed {seed}: many windows judged ({})", judgements.len());
        for workers in [1, 3] {
            let got = run_pipeline(&config, &ticks, workers);
            assert_eq!(comparable(&got.alerts), comparable(&alerts), "seed {seed}, {workers} workers: alerts");
            assert_eq!(sorted(&got.judgements), sorted(&judgements), "seed {seed}, {workers} workers: judgements");
            assert!(got.clusters.is_empty(), "no clusterer, no cluster updates");
        }
    }
}

const DIM: usize = feedpulse::enrich::encoder::DIM;

/// A unit vector near axis `topic`, jittered on a few other axes.
fn embedding(topic: usize, rng: &mut SplitMix) -> Embedding {
    let mut v = vec![0.0f32; DIM];
    v[topic * 7] = 1.0;
    for _ in 0..3 {
        v[rng.below(DIM)] += (rng.below(100) as f32 - 50.0) / 400.0;
    }
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    Embedding::quantize(&v.iter().map(|x| x / norm).collect::<Vec<_>>())
}

/// Two steady topics from the start; a third appears after the warm-up.
fn clustered_ticks(seed: u64, n: usize, warmup_ms: i64) -> Vec<Vec<Event>> {
    let mut rng = SplitMix::new(seed);
    let start = 1_700_000_000_000i64;
    let mut clock = start;
    let mut id = 0;
    (0..n)
        .map(|_| {
            (0..3 + rng.below(4))
                .map(|_| {
                    clock += 1_000 + rng.below(3_000) as i64;
                    id += 1;
                    let late = clock - start > warmup_ms + 10 * 60_000;
                    let topic = if late && rng.below(3) == 0 { 2 } else { rng.below(2) };
                    Event {
                        id: format!("m{id}").into(),
                        ts_ms: clock,
                        channel: "app".into(),
                        category: ["payment", "crash", "refund"][topic].into(),
                        sentiment_milli: -300,
                        text: ["扣款失败", "闪退", "退款没到账"][topic].into(),
                        embedding: embedding(topic, &mut rng),
                        ..Default::default()
                    }
                })
                .collect()
        })
        .collect()
}

#[test]
fn published_cluster_updates_rebuild_the_clusterers_own_state() {
    let mut config = Config::embedded();
    // A short warm-up, so a topic that appears later is new within a short stream.
    config.cluster.as_mut().expect("the embedded configuration clusters").warmup =
        feedpulse::config::HumanDuration(std::time::Duration::from_secs(600));
    let params = ClusterParams::from_config(&config).expect("clustering is on");
    let negative_below = (config.enrich.negative_below * 1000.0).round() as i32;
    let ticks = clustered_ticks(7, 220, params.warmup_ms);

    // The reference: one clusterer fed the same messages tick by tick in (ts, id) order.
    let mut state = ClusterState::new(params.clone(), DIM);
    let (mut changes, mut new_clusters) = (Vec::new(), Vec::new());
    let mut cluster_counts: BTreeMap<(String, u32, i64), i64> = BTreeMap::new();
    for batch in &ticks {
        let mut events = batch.clone();
        events.sort_by(|a, b| (a.ts_ms, &a.id).cmp(&(b.ts_ms, &b.id)));
        for ev in &events {
            let member = Member::of_event(ev, negative_below);
            changes.clear();
            state.absorb(&member, &mut changes);
            for change in &changes {
                match change {
                    ClusterChange::Joined { cluster, counted: true } => {
                        for w in &config.windows {
                            let size_s = (w.size.as_ms() / 1000) as u32;
                            let key = (cluster_name(*cluster), size_s, window_start(ev.ts_ms, size_s));
                            *cluster_counts.entry(key).or_default() += 1;
                        }
                    }
                    ClusterChange::New(n) => new_clusters.push(n.id),
                    _ => {}
                }
            }
        }
    }
    let established: Vec<_> =
        state.snapshot_established().clusters.iter().filter_map(|c| state.summary(c.id)).collect();
    assert!(established.len() >= 3, "three topics are established: {established:?}");
    assert!(!new_clusters.is_empty(), "the late topic is new");

    let got = run_pipeline(&config, &ticks, 1);
    let board = ClusterBoard::default();
    for update in &got.clusters {
        board.clusters(update);
    }
    let mut expected = established.clone();
    expected.sort_by(|a, b| a.id.cmp(&b.id));
    let mut shown = board.list();
    shown.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(shown, expected, "the board ends as the clusterer's established clusters");
    assert!(got.clusters.last().and_then(|u| u.snapshot.as_ref()).is_some(), "the last update carries a snapshot");

    // Cluster windows: the dataflow's live cluster-series windows equal the reference's counts
    // for the windows not yet expired.
    let live: BTreeMap<(String, u32, i64), i64> = got
        .windows
        .iter()
        .filter(|((k, _), n)| **n > 0 && k.series.is(Dimension::Cluster))
        .map(|((k, a), _)| ((k.series.value.to_string(), k.size_s, k.start_s), a.count))
        .collect();
    assert!(!live.is_empty(), "established clusters have windows");
    for (key, count) in &live {
        assert_eq!(cluster_counts.get(key), Some(count), "cluster window {key:?}");
    }
    let new_cluster_alerts = got.alerts.iter().filter(|a| a.rule == "new_cluster").count();
    assert_eq!(new_cluster_alerts, new_clusters.len(), "one new-cluster alert per new cluster");
}
