//! The bounded queue in front of every delivery thread (Redis, Alertmanager, webhooks): the
//! dataflow hands over and goes on, never waiting for a network; a full queue sheds and counts;
//! `flush` waits for everything queued before it.

use crate::telemetry::events::{InternalEvent, SinkShed};
use crate::telemetry::Metrics;
use std::sync::mpsc::{sync_channel, Receiver, Sender, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Duration;

/// What the delivery thread receives.
pub enum Envelope<M> {
    Item(M),
    /// Answered once everything queued before it was delivered (or given up on).
    Flush(Sender<()>),
}

pub struct Outbox<M> {
    queue: SyncSender<Envelope<M>>,
    sink: &'static str,
    metrics: Arc<Metrics>,
}

/// Why an item was not queued; it comes back to the caller.
pub enum Refused<M> {
    Full(M),
    Stopped(M),
}

impl<M: Send + 'static> Outbox<M> {
    /// Starts `deliver` on a thread named `thread`, reading a queue of `capacity` items.
    pub fn start(
        thread: String,
        sink: &'static str,
        capacity: usize,
        metrics: Arc<Metrics>,
        deliver: impl FnOnce(Receiver<Envelope<M>>) + Send + 'static,
    ) -> std::io::Result<Self> {
        let (queue, items) = sync_channel(capacity.max(1));
        std::thread::Builder::new().name(thread).spawn(move || deliver(items))?;
        Ok(Outbox { queue, sink, metrics })
    }

    /// Queues `item`; when the queue is full or the thread has stopped, drops it and counts
    /// `queue_full` or `stopped` for this sink.
    pub fn push(&self, item: M) {
        match self.try_push(item) {
            Ok(()) => {}
            Err(Refused::Full(_)) => SinkShed { sink: self.sink, kind: "queue_full" }.emit(&self.metrics),
            Err(Refused::Stopped(_)) => SinkShed { sink: self.sink, kind: "stopped" }.emit(&self.metrics),
        }
    }

    /// Queues `item`, or hands it back (uncounted) for the caller to keep.
    pub fn try_push(&self, item: M) -> Result<(), Refused<M>> {
        self.queue.try_send(Envelope::Item(item)).map_err(|e| match e {
            TrySendError::Full(Envelope::Item(m)) => Refused::Full(m),
            TrySendError::Disconnected(Envelope::Item(m)) => Refused::Stopped(m),
            _ => unreachable!("only items are tried"),
        })
    }

    /// Waits, at most `timeout`, until everything queued before now has been handled.
    pub fn flush(&self, timeout: Duration) {
        let (done, wait) = std::sync::mpsc::channel();
        if self.queue.send(Envelope::Flush(done)).is_ok() {
            let _ = wait.recv_timeout(timeout);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_sheds_and_counts_and_flush_waits_for_what_came_before() {
        let metrics = Arc::new(Metrics::default());
        let (gate_tx, gate) = std::sync::mpsc::channel::<()>();
        let delivered = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = delivered.clone();
        let outbox = Outbox::start("test-outbox".into(), "test", 2, metrics.clone(), move |items| {
            gate.recv().unwrap(); // hold the thread until the queue has filled
            for envelope in items {
                match envelope {
                    Envelope::Item(n) => seen.lock().unwrap().push(n),
                    Envelope::Flush(done) => done.send(()).unwrap(),
                }
            }
        })
        .unwrap();
        for n in 0..5 {
            outbox.push(n);
        }
        assert_eq!(metrics.sink_errors_total("test"), 3, "two fit, three shed");
        gate_tx.send(()).unwrap();
        outbox.flush(Duration::from_secs(5));
        assert_eq!(*delivered.lock().unwrap(), [0, 1]);
    }
}
