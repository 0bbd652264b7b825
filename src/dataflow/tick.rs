//! The dataflow's time, and the buffer operators use to act on whole ticks.
//!
//! Time is a processing tick; the event-time window is part of the data key. In replay each
//! input batch is one tick, so results depend only on the input and the batch size; live, the
//! tick is the wall clock divided by `ingest.tick`.

pub type Tick = u64;

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
