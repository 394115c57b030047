//! What a Socket.IO session does with its client's text (`/socket.io/`): Engine.IO packets
//! (ping, pong, close), then Socket.IO packets on the main namespace. CONNECT signs the session
//! in with `auth.token` (same rules as `/ws`'s `?token=`) and joins it to the registry; each
//! EVENT is the `/ws` op of the same name with the event's data as its fields and its
//! acknowledgement id as its `id`, so it gets the same reply, as the ACK.
//!
//! What the specifications say to close on (a packet that cannot be decoded, a packet for a
//! namespace the client has not joined, a second CONNECT) closes the connection, counted as a
//! client error with its reason.

use std::collections::BTreeMap;
use std::time::Duration;

use actix::prelude::*;
use actix_web_actors::ws;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::wire::{message, Wire};
use super::WsSession;
use crate::domain::close::CloseReason;
use crate::domain::event::EpochMillis;
use crate::domain::filter::PatternSubscription;
use crate::domain::history::Position;
use crate::domain::identity::Identity;
use crate::domain::outbound::EventName;
use crate::domain::protocol::{parse_op, ClientOp, ErrorCode, ProtocolError};
use crate::domain::session_state::SessionState;
use crate::domain::socketio::engine;
use crate::domain::socketio::packet::{self, Body, Packet, MAIN_NAMESPACE};
use crate::domain::socketio::recovery::decode_offset;
use crate::telemetry::events::ClientError;

/// How long a client may stay on the Engine.IO connection without joining the namespace (the
/// reference server's `connectTimeout`).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(45);

/// `heartbeat_ack`'s data: the legacy server's reply to `heartbeat`.
#[derive(Serialize)]
struct HeartbeatAck {
    timestamp: EpochMillis,
}

/// The legacy `subscribe_patterns` event's data: pattern names, every symbol and confidence.
#[derive(Deserialize)]
struct SubscribePatterns {
    patterns: Vec<String>,
}

/// `subscription_confirmed`: the legacy server's reply to `subscribe_patterns`.
#[derive(Serialize)]
struct SubscriptionConfirmed {
    patterns: Vec<String>,
    count: usize,
    timestamp: EpochMillis,
}

impl WsSession {
    fn link_connected(&self) -> bool {
        matches!(&self.wire, Wire::SocketIo(link) if link.connected)
    }

    /// One Engine.IO packet from the client.
    pub(super) fn on_engine_text(&mut self, text: &str, ctx: &mut ws::WebsocketContext<Self>) {
        match engine::Packet::decode(text) {
            Ok(engine::Packet::Message(packet)) => self.on_socket_io(packet, ctx),
            // Answered as sent: `2probe` is a client's upgrade probe.
            Ok(engine::Packet::Ping(data)) => self.write(ctx, engine::Packet::Pong(data).encode()),
            // A pong, like every frame, already counted as the client being heard.
            Ok(engine::Packet::Pong(_) | engine::Packet::Noop | engine::Packet::Upgrade) => {}
            Ok(engine::Packet::Close) => {
                ctx.close(None);
                ctx.stop();
            }
            Ok(engine::Packet::Open) => {
                self.refuse(ctx, "a client may not send the open packet".into())
            }
            Err(e) => self.refuse(ctx, e.to_string()),
        }
    }

