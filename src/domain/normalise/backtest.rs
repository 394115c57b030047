//! Backtest jobs: `backtest_progress` (progress as a 0..1 fraction) and `backtest_result`.

use super::super::drop::DropReason;
use super::super::event::{BacktestOutcome, BacktestProgress, BacktestResult, EpochMillis, Event};
use super::super::ids::JobId;
use super::json::Json;
use super::layers::{Msg, Shape};
use super::value::{self as v, Res};

pub(super) const BACKTEST_SHAPE: Shape = Shape {
    wrappers: &["event"],
    key_fields: &[&["job_id"]],
    batch: None,
};

fn job_id(m: &Msg<'_>) -> Res<JobId> {
    let raw = v::text(m.own(&["job_id"])).ok().flatten();
    raw.and_then(|id| JobId::new(&id))
        .ok_or(DropReason::MissingJobId)
}

/// `tickstock.events.backtesting.progress`; a missing progress is `MissingField`.
pub(super) fn progress(m: &Msg<'_>, received_at: EpochMillis) -> Res<Event> {
    Ok(Event::BacktestProgress(BacktestProgress {
        job_id: job_id(m)?,
        progress: v::fraction(m.own(&["progress"]))?.ok_or(DropReason::MissingField)?,
        status: v::text(m.own(&["status"]))?.unwrap_or_else(|| "processing".to_owned()),
        timestamp: m.time(received_at)?,
        current_symbol: v::text(m.own(&["current_symbol"]))?,
        processed_symbols: m.own(&["processed_symbols"]).map(Json::to_value),
        estimated_completion: v::timestamp(m.own(&["estimated_completion"]))?,
    }))
}

/// `tickstock.events.backtesting.results`; an unrecognised status is `InvalidValue`.
pub(super) fn result(m: &Msg<'_>, received_at: EpochMillis) -> Res<Event> {
    let job_id = job_id(m)?;
    let status = match v::text(m.own(&["status"]))? {
        None => BacktestOutcome::Completed,
        Some(s) => outcome(&s).ok_or(DropReason::InvalidValue)?,
    };
    Ok(Event::BacktestResult(BacktestResult {
        job_id,
        status,
        results: v::object_or_empty(m.own(&["results"]))?,
        timestamp: m.time(received_at)?,
        error_message: v::text(m.own(&["error_message", "error"]))?,
        processing_time_seconds: v::number(m.own(&["processing_time_seconds"]))?,
    }))
}

fn outcome(status: &str) -> Option<BacktestOutcome> {
    match status.trim().to_ascii_lowercase().as_str() {
        "completed" | "success" => Some(BacktestOutcome::Completed),
        "failed" | "error" => Some(BacktestOutcome::Failed),
        "cancelled" | "canceled" => Some(BacktestOutcome::Cancelled),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::kind::EventKind;
    use super::super::normalise;
    use super::*;
    use serde_json::{json, Value};

    fn run(kind: EventKind, v: Value) -> Vec<Res<Event>> {
        normalise(kind, v.to_string().as_bytes(), EpochMillis(0))
    }

    #[test]
    fn progress_is_a_fraction_and_required() {
        let job = "backtest_1_ab";
        let out = run(
            EventKind::BacktestProgress,
            json!({"job_id": job, "progress": "45"}),
        );
        let [Ok(Event::BacktestProgress(p))] = out.as_slice() else {
            panic!("{out:?}")
        };
        assert_eq!((p.progress, p.status.as_str()), (0.45, "processing"));
        for (bad, reason) in [
            (json!({"job_id": job}), DropReason::MissingField),
            (
                json!({"job_id": job, "progress": "45%"}),
                DropReason::InvalidValue,
            ),
            (
                json!({"job_id": job, "progress": 140}),
                DropReason::InvalidValue,
            ),
            (
                json!({"job_id": " ", "progress": 1}),
                DropReason::MissingJobId,
            ),
            (
                json!({"job_id": {"id": 1}, "progress": 1}),
                DropReason::MissingJobId,
            ),
        ] {
            assert_eq!(
                run(EventKind::BacktestProgress, bad.clone()),
                vec![Err(reason)],
                "{bad}"
            );
        }
    }

    #[test]
    fn result_status_is_mapped_strictly() {
        for (status, want) in [
            ("Success", Ok(BacktestOutcome::Completed)),
            ("error", Ok(BacktestOutcome::Failed)),
            ("canceled", Ok(BacktestOutcome::Cancelled)),
            ("finished?", Err(DropReason::InvalidValue)),
        ] {
            let out = run(
                EventKind::BacktestResult,
                json!({"job_id": 12, "status": status}),
            );
            let got = match out.as_slice() {
                [Ok(Event::BacktestResult(r))] => {
                    assert_eq!(r.job_id.as_str(), "12");
                    Ok(r.status)
                }
                [Err(e)] => Err(*e),
                other => panic!("{other:?}"),
            };
            assert_eq!(got, want, "{status}");
        }
        let bad = json!({"job_id": "j", "results": [1]});
        assert_eq!(
            run(EventKind::BacktestResult, bad),
            vec![Err(DropReason::InvalidValue)]
        );
    }
}
