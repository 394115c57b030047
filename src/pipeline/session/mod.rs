//! WsSession: one actor per WebSocket connection (actix-web-actors).
//!
//! A thin shell: client frames go through `protocol::parse_request` and
//! `SessionState::apply`; the resulting streams go to the registry; frames from the registry
//! arrive through the session's bounded `Outbox`, read in batches (`gather`: at once, or after
//! `session.write_delay_ms` so a batch leaves in one system call), and are written as the
//! session's wire says (`wire`: as they are for `/ws`, as Socket.IO events). Client frames are
//! read and limited as for every session (`inbound`); only whole text messages reach it. The
//! session's token expiry (`domain::token_expiry`) runs on two timers, set again by every `auth`.

mod echo;
mod gate;
mod gather;
mod inbound;
mod polling;
mod reader;
mod recovery;
mod socketio;
mod wire;

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_web::web::Bytes;
use actix_web_actors::ws;
use bytestring::ByteString;
use log::debug;
use serde::Serialize;

use crate::access::AddressSlot;
use crate::auth::Authenticator;
use crate::domain::close::CloseReason;
use crate::domain::event::EpochMillis;
use crate::domain::history::{Mark, Sent};
use crate::domain::ids::{SessionId, UserId};
use crate::domain::outbound::{EventName, Frame};
use crate::domain::protocol::{
    parse_request, ClientOp, Command, ErrorCode, ProtocolError, Request,
};
use crate::domain::replies::Reply;
use crate::domain::session_state::{Applied, Limits, SessionState};
use crate::domain::socketio::engine::Handshake;
use crate::domain::token_expiry::{ExpiryPlan, TokenExpiring};
use crate::net::ConnCloser;
use crate::pipeline::handlers::{SessionUser, Users};
use crate::pipeline::history::HistoryStore;
use crate::pipeline::registry::{
    outbox, Connect, Deliver, Disconnect, Outbox, RoomRegistry, SessionShared, UpdateSession,
};
use crate::telemetry::events::{
    ClientError, FrameReceived, FrameSent, SessionEnded, SessionStarted, TransportClosed,
    TransportOpened,
};
use crate::telemetry::Stats;
pub use echo::EchoSession;
use gate::Gate;
use gather::Gathered;
pub use inbound::upgrade;
use inbound::ClientFrames;
pub use polling::{PollError, PollingSession};
pub use reader::FrameLimits;
pub use reader::FrameStream;
use reader::{Inbound, Violation};
pub use wire::{EngineConfig, Wire};

/// How long a new session holds the live frames of recoverable streams while waiting for its
/// first op: a client that reconnects and sends `resume` first then sees nothing newer before
/// the replay. Any other op, or this long without one, releases them.
const HOLD_UNTIL_FIRST_OP: Duration = Duration::from_millis(500);

/// What a session holds at most (its frames leave the outbound queue's byte count while held);
/// beyond it, the held frames go out.
const HOLD_MAX_BYTES: usize = 1 << 20;

/// How long a signing-in session waits for its user's stored watchlist (one Redis read, unless
/// cached) before it confirms without it.
const STORED_WATCHLIST_WAIT: Duration = Duration::from_secs(2);

/// Session settings resolved from the config once at startup.
#[derive(Debug, Clone, Copy)]
pub struct SessionConfig {
    pub heartbeat_interval: Duration,
    pub client_timeout: Duration,
    pub max_frame_bytes: usize,
    pub outbound_queue_frames: usize,
    pub max_ops_per_second: u32,
    /// How long before its token's `exp` a session hears `token_expiring` (at most).
    pub expiry_warning: Duration,
    pub limits: Limits,
    /// Socket.IO sessions' Engine.IO timings and payload limit.
    pub engine: EngineConfig,
    /// How long a frame may wait for others to be written with it (`session.write_delay_ms`).
    pub write_delay: Duration,
}

