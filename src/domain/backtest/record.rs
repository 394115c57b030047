//! The job record stored under `redis_names::key::job`, and its state machine:
//!
//! `queued` -> `running` (first progress, sets `started_at`) -> `completed` (progress 1.0,
//! `completed_at`, `results`) / `failed` / `cancelled`. A terminal state never changes again, so
//! a progress report that arrives after a cancel is ignored.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use strum::{IntoStaticStr, VariantArray};

use super::request::BacktestConfig;
use crate::domain::event::{BacktestOutcome, BacktestProgress, BacktestResult, JsonMap};
use crate::domain::ids::{JobId, UserId};

/// Job records live 7 days, refreshed on every save; a user's job index 30 days.
pub const JOB_TTL_SECS: u64 = 7 * 24 * 3600;
pub const USER_JOBS_TTL_SECS: u64 = 30 * 24 * 3600;
/// Jobs listed per user, newest first.
pub const LIST_LIMIT: usize = 50;

/// `backtest_<epoch_s>_<8 hex>`; `random` supplies the hex part.
pub fn new_job_id(epoch_secs: i64, random: u32) -> JobId {
    JobId::new(&format!("backtest_{epoch_secs}_{random:08x}")).expect("a job id has no spaces")
}

/// The names are derived from this declaration (serde's and strum's, kept equal by a test).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, VariantArray, IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum JobStatus {
    #[default]
    Queued,
    Running,
    Completed,
    Failed,
    Cancelled,
}

impl JobStatus {
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobStatus::Completed | JobStatus::Failed | JobStatus::Cancelled
        )
    }

    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Stored as JSON under `key::job`. Every field is always present (`null` when unset). Times are
/// epoch milliseconds. Fields other than `job_id` and `user_id` have defaults, so a minimal
/// record written by another tool still loads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    pub job_id: JobId,
    #[serde(deserialize_with = "user_id_text")]
    pub user_id: UserId,
    #[serde(default)]
    pub config: Option<BacktestConfig>,
    #[serde(default)]
    pub status: JobStatus,
    #[serde(default)]
    pub created_at: i64,
    #[serde(default)]
    pub started_at: Option<i64>,
    #[serde(default)]
    pub completed_at: Option<i64>,
    /// 0..1.
    #[serde(default)]
    pub progress: f64,
    #[serde(default)]
    pub current_symbol: Option<String>,
    #[serde(default)]
    pub estimated_completion: Option<i64>,
    #[serde(default)]
    pub error_message: Option<String>,
    #[serde(default)]
    pub results: Option<JsonMap>,
}

/// Producers and older tools store the owner as a string or a number.
fn user_id_text<'de, D: Deserializer<'de>>(d: D) -> Result<UserId, D::Error> {
    let raw = Value::deserialize(d)?;
    let text = match raw {
        Value::String(s) => s,
        Value::Number(n) => n.to_string(),
        other => return Err(serde::de::Error::custom(format!("user_id {other}"))),
    };
    UserId::new(text).ok_or_else(|| serde::de::Error::custom("empty user_id"))
}

/// Why a cancel was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelRefused {
    /// The job belongs to someone else: answered like an unknown job.
    NotOwner,
    /// The job already finished with this status.
    Finished(JobStatus),
}

impl JobRecord {
    pub fn queued(job_id: JobId, user_id: UserId, config: BacktestConfig, now_ms: i64) -> Self {
        JobRecord {
            job_id,
            user_id,
            config: Some(config),
            status: JobStatus::Queued,
            created_at: now_ms,
            started_at: None,
            completed_at: None,
            progress: 0.0,
            current_symbol: None,
            estimated_completion: None,
            error_message: None,
            results: None,
        }
    }

    /// Loads a stored record; `job_id` fills in a record that lacks one.
    pub fn from_stored(job_id: &JobId, text: &str) -> Result<JobRecord, String> {
        let mut value: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let object = value.as_object_mut().ok_or("not a JSON object")?;
        object
            .entry("job_id")
            .or_insert_with(|| Value::String(job_id.to_string()));
        serde_json::from_value(value).map_err(|e| format!("not a job record: {e}"))
    }

    /// Just the owner of a stored record that does not load as a whole (a record written by
    /// another tool with fields of other types), so its events still reach the owner.
    pub fn stored_owner(text: &str) -> Option<UserId> {
        #[derive(Deserialize)]
        struct Owner {
            #[serde(deserialize_with = "user_id_text")]
            user_id: UserId,
        }
        serde_json::from_str::<Owner>(text).ok().map(|o| o.user_id)
    }

