//! Sessions and frames by transport: `/ws`, and Socket.IO over WebSocket or HTTP long-polling
//! (`/socket.io/`). Each transport's owner emits these: the session for the connection it was
//! started on, the polling transport for its sessions and their upgrades.

use super::InternalEvent;
use crate::telemetry::{Scalar, Stats};

/// What carries a session's frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `/ws`.
    Ws,
    SocketIoWebSocket,
    SocketIoPolling,
}

impl Transport {
    fn sessions(self) -> Scalar {
        match self {
            Transport::Ws => Scalar::WsSessions,
            Transport::SocketIoWebSocket => Scalar::SocketIoWebSocketSessions,
            Transport::SocketIoPolling => Scalar::SocketIoPollingSessions,
        }
    }
}

/// The protocol a session speaks to its client, whatever carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Ws,
    SocketIo,
}

/// A session started on this transport.
pub struct TransportOpened(pub Transport);

impl InternalEvent for TransportOpened {
    fn emit(self, stats: &Stats) {
        stats.add(self.0.sessions(), 1);
    }
}

/// A session on this transport ended (or left it).
pub struct TransportClosed(pub Transport);

impl InternalEvent for TransportClosed {
    fn emit(self, stats: &Stats) {
        stats.sub(self.0.sessions(), 1);
    }
}

/// A long-polling Socket.IO session moved to WebSocket.
pub struct PollingUpgraded;

impl InternalEvent for PollingUpgraded {
    fn emit(self, stats: &Stats) {
        stats.add(Scalar::SocketIoUpgrades, 1);
        TransportClosed(Transport::SocketIoPolling).emit(stats);
        TransportOpened(Transport::SocketIoWebSocket).emit(stats);
    }
}

/// A long-polling Socket.IO session left more unpolled than a session's outbound queue holds:
/// closed, as a slow WebSocket consumer is.
pub struct PollingSlowConsumer;

impl InternalEvent for PollingSlowConsumer {
    fn emit(self, stats: &Stats) {
        log::warn!(
            "A long-polling Socket.IO session is a slow consumer (more unpolled than \
             session.outbound_queue_bytes): closed."
        );
        stats.add(Scalar::SlowConsumerCloses, 1);
    }
}

/// A session wrote a text frame (an Engine.IO packet, for Socket.IO) to its client.
pub struct FrameSent(pub Protocol);

impl InternalEvent for FrameSent {
    fn emit(self, stats: &Stats) {
        let scalar = match self.0 {
            Protocol::Ws => Scalar::WsFramesSent,
            Protocol::SocketIo => Scalar::SocketIoFramesSent,
        };
        stats.add(scalar, 1);
    }
}

/// A session read a frame from its client (before its limits).
pub struct FrameReceived(pub Protocol);

impl InternalEvent for FrameReceived {
    fn emit(self, stats: &Stats) {
        let scalar = match self.0 {
            Protocol::Ws => Scalar::WsFramesReceived,
            Protocol::SocketIo => Scalar::SocketIoFramesReceived,
        };
        stats.add(scalar, 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upgrades_move_a_session_between_transports() {
        let stats = Stats::new(Vec::new());
        stats.emit(TransportOpened(Transport::SocketIoPolling));
        stats.emit(TransportOpened(Transport::Ws));
        stats.emit(PollingUpgraded);
        assert_eq!(stats.get(Scalar::SocketIoPollingSessions), 0);
        assert_eq!(stats.get(Scalar::SocketIoWebSocketSessions), 1);
        assert_eq!(stats.get(Scalar::SocketIoUpgrades), 1);
        stats.emit(TransportClosed(Transport::SocketIoWebSocket));
        stats.emit(FrameSent(Protocol::SocketIo));
        stats.emit(FrameReceived(Protocol::Ws));
        assert_eq!(stats.get(Scalar::SocketIoWebSocketSessions), 0);
        assert_eq!(stats.get(Scalar::WsSessions), 1);
        assert_eq!(stats.get(Scalar::SocketIoFramesSent), 1);
        assert_eq!(stats.get(Scalar::WsFramesReceived), 1);
    }
}
