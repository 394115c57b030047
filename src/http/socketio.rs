//! `/socket.io/`: the Engine.IO v4 endpoint Socket.IO clients connect to (docs/SOCKETIO.md).
//!
//! A new session (no `sid`) passes the same admission as `/ws` (`ws::admit`: origin, session
//! limits) and starts the same session actor, speaking Socket.IO (`session::Wire::SocketIo`),
//! over a WebSocket (`transport=websocket`) or HTTP long-polling (`transport=polling`), whose
//! sessions are kept here by `sid`, bounded by `socketio.max_polling_sessions`, until they end.
//! Requests naming a polling session's `sid` poll it (`GET`), send to it (`POST`) or upgrade it
//! (`transport=websocket`). The request errors are Engine.IO's own: a 400 with
//! `{"code":N,"message":...}`.

use std::collections::HashMap;
use std::sync::Mutex;

use actix_web::http::{Method, StatusCode};
use actix_web::{web, Error, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::body;
use super::error::ApiError;
use super::ws::{admit, next_session_id};
use super::AppState;
use crate::domain::identity::Identity;
use crate::domain::session_state::SessionState;
use crate::net::ConnCloser;
use crate::pipeline::session::{upgrade, FrameStream, PollError, PollingSession, Wire, WsSession};

/// An Engine.IO request error (engine.io's `Server.errors`), with its numeric code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EngineRequestError {
    TransportUnknown,
    SessionIdUnknown,
    BadHandshakeMethod,
    BadRequest,
    UnsupportedProtocolVersion,
}

impl EngineRequestError {
    fn code(self) -> u8 {
        match self {
            EngineRequestError::TransportUnknown => 0,
            EngineRequestError::SessionIdUnknown => 1,
            EngineRequestError::BadHandshakeMethod => 2,
            EngineRequestError::BadRequest => 3,
            EngineRequestError::UnsupportedProtocolVersion => 5,
        }
    }

    fn message(self) -> &'static str {
        match self {
            EngineRequestError::TransportUnknown => "Transport unknown",
            EngineRequestError::SessionIdUnknown => "Session ID unknown",
            EngineRequestError::BadHandshakeMethod => "Bad handshake method",
            EngineRequestError::BadRequest => "Bad request",
            EngineRequestError::UnsupportedProtocolVersion => "Unsupported protocol version",
        }
    }

    fn response(self) -> HttpResponse {
        HttpResponse::build(StatusCode::BAD_REQUEST)
            .json(serde_json::json!({"code": self.code(), "message": self.message()}))
    }
}

/// The long-polling sessions, by `sid`.
pub struct PollingSessions {
    sessions: Mutex<HashMap<String, PollingSession>>,
    max: usize,
}

