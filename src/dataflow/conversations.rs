//! The `Conversations` operator: each conversation's state, from its turns, on the worker its
//! id hashes to. A turn later than every kept turn of its conversation is folded in at once; a
//! late or out-of-order one puts the conversation's state together again from its kept turns,
//! in order (so a state never depends on arrival order). A conversation idle for
//! `[conversation] idle` of event time is forgotten and its expiry told, as windows are
//! retracted.

use super::qa::QaRules;
use super::tick::{Tick, TickBuffer};
use crate::config::ConversationConfig;
use crate::event::{cosine_q, Role, SmolStr};
use crate::records::conversation::{ConversationChange, ConversationState, Turn, LAST_TURNS};
use std::collections::HashMap;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::StreamVec;

/// What the operator hears: turns (exchanged by conversation) and every worker's event clock.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum ConversationIn {
    Turn(Box<Turn>),
    /// A turn a previous run had folded (the Redis turn log), and that run's clock as far as it
    /// is known: folded again for the state, as of that time; what it changed, and what went
    /// idle by then, that run judged.
    Restored(Box<Turn>, i64),
    Clock(i64),
}

#[derive(Clone, Debug)]
pub struct ConversationParams {
    pub idle_ms: i64,
    pub negative_below_milli: i32,
    pub repeat_similarity: f32,
    /// Turns kept per conversation to reorder late ones; older ones are folded into a base.
    pub max_turns: usize,
    /// The `[[qa]]` sheets folded over the turns.
    pub qa: std::sync::Arc<QaRules>,
}

impl ConversationParams {
    pub fn from_config(config: &ConversationConfig) -> Self {
        ConversationParams {
            idle_ms: config.idle.as_ms(),
            negative_below_milli: (config.negative_below * 1000.0).round() as i32,
            repeat_similarity: config.repeat_similarity as f32,
            max_turns: config.max_turns,
            qa: Default::default(),
        }
    }

    /// With the `[[qa]]` sheets of `sheets`.
    pub fn with_qa(self, sheets: &[crate::config::QaSheet]) -> Self {
        ConversationParams { qa: std::sync::Arc::new(QaRules::new(sheets)), ..self }
    }
}

/// Folds one turn into a conversation's state; `previous_customer` is the customer turn before
/// it, if any (for repeated questions).
pub fn step(state: &mut ConversationState, turn: &Turn, previous_customer: Option<&Turn>, params: &ConversationParams) {
    if state.last_turns.is_empty() {
        state.first_ms = turn.ts_ms;
    }
    state.last_ms = state.last_ms.max(turn.ts_ms);
    match turn.role {
        Role::Customer => {
            state.customer_turns += 1;
            let negative = turn.sentiment_milli < params.negative_below_milli;
            state.negative_streak = if negative { state.negative_streak + 1 } else { 0 };
            state.last_sentiment_milli = Some(turn.sentiment_milli);
            state.min_sentiment_milli =
                Some(state.min_sentiment_milli.map_or(turn.sentiment_milli, |m| m.min(turn.sentiment_milli)));
            if let Some(risk) = &turn.risk {
                if !state.risks.contains(risk) {
                    state.risks.push(risk.clone());
                }
            }
            if previous_customer.is_some_and(|p| repeats(p, turn, params.repeat_similarity)) {
                state.repeats += 1;
            }
            if turn.user.is_some() {
                state.user.clone_from(&turn.user);
            }
        }
        Role::Agent => {
            state.negative_streak = 0;
            if state.agent.is_none() {
                state.agent = Some(turn.agent.clone().unwrap_or_default());
            }
            if turn.agent.is_some() {
                state.last_agent.clone_from(&turn.agent);
            }
            if turn.team.is_some() {
                state.team.clone_from(&turn.team);
            }
        }
        Role::Bot => {}
    }
    if turn.business.is_some() {
        state.business.clone_from(&turn.business);
    }
    if turn.tier.is_some() {
        state.tier.clone_from(&turn.tier);
    }
    state.ended |= turn.end;
    if !params.qa.is_empty() {
        params.qa.step(&mut state.qa, turn);
    }
    if turn.end {
        return;
    }
    if state.last_turns.len() == LAST_TURNS {
        state.last_turns.remove(0);
    }
    state.last_turns.push((turn.role, turn.text.clone()));
}

/// Whether `turn` asks again what `before` asked: the same text, or embeddings at least
/// `similarity` apart in cosine.
fn repeats(before: &Turn, turn: &Turn, similarity: f32) -> bool {
    if before.text == turn.text {
        return true;
    }
    let (a, b) = (&before.embedding.0, &turn.embedding.0);
    !a.is_empty() && a.len() == b.len() && cosine_q(a, b) >= similarity
}

