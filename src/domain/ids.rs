//! Newtypes for the identifiers that travel through the pipeline, so a user id can never be
//! passed where a symbol or a job id is expected.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_id!(
    /// A user id as carried in a token's `sub` claim or a job record's `user_id`.
    /// Producers send it as a string or a number; both compare as the same string.
    UserId
);
string_id!(
    /// A ticker symbol, always upper-case so `aapl` and `AAPL` share one stream.
    Symbol
);
string_id!(
    /// A backtest job id (`backtest_<epoch>_<8 hex>`).
    JobId
);

impl UserId {
    pub fn new(id: impl Into<String>) -> Option<Self> {
        let id = id.into();
        let trimmed = id.trim();
        (!trimmed.is_empty()).then(|| UserId(trimmed.to_owned()))
    }
}

impl Symbol {
    /// Accepts what producers send (`aapl`, ` BRK.B `) and rejects empty or absurd values.
    pub fn new(raw: &str) -> Option<Self> {
        let s = raw.trim();
        let valid = !s.is_empty()
            && s.len() <= 32
            && s.chars().all(|c| {
                c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/' | ':' | '^' | '=')
            });
        valid.then(|| Symbol(s.to_ascii_uppercase()))
    }
}

impl JobId {
    pub fn new(raw: &str) -> Option<Self> {
        let s = raw.trim();
        let valid = !s.is_empty() && s.len() <= 128 && !s.contains(char::is_whitespace);
        valid.then(|| JobId(s.to_owned()))
    }
}

/// A WebSocket session, numbered from 1 by the server; never reused within a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SessionId(pub u64);

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_are_upper_cased_and_validated() {
        assert_eq!(Symbol::new(" brk.b ").unwrap().as_str(), "BRK.B");
        assert!(Symbol::new("").is_none());
        assert!(Symbol::new("A B").is_none());
        assert!(Symbol::new(&"X".repeat(33)).is_none());
    }

    #[test]
    fn user_ids_are_trimmed_and_non_empty() {
        assert_eq!(UserId::new(" 42 ").unwrap().as_str(), "42");
        assert!(UserId::new("  ").is_none());
    }
}
