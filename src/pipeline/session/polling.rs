//! Engine.IO's HTTP long-polling transport, and its upgrade to WebSocket, for a Socket.IO
//! session (`WsSession` with `Wire::SocketIo`), which is the same actor whatever carries it.
//!
//! The session runs in its usual WebSocket context; a bridge task drives that context and
//! takes the text frames it writes as the Engine.IO packets the next `GET` returns
//! ([`PollingSession::poll`]). Each `POST`ed packet reaches the session as a text frame
//! ([`PollingSession::post`]), through the same gate (rate and size limits) as a WebSocket
//! client's. On upgrade ([`PollingSession::upgrade`]) the packets not yet polled are written to
//! the WebSocket first, then the bridge passes the context's frames through as they are, and
//! the WebSocket's client frames become the session's input: after it, the session is a
//! WebSocket session like any other. A session ends as every session does (ping timeout, close,
//! its client leaving); then its `sid` is unknown.

use std::sync::{Arc, Mutex, MutexGuard};

use actix::prelude::*;
use actix_http::ws::{OpCode, Parser};
use actix_web::web::{Bytes, BytesMut};
use actix_web_actors::ws;
use bytestring::ByteString;
use futures_util::{Stream, StreamExt};
use tokio::sync::{mpsc, Notify};

use super::inbound::{run, ClientFrames};
use super::reader::{Inbound, Violation};
use crate::domain::socketio::engine::{self, SEPARATOR};
use crate::telemetry::events::{
    PollingSlowConsumer, PollingUpgraded, Transport, TransportClosed, TransportOpened,
};
use crate::telemetry::Stats;

/// Why a polling request is refused (engine.io answers each with 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollError {
    /// The session has ended (or moved to WebSocket): its `sid` is no longer known.
    Gone,
    /// A second `GET` while one is pending: the specification closes the session.
    ConcurrentGet,
}

/// The packets a `GET` returns, joined as a polling payload.
pub type Payload = String;

/// One long-polling session, shared by the requests that name its `sid`.
#[derive(Clone)]
pub struct PollingSession {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    stats: Arc<Stats>,
    /// A client that leaves more than this unpolled is a slow consumer: its session is closed.
    max_queued_bytes: usize,
    /// Wakes the pending `GET` (at most one waits, so a stored permit is never lost).
    changed: Notify,
}

struct State {
    /// Encoded Engine.IO packets the client has not polled yet, and their bytes.
    queue: Vec<String>,
    queued_bytes: usize,
    /// The session's input, until the session ends or a WebSocket takes it over.
    input: Option<mpsc::UnboundedSender<Result<Inbound, Violation>>>,
    get_pending: bool,
    /// The session's frames now go to this WebSocket, as they are.
    upgraded: Option<mpsc::UnboundedSender<Bytes>>,
    probing: bool,
    ended: bool,
}