    fn on_socket_io(&mut self, text: &str, ctx: &mut ws::WebsocketContext<Self>) {
        let packet = match Packet::decode(text) {
            Ok(packet) => packet,
            Err(packet::PacketError::Binary) => {
                let err = ProtocolError::new(
                    ErrorCode::BinaryNotSupported,
                    "send JSON arguments, not binary attachments",
                );
                return self.send_error(ctx, err);
            }
            Err(e) => return self.refuse(ctx, e.to_string()),
        };
        let main = packet.namespace == MAIN_NAMESPACE;
        match (main, packet.body, self.link_connected()) {
            (false, Body::Connect(_), _) => {
                let refusal = packet::connect_error(packet.namespace, "Invalid namespace");
                self.write(ctx, message(&refusal));
            }
            (true, Body::Connect(auth), false) => self.connect(auth.unwrap_or_default(), ctx),
            (true, Body::Event { name, args, ack }, true) => self.on_event(&name, args, ack, ctx),
            // The server asks for no acknowledgements.
            (true, Body::Ack { .. }, true) => {}
            // The client leaves the only namespace it can be in: the connection has no use.
            (true, Body::Disconnect, true) => {
                ctx.close(None);
                ctx.stop();
            }
            (_, body, connected) => {
                let why = format!(
                    "{body:?} on namespace {:?}, {} (the client must CONNECT once, to \"/\")",
                    packet.namespace,
                    if connected {
                        "connected"
                    } else {
                        "not connected"
                    }
                );
                self.refuse(ctx, why)
            }
        }
    }

    /// CONNECT to the main namespace: verifies `auth.token` if there is one, then joins, and
    /// recovers what the client missed when it sends back a session's `pid` and `offset`.
    fn connect(&mut self, auth: Map<String, Value>, ctx: &mut ws::WebsocketContext<Self>) {
        let recovering = match (auth.get("pid"), auth.get("offset")) {
            (Some(Value::String(pid)), Some(Value::String(offset))) => {
                decode_offset(offset).ok().map(|asked| (pid.clone(), asked))
            }
            _ => None,
        };
        let token = match auth.get("token") {
            None | Some(Value::Null) => None,
            Some(Value::String(token)) if token.is_empty() => None,
            Some(Value::String(token)) => Some(token.clone()),
            Some(_) => {
                let refusal = packet::connect_error(MAIN_NAMESPACE, "auth.token must be a string");
                return self.write(ctx, message(&refusal));
            }
        };
        let Some(token) = token else {
            return self.join(Identity::default(), recovering, ctx);
        };
        let auth = self.deps.auth.clone();
        let verify = async move { auth.verify_fresh(&token).await };
        ctx.wait(
            verify
                .into_actor(self)
                .map(|verified, act, ctx| match verified {
                    Ok(identity) => act.join(identity, recovering, ctx),
                    Err(e) => {
                        let err = ProtocolError::new(ErrorCode::InvalidToken, e.to_string());
                        act.deps.stats.emit(ClientError {
                            session: act.id,
                            error: &err,
                        });
                        act.write(
                            ctx,
                            message(&packet::connect_error(MAIN_NAMESPACE, &err.message)),
                        );
                    }
                }),
        );
    }

    /// Answers CONNECT and starts the session as `/ws` starts one (`WsSession::start`); when
    /// the client asks to recover (`pid` and the positions of its `offset`), the answer waits for
    /// the replay's reads, and says the session was recovered only if every stream is.
    fn join(
        &mut self,
        identity: Identity,
        recovering: Option<(String, BTreeMap<String, Position>)>,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        let Wire::SocketIo(link) = &mut self.wire else {
            return;
        };
        link.connected = true;
        self.state = SessionState::new(identity);
        let targets = recovering.and_then(|(pid, asked)| {
            let targets = self.state.resume_targets(asked).ok()?;
            Some((pid, targets))
        });
        let Some((pid, targets)) = targets else {
            self.answer_connect(None, ctx);
            return self.start(ctx, Self::confirm);
        };
        if let Wire::SocketIo(link) = &mut self.wire {
            // What the client has: the recovery offsets go on from there.
            link.positions = targets
                .iter()
                .filter(|(_, stream, _)| stream.is_some())
                .map(|(which, _, position)| (*which, position.clone()))
                .collect();
        }
        self.start(ctx, move |act, ctx| {
            act.replay_after(
                targets,
                ctx,
                move |act, ctx, all| act.answer_connect(all.then_some(pid), ctx),
                |act, ctx, _| {
                    act.release_held(ctx);
                    act.confirm(ctx);
                },
            );
        });
    }

