use super::*;
use crate::config::Dimension;
use crate::records::ticket::Histogram;
use differential_dataflow::difference::Semigroup;

const T0: i64 = 1_800_000_000_000 / 3_600_000 * 3_600_000;

fn params() -> TicketParams {
    TicketParams {
        idle_ms: 3_600_000,
        keep_resolved_ms: 3_600_000,
        max_events: 64,
        sizes: vec![60, 3600],
        calendar: Calendar::default(),
        slas: vec![SlaParams {
            name: "desk".into(),
            severity: Severity::Warning,
            business: None,
            deadlines: [Some(30_000), Some(30_000), None],
        }],
    }
}

fn ev(ticket: &str, at_s: i64, status: TicketStatus, agent: Option<&str>) -> TicketEvent {
    TicketEvent {
        ticket: ticket.into(),
        id: format!("{ticket}-{}-{at_s}", status.as_str()).into(),
        ts_ms: T0 + at_s * 1000,
        seq: 0,
        status: Some(status),
        agent: agent.map(Into::into),
        team: None,
        business: Some("loan".into()),
    }
}

/// Runs ticks of (events, clock), returning the summed KPI additions and every SLA notice.
fn run(tickets: &mut Tickets, ticks: Vec<(Vec<TicketEvent>, i64)>) -> (BTreeMap<WindowKey, TicketAgg>, Vec<SlaNotice>) {
    let mut sums: BTreeMap<WindowKey, TicketAgg> = BTreeMap::new();
    let mut notices = Vec::new();
    for (events, clock) in ticks {
        tickets.process_tick(events, clock, &mut |o| match o {
            TicketOut::Kpi(key, agg) => sums.entry(key).or_default().plus_equals(&agg),
            TicketOut::Sla(n) => notices.push(n),
        });
    }
    sums.retain(|_, agg| !agg.is_zero());
    (sums, notices)
}

fn hour(series: Series) -> WindowKey {
    WindowKey { series, size_s: 3600, start_s: T0 / 1000 }
}

#[test]
fn a_ticket_in_order_gives_its_durations_to_its_agent_its_business_and_overall() {
    use TicketStatus::*;
    let mut tickets = Tickets::new(params());
    let events = vec![
        ev("T1", 0, Opened, None),
        ev("T1", 5, Assigned, Some("a-1")),
        ev("T1", 20, FirstResponse, None),
        ev("T1", 300, Resolved, None),
    ];
    let (sums, notices) = run(&mut tickets, vec![(events, T0 + 300_000)]);
    assert!(notices.is_empty(), "answered in 20 s: no breach");
    let overall = &sums[&hour(Series::new(Dimension::Overall, "all"))];
    assert_eq!(TicketStatus::ALL.map(|s| overall.transitions(s)), [1, 1, 1, 0, 1, 0]);
    assert_eq!(overall.span(Span::FirstResponse), &Histogram::of(20_000));
    assert_eq!(overall.span(Span::Handling), &Histogram::of(295_000), "from the assignment");
    assert_eq!(overall.span(Span::Resolution), &Histogram::of(300_000));
    let agent = &sums[&hour(Series::new(Dimension::Agent, "a-1"))];
    assert_eq!(agent.transitions(Opened), 0, "nobody had the ticket when it opened");
    assert_eq!(agent.span(Span::Handling), &Histogram::of(295_000));
    assert_eq!(sums[&hour(Series::new(Dimension::Business, "loan"))], *overall);
}

#[test]
fn a_deadline_passed_unanswered_is_a_breach_until_the_answer_comes() {
    use TicketStatus::*;
    let mut tickets = Tickets::new(params());
    let (_, quiet) = run(&mut tickets, vec![(vec![ev("T2", 0, Opened, None)], T0 + 29_999)]);
    assert!(quiet.is_empty());
    let (sums, breached) = run(&mut tickets, vec![(vec![], T0 + 30_000)]);
    assert_eq!(breached.len(), 1);
    assert_eq!(
        (breached[0].kind, breached[0].deadline_ms, breached[0].answered_ms),
        (SlaKind::FirstResponse, T0 + 30_000, None)
    );
    assert_eq!(sums[&hour(Series::new(Dimension::Overall, "all"))].breaches(SlaKind::FirstResponse), 1);
    let (sums, answered) = run(&mut tickets, vec![(vec![ev("T2", 45, FirstResponse, Some("a-2"))], T0 + 45_000)]);
    assert_eq!(answered.len(), 1);
    assert_eq!(answered[0].answered_ms, Some(T0 + 45_000), "late: the breach stands, the wait is over");
    let overall = &sums[&hour(Series::new(Dimension::Overall, "all"))];
    assert_eq!(overall.breaches(SlaKind::FirstResponse), 0, "no change to the breach count");
    assert_eq!(overall.span(Span::FirstResponse), &Histogram::of(45_000));
}