impl PollingSession {
    /// Starts `actor` (a Socket.IO session, which writes the open packet first) on a polling
    /// transport; `on_end` runs once the session has ended. Must be called on an actix arbiter:
    /// the session and its bridge run on it.
    pub fn start<A>(
        actor: A,
        stats: Arc<Stats>,
        max_queued_bytes: usize,
        on_end: impl FnOnce() + 'static,
    ) -> PollingSession
    where
        A: ClientFrames
            + StreamHandler<Result<Inbound, Violation>>
            + StreamHandler<Result<ws::Message, ws::ProtocolError>>,
    {
        let (input, mut frames) = mpsc::unbounded_channel();
        let session = PollingSession {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    queue: Vec::new(),
                    queued_bytes: 0,
                    input: Some(input),
                    get_pending: false,
                    upgraded: None,
                    probing: false,
                    ended: false,
                }),
                changed: Notify::new(),
                stats,
                max_queued_bytes,
            }),
        };
        session
            .shared
            .stats
            .emit(TransportOpened(Transport::SocketIoPolling));
        let frames = futures_util::stream::poll_fn(move |cx| frames.poll_recv(cx));
        let output = Box::pin(run(actor, frames));
        let shared = session.shared.clone();
        actix::spawn(async move {
            bridge(output, &shared).await;
            let mut state = shared.lock();
            state.ended = true;
            // Ends the upgraded WebSocket's response, which its close frame ended already.
            let transport = match state.upgraded.take() {
                Some(_) => Transport::SocketIoWebSocket,
                None => Transport::SocketIoPolling,
            };
            drop(state);
            shared.stats.emit(TransportClosed(transport));
            shared.changed.notify_one();
            on_end();
        });
        session
    }

    /// A `GET`: the packets waiting, or, when there are none, the first that come. A `noop`
    /// when the session ends or moves to WebSocket while the request waits.
    pub async fn poll(&self) -> Result<Payload, PollError> {
        {
            let mut state = self.shared.lock();
            // What a session wrote before it ended is still returned.
            if state.upgraded.is_some() || (state.ended && state.queue.is_empty()) {
                return Err(PollError::Gone);
            }
            if state.get_pending {
                // The specification: 400, and the session is closed.
                state.input = None;
                return Err(PollError::ConcurrentGet);
            }
            state.get_pending = true;
        }
        // Clears `get_pending` however the request ends (its client may go away meanwhile).
        let _pending = Pending(&self.shared);
        loop {
            {
                let mut state = self.shared.lock();
                if !state.queue.is_empty() {
                    state.queued_bytes = 0;
                    let packets = std::mem::take(&mut state.queue);
                    return Ok(engine::encode_payload(&packets));
                }
                if state.ended || state.upgraded.is_some() {
                    return Ok(engine::Packet::Noop.encode());
                }
            }
            self.shared.changed.notified().await;
        }
    }

    /// A `POST`: each packet of the payload to the session, in order.
    pub fn post(&self, body: &str) -> Result<(), PollError> {
        let state = self.shared.lock();
        let input = match (&state.input, state.upgraded.is_some()) {
            (Some(input), false) if !state.ended => input,
            _ => return Err(PollError::Gone),
        };
        for packet in body.split(SEPARATOR) {
            // Ends only with the session, which the next request then finds.
            let _ = input.send(Ok(Inbound::Text(ByteString::from(packet))));
        }
        Ok(())
    }

    /// Whether the session has ended.
    pub fn ended(&self) -> bool {
        self.shared.lock().ended
    }

    /// Starts the upgrade to a WebSocket whose frames are `frames` and whose output is the
    /// returned stream, or `None` when the session cannot upgrade (ended, or already upgrading).
    /// The WebSocket answers `2probe` with `3probe` itself (the pending `GET` gets a `noop`);
    /// at `5` the session moves onto it.
    pub fn upgrade(
        &self,
        frames: impl Stream<Item = Result<Inbound, Violation>> + 'static,
    ) -> Option<impl Stream<Item = Result<Bytes, actix_web::Error>>> {
        {
            let mut state = self.shared.lock();
            if state.ended || state.probing || state.upgraded.is_some() {
                return None;
            }
            state.probing = true;
        }
        let (output, mut written) = mpsc::unbounded_channel::<Bytes>();
        let shared = self.shared.clone();
        actix::spawn(async move {
            let mut frames = Box::pin(frames);
            let mut input: Option<mpsc::UnboundedSender<_>> = None;
            while let Some(frame) = frames.next().await {
                if let Some(input) = &input {
                    if input.send(frame).is_err() {
                        break;
                    }
                    continue;
                }
                match frame {
                    Ok(Inbound::Text(text)) if &*text == "2probe" => {
                        let _ = output.send(text_frame("3probe"));
                        let mut state = shared.lock();
                        state.queue.push(engine::Packet::Noop.encode());
                        drop(state);
                        shared.changed.notify_one();
                    }
                    Ok(Inbound::Text(text)) if &*text == "5" => {
                        input = shared.switch(output.clone());
                        if input.is_none() {
                            break;
                        }
                    }
                    // Before the upgrade completes nothing else is the session's business.
                    Ok(Inbound::Ping(_) | Inbound::Pong | Inbound::Fragment) => {}
                    _ => break,
                }
            }
            // The WebSocket is gone. Before the switch the session stays on polling; after it,
            // dropping its input ends it, as a closed connection ends any session.
            if input.is_none() {
                shared.lock().probing = false;
            }
        });
        let written = futures_util::stream::poll_fn(move |cx| written.poll_recv(cx));
        Some(written.map(Ok))
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding it leaves plain data, still consistent enough to end the session.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Completes an upgrade: the packets not yet polled go to the WebSocket, then everything the
    /// session writes; returns the session's input, or `None` if it has ended.
    fn switch(
        &self,
        output: mpsc::UnboundedSender<Bytes>,
    ) -> Option<mpsc::UnboundedSender<Result<Inbound, Violation>>> {
        let mut state = self.lock();
        if state.ended {
            return None;
        }
        for packet in state.queue.drain(..) {
            let _ = output.send(text_frame(&packet));
        }
        state.queued_bytes = 0;
        state.upgraded = Some(output);
        let input = state.input.take();
        drop(state);
        self.stats.emit(PollingUpgraded);
        self.changed.notify_one();
        input
    }
}

/// Clears `get_pending` when a `GET` ends, answered or abandoned.
struct Pending<'a>(&'a Shared);

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.0.lock().get_pending = false;
    }
}

/// Drives the session's context: its text frames are queued for the next `GET` until the
/// session moves to a WebSocket, then its bytes go there as they are. Returns when the session
/// ends (its close frame is the end of its output), or when its WebSocket is gone.
async fn bridge(
    mut output: impl Stream<Item = Result<Bytes, actix_web::Error>> + Unpin,
    shared: &Shared,
) {
    let mut buf = BytesMut::new();
    while let Some(Ok(bytes)) = output.next().await {
        let mut state = shared.lock();
        if let Some(socket) = &state.upgraded {
            if socket.send(bytes).is_err() {
                return;
            }
            continue;
        }
        buf.extend_from_slice(&bytes);
        // The context writes whole, unmasked frames; text frames carry Engine.IO packets (a
        // Socket.IO session sends no WebSocket pings). A close frame with a reason is the
        // server closing the session: the client hears it as Engine.IO's `close` packet. One
        // without is the answer to the client's own `close`, which needs none.
        while let Ok(Some((_, opcode, payload))) = Parser::parse(&mut buf, false, usize::MAX) {
            let payload = payload.unwrap_or_default();
            match opcode {
                OpCode::Text => {
                    state.queued_bytes += payload.len();
                    state
                        .queue
                        .push(String::from_utf8_lossy(&payload).into_owned());
                }
                OpCode::Close if !payload.is_empty() => {
                    state.queue.push(engine::Packet::Close.encode())
                }
                _ => {}
            }
        }
        if state.queued_bytes > shared.max_queued_bytes && state.input.is_some() {
            // As the registry cuts off a WebSocket session that does not read: what is queued
            // goes, the client hears `close`, and the session ends (its input does).
            state.queue.clear();
            state.queued_bytes = 0;
            state.queue.push(engine::Packet::Close.encode());
            state.input = None;
            shared.stats.emit(PollingSlowConsumer);
        }
        drop(state);
        shared.changed.notify_one();
    }
}

/// An unmasked WebSocket text frame, as a server writes it.
fn text_frame(text: &str) -> Bytes {
    let mut frame = BytesMut::new();
    Parser::write_message(&mut frame, text, OpCode::Text, true, false);
    frame.freeze()
}