impl SessionConfig {
    /// Frames between `max_frame_bytes` and this get an error frame; larger ones close the
    /// connection, because the codec refuses to buffer them at all.
    pub fn transport_frame_limit(&self) -> usize {
        self.max_frame_bytes
            .saturating_mul(16)
            .clamp(1 << 20, 64 << 20)
    }

    pub fn frame_limits(&self) -> FrameLimits {
        FrameLimits {
            message_bytes: self.max_frame_bytes,
            frame_bytes: self.transport_frame_limit(),
        }
    }

    /// A Socket.IO session's: its messages are bounded by `maxPayload`, as the handshake says.
    pub fn engine_frame_limits(&self) -> FrameLimits {
        FrameLimits {
            message_bytes: self.engine.max_payload,
            frame_bytes: self.transport_frame_limit().max(self.engine.max_payload),
        }
    }
}

/// Everything a session needs from the server, shared by all sessions.
pub struct SessionDeps {
    pub registry: Addr<RoomRegistry>,
    pub users: Addr<Users>,
    pub auth: Arc<Authenticator>,
    pub stats: Arc<Stats>,
    pub history: HistoryStore,
    pub config: SessionConfig,
}

pub struct WsSession {
    id: SessionId,
    state: SessionState,
    deps: Arc<SessionDeps>,
    closer: Option<ConnCloser>,
    shared: Arc<SessionShared>,
    gate: Gate,
    /// The `token_expiring` and `token_expired` timers of the current token.
    expiry_timers: Vec<SpawnHandle>,
    /// This session's share of its client address's session limit, released with the session.
    address: Option<AddressSlot>,
    started_at: Instant,
    /// The reason this server closed the session, if it did.
    closed_for: Option<CloseReason>,
    /// The offsets sent of each recoverable stream.
    sent: Sent,
    /// Live frames of recoverable streams held until the first op (`HOLD_UNTIL_FIRST_OP`),
    /// and their bytes.
    held: Option<(Vec<(Frame, Mark)>, usize)>,
    /// How frames are written to the client and its text is read.
    wire: Wire,
    /// The session's outbound queue until it joins the registry (`start`).
    outbox: Option<Outbox>,
}

impl WsSession {
    pub fn new(
        id: SessionId,
        state: SessionState,
        deps: Arc<SessionDeps>,
        closer: Option<ConnCloser>,
        address: Option<AddressSlot>,
        wire: Wire,
    ) -> Self {
        let config = &deps.config;
        let gate = Gate::new(
            config.max_ops_per_second,
            config.max_frame_bytes,
            Instant::now(),
        );
        WsSession {
            id,
            state,
            deps,
            closer,
            shared: SessionShared::new(Instant::now()),
            gate,
            address,
            started_at: Instant::now(),
            closed_for: None,
            expiry_timers: Vec::new(),
            sent: Sent::default(),
            held: Some((Vec::new(), 0)),
            wire,
            outbox: None,
        }
    }

    fn send_reply(
        &self,
        ctx: &mut ws::WebsocketContext<Self>,
        event: EventName,
        data: &impl Serialize,
        id: Option<u64>,
    ) {
        self.write(ctx, self.wire.reply(event, data, id));
    }

    /// Every text frame the session writes to its client, counted by protocol.
    fn write(&self, ctx: &mut ws::WebsocketContext<Self>, text: impl Into<ByteString>) {
        self.deps.stats.emit(FrameSent(self.wire.protocol()));
        ctx.text(text);
    }

    /// A published or replayed frame, as the wire writes it.
    fn write_frame(&mut self, ctx: &mut ws::WebsocketContext<Self>, frame: Frame) {
        if let Some(text) = self.wire.frame(frame) {
            self.write(ctx, text);
        }
    }

    fn send_error(&self, ctx: &mut ws::WebsocketContext<Self>, err: ProtocolError) {
        self.deps.stats.emit(ClientError {
            session: self.id,
            error: &err,
        });
        self.write(ctx, self.wire.reply(EventName::Error, &err, err.id));
    }

    fn close(&mut self, ctx: &mut ws::WebsocketContext<Self>, reason: CloseReason) {
        self.closed_for = Some(reason);
        debug!("Closing session {}: {}.", self.id, reason.description());
        inbound::close(ctx, reason);
    }

