//! Human-readable durations ("250ms", "5s", "1m", "26h", "7d") for configuration files.

use serde::{Deserialize, Deserializer};
use std::fmt;
use std::time::Duration;

/// A duration written as `<number><unit>` with unit `ms`, `s`, `m`, `h` or `d`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    pub fn as_ms(self) -> i64 {
        self.0.as_millis() as i64
    }

    /// Whole seconds, as window sizes are kept (validated: at most a century, whole seconds
    /// for windows).
    pub fn as_secs(self) -> u32 {
        self.0.as_secs() as u32
    }
}

/// Why a duration does not read.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("duration `{0}` has no unit (use ms, s, m, h or d)")]
    NoUnit(String),
    #[error("duration `{0}` must start with a whole number")]
    NotANumber(String),
    #[error("duration `{text}` has unknown unit `{unit}` (use ms, s, m, h or d)")]
    UnknownUnit { text: String, unit: String },
    /// Longer than a century: no configuration means that, and times computed from it (a
    /// clock plus a cooldown) would overflow.
    #[error("duration `{0}` is too long (at most 36500d)")]
    TooLong(String),
}

/// A century, in milliseconds.
const MAX_MS: u64 = 36_500 * 86_400_000;

pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(|| DurationError::NoUnit(text.into()))?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().map_err(|_| DurationError::NotANumber(text.into()))?;
    let per_unit: u64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(DurationError::UnknownUnit { text: text.into(), unit: unit.into() }),
    };
    let ms = n.checked_mul(per_unit).filter(|ms| *ms <= MAX_MS).ok_or_else(|| DurationError::TooLong(text.into()))?;
    Ok(Duration::from_millis(ms))
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        parse_duration(&text).map(HumanDuration).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        for (unit, size) in [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)] {
            if ms >= size && ms.is_multiple_of(size) {
                return write!(f, "{}{unit}", ms / size);
            }
        }
        write!(f, "{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duration_too_long_for_milliseconds_is_an_error_not_a_wrap() {
        assert_eq!(parse_duration("99999999999d"), Err(DurationError::TooLong("99999999999d".into())));
        assert!(matches!(parse_duration("36501d"), Err(DurationError::TooLong(_))));
        assert_eq!(parse_duration("36500d"), Ok(Duration::from_millis(MAX_MS)));
    }

    #[test]
    fn parses_every_unit_and_rejects_garbage() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("1m").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_duration("26h").unwrap(), Duration::from_secs(26 * 3600));
        assert_eq!(parse_duration("2d").unwrap(), Duration::from_secs(2 * 86400));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("5w").is_err());
        assert_eq!(HumanDuration(Duration::from_secs(300)).to_string(), "5m");
    }
}