    /// CONNECT's answer, with the client's own `pid` when its session was recovered (the client
    /// sets `socket.recovered` from that), else this session's.
    fn answer_connect(&mut self, recovered: Option<String>, ctx: &mut ws::WebsocketContext<Self>) {
        let Wire::SocketIo(link) = &self.wire else {
            return;
        };
        let pid = recovered.unwrap_or_else(|| link.pid.clone());
        let reply = serde_json::json!({ "sid": link.sid, "pid": pid }).to_string();
        self.write(ctx, message(&packet::connect(&reply)));
    }

    /// An EVENT: the op of the same name, or one of the legacy events.
    fn on_event(
        &mut self,
        name: &str,
        args: Vec<Value>,
        ack: Option<u64>,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        match name {
            "heartbeat" => {
                let data = HeartbeatAck {
                    timestamp: EpochMillis::now(),
                };
                return self.legacy_reply("heartbeat_ack", &data, ack, ctx);
            }
            "subscribe_patterns" => return self.subscribe_patterns(args, ack, ctx),
            _ => {}
        }
        let fields = match args.into_iter().next() {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(fields)) => fields,
            Some(_) => {
                let err = ProtocolError::new(
                    ErrorCode::InvalidFrame,
                    "an event's data must be a JSON object of the op's fields",
                );
                return self.refuse_request(ProtocolError { id: ack, ..err }, ctx);
            }
        };
        match parse_op(name, fields, ack) {
            Ok(request) => self.on_request(request, ctx),
            Err(err) => self.refuse_request(err, ctx),
        }
    }

    /// `subscribe_patterns {patterns}`: the op `pattern_subscriptions` with those names, answered
    /// as the legacy server did, with `subscription_confirmed`.
    fn subscribe_patterns(
        &mut self,
        args: Vec<Value>,
        ack: Option<u64>,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        let asked = args.into_iter().next().unwrap_or(Value::Null);
        let patterns = match serde_json::from_value::<SubscribePatterns>(asked) {
            Ok(asked) => asked.patterns,
            Err(e) => {
                let err = ProtocolError::new(ErrorCode::InvalidField, e.to_string());
                return self.refuse_request(ProtocolError { id: ack, ..err }, ctx);
            }
        };
        let subscriptions = patterns
            .iter()
            .map(|pattern| PatternSubscription {
                pattern: pattern.clone(),
                min_confidence: 0.0,
                symbols: None,
            })
            .collect();
        self.release_held(ctx);
        let op = ClientOp::PatternSubscriptions { subscriptions };
        match self.apply_to_state(op) {
            Ok(_) => {
                let data = SubscriptionConfirmed {
                    count: patterns.len(),
                    patterns,
                    timestamp: EpochMillis::now(),
                };
                self.legacy_reply("subscription_confirmed", &data, ack, ctx);
            }
            Err(err) => self.send_error(ctx, ProtocolError { id: ack, ..err }),
        }
    }

    /// A legacy event's reply: the acknowledgement when the client asked for one, else the event
    /// the legacy pages listen for.
    fn legacy_reply(
        &mut self,
        event: &str,
        data: &impl Serialize,
        ack: Option<u64>,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        let text = match ack {
            Some(id) => self.wire.reply(EventName::Ack, data, Some(id)),
            None => {
                let json = serde_json::to_string(data).unwrap_or_default();
                message(&packet::event_raw(event, &json, None))
            }
        };
        self.write(ctx, text);
    }

    /// Closes the connection for a packet the specifications say to close on, counted as a
    /// client error.
    fn refuse(&mut self, ctx: &mut ws::WebsocketContext<Self>, why: String) {
        let err = ProtocolError::new(ErrorCode::InvalidFrame, why);
        self.deps.stats.emit(ClientError {
            session: self.id,
            error: &err,
        });
        self.close(ctx, CloseReason::ProtocolError);
    }
}