    /// Queued and running jobs are in `key::ACTIVE_JOBS`.
    pub fn is_active(&self) -> bool {
        !self.status.is_terminal()
    }

    pub fn owned_by(&self, user: &UserId) -> bool {
        &self.user_id == user
    }

    /// Applies a progress report; false when it changes nothing (a finished job, or the same
    /// report again).
    pub fn apply_progress(&mut self, p: &BacktestProgress, now_ms: i64) -> bool {
        if self.status.is_terminal() {
            return false;
        }
        let before = self.clone();
        if self.status == JobStatus::Queued {
            self.status = JobStatus::Running;
            self.started_at = Some(now_ms);
        }
        self.progress = p.progress.clamp(0.0, 1.0);
        if let Some(symbol) = &p.current_symbol {
            self.current_symbol = Some(symbol.clone());
        }
        if let Some(eta) = p.estimated_completion {
            self.estimated_completion = Some(eta.0);
        }
        *self != before
    }

    /// Applies the final result; false when the job had already finished.
    pub fn apply_result(&mut self, r: &BacktestResult, now_ms: i64) -> bool {
        if self.status.is_terminal() {
            return false;
        }
        self.status = match r.status {
            BacktestOutcome::Completed => {
                self.progress = 1.0;
                JobStatus::Completed
            }
            BacktestOutcome::Failed => JobStatus::Failed,
            BacktestOutcome::Cancelled => JobStatus::Cancelled,
        };
        self.started_at.get_or_insert(now_ms);
        self.completed_at = Some(now_ms);
        self.results = Some(r.results.clone());
        self.error_message = r.error_message.clone();
        true
    }

    /// Fails an unfinished job for a reason of tickrouter's own (the request never reached the
    /// backtester); false when it had already finished.
    pub fn fail(&mut self, why: String, now_ms: i64) -> bool {
        if self.status.is_terminal() {
            return false;
        }
        self.status = JobStatus::Failed;
        self.completed_at = Some(now_ms);
        self.error_message = Some(why);
        true
    }