    /// Tells the Users handler who this session's user is now, and holds every other event of
    /// the session (client frames, outbound frames) until it answers with the user's stored
    /// watchlist or `STORED_WATCHLIST_WAIT` passes; then `reply` sends what needs it.
    fn sign_in(
        &mut self,
        user: UserId,
        ctx: &mut ws::WebsocketContext<Self>,
        reply: impl FnOnce(&mut Self, &mut ws::WebsocketContext<Self>) + 'static,
    ) {
        let ask = self.deps.users.send(SessionUser {
            session: self.id,
            user: Some(user),
        });
        let answer = async move {
            match tokio::time::timeout(STORED_WATCHLIST_WAIT, ask).await {
                Ok(Ok(stored)) => stored,
                _ => None,
            }
        };
        ctx.wait(answer.into_actor(self).map(move |stored, act, ctx| {
            match stored {
                Some(symbols) => act.state.set_stored_watchlist(symbols),
                None => debug!(
                    "Session {}: the stored watchlist is not known yet; confirming without it.",
                    act.id
                ),
            }
            reply(act, ctx);
        }));
    }

    /// Tells the Users handler this session has no user any more.
    fn sign_out(&self) {
        self.deps.users.do_send(SessionUser {
            session: self.id,
            user: None,
        });
    }

    /// Replaces the expiry timers with those of the current token (none when anonymous).
    fn schedule_expiry(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        for timer in self.expiry_timers.drain(..) {
            ctx.cancel_future(timer);
        }
        let Some(expires_at) = self.state.identity.expires_at else {
            return;
        };
        let plan = ExpiryPlan::new(
            EpochMillis::now(),
            expires_at,
            self.deps.config.expiry_warning,
        );
        if let Some(warn_in) = plan.warn_in {
            self.expiry_timers
                .push(ctx.run_later(warn_in, move |act, ctx| {
                    let data = TokenExpiring { expires_at };
                    act.send_reply(ctx, EventName::TokenExpiring, &data, None);
                }));
        }
        self.expiry_timers
            .push(ctx.run_later(plan.close_in, |act, ctx| {
                act.close(ctx, CloseReason::TokenExpired)
            }));
    }

    /// The registry's view of this session: its streams, filter and watchlist source.
    fn update_registry(&self) {
        self.deps.registry.do_send(UpdateSession {
            session: self.id,
            streams: self.state.streams(),
            filter: self.state.filter.clone(),
            follows_stored: self.state.follows_stored(),
        });
    }

    fn on_text(&mut self, text: &str, ctx: &mut ws::WebsocketContext<Self>) {
        match parse_request(text) {
            Ok(request) => self.on_request(request, ctx),
            Err(err) => self.refuse_request(err, ctx),
        }
    }

    /// A request that could not be read: like an op, it releases the frames held for the first.
    fn refuse_request(&mut self, err: ProtocolError, ctx: &mut ws::WebsocketContext<Self>) {
        self.release_held(ctx);
        self.send_error(ctx, err);
    }

    /// A client's request, whichever wire it came by; a refused one is `send_error`'s.
    fn on_request(&mut self, Request { id, op }: Request, ctx: &mut ws::WebsocketContext<Self>) {
        let op = match op {
            // Releases what it held once the replay is out.
            Command::Resume { streams } => return self.resume(id, streams, ctx),
            Command::Ack { streams } => {
                self.release_held(ctx);
                return self.ack(id, streams, ctx);
            }
            Command::State(op) => {
                self.release_held(ctx);
                op
            }
        };
        // A token naming a key the issuer's JWKS has not shown yet: fetch it first, holding the
        // session's other frames so replies keep their order.
        if let ClientOp::Auth { token } = &op {
            if self.deps.auth.needs_fetch(token) {
                let auth = self.deps.auth.clone();
                let token = token.clone();
                let fetch = async move { auth.prefetch(&token).await };
                ctx.wait(
                    fetch
                        .into_actor(self)
                        .map(move |(), act, ctx| act.apply_op(id, op, ctx)),
                );
                return;
            }
        }
        self.apply_op(id, op, ctx);
    }

