//! How batches of admitted events reach the dataflow, and how the dataflow hands spent batches
//! back: the meeting point of the sources (`crate::sources`, the HTTP server, the demo) and the
//! dataflow's feed loops (`crate::dataflow::run`).

use crate::event::Event;
use std::sync::mpsc::{sync_channel, Receiver, SendError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

/// How a pipeline is fed.
pub enum Feed {
    /// Replay: every batch is one tick, processed as fast as possible.
    Batches(Receiver<Vec<Event>>),
    /// Live: events arrive whenever; ticks follow the wall clock. Each checkpoint names the
    /// number of batches whose tick has completed (see [`FeedSender`]).
    Live(Receiver<Vec<Event>>),
}

/// The sending side of a live feed. Batches are numbered in the order the dataflow receives
/// them; a checkpoint ([`crate::sinks::WindowSink::checkpoint`], reported by `crate::dataflow::run`) names the last one absorbed
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

/// The way back for batches the dataflow is done with: the replay source frees them on its
/// decoding threads, which allocated their texts, instead of on the timely worker, the busiest
/// thread of a replay, which would pay a cross-thread free per event. Bounded: when the way
/// back is full (or gone), the worker frees the batch itself.
#[derive(Clone)]
pub struct Spent(pub std::sync::mpsc::SyncSender<Vec<Event>>);

impl Spent {
    pub(crate) fn give(&self, batch: Vec<Event>) {
        // Full or disconnected: the batch comes back in the error and is dropped here.
        let _ = self.0.try_send(batch);
    }
}
