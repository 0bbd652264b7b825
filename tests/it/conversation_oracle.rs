//! The conversation operator against a from-scratch recomputation after every tick: random
//! conversations whose turns arrive late and out of order, across ticks, some conversations
//! expiring (idle) and starting again. After each tick the operator's updates must be exactly
//! the states `state_of` computes from every turn the conversation has had since it last
//! expired (a QA sheet's tallies included), its expiries exactly the conversations idle for
//! `idle` of event time, and its QA verdicts those of the recomputed states.

use feedpulse::dataflow::conversations::{conversations, state_of, ConversationIn, ConversationParams};
use feedpulse::dataflow::qa::ReviewSampler;
use feedpulse::dataflow::tick::Tick;
use feedpulse::event::{Embedding, Role};
use feedpulse::records::conversation::{ConversationChange, ConversationState, QaVerdict, Turn};
use feedpulse::util::SplitMix;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use timely::dataflow::operators::{Input, Inspect, Probe};
use timely::dataflow::ProbeHandle;

const IDLE_MS: i64 = 120_000;

/// With a QA sheet, so its tallies are part of every state compared, and every expiry's
/// verdict is compared too.
fn params() -> ConversationParams {
    static PARAMS: std::sync::LazyLock<ConversationParams> = std::sync::LazyLock::new(with_a_sheet);
    PARAMS.clone()
}

fn with_a_sheet() -> ConversationParams {
    let sheet: feedpulse::config::QaSheet = toml::from_str(
        r#"
name = "desk"
greeting = { phrases = ["您好"], within = 1 }
closing = { phrases = ["谢谢"] }
empathy = { phrases = ["抱歉"], below = -0.5, severe = true }
[[forbidden]]
name = "rude"
phrases = ["refund now"]
"#,
    )
    .unwrap();
    let base = ConversationParams {
        idle_ms: IDLE_MS,
        negative_below_milli: -500,
        repeat_similarity: 0.9,
        max_turns: 64,
        qa: Default::default(),
    };
    base.with_qa(&[sheet])
}

/// Ticks of turns: 20 conversations, the clock moving 0–20 s a tick, turns up to a minute late.
fn random_ticks(seed: u64, ticks: usize) -> Vec<Vec<Turn>> {
    let mut rng = SplitMix::new(seed);
    let texts = ["还没发货", "太差了，我要投诉", "where is my order", "还没发货", "谢谢", "refund now", "您好，抱歉"];
    let embeddings = [[1.0f32, 0.0], [0.0, 1.0], [0.6, 0.8]];
    let mut clock = 1_767_225_600_000i64;
    let mut next = 0;
    (0..ticks)
        .map(|_| {
            clock += rng.below(20_001) as i64;
            (0..rng.below(6))
                .map(|_| {
                    next += 1;
                    let role = [Role::Customer, Role::Customer, Role::Customer, Role::Bot, Role::Agent][rng.below(5)];
                    Turn {
                        conversation: format!("cv-{}", rng.below(20)).into(),
                        id: format!("t{next}").into(),
                        ts_ms: clock - rng.below(60_001) as i64,
                        seq: rng.below(3) as i64,
                        role,
                        agent: (role == Role::Agent).then(|| "a-1".into()),
                        business: [None, Some("shop".into())][rng.below(2)].clone(),
                        sentiment_milli: rng.below(2001) as i32 - 1000,
                        risk: (rng.below(15) == 0).then(|| "legal_threat".to_string()),
                        tier: (rng.below(10) == 0).then(|| "vip".into()),
                        text: texts[rng.below(texts.len())].into(),
                        embedding: Embedding::quantize(&embeddings[rng.below(3)]),
                        ..Default::default()
                    }
                })
                .collect()
        })
        .collect()
}

/// The reference: every conversation's turns since it last expired, and the clock.
#[derive(Default)]
struct Oracle {
    turns: BTreeMap<String, Vec<Turn>>,
    clock: i64,
    /// Which verdicts are reviewed depends on the order conversations close in, as live.
    review: ReviewSampler,
}

