//! `GET /ws`: the WebSocket upgrade. Refuses (never downgrades) a bad token, and refuses new
//! sessions beyond `server.max_sessions` with 503.

use std::sync::atomic::Ordering::Relaxed;

use actix_web::http::StatusCode;
use actix_web::{web, Error, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::error::ApiError;
use super::AppState;
use crate::domain::identity::Identity;
use crate::domain::ids::SessionId;
use crate::domain::session_state::SessionState;
use crate::net::ConnCloser;
use crate::pipeline::session::{upgrade, WsSession};
use crate::telemetry::events::SessionRefused;
use crate::telemetry::Scalar;

#[derive(Deserialize)]
struct ConnectQuery {
    token: Option<String>,
}

pub async fn connect(
    req: HttpRequest,
    stream: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Error> {
    if state.stats.get(Scalar::SessionsActive) as usize >= state.max_sessions {
        state.stats.emit(SessionRefused);
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too_many_sessions",
            "the server is at its session limit",
        )
        .into());
    }
    let query = web::Query::<ConnectQuery>::from_query(req.query_string())
        .map_err(|e| actix_web::error::ErrorBadRequest(e.to_string()))?;
    let identity = match query.token.as_deref() {
        None | Some("") => Identity::default(),
        Some(token) => state.sessions.auth.verify(token).map_err(ApiError::from)?,
    };
    let id = SessionId(state.next_session_id.fetch_add(1, Relaxed));
    let closer = req.conn_data::<ConnCloser>().cloned();
    let session = WsSession::new(
        id,
        SessionState::new(identity),
        state.sessions.clone(),
        closer,
    );
    upgrade(session, &req, stream, state.sessions.config.frame_limits())
}
