//! The `Tickets` operator: each ticket's lifecycle, from its events, on the worker its id
//! hashes to, turned into service KPIs (additions to KPI windows) and SLA notices.
//!
//! A ticket's contribution to the windows is a function of its events in order and of the
//! event clock (an SLA is breached once the clock passes its deadline unanswered). When an
//! event arrives, or the clock passes one of its deadlines, the ticket is folded again from its
//! kept events: the old contribution is retracted and the new one added. So KPIs never depend
//! on arrival order, and a late first response that was in time takes its breach back.
//! A ticket idle for `[tickets] idle` of event time is forgotten (its windows stay).

use super::tick::{Tick, TickBuffer};
use crate::config::{Severity, TicketsConfig, WindowConfig};
use crate::config::{SlaKind, Span, TicketStatus};
use crate::event::SmolStr;
use crate::event::TicketEvent;
use crate::records::ticket::{Part, SlaNotice, TicketAgg};
use crate::records::window::{Series, WindowKey};
use crate::util::calendar::Calendar;
use differential_dataflow::difference::IsZero;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::StreamVec;

/// What the operator hears: ticket events (exchanged by ticket) and every worker's event clock.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum TicketIn {
    Event(Box<TicketEvent>),
    /// An event a previous run had folded (the Redis ticket log), and that run's clock as far as
    /// it is known: folded again as of that time, for its KPIs and SLA clocks; the SLA notices
    /// up to then were that run's to judge.
    Restored(Box<TicketEvent>, i64),
    Clock(i64),
}

/// What it says: additions to KPI windows, and SLA breaches.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum TicketOut {
    Kpi(WindowKey, TicketAgg),
    Sla(SlaNotice),
}

/// The deadlines of one `[[sla]]` (ms; `None`: not watched), and the businesses it covers.
#[derive(Clone, Debug, PartialEq)]
pub struct SlaParams {
    pub name: SmolStr,
    pub severity: Severity,
    pub business: Option<Vec<String>>,
    pub deadlines: [Option<i64>; 3],
}

#[derive(Clone, Debug, Default)]
pub struct TicketParams {
    pub idle_ms: i64,
    /// How long a resolved ticket is kept after its last event.
    pub keep_resolved_ms: i64,
    /// Events kept per ticket to reorder late ones; older ones are folded into a base.
    pub max_events: usize,
    /// The KPI window sizes (seconds).
    pub sizes: Vec<u32>,
    pub calendar: Calendar,
    pub slas: Vec<SlaParams>,
}

impl TicketParams {
    pub fn from_config(tickets: &TicketsConfig, calendar: &Calendar, windows: &[WindowConfig]) -> Self {
        TicketParams {
            idle_ms: tickets.idle.as_ms(),
            keep_resolved_ms: tickets.keep_resolved.as_ms(),
            max_events: tickets.max_events,
            sizes: kpi_sizes(tickets, windows),
            calendar: calendar.clone(),
            slas: tickets
                .sla
                .iter()
                .map(|s| SlaParams {
                    name: s.name.as_str().into(),
                    severity: s.severity(),
                    business: s.business.clone(),
                    deadlines: [s.first_response, s.takeover, s.resolution].map(|d| d.map(|d| d.as_ms())),
                })
                .collect(),
        }
    }

    /// The SLA a ticket of `business` follows: the first `[[tickets.sla]]` that covers it.
    fn policy(&self, business: Option<&str>) -> Option<&SlaParams> {
        self.slas.iter().find(|s| match (&s.business, business) {
            (None, _) => true,
            (Some(list), Some(b)) => list.iter().any(|x| x == b),
            (Some(_), None) => false,
        })
    }
}

/// The window sizes (s) KPIs are kept at: `[tickets] windows`, or every dataflow window.
pub fn kpi_sizes(tickets: &TicketsConfig, windows: &[WindowConfig]) -> Vec<u32> {
    tickets.sizes(windows.iter().map(|w| w.size)).iter().map(|s| s.as_secs()).collect()
}

/// A ticket's fold up to some event: the open episode and who has it.
#[derive(Clone, Debug, Default, PartialEq)]
struct Fold {
    business: Option<SmolStr>,
    holder: Holder,
    episode: Option<Episode>,
}

/// Who has a ticket: the agent an event last named, and that event's team (an event naming
/// only a team changes the team).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
struct Holder {
    agent: Option<SmolStr>,
    team: Option<SmolStr>,
}

