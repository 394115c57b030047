//! The catalogue of reasons the server closes a client connection, each with its WebSocket close
//! code and what the client should do next (docs/PROTOCOL.md, "Close reasons").

use strum::{IntoStaticStr, VariantArray};

/// Each variant's close description (a wire contract: clients match on it) is its strum name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, IntoStaticStr, VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum CloseReason {
    /// No frame (not even a pong) from the client within the idle timeout.
    IdleTimeout,
    /// The client did not read fast enough: its outbound queue filled and frames were shed, so
    /// it missed events and must reconnect to get a consistent view again. Counted in `/stats`.
    SlowConsumer,
    /// The server is shutting down.
    #[strum(serialize = "going_away")]
    Shutdown,
    /// A frame over the transport limit, or a WebSocket protocol violation.
    ProtocolError,
    /// Invalid UTF-8 in a text message or a close reason (RFC 6455 section 8.1).
    InvalidPayload,
    /// Sustained op flooding beyond the rate limit.
    Abuse,
    /// The session's token reached its `exp` without an `auth` op refreshing it
    /// (`domain::token_expiry`): reconnect, or send `auth`, with a fresh token.
    TokenExpired,
}

impl CloseReason {
    /// The close frame's reason text, a contract with clients.
    pub fn description(self) -> &'static str {
        self.into()
    }

    /// The WebSocket close code (RFC 6455 section 7.4.1).
    pub fn code(self) -> u16 {
        match self {
            CloseReason::IdleTimeout => 1000,
            CloseReason::SlowConsumer => 1008,
            CloseReason::Shutdown => 1001,
            CloseReason::ProtocolError => 1002,
            CloseReason::InvalidPayload => 1007,
            CloseReason::Abuse => 1008,
            // A policy close like `abuse`, but the fix is the client's: a fresh token.
            CloseReason::TokenExpired => 1008,
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
                CloseReason::InvalidPayload => "invalid_payload",
                CloseReason::Abuse => "abuse",
                CloseReason::TokenExpired => "token_expired",
            };
            assert_eq!(r.description(), wire);
        }
    }
}