/// A conversation's state from scratch: its turns folded in order. The operator must always
/// agree with this (`tests/it/conversation_oracle.rs`).
pub fn state_of(conversation: &str, turns: &[Turn], params: &ConversationParams) -> ConversationState {
    let mut sorted: Vec<&Turn> = turns.iter().collect();
    sorted.sort_by(|a, b| a.order().cmp(&b.order()));
    let empty = ConversationState { conversation: conversation.into(), ..Default::default() };
    fold(empty, None, sorted, params)
}

/// `state` with `turns` (in order) folded in; `previous_customer`: the customer turn before them.
fn fold<'a>(
    mut state: ConversationState,
    mut previous_customer: Option<&'a Turn>,
    turns: impl IntoIterator<Item = &'a Turn>,
    params: &ConversationParams,
) -> ConversationState {
    for turn in turns {
        step(&mut state, turn, previous_customer, params);
        if turn.role == Role::Customer {
            previous_customer = Some(turn);
        }
    }
    state
}

/// One live conversation.
struct Live {
    /// The state of the turns folded away (beyond `max_turns`), and the last customer turn
    /// among them.
    base: ConversationState,
    base_customer: Option<Turn>,
    /// Kept turns, in order.
    turns: Vec<Turn>,
    state: ConversationState,
}

impl Live {
    fn new(conversation: &SmolStr) -> Self {
        let base = ConversationState { conversation: conversation.clone(), ..Default::default() };
        Live { state: base.clone(), base, base_customer: None, turns: Vec::new() }
    }

    /// Adds a turn; false when it was there already.
    fn add(&mut self, turn: Turn, params: &ConversationParams) -> bool {
        let in_order = self.turns.last().is_none_or(|last| last.order() < turn.order());
        if in_order {
            let previous = self.turns.iter().rev().find(|t| t.role == Role::Customer).or(self.base_customer.as_ref());
            step(&mut self.state, &turn, previous, params);
            self.turns.push(turn);
        } else {
            let at = self.turns.partition_point(|t| t.order() < turn.order());
            if self.turns.get(at).is_some_and(|t| t.order() == turn.order()) {
                return false;
            }
            self.turns.insert(at, turn);
            self.refold(params);
        }
        if self.turns.len() > params.max_turns {
            let oldest = self.turns.remove(0);
            step(&mut self.base, &oldest, self.base_customer.as_ref(), params);
            if oldest.role == Role::Customer {
                self.base_customer = Some(oldest);
            }
        }
        true
    }

    fn refold(&mut self, params: &ConversationParams) {
        self.state = fold(self.base.clone(), self.base_customer.as_ref(), &self.turns, params);
    }
}

/// One worker's conversations.
pub struct Conversations {
    params: ConversationParams,
    live: HashMap<SmolStr, Live>,
    clock_ms: i64,
    review: super::qa::ReviewSampler,
}

impl Conversations {
    pub fn new(params: ConversationParams) -> Self {
        Conversations { params, live: HashMap::new(), clock_ms: i64::MIN, review: Default::default() }
    }

    /// Applies one tick's turns, in event-time order, and its clock; returns the state after
    /// each turn (so a tick holding a whole conversation still shows the moment it turned, as
    /// live ticks would), then the expiries the clock brought.
    pub fn process_tick(&mut self, items: Vec<ConversationIn>) -> Vec<ConversationChange> {
        let (mut turns, mut restored, mut as_of_ms) = (Vec::new(), Vec::new(), i64::MIN);
        for item in items {
            match item {
                ConversationIn::Clock(ms) => self.clock_ms = self.clock_ms.max(ms),
                ConversationIn::Turn(turn) => turns.push(turn),
                ConversationIn::Restored(turn, as_of) => {
                    restored.push(ConversationIn::Turn(turn));
                    as_of_ms = as_of_ms.max(as_of);
                }
            }
        }
        if !restored.is_empty() {
            restored.push(ConversationIn::Clock(as_of_ms));
            // As of the previous run's clock, before this tick's own turns: the hand-offs, QA
            // verdicts and expiries up to then were that run's to judge.
            let clock_ms = std::mem::replace(&mut self.clock_ms, i64::MIN);
            self.process_tick(restored);
            self.clock_ms = self.clock_ms.max(clock_ms);
        }
        turns.sort_by(|a, b| a.order().cmp(&b.order()));
        let mut out: Vec<ConversationChange> = Vec::with_capacity(turns.len());
        for turn in turns {
            self.clock_ms = self.clock_ms.max(turn.ts_ms);
            let id = turn.conversation.clone();
            let live = self.live.entry(id.clone()).or_insert_with(|| Live::new(&id));
            if live.add(*turn, &self.params) {
                out.push(ConversationChange::Updated(Box::new(live.state.clone())));
            }
        }
        let idle = self.params.idle_ms;
        let mut expired: Vec<(SmolStr, i64)> = self
            .live
            .iter()
            .filter(|(_, c)| c.state.ended || c.state.last_ms.saturating_add(idle) <= self.clock_ms)
            .map(|(id, c)| (id.clone(), c.state.last_ms))
            .collect();
        expired.sort();
        for (conversation, last_ms) in expired {
            let live = self.live.remove(&conversation).expect("listed just now");
            // Closed by its end record at its last turn, else when it went idle.
            let closed_ms = if live.state.ended { last_ms } else { last_ms.saturating_add(idle) };
            if let Some(verdict) = self.params.qa.verdict(&live.state, closed_ms, &mut self.review) {
                out.push(ConversationChange::Scored(Box::new(verdict)));
            }
            out.push(ConversationChange::Expired { conversation, last_ms });
        }
        out
    }