#[derive(Clone, Debug, Default, PartialEq)]
struct Episode {
    start_ms: i64,
    assigned_ms: Option<i64>,
    first_response_ms: Option<i64>,
    /// The hand-off waiting for a person.
    handed_off_ms: Option<i64>,
}

/// One SLA clock of a ticket: started at `started_ms`, due at `deadline_ms`, answered (or not).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct SlaClock {
    kind: SlaKind,
    policy: SmolStr,
    severity: Severity,
    started_ms: i64,
    deadline_ms: i64,
    answered_ms: Option<i64>,
    /// Who had the ticket when the clock started.
    holder: Holder,
}

impl SlaClock {
    fn breached(&self, clock_ms: i64) -> bool {
        match self.answered_ms {
            Some(at) => at > self.deadline_ms,
            None => clock_ms >= self.deadline_ms,
        }
    }
}

/// A part of a ticket's KPIs: where in event time it lands, for which agent and team.
type Piece = (i64, Holder, Part);

/// What a ticket contributes, as of its events and the clock: KPI pieces (at a time, for an
/// agent) — those of its events, and its breaches as of the clock — and its SLA clocks.
#[derive(Debug, Default, PartialEq)]
pub struct Contribution {
    pieces: Vec<Piece>,
    breaches: Vec<Piece>,
    clocks: Vec<SlaClock>,
    business: Option<SmolStr>,
}

impl Contribution {
    fn all_pieces(&self) -> impl Iterator<Item = &Piece> {
        self.pieces.iter().chain(&self.breaches)
    }

    /// The breach pieces of the clocks as of `clock_ms`.
    fn judge_breaches(&mut self, clock_ms: i64) {
        self.breaches.clear();
        for c in self.clocks.iter().filter(|c| c.breached(clock_ms)) {
            self.breaches.push((c.deadline_ms, c.holder.clone(), Part::Breach(c.kind)));
        }
    }
}

/// Folds `events` (in order) onto `base`: the KPI pieces they make, and their SLA clocks.
fn fold(base: &Fold, events: &[TicketEvent], clock_ms: i64, params: &TicketParams) -> (Fold, Contribution) {
    let mut f = base.clone();
    let mut out = Contribution::default();
    if f.business.is_none() {
        f.business = events.iter().find_map(|e| e.business.clone());
    }
    fold_onto(&mut f, &mut out, events, params);
    out.business = f.business.clone();
    out.judge_breaches(clock_ms);
    (f, out)
}

/// Folds `events` (in order, all after those already folded) onto a fold and its
/// contribution, whose business is settled.
fn fold_onto(f: &mut Fold, out: &mut Contribution, events: &[TicketEvent], params: &TicketParams) {
    let policy = params.policy(f.business.as_deref());
    // The clock of `kind` started at `at`, if the ticket's SLA watches it.
    let start = |kind: SlaKind, at: i64, holder: &Holder| {
        let p = policy?;
        let deadline_ms = at + p.deadlines[kind as usize]?;
        let (policy, severity, holder) = (p.name.clone(), p.severity, holder.clone());
        Some(SlaClock { kind, policy, severity, started_ms: at, deadline_ms, answered_ms: None, holder })
    };
    let span = |out: &mut Contribution, at: i64, holder: &Holder, span: Span, from: i64| {
        out.pieces.push((at, holder.clone(), Part::Span(span, at - from)));
    };
    for ev in events {
        let status = ev.status();
        if ev.agent.is_some() {
            f.holder = Holder { agent: ev.agent.clone(), team: ev.team.clone() };
        } else if ev.team.is_some() {
            f.holder.team.clone_from(&ev.team);
        }
        out.pieces.push((ev.ts_ms, f.holder.clone(), Part::Transition(status)));
        let at = ev.ts_ms;
        match (status, &mut f.episode) {
            (TicketStatus::Opened, None) | (TicketStatus::Reopened, _) => {
                f.episode = Some(Episode { start_ms: at, ..Default::default() });
                out.clocks.extend(
                    [SlaKind::FirstResponse, SlaKind::Resolution]
                        .map(|k| start(k, at, &f.holder))
                        .into_iter()
                        .flatten(),
                );
            }
            (TicketStatus::Opened, Some(_)) => {}
            (TicketStatus::Assigned, Some(ep)) => {
                ep.assigned_ms.get_or_insert(at);
                if let Some(from) = ep.handed_off_ms.take() {
                    span(out, at, &f.holder, Span::Takeover, from);
                    answer(&mut out.clocks, SlaKind::Takeover, at);
                }
            }
            (TicketStatus::FirstResponse, Some(ep)) => {
                if ep.first_response_ms.is_none() {
                    ep.first_response_ms = Some(at);
                    span(out, at, &f.holder, Span::FirstResponse, ep.start_ms);
                    answer(&mut out.clocks, SlaKind::FirstResponse, at);
                }
            }
            (TicketStatus::HandedOff, Some(ep)) => {
                if ep.handed_off_ms.is_none() {
                    ep.handed_off_ms = Some(at);
                    out.clocks.extend(start(SlaKind::Takeover, at, &f.holder));
                }
            }
            (TicketStatus::Resolved, Some(ep)) => {
                let ep = ep.clone();
                span(out, at, &f.holder, Span::Resolution, ep.start_ms);
                if let Some(from) = ep.assigned_ms.or(ep.first_response_ms) {
                    span(out, at, &f.holder, Span::Handling, from);
                }
                for kind in SlaKind::ALL {
                    answer(&mut out.clocks, kind, at);
                }
                f.episode = None;
            }
            // A transition outside an episode (its opening not seen yet) is counted, not timed.
            (_, None) => {}
        }
    }
}

