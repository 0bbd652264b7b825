//! Conversations: the turns ingest hands on, and the state the conversation operator keeps of
//! each (what escalation rules judge).

use crate::event::{Embedding, Role, SmolStr};
use serde::{Deserialize, Serialize};

/// One accepted message of a conversation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Turn {
    pub conversation: SmolStr,
    pub id: SmolStr,
    pub ts_ms: i64,
    /// `seq` as given (0 when absent): orders turns of the same millisecond.
    pub seq: i64,
    pub role: Role,
    pub user: Option<SmolStr>,
    pub agent: Option<SmolStr>,
    pub business: Option<SmolStr>,
    pub sentiment_milli: i32,
    pub risk: Option<String>,
    /// The conversation's tier (the `[conversation] tier_field` of `meta`), if the turn says.
    pub tier: Option<SmolStr>,
    /// Masked text.
    pub text: String,
    /// Customer turns' embeddings, for repeated questions (empty otherwise or without one).
    pub embedding: Embedding,
    /// The agent's team (the `[conversation] team_field` of an agent turn's `meta`).
    pub team: Option<SmolStr>,
    /// The conversation ends here (a `type: end` record): it closes at once.
    pub end: bool,
}

impl Turn {
    /// Where the turn sits among its conversation's turns.
    pub fn order(&self) -> (i64, i64, &str) {
        (self.ts_ms, self.seq, &self.id)
    }
}

/// A conversation as of its turns so far: what `[[escalation]]` rules judge.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ConversationState {
    pub conversation: SmolStr,
    /// The latest business, user and tier any turn gave.
    pub business: Option<SmolStr>,
    pub user: Option<SmolStr>,
    pub tier: Option<SmolStr>,
    pub first_ms: i64,
    /// The latest turn's time.
    pub last_ms: i64,
    pub customer_turns: u32,
    /// Customer turns in a row below `[conversation] negative_below`, counted back from the
    /// latest customer turn (bot turns between them do not break a streak, an agent's does).
    pub negative_streak: u32,
    pub last_sentiment_milli: Option<i32>,
    pub min_sentiment_milli: Option<i32>,
    /// The distinct `[[risk]]` rules customer turns matched, in the order first matched.
    pub risks: Vec<String>,
    /// Customer turns that repeat the customer turn before them (cosine of their embeddings at
    /// least `[conversation] repeat_similarity`, or the same text).
    pub repeats: u32,
    /// The agent of the first agent turn (`""` when it named none): a person has joined.
    pub agent: Option<SmolStr>,
    /// The last turns (at most [`LAST_TURNS`]), masked, oldest first.
    pub last_turns: Vec<(crate::event::Role, String)>,
    /// The latest team an agent turn gave.
    pub team: Option<SmolStr>,
    /// The latest agent (of any agent turn).
    pub last_agent: Option<SmolStr>,
    /// An end record arrived: the conversation closes after this tick.
    pub ended: bool,
    /// What each `[[qa]]` sheet has found so far, in sheet order.
    pub qa: Vec<QaTally>,
}

/// One `[[qa]]` sheet's findings in a conversation's agent turns so far.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QaTally {
    pub agent_turns: u32,
    /// A greeting phrase in one of the first `within` agent turns.
    pub greeted: bool,
    /// The latest agent turn has a closing phrase.
    pub closed_politely: bool,
    /// The turn before is a customer turn below the empathy line.
    pub empathy_due: bool,
    pub empathy_missed: u32,
    /// Forbidden phrases said: (rule, phrase), in order.
    pub forbidden: Vec<(String, String)>,
}

/// A closed conversation's QA: its score sheet's verdict on the agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QaVerdict {
    pub conversation: SmolStr,
    pub sheet: String,
    pub agent: Option<SmolStr>,
    pub team: Option<SmolStr>,
    pub business: Option<SmolStr>,
    /// When it closed: its last turn (end record or expiry).
    pub closed_ms: i64,
    /// 100 less the weights of its violations, at least 0.
    pub score: u32,
    pub violations: Vec<QaViolation>,
    pub min_sentiment_milli: Option<i32>,
    /// Chosen for `fp:qa:sample` (low emotion, or the sheet's share by a hash of the id).
    pub sampled: bool,
    /// The last turns, masked, for whoever reviews it.
    pub last_turns: Vec<(crate::event::Role, String)>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QaViolation {
    /// `greeting`, `closing`, `empathy` or a forbidden rule's name.
    pub check: String,
    pub detail: String,
    pub weight: u32,
    pub severe: bool,
}

/// Turns a hand-off carries for whoever takes the conversation.
pub const LAST_TURNS: usize = 4;

/// What the conversation operator tells the detector.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ConversationChange {
    /// A conversation's state after the tick's turns.
    Updated(Box<ConversationState>),
    /// A conversation idle for `[conversation] idle` of event time, or ended: forgotten.
    Expired { conversation: SmolStr, last_ms: i64 },
    /// A closing conversation's QA verdict (just before its expiry).
    Scored(Box<QaVerdict>),
}

impl ConversationChange {
    pub fn conversation(&self) -> &SmolStr {
        match self {
            ConversationChange::Updated(s) => &s.conversation,
            ConversationChange::Expired { conversation, .. } => conversation,
            ConversationChange::Scored(v) => &v.conversation,
        }
    }

    /// The conversation's latest turn (for an expiry, the last it had).
    pub fn last_ms(&self) -> i64 {
        match self {
            ConversationChange::Updated(s) => s.last_ms,
            ConversationChange::Expired { last_ms, .. } => *last_ms,
            ConversationChange::Scored(v) => v.closed_ms,
        }
    }
}
