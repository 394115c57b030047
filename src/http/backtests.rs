//! The backtest job API (docs/PROTOCOL.md section 11; the Redis side in
//! docs/PRODUCERS.md#backtest-jobs), JSON, for the caller named by `Authorization: Bearer <JWT>`:
//!
//! - `POST /api/backtests`: validate (400 names every invalid field), store the record as
//!   `queued`, publish the request on `tickstock.jobs.backtest`; 201 `{job_id, status}`.
//! - `GET /api/backtests`: the caller's jobs, newest first, at most 50.
//! - `GET /api/backtests/{id}`: one job; 404 unless the caller owns it.
//! - `POST /api/backtests/{id}/cancel`: the owner's cancel; 409 once the job finished.
//!
//! Another user's job is answered exactly like a job that does not exist, so job ids cannot be
//! probed.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use log::warn;
use serde_json::{json, Value};

use super::auth::{self, Refused};
use super::AppState;
use crate::auth::AuthError;
use crate::domain::backtest_job::{
    cancel_request, invalid_request_body, new_job_id, BacktestConfig, CancelRefused, FieldErrors,
    JobRecord,
};
use crate::domain::event::EpochMillis;
use crate::domain::ids::{JobId, UserId};
use crate::domain::redis_names::channel;
use crate::pipeline::job_store::{JobStore, StoreError, Update};

pub async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, Refused> {
    let user = caller(&req, &state)?;
    Ok(submit_as(user, &state, &body).await)
}

async fn submit_as(user: UserId, state: &AppState, body: &[u8]) -> HttpResponse {
    let config = match serde_json::from_slice::<Value>(body) {
        Err(e) => Err(FieldErrors::from([(
            "body".to_owned(),
            format!("not valid JSON: {e}"),
        )])),
        Ok(body) => BacktestConfig::from_request(&body),
    };
    let config = match config {
        Ok(config) => config,
        Err(errors) => return HttpResponse::BadRequest().json(invalid_request_body(&errors)),
    };
    let store = store(state);
    let now = EpochMillis::now().0;
    // A clash of two random 32-bit suffixes within one second is unlikely; a retry makes it moot.
    let mut record = None;
    for _ in 0..3 {
        let job_id = new_job_id(now / 1000, fastrand::u32(..));
        let candidate = JobRecord::queued(job_id, user.clone(), config.clone(), now);
        match store.create(&candidate).await {
            Ok(true) => {
                record = Some(candidate);
                break;
            }
            Ok(false) => continue,
            Err(e) => return unavailable(&e),
        }
    }
    let Some(record) = record else {
        return HttpResponse::ServiceUnavailable().json(
            json!({"error": "job_id_clash", "message": "could not allocate a job id; retry"}),
        );
    };
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
        return unavailable(&e);
    }
    HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/api/backtests/{}", record.job_id),
        ))
        .json(json!({"job_id": record.job_id, "status": record.status}))
}

pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, Refused> {
    let user = caller(&req, &state)?;
    Ok(match store(&state).list(&user).await {
        Ok(jobs) => HttpResponse::Ok().json(json!({"jobs": jobs})),
        Err(e) => store_failed(&e),
    })
}

pub async fn get(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, Refused> {
    let user = caller(&req, &state)?;
    let Some(job) = JobId::new(&id) else {
        return Ok(not_found());
    };
    Ok(match store(&state).get(&job).await {
        Ok(Some(record)) if record.owned_by(&user) => HttpResponse::Ok().json(record),
        Ok(_) => not_found(),
        Err(StoreError::Unreadable { owner, .. }) if owner.as_ref() != Some(&user) => not_found(),
        Err(e) => store_failed(&e),
    })
}

pub async fn cancel(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, Refused> {
    let user = caller(&req, &state)?;
    Ok(match JobId::new(&id) {
        Some(job) => cancel_as(&user, &job, &state).await,
        None => not_found(),
    })
}

async fn cancel_as(user: &UserId, job: &JobId, state: &AppState) -> HttpResponse {
    let store = store(state);
    let outcome = store
        .update(job, |record| {
            record.cancel(user, EpochMillis::now().0).map(|()| true)
        })
        .await;
    match outcome {
        Ok(Update::Saved(record) | Update::Unchanged(record)) => {
            let message = cancel_request(&record.job_id, EpochMillis::now().0);
            if let Err(e) = store.publish(channel::JOBS_CANCEL, &message).await {
                // The record says cancelled, and later reports cannot change that; only the
                // backtester keeps working on it.
                warn!("Job {job} cancelled, but the cancel could not be published: {e}.");
            }
            HttpResponse::Ok().json(record)
        }
        Ok(Update::Refused(CancelRefused::Finished(status))) => {
            HttpResponse::Conflict().json(json!({
                "error": "job_finished",
                "message": format!("cannot cancel a job with status {}", status.as_str()),
                "status": status,
            }))
        }
        Ok(Update::Refused(CancelRefused::NotOwner) | Update::NotFound) => not_found(),
        Err(StoreError::Unreadable { owner, .. }) if owner.as_ref() != Some(user) => not_found(),
        Err(e) => store_failed(&e),
    }
}

fn store(state: &AppState) -> JobStore {
    JobStore::new(state.commands.clone())
}

/// The user a valid bearer token names (the same HS256 tokens as `/ws`).
fn caller(req: &HttpRequest, state: &AppState) -> Result<UserId, Refused> {
    let identity = auth::bearer(req, &state.sessions.auth)?;
    // A verified token always names a user; treat anything else as an invalid token.
    identity
        .user
        .ok_or(Refused::Token(AuthError::Invalid("no user".into())))
}

fn not_found() -> HttpResponse {
    HttpResponse::NotFound().json(json!({"error": "not_found", "message": "no such job"}))
}

fn unavailable(e: &redis::RedisError) -> HttpResponse {
    warn!("Backtest API: Redis error: {e}.");
    HttpResponse::ServiceUnavailable()
        .json(json!({"error": "redis_unavailable", "message": e.to_string()}))
}

fn store_failed(e: &StoreError) -> HttpResponse {
    match e {
        StoreError::Redis(e) => unavailable(e),
        StoreError::Contended => HttpResponse::ServiceUnavailable()
            .insert_header((header::RETRY_AFTER, "1"))
            .json(json!({"error": "busy", "message": e.to_string()})),
        other => {
            warn!("Backtest API: {other}.");
            HttpResponse::InternalServerError()
                .json(json!({"error": "unreadable_job", "message": other.to_string()}))
        }
    }
}
