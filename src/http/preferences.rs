//! The signed-in user's preferences (docs/PROTOCOL.md section 12), JSON, for the caller named by
//! `Authorization: Bearer <JWT>`:
//!
//! - `GET/PUT /api/me/alert-rules`: `domain::preferences::AlertRulesDoc`, kept in the legacy
//!   records; a change is published on `tickstock.jobs.alerts`.
//! - `GET/PUT /api/me/watchlist`: the Redis set `tickstock:watchlist:{user}`; a change is
//!   published on `tickstock.dashboard.watchlist`.
//!
//! A change is written and announced in one MULTI, so no instance hears of it before it is
//! stored. Every instance (this one too) reads the records again when it hears, applies them and
//! tells the user's sessions (`pipeline::handlers::users`): the API does not reach the pipeline.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::Value;

use super::error::ApiError;
use super::AppState;
use super::{auth, body};
use crate::domain::event::EpochMillis;
use crate::domain::fields::FieldErrors;
use crate::domain::ids::{Symbol, UserId};
use crate::domain::preferences::{
    watchlist_from_request, AlertRules, AlertRulesDoc, SubscriptionsNotice, WatchlistDoc,
};
use crate::domain::redis_names::{channel, key};

const API: &str = "Preferences API";

pub async fn get_alert_rules(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let user = auth::user(&req, &state.sessions.auth)?;
    let (prefs, subscriptions): (Option<String>, Option<String>) = redis::cmd("MGET")
        .arg(key::alert_prefs(&user))
        .arg(key::alert_subscriptions(&user))
        .query_async(&mut state.commands.clone())
        .await
        .map_err(|e| ApiError::redis_unavailable(API, e))?;
    // Records a producer wrote badly are shown as what applies: nothing (see Users).
    let rules =
        AlertRules::from_records(prefs.as_deref(), subscriptions.as_deref()).unwrap_or_default();
    Ok(HttpResponse::Ok().json(AlertRulesDoc::new(user, rules)))
}

pub async fn put_alert_rules(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (user, rules) = request(&req, &state, payload, AlertRules::from_request).await?;
    let (prefs, subscriptions) = rules.to_records();
    let notice = SubscriptionsNotice::new(&user, &rules, EpochMillis::now());
    let mut pipe = redis::pipe();
    for (record, value) in [
        (key::alert_prefs(&user), prefs),
        (key::alert_subscriptions(&user), subscriptions),
    ] {
        match value {
            Some(value) => pipe.set(record, value),
            None => pipe.del(record),
        };
    }
    // Strings and numbers only: serialising cannot fail.
    let notice = serde_json::to_string(&notice).unwrap_or_default();
    pipe.publish(channel::JOBS_ALERTS, notice);
    state
        .commands
        .clone()
        .apply(&pipe)
        .await
        .map_err(|e| ApiError::redis_unavailable(API, e))?;
    Ok(HttpResponse::Ok().json(AlertRulesDoc::new(user, rules)))
}

pub async fn get_watchlist(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let user = auth::user(&req, &state.sessions.auth)?;
    let members: Vec<String> = redis::cmd("SMEMBERS")
        .arg(key::watchlist(&user))
        .query_async(&mut state.commands.clone())
        .await
        .map_err(|e| ApiError::redis_unavailable(API, e))?;
    let symbols: Vec<Symbol> = members.iter().filter_map(|m| Symbol::new(m)).collect();
    Ok(HttpResponse::Ok().json(WatchlistDoc::new(user, &symbols)))
}

pub async fn put_watchlist(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (user, symbols) = request(&req, &state, payload, watchlist_from_request).await?;
    let set = key::watchlist(&user);
    let mut pipe = redis::pipe();
    pipe.del(&set);
    if !symbols.is_empty() {
        pipe.sadd(&set, symbols.iter().map(Symbol::as_str).collect::<Vec<_>>());
    }
    pipe.publish(channel::WATCHLIST, watchlist_notice(&user));
    state
        .commands
        .clone()
        .apply(&pipe)
        .await
        .map_err(|e| ApiError::redis_unavailable(API, e))?;
    Ok(HttpResponse::Ok().json(WatchlistDoc::new(user, &symbols)))
}

/// The legacy watchlist signal: only `user_id` is read.
fn watchlist_notice(user: &UserId) -> String {
    serde_json::json!({"type": "watchlist_update", "user_id": user}).to_string()
}

/// The caller and their validated request body, with the session's symbol limit.
async fn request<T>(
    req: &HttpRequest,
    state: &AppState,
    payload: web::Payload,
    validate: fn(&Value, usize) -> Result<T, FieldErrors>,
) -> Result<(UserId, T), ApiError> {
    let user = auth::user(req, &state.sessions.auth)?;
    let body = body::read(payload, state).await?;
    let max_symbols = state.sessions.config.limits.max_symbols;
    let parsed = serde_json::from_slice(&body)
        .map_err(|e| FieldErrors::from([("body".to_owned(), format!("not valid JSON: {e}"))]))
        .and_then(|body| validate(&body, max_symbols))
        .map_err(ApiError::invalid_request)?;
    Ok((user, parsed))
}
