//! The catalogue of reasons the server closes a WebSocket, each with its close code.

use actix_web_actors::ws::{CloseCode, CloseReason as WsCloseReason};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// No frame (not even a pong) from the client within the idle timeout.
    IdleTimeout,
    /// The session's outbound queue stayed full; counted in `/stats`.
    SlowConsumer,
    /// The server is shutting down.
    Shutdown,
    /// A frame over the transport limit, or a WebSocket protocol violation.
    ProtocolError,
    /// Sustained op flooding beyond the rate limit.
    Abuse,
}

impl CloseReason {
    pub fn description(self) -> &'static str {
        match self {
            CloseReason::IdleTimeout => "idle_timeout",
            CloseReason::SlowConsumer => "slow_consumer",
            CloseReason::Shutdown => "going_away",
            CloseReason::ProtocolError => "protocol_error",
            CloseReason::Abuse => "abuse",
        }
    }

    fn code(self) -> CloseCode {
        match self {
            CloseReason::IdleTimeout => CloseCode::Normal,
            CloseReason::SlowConsumer => CloseCode::Policy,
            CloseReason::Shutdown => CloseCode::Away,
            CloseReason::ProtocolError => CloseCode::Protocol,
            CloseReason::Abuse => CloseCode::Policy,
        }
    }
}

impl From<CloseReason> for WsCloseReason {
    fn from(r: CloseReason) -> Self {
        WsCloseReason {
            code: r.code(),
            description: Some(r.description().to_owned()),
        }
    }
}
