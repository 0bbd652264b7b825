//! Ticket KPIs through the whole pipeline (`dataflow::build`: ingest → tickets → window totals)
//! against a from-scratch recomputation after every tick: random tickets whose lifecycle events
//! arrive late, out of order and split over ticks, with SLA deadlines passing between ticks and
//! late in-time answers taking breaches back. After each tick the live KPI windows (counts,
//! breaches and every duration histogram) must be exactly `kpis_of` over every event so far at
//! the tick's clock, less the windows expired by then; with 1 and 3 workers.

use feedpulse::config::{Config, HumanDuration, SlaConfig};
use feedpulse::config::{SlaKind, Span, TicketStatus};
use feedpulse::dataflow::detect::LiveRules;
use feedpulse::dataflow::tick::Tick;
use feedpulse::dataflow::tickets::{kpis_of, TicketParams};
use feedpulse::dataflow::{build, Outputs, Startup};
use feedpulse::event::Event;
use feedpulse::event::TicketEvent;
use feedpulse::records::ticket::TicketAgg;
use feedpulse::records::window::WindowKey;
use feedpulse::util::SplitMix;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use timely::dataflow::operators::{Inspect, Probe};
use timely::dataflow::ProbeHandle;

fn config() -> Config {
    let mut config = Config::embedded();
    let minutes = |m: u64| HumanDuration(Duration::from_secs(60 * m));
    config.windows.retain(|w| [60, 3600].contains(&w.size.as_secs()));
    for w in &mut config.windows {
        w.retention = if w.size.as_secs() == 60 { minutes(10) } else { minutes(90) };
    }
    config.tickets.idle = minutes(24 * 60);
    // Every window size; resolved tickets kept as long as open ones, as the recomputation has them.
    config.tickets.windows = Vec::new();
    config.tickets.keep_resolved = config.tickets.idle;
    config.tickets.sla = vec![SlaConfig {
        name: "desk".into(),
        business: None,
        first_response: Some(HumanDuration(Duration::from_secs(30))),
        takeover: Some(HumanDuration(Duration::from_secs(20))),
        resolution: Some(minutes(10)),
        severity: "warning".into(),
    }];
    config
}

