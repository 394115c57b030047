//! The registry's messages: session lifecycle from sessions, fan-out requests from handlers.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use tokio::sync::mpsc;

use crate::domain::filter::{AlertKey, PatternFilter};
use crate::domain::ids::{SessionId, Symbol, UserId};
use crate::domain::outbound::Frame;
use crate::domain::rooms::Room;
use crate::net::ConnCloser;
use crate::pipeline::session::CloseReason;
use crate::telemetry::ChannelId;

/// What the registry sends a session. A close order rides the same queue as frames, so it is
/// handled after every frame queued before it.
#[derive(Debug, Clone)]
pub enum Deliver {
    Frame(Frame),
    Close(CloseReason),
}

/// A session's outbound queue, bounded in frames: the registry offers with `try_send`, the
/// session drains it as a stream. A channel rather than the actor's mailbox because fan-out
/// is one offer per session per event: the mailbox allocates an envelope for each, the
/// channel reuses its slots.
pub type Outbox = mpsc::Sender<Deliver>;

/// A new outbound queue of `frames` slots, and the session's end of it.
pub fn outbox(frames: usize) -> (Outbox, mpsc::Receiver<Deliver>) {
    mpsc::channel(frames)
}

/// The byte side of a session's outbound queue (the channel bounds the frame count): the
/// registry adds what it queues, the session subtracts what it writes.
#[derive(Debug, Clone, Default)]
pub struct QueuedBytes(Arc<AtomicUsize>);

impl QueuedBytes {
    pub fn get(&self) -> usize {
        self.0.load(Relaxed)
    }

    pub fn add(&self, n: usize) {
        self.0.fetch_add(n, Relaxed);
    }

    pub fn release(&self, n: usize) {
        self.0.fetch_sub(n, Relaxed);
    }
}

/// A session joins, already knowing its rooms and filter.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Connect {
    pub session: SessionId,
    pub outbox: Outbox,
    pub queued: QueuedBytes,
    /// Present for real TCP connections; lets the registry cut off a frozen slow consumer.
    pub closer: Option<ConnCloser>,
    pub rooms: HashSet<Room>,
    pub filter: PatternFilter,
}

/// The session's rooms or pattern filter changed (the full new state, not a diff).
#[derive(Message)]
#[rtype(result = "()")]
pub struct UpdateSession {
    pub session: SessionId,
    pub rooms: HashSet<Room>,
    pub filter: PatternFilter,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct Disconnect {
    pub session: SessionId,
}

/// Deliver one encoded frame to every member of `room`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Publish {
    pub room: Room,
    pub frame: Frame,
    pub only: Only,
    /// The channel the event came from; a targeted event nobody may receive is counted as a
    /// `no_recipients` drop against it.
    pub origin: Option<ChannelId>,
    /// When the source message was read from Redis, for the processing-time histogram.
    pub received_at: Option<Instant>,
}

/// A user's watchlist (from Redis) changed: every session of that user joins exactly these
/// `symbol:{SYM}` rooms, in addition to the ones it asked for itself.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetUserSymbols {
    pub user: UserId,
    pub symbols: HashSet<Symbol>,
}

/// A user came online (first session) or went offline (last session left).
#[derive(Message, Debug, Clone, PartialEq, Eq)]
#[rtype(result = "()")]
pub struct Presence {
    pub user: UserId,
    pub online: bool,
}

/// Asks the registry to report `Presence` changes (and the users online now) to `recipient`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct WatchPresence(pub Recipient<Presence>);

/// Which members of a room get a published frame (default: all).
#[derive(Debug, Clone, Default)]
pub struct Only {
    /// For `pattern_alert`: only sessions whose pattern filter accepts this alert.
    pub matching: Option<AlertKey>,
    /// Only anonymous sessions: authenticated ones get the event through their user room.
    pub anonymous: bool,
}

/// Graceful shutdown: every session is told to close with `reason`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CloseAll {
    pub reason: CloseReason,
}