#[test]
fn a_late_event_that_was_in_time_takes_the_breach_back() {
    use TicketStatus::*;
    let mut tickets = Tickets::new(params());
    let (_, breached) = run(&mut tickets, vec![(vec![ev("T3", 0, Opened, None)], T0 + 60_000)]);
    assert_eq!(breached.len(), 1);
    let (sums, back) = run(&mut tickets, vec![(vec![ev("T3", 10, FirstResponse, Some("a-1"))], T0 + 60_000)]);
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].answered_ms, Some(T0 + 10_000));
    let overall = &sums[&hour(Series::new(Dimension::Overall, "all"))];
    assert_eq!(overall.breaches(SlaKind::FirstResponse), -1, "the breach counted before is retracted");
}

#[test]
fn handing_off_starts_the_takeover_clock_and_an_assignment_stops_it() {
    use TicketStatus::*;
    let mut tickets = Tickets::new(params());
    let events = vec![
        ev("T4", 0, Opened, None),
        ev("T4", 3, FirstResponse, Some("bot")),
        ev("T4", 10, HandedOff, None),
        ev("T4", 70, Assigned, Some("a-9")),
    ];
    let (sums, notices) = run(&mut tickets, vec![(events, T0 + 70_000)]);
    assert_eq!(notices.len(), 1);
    assert_eq!((notices[0].kind, notices[0].answered_ms), (SlaKind::Takeover, Some(T0 + 70_000)));
    let overall = &sums[&hour(Series::new(Dimension::Overall, "all"))];
    assert_eq!(overall.span(Span::Takeover), &Histogram::of(60_000));
    assert_eq!(overall.breaches(SlaKind::Takeover), 1);
}

#[test]
fn any_arrival_order_and_tick_split_gives_the_from_scratch_kpis() {
    use TicketStatus::*;
    let all = vec![
        ev("A", 0, Opened, None),
        ev("A", 12, Assigned, Some("a-1")),
        ev("A", 40, FirstResponse, None),
        ev("A", 400, Resolved, None),
        ev("A", 900, Reopened, None),
        ev("A", 1000, Resolved, Some("a-2")),
        ev("B", 30, Opened, None),
        ev("B", 95, HandedOff, None),
        ev("B", 150, Assigned, Some("a-2")),
        ev("C", 3000, Opened, None),
    ];
    let clock = T0 + 3_100_000;
    let oracle = kpis_of(&all, clock, &params());
    for seed in 0..20u64 {
        let mut order = all.clone();
        // A fixed shuffle per seed, and a tick boundary every few events.
        let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        for i in (1..order.len()).rev() {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            order.swap(i, (state >> 33) as usize % (i + 1));
        }
        let mut ticks = Vec::new();
        let mut clock_now = i64::MIN;
        for chunk in order.chunks(1 + seed as usize % 4) {
            clock_now = clock_now.max(chunk.iter().map(|e| e.ts_ms).max().unwrap_or(i64::MIN));
            ticks.push((chunk.to_vec(), clock_now));
        }
        ticks.push((Vec::new(), clock));
        let mut tickets = Tickets::new(params());
        let (sums, _) = run(&mut tickets, ticks);
        assert_eq!(sums, oracle, "seed {seed}");
    }
}

#[test]
fn an_idle_ticket_is_forgotten_and_its_open_breach_ends() {
    use TicketStatus::*;
    let mut tickets = Tickets::new(params());
    run(&mut tickets, vec![(vec![ev("T5", 0, Opened, None)], T0)]);
    assert_eq!(tickets.len(), 1);
    let (_, notices) = run(&mut tickets, vec![(vec![], T0 + 3_600_000)]);
    assert!(tickets.is_empty());
    let ends: Vec<Option<i64>> = notices.iter().map(|n| n.answered_ms).collect();
    assert_eq!(ends, [None, Some(T0 + 3_600_000)], "breached at 30 s, forgotten an hour later");
}

#[test]
fn a_resolved_ticket_is_forgotten_sooner_and_a_reopening_starts_it_afresh() {
    use TicketStatus::*;
    let mut tickets = Tickets::new(TicketParams { keep_resolved_ms: 600_000, ..params() });
    let events =
        vec![ev("T6", 0, Opened, None), ev("T6", 10, FirstResponse, Some("a-1")), ev("T6", 60, Resolved, None)];
    run(&mut tickets, vec![(events, T0 + 60_000)]);
    run(&mut tickets, vec![(vec![], T0 + 659_999)]);
    assert_eq!(tickets.len(), 1, "kept until ten minutes after its last event");
    run(&mut tickets, vec![(vec![], T0 + 660_000)]);
    assert!(tickets.is_empty());
    let (sums, _) =
        run(&mut tickets, vec![(vec![ev("T6", 900, Reopened, None), ev("T6", 920, Resolved, None)], T0 + 920_000)]);
    let overall = &sums[&hour(Series::new(Dimension::Overall, "all"))];
    assert_eq!((overall.transitions(Reopened), overall.transitions(Resolved)), (1, 1));
    assert_eq!(overall.span(Span::Resolution), &Histogram::of(20_000), "from the reopening");
}

