//! `/socket.io/`: the Engine.IO v4 endpoint Socket.IO clients connect to (docs/SOCKETIO.md).
//!
//! The WebSocket transport (`?EIO=4&transport=websocket`) passes the same admission as `/ws`
//! (`ws::admit`: origin, session limits) and starts the same session, speaking Socket.IO
//! (`session::Wire::SocketIo`). The request errors are Engine.IO's own: a 400 with
//! `{"code":N,"message":...}`.

use actix_web::http::StatusCode;
use actix_web::{web, Error, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::ws::{admit, next_session_id};
use super::AppState;
use crate::domain::identity::Identity;
use crate::domain::session_state::SessionState;
use crate::net::ConnCloser;
use crate::pipeline::session::{upgrade, Wire, WsSession};

/// An Engine.IO request error (engine.io's `Server.errors`), with its numeric code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EngineRequestError {
    TransportUnknown,
    SessionIdUnknown,
    BadRequest,
    UnsupportedProtocolVersion,
}

impl EngineRequestError {
    fn code(self) -> u8 {
        match self {
            EngineRequestError::TransportUnknown => 0,
            EngineRequestError::SessionIdUnknown => 1,
            EngineRequestError::BadRequest => 3,
            EngineRequestError::UnsupportedProtocolVersion => 5,
        }
    }

    fn message(self) -> &'static str {
        match self {
            EngineRequestError::TransportUnknown => "Transport unknown",
            EngineRequestError::SessionIdUnknown => "Session ID unknown",
            EngineRequestError::BadRequest => "Bad request",
            EngineRequestError::UnsupportedProtocolVersion => "Unsupported protocol version",
        }
    }

    fn response(self) -> HttpResponse {
        HttpResponse::build(StatusCode::BAD_REQUEST)
            .json(serde_json::json!({"code": self.code(), "message": self.message()}))
    }
}

#[derive(Deserialize)]
struct EngineQuery {
    #[serde(rename = "EIO")]
    eio: Option<String>,
    transport: Option<String>,
    sid: Option<String>,
}

/// Which transport a request asks for, or the error the specification gives it.
fn transport(query: &EngineQuery) -> Result<&str, EngineRequestError> {
    if query.eio.as_deref() != Some("4") {
        return Err(EngineRequestError::UnsupportedProtocolVersion);
    }
    match query.transport.as_deref() {
        // Only a new WebSocket session: no polling session exists to upgrade (no `sid`).
        Some("websocket") if query.sid.is_some() => Err(EngineRequestError::SessionIdUnknown),
        Some("websocket") => Ok("websocket"),
        _ => Err(EngineRequestError::TransportUnknown),
    }
}

pub async fn connect(
    req: HttpRequest,
    stream: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Error> {
    let query = match web::Query::<EngineQuery>::from_query(req.query_string()) {
        Ok(query) => query.into_inner(),
        Err(_) => return Ok(EngineRequestError::BadRequest.response()),
    };
    if let Err(e) = transport(&query) {
        return Ok(e.response());
    }
    let slot = admit(&req, &state)?;
    let session = WsSession::new(
        next_session_id(&state),
        SessionState::new(Identity::default()),
        state.sessions.clone(),
        req.conn_data::<ConnCloser>().cloned(),
        slot,
        Wire::socket_io(new_sid()),
    );
    let limits = state.sessions.config.engine_frame_limits();
    upgrade(session, &req, stream, limits)
}

/// An Engine.IO session id: 120 random bits from the operating system, base64url (20 chars).
fn new_sid() -> String {
    let mut bytes = [0u8; 15];
    // The OS's generator does not fail on the platforms this server runs on; if it ever did, a
    // sid made of zeros would be guessable, so the server stops rather than serve one.
    getrandom::getrandom(&mut bytes).expect("the operating system's random generator failed");
    base64url(&bytes)
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
        let t = |e, t, s| transport(&query(e, t, s)).map(str::to_owned);
        assert_eq!(
            t(Some("4"), Some("websocket"), None).as_deref(),
            Ok("websocket")
        );
        assert_eq!(
            t(None, Some("websocket"), None),
            Err(UnsupportedProtocolVersion)
        );
        assert_eq!(
            t(Some("3"), Some("websocket"), None),
            Err(UnsupportedProtocolVersion)
        );
        assert_eq!(t(Some("4"), None, None), Err(TransportUnknown));
        assert_eq!(t(Some("4"), Some("abc"), None), Err(TransportUnknown));
        assert_eq!(
            t(Some("4"), Some("websocket"), Some("x")),
            Err(SessionIdUnknown)
        );
    }

    #[test]
    fn sids_are_long_random_and_url_safe() {
        assert_eq!(base64url(b"\xfb\xff\x00"), "-_8A");
        assert_eq!(base64url(b"Ma"), "TWE");
        let (a, b) = (new_sid(), new_sid());
        assert_eq!(a.len(), 20);
        assert_ne!(a, b);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
    }
}