/// Ticks of ticket events: 30 tickets walking through their lifecycles, the clock moving
/// 0–15 s a tick, events up to 3 minutes late.
fn random_ticks(seed: u64, ticks: usize) -> Vec<Vec<Event>> {
    use TicketStatus::*;
    let mut rng = SplitMix::new(seed);
    let mut clock = 1_767_225_600_000i64;
    let mut next = 0;
    let paths = [
        &[Opened, FirstResponse, Assigned, Resolved][..],
        &[Opened, Assigned, FirstResponse, HandedOff, Assigned, Resolved, Reopened, FirstResponse, Resolved][..],
        &[Opened, HandedOff, Assigned, FirstResponse][..],
        &[Opened][..],
    ];
    let mut progress: Vec<(usize, usize)> = (0..30).map(|i| (i % paths.len(), 0)).collect();
    (0..ticks)
        .map(|_| {
            clock += rng.below(15_001) as i64;
            (0..rng.below(5))
                .filter_map(|_| {
                    let t = rng.below(progress.len());
                    let (path, step) = progress[t];
                    let status = *paths[path].get(step)?;
                    progress[t].1 += 1;
                    next += 1;
                    let agent = [None, Some("a-1"), Some("a-2")][rng.below(3)];
                    // A team in `meta`, which ingest reads into the ticket event.
                    let team = [None, Some("north"), Some("south")][rng.below(3)];
                    let ticket = TicketEvent {
                        ticket: format!("T{t}-{seed}").into(),
                        id: format!("e{next}").into(),
                        ts_ms: clock - rng.below(180_001) as i64,
                        seq: step as i64,
                        status: Some(status),
                        agent: agent.map(Into::into),
                        team: team.map(Into::into),
                        business: Some(["loan", "card"][t % 2].into()),
                    };
                    Some(Event {
                        id: ticket.id.clone(),
                        ts_ms: ticket.ts_ms,
                        channel: "ticket".into(),
                        category: "other".into(),
                        business: ticket.business.clone(),
                        meta: team.map(|t| format!(r#"{{"team":"{t}"}}"#)),
                        ticket: Some(Box::new(ticket)),
                        ..Default::default()
                    })
                })
                .collect()
        })
        .collect()
}

/// How often each (window, KPIs) has been added, net of retractions.
type Net = BTreeMap<(WindowKey, TicketAgg), isize>;

/// Live KPI windows after each tick.
fn run(config: &Config, ticks: &[Vec<Event>], workers: usize) -> Vec<BTreeMap<WindowKey, TicketAgg>> {
    let per_tick: Arc<Mutex<Vec<Net>>> = Arc::default();
    let (config, ticks, sink) = (config.clone(), ticks.to_vec(), per_tick.clone());
    timely::execute(timely::Config::process(workers), move |worker| {
        let probe = ProbeHandle::new();
        let startup = Startup { restore: Default::default(), rules: LiveRules::new(&config.rules), spent: None };
        let net: Arc<Mutex<Net>> = Arc::default();
        let to = net.clone();
        let mut input = worker.dataflow::<Tick, _, _>(|scope| {
            let (input, outputs) = build(scope, &config, Default::default(), startup);
            let Outputs { kpis, dead_letters, .. } = outputs;
            kpis.inner
                .inspect(move |(kv, _, diff)| *to.lock().unwrap().entry(kv.clone()).or_default() += diff)
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
            // Every worker has passed the tick: each adds its own windows to the tick's view.
            let mut all = sink.lock().unwrap();
            if all.len() <= tick {
                all.push(BTreeMap::new());
            }
            for (kv, n) in net.lock().unwrap().iter().filter(|(_, n)| **n != 0) {
                *all[tick].entry(kv.clone()).or_default() += n;
            }
        }
    })
    .expect("timely runs")
    .join();
    let per_tick = std::mem::take(&mut *per_tick.lock().unwrap());
    per_tick
        .into_iter()
        .map(|net| {
            let mut live = BTreeMap::new();
            for ((key, agg), n) in net {
                assert!(n == 0 || n == 1, "{key:?} counted {n} times");
                if n == 1 {
                    assert!(live.insert(key, agg).is_none(), "one total per window");
                }
            }
            live
        })
        .collect()
}

#[test]
fn ticket_kpis_equal_recomputation_at_every_tick() {
    let config = config();
    let params = TicketParams::from_config(&config.tickets, &config.calendar, &config.windows);
    let retention: BTreeMap<u32, i64> =
        config.windows.iter().map(|w| (w.size.as_secs(), w.retention.as_ms())).collect();
    let (mut late, mut breaches, mut windows) = (0, 0, 0);
    for seed in 1..=3 {
        let ticks = random_ticks(seed, 150);
        let per_worker: Vec<_> = [1, 3].iter().map(|w| run(&config, &ticks, *w)).collect();
        let (mut seen, mut clock) = (Vec::new(), i64::MIN);
        for (tick, batch) in ticks.iter().enumerate() {
            late += batch.iter().filter(|e| e.ts_ms < clock).count();
            clock = clock.max(batch.iter().map(|e| e.ts_ms).max().unwrap_or(i64::MIN));
            seen.extend(batch.iter().map(|e| (**e.ticket.as_ref().unwrap()).clone()));
            let mut want = kpis_of(&seen, clock, &params);
            want.retain(|key, _| (key.start_s + key.size_s as i64) * 1000 + retention[&key.size_s] > clock);
            for (workers, got) in [1, 3].iter().zip(&per_worker) {
                assert_eq!(got[tick], want, "seed {seed}, tick {tick}, {workers} workers");
            }
            windows += want.len();
        }
        let all = kpis_of(&seen, clock, &params);
        let overall = all.iter().filter(|(k, _)| k.series.value == "all" && k.size_s == 3600);
        breaches += overall.map(|(_, a)| SlaKind::ALL.iter().map(|k| a.breaches(*k)).sum::<i64>()).sum::<i64>();
        let last = per_worker[0].last().unwrap();
        assert!(last.values().any(|a| a.span(Span::Takeover).count > 0 && a.span(Span::Handling).count > 0));
        assert!(
            last.keys().any(|k| k.series.is(feedpulse::config::Dimension::Team)),
            "teams from the events' meta have windows"
        );
    }
    assert!(
        late > 100 && breaches > 20 && windows > 5_000,
        "exercised: {late} late events, {breaches} breaches, {windows} windows compared"
    );
}