#[test]
fn a_ticket_forgotten_after_a_deadline_longer_than_idle_keeps_its_breach() {
    use TicketStatus::*;
    let mut p = params();
    p.slas[0].deadlines = [None, None, Some(7_200_000)];
    let mut tickets = Tickets::new(p);
    run(&mut tickets, vec![(vec![ev("T7", 0, Opened, None)], T0)]);
    let (_, waiting) = run(&mut tickets, vec![(vec![], T0 + 3_600_000)]);
    assert!(waiting.is_empty() && tickets.len() == 1, "idle, but its resolution clock still runs");
    let (_, notices) = run(&mut tickets, vec![(vec![], T0 + 7_200_000)]);
    assert!(tickets.is_empty());
    let answers: Vec<Option<i64>> = notices.iter().map(|n| n.answered_ms).collect();
    assert_eq!(answers, [None, Some(T0 + 7_200_001)], "breached at the deadline; forgotten, the wait ends after it");
}

#[test]
fn a_ticket_counts_for_its_agents_team_and_an_event_naming_a_team_moves_it() {
    use TicketStatus::*;
    let with_team = |mut e: TicketEvent, team: &str| {
        e.team = Some(team.into());
        e
    };
    let mut tickets = Tickets::new(params());
    let events = vec![
        ev("T1", 0, Opened, None),
        with_team(ev("T1", 5, Assigned, Some("a-1")), "north"),
        ev("T1", 20, FirstResponse, None),
        // Handed to another team's queue: the agent stays, the team changes.
        with_team(ev("T1", 100, HandedOff, None), "south"),
        ev("T1", 300, Resolved, None),
    ];
    let (sums, _) = run(&mut tickets, vec![(events, T0 + 400_000)]);
    let north = &sums[&hour(Series::new(Dimension::Team, "north"))];
    assert_eq!((north.transitions(Assigned), north.span(Span::FirstResponse).count), (1, 1));
    let south = &sums[&hour(Series::new(Dimension::Team, "south"))];
    assert_eq!((south.transitions(HandedOff), south.transitions(Resolved), north.transitions(Resolved)), (1, 1, 0));
    assert_eq!(sums[&hour(Series::new(Dimension::Agent, "a-1"))].transitions(Resolved), 1, "still a-1's");
}

/// A restart folds the logged events again: their KPIs come out, their breaches (judged by the
/// previous run) do not; a deadline after the last logged event still breaches as the clock
/// passes it, and a late answer to a breach of before the restart settles it. The KPIs summed
/// over the restore and what follows equal the from-scratch fold of every event.
#[test]
fn a_restored_ticket_log_gives_its_kpis_not_its_old_breaches_and_the_clocks_run_on() {
    use TicketStatus::*;
    let logged = vec![ev("T1", 0, Opened, Some("a-1")), ev("T2", 100, Opened, Some("a-2"))];
    let later = ev("T1", 180, FirstResponse, Some("a-1"));
    let mut tickets = Tickets::new(params());
    let mut sums: BTreeMap<WindowKey, TicketAgg> = BTreeMap::new();
    let mut restored_notices = 0;
    tickets.restore(logged.clone(), T0 + 100_000, &mut |o| match o {
        TicketOut::Kpi(key, agg) => sums.entry(key).or_default().plus_equals(&agg),
        TicketOut::Sla(_) => restored_notices += 1,
    });
    assert_eq!(restored_notices, 0, "T1's breach at 30 s was the previous run's to alert");
    let (after, notices) = run(&mut tickets, vec![(vec![], T0 + 131_000), (vec![later.clone()], T0 + 180_000)]);
    let got: Vec<(&str, Option<i64>)> = notices.iter().map(|n| (n.ticket.as_str(), n.answered_ms)).collect();
    assert_eq!(got, [("T2", None), ("T1", Some(T0 + 180_000))], "T2 breaches at 130 s; T1's answer comes");
    for (key, agg) in after {
        sums.entry(key).or_default().plus_equals(&agg);
    }
    sums.retain(|_, agg| !agg.is_zero());
    let all: Vec<TicketEvent> = logged.into_iter().chain([later]).collect();
    assert_eq!(sums, kpis_of(&all, T0 + 180_000, &params()));
}
