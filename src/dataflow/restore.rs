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
}