impl Oracle {
    /// The changes a tick of `turns` must give: the state after each turn, the tick's turns
    /// taken in event-time order, then the expiries.
    #[allow(clippy::type_complexity)]
    fn tick(&mut self, turns: &[Turn]) -> (Vec<ConversationState>, BTreeMap<String, i64>, BTreeMap<String, QaVerdict>) {
        let mut sorted = turns.to_vec();
        sorted.sort_by(|a, b| a.order().cmp(&b.order()));
        let mut updated = Vec::new();
        for t in sorted {
            self.clock = self.clock.max(t.ts_ms);
            let c = t.conversation.to_string();
            self.turns.entry(c.clone()).or_default().push(t);
            updated.push(state_of(&c, &self.turns[&c], &params()));
        }
        let (mut expired, mut scored) = (BTreeMap::new(), BTreeMap::new());
        let review = &mut self.review;
        self.turns.retain(|c, turns| {
            let last = turns.iter().map(|t| t.ts_ms).max().unwrap();
            let live = last + IDLE_MS > self.clock;
            if !live {
                expired.insert(c.clone(), last);
                let params = params();
                if let Some(v) = params.qa.verdict(&state_of(c, turns, &params), last + IDLE_MS, review) {
                    scored.insert(c.clone(), v);
                }
            }
            live
        });
        (updated, expired, scored)
    }
}

fn check_seed(seed: u64) -> (usize, usize, usize, usize) {
    let ticks = random_ticks(seed, 200);
    timely::execute_directly(move |worker| {
        let seen: Rc<RefCell<Vec<ConversationChange>>> = Rc::default();
        let sink = seen.clone();
        let probe = ProbeHandle::new();
        let mut input = worker.dataflow::<Tick, _, _>(|scope| {
            let (input, turns) = scope.new_input::<Vec<(ConversationIn, Tick)>>();
            conversations(turns, params())
                .inspect(move |(change, _)| sink.borrow_mut().push(change.clone()))
                .probe_with(&probe);
            input
        });
        let mut oracle = Oracle::default();
        let (mut updates, mut expiries, mut late, mut verdicts) = (0, 0, 0, 0);
        for (tick, batch) in ticks.into_iter().enumerate() {
            late += batch.iter().filter(|t| t.ts_ms < oracle.clock).count();
            let (want_updated, want_expired, want_scored) = oracle.tick(&batch);
            for t in batch {
                input.send((ConversationIn::Turn(Box::new(t)), tick as Tick));
            }
            input.advance_to(tick as Tick + 1);
            while probe.less_than(input.time()) {
                worker.step();
            }
            let mut updated = Vec::new();
            let (mut expired, mut scored) = (BTreeMap::new(), BTreeMap::new());
            for change in seen.borrow_mut().drain(..) {
                match change {
                    ConversationChange::Updated(s) => updated.push(*s),
                    ConversationChange::Expired { conversation, last_ms } => {
                        assert!(expired.insert(conversation.to_string(), last_ms).is_none())
                    }
                    ConversationChange::Scored(v) => assert!(scored.insert(v.conversation.to_string(), *v).is_none()),
                }
            }
            assert_eq!(updated, want_updated, "seed {seed}, tick {tick}: states");
            assert_eq!(expired, want_expired, "seed {seed}, tick {tick}: expiries");
            assert_eq!(scored, want_scored, "seed {seed}, tick {tick}: QA verdicts");
            verdicts += scored.len();
            updates += updated.len();
            expiries += expired.len();
        }
        (updates, expiries, late, verdicts)
    })
}

#[test]
fn conversation_states_equal_recomputation_at_every_tick() {
    let (mut updates, mut expiries, mut late, mut verdicts) = (0, 0, 0, 0);
    for seed in 1..=6 {
        let (u, e, l, v) = check_seed(seed);
        (updates, expiries, late, verdicts) = (updates + u, expiries + e, late + l, verdicts + v);
    }
    assert!(
        updates > 2000 && expiries > 50 && late > 1000 && verdicts > 30,
        "exercised: {updates} updates, {expiries} expiries, {late} late turns, {verdicts} QA verdicts"
    );
}
