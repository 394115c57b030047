//! The backtest job API (docs/PROTOCOL.md section 11; the Redis side in
//! docs/PRODUCERS.md#backtest-jobs), JSON, for the caller named by `Authorization: Bearer <JWT>`:
//!
//! - `POST /api/backtests`: validate (400 names every invalid field), store the record as
//!   `queued`, publish the request on `channel::JOBS_BACKTEST`; 201 `{job_id, status}`.
//! - `GET /api/backtests`: the caller's jobs, newest first, at most 50.
//! - `GET /api/backtests/{id}`: one job; 404 unless the caller owns it.
//! - `POST /api/backtests/{id}/cancel`: the owner's cancel; 409 once the job finished.
//!
//! Another user's job is answered exactly like a job that does not exist, so job ids cannot be
//! probed.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use log::warn;
use serde_json::{json, Value};

use super::error::ApiError;
use super::AppState;
use super::{auth, body};
use crate::domain::backtest::{
    cancel_command, cancel_request, new_job_id, BacktestConfig, CancelRefused, JobRecord,
};
use crate::domain::event::EpochMillis;
use crate::domain::fields::FieldErrors;
use crate::domain::ids::{JobId, UserId};
use crate::domain::redis_names::channel;
use crate::pipeline::job_store::{Created, JobStore, StoreError, Update};

pub async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let user = caller(&req, &state)?;
    let body = body::read(payload, &state).await?;
    submit_as(user, &state, &body).await
}

async fn submit_as(user: UserId, state: &AppState, body: &[u8]) -> Result<HttpResponse, ApiError> {
    let config = match serde_json::from_slice::<Value>(body) {
        Err(e) => Err(FieldErrors::from([(
            "body".to_owned(),
            format!("not valid JSON: {e}"),
        )])),
        Ok(body) => BacktestConfig::from_request(&body),
    };
    let config = config.map_err(ApiError::invalid_request)?;
    let store = store(state);
    let now = EpochMillis::now().0;
    // A clash of two random 32-bit suffixes within one second is unlikely; a retry makes it moot.
    let mut record = None;
    for _ in 0..3 {
        let job_id = new_job_id(now / 1000, fastrand::u32(..));
        let candidate = JobRecord::queued(job_id, user.clone(), config.clone(), now);
        match store
            .create(&candidate, state.max_active_jobs)
            .await
            .map_err(unavailable)?
        {
            Created::Yes => {
                record = Some(candidate);
                break;
            }
            Created::QuotaReached => {
                let max = state.max_active_jobs;
                return Err(ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_active_jobs",
                    format!("at most {max} queued or running jobs per user; cancel one or wait"),
                ));
            }
            Created::IdTaken => {}
        }
    }
    let record = record.ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "job_id_clash",
            "could not allocate a job id; retry",
        )
    })?;
    let request = record
        .job_request(now)
        .expect("a submitted job has a config");
    if let Err(e) = store.publish(channel::JOBS_BACKTEST, &request).await {
        // The backtester never heard of the job: say so in its record.
        warn!("Could not publish backtest job {}: {e}.", record.job_id);
        let why = format!("could not send the job to the backtester: {e}");
        let _ = store
            .update(&record.job_id, |r| {
                Ok::<_, std::convert::Infallible>(r.fail(why.clone(), EpochMillis::now().0))
            })
            .await;
        return Err(unavailable(e));
    }
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/api/backtests/{}", record.job_id),
        ))
        .json(json!({"job_id": record.job_id, "status": record.status})))
}

pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let user = caller(&req, &state)?;
    let jobs = store(&state).list(&user).await.map_err(store_failed)?;
    Ok(HttpResponse::Ok().json(json!({"jobs": jobs})))
}

pub async fn get(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user = caller(&req, &state)?;
    let job = JobId::new(&id).ok_or_else(not_found)?;
    match store(&state).get(&job).await {
        Ok(Some(record)) if record.owned_by(&user) => Ok(HttpResponse::Ok().json(record)),
        Ok(_) => Err(not_found()),
        Err(StoreError::Unreadable { owner, .. }) if owner.as_ref() != Some(&user) => {
            Err(not_found())
        }
        Err(e) => Err(store_failed(e)),
    }
}

pub async fn cancel(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user = caller(&req, &state)?;
    let job = JobId::new(&id).ok_or_else(not_found)?;
    cancel_as(&user, &job, &state).await
}

async fn cancel_as(user: &UserId, job: &JobId, state: &AppState) -> Result<HttpResponse, ApiError> {
    let store = store(state);
    let outcome = store
        .update(job, |record| {
            record.cancel(user, EpochMillis::now().0).map(|()| true)
        })
        .await;
    match outcome {
        Ok(Update::Saved(record) | Update::Unchanged(record)) => {
            let now = EpochMillis::now().0;
            // Both dialects' backtesters hear it. If a publish fails, the record still says
            // cancelled and later reports cannot change that; only the backtester keeps working.
            for (on, message) in [
                (channel::JOBS_CANCEL, cancel_request(&record.job_id, now)),
                (channel::JOBS_SYSTEM, cancel_command(&record.job_id, now)),
            ] {
                if let Err(e) = store.publish(on, &message).await {
                    warn!(
                        "Job {job} cancelled, but the cancel could not be published on {on}: {e}."
                    );
                }
            }
            Ok(HttpResponse::Ok().json(record))
        }
        Ok(Update::Refused(CancelRefused::Finished(status))) => Err(ApiError::job_finished(status)),
        Ok(Update::Refused(CancelRefused::NotOwner) | Update::NotFound) => Err(not_found()),
        Err(StoreError::Unreadable { owner, .. }) if owner.as_ref() != Some(user) => {
            Err(not_found())
        }
        Err(e) => Err(store_failed(e)),
    }
}

fn store(state: &AppState) -> JobStore {
    JobStore::new(state.commands.clone())
}

fn caller(req: &HttpRequest, state: &AppState) -> Result<UserId, ApiError> {
    auth::user(req, &state.sessions.auth)
}

/// Also the answer for another user's job, so job ids cannot be probed.
fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such job")
}

fn unavailable(e: redis::RedisError) -> ApiError {
    ApiError::redis_unavailable("Backtest API", e)
}

fn store_failed(e: StoreError) -> ApiError {
    match e {
        StoreError::Redis(e) => unavailable(e),
        StoreError::Contended => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", e.to_string()).retry_after(1)
        }
        StoreError::Unreadable { .. } => {
            warn!("Backtest API: {e}.");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "unreadable_job",
                e.to_string(),
            )
        }
    }
}
