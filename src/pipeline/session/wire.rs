//! How a session's frames are written: as encoded for `/ws`, or as Socket.IO packets for
//! `/socket.io/` (`domain::socketio`). Everything else about a session (its state, registry
//! entry, limits, history) is the same whichever wire it speaks.

use std::collections::BTreeMap;
use std::time::Duration;

use bytestring::ByteString;
use log::warn;
use serde::Serialize;

use super::SessionConfig;
use crate::domain::history::{Position, Recoverable};
use crate::domain::outbound::{EventName, Frame};
use crate::domain::socketio::event::Envelope;
use crate::domain::socketio::packet;
use crate::domain::socketio::recovery::encode_offset;
use crate::telemetry::events::{Protocol, Transport};

/// The Engine.IO settings of Socket.IO sessions (`[socketio]`).
#[derive(Debug, Clone, Copy)]
pub struct EngineConfig {
    pub ping_interval: Duration,
    pub ping_timeout: Duration,
    pub max_payload: usize,
    /// What a long-polling client may leave unpolled (`session.outbound_queue_bytes`).
    pub polling_queue_bytes: usize,
}

/// The session's protocol on its connection.
pub enum Wire {
    /// `/ws`: frames go out as encoded.
    Plain,
    /// `/socket.io/`: Engine.IO v4 message packets holding Socket.IO v5 packets.
    SocketIo(Link),
}

/// What a Socket.IO session knows of its Engine.IO connection.
pub struct Link {
    /// The Engine.IO session id, unguessable (it names a polling session in its requests).
    pub sid: String,
    /// The private id a client sends back to recover the session (`socket.recovered`).
    pub pid: String,
    /// What the client has received of each recoverable stream: the recovery offset appended
    /// to each event of those streams (`domain::socketio::recovery`).
    pub positions: BTreeMap<Recoverable, Position>,
    /// Whether the connection started on HTTP long-polling (its handshake offers the upgrade).
    pub polling: bool,
    /// Whether the client has joined the main namespace (CONNECT answered): before that, the
    /// session is in no room and sends no events.
    pub connected: bool,
}

impl Wire {
    pub fn socket_io(sid: String, pid: String, polling: bool) -> Wire {
        Wire::SocketIo(Link {
            sid,
            pid,
            positions: BTreeMap::new(),
            polling,
            connected: false,
        })
    }

    /// The latest positions of streams the session starts following (from
    /// `connection_confirmed` or an op's ack); a stream it already follows keeps the position
    /// its client has reached.
    pub fn follow(&mut self, heads: &BTreeMap<Recoverable, Position>) {
        if let Wire::SocketIo(link) = self {
            for (which, head) in heads {
                link.positions.entry(*which).or_insert_with(|| head.clone());
            }
        }
    }

    pub fn protocol(&self) -> Protocol {
        match self {
            Wire::Plain => Protocol::Ws,
            Wire::SocketIo(_) => Protocol::SocketIo,
        }
    }

    /// The transport the session counts itself on: the connection it was started on, unless
    /// that is long-polling, whose transport counts its sessions (they may change transport).
    pub fn own_transport(&self) -> Option<Transport> {
        match self {
            Wire::Plain => Some(Transport::Ws),
            Wire::SocketIo(link) if link.polling => None,
            Wire::SocketIo(_) => Some(Transport::SocketIoWebSocket),
        }
    }

    /// How often the session pings, and how long a silent client is kept.
    pub fn heartbeat(&self, config: &SessionConfig) -> (Duration, Duration) {
        match self {
            Wire::Plain => (config.heartbeat_interval, config.client_timeout),
            // engine.io: a pong is due `pingTimeout` after each ping.
            Wire::SocketIo(_) => {
                let engine = config.engine;
                (
                    engine.ping_interval,
                    engine.ping_interval + engine.ping_timeout,
                )
            }
        }
    }