/// The open clocks of `kind` are answered at `at`.
fn answer(clocks: &mut [SlaClock], kind: SlaKind, at: i64) {
    for c in clocks.iter_mut().filter(|c| c.kind == kind && c.answered_ms.is_none()) {
        c.answered_ms = Some(at);
    }
}

/// `pieces` of a ticket of `business` added (`sign` 1) to or taken (−1) from `windows`: every
/// KPI window size, for the overall series, the business, and the agent and team of the piece.
fn additions<'a>(
    pieces: impl IntoIterator<Item = &'a Piece>,
    business: Option<&SmolStr>,
    params: &TicketParams,
    sign: i64,
    windows: &mut Additions,
) {
    use crate::config::Dimension;
    let overall = Series::new(Dimension::Overall, "all");
    let business = business.map(|b| Series::new(Dimension::Business, b.clone()));
    for (at, holder, part) in pieces {
        let agent = holder.agent.as_ref().map(|a| Series::new(Dimension::Agent, a.clone()));
        let team = holder.team.as_ref().map(|t| Series::new(Dimension::Team, t.clone()));
        for series in [Some(&overall), business.as_ref(), agent.as_ref(), team.as_ref()].into_iter().flatten() {
            for &size_s in &params.sizes {
                let start_s = params.calendar.window_start(*at, size_s);
                let key = WindowKey { series: series.clone(), size_s, start_s };
                windows.entry(key).or_default().add_part(*part, sign);
            }
        }
    }
}

/// A tick's additions to KPI windows, consolidated.
type Additions = HashMap<WindowKey, TicketAgg, foldhash::fast::FixedState>;

/// What changed from one fold of a ticket to the next: the pieces only `before` has, and those
/// only `after` has. A new event nearly always leaves the earlier pieces as they were, and only
/// its own need to reach the windows.
fn changed<'a>(before: &'a Contribution, after: &'a Contribution) -> (Vec<&'a Piece>, Vec<&'a Piece>) {
    if before.business != after.business {
        return (before.all_pieces().collect(), after.all_pieces().collect());
    }
    let (old, new): (Vec<&Piece>, Vec<&Piece>) = (before.all_pieces().collect(), after.all_pieces().collect());
    differ(old, new)
}

/// The pieces only `old` has, and those only `new` has (as multisets).
fn differ<'a>(mut old: Vec<&'a Piece>, mut new: Vec<&'a Piece>) -> (Vec<&'a Piece>, Vec<&'a Piece>) {
    old.sort_unstable();
    new.sort_unstable();
    let (mut gone, mut came) = (Vec::new(), Vec::new());
    let (mut i, mut j) = (0, 0);
    while i < old.len() || j < new.len() {
        match (old.get(i), new.get(j)) {
            (Some(a), Some(b)) if a == b => (i, j) = (i + 1, j + 1),
            (Some(a), Some(b)) if a < b => {
                gone.push(*a);
                i += 1;
            }
            (Some(_), Some(b)) | (None, Some(b)) => {
                came.push(*b);
                j += 1;
            }
            (Some(a), None) => {
                gone.push(*a);
                i += 1;
            }
            (None, None) => break,
        }
    }
    (gone, came)
}