    /// Applies a client op to the session's state, and tells the registry when what the session
    /// receives changed.
    fn apply_to_state(&mut self, op: ClientOp) -> Result<Applied, ProtocolError> {
        let applied = self
            .state
            .apply(op, &*self.deps.auth, self.deps.config.limits)?;
        if applied.changed {
            self.update_registry();
        }
        Ok(applied)
    }

    fn apply_op(&mut self, id: Option<u64>, op: ClientOp, ctx: &mut ws::WebsocketContext<Self>) {
        let user_before = self.state.identity.user.clone();
        let followed_before = self.state.recoverable();
        match self.apply_to_state(op) {
            Ok(applied) => {
                let signed_in = matches!(applied.reply, Reply::Identity { .. });
                if signed_in {
                    // A fresh token (same user or not) replaces the old one's expiry.
                    self.schedule_expiry(ctx);
                }
                let mut joined = self.state.recoverable();
                joined.retain(|s| !followed_before.contains(s));
                match self.state.identity.user.clone() {
                    // The `auth` ack shows the user's stored watchlist as it is now.
                    Some(user) if signed_in => self.sign_in(user, ctx, move |act, ctx| {
                        let reply = act.state.identity_reply();
                        act.reply_with_heads(reply, applied.event, id, joined, ctx);
                    }),
                    user => {
                        if user != user_before {
                            self.sign_out();
                        }
                        self.reply_with_heads(applied.reply, applied.event, id, joined, ctx);
                    }
                }
            }
            Err(err) => self.send_error(ctx, ProtocolError { id, ..err }),
        }
    }
}

impl WsSession {
    /// Joins the registry with the session's streams, signs its user in and confirms it.
    /// `then` runs once the user is signed in: `confirm`, or a Socket.IO recovery.
    fn start(
        &mut self,
        ctx: &mut ws::WebsocketContext<Self>,
        then: impl FnOnce(&mut Self, &mut ws::WebsocketContext<Self>) + 'static,
    ) {
        let Some(outbox) = self.outbox.take() else {
            return;
        };
        self.deps.registry.do_send(Connect {
            session: self.id,
            outbox,
            shared: self.shared.clone(),
            closer: self.closer.take(),
            streams: self.state.streams(),
            filter: self.state.filter.clone(),
            follows_stored: self.state.follows_stored(),
        });
        match self.state.identity.user.clone() {
            Some(user) => self.sign_in(user, ctx, then),
            None => then(self, ctx),
        }
        self.schedule_expiry(ctx);
        ctx.run_later(HOLD_UNTIL_FIRST_OP, |act, ctx| act.release_held(ctx));
    }
}