impl PollingSessions {
    pub fn new(max: usize) -> Self {
        PollingSessions {
            sessions: Mutex::new(HashMap::new()),
            max,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, PollingSession>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self, sid: &str) -> Option<PollingSession> {
        self.lock().get(sid).cloned()
    }
}

#[derive(Deserialize)]
struct EngineQuery {
    #[serde(rename = "EIO")]
    eio: Option<String>,
    transport: Option<String>,
    sid: Option<String>,
}

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport<'a> {
    Polling(Option<&'a str>),
    WebSocket(Option<&'a str>),
}

/// Which transport (and session) a request asks for, or the error the specification gives it.
fn transport(query: &EngineQuery) -> Result<Transport<'_>, EngineRequestError> {
    if query.eio.as_deref() != Some("4") {
        return Err(EngineRequestError::UnsupportedProtocolVersion);
    }
    let sid = query.sid.as_deref();
    match query.transport.as_deref() {
        Some("polling") => Ok(Transport::Polling(sid)),
        Some("websocket") => Ok(Transport::WebSocket(sid)),
        _ => Err(EngineRequestError::TransportUnknown),
    }
}

/// Every request to `/socket.io/`.
pub async fn engine(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Error> {
    let query = match web::Query::<EngineQuery>::from_query(req.query_string()) {
        Ok(query) => query.into_inner(),
        Err(_) => return Ok(EngineRequestError::BadRequest.response()),
    };
    let transport = match transport(&query) {
        Ok(transport) => transport,
        Err(e) => return Ok(e.response()),
    };
    let post = req.method() == Method::POST;
    match transport {
        Transport::WebSocket(None) if !post => open_websocket(&req, payload, &state),
        Transport::Polling(None) if !post => open_polling(&req, &state).await,
        Transport::WebSocket(None) | Transport::Polling(None) => {
            Ok(EngineRequestError::BadHandshakeMethod.response())
        }
        Transport::WebSocket(Some(sid)) | Transport::Polling(Some(sid)) => {
            let Some(session) = state.polling.get(sid) else {
                return Ok(EngineRequestError::SessionIdUnknown.response());
            };
            match transport {
                Transport::WebSocket(_) => upgrade_polling(&req, payload, &state, &session),
                _ if post => push(payload, &state, &session).await,
                _ => poll(&session).await,
            }
        }
    }
}

fn open_websocket(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> Result<HttpResponse, Error> {
    let session = new_session(req, state, false)?;
    upgrade(
        session,
        req,
        payload,
        state.sessions.config.engine_frame_limits(),
    )
}

async fn open_polling(
    req: &HttpRequest,
    state: &web::Data<AppState>,
) -> Result<HttpResponse, Error> {
    if state.polling.lock().len() >= state.polling.max {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too_many_polling_sessions",
            "the server holds as many long-polling sessions as it may; use the websocket transport",
        )
        .into());
    }
    let sid = new_sid()?;
    let session = new_session_with(req, state, sid.clone(), true)?;
    let ended = (state.clone(), sid.clone());
    let max_queued = state.sessions.config.engine.polling_queue_bytes;
    let polling = PollingSession::start(session, state.stats.clone(), max_queued, move || {
        ended.0.polling.lock().remove(&ended.1);
    });
    state.polling.lock().insert(sid, polling.clone());
    // The open packet, which the session writes first.
    poll(&polling).await
}

fn new_session(req: &HttpRequest, state: &AppState, polling: bool) -> Result<WsSession, Error> {
    new_session_with(req, state, new_sid()?, polling)
}

fn new_session_with(
    req: &HttpRequest,
    state: &AppState,
    sid: String,
    polling: bool,
) -> Result<WsSession, Error> {
    let slot = admit(req, state)?;
    Ok(WsSession::new(
        next_session_id(state),
        SessionState::new(Identity::default()),
        state.sessions.clone(),
        req.conn_data::<ConnCloser>().cloned(),
        slot,
        Wire::socket_io(sid, new_sid()?, polling),
    ))
}

/// A `GET` of a polling session.
async fn poll(session: &PollingSession) -> Result<HttpResponse, Error> {
    match session.poll().await {
        Ok(payload) => Ok(HttpResponse::Ok()
            .content_type("text/plain; charset=UTF-8")
            .body(payload)),
        Err(PollError::Gone) => Ok(EngineRequestError::SessionIdUnknown.response()),
        Err(PollError::ConcurrentGet) => Ok(EngineRequestError::BadRequest.response()),
    }
}

/// A `POST` to a polling session: a payload of at most `socketio.max_payload` bytes, within
/// `server.body_timeout_secs`.
async fn push(
    payload: web::Payload,
    state: &AppState,
    session: &PollingSession,
) -> Result<HttpResponse, Error> {
    let max = state.sessions.config.engine.max_payload;
    let body = body::read_at_most(payload, state, max).await?;
    let Ok(body) = std::str::from_utf8(&body) else {
        return Ok(EngineRequestError::BadRequest.response());
    };
    match session.post(body) {
        Ok(()) => Ok(HttpResponse::Ok()
            .content_type("text/html; charset=UTF-8")
            .body("ok")),
        Err(_) => Ok(EngineRequestError::SessionIdUnknown.response()),
    }
}

/// A WebSocket naming a polling session: the upgrade (`PollingSession::upgrade`).
fn upgrade_polling(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    session: &PollingSession,
) -> Result<HttpResponse, Error> {
    let mut response = actix_web_actors::ws::handshake(req)?;
    let frames = FrameStream::new(payload, state.sessions.config.engine_frame_limits());
    match session.upgrade(frames) {
        Some(output) => Ok(response.streaming(output)),
        None => Ok(EngineRequestError::BadRequest.response()),
    }
}

/// An Engine.IO session id (or `pid`): 120 random bits from the operating system, base64url
/// (20 chars). Without the OS's generator there is no unguessable id: the request fails.
fn new_sid() -> Result<String, Error> {
    let mut bytes = [0u8; 15];
    getrandom::getrandom(&mut bytes).map_err(|e| {
        log::error!("The operating system's random generator failed: {e}.");
        actix_web::error::ErrorInternalServerError("no random session id")
    })?;
    Ok(base64url(&bytes))
}

fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut text = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            text.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(eio: Option<&str>, transport: Option<&str>, sid: Option<&str>) -> EngineQuery {
        EngineQuery {
            eio: eio.map(Into::into),
            transport: transport.map(Into::into),
            sid: sid.map(Into::into),
        }
    }

    #[test]
    fn requests_get_the_engine_io_errors() {
        use EngineRequestError::*;
        let q = |e, t, s| query(e, t, s);
        let ws = q(Some("4"), Some("websocket"), None);
        assert_eq!(transport(&ws), Ok(Transport::WebSocket(None)));
        let upgrade = q(Some("4"), Some("websocket"), Some("x"));
        assert_eq!(transport(&upgrade), Ok(Transport::WebSocket(Some("x"))));
        let poll = q(Some("4"), Some("polling"), Some("x"));
        assert_eq!(transport(&poll), Ok(Transport::Polling(Some("x"))));
        for (bad, error) in [
            (q(None, Some("websocket"), None), UnsupportedProtocolVersion),
            (
                q(Some("3"), Some("polling"), None),
                UnsupportedProtocolVersion,
            ),
            (q(Some("4"), None, None), TransportUnknown),
            (q(Some("4"), Some("abc"), None), TransportUnknown),
        ] {
            assert_eq!(transport(&bad), Err(error));
        }
    }

    #[test]
    fn sids_are_long_random_and_url_safe() {
        assert_eq!(base64url(b"\xfb\xff\x00"), "-_8A");
        assert_eq!(base64url(b"Ma"), "TWE");
        let (a, b) = (new_sid().unwrap(), new_sid().unwrap());
        assert_eq!(a.len(), 20);
        assert_ne!(a, b);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
    }
}
