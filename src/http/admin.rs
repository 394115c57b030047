//! `GET /api/admin/errors`: the operations log (producer errors and monitoring reports kept in
//! Redis, `domain::operations_log`), newest first, for admins only.

use std::collections::HashMap;

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::auth;
use super::error::ApiError;
use super::AppState;
use crate::domain::operations_log::{LogQuery, DEFAULT_LIMIT, MAX_ENTRIES, MAX_LIMIT};
use crate::domain::redis_names::key;

#[derive(Deserialize)]
pub struct ErrorsQuery {
    since: Option<i64>,
    severity: Option<String>,
    source: Option<String>,
    limit: Option<usize>,
}

#[derive(Serialize)]
struct Entry<'a> {
    /// The stream entry id, `<epoch ms>-<sequence>`.
    id: &'a str,
    event: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    severity: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<&'a str>,
    /// The event's data as it was sent to admins.
    data: Option<Value>,
}

type StreamEntry = (String, HashMap<String, String>);

pub async fn errors(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<ErrorsQuery>,
) -> Result<HttpResponse, ApiError> {
    auth::admin(&req, &state.sessions.auth)?;
    let query = LogQuery {
        since: q.since,
        severity: q.severity.clone(),
        source: q.source.clone(),
        limit: q.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT),
    };
    let newest_first: Vec<StreamEntry> = redis::cmd("XREVRANGE")
        .arg(key::OPERATIONS_LOG)
        .arg("+")
        .arg(query.since.map_or("-".to_owned(), |ms| ms.to_string()))
        .arg("COUNT")
        .arg(MAX_ENTRIES)
        .query_async(&mut state.commands.clone())
        .await
        .map_err(|e| ApiError::redis_unavailable("Operations log API", e))?;
    let entries: Vec<Entry> = newest_first
        .iter()
        .filter(|(id, fields)| query.admits(id, fields))
        .take(query.limit)
        .map(|(id, fields)| Entry {
            id,
            event: fields.get("event").map(String::as_str),
            severity: fields.get("severity").map(String::as_str),
            source: fields.get("source").map(String::as_str),
            data: fields
                .get("data")
                .and_then(|d| serde_json::from_str(d).ok()),
        })
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "errors": entries })))
}