    pub fn live(&self) -> usize {
        self.live.len()
    }
}

/// Builds the operator; `input` must already be partitioned by conversation (clocks broadcast).
pub fn conversations<'scope>(
    input: StreamVec<'scope, Tick, (ConversationIn, Tick)>,
    params: ConversationParams,
) -> StreamVec<'scope, Tick, (ConversationChange, Tick)> {
    input.unary_frontier(Pipeline, "Conversations", move |_capability, _info| {
        let mut state = Conversations::new(params);
        let mut pending = TickBuffer::default();
        move |(input, frontier), output| {
            input.for_each(|capability, data| {
                for (item, time) in data.drain(..) {
                    pending.stash(time, item, || capability.delayed(&time, 0));
                }
            });
            while let Some((cap, tick, items)) = pending.pop_ready(|t| !frontier.less_equal(t)) {
                let changes = state.process_tick(items);
                if !changes.is_empty() {
                    output.session(&cap).give_iterator(changes.into_iter().map(|c| (c, tick)));
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Embedding;

    fn params() -> ConversationParams {
        ConversationParams {
            idle_ms: 60_000,
            negative_below_milli: -500,
            repeat_similarity: 0.9,
            max_turns: 4,
            qa: Default::default(),
        }
    }

    fn turn(conversation: &str, ts_ms: i64, role: Role, sentiment: i32, text: &str) -> Turn {
        Turn {
            conversation: conversation.into(),
            id: format!("{conversation}-{ts_ms}").into(),
            ts_ms,
            role,
            sentiment_milli: sentiment,
            text: text.into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_streak_counts_negative_customer_turns_and_an_agent_ends_it() {
        let turns = [
            turn("c", 1, Role::Customer, -100, "hi"),
            turn("c", 2, Role::Customer, -700, "bad"),
            turn("c", 3, Role::Bot, 0, "please wait"),
            turn("c", 4, Role::Customer, -800, "worse"),
        ];
        let s = state_of("c", &turns, &params());
        assert_eq!((s.negative_streak, s.customer_turns, s.min_sentiment_milli), (2, 3, Some(-800)));
        assert_eq!((s.first_ms, s.last_ms, s.agent.as_deref()), (1, 4, None));
        let mut with_agent = turns.to_vec();
        with_agent.push(Turn { agent: Some("a-7".into()), ..turn("c", 5, Role::Agent, 300, "sorry") });
        let s = state_of("c", &with_agent, &params());
        assert_eq!((s.negative_streak, s.agent.as_deref()), (0, Some("a-7")));
        assert_eq!(s.last_turns.len(), LAST_TURNS);
        assert_eq!(s.last_turns[0].1, "bad", "the oldest of the last four");
    }

    #[test]
    fn repeats_are_the_same_text_or_a_close_embedding() {
        let e = |x: f32, y: f32| Embedding::quantize(&[x, y]);
        let turns = [
            Turn { embedding: e(1.0, 0.0), ..turn("c", 1, Role::Customer, 0, "where is my parcel") },
            Turn { embedding: e(0.995, 0.0998), ..turn("c", 2, Role::Customer, 0, "parcel where?") },
            Turn { embedding: e(0.0, 1.0), ..turn("c", 3, Role::Customer, 0, "refund") },
            turn("c", 4, Role::Customer, 0, "refund"),
        ];
        assert_eq!(state_of("c", &turns, &params()).repeats, 2);
    }

    #[test]
    fn late_turns_give_the_state_of_the_ordered_turns() {
        let turns = [
            turn("c", 10, Role::Customer, -900, "a"),
            turn("c", 20, Role::Customer, -900, "b"),
            turn("c", 15, Role::Agent, 0, "here"),
            turn("c", 5, Role::Customer, 200, "c"),
        ];
        let mut conversations = Conversations::new(params());
        let mut last = None;
        for t in turns.iter().cloned() {
            for change in conversations.process_tick(vec![ConversationIn::Turn(Box::new(t))]) {
                last = Some(change);
            }
        }
        let Some(ConversationChange::Updated(state)) = last else { panic!("an update") };
        assert_eq!(*state, state_of("c", &turns, &params()));
        assert_eq!((state.negative_streak, state.first_ms), (1, 5), "the agent at 15 broke the streak");
    }

    #[test]
    fn turns_beyond_max_turns_fold_into_the_base_and_counts_survive() {
        let turns: Vec<Turn> = (0..10).map(|i| turn("c", i, Role::Customer, -900, &format!("t{i}"))).collect();
        let mut conversations = Conversations::new(params());
        let changes =
            conversations.process_tick(turns.iter().map(|t| ConversationIn::Turn(Box::new(t.clone()))).collect());
        assert_eq!(changes.len(), 10, "one state per turn");
        let Some(ConversationChange::Updated(state)) = changes.last() else { panic!("{changes:?}") };
        assert_eq!(**state, state_of("c", &turns, &params()));
        assert_eq!(state.customer_turns, 10);
    }

    #[test]
    fn idle_conversations_expire_in_event_time() {
        let mut conversations = Conversations::new(params());
        conversations.process_tick(vec![ConversationIn::Turn(Box::new(turn("a", 0, Role::Customer, 0, "x")))]);
        conversations.process_tick(vec![ConversationIn::Turn(Box::new(turn("b", 30_000, Role::Customer, 0, "y")))]);
        assert!(conversations.process_tick(vec![ConversationIn::Clock(59_999)]).is_empty());
        let expired = conversations.process_tick(vec![ConversationIn::Clock(60_000)]);
        assert_eq!(expired, [ConversationChange::Expired { conversation: "a".into(), last_ms: 0 }]);
        assert_eq!(conversations.live(), 1);
    }

    /// A restart folds the logged turns again without saying anything about them (the previous
    /// run judged what they changed), and the next turn continues the state as if the run had
    /// not stopped; a conversation that goes idle after the restart closes then.
    #[test]
    fn restored_turns_rebuild_the_state_silently_and_the_next_turn_continues_it() {
        let mut conversations = Conversations::new(params());
        let logged = [turn("c", 1_000, Role::Customer, -800, "bad"), turn("quiet", 0, Role::Customer, 0, "x")];
        let restore: Vec<ConversationIn> =
            logged.iter().map(|t| ConversationIn::Restored(Box::new(t.clone()), 1_000)).collect();
        assert_eq!(conversations.process_tick(restore), [], "nothing from the restore itself");
        let next = turn("c", 70_000, Role::Customer, -900, "worse");
        let changes = conversations.process_tick(vec![ConversationIn::Turn(Box::new(next.clone()))]);
        let [ConversationChange::Updated(state), ConversationChange::Expired { conversation, .. }] = changes.as_slice()
        else {
            panic!("the new turn's state, then the idle one's expiry: {changes:?}")
        };
        assert_eq!(**state, state_of("c", &[logged[0].clone(), next], &params()));
        assert_eq!(state.negative_streak, 2, "the streak runs across the restart");
        assert_eq!(conversation, "quiet", "idle since 0 s, closed when the clock passes 60 s");
    }

    /// When the previous run's clock (from its windows) had passed a conversation's idle time,
    /// that run closed it: the restore closes it silently, and it is not closed again.
    #[test]
    fn a_conversation_the_previous_run_closed_is_not_closed_again() {
        let mut conversations = Conversations::new(params());
        let logged = [turn("c", 1_000, Role::Customer, -800, "bad"), turn("quiet", 0, Role::Customer, 0, "x")];
        let restore = logged.iter().map(|t| ConversationIn::Restored(Box::new(t.clone()), 60_500)).collect();
        assert_eq!(conversations.process_tick(restore), []);
        assert_eq!(conversations.live(), 1, "`quiet` was idle at the previous run's clock");
        let changes = conversations.process_tick(vec![ConversationIn::Clock(70_000)]);
        assert_eq!(changes, [ConversationChange::Expired { conversation: "c".into(), last_ms: 1_000 }]);
    }
}
