//! The catalogue of reasons the server closes a WebSocket, each with its close code.

use actix_web_actors::ws::{CloseCode, CloseReason as WsCloseReason};
use strum::{IntoStaticStr, VariantArray};

/// Each variant's close description (a wire contract: clients match on it) is its strum name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, IntoStaticStr, VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum CloseReason {
    /// No frame (not even a pong) from the client within the idle timeout.
    IdleTimeout,
    /// The session's outbound queue stayed full; counted in `/stats`.
    SlowConsumer,
    /// The server is shutting down.
    #[strum(serialize = "going_away")]
    Shutdown,
    /// A frame over the transport limit, or a WebSocket protocol violation.
    ProtocolError,
    /// Sustained op flooding beyond the rate limit.
    Abuse,
}

impl CloseReason {
    pub fn description(self) -> &'static str {
        self.into()
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The descriptions are a wire contract, pinned here; the match is exhaustive, so a new
    /// variant must say its description.
    #[test]
    fn descriptions_are_the_wire_names() {
        for &r in CloseReason::VARIANTS {
            let wire = match r {
                CloseReason::IdleTimeout => "idle_timeout",
                CloseReason::SlowConsumer => "slow_consumer",
                CloseReason::Shutdown => "going_away",
                CloseReason::ProtocolError => "protocol_error",
                CloseReason::Abuse => "abuse",
            };
            assert_eq!(r.description(), wire);
            assert_eq!(WsCloseReason::from(r).description.as_deref(), Some(wire));
        }
    }
}