    /// The text of a published or replayed frame: as it is, or the Socket.IO EVENT of it, which
    /// carries the recovery offset when the frame is a recoverable stream's.
    pub fn frame(&mut self, frame: Frame) -> Option<ByteString> {
        match self {
            Wire::Plain => Some(frame.0),
            Wire::SocketIo(link) => match Envelope::of(&frame) {
                Ok(envelope) => {
                    let offset = envelope.place.and_then(|(stream, offset)| {
                        let which = stream.parse::<Recoverable>().ok()?;
                        link.positions.get_mut(&which)?.offset = offset;
                        let text = encode_offset(&link.positions);
                        Some(serde_json::Value::String(text).to_string())
                    });
                    Some(message(&packet::event_raw(
                        envelope.name,
                        envelope.data,
                        offset.as_deref(),
                    )))
                }
                Err(e) => {
                    warn!("A frame the Socket.IO wire cannot carry was dropped ({e}).");
                    None
                }
            },
        }
    }

    /// The text of a reply to the session's client: `/ws`'s envelope (with the op's `id`), or
    /// the Socket.IO ACK of the event that asked (its data alone), or an EVENT when the client
    /// asked for no acknowledgement.
    pub fn reply(&self, event: EventName, data: &impl Serialize, id: Option<u64>) -> ByteString {
        match self {
            Wire::Plain => Frame::encode_reply(event, data, id).0,
            Wire::SocketIo(_) => {
                let frame = Frame::encode(event, data);
                let Ok(envelope) = Envelope::of(&frame) else {
                    return frame.0; // unreachable: `encode` makes envelopes
                };
                match id {
                    Some(id) => message(&packet::ack_raw(id, envelope.data)),
                    None => message(&packet::event_raw(envelope.name, envelope.data, None)),
                }
            }
        }
    }
}

/// A Socket.IO packet in an Engine.IO `message` packet.
pub fn message(packet: &str) -> ByteString {
    let mut text = String::with_capacity(packet.len() + 1);
    text.push('4');
    text.push_str(packet);
    ByteString::from(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn replies_are_envelopes_on_ws_and_acks_or_events_on_socket_io() {
        let data = json!({"op": "watchlist", "symbols": ["AAPL"]});
        let plain = Wire::Plain;
        assert_eq!(
            &*plain.reply(EventName::Ack, &data, Some(3)),
            r#"{"event":"ack","data":{"op":"watchlist","symbols":["AAPL"]},"id":3}"#
        );
        let sio = Wire::socket_io("s".into(), "p".into(), false);
        assert_eq!(
            &*sio.reply(EventName::Ack, &data, Some(3)),
            r#"433[{"op":"watchlist","symbols":["AAPL"]}]"#
        );
        assert_eq!(
            &*sio.reply(EventName::Pong, &json!({}), None),
            r#"42["pong",{}]"#
        );
    }

    #[test]
    fn frames_pass_as_they_are_on_ws_and_as_events_on_socket_io() {
        let frame = Frame::encode(EventName::PatternAlert, &json!({"s": "AAPL"}));
        assert_eq!(Wire::Plain.frame(frame.clone()), Some(frame.0.clone()));
        let mut sio = Wire::socket_io("s".into(), "p".into(), false);
        assert_eq!(
            sio.frame(frame.clone()).as_deref(),
            Some(r#"42["pattern_alert",{"s":"AAPL"}]"#)
        );
        // A recoverable stream's frame carries every followed stream's position after it.
        let head = |epoch: &str, offset| Position {
            epoch: epoch.into(),
            offset,
        };
        sio.follow(
            &[
                (Recoverable::Patterns, head("e1", 4)),
                (Recoverable::User, head("e2", 9)),
            ]
            .into(),
        );
        assert_eq!(
            sio.frame(frame.at(Recoverable::Patterns, 5)).as_deref(),
            Some(r#"42["pattern_alert",{"s":"AAPL"},"patterns:e1:5,user:e2:9"]"#)
        );
        // Followed again (a later ack's heads), a stream keeps the position reached.
        sio.follow(&[(Recoverable::Patterns, head("e1", 40))].into());
        assert_eq!(
            sio.frame(frame.at(Recoverable::User, 10)).as_deref(),
            Some(r#"42["pattern_alert",{"s":"AAPL"},"patterns:e1:5,user:e2:10"]"#)
        );
    }
}
