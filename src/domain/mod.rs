//! Pure domain types and logic: no actix, no I/O. Everything here is unit-tested directly.

pub mod alert_rules;
pub mod audience;
pub mod backtest;
pub mod close;
pub mod directory;
pub mod drop;
pub mod event;
pub mod fanout;
pub mod fields;
pub mod filter;
pub mod history;
pub mod identity;
pub mod ids;
pub mod kind;
pub mod monitor;
pub mod normalise;
pub mod operations_log;
pub mod outbound;
pub mod preferences;
pub mod protocol;
pub mod publication;
pub mod receipt;
pub mod redis_names;
pub mod replies;
pub mod session_state;
pub mod snapshot;
pub mod socketio;
pub mod stream;
pub mod streaming_buffer;
pub mod token_expiry;
pub mod user_cache;

/// Test helper: an enum that derives both serde's and strum's names must give the same name
/// for every variant, so the two derives cannot drift apart.
#[cfg(test)]
pub(crate) mod enum_names {
    use serde::Serialize;
    use strum::VariantArray;

    pub fn assert_serde_matches_strum<T>()
    where
        T: Serialize + VariantArray + Copy + std::fmt::Debug + Into<&'static str>,
    {
        assert!(!T::VARIANTS.is_empty());
        for &v in T::VARIANTS {
            let strum_name: &'static str = v.into();
            assert_eq!(
                serde_json::to_value(v).unwrap(),
                serde_json::Value::String(strum_name.to_owned()),
                "{v:?}: serde and strum disagree on its name"
            );
        }
    }
}
