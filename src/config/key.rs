//! What a window count is kept for: a [`Dimension`] (`category`), or a combined [`Key`] of up to
//! three (`["business", "category"]`: payment complaints of the live-streaming business).

use serde::{Deserialize, Serialize};
use std::fmt;

/// The dimensions a window count is kept for. `Overall` has the single value `all`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    Category,
    Channel,
    Campaign,
    /// The business line a message belongs to: upstream, or the first `[[scope]]` that matches.
    Business,
    Overall,
    /// Established embedding clusters (`c-17`): a known issue getting worse is a cluster spike.
    Cluster,
    /// The agent of a ticket's transitions: ticket KPIs only (threshold rules).
    Agent,
    /// An agent's team (transcript QA scores): KPIs only, as `Agent`.
    Team,
}

impl Dimension {
    pub const ALL: [Dimension; 8] = [
        Self::Category,
        Self::Channel,
        Self::Campaign,
        Self::Business,
        Self::Overall,
        Self::Cluster,
        Self::Agent,
        Self::Team,
    ];

    /// The dimensions every message is counted in on its own (clusters are counted by the
    /// clusterer, for established clusters only).
    pub const COUNTED: [Dimension; 5] = [Self::Category, Self::Channel, Self::Campaign, Self::Business, Self::Overall];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Category => "category",
            Self::Channel => "channel",
            Self::Campaign => "campaign",
            Self::Business => "business",
            Self::Overall => "overall",
            Self::Cluster => "cluster",
            Self::Agent => "agent",
            Self::Team => "team",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == text)
    }

    /// Whether the dimension may be part of a combined key: the labels a message carries.
    pub fn combines(self) -> bool {
        matches!(self, Self::Category | Self::Channel | Self::Campaign | Self::Business)
    }
}

/// The most dimensions one key combines.
pub const MAX_PARTS: usize = 3;

/// Between the parts of a combined key's name (`business|category`) and of its values
/// (`live|payment`). A `|` inside a label is written `¦` in a combined value, so the parts
/// always split back.
pub const SEPARATOR: char = '|';

/// One dimension, or a combination of up to [`MAX_PARTS`] in the order written, packed four bits
/// a part (0: none, else the dimension's index + 1) into one integer: it sits in every window
/// key, which differential hashes, sorts and compares on every update, and an integer hashes
/// and compares in one step where an array of options takes six.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Key(u16);

/// Why a key as written is not one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("unknown dimension `{0}` (category, channel, campaign, business, overall, cluster, agent or team)")]
    Unknown(String),
    #[error("a combined key has 2 or 3 of category, channel, campaign and business, each once; not {0}")]
    BadCombination(String),
}

impl From<Dimension> for Key {
    fn from(d: Dimension) -> Key {
        Key(Key::code(d))
    }
}

impl Key {
    fn code(d: Dimension) -> u16 {
        Dimension::ALL.iter().position(|x| *x == d).map_or(0, |i| i as u16 + 1)
    }

    fn part(self, slot: usize) -> Option<Dimension> {
        match (self.0 >> (4 * slot)) & 0xf {
            0 => None,
            code => Dimension::ALL.get(code as usize - 1).copied(),
        }
    }

    /// A combined key of `dims` in that order.
    pub fn combined(dims: &[Dimension]) -> Result<Key, KeyError> {
        let shown = || dims.iter().map(|d| d.as_str()).collect::<Vec<_>>().join(", ");
        let distinct = dims.iter().enumerate().all(|(i, d)| !dims[..i].contains(d));
        match dims {
            [one] => Ok(Key::from(*one)),
            _ if (2..=MAX_PARTS).contains(&dims.len()) && distinct && dims.iter().all(|d| d.combines()) => {
                Ok(Key(dims.iter().enumerate().fold(0, |packed, (slot, d)| packed | Key::code(*d) << (4 * slot))))
            }
            _ => Err(KeyError::BadCombination(format!("[{}]", shown()))),
        }
    }