/// One ticket as the operator keeps it.
#[derive(Default)]
struct Ticket {
    /// The fold of the events no longer kept.
    base: Fold,
    /// Kept events, in order.
    events: Vec<TicketEvent>,
    /// The fold of the kept events onto `base`, and what they contribute as of `folded_at`
    /// (breaches depend on the clock): what the windows hold of this ticket.
    folded: Fold,
    contribution: Contribution,
    folded_at: i64,
    /// The times the timer holds for this ticket: open SLA deadlines, and its expiry.
    deadlines: Vec<i64>,
    last_ms: i64,
}

/// Every ticket of one worker.
pub struct Tickets {
    params: TicketParams,
    tickets: HashMap<SmolStr, Ticket, foldhash::fast::FixedState>,
    /// The tick's additions to KPI windows (kept between ticks for its capacity).
    additions: Additions,
    /// Tickets to fold again when the clock passes a time: open deadlines and idle expiries.
    timers: BTreeSet<(i64, SmolStr)>,
    clock_ms: i64,
}

impl Tickets {
    pub fn new(params: TicketParams) -> Self {
        Tickets {
            params,
            tickets: HashMap::default(),
            additions: Additions::default(),
            timers: BTreeSet::new(),
            clock_ms: i64::MIN,
        }
    }

    pub fn len(&self) -> usize {
        self.tickets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tickets.is_empty()
    }

    /// One tick: the events (any order) and the clock after them. Gives the KPI additions
    /// consolidated per window in key order, then the SLA notices in (deadline, ticket) order.
    pub fn process_tick(&mut self, mut events: Vec<TicketEvent>, clock_ms: i64, out: &mut impl FnMut(TicketOut)) {
        self.clock_ms = self.clock_ms.max(clock_ms);
        events.sort_by(|a, b| (&a.ticket, a.order()).cmp(&(&b.ticket, b.order())));
        let mut touched: Vec<(SmolStr, Vec<TicketEvent>)> = Vec::new();
        for ev in events {
            match touched.last_mut() {
                Some((id, evs)) if *id == ev.ticket => evs.push(ev),
                _ => touched.push((ev.ticket.clone(), vec![ev])),
            }
        }
        let mut due = Vec::new();
        while let Some((at, _)) = self.timers.first() {
            if *at > self.clock_ms {
                break;
            }
            due.push(self.timers.pop_first().expect("peeked").1);
        }
        due.sort_unstable();
        due.dedup();
        let with_events = touched.len();
        for id in due {
            if touched[..with_events].binary_search_by(|(t, _)| t.cmp(&id)).is_err() {
                touched.push((id, Vec::new()));
            }
        }
        let mut windows = std::mem::take(&mut self.additions);
        let mut notices = Vec::new();
        for (id, new) in touched {
            self.update(&id, new, &mut windows, &mut notices);
        }
        let mut changed: Vec<(WindowKey, TicketAgg)> = windows.drain().filter(|(_, agg)| !agg.is_zero()).collect();
        self.additions = windows;
        changed.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for (key, agg) in changed {
            out(TicketOut::Kpi(key, agg));
        }
        notices.sort_by(|a: &SlaNotice, b| (a.deadline_ms, &a.ticket, a.kind).cmp(&(b.deadline_ms, &b.ticket, b.kind)));
        for n in notices {
            out(TicketOut::Sla(n));
        }
    }

    /// Folds a previous run's events again as of `as_of_ms` (its clock, or the latest of them
    /// if later): their KPI additions come out (the restarted windows start empty), their SLA
    /// notices do not (the previous run judged them, and its alert states are restored).
    /// Deadlines after that time are judged as the clock passes them, as if the run had not
    /// stopped.
    pub fn restore(&mut self, events: Vec<TicketEvent>, as_of_ms: i64, out: &mut impl FnMut(TicketOut)) {
        let Some(latest) = events.iter().map(|e| e.ts_ms).max() else { return };
        self.process_tick(events, latest.max(as_of_ms), &mut |o| {
            if matches!(o, TicketOut::Kpi(..)) {
                out(o)
            }
        });
    }

