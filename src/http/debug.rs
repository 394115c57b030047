//! The admin-only message monitor: `GET /debug/messages`, `GET /debug/field-names`,
//! `POST /debug/clear`, and the page at `/debug` (which calls them with an admin token).

use std::sync::{Mutex, MutexGuard};

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::auth;
use super::error::ApiError;
use super::AppState;
use crate::domain::monitor::{Monitor, Query, CAPACITY};

const DEFAULT_LIMIT: usize = 50;

#[derive(Deserialize)]
pub struct MessagesQuery {
    limit: Option<usize>,
    channel: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

fn lock(monitor: &Mutex<Monitor>) -> MutexGuard<'_, Monitor> {
    monitor
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub async fn messages(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<MessagesQuery>,
) -> Result<HttpResponse, ApiError> {
    auth::admin(&req, &state.sessions.auth)?;
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, CAPACITY);
    let query = Query {
        limit,
        channel: q.channel.as_deref(),
        kind: q.kind.as_deref(),
    };
    let messages = lock(&state.monitor).query(&query);
    Ok(HttpResponse::Ok().json(json!({
        "messages": messages,
        "count": messages.len(),
        "filters": {"limit": limit, "channel": q.channel, "type": q.kind},
    })))
}

pub async fn field_names(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    auth::admin(&req, &state.sessions.auth)?;
    let report = lock(&state.monitor).field_names();
    Ok(HttpResponse::Ok().json(json!({"channels": report})))
}

pub async fn clear(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    auth::admin(&req, &state.sessions.auth)?;
    lock(&state.monitor).clear();
    Ok(HttpResponse::Ok().json(json!({"cleared": true})))
}
