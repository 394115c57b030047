//! Why an inbound message (or one item of a batch) did not become a delivery.
//!
//! Every such outcome is counted by reason and channel (see `telemetry::Stats`); nothing goes
//! without one of these names. Each reason belongs to one of two families (`Family`): *filtered*
//! (nobody wanted it: normal operation) or *dropped* (it was lost: something is wrong), so an
//! alert on dropped events stays silent on a healthy server.

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

/// Whether a reason is normal filtering or a loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Nobody wanted it: no recipient, below a threshold, not an event at all.
    Filtered,
    /// It was lost: invalid, too large, unroutable, or shed by a full queue.
    Dropped,
}

impl DropReason {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    pub fn family(self) -> Family {
        use DropReason as R;
        match self {
            R::Probe | R::NotAnEvent | R::EmptyBatch | R::BelowThreshold | R::NoRecipients => {
                Family::Filtered
            }
            R::InvalidJson
            | R::NotAnObject
            | R::TooLarge
            | R::MissingSymbol
            | R::MissingName
            | R::MissingJobId
            | R::MissingUserId
            | R::MissingField
            | R::InvalidValue
            | R::UnknownJob
            | R::JobLookupFailed
            | R::Overloaded => Family::Dropped,
        }
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
    fn normal_filtering_is_not_a_loss() {
        for r in [
            DropReason::NoRecipients,
            DropReason::BelowThreshold,
            DropReason::Probe,
        ] {
            assert_eq!(r.family(), Family::Filtered, "{r:?}");
        }
        for r in [
            DropReason::InvalidJson,
            DropReason::Overloaded,
            DropReason::UnknownJob,
        ] {
            assert_eq!(r.family(), Family::Dropped, "{r:?}");
        }
    }

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