    /// Parses a name as [`Key::name`] writes it (`category`, `business|category`).
    pub fn parse(name: &str) -> Result<Key, KeyError> {
        Key::of_names(name.split(SEPARATOR))
    }

    /// The key of these dimension names, in order.
    fn of_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Key, KeyError> {
        let dims: Vec<Dimension> = names
            .into_iter()
            .map(|name| Dimension::parse(name).ok_or_else(|| KeyError::Unknown(name.to_string())))
            .collect::<Result<_, _>>()?;
        Key::combined(&dims)
    }

    pub fn dims(self) -> impl Iterator<Item = Dimension> {
        (0..MAX_PARTS).map_while(move |slot| self.part(slot))
    }

    /// The one dimension of a key that is not combined.
    pub fn single(self) -> Option<Dimension> {
        match self.0 >> 4 {
            0 => self.part(0),
            _ => None,
        }
    }

    pub fn is(self, d: Dimension) -> bool {
        self.single() == Some(d)
    }

    pub fn is_combined(self) -> bool {
        self.single().is_none()
    }

    /// `category`, or `business|category` for a combined key.
    pub fn name(self) -> String {
        self.to_string()
    }

    /// The value of a combined key from its parts' values, in the key's order.
    pub fn join<'a>(parts: impl IntoIterator<Item = &'a str>) -> String {
        let mut value = String::new();
        for (i, part) in parts.into_iter().enumerate() {
            if i > 0 {
                value.push(SEPARATOR);
            }
            value.extend(part.chars().map(|c| if c == SEPARATOR { '¦' } else { c }));
        }
        value
    }

    /// Each dimension of the key with its part of `value`.
    pub fn parts(self, value: &str) -> Vec<(Dimension, &str)> {
        match self.single() {
            Some(d) => vec![(d, value)],
            None => self.dims().zip(value.split(SEPARATOR)).collect(),
        }
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.dims().enumerate() {
            if i > 0 {
                write!(f, "{SEPARATOR}")?;
            }
            f.write_str(d.as_str())?;
        }
        Ok(())
    }
}

/// A key as written in a rule or an `[[aggregate]]`: one name, or a list of names.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum KeySpec {
    One(String),
    Many(Vec<String>),
}

impl KeySpec {
    pub fn key(&self) -> Result<Key, KeyError> {
        match self {
            KeySpec::One(name) => Key::of_names([name.as_str()]),
            KeySpec::Many(names) => Key::of_names(names.iter().map(String::as_str)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_combine_labels_in_the_order_written_and_split_back() {
        let k = KeySpec::Many(vec!["business".into(), "category".into()]).key().unwrap();
        assert_eq!(k.name(), "business|category");
        assert_eq!(Key::parse("business|category"), Ok(k));
        assert!(k.is_combined() && !k.is(Dimension::Business));
        let value = Key::join(["live", "pay|ment"]);
        assert_eq!(value, "live|pay¦ment");
        assert_eq!(k.parts(&value), vec![(Dimension::Business, "live"), (Dimension::Category, "pay¦ment")]);
        let single = KeySpec::One("channel".into()).key().unwrap();
        assert!(single.is(Dimension::Channel));
        assert_eq!(single.parts("a|b"), vec![(Dimension::Channel, "a|b")], "a single value is never split");
    }

    #[test]
    fn bad_keys_say_why() {
        assert_eq!(KeySpec::One("region".into()).key(), Err(KeyError::Unknown("region".into())));
        let twice = KeySpec::Many(vec!["category".into(), "category".into()]).key();
        assert!(matches!(twice, Err(KeyError::BadCombination(_))));
        let cluster = KeySpec::Many(vec!["business".into(), "cluster".into()]).key();
        assert!(matches!(cluster, Err(KeyError::BadCombination(_))));
        let four = ["category", "channel", "campaign", "business"].map(String::from).to_vec();
        assert!(matches!(KeySpec::Many(four).key(), Err(KeyError::BadCombination(_))));
    }
}