    /// The owner's cancel of a queued or running job.
    pub fn cancel(&mut self, by: &UserId, now_ms: i64) -> Result<(), CancelRefused> {
        if !self.owned_by(by) {
            return Err(CancelRefused::NotOwner);
        }
        if self.status.is_terminal() {
            return Err(CancelRefused::Finished(self.status));
        }
        self.status = JobStatus::Cancelled;
        self.completed_at = Some(now_ms);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::fixtures::record;
    use super::*;
    use crate::domain::event::EpochMillis;

    #[test]
    fn job_status_serde_names_equal_strum_names() {
        crate::domain::enum_names::assert_serde_matches_strum::<JobStatus>();
        for &s in JobStatus::VARIANTS {
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(serde_json::from_str::<JobStatus>(&json).unwrap(), s);
        }
    }

    fn progress(fraction: f64) -> BacktestProgress {
        BacktestProgress {
            job_id: JobId::new("j").unwrap(),
            progress: fraction,
            status: "processing".into(),
            timestamp: EpochMillis(0),
            current_symbol: Some("MSFT".into()),
            processed_symbols: None,
            estimated_completion: Some(EpochMillis(9_000)),
        }
    }

    fn result(status: BacktestOutcome) -> BacktestResult {
        let mut results = JsonMap::new();
        results.insert("roi".into(), json!(0.12));
        BacktestResult {
            job_id: JobId::new("j").unwrap(),
            status,
            results,
            timestamp: EpochMillis(0),
            error_message: (status == BacktestOutcome::Failed).then(|| "no data".to_owned()),
            processing_time_seconds: None,
        }
    }

    #[test]
    fn job_ids_have_the_legacy_format() {
        assert_eq!(
            new_job_id(1_760_556_900, 0x9f3a_1c2e).as_str(),
            "backtest_1760556900_9f3a1c2e"
        );
        assert_eq!(new_job_id(5, 0xab).as_str(), "backtest_5_000000ab");
    }

    #[test]
    fn progress_starts_the_job_once() {
        let mut r = record();
        assert!(r.is_active());
        assert!(r.apply_progress(&progress(0.25), 2_000));
        assert_eq!(r.status, JobStatus::Running);
        assert_eq!(r.started_at, Some(2_000));
        assert_eq!(r.current_symbol.as_deref(), Some("MSFT"));
        assert_eq!(r.estimated_completion, Some(9_000));
        assert!(r.apply_progress(&progress(0.5), 3_000));
        assert_eq!((r.started_at, r.progress), (Some(2_000), 0.5));
        assert!(!r.apply_progress(&progress(0.5), 4_000), "same report");
    }

    #[test]
    fn results_finish_the_job_for_good() {
        let mut r = record();
        r.apply_progress(&progress(0.4), 2_000);
        assert!(r.apply_result(&result(BacktestOutcome::Completed), 5_000));
        assert_eq!(r.status, JobStatus::Completed);
        assert_eq!((r.progress, r.completed_at), (1.0, Some(5_000)));
        assert_eq!(r.results.as_ref().unwrap()["roi"], json!(0.12));
        assert!(!r.is_active());
        let done = r.clone();
        assert!(!r.apply_progress(&progress(0.1), 6_000));
        assert!(!r.apply_result(&result(BacktestOutcome::Failed), 6_000));
        assert_eq!(r, done);

        let mut failed = record();
        assert!(failed.apply_result(&result(BacktestOutcome::Failed), 5_000));
        assert_eq!(failed.status, JobStatus::Failed);
        assert_eq!(failed.error_message.as_deref(), Some("no data"));
        assert_eq!(failed.progress, 0.0);
        assert_eq!(failed.started_at, Some(5_000));

        let mut cancelled = record();
        assert!(cancelled.apply_result(&result(BacktestOutcome::Cancelled), 5_000));
        assert_eq!(cancelled.status, JobStatus::Cancelled);
        assert!(!cancelled.fail("late".into(), 6_000));

        let mut unsent = record();
        assert!(unsent.fail("Redis is down".into(), 2_000));
        assert_eq!(unsent.status, JobStatus::Failed);
        assert_eq!(unsent.error_message.as_deref(), Some("Redis is down"));
        assert_eq!(unsent.completed_at, Some(2_000));
    }

    #[test]
    fn only_the_owner_cancels_and_only_an_unfinished_job() {
        let alice = UserId::new("alice").unwrap();
        let bob = UserId::new("bob").unwrap();
        let mut r = record();
        assert_eq!(r.cancel(&bob, 2_000), Err(CancelRefused::NotOwner));
        assert_eq!(r.status, JobStatus::Queued);
        r.apply_progress(&progress(0.3), 2_000);
        assert_eq!(r.cancel(&alice, 3_000), Ok(()));
        assert_eq!(
            (r.status, r.completed_at),
            (JobStatus::Cancelled, Some(3_000))
        );
        assert_eq!(
            r.cancel(&alice, 4_000),
            Err(CancelRefused::Finished(JobStatus::Cancelled))
        );
        // A report the backtester sent before it saw the cancel changes nothing.
        assert!(!r.apply_progress(&progress(0.6), 4_000));
        assert!(!r.apply_result(&result(BacktestOutcome::Completed), 4_000));
        assert_eq!((r.status, r.progress), (JobStatus::Cancelled, 0.3));
    }

    #[test]
    fn records_round_trip_and_minimal_ones_load() {
        let r = record();
        let text = serde_json::to_string(&r).unwrap();
        let stored: Value = serde_json::from_str(&text).unwrap();
        for field in [
            "job_id",
            "user_id",
            "config",
            "status",
            "created_at",
            "started_at",
            "completed_at",
            "progress",
            "current_symbol",
            "estimated_completion",
            "error_message",
            "results",
        ] {
            assert!(stored.get(field).is_some(), "{field} missing from {text}");
        }
        assert_eq!(stored["status"], "queued");
        assert_eq!(stored["config"]["symbols"], json!(["AAPL", "MSFT"]));
        assert_eq!(JobRecord::from_stored(&r.job_id, &text).unwrap(), r);

        let job = JobId::new("job_b").unwrap();
        let minimal = JobRecord::from_stored(&job, r#"{"user_id": 42}"#).unwrap();
        assert_eq!(
            (minimal.job_id.as_str(), minimal.user_id.as_str()),
            ("job_b", "42")
        );
        assert_eq!(minimal.status, JobStatus::Queued);
        for bad in [
            "nope",
            "[1]",
            r#"{"user_id": null}"#,
            r#"{"user_id": " "}"#,
            "{}",
        ] {
            assert!(JobRecord::from_stored(&job, bad).is_err(), "{bad}");
        }
        let odd_status = r#"{"user_id": "a", "status": "exploded", "created_at": "2025-10-15"}"#;
        assert!(JobRecord::from_stored(&job, odd_status).is_err());
        assert_eq!(JobRecord::stored_owner(odd_status).unwrap().as_str(), "a");
        assert_eq!(
            JobRecord::stored_owner(r#"{"user_id": 7}"#)
                .unwrap()
                .as_str(),
            "7"
        );
        assert!(JobRecord::stored_owner(r#"{"user": 7}"#).is_none());
    }
}
