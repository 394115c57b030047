//! Why an inbound message (or one item of a batch) did not become a delivery.
//!
//! Every drop is counted by reason and channel (see `telemetry::Stats`); nothing is dropped
//! without one of these names.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
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
    pub const ALL: [DropReason; 17] = [
        DropReason::InvalidJson,
        DropReason::NotAnObject,
        DropReason::TooLarge,
        DropReason::Probe,
        DropReason::MissingSymbol,
        DropReason::MissingName,
        DropReason::MissingJobId,
        DropReason::MissingUserId,
        DropReason::MissingField,
        DropReason::InvalidValue,
        DropReason::NotAnEvent,
        DropReason::EmptyBatch,
        DropReason::UnknownJob,
        DropReason::JobLookupFailed,
        DropReason::BelowThreshold,
        DropReason::NoRecipients,
        DropReason::Overloaded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::InvalidJson => "invalid_json",
            DropReason::NotAnObject => "not_an_object",
            DropReason::TooLarge => "too_large",
            DropReason::Probe => "probe",
            DropReason::MissingSymbol => "missing_symbol",
            DropReason::MissingName => "missing_name",
            DropReason::MissingJobId => "missing_job_id",
            DropReason::MissingUserId => "missing_user_id",
            DropReason::MissingField => "missing_field",
            DropReason::InvalidValue => "invalid_value",
            DropReason::NotAnEvent => "not_an_event",
            DropReason::EmptyBatch => "empty_batch",
            DropReason::UnknownJob => "unknown_job",
            DropReason::JobLookupFailed => "job_lookup_failed",
            DropReason::BelowThreshold => "below_threshold",
            DropReason::NoRecipients => "no_recipients",
            DropReason::Overloaded => "overloaded",
        }
    }

    /// Position in `ALL`, used to index counter arrays.
    pub fn index(self) -> usize {
        self as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_matches_position_in_all() {
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
            assert_eq!(
                serde_json::to_string(r).unwrap(),
                format!("\"{}\"", r.as_str())
            );
        }
    }
}