    /// A ticket's new events (in order) and the clock: its contribution changes from what the
    /// windows hold to its fold as of now. Events later than every kept one (nearly all) are
    /// folded onto the kept fold; an earlier one refolds the ticket from its base.
    fn update(
        &mut self,
        id: &SmolStr,
        mut new: Vec<TicketEvent>,
        windows: &mut Additions,
        notices: &mut Vec<SlaNotice>,
    ) {
        let params = &self.params;
        let clock_ms = self.clock_ms;
        let ticket = self.tickets.entry(id.clone()).or_default();
        new.dedup_by(|a, b| a.order() == b.order());
        let in_order = ticket.events.last().is_none_or(|last| new.first().is_none_or(|e| e.order() > last.order()));
        let settled = ticket.folded.business.is_some() || new.iter().all(|e| e.business.is_none());
        let folded_before = std::mem::replace(&mut ticket.folded_at, clock_ms);
        for ev in &new {
            ticket.last_ms = ticket.last_ms.max(ev.ts_ms);
        }
        let before = if in_order && settled && !ticket.events.is_empty() {
            // Only the new events' pieces and the breaches can change.
            let c = &mut ticket.contribution;
            let (old_clocks, old_breaches, kept) = (c.clocks.clone(), std::mem::take(&mut c.breaches), c.pieces.len());
            fold_onto(&mut ticket.folded, c, &new, params);
            c.judge_breaches(clock_ms);
            ticket.events.extend(new);
            let (gone, came) = differ(old_breaches.iter().collect(), c.breaches.iter().collect());
            additions(gone, c.business.as_ref(), params, -1, windows);
            additions(came.into_iter().chain(&c.pieces[kept..]), c.business.as_ref(), params, 1, windows);
            Contribution {
                clocks: old_clocks,
                breaches: old_breaches,
                business: c.business.clone(),
                pieces: Vec::new(),
            }
        } else {
            for ev in new {
                let at = ticket.events.partition_point(|e| e.order() < ev.order());
                if ticket.events.get(at).is_some_and(|e| e.order() == ev.order()) {
                    continue;
                }
                ticket.events.insert(at, ev);
            }
            let (folded, after) = fold(&ticket.base, &ticket.events, clock_ms, params);
            let (gone, came) = changed(&ticket.contribution, &after);
            additions(gone, ticket.contribution.business.as_ref(), params, -1, windows);
            additions(came, after.business.as_ref(), params, 1, windows);
            ticket.folded = folded;
            std::mem::replace(&mut ticket.contribution, after)
        };
        let after = &ticket.contribution;
        sla_changes(id, &before, after, folded_before, clock_ms, notices);
        if ticket.events.len() > params.max_events {
            // The oldest events become the base: what they contributed stays as it is.
            let keep_from = ticket.events.len() - params.max_events / 2;
            let old: Vec<TicketEvent> = ticket.events.drain(..keep_from).collect();
            ticket.base = fold(&ticket.base, &old, clock_ms, params).0;
            ticket.contribution = fold(&ticket.base, &ticket.events, clock_ms, params).1;
        }
        let after = &ticket.contribution;
        // Fold again when the clock reaches an open deadline; forget once idle with none open.
        let open: Vec<i64> = after.clocks.iter().filter(|c| c.answered_ms.is_none()).map(|c| c.deadline_ms).collect();
        let keep = if ticket.folded.episode.is_some() { params.idle_ms } else { params.keep_resolved_ms };
        let expires = ticket.last_ms.saturating_add(keep);
        let deadlines: Vec<i64> = open.iter().copied().filter(|d| *d > clock_ms).chain([expires]).collect();
        if deadlines != ticket.deadlines {
            for d in &ticket.deadlines {
                self.timers.remove(&(*d, id.clone()));
            }
            for d in &deadlines {
                self.timers.insert((*d, id.clone()));
            }
            ticket.deadlines = deadlines;
        }
        if expires <= clock_ms && open.iter().all(|d| *d <= clock_ms) {
            // Forgotten while waiting: the wait is over (after its deadline, so the breach stands).
            for c in after.clocks.iter().filter(|c| c.answered_ms.is_none()) {
                notices.push(notice(id, c, after, Some(clock_ms.max(c.deadline_ms + 1))));
            }
            for d in std::mem::take(&mut ticket.deadlines) {
                self.timers.remove(&(d, id.clone()));
            }
            self.tickets.remove(id);
        }
    }
}

