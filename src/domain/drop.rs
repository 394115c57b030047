//! Why an inbound message (or one item of a batch) did not become a delivery.
//!
//! Every drop is counted by reason and channel (see `telemetry::Stats`); nothing is dropped
//! without one of these names.

use serde::Serialize;
use strum::{EnumCount, IntoStaticStr, VariantArray};

/// `VARIANTS` (declaration order, so `VARIANTS[r.index()] == r`), `COUNT` and the names are
/// derived from this declaration: a new variant is counted, named and sized for automatically.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, VariantArray, EnumCount, IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum DropReason {
    /// Not valid JSON (includes Python reprs, NaN/Infinity, truncated text, non-UTF-8 bytes).
    InvalidJson,
    /// Valid JSON, but the top level (or a wrapper the kind requires) is not an object.
    NotAnObject,
    /// Larger than `redis.max_message_bytes`.
    TooLarge,
    /// A `{"test": ...}` probe from a legacy health check or startup validator.
    Probe,
    MissingSymbol,
    /// No pattern or indicator name under any accepted alias.
    MissingName,
    MissingJobId,
    MissingUserId,
    /// Some other required field (session id, alert object, error id, message, price) is absent.
    MissingField,
    /// A field has a type or value that cannot be normalised (`"45%"` progress, `health: null`).
    InvalidValue,
    /// A well-formed message that is not a new event for browsers (e.g. `pattern_expired`).
    NotAnEvent,
    /// A batch array with no items in it.
    EmptyBatch,
    /// A backtest event for a job with no record in Redis, so no owner to deliver to.
    UnknownJob,
    /// The job record could not be read (Redis error) or is not valid JSON with a `user_id`.
    JobLookupFailed,
    /// A price update whose `|change_percent|` is under the significance threshold.
    BelowThreshold,
    /// A routed event that no session is entitled to receive.
    NoRecipients,
    /// A pipeline stage's bounded queue was full, so the event was shed.
    Overloaded,
}

impl DropReason {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Position in `VARIANTS`, used to index counter arrays of length `COUNT`.
    pub fn index(self) -> usize {
        self as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_matches_position_in_variants() {
        assert_eq!(DropReason::VARIANTS.len(), DropReason::COUNT);
        for (i, r) in DropReason::VARIANTS.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
    }

    #[test]
    fn serde_names_equal_strum_names() {
        crate::domain::enum_names::assert_serde_matches_strum::<DropReason>();
    }
}
