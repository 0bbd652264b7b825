//! The drivers that feed the dataflow: replay batches as fast as the probe allows, or live
//! events on wall-clock ticks, reporting each checkpoint (docs/architecture.md § Checkpoints).

use super::{EventInput, RunStats, Tick};
use crate::event::Event;
use crate::telemetry::Metrics;
use std::collections::VecDeque;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};
use timely::dataflow::ProbeHandle;
use timely::worker::Worker;

/// Ticks allowed in flight before the feeder waits for the dataflow.
const MAX_TICKS_IN_FLIGHT: u64 = 16;

/// Replay: every batch is one tick; the checkpoint follows the completed ticks.
pub(super) fn batches(
    worker: &mut Worker,
    mut input: EventInput,
    probe: &ProbeHandle<Tick>,
    rx: Receiver<Vec<Event>>,
    stats: &mut RunStats,
    metrics: &Metrics,
    on_checkpoint: &dyn Fn(u64),
) {
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
        if let Some(last) = record_completed(probe, &mut in_flight, stats, metrics) {
            on_checkpoint(last);
        }
    }
    let end = *input.time();
    drop(input);
    while probe.less_than(&end) {
        worker.step();
    }
    if let Some(last) = record_completed(probe, &mut in_flight, stats, metrics) {
        on_checkpoint(last);
    }
}

/// Live: events are given to the open tick; a tick closes with the wall clock.
#[allow(clippy::too_many_arguments)]
pub(super) fn live(
    worker: &mut Worker,
    mut input: EventInput,
    probe: &ProbeHandle<Tick>,
    rx: Receiver<Vec<Event>>,
    tick_ms: u64,
    stats: &mut RunStats,
    metrics: &Metrics,
    on_checkpoint: &dyn Fn(u64),
) {
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
        if let Some(last) = record_completed(probe, &mut in_flight, stats, metrics) {
            absorbed = last;
        }
        // A clean cut: every closed tick is complete and the open one has produced
        // no window yet (the totals wait for their frontier). Dead-lettered
        // entries are acknowledged here even when no tick had events.
        on_checkpoint(absorbed);
    }
    let end = *input.time() + 1;
    drop(input);
    while probe.less_than(&end) {
        worker.step();
    }
    record_completed(probe, &mut in_flight, stats, metrics);
    on_checkpoint(received);
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
