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
}

/// Turns a hand-off carries for whoever takes the conversation.
pub const LAST_TURNS: usize = 4;

/// What the conversation operator tells the detector.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ConversationChange {
    /// A conversation's state after the tick's turns.
    Updated(ConversationState),
    /// A conversation idle for `[conversation] idle` of event time: forgotten.
    Expired { conversation: SmolStr, last_ms: i64 },
}

impl ConversationChange {
    pub fn conversation(&self) -> &SmolStr {
        match self {
            ConversationChange::Updated(s) => &s.conversation,
            ConversationChange::Expired { conversation, .. } => conversation,
        }
    }

    /// The conversation's latest turn (for an expiry, the last it had).
    pub fn last_ms(&self) -> i64 {
        match self {
            ConversationChange::Updated(s) => s.last_ms,
            ConversationChange::Expired { last_ms, .. } => *last_ms,
        }
    }
}