/// The SLA notices of a ticket's change: a breach that appeared (or whose answer changed), and
/// one that a late event took back.
fn sla_changes(
    id: &SmolStr,
    before: &Contribution,
    after: &Contribution,
    old_clock: i64,
    clock_ms: i64,
    notices: &mut Vec<SlaNotice>,
) {
    let same = |a: &SlaClock, b: &SlaClock| a.kind == b.kind && a.started_ms == b.started_ms;
    for c in after.clocks.iter().filter(|c| c.breached(clock_ms)) {
        let was = before.clocks.iter().find(|b| same(b, c) && b.breached(old_clock));
        if was.is_none_or(|b| b.answered_ms != c.answered_ms || b.deadline_ms != c.deadline_ms) {
            notices.push(notice(id, c, after, c.answered_ms));
        }
    }
    for b in before.clocks.iter().filter(|b| b.breached(old_clock)) {
        let now = after.clocks.iter().find(|c| same(b, c));
        if let Some(c) = now.filter(|c| !c.breached(clock_ms)) {
            // Answered in time after all (a late event): the breach is taken back.
            notices.push(notice(id, c, after, c.answered_ms));
        }
    }
}

fn notice(id: &SmolStr, c: &SlaClock, of: &Contribution, answered_ms: Option<i64>) -> SlaNotice {
    SlaNotice {
        ticket: id.clone(),
        kind: c.kind,
        policy: c.policy.clone(),
        severity: c.severity,
        started_ms: c.started_ms,
        deadline_ms: c.deadline_ms,
        agent: c.holder.agent.clone(),
        business: of.business.clone(),
        answered_ms,
    }
}

/// Every ticket's KPI additions from scratch: each ticket's events folded in order at
/// `clock_ms`, summed per window. The operator's outputs, summed, must always equal this
/// (`tests/it/ticket_oracle.rs`).
pub fn kpis_of(events: &[TicketEvent], clock_ms: i64, params: &TicketParams) -> BTreeMap<WindowKey, TicketAgg> {
    let mut by_ticket: BTreeMap<&str, Vec<TicketEvent>> = BTreeMap::new();
    for ev in events {
        by_ticket.entry(&ev.ticket).or_default().push(ev.clone());
    }
    let mut windows = Additions::default();
    for (_, mut evs) in by_ticket {
        evs.sort_by(|a, b| a.order().cmp(&b.order()));
        evs.dedup_by(|a, b| a.order() == b.order());
        let (_, c) = fold(&Fold::default(), &evs, clock_ms, params);
        additions(c.all_pieces(), c.business.as_ref(), params, 1, &mut windows);
    }
    windows.into_iter().filter(|(_, agg)| !agg.is_zero()).collect()
}

/// Builds the operator: ticket events must already be partitioned by ticket, and every worker's
/// clock broadcast to it.
pub fn tickets<'scope>(
    input: StreamVec<'scope, Tick, (TicketIn, Tick)>,
    params: TicketParams,
) -> StreamVec<'scope, Tick, (TicketOut, Tick)> {
    input.unary_frontier(Pipeline, "Tickets", move |_, _| {
        let mut tickets = Tickets::new(params);
        let mut clock_ms = i64::MIN;
        let mut pending = TickBuffer::default();
        move |(input, frontier), output| {
            input.for_each(|capability, data| {
                for (item, time) in data.drain(..) {
                    pending.stash(time, item, || capability.delayed(&time, 0));
                }
            });
            while let Some((capability, tick, items)) = pending.pop_ready(|t| !frontier.less_equal(t)) {
                let (mut events, mut restored, mut as_of_ms) = (Vec::new(), Vec::new(), i64::MIN);
                for item in items {
                    match item {
                        TicketIn::Event(e) => events.push(*e),
                        TicketIn::Restored(e, as_of) => {
                            restored.push(*e);
                            as_of_ms = as_of_ms.max(as_of);
                        }
                        TicketIn::Clock(ms) => clock_ms = clock_ms.max(ms),
                    }
                }
                let mut session = output.session(&capability);
                tickets.restore(restored, as_of_ms, &mut |o| session.give((o, tick)));
                tickets.process_tick(events, clock_ms, &mut |o| session.give((o, tick)));
            }
        }
    })
}

#[cfg(test)]
mod tests;
