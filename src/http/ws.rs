//! `GET /ws`: the WebSocket upgrade. Refuses a browser page from an origin not allowed
//! (`server.allowed_origins`) with 403; takes the token from `?token=` (browsers) or
//! `Authorization: Bearer` (other clients) and refuses (never downgrades) a bad one; and refuses
//! new sessions beyond `server.max_sessions`, or beyond `server.max_sessions_per_address` from one
//! client address, with 503.

use std::sync::atomic::Ordering::Relaxed;

use actix_web::http::header::{HeaderName, HOST, ORIGIN, X_FORWARDED_FOR};
use actix_web::http::StatusCode;
use actix_web::{web, Error, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::auth::bearer_token;
use super::error::ApiError;
use super::AppState;
use crate::access::AddressSlot;
use crate::domain::identity::Identity;
use crate::domain::ids::SessionId;
use crate::domain::protocol::ErrorCode;
use crate::domain::session_state::SessionState;
use crate::net::ConnCloser;
use crate::pipeline::session::{upgrade, Wire, WsSession};
use crate::telemetry::events::{RefusedBecause, SessionRefused};
use crate::telemetry::Scalar;

fn header(req: &HttpRequest, name: HeaderName) -> Option<&str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

#[derive(Deserialize)]
struct ConnectQuery {
    token: Option<String>,
}

pub async fn connect(
    req: HttpRequest,
    stream: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Error> {
    let slot = admit(&req, &state)?;
    let query = web::Query::<ConnectQuery>::from_query(req.query_string())
        .map_err(|e| actix_web::error::ErrorBadRequest(e.to_string()))?;
    let identity = match connect_token(query.token.as_deref(), bearer_token(&req))? {
        None => Identity::default(),
        Some(token) => state
            .sessions
            .auth
            .verify_fresh(token)
            .await
            .map_err(ApiError::from)?,
    };
    let session = WsSession::new(
        next_session_id(&state),
        SessionState::new(identity),
        state.sessions.clone(),
        req.conn_data::<ConnCloser>().cloned(),
        slot,
        Wire::Plain,
    );
    upgrade(session, &req, stream, state.sessions.config.frame_limits())
}

/// A new session's id.
pub(super) fn next_session_id(state: &AppState) -> SessionId {
    SessionId(state.next_session_id.fetch_add(1, Relaxed))
}

/// The checks every new session passes, whatever its endpoint: the page's origin, the server's
/// session limit, and its client address's share, which the session holds from here on.
pub(super) fn admit(req: &HttpRequest, state: &AppState) -> Result<Option<AddressSlot>, Error> {
    let access = &state.access;
    if !access
        .origins
        .allows(header(req, ORIGIN), header(req, HOST))
    {
        state.stats.emit(SessionRefused(RefusedBecause::Origin));
        return Err(ApiError::forbidden("this page's origin may not connect").into());
    }
    // Socket.IO sessions count from their Engine.IO handshake, before they join the registry.
    let started = [
        Scalar::WsSessions,
        Scalar::SocketIoWebSocketSessions,
        Scalar::SocketIoPollingSessions,
    ]
    .map(|transport| state.stats.get(transport))
    .iter()
    .sum::<u64>();
    let active = state.stats.get(Scalar::SessionsActive).max(started);
    if active as usize >= state.max_sessions {
        state.stats.emit(SessionRefused(RefusedBecause::ServerFull));
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too_many_sessions",
            "the server is at its session limit",
        )
        .into());
    }
    let peer = req.peer_addr().map(|a| a.ip());
    let client = peer.map(|ip| {
        access
            .proxies
            .client_address(ip, header(req, X_FORWARDED_FOR))
    });
    let slot = match client {
        Some(ip) => Some(
            access
                .addresses
                .acquire(ip, access.max_sessions_per_address)
                .ok_or_else(|| {
                    state
                        .stats
                        .emit(SessionRefused(RefusedBecause::AddressFull));
                    ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "too_many_sessions_from_address",
                        "this address holds as many sessions as one address may",
                    )
                })?,
        ),
        None => None,
    };
    Ok(slot)
}

/// The session's token: `?token=` or the bearer header, or both if they agree. Two different
/// tokens are refused rather than one silently preferred: the client would not know whose
/// session it got. An empty `token=` counts as none.
fn connect_token<'a>(
    query: Option<&'a str>,
    header: Option<&'a str>,
) -> Result<Option<&'a str>, ApiError> {
    match (query.filter(|t| !t.is_empty()), header) {
        (Some(q), Some(h)) if q != h => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::InvalidToken.as_str(),
            "two different tokens: ?token= and the Authorization header disagree; send one",
        )),
        (query, header) => Ok(query.or(header)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn either_source_or_both_agreeing_give_the_token() {
        assert_eq!(connect_token(None, None).unwrap(), None);
        assert_eq!(connect_token(Some(""), None).unwrap(), None);
        assert_eq!(connect_token(Some("a"), None).unwrap(), Some("a"));
        assert_eq!(connect_token(Some(""), Some("b")).unwrap(), Some("b"));
        assert_eq!(connect_token(Some("a"), Some("a")).unwrap(), Some("a"));
        assert!(connect_token(Some("a"), Some("b")).is_err());
    }
}