impl Actor for WsSession {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.deps.stats.emit(SessionStarted {
            session: self.id,
            user: self.state.identity.user.as_ref(),
            address: self.address.as_ref().map(AddressSlot::ip),
        });
        if let Some(transport) = self.wire.own_transport() {
            self.deps.stats.emit(TransportOpened(transport));
        }
        let config = self.deps.config;
        let (outbox, frames) = outbox(config.outbound_queue_frames);
        self.outbox = Some(outbox);
        // The stream ends when the registry drops the outbox: it has forgotten this session
        // (closed, cut off or shutting down), and StreamHandler's default then stops it.
        ctx.add_stream(Gathered::new(frames, config.write_delay));
        let (interval, timeout) = self.wire.heartbeat(&config);
        ctx.run_interval(interval, move |act, ctx| {
            if act.shared.silent_for(Instant::now()) > timeout {
                act.close(ctx, CloseReason::IdleTimeout);
            } else if let Wire::SocketIo(_) = act.wire {
                act.write(ctx, "2");
            } else {
                ctx.ping(b"");
            }
        });
        match &self.wire {
            Wire::Plain => self.start(ctx, Self::confirm),
            // The session starts when the client joins the namespace (`socketio`).
            Wire::SocketIo(link) => {
                let open = Handshake {
                    sid: link.sid.clone(),
                    upgrades: if link.polling {
                        vec!["websocket"]
                    } else {
                        Vec::new()
                    },
                    ping_interval: config.engine.ping_interval.as_millis() as u64,
                    ping_timeout: config.engine.ping_timeout.as_millis() as u64,
                    max_payload: config.engine.max_payload,
                };
                self.write(ctx, open.encode());
                ctx.run_later(socketio::CONNECT_TIMEOUT, |act, ctx| {
                    if act.outbox.is_some() {
                        act.close(ctx, CloseReason::IdleTimeout);
                    }
                });
            }
        }
    }

    fn stopping(&mut self, _: &mut Self::Context) -> Running {
        self.deps.stats.emit(SessionEnded {
            session: self.id,
            user: self.state.identity.user.as_ref(),
            address: self.address.as_ref().map(AddressSlot::ip),
            duration: self.started_at.elapsed(),
            // Otherwise the client closed, the connection dropped, or the registry reset it
            // (which logs why).
            reason: self
                .closed_for
                .map_or("connection closed", CloseReason::description),
        });
        if let Some(transport) = self.wire.own_transport() {
            self.deps.stats.emit(TransportClosed(transport));
        }
        self.deps.registry.do_send(Disconnect { session: self.id });
        if self.state.identity.user.is_some() {
            self.sign_out();
        }
        Running::Stop
    }
}

/// A batch of the outbox (`gather`): written in one go, so the connection flushes it once.
impl StreamHandler<Vec<Deliver>> for WsSession {
    fn handle(&mut self, batch: Vec<Deliver>, ctx: &mut Self::Context) {
        for msg in batch {
            self.deliver(msg, ctx);
        }
    }
}

impl WsSession {
    fn deliver(&mut self, msg: Deliver, ctx: &mut ws::WebsocketContext<Self>) {
        match msg {
            Deliver::Frame(frame, mark) => {
                self.shared.release(frame.len());
                let room = self.deps.config.outbound_queue_frames;
                match (mark, &mut self.held) {
                    (Some(mark), Some((held, bytes)))
                        if held.len() < room && *bytes + frame.len() <= HOLD_MAX_BYTES =>
                    {
                        *bytes += frame.len();
                        held.push((frame, mark));
                    }
                    (mark, _) => {
                        self.release_held(ctx);
                        self.send_live(frame, mark, ctx);
                    }
                }
            }
            Deliver::Close(reason) => self.close(ctx, reason),
        }
    }
}

impl ClientFrames for WsSession {
    fn gate(&mut self) -> &mut Gate {
        &mut self.gate
    }

    fn text(&mut self, text: ByteString, ctx: &mut Self::Context) {
        match self.wire {
            Wire::Plain => self.on_text(&text, ctx),
            Wire::SocketIo(_) => self.on_engine_text(&text, ctx),
        }
    }

    fn binary(&mut self, _: Bytes, ctx: &mut Self::Context) {
        let err = ProtocolError::new(
            ErrorCode::BinaryNotSupported,
            "send JSON text frames, not binary",
        );
        self.send_error(ctx, err);
    }

    fn error(&mut self, err: ProtocolError, ctx: &mut Self::Context) {
        self.send_error(ctx, err);
    }

    fn end(&mut self, ctx: &mut Self::Context, reason: CloseReason) {
        self.close(ctx, reason);
    }
}

impl StreamHandler<Result<Inbound, Violation>> for WsSession {
    fn handle(&mut self, frame: Result<Inbound, Violation>, ctx: &mut Self::Context) {
        self.shared.heard(Instant::now());
        self.deps.stats.emit(FrameReceived(self.wire.protocol()));
        inbound::handle(self, frame, ctx);
    }
}

/// Never called: see `inbound::upgrade`.
impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for WsSession {
    fn handle(&mut self, _: Result<ws::Message, ws::ProtocolError>, _: &mut Self::Context) {}
}
