//! Backtest jobs (docs/PRODUCERS.md#backtest-jobs), pure logic that the HTTP API and the Backtest handler do the
//! I/O around:
//!
//! - `request`: a `POST /api/backtests` body, validated into a [`BacktestConfig`];
//! - `record`: the [`JobRecord`] stored under `redis_names::key::job` and its state machine;
//! - `messages`: what is published to the backtester for a job.

mod messages;
mod record;
mod request;

pub use messages::{cancel_command, cancel_request};
pub use record::{
    new_job_id, CancelRefused, JobRecord, JobStatus, JOB_TTL_SECS, LIST_LIMIT, USER_JOBS_TTL_SECS,
};
pub use request::BacktestConfig;

/// Test data shared by the three parts.
#[cfg(test)]
mod fixtures {
    use serde_json::{json, Value};

    use super::{new_job_id, BacktestConfig, JobRecord};
    use crate::domain::ids::UserId;

    /// A minimal valid submission, as a client sends it.
    pub fn valid() -> Value {
        json!({
            "symbols": ["aapl", "MSFT"],
            "start_date": "2024-01-01",
            "end_date": "2024-12-31",
            "patterns": ["Doji", "Hammer"],
        })
    }

    /// Alice's job for `valid()`, just queued.
    pub fn record() -> JobRecord {
        let config = BacktestConfig::from_request(&valid()).unwrap();
        JobRecord::queued(
            new_job_id(1_760_000_000, 1),
            UserId::new("alice").unwrap(),
            config,
            1_000,
        )
    }
}
