//! What a restarted pipeline continues from.

use crate::alerts::Alert;
use crate::dataflow::clusters::ClusterSnapshot;
use crate::event::TicketEvent;
use crate::records::conversation::Turn;
use crate::records::window::{Agg, WindowKey};
use std::sync::Arc;

/// The state a previous run left (in Redis) for this one to continue from.
#[derive(Clone, Default)]
pub struct Restored {
    pub clusters: Option<ClusterSnapshot>,
    /// Window aggregates: they re-enter the collection at the first tick and seed the
    /// detectors' baselines, without being evaluated again.
    pub windows: Arc<Vec<(WindowKey, Agg)>>,
    /// Alert states (firing, or resolved and cooling down), so nothing re-fires.
    pub alerts: Arc<Vec<Alert>>,
    /// The ticket events a previous run logged: every ticket is folded again from them, its KPI
    /// windows recomputed and its open SLA clocks running on.
    pub tickets: Arc<Vec<TicketEvent>>,
    /// The conversation turns a previous run logged: every live conversation is folded again
    /// from them (hand-off and QA state continue; nothing is alerted twice).
    pub turns: Arc<Vec<Turn>>,
    /// The event clock the previous run's last checkpoint saved.
    pub clock: Option<i64>,
}

impl Restored {
    /// The previous run's event clock: the one its last checkpoint saved, or (from a version
    /// that did not save it) a lower bound, its latest window's start or logged event. What
    /// that clock had passed (SLA deadlines, idle conversations) the previous run judged; a
    /// restart folds its logs as of this time.
    pub fn clock_ms(&self) -> Option<i64> {
        let windows = self.windows.iter().map(|(key, _)| key.start_s * 1000);
        let tickets = self.tickets.iter().map(|e| e.ts_ms);
        let logged = windows.chain(tickets).chain(self.turns.iter().map(|t| t.ts_ms));
        logged.chain(self.clock).max()
    }
}
