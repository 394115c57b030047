//! `GET /ws`: the WebSocket upgrade. Refuses (never downgrades) a bad token, and refuses new
//! sessions beyond `server.max_sessions` with 503.

use std::sync::atomic::Ordering::Relaxed;

use actix_web::{web, Error, HttpRequest, HttpResponse};
use actix_web_actors::ws;
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use crate::auth::AuthError;
use crate::domain::identity::Identity;
use crate::domain::ids::SessionId;
use crate::domain::session_state::SessionState;
use crate::net::ConnCloser;
use crate::pipeline::session::WsSession;

#[derive(Deserialize)]
struct ConnectQuery {
    token: Option<String>,
}

pub async fn connect(
    req: HttpRequest,
    stream: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Error> {
    if state.stats.sessions_active.load(Relaxed) as usize >= state.max_sessions {
        state.stats.sessions_refused.fetch_add(1, Relaxed);
        return Ok(HttpResponse::ServiceUnavailable().json(
            json!({"error": "too_many_sessions", "message": "the server is at its session limit"}),
        ));
    }
    let query = web::Query::<ConnectQuery>::from_query(req.query_string())
        .map_err(|e| actix_web::error::ErrorBadRequest(e.to_string()))?;
    let identity = match query.token.as_deref() {
        None | Some("") => Identity::default(),
        Some(token) => match state.sessions.auth.verify(token) {
            Ok(identity) => identity,
            Err(err) => {
                let code = if err == AuthError::Disabled {
                    "auth_disabled"
                } else {
                    "invalid_token"
                };
                return Ok(HttpResponse::Unauthorized()
                    .json(json!({"error": code, "message": err.to_string()})));
            }
        },
    };
    let id = SessionId(state.next_session_id.fetch_add(1, Relaxed));
    let closer = req.conn_data::<ConnCloser>().cloned();
    let session = WsSession::new(
        id,
        SessionState::new(identity),
        state.sessions.clone(),
        closer,
    );
    ws::WsResponseBuilder::new(session, &req, stream)
        .frame_size(state.sessions.config.transport_frame_limit())
        .start()
}
